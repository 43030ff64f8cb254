//! One event from its bytes to its `Response`: the settings loaded through the gate for this
//! event (a host without `watch`), or a live revision (`respond_live`), admission
//! ([`super::gate`]), the bus, and the notes. Also what `explain`, the thin client's fallback and
//! the detached `async-hooks` process need of the same path.

use std::path::{Path, PathBuf};

use super::gate::{Notes, admit};
use super::{FrontEnd, Host, RemoteMode, Target, host_error};
use crate::bus::{AsyncHooks, DispatchContext, EventBus, Outcome, fails_closed};
use crate::decision::Response;
use crate::error::HostFault;
use crate::event::HookEvent;
use crate::settings::remote::Mode;
use crate::settings::{Loaded, Locations, load};

/// The settings and event of one dispatch, admitted.
pub(crate) struct Prepared {
    pub event: HookEvent,
    pub loaded: Loaded,
    pub loc: Locations,
    /// Notes for the user (skipped files, gate and server-managed settings notes).
    pub notes: Vec<String>,
}

impl Prepared {
    fn ctx(&self) -> DispatchContext {
        DispatchContext { project_dir: self.loc.project_dir.clone(), user_dir: user_dir(&self.loc) }
    }
}

fn user_dir(loc: &Locations) -> Option<PathBuf> {
    loc.user_file.as_ref().and_then(|f| f.parent()).map(Path::to_path_buf)
}

/// Records a host error (an event that could not be dispatched) in the audit log.
fn audit_host_error(settings: &crate::settings::Settings, event: Option<&str>, message: &str, exit_code: u8) {
    crate::fault::audit_host_error(&settings.audit, &settings.revision, event, message, exit_code);
}

/// What `explain` shows besides the outcome.
pub(crate) struct Explained {
    pub event: HookEvent,
    pub outcome: Outcome,
    pub revision: String,
    pub warnings: Vec<crate::settings::Diagnostic>,
    pub errors: Vec<crate::error::SettingsError>,
    /// Whether a rejected edit or a blocked settings change of this event would be undone.
    pub rollback: Option<String>,
}

impl Host {
    fn oneshot(&self) -> bool {
        self.inner.b.front == FrontEnd::OneShot
    }

    /// Parses `input`, loads its settings through the gate and admits it; `Err`: the response
    /// to give instead (a host error, audited).
    pub(crate) async fn prepare(&self, input: &[u8], target: &Target) -> Result<Prepared, Response> {
        let event = match HookEvent::parse_with_limit(input, self.inner.b.max_event_bytes) {
            Ok(e) => e,
            Err(e) => {
                // Which policy applies without an event? Load what does not depend on it.
                let loc = if target.foreign {
                    self.managed_only_locations()
                } else {
                    self.locations(target.project_dir.clone(), target.settings.clone(), None)
                };
                let loaded = load(&loc);
                let fault =
                    if loaded.managed_errors().next().is_some() { HostFault::Policy } else { HostFault::Evaluation };
                let r = host_error(fault, Some(fails_closed(&loaded.settings, None)), format!("invalid event: {e}"));
                audit_host_error(&loaded.settings, None, &format!("invalid event: {e}"), r.exit_code);
                return Err(r);
            }
        };
        if self.oneshot() {
            crate::fault::note_event_name(event.name());
            crate::fault::test_point("prepare");
        }
        let loc = if target.foreign {
            self.managed_only_locations()
        } else {
            self.locations(target.project_dir.clone(), target.settings.clone(), event.cwd())
        };
        // Server-managed settings (cache at once, fetch when needed) and the gated revision:
        // settings files changed since the last known good one pass the ConfigChange gate first.
        let mode = match self.inner.b.remote {
            RemoteMode::CacheOnly => Mode::CacheOnly,
            RemoteMode::Startup | RemoteMode::Poll => Mode::Startup,
        };
        let super::remote::Startup { loaded, notes, fail_closed } =
            super::remote::startup_load(&loc, mode, self.oneshot()).await;
        if let Some(reason) = fail_closed {
            return Err(host_error(HostFault::Policy, None, reason));
        }
        if self.oneshot() {
            crate::fault::note_event(
                Some(event.name()),
                fails_closed(&loaded.settings, Some(event.name())),
                &loaded.settings.audit,
                &loaded.settings.revision,
            );
        }
        let skipped = match admit(&loaded.settings, &loaded.errors, notes.unapproved, event.name()) {
            Ok(s) => s,
            Err(msg) => {
                let r = host_error(HostFault::Policy, None, &msg);
                audit_host_error(&loaded.settings, Some(event.name()), &msg, r.exit_code);
                return Err(r);
            }
        };
        let session = event.str_field("session_id");
        let state_dir = loc.state_dir.as_deref();
        let mut notes = notes.with_skipped(skipped, |n| crate::notice::first_in_session(state_dir, session, n));
        // A skipped untrusted or unpinned hook says so, once per session (issue 25).
        if let Some(n) = crate::notice::skipped_hooks(&loaded.settings)
            && crate::notice::first_in_session(state_dir, session, &n)
        {
            notes.push(n);
        }
        Ok(Prepared { event, loaded, loc, notes })
    }

    /// The managed-only locations of a foreign peer: no user, project, local or command-line
    /// file.
    fn managed_only_locations(&self) -> Locations {
        let mut loc = self.locations(None, None, None);
        loc.user_file = None;
        loc.project_dir = None;
        loc.cli_file = None;
        loc
    }

    /// The bus for one prepared event, as this host's front end needs it.
    fn bus(&self, p: &Prepared) -> EventBus {
        let settings = p.loaded.settings.clone();
        let record = self.inner.b.front != FrontEnd::Explain;
        let audit_settings = settings.audit.clone();
        let mut bus = self.bus_over(settings);
        bus = bus.with_async_hooks(match self.inner.b.front {
            // One-shot dispatch detaches `async: true` hooks to a process that outlives it;
            // `explain` runs them and reports what they answered.
            FrontEnd::OneShot => AsyncHooks::Detach,
            FrontEnd::Explain => AsyncHooks::Await,
            FrontEnd::Embedded => AsyncHooks::Background,
        });
        if record {
            match crate::audit::open_configured(&audit_settings) {
                Ok(Some(log)) => bus = bus.with_audit(log),
                Ok(None) => {}
                // The bus tries again when it records, and a failure is a host error under the
                // event's failure policy.
                Err(_) => bus = bus.with_unopened_audit(audit_settings),
            }
        }
        // Rollback writes files: `explain` only reports whether it is armed.
        if let Some(state) = p.loc.state_dir.as_deref().filter(|_| record) {
            bus = bus.with_rollback(state);
        }
        bus
    }

    /// Runs a prepared event. One-shot `dispatch` is cancelled by SIGTERM/SIGINT/SIGHUP (the
    /// agent gave up on us, or a shutdown): dropping the dispatch kills every hook's process
    /// group and cgroups before the host error is answered.
    pub(crate) async fn run(&self, p: Prepared) -> Result<(Outcome, HookEvent), Response> {
        let bus = self.bus(&p);
        let ctx = p.ctx();
        let route = bus.route(&p.event, &ctx);
        if route.selected.iter().any(|s| matches!(s.hook.handler, crate::hook::Handler::Command(_))) {
            // What every sandboxed run shares is built on another core while this one prepares
            // the run.
            crate::exec::sandbox::warm_up();
        }
        let closed = Some(bus.fails_closed(Some(p.event.name())));
        let fail = |msg: &str| host_error(HostFault::Evaluation, closed, msg);
        let mut outcome = if self.oneshot() && !route.selected.is_empty() {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
            else {
                return Err(fail("cannot install signal handlers"));
            };
            tokio::select! {
                o = bus.dispatch(&p.event, &ctx) => o,
                _ = term.recv() => return Err(fail("terminated by SIGTERM; hooks killed")),
                _ = int.recv() => return Err(fail("interrupted by SIGINT; hooks killed")),
                _ = hup.recv() => return Err(fail("hung up (SIGHUP); hooks killed")),
            }
        } else {
            bus.dispatch(&p.event, &ctx).await
        };
        outcome.verdict.system_messages.extend(p.notes);
        Ok((outcome, p.event))
    }

    /// Renders an outcome, after handing its detached `async: true` hooks over (one-shot) and
    /// adding `note`.
    fn finish(&self, mut outcome: Outcome, event: &HookEvent, audit: &Loaded, note: Option<String>) -> Response {
        tracing::debug!(
            event = event.name(),
            decision = outcome.verdict.label(),
            hooks = outcome.runs.len(),
            "dispatched"
        );
        outcome.verdict.system_messages.extend(note);
        // Only one-shot dispatch detaches (its process ends with the answer); every other host
        // ran them in the background or awaited them.
        if !outcome.detached.is_empty() && self.oneshot() {
            let started = match &self.inner.b.detach {
                Some(d) => d(event, &outcome),
                None => Err("this host cannot detach async hooks".into()),
            };
            if let Err(e) = started {
                let msg = format!("{} async hook(s) could not be started: {e}", outcome.detached.len());
                crate::fault::audit_host_error(&audit.settings.audit, &outcome.revision, Some(event.name()), &msg, 0);
                outcome.verdict.system_messages.push(format!("hookhost: {msg}"));
            }
        }
        outcome.render(event)
    }

    /// An event through a gated load (a host without `watch`, and one-shot `dispatch`).
    pub(crate) async fn dispatch_oneshot(&self, input: &[u8], target: &Target, note: Option<String>) -> Response {
        match self.prepare(input, target).await {
            Ok(p) => self.run_prepared(p, note).await,
            Err(r) => r,
        }
    }

    /// Runs an event [`Host::prepare`]d (so its caller could read the revision first, e.g.
    /// managed `hookhost.daemon`, without loading the settings a second time) and renders it.
    pub(crate) async fn run_prepared(&self, p: Prepared, note: Option<String>) -> Response {
        let loaded = p.loaded.clone();
        match self.run(p).await {
            Ok((outcome, event)) => self.finish(outcome, &event, &loaded, note),
            Err(r) => r,
        }
    }

    /// The thin client's answer when its daemon failed (`err`): the event's failure policy
    /// decides between failing closed and evaluating in-process with a note.
    pub(crate) async fn dispatch_after_daemon_failure(&self, input: &[u8], err: &str) -> Response {
        let p = match self.prepare(input, &Target::default()).await {
            Ok(p) => p,
            Err(mut r) => {
                r.stderr = format!("hookhost: {err}\n{}", r.stderr);
                return r;
            }
        };
        self.run_after_daemon_failure(p, err).await
    }

    /// [`Host::dispatch_after_daemon_failure`] of an event already prepared.
    pub(crate) async fn run_after_daemon_failure(&self, p: Prepared, err: &str) -> Response {
        let name = p.event.name().to_string();
        if fails_closed(&p.loaded.settings, Some(&name)) {
            let msg = format!("{err}; failing closed for {name} (managed failClosed)");
            let r = host_error(HostFault::Evaluation, Some(true), &msg);
            audit_host_error(&p.loaded.settings, Some(&name), &msg, r.exit_code);
            return r;
        }
        let loaded = p.loaded.clone();
        match self.run(p).await {
            Ok((outcome, event)) => {
                self.finish(outcome, &event, &loaded, Some(format!("hookhost: {err}; evaluated in-process")))
            }
            Err(r) => r,
        }
    }

    /// `explain`: the event run like `dispatch` (nothing recorded or undone), with what the
    /// report needs.
    pub(crate) async fn explain(&self, input: &[u8]) -> Result<Explained, Response> {
        let p = self.prepare(input, &Target::default()).await?;
        let revision = p.loaded.settings.revision.clone();
        let warnings = p.loaded.settings.warnings.clone();
        let errors = p.loaded.errors.clone();
        let rollback = explain_rollback(&p);
        let (outcome, event) = self.run(p).await?;
        Ok(Explained { event, outcome, revision, warnings, errors, rollback })
    }

    /// The detached `async-hooks` process: runs `hooks` of the event under the same settings
    /// revision the dispatch routed them under (else nothing runs, audited).
    pub(crate) async fn run_detached(
        &self,
        event: &[u8],
        revision: &str,
        hooks: &[crate::bus::HookRef],
    ) -> Result<(), String> {
        let p = self.prepare(event, &Target::default()).await.map_err(|r| r.stderr.trim().to_string())?;
        let settings = &p.loaded.settings;
        if settings.revision != revision {
            let msg = format!(
                "{} async hook(s) not run: the settings changed between the dispatch (revision {revision}) and their \
                 detached run (revision {})",
                hooks.len(),
                settings.revision
            );
            crate::fault::audit_host_error(&settings.audit, &settings.revision, Some(p.event.name()), &msg, 0);
            return Err(msg);
        }
        let audit = crate::audit::open_configured(&settings.audit).ok().flatten();
        let mut bus = self.bus_over(settings.clone());
        if let Some(log) = audit {
            bus = bus.with_audit(log);
        }
        crate::exec::sandbox::warm_up();
        bus.run_detached(&p.event, &p.ctx(), hooks).await;
        Ok(())
    }
}

/// Decides `event` on a live revision, with the same admission and notes as a gated load: an
/// unusable managed file with no good version in force fails closed; a skipped file (or an
/// expired server payload held back) fails closed where the event is in `failClosed`, else it
/// is reported; unapproved server hooks count as failed hooks.
pub(crate) async fn respond_live(rev: &crate::live::Revision, event: &HookEvent) -> Response {
    let settings = rev.settings();
    let (mut errors, in_force) = crate::live::split_errors(settings, &rev.errors);
    let server = settings.server.as_ref();
    errors.extend(server.and_then(|s| s.problem.clone()));
    let notes = Notes { in_force, unapproved: server.is_some_and(|s| s.unapproved), ..Default::default() };
    let skipped = match admit(settings, &errors, notes.unapproved, event.name()) {
        Ok(s) => s,
        Err(msg) => {
            let r = host_error(HostFault::Policy, None, &msg);
            audit_host_error(settings, Some(event.name()), &msg, r.exit_code);
            return r;
        }
    };
    let session = event.str_field("session_id");
    let mut notes = notes.with_skipped(skipped, |n| crate::notice::first_in_session(None, session, n));
    if let Some(n) = crate::notice::skipped_hooks(settings)
        && crate::notice::first_in_session(None, session, &n)
    {
        notes.push(n);
    }
    let mut outcome = rev.bus.dispatch(event, &rev.ctx).await;
    outcome.verdict.system_messages.extend(notes);
    outcome.render(event)
}

/// `explain`'s rollback line: whether a rejected edit or a blocked settings change of this
/// event would be undone (`None`: not an event rollback applies to).
fn explain_rollback(p: &Prepared) -> Option<String> {
    let e = &p.event;
    let s = &p.loaded.settings;
    if let Some(cc) = e.config_change() {
        let on = s.rollback.revert_config_changes == Some(true);
        return Some(match (&cc.source, on) {
            (crate::event::ConfigSource::PolicySettings, _) => {
                "settings revert: never for policy_settings (managed changes are applied)".into()
            }
            (_, true) => format!(
                "settings revert: armed: if blocked, {} is written back to its last accepted content \
                 (managed hookhost.revertBlockedConfigChanges)",
                cc.file_path.as_deref().unwrap_or("the file")
            ),
            (_, false) => "settings revert: off (managed hookhost.revertBlockedConfigChanges is not set): a blocked \
                           change stays on disk"
                .into(),
        });
    }
    let tool = e.tool_name()?;
    if !matches!(e.kind(), crate::event::EventKind::PreToolUse | crate::event::EventKind::PostToolUse) {
        return None;
    }
    let bus = EventBus::new(s.clone());
    Some(match bus.rollback_armed(e, &p.ctx()) {
        Some(a) => format!("rollback: armed for {} ({})", a.path.display(), a.by.join("; ")),
        None if crate::rollback::edit_target(e).is_some() => format!(
            "rollback: not armed: no PostToolUse hook with `rollback: true` matches this {tool} call and managed \
             hookhost.rollbackRejectedEdits is off"
        ),
        None => format!(
            "rollback: not possible for {tool}: hookhost undoes only Edit, Write, MultiEdit and NotebookEdit \
             (one named file)"
        ),
    })
}
