//! The binary as Claude Code runs it: stdin JSON in; stdout, stderr and exit code out.

use serde_json::json;

use super::support::{Env, bash_event, fixture, hook_settings, run};

#[test]
fn help_lists_every_subcommand_and_the_scopes() {
    let out = Env::new().run(&["--help"], b"");
    assert_eq!(out.code, 0);
    for s in [
        "dispatch",
        "check",
        "explain",
        "demo",
        "HOOKHOST_MANAGED_DIR",
        "XDG_CONFIG_HOME",
        "--settings",
        "--project-dir",
    ] {
        assert!(out.stdout.contains(s), "--help lacks {s}: {}", out.stdout);
    }
    let out = Env::new().run(&["dispatch", "--help"], b"");
    assert!(out.stdout.contains("Claude Code"), "{}", out.stdout);
}

#[test]
fn no_settings_no_hooks_no_output() {
    let env = Env::new();
    let out = env.dispatch(&fixture("PreToolUse-Bash.json"));
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""));
}

#[test]
fn hooks_get_a_cleared_environment_and_the_project_dir() {
    let env = Env::new();
    let dump = env.path().join("env.txt");
    let cwd = env.path().join("cwd.txt");
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "*",
            json!([{"type": "command", "command": format!("env > {}; pwd > {}", dump.display(), cwd.display())}]),
        ),
    );
    let mut c = env.command(&["dispatch"]);
    c.env("HOOK_TEST_SECRET", "s3cr3t-value");
    let out = run(c, &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let vars = std::fs::read_to_string(&dump).unwrap();
    assert!(!vars.contains("s3cr3t-value"), "host secret leaked into the hook: {vars}");
    assert!(!vars.contains("HOOKHOST_MANAGED_DIR"), "{vars}");
    assert!(vars.contains(&format!("CLAUDE_PROJECT_DIR={}", env.project().display())), "{vars}");
    assert_eq!(std::fs::read_to_string(&cwd).unwrap().trim(), env.project().to_string_lossy());
}

#[test]
fn exec_form_args_need_no_shell_and_expand_the_project_dir() {
    let env = Env::new();
    let out_file = env.path().join("args.txt");
    env.write(
        "project",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": "/bin/sh", "args": ["-c", "printf '%s|' \"$@\" > \"$0\"", out_file.to_str().unwrap(), "${CLAUDE_PROJECT_DIR}/x", "a; touch /tmp/should-not-exist-hookhost"]}]),
        ),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let got = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(got, format!("{}/x|a; touch /tmp/should-not-exist-hookhost|", env.project().display()));
    assert!(!std::path::Path::new("/tmp/should-not-exist-hookhost").exists());
}

#[test]
fn check_prints_hooks_with_origin_and_locates_errors() {
    let env = Env::new();
    let m = env.write(
        "managed",
        &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": "guard.sh", "onFailure": "block"}])),
    );
    env.write("user", &hook_settings("Stop", "", json!([{"type": "command", "command": "notify.sh"}])));
    let out = env.run(&["check"], b"");
    // Neither program exists: each hook would fail every time it fires, so check fails.
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the program `guard.sh` is not on PATH"), "{}", out.stderr);
    assert!(out.stdout.contains(&format!("managed {}:", m.display())), "{}", out.stdout);
    assert!(out.stdout.contains("[guard.sh]") && out.stdout.contains("onFailure block"), "{}", out.stdout);
    assert!(out.stdout.contains("[notify.sh]") && out.stdout.contains("user "), "{}", out.stdout);

    let p = env.write(
        "project",
        "{\n  \"hooks\": {\n    \"PreToolUse\": [ { \"matcher\": \"Bash([\", \"hooks\": [] } ]\n  }\n}\n",
    );
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&format!("{}:3:34: invalid matcher regex", p.display())), "{}", out.stderr);
}

#[test]
fn explain_says_what_ran_what_was_skipped_and_why() {
    let env = Env::new();
    env.write(
        "managed",
        &json!({"hooks": {"PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "echo nope >&2; exit 2"}]},
            {"matcher": "Read", "hooks": [{"type": "command", "command": "true"}]}
        ]}})
        .to_string(),
    );
    let out = env.run(&["explain"], &fixture("PreToolUse-Bash.json"));
    assert_eq!(out.code, 0, "{out:?}");
    for s in [
        "hooks that ran (1)",
        "[echo nope >&2; exit 2]",
        "answered: deny: nope",
        "hooks skipped (1)",
        "matcher \"Read\" does not match \"Bash\"",
        "decision  deny",
        "would exit 0",
    ] {
        assert!(out.stdout.contains(s), "explain lacks {s:?}:\n{}", out.stdout);
    }
}

#[test]
fn broken_managed_settings_fail_closed_for_every_event() {
    let env = Env::new();
    env.write("managed", "{\"hooks\": ");
    for f in ["PreToolUse-Bash.json", "Stop.json", "SessionStart.json"] {
        let out = env.dispatch(&fixture(f));
        assert_eq!(out.code, 2, "{f}: {out:?}");
        assert!(out.stderr.contains("managed settings are invalid, failing closed"), "{}", out.stderr);
        assert!(out.stderr.contains("managed-settings.json:1:"), "{}", out.stderr);
    }
}

#[test]
fn broken_dropin_is_never_skipped() {
    let env = Env::new();
    env.write("managed.d/50-broken.json", "{\"allowManagedHooksOnly\": tru}");
    let out = env.dispatch(&fixture("PreToolUse-Read.json"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("50-broken.json:1:"), "{}", out.stderr);
}

#[test]
fn project_dir_falls_back_to_the_event_cwd() {
    let env = Env::new();
    let proj = env.path().join("from-cwd");
    std::fs::create_dir_all(proj.join(".hookhost")).unwrap();
    let marker = env.path().join("ran");
    std::fs::write(
        proj.join(".hookhost/settings.json"),
        hook_settings(
            "PreToolUse",
            "*",
            json!([{"type": "command", "command": format!("touch {}", marker.display())}]),
        ),
    )
    .unwrap();
    let base = || {
        let mut c = std::process::Command::new(super::support::bin());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOOKHOST_MANAGED_DIR", env.managed_dir())
            .env("XDG_CONFIG_HOME", env.path().join("xdg"))
            .env("XDG_STATE_HOME", env.path().join("state"));
        c
    };
    // The user trusts that repository (project hooks never run before `hookhost trust`).
    let mut t = base();
    t.arg("trust").arg("--project-dir").arg(&proj);
    assert_eq!(run(t, b"").code, 0);
    let mut c = base();
    c.arg("dispatch");
    let mut ev: serde_json::Value = serde_json::from_slice(&fixture("PreToolUse-Bash.json")).unwrap();
    ev["cwd"] = proj.to_string_lossy().into();
    let out = run(c, &serde_json::to_vec(&ev).unwrap());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(marker.exists(), "project settings found through the event's cwd");
}

#[test]
fn demo_runs_the_bundled_policy() {
    let out = Env::new().run(&["demo"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let rows: Vec<&str> = out.stdout.lines().collect();
    let row = |sample: &str| {
        rows.iter()
            .find(|l| l.contains(sample))
            .unwrap_or_else(|| panic!("no row {sample}:\n{}", out.stdout))
            .to_string()
    };
    assert!(row("bash-rm-rf").contains("deny"), "{}", out.stdout);
    assert!(row("read-env").contains("deny"), "{}", out.stdout);
    assert!(row("bash-ls").contains("none"), "{}", out.stdout);
    assert!(row("config-user").contains("block"), "{}", out.stdout);
    assert!(out.stdout.contains("audit-edits wrote 2 record(s)"), "{}", out.stdout);
    // Issue 21: the same curl, one event per agent, denied in each agent's own wire form.
    let part = out.stdout.split("One policy, every agent").nth(1).unwrap_or_else(|| panic!("{}", out.stdout));
    for (agent, wire) in [
        ("claude", r#"exit 0 {"hookSpecificOutput""#),
        ("codex", "exit 2 stderr: denied by permission rule `Bash(curl *)`"),
        ("gemini", r#"exit 0 {"decision":"deny""#),
        ("copilot", r#"exit 0 {"permissionDecision":"deny""#),
        ("qwen", r#"exit 0 {"hookSpecificOutput""#),
        ("cursor", r#"exit 2 {"permission":"deny""#),
    ] {
        let rows: Vec<&str> = part.lines().filter(|l| l.starts_with(&format!("{agent} "))).collect();
        assert_eq!(rows.len(), 1, "one event for {agent}:\n{part}");
        assert!(rows[0].contains("PreToolUse Bash curl") && rows[0].contains(" deny "), "{}", rows[0]);
        assert!(rows[0].contains(wire), "{agent}'s wire answer: {}", rows[0]);
    }
}

/// CI exports HOOKHOST_SANDBOX_REQUIRE with the full layer set of its machine kind: every one of
/// those layers must be enforced and verified by `doctor`.
#[test]
fn required_sandbox_layers_hold() {
    let Some(required) = std::env::var_os("HOOKHOST_SANDBOX_REQUIRE") else {
        println!("HOOKHOST_SANDBOX_REQUIRE is not set: the layer requirement is checked in CI only");
        return;
    };
    let mut c = Env::new().command(&["doctor"]);
    c.env("HOOKHOST_SANDBOX_REQUIRE", &required);
    let out = run(c, b"");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for layer in required.to_string_lossy().split(',') {
        let line = out.stdout.lines().find(|l| l.trim_start().starts_with(&format!("{layer} "))).unwrap_or_default();
        assert!(line.contains("enforced") && !line.contains(" NO "), "layer {layer}: {line}\n{}", out.stdout);
    }
}

/// Every dispatched event leaves one hash-chained record, host errors too, and `audit verify`
/// tells intact from tampered.
#[test]
fn dispatch_audits_every_event_and_verify_detects_tampering() {
    let env = Env::new();
    let log = env.path().join("audit.jsonl");
    env.write(
        "managed",
        &json!({
            "audit": {"path": log, "redact": ["/tool_input/command"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo no-curl >&2; exit 2"}]}]}
        })
        .to_string(),
    );
    assert_eq!(env.dispatch(&bash_event("curl secret-token")).code, 0);
    assert_eq!(env.dispatch(&fixture("Stop.json")).code, 0);
    assert_eq!(env.dispatch(b"{truncated").code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3, "{text}");
    assert_eq!(records[0]["event"], "PreToolUse");
    assert_eq!(records[0]["decision"], "deny");
    assert_eq!(records[0]["reason"], "no-curl");
    assert_eq!(records[0]["hooks"][0]["answer"], "deny: no-curl");
    assert!(records[0]["hooks"][0]["sandbox"].as_str().unwrap().starts_with("strict"), "{}", records[0]);
    assert!(!text.contains("secret-token"), "redacted input leaked: {text}");
    assert_eq!(records[1]["event"], "Stop");
    assert_eq!(records[1]["decision"], "none");
    assert_eq!(records[2]["kind"], "host_error");
    assert_eq!(records[1]["prev"], records[0]["hash"]);

    let ok = env.run(&["audit", "verify", log.to_str().unwrap()], b"");
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("intact: 3 records"), "{}", ok.stdout);
    std::fs::write(&log, text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1)).unwrap();
    let bad = env.run(&["audit", "verify", log.to_str().unwrap()], b"");
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stdout.contains("seq 1: hash mismatch"), "{}", bad.stdout);
}

/// The same deny policy in enforce, warn and audit mode: deny / allow with a warning / allow,
/// and every run audited with what it would have done.
#[test]
fn enforcement_modes_enforce_warn_audit() {
    let env = Env::new();
    let log = env.path().join("audit.jsonl");
    let mut expect = Vec::new();
    for (mode, decision) in [("enforce", Some("deny")), ("warn", None), ("audit", None)] {
        env.write(
            "managed",
            &json!({
                "audit": {"path": log},
                "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                    {"type": "command", "command": "echo no-curl >&2; exit 2", "mode": mode}
                ]}]}
            })
            .to_string(),
        );
        let out = env.dispatch(&bash_event("curl x"));
        assert_eq!(out.code, 0, "{mode}: {out:?}");
        let v: serde_json::Value = if out.stdout.is_empty() { json!({}) } else { out.json() };
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"].as_str(), decision, "{mode}: {v}");
        let msg = v["systemMessage"].as_str().unwrap_or("");
        assert_eq!(msg.contains("[warn mode]") && msg.contains("would deny: no-curl"), mode == "warn", "{mode}: {v}");
        expect.push(mode);
    }
    // Rule sets too: a project's rules in warn mode only warn.
    env.write("managed", &json!({"audit": {"path": log}}).to_string());
    env.write(
        "project",
        &json!({"permissions": {"deny": ["Bash(curl *)"]}, "hookhost": {"permissionsMode": "warn"}}).to_string(),
    );
    let v = env.dispatch(&bash_event("curl x")).json();
    assert!(v.get("hookSpecificOutput").is_none(), "{v}");
    assert!(v["systemMessage"].as_str().unwrap().contains("permission rule `Bash(curl *)` would deny"), "{v}");
    let all: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Each settings edit between the dispatches went through the gate and is a record too.
    // (The gate's ConfigChange events are records of their own, with the hooks they ran.)
    let (changes, records): (Vec<_>, Vec<_>) =
        all.into_iter().filter(|r| r["event"] != "ConfigChange").partition(|r| r["kind"] == "settings_change");
    assert_eq!(changes.iter().filter(|r| r["result"] == "policy").count(), 3, "{changes:?}");
    assert!(changes.iter().any(|r| r["result"] == "applied" && r["source"] == "project_settings"), "{changes:?}");
    assert_eq!(records.len(), 4);
    for (r, mode) in records.iter().zip(expect) {
        assert_eq!(r["hooks"][0]["mode"], mode, "{r}");
        assert_eq!(r["hooks"][0]["answer"], "deny: no-curl", "the record keeps what the hook said: {r}");
    }
    assert_eq!(records[0]["decision"], "deny");
    assert_eq!(records[1]["decision"], "none");
    assert_eq!(records[3]["rule"]["mode"], "warn");
    assert_eq!(records[3]["rule"]["decision"], "deny");
}

/// A recorded session of 114 fixture events replayed against a stricter candidate: the diff
/// names exactly the events whose decision changes.
#[test]
fn replay_lists_exactly_the_changed_decisions() {
    let env = Env::new();
    let log = env.path().join("audit.jsonl");
    env.write("managed", &json!({"audit": {"path": log}}).to_string());
    let names = super::support::fixture_names();
    for _ in 0..6 {
        for n in &names {
            assert_eq!(env.dispatch(&fixture(n)).code, 0, "{n}");
        }
    }
    let candidate = env.path().join("candidate.json");
    std::fs::write(&candidate, json!({"permissions": {"deny": ["Bash(ls *)", "Read"]}}).to_string()).unwrap();
    let out = env.run(&["replay", "--audit", log.to_str().unwrap(), "--settings", candidate.to_str().unwrap()], b"");
    assert_eq!(out.code, 2, "{out:?}");
    let changed: Vec<&str> = out.stdout.lines().filter(|l| l.contains(": was ")).collect();
    assert_eq!(changed.len(), 12, "{}", out.stdout);
    assert_eq!(
        changed.iter().filter(|l| l.contains("PreToolUse Bash: was none, now deny")).count(),
        6,
        "{}",
        out.stdout
    );
    assert_eq!(
        changed.iter().filter(|l| l.contains("PreToolUse Read: was none, now deny")).count(),
        6,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("12 of 114 decision(s) would change"), "{}", out.stdout);
    // The same candidate against event files: the current settings are the baseline.
    let dir = env.path().join("events");
    std::fs::create_dir_all(&dir).unwrap();
    for n in &names {
        std::fs::write(dir.join(n), fixture(n)).unwrap();
    }
    let out = env.run(&["replay", "--events", dir.to_str().unwrap(), "--settings", candidate.to_str().unwrap()], b"");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("2 of 19 decision(s) would change"), "{}", out.stdout);
}
