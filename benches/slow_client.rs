//! One slow client must not slow the others (issue 18 item 6): `hookhost serve` answers 7 fast
//! clients (PreToolUse Bash, no hooks: rules, fold, audit append) while an 8th keeps asking for
//! PreToolUse Edit of a 16 MiB file under managed `rollbackRejectedEdits`, so every one of its
//! events reads 16 MiB and writes and fsyncs a 16 MiB snapshot (the audit log keeps its default
//! batched fsync, so the fast clients are not fsync-bound themselves). Prints the fast clients'
//! p50/p99 alone and beside the slow client. Measured, never asserted: on a shared machine the
//! slow client's disk and CPU use still show; what must not show is a worker stalled behind it.
//!
//! `cargo bench --bench slow_client -- [N]` (N events per fast client, default 200).
//! `HOOKHOST_SLOW_CLIENTS=2` runs two slow clients (one per async worker on a 2-core machine).
//! `HOOKHOST_BIN=/path/to/hookhost` benchmarks another build (e.g. a binary from before the I/O
//! moved off the async workers) with the same clients; `cargo bench --profile dev` compares
//! debug builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hookhost::daemon::{Reply, Request, client};

const FAST_CLIENTS: usize = 7;

/// How many slow clients run at once (`HOOKHOST_SLOW_CLIENTS`, default 1; as many as the
/// daemon has async workers is the case where a worker blocked on the disk would show most).
fn slow_clients() -> usize {
    std::env::var("HOOKHOST_SLOW_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Daemon {
    child: std::process::Child,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event_request(project: &Path, event: serde_json::Value) -> Request {
    Request::Event { v: 1, event: event.to_string(), project_dir: Some(project.to_path_buf()), settings: None }
}

fn ask(socket: &Path, req: &Request) -> Duration {
    let start = Instant::now();
    let r = client::request(socket, req, Duration::from_secs(60)).expect("daemon answer");
    assert!(matches!(r, Reply::Outcome { .. }), "{r:?}");
    start.elapsed()
}

/// The fast clients' latencies, each client on its own thread, with the slow client running
/// alongside when `slow` is given.
fn fast_clients(d: &Daemon, project: &Path, n: usize, slow: Option<&Request>) -> (Vec<Duration>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let slow_threads: Vec<_> = slow
            .into_iter()
            .flat_map(|req| std::iter::repeat_n(req, slow_clients()))
            .map(|req| {
                let stop = stop.clone();
                let socket = d.socket.clone();
                s.spawn(move || {
                    let mut k = 0;
                    while !stop.load(Ordering::Relaxed) {
                        ask(&socket, req);
                        k += 1;
                    }
                    k
                })
            })
            .collect();
        // Let the slow client get going.
        if slow.is_some() {
            std::thread::sleep(Duration::from_millis(300));
        }
        let fast: Vec<_> = (0..FAST_CLIENTS)
            .map(|i| {
                let socket = d.socket.clone();
                let req = event_request(
                    project,
                    serde_json::json!({"session_id": format!("fast{i}"), "cwd": project, "hook_event_name": "PreToolUse",
                        "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": format!("toolu_fast{i}")}),
                );
                s.spawn(move || (0..n).map(|_| ask(&socket, &req)).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Duration> = fast.into_iter().flat_map(|h| h.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        let k = slow_threads.into_iter().map(|h| h.join().unwrap()).sum();
        all.sort();
        (all, k)
    })
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let bin = std::env::var("HOOKHOST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hookhost").to_string());
    let tmp = tempfile::tempdir().unwrap();
    let managed = tmp.path().join("managed");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&managed).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        managed.join("managed-settings.json"),
        serde_json::json!({
            "hookhost": {"rollbackRejectedEdits": true, "rollbackMaxFileBytes": 32 << 20},
        })
        .to_string(),
    )
    .unwrap();
    let big = project.join("big.bin");
    std::fs::write(&big, vec![b'x'; 16 << 20]).unwrap();
    let socket = tmp.path().join("hookhost.sock");
    let child = Command::new(&bin)
        .args(["serve", "--socket", socket.to_str().unwrap()])
        .env("HOOKHOST_MANAGED_DIR", &managed)
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .env("HOME", tmp.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookhost serve");
    let d = Daemon { child, socket };
    let status = Request::Status { v: 1, project_dir: Some(project.clone()), settings: None };
    let start = Instant::now();
    while !matches!(client::request(&d.socket, &status, Duration::from_secs(5)), Ok(Reply::Status { .. })) {
        assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // One tool_use_id: each snapshot replaces the last (the state directory stays at 16 MiB).
    let slow = event_request(
        &project,
        serde_json::json!({"session_id": "slow", "cwd": project, "hook_event_name": "PreToolUse", "tool_name": "Edit",
            "tool_input": {"file_path": big, "old_string": "x", "new_string": "y", "replace_all": false},
            "tool_use_id": "toolu_slow"}),
    );
    let one = ask(&d.socket, &slow);
    fast_clients(&d, &project, n / 4, None); // warm-up
    println!(
        "slow client(s): {}; one PreToolUse Edit of a 16 MiB file (snapshot + fsync) takes {:.1} ms",
        slow_clients(),
        one.as_secs_f64() * 1e3
    );
    println!("{FAST_CLIENTS} fast clients x {n} events each, {bin}:");
    for round in 0..2 {
        let (alone, _) = fast_clients(&d, &project, n, None);
        let (beside, k) = fast_clients(&d, &project, n, Some(&slow));
        println!(
            "  round {}: alone p50 {:.2} ms p99 {:.2} ms | beside the slow client p50 {:.2} ms p99 {:.2} ms ({k} slow events) | p99 ratio {:.2}",
            round + 1,
            pct(&alone, 0.5),
            pct(&alone, 0.99),
            pct(&beside, 0.5),
            pct(&beside, 0.99),
            pct(&beside, 0.99) / pct(&alone, 0.99)
        );
    }
}
