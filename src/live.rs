//! Live settings: the accepted revision of one set of settings locations, changed only through
//! the ConfigChange gate, and persisted as the last known good revision.
//!
//! Owns: `Live` (the accepted file versions, the `EventBus` built from them, the gate that
//! decides whether a changed file becomes live) and `LiveHandle` (what request handlers read).
//!
//! The gate, for each changed file (`crate::settings::watch::scan`):
//! - invalid or half-written content is an error, not a change: the accepted version stays and
//!   the error is logged and audited (`settings_change`, result `invalid`);
//! - a valid change builds a candidate revision and emits Claude Code's `ConfigChange` event
//!   (`source`, `file_path`, plus a `hookhost` object: the change kind, both revisions and a
//!   summary) to the ConfigChange hooks of the **current** revision; the candidate is swapped in
//!   atomically only if none blocks (result `applied`), else the current revision stays
//!   (`blocked`; the file on disk is not touched, unless `hookhost.revertBlockedConfigChanges`
//!   asks for it);
//! - a managed (`policy_settings`) change is applied even if a hook blocks, and reported (`policy`).
//!
//! Promises: readers only ever see a complete revision that passed the gate; every accepted
//! revision is persisted (atomically) under the state directory, so that a process started later
//! gates the files that changed while no hookhost was watching against the last known good
//! revision instead of loading them unreviewed. On the very first start (nothing persisted) the
//! files on disk are accepted as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::bus::{DispatchContext, EventBus};
use crate::error::SettingsError;
use crate::event::HookEvent;
use crate::exec::wasm::WasmRuntime;
use crate::settings::file::AuditSettings;
use crate::settings::remote::Mode;
use crate::settings::watch::{self, Change, FileVersion};
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
}

impl GateResult {
    pub fn label(&self) -> &'static str {
        match self {
            GateResult::Applied => "applied",
            GateResult::Policy { .. } => "policy",
            GateResult::Blocked { .. } => "blocked",
            GateResult::Invalid { .. } => "invalid",
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
    /// `session_id` of the ConfigChange events hookhost emits itself.
    pub session_id: Option<String>,
    /// Persist and consult the last known good revision (default on when a state dir is known).
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
    accepted: Vec<FileVersion>,
    handle: LiveHandle,
    audit: Option<(AuditSettings, Arc<AuditLog>)>,
    /// Content already blocked (path → sha256, or "" for a deletion, and the revision that
    /// blocked it): not gated again until the disk or the revision changes. Persisted.
    blocked: BTreeMap<PathBuf, (String, String)>,
    /// Invalid content already reported (path → sha256 of the content, error text). Persisted.
    invalid: BTreeMap<PathBuf, (String, String)>,
}

impl Live {
    /// Loads the live settings of `loc`: the last known good revision with every file that
    /// changed since gated against it, or (first start) the files as they are.
    pub async fn open(loc: Locations, options: LiveOptions) -> (Live, Vec<ChangeReport>) {
        let persisted = if options.no_persist { None } else { lkg::load(&loc) };
        let first_start = persisted.is_none();
        let (accepted, initial_errors, blocked, invalid) = match persisted {
            Some(p) => (p.files, Vec::new(), p.blocked, p.invalid),
            None => {
                let (files, errors) = watch::read_all(&loc);
                (files, errors, BTreeMap::new(), BTreeMap::new())
            }
        };
        let placeholder = Arc::new(Revision {
            bus: EventBus::new(Settings::default()),
            ctx: DispatchContext::default(),
            errors: Vec::new(),
            since: std::time::SystemTime::now(),
        });
        let mut live = Live {
            loc,
            options,
            accepted,
            handle: LiveHandle(Arc::new(RwLock::new(placeholder))),
            audit: None,
            blocked,
            invalid,
        };
        let first = live.build(&live.accepted.clone(), initial_errors.clone());
        live.handle.swap(Arc::new(first));
        live.snapshot_accepted();
        if first_start {
            // Remember what was unusable on the first start, so it is reported, not re-audited.
            let hashes = watch::disk_hashes(&live.loc);
            for e in &initial_errors {
                tracing::warn!(error = %e, "settings file skipped");
                let sha = hashes.iter().find(|(_, p, _)| *p == e.location.path).and_then(|(_, _, h)| h.clone());
                live.invalid.insert(e.location.path.clone(), (sha.unwrap_or_default(), e.to_string()));
            }
        }
        // Whatever changed while nobody was watching goes through the gate now (`apply`
        // persists what it changes).
        let reports = live.rescan().await;
        if first_start {
            live.persist();
        }
        (live, reports)
    }

    pub fn handle(&self) -> LiveHandle {
        self.handle.clone()
    }

    pub fn locations(&self) -> &Locations {
        &self.loc
    }

    /// Looks at every settings file and gates what changed.
    pub async fn rescan(&mut self) -> Vec<ChangeReport> {
        let changes = watch::scan(&self.loc, &self.accepted);
        self.apply(changes).await
    }

    /// Gates `changes`, in order; each is judged by the revision live at that moment.
    pub async fn apply(&mut self, changes: Vec<Change>) -> Vec<ChangeReport> {
        let mut reports = Vec::new();
        let mut errors: Vec<SettingsError> = Vec::new();
        let mut seen_invalid = std::collections::BTreeSet::new();
        let mut swapped = false;
        let mut memo_changed = false;
        for change in changes {
            let current = self.handle.current();
            let prev_rev = current.settings().revision.clone();
            let (path, scope, kind) = (change.path().to_path_buf(), change.scope(), change.kind());
            let source = scope.config_source();
            let candidate_files = match &change {
                Change::Invalid { error, sha256, .. } => {
                    errors.push(error.clone());
                    seen_invalid.insert(path.clone());
                    let text = error.to_string();
                    let memo = (sha256.clone().unwrap_or_default(), text.clone());
                    if self.invalid.get(&path) != Some(&memo) {
                        self.invalid.insert(path.clone(), memo);
                        memo_changed = true;
                        tracing::warn!(file = %path.display(), error = %text, "settings change rejected: invalid content; the previous version stays live");
                        let report = ChangeReport {
                            path,
                            source,
                            change: kind,
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
                Change::Updated { new, .. } => {
                    let mut files: Vec<FileVersion> =
                        self.accepted.iter().filter(|f| f.path != new.path).cloned().collect();
                    files.push(new.clone());
                    watch::order(&self.loc, &mut files);
                    files
                }
                Change::Deleted { previous } => {
                    self.accepted.iter().filter(|f| f.path != previous.path).cloned().collect()
                }
            };
            memo_changed |= self.invalid.remove(&path).is_some();
            let file_sha = match &change {
                Change::Updated { new, .. } => Some(new.sha256.clone()),
                _ => None,
            };
            let memo = (file_sha.clone().unwrap_or_default(), prev_rev.clone());
            if scope != Scope::Managed && self.blocked.get(&path) == Some(&memo) {
                continue; // Already judged: still blocked.
            }
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
            let tried = tried_to_block(&outcome);
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
                    self.blocked.insert(path.clone(), memo);
                    memo_changed = true;
                }
                _ => {
                    tracing::info!(file = %path.display(), revision = %new_rev, result = result.label(), "settings change applied");
                    memo_changed |= self.blocked.remove(&path).is_some();
                    self.accepted = candidate_files;
                    let rev = self.revision_from(candidate, errors.clone());
                    self.handle.swap(Arc::new(rev));
                    swapped = true;
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
        // Files that were invalid and are no longer (fixed back to the accepted content).
        let before = self.invalid.len();
        self.invalid.retain(|p, _| seen_invalid.contains(p));
        memo_changed |= self.invalid.len() != before;
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
        }
        if swapped || memo_changed {
            self.persist();
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
        let (Some(state), true) =
            (&self.loc.state_dir, crate::rollback::RollbackOptions::from_settings(&settings).revert_config_changes)
        else {
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
        let tried = tried_to_block(&outcome);
        let rev = self.revision_from(candidate, current.errors.clone());
        self.handle.swap(Arc::new(rev));
        self.persist();
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
    /// `hookhost` extension object `ext`.
    fn config_change(&self, scope: Scope, file_path: &Path, ext: Value) -> Result<HookEvent, crate::event::EventError> {
        let cwd = self.loc.project_dir.clone().unwrap_or_else(|| PathBuf::from("/"));
        let session = self.options.session_id.clone().unwrap_or_else(|| format!("hookhost-{}", std::process::id()));
        let v = json!({
            "session_id": session,
            "transcript_path": "",
            "cwd": cwd.to_string_lossy(),
            "hook_event_name": "ConfigChange",
            "source": scope.config_source(),
            "file_path": file_path.to_string_lossy(),
            "hookhost": ext,
        });
        HookEvent::parse(v.to_string().as_bytes())
    }

    fn audit_change(&self, r: &ChangeReport, live: &Revision) {
        // Observability (issue 24): the daemon's metrics (a no-op unless `serve --metrics`).
        crate::metrics::config_change(r.result.label());
        let Some(log) = live.bus.audit_log() else { return };
        let mut m = Map::new();
        m.insert("time".into(), crate::bus::now_rfc3339().into());
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
        if let Err(e) = log.append(m, true) {
            tracing::warn!(error = %e, "audit: cannot record a settings change");
        }
    }

    fn persist(&self) {
        if self.options.no_persist {
            return;
        }
        let revision = self.handle.current().settings().revision.clone();
        if let Err(e) = lkg::store(&self.loc, &self.accepted, &revision, &self.blocked, &self.invalid) {
            tracing::warn!(error = %e, "cannot persist the last known good settings revision");
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

/// Settings for a one-shot process (`dispatch`, `explain`), as the daemon would have them live:
/// the last known good revision, with every settings file that changed since gated first (its
/// ConfigChange hooks run now, in this process). Without a state directory, or on the very first
/// run, the files are taken as they are (and the revision persisted).
///
/// Returns the settings with the files that could not be used and are not in force (for the
/// caller's failure policy), and notes for the user (a blocked change, a file whose last good
/// version stays in force).
///
/// `mode` is how server-managed settings are obtained for the result (`Mode::Startup` may fetch).
pub fn load_gated(loc: &Locations, mode: Mode) -> (crate::settings::Loaded, Vec<String>) {
    if loc.state_dir.is_none() {
        return (crate::settings::load_with(loc, mode), Vec::new());
    }
    if let Some(fast) = fast_path(loc, mode) {
        return fast;
    }
    // Something changed: gate it. One process at a time per locations.
    let _lock = lkg::path(loc).and_then(|p| {
        let dir = p.parent()?.to_path_buf();
        std::fs::create_dir_all(&dir).ok()?;
        let f =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(p.with_extension("lock")).ok()?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok()
    });
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a runtime to gate settings changes; loading the files as they are");
            return (crate::settings::load_with(loc, mode), Vec::new());
        }
    };
    let (live, reports) = rt.block_on(Live::open(loc.clone(), LiveOptions::default()));
    let rev = live.handle().current();
    let mut notes: Vec<String> = reports
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
    notes.extend(in_force);
    (assemble(loc, mode, parsed(live.accepted()), errors), notes)
}

fn parsed(files: &[FileVersion]) -> Vec<crate::settings::SettingsFile> {
    files.iter().map(|f| f.parsed.as_ref().clone()).collect()
}

/// The persisted revision when nothing on disk needs gating.
fn fast_path(loc: &Locations, mode: Mode) -> Option<(crate::settings::Loaded, Vec<String>)> {
    let p = lkg::load(loc)?;
    let hashes = watch::disk_hashes(loc);
    let mut in_force_errors = Vec::new();
    for (_, path, disk) in &hashes {
        let accepted = p.files.iter().find(|f| &f.path == path).map(|f| f.sha256.as_str());
        let disk = disk.as_deref();
        if disk == accepted {
            continue;
        }
        let d = disk.unwrap_or_default();
        if p.blocked.get(path).is_some_and(|(s, rev)| s == d && *rev == p.revision) {
            continue; // Judged before: blocked; the accepted version stays.
        }
        match p.invalid.get(path) {
            Some((s, error)) if s == d && !d.is_empty() && accepted.is_some() => {
                in_force_errors.push(in_force_note(error));
            }
            _ => return None,
        }
    }
    if p.files.iter().any(|f| !hashes.iter().any(|(_, path, _)| *path == f.path)) {
        return None; // An accepted file is no longer a candidate (a removed drop-in).
    }
    Some((assemble(loc, mode, parsed(&p.files), Vec::new()), in_force_errors))
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

/// How settings files that cannot be used bear on one event (the same rule in one-shot
/// `dispatch` and in the daemon). `errors` are the unusable files with no good version in force
/// (see [`split_errors`]); `unapproved`: server-managed hooks wait for approval. `Err` is the
/// reason to fail closed (an unusable managed file; otherwise only for an event in `failClosed`);
/// `Ok` holds the notes for the user.
pub fn admit(
    settings: &Settings,
    errors: &[SettingsError],
    unapproved: bool,
    event: &str,
) -> Result<Vec<String>, String> {
    if let Some(e) = errors.iter().find(|e| e.managed) {
        return Err(format!("managed settings are invalid, failing closed: {e}"));
    }
    let closed = crate::bus::fails_closed(settings, Some(event));
    if closed && unapproved {
        // Unapproved server hooks count as failed hooks: under a closed failure policy, a block.
        return Err(format!(
            "server-managed hooks are not approved (remoteSettings.requireApproval) and {event} fails closed: \
             review them with `hookhost approvals`"
        ));
    }
    if closed && !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        return Err(format!("invalid settings, failing closed for {event}: {}", list.join("; ")));
    }
    Ok(errors.iter().map(|e| format!("hookhost: skipped invalid settings file {e}")).collect())
}

/// The hooks that answered "block" (or exit 2 on an unblockable event), with their reasons.
fn tried_to_block(outcome: &crate::bus::Outcome) -> Vec<String> {
    outcome
        .runs
        .iter()
        .filter_map(|r| match &r.report.result {
            crate::decision::HookResult::Decided(d) if d.block || d.notice.is_some() => Some(format!(
                "{}: {}",
                r.hook.label(),
                d.reason.as_deref().or(d.notice.as_deref()).unwrap_or("block").trim()
            )),
            _ => None,
        })
        .collect()
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

/// The last known good revision on disk: `<state_dir>/settings/<key>.json`, where the key is a
/// hash of the locations. Holds the content of every accepted file.
pub mod lkg {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        version: u32,
        revision: String,
        files: Vec<StoredFile>,
        /// Content on disk that is not in force: blocked by a hook, or invalid.
        #[serde(default)]
        rejected: Vec<Rejected>,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct StoredFile {
        scope: String,
        path: PathBuf,
        sha256: String,
        text: String,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Rejected {
        path: PathBuf,
        /// sha256 of the rejected content ("" for a blocked deletion).
        sha256: String,
        /// `blocked` (with the revision that blocked it) or `invalid` (with the error).
        result: String,
        #[serde(default)]
        revision: String,
        #[serde(default)]
        error: String,
    }

    /// What was persisted.
    pub struct Persisted {
        pub revision: String,
        pub files: Vec<FileVersion>,
        pub blocked: BTreeMap<PathBuf, (String, String)>,
        pub invalid: BTreeMap<PathBuf, (String, String)>,
    }

    /// Where the last known good revision of `loc` is kept.
    pub fn path(loc: &Locations) -> Option<PathBuf> {
        let dir = loc.state_dir.as_ref()?;
        let mut h = Sha256::new();
        for p in [Some(&loc.managed_dir), loc.user_file.as_ref(), loc.project_dir.as_ref(), loc.cli_file.as_ref()] {
            h.update(p.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default());
            h.update([0]);
        }
        Some(dir.join("settings").join(format!("{:x}.json", h.finalize())))
    }

    fn scope_of(s: &str) -> Option<Scope> {
        [Scope::Managed, Scope::CommandLine, Scope::Local, Scope::Project, Scope::User]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// The persisted revision (`None`: nothing persisted, or unreadable: then the disk is taken
    /// as it is, as on a first start, and the reason is logged).
    pub fn load(loc: &Locations) -> Option<Persisted> {
        let p = path(loc)?;
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "cannot read the last known good settings");
                return None;
            }
        };
        let stored: Stored = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "the last known good settings are unreadable");
                return None;
            }
        };
        let mut files = Vec::new();
        for f in stored.files {
            let Some(scope) = scope_of(&f.scope) else { continue };
            match FileVersion::parse(scope, &f.path, f.text.into_bytes()) {
                Ok(v) => files.push(v),
                Err(e) => tracing::warn!(error = %e, "a last known good settings file no longer parses; dropped"),
            }
        }
        watch::order(loc, &mut files);
        let mut blocked = BTreeMap::new();
        let mut invalid = BTreeMap::new();
        for r in stored.rejected {
            match r.result.as_str() {
                "blocked" => {
                    blocked.insert(r.path, (r.sha256, r.revision));
                }
                _ => {
                    invalid.insert(r.path, (r.sha256, r.error));
                }
            }
        }
        Some(Persisted { revision: stored.revision, files, blocked, invalid })
    }

    /// Persists the revision atomically (temp file, fsync, rename, directory fsync), mode 0600.
    pub fn store(
        loc: &Locations,
        files: &[FileVersion],
        revision: &str,
        blocked: &BTreeMap<PathBuf, (String, String)>,
        invalid: &BTreeMap<PathBuf, (String, String)>,
    ) -> std::io::Result<()> {
        use std::io::Write;
        let Some(p) = path(loc) else { return Ok(()) };
        let dir = p.parent().unwrap_or(Path::new("/"));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let rejected = blocked
            .iter()
            .map(|(path, (sha256, revision))| Rejected {
                path: path.clone(),
                sha256: sha256.clone(),
                result: "blocked".into(),
                revision: revision.clone(),
                error: String::new(),
            })
            .chain(invalid.iter().map(|(path, (sha256, error))| Rejected {
                path: path.clone(),
                sha256: sha256.clone(),
                result: "invalid".into(),
                revision: String::new(),
                error: error.clone(),
            }))
            .collect();
        let stored = Stored {
            version: 1,
            revision: revision.to_string(),
            files: files
                .iter()
                .map(|f| StoredFile {
                    scope: f.scope.as_str().to_string(),
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                    text: String::from_utf8_lossy(&f.bytes).into_owned(),
                })
                .collect(),
            rejected,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&serde_json::to_vec(&stored).map_err(std::io::Error::other)?)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&p).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()
    }
}
