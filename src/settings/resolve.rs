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
    /// Managed rollback settings, resolved (see `crate::rollback::RollbackOptions`).
    pub rollback: super::file::RollbackSettings,
    /// Managed `audit` settings (defaults when no managed file sets them).
    pub audit: super::file::AuditSettings,
    /// hookhost extension objects, highest scope's value per key.
    pub extensions: Map<String, Value>,
    pub warnings: Vec<Diagnostic>,
}

/// How many hooks may run for one event unless managed `hookhost.maxHooksPerEvent` says
/// otherwise.
pub const DEFAULT_MAX_HOOKS_PER_EVENT: usize = 64;

impl Settings {
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
}

impl Loaded {
    pub fn managed_errors(&self) -> impl Iterator<Item = &SettingsError> {
        self.errors.iter().filter(|e| e.managed)
    }
}

/// Loads and merges every scope's settings files.
pub fn load(loc: &Locations) -> Loaded {
    let mut errors = Vec::new();
    let candidates = match loc.candidates() {
        Ok(c) => c,
        Err(e) => {
            errors.push(SettingsError {
                location: Location { path: loc.managed_dropin_dir(), line: 1, column: 1 },
                message: format!("cannot list managed drop-ins: {e}"),
                managed: true,
            });
            loc.candidates_without_dropins()
        }
    };
    let mut files = Vec::new();
    for (scope, path, required) in candidates {
        match file::read(&path, scope) {
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
    let mut settings = resolve(files);
    crate::trust::apply(&mut settings, loc.project_dir.as_deref(), loc.state_dir.as_deref());
    Loaded { settings, errors }
}

impl Locations {
    fn candidates_without_dropins(&self) -> Vec<(Scope, PathBuf, bool)> {
        let mut v = vec![(Scope::Managed, self.managed_file(), false)];
        if let Some(f) = &self.cli_file {
            v.push((Scope::CommandLine, f.clone(), true));
        }
        v.extend(self.local_file().map(|f| (Scope::Local, f, false)));
        v.extend(self.project_file().map(|f| (Scope::Project, f, false)));
        v.extend(self.user_file.clone().map(|f| (Scope::User, f, false)));
        v
    }
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
}
