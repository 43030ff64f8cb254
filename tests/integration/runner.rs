//! The command runner on real processes: deadlines, process groups, caps, stdin handling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookhost::exec::command::{ProcessSpec, run as run_spec};
use hookhost::exec::sandbox::Prepared;

use super::support::alive;

fn spec(script: &str, stdin: &[u8], timeout_ms: u64) -> ProcessSpec {
    ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
        stdin: Arc::from(stdin),
        timeout: Duration::from_millis(timeout_ms),
        stdout_cap: 1024 * 1024,
        stderr_cap: 256 * 1024,
        grace: Duration::from_millis(300),
    }
}

async fn run(spec: &ProcessSpec) -> std::io::Result<hookhost::exec::command::ProcessOutcome> {
    run_spec(spec, &mut Prepared::unsandboxed(spec.env.clone())).await
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn read_pid(p: &std::path::Path) -> i32 {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(p)
            && let Ok(n) = s.trim().parse()
        {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no pid in {}", p.display());
}

#[test]
fn timeout_kills_the_hook_and_its_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let pidf = dir.path().join("pid");
    // The grandchild ignores SIGTERM: only the group SIGKILL gets it.
    let script = format!("sh -c 'trap \"\" TERM; echo $$ > {}; sleep 30' & sleep 30", pidf.display());
    let start = Instant::now();
    let out = rt().block_on(run(&spec(&script, b"", 300))).unwrap();
    assert!(out.timed_out);
    assert!(start.elapsed() < Duration::from_secs(5));
    let pid = read_pid(&pidf);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(pid), "grandchild {pid} survived the timeout");
}

#[test]
fn background_processes_die_when_the_hook_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pidf = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; exit 0", pidf.display());
    let out = rt().block_on(run(&spec(&script, b"", 5000))).unwrap();
    assert!(!out.timed_out);
    assert_eq!(out.exit, hookhost::decision::ExitKind::Code(0));
    let pid = read_pid(&pidf);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(pid), "background child {pid} outlived its hook");
}

#[test]
fn stdout_over_the_cap_kills_and_is_not_kept() {
    let start = Instant::now();
    let out = rt().block_on(run(&spec("cat /dev/zero", b"", 10_000))).unwrap();
    assert_eq!(out.overflow, Some("stdout"));
    assert!(out.stdout.len() <= 1024 * 1024);
    assert!(start.elapsed() < Duration::from_secs(5), "killed at the cap, not at the deadline");
}

#[test]
fn a_hook_that_does_not_read_stdin_is_fine() {
    let big = vec![b'x'; 4 * 1024 * 1024];
    let out = rt().block_on(run(&spec("echo ok", &big, 5000))).unwrap();
    assert_eq!(out.exit, hookhost::decision::ExitKind::Code(0));
    assert_eq!(out.stdout, b"ok\n");
}

#[test]
fn stdin_arrives_whole_and_outputs_are_separate() {
    let input = b"{\"a\": \"\xc3\xa9\"}\n".to_vec();
    let out = rt().block_on(run(&spec("cat; echo err >&2; exit 3", &input, 5000))).unwrap();
    assert_eq!(out.stdout, input);
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit, hookhost::decision::ExitKind::Code(3));
}

#[test]
fn missing_programs_are_spawn_errors() {
    let mut s = spec("", b"", 1000);
    s.program = "/nonexistent/hook".into();
    s.args.clear();
    assert!(rt().block_on(run(&s)).is_err());
}
