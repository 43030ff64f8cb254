//! Live settings: the accepted revision of one set of settings locations, changed only through
//! the ConfigChange gate, and the last known good record of each file.
//!
//! Owns: `Live` (the accepted file versions, the `EventBus` built from them, the gate that
//! decides whether a changed file becomes live), `LiveHandle` (what request handlers read), and
//! the one-shot form of the same gate ([`load_gated`]); the per-file records live in [`lkg`].
//!
//! The gate, for each changed file (`crate::settings::watch::scan`):
//! - invalid or half-written content is an error, not a change: the accepted version stays and
//!   the error is logged and audited (`settings_change`, result `invalid`);
//! - a valid change builds a candidate revision and emits Claude Code's `ConfigChange` event
//!   (`source`, `file_path`, plus a `hookhost` object: the change kind, both revisions, a
//!   summary and the exact candidate content) to the ConfigChange hooks of the **current**
//!   revision; the candidate is swapped in atomically only if none blocks (result `applied`),
//!   else the current revision stays (`blocked`; the file on disk is not touched, unless
//!   `hookhost.revertBlockedConfigChanges` asks for it). What is accepted is exactly the content
//!   the hooks were shown: a write that lands while they decide is a new change, judged next;
//! - a managed (`policy_settings`) change is applied even if a hook blocks, and reported (`policy`).
//!
//! Where each file's state comes from:
//! - **Managed files are always read from their own location**, never from state: a one-shot
//!   process reads them from disk every time; a daemon keeps its last good version in memory
//!   only (a managed file that becomes unusable keeps it there; in one-shot `dispatch` an
//!   unusable managed file fails closed). No record of the state directory can change, drop or
//!   replace managed policy, and the revision reported is always computed, never read.
//! - **Every file below managed scope** (command line, local, project, user) has one record,
//!   keyed by its canonical path ([`lkg`]): the user's settings file is gated against one
//!   user-wide accepted version whatever project is open, a project's files against one record
//!   whatever spelling (`…/proj/`, a symlink, the event's `cwd`) reached them. Before a change is
//!   judged the record is read again, under the store's lock, so that a verdict reached by
//!   another process or another project's live settings holds here too: content blocked
//!   anywhere is blocked everywhere (until the file changes again or the managed policy does),
//!   content accepted anywhere is adopted.
//! - A file seen for the first time (no record) is taken as it is, as Claude Code takes
//!   settings at session start, unless another record blocked that very content, or is the same
//!   file (a hard link) with different accepted content: then it is gated as a new file.
//!
//! What the records can and cannot do (the state directory is the user's, so the agent can
//! write it; see the README's threat model): a `blocked` or `invalid` memo only keeps a file at
//! its accepted version (never looser than what the gate accepted); the `accepted` content of a
//! lower-scope file is what is in force while a change is blocked, so whoever can write the
//! records can choose the content of the user's own lower-scope files, exactly as they could by
//! deleting the records and writing the files (a first sight). Neither reaches managed
//! settings: managed hooks, rules, `failClosed`, the sandbox floor and every managed-only key
//! stay in force, and the gate's verdicts hold against the agent only where the records are out
//! of its reach (a daemon running as another user, whose state directory is its own).
//! Memo revisions are recomputed from the files, never trusted from the record, and records
//! carry no timestamps.

pub mod lkg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::bus::{DispatchContext, EventBus};
use crate::error::{Location, SettingsError};
use crate::event::HookEvent;
use crate::exec::wasm::WasmRuntime;
use crate::settings::file::AuditSettings;
use crate::settings::remote::Mode;
use crate::settings::scope::canonical_file;
use crate::settings::watch::{self, Change, Disk, FileVersion};
use crate::settings::{Locations, Scope, Settings, assemble};

/// How long the watcher waits for a burst of writes to end before it looks.
pub const DEBOUNCE: Duration = Duration::from_millis(3);
/// The largest candidate file whose content is put in the ConfigChange event.
pub const MAX_CONTENT_IN_EVENT: usize = 1 << 20;
/// The longest a burst may postpone a look.
pub const DEBOUNCE_MAX: Duration = Duration::from_millis(50);

/// One accepted revision, ready to dispatch events.
#[derive(Debug)]
pub struct Revision {
    pub bus: EventBus,
    pub ctx: DispatchContext,
    /// Settings files whose current content on disk could not be used (the accepted version of
    /// each, if any, stays live).
    pub errors: Vec<SettingsError>,
    /// When this revision became live.
    pub since: std::time::SystemTime,
}

impl Revision {
    pub fn settings(&self) -> &Settings {
        self.bus.settings()
    }
}

/// What readers hold: always a complete, gated revision.
#[derive(Debug, Clone)]
pub struct LiveHandle(Arc<RwLock<Arc<Revision>>>);

impl LiveHandle {
    pub fn current(&self) -> Arc<Revision> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn swap(&self, r: Arc<Revision>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = r;
    }
}

/// How one change went through the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateResult {
    /// The candidate became live.
    Applied,
    /// A managed change: applied; `blocked_by` names hooks that tried to block it (ignored).
    Policy { blocked_by: Option<String> },
    /// A hook blocked it: the previous revision stays.
    Blocked { reason: String },
    /// The new content cannot be used: the previous version stays.
    Invalid { error: String },
    /// Another gate (another process, or another project's live settings for the user's file)
    /// accepted this version: it is in force here too, without being judged again.
    Adopted,
}

impl GateResult {
    pub fn label(&self) -> &'static str {
        match self {
            GateResult::Applied => "applied",
            GateResult::Policy { .. } => "policy",
            GateResult::Blocked { .. } => "blocked",
            GateResult::Invalid { .. } => "invalid",
            GateResult::Adopted => "adopted",
        }
    }
}

/// One change and its fate.
#[derive(Debug, Clone)]
pub struct ChangeReport {
    pub path: PathBuf,
    pub source: &'static str,
    /// `created`, `modified`, `deleted`, `invalid`, or `server` (a new server-managed payload).
    pub change: &'static str,
    pub result: GateResult,
    pub previous_revision: String,
    /// The candidate's revision (equal to the previous one for invalid content).
    pub new_revision: String,
    pub file_sha256: Option<String>,
}

/// How a `Live` is set up.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// The WebAssembly runtime every revision shares (the daemon's pooled one).
    pub wasm: Option<WasmRuntime>,
    /// The owner's warm sandbox pool every revision prepares its command hooks' sandboxes
    /// through (held weakly: it ends with its owner).
    pub sandbox_pool: Option<crate::exec::sandbox::WeakSandboxPool>,
    /// `session_id` of the ConfigChange events hookhost emits itself.
    pub session_id: Option<String>,
    /// Keep the records of accepted versions in memory only (default: in the state directory,
    /// when one is known).
    pub no_persist: bool,
    /// The daemon's server-managed settings poller: the path of each new payload it cached.
    pub server_changes: Option<tokio::sync::watch::Receiver<Option<PathBuf>>>,
    /// Undo nothing (`crate::rollback` off): for revisions that serve another user's events,
    /// whose files must not be read or written with this process's rights.
    pub no_rollback: bool,
}

/// The live settings of one `Locations`.
#[derive(Debug)]
pub struct Live {
    loc: Locations,
    options: LiveOptions,
    /// The versions in force: managed as last read from disk, the others as the gate accepted.
    accepted: Vec<FileVersion>,
    handle: LiveHandle,
    audit: Option<(AuditSettings, Arc<AuditLog>)>,
    /// Where the records of files below managed scope are kept (`None`: in memory only).
    store: Option<lkg::Store>,
    /// The record of each file below managed scope, by the path the locations list it under (a
    /// mirror of the store; without a store, the only copy).
    records: BTreeMap<PathBuf, lkg::Record>,
    /// Unusable managed content already reported (path → sha256, error); in memory only.
    managed_invalid: BTreeMap<PathBuf, (String, String)>,
    /// The store's lock could not be taken: a managed error every revision carries (so every
    /// event fails closed) until it can.
    lock_failed: Option<SettingsError>,
}

/// The managed policy revision: a digest of the managed files in force (paths and contents).
/// Blocked memos are valid under the policy that judged them.
pub fn policy_revision(files: &[FileVersion]) -> String {
    pairs_digest(files.iter().filter(|f| f.scope == Scope::Managed).map(|f| (f.path.as_path(), f.sha256.as_str())))
}

fn pairs_digest<'a>(pairs: impl Iterator<Item = (&'a Path, &'a str)>) -> String {
    let mut h = Sha256::new();
    for (p, sha) in pairs {
        h.update(format!("{}\t{sha}\n", p.display()));
    }
    format!("{:x}", h.finalize())
}

use crate::digest::sha256_hex;

impl Live {
    /// Loads the live settings of `loc`: managed files from disk, every other file at its
    /// accepted version (its record; a file seen for the first time as it is), then gates every
    /// file that differs from its accepted version.
    pub async fn open(loc: Locations, options: LiveOptions) -> (Live, Vec<ChangeReport>) {
        let store = if options.no_persist { None } else { loc.state_dir.as_deref().map(lkg::Store::new) };
        let placeholder = Arc::new(Revision {
            bus: EventBus::new(Settings::default()),
            ctx: DispatchContext::default(),
            errors: Vec::new(),
            since: std::time::SystemTime::now(),
        });
        let mut live = Live {
            loc,
            options,
            accepted: Vec::new(),
            handle: LiveHandle(Arc::new(RwLock::new(placeholder))),
            audit: None,
            store,
            records: BTreeMap::new(),
            managed_invalid: BTreeMap::new(),
            lock_failed: None,
        };
        let initial_errors = live.load_initial().await;
        let first = live.build(&live.accepted.clone(), initial_errors);
        live.handle.swap(Arc::new(first));
        live.snapshot_accepted();
        let mut reports = live.report_managed_since_seen().await;
        // Whatever differs from its accepted version goes through the gate now.
        reports.extend(live.rescan().await);
        (live, reports)
    }

    /// The managed files in force, as `lkg::ManagedSeen`.
    fn managed_seen_now(&self) -> lkg::ManagedSeen {
        lkg::ManagedSeen {
            files: self
                .accepted
                .iter()
                .filter(|f| f.scope == Scope::Managed)
                .map(|f| (f.path.clone(), f.sha256.clone()))
                .collect(),
        }
    }

    fn save_managed_seen(&self) {
        if let Some(store) = &self.store
            && let Err(e) = crate::offload::blocking(|| store.store_managed_seen(&self.managed_seen_now()))
        {
            tracing::warn!(error = %e, "cannot record the managed settings seen");
        }
    }

    /// Reports the managed files that changed since a process last saw them (they are in force
    /// already: managed files are read from disk): one `policy_settings` ConfigChange each, to
    /// the hooks of the revision in force, audited with result `policy`. The revisions in the
    /// report are policy revisions (managed files only).
    async fn report_managed_since_seen(&mut self) -> Vec<ChangeReport> {
        let Some(store) = &self.store else { return Vec::new() };
        let now = self.managed_seen_now();
        let Some(seen) = store.managed_seen() else {
            self.save_managed_seen();
            return Vec::new();
        };
        if seen == now {
            return Vec::new();
        }
        let digest = |s: &lkg::ManagedSeen| pairs_digest(s.files.iter().map(|(p, h)| (p.as_path(), h.as_str())));
        let (old_policy, new_policy) = (digest(&seen), digest(&now));
        let mut paths: Vec<&PathBuf> = seen.files.iter().chain(&now.files).map(|(p, _)| p).collect();
        paths.sort();
        paths.dedup();
        let sha_in = |s: &lkg::ManagedSeen, p: &Path| s.files.iter().find(|(q, _)| q == p).map(|(_, h)| h.clone());
        let current = self.handle.current();
        let mut reports = Vec::new();
        for path in paths {
            let (old, new) = (sha_in(&seen, path), sha_in(&now, path));
            if old == new {
                continue;
            }
            let kind = match (&old, &new) {
                (None, _) => "created",
                (_, None) => "deleted",
                _ => "modified",
            };
            let mut ext = json!({
                "change": kind,
                "scope": "managed",
                "previous_revision": old_policy,
                "new_revision": new_policy,
                "previous_sha256": old,
                "new_sha256": new,
            });
            if let (Some(f), Some(o)) = (self.accepted.iter().find(|f| &f.path == path), ext.as_object_mut())
                && f.bytes.len() <= MAX_CONTENT_IN_EVENT
            {
                o.insert("new_content".into(), String::from_utf8_lossy(&f.bytes).into_owned().into());
            }
            let Ok(event) = self.config_change(Scope::Managed, path, ext) else { continue };
            let outcome = current.bus.dispatch(&event, &current.ctx).await;
            let tried = outcome.tried_to_block();
            let report = ChangeReport {
                path: path.clone(),
                source: "policy_settings",
                change: kind,
                result: GateResult::Policy { blocked_by: (!tried.is_empty()).then(|| tried.join("; ")) },
                previous_revision: old_policy.clone(),
                new_revision: new_policy.clone(),
                file_sha256: new,
            };
            self.audit_change(&report, &current);
            reports.push(report);
        }
        self.save_managed_seen();
        reports
    }

    /// The store's lock (`Ok(None)`: no store, records in memory only). `Err` is never gated
    /// around: whoever asked fails closed (see [`Live::load_initial`] and [`Live::apply`]).
    async fn lock(&self) -> Result<Option<lkg::Lock>, String> {
        let Some(store) = self.store.as_ref() else { return Ok(None) };
        match store.lock().await {
            Ok(l) => Ok(Some(l)),
            // No store could be created (no writable state directory): there is no record to
            // guard, and none is written; the files are taken as first seen, as without one.
            Err(e) if !store.exists() => {
                tracing::debug!(error = %e, "no last known good settings store");
                Ok(None)
            }
            Err(e) => Err(format!("cannot lock the last known good settings records: {e}")),
        }
    }

    /// Records that the store's lock could not be taken (see `lock_failed`).
    fn lock_failed(&mut self, e: String) {
        tracing::error!(error = %e, "failing closed");
        let state = self.loc.state_dir.clone().unwrap_or_default();
        self.lock_failed = Some(SettingsError {
            location: Location { path: state, line: 1, column: 1 },
            message: format!("{e}; failing closed"),
            managed: true,
        });
    }

    fn save(&self, rec: &lkg::Record) {
        if let Some(store) = &self.store
            && let Err(e) = crate::offload::blocking(|| store.store(rec))
        {
            tracing::warn!(file = %rec.path.display(), error = %e, "cannot record the last known good version of a settings file");
        }
    }

    /// Fills `accepted` and `records` from the disk (managed) and the records (the others).
    /// Returns the files that cannot be used and have no version in force.
    async fn load_initial(&mut self) -> Vec<SettingsError> {
        let mut errors = Vec::new();
        // Without the lock another process may be judging the same files: this revision fails
        // closed (a managed error) rather than reading records mid-change.
        let _lock = match self.lock().await {
            Ok(l) => l,
            Err(e) => {
                self.lock_failed(e);
                errors.extend(self.lock_failed.clone());
                None
            }
        };
        let cands = self.loc.candidates_or_fixed(&mut errors);
        for (scope, path, required) in cands {
            let disk = watch::read_disk(&self.loc, &path, scope);
            if scope == Scope::Managed {
                match disk {
                    Disk::Bytes(b) => {
                        let sha = sha256_hex(&b);
                        match FileVersion::parse(scope, &path, b) {
                            Ok(v) => self.accepted.push(v),
                            Err(e) => {
                                self.managed_invalid.insert(path.clone(), (sha, e.to_string()));
                                errors.push(e);
                            }
                        }
                    }
                    Disk::Missing => {}
                    Disk::Error(e) => {
                        self.managed_invalid.insert(path.clone(), (String::new(), e.to_string()));
                        errors.push(e);
                    }
                }
                continue;
            }
            let key = canonical_file(&path);
            let rec = match self.store.as_ref().and_then(|s| s.load(&key)) {
                Some(r) => r,
                None => self.first_sight(scope, &path, &key, &disk, &mut errors),
            };
            if let lkg::Accepted::Content { bytes, .. } = &rec.accepted {
                match FileVersion::parse(scope, &path, bytes.clone()) {
                    Ok(v) => self.accepted.push(v),
                    // Accepted by an older hookhost whose schema was looser: not in force.
                    Err(e) => tracing::warn!(error = %e, "the accepted version of a settings file no longer parses"),
                }
            }
            if required && matches!(disk, Disk::Missing) && rec.accepted == lkg::Accepted::Absent {
                errors.push(SettingsError {
                    location: Location { path: path.clone(), line: 1, column: 1 },
                    message: "file not found".into(),
                    managed: false,
                });
            }
            self.records.insert(path, rec);
        }
        watch::order(&self.loc, &mut self.accepted);
        errors
    }

    /// The record of a file below managed scope that has none: its content as it is, unless
    /// the store objects (content blocked elsewhere, a hard link to a file with another accepted
    /// content); then it is recorded as absent, so the rescan gates it as a new file.
    fn first_sight(
        &mut self,
        scope: Scope,
        path: &Path,
        key: &Path,
        disk: &Disk,
        errors: &mut Vec<SettingsError>,
    ) -> lkg::Record {
        let identity = lkg::identity(path);
        let mut rec = lkg::Record::new(key, lkg::Accepted::Absent);
        rec.identity = identity;
        match disk {
            Disk::Missing => {}
            Disk::Error(e) => {
                rec.invalid = Some((String::new(), e.to_string()));
                errors.push(e.clone());
            }
            Disk::Bytes(b) => {
                let sha = sha256_hex(b);
                match FileVersion::parse(scope, path, b.clone()) {
                    Err(e) => {
                        rec.invalid = Some((sha, e.to_string()));
                        errors.push(e);
                    }
                    Ok(_) => match self.store.as_ref().and_then(|s| s.first_sight_objection(key, &sha, identity)) {
                        None => rec.accepted = lkg::Accepted::Content { sha256: sha, bytes: b.clone() },
                        Some(why) => tracing::warn!(
                            file = %path.display(),
                            %why,
                            "a settings file seen for the first time is gated as a new file"
                        ),
                    },
                }
            }
        }
        self.save(&rec);
        rec
    }

    pub fn handle(&self) -> LiveHandle {
        self.handle.clone()
    }

    /// Looks at every settings file and gates what changed.
    pub async fn rescan(&mut self) -> Vec<ChangeReport> {
        let changes = watch::scan(&self.loc, &self.accepted);
        self.apply(changes).await
    }

    /// Takes the accepted version another gate recorded for `path` (another process, or
    /// another project's live settings for the user's file), if it differs from the one in
    /// force here. Returns the report when the revision changed.
    fn refresh(&mut self, path: &Path, scope: Scope, errors: &[SettingsError]) -> Option<ChangeReport> {
        let rec = self.store.as_ref()?.load(&canonical_file(path))?;
        if self.records.get(path) == Some(&rec) {
            return None;
        }
        self.records.insert(path.to_path_buf(), rec.clone());
        let in_force = self.accepted.iter().find(|f| f.path == path).map(|f| f.sha256.clone());
        if in_force.as_deref() == rec.accepted.sha256() {
            return None;
        }
        let version = match &rec.accepted {
            lkg::Accepted::Absent => None,
            lkg::Accepted::Content { bytes, .. } => Some(FileVersion::parse(scope, path, bytes.clone()).ok()?),
        };
        let prev_rev = self.handle.current().settings().revision.clone();
        let kind = match (&in_force, &version) {
            (None, _) => "created",
            (Some(_), None) => "deleted",
            _ => "modified",
        };
        let mut files: Vec<FileVersion> = self.accepted.iter().filter(|f| f.path != path).cloned().collect();
        files.extend(version);
        watch::order(&self.loc, &mut files);
        self.accepted = files;
        let rev = self.build(&self.accepted.clone(), errors.to_vec());
        let new_rev = rev.settings().revision.clone();
        self.handle.swap(Arc::new(rev));
        tracing::info!(file = %path.display(), revision = %new_rev, "settings: adopted the version another gate accepted");
        let report = ChangeReport {
            path: path.to_path_buf(),
            source: scope.config_source(),
            change: kind,
            result: GateResult::Adopted,
            previous_revision: prev_rev,
            new_revision: new_rev,
            file_sha256: rec.accepted.sha256().map(str::to_string),
        };
        self.audit_change(&report, &self.handle.current());
        Some(report)
    }

    /// The invalid-content memo of `path`.
    fn invalid_memo(&self, path: &Path, scope: Scope) -> Option<&(String, String)> {
        if scope == Scope::Managed {
            self.managed_invalid.get(path)
        } else {
            self.records.get(path).and_then(|r| r.invalid.as_ref())
        }
    }

    fn set_invalid_memo(&mut self, path: &Path, scope: Scope, memo: Option<(String, String)>) -> bool {
        if scope == Scope::Managed {
            return match memo {
                Some(m) => self.managed_invalid.insert(path.to_path_buf(), m.clone()).as_ref() != Some(&m),
                None => self.managed_invalid.remove(path).is_some(),
            };
        }
        let Some(rec) = self.records.get_mut(path) else { return false };
        if rec.invalid == memo {
            return false;
        }
        rec.invalid = memo;
        let rec = rec.clone();
        self.save(&rec);
        true
    }

    /// Gates `changes`, in order; each is judged by the revision live at that moment.
    pub async fn apply(&mut self, changes: Vec<Change>) -> Vec<ChangeReport> {
        let _lock = if changes.iter().any(|c| c.scope() != Scope::Managed) {
            match self.lock().await {
                Ok(l) => l,
                Err(e) => {
                    // Never judged unlocked: nothing changes (the revision in force, and what it
                    // says about unusable files, stays) until the lock can be taken.
                    self.lock_failed(e);
                    return Vec::new();
                }
            }
        } else {
            None
        };
        if _lock.is_some() {
            self.lock_failed = None;
        }
        let mut reports = Vec::new();
        let mut errors: Vec<SettingsError> = self.lock_failed.iter().cloned().collect();
        let mut seen_invalid = BTreeSet::new();
        let mut swapped = false;
        let mut policy_applied = false;
        for change in changes {
            let (path, scope) = (change.path().to_path_buf(), change.scope());
            let source = scope.config_source();
            if scope != Scope::Managed
                && let Some(r) = self.refresh(&path, scope, &errors)
            {
                swapped = true;
                reports.push(r);
            }
            let current = self.handle.current();
            let prev_rev = current.settings().revision.clone();
            let new = match &change {
                Change::Invalid { error, sha256, .. } => {
                    errors.push(error.clone());
                    seen_invalid.insert(path.clone());
                    let text = error.to_string();
                    let memo = (sha256.clone().unwrap_or_default(), text.clone());
                    if self.invalid_memo(&path, scope) != Some(&memo) {
                        self.set_invalid_memo(&path, scope, Some(memo));
                        tracing::warn!(file = %path.display(), error = %text, "settings change rejected: invalid content; the previous version stays live");
                        let report = ChangeReport {
                            path,
                            source,
                            change: change.kind(),
                            result: GateResult::Invalid { error: text },
                            previous_revision: prev_rev.clone(),
                            new_revision: prev_rev,
                            file_sha256: sha256.clone(),
                        };
                        self.audit_change(&report, &current);
                        reports.push(report);
                    }
                    continue;
                }
                Change::Updated { new, .. } => Some(new.clone()),
                Change::Deleted { .. } => None,
            };
            self.set_invalid_memo(&path, scope, None);
            // Judged against the version in force now (a refresh may have changed it).
            let previous = self.accepted.iter().find(|f| f.path == path).cloned();
            let file_sha = new.as_ref().map(|n| n.sha256.clone());
            if previous.as_ref().map(|p| &p.sha256) == file_sha.as_ref() {
                continue; // Already in force (adopted, or written back).
            }
            let change = match (new, previous) {
                (Some(new), previous) => Change::Updated { previous, new },
                (None, Some(previous)) => Change::Deleted { previous },
                (None, None) => continue,
            };
            let kind = change.kind();
            let policy = policy_revision(&self.accepted);
            let memo_sha = file_sha.clone().unwrap_or_default();
            if scope != Scope::Managed && self.records.get(&path).is_some_and(|r| r.is_blocked(&memo_sha, &policy)) {
                continue; // Judged before, under this policy: still blocked.
            }
            let candidate_files: Vec<FileVersion> = match &change {
                Change::Updated { new, .. } => {
                    let mut files: Vec<FileVersion> =
                        self.accepted.iter().filter(|f| f.path != new.path).cloned().collect();
                    files.push(new.clone());
                    watch::order(&self.loc, &mut files);
                    files
                }
                _ => self.accepted.iter().filter(|f| f.path != path).cloned().collect(),
            };
            let candidate = self.resolve(&candidate_files);
            let new_rev = candidate.revision.clone();
            let outcome = match self.config_change_event(&change, &prev_rev, &new_rev, &candidate, current.settings()) {
                Ok(event) => current.bus.dispatch(&event, &current.ctx).await,
                Err(e) => {
                    // Cannot happen (our own JSON); if it did, nothing could review the change.
                    tracing::error!(error = %e, "cannot build the ConfigChange event; the change stays out");
                    continue;
                }
            };
            let rejected = outcome.verdict.rejects();
            // On a policy change a hook's block decides nothing; still say who tried.
            let tried = outcome.tried_to_block();
            let reason = || {
                outcome.verdict.reason.clone().unwrap_or_else(|| {
                    let by: Vec<String> = outcome.runs.iter().map(|r| r.hook.label()).collect();
                    format!("blocked by ConfigChange hook(s) {}", by.join(", "))
                })
            };
            let result = if scope == Scope::Managed {
                GateResult::Policy {
                    blocked_by: if rejected { Some(reason()) } else { (!tried.is_empty()).then(|| tried.join("; ")) },
                }
            } else if rejected {
                GateResult::Blocked { reason: reason() }
            } else {
                GateResult::Applied
            };
            match &result {
                GateResult::Blocked { reason } => {
                    tracing::warn!(file = %path.display(), %reason, "settings change blocked: the previous revision stays live; the file on disk is not touched");
                    let key = canonical_file(&path);
                    let rec = self
                        .records
                        .entry(path.clone())
                        .or_insert_with(|| lkg::Record::new(&key, lkg::Accepted::Absent));
                    rec.block(&memo_sha, &policy);
                    let rec = rec.clone();
                    self.save(&rec);
                }
                _ => {
                    tracing::info!(file = %path.display(), revision = %new_rev, result = result.label(), "settings change applied");
                    if scope != Scope::Managed {
                        // Exactly the content the hooks were shown.
                        let accepted = match &change {
                            Change::Updated { new, .. } => {
                                lkg::Accepted::Content { sha256: new.sha256.clone(), bytes: new.bytes.to_vec() }
                            }
                            _ => lkg::Accepted::Absent,
                        };
                        let key = canonical_file(&path);
                        let rec = self
                            .records
                            .entry(path.clone())
                            .or_insert_with(|| lkg::Record::new(&key, lkg::Accepted::Absent));
                        rec.accepted = accepted;
                        rec.identity = lkg::identity(&path);
                        let rec = rec.clone();
                        self.save(&rec);
                    }
                    self.accepted = candidate_files;
                    let rev = self.revision_from(candidate, errors.clone());
                    self.handle.swap(Arc::new(rev));
                    swapped = true;
                    policy_applied |= scope == Scope::Managed;
                }
            }
            let report = ChangeReport {
                path,
                source,
                change: kind,
                result,
                previous_revision: prev_rev,
                new_revision: new_rev,
                file_sha256: file_sha,
            };
            let now = self.handle.current();
            self.audit_change(&report, &now);
            reports.push(report);
        }
        if policy_applied {
            self.save_managed_seen();
        }
        // Files that were invalid and are no longer (fixed back to the accepted content).
        let stale: Vec<(PathBuf, Scope)> = self
            .managed_invalid
            .keys()
            .map(|p| (p.clone(), Scope::Managed))
            .chain(self.records.iter().filter(|(_, r)| r.invalid.is_some()).map(|(p, _)| (p.clone(), Scope::User)))
            .filter(|(p, _)| !seen_invalid.contains(p))
            .collect();
        for (p, scope) in stale {
            self.set_invalid_memo(&p, scope, None);
        }
        let current = self.handle.current();
        if !swapped && errors_differ(&current.errors, &errors) {
            // Same revision, new list of unusable files.
            let rev = Revision {
                bus: self.bus_for(current.settings().clone()),
                ctx: current.ctx.clone(),
                errors,
                since: current.since,
            };
            self.handle.swap(Arc::new(rev));
        } else if swapped && errors_differ(&self.handle.current().errors, &errors) {
            let current = self.handle.current();
            let rev = Revision {
                bus: self.bus_for(current.settings().clone()),
                ctx: current.ctx.clone(),
                errors,
                since: current.since,
            };
            self.handle.swap(Arc::new(rev));
        }
        reports
    }

    /// The settings of `files` (server-managed settings from their verified cache, trust).
    fn resolve(&self, files: &[FileVersion]) -> Settings {
        assemble(&self.loc, Mode::CacheOnly, parsed(files), Vec::new()).settings
    }

    /// With `hookhost.revertBlockedConfigChanges`, records the accepted content of every
    /// non-managed settings file, so that a blocked change can be written back.
    fn snapshot_accepted(&self) {
        let settings = self.handle.current().settings().clone();
        let (Some(state), true) = (&self.loc.state_dir, settings.rollback_options().revert_config_changes) else {
            return;
        };
        match crate::rollback::settings::SettingsSnapshots::open(state) {
            Ok(snaps) => {
                for f in self.accepted.iter().filter(|f| f.scope != Scope::Managed) {
                    if let Err(e) = snaps.accept(&f.path, &f.bytes) {
                        tracing::warn!(file = %f.path.display(), error = %e, "cannot snapshot a settings file for revert");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open the settings snapshots"),
        }
    }

    /// The accepted file versions, in precedence order.
    pub fn accepted(&self) -> &[FileVersion] {
        &self.accepted
    }

    /// Re-assembles the accepted files after the server-managed payload changed (its cache was
    /// replaced): a `policy_settings` change, applied whatever the ConfigChange hooks say, and
    /// reported to them and to the audit log. Also called when only the server state changed
    /// (an approval decision, an expiry: `ServerState::stale`): then the reassembled settings are
    /// swapped in without a ConfigChange.
    pub async fn server_changed(&mut self, payload_path: &Path) -> Option<ChangeReport> {
        let current = self.handle.current();
        let prev_rev = current.settings().revision.clone();
        let candidate = self.resolve(&self.accepted.clone());
        if candidate.revision == prev_rev {
            // Same files; an approval decision or an expiry may still change what applies
            // (`hookhost reject`): swapped in, not a settings change.
            let (a, b) = (candidate.server.as_ref(), current.settings().server.as_ref());
            if !crate::settings::remote::ServerState::same(a, b) {
                let rev = self.revision_from(candidate, current.errors.clone());
                self.handle.swap(Arc::new(rev));
            }
            return None;
        }
        let new_rev = candidate.revision.clone();
        let ext =
            json!({"change": "server", "scope": "managed", "previous_revision": prev_rev, "new_revision": new_rev});
        let event = self.config_change(Scope::Managed, payload_path, ext).ok()?;
        let outcome = current.bus.dispatch(&event, &current.ctx).await;
        let tried = outcome.tried_to_block();
        let rev = self.revision_from(candidate, current.errors.clone());
        self.handle.swap(Arc::new(rev));
        let report = ChangeReport {
            path: payload_path.to_path_buf(),
            source: "policy_settings",
            change: "server",
            result: GateResult::Policy { blocked_by: (!tried.is_empty()).then(|| tried.join("; ")) },
            previous_revision: prev_rev,
            new_revision: new_rev,
            file_sha256: None,
        };
        let now = self.handle.current();
        self.audit_change(&report, &now);
        Some(report)
    }

    fn build(&mut self, files: &[FileVersion], errors: Vec<SettingsError>) -> Revision {
        let settings = self.resolve(files);
        self.revision_from(settings, errors)
    }

    fn bus_for(&mut self, settings: Settings) -> EventBus {
        let audit = self.audit_for(&settings.audit);
        let settings_audit = settings.audit.clone();
        let mut bus = match &self.options.wasm {
            Some(rt) => EventBus::with_wasm_runtime(settings, rt.clone()),
            None => EventBus::new(settings),
        }
        .with_sandbox_pool(self.options.sandbox_pool.as_ref().and_then(|p| p.upgrade()).as_ref())
        // `async: true` hooks run in the background, off the decision path (crate::bus).
        .with_async_hooks(crate::bus::AsyncHooks::Background);
        // Rejected edits roll back, and a blocked ConfigChange (ours included) is written back to
        // the last accepted content when managed settings ask for it (crate::rollback).
        if let Some(state) = self.loc.state_dir.as_ref().filter(|_| !self.options.no_rollback) {
            bus = bus.with_rollback(state);
        }
        match audit {
            Ok(Some(log)) => bus.with_shared_audit(log),
            Ok(None) => bus,
            // Every event tries again; until then none can be recorded (a host error).
            Err(()) => bus.with_unopened_audit(settings_audit),
        }
    }

    fn revision_from(&mut self, settings: Settings, errors: Vec<SettingsError>) -> Revision {
        let ctx = DispatchContext {
            project_dir: self.loc.project_dir.clone(),
            user_dir: self.loc.user_file.as_ref().and_then(|f| f.parent()).map(Path::to_path_buf),
        };
        Revision { bus: self.bus_for(settings), ctx, errors, since: std::time::SystemTime::now() }
    }

    /// The audit log for `a`, reusing the open one when the settings did not change; `Err`
    /// when it cannot be opened (logged).
    fn audit_for(&mut self, a: &AuditSettings) -> Result<Option<Arc<AuditLog>>, ()> {
        if let Some((s, log)) = &self.audit
            && s == a
        {
            return Ok(Some(log.clone()));
        }
        match crate::audit::open_configured(a) {
            Ok(Some(log)) => {
                let log = Arc::new(log);
                self.audit = Some((a.clone(), log.clone()));
                Ok(Some(log))
            }
            Ok(None) => {
                self.audit = None;
                Ok(None)
            }
            Err(e) => {
                tracing::error!(error = %e, "the audit log cannot be opened");
                self.audit = None;
                Err(())
            }
        }
    }

    fn config_change_event(
        &self,
        change: &Change,
        prev_rev: &str,
        new_rev: &str,
        candidate: &Settings,
        current: &Settings,
    ) -> Result<HookEvent, crate::event::EventError> {
        let (old, new) = match change {
            Change::Updated { previous, new } => (previous.as_ref(), Some(new)),
            Change::Deleted { previous } => (Some(previous), None),
            Change::Invalid { .. } => (None, None),
        };
        let mut ext = json!({
            "change": change.kind(),
            "scope": change.scope().as_str(),
            "previous_revision": prev_rev,
            "new_revision": new_rev,
            "previous_sha256": old.map(|f| f.sha256.clone()),
            "new_sha256": new.map(|f| f.sha256.clone()),
            "summary": summary(old, new, current, candidate),
        });
        // The exact candidate content, so a hook judges what would apply (re-reading the file
        // could see a later write).
        if let (Some(new), Some(ext)) = (new, ext.as_object_mut()) {
            if new.bytes.len() <= MAX_CONTENT_IN_EVENT {
                ext.insert("new_content".into(), String::from_utf8_lossy(&new.bytes).into_owned().into());
            } else {
                ext.insert("new_content_omitted".into(), format!("larger than {MAX_CONTENT_IN_EVENT} bytes").into());
            }
        }
        self.config_change(change.scope(), change.path(), ext)
    }

    /// Claude Code's ConfigChange payload for a change to `file_path` of `scope`, with the
    /// `hookhost` extension object `ext` (the one builder: [`crate::event::config_change`]).
    fn config_change(&self, scope: Scope, file_path: &Path, ext: Value) -> Result<HookEvent, crate::event::EventError> {
        let session = self.options.session_id.clone().unwrap_or_else(|| format!("hookhost-{}", std::process::id()));
        crate::event::config_change(&session, self.loc.project_dir.as_deref(), scope.config_source(), file_path, ext)
    }

    fn audit_change(&self, r: &ChangeReport, live: &Revision) {
        // Observability (issue 24): the daemon's metrics (a no-op unless `serve --metrics`).
        crate::metrics::config_change(r.result.label());
        let Some(log) = live.bus.audit_log() else { return };
        let mut m = Map::new();
        m.insert("time".into(), crate::clock::now_rfc3339().into());
        m.insert("kind".into(), "settings_change".into());
        m.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
        m.insert("source".into(), r.source.into());
        m.insert("file_path".into(), r.path.to_string_lossy().into_owned().into());
        m.insert("change".into(), r.change.into());
        m.insert("result".into(), r.result.label().into());
        match &r.result {
            GateResult::Blocked { reason } => {
                m.insert("reason".into(), reason.clone().into());
            }
            GateResult::Invalid { error } => {
                m.insert("error".into(), error.clone().into());
            }
            GateResult::Policy { blocked_by: Some(b) } => {
                m.insert("blocked_by_hook_ignored".into(), b.clone().into());
            }
            _ => {}
        }
        m.insert("previous_revision".into(), r.previous_revision.clone().into());
        m.insert("new_revision".into(), r.new_revision.clone().into());
        m.insert("live_revision".into(), live.settings().revision.clone().into());
        m.insert("file_sha256".into(), r.file_sha256.clone().map_or(Value::Null, Value::from));
        if let Err(e) = crate::offload::blocking(|| log.append(m, true)) {
            tracing::warn!(error = %e, "audit: cannot record a settings change");
        }
    }

    /// Arms a watcher on every settings directory (before returning, so no later write is
    /// missed), then runs the reload loop on the runtime: waits for changes (debounced) and gates
    /// them. The loop ends when `stop` changes (or its sender is gone). Without a working
    /// watcher it polls every second.
    pub fn spawn_watch(mut self, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let wake = Arc::new(tokio::sync::Notify::new());
        let w = wake.clone();
        let mut watcher = match watch::Watcher::new(&self.loc, move || w.notify_one()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the settings files; polling every second instead");
                None
            }
        };
        // Anything written between the load and the arming is looked at once now.
        wake.notify_one();
        let mut server = self.options.server_changes.clone();
        tokio::spawn(async move {
            loop {
                let server_changed = async {
                    match &mut server {
                        Some(rx) => {
                            if rx.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                            rx.borrow_and_update().clone()
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)), if watcher.is_none() => {}
                    payload = server_changed => {
                        if let Some(path) = payload {
                            self.server_changed(&path).await;
                        }
                        continue;
                    }
                }
                // Debounce: wait until the burst is over (or too long has passed).
                let start = Instant::now();
                while start.elapsed() < DEBOUNCE_MAX {
                    tokio::select! {
                        _ = wake.notified() => continue,
                        _ = tokio::time::sleep(DEBOUNCE) => break,
                    }
                }
                if let Some(w) = &mut watcher {
                    w.rearm();
                }
                self.rescan().await;
            }
        })
    }
}

/// What the gate has to say to the user about one load: changes it blocked now, and files
/// whose last good version stays in force.
#[derive(Debug, Default, Clone)]
pub struct GateNotes {
    pub blocked: Vec<String>,
    pub in_force: Vec<String>,
}

/// Settings for a one-shot load (`dispatch`, `explain`, an embedder's host without `watch`), as
/// the daemon would have them live: managed files from disk; every other file at its accepted
/// version, with every file that differs from it gated first (its ConfigChange hooks run now,
/// on the caller's runtime). Without a state directory the files are taken as they are.
///
/// Returns the settings with the files that could not be used and are not in force (for the
/// caller's failure policy), and notes for the user.
///
/// `mode` is how server-managed settings are obtained for the result (`Mode::Startup` may fetch).
pub async fn load_gated(loc: &Locations, mode: Mode) -> (crate::settings::Loaded, GateNotes) {
    let Some(state) = loc.state_dir.as_deref() else {
        return (crate::settings::load_with(loc, mode), GateNotes::default());
    };
    let store = lkg::Store::new(state);
    if let Some(View { files, errors, notes }) = view(loc, &store, true) {
        return (assemble(loc, mode, files, errors), GateNotes { blocked: Vec::new(), in_force: notes });
    }
    // Something needs the gate (or a first record).
    let (live, reports) = Live::open(loc.clone(), LiveOptions::default()).await;
    let rev = live.handle().current();
    let blocked: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.result {
            GateResult::Blocked { reason } => Some(format!(
                "hookhost: the change to {} was blocked ({reason}); the last good version stays in force",
                r.path.display()
            )),
            _ => None,
        })
        .collect();
    let (errors, in_force) = split_errors(rev.settings(), &rev.errors);
    (assemble(loc, mode, parsed(live.accepted()), errors), GateNotes { blocked, in_force })
}

/// The settings in force for `loc` as the gate left them, without gating anything: managed
/// files from disk, every other file at its accepted version (a file not seen yet as it is on
/// disk). `None` without a state directory. For `hookhost status`.
pub fn in_force(loc: &Locations) -> Option<Settings> {
    let store = lkg::Store::new(loc.state_dir.as_deref()?);
    let v = view(loc, &store, false)?;
    Some(assemble(loc, Mode::CacheOnly, v.files, v.errors).settings)
}

fn parsed(files: &[FileVersion]) -> Vec<crate::settings::SettingsFile> {
    files.iter().map(|f| f.parsed.as_ref().clone()).collect()
}

/// The files in force, the unusable files with no version in force, and notes.
struct View {
    files: Vec<crate::settings::SettingsFile>,
    errors: Vec<SettingsError>,
    notes: Vec<String>,
}

/// What is in force for `loc`. With `exact` (the one-shot fast path), `None` as soon as a file
/// needs the gate or a first record; without, a change not judged yet leaves the accepted
/// version in force and a file never seen counts as it is.
fn view(loc: &Locations, store: &lkg::Store, exact: bool) -> Option<View> {
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let cands = loc.candidates_or_fixed(&mut errors);
    let disk: Vec<(Scope, PathBuf, bool, Disk)> =
        cands.into_iter().map(|(s, p, r)| (s, p.clone(), r, watch::read_disk(loc, &p, s))).collect();
    // Managed: the disk, always.
    let mut files: Vec<FileVersion> = Vec::new();
    for (scope, path, _, d) in disk.iter().filter(|x| x.0 == Scope::Managed) {
        match d {
            Disk::Bytes(b) => match FileVersion::parse(*scope, path, b.clone()) {
                Ok(v) => files.push(v),
                Err(e) => errors.push(e),
            },
            Disk::Missing => {}
            Disk::Error(e) => errors.push(e.clone()),
        }
    }
    let policy = policy_revision(&files);
    if exact {
        // A managed change not reported yet goes the slow way, to be reported once.
        let now: Vec<(PathBuf, String)> = files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect();
        if store.managed_seen().map(|s| s.files) != Some(now) {
            return None;
        }
    }
    for (scope, path, required, d) in disk.iter().filter(|x| x.0 != Scope::Managed) {
        let Some(rec) = store.load(&canonical_file(path)) else {
            if exact {
                return None;
            }
            if let Disk::Bytes(b) = d
                && let Ok(v) = FileVersion::parse(*scope, path, b.clone())
            {
                files.push(v);
            }
            continue;
        };
        let disk_sha = match d {
            Disk::Bytes(b) => Some(sha256_hex(b)),
            _ => None,
        };
        let unreadable = matches!(d, Disk::Error(_));
        if !unreadable && disk_sha.as_deref() == rec.accepted.sha256() {
            // The disk is the accepted content: the disk's bytes are parsed.
            match d {
                Disk::Bytes(b) => match FileVersion::parse(*scope, path, b.clone()) {
                    Ok(v) => files.push(v),
                    Err(e) if exact => {
                        tracing::debug!(error = %e, "an accepted settings file no longer parses");
                        return None;
                    }
                    Err(e) => errors.push(e),
                },
                _ if *required => errors.push(SettingsError {
                    location: Location { path: path.clone(), line: 1, column: 1 },
                    message: "file not found".into(),
                    managed: false,
                }),
                _ => {}
            }
            continue;
        }
        let memo_sha = disk_sha.unwrap_or_default();
        let invalid_in_force = rec.invalid.as_ref().is_some_and(|(s, _)| *s == memo_sha)
            && matches!(rec.accepted, lkg::Accepted::Content { .. });
        if invalid_in_force {
            if let Some((_, error)) = &rec.invalid {
                notes.push(in_force_note(error));
            }
        } else {
            let blocked = !unreadable && rec.is_blocked(&memo_sha, &policy);
            if exact && !blocked {
                return None;
            }
        }
        // Blocked, invalid, or (status) not judged yet: the accepted version stays in force.
        if let lkg::Accepted::Content { bytes, .. } = &rec.accepted {
            match FileVersion::parse(*scope, path, bytes.clone()) {
                Ok(v) => files.push(v),
                Err(_) if exact => return None,
                Err(_) => {}
            }
        }
    }
    watch::order(loc, &mut files);
    Some(View { files: parsed(&files), errors, notes })
}

/// Splits unusable files into those with no version in force (errors for the failure policy)
/// and notes for those whose last good version stays in force.
pub fn split_errors(settings: &Settings, errors: &[SettingsError]) -> (Vec<SettingsError>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for e in errors {
        if settings.sources.iter().any(|s| s.path == e.location.path) {
            notes.push(in_force_note(e));
        } else {
            out.push(e.clone());
        }
    }
    (out, notes)
}

/// What the user is told about an unusable file whose last good version stays in force.
fn in_force_note(error: &dyn std::fmt::Display) -> String {
    format!("hookhost: {error} (the last good version of this file stays in force)")
}

fn errors_differ(a: &[SettingsError], b: &[SettingsError]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.to_string() != y.to_string())
}

/// What changed, for ConfigChange hooks: top-level keys whose value differs, and counts.
fn summary(old: Option<&FileVersion>, new: Option<&FileVersion>, current: &Settings, candidate: &Settings) -> Value {
    let obj = |f: Option<&FileVersion>| -> Map<String, Value> {
        f.and_then(|f| serde_json::from_slice::<Value>(&f.bytes).ok())
            .and_then(|v| if let Value::Object(m) = v { Some(m) } else { None })
            .unwrap_or_default()
    };
    let (a, b) = (obj(old), obj(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let changed: Vec<&String> = keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).collect();
    let rules = |s: &Settings| s.permissions.allow.len() + s.permissions.ask.len() + s.permissions.deny.len();
    json!({
        "changed_keys": changed,
        "active_hooks": {"before": current.hooks.len(), "after": candidate.hooks.len()},
        "permission_rules": {"before": rules(current), "after": rules(candidate)},
    })
}
