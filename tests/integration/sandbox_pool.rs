//! The warm pool of `hookhost serve` (`exec::sandbox::pool`): command hooks whose process was
//! started ahead, inside its sandbox, and told to exec when the event comes. Checked by effect:
//! the waiting process is confined before any event exists (seen from outside, in `/proc`); the
//! hook that answers the next event is that very process; it gets the event byte for byte and
//! its exec-form arguments unsplit; a changed hook never runs in a process started for the old
//! one; a program that cannot be started is still a spawn failure; and a daemon told to stop
//! leaves no process, cgroup leaf or temporary directory behind.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use hookhost::daemon::Reply;
use serde_json::{Value, json};

use super::daemon::Daemon;
use super::sandbox_abuse::leftover_leaves;
use super::support::{Env, alive, bash_event};

/// `hookhost serve` with its hooks' temporary directories in `tmpdir` and a debug log.
fn start(env: &Env, tmpdir: &Path) -> Daemon {
    let socket = env.path().join("pool.sock");
    Daemon::start_with(env, &socket, &[], &[("TMPDIR", tmpdir.to_str().unwrap()), ("RUST_LOG", "hookhost=debug")])
}

/// The decision JSON the daemon answered `event` with.
fn decide(d: &Daemon, event: &[u8]) -> Value {
    match d.event(event) {
        Reply::Outcome { stdout, .. } => serde_json::from_str(&stdout).unwrap_or(Value::Null),
        other => panic!("not an outcome: {other:?}"),
    }
}

/// The daemon's log, without terminal colours.
fn log(d: &Daemon) -> String {
    let raw = d.log_text();
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for c in it.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn proc_file(pid: i32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{name}")).unwrap_or_default()
}

/// Children of `parent` that are stubs (`/bin/sh -c <stub> hookhost-stub …`), with their argv.
fn stubs(parent: i32) -> Vec<(i32, Vec<String>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let stat = proc_file(pid, "stat");
        let ppid = stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
        if ppid != Some(parent) || !alive(pid) {
            continue;
        }
        let mut cmdline = String::new();
        let _ = std::fs::File::open(format!("/proc/{pid}/cmdline")).and_then(|mut f| f.read_to_string(&mut cmdline));
        let argv: Vec<String> = cmdline.split('\0').filter(|s| !s.is_empty()).map(str::to_string).collect();
        if argv.iter().any(|a| a == "hookhost-stub") {
            v.push((pid, argv));
        }
    }
    v
}

fn status_field(pid: i32, field: &str) -> String {
    proc_file(pid, "status")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

/// Waits until `f` holds (10 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn settings(out: &Path, marker: &str) -> String {
    // Shell form: records what the hook process is, then decides on the event it read.
    let shell = format!(
        "cat > {o}/stdin; echo $$ > {o}/pid; awk '{{print $22}}' /proc/$$/stat > {o}/start; \
         grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status > {o}/status; echo {marker} > {o}/marker; \
         if grep -q 'rm -rf' {o}/stdin; then printf '%s' '{{\"hookSpecificOutput\": {{\"hookEventName\": \"PreToolUse\", \"permissionDecision\": \"deny\", \"permissionDecisionReason\": \"no rm -rf\"}}}}'; fi",
        o = out.display()
    );
    // Exec form: no shell between the settings and the process; the arguments arrive unsplit.
    let exec_form = json!({"type": "command", "command": "/bin/sh",
        "args": ["-c", format!("printf '%s|' \"$@\" > {}/args", out.display()), "sh", "a b", ";", "$(touch /tmp/hookhost-pool-pwn)"]});
    json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": shell, "timeout": 10}, exec_form]}]}})
    .to_string()
}

#[test]
fn warm_pool_hooks_start_ahead_inside_every_layer_and_leave_nothing_behind() {
    let env = Env::new();
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tmpdir = tempfile::tempdir_in(env.path()).unwrap();
    let managed = env.write("managed", &settings(&out, "v1"));
    let mut d = start(&env, tmpdir.path());

    // The first event runs its hooks as usual (nothing was started ahead yet)...
    let v = decide(&d, &bash_event("ls"));
    assert!(v["hookSpecificOutput"]["permissionDecision"].is_null(), "{v}");
    assert_eq!(std::fs::read_to_string(out.join("marker")).unwrap(), "v1\n");
    // ...and then one process per hook waits for the next: already confined, before any event.
    eventually("two processes started ahead", || stubs(d.pid()).len() == 2);
    let host_netns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let waiting = stubs(d.pid());
    for (pid, argv) in &waiting {
        assert_eq!(status_field(*pid, "Seccomp"), "2", "stub {pid} {argv:?}");
        assert_eq!(status_field(*pid, "NoNewPrivs"), "1", "stub {pid}");
        assert!(status_field(*pid, "CapEff").trim_start_matches('0').is_empty(), "stub {pid} keeps capabilities");
        assert!(status_field(*pid, "CapBnd").trim_start_matches('0').is_empty(), "stub {pid} keeps a bounding set");
        let cgroups = proc_file(*pid, "cgroup");
        assert!(
            cgroups.lines().filter(|l| l.contains("hookhost-")).count() >= 2,
            "stub {pid} not in its leaves: {cgroups}"
        );
        assert_ne!(
            std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
            host_netns,
            "stub {pid} in the host's network"
        );
    }
    let shell_stub =
        waiting.iter().find(|(_, a)| a.iter().any(|x| x.contains("/stdin"))).expect("the shell-form stub").0;

    // The next event is answered by that very process (started before the event was sent).
    let uptime_ticks = |s: &str| (s.split_whitespace().next().unwrap().parse::<f64>().unwrap() * 100.0) as u64;
    let sent_at = uptime_ticks(&std::fs::read_to_string("/proc/uptime").unwrap());
    let event = bash_event("rm -rf / # started ahead");
    let v = decide(&d, &event);
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert_eq!(std::fs::read_to_string(out.join("pid")).unwrap().trim(), shell_stub.to_string());
    let started: u64 = std::fs::read_to_string(out.join("start")).unwrap().trim().parse().unwrap();
    assert!(started <= sent_at, "the hook process started at tick {started}, after the event (tick {sent_at})");
    assert_eq!(std::fs::read(out.join("stdin")).unwrap(), event, "the event arrived altered");
    let status = std::fs::read_to_string(out.join("status")).unwrap();
    for want in ["Seccomp:\t2", "NoNewPrivs:\t1", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"] {
        assert!(status.contains(want), "the hook ran without `{want}`: {status}");
    }
    assert_eq!(std::fs::read_to_string(out.join("args")).unwrap(), "a b|;|$(touch /tmp/hookhost-pool-pwn)|");
    assert!(!Path::new("/tmp/hookhost-pool-pwn").exists(), "an argument was run by a shell");
    assert!(log(&d).contains("started_ahead=true"), "the daemon never used a process started ahead:\n{}", log(&d));

    // A changed hook never runs in a process started for the old one.
    let old = stubs(d.pid());
    let rev = d.status().0;
    let tmp = managed.with_extension("tmp");
    std::fs::write(&tmp, settings(&out, "v2")).unwrap();
    std::fs::rename(&tmp, &managed).unwrap();
    eventually("the new revision", || d.status().0 != rev);
    decide(&d, &bash_event("ls"));
    assert_eq!(std::fs::read_to_string(out.join("marker")).unwrap(), "v2\n");
    let pid: i32 = std::fs::read_to_string(out.join("pid")).unwrap().trim().parse().unwrap();
    assert!(old.iter().all(|(p, _)| *p != pid), "the v2 hook ran in a process started for v1");

    // A program that cannot be started is a spawn failure, pooled or not (twice: the second
    // time with the pool warm for that hook's settings).
    let missing = json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "/nonexistent/hook", "args": []}]}]}});
    let rev = d.status().0;
    std::fs::write(&tmp, missing.to_string()).unwrap();
    std::fs::rename(&tmp, &managed).unwrap();
    eventually("the revision with a missing program", || d.status().0 != rev);
    for _ in 0..2 {
        let v = decide(&d, &bash_event("ls"));
        let msg = v["systemMessage"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains("cannot start") && msg.contains("/nonexistent/hook"), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Stopped cleanly: every process started ahead killed, every leaf and temp dir removed.
    let mut all_stubs: Vec<i32> = old.iter().map(|(p, _)| *p).collect();
    all_stubs.extend(stubs(d.pid()).into_iter().map(|(p, _)| p));
    let daemon_pid = d.pid();
    let status = d.term();
    assert!(status.success(), "hookhost serve exited {status}: {}", log(&d));
    for p in &all_stubs {
        assert!(!alive(*p), "process {p} started ahead outlived the daemon");
    }
    let leaves = leftover_leaves(daemon_pid);
    assert!(leaves.is_empty(), "cgroup leaves left behind: {leaves:?}");
    let temps: Vec<_> = std::fs::read_dir(tmpdir.path()).unwrap().flatten().map(|e| e.path()).collect();
    assert!(temps.is_empty(), "temporary directories left behind: {temps:?}");
}

/// The run directories (`hookhost-run-<pid>-…`) of hookhost process `pid` in `tmpdir`.
fn run_dirs(tmpdir: &Path, pid: i32) -> Vec<std::path::PathBuf> {
    let prefix = format!("hookhost-run-{pid}-");
    std::fs::read_dir(tmpdir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_daemon_killed_outright_takes_its_hooks_along_and_the_next_one_sweeps_up() {
    let env = Env::new();
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tmpdir = tempfile::tempdir_in(env.path()).unwrap();
    // A hook that, for a "SLOW" event, keeps running (and leaves a setsid'ed grandchild).
    let o = out.display();
    let hook = format!(
        "if grep -q SLOW; then echo $$ > {o}/hook.pid; \
         (setsid sh -c 'echo $$ > {o}/gc.pid; exec sleep 600' </dev/null >/dev/null 2>&1 &); exec sleep 600; fi"
    );
    let settings = json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": hook, "timeout": 60}]}]}});
    env.write("managed", &settings.to_string());
    let first = start(&env, tmpdir.path());
    decide(&first, &bash_event("ls"));
    eventually("a process started ahead", || stubs(first.pid()).len() == 1);
    let waiting: Vec<i32> = stubs(first.pid()).into_iter().map(|(p, _)| p).collect();
    let dead = first.pid();
    let pid_of = |name: &str| -> Option<i32> { std::fs::read_to_string(out.join(name)).ok()?.trim().parse().ok() };
    std::thread::scope(|s| {
        // The next event is answered by the process started ahead (forked by the pool's
        // thread), which is still running when the daemon is killed.
        s.spawn(|| {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| first.event(&bash_event("SLOW"))));
        });
        eventually("the hook and its grandchild running", || {
            pid_of("hook.pid").is_some() && pid_of("gc.pid").is_some()
        });
        assert_eq!(pid_of("hook.pid"), waiting.first().copied(), "the hook did not run in the process started ahead");
        assert!(!leftover_leaves(dead).is_empty(), "the running hook has no cgroup leaves");
        assert!(!run_dirs(tmpdir.path(), dead).is_empty(), "the running hook has no run directory");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(dead), nix::sys::signal::Signal::SIGKILL).unwrap();
    });
    drop(first); // reaped
    let (hook_pid, gc) = (pid_of("hook.pid").unwrap(), pid_of("gc.pid").unwrap());
    // The hook dies with the daemon (PR_SET_PDEATHSIG, set when the pool's thread forked it).
    eventually("the running hook to die with the daemon", || !alive(hook_pid));
    // What it forked, its leaves and its run directory are swept by the next daemon at start.
    let second = start(&env, tmpdir.path());
    eventually("the next daemon to kill the grandchild and remove the leaves and run directory", || {
        !alive(gc) && leftover_leaves(dead).is_empty() && run_dirs(tmpdir.path(), dead).is_empty()
    });
    // It never touches its own.
    decide(&second, &bash_event("ls"));
    eventually("the new daemon's own run started ahead", || stubs(second.pid()).len() == 1);
    assert!(!run_dirs(tmpdir.path(), second.pid()).is_empty());
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(gc), nix::sys::signal::Signal::SIGKILL);
}
