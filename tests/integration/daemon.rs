//! The daemon (`hookhost serve`) and live settings: real daemon processes on real sockets, real
//! settings files edited, renamed over, deleted and half-written while clients ask, and the
//! ConfigChange gate in both directions. Every check is of an effect: the revision a probe sees,
//! the decision a client gets, the audit record, the process gone.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookhost::daemon::{Reply, Request, client};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::support::{Env, Output, bash_event, hook_settings, run};

/// A `hookhost serve` process (also used by `sandbox_pool`).
pub(super) struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    project: PathBuf,
}

impl Daemon {
    /// Starts `hookhost serve` for `env`'s project and waits until it answers.
    fn start(env: &Env, socket: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with(env, socket, extra, &[("RUST_LOG", "info")])
    }

    /// `start` with these environment variables set for the daemon.
    pub(super) fn start_with(env: &Env, socket: &Path, extra: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let log =
            env.path().join(format!("serve-{}.log", std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos()));
        let mut args = vec!["serve", "--socket", socket.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut c = env.bare_command(&args);
        c.envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = c.spawn().expect("spawn hookhost serve");
        let mut d = Daemon { child, socket: socket.to_path_buf(), log, project: env.project() };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("hookhost serve exited with {status}: {}", d.log_text());
            }
            if UnixStream::connect(socket).is_ok() && d.try_status().is_ok() {
                return d;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "daemon did not come up: {}", d.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_status(&self) -> Result<Reply, client::ClientError> {
        let req = Request::Status { v: 1, project_dir: Some(self.project.clone()), settings: None };
        client::request(&self.socket, &req, Duration::from_secs(10))
    }

    /// The live revision and the sha256 of each source file, by path.
    pub(super) fn status(&self) -> (String, BTreeMap<PathBuf, String>, Vec<String>) {
        match self.try_status().expect("status") {
            Reply::Status { revision, sources, errors, .. } => {
                (revision, sources.into_iter().map(|s| (s.path, s.sha256)).collect(), errors)
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }

    fn sha_of(&self, path: &Path) -> Option<String> {
        self.status().1.get(path).cloned()
    }

    /// Waits until `cond` holds for the status, or panics after 10 s.
    fn wait_for(&self, what: &str, mut cond: impl FnMut(&BTreeMap<PathBuf, String>) -> bool) {
        let start = Instant::now();
        loop {
            if cond(&self.status().1) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(super) fn event(&self, event: &[u8]) -> Reply {
        let req = Request::Event {
            v: 1,
            event: String::from_utf8(event.to_vec()).unwrap(),
            project_dir: Some(self.project.clone()),
            settings: None,
        };
        client::request(&self.socket, &req, Duration::from_secs(30)).expect("event")
    }

    pub(super) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(super) fn term(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes `text` to `path` through a temporary file renamed over it (what editors do).
fn rename_over(path: &Path, text: &str, tag: &str) {
    let tmp = path.with_extension(format!("tmp-{tag}"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn deny_rule(cmd: &str, marker: &str) -> String {
    json!({"permissions": {"deny": [format!("Bash({cmd}:*)")]}, "env": {"MARKER": marker}}).to_string()
}

fn decision(r: &Reply) -> String {
    match r {
        Reply::Outcome { stdout, exit_code, .. } => {
            if *exit_code == 2 {
                return "block".into();
            }
            serde_json::from_str::<Value>(stdout)
                .ok()
                .and_then(|v| v["hookSpecificOutput"]["permissionDecision"].as_str().map(String::from))
                .unwrap_or_else(|| "none".into())
        }
        other => panic!("not an outcome: {other:?}"),
    }
}

fn audit_records(env: &Env) -> Vec<Value> {
    let p = env.state_home().join("hookhost/audit.jsonl");
    std::fs::read_to_string(p).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn settings_changes(env: &Env) -> Vec<Value> {
    audit_records(env).into_iter().filter(|r| r["kind"] == "settings_change").collect()
}

/// A user-scope ConfigChange hook that blocks any candidate whose content contains `needle`.
fn blocking_config_hook(env: &Env, needle: &str) {
    let cmd = format!("if grep -q '{needle}'; then echo 'refused: {needle}' >&2; exit 2; fi; exit 0");
    env.write("user", &hook_settings("ConfigChange", "*", json!([{"type": "command", "command": cmd}])));
}

#[test]
fn edits_renames_deletes_and_bad_content_keep_a_valid_revision_live() {
    let env = Env::new();
    let project = env.write("project", &deny_rule("echo", "v1"));
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    assert_eq!(d.sha_of(&project), Some(sha(deny_rule("echo", "v1").as_bytes())));
    assert_eq!(decision(&d.event(&bash_event("echo hi"))), "deny");

    // An edit in place.
    let v2 = deny_rule("ls", "v2");
    std::fs::write(&project, &v2).unwrap();
    d.wait_for("the edit", |s| s.get(&project) == Some(&sha(v2.as_bytes())));
    assert_eq!(decision(&d.event(&bash_event("ls -la"))), "deny");
    assert_eq!(decision(&d.event(&bash_event("echo hi"))), "none", "the old rule is gone");

    // A rename over the file.
    let v3 = deny_rule("cat", "v3");
    rename_over(&project, &v3, "a");
    d.wait_for("the rename-over", |s| s.get(&project) == Some(&sha(v3.as_bytes())));

    // Invalid JSON: the previous version stays, the error names file:line:column.
    std::fs::write(&project, "{\n  \"permissions\": {\"deny\": [\"Bash(cat:*)\",\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (_, sources, errors) = d.status();
    assert_eq!(sources.get(&project), Some(&sha(v3.as_bytes())));
    assert!(errors.iter().any(|e| e.contains("settings.json:3:")), "{errors:?}");
    assert_eq!(decision(&d.event(&bash_event("cat x"))), "deny", "v3 still in force");

    // A half-written file (two steps): never live half; live once complete.
    let v4 = deny_rule("rm", "v4-complete");
    let (a, b) = v4.split_at(v4.len() / 2);
    std::fs::write(&project, a).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(d.sha_of(&project), Some(sha(v3.as_bytes())));
    let mut f = std::fs::OpenOptions::new().append(true).open(&project).unwrap();
    f.write_all(b.as_bytes()).unwrap();
    drop(f);
    d.wait_for("the completed file", |s| s.get(&project) == Some(&sha(v4.as_bytes())));
    assert!(d.status().2.is_empty(), "no error once the file is valid");

    // A delete.
    std::fs::remove_file(&project).unwrap();
    d.wait_for("the delete", |s| !s.contains_key(&project));
    assert_eq!(decision(&d.event(&bash_event("rm -rf x"))), "none");

    // A burst of 100 edits: a probe only ever sees the old revision or a complete new one.
    let valid: Arc<BTreeSet<String>> =
        Arc::new((0..100).map(|i| sha(deny_rule("rm", &format!("burst-{i}")).as_bytes())).collect());
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (seen, done, socket, p, proj) =
            (seen.clone(), done.clone(), d.socket.clone(), project.clone(), d.project.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let req = Request::Status { v: 1, project_dir: Some(proj.clone()), settings: None };
                if let Ok(Reply::Status { sources, .. }) = client::request(&socket, &req, Duration::from_secs(5)) {
                    seen.lock().unwrap().insert(sources.iter().find(|s| s.path == p).map(|s| s.sha256.clone()));
                }
            }
        })
    };
    for i in 0..100 {
        std::fs::write(&project, deny_rule("rm", &format!("burst-{i}"))).unwrap();
    }
    let last = sha(deny_rule("rm", "burst-99").as_bytes());
    d.wait_for("the last burst edit", |s| s.get(&project) == Some(&last));
    done.store(true, Ordering::Relaxed);
    probe.join().unwrap();
    for s in seen.lock().unwrap().iter() {
        match s {
            None => {} // before the first burst edit applied: the file was deleted.
            Some(s) => assert!(valid.contains(s), "a probe saw a revision that was never a complete file: {s}"),
        }
    }
    // Every change is audited; the invalid content as `invalid`.
    let changes = settings_changes(&env);
    assert!(changes.iter().any(|r| r["result"] == "invalid" && r["file_path"] == project.to_str().unwrap()));
    assert!(changes.iter().any(|r| r["result"] == "applied" && r["change"] == "deleted"));
}

#[test]
fn a_thousand_concurrent_edits_half_blocked_never_make_a_blocked_revision_live() {
    let env = Env::new();
    blocking_config_hook(&env, "odd-");
    let project = env.write("project", &deny_rule("rm", "even-start"));
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    let content = |i: usize| deny_rule("rm", &format!("{}-{i}", if i % 2 == 1 { "odd" } else { "even" }));
    let odd: Arc<BTreeSet<String>> =
        Arc::new((0..1000).filter(|i| i % 2 == 1).map(|i| sha(content(i).as_bytes())).collect());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (seen, done, socket, p, proj) =
            (seen.clone(), done.clone(), d.socket.clone(), project.clone(), d.project.clone());
        std::thread::spawn(move || {
            let mut errors = 0;
            while !done.load(Ordering::Relaxed) {
                let req = Request::Status { v: 1, project_dir: Some(proj.clone()), settings: None };
                match client::request(&socket, &req, Duration::from_secs(5)) {
                    Ok(Reply::Status { sources, errors: e, .. }) => {
                        errors += e.len();
                        seen.lock().unwrap().extend(sources.iter().filter(|s| s.path == p).map(|s| s.sha256.clone()));
                    }
                    _ => errors += 1,
                }
            }
            errors
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let project = project.clone();
            std::thread::spawn(move || {
                for i in (w..1000).step_by(4) {
                    rename_over(
                        &project,
                        &deny_rule("rm", &format!("{}-{i}", if i % 2 == 1 { "odd" } else { "even" })),
                        &format!("w{w}"),
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // However few looks the burst allowed (the watcher debounces it), one blocked content for
    // certain: it is judged, and stays out.
    let odd_last = deny_rule("rm", "odd-last");
    rename_over(&project, &odd_last, "odd-last");
    let start = Instant::now();
    while !settings_changes(&env)
        .iter()
        .any(|r| r["result"] == "blocked" && r["file_sha256"] == sha(odd_last.as_bytes()))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "odd-last was not judged");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_ne!(d.sha_of(&project), Some(sha(odd_last.as_bytes())));
    // The last word: an allowed revision, which must become live.
    let last = deny_rule("rm", "even-final");
    rename_over(&project, &last, "final");
    d.wait_for("the final revision", |s| s.get(&project) == Some(&sha(last.as_bytes())));
    done.store(true, Ordering::Relaxed);
    let probe_errors = probe.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "the probe ran ({} samples)", seen.len());
    let leaked: Vec<&String> = seen.iter().filter(|s| odd.contains(*s)).collect();
    assert!(leaked.is_empty(), "{} blocked revisions became live", leaked.len());
    assert!(!seen.contains(&sha(odd_last.as_bytes())), "the last blocked revision became live");
    assert_eq!(probe_errors, 0, "status errors or failed probes");
    let changes = settings_changes(&env);
    let blocked = changes.iter().filter(|r| r["result"] == "blocked").count();
    let applied = changes.iter().filter(|r| r["result"] == "applied").count();
    assert!(blocked > 0 && applied > 0, "blocked {blocked}, applied {applied}");
    assert!(changes.iter().all(|r| r["result"] != "invalid"), "an atomic rename is never invalid");
    // A blocked record names the hook's reason; the live revision after it is the previous one.
    let b = changes.iter().find(|r| r["result"] == "blocked").unwrap();
    assert!(b["reason"].as_str().unwrap().contains("refused: odd-"), "{b}");
    assert_eq!(b["live_revision"], b["previous_revision"]);
    assert_eq!(run(env.bare_command(&["audit", "verify"]), b"").code, 0, "the audit chain verifies");
}

#[test]
fn policy_changes_apply_even_when_a_hook_blocks_and_project_changes_do_not() {
    let env = Env::new();
    blocking_config_hook(&env, "MARKER");
    let project = env.write("project", &deny_rule("rm", "p1"));
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);

    let dropin = env.write("managed.d/50-policy.json", &deny_rule("curl", "policy-1"));
    d.wait_for("the policy change", |s| s.get(&dropin) == Some(&sha(deny_rule("curl", "policy-1").as_bytes())));
    assert_eq!(decision(&d.event(&bash_event("curl example.com"))), "deny");

    std::fs::write(&project, deny_rule("ls", "p2")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(d.sha_of(&project), Some(sha(deny_rule("rm", "p1").as_bytes())), "blocked: p1 stays live");
    assert_eq!(decision(&d.event(&bash_event("ls"))), "none");
    assert_eq!(std::fs::read_to_string(&project).unwrap(), deny_rule("ls", "p2"), "the file on disk is not touched");

    let changes = settings_changes(&env);
    let policy = changes.iter().find(|r| r["source"] == "policy_settings").expect("policy change audited");
    assert_eq!(policy["result"], "policy");
    assert!(policy["blocked_by_hook_ignored"].as_str().unwrap().contains("refused"), "{policy}");
    assert_ne!(policy["previous_revision"], policy["new_revision"]);
    let blocked = changes.iter().find(|r| r["source"] == "project_settings").expect("project change audited");
    assert_eq!(blocked["result"], "blocked");
}

#[test]
fn a_change_made_while_the_daemon_was_stopped_is_gated_at_the_next_start() {
    let env = Env::new();
    blocking_config_hook(&env, "forbidden");
    let good = deny_rule("rm", "good");
    let project = env.write("project", &good);
    let socket = env.path().join("d.sock");
    // (`bare_command` passes --project-dir: the daemon loads the project at start.)
    let mut d = Daemon::start(&env, &socket, &[]);
    assert_eq!(d.sha_of(&project), Some(sha(good.as_bytes())));
    assert!(d.term().success());
    assert!(!socket.exists(), "the socket is removed on shutdown");

    std::fs::write(&project, deny_rule("ls", "forbidden")).unwrap();
    let d = Daemon::start(&env, &socket, &[]);
    assert_eq!(d.sha_of(&project), Some(sha(good.as_bytes())), "the offline change did not slip through");
    assert_eq!(decision(&d.event(&bash_event("rm -rf x"))), "deny");
    assert_eq!(decision(&d.event(&bash_event("ls"))), "none");
    let blocked: Vec<Value> = settings_changes(&env).into_iter().filter(|r| r["result"] == "blocked").collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");

    let next = deny_rule("cat", "fine");
    std::fs::write(&project, &next).unwrap();
    d.wait_for("an allowed change", |s| s.get(&project) == Some(&sha(next.as_bytes())));

    // One-shot dispatch without the daemon still answers from the files (no daemon: the agent's
    // own ConfigChange event is the gate); the thin client with the daemon answers from live.
    drop(d);
}

#[test]
fn eight_clients_times_a_thousand_events_are_all_answered_correctly() {
    let env = Env::new();
    let wat = super::wasm::answering(super::wasm::ALLOW);
    let component = env.path().join("allow.wasm");
    std::fs::write(&component, wat::parse_str(&wat).unwrap()).unwrap();
    let mut settings: Value =
        serde_json::from_str(&hook_settings("PreToolUse", "Bash", json!([{"type": "wasm", "component": component}])))
            .unwrap();
    settings["permissions"] = json!({"deny": ["Bash(rm:*)"]});
    env.write("user", &settings.to_string());
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (socket, project) = (d.socket.clone(), d.project.clone());
            std::thread::spawn(move || {
                let mut wrong = Vec::new();
                for i in 0..1000 {
                    let bad = (i + t) % 3 == 0;
                    let cmd = if bad { format!("rm -rf /tmp/x{i}") } else { format!("echo {i}") };
                    let req = Request::Event {
                        v: 1,
                        event: String::from_utf8(bash_event(&cmd)).unwrap(),
                        project_dir: Some(project.clone()),
                        settings: None,
                    };
                    let r = client::request(&socket, &req, Duration::from_secs(30)).expect("answer");
                    let got = decision(&r);
                    let want = if bad { "deny" } else { "allow" };
                    if got != want {
                        wrong.push(format!("{cmd}: {got}"));
                    }
                }
                wrong
            })
        })
        .collect();
    let wrong: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(wrong.is_empty(), "{} wrong answers, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
    // The daemon's threads have room for the Bash parser: each line was read where it was
    // judged, none handed to a parser thread (and back: two wake-ups per event).
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "bash-parse"), "the daemon started parser threads: {names:?}");
}

/// The thin client: `hookhost dispatch` with HOOKHOST_SOCKET.
fn thin_dispatch(env: &Env, socket: &Path, event: &[u8]) -> (super::support::Output, Duration) {
    let mut c = env.bare_command(&["dispatch"]);
    c.env("HOOKHOST_SOCKET", socket).env("HOOKHOST_SOCKET_TIMEOUT", "20");
    let t = Instant::now();
    let out = run(c, event);
    (out, t.elapsed())
}

#[test]
fn thin_client_fails_closed_when_the_daemon_is_killed_mid_event_and_falls_back_when_open() {
    let env = Env::new();
    env.write("managed.d/10-closed.json", &json!({"failClosed": ["PreToolUse"]}).to_string());
    let marker = env.path().join("slow-ran");
    let slow = format!("touch {}; sleep 3", marker.display());
    env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": slow}])));
    let socket = env.path().join("d.sock");
    let mut d = Daemon::start(&env, &socket, &[]);
    // Through the daemon, a plain answer.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let mut c = env.bare_command(&["dispatch"]);
            c.env("HOOKHOST_SOCKET", &socket).env("HOOKHOST_SOCKET_TIMEOUT", "20");
            std::thread::spawn(move || {
                let t = Instant::now();
                (run(c, &bash_event("echo hi")), t.elapsed())
            })
        })
        .collect();
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "the slow hook never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    for c in clients {
        let (out, took) = c.join().unwrap();
        assert_eq!(out.code, 2, "fail closed: {out:?}");
        assert!(out.stderr.contains("went away") && out.stderr.contains("failing closed"), "{}", out.stderr);
        assert!(took < Duration::from_secs(3), "answered at once, not after the hook: {took:?}");
    }
    // No daemon at all: still closed, with a reason naming the socket.
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("echo hi"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(socket.to_str().unwrap()), "{}", out.stderr);

    // Where the event fails open, the client evaluates in-process and says so.
    std::fs::remove_file(env.managed_dir().join("managed-settings.d/10-closed.json")).unwrap();
    env.write("user", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let (out, took) = thin_dispatch(&env, &socket, &bash_event("rm -rf x"));
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(v["systemMessage"].as_str().unwrap_or_default().contains("evaluated in-process"), "{v}");
    assert!(took < Duration::from_secs(5));
}

#[test]
fn thin_client_answers_like_in_process_dispatch_for_every_fixture() {
    let env = Env::new();
    env.write("user", &json!({"permissions": {"deny": ["Bash(rm:*)", "Edit"]}, "hooks": {
        "ConfigChange": [{"hooks": [{"type": "command", "command": "echo 'config changes are frozen' >&2; exit 2"}]}]
    }}).to_string());
    let socket = env.path().join("d.sock");
    let d = Daemon::start(&env, &socket, &[]);
    for name in super::support::fixture_names() {
        let ev = super::support::fixture(&name);
        let local = env.dispatch(&ev);
        let (remote, _) = thin_dispatch(&env, &socket, &ev);
        assert_eq!((remote.code, &remote.stdout, &remote.stderr), (local.code, &local.stdout, &local.stderr), "{name}");
        if name.starts_with("ConfigChange") {
            assert_eq!(remote.code, 2, "Claude Code's ConfigChange is blocked through the daemon too");
            assert!(remote.stderr.contains("frozen"));
        }
    }
    drop(d);
}

#[test]
fn wrong_uid_is_refused_and_the_socket_is_private_by_default() {
    let env = Env::new();
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "default socket mode");
    drop(d);

    if !nix::unistd::getuid().is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIP wrong-uid part: needs root and setpriv");
        return;
    }
    // A socket any local user can reach: the uid check is what refuses.
    let open_dir = tempfile::Builder::new().prefix("hookhost-sock").tempdir().unwrap();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = open_dir.path().join("d.sock");
    let d = Daemon::start(&env, &socket, &["--socket-mode", "0666"]);
    // The real thin client, run as `nobody`.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", super::support::bin(), "dispatch"])
        .env_clear()
        .env("HOOKHOST_SOCKET", &socket)
        .env("HOOKHOST_MANAGED_DIR", env.managed_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&bash_event("echo hi"))?;
            c.wait_with_output()
        })
        .unwrap();
    // Refused by the daemon; this event fails open, so the client answered in-process and said
    // why.
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("refused the request: peer uid 65534 is not allowed"), "{said}");
    assert!(said.contains("evaluated in-process"), "{said}");
    assert!(d.log_text().contains("uid not allowed"));
    // Root (allowed) still gets answers.
    assert_eq!(decision(&d.event(&bash_event("echo hi"))), "none");
}

#[test]
fn garbage_and_oversized_frames_get_an_error_frame_and_the_daemon_lives() {
    let env = Env::new();
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    let read_reply = |s: &mut UnixStream| -> Value {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    // Garbage JSON in a well-formed frame: an error frame, and the connection goes on.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(&[0, 0, 0, 5]).unwrap();
    s.write_all(b"hello").unwrap();
    let r = read_reply(&mut s);
    assert_eq!(r["type"], "error");
    assert!(r["message"].as_str().unwrap().contains("malformed request"));
    let status = serde_json::to_vec(&json!({"type": "status", "v": 1, "project_dir": d.project})).unwrap();
    s.write_all(&(status.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&status).unwrap();
    assert_eq!(read_reply(&mut s)["type"], "status");
    // An event that is not an event.
    let bad = serde_json::to_vec(&json!({"type": "event", "v": 1, "event": "[1,2"})).unwrap();
    s.write_all(&(bad.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&bad).unwrap();
    assert!(read_reply(&mut s)["message"].as_str().unwrap().contains("invalid event"));
    // Oversized: an error frame, then the connection is closed.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let r = read_reply(&mut s);
    assert!(r["message"].as_str().unwrap().contains("over the limit"), "{r}");
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed");
    // Truncated frames and random bytes, then hang up.
    for junk in [&[0u8, 0, 1][..], &[0, 0, 0, 50, b'{'][..], &[0xff; 64][..]] {
        let mut s = UnixStream::connect(&d.socket).unwrap();
        let _ = s.write_all(junk);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(super::support::alive(d.pid()), "the daemon survived");
    assert_eq!(decision(&d.event(&bash_event("echo ok"))), "none");
}

#[test]
fn sigterm_finishes_in_flight_events_then_exits() {
    let env = Env::new();
    let marker = env.path().join("started");
    let cmd = format!(
        "touch {}; sleep 1; echo '{{\"hookSpecificOutput\":{{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"slow no\"}}}}'",
        marker.display()
    );
    env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": cmd}])));
    let socket = env.path().join("d.sock");
    let mut d = Daemon::start(&env, &socket, &[]);
    let (s2, p2) = (socket.clone(), d.project.clone());
    let client = std::thread::spawn(move || {
        let req = Request::Event {
            v: 1,
            event: String::from_utf8(bash_event("echo hi")).unwrap(),
            project_dir: Some(p2),
            settings: None,
        };
        client::request(&s2, &req, Duration::from_secs(20))
    });
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = d.term();
    assert!(status.success(), "{status}");
    let reply = client.join().unwrap().expect("the in-flight event was answered");
    assert_eq!(decision(&reply), "deny");
    assert!(!socket.exists());
    assert!(d.log_text().contains("finishing in-flight events"));
}

/// The daemon serves a WebAssembly hook from instances it made ahead of the events (its log
/// says `prepared=true`), each new for its event: a component that answers differently on a
/// reused instance answers "fresh" every time, back to back and with pauses.
#[test]
fn the_daemon_serves_wasm_events_from_fresh_instances_made_ahead() {
    let env = Env::new();
    let component = env.path().join("once.wasm");
    std::fs::write(&component, wat::parse_str(super::wasm::fresh_or_reused()).unwrap()).unwrap();
    env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "wasm", "component": component}])));
    let d = Daemon::start_with(&env, &env.path().join("d.sock"), &[], &[("RUST_LOG", "hookhost::exec::wasm=debug")]);
    for i in 0..20 {
        let r = d.event(&bash_event(&format!("echo {i}")));
        assert_eq!(decision(&r), "allow", "event {i}: {r:?}");
        if i % 2 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let log = d.log_text();
    let ran: Vec<&str> = log.lines().filter(|l| l.contains("wasm hook ran")).collect();
    assert_eq!(ran.len(), 20, "{log}");
    let prepared = ran.iter().filter(|l| l.contains("prepared=true")).count();
    assert!(prepared >= 15, "{prepared} of 20 events got an instance made ahead:\n{log}");
    assert!(ran[0].contains("prepared=false"), "the first event has none yet: {}", ran[0]);

    // `hookhost status` shows them (JSON and text).
    let status = |json: bool| {
        let mut c = env.bare_command(if json { &["status", "--json"] } else { &["status"] });
        c.env("HOOKHOST_SOCKET", env.path().join("d.sock"));
        let out = run(c, b"");
        assert_eq!(out.code, 0, "{out:?}");
        out
    };
    let w = status(true).json()["daemon"]["wasm_prepared"].clone();
    assert_eq!(w["used"].as_u64(), Some(prepared as u64), "{w}");
    assert!(w["ready"].as_u64().is_some_and(|n| n <= 1), "{w}");
    let text = status(false).stdout;
    assert!(text.contains(&format!("ready, {prepared} event(s) served from one")), "{text}");
}

#[test]
fn a_changed_wasm_component_is_reloaded_by_the_warm_daemon_and_its_pin_still_holds() {
    let env = Env::new();
    let component = env.path().join("policy.wasm");
    let allow = wat::parse_str(super::wasm::answering(super::wasm::ALLOW)).unwrap();
    let deny = wat::parse_str(super::wasm::answering(super::wasm::DENY)).unwrap();
    std::fs::write(&component, &allow).unwrap();
    let user =
        env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "wasm", "component": component}])));
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    assert_eq!(decision(&d.event(&bash_event("echo 1"))), "allow");
    // Replaced on disk: the next event runs the new component.
    rename_over(&component, "", "x");
    std::fs::write(&component, &deny).unwrap();
    assert_eq!(decision(&d.event(&bash_event("echo 2"))), "deny");

    // Pinned to the deny component: a swapped file is refused, not run.
    let pinned = hook_settings(
        "PreToolUse",
        "Bash",
        json!([{"type": "wasm", "component": component, "sha256": sha(&deny), "onFailure": "block"}]),
    );
    std::fs::write(&user, &pinned).unwrap();
    d.wait_for("the pinned settings", |s| s.get(&user) == Some(&sha(pinned.as_bytes())));
    assert_eq!(decision(&d.event(&bash_event("echo 3"))), "deny");
    std::fs::write(&component, &allow).unwrap();
    let r = d.event(&bash_event("echo 4"));
    assert_eq!(decision(&r), "deny", "fails closed");
    let Reply::Outcome { stdout, .. } = r else { unreachable!() };
    assert!(stdout.contains("sha256"), "the reason names the pin: {stdout}");
}

#[test]
fn one_shot_dispatch_and_the_fallback_gate_changes_against_the_last_known_good_revision() {
    let env = Env::new();
    let count = env.path().join("config-hook-runs");
    let cmd = format!(
        "echo run >> {}; if grep -q 'forbidden'; then echo 'refused: forbidden' >&2; exit 2; fi; exit 0",
        count.display()
    );
    env.write("user", &hook_settings("ConfigChange", "*", json!([{"type": "command", "command": cmd}])));
    let project = env.write("project", &deny_rule("rm", "good"));
    let runs = || std::fs::read_to_string(&count).map(|s| s.lines().count()).unwrap_or(0);
    let pre = |cmd: &str| {
        let out = env.dispatch(&bash_event(cmd));
        assert_eq!(out.code, 0, "{out:?}");
        if out.stdout.is_empty() { json!({}) } else { out.json() }
    };
    // First run: the files are taken as they are and remembered.
    assert_eq!(pre("rm -rf x")["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(runs(), 0);

    // A forbidden edit: gated once, blocked, the old rules stay; the user is told once.
    std::fs::write(&project, deny_rule("ls", "forbidden")).unwrap();
    let v = pre("ls");
    assert!(v.get("hookSpecificOutput").is_none(), "the blocked rule is not in force: {v}");
    assert!(v["systemMessage"].as_str().unwrap().contains("was blocked (refused: forbidden)"), "{v}");
    assert_eq!(runs(), 1);
    assert_eq!(pre("rm -rf x")["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(runs(), 1, "a blocked content is judged once, not on every event");
    assert_eq!(std::fs::read_to_string(&project).unwrap(), deny_rule("ls", "forbidden"), "the file is not touched");

    // The daemon starts from the same last known good revision; when it is gone, the thin
    // client's in-process fallback still does not apply the blocked change.
    let socket = env.path().join("d.sock");
    let d = Daemon::start(&env, &socket, &[]);
    assert_eq!(d.sha_of(&project), Some(sha(deny_rule("rm", "good").as_bytes())));
    drop(d);
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("ls"));
    let v = out.json();
    assert!(v.get("hookSpecificOutput").is_none(), "{v}");
    assert!(v["systemMessage"].as_str().unwrap().contains("evaluated in-process"), "{v}");

    // An allowed edit applies.
    std::fs::write(&project, deny_rule("cat", "fine")).unwrap();
    assert_eq!(pre("cat x")["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(runs(), 2);
    let changes = settings_changes(&env);
    assert_eq!(changes.iter().filter(|r| r["result"] == "blocked").count(), 1, "{changes:?}");
    assert_eq!(changes.iter().filter(|r| r["result"] == "applied").count(), 1, "{changes:?}");
}

#[test]
fn with_revert_blocked_config_changes_the_daemon_writes_a_blocked_file_back() {
    let env = Env::new();
    env.write("managed.d/20-revert.json", &json!({"hookhost": {"revertBlockedConfigChanges": true}}).to_string());
    blocking_config_hook(&env, "forbidden");
    let good = deny_rule("rm", "good");
    let project = env.write("project", &good);
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    std::fs::write(&project, deny_rule("ls", "forbidden")).unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(&project).unwrap() != good {
        assert!(start.elapsed() < Duration::from_secs(10), "the blocked file was not written back");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.sha_of(&project), Some(sha(good.as_bytes())), "the old revision stays live");
    let reverts: Vec<Value> = audit_records(&env).into_iter().filter(|r| r["kind"] == "settings_revert").collect();
    assert!(
        reverts.iter().any(|r| r["action"] == "reverted" && r["after_sha256"] == sha(good.as_bytes())),
        "{reverts:?}"
    );
    // An allowed change is accepted (and becomes the content a later block returns to).
    let next = deny_rule("cat", "fine");
    std::fs::write(&project, &next).unwrap();
    d.wait_for("the allowed change", |s| s.get(&project) == Some(&sha(next.as_bytes())));
    std::fs::write(&project, deny_rule("ls", "forbidden-again")).unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(&project).unwrap() != next {
        assert!(start.elapsed() < Duration::from_secs(10), "not written back to the newly accepted content");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_shows_the_live_revision_next_to_the_disk_and_the_daemons() {
    let env = Env::new();
    blocking_config_hook(&env, "forbidden");
    let project = env.write("project", &deny_rule("rm", "good"));
    let socket = env.path().join("d.sock");
    let d = Daemon::start(&env, &socket, &[]);
    let status = || {
        let mut c = env.bare_command(&["status", "--json"]);
        c.env("HOOKHOST_SOCKET", &socket);
        let out = run(c, b"");
        assert_eq!(out.code, 0, "{out:?}");
        out.json()
    };
    let s = status();
    let (live, _, _) = d.status();
    assert_eq!(s["live_revision"], live.as_str());
    assert_eq!(s["settings_revision"], live.as_str(), "disk and live agree");
    assert_eq!(s["daemon"]["revision"], live.as_str());
    let w = &s["daemon"]["wasm_prepared"];
    assert!(w.is_null() || w["used"] == 0, "no WebAssembly hook ran: {s}");
    std::fs::write(&project, deny_rule("ls", "forbidden")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let s = status();
    assert_eq!(s["live_revision"], live.as_str(), "the blocked change is not live");
    assert_eq!(s["daemon"]["revision"], live.as_str());
    assert_ne!(s["settings_revision"], live.as_str(), "the disk has the blocked change");
}

#[test]
fn a_broken_managed_file_fails_closed_in_one_shot_and_the_daemon_keeps_its_in_memory_version() {
    let env = Env::new();
    let managed = env.write("managed", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let out = env.dispatch(&bash_event("rm -rf x"));
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny");
    let d = Daemon::start(&env, &env.path().join("d.sock"), &[]);
    assert_eq!(decision(&d.event(&bash_event("rm -rf x"))), "deny");
    // Broken after it was accepted.
    std::fs::write(&managed, "{\"permissions\": {\"deny\": [\"Bash(rm:*)\"]\n").unwrap();
    // One-shot: managed settings never come from the user's state directory, so there is no
    // last good version to fall back on: fail closed, naming the file.
    let out = env.dispatch(&bash_event("rm -rf x"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("managed-settings.json:2:"), "{}", out.stderr);
    // The daemon's last good version is in its own memory: it stays in force, and the user is told.
    let start = Instant::now();
    loop {
        let (_, _, errors) = d.status();
        if errors.iter().any(|e| e.contains("managed-settings.json:2:")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the daemon did not see the broken file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = d.event(&bash_event("rm -rf x"));
    assert_eq!(decision(&r), "deny", "the last good managed rules hold: {r:?}");
    let Reply::Outcome { stdout, .. } = r else { unreachable!() };
    assert!(stdout.contains("stays in force"), "{stdout}");
    // A managed drop-in that was never valid: fail closed, in the daemon too.
    env.write("managed.d/30-broken.json", "{ nope");
    let start = Instant::now();
    loop {
        let r = d.event(&bash_event("echo hi"));
        if let Reply::Outcome { exit_code: 2, stderr, .. } = &r {
            assert!(stderr.contains("30-broken.json:1:"), "{stderr}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the daemon did not fail closed: {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env.dispatch(&bash_event("echo hi"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("failing closed"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Other users: a daemon shared with other uids, and sockets other uids could bind.

const PEER_ENV: &str = "HOOKHOST_TEST_PEER";
const PEER_TEST: &str = "daemon::peer_process_entry";
/// The other user of these tests (`nobody`).
const OTHER: u32 = 65534;

fn write_frame(s: &mut UnixStream, v: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes())?;
    s.write_all(&body)
}

/// One frame, or `None` when the connection is closed (or times out) before a whole frame.
fn read_frame(s: &mut UnixStream) -> Option<Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn peer_report(v: Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "PEER {v}").unwrap();
    out.flush().unwrap();
}

/// Blocks until the test closes our stdin (it holds the connections open until then).
fn wait_for_stdin_eof() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// Not a test on its own: when `HOOKHOST_TEST_PEER` holds a command, this is a process of
/// another uid (the test binary re-executed under `setpriv`): a raw client of the daemon, or a
/// fake daemon. It reports on stdout, one `PEER <json>` line per fact.
#[test]
fn peer_process_entry() {
    let Some(cmd) = std::env::var_os(PEER_ENV) else { return };
    let cmd: Value = serde_json::from_str(cmd.to_str().unwrap()).unwrap();
    let socket = PathBuf::from(cmd["socket"].as_str().unwrap());
    match cmd["op"].as_str().unwrap() {
        // One request, its reply.
        "request" => {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let _ = write_frame(&mut s, &cmd["request"]);
            peer_report(json!({"reply": read_frame(&mut s)}));
        }
        // `count` connections at once, each asked for the status: answered or refused. Held
        // until stdin closes.
        "hold" => {
            let mut conns: Vec<UnixStream> =
                (0..cmd["count"].as_u64().unwrap()).map(|_| UnixStream::connect(&socket).unwrap()).collect();
            let status = json!({"type": "status", "v": 1});
            let mut open = 0;
            let mut refused = Vec::new();
            for s in &mut conns {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let _ = write_frame(s, &status);
                match read_frame(s) {
                    Some(r) if r["type"] == "status" => open += 1,
                    Some(r) => refused.push(r["message"].as_str().unwrap_or_default().to_string()),
                    None => refused.push("closed without a frame".into()),
                }
            }
            peer_report(json!({"open": open, "refused": refused}));
            wait_for_stdin_eof();
        }
        // `bytes` (a prefix of a frame, maybe empty), then `every_ms` one more byte of `trickle`
        // until the daemon closes: what it answered, and whether it closed first.
        "slow" => {
            let mut s = UnixStream::connect(&socket).unwrap();
            let prefix: Vec<u8> = serde_json::from_value(cmd["bytes"].clone()).unwrap();
            s.write_all(&prefix).unwrap();
            let trickle: Vec<u8> = serde_json::from_value(cmd["trickle"].clone()).unwrap_or_default();
            let every = Duration::from_millis(cmd["every_ms"].as_u64().unwrap_or(100));
            let mut sent_all = true;
            for b in trickle {
                std::thread::sleep(every);
                if s.write_all(&[b]).is_err() {
                    sent_all = false;
                    break;
                }
            }
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let reply = read_frame(&mut s);
            // Closed by the daemon, not merely quiet until our read timeout.
            let mut rest = [0u8; 1];
            let eof = match s.read(&mut rest) {
                Ok(n) => n == 0,
                Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            };
            peer_report(json!({"reply": reply, "closed": eof, "trickled_all": sent_all}));
        }
        // `count` connections, each sending the header of a `len`-byte frame and `len - 1` bytes
        // of it (as much as the daemon takes within 3 s). Held until stdin closes.
        "flood" => {
            let (count, len) = (cmd["count"].as_u64().unwrap(), cmd["len"].as_u64().unwrap() as usize);
            let writers: Vec<_> = (0..count)
                .map(|_| {
                    let socket = socket.clone();
                    std::thread::spawn(move || {
                        let mut s = UnixStream::connect(&socket).unwrap();
                        s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                        let mut written = 0usize;
                        if s.write_all(&(len as u32).to_be_bytes()).is_ok() {
                            let chunk = vec![b' '; 256 * 1024];
                            while written < len - 1 {
                                let n = chunk.len().min(len - 1 - written);
                                match s.write(&chunk[..n]) {
                                    Ok(n) => written += n,
                                    Err(_) => break,
                                }
                            }
                        }
                        (s, written)
                    })
                })
                .collect();
            let done: Vec<(UnixStream, usize)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
            peer_report(json!({"written": done.iter().map(|(_, n)| n).collect::<Vec<_>>()}));
            wait_for_stdin_eof();
            drop(done);
        }
        // A fake daemon: answers every request with `allow`, and reports what it was sent.
        "fake_daemon" => {
            let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
            peer_report(json!({"listening": true}));
            let allow = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                "permissionDecision": "allow", "permissionDecisionReason": "fake daemon says yes"}});
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let request = read_frame(&mut s);
                peer_report(json!({"request": request}));
                let _ = write_frame(
                    &mut s,
                    &json!({"type": "outcome", "exit_code": 0, "stdout": format!("{allow}\n"), "stderr": "", "revision": "fake"}),
                );
            }
        }
        other => panic!("unknown peer op {other}"),
    }
}

/// A process of uid 65534 running `peer_process_entry` with `cmd`.
struct PeerProcess {
    child: Child,
    reports: std::sync::mpsc::Receiver<Value>,
}

impl PeerProcess {
    fn start(cmd: Value) -> PeerProcess {
        let mut child = Command::new("setpriv")
            .args([format!("--reuid={OTHER}"), format!("--regid={OTHER}"), "--clear-groups".into()])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", PEER_TEST, "--nocapture", "--test-threads", "1", "-q"])
            .env_clear()
            .env(PEER_ENV, cmd.to_string())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("setpriv");
        let stdout = child.stdout.take().unwrap();
        let (tx, reports) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("PEER ") {
                    let _ = tx.send(serde_json::from_str(&line[at + 5..]).unwrap());
                }
            }
        });
        PeerProcess { child, reports }
    }

    /// The next report (within 60 s).
    fn next(&self) -> Value {
        self.reports.recv_timeout(Duration::from_secs(60)).expect("a report from the peer process")
    }

    /// Every report until the process exits (after closing its stdin).
    fn finish(mut self) -> Vec<Value> {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "peer process: {status}");
        self.reports.try_iter().collect()
    }

    fn kill(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.reports.try_iter().collect()
    }
}

/// One request sent as uid 65534; the daemon's reply.
fn request_as_other(socket: &Path, request: Value) -> Value {
    let p = PeerProcess::start(json!({"op": "request", "socket": socket, "request": request}));
    let r = p.next();
    p.finish();
    r["reply"].clone()
}

/// Whether these tests can act as another uid (root and setpriv).
fn can_switch_uid() -> bool {
    if nix::unistd::getuid().is_root() && Command::new("setpriv").arg("--version").output().is_ok() {
        return true;
    }
    eprintln!("SKIP: needs root and setpriv");
    false
}

/// A directory in /tmp with `mode`, owned by `uid`.
fn dir_for(uid: u32, mode: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new().prefix("hookhost-users").tempdir().unwrap();
    std::os::unix::fs::chown(d.path(), Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

/// `env`, readable by other users (its managed files too), for a daemon they share.
fn shared_env() -> Env {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    env
}

/// The thin client run as uid 65534 with `vars`, reading `event`.
fn thin_dispatch_as_other(env: &Env, socket: &Path, args: &[&str], vars: &[(&str, &Path)], event: &[u8]) -> Output {
    let mut c = Command::new("setpriv");
    c.args([format!("--reuid={OTHER}"), format!("--regid={OTHER}"), "--clear-groups".into()])
        .arg(super::support::bin())
        .arg("dispatch")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOOKHOST_SOCKET", socket)
        .env("HOOKHOST_SOCKET_TIMEOUT", "30")
        .env("HOOKHOST_MANAGED_DIR", env.managed_dir())
        .env("HOME", "/nonexistent")
        .current_dir("/");
    for (k, v) in vars {
        c.env(k, v);
    }
    run(c, event)
}

#[test]
fn a_foreign_peer_gets_managed_decisions_only_and_its_files_never_run_as_the_daemon() {
    if !can_switch_uid() {
        return;
    }
    let env = shared_env();
    // The admin's policy, and the daemon user's own (root's) user settings, which other users
    // must not get.
    env.write("managed.d/10-policy.json", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    env.write("user", &json!({"permissions": {"deny": ["Bash(echo:*)"]}}).to_string());
    // What uid 65534 owns: a settings file and a project, each with an unsandboxed hook that
    // records who ran it and tries to read /etc/shadow.
    let theirs = dir_for(OTHER, 0o755);
    let marker = theirs.path().join("ran-as");
    let hook = json!([{"type": "command", "sandbox": {"mode": "off"},
        "command": format!("id -u >> {m}; cat /etc/shadow >> {m} 2>/dev/null; exit 0", m = marker.display())}]);
    let evil = theirs.path().join("evil.json");
    std::fs::write(&evil, hook_settings("PreToolUse", "Bash", hook.clone())).unwrap();
    let project = theirs.path().join("project");
    std::fs::create_dir_all(project.join(".hookhost")).unwrap();
    std::fs::write(project.join(".hookhost/settings.json"), hook_settings("PreToolUse", "Bash", hook)).unwrap();
    // Root trusts that project for itself: had the daemon selected it for uid 65534's events
    // (by `project_dir` or the event's `cwd`), its hook would run as root.
    let trusted = run(root_command(&env, &["trust", "--project-dir", project.to_str().unwrap()]), b"");
    assert_eq!(trusted.code, 0, "{trusted:?}");
    for entry in walk(theirs.path()) {
        std::os::unix::fs::lchown(&entry, Some(OTHER), Some(OTHER)).unwrap();
    }

    let socket_dir = dir_for(0, 0o755);
    let socket = socket_dir.path().join("shared.sock");
    let d = Daemon::start(&env, &socket, &["--allow-uid", "65534", "--allow-uid", "0", "--socket-mode", "0666"]);
    let ran_as = || std::fs::read_to_string(&marker).unwrap_or_default();
    let event_in = |cwd: &Path, command: &str| {
        let mut v: Value = serde_json::from_slice(&bash_event(command)).unwrap();
        v["cwd"] = json!(cwd);
        v.to_string()
    };

    // Raw requests of uid 65534: its settings file and its project directory are refused, in
    // events and in status requests.
    let refusals = [
        json!({"type": "event", "v": 1, "event": event_in(&project, "ls"), "settings": evil}),
        json!({"type": "event", "v": 1, "event": event_in(&project, "ls"), "project_dir": project}),
        json!({"type": "event", "v": 1, "event": event_in(&project, "ls"), "project_dir": project, "settings": evil}),
        json!({"type": "event", "v": 1, "event": event_in(Path::new("/"), "ls"), "project_dir": "/"}),
        json!({"type": "status", "v": 1, "settings": evil}),
        json!({"type": "status", "v": 1, "project_dir": project}),
    ];
    for req in refusals {
        let reply = request_as_other(&socket, req.clone());
        assert_eq!(reply["type"], "error", "{req} → {reply}");
        let msg = reply["message"].as_str().unwrap();
        assert!(
            msg.contains("peer uid 65534 is not this hookhost daemon's uid (0)") && msg.contains("refuses its"),
            "{msg}"
        );
    }
    // Without them: the managed policy decides, whatever project the event's cwd names; root's
    // user settings do not apply to uid 65534.
    for (cwd, command, expected) in
        [(project.as_path(), "rm -rf x", "deny"), (project.as_path(), "echo hi", "none"), (theirs.path(), "ls", "none")]
    {
        let reply = request_as_other(&socket, json!({"type": "event", "v": 1, "event": event_in(cwd, command)}));
        let r: Reply = serde_json::from_value(reply.clone()).unwrap();
        assert_eq!(decision(&r), expected, "{command} in {}: {reply}", cwd.display());
    }
    let status = request_as_other(&socket, json!({"type": "status", "v": 1}));
    assert_eq!(status["type"], "status", "{status}");
    let scopes: BTreeSet<&str> =
        status["sources"].as_array().unwrap().iter().map(|s| s["scope"].as_str().unwrap()).collect();
    assert_eq!(scopes, BTreeSet::from(["managed"]), "{status}");
    assert_eq!(ran_as(), "", "no hook of uid 65534 ran anywhere");

    // The real thin client of uid 65534: with its project (CLAUDE_PROJECT_DIR, as Claude Code
    // sets it), the root daemon answers with the managed policy; no hook of theirs runs.
    let out = thin_dispatch_as_other(
        &env,
        &socket,
        &[],
        &[("CLAUDE_PROJECT_DIR", &project)],
        &event_in(&project, "rm -rf x").into_bytes(),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    assert!(!out.stdout.contains("in-process"), "answered by the daemon: {out:?}");
    assert_eq!(ran_as(), "");
    // With its own --settings: refused by the daemon, so the client evaluates in-process, as
    // uid 65534: the hook runs with uid 65534's rights, never root's.
    let out = thin_dispatch_as_other(&env, &socket, &["--settings", evil.to_str().unwrap()], &[], &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    let msg = out.json()["systemMessage"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("refuses its settings file") && msg.contains("evaluated in-process"), "{out:?}");
    let ran = ran_as();
    assert_eq!(ran.lines().next(), Some("65534"), "ran in-process as uid 65534: {ran:?}");
    assert!(!ran.contains("root:"), "never read /etc/shadow: {ran:?}");
    assert!(d.log_text().contains("refused a foreign peer's settings"));
    // Root, the daemon's own uid, still gets its own settings.
    assert_eq!(decision(&d.event(&bash_event("echo hi"))), "deny");
}

/// `env.bare_command` without its project directory.
fn root_command(env: &Env, args: &[&str]) -> Command {
    let bare = env.bare_command(&[]);
    let mut c = Command::new(super::support::bin());
    c.env_clear().envs(bare.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))).args(args);
    c
}

/// Every path under `root` (itself included).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            for e in std::fs::read_dir(&out[i]).unwrap() {
                out.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

#[test]
fn connections_per_uid_are_capped_and_other_uids_are_still_served() {
    if !can_switch_uid() {
        return;
    }
    let env = shared_env();
    let socket_dir = dir_for(0, 0o755);
    let socket = socket_dir.path().join("d.sock");
    let d = Daemon::start(
        &env,
        &socket,
        &["--allow-uid", "65534", "--allow-uid", "0", "--socket-mode", "0666", "--max-connections-per-uid", "4"],
    );
    let holder = PeerProcess::start(json!({"op": "hold", "socket": socket, "count": 7}));
    let r = holder.next();
    assert_eq!(r["open"], 4, "{r}");
    let refused = r["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 3, "{r}");
    for m in refused {
        assert!(
            m.as_str().unwrap().contains("too many connections from uid 65534 (this hookhost daemon's limit is 4)"),
            "{r}"
        );
    }
    // While uid 65534 holds its four, root is served, and another connection of 65534 is not.
    assert_eq!(decision(&d.event(&bash_event("echo hi"))), "none");
    let reply = request_as_other(&socket, json!({"type": "status", "v": 1}));
    assert!(reply["message"].as_str().unwrap_or_default().contains("too many connections"), "{reply}");
    // Once they are closed, uid 65534 is served again.
    holder.finish();
    let start = Instant::now();
    loop {
        let reply = request_as_other(&socket, json!({"type": "status", "v": 1}));
        if reply["type"] == "status" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still refused: {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.log_text().contains("too many connections from its uid"));
}

#[test]
fn idle_connections_and_partial_frames_are_closed_after_their_timeouts() {
    if !can_switch_uid() {
        return;
    }
    let env = shared_env();
    let socket_dir = dir_for(0, 0o755);
    let socket = socket_dir.path().join("d.sock");
    let d = Daemon::start(
        &env,
        &socket,
        &[
            "--allow-uid",
            "65534",
            "--allow-uid",
            "0",
            "--socket-mode",
            "0666",
            "--frame-timeout",
            "1",
            "--idle-timeout",
            "2",
        ],
    );
    let status = serde_json::to_vec(&json!({"type": "status", "v": 1})).unwrap();
    let mut frame = (status.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&status);
    // (what is sent at once, what trickles in afterwards one byte every 300 ms, what the daemon
    // says before closing)
    let cases: Vec<(Vec<u8>, Vec<u8>, Option<&str>)> = vec![
        // Idle: nothing sent.
        (vec![], vec![], None),
        // Half a header.
        (vec![0, 0], vec![], Some("the frame header was not completed within 1 s")),
        // A header and part of the body (slowloris).
        (frame[..10].to_vec(), vec![], Some("the frame not completed within 1 s")),
        // The whole frame, one byte at a time, slower than the frame timeout allows.
        (frame[..1].to_vec(), frame[1..].to_vec(), Some("not completed within 1 s")),
        // A header declaring 16 MiB, then silence.
        ((16u32 << 20).to_be_bytes().to_vec(), vec![], Some("the frame not completed within 1 s")),
    ];
    for (sent, trickle, said) in cases {
        let p = PeerProcess::start(
            json!({"op": "slow", "socket": socket, "bytes": sent, "trickle": trickle, "every_ms": 300}),
        );
        let r = p.next();
        p.finish();
        assert_eq!(r["closed"], true, "{sent:?}: {r}");
        match said {
            None => assert!(r["reply"].is_null(), "{r}"),
            Some(text) => {
                assert_eq!(r["reply"]["type"], "error", "{r}");
                assert!(r["reply"]["message"].as_str().unwrap().contains(text), "{r}");
            }
        }
        if !trickle.is_empty() {
            assert_eq!(r["trickled_all"], false, "closed before the trickle ended: {r}");
        }
    }
    // A frame sent at once is answered under the same timeouts.
    assert_eq!(request_as_other(&socket, json!({"type": "status", "v": 1}))["type"], "status");
    assert!(super::support::alive(d.pid()));
}

/// The daemon's resident memory, in bytes.
fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    super::support::status_kib(&status, "VmRSS").unwrap() * 1024
}

#[test]
fn many_huge_partial_frames_keep_the_daemons_memory_bounded() {
    if !can_switch_uid() {
        return;
    }
    let env = shared_env();
    let socket_dir = dir_for(0, 0o755);
    let socket = socket_dir.path().join("d.sock");
    let budget: u64 = 64 << 20;
    let d = Daemon::start(
        &env,
        &socket,
        &[
            "--allow-uid",
            "65534",
            "--allow-uid",
            "0",
            "--socket-mode",
            "0666",
            "--frame-timeout",
            "60",
            "--max-buffered-bytes",
            &budget.to_string(),
        ],
    );
    assert_eq!(decision(&d.event(&bash_event("echo warm"))), "none");
    let before = rss(d.pid());
    // 24 connections, each one byte short of the largest frame: 385 MiB if each were buffered.
    let len = hookhost::daemon::MAX_FRAME as u64;
    let flood = PeerProcess::start(json!({"op": "flood", "socket": socket, "count": 24, "len": len}));
    let r = flood.next();
    let written: Vec<u64> = r["written"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    let grown = rss(d.pid()).saturating_sub(before);
    eprintln!("flood: the daemon took {written:?} bytes; its RSS grew by {} MiB", grown >> 20);
    // Two frames fit in uid 65534's share (three quarters of the budget); they are buffered as
    // they arrive. The other 22 were refused at their header.
    assert_eq!(written.iter().filter(|n| **n + 1 == len).count(), 2, "{written:?}");
    assert!(grown < budget + (32 << 20), "RSS grew by {} MiB with a {} MiB budget", grown >> 20, budget >> 20);
    assert!(grown > 24 << 20, "the two frames in flight are in memory: {} MiB", grown >> 20);
    // While they are held, root's frames find room.
    assert_eq!(decision(&d.event(&bash_event("echo during"))), "none");
    assert!(d.log_text().contains("cannot buffer a frame of"));
    flood.finish();
    assert_eq!(decision(&d.event(&bash_event("echo after"))), "none");
    assert!(super::support::alive(d.pid()));
}

#[test]
fn a_socket_another_user_bound_gets_no_event_and_serve_refuses_directories_others_can_write() {
    if !can_switch_uid() {
        return;
    }
    let env = Env::new();
    env.write("managed.d/10-policy.json", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    // uid 65534 binds the path first, in a directory it can write, and answers `allow`.
    let theirs = dir_for(OTHER, 0o755);
    let socket = theirs.path().join("hookhost.sock");
    let fake = PeerProcess::start(json!({"op": "fake_daemon", "socket": socket}));
    assert_eq!(fake.next()["listening"], true);

    // The victim's thin client: the event fails open here, so it is evaluated in-process (the
    // managed deny holds), with the cause named; the fake daemon's allow is never printed.
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("rm -rf x"));
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert!(!out.stdout.contains("fake daemon") && !out.stdout.contains("\"allow\""), "{v}");
    let msg = v["systemMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains("runs as uid 65534, neither this user (uid 0) nor root") && msg.contains("evaluated in-process"),
        "{v}"
    );
    // Where the event fails closed: exit 2 with the cause, as for an unavailable daemon.
    env.write("managed.d/20-closed.json", &json!({"failClosed": ["PreToolUse"]}).to_string());
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("runs as uid 65534") && out.stderr.contains("failing closed"), "{out:?}");
    assert!(!out.stdout.contains("allow"), "{out:?}");
    // `hookhost status` does not ask it either.
    let mut c = env.bare_command(&["status", "--json"]);
    c.env("HOOKHOST_SOCKET", &socket);
    let status = run(c, b"").json();
    assert!(status["daemon"]["error"].as_str().unwrap_or_default().contains("runs as uid 65534"), "{status}");
    // The clients connected (and read who listens), but sent nothing. The fake daemon serves
    // connections one at a time: wait for the three reports (a loaded machine may deliver the
    // last one late), then collect whatever else came.
    let mut reports: Vec<Value> = (0..3).map(|_| fake.next()).collect();
    reports.extend(fake.kill());
    let requests: Vec<&Value> = reports.iter().filter_map(|r| r.get("request")).collect();
    assert_eq!(requests.len(), 3, "three clients connected: {reports:?}");
    assert!(requests.iter().all(|r| r.is_null()), "the fake daemon got: {reports:?}");

    // The victim's daemon refuses that directory, and every directory others can write.
    let serve = |socket: &Path| {
        let mut c = env.bare_command(&["serve", "--socket", socket.to_str().unwrap()]);
        c.env("RUST_LOG", "off");
        run(c, b"")
    };
    let out = serve(&theirs.path().join("mine.sock"));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("it is owned by uid 65534, neither this daemon's uid (0) nor root"), "{out:?}");
    for mode in [0o1777, 0o777, 0o775, 0o770, 0o1770, 0o757, 0o722] {
        let open = dir_for(0, mode);
        let out = serve(&open.path().join("d.sock"));
        assert_eq!(out.code, 1, "{mode:o}: {out:?}");
        assert!(out.stderr.contains("writable by its group or by everyone"), "{mode:o}: {out:?}");
        assert!(!open.path().join("d.sock").exists(), "{mode:o}: nothing bound");
    }
}

#[test]
fn serve_accepts_a_socket_directory_only_when_no_other_uid_can_replace_the_socket() {
    if !can_switch_uid() {
        return;
    }
    use hookhost::daemon::server::check_directory;
    use std::os::unix::fs::PermissionsExt;
    // Oracle: uid 65534 (group 65534) tries, for real, to put its own entry where the socket
    // goes, and to move the socket's directory or its parent aside.
    let takeover = |parent: &Path, dir: &Path| {
        let script = format!(
            "touch {d}/sock 2>/dev/null && exit 0; mv {d} {d}.x 2>/dev/null && exit 0; mv {p} {p}.x 2>/dev/null && exit 0; exit 1",
            d = dir.display(),
            p = parent.display()
        );
        Command::new("setpriv")
            .args([format!("--reuid={OTHER}"), format!("--regid={OTHER}"), format!("--groups={OTHER}")])
            .args(["sh", "-c", &script])
            .status()
            .unwrap()
            .success()
    };
    let dir_modes = [0o700, 0o755, 0o750, 0o770, 0o775, 0o777, 0o1777, 0o733, 0o703, 0o1733];
    let parent_modes = [0o755, 0o711, 0o775, 0o777, 0o1777, 0o757];
    let owners = [0u32, OTHER];
    let mut checked = 0;
    let mut accepted = 0;
    for dm in dir_modes {
        for pm in parent_modes {
            for (downer, dgroup) in [(0u32, 0u32), (0, OTHER), (OTHER, OTHER)] {
                for powner in owners {
                    // /tmp (1777, root) / top (0755, root) / parent / dir / sock
                    let top = tempfile::Builder::new().prefix("hookhost-sockdir").tempdir().unwrap();
                    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
                    let parent = top.path().join("p");
                    let dir = parent.join("d");
                    std::fs::create_dir_all(&dir).unwrap();
                    std::os::unix::fs::chown(&dir, Some(downer), Some(dgroup)).unwrap();
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dm)).unwrap();
                    std::os::unix::fs::chown(&parent, Some(powner), Some(powner)).unwrap();
                    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(pm)).unwrap();
                    let verdict = check_directory(&dir.join("sock"), 0);
                    let can = takeover(&parent, &dir);
                    if verdict.is_ok() {
                        accepted += 1;
                        assert!(
                            !can,
                            "accepted although uid 65534 can replace the socket: dir {dm:o} {downer}:{dgroup}, parent {pm:o} {powner}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    eprintln!("{checked} directory layouts checked against a real takeover attempt, {accepted} accepted");
    assert!(accepted > 0 && accepted < checked, "{accepted} of {checked}");
    // A symlink on the path that another user owns (it could point it elsewhere) is refused.
    let top = tempfile::Builder::new().prefix("hookhost-sockdir").tempdir().unwrap();
    let real = top.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = top.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(check_directory(&link.join("sock"), 0).is_ok());
    std::os::unix::fs::lchown(&link, Some(OTHER), Some(OTHER)).unwrap();
    let err = check_directory(&link.join("sock"), 0).unwrap_err().to_string();
    assert!(err.contains("owned by uid 65534"), "{err}");
}

#[test]
fn a_daemon_that_cannot_record_fails_closed_events_closed_until_the_log_is_repaired() {
    let env = Env::new();
    let log = env.path().join("logs/audit.jsonl");
    std::fs::create_dir_all(&log).unwrap(); // A directory where the log should be.
    env.write(
        "managed.d/10-audit.json",
        &json!({"audit": {"path": log}, "failClosed": ["PreToolUse"], "permissions": {"allow": ["Bash(ls:*)"]}})
            .to_string(),
    );
    let socket = env.path().join("d.sock");
    let d = Daemon::start(&env, &socket, &[]);
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("the audit log cannot be opened") && out.stderr.contains("failing closed"), "{out:?}");
    assert!(!out.stdout.contains("allow"));
    // An event that does not fail closed is answered, with the cause.
    let post = json!({"session_id": "s", "cwd": "/tmp", "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_input": {"command": "ls"}, "tool_response": {}, "tool_use_id": "t"});
    let (out, _) = thin_dispatch(&env, &socket, post.to_string().as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.json()["systemMessage"].as_str().unwrap_or_default().contains("audit log cannot be opened"), "{out:?}");
    // Repaired while the daemon runs: the next event opens the log and is recorded.
    std::fs::remove_dir(&log).unwrap();
    let (out, _) = thin_dispatch(&env, &socket, &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "allow");
    let r = hookhost::audit::verify_anchored(&log, Some(hookhost::audit::default_anchor(&log))).unwrap();
    assert_eq!((r.integrity(), r.records), (hookhost::audit::Integrity::Intact, 1), "{r}");
    drop(d);
}
