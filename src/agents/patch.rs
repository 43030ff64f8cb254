//! Patch-shaped edits (Codex and Copilot `apply_patch`, unified diffs) parsed into the files
//! they add, update, delete and move, so that `Edit(…)`/`Write(…)` rules bind every path.
//!
//! Promise: the file list is a **superset** of what the agent could touch. Every header line
//! that names a file, wherever it sits in the text (inside or outside `*** Begin Patch` …
//! `*** End Patch`, indented, after a heredoc line), is collected: an agent whose own parser is
//! more lenient than ours (Codex trims lines, accepts a heredoc wrapper) cannot touch a file
//! this list lacks. A unified-diff path (`a/x`, `b/x`) is taken both without and with its
//! `a/`/`b/` prefix stripped, because Copilot writes absolute paths behind the prefix
//! (`a/home/user/project/new.txt`). Parsing never fails: text with no header yields no files.
//! It does not resolve paths (the permission engine does, against the event's `cwd`).

use serde_json::{Map, Value, json};

/// What a patch does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Add,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One file a patch touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub action: Action,
    pub path: String,
    /// `*** Move to:` / `rename to`: the file's new path.
    pub move_to: Option<String>,
    /// Added lines (`+…`, without the `+`) of this file's section.
    pub added: Vec<String>,
    /// Removed lines (`-…`) and context lines (` …`) in order, with their kind.
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub hunks: usize,
}

impl FileChange {
    fn new(action: Action, path: &str) -> Self {
        FileChange {
            action,
            path: path.to_string(),
            move_to: None,
            added: Vec::new(),
            old: Vec::new(),
            new: Vec::new(),
            hunks: 0,
        }
    }
}

/// Whether `text` looks like a patch (so that a shell command carrying one is inspected too).
pub fn looks_like_patch(text: &str) -> bool {
    text.contains("*** Begin Patch")
        || text.lines().any(|l| {
            let t = l.trim_start();
            t.starts_with("*** Add File:")
                || t.starts_with("*** Update File:")
                || t.starts_with("*** Delete File:")
                || t.starts_with("*** Move to:")
                || t.starts_with("diff --git ")
                || t.starts_with("+++ ")
        })
}

/// Parses a patch into the files it touches (see the module doc for the superset promise).
pub fn parse(text: &str) -> Vec<FileChange> {
    let mut files: Vec<FileChange> = Vec::new();
    let mut in_unified = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let t = line.trim();
        if let Some(p) = header(t, "*** Add File:") {
            files.push(FileChange::new(Action::Add, p));
            in_unified = false;
            continue;
        }
        if let Some(p) = header(t, "*** Update File:") {
            files.push(FileChange::new(Action::Update, p));
            in_unified = false;
            continue;
        }
        if let Some(p) = header(t, "*** Delete File:") {
            files.push(FileChange::new(Action::Delete, p));
            in_unified = false;
            continue;
        }
        if let Some(p) = header(t, "*** Move to:") {
            match files.last_mut() {
                Some(f) if f.move_to.is_none() => f.move_to = Some(p.to_string()),
                // A move with no file before it (or a second one): still a file written.
                _ => files.push(FileChange::new(Action::Add, p)),
            }
            continue;
        }
        // Unified diffs (git or plain).
        if let Some(rest) = t.strip_prefix("diff --git ") {
            in_unified = true;
            for p in split_git_paths(rest) {
                push_unified(&mut files, Action::Update, p);
            }
            continue;
        }
        if in_unified || t.starts_with("--- ") || t.starts_with("+++ ") {
            if let Some(p) = t.strip_prefix("--- ").or_else(|| t.strip_prefix("+++ ")) {
                let p = p.split('\t').next().unwrap_or(p).trim();
                if p != "/dev/null" && p != "a/dev/null" && p != "b/dev/null" {
                    in_unified = true;
                    push_unified(&mut files, Action::Update, p);
                }
                continue;
            }
            for (prefix, action) in [
                ("rename from ", Action::Delete),
                ("rename to ", Action::Add),
                ("copy to ", Action::Add),
                ("copy from ", Action::Update),
            ] {
                if let Some(p) = t.strip_prefix(prefix) {
                    push_unified(&mut files, action, p.trim());
                }
            }
        }
        // Body lines of the current file.
        if let Some(f) = files.last_mut() {
            if line.starts_with("@@") {
                f.hunks += 1;
            } else if let Some(a) = line.strip_prefix('+') {
                f.added.push(a.to_string());
                f.new.push(a.to_string());
            } else if let Some(r) = line.strip_prefix('-') {
                f.old.push(r.to_string());
            } else if let Some(c) = line.strip_prefix(' ') {
                f.old.push(c.to_string());
                f.new.push(c.to_string());
            }
        }
    }
    dedup(files)
}

fn header<'a>(t: &'a str, prefix: &str) -> Option<&'a str> {
    let p = t.strip_prefix(prefix)?.trim();
    (!p.is_empty()).then_some(p)
}

/// `diff --git a/x b/y`: both paths (split at ` b/` when there is one, else at the first space).
fn split_git_paths(rest: &str) -> Vec<&str> {
    let rest = rest.trim();
    if let Some(i) = rest.find(" b/") {
        return vec![rest[..i].trim(), rest[i + 1..].trim()];
    }
    rest.split_whitespace().collect()
}

fn push_unified(files: &mut Vec<FileChange>, action: Action, p: &str) {
    if p.is_empty() {
        return;
    }
    files.push(FileChange::new(action.clone(), p));
    if let Some(stripped) = p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")) {
        // Copilot writes `a/home/user/…` for `/home/user/…`; a git diff means `x` relative to
        // the repository. Both are kept.
        files.push(FileChange::new(action.clone(), stripped));
        files.push(FileChange::new(action, &format!("/{stripped}")));
    }
}

/// Keeps the first entry per (path, move_to); body lines of later duplicates are merged.
fn dedup(files: Vec<FileChange>) -> Vec<FileChange> {
    let mut out: Vec<FileChange> = Vec::new();
    for f in files {
        match out.iter_mut().find(|o| o.path == f.path && o.move_to == f.move_to) {
            Some(o) => {
                o.added.extend(f.added);
                o.old.extend(f.old);
                o.new.extend(f.new);
                o.hunks += f.hunks;
                if o.action != f.action && f.action == Action::Delete {
                    o.action = Action::Delete;
                }
            }
            None => out.push(f),
        }
    }
    out
}

/// Joins `path` to `cwd` when it is relative (lexically; the permission engine normalises).
pub fn absolute(path: &str, cwd: Option<&str>) -> String {
    match cwd {
        Some(c) if !path.starts_with('/') && !c.is_empty() => format!("{}/{path}", c.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// The canonical (Claude-shaped) tool call of a patch: `Write {file_path, content}` for one added
/// file, else `Edit {file_path, …}`; always with `patch` (the text) and `files` (every file
/// touched, absolute, with `action` and `move_to`), which the permission engine checks one by one.
pub fn canonical_call(text: &str, cwd: Option<&str>) -> (&'static str, Value) {
    let files = parse(text);
    let list: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut m = Map::new();
            m.insert("action".into(), f.action.as_str().into());
            m.insert("path".into(), absolute(&f.path, cwd).into());
            if let Some(t) = &f.move_to {
                m.insert("move_to".into(), absolute(t, cwd).into());
            }
            Value::Object(m)
        })
        .collect();
    let mut input = Map::new();
    let tool = match files.as_slice() {
        [f] if f.action == Action::Add && f.move_to.is_none() => {
            input.insert("file_path".into(), absolute(&f.path, cwd).into());
            input.insert("content".into(), join_lines(&f.added).into());
            "Write"
        }
        [f] if f.action == Action::Update && f.hunks <= 1 => {
            input.insert("file_path".into(), absolute(&f.path, cwd).into());
            input.insert("old_string".into(), f.old.join("\n").into());
            input.insert("new_string".into(), f.new.join("\n").into());
            "Edit"
        }
        [f, ..] => {
            input.insert("file_path".into(), absolute(&f.path, cwd).into());
            "Edit"
        }
        [] => "Edit",
    };
    input.insert("patch".into(), text.into());
    input.insert("files".into(), Value::Array(list));
    (tool, Value::Object(input))
}

fn join_lines(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("{}\n", lines.join("\n")) }
}

/// Every path a canonical tool input names: each of `file_path`, `notebook_path`, `path`,
/// `absolute_path` present, and each `files[].path` and `files[].move_to` of a patch.
pub fn input_paths(input: &Value) -> Vec<String> {
    let mut out: Vec<String> = ["file_path", "notebook_path", "path", "absolute_path"]
        .iter()
        .filter_map(|k| input.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    if let Some(files) = input.get("files").and_then(Value::as_array) {
        for f in files {
            for k in ["path", "move_to"] {
                if let Some(p) = f.get(k).and_then(Value::as_str) {
                    out.push(p.to_string());
                }
            }
        }
    }
    out
}

/// The `files` list of a patch, as the permission engine reads it (for tests and `explain`).
pub fn files_json(text: &str, cwd: Option<&str>) -> Value {
    json!(parse(text).iter().map(|f| absolute(&f.path, cwd)).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_add_and_update() {
        let add = parse("*** Begin Patch\n*** Add File: new.txt\n+brand new\n*** End Patch\n");
        assert_eq!(add.len(), 1);
        assert_eq!(add[0].action, Action::Add);
        assert_eq!(add[0].path, "new.txt");
        assert_eq!(add[0].added, vec!["brand new"]);
        let up =
            parse("*** Begin Patch\n*** Update File: existing.txt\n@@\n-line one\n+line one edited\n*** End Patch\n");
        assert_eq!(up[0].action, Action::Update);
        assert_eq!(up[0].old, vec!["line one"]);
        assert_eq!(up[0].new, vec!["line one edited"]);
    }

    #[test]
    fn every_header_counts() {
        let p = "*** Begin Patch\n*** Update File: a.txt\n*** Move to: secrets/b.txt\n@@\n-x\n+y\n*** Delete File: c\n  *** Add File: d \n*** End Patch\n*** Add File: outside\n";
        let f = parse(p);
        let paths: Vec<_> = f.iter().map(|f| (f.path.as_str(), f.move_to.as_deref())).collect();
        assert_eq!(paths, vec![("a.txt", Some("secrets/b.txt")), ("c", None), ("d", None), ("outside", None)]);
    }

    #[test]
    fn unified_diff_both_readings() {
        let d = "\ndiff --git a/home/user/project/new.txt b/home/user/project/new.txt\ncreate file mode 100644\n--- a/dev/null\n+++ b/home/user/project/new.txt\n@@ -1,0 +1,1 @@\n+brand new\n";
        let paths: Vec<_> = parse(d).into_iter().map(|f| f.path).collect();
        assert!(paths.contains(&"/home/user/project/new.txt".to_string()), "{paths:?}");
        assert!(paths.contains(&"home/user/project/new.txt".to_string()), "{paths:?}");
    }

    #[test]
    fn canonical() {
        let (tool, input) =
            canonical_call("*** Begin Patch\n*** Add File: new.txt\n+brand new\n*** End Patch\n", Some("/p"));
        assert_eq!(tool, "Write");
        assert_eq!(input["file_path"], "/p/new.txt");
        assert_eq!(input["content"], "brand new\n");
        assert_eq!(input_paths(&input), vec!["/p/new.txt", "/p/new.txt"]);
        let (tool, input) = canonical_call("garbage", Some("/p"));
        assert_eq!(tool, "Edit");
        assert!(input_paths(&input).is_empty());
    }
}
