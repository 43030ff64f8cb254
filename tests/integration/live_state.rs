//! The live settings' state, attacked (issue 19 items 3, 6 and 7), through the real binary:
//! - managed policy never comes from the user's state directory: every tampering of the records
//!   (the original attack included: managed text `{}` plus a "blocked" entry for the real file)
//!   leaves the managed rules in force and `status` reporting the revision actually in force;
//! - a user-scope change blocked once (by the shipped guard-config-change policy) is blocked in
//!   every project and under every spelling of a project path (`…/proj/`, a symlink, the
//!   event's `cwd`), and content blocked in one project is judged, not taken, when it appears in
//!   another one (a copy, a hard link);
//! - what a ConfigChange hook judged is what is accepted: a write landing while a slow hook
//!   decides is a change of its own, and a later revert never restores it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::support::{Env, Output, bash_event, bin, repo, run};

fn sha(b: &[u8]) -> String {
    hookhost::trust::sha256_hex(b)
}

fn decision(out: &Output) -> Option<String> {
    if out.stdout.trim().is_empty() {
        return None;
    }
    out.json()["hookSpecificOutput"]["permissionDecision"].as_str().map(str::to_string)
}

/// `hookhost ARGS` for `env`'s machine, with the project given by `project` (`--project-dir`)
/// or, when `None`, by the event's `cwd`.
fn command_in(env: &Env, project: Option<&Path>, args: &[&str]) -> Command {
    let mut c = env.machine_command(bin());
    c.args(args);
    if let Some(p) = project {
        c.arg("--project-dir").arg(p);
    }
    c
}

/// A Bash PreToolUse event whose `cwd` is `cwd` (spelled exactly as given).
fn bash_in(cwd: &str, command: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"session_id": "s1", "cwd": cwd, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "t1"}))
    .unwrap()
}

fn audit(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn settings_changes(env: &Env, result: &str) -> Vec<Value> {
    audit(env).into_iter().filter(|r| r["kind"] == "settings_change" && r["result"] == result).collect()
}

fn record_path(env: &Env, settings: &Path) -> PathBuf {
    let canonical = match std::fs::canonicalize(settings.parent().unwrap()) {
        Ok(d) => d.join(settings.file_name().unwrap()),
        Err(_) => settings.to_path_buf(),
    };
    env.state_home()
        .join("hookhost/settings/files")
        .join(format!("{}.json", sha(canonical.as_os_str().as_encoded_bytes())))
}

fn status(env: &Env) -> Value {
    let out = run(env.bare_command(&["status", "--json"]), b"");
    assert_eq!(out.code, 0, "{out:?}");
    out.json()
}

// ---------------------------------------------------------------------------------------------
// 19.3: managed policy never depends on user-writable state

/// Every state file tampered with, in many ways: the managed deny rule holds, the project's own
/// deny rule holds unless a *consistent* record of that very file says otherwise (documented:
/// the records can choose the content of the user's own lower-scope files, never managed
/// policy), and `status` reports the revision in force, computed from the files.
#[test]
fn tampered_state_never_drops_or_replaces_managed_policy() {
    let env = Env::new();
    let managed = env.write("managed", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let dropin = env.write("managed.d/50-curl.json", &json!({"permissions": {"deny": ["Bash(curl:*)"]}}).to_string());
    let project = env.write("project", &json!({"permissions": {"deny": ["Bash(wget:*)"]}}).to_string());
    let check = |what: &str| {
        for (cmd, want) in [("rm -rf x", "deny"), ("curl x", "deny")] {
            let out = env.dispatch(&bash_event(cmd));
            assert_eq!(out.code, 0, "{what}: {out:?}");
            assert_eq!(decision(&out).as_deref(), Some(want), "{what}: {cmd}: {out:?}");
        }
        let s = status(&env);
        assert_eq!(s["live_revision"], s["settings_revision"], "{what}: status reports what is in force: {s}");
    };
    check("untouched");
    let state = env.state_home().join("hookhost/settings");
    let empty = "{}";
    let blocked_of = |p: &Path| json!({"sha256": sha(&std::fs::read(p).unwrap()), "policy": "x".repeat(64)});
    // The original attack, in the old format: a last known good file whose managed text is `{}`
    // and which marks the real managed file as blocked.
    // Where the old format kept it: a hash of the locations' spellings.
    let old_key = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in [env.managed_dir(), env.path().join("xdg/hookhost/settings.json"), env.project()] {
            h.update(p.to_string_lossy().as_bytes());
            h.update([0]);
        }
        h.update([0]);
        state.join(format!("{:x}.json", h.finalize()))
    };
    let old_attack = json!({"version": 1, "revision": "r", "files": [
        {"scope": "managed", "path": managed, "sha256": sha(&std::fs::read(&managed).unwrap()), "text": empty}],
        "rejected": [{"path": managed, "sha256": sha(&std::fs::read(&managed).unwrap()), "result": "blocked", "revision": "r"}]});
    // The same in the new format: records keyed by the managed files' paths.
    let record_for = |p: &Path| {
        json!({"version": 2, "path": std::fs::canonicalize(p).unwrap(), "accepted": {"sha256": sha(empty.as_bytes()), "text": empty},
            "blocked": [blocked_of(p)], "invalid": {"sha256": sha(&std::fs::read(p).unwrap()), "error": "x"}})
    };
    let mut tamperings: Vec<(String, PathBuf, Vec<u8>)> = vec![
        ("old-format attack".into(), old_key, old_attack.to_string().into_bytes()),
        (
            "record for the managed file".into(),
            record_path(&env, &managed),
            record_for(&managed).to_string().into_bytes(),
        ),
        ("record for the drop-in".into(), record_path(&env, &dropin), record_for(&dropin).to_string().into_bytes()),
        (
            "managed-seen lists nothing".into(),
            state.join("managed-seen.json"),
            json!({"files": []}).to_string().into_bytes(),
        ),
    ];
    // The project's record, corrupted in every byte position over a stride: each is ignored or
    // fails its checks (then the file counts as first seen, taken as it is).
    let rec = std::fs::read(record_path(&env, &project)).unwrap();
    for at in (0..rec.len()).step_by((rec.len() / 60).max(1)) {
        let mut b = rec.clone();
        b[at] = b[at].wrapping_add(7);
        tamperings.push((format!("project record byte {at}"), record_path(&env, &project), b));
    }
    for cut in [0, 1, rec.len() / 2, rec.len() - 1] {
        tamperings.push((format!("project record cut at {cut}"), record_path(&env, &project), rec[..cut].to_vec()));
    }
    let n = tamperings.len();
    for (what, path, bytes) in tamperings {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let before = std::fs::read(&path).ok();
        std::fs::write(&path, &bytes).unwrap();
        check(&what);
        // The project's own rule: in force again (the tampered record is ignored or re-made).
        let out = env.dispatch(&bash_event("wget x"));
        assert_eq!(decision(&out).as_deref(), Some("deny"), "{what}: {out:?}");
        match before {
            Some(b) => std::fs::write(&path, b).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
    }
    assert!(n > 60, "{n} tamperings");
}

/// A consistent, forged record of a lower-scope file can choose that file's content (the state
/// directory is the user's): the documented limit. It never reaches managed policy: the
/// managed deny still holds while the forged record hides the project's own rule.
#[test]
fn a_consistent_forged_record_reaches_only_its_own_lower_scope_file() {
    let env = Env::new();
    env.write("managed", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let project = env.write("project", &json!({"permissions": {"deny": ["Bash(wget:*)"]}}).to_string());
    assert_eq!(decision(&env.dispatch(&bash_event("wget x"))).as_deref(), Some("deny"));
    let canonical = std::fs::canonicalize(&project).unwrap();
    let loose = json!({"permissions": {"allow": ["Bash(rm:*)", "Bash(wget:*)"]}}).to_string();
    // Accepted: the loose text; blocked: the real content, under the real policy revision
    // (computed like hookhost does, from the managed files in force).
    let policy = {
        let mut files = Vec::new();
        let m = env.managed_dir();
        let mut paths = vec![m.join("managed-settings.json")];
        let mut dropins: Vec<PathBuf> =
            std::fs::read_dir(m.join("managed-settings.d")).unwrap().flatten().map(|e| e.path()).collect();
        dropins.sort();
        paths.extend(dropins);
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            files.push(hookhost::settings::watch::FileVersion::parse(hookhost::Scope::Managed, &p, bytes).unwrap());
        }
        [hookhost::live::policy_revision(&files)]
    };
    let forged = json!({"version": 2, "path": canonical, "accepted": {"sha256": sha(loose.as_bytes()), "text": loose},
        "blocked": policy.iter().map(|p| json!({"sha256": sha(&std::fs::read(&project).unwrap()), "policy": p})).collect::<Vec<_>>()});
    std::fs::write(record_path(&env, &project), forged.to_string()).unwrap();
    let out = env.dispatch(&bash_event("rm -rf x"));
    assert_eq!(decision(&out).as_deref(), Some("deny"), "managed deny wins over any lower-scope allow: {out:?}");
    let out = env.dispatch(&bash_event("wget x"));
    assert_eq!(decision(&out).as_deref(), Some("allow"), "the forged record chose the project file's content: {out:?}");
}

// ---------------------------------------------------------------------------------------------
// 19.6: a blocked user-scope change is blocked everywhere

/// The shipped guard-config-change policy, installed as a managed drop-in.
fn install_guard(env: &Env) {
    let text = std::fs::read_to_string(repo().join("hooks-examples/shell/guard-config-change/settings.json")).unwrap();
    let text = text.replace("/usr/local/lib/hookhost/hooks", &repo().join("hooks-examples/shell").to_string_lossy());
    env.write("managed.d/10-guard-config-change.json", &text);
}

#[test]
fn a_user_change_blocked_in_one_project_is_blocked_in_every_project_and_spelling() {
    let env = Env::new();
    install_guard(&env);
    let user = env.write("user", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let a = env.project();
    let b = env.path().join("project-b");
    std::fs::create_dir_all(&b).unwrap();
    let rm = |project: Option<&Path>, cwd: &str| {
        let out = run(command_in(&env, project, &["dispatch"]), &bash_in(cwd, "rm -rf x"));
        assert_eq!(out.code, 0, "{out:?}");
        out
    };
    assert_eq!(decision(&rm(Some(&a), "/")).as_deref(), Some("deny"));
    // The agent rewrites the user's settings: the deny goes, an allow comes.
    std::fs::write(&user, json!({"permissions": {"allow": ["Bash(rm:*)"]}}).to_string()).unwrap();
    let out = rm(Some(&a), "/");
    assert_eq!(decision(&out).as_deref(), Some("deny"), "blocked in A: {out:?}");
    assert!(out.json()["systemMessage"].as_str().unwrap_or_default().contains("was blocked"), "{out:?}");
    // A new project: the user's file has one user-wide accepted version.
    let out = rm(Some(&b), "/");
    assert_eq!(decision(&out).as_deref(), Some("deny"), "blocked in a new project B: {out:?}");
    // Every spelling of A, through the event's cwd.
    let link = env.path().join("a-link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    for cwd in [
        format!("{}/", a.display()),
        format!("{}//", a.display()),
        format!("{}/.", a.display()),
        format!("{}/sub/..", a.display()),
        link.display().to_string(),
        format!("{}/", link.display()),
        format!("{}/", b.display()),
    ] {
        let out = rm(None, &cwd);
        assert_eq!(decision(&out).as_deref(), Some("deny"), "cwd {cwd}: {out:?}");
    }
    // Judged once, user-wide; the user's file is untouched.
    let blocked = settings_changes(&env, "blocked");
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["source"], "user_settings");
    assert!(std::fs::read_to_string(&user).unwrap().contains("allow"));
}

/// Hundreds of generated spellings of one project (`.`, `..`, doubled and trailing slashes,
/// links to the project and to the directory above it), each resolved by the kernel as the
/// oracle (`cd -P` in bash, then `pwd -P`): hookhost names the same canonical project for every
/// one, and the project's blocked local change stays blocked under a sample of them given as the
/// event's `cwd`.
#[test]
fn every_spelling_of_a_project_is_the_same_project() {
    let env = Env::new();
    install_guard(&env);
    let root = std::fs::canonicalize(env.path()).unwrap();
    let project = root.join("project");
    std::fs::create_dir_all(project.join("sub/deeper")).unwrap();
    std::os::unix::fs::symlink(&project, root.join("plink")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("rlink")).unwrap();
    std::os::unix::fs::symlink("sub/..", project.join("back")).unwrap();
    let heads = [
        root.display().to_string(),
        format!("{}/", root.display()),
        format!("{}//.", root.display()),
        format!("{}/project/..", root.display()),
        root.join("rlink").display().to_string(),
        format!("{}/./", root.join("rlink").display()),
    ];
    let middles = [
        "project",
        "plink",
        "project/sub/..",
        "project/./sub/deeper/../..",
        "plink/sub/..",
        "project//",
        "rlink/project",
        "rlink/plink/.",
        "project/back",
    ];
    let tails = ["", "/", "//", "/.", "/./", "/sub/.."];
    let mut spellings = Vec::new();
    for h in &heads {
        for m in &middles {
            for t in &tails {
                spellings.push(format!("{h}/{m}{t}"));
            }
        }
    }
    assert!(spellings.len() >= 300, "{}", spellings.len());
    for sp in &spellings {
        let oracle =
            std::process::Command::new("bash").args(["-c", "cd -P -- \"$1\" && pwd -P", "_", sp]).output().unwrap();
        assert!(oracle.status.success(), "{sp}");
        let real = PathBuf::from(String::from_utf8(oracle.stdout).unwrap().trim_end());
        assert_eq!(real, project, "the oracle resolves {sp}");
        let loc = hookhost::Locations::from_env(None, Some(PathBuf::from(sp)), None);
        assert_eq!(loc.project_dir.as_deref(), Some(real.as_path()), "{sp}");
    }
    // A local change blocked under one spelling, then asked under others (as the event's cwd).
    let local = env.write("local", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let rm = |cwd: &str| {
        let out = run(command_in(&env, None, &["dispatch"]), &bash_in(cwd, "rm -rf x"));
        assert_eq!(out.code, 0, "{out:?}");
        decision(&out)
    };
    assert_eq!(rm(&spellings[0]).as_deref(), Some("deny"));
    std::fs::write(&local, json!({"permissions": {"allow": ["Bash(rm:*)"]}}).to_string()).unwrap();
    for sp in spellings.iter().step_by(13) {
        assert_eq!(rm(sp).as_deref(), Some("deny"), "cwd {sp}");
    }
    assert_eq!(settings_changes(&env, "blocked").len(), 1, "judged once, whatever the spelling");
}

/// Content the guard blocked in one project's local settings is judged, not taken as it is,
/// when it shows up in another project: a copy of the project, or a hard link to the file.
#[test]
fn content_blocked_in_one_project_is_judged_when_first_seen_in_another() {
    let env = Env::new();
    install_guard(&env);
    let a = env.project();
    let local = env.write("local", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let rm = |project: &Path| {
        let out = run(command_in(&env, Some(project), &["dispatch"]), &bash_in("/", "rm -rf x"));
        assert_eq!(out.code, 0, "{out:?}");
        decision(&out)
    };
    assert_eq!(rm(&a).as_deref(), Some("deny"));
    std::fs::write(&local, json!({"permissions": {"allow": ["Bash(rm:*)"]}}).to_string()).unwrap();
    assert_eq!(rm(&a).as_deref(), Some("deny"), "blocked in A");
    // A copy of A, blocked content included.
    let copy = env.path().join("copy-of-a");
    std::fs::create_dir_all(copy.join(".hookhost")).unwrap();
    std::fs::copy(&local, copy.join(".hookhost/settings.local.json")).unwrap();
    assert_eq!(rm(&copy), None, "the copied blocked content is judged (and blocked): no allow");
    // A hard link to A's file, with content A never accepted.
    let linked = env.path().join("linked");
    std::fs::create_dir_all(linked.join(".hookhost")).unwrap();
    std::fs::write(&local, json!({"permissions": {"allow": ["Bash(rm:*)", "Bash(dd:*)"]}}).to_string()).unwrap();
    std::fs::hard_link(&local, linked.join(".hookhost/settings.local.json")).unwrap();
    assert_eq!(rm(&linked), None, "the hard link's content is judged (and blocked): no allow");
    assert_eq!(rm(&a).as_deref(), Some("deny"), "still blocked in A");
    // Not a blanket refusal: a new project's own, never-blocked content is taken as it is.
    let fresh = env.path().join("fresh");
    std::fs::create_dir_all(fresh.join(".hookhost")).unwrap();
    std::fs::write(
        fresh.join(".hookhost/settings.local.json"),
        json!({"permissions": {"allow": ["Bash(rm:*)"]}, "x": 1}).to_string(),
    )
    .unwrap();
    assert_eq!(rm(&fresh).as_deref(), Some("allow"));
}

/// The daemon's live settings of two projects and one-shot dispatch share one user-wide
/// verdict for the user's file; every spelling of a project is one live project.
#[test]
fn the_daemon_and_one_shot_dispatch_share_one_user_wide_verdict() {
    use hookhost::daemon::{Reply, Request, client};
    let env = Env::new();
    install_guard(&env);
    let user = env.write("user", &json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string());
    let a = env.project();
    let b = env.path().join("project-b");
    std::fs::create_dir_all(&b).unwrap();
    let socket = env.path().join("d.sock");
    let _d = super::daemon::Daemon::start_with(&env, &socket, &[], &[("RUST_LOG", "info")]);
    let ask = |project: &Path| {
        let req = Request::Event {
            v: hookhost::daemon::PROTOCOL,
            event: String::from_utf8(bash_in("/", "rm -rf x")).unwrap(),
            project_dir: Some(project.to_path_buf()),
            settings: None,
        };
        match client::request(&socket, &req, std::time::Duration::from_secs(20)).unwrap() {
            Reply::Outcome { stdout, .. } => serde_json::from_str::<Value>(&stdout)
                .ok()
                .and_then(|v| v["hookSpecificOutput"]["permissionDecision"].as_str().map(str::to_string)),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ask(&a).as_deref(), Some("deny"));
    assert_eq!(ask(&b).as_deref(), Some("deny"));
    std::fs::write(&user, json!({"permissions": {"allow": ["Bash(rm:*)"]}}).to_string()).unwrap();
    let start = std::time::Instant::now();
    while settings_changes(&env, "blocked").is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(15), "the change was not judged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(ask(&a).as_deref(), Some("deny"), "A");
    assert_eq!(ask(&b).as_deref(), Some("deny"), "B");
    assert_eq!(
        decision(&run(command_in(&env, Some(&b), &["dispatch"]), &bash_in("/", "rm -rf x"))).as_deref(),
        Some("deny")
    );
    assert_eq!(settings_changes(&env, "blocked").len(), 1, "judged once for every project and process");
    // `…/a/` and a symlink to A are A: still two live projects.
    let link = env.path().join("a-link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    for spelling in [PathBuf::from(format!("{}/", a.display())), link] {
        assert_eq!(ask(&spelling).as_deref(), Some("deny"));
    }
    match client::request(
        &socket,
        &Request::Status { v: hookhost::daemon::PROTOCOL, project_dir: Some(a.clone()), settings: None },
        std::time::Duration::from_secs(5),
    )
    .unwrap()
    {
        Reply::Status { projects, .. } => assert_eq!(projects, 2),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 19.7: what a ConfigChange hook judged is what is accepted

/// A managed ConfigChange hook (revert on) that reads what it judges with `read` (shell that
/// sets `$c` from the event in `$ev`), marks its start, takes 1.5 s, and blocks when `$c`
/// mentions EVIL. Returns the marker.
fn slow_judge(env: &Env, read: &str) -> PathBuf {
    let marker = env.path().join("judging");
    let script = env.path().join("judge.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nev=$(cat)\n{read}\ntouch {m}\nsleep 1.5\n\
             case \"$c\" in *EVIL*) echo 'refused: EVIL' >&2; exit 2;; esac\nexit 0\n",
            m = marker.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut managed: Value = serde_json::from_str(&super::support::hook_settings(
        "ConfigChange",
        "",
        json!([{"type": "command", "command": script, "timeout": 30}]),
    ))
    .unwrap();
    managed["hookhost"] = json!({"revertBlockedConfigChanges": true});
    env.write("managed.d/20-judge.json", &managed.to_string());
    marker
}

fn wait_for(p: &Path) {
    let start = std::time::Instant::now();
    while !p.exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{} never appeared", p.display());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// hookhost's own settings: the content shown to the hook is accepted; a write that lands while
/// it decides is judged next (blocked here), and the revert returns to what was judged.
#[test]
fn a_write_during_a_slow_config_change_hook_is_judged_next_and_never_accepted() {
    let env = Env::new();
    let marker = slow_judge(&env, "c=$(printf '%s' \"$ev\" | /usr/bin/jq -r '.hookhost.new_content // \"\"')");
    let good1 = json!({"permissions": {"deny": ["Bash(rm:*)"]}}).to_string();
    let good2 = json!({"permissions": {"deny": ["Bash(rm:*)", "Bash(curl:*)"]}}).to_string();
    let evil = json!({"permissions": {"allow": ["Bash(rm:*)"]}, "note": "EVIL"}).to_string();
    let project = env.write("project", &good1);
    assert_eq!(decision(&env.dispatch(&bash_event("rm -rf x"))).as_deref(), Some("deny"));
    std::fs::write(&project, &good2).unwrap();
    let _ = std::fs::remove_file(&marker);
    let first = {
        let c = env.command(&["dispatch"]);
        std::thread::spawn(move || run(c, &bash_event("curl x")))
    };
    wait_for(&marker);
    std::fs::write(&project, &evil).unwrap();
    let out = first.join().unwrap();
    assert_eq!(decision(&out).as_deref(), Some("deny"), "good2 was judged and is in force: {out:?}");
    let rec: Value = serde_json::from_slice(&std::fs::read(record_path(&env, &project)).unwrap()).unwrap();
    assert_eq!(rec["accepted"]["text"], good2, "the record holds exactly the judged content");
    // The write that landed meanwhile is a change of its own: judged, blocked, written back to
    // what was judged — not to itself.
    let out = env.dispatch(&bash_event("rm -rf x"));
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&project).unwrap(), good2, "reverted to the judged content");
    assert_eq!(settings_changes(&env, "blocked").len(), 1);
}

/// Claude Code's own settings (its ConfigChange events name the file): a write while the hook
/// decides is not recorded as accepted, so a later blocked change is reverted to content a hook
/// actually passed.
#[test]
fn a_claude_settings_write_during_a_slow_hook_is_never_the_last_accepted_content() {
    let env = Env::new();
    // The judge reads the file the event names, as Claude Code's ConfigChange hooks do.
    let marker = slow_judge(&env, "c=$(cat \"$(printf '%s' \"$ev\" | /usr/bin/jq -r .file_path)\")");
    let local = env.project().join(".claude/settings.local.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    let (good1, good2, evil) = ("{\"a\": 1}\n", "{\"a\": 2}\n", "{\"a\": \"EVIL\"}\n");
    std::fs::write(&local, good1).unwrap();
    let session = String::from_utf8(super::support::fixture("SessionStart.json"))
        .unwrap()
        .replace("/home/dev/project", &env.project().to_string_lossy());
    assert_eq!(env.dispatch(session.as_bytes()).code, 0);
    let change = {
        let text = String::from_utf8(super::support::fixture("ConfigChange-local_settings.json"))
            .unwrap()
            .replace("/home/dev/project", &env.project().to_string_lossy())
            .replace("/home/dev", &env.path().to_string_lossy());
        text.into_bytes()
    };
    std::fs::write(&local, good2).unwrap();
    let _ = std::fs::remove_file(&marker);
    let first = {
        let c = env.command(&["dispatch"]);
        let change = change.clone();
        std::thread::spawn(move || run(c, &change))
    };
    wait_for(&marker);
    std::fs::write(&local, evil).unwrap();
    let out = first.join().unwrap();
    assert_eq!(out.code, 0, "the hook passed what it read: {out:?}");
    let recs: Vec<Value> = audit(&env).into_iter().filter(|r| r["kind"] == "settings_revert").collect();
    assert!(recs.iter().any(|r| r["action"] == "changed_while_judged"), "{recs:?}");
    // Claude Code's next ConfigChange, for the write that landed meanwhile: blocked, reverted to
    // the last content a hook passed with nothing written during it.
    let out = env.dispatch(&change);
    assert_eq!(out.code, 2, "{out:?}");
    let now = std::fs::read_to_string(&local).unwrap();
    assert_ne!(now, evil, "the blocked write was never recorded as accepted");
    assert_eq!(now, good1);
}

/// The gate's lock cannot be taken (its lock file is a directory): the gate never runs unlocked;
/// the event fails closed, naming the lock, through one-shot dispatch.
#[test]
fn a_gate_lock_that_cannot_be_taken_fails_closed() {
    let env = super::support::Env::new();
    env.write("user", &serde_json::json!({"permissions": {"allow": ["Bash(ls:*)"]}}).to_string());
    std::fs::create_dir_all(env.state_home().join("hookhost/settings/.lock")).unwrap();
    let out = env.dispatch(&super::support::bash_event("ls"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("cannot lock the last known good settings records"), "{out:?}");
    assert!(out.stderr.contains("failing closed"), "{out:?}");
}
