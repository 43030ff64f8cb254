//! Hostile input: never a panic, always a clear error, and the exit code the failure policy
//! gives (1 = Claude Code's non-blocking error, 2 = block when the event fails closed).

use serde_json::json;

use super::support::{Env, bash_event, hook_settings};

fn assert_clean_error(out: &super::support::Output, code: i32, needle: &str) {
    assert_eq!(out.code, code, "{out:?}");
    assert!(out.stderr.contains(needle), "stderr lacks {needle:?}: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn malformed_events_are_clear_errors() {
    let open = Env::new();
    let closed = Env::new();
    closed.write("managed", r#"{"failClosed": ["PreToolUse"]}"#);
    let deep = format!("{{\"hook_event_name\":\"PreToolUse\",\"x\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            br#"{"hook_event_name":"PreToolUse","tool_name":"Ba"#.to_vec(),
            "invalid event: event is not valid JSON at line 1",
        ),
        ("empty", Vec::new(), "event is empty"),
        ("non-utf8", b"{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"\xff\xfe\"}".to_vec(), "invalid event"),
        ("deep", deep.into_bytes(), "recursion limit"),
        ("array", b"[1,2]".to_vec(), "must be a JSON object"),
        ("no name", b"{\"tool_name\":\"Bash\"}".to_vec(), "hook_event_name"),
        ("wrong type", br#"{"hook_event_name":"PreToolUse","tool_name":["Bash"]}"#.to_vec(), "PreToolUse event"),
        ("trailing garbage", b"{\"hook_event_name\":\"Stop\"} {}".to_vec(), "trailing characters"),
    ];
    for (what, input, needle) in &cases {
        assert_clean_error(&open.dispatch(input), 1, needle);
        // Where managed settings fail closed, an unreadable event blocks.
        let out = closed.dispatch(input);
        assert_eq!(out.code, 2, "{what}: {out:?}");
    }
}

#[test]
fn a_ten_mib_event_passes_through_whole() {
    let env = Env::new();
    let saved = env.path().join("in.json");
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "Write",
            json!([{"type": "command", "command": format!("cat > {}", saved.display())}]),
        ),
    );
    let event = serde_json::to_vec(&json!({
        "hook_event_name": "PreToolUse", "cwd": "/tmp", "tool_name": "Write",
        "tool_input": {"file_path": "/tmp/big", "content": "x".repeat(10 * 1024 * 1024)}
    }))
    .unwrap();
    let out = env.dispatch(&event);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(&saved).unwrap(), event);
}

#[test]
fn oversized_events_are_refused() {
    let env = Env::new();
    let big = format!("{{\"hook_event_name\":\"Stop\",\"x\":\"{}\"}}", "a".repeat(17 * 1024 * 1024));
    assert_clean_error(&env.dispatch(big.as_bytes()), 1, "larger than the limit of 16777216 bytes");
    let out = env.run(&["dispatch", "--max-event-bytes", "100"], &bash_event("ls"));
    assert_clean_error(&out, 1, "larger than the limit of 100 bytes");
}

#[test]
fn hostile_hook_output_is_a_failure_not_a_decision() {
    let env = Env::new();
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "*",
            json!([
                {"type": "command", "command": "cat >/dev/null; printf '{\\377\\376\\000 garbage'"},
                {"type": "command", "command": "cat >/dev/null; head -c 300000 /dev/urandom >&2; exit 0"},
                {"type": "command", "command": "cat >/dev/null; printf '{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"allow\"}}'; printf '%.0s{' $(seq 1 10)"}
            ]),
        ),
    );
    let out = env.dispatch(&bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    let msg = v["systemMessage"].as_str().unwrap();
    assert!(msg.contains("invalid output"), "{msg}");
    assert!(msg.contains("stderr exceeded 256 KiB"), "{msg}");
    // Trailing junk after the JSON makes it invalid: no allow slips through.
    assert!(v.get("hookSpecificOutput").is_none(), "{v}");
}

#[test]
fn garbage_output_blocks_when_failing_closed() {
    let env = Env::new();
    env.write(
        "managed",
        &json!({"failClosed": ["PreToolUse"], "hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": "echo '{not json'"}]}]}}).to_string(),
    );
    let v = env.dispatch(&bash_event("ls")).json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("managed settings fail closed for PreToolUse"),
        "{v}"
    );
}
