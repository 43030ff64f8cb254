//! The warm pool of `hookhost serve` (`exec::sandbox::pool`): command hooks whose process was
//! started ahead, inside its sandbox, and told to exec when the event comes. Checked by effect:
//! the waiting process is confined before any event exists (seen from outside, in `/proc`); the
//! hook that answers the next event is that very process; it gets the event byte for byte and
//! its exec-form arguments unsplit; a changed hook never runs in a process started for the old
//! one; a program that cannot be started is still a spawn failure; and a daemon told to stop
//! leaves no process, cgroup leaf or temporary directory behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hookhost::daemon::{Reply, Request, client};
use serde_json::{Value, json};

use super::support::{Env, alive, bash_event};

struct Daemon {
    child: Child,
    socket: PathBuf,
    project: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(env: &Env, tmpdir: &Path) -> Daemon {
        let socket = env.path().join("pool.sock");
        let log = env.path().join("serve.log");
        let child = env
            .bare_command(&["serve", "--socket", socket.to_str().unwrap()])
            .env("TMPDIR", tmpdir)
            .env("RUST_LOG", "hookhost=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn hookhost serve");
        let d = Daemon { child, socket, project: env.project(), log };
        let start = Instant::now();
        while d.request(Request::Status { v: 1, project_dir: Some(d.project.clone()), settings: None }).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not come up: {}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn request(&self, req: Request) -> Result<Reply, client::ClientError> {
        client::request(&self.socket, &req, Duration::from_secs(30))
    }

    fn event(&self, event: &[u8]) -> Value {
        let req = Request::Event {
            v: 1,
            event: String::from_utf8(event.to_vec()).unwrap(),
            project_dir: Some(self.project.clone()),
            settings: None,
        };
        match self.request(req).expect("event") {
            Reply::Outcome { stdout, .. } => serde_json::from_str(&stdout).unwrap_or(Value::Null),
            other => panic!("not an outcome: {other:?}"),
        }
    }

    fn revision(&self) -> String {
        match self.request(Request::Status { v: 1, project_dir: Some(self.project.clone()), settings: None }) {
            Ok(Reply::Status { revision, .. }) => revision,
            other => panic!("status: {other:?}"),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The daemon's log, without terminal colours.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
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
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Cgroup leaves named after `pid` in every hierarchy the test process belongs to.
fn leaves_of(pid: i32) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut parents = Vec::new();
    for m in mounts.lines() {
        let f: Vec<&str> = m.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else { continue };
        let (mp, fstype, opts) = (f[4], f[dash + 1], f.get(dash + 3).copied().unwrap_or(""));
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let matches = match fstype {
                "cgroup2" => ctrls.is_empty(),
                "cgroup" => !ctrls.is_empty() && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c)),
                _ => false,
            };
            if matches {
                parents.push(Path::new(mp).join(path.trim_start_matches('/')));
            }
        }
    }
    let prefix = format!("hookhost-{pid}-");
    parents
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
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
    let d = Daemon::start(&env, tmpdir.path());

    // The first event runs its hooks as usual (nothing was started ahead yet)...
    let v = d.event(&bash_event("ls"));
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
    let v = d.event(&event);
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
    assert!(d.log().contains("started_ahead=true"), "the daemon never used a process started ahead:\n{}", d.log());

    // A changed hook never runs in a process started for the old one.
    let old = stubs(d.pid());
    let rev = d.revision();
    let tmp = managed.with_extension("tmp");
    std::fs::write(&tmp, settings(&out, "v2")).unwrap();
    std::fs::rename(&tmp, &managed).unwrap();
    eventually("the new revision", || d.revision() != rev);
    d.event(&bash_event("ls"));
    assert_eq!(std::fs::read_to_string(out.join("marker")).unwrap(), "v2\n");
    let pid: i32 = std::fs::read_to_string(out.join("pid")).unwrap().trim().parse().unwrap();
    assert!(old.iter().all(|(p, _)| *p != pid), "the v2 hook ran in a process started for v1");

    // A program that cannot be started is a spawn failure, pooled or not (twice: the second
    // time with the pool warm for that hook's settings).
    let missing = json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "/nonexistent/hook", "args": []}]}]}});
    let rev = d.revision();
    std::fs::write(&tmp, missing.to_string()).unwrap();
    std::fs::rename(&tmp, &managed).unwrap();
    eventually("the revision with a missing program", || d.revision() != rev);
    for _ in 0..2 {
        let v = d.event(&bash_event("ls"));
        let msg = v["systemMessage"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains("cannot start") && msg.contains("/nonexistent/hook"), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Stopped cleanly: every process started ahead killed, every leaf and temp dir removed.
    let mut all_stubs: Vec<i32> = old.iter().map(|(p, _)| *p).collect();
    all_stubs.extend(stubs(d.pid()).into_iter().map(|(p, _)| p));
    let daemon_pid = d.pid();
    let mut d = d;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon_pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = d.child.wait().unwrap();
    assert!(status.success(), "hookhost serve exited {status}: {}", d.log());
    for p in &all_stubs {
        assert!(!alive(*p), "process {p} started ahead outlived the daemon");
    }
    let leaves = leaves_of(daemon_pid);
    assert!(leaves.is_empty(), "cgroup leaves left behind: {leaves:?}");
    let temps: Vec<_> = std::fs::read_dir(tmpdir.path()).unwrap().flatten().map(|e| e.path()).collect();
    assert!(temps.is_empty(), "temporary directories left behind: {temps:?}");
}
