//! Trust, end to end through the real binary: project hooks run only once trusted, and only
//! while neither their definition nor the script behind them changed; `sha256` pins (a
//! mismatch is an `untrusted` failure, audited, and the hook never runs); managed
//! `requirePinnedHooks`; `hookhost pin [--write]`; and the input limits (hooks per event, JSON
//! nesting depth, settings file size).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::support::{Env, Output, bash_event, hook_settings};

fn sha256_hex(bytes: &[u8]) -> String {
    hookhost::trust::sha256_hex(bytes)
}

/// A project whose settings run `.hookhost/guard.sh` on every Bash call; the script denies
/// with `reason` and leaves a marker.
fn guarded_project(env: &Env, reason: &str) -> (PathBuf, PathBuf) {
    let script = env.project().join(".hookhost/guard.sh");
    let marker = env.path().join("guard-ran");
    write_guard(&script, &marker, reason);
    env.write(
        "project",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/.hookhost/guard.sh"}]),
        ),
    );
    (script, marker)
}

fn write_guard(script: &Path, marker: &Path, reason: &str) {
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(
        script,
        format!("#!/bin/sh\ncat >/dev/null\ntouch {}\necho '{reason}' >&2\nexit 2\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn decision(out: &Output) -> Option<String> {
    if out.stdout.trim().is_empty() {
        return None;
    }
    out.json()["hookSpecificOutput"]["permissionDecision"].as_str().map(str::to_string)
}

fn untrusted_env() -> Env {
    let env = Env::new();
    env.trust_project.set(false);
    env
}

#[test]
fn project_hooks_run_only_after_trust() {
    let env = untrusted_env();
    let (_, marker) = guarded_project(&env, "repo guard");
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!((out.code, decision(&out)), (0, None), "{out:?}");
    assert!(!marker.exists(), "an untrusted project hook ran");

    let check = env.run(&["check"], b"");
    assert!(check.stdout.contains("active hooks (0)"), "{}", check.stdout);
    assert!(check.stdout.contains("is not trusted"), "{}", check.stdout);
    assert!(check.stdout.contains(&format!("hookhost trust --project-dir {}", env.project().display())));

    let t = env.trust();
    assert_eq!(t.code, 0, "{t:?}");
    assert!(t.stdout.contains("1 project hook(s)"), "{}", t.stdout);
    assert!(
        t.stdout.contains(&format!("file {}/.hookhost/guard.sh  sha256 ", env.project().display())),
        "{}",
        t.stdout
    );
    let state = env.state_home().join("hookhost/trusted-projects.json");
    let store: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(store["version"], 1, "{store}");

    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{out:?}");
    assert!(marker.exists());

    // Revoking stops it again.
    let r = env.run(&["trust", "--revoke"], b"");
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))), None);
    assert!(!marker.exists());
}

#[test]
fn editing_a_trusted_script_revokes_trust_for_that_hook() {
    let env = untrusted_env();
    let (script, marker) = guarded_project(&env, "v1");
    // A second, inline hook in the local file: its trust is not affected by the script edit.
    let local_marker = env.path().join("local-ran");
    env.write(
        "local",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": format!("cat >/dev/null; touch {}", local_marker.display())}]),
        ),
    );
    assert_eq!(env.trust().code, 0);
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))).as_deref(), Some("deny"));
    std::fs::remove_file(&marker).unwrap();
    std::fs::remove_file(&local_marker).unwrap();

    // Same command line, new script content.
    write_guard(&script, &marker, "v2 (edited behind the command line)");
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(decision(&out), None, "{out:?}");
    assert!(!marker.exists(), "the edited script ran");
    assert!(local_marker.exists(), "the untouched local hook stays trusted");
    let explain = env.run(&["explain"], &bash_event("ls"));
    assert!(explain.stdout.contains("trust revoked: file "), "{}", explain.stdout);
    assert!(explain.stdout.contains("changed since the project was trusted"), "{}", explain.stdout);

    // Trusting again trusts the new content.
    assert_eq!(env.trust().code, 0);
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecisionReason"], "v2 (edited behind the command line)");

    // Editing the definition (here: a timeout) makes it a new, untrusted hook.
    env.write(
        "project",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/.hookhost/guard.sh", "timeout": 30}]),
        ),
    );
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))), None);
    assert!(!marker.exists());
    let explain = env.run(&["explain"], &bash_event("ls"));
    assert!(explain.stdout.contains("new or was edited since the project was trusted"), "{}", explain.stdout);
}

/// The recorded content hash doubles as the hook's pin at run time: a script swapped after
/// the settings were loaded is still caught (here the hook rewrites itself while it runs).
#[test]
fn a_script_changed_while_it_runs_is_discarded() {
    let env = Env::new();
    let script = env.path().join("self-editing.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\necho '# edited' >> \"$0\"\necho no >&2\nexit 2\n").unwrap();
    let sum = sha256_hex(&std::fs::read(&script).unwrap());
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": "/bin/sh", "args": [script], "sha256": sum}]),
        ),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(decision(&out), None, "the answer of a changed script counted: {out:?}");
    let msg = out.json()["systemMessage"].as_str().unwrap().to_string();
    assert!(msg.contains("failed (untrusted)") && msg.contains("changed while the hook ran"), "{msg}");
}

#[test]
fn pin_mismatch_never_runs_and_is_audited() {
    let env = Env::new();
    let marker = env.path().join("ran");
    let script = env.path().join("guard.sh");
    write_guard(&script, &marker, "pinned guard");
    let good = sha256_hex(&std::fs::read(&script).unwrap());
    let wrong = "0".repeat(64);
    let hook = |pin: &str, on_failure: &str| json!([{"type": "command", "command": script.to_str().unwrap(), "sha256": pin, "onFailure": on_failure}]);

    // A matching pin runs.
    env.write("managed", &hook_settings("PreToolUse", "Bash", hook(&good.to_uppercase(), "allow")));
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))).as_deref(), Some("deny"));
    assert!(marker.exists());
    std::fs::remove_file(&marker).unwrap();

    // A mismatch: an untrusted failure; fail-open here, so no decision, but never run.
    env.write("managed", &hook_settings("PreToolUse", "Bash", hook(&wrong, "allow")));
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(decision(&out), None, "{out:?}");
    let msg = out.json()["systemMessage"].as_str().unwrap().to_string();
    assert!(msg.contains("failed (untrusted)"), "{msg}");
    assert!(msg.contains("does not match its sha256 pin (pinned 000000000000…"), "{msg}");
    assert!(!marker.exists(), "a hook with a mismatched pin ran");

    // Under onFailure block the mismatch denies.
    env.write("managed", &hook_settings("PreToolUse", "Bash", hook(&wrong, "block")));
    let out = env.dispatch(&bash_event("ls"));
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    let reason = v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.contains("does not match its sha256 pin") && reason.contains("onFailure is \"block\""), "{reason}");
    assert!(!marker.exists());

    // Pins without a script file cover the command line; a changed command line is a mismatch.
    let inline = format!("cat >/dev/null; touch {}", marker.display());
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([{"type": "command", "command": inline, "sha256": sha256_hex(b"something else")}]),
        ),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert!(out.json()["systemMessage"].as_str().unwrap().contains("the command line does not match"), "{out:?}");
    assert!(!marker.exists());

    // Every failure is audited with its kind.
    let log = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap();
    let untrusted = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["hooks"].as_array().is_some_and(|h| h.iter().any(|h| h["failure"] == "untrusted")))
        .count();
    assert_eq!(untrusted, 3, "{log}");
}

#[test]
fn require_pinned_hooks_needs_a_pin_below_managed() {
    let env = Env::new();
    let (m_user, m_managed) = (env.path().join("user-ran"), env.path().join("managed-ran"));
    let user_script = env.path().join("user.sh");
    std::fs::write(&user_script, format!("cat >/dev/null; touch {}\n", m_user.display())).unwrap();
    env.write(
        "managed",
        &json!({
            "requirePinnedHooks": true,
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": format!("touch {}", m_managed.display())}]}]}
        })
        .to_string(),
    );
    let user_hook = |pin: Option<String>| {
        let mut h = json!({"type": "command", "command": "sh", "args": [user_script]});
        if let Some(p) = pin {
            h["sha256"] = p.into();
        }
        hook_settings("Stop", "", json!([h]))
    };
    env.write("user", &user_hook(None));
    let stop = br#"{"hook_event_name":"Stop","session_id":"s"}"#;
    assert_eq!(env.dispatch(stop).code, 0);
    assert!(m_managed.exists(), "managed hooks need no pin");
    assert!(!m_user.exists(), "an unpinned user hook ran under requirePinnedHooks");
    let check = env.run(&["check"], b"");
    assert!(check.stdout.contains("requirePinnedHooks: non-managed hooks run only with a sha256 pin"));
    assert!(check.stdout.contains("this user hook has no `sha256` pin (`hookhost pin --write` adds one)"));

    env.write("user", &user_hook(Some(sha256_hex(&std::fs::read(&user_script).unwrap()))));
    assert_eq!(env.dispatch(stop).code, 0);
    assert!(m_user.exists(), "a pinned user hook did not run");

    // Below managed the key is ignored (with a warning).
    let env = Env::new();
    env.write("user", &json!({"requirePinnedHooks": true}).to_string());
    let check = env.run(&["check"], b"");
    assert!(check.stderr.contains("`requirePinnedHooks` is a managed-only key"), "an error: {}", check.stderr);
    assert_eq!(check.code, 1, "a key that does not take effect as written fails check");
    assert!(!check.stdout.contains("requirePinnedHooks: non-managed"), "{}", check.stdout);
}

#[test]
fn pin_prints_and_writes_pins() {
    let env = Env::new();
    let marker = env.path().join("ran");
    let script = env.project().join(".hookhost/guard.sh");
    write_guard(&script, &marker, "guard");
    let sum = sha256_hex(&std::fs::read(&script).unwrap());
    let project_text = "{\n  \"$schema\": \"x\",\n  \"hooks\": {\n    \"PreToolUse\": [\n      {\"matcher\": \"Bash\", \"hooks\": [\n        {\"type\": \"command\", \"command\": \"${CLAUDE_PROJECT_DIR}/.hookhost/guard.sh\"}\n      ]}\n    ]\n  },\n  \"zzz\": true\n}\n";
    env.write("project", project_text);
    let managed_text = hook_settings("Stop", "", json!([{"type": "command", "command": "true"}]));
    env.write("managed", &managed_text);

    let out = env.run(&["pin"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&format!("sha256 {sum}")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("covers file {}", script.display())), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("sha256 {}", sha256_hex(b"true"))), "{}", out.stdout);
    assert!(out.stdout.contains("not pinned"), "{}", out.stdout);

    let out = env.run(&["pin", "--write"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("not written: a managed file (pass --include-managed)"), "{}", out.stdout);
    assert!(out.stdout.contains("project trust is unchanged"), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(env.scope_path("managed")).unwrap(), managed_text, "managed file touched");
    let written = std::fs::read_to_string(env.scope_path("project")).unwrap();
    let expected = project_text.replace("guard.sh\"}", &format!("guard.sh\", \"sha256\": \"{sum}\"}}"));
    assert_eq!(written, expected, "only the pin was added");

    // Now pinned and matching: `pin` is clean, the hook runs (the Env re-trusts the project).
    let out = env.run(&["pin"], b"");
    assert!(out.stdout.contains("pinned, matches"), "{}", out.stdout);
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))).as_deref(), Some("deny"));

    // The script changes: `pin` reports the mismatch (exit 2) and the hook does not run, even
    // though the project is re-trusted (trust records content, the written pin still rules).
    write_guard(&script, &marker, "changed");
    std::fs::remove_file(&marker).unwrap();
    let out = env.run(&["pin"], b"");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains(&format!("MISMATCH: pinned {sum}")), "{}", out.stdout);
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(decision(&out), None, "{out:?}");
    assert!(!marker.exists());

    // --write replaces the stale pin; --include-managed also pins the managed hook.
    let out = env.run(&["pin", "--write", "--include-managed"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    let new_sum = sha256_hex(&std::fs::read(&script).unwrap());
    assert!(std::fs::read_to_string(env.scope_path("project")).unwrap().contains(&new_sum));
    assert!(std::fs::read_to_string(env.scope_path("managed")).unwrap().contains(&sha256_hex(b"true")));
    let out = env.run(&["pin"], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("not pinned") && !out.stdout.contains("MISMATCH"), "{}", out.stdout);
    assert_eq!(decision(&env.dispatch(&bash_event("ls"))).as_deref(), Some("deny"));
}

#[test]
fn too_many_hooks_for_one_event_fail_closed_naming_the_limit() {
    let env = Env::new();
    let markers: Vec<PathBuf> = (0..3).map(|i| env.path().join(format!("ran-{i}"))).collect();
    let hooks: Vec<Value> = markers
        .iter()
        .map(|m| json!({"type": "command", "command": format!("cat >/dev/null; touch {}", m.display())}))
        .collect();
    env.write("managed", &json!({"hookhost": {"maxHooksPerEvent": 2}}).to_string());
    env.write("managed.d/10-hooks.json", &hook_settings("PreToolUse", "*", json!(hooks.clone())));
    env.write("managed.d/11-hooks.json", &hook_settings("PostToolUse", "*", json!(hooks)));
    let out = env.dispatch(&bash_event("ls"));
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    let reason = v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.contains("3 hooks match this PreToolUse event, more than the limit of 2"), "{reason}");
    assert!(reason.contains("maxHooksPerEvent"), "{reason}");
    assert!(markers.iter().all(|m| !m.exists()), "a hook ran past the limit");
    let post = serde_json::to_vec(&json!({"hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_input": {"command": "ls"}, "tool_response": {}}))
    .unwrap();
    let out = env.dispatch(&post);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("more than the limit of 2"), "{}", out.stderr);
    let check = env.run(&["check"], b"");
    assert!(check.stdout.contains("limit: PreToolUse has 3 hooks, more than maxHooksPerEvent (2)"), "{}", check.stdout);

    // The default is 64; the key is managed-only and bounded.
    let env = Env::new();
    env.write("managed", &json!({"hookhost": {"maxHooksPerEvent": 0}}).to_string());
    let check = env.run(&["check"], b"");
    assert_eq!(check.code, 1);
    assert!(check.stderr.contains("`hookhost.maxHooksPerEvent` must be an integer from 1 to 4096"), "{}", check.stderr);
    let hooks: Vec<Value> = (0..65).map(|i| json!({"type": "command", "command": format!("true {i}")})).collect();
    let env = Env::new();
    env.write("user", &json!({"hookhost": {"maxHooksPerEvent": 1000}}).to_string());
    env.write("managed", &hook_settings("PreToolUse", "*", json!(hooks)));
    let out = env.dispatch(&bash_event("ls"));
    assert!(out.stdout.contains("65 hooks match this PreToolUse event, more than the limit of 64"), "{out:?}");
}

#[test]
fn nesting_depth_and_settings_size_limits_are_named() {
    let env = Env::new();
    let deep = |n: usize| format!("{{\"hook_event_name\":\"Stop\",\"x\":{}{}}}", "[".repeat(n), "]".repeat(n));
    // serde_json counts every array/object level: the event object plus 126 arrays is the deepest accepted.
    assert_eq!(env.dispatch(deep(126).as_bytes()).code, 0);
    let out = env.dispatch(deep(127).as_bytes());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("nests JSON deeper than the limit of 128 levels"), "{}", out.stderr);

    env.write("user", &format!("{{\"x\": {}{}}}", "[".repeat(200), "]".repeat(200)));
    let check = env.run(&["check"], b"");
    assert!(check.stderr.contains("JSON nested deeper than the limit of 128 levels"), "{}", check.stderr);

    let big = format!("{{{}}}", " ".repeat(16 * 1024 * 1024));
    env.write("user", &big);
    let check = env.run(&["check"], b"");
    assert!(check.stderr.contains("file is larger than the limit of 16777216 bytes"), "{}", check.stderr);
}

/// Issue 19.5: trust and pins cover every file the command line executes or sources, as the
/// permission engine's shell parser reads it. For each line, the project is trusted (and a
/// user copy of the hook pinned with `pin --write`), the hook runs; then the file that the old
/// one-script rule did not cover is edited, and neither copy runs again until re-approved.
#[test]
fn trust_and_pins_cover_every_executed_file() {
    // (command line, the file to edit afterwards; relative to the project)
    let lines: &[(&str, &str)] = &[
        ("sh a.sh && sh b.sh", "b.sh"),
        ("sh a.sh; sh b.sh", "b.sh"),
        ("sh a.sh || sh b.sh; true", "a.sh"),
        ("sh -e b.sh", "b.sh"),
        ("/usr/bin/env sh b.sh", "b.sh"),
        ("/usr/bin/env -i PATH=/usr/bin:/bin sh -e b.sh", "b.sh"),
        ("bash -c 'sh a.sh && sh b.sh'", "b.sh"),
        (". ./lib.sh; sh b.sh", "lib.sh"),
        ("cd tools && sh ../b.sh && sh run.sh", "tools/run.sh"),
        ("timeout 10 sh a.sh && sh b.sh", "b.sh"),
        ("sh b.sh && python3 x.py", "x.py"),
    ];
    for (line, edit) in lines {
        let env = untrusted_env();
        let p = env.project();
        let marker = env.path().join("ran");
        std::fs::create_dir_all(p.join("tools")).unwrap();
        for f in ["a.sh", "lib.sh", "tools/run.sh"] {
            std::fs::write(p.join(f), format!("cat >/dev/null 2>&1; touch {}\n", marker.display())).unwrap();
        }
        std::fs::write(p.join("b.sh"), format!("cat >/dev/null; touch {}; echo guard >&2; exit 2\n", marker.display()))
            .unwrap();
        std::fs::write(p.join("x.py"), "import sys\nsys.exit(0)\n").unwrap();
        env.write("project", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": line}])));
        assert_eq!(env.trust().code, 0, "{line}");
        let out = env.dispatch(&bash_event("ls"));
        assert!(marker.exists(), "{line}: the trusted hook did not run: {out:?}");
        std::fs::remove_file(&marker).unwrap();

        // Edit the file the old rule missed: the project hook does not run.
        let target = p.join(edit);
        let mut text = std::fs::read_to_string(&target).unwrap();
        text.push_str("\n# edited\n");
        std::fs::write(&target, &text).unwrap();
        let out = env.dispatch(&bash_event("ls"));
        assert!(!marker.exists(), "{line}: editing {edit} did not revoke trust: {out:?}");
        let explain = env.run(&["explain"], &bash_event("ls"));
        assert!(explain.stdout.contains("trust revoked"), "{line}: {}", explain.stdout);

        // The same hook in user settings, pinned by `pin --write`: covered the same way.
        std::fs::write(&target, text.replace("\n# edited\n", "")).unwrap();
        env.write("project", "{}");
        env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": line}])));
        let out = env.run(&["pin", "--write"], b"");
        assert_eq!(out.code, 0, "{line}: {out:?}");
        let pin = env.run(&["pin"], b"");
        assert!(pin.stdout.contains("pinned, matches"), "{line}: {}", pin.stdout);
        assert!(
            pin.stdout.contains(&format!("{}", target.display())),
            "{line}: the pin does not name {edit}: {}",
            pin.stdout
        );
        env.dispatch(&bash_event("ls"));
        assert!(marker.exists(), "{line}: the pinned hook did not run");
        std::fs::remove_file(&marker).unwrap();
        std::fs::write(&target, format!("{text}\n# edited again\n")).unwrap();
        let out = env.dispatch(&bash_event("ls"));
        assert!(!marker.exists(), "{line}: editing {edit} did not break the pin: {out:?}");
        let pin = env.run(&["pin"], b"");
        assert_eq!(pin.code, 2, "{line}: {}", pin.stdout);
        assert!(pin.stdout.contains("MISMATCH"), "{line}: {}", pin.stdout);
    }
}

/// A command line whose executed files cannot be named before it runs cannot be pinned: a
/// project hook with it never runs (even after `trust`), a pinned one never runs, and `pin`
/// and `explain` say why.
#[test]
fn a_command_that_cannot_be_pinned_is_refused_with_the_reason() {
    for line in ["sh \"$HOOK_SCRIPT\"", "eval \"sh a.sh\"", "cat a.sh | sh", "$SHELL a.sh", "sh $(ls *.sh | head -1)"] {
        let env = untrusted_env();
        let marker = env.path().join("ran");
        std::fs::write(env.project().join("a.sh"), format!("cat >/dev/null; touch {}\n", marker.display())).unwrap();
        env.write("project", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": line}])));
        assert_eq!(env.trust().code, 0, "{line}");
        let out = env.dispatch(&bash_event("ls"));
        assert!(!marker.exists(), "{line}: a hook that cannot be pinned ran: {out:?}");
        let explain = env.run(&["explain"], &bash_event("ls"));
        assert!(explain.stdout.contains("cannot pin"), "{line}: {}", explain.stdout);
        let pin = env.run(&["pin"], b"");
        assert!(pin.stdout.contains("cannot pin"), "{line}: {}", pin.stdout);

        env.write("project", "{}");
        env.write(
            "user",
            &hook_settings(
                "PreToolUse",
                "Bash",
                json!([{"type": "command", "command": line, "sha256": "0".repeat(64)}]),
            ),
        );
        let out = env.dispatch(&bash_event("ls"));
        assert!(!marker.exists(), "{line}: a pinned hook that cannot be pinned ran: {out:?}");
        assert!(
            out.stdout.contains("cannot cover what it runs") || out.stderr.contains("cannot cover what it runs"),
            "{line}: {out:?}"
        );
    }
}
