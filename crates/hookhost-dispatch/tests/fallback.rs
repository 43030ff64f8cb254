//! The `hookhost-dispatch` binary on its own (hookhost's integration tests run it against real
//! daemons, `tests/integration/thin.rs`): with no daemon and no full binary to hand the event
//! to, it fails closed naming the cause, and the event is not lost silently. Also makes
//! `cargo test` build the binary, which those tests run.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn no_daemon_and_no_full_binary_fails_closed_naming_the_cause() {
    let dir = std::env::temp_dir().join(format!("hhd-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no-such-hookhost");
    for socket in [None, Some(dir.join("no.sock"))] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hookhost-dispatch"));
        c.env_clear()
            .env("HOOKHOST_BIN", &missing)
            .env("XDG_RUNTIME_DIR", &dir)
            .env("HOME", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(s) = &socket {
            c.env("HOOKHOST_SOCKET", s);
        }
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"session_id":"s","cwd":"/","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}"#)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{socket:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{socket:?}: nothing allowed on stdout");
        assert!(
            stderr.contains("failing closed") && stderr.contains(&*missing.to_string_lossy()),
            "{socket:?}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
