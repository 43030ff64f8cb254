//! Every file hookhost decides by is a bounded regular file (issue 19.4): settings of every
//! scope, pinned scripts, WebAssembly components and the state records, each replaced by a
//! symlink to `/dev/stdout`, a FIFO, a directory, a symlink to `/dev/zero` or a 2 GB sparse file
//! (and, below a project, by a symlink to a valid settings file): the real `dispatch` never
//! hangs (a watchdog kills it and fails the test), and answers with an error naming the path,
//! under the event's failure policy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{Env, Output, bash_event, hook_settings};

/// Far longer than any answer takes; a dispatch still running then hangs.
const WATCHDOG: Duration = Duration::from_secs(40);

/// Runs `c` with `stdin`; kills it and fails the test if it does not exit within [`WATCHDOG`].
fn run_bounded(mut c: Command, stdin: &[u8], what: &str) -> Output {
    use std::io::{Read, Write};
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: dispatch hung (killed after {WATCHDOG:?})");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { code: status.code().unwrap_or(-1), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostile {
    StdoutLink,
    Fifo,
    Directory,
    ZeroLink,
    Sparse2G,
    LinkToRegular,
}

const ALL: [Hostile; 6] = [
    Hostile::StdoutLink,
    Hostile::Fifo,
    Hostile::Directory,
    Hostile::ZeroLink,
    Hostile::Sparse2G,
    Hostile::LinkToRegular,
];

/// Puts `kind` at `path`; `regular` is the target of `LinkToRegular`.
fn plant(path: &Path, kind: Hostile, regular: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_dir_all(path);
    match kind {
        Hostile::StdoutLink => std::os::unix::fs::symlink("/dev/stdout", path).unwrap(),
        Hostile::Fifo => nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap(),
        Hostile::Directory => std::fs::create_dir(path).unwrap(),
        Hostile::ZeroLink => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Hostile::Sparse2G => std::fs::File::create(path).unwrap().set_len(2 << 30).unwrap(),
        Hostile::LinkToRegular => std::os::unix::fs::symlink(regular, path).unwrap(),
    }
}

fn decision(out: &Output) -> Option<String> {
    if out.stdout.trim().is_empty() {
        return None;
    }
    out.json()["hookSpecificOutput"]["permissionDecision"].as_str().map(str::to_string)
}

/// A machine whose only policy is what the test puts there (the project is not trusted
/// automatically: `hookhost trust` would read the hostile files too).
fn env() -> Env {
    let env = Env::new();
    env.trust_project.set(false);
    env
}

#[test]
fn hostile_settings_files_of_every_scope_never_hang_and_are_located_errors() {
    let scopes = ["managed", "managed.d/50-x.json", "cli", "local", "project", "user"];
    let mut cases = 0;
    for scope in scopes {
        for kind in ALL {
            for closed in [false, true] {
                let env = env();
                if closed {
                    env.write("managed.d/00-closed.json", r#"{"failClosed": ["PreToolUse"]}"#);
                }
                // The target of a link: valid settings that deny `rm`.
                let regular = env.path().join("elsewhere.json");
                std::fs::write(&regular, json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string()).unwrap();
                let path = env.scope_path(scope);
                plant(&path, kind, &regular);
                let what = format!("{scope} settings as {kind:?}{}", if closed { ", failClosed" } else { "" });
                let out = run_bounded(env.bare_command(&["dispatch"]), &bash_event("rm -rf x"), &what);
                let all = format!("{}{}", out.stdout, out.stderr);
                let managed = scope.starts_with("managed");
                let beneath_project = scope == "project" || scope == "local";
                if kind == Hostile::LinkToRegular && !beneath_project {
                    // Managed, command-line and user files may be links: the target applies.
                    assert_eq!(out.code, 0, "{what}: {out:?}");
                    assert_eq!(decision(&out).as_deref(), Some("deny"), "{what}: {out:?}");
                } else if managed || closed {
                    assert_eq!(out.code, 2, "{what}: fails closed: {out:?}");
                    assert!(out.stderr.contains(&path.display().to_string()), "{what}: the path is named: {out:?}");
                } else {
                    assert_eq!(out.code, 0, "{what}: {out:?}");
                    assert_eq!(decision(&out), None, "{what}: nothing of the file applies: {out:?}");
                    let v = out.json();
                    let msg = v["systemMessage"].as_str().unwrap_or_default();
                    assert!(msg.contains(&path.display().to_string()), "{what}: the path is named: {v}");
                }
                if beneath_project && kind == Hostile::LinkToRegular {
                    assert!(all.contains("symbolic link"), "{what}: says why: {all}");
                }
                if kind == Hostile::Sparse2G && !(kind == Hostile::LinkToRegular) {
                    assert!(all.contains("larger than the limit"), "{what}: names the limit: {all}");
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 6 * 6 * 2);
}

/// `.hookhost` itself as a link (to a directory with valid settings) is refused like a linked
/// file: a repository cannot point its settings anywhere.
#[test]
fn a_linked_hookhost_directory_in_a_project_is_refused() {
    let env = env();
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("settings.json"), json!({"permissions": {"allow": ["Bash(rm:*)"]}}).to_string())
        .unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.project().join(".hookhost")).unwrap();
    let out = run_bounded(env.bare_command(&["dispatch"]), &bash_event("rm -rf x"), "linked .hookhost");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(decision(&out), None, "{out:?}");
    let msg = out.json()["systemMessage"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("symbolic link") && msg.contains(".hookhost"), "{msg}");
}

#[test]
fn hostile_pinned_scripts_and_components_never_hang_and_fail_per_policy() {
    for kind in ALL.into_iter().filter(|k| *k != Hostile::LinkToRegular) {
        for handler in ["command", "wasm"] {
            let env = env();
            env.write("managed.d/00-closed.json", r#"{"failClosed": ["PreToolUse"]}"#);
            let target = env.path().join(if handler == "wasm" { "hook.wasm" } else { "hook.sh" });
            plant(&target, kind, Path::new("/"));
            let hook = if handler == "wasm" {
                json!({"type": "wasm", "component": target, "sha256": "0".repeat(64), "timeout": 10})
            } else {
                json!({"type": "command", "command": target, "sha256": "0".repeat(64), "timeout": 10})
            };
            env.write("managed.d/10-hook.json", &hook_settings("PreToolUse", "Bash", json!([hook])));
            let what = format!("{handler} target as {kind:?}");
            let out = run_bounded(env.bare_command(&["dispatch"]), &bash_event("ls"), &what);
            assert_eq!(out.code, 0, "{what}: {out:?}");
            let v = out.json();
            assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{what}: fails closed: {v}");
            let reason = v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap_or_default();
            assert!(
                reason.contains(&target.display().to_string()) || reason.contains("the command line"),
                "{what}: names what it could not use: {reason}"
            );
        }
    }
}

/// The canonical record file of a settings file (`live::lkg`).
fn record_of(env: &Env, settings: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(settings.parent().unwrap()).unwrap().join(settings.file_name().unwrap());
    let key = hookhost::trust::sha256_hex(canonical.as_os_str().as_encoded_bytes());
    env.state_home().join("hookhost/settings/files").join(format!("{key}.json"))
}

/// State files replaced by hostile things: the records, the managed-seen list, the store's lock
/// and the trust store. `dispatch` still answers, from the files, with the managed policy in
/// force (a lock that cannot be taken: every event fails closed); nothing is waited on.
#[test]
fn hostile_state_files_never_hang_and_never_drop_the_managed_policy() {
    for kind in ALL.into_iter().filter(|k| *k != Hostile::LinkToRegular) {
        for state in ["record", "managed-seen", "lock", "trust"] {
            let env = env();
            env.write("managed", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
            let project = env.write("project", &json!({"permissions": {"deny": ["Bash(curl:*)"]}}).to_string());
            let what = format!("{state} as {kind:?}");
            // A first dispatch creates the state.
            let out = run_bounded(env.bare_command(&["dispatch"]), &bash_event("rm -rf x"), &what);
            assert_eq!(decision(&out).as_deref(), Some("deny"), "{what}: {out:?}");
            let path = match state {
                "record" => record_of(&env, &project),
                "managed-seen" => env.state_home().join("hookhost/settings/managed-seen.json"),
                "lock" => env.state_home().join("hookhost/settings/.lock"),
                _ => env.state_home().join("hookhost/trusted-projects.json"),
            };
            plant(&path, kind, Path::new("/"));
            // A change to gate, so the slow path (lock, records) runs too.
            std::fs::write(&project, json!({"permissions": {"deny": ["Bash(wget:*)"]}}).to_string()).unwrap();
            for cmd in ["rm -rf x", "wget x"] {
                let out = run_bounded(env.bare_command(&["dispatch"]), &bash_event(cmd), &what);
                if state == "lock" && out.code == 2 {
                    // A lock that cannot be taken (not a regular file one can lock): the gate
                    // never runs unlocked (issue 18 item 5), the event fails closed, naming why.
                    assert!(out.stderr.contains("cannot lock the last known good settings records"), "{what}: {out:?}");
                    continue;
                }
                assert_eq!(out.code, 0, "{what}: {out:?}");
                assert_eq!(decision(&out).as_deref(), Some("deny"), "{what}: {cmd}: {out:?}");
            }
        }
    }
}

/// The last-accepted snapshot a blocked settings change is written back from, replaced by each
/// hostile kind: the blocked ConfigChange is still answered (blocked), the revert is reported as
/// impossible, nothing is waited on.
#[test]
fn a_hostile_settings_snapshot_never_hangs_a_blocked_config_change() {
    for kind in ALL.into_iter().filter(|k| *k != Hostile::LinkToRegular) {
        let env = env();
        let guard = env.path().join("guard.sh");
        std::fs::write(&guard, "#!/bin/sh\ncat >/dev/null\necho 'no changes' >&2\nexit 2\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&guard, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut managed: serde_json::Value =
            serde_json::from_str(&hook_settings("ConfigChange", "", json!([{"type": "command", "command": guard}])))
                .unwrap();
        managed["hookhost"] = json!({"revertBlockedConfigChanges": true});
        env.write("managed", &managed.to_string());
        let local = env.project().join(".claude/settings.local.json");
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::fs::write(&local, "{}").unwrap();
        let session = String::from_utf8(super::support::fixture("SessionStart.json"))
            .unwrap()
            .replace("/home/dev/project", &env.project().to_string_lossy());
        assert_eq!(run_bounded(env.bare_command(&["dispatch"]), session.as_bytes(), "session").code, 0);
        let key = &hookhost::trust::sha256_hex(local.as_os_str().as_encoded_bytes())[..32];
        let snapshot = env.state_home().join(format!("hookhost/rollback/settings/{key}.json"));
        assert!(snapshot.exists(), "{}", snapshot.display());
        plant(&snapshot, kind, Path::new("/"));
        std::fs::write(&local, "{\"changed\": true}").unwrap();
        let change = String::from_utf8(super::support::fixture("ConfigChange-local_settings.json"))
            .unwrap()
            .replace("/home/dev/project", &env.project().to_string_lossy())
            .replace("/home/dev", &env.path().to_string_lossy());
        let what = format!("snapshot as {kind:?}");
        let out = run_bounded(env.bare_command(&["dispatch"]), change.as_bytes(), &what);
        assert_eq!(out.code, 2, "{what}: still blocked: {out:?}");
        assert!(out.stderr.contains("could not revert"), "{what}: {}", out.stderr);
    }
}
