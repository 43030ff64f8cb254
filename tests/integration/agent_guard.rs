//! The daemon's config guard for agents without a ConfigChange event (issue 21, item 4): a real
//! `hookhost serve`, agents registered with the real `hookhost install`, real config files
//! edited, renamed over, deleted, created, swapped for symbolic links and hammered, and a real
//! managed ConfigChange hook that blocks. Every check is of an effect: the bytes on disk, the
//! file a link pointed to left untouched, the audit records.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::daemon::Daemon;
use super::support::{Env, Output, hook_settings, run};

/// The managed ConfigChange hook, a policy an admin would write: blocks a deletion, a
/// replacement, an empty file, a candidate containing `EVIL`, and any candidate of a hooks file that no longer
/// registers hookhost (Codex's `config.toml` need not); lets everything else through.
fn guard_env() -> Env {
    let env = Env::new();
    let cmd = r#"input=$(cat); block() { echo 'refused: agent config change' >&2; exit 2; }
case "$input" in *EVIL*|*'"change":"deleted"'*|*'"change":"replaced"'*|*'"new_content":""'*) block;; esac
case "$input" in *'config.toml"'*|*'dispatch --agent'*) exit 0;; esac
block"#;
    env.write("managed", &hook_settings("ConfigChange", "*", json!([{"type": "command", "command": cmd}])));
    env
}

fn etc(env: &Env) -> PathBuf {
    env.path().join("etc")
}

fn install(env: &Env, agent: &str, scope: &str) {
    let mut c = env.command(&["install", "--agent", agent, "--scope", scope, "--hookhost", "/usr/local/bin/hookhost"]);
    c.env("HOOKHOST_INSTALL_ETC", etc(env));
    let out: Output = run(c, b"");
    assert_eq!(out.code, 0, "install {agent} {scope}: {out:?}");
}

fn start(env: &Env) -> Daemon {
    let etc = etc(env);
    Daemon::start_with(
        env,
        &env.path().join("d.sock"),
        &[],
        &[("RUST_LOG", "info"), ("HOOKHOST_INSTALL_ETC", etc.to_str().unwrap())],
    )
}

fn guard_records(env: &Env, path: &Path) -> Vec<Value> {
    let p = env.state_home().join("hookhost/audit.jsonl");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "agent_config_guard" && r["file_path"] == path.to_str().unwrap())
        .collect()
}

fn wait(env: &Env, what: &str, d: &Daemon, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(15) {
            let audit = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap_or_default();
            let tail: Vec<&str> = audit.lines().rev().take(6).collect();
            panic!("timed out waiting for {what}; log:\n{}\naudit tail:\n{}", d.log_text(), tail.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `path` holds exactly `want` (`None`: absent) as a regular file.
fn wait_bytes(env: &Env, d: &Daemon, path: &Path, want: Option<&[u8]>, what: &str) {
    wait(env, what, d, || {
        let meta = std::fs::symlink_metadata(path);
        match want {
            None => meta.is_err(),
            Some(w) => meta.is_ok_and(|m| m.file_type().is_file()) && std::fs::read(path).is_ok_and(|b| b == w),
        }
    });
}

/// Every user- and project-scope file the guard covers once hookhost is installed everywhere.
fn agent_files(env: &Env) -> Vec<(&'static str, PathBuf)> {
    let h = env.path();
    let p = env.project();
    vec![
        ("codex", h.join(".codex/hooks.json")),
        ("codex", h.join(".codex/config.toml")),
        ("gemini", h.join(".gemini/settings.json")),
        ("copilot", h.join(".copilot/settings.json")),
        ("qwen", h.join(".qwen/settings.json")),
        ("cursor", h.join(".cursor/hooks.json")),
        ("gemini", p.join(".gemini/settings.json")),
        ("codex", p.join(".codex/hooks.json")),
        ("copilot", p.join(".github/hooks/hookhost.json")),
        ("qwen", p.join(".qwen/settings.json")),
        ("cursor", p.join(".cursor/hooks.json")),
    ]
}

fn install_everywhere(env: &Env) {
    for agent in ["codex", "gemini", "copilot", "qwen", "cursor"] {
        install(env, agent, "user");
        install(env, agent, "project");
    }
    std::fs::write(env.path().join(".codex/config.toml"), "# my codex\nmodel = \"o4\"\n").unwrap();
    std::fs::set_permissions(env.path().join(".qwen/settings.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_blocked_change_to_each_agents_config_is_written_back_byte_for_byte_and_audited() {
    let env = guard_env();
    install_everywhere(&env);
    let files = agent_files(&env);
    let originals: Vec<Vec<u8>> = files.iter().map(|(_, p)| std::fs::read(p).unwrap()).collect();
    let d = start(&env);
    for ((agent, path), original) in files.iter().zip(&originals) {
        // The agent turns hookhost off in its own config.
        let evil = if path.extension().is_some_and(|x| x == "toml") {
            "[features]\ncodex_hooks = false # EVIL\n".to_string()
        } else {
            json!({"hooks": {}, "hooksConfig": {"enabled": false}, "note": "EVIL"}).to_string()
        };
        std::fs::write(path, &evil).unwrap();
        wait_bytes(&env, &d, path, Some(original), &format!("{agent}: {} written back", path.display()));
        wait(&env, &format!("{agent}: audit record"), &d, || {
            guard_records(&env, path).iter().any(|r| r["decision"] == "blocked" && r["reverted"] == true)
        });
        let r = guard_records(&env, path).into_iter().find(|r| r["decision"] == "blocked").unwrap();
        assert_eq!(r["agent"]["name"], *agent, "{r}");
        assert_eq!(r["change"], "modified", "{r}");
        assert_eq!(r["action"], "reverted", "{r}");
        let scope = if path.starts_with(env.project()) { "project_settings" } else { "user_settings" };
        assert_eq!(r["source"], scope, "{r}");
        assert!(r["reason"].as_str().unwrap().contains("refused: agent config change"), "{r}");
    }
    // The mode came back with the content.
    let qwen = env.path().join(".qwen/settings.json");
    assert_eq!(std::fs::metadata(&qwen).unwrap().permissions().mode() & 0o777, 0o600);
    // The hooks saw Claude Code's ConfigChange with the agent object.
    let events: Vec<Value> = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "event" && r["event"] == "ConfigChange")
        .collect();
    assert!(events.len() >= files.len(), "{events:?}");
    assert!(events.iter().any(|e| e["agent"]["name"] == "gemini"), "{events:?}");
}

#[test]
fn allowed_changes_stay_and_become_the_accepted_content() {
    let env = guard_env();
    install(&env, "gemini", "user");
    install(&env, "codex", "user");
    let gemini = env.path().join(".gemini/settings.json");
    let d = start(&env);
    // An allowed change stays...
    let mut v: Value = serde_json::from_slice(&std::fs::read(&gemini).unwrap()).unwrap();
    v["ui"] = json!({"theme": "dark"});
    let good = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(&gemini, &good).unwrap();
    wait(&env, "the allowed change audited", &d, || {
        guard_records(&env, &gemini).iter().any(|r| r["decision"] == "allowed")
    });
    assert_eq!(std::fs::read(&gemini).unwrap(), good, "an allowed change stays");
    // ...and is what a later blocked change returns to (through an editor's rename-over too).
    let tmp = gemini.with_extension("tmp");
    std::fs::write(&tmp, r#"{"hooksConfig":{"enabled":false},"x":"EVIL"}"#).unwrap();
    std::fs::rename(&tmp, &gemini).unwrap();
    wait_bytes(&env, &d, &gemini, Some(&good), "written back to the newly accepted content");
    // A created file that was absent at start is a change: blocked, it is removed.
    let toml = env.path().join(".codex/config.toml");
    assert!(!toml.exists());
    std::fs::write(&toml, "[hooks]\n# EVIL: none\n").unwrap();
    wait_bytes(&env, &d, &toml, None, "a blocked creation removed");
    // The record follows the removal: wait for it too (it failed once when read at once).
    wait(&env, "the removal audited", &d, || {
        guard_records(&env, &toml).iter().any(|r| r["change"] == "created" && r["action"] == "reverted_removed")
    });
    // An allowed creation stays.
    std::fs::write(&toml, "model = \"o4\"\n").unwrap();
    wait(&env, "the allowed creation audited", &d, || {
        guard_records(&env, &toml).iter().any(|r| r["decision"] == "allowed")
    });
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), "model = \"o4\"\n");
    // A deletion is blocked: the file comes back.
    let hooks = env.path().join(".codex/hooks.json");
    let original = std::fs::read(&hooks).unwrap();
    std::fs::remove_file(&hooks).unwrap();
    wait_bytes(&env, &d, &hooks, Some(&original), "a deleted file restored");
    wait(&env, "the restore audited", &d, || {
        guard_records(&env, &hooks).iter().any(|r| r["change"] == "deleted" && r["reverted"] == true)
    });
}

#[test]
fn links_directory_swaps_and_bursts_do_not_escape_and_the_guard_does_not_loop() {
    let env = guard_env();
    install(&env, "qwen", "user");
    install(&env, "cursor", "user");
    install(&env, "copilot", "user");
    let qwen = env.path().join(".qwen/settings.json");
    let cursor = env.path().join(".cursor/hooks.json");
    let copilot = env.path().join(".copilot/settings.json");
    let (q0, c0, p0) =
        (std::fs::read(&qwen).unwrap(), std::fs::read(&cursor).unwrap(), std::fs::read(&copilot).unwrap());
    let d = start(&env);

    // A symbolic link swapped in (renamed over the file), pointing at a file the agent wrote:
    // the link is removed, the file restored, and what it pointed to is never written.
    let outside = env.path().join("outside.json");
    let evil = br#"{"hooks":{},"x":"EVIL"}"#;
    std::fs::write(&outside, evil).unwrap();
    let link = env.path().join(".qwen/link.tmp");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    std::fs::rename(&link, &qwen).unwrap();
    wait_bytes(&env, &d, &qwen, Some(&q0), "the link replaced by the accepted file");
    assert_eq!(std::fs::read(&outside).unwrap(), evil, "never written through the link");
    // Even a link to a copy of the accepted content is reverted: what it points to can change.
    let same = env.path().join("same.json");
    std::fs::write(&same, &q0).unwrap();
    std::fs::remove_file(&qwen).unwrap();
    std::os::unix::fs::symlink(&same, &qwen).unwrap();
    wait_bytes(&env, &d, &qwen, Some(&q0), "a link with accepted content replaced");
    wait(&env, "the replacement audited", &d, || {
        guard_records(&env, &qwen).iter().any(|r| r["change"] == "replaced" && r["reverted"] == true)
    });

    // The directory renamed away and a new one made with other content.
    std::fs::rename(env.path().join(".cursor"), env.path().join(".cursor-old")).unwrap();
    std::fs::create_dir(env.path().join(".cursor")).unwrap();
    std::fs::write(&cursor, r#"{"version":1,"hooks":{},"x":"EVIL"}"#).unwrap();
    wait_bytes(&env, &d, &cursor, Some(&c0), "restored in the new directory");

    // A burst of writes and renames: the end state is the accepted content, and stays so.
    for i in 0..300 {
        let text = format!(r#"{{"hooks":{{}},"n":{i},"x":"EVIL"}}"#);
        if i % 3 == 0 {
            let tmp = copilot.with_extension(format!("t{i}"));
            std::fs::write(&tmp, &text).unwrap();
            std::fs::rename(&tmp, &copilot).unwrap();
        } else {
            std::fs::write(&copilot, &text).unwrap();
        }
    }
    wait_bytes(&env, &d, &copilot, Some(&p0), "the burst written back");
    // No loop: the guard's own writes are not changes (more than one poll period, no new record).
    let settle = |path: &Path| {
        let mut n = guard_records(&env, path).len();
        loop {
            std::thread::sleep(Duration::from_millis(1500));
            let m = guard_records(&env, path).len();
            if m == n {
                return n;
            }
            n = m;
        }
    };
    let n = settle(&copilot);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(guard_records(&env, &copilot).len(), n, "the guard keeps reacting to its own writes");
    assert_eq!(std::fs::read(&copilot).unwrap(), p0);
    assert!(guard_records(&env, &copilot).iter().all(|r| r["decision"] == "blocked"), "every state seen was judged");
}

#[test]
fn managed_files_are_reported_and_never_rewritten() {
    let env = guard_env();
    install(&env, "codex", "managed");
    install(&env, "qwen", "managed");
    install(&env, "cursor", "managed");
    let files = [
        etc(&env).join("codex/requirements.toml"),
        etc(&env).join("qwen-code/settings.json"),
        etc(&env).join("cursor/hooks.json"),
    ];
    for f in &files {
        assert!(f.exists(), "{}", f.display());
    }
    let d = start(&env);
    for f in &files {
        let evil = format!("{}\n# EVIL admin edit\n", std::fs::read_to_string(f).unwrap());
        std::fs::write(f, &evil).unwrap();
        wait(&env, "the managed change audited", &d, || !guard_records(&env, f).is_empty());
        let r = &guard_records(&env, f)[0];
        assert_eq!(r["source"], "policy_settings", "{r}");
        assert_eq!(r["reverted"], false, "{r}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(std::fs::read_to_string(f).unwrap(), evil, "a managed file is never rewritten");
    }
    // The user file of an agent installed only at managed scope is guarded too.
    let user = env.path().join(".qwen/settings.json");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, r#"{"hooks":{},"x":"EVIL"}"#).unwrap();
    wait_bytes(&env, &d, &user, None, "a user file created beside a managed install is removed");
}

/// Every way the agent can put other content at its config path, one bypass class each.
const ATTACKS: &[&str] = &[
    "write",
    "append",
    "truncate",
    "rename_over",
    "hard_link_over",
    "symlink_to_evil",
    "symlink_to_accepted_copy",
    "delete",
    "move_away",
    "delete_then_create",
    "directory_at_path",
    "fifo_at_path",
    "dir_renamed_and_remade",
    "dir_swapped_for_symlink",
    "flip_flop",
];

/// Applies `attack` to `path`; returns files outside the guarded paths that must stay as they are.
fn attack(env: &Env, path: &Path, attack: &str, n: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let evil = format!(r#"{{"hooks":{{}},"hooksConfig":{{"enabled":false}},"x":"EVIL-{n}"}}"#).into_bytes();
    let outside = env.path().join(format!("outside-{n}"));
    std::fs::create_dir_all(&outside).unwrap();
    let evil_file = outside.join("evil.json");
    std::fs::write(&evil_file, &evil).unwrap();
    let dir = path.parent().unwrap();
    let tmp = dir.join(format!(".tmp-{n}"));
    match attack {
        "write" => std::fs::write(path, &evil).unwrap(),
        "append" => {
            use std::io::Write;
            std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(b"\n# EVIL\n").unwrap();
        }
        "truncate" => std::fs::write(path, b"").unwrap(),
        "rename_over" => {
            std::fs::write(&tmp, &evil).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        "hard_link_over" => {
            std::fs::hard_link(&evil_file, &tmp).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        "symlink_to_evil" => {
            std::os::unix::fs::symlink(&evil_file, &tmp).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        "symlink_to_accepted_copy" => {
            let copy = outside.join("copy.json");
            std::fs::copy(path, &copy).unwrap();
            std::os::unix::fs::symlink(&copy, &tmp).unwrap();
            std::fs::rename(&tmp, path).unwrap();
            return vec![(copy.clone(), std::fs::read(&copy).unwrap()), (evil_file, evil)];
        }
        "delete" => std::fs::remove_file(path).unwrap(),
        "move_away" => std::fs::rename(path, outside.join("moved")).unwrap(),
        "delete_then_create" => {
            std::fs::remove_file(path).unwrap();
            std::fs::write(path, &evil).unwrap();
        }
        "directory_at_path" => {
            std::fs::remove_file(path).unwrap();
            std::fs::create_dir(path).unwrap();
        }
        "fifo_at_path" => {
            std::fs::remove_file(path).unwrap();
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        "dir_renamed_and_remade" => {
            std::fs::rename(dir, outside.join("old-dir")).unwrap();
            std::fs::create_dir(dir).unwrap();
            std::fs::write(path, &evil).unwrap();
        }
        "dir_swapped_for_symlink" => {
            let elsewhere = outside.join("elsewhere");
            std::fs::create_dir(&elsewhere).unwrap();
            std::fs::write(elsewhere.join(path.file_name().unwrap()), &evil).unwrap();
            std::fs::rename(dir, outside.join("old-dir")).unwrap();
            std::os::unix::fs::symlink(&elsewhere, dir).unwrap();
            let f = elsewhere.join(path.file_name().unwrap());
            return vec![(f, evil.clone()), (evil_file, evil)];
        }
        "flip_flop" => {
            let accepted = std::fs::read(path).unwrap();
            for _ in 0..20 {
                std::fs::write(path, &evil).unwrap();
                std::fs::write(path, &accepted).unwrap();
            }
        }
        other => panic!("unknown attack {other}"),
    }
    vec![(evil_file, evil)]
}

#[test]
fn every_way_of_putting_other_content_at_an_agents_config_path_is_written_back() {
    let env = guard_env();
    for agent in ["codex", "gemini", "copilot", "qwen", "cursor"] {
        install(&env, agent, "user");
    }
    std::fs::write(env.path().join(".codex/config.toml"), "# mine\nmodel = \"o4\"\n").unwrap();
    let targets: Vec<PathBuf> =
        agent_files(&env).into_iter().map(|(_, p)| p).filter(|p| p.starts_with(env.path().join("."))).collect();
    let targets: Vec<PathBuf> = targets.into_iter().filter(|p| !p.starts_with(env.project())).collect();
    assert_eq!(targets.len(), 6);
    let accepted: Vec<Vec<u8>> = targets.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let d = start(&env);
    let mut n = 0;
    for (target, _) in targets.iter().zip(&accepted) {
        for a in ATTACKS {
            n += 1;
            let keep = attack(&env, target, a, n);
            // Every guarded file is back to its accepted bytes, as a regular file.
            for (p, want) in targets.iter().zip(&accepted) {
                wait_bytes(&env, &d, p, Some(want), &format!("{a} on {}: {} restored", target.display(), p.display()));
            }
            for (p, want) in keep {
                assert_eq!(std::fs::read(&p).unwrap(), want, "{a}: {} was written", p.display());
            }
        }
    }
    assert_eq!(n, targets.len() * ATTACKS.len());
}

/// A project the daemon first meets after start (its first event) is guarded from then on: what
/// is there at that moment is accepted, and a blocked change is written back.
#[test]
fn a_project_met_after_start_is_guarded_from_its_first_event() {
    use hookhost::daemon::{Request, client};
    let env = guard_env();
    let later = env.path().join("later-project");
    std::fs::create_dir_all(&later).unwrap();
    for agent in ["codex", "qwen"] {
        // As `hookhost install` run in that project (the harness's commands name its own project).
        let mut c = env.machine_command(super::support::bin());
        c.env("HOOKHOST_INSTALL_ETC", etc(&env))
            .args(["install", "--agent", agent, "--scope", "project", "--hookhost", "/usr/local/bin/hookhost"])
            .arg("--project-dir")
            .arg(&later);
        let out: Output = run(c, b"");
        assert_eq!(out.code, 0, "install {agent}: {out:?}");
    }
    let files = [later.join(".codex/hooks.json"), later.join(".qwen/settings.json")];
    for f in &files {
        assert!(f.is_file(), "{} installed", f.display());
    }
    let d = start(&env);
    let guarded =
        |f: &Path| d.log_text().lines().any(|l| l.contains("agent config guarded") && l.contains(f.to_str().unwrap()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!guarded(&files[0]), "not guarded before its project is met: {}", d.log_text());
    // The project's first event.
    let req = Request::Event {
        v: 1,
        event: String::from_utf8(super::support::bash_event("ls")).unwrap(),
        project_dir: Some(later.clone()),
        settings: None,
    };
    client::request(&env.path().join("d.sock"), &req, Duration::from_secs(30)).expect("event");
    for f in &files {
        wait(&env, &format!("{} guarded", f.display()), &d, || guarded(f));
    }
    for f in &files {
        let original = std::fs::read(f).unwrap();
        std::fs::write(f, json!({"hooks": {}, "note": "EVIL"}).to_string()).unwrap();
        wait_bytes(&env, &d, f, Some(&original), &format!("{} written back", f.display()));
        wait(&env, "audit record", &d, || {
            guard_records(&env, f).iter().any(|r| r["decision"] == "blocked" && r["reverted"] == true)
        });
    }
}
