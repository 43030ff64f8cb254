//! `async: true` hooks do not hold up the decision (issue 17.8): one-shot `dispatch` answers and
//! hands them to a detached process that outlives it; the daemon runs them in the background.
//! Either way they run sandboxed and each writes an `async_hook` audit record when it finishes,
//! after its event's record.
//!
//! No timing assertions: the async hook waits on a gate file the test creates only after
//! `dispatch` has answered, so an answer that waited for the hook could not exist yet.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::support::{Env, Output, bash_event, run};

/// The settings: a sync hook that denies, and an async hook that waits for `gate`, then
/// records what it saw and whether the sandbox let it write outside its grants.
fn settings(env: &Env) -> (PathBuf, PathBuf) {
    let gate = env.path().join("gate");
    let marker = env.path().join("async-done");
    let outside = "/var/tmp/hookhost-async-escape";
    let _ = std::fs::remove_file(outside);
    let script = format!(
        "cat > {m}.event; i=0; while [ ! -e {g} ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; \
         if echo x > {outside} 2>/dev/null; then echo escaped > {m}.sandbox; else echo contained > {m}.sandbox; fi; \
         echo '{{\"decision\":\"approve\"}}'; touch {m}",
        m = marker.display(),
        g = gate.display(),
    );
    env.write(
        "managed",
        &json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": script, "async": true, "timeout": 60},
            {"type": "command", "command": "cat >/dev/null; echo '{\"decision\":\"block\",\"reason\":\"sync says no\"}'"}
        ]}]}})
        .to_string(),
    );
    (gate, marker)
}

fn audit(env: &Env) -> Vec<Value> {
    let text = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the answer (the sync hook's deny, nothing of the async hook) and that the async hook
/// is still waiting, then opens the gate and waits for its run and its audit record.
fn check(env: &Env, out: &Output, gate: &Path, marker: &Path, mode: &str) {
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert!(!marker.exists(), "the async hook cannot have finished: its gate is still closed");
    assert!(!audit(env).iter().any(|r| r["kind"] == "async_hook"), "no async record before the hook ran");
    let event_rec = audit(env).into_iter().rfind(|r| r["kind"] == "event").expect("event record");
    assert_eq!(event_rec["decision"], "deny");
    assert_eq!(event_rec["async"].as_array().map(Vec::len), Some(1), "{event_rec}");
    std::fs::write(gate, "").unwrap();
    wait_until("the async hook", || marker.exists());
    assert_eq!(std::fs::read_to_string(marker.with_extension("sandbox")).unwrap().trim(), "contained");
    assert!(!Path::new("/var/tmp/hookhost-async-escape").exists());
    // It got the event, exactly.
    let seen: Value = serde_json::from_slice(&std::fs::read(marker.with_extension("event")).unwrap()).unwrap();
    assert_eq!(seen["tool_input"]["command"], "ls");
    wait_until("the async audit record", || audit(env).iter().any(|r| r["kind"] == "async_hook"));
    let recs = audit(env);
    let (ei, _) = recs.iter().enumerate().rfind(|(_, r)| r["kind"] == "event").unwrap();
    let (ai, rec) = recs.iter().enumerate().find(|(_, r)| r["kind"] == "async_hook").unwrap();
    assert!(ai > ei, "the async record follows its event's record");
    assert_eq!(rec["mode"], mode, "{rec}");
    assert_eq!(rec["event"], "PreToolUse");
    assert_eq!(rec["tool_use_id"], "toolu_1");
    assert_eq!(rec["input_sha256"], event_rec["input_sha256"], "it names its event");
    assert_eq!(rec["hook"]["answer"], "allow", "{rec}");
    assert!(rec["hook"]["sandbox"].as_str().is_some_and(|s| !s.is_empty() && !s.starts_with("off")), "{rec}");
    // The chain stays intact with a record appended by another process.
    let v = env.run(&["audit", "verify"], b"");
    assert_eq!(v.code, 0, "{v:?}");
}

#[test]
fn async_hook_is_detached_by_one_shot_dispatch_and_audited_when_it_finishes() {
    let env = Env::new();
    let (gate, marker) = settings(&env);
    let out = env.dispatch(&bash_event("ls"));
    check(&env, &out, &gate, &marker, "detached");
}

#[test]
fn async_hook_runs_in_the_daemons_background_and_is_audited_when_it_finishes() {
    let env = Env::new();
    let (gate, marker) = settings(&env);
    let socket = env.path().join("d.sock");
    let _daemon = Daemon::start_with(&env, &socket, &[], &[("RUST_LOG", "info")]);
    let mut c = env.bare_command(&["dispatch"]);
    c.env("HOOKHOST_SOCKET", &socket).env("HOOKHOST_SOCKET_TIMEOUT", "30");
    let out = run(c, &bash_event("ls"));
    assert!(!out.stdout.contains("evaluated in-process"), "the daemon answered: {out:?}");
    check(&env, &out, &gate, &marker, "background");
}

#[test]
fn async_hook_is_not_run_again_on_a_rewritten_input() {
    let env = Env::new();
    let count = env.path().join("async-count");
    env.write(
        "managed",
        &json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": format!("cat >/dev/null; echo x >> {}", count.display()), "async": true},
            {"type": "command", "command": "cat >/dev/null; echo '{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"allow\",\"updatedInput\":{\"command\":\"echo rewritten\"}}}'"}
        ]}]}})
        .to_string(),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.json()["hookSpecificOutput"]["updatedInput"]["command"], "echo rewritten", "{out:?}");
    wait_until("the async audit record", || audit(&env).iter().any(|r| r["kind"] == "async_hook"));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1, "ran once, on the agent's input");
}
