//! Layering: loads every scope's files and merges them into one `Settings` revision.
//!
//! Rules (DESIGN.md §2, hook-protocol.md §7): hook and permission lists concatenate, highest
//! scope first (managed base file, then `managed-settings.d/*.json` in name order, command line,
//! local, project, user); scalars take the highest scope's value, and inside managed scope the
//! last drop-in wins; managed-only keys count only from managed files;
//! `allowManagedHooksOnly` deactivates every non-managed hook; `disableAllHooks` from managed
//! scope disables all hooks, from any other scope only non-managed ones; `requirePinnedHooks`
//! deactivates every non-managed hook without a `sha256` pin. `load` then applies project trust
//! (`crate::trust::apply`): project and local hooks the user has not trusted are deactivated too.
//!
//! Server-managed settings (`remote`): when endpoint-managed files name `remoteSettings`, a
//! non-empty server payload replaces all of them (never merged; the bootstrap stays the
//! endpoint's), and under `requireApproval` its hooks stay inactive until the revision is
//! approved. `load` reads only the verified cache; `load_with(Mode::Startup)` may fetch. An
//! expired payload is held back: it is an error in `Loaded::errors` (not a managed one: the
//! event's failure policy decides) and the `failClosed` events it named still fail closed.
//! `Settings::server` carries what can change without a file changing (approval, expiry).
//!
//! Promises: an invalid file never disappears silently: it is returned in `Loaded::errors`
//! (callers decide whether to fail closed); every resolved hook keeps its origin; inactive hooks
//! are kept with the reason, for `check` and `explain`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Scope;
use super::file::{self, Diagnostic, SettingsFile};
use super::remote::{self, ManagedSource, Mode, RemoteConfig, StartupReport};
use super::scope::Locations;
use crate::error::{Location, SettingsError};
use crate::hook::Hook;
use crate::permissions::PermissionLists;

/// One file that contributed to a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub scope: Scope,
    pub path: PathBuf,
    pub sha256: String,
}

/// One resolved settings revision.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// sha256 over the scopes, paths and contents of all sources.
    pub revision: String,
    pub sources: Vec<Source>,
    /// Active hooks in configured order (highest scope first, file order within a file).
    pub hooks: Vec<Arc<Hook>>,
    /// Hooks that are configured but do not run, with the reason.
    pub inactive: Vec<(Arc<Hook>, String)>,
    pub allow_managed_hooks_only: bool,
    pub allow_managed_permission_rules_only: bool,
    /// `disableAllHooks` as resolved, with the scope it came from.
    pub disable_all_hooks: Option<(bool, Scope)>,
    /// Events whose hook failures count as rejections (managed `failClosed`).
    pub fail_closed: BTreeSet<String>,
    pub permissions: PermissionLists,
    /// `permissions.disableBypassPermissionsMode: "disable"` in any scope.
    pub disable_bypass_permissions: bool,
    /// Managed `hookhost.strictBashRules`.
    pub strict_bash_rules: bool,
    /// Managed `requirePinnedHooks`: non-managed hooks without `sha256` do not run.
    pub require_pinned_hooks: bool,
    /// Managed `hookhost.maxHooksPerEvent` (see [`Settings::max_hooks_per_event`]).
    pub max_hooks_per_event: Option<usize>,
    /// Managed `hookhost.daemon` ("auto" when unset).
    pub daemon_mode: crate::vocab::DaemonMode,
    /// Managed rollback settings, resolved (see `crate::rollback::RollbackOptions`).
    pub rollback: super::file::RollbackSettings,
    /// Managed `audit` settings (defaults when no managed file sets them).
    pub audit: super::file::AuditSettings,
    /// The managed sandbox policy (defaults for every command hook and the floor), parsed once
    /// when the revision is assembled (see [`Settings::managed_sandbox`]).
    pub sandbox: ManagedSandboxPolicy,
    /// hookhost extension objects, highest scope's value per key (`sandbox` excepted: typed in
    /// `sandbox`).
    pub extensions: Map<String, Value>,
    pub warnings: Vec<Diagnostic>,
    /// Server-managed settings as this revision was assembled (approval decision, expiry, a
    /// payload held back), for every front end to apply and a long-running host to recheck at
    /// each event (`remote::ServerState::stale`). None without `remoteSettings`.
    pub server: Option<remote::ServerState>,
}

/// A revision's managed sandbox policy, typed: `Err` when the managed `sandbox` object cannot
/// be used (a managed settings error at assembly; never replaced by the defaults, which would
/// drop the floor). The default (no managed `sandbox` object) is the defaults with no floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSandboxPolicy(pub Result<crate::exec::sandbox::ManagedSandbox, String>);

impl Default for ManagedSandboxPolicy {
    fn default() -> Self {
        ManagedSandboxPolicy(Ok(crate::exec::sandbox::ManagedSandbox::default()))
    }
}

/// How many hooks may run for one event unless managed `hookhost.maxHooksPerEvent` says
/// otherwise.
pub const DEFAULT_MAX_HOOKS_PER_EVENT: usize = 64;

impl Settings {
    /// The managed rollback options, defaults filled in (see `crate::rollback`).
    pub fn rollback_options(&self) -> crate::rollback::RollbackOptions {
        use crate::rollback::{DEFAULT_MAX_FILE_BYTES, DEFAULT_SNAPSHOT_TTL, RollbackOptions};
        let r = &self.rollback;
        RollbackOptions {
            rejected_edits: r.rejected_edits.unwrap_or(false),
            revert_config_changes: r.revert_config_changes.unwrap_or(false),
            ttl: r.snapshot_ttl_seconds.map(std::time::Duration::from_secs).unwrap_or(DEFAULT_SNAPSHOT_TTL),
            max_file_bytes: r.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
        }
    }

    /// The managed sandbox policy (defaults for every command hook and the floor), typed: the
    /// one way to read it. `Err` when the managed `sandbox` object cannot be used: never
    /// replaced by defaults (which would drop the floor); `assemble` reports it as a managed
    /// settings error, so dispatch fails closed, and a bus built anyway runs no command hook.
    pub fn managed_sandbox(&self) -> Result<crate::exec::sandbox::ManagedSandbox, String> {
        self.sandbox.0.clone()
    }

    /// The most hooks one event may run (after matching and de-duplication); an event that
    /// selects more runs none of them and fails closed, naming the limit.
    pub fn max_hooks_per_event(&self) -> usize {
        self.max_hooks_per_event.unwrap_or(DEFAULT_MAX_HOOKS_PER_EVENT)
    }
}

/// The result of loading all scopes: the settings built from every valid file, and the files
/// that could not be used.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub errors: Vec<SettingsError>,
    /// Server-managed settings: what the load did to obtain them (None when endpoint-managed
    /// settings name no `remoteSettings`).
    pub remote: Option<RemoteStatus>,
}

/// The server-managed part of a load.
#[derive(Debug, Clone)]
pub struct RemoteStatus {
    pub config: RemoteConfig,
    pub report: StartupReport,
    /// Which managed settings are in force.
    pub source: ManagedSource,
    /// Server hooks held back because their revision is not approved (`requireApproval`).
    pub unapproved: bool,
    /// The approval decision recorded for the server revision in force, when it was read.
    pub decision: Option<String>,
    /// Endpoint-managed settings set `forceRemoteSettingsRefresh`.
    pub endpoint_force: bool,
    /// An expired payload held back: the error its events' failure policy applies to, and the
    /// `failClosed` events it named (they still fail closed).
    pub held_back: Option<(SettingsError, BTreeSet<String>)>,
}

impl Loaded {
    pub fn managed_errors(&self) -> impl Iterator<Item = &SettingsError> {
        self.errors.iter().filter(|e| e.managed)
    }
}

/// Loads and merges every scope's settings files; server-managed settings only from their
/// verified cache (no network).
pub fn load(loc: &Locations) -> Loaded {
    load_with(loc, Mode::CacheOnly)
}

/// Loads and merges every scope's settings files. When endpoint-managed settings name
/// `remoteSettings`, the server payload is obtained per `mode` (`remote::startup`) and, when
/// non-empty, replaces every endpoint-managed file (never merged); the `remoteSettings`
/// bootstrap itself always comes from the endpoint files.
pub fn load_with(loc: &Locations, mode: Mode) -> Loaded {
    let mut errors = Vec::new();
    let candidates = loc.candidates_or_fixed(&mut errors);
    let mut files = Vec::new();
    for (scope, path, required) in candidates {
        match file::read(&path, scope, &loc.links(scope)) {
            Ok(Some(f)) => files.push(f),
            Ok(None) if required => errors.push(SettingsError {
                location: Location { path, line: 1, column: 1 },
                message: "file not found".into(),
                managed: scope == Scope::Managed,
            }),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    assemble(loc, mode, files, errors)
}

/// Builds the settings of `loc` from already parsed files (in precedence order): the server
/// payload (per `mode`) replaces the endpoint-managed files when non-empty, unapproved server
/// hooks are held, project trust applies. The live settings (`crate::live`) assemble their
/// accepted file versions with this.
pub fn assemble(loc: &Locations, mode: Mode, mut files: Vec<SettingsFile>, mut errors: Vec<SettingsError>) -> Loaded {
    let mut remote = apply_remote(loc, mode, &mut files, &mut errors);
    let sandbox_from = files
        .iter()
        .rfind(|f| f.scope == Scope::Managed && f.extensions.contains_key("sandbox"))
        .map(|f| f.path.clone());
    let mut settings = resolve(files);
    if let Err(e) = settings.managed_sandbox() {
        // Checked per file at parse; the picked object is checked again here, as it applies.
        let path = sandbox_from.unwrap_or_else(|| loc.managed_file());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (line, column) =
            crate::settings::locate::locate(&text, &[crate::settings::locate::Seg::Key("sandbox".into())], true);
        errors.push(SettingsError {
            location: crate::error::Location { path, line, column },
            message: format!("the managed sandbox policy cannot be used: {e}"),
            managed: true,
        });
    }
    if let Some(r) = &mut remote {
        hold_unapproved(&mut settings, r, loc.state_dir.as_deref());
        if let Some((e, floor)) = &r.held_back {
            // The admin's last verified word on which events fail closed still holds.
            settings.fail_closed.extend(floor.iter().cloned());
            errors.push(e.clone());
        }
        settings.server = Some(server_state(r, loc.state_dir.as_deref()));
    }
    crate::trust::apply(
        &mut settings.hooks,
        &mut settings.inactive,
        loc.project_dir.as_deref(),
        loc.state_dir.as_deref(),
    );
    Loaded { settings, errors, remote }
}

/// What every front end rechecks about the server payload of this revision.
fn server_state(r: &RemoteStatus, state_dir: Option<&std::path::Path>) -> remote::ServerState {
    let applied = if r.source == ManagedSource::Server { r.report.payload.as_ref() } else { None };
    remote::ServerState {
        state_dir: state_dir.map(std::path::Path::to_path_buf),
        revision: applied.map(|p| p.revision.clone()),
        payload_path: applied.and(r.report.payload_path.clone()),
        require_approval: r.config.require_approval,
        decision: r.decision.clone(),
        unapproved: r.unapproved,
        expires: r.report.payload.as_ref().and_then(remote::Payload::expires),
        problem: r.held_back.as_ref().map(|(e, _)| e.clone()),
    }
}

/// Obtains the server payload when endpoint-managed settings ask for one and, when it is
/// non-empty, swaps it in for the endpoint-managed files.
fn apply_remote(
    loc: &Locations,
    mode: Mode,
    files: &mut Vec<SettingsFile>,
    errors: &mut Vec<SettingsError>,
) -> Option<RemoteStatus> {
    let endpoint: Vec<&SettingsFile> = files.iter().filter(|f| f.scope == Scope::Managed).collect();
    // The last managed file that sets it wins, like any managed scalar. Parsed and checked
    // when the file was (`SettingsFile::remote`); the object as written goes along for reports.
    let (config, bootstrap) = endpoint.iter().rev().find_map(|f| {
        let config = f.remote.clone()?;
        Some((config, f.extensions.get("remoteSettings").cloned().unwrap_or(Value::Null)))
    })?;
    let endpoint_force = endpoint.iter().rev().find_map(|f| f.force_remote_refresh).unwrap_or(false);
    let endpoint_source = if endpoint.is_empty() { ManagedSource::None } else { ManagedSource::Endpoint };
    let cache = remote::Cache::new(loc.state_dir.as_deref(), &config.url);
    let report = remote::startup(&config, &cache, mode, endpoint_force);
    let held_back = report.expired.as_ref().map(|(p, path)| {
        // Verified (signed by the admin) before it expired: its failClosed list is trusted.
        let floor = file::parse_bytes(&p.bytes, path, Scope::Managed)
            .ok()
            .and_then(|f| f.fail_closed)
            .unwrap_or_default()
            .into_iter()
            .collect();
        (remote::expired_error(p, path), floor)
    });
    let mut status = RemoteStatus {
        config,
        report,
        source: endpoint_source,
        unapproved: false,
        decision: None,
        endpoint_force,
        held_back,
    };
    let (Some(payload), Some(path)) = (&status.report.payload, &status.report.payload_path) else {
        return Some(status);
    };
    if payload.is_empty() {
        return Some(status);
    }
    match file::parse_bytes(&payload.bytes, path, Scope::Managed) {
        Ok(mut server) => {
            // The bootstrap stays the endpoint's: a server cannot repoint or unsign itself.
            server.remote = Some(status.config.clone());
            server.extensions.insert("remoteSettings".into(), bootstrap);
            files.retain(|f| f.scope != Scope::Managed);
            files.insert(0, server);
            status.source = ManagedSource::Server;
        }
        Err(e) => errors.push(e),
    }
    Some(status)
}

/// Under `requireApproval`, server hooks of a revision that is not approved do not run: they
/// are deactivated with the reason (and `hookhost approvals` lists them).
fn hold_unapproved(settings: &mut Settings, r: &mut RemoteStatus, state_dir: Option<&std::path::Path>) {
    let (true, ManagedSource::Server, Some(p), Some(path)) =
        (r.config.require_approval, r.source, &r.report.payload, &r.report.payload_path)
    else {
        return;
    };
    let decision = remote::approval(state_dir, &p.revision).map(|a| a.decision);
    r.decision = decision.clone();
    if decision.as_deref() == Some("approved") {
        return;
    }
    let why = match decision.as_deref() {
        Some("rejected") => format!("server-managed settings revision {} was rejected (`hookhost reject`)", p.revision),
        _ => format!(
            "server-managed settings revision {} is not approved (requireApproval): review with `hookhost approvals`, then `hookhost approve {}`",
            p.revision, p.revision
        ),
    };
    let (held, keep): (Vec<_>, Vec<_>) =
        std::mem::take(&mut settings.hooks).into_iter().partition(|h| h.origin.path == *path);
    r.unapproved = !held.is_empty();
    settings.hooks = keep;
    settings.inactive.extend(held.into_iter().map(|h| (h, why.clone())));
}

/// Picks a scalar: inside managed scope the last file that sets it wins; otherwise the highest
/// scope that sets it. `files` are in precedence order.
fn pick<T: Clone>(files: &[SettingsFile], get: impl Fn(&SettingsFile) -> Option<T>) -> Option<(T, Scope)> {
    let managed = files.iter().filter(|f| f.scope == Scope::Managed).filter_map(&get).last();
    if let Some(v) = managed {
        return Some((v, Scope::Managed));
    }
    files.iter().filter(|f| f.scope != Scope::Managed).find_map(|f| get(f).map(|v| (v, f.scope)))
}

/// Merges parsed files given in precedence order (as `Locations::candidates` lists them).
pub fn resolve(files: Vec<SettingsFile>) -> Settings {
    let mut s = Settings::default();
    let mut h = Sha256::new();
    for f in &files {
        h.update(format!("{}\t{}\t{}\n", f.scope.as_str(), f.path.display(), f.sha256));
    }
    s.revision = format!("{:x}", h.finalize());
    s.sources =
        files.iter().map(|f| Source { scope: f.scope, path: f.path.clone(), sha256: f.sha256.clone() }).collect();

    s.allow_managed_hooks_only = pick(&files, |f| f.allow_managed_hooks_only).is_some_and(|(v, _)| v);
    s.allow_managed_permission_rules_only =
        pick(&files, |f| f.allow_managed_permission_rules_only).is_some_and(|(v, _)| v);
    s.disable_all_hooks = pick(&files, |f| f.disable_all_hooks);
    s.disable_bypass_permissions = files.iter().any(|f| f.disable_bypass_permissions == Some(true));
    s.strict_bash_rules = pick(&files, |f| f.strict_bash_rules).is_some_and(|(v, _)| v);
    s.require_pinned_hooks = pick(&files, |f| f.require_pinned_hooks).is_some_and(|(v, _)| v);
    s.max_hooks_per_event = pick(&files, |f| f.max_hooks_per_event).map(|(v, _)| v);
    // Managed-only: the parser drops it from every other scope.
    s.daemon_mode = pick(&files, |f| f.daemon_mode).map(|(v, _)| v).unwrap_or_default();
    s.rollback = super::file::RollbackSettings {
        rejected_edits: pick(&files, |f| f.rollback.rejected_edits).map(|(v, _)| v),
        revert_config_changes: pick(&files, |f| f.rollback.revert_config_changes).map(|(v, _)| v),
        snapshot_ttl_seconds: pick(&files, |f| f.rollback.snapshot_ttl_seconds).map(|(v, _)| v),
        max_file_bytes: pick(&files, |f| f.rollback.max_file_bytes).map(|(v, _)| v),
    };
    s.audit = pick(&files, |f| f.audit.clone()).map(|(a, _)| a).unwrap_or_default();
    // The floor is the union of every managed file's list.
    s.fail_closed =
        files.iter().filter(|f| f.scope == Scope::Managed).filter_map(|f| f.fail_closed.clone()).flatten().collect();
    let keys: BTreeSet<String> = files.iter().flat_map(|f| f.extensions.keys().cloned()).collect();
    for k in keys {
        if let Some((v, _)) = pick(&files, |f| f.extensions.get(&k).cloned()) {
            s.extensions.insert(k, v);
        }
    }
    // Parsed once, here: every run reads the typed policy.
    s.sandbox = ManagedSandboxPolicy(crate::exec::sandbox::ManagedSandbox::from_value(s.extensions.get("sandbox")));
    s.extensions.remove("sandbox");

    for f in &files {
        s.warnings.extend(f.warnings.iter().cloned());
        if f.scope == Scope::Managed || !s.allow_managed_permission_rules_only {
            s.permissions.allow.extend(f.permissions.allow.iter().cloned());
            s.permissions.ask.extend(f.permissions.ask.iter().cloned());
            s.permissions.deny.extend(f.permissions.deny.iter().cloned());
        }
        for hook in &f.hooks {
            let hook = Arc::new(hook.clone());
            let managed = hook.origin.scope == Scope::Managed;
            let why = match s.disable_all_hooks {
                Some((true, Scope::Managed)) => Some("disableAllHooks is set in managed settings".to_string()),
                Some((true, scope)) if !managed => Some(format!("disableAllHooks is set in {scope} settings")),
                _ if s.allow_managed_hooks_only && !managed => {
                    Some("allowManagedHooksOnly is set in managed settings: only managed hooks run".to_string())
                }
                _ if s.require_pinned_hooks && !managed && hook.sha256.is_none() => Some(format!(
                    "requirePinnedHooks is set in managed settings: this {} hook has no `sha256` pin \
                     (`hookhost pin --write` adds one)",
                    hook.origin.scope
                )),
                _ => None,
            };
            match why {
                Some(w) => s.inactive.push((hook, w)),
                None => s.hooks.push(hook),
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn f(scope: Scope, name: &str, text: &str) -> SettingsFile {
        file::parse(text, Path::new(name), scope).unwrap()
    }

    const HOOK: &str = r#""hooks": {"Stop": [{"hooks": [{"type": "command", "command": "CMD"}]}]}"#;

    fn with_hook(cmd: &str, rest: &str) -> String {
        let sep = if rest.is_empty() { "" } else { ", " };
        format!("{{{}{sep}{rest}}}", HOOK.replace("CMD", cmd))
    }

    /// A managed sandbox policy that cannot be used (here slipped past the per-file check by
    /// editing the parsed file, as a future merge rule might) is a located managed error at
    /// assembly, never the defaults; a bus built from it anyway runs no command hook, and an
    /// event in `failClosed` blocks.
    #[test]
    fn an_unusable_managed_sandbox_floor_is_never_dropped() {
        let t = tempfile::tempdir().unwrap();
        let managed = t.path().join("managed-settings.json");
        let text =
            format!("{{\n  \"failClosed\": [\"Stop\"],\n  \"sandbox\": {{\"floor\": \"strict\"}}, {}\n}}", &HOOK);
        std::fs::write(&managed, &text).unwrap();
        let mut file = f(Scope::Managed, managed.to_str().unwrap(), &text);
        file.extensions.insert("sandbox".into(), serde_json::json!({"floor": "nonsense"}));
        let loc = Locations {
            managed_dir: t.path().to_path_buf(),
            user_file: None,
            project_dir: None,
            cli_file: None,
            state_dir: None,
        };
        let loaded = assemble(&loc, Mode::CacheOnly, vec![file], Vec::new());
        let e = loaded.errors.iter().find(|e| e.managed).expect("a managed error");
        assert_eq!((e.location.line, e.location.column), (3, 3), "{e}");
        assert!(e.to_string().contains("managed sandbox policy cannot be used"), "{e}");
        assert!(loaded.settings.managed_sandbox().is_err());
        let bus = crate::bus::EventBus::new(loaded.settings);
        let event =
            crate::event::HookEvent::parse(br#"{"session_id":"s","cwd":"/","hook_event_name":"Stop"}"#).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = rt.block_on(bus.dispatch(&event, &crate::bus::DispatchContext::default()));
        assert_eq!(outcome.runs.len(), 1);
        match &outcome.runs[0].report.result {
            crate::decision::HookResult::Failed(f) => assert!(f.message.contains("no command hook runs"), "{f:?}"),
            other => panic!("the hook ran without its floor: {other:?}"),
        }
        assert!(outcome.verdict.rejects(), "failClosed: a hook that cannot run blocks");
    }

    #[test]
    fn order_and_disable_all_hooks() {
        let files = || {
            vec![
                f(Scope::Managed, "m", &with_hook("managed", "")),
                f(Scope::Local, "l", &with_hook("local", "")),
                f(Scope::User, "u", &with_hook("user", r#""disableAllHooks": true"#)),
            ]
        };
        let s = resolve(files());
        // The user's disableAllHooks disables non-managed hooks only (but it is the winner,
        // since no higher scope sets it).
        let active: Vec<_> = s.hooks.iter().map(|h| h.label()).collect();
        assert_eq!(active, ["[managed]"]);
        assert_eq!(s.inactive.len(), 2);

        let mut v = files();
        v.insert(1, f(Scope::Managed, "m2", r#"{"disableAllHooks": true}"#));
        let s = resolve(v);
        assert!(s.hooks.is_empty());

        let mut v = files();
        v.insert(1, f(Scope::Managed, "m2", r#"{"disableAllHooks": false}"#));
        let s = resolve(v);
        assert_eq!(s.hooks.len(), 3, "managed false beats the user's true");
    }

    #[test]
    fn managed_only() {
        let s = resolve(vec![
            f(
                Scope::Managed,
                "m",
                &with_hook("managed", r#""allowManagedHooksOnly": true, "failClosed": ["PreToolUse"]"#),
            ),
            f(Scope::Project, "p", &with_hook("project", r#""allowManagedHooksOnly": false"#)),
        ]);
        assert_eq!(s.hooks.len(), 1);
        assert!(s.inactive[0].1.contains("allowManagedHooksOnly"));
        assert!(s.fail_closed.contains("PreToolUse"));
    }

    #[test]
    fn dropins_last_wins_and_revision_changes() {
        let a = resolve(vec![
            f(Scope::Managed, "m", r#"{"allowManagedHooksOnly": true}"#),
            f(Scope::Managed, "m.d/10", r#"{"allowManagedHooksOnly": false}"#),
        ]);
        assert!(!a.allow_managed_hooks_only);
        let b = resolve(vec![f(Scope::Managed, "m", r#"{"allowManagedHooksOnly": true}"#)]);
        assert_ne!(a.revision, b.revision);
    }

    #[test]
    fn cached_server_payload_replaces_endpoint_files_and_waits_for_approval() {
        let d = tempfile::tempdir().unwrap();
        let managed = d.path().join("managed");
        std::fs::create_dir_all(managed.join("managed-settings.d")).unwrap();
        let url = "https://policy.example/s.json";
        std::fs::write(
            managed.join("managed-settings.json"),
            format!(
                r#"{{"remoteSettings": {{"url": "{url}", "requireApproval": true}}, {}}}"#,
                HOOK.replace("CMD", "endpoint")
            ),
        )
        .unwrap();
        std::fs::write(managed.join("managed-settings.d/10.json"), with_hook("dropin", "")).unwrap();
        let loc = Locations {
            managed_dir: managed,
            user_file: None,
            project_dir: None,
            cli_file: None,
            state_dir: Some(d.path().join("state")),
        };
        // No cache, no network: endpoint-managed applies.
        let l = load(&loc);
        assert_eq!(l.remote.as_ref().unwrap().source, ManagedSource::Endpoint);
        assert_eq!(l.settings.hooks.len(), 2);
        // A cached server payload replaces both endpoint files; its hook waits for approval.
        let cfg = RemoteConfig::from_value(&serde_json::json!({"url": url})).unwrap();
        let payload = remote::accept(&cfg, with_hook("server", "").as_bytes(), None).unwrap();
        remote::Cache::new(loc.state_dir.as_deref(), url).store(&cfg, &payload, Default::default()).unwrap();
        let l = load(&loc);
        let r = l.remote.as_ref().unwrap();
        assert_eq!(r.source, ManagedSource::Server);
        assert!(r.unapproved);
        assert!(l.settings.hooks.is_empty());
        assert_eq!(l.settings.inactive.len(), 1);
        assert!(l.settings.inactive[0].1.contains("not approved"), "{}", l.settings.inactive[0].1);
        assert_eq!(l.settings.sources.len(), 1, "endpoint files are not sources");
        assert!(l.settings.extensions.contains_key("remoteSettings"), "the bootstrap stays");
        remote::record_approval(
            loc.state_dir.as_deref(),
            &remote::ApprovalRecord {
                revision: payload.revision.clone(),
                decision: "approved".into(),
                time: String::new(),
                user: None,
                url: url.into(),
            },
        )
        .unwrap();
        let l = load(&loc);
        assert_eq!(l.settings.hooks.iter().map(|h| h.label()).collect::<Vec<_>>(), ["[server]"]);
    }
}
