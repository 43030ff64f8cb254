//! Undoing rejected changes: edits a PostToolUse hook rejects, and settings changes a
//! ConfigChange hook blocks (issue 11).
//!
//! Owns: the edit snapshot store (`edits`: one snapshot per `tool_use_id`, taken at PreToolUse,
//! restored or dropped at PostToolUse), the last-accepted settings snapshots (`settings`: taken
//! at SessionStart and after every accepted ConfigChange — exactly the content its hooks judged,
//! captured before they ran, and nothing if the file changed while they decided — written back
//! when a change is blocked), and the bus stage that drives both ([`Rollback::stage`]), which also produces the
//! audit records (`kind: "rollback"` / `"settings_revert"`, with before/after sha256).
//!
//! Promises: a restore is atomic (temp file in the same directory + fsync + rename + directory
//! fsync; a file the tool created is removed); a file whose bytes are not what the tool wrote
//! (a third party changed it between Pre and Post) is never clobbered, the conflict is reported
//! instead; a snapshot is applied only to the path it was taken of, for the same `tool_use_id`
//! and session; stale snapshots (older than the TTL, from another boot, half-written by a dead
//! process) are removed when a store is opened and are never applied; files above the size cap
//! are not snapshotted (a warning at PreToolUse, audited); `policy_settings` are never reverted.
//!
//! A patch (`tool_input.files`, Codex and Copilot `apply_patch`) is undone file by file: every
//! file it adds, updates, deletes or moves (`patch`).
//!
//! Does not: undo anything a tool did outside the files it names (Bash side effects, other
//! tools, MCP tools), or decide anything: the fold decides, this only applies its verdict to
//! the disk.

pub mod dirfd;
pub mod edits;
pub mod patch;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::decision::Verdict;
use crate::event::{EventKind, EventName, HookEvent};

pub use edits::{EditSnapshot, EditStore, Restore, SnapshotMeta};
pub use settings::{RevertAction, RevertReport, SettingsSnapshots};

/// The tools whose one target file hookhost can snapshot and restore.
pub const EDIT_TOOLS: &[&str] = &["Edit", "Write", "MultiEdit", "NotebookEdit"];
/// How long an edit snapshot waits for its PostToolUse unless managed
/// `hookhost.rollbackSnapshotTtlSeconds` says otherwise.
pub const DEFAULT_SNAPSHOT_TTL: Duration = Duration::from_secs(3600);
/// The largest file snapshotted unless managed `hookhost.rollbackMaxFileBytes` says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A broken rollback store (the host's problem, reported and audited; never a hook decision).
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid snapshot: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error("{}: {why}", path.display())]
    Unsupported { path: PathBuf, why: String },
    /// The path no longer leads where it did when the snapshot was taken: nothing was written.
    #[error("{}: refused: {why}", path.display())]
    Refused { path: PathBuf, why: String },
}

impl RollbackError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        RollbackError::Io { path: path.to_path_buf(), source }
    }
}

/// The rollback settings in force (managed scope only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOptions {
    /// `hookhost.rollbackRejectedEdits`: arm every Edit/Write/MultiEdit/NotebookEdit call.
    pub rejected_edits: bool,
    /// `hookhost.revertBlockedConfigChanges`.
    pub revert_config_changes: bool,
    pub ttl: Duration,
    pub max_file_bytes: u64,
}

impl Default for RollbackOptions {
    fn default() -> Self {
        RollbackOptions {
            rejected_edits: false,
            revert_config_changes: false,
            ttl: DEFAULT_SNAPSHOT_TTL,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Why an edit rollback is armed for a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armed {
    /// The file the tool changes (absolute).
    pub path: PathBuf,
    /// What armed it: hook labels with `rollback: true`, or the managed option.
    pub by: Vec<String>,
}

/// The file an edit tool call changes: `tool_input.file_path` (Edit, Write, MultiEdit) or
/// `tool_input.notebook_path` (NotebookEdit), relative paths resolved against the event's
/// `cwd`. `None` for other tools, or when the path is missing or cannot be made absolute.
pub fn edit_target(event: &HookEvent) -> Option<(String, PathBuf)> {
    edit_target_of(event.tool_name()?, event.tool_input()?, event.cwd())
}

/// [`edit_target`] for a tool name, its input and the event's `cwd`.
pub fn edit_target_of(tool: &str, input: &Value, cwd: Option<&str>) -> Option<(String, PathBuf)> {
    if !EDIT_TOOLS.contains(&tool) {
        return None;
    }
    let key = if tool == "NotebookEdit" { "notebook_path" } else { "file_path" };
    let p = PathBuf::from(input.get(key)?.as_str().filter(|s| !s.is_empty())?);
    let p = if p.is_absolute() { p } else { PathBuf::from(cwd.filter(|c| c.starts_with('/'))?).join(p) };
    Some((tool.to_string(), p))
}

/// What a ConfigChange's hooks judged, captured before they run (see [`Rollback::judged`]): the
/// content that becomes "last accepted" if they pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// The exact candidate content the event carried (hookhost's own settings gate puts it in
    /// `hookhost.new_content`, checked against `hookhost.new_sha256`); `None`: a deletion.
    Exact(Option<Vec<u8>>),
    /// The file as it was when the hooks started (`None`: absent); accepted only if it is still
    /// exactly that after they decided, else the write that landed meanwhile is a new change.
    Before(Option<Vec<u8>>),
    /// Could not be captured (unreadable, too large): nothing is accepted.
    Unknown(String),
}

/// The rollback component of an `EventBus`: snapshots and restores for one state directory.
#[derive(Debug)]
pub struct Rollback {
    pub edits: EditStore,
    pub settings: SettingsSnapshots,
    pub options: RollbackOptions,
    /// Audit records produced while opening (stale snapshots cleaned), emitted with the next
    /// event.
    pending: Mutex<Vec<Map<String, Value>>>,
    /// When stale snapshots were last removed (a long-lived bus, in the daemon, cleans again
    /// every [`CLEAN_INTERVAL`]).
    last_clean: Mutex<std::time::Instant>,
}

/// How often a long-lived `Rollback` removes stale snapshots again.
pub const CLEAN_INTERVAL: Duration = Duration::from_secs(300);

fn cleaned_records(edits: &EditStore) -> Vec<Map<String, Value>> {
    edits
        .clean()
        .into_iter()
        .map(|(path, why)| {
            let mut r = record("rollback", None);
            r.insert("action".into(), "stale_snapshot_removed".into());
            r.insert("snapshot".into(), path.display().to_string().into());
            r.insert("detail".into(), why.into());
            r
        })
        .collect()
}

impl Rollback {
    /// Opens the stores under `state_dir/rollback/` and cleans stale edit snapshots (the
    /// "cleaned at start" promise). Directories are created on first write, mode 0700.
    pub fn open(state_dir: &Path, options: RollbackOptions) -> Self {
        let edits = EditStore::new(state_dir, options.ttl, options.max_file_bytes);
        let pending = cleaned_records(&edits);
        Rollback {
            edits,
            settings: SettingsSnapshots::new(state_dir),
            options,
            pending: Mutex::new(pending),
            last_clean: Mutex::new(std::time::Instant::now()),
        }
    }

    /// For a ConfigChange whose blocked change would be written back: what its hooks are about
    /// to judge, captured before they run. `None` for every other event.
    pub fn judged(&self, event: &HookEvent) -> Option<Judged> {
        if !self.options.revert_config_changes {
            return None;
        }
        let cc = event.config_change()?;
        if cc.source == crate::event::ConfigSource::PolicySettings || agent_guard_event(event) {
            return None;
        }
        let path = PathBuf::from(cc.file_path.as_deref().filter(|p| p.starts_with('/'))?);
        // hookhost's own gate shows its hooks the exact candidate.
        if let Some(ext) = event.fields().get("hookhost").and_then(Value::as_object) {
            if ext.get("change").and_then(Value::as_str) == Some("deleted") {
                return Some(Judged::Exact(None));
            }
            let sha = ext.get("new_sha256").and_then(Value::as_str);
            let content = ext.get("new_content").and_then(Value::as_str).map(|c| c.as_bytes().to_vec());
            return Some(match (sha, content) {
                (Some(sha), Some(c)) if sha256_hex(&c) == sha => Judged::Exact(Some(c)),
                // Too large to carry: the file, if it still is exactly the judged content.
                (Some(sha), None) => match read_settings(&path, self.options.max_file_bytes) {
                    Ok(Some(b)) if sha256_hex(&b) == sha => Judged::Exact(Some(b)),
                    _ => Judged::Unknown("the judged content is no longer on disk".into()),
                },
                _ => Judged::Unknown("the event does not carry the judged content".into()),
            });
        }
        Some(match read_settings(&path, self.options.max_file_bytes) {
            Ok(b) => Judged::Before(b),
            Err(e) => Judged::Unknown(e),
        })
    }

    /// Applies rollback to one dispatched event whose fold gave `verdict`: snapshot at
    /// PreToolUse (when `armed` and the call is not rejected), restore or drop at PostToolUse
    /// (`armed` there only decides whether a missing snapshot is reported),
    /// settings snapshots at SessionStart, accept or revert at ConfigChange. Adds what happened
    /// to the verdict (reason, system messages, `why`) and returns the audit records to write.
    pub fn stage(
        &self,
        event: &HookEvent,
        armed: Option<&Armed>,
        project_dir: Option<&Path>,
        judged: Option<Judged>,
        verdict: &mut Verdict,
    ) -> Vec<Map<String, Value>> {
        let mut records: Vec<Map<String, Value>> =
            self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        if let Ok(mut last) = self.last_clean.lock()
            && last.elapsed() >= CLEAN_INTERVAL
        {
            *last = std::time::Instant::now();
            records.extend(cleaned_records(&self.edits));
        }
        match event.kind() {
            EventKind::PreToolUse => {
                if let Some(a) = armed {
                    records.extend(self.before_edit(event, a, verdict));
                }
            }
            EventKind::PostToolUse => records.extend(self.after_edit(event, armed, verdict)),
            // The tool failed: it wrote nothing to undo; the snapshot is no longer needed.
            EventKind::PostToolUseFailure => {
                if let Some(id) = tool_use_id(event) {
                    let _ = self.edits.remove(&id);
                }
            }
            EventKind::ConfigChange if self.options.revert_config_changes => {
                records.extend(self.config_change(event, judged, verdict))
            }
            _ if *event.event_name() == EventName::SessionStart && self.options.revert_config_changes => {
                records.extend(self.session_start(event, project_dir, verdict))
            }
            _ => {}
        }
        records
    }

    fn before_edit(&self, event: &HookEvent, armed: &Armed, verdict: &mut Verdict) -> Vec<Map<String, Value>> {
        // A rejected call does not run: nothing to snapshot.
        if verdict.rejects() {
            return Vec::new();
        }
        let Some(id) = tool_use_id(event) else {
            // Cannot be armed: said to the user and the audit log, never silently skipped.
            let msg = format!(
                "hookhost: rollback cannot be armed for {} (asked by {}): the event has no tool_use_id to tie \
                 the PostToolUse to, so if a PostToolUse hook rejects this change it cannot be undone",
                armed.path.display(),
                armed.by.join(", ")
            );
            verdict.system_messages.push(msg.clone());
            verdict.why.push(msg.clone());
            let mut r = edit_record(event, &armed.path);
            r.insert("action".into(), "not_armed_no_tool_use_id".into());
            r.insert("detail".into(), msg.into());
            return vec![r];
        };
        if let Some(files) = event.tool_input().and_then(patch::files) {
            return self.before_patch(event, armed, &id, &files, verdict);
        }
        let tool = event.tool_name().unwrap_or("").to_string();
        let session = event.str_field("session_id").map(str::to_string);
        // A hook's `updatedInput` may name another file: the tool then edits that one.
        let path = verdict
            .updated_input
            .as_ref()
            .and_then(|u| edit_target_of(&tool, u, event.cwd()))
            .map_or_else(|| armed.path.clone(), |(_, p)| p);
        let armed = &Armed { path, by: armed.by.clone() };
        let mut r = edit_record(event, &armed.path);
        match self.edits.snapshot(&id, session.as_deref(), &tool, &armed.path) {
            Ok(edits::Snapshotted::Saved { sha256, .. }) => {
                verdict.why.push(format!(
                    "rollback armed for {} by {}: snapshot taken (sha256 {})",
                    armed.path.display(),
                    armed.by.join(", "),
                    sha256.as_deref().unwrap_or("-, file does not exist")
                ));
                return Vec::new();
            }
            Ok(edits::Snapshotted::TooLarge { len }) => {
                let msg = format!(
                    "hookhost: {} is {len} bytes, above the rollback cap of {} bytes: if a PostToolUse hook \
                     rejects this {tool}, the change cannot be undone",
                    armed.path.display(),
                    self.options.max_file_bytes
                );
                verdict.system_messages.push(msg.clone());
                verdict.why.push(msg.clone());
                r.insert("action".into(), "not_armed_too_large".into());
                r.insert("detail".into(), msg.into());
            }
            Err(e) => {
                let msg = format!(
                    "hookhost: cannot snapshot {} for rollback ({e}): if a PostToolUse hook rejects this {tool}, \
                     the change cannot be undone",
                    armed.path.display()
                );
                verdict.system_messages.push(msg.clone());
                r.insert("action".into(), "snapshot_failed".into());
                r.insert("detail".into(), msg.into());
            }
        }
        vec![r]
    }

    fn after_edit(&self, event: &HookEvent, armed: Option<&Armed>, verdict: &mut Verdict) -> Vec<Map<String, Value>> {
        let Some(id) = tool_use_id(event) else { return Vec::new() };
        if let Some(files) = event.tool_input().and_then(patch::files) {
            return self.after_patch(event, armed, &id, &files, verdict);
        }
        let snap = match self.edits.load(&id) {
            Ok(Some(s)) => s,
            Ok(None) => {
                // Armed, rejected, and nothing to restore: say so rather than imply an undo.
                if verdict.rejects()
                    && let Some(Armed { path, .. }) = armed
                {
                    let msg = format!(
                        "hookhost could not revert {}: no snapshot was taken at PreToolUse (expired, over the \
                         size cap, or never armed)",
                        path.display()
                    );
                    append_reason(verdict, &msg);
                    let mut r = edit_record(event, path);
                    r.insert("action".into(), "no_snapshot".into());
                    r.insert("detail".into(), msg.into());
                    return vec![r];
                }
                return Vec::new();
            }
            Err(e) => {
                let msg = format!("hookhost could not read the rollback snapshot for this call: {e}");
                if verdict.rejects() {
                    append_reason(verdict, &msg);
                }
                let path = edit_target(event).map(|(_, p)| p).unwrap_or_default();
                let mut r = edit_record(event, &path);
                r.insert("action".into(), "error".into());
                r.insert("detail".into(), msg.into());
                let _ = self.edits.remove(&id);
                return vec![r];
            }
        };
        // The snapshot belongs to this call only if it is of the same file, tool and session.
        let target = edit_target(event);
        let same_file = target.as_ref().is_some_and(|(tool, p)| *p == snap.meta.path && *tool == snap.meta.tool);
        let same_session = snap.meta.session_id.as_deref() == event.str_field("session_id");
        if !same_file || !same_session {
            let _ = self.edits.remove(&id);
            let msg = format!(
                "hookhost did not apply the rollback snapshot of tool_use_id {id}: it was taken of {} ({}) in \
                 another call",
                snap.meta.path.display(),
                snap.meta.tool
            );
            if verdict.rejects() {
                append_reason(verdict, &msg);
            }
            let mut r = edit_record(event, &snap.meta.path);
            r.insert("action".into(), "snapshot_mismatch".into());
            r.insert("detail".into(), msg.into());
            return vec![r];
        }
        if !verdict.rejects() {
            let _ = self.edits.remove(&id);
            verdict.why.push(format!("rollback not needed: the {} was accepted; snapshot dropped", snap.meta.tool));
            return Vec::new();
        }
        let expect = edits::expected_after(&snap, event.tool_input().unwrap_or(&Value::Null));
        let result = snap.restore(&expect);
        let _ = self.edits.remove(&id);
        let mut r = edit_record(event, &snap.meta.path);
        let p = snap.meta.path.display();
        let (action, msg) = match &result {
            Restore::Restored { .. } => (
                "restored",
                format!(
                    "hookhost reverted this {}: {p} was restored to its previous content and mode.",
                    snap.meta.tool
                ),
            ),
            Restore::Removed { .. } => {
                ("removed", format!("hookhost reverted this {}: {p}, which it created, was removed.", snap.meta.tool))
            }
            Restore::Recreated => {
                ("recreated", format!("hookhost reverted this {}: {p} was re-created.", snap.meta.tool))
            }
            Restore::Unchanged => ("unchanged", format!("hookhost: {p} is unchanged; nothing to revert.")),
            Restore::Refused { why, .. } => (
                "refused",
                format!(
                    "hookhost did NOT revert {p}: {why}. It refuses to write through a path that changed since the \
                     snapshot; the rejected change may still be on disk: review it."
                ),
            ),
            Restore::Conflict { why, .. } => (
                "conflict",
                format!(
                    "hookhost did NOT revert {p}: {why}. It was left as it is, so the rejected change may still \
                     be on disk: review it."
                ),
            ),
            Restore::Failed { error, .. } => {
                ("error", format!("hookhost could not revert {p}: {error}. The rejected change may still be on disk."))
            }
        };
        append_reason(verdict, &msg);
        verdict.why.push(msg.clone());
        r.insert("action".into(), action.into());
        let (before, after) = result.hashes(&snap);
        r.insert("before_sha256".into(), before.map_or(Value::Null, Value::from));
        r.insert("after_sha256".into(), after.map_or(Value::Null, Value::from));
        r.insert("detail".into(), msg.into());
        vec![r]
    }

    /// PreToolUse of a patch: one snapshot per file it touches (`patch::snapshot_id`).
    fn before_patch(
        &self,
        event: &HookEvent,
        armed: &Armed,
        id: &str,
        files: &[(PathBuf, edits::Expect)],
        verdict: &mut Verdict,
    ) -> Vec<Map<String, Value>> {
        let tool = event.tool_name().unwrap_or("").to_string();
        let session = event.str_field("session_id").map(str::to_string);
        let mut records = Vec::new();
        let mut taken = Vec::new();
        for (k, (path, _)) in files.iter().enumerate() {
            let mut r = edit_record(event, path);
            let msg = match self.edits.snapshot(&patch::snapshot_id(id, k), session.as_deref(), &tool, path) {
                Ok(edits::Snapshotted::Saved { .. }) => {
                    taken.push(path.display().to_string());
                    continue;
                }
                Ok(edits::Snapshotted::TooLarge { len }) => {
                    r.insert("action".into(), "not_armed_too_large".into());
                    format!(
                        "hookhost: {} is {len} bytes, above the rollback cap of {} bytes: if a PostToolUse hook \
                         rejects this patch, this file cannot be undone",
                        path.display(),
                        self.options.max_file_bytes
                    )
                }
                Err(e) => {
                    r.insert("action".into(), "snapshot_failed".into());
                    format!(
                        "hookhost: cannot snapshot {} for rollback ({e}): if a PostToolUse hook rejects this patch, \
                         this file cannot be undone",
                        path.display()
                    )
                }
            };
            verdict.system_messages.push(msg.clone());
            r.insert("detail".into(), msg.into());
            records.push(r);
        }
        verdict.why.push(format!(
            "rollback armed for the {} file(s) of this patch by {}: snapshots taken of {}",
            files.len(),
            armed.by.join(", "),
            if taken.is_empty() { "none".to_string() } else { taken.join(", ") }
        ));
        records
    }

    /// PostToolUse of a patch: every file it touched restored when the verdict rejects it
    /// (each snapshot dropped either way).
    fn after_patch(
        &self,
        event: &HookEvent,
        armed: Option<&Armed>,
        id: &str,
        files: &[(PathBuf, edits::Expect)],
        verdict: &mut Verdict,
    ) -> Vec<Map<String, Value>> {
        let rejects = verdict.rejects();
        let tool = event.tool_name().unwrap_or("");
        let mut records = Vec::new();
        let mut done = Vec::new();
        for (k, (path, expect)) in files.iter().enumerate() {
            let sid = patch::snapshot_id(id, k);
            let mut r = edit_record(event, path);
            let snap = match self.edits.load(&sid) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    if rejects && armed.is_some() {
                        done.push(format!("{}: NOT reverted, no snapshot was taken", path.display()));
                        r.insert("action".into(), "no_snapshot".into());
                        records.push(r);
                    }
                    continue;
                }
                Err(e) => {
                    let _ = self.edits.remove(&sid);
                    if rejects {
                        done.push(format!("{}: NOT reverted, its snapshot cannot be read ({e})", path.display()));
                        r.insert("action".into(), "error".into());
                        r.insert("detail".into(), e.to_string().into());
                        records.push(r);
                    }
                    continue;
                }
            };
            let _ = self.edits.remove(&sid);
            let same = snap.meta.path == *path
                && snap.meta.tool == tool
                && snap.meta.session_id.as_deref() == event.str_field("session_id");
            if !same {
                done.push(format!("{}: NOT reverted, the snapshot is of another call", path.display()));
                r.insert("action".into(), "snapshot_mismatch".into());
                records.push(r);
                continue;
            }
            if !rejects {
                continue;
            }
            let result = snap.restore(expect);
            let (action, text) = match &result {
                Restore::Restored { .. } => ("restored", "restored".to_string()),
                Restore::Removed { .. } => ("removed", "removed (the patch created it)".to_string()),
                Restore::Recreated => ("recreated", "re-created (the patch deleted it)".to_string()),
                Restore::Unchanged => ("unchanged", "unchanged".to_string()),
                Restore::Refused { why, .. } => ("refused", format!("NOT reverted: {why}")),
                Restore::Conflict { why, .. } => ("conflict", format!("NOT reverted: {why}")),
                Restore::Failed { error, .. } => ("error", format!("NOT reverted: {error}")),
            };
            let (before, after) = result.hashes(&snap);
            r.insert("action".into(), action.into());
            r.insert("before_sha256".into(), before.map_or(Value::Null, Value::from));
            r.insert("after_sha256".into(), after.map_or(Value::Null, Value::from));
            r.insert("detail".into(), text.clone().into());
            records.push(r);
            done.push(format!("{}: {text}", path.display()));
        }
        if rejects && !done.is_empty() {
            let msg = format!("hookhost reverted this patch, file by file: {}.", done.join("; "));
            append_reason(verdict, &msg);
            verdict.why.push(msg);
        } else if !rejects {
            verdict.why.push("rollback not needed: the patch was accepted; its snapshots dropped".into());
        }
        records
    }

    fn session_start(
        &self,
        event: &HookEvent,
        project_dir: Option<&Path>,
        verdict: &mut Verdict,
    ) -> Vec<Map<String, Value>> {
        let project = project_dir.map(Path::to_path_buf).or_else(|| event.cwd().map(PathBuf::from));
        let mut records = Vec::new();
        for path in settings::claude_code_files(project.as_deref()) {
            if let Err(e) = self.settings.accept_current(&path) {
                let mut r = record("settings_revert", Some(event));
                r.insert("action".into(), "snapshot_failed".into());
                r.insert("path".into(), path.display().to_string().into());
                r.insert("detail".into(), e.to_string().into());
                verdict.system_messages.push(format!("hookhost: cannot snapshot {} for revert: {e}", path.display()));
                records.push(r);
            }
        }
        records
    }

    fn config_change(
        &self,
        event: &HookEvent,
        judged: Option<Judged>,
        verdict: &mut Verdict,
    ) -> Vec<Map<String, Value>> {
        let Some(cc) = event.config_change() else { return Vec::new() };
        let Some(path) = cc.file_path.as_deref().filter(|p| p.starts_with('/')).map(PathBuf::from) else {
            return Vec::new();
        };
        if cc.source == crate::event::ConfigSource::PolicySettings || agent_guard_event(event) {
            return Vec::new();
        }
        let mut r = record("settings_revert", Some(event));
        r.insert("source".into(), cc.source.as_str().into());
        r.insert("path".into(), path.display().to_string().into());
        if !verdict.blocked {
            // What the hooks judged becomes the last accepted content, never what the file holds
            // now: a write that landed while they decided is a change of its own.
            let accepted = match judged {
                Some(Judged::Exact(b)) => Ok(b),
                Some(Judged::Before(b)) => match read_settings(&path, self.options.max_file_bytes) {
                    Ok(now) if now == b => Ok(b),
                    Ok(_) => Err((
                        "changed_while_judged",
                        format!(
                            "{} changed while its ConfigChange hooks decided: what they passed is not recorded as \
                             accepted; the newer content is a change of its own",
                            path.display()
                        ),
                    )),
                    Err(e) => Err(("snapshot_failed", e)),
                },
                Some(Judged::Unknown(e)) => Err(("snapshot_failed", e)),
                None => Err(("snapshot_failed", "nothing was captured before the hooks ran".into())),
            };
            let stored = match accepted {
                Ok(Some(bytes)) => self.settings.accept(&path, &bytes).map_err(|e| ("snapshot_failed", e.to_string())),
                Ok(None) => self.settings.accept_absent(&path).map_err(|e| ("snapshot_failed", e.to_string())),
                Err(x) => Err(x),
            };
            return match stored {
                Ok(()) => Vec::new(),
                Err((action, detail)) => {
                    r.insert("action".into(), action.into());
                    r.insert("detail".into(), detail.into());
                    vec![r]
                }
            };
        }
        let msg = match self.settings.revert(&path) {
            Ok(rep) => {
                r.insert("action".into(), rep.action.as_str().into());
                r.insert("before_sha256".into(), rep.before_sha256.clone().map_or(Value::Null, Value::from));
                r.insert("after_sha256".into(), rep.after_sha256.clone().map_or(Value::Null, Value::from));
                match rep.action {
                    RevertAction::Restored | RevertAction::Removed => format!(
                        "hookhost reverted {} to its last accepted content, so a restart cannot apply the blocked \
                         change.",
                        path.display()
                    ),
                    RevertAction::Unchanged => {
                        format!("hookhost: {} already has its last accepted content.", path.display())
                    }
                    RevertAction::NoSnapshot => format!(
                        "hookhost could not revert {}: it has no last accepted content for it (no SessionStart or \
                         accepted change seen); the blocked change stays on disk.",
                        path.display()
                    ),
                }
            }
            Err(e) => {
                let refused = matches!(e, RollbackError::Refused { .. });
                r.insert("action".into(), if refused { "refused" } else { "error" }.into());
                format!("hookhost could not revert {}: {e}; the blocked change stays on disk.", path.display())
            }
        };
        append_reason(verdict, &msg);
        verdict.why.push(msg.clone());
        r.insert("detail".into(), msg.into());
        vec![r]
    }
}

/// A ConfigChange of the daemon's agent config guard (`hookhost.guard: "agent"`): the guard
/// accepts and writes back itself, from its own memory, whatever `revertBlockedConfigChanges`
/// says; so this only ever skips, never arms, a revert (a forged marker skips nothing real).
fn agent_guard_event(event: &HookEvent) -> bool {
    event.fields().get("hookhost").and_then(|h| h.get("guard")).and_then(Value::as_str) == Some("agent")
}

/// A settings file's bytes (`None`: absent), read as a bounded regular file (`crate::readfile`).
fn read_settings(path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::Follow, max);
    crate::readfile::read_optional(path, &opts).map_err(|e| e.to_string())
}

fn tool_use_id(event: &HookEvent) -> Option<String> {
    event.str_field("tool_use_id").filter(|s| !s.is_empty()).map(str::to_string)
}

/// Adds `msg` to the reason Claude Code shows; a rejection that is not a block (`continue:
/// false`) renders no reason, so it goes to the user's system message too.
fn append_reason(verdict: &mut Verdict, msg: &str) {
    if !verdict.blocked {
        verdict.system_messages.push(msg.to_string());
    }
    verdict.reason = Some(match verdict.reason.take() {
        Some(r) if !r.is_empty() => format!("{r}\n{msg}"),
        _ => msg.to_string(),
    });
}

/// An audit record skeleton of `kind`, for `event` when there is one.
fn record(kind: &str, event: Option<&HookEvent>) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("time".into(), crate::clock::now_rfc3339().into());
    r.insert("kind".into(), kind.into());
    r.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    if let Some(e) = event {
        r.insert("event".into(), e.name().into());
        if let Some(id) = e.str_field("session_id") {
            r.insert("session_id".into(), id.into());
        }
    }
    r
}

fn edit_record(event: &HookEvent, path: &Path) -> Map<String, Value> {
    let mut r = record("rollback", Some(event));
    if let Some(t) = event.tool_name() {
        r.insert("tool".into(), t.into());
    }
    if let Some(id) = event.str_field("tool_use_id") {
        r.insert("tool_use_id".into(), id.into());
    }
    r.insert("path".into(), path.display().to_string().into());
    r
}

pub(crate) use crate::digest::sha256_hex;

/// Creates `dir` (and parents) with mode 0700 if missing.
pub(crate) fn private_dir(dir: &Path) -> Result<(), RollbackError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| RollbackError::io(dir, e))
}

/// Replaces `path` with `bytes` atomically (`crate::atomic_file`), mode `mode`, owner `owner`
/// (uid, gid; best effort: only root may give a file away).
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), RollbackError> {
    crate::atomic_file::replace(path, bytes, crate::atomic_file::Mode::Exact(mode), owner)
        .map_err(|e| RollbackError::io(path, e))
}
