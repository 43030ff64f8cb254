//! Rollback of a patch-shaped edit (Codex and Copilot `apply_patch`, mapped to `Edit`/`Write`
//! with `tool_input.files` by the adapters): every file the patch adds, updates, deletes or
//! moves gets its own snapshot at PreToolUse (`<tool_use_id>#patch-<k>`) and its own restore at
//! PostToolUse, not only `file_path`.
//!
//! What each file must look like for the restore to be the undoing of this call ([`Expect`]):
//! added, updated and move destinations changed ([`Expect::Changed`]); deleted files and move
//! sources gone ([`Expect::Absent`]: one that is back with other content was written by someone
//! else, and is kept). A file named twice takes its last role. Relative paths (no `cwd` to
//! resolve them) are skipped.

use std::path::PathBuf;

use serde_json::Value;

use super::edits::Expect;

/// The snapshot id of the `k`th file of the patch of call `tool_use_id`.
pub fn snapshot_id(tool_use_id: &str, k: usize) -> String {
    format!("{tool_use_id}#patch-{k}")
}

/// The files of a patch call and what the patch leaves at each; `None` when `input` is not a
/// patch (no `files` list).
pub fn files(input: &Value) -> Option<Vec<(PathBuf, Expect)>> {
    let list = input.get("files")?.as_array()?;
    let mut out: Vec<(PathBuf, Expect)> = Vec::new();
    let mut put = |p: &str, e: Expect| {
        let p = PathBuf::from(p);
        if !p.is_absolute() {
            return;
        }
        out.retain(|(q, _)| *q != p);
        out.push((p, e));
    };
    for f in list {
        let Some(path) = f.get("path").and_then(Value::as_str) else { continue };
        let action = f.get("action").and_then(Value::as_str).unwrap_or("update");
        match (action, f.get("move_to").and_then(Value::as_str)) {
            ("delete", _) => put(path, Expect::Absent),
            (_, Some(to)) => {
                put(path, Expect::Absent);
                put(to, Expect::Changed);
            }
            _ => put(path, Expect::Changed),
        }
    }
    Some(out)
}
