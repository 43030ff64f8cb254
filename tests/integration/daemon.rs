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

use super::support::{Env, bash_event, hook_settings, run};

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
