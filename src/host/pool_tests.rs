//! The warm sandbox pool belongs to its `Host` (issue 18: no process-global state): two hosts
//! in one process, one with a pool and one without, each behave as built; dropping the pooled
//! one ends its worker thread and removes what it prepared ahead, while the other keeps
//! deciding. Checked by effect: `/proc` (the worker's thread, the processes started ahead),
//! the cgroup leaves and temporary directories, and which process answered each event.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

fn bash_event(dir: &Path) -> Vec<u8> {
    serde_json::json!({
        "session_id": "s",
        "cwd": dir,
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    })
    .to_string()
    .into_bytes()
}

/// A host over a fresh project whose managed hook records its pid in `<dir>/out/pid` and
/// denies with `marker`.
fn host(pool: bool, marker: &str) -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let managed = dir.path().join("managed");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&managed).unwrap();
    let command = format!("echo $$ > {}/pid; echo {marker} >&2; exit 2", out.display());
    let settings = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": command, "sandbox": {"allowWrite": [out]}}
    ]}]}});
    std::fs::write(managed.join("managed-settings.json"), settings.to_string()).unwrap();
    let host = Host::builder()
        .managed_dir(&managed)
        .user_settings(None)
        .state_dir(Some(dir.path().join("state")))
        .project_dir(dir.path())
        .sandbox_pool(pool)
        .build()
        .unwrap();
    (dir, host)
}

/// Dispatches the Bash event; asserts the hook denied it; the pid of the process that ran it.
async fn deny(host: &Host, dir: &Path, marker: &str) -> i32 {
    let _ = std::fs::remove_file(dir.join("out/pid"));
    let r = host.dispatch(&bash_event(dir)).await;
    assert!(r.stdout.contains(r#""permissionDecision":"deny""#) && r.stdout.contains(marker), "{r:?}");
    std::fs::read_to_string(dir.join("out/pid")).unwrap().trim().parse().unwrap()
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` runs (exists, not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn two_hosts_have_a_pool_each_or_none_and_dropping_the_pooled_one_ends_its_pool() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (pooled_dir, pooled) = host(true, "from-the-pooled-host");
        let (plain_dir, plain) = host(false, "from-the-plain-host");
        let pool = pooled.sandbox_pool().expect("the pooled host has a pool");
        assert!(plain.sandbox_pool().is_none(), "the plain host has a pool");
        let tid = pool.worker_tid().expect("the pool's worker thread");
        let task = PathBuf::from(format!("/proc/self/task/{tid}"));
        assert_eq!(std::fs::read_to_string(task.join("comm")).unwrap().trim(), "hookhost-sandbo");

        // The first event of each runs inline; then the pooled host starts the next run ahead.
        let first = deny(&pooled, pooled_dir.path(), "from-the-pooled-host").await;
        deny(&plain, plain_dir.path(), "from-the-plain-host").await;
        eventually("a process started ahead", || !pool.ready_resources().1.is_empty()).await;
        let (_, stubs) = pool.ready_resources();
        assert_eq!(stubs.len(), 1, "{stubs:?}");
        assert!(cmdline(stubs[0]).contains("from-the-pooled-host"), "{}", cmdline(stubs[0]));
        assert_ne!(stubs[0], first);

        // The pooled host's next event runs in that very process; the plain host's events never
        // go through a pool: a fresh process each time, and nothing waits for them.
        let second = deny(&pooled, pooled_dir.path(), "from-the-pooled-host").await;
        assert_eq!(second, stubs[0], "the pooled host did not use the process it started ahead");
        for _ in 0..2 {
            let pid = deny(&plain, plain_dir.path(), "from-the-plain-host").await;
            assert!(!stubs.contains(&pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (_, ready) = pool.ready_resources();
            assert!(ready.iter().all(|p| !cmdline(*p).contains("from-the-plain-host")), "{ready:?}");
        }

        // What the pool holds now: the next run's leaves, temporary directory and process.
        eventually("the next run prepared ahead", || !pool.ready_resources().1.is_empty()).await;
        let (paths, stubs) = pool.ready_resources();
        assert!(paths.len() >= 2 && paths.iter().all(|p| p.exists()), "{paths:?}");
        assert!(stubs.iter().all(|p| alive(*p)));

        // Dropping the host (the last strong handle but ours) ends the pool: its worker thread
        // is joined, its processes killed and reaped, its leaves and directories removed.
        drop(pool);
        drop(pooled);
        assert!(!task.exists(), "the pool's worker thread outlived its host");
        for p in &paths {
            assert!(!p.exists(), "{} outlived the pool", p.display());
        }
        for p in &stubs {
            assert!(!alive(*p), "process {p} started ahead outlived the pool");
        }
        // Killed at once; reaped by the runtime's child reaper.
        eventually("the processes started ahead reaped", || {
            stubs.iter().all(|p| !Path::new(&format!("/proc/{p}")).exists())
        })
        .await;

        // The other host keeps deciding.
        let pid = deny(&plain, plain_dir.path(), "from-the-plain-host").await;
        assert!(!stubs.contains(&pid));
    });
}
