//! Undoing rejected changes (issue 11), through the real `hookhost dispatch` binary: a
//! PostToolUse secret scanner with `rollback: true` (the `scan-secrets-rollback` example) rejects
//! edits, and hookhost restores the file from the snapshot it took at PreToolUse; a blocked
//! ConfigChange is written back to the last accepted content. Every assertion is on the file
//! itself (bytes, mode, existence) and on the audit log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Env, Output, fixture, repo};

pub(super) const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// A machine with the scan-secrets-rollback example installed as a managed drop-in, plus
/// `extra` managed settings (e.g. the `hookhost` object).
pub(super) fn scanner_env(extra: Value) -> Env {
    let env = Env::new();
    let example = repo().join("hooks-examples/shell/scan-secrets-rollback");
    let text = std::fs::read_to_string(example.join("settings.json")).unwrap();
    let text = text.replace("/usr/local/lib/hookhost/hooks", &repo().join("hooks-examples/shell").to_string_lossy());
    env.write("managed.d/10-scan-secrets-rollback.json", &text);
    env.write("managed.d/20-extra.json", &extra.to_string());
    env
}

pub(super) fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

pub(super) fn tool_event(env: &Env, name: &str, tool: &str, input: Value, id: &str) -> Vec<u8> {
    let mut e = json!({
        "session_id": "s1",
        "cwd": env.project(),
        "hook_event_name": name,
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": id,
    });
    if name == "PostToolUse" {
        e["tool_response"] = json!({"filePath": e["tool_input"]["file_path"].clone()});
    }
    serde_json::to_vec(&e).unwrap()
}

pub(super) fn pre(env: &Env, tool: &str, input: &Value, id: &str) -> Output {
    let out = env.dispatch(&tool_event(env, "PreToolUse", tool, input.clone(), id));
    assert_eq!(out.code, 0, "PreToolUse: {out:?}");
    out
}

pub(super) fn post(env: &Env, tool: &str, input: &Value, id: &str) -> Output {
    env.dispatch(&tool_event(env, "PostToolUse", tool, input.clone(), id))
}

fn snapshots(env: &Env) -> Vec<PathBuf> {
    match std::fs::read_dir(env.state_home().join("hookhost/rollback/edits")) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The audit records of `kind`.
pub(super) fn audit(env: &Env, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|r| r["kind"] == kind).collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

pub(super) fn edit_input(path: &Path, old: &str, new: &str) -> Value {
    json!({"file_path": path, "old_string": old, "new_string": new, "replace_all": false})
}

#[test]
fn rollback_rejected_edit_is_restored_byte_for_byte_with_mode() {
    let env = scanner_env(json!({}));
    let f = env.project().join("app.py");
    let original = b"import os\nregion = \"eu-west-1\"\n\xe2\x9c\x93 no trailing newline".to_vec();
    std::fs::write(&f, &original).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let input = edit_input(&f, "import os\n", &format!("import os\nKEY = \"{KEY}\"\n"));
    pre(&env, "Edit", &input, "toolu_edit1");
    assert_eq!(snapshots(&env).len(), 1, "snapshot taken at PreToolUse");
    let snap_dir = env.state_home().join("hookhost/rollback/edits");
    assert_eq!(mode(&snap_dir), 0o700);
    // The Edit tool runs (and, as editors do, changes the mode).
    let edited = [format!("import os\nKEY = \"{KEY}\"\n").as_bytes(), &original[10..]].concat();
    std::fs::write(&f, &edited).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();

    let out = post(&env, "Edit", &input, "toolu_edit1");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("AWS access key id"), "{}", out.stderr);
    assert!(out.stderr.contains("hookhost reverted this Edit"), "{}", out.stderr);
    assert_eq!(std::fs::read(&f).unwrap(), original, "restored byte for byte");
    assert_eq!(mode(&f), 0o640, "mode restored");
    assert!(snapshots(&env).is_empty(), "snapshot dropped after use");
    let recs = audit(&env, "rollback");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["action"], "restored");
    assert_eq!(recs[0]["before_sha256"], sha(&edited));
    assert_eq!(recs[0]["after_sha256"], sha(&original));
    assert_eq!(recs[0]["tool_use_id"], "toolu_edit1");
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(env.project()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, ["app.py"], "{names:?}");
}

#[test]
fn rollback_rejected_write_that_created_a_file_leaves_no_file() {
    let env = scanner_env(json!({}));
    let f = env.project().join("creds.env");
    let input = json!({"file_path": "creds.env", "content": format!("AWS_ACCESS_KEY_ID={KEY}\n")});
    pre(&env, "Write", &input, "toolu_w1");
    std::fs::write(&f, format!("AWS_ACCESS_KEY_ID={KEY}\n")).unwrap();
    let out = post(&env, "Write", &input, "toolu_w1");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("which it created, was removed"), "{}", out.stderr);
    assert!(!f.exists(), "the created file is gone");
    let recs = audit(&env, "rollback");
    assert_eq!(recs[0]["action"], "removed");
    assert_eq!(recs[0]["after_sha256"], Value::Null);
}

#[test]
fn rollback_accepted_edit_stays_and_snapshot_is_dropped() {
    let env = scanner_env(json!({}));
    let f = env.project().join("notes.txt");
    std::fs::write(&f, "alpha\nbeta\n").unwrap();
    let input = edit_input(&f, "beta", "gamma");
    pre(&env, "Edit", &input, "toolu_ok");
    std::fs::write(&f, "alpha\ngamma\n").unwrap();
    let out = post(&env, "Edit", &input, "toolu_ok");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "alpha\ngamma\n");
    assert!(snapshots(&env).is_empty());
    assert!(audit(&env, "rollback").is_empty());
}

#[test]
fn rollback_multiedit_and_notebookedit_are_restored() {
    let env = scanner_env(json!({}));
    let f = env.project().join("m.txt");
    std::fs::write(&f, "one two one\n").unwrap();
    let input = json!({"file_path": f, "edits": [
        {"old_string": "one", "new_string": "1", "replace_all": true},
        {"old_string": "two", "new_string": KEY}
    ]});
    pre(&env, "MultiEdit", &input, "toolu_m");
    std::fs::write(&f, format!("1 {KEY} 1\n")).unwrap();
    let out = post(&env, "MultiEdit", &input, "toolu_m");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "one two one\n");

    let nb = env.project().join("n.ipynb");
    let before = r#"{"cells": [{"cell_type": "code", "id": "c1", "source": ["x = 1\n"]}], "nbformat": 4}"#;
    std::fs::write(&nb, before).unwrap();
    let input =
        json!({"notebook_path": nb, "cell_id": "c1", "new_source": format!("key = '{KEY}'"), "edit_mode": "replace"});
    pre(&env, "NotebookEdit", &input, "toolu_nb");
    std::fs::write(&nb, before.replace("x = 1\\n", &format!("key = '{KEY}'"))).unwrap();
    assert!(std::fs::read_to_string(&nb).unwrap().contains(KEY));
    let mut ev: Value =
        serde_json::from_slice(&tool_event(&env, "PostToolUse", "NotebookEdit", input, "toolu_nb")).unwrap();
    ev["tool_response"] = json!({});
    let out = env.dispatch(&serde_json::to_vec(&ev).unwrap());
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("hookhost reverted this NotebookEdit"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&nb).unwrap(), before);
}

#[test]
fn rollback_failed_tool_drops_its_snapshot() {
    let env = scanner_env(json!({}));
    let f = env.project().join("n.txt");
    std::fs::write(&f, "n\n").unwrap();
    let input = edit_input(&f, "missing", KEY);
    pre(&env, "Edit", &input, "toolu_fail");
    assert_eq!(snapshots(&env).len(), 1);
    let mut ev: Value =
        serde_json::from_slice(&tool_event(&env, "PostToolUseFailure", "Edit", input, "toolu_fail")).unwrap();
    ev["error"] = "String to replace not found in file.".into();
    let out = env.dispatch(&serde_json::to_vec(&ev).unwrap());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(snapshots(&env).is_empty());
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "n\n");
}

#[test]
fn rollback_concurrent_edits_of_different_files_roll_back_independently() {
    let env = scanner_env(json!({}));
    let files: Vec<(PathBuf, String)> =
        (0..2).map(|i| (env.project().join(format!("f{i}.txt")), format!("original {i}\n"))).collect();
    let mut inputs = Vec::new();
    for (i, (f, text)) in files.iter().enumerate() {
        std::fs::write(f, text).unwrap();
        let input = edit_input(f, "original", &format!("{KEY} {i}"));
        pre(&env, "Edit", &input, &format!("toolu_c{i}"));
        inputs.push(input);
    }
    // A third, accepted edit in flight at the same time.
    let ok = env.project().join("ok.txt");
    std::fs::write(&ok, "fine\n").unwrap();
    let ok_input = edit_input(&ok, "fine", "still fine");
    pre(&env, "Edit", &ok_input, "toolu_c2");
    assert_eq!(snapshots(&env).len(), 3);
    for (i, (f, _)) in files.iter().enumerate() {
        std::fs::write(f, format!("{KEY} {i} {i}\n")).unwrap();
    }
    std::fs::write(&ok, "still fine\n").unwrap();
    // The three PostToolUse dispatches run at the same time, as separate processes.
    let jobs: Vec<(std::process::Command, Vec<u8>)> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| (format!("toolu_c{i}"), input))
        .chain(std::iter::once(("toolu_c2".to_string(), &ok_input)))
        .map(|(id, input)| (env.command(&["dispatch"]), tool_event(&env, "PostToolUse", "Edit", input.clone(), &id)))
        .collect();
    let handles: Vec<_> =
        jobs.into_iter().map(|(c, ev)| std::thread::spawn(move || crate::support::run(c, &ev))).collect();
    let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs.iter().map(|o| o.code).collect::<Vec<_>>(), [2, 2, 0], "{outs:?}");
    for (f, text) in &files {
        assert_eq!(&std::fs::read_to_string(f).unwrap(), text, "{} restored to its own content", f.display());
    }
    assert_eq!(std::fs::read_to_string(&ok).unwrap(), "still fine\n");
    assert!(snapshots(&env).is_empty());
    assert_eq!(audit(&env, "rollback").len(), 2);
}

#[test]
fn rollback_third_party_write_between_pre_and_post_is_kept_and_reported() {
    let env = scanner_env(json!({}));
    let f = env.project().join("cfg.txt");
    std::fs::write(&f, "a\n").unwrap();
    let input = edit_input(&f, "a", &format!("a {KEY}"));
    pre(&env, "Edit", &input, "toolu_tp");
    std::fs::write(&f, format!("a {KEY}\n")).unwrap();
    // Someone else (an editor, a formatter) writes the file before PostToolUse.
    let theirs = format!("a {KEY}\nthe user's own line\n");
    std::fs::write(&f, &theirs).unwrap();
    let out = post(&env, "Edit", &input, "toolu_tp");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("did NOT revert"), "{}", out.stderr);
    assert!(out.stderr.contains("changed by someone else"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), theirs, "the third party's write is kept");
    let recs = audit(&env, "rollback");
    assert_eq!(recs[0]["action"], "conflict");
    assert_eq!(recs[0]["before_sha256"], sha(theirs.as_bytes()));
    assert!(snapshots(&env).is_empty());
}

#[test]
fn rollback_stale_snapshot_is_cleaned_at_next_start_and_never_applied() {
    let env = scanner_env(json!({"hookhost": {"rollbackSnapshotTtlSeconds": 1, "rollbackRejectedEdits": true}}));
    let f = env.project().join("a.txt");
    std::fs::write(&f, "one\n").unwrap();
    let input = edit_input(&f, "one", KEY);
    pre(&env, "Edit", &input, "toolu_dead");
    assert_eq!(snapshots(&env).len(), 1);
    // The process that would have handled PostToolUse is gone (killed), and so is a writer that
    // died half-way through a snapshot.
    let dir = env.state_home().join("hookhost/rollback/edits");
    std::fs::write(dir.join("0123456789abcdef.4194304999.tmp"), b"{\"half").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // The next start (any event) cleans both.
    let out = env.dispatch(&crate::support::bash_event("ls"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(snapshots(&env).is_empty(), "{:?}", snapshots(&env));
    let cleaned = audit(&env, "rollback");
    assert_eq!(cleaned.iter().filter(|r| r["action"] == "stale_snapshot_removed").count(), 2, "{cleaned:?}");
    // A late PostToolUse for that call finds nothing to apply: the file is left alone, and the
    // reason says the change could not be reverted.
    std::fs::write(&f, format!("{KEY}\n")).unwrap();
    std::fs::write(env.project().join("other.txt"), "other\n").unwrap();
    let out = post(&env, "Edit", &input, "toolu_dead");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("could not revert"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{KEY}\n"));
}

#[test]
fn rollback_snapshot_is_never_applied_to_another_file_or_after_a_killed_dispatch() {
    let env = scanner_env(json!({}));
    let a = env.project().join("a.txt");
    let b = env.project().join("b.txt");
    std::fs::write(&a, "a\n").unwrap();
    std::fs::write(&b, format!("b {KEY}\n")).unwrap();
    pre(&env, "Edit", &edit_input(&a, "a", "aa"), "toolu_same");
    // A PostToolUse reusing the id for another file: the snapshot of a.txt is not applied to b.txt.
    let out = post(&env, "Edit", &edit_input(&b, "b", &format!("b {KEY}")), "toolu_same");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), format!("b {KEY}\n"));
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "a\n");
    assert!(out.stderr.contains("did not apply the rollback snapshot"), "{}", out.stderr);
    assert!(snapshots(&env).is_empty(), "the mismatched snapshot is discarded");

    // SIGKILL of the one-shot process while PostToolUse hooks run: the snapshot survives the
    // crash, and a retried PostToolUse still restores the right file.
    let slow = env.path().join("slow.sh");
    std::fs::write(&slow, "#!/bin/sh\nsleep 30\n").unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write(
        "managed.d/30-slow.json",
        &crate::support::hook_settings("PostToolUse", "Edit", json!([{"type": "command", "command": slow}])),
    );
    std::fs::write(&a, "a\n").unwrap();
    let input = edit_input(&a, "a", KEY);
    pre(&env, "Edit", &input, "toolu_kill");
    std::fs::write(&a, format!("{KEY}\n")).unwrap();
    let mut child = env
        .command(&["dispatch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&tool_event(&env, "PostToolUse", "Edit", input.clone(), "toolu_kill")).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), format!("{KEY}\n"), "nothing applied by the killed process");
    assert_eq!(snapshots(&env).len(), 1);
    std::fs::remove_file(env.scope_path("managed.d/30-slow.json")).unwrap();
    let out = post(&env, "Edit", &input, "toolu_kill");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "a\n");
}

#[test]
fn rollback_too_large_file_is_not_snapshotted_and_warned() {
    let env = scanner_env(json!({"hookhost": {"rollbackMaxFileBytes": 16}}));
    let f = env.project().join("big.txt");
    std::fs::write(&f, "0123456789abcdefXYZ\n").unwrap();
    let out = pre(&env, "Edit", &edit_input(&f, "XYZ", KEY), "toolu_big");
    assert!(out.stdout.contains("above the rollback cap"), "{out:?}");
    assert!(snapshots(&env).is_empty());
    assert_eq!(audit(&env, "rollback")[0]["action"], "not_armed_too_large");
}

/// A rollback that cannot be armed (the event has no `tool_use_id` to pair PreToolUse with
/// PostToolUse) says so to the user and writes an audit record, never a silent skip.
#[test]
fn rollback_that_cannot_be_armed_says_so_and_is_audited() {
    let env = scanner_env(json!({}));
    let f = env.project().join("notes.txt");
    std::fs::write(&f, "hello\n").unwrap();
    let mut e: Value =
        serde_json::from_slice(&tool_event(&env, "PreToolUse", "Edit", edit_input(&f, "hello", KEY), "x")).unwrap();
    e.as_object_mut().unwrap().remove("tool_use_id");
    let out = env.dispatch(&serde_json::to_vec(&e).unwrap());
    assert_eq!(out.code, 0, "the edit itself is not blocked: {out:?}");
    let said: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(said["systemMessage"].as_str().unwrap_or("").contains("rollback cannot be armed"), "{out:?}");
    assert!(snapshots(&env).is_empty(), "nothing was snapshotted");
    let recs = audit(&env, "rollback");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["action"], "not_armed_no_tool_use_id");
    assert_eq!(recs[0]["path"], f.display().to_string());
    assert!(recs[0]["detail"].as_str().unwrap().contains("cannot be undone"), "{recs:?}");
    // The file is untouched by hookhost.
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello\n");
}

#[test]
fn rollback_explain_says_whether_armed() {
    let env = scanner_env(json!({}));
    let f = env.project().join("x.txt");
    let out =
        env.run(&["explain"], &tool_event(&env, "PreToolUse", "Write", json!({"file_path": f, "content": ""}), "t"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&format!("rollback: armed for {}", f.display())), "{}", out.stdout);
    assert!(out.stdout.contains("scan-secrets-rollback/hook.sh"), "{}", out.stdout);
    assert!(snapshots(&env).is_empty(), "explain takes no snapshot");
    let out = env.run(&["explain"], &crate::support::bash_event("ls"));
    assert!(out.stdout.contains("rollback: not possible for Bash"), "{}", out.stdout);
    let out = env.run(&["explain"], &config_change(&env, "local_settings"));
    assert!(out.stdout.contains("settings revert: off"), "{}", out.stdout);
}

// ---- settings revert ----

/// A ConfigChange hook that blocks any settings file mentioning `bypassPermissions`.
pub(super) fn guard_env(revert: bool) -> Env {
    let env = Env::new();
    let guard = env.path().join("guard.sh");
    std::fs::write(
        &guard,
        "#!/bin/sh\nf=$(/usr/bin/jq -r .file_path)\nif grep -q bypassPermissions \"$f\"; then\n  \
         echo 'bypassPermissions is not allowed' >&2; exit 2\nfi\n",
    )
    .unwrap();
    std::fs::set_permissions(&guard, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut managed: Value = serde_json::from_str(&crate::support::hook_settings(
        "ConfigChange",
        "",
        json!([{"type": "command", "command": guard}]),
    ))
    .unwrap();
    if revert {
        managed["hookhost"] = json!({"revertBlockedConfigChanges": true});
    }
    env.write("managed", &managed.to_string());
    env
}

/// The fixture-shaped ConfigChange event, for this machine's project (or home).
pub(super) fn config_change(env: &Env, source: &str) -> Vec<u8> {
    let name =
        if source == "user_settings" { "ConfigChange-user_settings.json" } else { "ConfigChange-local_settings.json" };
    let text = String::from_utf8(fixture(name)).unwrap();
    let text = text
        .replace("/home/dev/project", &env.project().to_string_lossy())
        .replace("/home/dev", &env.path().to_string_lossy());
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["source"] = source.into();
    serde_json::to_vec(&v).unwrap()
}

pub(super) fn session_start(env: &Env) -> Output {
    let text = String::from_utf8(fixture("SessionStart.json")).unwrap();
    let out = env.dispatch(text.replace("/home/dev/project", &env.project().to_string_lossy()).as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    out
}

pub(super) const GOOD: &str = "{\n  \"permissions\": {\"allow\": [\"Bash(ls)\"]}\n}\n";
const GOOD2: &str = "{\n  \"permissions\": {\"allow\": [\"Bash(ls)\", \"Bash(pwd)\"]}\n}\n";
pub(super) const BAD: &str = "{\n  \"permissions\": {\"defaultMode\": \"bypassPermissions\"}\n}\n";

pub(super) fn local_settings(env: &Env) -> PathBuf {
    env.project().join(".claude/settings.local.json")
}

#[test]
fn rollback_blocked_config_change_is_reverted_and_accepted_change_updates_snapshot() {
    let env = guard_env(true);
    let f = local_settings(&env);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, GOOD).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    session_start(&env);

    std::fs::write(&f, BAD).unwrap();
    let out = env.dispatch(&config_change(&env, "local_settings"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("bypassPermissions is not allowed"), "{}", out.stderr);
    assert!(out.stderr.contains("reverted"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), GOOD, "a restart cannot load the blocked change");
    assert_eq!(mode(&f), 0o600);
    let recs = audit(&env, "settings_revert");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["action"], "reverted");
    assert_eq!(recs[0]["before_sha256"], sha(BAD.as_bytes()));
    assert_eq!(recs[0]["after_sha256"], sha(GOOD.as_bytes()));

    // An accepted change becomes the new last accepted content.
    std::fs::write(&f, GOOD2).unwrap();
    let out = env.dispatch(&config_change(&env, "local_settings"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), GOOD2);
    std::fs::write(&f, BAD).unwrap();
    let out = env.dispatch(&config_change(&env, "local_settings"));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), GOOD2);

    // A file created by a blocked change (absent at SessionStart) is removed.
    let user = env.path().join(".claude/settings.json");
    assert!(!user.exists());
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, BAD).unwrap();
    let out = env.dispatch(&config_change(&env, "user_settings"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(!user.exists());
}

#[test]
fn rollback_config_revert_off_leaves_the_file_and_policy_is_never_reverted() {
    let env = guard_env(false);
    let f = local_settings(&env);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, GOOD).unwrap();
    session_start(&env);
    std::fs::write(&f, BAD).unwrap();
    let out = env.dispatch(&config_change(&env, "local_settings"));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), BAD, "option off: left alone");
    assert!(audit(&env, "settings_revert").is_empty());

    // Option on, but policy_settings: applied, never blocked, never reverted.
    let env = guard_env(true);
    let f = local_settings(&env);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, GOOD).unwrap();
    session_start(&env);
    std::fs::write(&f, BAD).unwrap();
    let out = env.dispatch(&config_change(&env, "policy_settings"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), BAD);
}

// ---- the long-lived bus (what the daemon runs) ----

#[test]
fn rollback_long_lived_bus_restores_and_a_restarted_bus_cleans_stale_snapshots() {
    use hookhost::{DispatchContext, EventBus, HookEvent};
    let env = scanner_env(json!({"hookhost": {"rollbackSnapshotTtlSeconds": 1}}));
    let state = env.state_home().join("hookhost");
    let loc = hookhost::Locations {
        managed_dir: env.managed_dir(),
        user_file: None,
        project_dir: Some(env.project()),
        cli_file: None,
        state_dir: Some(state.clone()),
    };
    let loaded = hookhost::settings::load(&loc);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let ctx = DispatchContext { project_dir: Some(env.project()), user_dir: None };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let run = |bus: &EventBus, name: &str, input: &Value, id: &str| {
        let ev = HookEvent::parse(&tool_event(&env, name, "Edit", input.clone(), id)).unwrap();
        rt.block_on(bus.dispatch(&ev, &ctx))
    };

    // One bus serves Pre and Post, as the daemon does.
    let bus = EventBus::new(loaded.settings.clone()).with_rollback(&state);
    let f = env.project().join("d.txt");
    std::fs::write(&f, "d\n").unwrap();
    let input = edit_input(&f, "d", KEY);
    run(&bus, "PreToolUse", &input, "toolu_d1");
    std::fs::write(&f, format!("{KEY}\n")).unwrap();
    let out = run(&bus, "PostToolUse", &input, "toolu_d1");
    assert!(out.verdict.blocked);
    assert!(out.verdict.reason.unwrap_or_default().contains("hookhost reverted this Edit"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "d\n");

    // The daemon dies between Pre and Post (its bus is gone without a PostToolUse).
    run(&bus, "PreToolUse", &input, "toolu_d2");
    drop(bus);
    assert_eq!(snapshots(&env).len(), 1);
    std::fs::write(&f, format!("{KEY}\n")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // The restarted daemon's bus cleans it at start; a late Post finds nothing to apply.
    let bus = EventBus::new(loaded.settings.clone()).with_rollback(&state);
    assert!(snapshots(&env).is_empty());
    let out = run(&bus, "PostToolUse", &input, "toolu_d2");
    assert!(out.verdict.blocked);
    assert!(out.verdict.reason.unwrap_or_default().contains("could not revert"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{KEY}\n"), "no stale snapshot applied");
}
