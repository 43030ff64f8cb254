//! A host fault never fails open (issue 17.7), through the real binary: hostile environment
//! values and settings numbers are located errors (or a fail-closed exit), never a panic or
//! Rust's exit 101; a panic injected anywhere in `dispatch` (debug builds: `HOOKHOST_TEST_PANIC`)
//! is answered like any host error: exit 2 where the event fails closed or its policy was not
//! known yet, reported on stderr, audited.

use serde_json::{Value, json};

use crate::support::{Env, Output, bash_event, hook_settings, run};

fn no_panic(what: &str, out: &Output) {
    assert_ne!(out.code, 101, "{what}: exit 101 (a Rust panic): {out:?}");
    assert!(!out.stderr.contains("panicked at"), "{what}: Rust's panic report: {out:?}");
}

fn audit(env: &Env) -> Vec<Value> {
    let text = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The hostile values an environment variable can carry.
fn hostile_env_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "1e300",
        "1e309",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "infinity",
        "-1",
        "0",
        "-0",
        "1e-300",
        "0.0000001",
        "86400.5",
        "18446744073709551615",
        "18446744073709551616",
        "",
        " ",
        "abc",
        "5s",
        "0x10",
        "1_000",
        "١٢",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("9".repeat(100_000));
    v.push(format!("0.{}1", "0".repeat(50_000)));
    v
}

#[test]
fn faults_hostile_socket_timeout_blocks_and_never_panics() {
    let env = Env::new();
    let socket = env.path().join("no-daemon.sock");
    let marker = env.path().join("hook-ran");
    // A hook that would let us see an in-process evaluation: it must not run.
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "*",
            json!([{"type": "command", "command": format!("cat >/dev/null; touch {}", marker.display())}]),
        ),
    );
    let values = hostile_env_values();
    for v in &values {
        let mut c = env.command(&["dispatch"]);
        c.env("HOOKHOST_SOCKET", &socket).env("HOOKHOST_SOCKET_TIMEOUT", v);
        let out = run(c, &bash_event("ls"));
        no_panic(v, &out);
        assert_eq!(out.code, 2, "HOOKHOST_SOCKET_TIMEOUT={v:.40}: {out:?}");
        assert!(out.stderr.contains("HOOKHOST_SOCKET_TIMEOUT"), "{v:.40}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    assert!(!marker.exists(), "a hostile timeout must not fall back to an evaluation");
    // The same through the flag, and a sane value still works.
    let out = env.run(&["dispatch", "--socket-timeout", "1e300", "--socket", &socket.to_string_lossy()], b"{}");
    assert_eq!(out.code, 2, "{out:?}");
    let mut c = env.command(&["dispatch"]);
    c.env("HOOKHOST_SOCKET", &socket).env("HOOKHOST_SOCKET_TIMEOUT", "2.5");
    let out = run(c, &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(marker.exists(), "a valid timeout falls back to in-process evaluation: {out:?}");
    eprintln!("{} hostile HOOKHOST_SOCKET_TIMEOUT values", values.len());
}

#[test]
fn faults_hostile_numeric_flags_are_errors_not_panics() {
    let env = Env::new();
    for v in ["0", "-1", "18446744073709551615", "18446744073709551616", "1e3", "1073741825", "", "abc"] {
        let flag = format!("--max-event-bytes={v}");
        let out = env.run(&["dispatch", &flag], &bash_event("ls"));
        no_panic(v, &out);
        assert_eq!(out.code, 2, "dispatch --max-event-bytes {v}: {out:?}");
        assert!(out.stderr.contains("max-event-bytes"), "{out:?}");
        let out = env.run(&["explain", &flag], &bash_event("ls"));
        no_panic(v, &out);
        assert_eq!(out.code, 1, "explain --max-event-bytes {v}: {out:?}");
    }
    // The largest accepted value reads an event normally.
    let out = env.run(&["dispatch", "--max-event-bytes", "1073741824"], &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    for v in ["0", "-1", "65537", "18446744073709551616"] {
        let flag = format!("--max-projects={v}");
        let out = env.run(&["serve", &flag, "--socket", "/nonexistent/x.sock"], b"");
        no_panic(v, &out);
        assert_eq!(out.code, 1, "serve --max-projects {v}: {out:?}");
    }
    // A usage error of any other subcommand is 1 (an error), not 2 (a policy violation).
    let out = env.run(&["check", "--bogus"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    let out = env.run(&["--version"], b"");
    assert_eq!(out.code, 0, "{out:?}");
}

/// Every numeric settings key, where it is written, as a JSON path from the file's top.
fn numeric_keys() -> Vec<(&'static str, Value, &'static str)> {
    // (label, settings with the value at "@", the key whose location is reported)
    let hook = |extra: Value| {
        let mut h = json!({"type": "command", "command": "true"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [h]}]}})
    };
    let wasm = |k: &str| json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "wasm", "component": "/nonexistent.wasm", k: "@"}]}]}});
    vec![
        ("hook timeout", hook(json!({"timeout": "@"})), "timeout"),
        ("wasm timeout", wasm("timeout"), "timeout"),
        ("wasm memoryMb", wasm("memoryMb"), "memoryMb"),
        ("wasm fuel", wasm("fuel"), "fuel"),
        ("hook sandbox memoryMb", hook(json!({"sandbox": {"memoryMb": "@"}})), "sandbox"),
        ("hook sandbox pids", hook(json!({"sandbox": {"pids": "@"}})), "sandbox"),
        ("hook sandbox cpuSeconds", hook(json!({"sandbox": {"cpuSeconds": "@"}})), "sandbox"),
        ("managed sandbox memoryMb", json!({"sandbox": {"memoryMb": "@"}}), "sandbox"),
        ("managed sandbox pids", json!({"sandbox": {"pids": "@"}}), "sandbox"),
        ("managed sandbox cpuSeconds", json!({"sandbox": {"cpuSeconds": "@"}}), "sandbox"),
        ("maxHooksPerEvent", json!({"hookhost": {"maxHooksPerEvent": "@"}}), "maxHooksPerEvent"),
        (
            "rollbackSnapshotTtlSeconds",
            json!({"hookhost": {"rollbackSnapshotTtlSeconds": "@"}}),
            "rollbackSnapshotTtlSeconds",
        ),
        ("rollbackMaxFileBytes", json!({"hookhost": {"rollbackMaxFileBytes": "@"}}), "rollbackMaxFileBytes"),
        ("audit maxBytes", json!({"audit": {"maxBytes": "@"}}), "maxBytes"),
        ("audit maxRecordBytes", json!({"audit": {"maxRecordBytes": "@"}}), "maxRecordBytes"),
        (
            "remote pollSeconds",
            json!({"remoteSettings": {"url": "https://127.0.0.1:9/s", "pollSeconds": "@"}}),
            "pollSeconds",
        ),
        (
            "remote timeoutSeconds",
            json!({"remoteSettings": {"url": "https://127.0.0.1:9/s", "timeoutSeconds": "@"}}),
            "timeoutSeconds",
        ),
        ("remote retries", json!({"remoteSettings": {"url": "https://127.0.0.1:9/s", "retries": "@"}}), "retries"),
    ]
}

/// Hostile JSON numbers (and non-numbers) for a numeric key; `u64::MAX` is valid for `fuel`.
fn hostile_numbers(label: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "1e300",
        "-1e300",
        "-1",
        "0",
        "-0",
        "1e-300",
        "1.5",
        "18446744073709551616",
        "1e19",
        "\"5\"",
        "true",
        "[]",
        "{}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if label != "wasm fuel" {
        v.push("18446744073709551615".into());
    }
    v.push("9".repeat(5000));
    v.push(format!("\"{}\"", "9".repeat(100_000)));
    v
}

#[test]
fn faults_hostile_settings_numbers_are_located_errors() {
    let env = Env::new();
    let mut cases = 0;
    for (label, template, key) in numeric_keys() {
        for n in hostile_numbers(label) {
            // Integer-valued seconds are valid for `timeout` and `timeoutSeconds`.
            if n == "1.5" && (label.ends_with("timeout") || label == "remote timeoutSeconds") {
                continue;
            }
            // `retries` may be 0.
            if (n == "0" || n == "-0") && label == "remote retries" {
                continue;
            }
            let text = serde_json::to_string_pretty(&template).unwrap().replace("\"@\"", &n);
            let path = env.write("managed", &text);
            // The error is located at the key (or the object holding it) or at the value.
            let key_line = text.lines().position(|l| l.contains(&format!("\"{key}\""))).unwrap() + 1;
            let value_line =
                text.lines().skip(key_line - 1).position(|l| l.contains(&n[..n.len().min(20)])).unwrap() + key_line;
            let located = |stderr: &str| {
                let prefix = format!("{}:", path.display());
                stderr.match_indices(&prefix).any(|(i, _)| {
                    let rest = &stderr[i + prefix.len()..];
                    let line: usize = rest.split(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
                    let col: usize = rest.split(':').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                    (key_line.min(value_line) - 1..=value_line).contains(&line) && line > 0 && col > 0
                })
            };
            let out = env.run(&["check"], b"");
            no_panic(label, &out);
            assert_eq!(out.code, 1, "{label} = {n:.40}: {out:?}");
            assert!(located(&out.stderr), "{label} = {n:.40}: not located at line {key_line}: {}", out.stderr);
            // dispatch: an invalid managed file blocks (the admin's policy cannot be applied).
            let out = env.dispatch(&bash_event("ls"));
            no_panic(label, &out);
            assert_eq!(out.code, 2, "{label} = {n:.40}: {out:?}");
            assert!(located(&out.stderr), "{label} = {n:.40}: {}", out.stderr);
            cases += 1;
        }
    }
    eprintln!("{cases} hostile settings numbers, each a located error");
}

#[test]
fn faults_injected_panic_is_answered_like_a_host_error() {
    let closed = Env::new();
    closed.write(
        "managed",
        &json!({"failClosed": ["PreToolUse"], "hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": "cat >/dev/null"}]}]}})
            .to_string(),
    );
    let open = Env::new();
    open.write("managed", &hook_settings("PreToolUse", "*", json!([{"type": "command", "command": "cat >/dev/null"}])));
    // (site, exit code when failing closed, exit code when the event is not in failClosed)
    for (site, closed_code, open_code) in [("read", 2, 2), ("prepare", 2, 2), ("bus", 2, 1)] {
        for (env, want) in [(&closed, closed_code), (&open, open_code)] {
            let mut c = env.command(&["dispatch"]);
            c.env("HOOKHOST_TEST_PANIC", site);
            let out = run(c, &bash_event("ls"));
            assert_eq!(out.code, want, "site {site}: {out:?}");
            assert!(out.stderr.contains("internal error"), "{out:?}");
            assert!(out.stderr.contains(&format!("injected test panic at `{site}`")), "{out:?}");
            assert!(out.stdout.is_empty(), "no decision is printed after a fault: {out:?}");
            if want == 2 {
                assert!(out.stderr.contains("failing closed"), "{out:?}");
            }
        }
    }
    // Once the settings are known, the fault is audited.
    let recs: Vec<Value> = audit(&closed).into_iter().filter(|r| r["kind"] == "host_error").collect();
    let bus = recs.iter().find(|r| r["error"].as_str().unwrap_or("").contains("`bus`")).expect("audited");
    assert_eq!(bus["exit_code"], 2);
    assert_eq!(bus["event"], "PreToolUse");
    // Through the thin client's in-process fallback too.
    let mut c = closed.command(&["dispatch"]);
    c.env("HOOKHOST_TEST_PANIC", "bus").env("HOOKHOST_SOCKET", closed.path().join("none.sock"));
    let out = run(c, &bash_event("ls"));
    // The daemon is unreachable and PreToolUse fails closed: blocked before any hook runs.
    assert_eq!(out.code, 2, "{out:?}");
}
