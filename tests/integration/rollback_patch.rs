//! Rollback of a multi-file patch (issue 21): a Codex `apply_patch` that adds, updates, deletes
//! and moves files, through the real `hookhost dispatch --agent codex`, with a PostToolUse hook
//! (`rollback: true`) that rejects it: every file the patch touched is put back, not only
//! `file_path`. The test plays Codex (it applies the patch to the real files between Pre and
//! Post); every assertion is on the files (bytes, mode, existence) and the audit records.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Env, Output, hook_settings};

/// Rejects (exit 2) a PostToolUse whose event mentions `REJECT`; armed for rollback.
fn env() -> Env {
    let env = Env::new();
    let cmd = "if grep -q REJECT; then echo 'rejected patch' >&2; exit 2; fi; exit 0";
    env.write(
        "managed",
        &hook_settings("PostToolUse", "Edit|Write", json!([{"type": "command", "command": cmd, "rollback": true}])),
    );
    env
}

fn codex(env: &Env, name: &str, patch: &str, id: &str) -> Output {
    let mut e = json!({
        "session_id": "s1", "turn_id": "t1", "cwd": env.project(), "hook_event_name": name,
        "model": "gpt-5.5", "permission_mode": "bypassPermissions", "tool_name": "apply_patch",
        "tool_input": {"command": patch}, "tool_use_id": id,
    });
    if name == "PostToolUse" {
        e["tool_response"] = "Exit code: 0\nSuccess.".into();
    }
    env.run(&["dispatch", "--agent", "codex"], &serde_json::to_vec(&e).unwrap())
}

fn file(env: &Env, name: &str) -> std::path::PathBuf {
    env.project().join(name)
}

fn put(p: &Path, text: &str, mode: u32) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn records(env: &Env) -> Vec<Value> {
    let text = std::fs::read_to_string(env.state_home().join("hookhost/audit.jsonl")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|r| r["kind"] == "rollback").collect()
}

fn action_of(env: &Env, p: &Path) -> String {
    records(env)
        .iter()
        .rev()
        .find(|r| r["path"] == p.to_str().unwrap())
        .and_then(|r| r["action"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Runs Pre, applies `apply` (the agent's edit), runs Post: the Post must block.
fn rejected(env: &Env, patch: &str, id: &str, apply: impl FnOnce()) -> Output {
    let pre = codex(env, "PreToolUse", patch, id);
    assert_eq!(pre.code, 0, "{pre:?}");
    apply();
    let post = codex(env, "PostToolUse", patch, id);
    assert_eq!(post.code, 2, "the rejecting hook blocks: {post:?}");
    assert!(post.stderr.contains("hookhost reverted this patch"), "{post:?}");
    post
}

fn no_snapshots_left(env: &Env) {
    let left: Vec<_> = std::fs::read_dir(env.state_home().join("hookhost/rollback/edits"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "snapshots left behind: {left:?}");
}

#[test]
fn rollback_patch_added_file_is_removed() {
    let env = env();
    let f = file(&env, "new.txt");
    let patch = "*** Begin Patch\n*** Add File: new.txt\n+REJECT this\n*** End Patch\n";
    rejected(&env, patch, "call_add", || put(&f, "REJECT this\n", 0o644));
    assert!(!f.exists(), "the added file is removed");
    assert_eq!(action_of(&env, &f), "removed");
    no_snapshots_left(&env);
}

#[test]
fn rollback_patch_updated_files_are_restored_byte_for_byte_with_mode() {
    let env = env();
    let (a, b) = (file(&env, "a.txt"), file(&env, "b.txt"));
    put(&a, "one\ntwo\n", 0o640);
    put(&b, "alpha\n", 0o600);
    let patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-two\n+REJECT\n*** Update File: b.txt\n@@\n-alpha\n+beta\n*** End Patch\n";
    rejected(&env, patch, "call_upd", || {
        put(&a, "one\nREJECT\n", 0o644);
        put(&b, "beta\n", 0o644);
    });
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "one\ntwo\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "alpha\n", "the second file too, not only file_path");
    assert_eq!((mode(&a), mode(&b)), (0o640, 0o600));
    assert_eq!(action_of(&env, &b), "restored");
}

#[test]
fn rollback_patch_deleted_file_is_recreated() {
    let env = env();
    let (keep, gone) = (file(&env, "keep.txt"), file(&env, "REJECT-gone.txt"));
    put(&keep, "k\n", 0o644);
    put(&gone, "precious\n", 0o640);
    let patch =
        "*** Begin Patch\n*** Update File: keep.txt\n@@\n-k\n+k2\n*** Delete File: REJECT-gone.txt\n*** End Patch\n";
    rejected(&env, patch, "call_del", || {
        put(&keep, "k2\n", 0o644);
        std::fs::remove_file(&gone).unwrap();
    });
    assert_eq!(std::fs::read_to_string(&gone).unwrap(), "precious\n", "the deleted file is back");
    assert_eq!(mode(&gone), 0o640);
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "k\n");
    assert_eq!(action_of(&env, &gone), "recreated");
}

#[test]
fn rollback_patch_moved_file_is_moved_back() {
    let env = env();
    let (from, to) = (file(&env, "from.txt"), file(&env, "sub/to.txt"));
    put(&from, "x\n", 0o600);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let patch = "*** Begin Patch\n*** Update File: from.txt\n*** Move to: sub/to.txt\n@@\n-x\n+REJECT\n*** End Patch\n";
    rejected(&env, patch, "call_mv", || {
        std::fs::remove_file(&from).unwrap();
        put(&to, "REJECT\n", 0o600);
    });
    assert_eq!(std::fs::read_to_string(&from).unwrap(), "x\n", "the source is back");
    assert_eq!(mode(&from), 0o600);
    assert!(!to.exists(), "the destination is removed");
    assert_eq!((action_of(&env, &from), action_of(&env, &to)), ("recreated".into(), "removed".into()));
}

#[test]
fn rollback_patch_of_every_kind_at_once_and_an_accepted_patch_stays() {
    let env = env();
    let (up, del, mv, add, dst) = (
        file(&env, "up.txt"),
        file(&env, "del.txt"),
        file(&env, "mv.txt"),
        file(&env, "add.txt"),
        file(&env, "moved.txt"),
    );
    put(&up, "u\n", 0o644);
    put(&del, "d\n", 0o644);
    put(&mv, "m\n", 0o644);
    let patch = "*** Begin Patch\n*** Update File: up.txt\n@@\n-u\n+REJECT\n*** Delete File: del.txt\n\
                 *** Update File: mv.txt\n*** Move to: moved.txt\n@@\n-m\n+m2\n*** Add File: add.txt\n+new\n*** End Patch\n";
    let apply = || {
        put(&up, "REJECT\n", 0o644);
        std::fs::remove_file(&del).unwrap();
        std::fs::rename(&mv, &dst).unwrap();
        put(&dst, "m2\n", 0o644);
        put(&add, "new\n", 0o644);
    };
    rejected(&env, patch, "call_all", apply);
    assert_eq!(std::fs::read_to_string(&up).unwrap(), "u\n");
    assert_eq!(std::fs::read_to_string(&del).unwrap(), "d\n");
    assert_eq!(std::fs::read_to_string(&mv).unwrap(), "m\n");
    assert!(!dst.exists() && !add.exists());
    no_snapshots_left(&env);
    // A third party's write to a deleted file after the tool ran is kept and reported.
    let patch2 = "*** Begin Patch\n*** Delete File: del.txt\n*** Add File: REJECT.txt\n+r\n*** End Patch\n";
    let post = rejected(&env, patch2, "call_third", || {
        std::fs::remove_file(&del).unwrap();
        put(&file(&env, "REJECT.txt"), "r\n", 0o644);
        put(&del, "someone else\n", 0o644);
    });
    assert_eq!(std::fs::read_to_string(&del).unwrap(), "someone else\n", "{post:?}");
    assert_eq!(action_of(&env, &del), "conflict");
    assert!(!file(&env, "REJECT.txt").exists());
    // Accepted: every change stays, the snapshots are dropped.
    let ok = "*** Begin Patch\n*** Update File: up.txt\n@@\n-u\n+u2\n*** Delete File: mv.txt\n*** End Patch\n";
    assert_eq!(codex(&env, "PreToolUse", ok, "call_ok").code, 0);
    put(&up, "u2\n", 0o644);
    std::fs::remove_file(&mv).unwrap();
    let post = codex(&env, "PostToolUse", ok, "call_ok");
    assert_eq!(post.code, 0, "{post:?}");
    assert_eq!(std::fs::read_to_string(&up).unwrap(), "u2\n");
    assert!(!mv.exists());
    no_snapshots_left(&env);
}
