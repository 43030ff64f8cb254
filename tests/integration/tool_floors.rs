//! Tools run hooks under the same sandbox floor as `dispatch` (issue 19.11): `hookhost test`,
//! `replay`, `explain` and `demo`, each with a hook that asks for `sandbox.mode: "off"` and
//! reports whether it runs inside a sandbox (`NoNewPrivs` in its own `/proc/self/status`, set by
//! every sandboxed run and by nothing else here). Each has a control showing that the oracle
//! tells the two apart: without the floor (where `dispatch` would allow `off`), the same hook
//! runs outside.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::support::{Env, Output, bash_event, hook_settings, run};

/// Denies every Bash call, saying where it ran.
const WHERE: &str = "n=$(grep -c '^NoNewPrivs:[[:space:]]*1' /proc/self/status); echo \"sandboxed=$n\" >&2; exit 2";

fn where_hook() -> serde_json::Value {
    json!([{"type": "command", "command": WHERE, "sandbox": {"mode": "off"}}])
}

/// This machine's managed floor: strict, and `off` forbidden.
fn with_floor(env: &Env) {
    env.write("managed.d/05-floor.json", &json!({"sandbox": {"floor": "strict", "forbidOff": true}}).to_string());
}

fn said(out: &Output) -> &'static str {
    let all = format!("{}{}", out.stdout, out.stderr);
    match (all.contains("sandboxed=1"), all.contains("sandboxed=0")) {
        (true, false) => "inside",
        (false, true) => "outside",
        _ => panic!("the hook did not say where it ran: {out:?}"),
    }
}

fn test_file(env: &Env) -> PathBuf {
    let f = env.path().join("where/tests.json");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let settings: serde_json::Value = serde_json::from_str(&hook_settings("PreToolUse", "Bash", where_hook())).unwrap();
    let mut settings = settings;
    // The test file's own managed-scope sandbox object tries to lower the floor too.
    settings["sandbox"] = json!({"floor": "off", "forbidOff": false});
    std::fs::write(
        &f,
        json!({"settings": settings, "cases": [{"name": "where", "event": serde_json::from_slice::<serde_json::Value>(&bash_event("ls")).unwrap(),
            "expect": {"decision": "deny"}}]})
        .to_string(),
    )
    .unwrap();
    f
}

#[test]
fn hookhost_test_runs_hooks_under_the_machine_floor() {
    let env = Env::new();
    let f = test_file(&env);
    // Control: no floor on this machine: the test file's `off` holds.
    let out = env.run(&["test", f.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "outside", "control");
    with_floor(&env);
    let out = env.run(&["test", f.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "inside", "the machine's floor holds under the test file's settings: {out:?}");
    // Unreadable managed settings: no hook runs at all.
    env.write("managed.d/06-broken.json", "{ nope");
    let out = env.run(&["test", f.to_str().unwrap()], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("06-broken.json"), "{out:?}");
    assert!(!out.stdout.contains("sandboxed="), "{out:?}");
}

#[test]
fn replay_never_runs_a_candidate_hook_unsandboxed() {
    let env = Env::new();
    let candidate = env.path().join("candidate.json");
    std::fs::write(&candidate, hook_settings("PreToolUse", "Bash", where_hook())).unwrap();
    // Control: `dispatch` with the candidate at command-line scope, no floor: `off` is allowed.
    let mut c = env.bare_command(&["dispatch"]);
    c.arg("--settings").arg(&candidate);
    let out = run(c, &bash_event("ls"));
    assert_eq!(said(&out), "outside", "control: {out:?}");
    let events = env.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("01.json"), bash_event("ls")).unwrap();
    let mut c = env.bare_command(&["replay"]);
    c.arg("--events").arg(&events).arg("--settings").arg(&candidate);
    let out = run(c, b"");
    assert_eq!(out.code, 2, "the decision changes: {out:?}");
    assert_eq!(said(&out), "inside", "{out:?}");
}

#[test]
fn explain_runs_hooks_under_the_machine_floor() {
    let env = Env::new();
    env.write("user", &hook_settings("PreToolUse", "Bash", where_hook()));
    let out = env.run(&["explain"], &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "outside", "control: {out:?}");
    with_floor(&env);
    let out = env.run(&["explain"], &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "inside", "{out:?}");
    assert!(out.stdout.contains("sandbox: strict"), "{}", out.stdout);
    // And `dispatch` agrees.
    assert_eq!(said(&env.dispatch(&bash_event("ls"))), "inside");
}

/// An examples directory with one shell example (the `where` hook, `off`) and one event.
fn examples(dir: &Path) -> PathBuf {
    let ex = dir.join("examples");
    std::fs::create_dir_all(ex.join("shell/where")).unwrap();
    std::fs::create_dir_all(ex.join("events")).unwrap();
    std::fs::write(ex.join("shell/where/settings.json"), hook_settings("PreToolUse", "Bash", where_hook())).unwrap();
    let event = json!({"session_id": "s", "cwd": "/home/dev/project", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "t"});
    std::fs::write(ex.join("events/01-where.json"), event.to_string()).unwrap();
    ex
}

#[test]
fn demo_runs_its_examples_under_the_machine_floor() {
    let env = Env::new();
    let ex = examples(env.path());
    let out = env.run(&["demo", "--examples", ex.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "outside", "control: {out:?}");
    with_floor(&env);
    let out = env.run(&["demo", "--examples", ex.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(said(&out), "inside", "{out:?}");
}
