//! The thin client (`hookhost-dispatch`) and the automatic daemon (issue 23): real daemons on
//! real sockets, the real thin binary, and the full `hookhost dispatch` as the oracle. Whether
//! the daemon answered or the full binary ran is seen with strace (which programs were
//! executed), not with timings.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::daemon::Daemon;
use super::support::{Env, Output, alive, bash_event, hook_settings, run};

/// The thin client, built next to `hookhost` (it is the bin of the workspace member
/// crates/hookhost-dispatch: `cargo test` and `cargo build` build it; a targeted
/// `cargo test --test integration` does not rebuild it, so it is checked to be newer than its
/// sources).
pub(crate) fn thin_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let bin = Path::new(super::support::bin()).with_file_name("hookhost-dispatch");
        let built = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("{}: {e}; build it with `cargo build -p hookhost-dispatch`", bin.display()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/hookhost-dispatch/src");
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            let changed = std::fs::metadata(&f).unwrap().modified().unwrap();
            assert!(
                changed <= built,
                "{} is older than {}: rebuild it with `cargo build -p hookhost-dispatch`",
                bin.display(),
                f.display()
            );
        }
        bin.to_string_lossy().into_owned()
    })
}

/// `$XDG_RUNTIME_DIR` of this machine (0700).
fn runtime_dir(env: &Env) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let d = env.path().join("run");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&d);
    d
}

/// The thin client with `env`'s machine (as `Env::bare_command` sets it up) and `vars`.
fn thin_command(env: &Env, vars: &[(&str, &str)]) -> Command {
    let mut c = env.machine_command(thin_bin());
    c.env("XDG_RUNTIME_DIR", runtime_dir(env))
        .env("HOOKHOST_DAEMON_IDLE_EXIT", "20")
        .arg("--project-dir")
        .arg(env.project());
    if env.cli_file().exists() {
        c.arg("--settings").arg(env.cli_file());
    }
    c.envs(vars.iter().copied());
    c
}

fn thin(env: &Env, vars: &[(&str, &str)], event: &[u8]) -> Output {
    run(thin_command(env, vars), event)
}

/// The thin client under strace: its output and the programs it executed (argv[0] of every
/// successful execve, the thin client's own first).
fn thin_traced(env: &Env, vars: &[(&str, &str)], event: &[u8]) -> (Output, Vec<String>) {
    let trace = env.path().join(format!("trace-{}", std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos()));
    let c = thin_command(env, vars);
    let mut s = Command::new("strace");
    s.args(["-f", "-qq", "-e", "trace=execve", "-o"]).arg(&trace).arg(c.get_program()).args(c.get_args());
    s.env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let out = run(s, event);
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let execs = text
        .lines()
        .filter(|l| l.contains("execve(") && l.contains("= 0"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect();
    (out, execs)
}

/// The automatic socket the thin client uses for `env` (the `hookhost` next to it, this
/// machine's identity), computed by the crate it uses.
fn auto_socket(env: &Env) -> PathBuf {
    let id = hookhost_dispatch::Identity {
        version: hookhost_dispatch::VERSION.into(),
        managed_dir: env.managed_dir(),
        user_file: Some(env.path().join("xdg/hookhost/settings.json")),
        state_dir: Some(env.state_home().join("hookhost")),
    };
    hookhost_dispatch::auto_socket_in(&runtime_dir(env).join("hookhost"), &id, Path::new(super::support::bin()))
        .unwrap()
}

/// The pid listening at `socket`, if any.
fn listener_pid(socket: &Path) -> Option<i32> {
    let s = UnixStream::connect(socket).ok()?;
    nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials).ok().map(|c| c.pid())
}

/// Every live `hookhost serve` process whose command line names `socket`.
fn daemons_for(socket: &Path) -> Vec<i32> {
    let needle = socket.to_string_lossy().into_owned();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "serve") && args.contains(&needle) && alive(pid) {
            v.push(pid);
        }
    }
    v
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills every daemon of `socket` when dropped (automatic daemons outlive their starter).
struct Reap(PathBuf);
impl Drop for Reap {
    fn drop(&mut self) {
        for pid in daemons_for(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn is_full(exec: &str) -> bool {
    exec == super::support::bin()
}

fn policy(env: &Env) {
    env.write(
        "user",
        &json!({"permissions": {"deny": ["Bash(rm:*)", "Edit"]}, "hooks": {
            "ConfigChange": [{"hooks": [{"type": "command", "command": "echo 'config changes are frozen' >&2; exit 2"}]}]
        }})
        .to_string(),
    );
}

#[test]
fn the_thin_client_prints_what_dispatch_prints_for_every_fixture_through_a_daemon_and_without() {
    let env = Env::new();
    policy(&env);
    let socket = env.path().join("d.sock");
    let sock = socket.to_str().unwrap();
    // No automatic daemon for the fallback half.
    env.write("managed.d/20-daemon.json", &json!({"hookhost": {"daemon": "off"}}).to_string());
    let d = Daemon::start_with(&env, &socket, &[], &[]);
    let names = super::support::fixture_names();
    assert!(names.len() >= 15, "{names:?}");
    for (i, name) in names.iter().enumerate() {
        let ev = super::support::fixture(name);
        let local = env.dispatch(&ev);
        let key = |o: &Output| (o.code, o.stdout.clone(), o.stderr.clone());
        let (warm, execs) = if i < 3 {
            thin_traced(&env, &[("HOOKHOST_SOCKET", sock)], &ev)
        } else {
            (thin(&env, &[("HOOKHOST_SOCKET", sock)], &ev), vec![thin_bin().to_string()])
        };
        assert_eq!(key(&warm), key(&local), "{name} through the daemon");
        assert_eq!(execs, vec![thin_bin().to_string()], "{name}: the daemon answered, nothing else ran");
        let (cold, execs) = if i < 3 {
            thin_traced(&env, &[], &ev)
        } else {
            (thin(&env, &[], &ev), vec![thin_bin().into(), super::support::bin().into()])
        };
        assert_eq!(key(&cold), key(&local), "{name} without a daemon (hookhost.daemon off)");
        assert!(execs.len() >= 2 && is_full(&execs[1]), "{name}: the full binary answered: {execs:?}");
    }
    // Arguments the thin client does not handle go to the full binary as they are.
    let out = run(
        {
            let mut c = thin_command(&env, &[]);
            c.arg("--max-event-bytes").arg("10");
            c
        },
        &bash_event("echo hi"),
    );
    let local = env.run(&["dispatch", "--max-event-bytes", "10"], &bash_event("echo hi"));
    assert_eq!((out.code, &out.stderr), (local.code, &local.stderr));
    assert_ne!(out.code, 0, "an oversized event is refused, not passed");
    drop(d);
}

#[test]
fn a_daemon_killed_mid_event_fails_the_thin_client_closed_and_without_one_it_falls_back() {
    let env = Env::new();
    env.write("managed.d/10-closed.json", &json!({"failClosed": ["PreToolUse"]}).to_string());
    let marker = env.path().join("slow-ran");
    let slow = format!("touch {}; sleep 3", marker.display());
    env.write("user", &hook_settings("PreToolUse", "Bash", json!([{"type": "command", "command": slow}])));
    let socket = env.path().join("d.sock");
    let sock = socket.to_str().unwrap().to_string();
    let d = Daemon::start_with(&env, &socket, &[], &[]);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let c = thin_command(&env, &[("HOOKHOST_SOCKET", &sock), ("HOOKHOST_SOCKET_TIMEOUT", "20")]);
            std::thread::spawn(move || run(c, &bash_event("echo hi")))
        })
        .collect();
    wait_until("the slow hook", Duration::from_secs(10), || marker.exists());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
    for c in clients {
        let out = c.join().unwrap();
        assert_eq!(out.code, 2, "fail closed: {out:?}");
        assert!(out.stderr.contains("went away") && out.stderr.contains("failing closed"), "{}", out.stderr);
        assert!(out.stderr.contains(&sock), "names the socket: {}", out.stderr);
    }
    // No daemon at all: still closed, naming the socket.
    let out = thin(&env, &[("HOOKHOST_SOCKET", &sock)], &bash_event("echo hi"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains(&sock) && out.stderr.contains("failing closed"), "{}", out.stderr);
    // Where the event fails open, the full binary evaluates it and says so.
    std::fs::remove_file(env.managed_dir().join("managed-settings.d/10-closed.json")).unwrap();
    env.write("user", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let out = thin(&env, &[("HOOKHOST_SOCKET", &sock)], &bash_event("rm -rf x"));
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(v["systemMessage"].as_str().unwrap_or_default().contains("evaluated in-process"), "{v}");
}

#[test]
fn the_first_event_starts_one_daemon_later_events_are_warm_and_racing_clients_start_only_one() {
    let env = Env::new();
    policy(&env);
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    assert!(socket.starts_with(runtime_dir(&env).join("hookhost")), "{}", socket.display());
    let ev = bash_event("rm -rf /");
    let local = env.dispatch(&ev);
    assert_eq!(local.json()["hookSpecificOutput"]["permissionDecision"], "deny");
    // First event: answered in-process (the same bytes), and a daemon starts.
    assert!(listener_pid(&socket).is_none());
    let first = thin(&env, &[], &ev);
    assert_eq!((first.code, &first.stdout, &first.stderr), (local.code, &local.stdout, &local.stderr));
    wait_until("the automatic daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = std::fs::metadata(socket.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        assert_eq!(dir.uid(), nix::unistd::getuid().as_raw());
        assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Later events: the daemon answers, nothing else runs.
    for _ in 0..3 {
        let (warm, execs) = thin_traced(&env, &[], &ev);
        assert_eq!((warm.code, &warm.stdout, &warm.stderr), (local.code, &local.stdout, &local.stderr));
        assert_eq!(execs, vec![thin_bin().to_string()]);
    }
    // The daemon dies; 24 clients race: every answer right, one daemon afterwards.
    let first_pid = listener_pid(&socket).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first_pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("the daemon gone", Duration::from_secs(10), || !alive(first_pid));
    let clients: Vec<_> = (0..24)
        .map(|_| {
            let c = thin_command(&env, &[]);
            let ev = ev.clone();
            std::thread::spawn(move || run(c, &ev))
        })
        .collect();
    for c in clients {
        let out = c.join().unwrap();
        assert_eq!((out.code, &out.stdout, &out.stderr), (local.code, &local.stdout, &local.stderr));
    }
    wait_until("a new daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    // Starters that lost the race exit at once; give them a moment, then count.
    std::thread::sleep(Duration::from_millis(500));
    let daemons = daemons_for(&socket);
    assert_eq!(daemons.len(), 1, "one daemon per uid and socket: {daemons:?}");
    assert_eq!(listener_pid(&socket), Some(daemons[0]));
    // hookhost status shows it.
    let mut c = env.bare_command(&["status", "--json"]);
    c.env("XDG_RUNTIME_DIR", runtime_dir(&env));
    let st = run(c, b"").json();
    assert_eq!(st["auto_daemon"]["mode"], "auto", "{st}");
    assert_eq!(st["auto_daemon"]["socket"], json!(socket), "{st}");
    assert_eq!(st["auto_daemon"]["listener"]["pid"], json!(daemons[0]), "{st}");
}

#[test]
fn an_idle_automatic_daemon_exits_and_removes_its_socket() {
    let env = Env::new();
    policy(&env);
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    let out = thin(&env, &[("HOOKHOST_DAEMON_IDLE_EXIT", "1")], &bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    wait_until("the automatic daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    let pid = listener_pid(&socket).unwrap();
    wait_until("the idle exit", Duration::from_secs(20), || !alive(pid));
    assert!(!socket.exists(), "its socket is removed");
    assert!(daemons_for(&socket).is_empty());
}

#[test]
fn off_starts_nothing_and_turns_a_running_automatic_daemon_off() {
    let env = Env::new();
    policy(&env);
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    let ev = bash_event("rm -rf x");
    // A daemon runs (auto), then the admin turns it off.
    assert_eq!(thin(&env, &[], &ev).code, 0);
    wait_until("the automatic daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    let pid = listener_pid(&socket).unwrap();
    env.write("managed.d/20-daemon.json", &json!({"hookhost": {"daemon": "off"}}).to_string());
    // The daemon sees the managed change (watched), refuses the next event and exits; the event
    // is answered in-process.
    wait_until("the daemon to refuse", Duration::from_secs(20), || {
        let (out, execs) = thin_traced(&env, &[], &ev);
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
        execs.len() >= 2
    });
    wait_until("the daemon to exit", Duration::from_secs(20), || !alive(pid));
    // Off: no daemon is started again.
    for _ in 0..3 {
        let (out, execs) = thin_traced(&env, &[], &ev);
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(execs.len(), 2, "thin client and the full binary only: {execs:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(daemons_for(&socket).is_empty());
    assert!(listener_pid(&socket).is_none());
}

#[test]
fn required_waits_for_the_daemon_it_starts_and_fails_closed_when_none_can_run() {
    let env = Env::new();
    policy(&env);
    env.write("managed.d/20-daemon.json", &json!({"hookhost": {"daemon": "required"}}).to_string());
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    let ev = bash_event("rm -rf x");
    let out = thin(&env, &[], &ev);
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    assert!(listener_pid(&socket).is_some(), "the daemon that answered is running");
    // Direct `hookhost dispatch` under "required" asks the daemon too.
    let mut c = env.bare_command(&["dispatch"]);
    c.env("XDG_RUNTIME_DIR", runtime_dir(&env));
    assert_eq!(run(c, &ev).json()["hookSpecificOutput"]["permissionDecision"], "deny");
    // A runtime directory others can write: no daemon can run there, the event fails closed.
    let env2 = Env::new();
    policy(&env2);
    env2.write("managed.d/20-daemon.json", &json!({"hookhost": {"daemon": "required"}}).to_string());
    let run_dir = runtime_dir(&env2);
    std::fs::create_dir_all(run_dir.join("hookhost")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(run_dir.join("hookhost"), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let socket2 = auto_socket(&env2);
    let _reap2 = Reap(socket2.clone());
    let out = thin(&env2, &[], &bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("required") && out.stderr.contains("failing closed"), "{}", out.stderr);
    assert!(out.stderr.contains(socket2.to_str().unwrap()), "names the socket: {}", out.stderr);
    assert!(listener_pid(&socket2).is_none());
}

#[test]
fn a_stale_socket_and_a_listener_posing_as_the_daemon_are_replaced_and_get_no_event() {
    let env = Env::new();
    policy(&env);
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    let ev = bash_event("rm -rf /");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A stale socket file: bound, then its listener gone.
    drop(UnixListener::bind(&socket).unwrap());
    let out = thin(&env, &[], &ev);
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny");
    wait_until("the automatic daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    let pid = listener_pid(&socket).unwrap();
    assert!(daemons_for(&socket).contains(&pid));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("the daemon gone", Duration::from_secs(10), || !alive(pid));
    // A program of this user posing as the daemon (it answers "allow", with the right identity):
    // its answer is never printed and it never receives the event.
    let _ = std::fs::remove_file(&socket);
    let fake = UnixListener::bind(&socket).unwrap();
    let expect = hookhost_dispatch::Identity {
        version: hookhost_dispatch::VERSION.into(),
        managed_dir: env.managed_dir(),
        user_file: Some(env.path().join("xdg/hookhost/settings.json")),
        state_dir: Some(env.state_home().join("hookhost")),
    };
    let server = std::thread::spawn(move || {
        let mut got = 0usize;
        fake.set_nonblocking(false).unwrap();
        if let Ok((mut s, _)) = fake.accept() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let allow = json!({"type": "outcome", "exit_code": 0, "stdout": "{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"allow\"}}", "stderr": "", "identity": expect}).to_string();
            let mut frame = (allow.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(allow.as_bytes());
            let _ = s.write_all(&frame);
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
        got
    });
    let out = thin(&env, &[], &ev);
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    assert_eq!(server.join().unwrap(), 0, "the impostor received no byte of the event");
    // The real daemon took the socket over.
    wait_until("the automatic daemon", Duration::from_secs(20), || {
        listener_pid(&socket).is_some_and(|p| daemons_for(&socket).contains(&p))
    });
}

#[test]
fn a_genuine_daemon_started_with_other_settings_locations_is_refused_and_runs_nothing() {
    let env = Env::new();
    policy(&env);
    let socket = auto_socket(&env);
    let _reap = Reap(socket.clone());
    // The agent starts the real binary as "the" daemon, with a managed directory of its own
    // making (no rules; a hook that leaves a marker), holding the automatic lock.
    let evil = env.path().join("evil-managed");
    let marker = env.path().join("evil-ran");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(
        evil.join("managed-settings.json"),
        hook_settings(
            "PreToolUse",
            "*",
            json!([{"type": "command", "command": format!("touch {}", marker.display())}]),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let mut c = env.bare_command(&["serve", "--auto", "--socket", socket.to_str().unwrap()]);
    c.env("HOOKHOST_MANAGED_DIR", &evil).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut evil_daemon = c.spawn().unwrap();
    wait_until("the agent's daemon", Duration::from_secs(20), || listener_pid(&socket).is_some());
    let ev = bash_event("rm -rf /");
    for _ in 0..3 {
        let out = thin(&env, &[], &ev);
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    }
    // With an explicit socket too: refused (the event fails open here, so in-process, noted).
    let out = thin(&env, &[("HOOKHOST_SOCKET", socket.to_str().unwrap())], &ev);
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{out:?}");
    assert!(out.stdout.contains("unsuitable") || out.stdout.contains("not usable"), "{}", out.stdout);
    // And the full binary as a client of it.
    let mut c = env.bare_command(&["dispatch"]);
    c.env("HOOKHOST_SOCKET", &socket);
    assert_eq!(run(c, &ev).json()["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(!marker.exists(), "the agent's daemon ran no hook for these events");
    let _ = evil_daemon.kill();
    let _ = evil_daemon.wait();
}

#[test]
fn daemons_of_other_settings_locations_or_another_build_get_no_event() {
    // The agent starts the genuine binary with each settings location changed, and a copy of
    // the binary (genuine code, another file): every one listens where the thin client looks
    // (HOOKHOST_SOCKET), none is answered from, none runs a hook.
    let env = Env::new();
    policy(&env);
    let marker = env.path().join("impostor-ran");
    let evil_managed = env.path().join("evil-managed");
    std::fs::create_dir_all(&evil_managed).unwrap();
    let touch = hook_settings(
        "PreToolUse",
        "*",
        json!([{"type": "command", "command": format!("touch {}", marker.display())}]),
    );
    std::fs::write(evil_managed.join("managed-settings.json"), &touch).unwrap();
    let evil_xdg = env.path().join("evil-xdg");
    std::fs::create_dir_all(evil_xdg.join("hookhost")).unwrap();
    std::fs::write(evil_xdg.join("hookhost/settings.json"), &touch).unwrap();
    let copy = env.path().join("hookhost-copy");
    std::fs::copy(super::support::bin(), &copy).unwrap();
    type Variant<'a> = (&'a str, Vec<(&'a str, PathBuf)>, Option<&'a Path>);
    let variants: Vec<Variant> = vec![
        ("managed dir", vec![("HOOKHOST_MANAGED_DIR", evil_managed.clone())], None),
        ("user settings (XDG_CONFIG_HOME)", vec![("XDG_CONFIG_HOME", evil_xdg.clone())], None),
        ("state dir (XDG_STATE_HOME)", vec![("XDG_STATE_HOME", env.path().join("evil-state"))], None),
        ("copied binary", vec![], Some(copy.as_path())),
    ];
    let ev = bash_event("rm -rf /");
    for (what, vars, binary) in variants {
        let socket = env.path().join(format!("{}.sock", what.len()));
        let mut c = env.bare_command(&["serve", "--socket", socket.to_str().unwrap()]);
        if let Some(b) = binary {
            let args: Vec<_> = c.get_args().map(|a| a.to_os_string()).collect();
            let envs: Vec<_> = c.get_envs().map(|(k, v)| (k.to_os_string(), v.map(|v| v.to_os_string()))).collect();
            c = Command::new(b);
            c.env_clear().args(args);
            for (k, v) in envs {
                if let Some(v) = v {
                    c.env(k, v);
                }
            }
        }
        for (k, v) in &vars {
            c.env(k, v);
        }
        let mut d = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_until(what, Duration::from_secs(20), || listener_pid(&socket).is_some());
        let out = thin(&env, &[("HOOKHOST_SOCKET", socket.to_str().unwrap())], &ev);
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{what}: {out:?}");
        assert!(out.stdout.contains("evaluated in-process"), "{what}: the daemon did not answer: {out:?}");
        let mut full = env.bare_command(&["dispatch"]);
        full.env("HOOKHOST_SOCKET", &socket);
        let out = run(full, &ev);
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{what} (full client): {out:?}");
        assert!(out.stdout.contains("evaluated in-process"), "{what} (full client): {out:?}");
        assert!(!marker.exists(), "{what}: the impostor ran a hook");
        let _ = d.kill();
        let _ = d.wait();
    }
}
