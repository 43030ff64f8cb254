//! Front-end parity: the same event under the same files gets a byte-identical `Response`
//! (stdout, stderr, exit code) from every front end, because every one of them is a thin shell
//! over `hookhost::Host`:
//!
//! - `oneshot`: `hookhost dispatch` (one process per event);
//! - `thin`: `hookhost dispatch` as the thin client of a real `hookhost serve` on a socket;
//! - `library`: `Host::dispatch` of a host built with the builder (no `watch`), in a process of
//!   its own with the same environment as the binary's;
//! - `library_watch`: the same with `watch(true)` (live revisions, as the daemon keeps them).
//!
//! Matrix: every scenario folder that runs `dispatch` (`tests/fixtures/scenarios/*`) under its
//! own settings, and every Claude Code fixture (`tests/fixtures/claude-code-2.1.328/*`) under
//! each host state: a plain managed policy; `failClosed` with a broken user file; a broken
//! managed file (no last known good); remote approval pending with `requireApproval` +
//! `failClosed` (the daemon's old `unapproved = false` bug); a blocked ConfigChange; rollback
//! armed; an audit log that cannot record. Each front end runs on a fresh copy of the machine
//! (its temporary directory is replaced by `<ENV>` before comparing).
//!
//! One documented difference, asserted as such: a managed file that breaks while a long-running
//! host (the daemon, a `watch` library host) holds its last good version keeps that version in
//! force there (in memory only), while a one-shot load of the same files fails closed
//! (`a_managed_file_broken_under_a_live_host_is_the_one_documented_difference`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::daemon::Daemon;
use super::support::{Env, fixture, fixture_names, run};

/// The environment variable that makes `library_entry` a library front end.
const ENTRY_ENV: &str = "HOOKHOST_TEST_FRONTENDS";
const ENTRY_TEST: &str = "frontends::library_entry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    OneShot,
    Thin,
    Library,
    LibraryWatch,
}

const FRONTS: [Front; 4] = [Front::OneShot, Front::Thin, Front::Library, Front::LibraryWatch];

/// One answer, with the machine's temporary directory replaced by `<ENV>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    code: i32,
    stdout: String,
    stderr: String,
}

fn normalize(env: &Env, code: i32, stdout: &str, stderr: &str) -> Answer {
    let p = env.path().to_string_lossy().into_owned();
    Answer { code, stdout: stdout.replace(&p, "<ENV>"), stderr: stderr.replace(&p, "<ENV>") }
}

/// How a case sets up its machine: writes settings, runs what must have happened before, and
/// returns the events to decide. `trust`: the project's hooks are trusted first.
type Setup<'a> = &'a (dyn Fn(&Env) -> Vec<Vec<u8>> + Sync);

/// The environment every front end runs with (what `Env::bare_command` gives the binary).
fn machine_env(env: &Env) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())),
        ("HOOKHOST_MANAGED_DIR".into(), env.managed_dir().to_string_lossy().into_owned()),
        ("XDG_CONFIG_HOME".into(), env.path().join("xdg").to_string_lossy().into_owned()),
        ("XDG_STATE_HOME".into(), env.state_home().to_string_lossy().into_owned()),
        ("HOME".into(), env.path().to_string_lossy().into_owned()),
    ]
}

/// Runs `setup`'s events through `front` on a fresh machine.
fn answers(front: Front, setup: Setup<'_>, trust: bool) -> Vec<Answer> {
    let env = Env::new();
    env.trust_project.set(trust);
    let events = setup(&env);
    if trust && (env.scope_path("project").exists() || env.scope_path("local").exists()) {
        let out = env.trust();
        assert_eq!(out.code, 0, "hookhost trust: {out:?}");
    }
    match front {
        Front::OneShot => events
            .iter()
            .map(|e| {
                let o = run(env.bare_command(&["dispatch"]), e);
                normalize(&env, o.code, &o.stdout, &o.stderr)
            })
            .collect(),
        Front::Thin => {
            let socket = env.path().join("d.sock");
            let _daemon = Daemon::start_with(&env, &socket, &[], &[]);
            events
                .iter()
                .map(|e| {
                    let mut c = env.bare_command(&["dispatch"]);
                    c.env("HOOKHOST_SOCKET", &socket);
                    let o = run(c, e);
                    normalize(&env, o.code, &o.stdout, &o.stderr)
                })
                .collect()
        }
        Front::Library | Front::LibraryWatch => library(&env, &events, front == Front::LibraryWatch),
    }
}

/// Decides `events` with `Host::dispatch` in a process of its own (this test binary, running
/// `library_entry`) with the machine's environment.
fn library(env: &Env, events: &[Vec<u8>], watch: bool) -> Vec<Answer> {
    let cmd = json!({
        "project": env.project(),
        "settings": env.cli_file().exists().then(|| env.cli_file()),
        "managed": env.managed_dir(),
        "user": env.path().join("xdg/hookhost/settings.json"),
        "state": env.state_home().join("hookhost"),
        "watch": watch,
        "events": events.iter().map(|e| String::from_utf8_lossy(e).into_owned()).collect::<Vec<_>>(),
    });
    let input = env.path().join("library-job.json");
    std::fs::write(&input, cmd.to_string()).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", ENTRY_TEST, "--nocapture", "--test-threads", "1", "-q"])
        .env_clear()
        .envs(machine_env(env))
        .env(ENTRY_ENV, &input)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("FRONTENDS ").map(|at| &l[at + "FRONTENDS ".len()..]))
        .unwrap_or_else(|| panic!("library front end: no answer: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let v: Vec<Value> = serde_json::from_str(line).unwrap();
    v.iter()
        .map(|a| {
            normalize(
                env,
                a["code"].as_i64().unwrap() as i32,
                a["stdout"].as_str().unwrap(),
                a["stderr"].as_str().unwrap(),
            )
        })
        .collect()
}

/// Not a test on its own: with `HOOKHOST_TEST_FRONTENDS` naming a job file, this process is the
/// library front end: it builds a `Host` as an embedder would and prints one `FRONTENDS <json>`
/// line with every answer.
#[test]
fn library_entry() {
    let Some(job) = std::env::var_os(ENTRY_ENV) else { return };
    let cmd: Value = serde_json::from_slice(&std::fs::read(job).unwrap()).unwrap();
    let watch = cmd["watch"].as_bool().unwrap();
    let path = |k: &str| PathBuf::from(cmd[k].as_str().unwrap());
    let mut b = hookhost::Host::builder()
        .project_dir(path("project"))
        .managed_dir(path("managed"))
        .user_settings(Some(path("user")))
        .state_dir(Some(path("state")))
        .watch(watch)
        // As `hookhost dispatch` (fetch when there is no cache) and `hookhost serve` (fetch at
        // start, then poll) obtain server-managed settings.
        .remote(if watch { hookhost::RemoteMode::Poll } else { hookhost::RemoteMode::Startup });
    if let Some(s) = cmd["settings"].as_str() {
        b = b.settings_file(s);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let answers: Vec<Value> = rt.block_on(async {
        let host = b.build().unwrap();
        let mut out = Vec::new();
        for e in cmd["events"].as_array().unwrap() {
            let r = host.dispatch(e.as_str().unwrap().as_bytes()).await;
            out.push(json!({"code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr}));
        }
        host.shutdown().await;
        out
    });
    println!("FRONTENDS {}", Value::from(answers));
}

/// Runs `setup` through every front end and returns the differences from one-shot dispatch.
fn differences(name: &str, setup: Setup<'_>, trust: bool) -> Vec<String> {
    compare(name, setup, trust).0
}

/// [`differences`], and one-shot dispatch's answers.
fn compare(name: &str, setup: Setup<'_>, trust: bool) -> (Vec<String>, Vec<Answer>) {
    let all: Vec<(Front, Vec<Answer>)> = FRONTS.iter().map(|f| (*f, answers(*f, setup, trust))).collect();
    let base = &all[0].1;
    let mut diffs = Vec::new();
    for (front, got) in &all[1..] {
        assert_eq!(got.len(), base.len(), "{name}: {front:?} answered {} events of {}", got.len(), base.len());
        for (i, (a, b)) in base.iter().zip(got).enumerate() {
            if a != b {
                diffs.push(format!(
                    "{name} event #{i}: {front:?} differs from one-shot\n  one-shot: {a:?}\n  {front:?}: {b:?}"
                ));
            }
        }
    }
    (diffs, base.clone())
}

fn scenarios_dir() -> PathBuf {
    super::support::repo().join("tests/fixtures/scenarios")
}

/// A scenario folder's settings (see tests/fixtures/scenarios/README.md) on `env`, and its
/// event; `None` for a scenario that does not run `dispatch`.
fn scenario(dir: &Path, env: &Env) -> Option<Vec<u8>> {
    let subst = |t: &str| {
        t.replace("{{SCENARIO}}", &dir.to_string_lossy())
            .replace("{{TMP}}", &env.path().join("t").to_string_lossy())
            .replace("{{PROJECT}}", &env.project().to_string_lossy())
    };
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok().map(|t| subst(&t));
    let expect: Value = serde_json::from_str(&read("expect.json")?).ok()?;
    if expect.get("command").and_then(Value::as_str).unwrap_or("dispatch") != "dispatch" {
        return None;
    }
    std::fs::create_dir_all(env.path().join("t")).unwrap();
    for scope in ["managed", "cli", "local", "project", "user"] {
        if let Some(t) = read(&format!("{scope}.json")) {
            env.write(scope, &t);
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("managed.d")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            env.write(&format!("managed.d/{name}"), &subst(&std::fs::read_to_string(e.path()).unwrap()));
        }
    }
    Some(read("event.json").unwrap_or_default().into_bytes())
}

/// Scenario folders whose hooks answer with something that is not a function of the event and
/// the files (a clock, a process id, a race they set up on purpose), so two runs differ even
/// through the same front end. Each is named with why; none is about a front end.
const NONDETERMINISTIC: &[(&str, &str)] = &[];

#[test]
fn every_scenario_folder_gets_the_same_response_from_every_front_end() {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(scenarios_dir()).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    if let Ok(only) = std::env::var("SCENARIO") {
        dirs.retain(|d| d.file_name().is_some_and(|n| n == only.as_str()));
    }
    let probe = Env::new();
    let dirs: Vec<PathBuf> = dirs
        .into_iter()
        .filter(|d| !NONDETERMINISTIC.iter().any(|(n, _)| d.ends_with(n)))
        .filter(|d| scenario(d, &probe).is_some())
        .collect();
    assert!(dirs.len() >= 80, "the scenario folders that run dispatch: {}", dirs.len());
    // Three at a time: each case starts a daemon and about a dozen processes.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let diffs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(dir) = dirs.get(i) else { return };
                    let trust = std::fs::read_to_string(dir.join("expect.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                        .is_none_or(|e| e.get("trust_project") != Some(&Value::Bool(false)));
                    let setup = |env: &Env| vec![scenario(dir, env).unwrap()];
                    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
                    let d = differences(&name, &setup, trust);
                    diffs.lock().unwrap().extend(d);
                }
            });
        }
    });
    let diffs = diffs.into_inner().unwrap();
    assert!(diffs.is_empty(), "{} difference(s):\n{}", diffs.len(), diffs.join("\n"));
    eprintln!("frontends: {} scenario folders x {} front ends: identical", dirs.len(), FRONTS.len());
}

/// Every fixture event.
fn fixture_events() -> Vec<Vec<u8>> {
    fixture_names().iter().map(|n| fixture(n)).collect()
}

/// The events every fixture's `hook_event_name` names, for `failClosed`.
fn fixture_event_names() -> Vec<String> {
    let mut names: Vec<String> = fixture_events()
        .iter()
        .filter_map(|e| serde_json::from_slice::<Value>(e).ok())
        .filter_map(|v| v["hook_event_name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A managed policy with something to say about most fixtures: a deny rule, a hook that
/// blocks Bash, one that adds context after every tool, one that blocks every ConfigChange.
fn plain_policy(env: &Env) {
    env.write(
        "managed.d/10-policy.json",
        &json!({
            "permissions": {"deny": ["Read(**/.env)"], "allow": ["Bash(ls:*)"]},
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                    "command": "grep -q 'rm -rf' && { echo 'no rm -rf' >&2; exit 2; }; exit 0"}]}],
                "PostToolUse": [{"matcher": "*", "hooks": [{"type": "command",
                    "command": "echo '{\"hookSpecificOutput\":{\"hookEventName\":\"PostToolUse\",\"additionalContext\":\"seen\"}}'"}]}],
                "ConfigChange": [{"hooks": [{"type": "command", "command": "echo 'settings are frozen' >&2; exit 2"}]}],
                "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "echo '{\"systemMessage\":\"prompt seen\"}'"}]}]
            }
        })
        .to_string(),
    );
}

/// What one state's answers must say (checked on one-shot dispatch's answers, which every other
/// front end then equals): the event name of each fixture, its answer; `Err` with what is wrong.
fn all_block(what: &'static str) -> impl Fn(&[(String, Answer)]) -> Result<(), String> {
    move |a: &[(String, Answer)]| match a.iter().find(|(_, x)| x.code != 2 || !x.stderr.contains(what)) {
        Some((e, x)) => Err(format!("{e}: expected a block naming {what:?}, got {x:?}")),
        None => Ok(()),
    }
}

fn check_state(name: &str, answers: &[(String, Answer)]) -> Result<(), String> {
    fn of<'a>(answers: &'a [(String, Answer)], event: &'a str) -> impl Iterator<Item = &'a Answer> {
        answers.iter().filter(move |(e, _)| e == event).map(|(_, a)| a)
    }
    match name {
        "plain-policy" | "blocked-config-change" => {
            for a in of(answers, "ConfigChange") {
                if a.code != 2 || !a.stderr.contains("settings are frozen") {
                    return Err(format!("ConfigChange is blocked by the managed hook: {a:?}"));
                }
            }
            for a in of(answers, "PostToolUse") {
                if !a.stdout.contains("seen") {
                    return Err(format!("PostToolUse gets the managed context: {a:?}"));
                }
            }
            Ok(())
        }
        "failClosed-with-a-broken-user-file" => all_block("invalid settings, failing closed")(answers),
        "broken-managed-file-without-a-last-known-good" => all_block("managed settings are invalid")(answers),
        "rollback-armed" => {
            let edits: Vec<&Answer> =
                of(answers, "PostToolUse").filter(|a| a.stdout.contains("edits are reviewed")).collect();
            if edits.is_empty() { Err("no PostToolUse edit was rejected".into()) } else { Ok(()) }
        }
        "audit-log-that-cannot-record" => {
            for a in of(answers, "PreToolUse") {
                if a.code != 2 || !a.stderr.contains("audit") {
                    return Err(format!("PreToolUse fails closed when it cannot be recorded: {a:?}"));
                }
            }
            Ok(())
        }
        other => Err(format!("no check for state {other}")),
    }
}

/// The host states of the fixture matrix: name and setup (the fixture events are the events).
type StateSetup = Box<dyn Fn(&Env) + Sync>;

fn host_states() -> Vec<(&'static str, StateSetup)> {
    let fail_closed = fixture_event_names();
    let fc = fail_closed.clone();
    vec![
        ("plain-policy", Box::new(plain_policy)),
        (
            "failClosed-with-a-broken-user-file",
            Box::new(move |env: &Env| {
                plain_policy(env);
                env.write("managed.d/20-fail-closed.json", &json!({"failClosed": fc}).to_string());
                env.write("user", "{\n  \"permissions\": [\n");
            }),
        ),
        (
            "broken-managed-file-without-a-last-known-good",
            Box::new(|env: &Env| {
                plain_policy(env);
                env.write("managed.d/30-broken.json", "{\"hooks\": {\"PreToolUse\": 7}}");
            }),
        ),
        (
            "blocked-config-change",
            Box::new(|env: &Env| {
                plain_policy(env);
                env.write("user", &json!({"permissions": {"deny": ["Bash(curl:*)"]}}).to_string());
                // Accepted as first seen, then changed: the managed ConfigChange hook blocks the
                // change, and the verdict is recorded before any front end runs.
                let o = run(env.bare_command(&["dispatch"]), &super::support::bash_event("true"));
                assert_eq!(o.code, 0, "{o:?}");
                env.write("user", &json!({"permissions": {"allow": ["Bash(curl:*)"]}}).to_string());
                let o = run(env.bare_command(&["dispatch"]), &super::support::bash_event("true"));
                assert!(o.stdout.contains("was blocked"), "the change is judged now: {o:?}");
            }),
        ),
        (
            "rollback-armed",
            Box::new(|env: &Env| {
                env.write(
                    "managed.d/10-rollback.json",
                    &json!({
                        "hookhost": {"rollbackRejectedEdits": true, "revertBlockedConfigChanges": true},
                        "hooks": {"PostToolUse": [{"matcher": "Edit|Write|MultiEdit", "hooks": [{"type": "command",
                            "command": "echo '{\"decision\":\"block\",\"reason\":\"edits are reviewed\"}'"}]}],
                            "ConfigChange": [{"hooks": [{"type": "command", "command": "echo frozen >&2; exit 2"}]}]}
                    })
                    .to_string(),
                );
            }),
        ),
        (
            "audit-log-that-cannot-record",
            Box::new(move |env: &Env| {
                plain_policy(env);
                // A log below a regular file: it can never be opened.
                std::fs::write(env.path().join("not-a-dir"), "").unwrap();
                env.write(
                    "managed.d/40-audit.json",
                    &json!({"audit": {"path": env.path().join("not-a-dir/audit.jsonl")}, "failClosed": ["PreToolUse", "ConfigChange"]})
                        .to_string(),
                );
            }),
        ),
    ]
}

#[test]
fn every_fixture_under_every_host_state_gets_the_same_response_from_every_front_end() {
    let events = fixture_events();
    assert!(events.len() >= 19, "the fixtures: {}", events.len());
    let states = host_states();
    let mut diffs = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = states
            .iter()
            .map(|(name, setup)| {
                let events = events.clone();
                s.spawn(move || {
                    let f = |env: &Env| {
                        setup(env);
                        events.clone()
                    };
                    let (mut diffs, base) = compare(name, &f, true);
                    let named: Vec<(String, Answer)> = events
                        .iter()
                        .map(|e| {
                            serde_json::from_slice::<Value>(e).unwrap()["hook_event_name"].as_str().unwrap().to_string()
                        })
                        .zip(base)
                        .collect();
                    if std::env::var_os("FRONTENDS_SHOW").is_some() {
                        eprintln!("{name}: {named:#?}");
                    }
                    if let Err(e) = check_state(name, &named) {
                        diffs.push(format!("{name}: {e}"));
                    }
                    diffs
                })
            })
            .collect();
        for h in handles {
            diffs.extend(h.join().unwrap());
        }
    });
    assert!(diffs.is_empty(), "{} difference(s):\n{}", diffs.len(), diffs.join("\n"));
    eprintln!(
        "frontends: {} fixtures x {} host states x {} front ends: identical",
        events.len(),
        states.len(),
        FRONTS.len()
    );
}

/// Server-managed settings whose hooks wait for approval (`requireApproval`) while the server
/// payload's `failClosed` lists PreToolUse: every front end blocks PreToolUse (unapproved server
/// hooks count as failed hooks) and lets the other events through with the approval note. The
/// daemon used to pass `unapproved = false` and let PreToolUse through.
#[test]
fn remote_approval_pending_with_fail_closed_blocks_identically_through_every_front_end() {
    use super::remote::{Server, endpoint, ok, server_payload};
    let server = Server::start(super::remote::Reply::default());
    let url = server.url();
    let setup = |env: &Env| {
        server.set(ok(&server_payload(env, "server", json!({"failClosed": ["PreToolUse"]}))));
        endpoint(env, json!({"url": url, "timeoutSeconds": 1, "retries": 0, "requireApproval": true}));
        // The payload is fetched and cached before any front end runs.
        let o = run(env.bare_command(&["remote", "refresh"]), b"");
        assert_eq!(o.code, 0, "{o:?}");
        fixture_events()
    };
    let diffs = differences("remote-approval-pending", &setup, true);
    assert!(diffs.is_empty(), "{} difference(s):\n{}", diffs.len(), diffs.join("\n"));
    // And what they agree on is the block.
    let env = Env::new();
    let events = setup(&env);
    let pre = events.iter().find(|e| String::from_utf8_lossy(e).contains("\"PreToolUse\"")).unwrap();
    for front in FRONTS {
        let a = answers(
            front,
            &|env: &Env| {
                setup(env);
                vec![pre.clone()]
            },
            true,
        );
        assert_eq!(a[0].code, 2, "{front:?}: unapproved server hooks under failClosed block: {:?}", a[0]);
        assert!(a[0].stderr.contains("not approved"), "{front:?}: {:?}", a[0]);
    }
}

/// The one documented difference: a managed file that breaks while a long-running host holds
/// its last good version keeps that version in force there (in memory only: nothing the agent
/// can write restores a managed file), while a one-shot load fails closed. A `watch` library
/// host behaves like the daemon, a library host without `watch` like one-shot dispatch.
#[test]
fn a_managed_file_broken_under_a_live_host_is_the_one_documented_difference() {
    let env = Env::new();
    plain_policy(&env);
    let socket = env.path().join("d.sock");
    let daemon = Daemon::start_with(&env, &socket, &[], &[("RUST_LOG", "info")]);
    let rm = super::support::bash_event("rm -rf /");
    let thin = |c: &Env| {
        let mut cmd = c.bare_command(&["dispatch"]);
        cmd.env("HOOKHOST_SOCKET", &socket);
        run(cmd, &rm)
    };
    let before = thin(&env);
    assert!(before.stdout.contains("no rm -rf"), "the managed hook denies: {before:?}");
    // Break the managed file under the running daemon, and wait until it noticed.
    env.write("managed.d/10-policy.json", "{\"hooks\": ");
    let start = std::time::Instant::now();
    while !daemon.log_text().contains("invalid") {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{}", daemon.log_text());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let live = thin(&env);
    assert_eq!(live.code, 0, "{live:?}");
    assert!(live.stdout.contains("no rm -rf"), "the daemon keeps the last good managed version: {live:?}");
    let oneshot = run(env.bare_command(&["dispatch"]), &rm);
    assert_eq!(oneshot.code, 2, "{oneshot:?}");
    assert!(oneshot.stderr.contains("managed settings are invalid"), "one-shot fails closed: {oneshot:?}");
    let lib = library(&env, std::slice::from_ref(&rm), false);
    assert_eq!(
        (lib[0].code, lib[0].stdout.clone(), lib[0].stderr.clone()),
        (
            oneshot.code,
            oneshot.stdout.replace(&*env.path().to_string_lossy(), "<ENV>"),
            oneshot.stderr.replace(&*env.path().to_string_lossy(), "<ENV>")
        ),
        "a library host without watch answers like one-shot dispatch"
    );
}
