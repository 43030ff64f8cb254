//! Server-managed settings as the host applies them: the startup rules of a load (fail open, or
//! fail closed under `forceRemoteSettingsRefresh`; a stale cache refreshed in the background),
//! a refresh and what a changed payload raises (the policy ConfigChange), the audit records of
//! all of these, and the daemon's poller.
//!
//! Promises: a server change is applied whatever the ConfigChange hooks answer (a
//! `policy_settings` change is never blockable), reported to them, and audited with the
//! previous and new revisions; a fetch that fails at startup is audited (`kind:
//! "remote_settings"`) and shown to the user, and so is an expired payload held back; a refresh
//! never sends validators read from the cache. Nothing here starts a tokio runtime: what runs
//! hooks is `async`, and blocking callers go through [`crate::host::block_on`].

use std::path::Path;

use serde_json::{Map, Value};

use crate::bus::{DispatchContext, EventBus};
use crate::settings::remote::{self, Mode, Refresh};
use crate::settings::{Loaded, Locations, load};

/// The settings of one dispatch, loaded under the startup rules.
pub(crate) struct Startup {
    pub loaded: Loaded,
    /// What the gate and the server-managed settings have to say; already audited.
    pub notes: super::gate::Notes,
    /// `forceRemoteSettingsRefresh` without a fresh fetch: fail closed with this reason.
    pub fail_closed: Option<String>,
}

/// Loads the settings for one dispatch under the startup rules: problems are audited and
/// returned as notes, a startup fetch that changed the payload is reported as a policy
/// ConfigChange, and (with `background_refresh`) a stale cache starts a background refresh.
///
/// The settings are the live revision (`crate::live::load_gated`): files changed since the last
/// known good revision pass the ConfigChange gate first; what the gate has to say (a blocked
/// change, a file whose last good version stays in force) is in the notes too.
pub(crate) async fn startup_load(loc: &Locations, mode: Mode, background_refresh: bool) -> Startup {
    let (loaded, gate) = crate::live::load_gated(loc, mode).await;
    let mut notes = super::gate::Notes { in_force: gate.in_force, gate: gate.blocked, ..Default::default() };
    let Some(r) = &loaded.remote else { return Startup { loaded, notes, fail_closed: None } };
    if let Some(reason) = r.report.fail_closed.clone() {
        audit_remote(&loaded, "fail_closed", Some(&reason));
        return Startup { loaded, notes, fail_closed: Some(reason) };
    }
    for p in &r.report.problems {
        tracing::warn!("{p}");
        notes.remote.push(format!("hookhost: WARNING: {p}"));
        audit_remote(&loaded, "problem", Some(p));
    }
    let new = r.report.payload.as_ref().map(|p| p.revision.as_str());
    if r.report.fetched && r.report.previous_revision.as_deref() != new {
        audit_remote(&loaded, "fetched", None);
        // A fetch at startup that replaced a cached payload (forceRemoteSettingsRefresh) is a
        // server change like any other: report it before this event runs.
        if let (Some(old), Some(new), Some(path)) = (&r.report.previous_revision, new, &r.report.payload_path) {
            policy_change(loc, None, Some(old), new, path).await;
        }
    }
    if let Some((e, _)) = &r.held_back {
        // Shown (and failed closed where the event's policy says so) with the settings errors.
        audit_remote(&loaded, "expired", Some(&e.message));
    }
    if r.report.stale && background_refresh {
        spawn_background_refresh(loc);
    }
    notes.unapproved = r.unapproved;
    Startup { loaded, notes, fail_closed: None }
}

/// Starts `hookhost remote refresh --quiet` detached (own process group, no inherited pipes, so
/// the agent does not wait for it); a lock in the cache keeps refreshes from piling up. Only
/// the hookhost executable does this (an embedder's executable has no such subcommand).
fn spawn_background_refresh(loc: &Locations) {
    let Ok(exe) = std::env::current_exe() else { return };
    let mut c = std::process::Command::new(exe);
    c.args(["remote", "refresh", "--quiet"]);
    if let Some(p) = &loc.project_dir {
        c.arg("--project-dir").arg(p);
    }
    if let Some(f) = &loc.cli_file {
        c.arg("--settings").arg(f);
    }
    use std::os::unix::process::CommandExt;
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    match c.spawn() {
        // Reaped by init once we exit; the refresh outlives this dispatch on purpose.
        Ok(child) => drop(child),
        Err(e) => tracing::warn!(error = %e, "remote settings: cannot start the background refresh"),
    }
}

fn audit_remote(loaded: &Loaded, what: &str, error: Option<&str>) {
    let Some(r) = &loaded.remote else { return };
    let mut rec = Map::new();
    rec.insert("time".into(), crate::clock::now_rfc3339().into());
    rec.insert("kind".into(), "remote_settings".into());
    rec.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    rec.insert("what".into(), what.into());
    rec.insert("url".into(), r.config.url.clone().into());
    rec.insert("source".into(), r.source.as_str().into());
    rec.insert("revision".into(), r.report.payload.as_ref().map(|p| p.revision.clone()).into());
    rec.insert("previous_revision".into(), r.report.previous_revision.clone().into());
    rec.insert("settings_revision".into(), loaded.settings.revision.clone().into());
    if let Some(e) = error {
        rec.insert("error".into(), e.into());
    }
    append(&loaded.settings, rec);
}

pub(crate) fn append(settings: &crate::settings::Settings, rec: Map<String, Value>) {
    // Opens, locks and fsyncs the log: off the async workers (`crate::offload`).
    crate::offload::blocking(|| append_now(settings, rec))
}

fn append_now(settings: &crate::settings::Settings, rec: Map<String, Value>) {
    match crate::audit::open_configured(&settings.audit) {
        Ok(Some(log)) => {
            if let Err(e) = log.append(rec, true) {
                tracing::warn!(error = %e, "audit: cannot record a remote settings record");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "audit: cannot open the log"),
    }
}

/// Runs one refresh for the settings at `loc` (unconditional: this process fetched nothing the
/// cache's validators could vouch for) and handles a change. `Ok(None)`: not configured.
pub(crate) async fn refresh(loc: &Locations) -> Result<Option<Refresh>, String> {
    let before = load(loc);
    let Some(r) = &before.remote else { return Ok(None) };
    let cache = remote::Cache::new(loc.state_dir.as_deref(), &r.config.url);
    let Some(_lock) = cache.try_lock() else {
        return Err("another refresh of these remote settings is running".into());
    };
    let res = remote::refresh_once(&r.config, &cache);
    match &res {
        Ok(Refresh::Changed { old, new, payload_path }) => {
            policy_change(loc, Some(&before.settings.revision), old.as_deref(), new, payload_path).await;
        }
        Ok(Refresh::NotModified { .. }) => {}
        Err(e) => audit_refresh_failure(&before, &r.config.url, e),
    }
    res.map(Some).map_err(|e| e.to_string())
}

/// Audits a refresh that failed (the cache is kept).
pub(crate) fn audit_refresh_failure(loaded: &Loaded, url: &str, e: &remote::RemoteError) {
    let mut rec = Map::new();
    rec.insert("time".into(), crate::clock::now_rfc3339().into());
    rec.insert("kind".into(), "remote_settings".into());
    rec.insert("what".into(), "refresh_failed".into());
    rec.insert("url".into(), url.into());
    rec.insert("error".into(), e.to_string().into());
    append(&loaded.settings, rec);
}

/// A changed server payload: dispatch a `policy_settings` ConfigChange to the ConfigChange
/// hooks of the new settings (the change is already applied: the cache holds it, and a block
/// cannot undo it), then audit the change with both revisions.
pub(crate) async fn policy_change(
    loc: &Locations,
    before_settings_revision: Option<&str>,
    old: Option<&str>,
    new: &str,
    payload_path: &Path,
) {
    let after = load(loc);
    let url = after.remote.as_ref().map(|r| r.config.url.clone()).unwrap_or_default();
    let cwd = loc.project_dir.clone().or_else(|| std::env::current_dir().ok());
    let ext = serde_json::json!({"previous_revision": old, "new_revision": new, "url": url});
    let mut tried: Vec<String> = Vec::new();
    let mut hooks_run = 0usize;
    let mut problem = None;
    match crate::event::config_change("hookhost-remote-settings", cwd.as_deref(), "policy_settings", payload_path, ext)
    {
        Ok(event) => {
            let mut bus = EventBus::new(after.settings.clone());
            if let Ok(Some(log)) = crate::audit::open_configured(&after.settings.audit) {
                bus = bus.with_audit(log);
            }
            let ctx = DispatchContext {
                project_dir: loc.project_dir.clone(),
                user_dir: loc.user_file.as_ref().and_then(|f| f.parent()).map(Path::to_path_buf),
            };
            let outcome = bus.dispatch(&event, &ctx).await;
            hooks_run = outcome.runs.len();
            tried = outcome.tried_to_block();
        }
        Err(e) => problem = Some(format!("cannot build the ConfigChange event: {e}")),
    }
    let mut rec = Map::new();
    rec.insert("time".into(), crate::clock::now_rfc3339().into());
    rec.insert("kind".into(), "settings_change".into());
    rec.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    rec.insert("source".into(), "policy_settings".into());
    rec.insert("url".into(), url.into());
    rec.insert("file_path".into(), payload_path.to_string_lossy().into_owned().into());
    rec.insert("previous".into(), old.into());
    rec.insert("new".into(), new.into());
    rec.insert("previous_settings_revision".into(), before_settings_revision.into());
    rec.insert("new_settings_revision".into(), after.settings.revision.clone().into());
    rec.insert("hooks_run".into(), hooks_run.into());
    rec.insert("blocked_by_hook".into(), (!tried.is_empty()).into());
    rec.insert("applied".into(), true.into());
    // The fields every settings_change record has (crate::live): a policy change always applies.
    rec.insert("change".into(), "server".into());
    rec.insert("result".into(), "policy".into());
    rec.insert("previous_revision".into(), before_settings_revision.into());
    rec.insert("new_revision".into(), after.settings.revision.clone().into());
    if !tried.is_empty() {
        rec.insert("blocked_by_hook_ignored".into(), tried.join("; ").into());
    }
    if let Some(p) = problem {
        rec.insert("error".into(), p.into());
    }
    append(&after.settings, rec);
}

/// The server-managed settings a long-running host polls: set up at build (a startup fetch
/// when there is no cache, or a fresh one under `forceRemoteSettingsRefresh`, without which the
/// host refuses to build), then polled on a thread of its own.
pub(crate) struct Poller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What a long-running host's startup found: the source to poll, or nothing configured; and
/// problems to warn about. `Err`: forceRemoteSettingsRefresh without a fresh copy.
pub(crate) fn startup_source(base: &Locations) -> Result<(Option<remote::RemoteSource>, Vec<String>), String> {
    let startup = crate::settings::load_with(base, Mode::Startup);
    let Some(r) = &startup.remote else { return Ok((None, Vec::new())) };
    if let Some(reason) = &r.report.fail_closed {
        return Err(reason.clone());
    }
    let source =
        remote::RemoteSource::new(r.config.clone(), base.state_dir.as_deref()).with_endpoint_force(r.endpoint_force);
    Ok((Some(source), r.report.problems.clone()))
}

impl Poller {
    /// Polls `source` until stopped; every new payload's path is sent on `tx`.
    pub fn start(source: remote::RemoteSource, tx: tokio::sync::watch::Sender<Option<std::path::PathBuf>>) -> Poller {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new().name("hookhost-remote-poll".into()).spawn(move || {
            source.poll(&s2, |r| {
                // Observability (issue 24): the fetch's result in the metrics.
                crate::metrics::remote_fetch(match &r {
                    Ok(Refresh::Changed { .. }) => "changed",
                    Ok(Refresh::NotModified { .. }) => "not_modified",
                    Err(_) => "error",
                });
                match r {
                    Ok(Refresh::Changed { payload_path, new, .. }) => {
                        tracing::info!(revision = %new, "server-managed settings changed");
                        let _ = tx.send(Some(payload_path));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "server-managed settings: refresh failed; keeping the cache"),
                }
            })
        });
        match thread {
            Ok(t) => Poller { stop, thread: Some(t) },
            Err(e) => {
                tracing::error!(error = %e, "server-managed settings: cannot start the poller");
                Poller { stop, thread: None }
            }
        }
    }

    /// Stops the poller and waits for its thread (call from a blocking context).
    pub fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Not joined here: a drop may run on an async worker. The thread sees the flag.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
