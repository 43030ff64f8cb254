//! One settings file: read, parse and validate it into hooks, rules and scalar settings, with
//! every problem located by file, line and column.
//!
//! The schema is Claude Code's (`hooks`, `permissions`, `disableAllHooks`,
//! `allowManagedHooksOnly`, …) plus hookhost's extensions (`type: "wasm"`, `onFailure`,
//! `sandbox`, `sha256`, `failClosed`, `rollback`). Strictness: a file that is not JSON, a hook entry with an
//! unknown or mistyped field, a matcher that does not compile or a malformed rule is an error for
//! the whole file (a security host never silently drops a hook); keys hookhost does not use, and
//! managed-only keys outside managed scope, are warnings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::Scope;
use super::locate::{Locator, Seg, line_col};
use crate::error::{Location, SettingsError};
use crate::event::{EventName, KNOWN_EVENTS, MAX_JSON_DEPTH};
use crate::hook::{CommandHook, Enforcement, Handler, Hook, OnFailure, Origin, Shell, WasmHook, default_timeout};
use crate::matcher::Matcher;
use crate::permissions::{LocatedRule, PermissionLists, Rule};

/// A located warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A parsed, validated settings file.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    pub scope: Scope,
    pub path: PathBuf,
    pub sha256: String,
    pub hooks: Vec<Hook>,
    pub permissions: PermissionLists,
    pub disable_all_hooks: Option<bool>,
    pub allow_managed_hooks_only: Option<bool>,
    pub allow_managed_permission_rules_only: Option<bool>,
    pub fail_closed: Option<Vec<String>>,
    /// `permissions.disableBypassPermissionsMode == "disable"`.
    pub disable_bypass_permissions: Option<bool>,
    /// Managed `hookhost.strictBashRules`.
    pub strict_bash_rules: Option<bool>,
    /// Managed `hookhost.maxHooksPerEvent`.
    pub max_hooks_per_event: Option<usize>,
    /// Managed `hookhost.rollbackRejectedEdits`, `revertBlockedConfigChanges`,
    /// `rollbackSnapshotTtlSeconds` and `rollbackMaxFileBytes` (see `crate::rollback`).
    pub rollback: RollbackSettings,
    /// Managed `requirePinnedHooks` (a non-boolean value counts as `true`).
    pub require_pinned_hooks: Option<bool>,
    /// Managed `hookhost.daemon` (what it does: `crate::daemon::auto`).
    pub daemon_mode: Option<crate::vocab::DaemonMode>,
    /// Managed `audit` settings.
    pub audit: Option<AuditSettings>,
    /// Managed `remoteSettings` (the server-managed settings bootstrap), parsed and checked.
    pub remote: Option<super::remote_config::RemoteConfig>,
    /// Managed `forceRemoteSettingsRefresh`.
    pub force_remote_refresh: Option<bool>,
    /// hookhost extension objects as written (`hookhost`, `sandbox`, `remoteSettings`,
    /// `requirePinnedHooks`, `forceRemoteSettingsRefresh`): what the file said, for the linter
    /// and reports. Every decision reads the typed fields above (and the managed `sandbox`
    /// policy, typed when a revision is assembled: `Settings::sandbox`).
    pub extensions: Map<String, Value>,
    pub warnings: Vec<Diagnostic>,
}

const MANAGED_ONLY: &[&str] = &[
    "sandbox",
    "audit",
    "allowManagedHooksOnly",
    "allowManagedPermissionRulesOnly",
    "failClosed",
    "forceRemoteSettingsRefresh",
    "strictPluginOnlyCustomization",
    "remoteSettings",
    "requirePinnedHooks",
];
/// The largest settings file hookhost reads.
pub const MAX_SETTINGS_BYTES: u64 = 16 * 1024 * 1024;
/// The highest value managed `hookhost.maxHooksPerEvent` may take.
pub const MAX_HOOKS_PER_EVENT_CEILING: usize = 4096;
/// The longest managed `hookhost.rollbackSnapshotTtlSeconds` (30 days).
pub const MAX_ROLLBACK_TTL_SECONDS: u64 = 30 * 86_400;
/// The largest managed `hookhost.rollbackMaxFileBytes` (1 GiB).
pub const MAX_ROLLBACK_FILE_BYTES: u64 = 1 << 30;
/// The largest `audit.maxBytes` (1 TiB).
pub const MAX_AUDIT_BYTES: u64 = 1 << 40;
/// The largest `audit.maxRecordBytes` (64 MiB).
pub const MAX_AUDIT_RECORD_BYTES: u64 = 64 << 20;
/// The shortest hook `timeout`, in seconds.
pub const MIN_TIMEOUT_SECONDS: f64 = 0.001;
/// The longest hook `timeout`, in seconds (a day).
pub const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// A whole number from `lo` to `hi` (JSON `1.0`, `-1`, `1e300`, `18446744073709551616` and
/// strings are not).
fn int_in(x: &Value, lo: u64, hi: u64) -> Option<u64> {
    x.as_u64().filter(|n| (lo..=hi).contains(n))
}
const EXTENSIONS: &[&str] =
    &["hookhost", "sandbox", "remoteSettings", "requirePinnedHooks", "forceRemoteSettingsRefresh"];
const COMMAND_KEYS: &[&str] = &[
    "type",
    "command",
    "args",
    "shell",
    "timeout",
    "if",
    "async",
    "asyncRewake",
    "statusMessage",
    "onFailure",
    "once",
    "sandbox",
    "sha256",
    "mode",
    "rollback",
    "name",
];
const WASM_KEYS: &[&str] = &[
    "type",
    "component",
    "sha256",
    "timeout",
    "memoryMb",
    "fuel",
    "if",
    "statusMessage",
    "onFailure",
    "once",
    "mode",
    "rollback",
    "name",
];

/// Reads and parses `path`. `Ok(None)` when the file does not exist.
pub fn read(path: &Path, scope: Scope, links: &crate::readfile::Links) -> Result<Option<SettingsFile>, SettingsError> {
    match read_bytes(path, scope, links)? {
        Some(bytes) => parse_bytes(&bytes, path, scope).map(Some),
        None => Ok(None),
    }
}

/// The bytes of the settings file at `path` (`Ok(None)`: it does not exist), read the one way
/// hookhost reads a file it decides by (`crate::readfile`): a regular file, at most
/// [`MAX_SETTINGS_BYTES`], opened without blocking, through the links `links` allows, under a
/// deadline. Anything else (a FIFO, `/dev/stdout`, a directory, a device, a link where none
/// may be, a huge file) is an error located at the file.
pub fn read_bytes(path: &Path, scope: Scope, links: &crate::readfile::Links) -> Result<Option<Vec<u8>>, SettingsError> {
    let opts = crate::readfile::ReadOptions::new(links.clone(), MAX_SETTINGS_BYTES);
    crate::readfile::read_optional(path, &opts).map_err(|e| SettingsError {
        location: Location { path: path.to_path_buf(), line: 1, column: 1 },
        message: match e {
            crate::readfile::ReadError::TooLarge { len, limit, .. } => {
                format!("file is larger than the limit of {limit} bytes ({len} bytes)")
            }
            e => format!("cannot read: {}", e.reason()),
        },
        managed: scope == Scope::Managed,
    })
}

/// Parses settings from bytes (as read from `path`).
pub fn parse_bytes(bytes: &[u8], path: &Path, scope: Scope) -> Result<SettingsFile, SettingsError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let ok = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            let (line, column) = line_col(&ok, ok.len());
            return Err(SettingsError {
                location: Location { path: path.to_path_buf(), line, column },
                message: "file is not valid UTF-8".into(),
                managed: scope == Scope::Managed,
            });
        }
    };
    parse(text, path, scope)
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
    scope: Scope,
    warnings: Vec<Diagnostic>,
    /// The text indexed at the first location asked for (every hook's origin is one: a scan from
    /// the start per hook made a file of n hooks cost n²).
    locator: std::cell::OnceCell<Locator<'a>>,
}

impl Ctx<'_> {
    fn location(&self, segs: &[Seg], key: bool) -> Location {
        let (line, column) = self.locator.get_or_init(|| Locator::new(self.text)).locate(segs, key);
        Location { path: self.path.to_path_buf(), line, column }
    }

    fn err(&self, segs: &[Seg], key: bool, message: impl Into<String>) -> SettingsError {
        SettingsError {
            location: self.location(segs, key),
            message: message.into(),
            managed: self.scope == Scope::Managed,
        }
    }

    fn warn(&mut self, segs: &[Seg], key: bool, message: impl Into<String>) {
        let location = self.location(segs, key);
        self.warnings.push(Diagnostic { location, message: message.into() });
    }

    fn origin(&self, segs: &[Seg]) -> Origin {
        let l = self.location(segs, false);
        Origin { scope: self.scope, path: l.path, line: l.line, column: l.column }
    }
}

fn with(segs: &[Seg], s: Seg) -> Vec<Seg> {
    let mut v = segs.to_vec();
    v.push(s);
    v
}

fn key(segs: &[Seg], k: &str) -> Vec<Seg> {
    with(segs, Seg::Key(k.to_string()))
}

/// Parses settings text.
pub fn parse(text: &str, path: &Path, scope: Scope) -> Result<SettingsFile, SettingsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut cx = Ctx { text, path, scope, warnings: Vec::new(), locator: std::cell::OnceCell::new() };
    if text.trim().is_empty() {
        return Err(cx.err(&[], false, "file is empty; expected a JSON object (write {} for no settings)"));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.rfind(" at line ").map_or(msg.clone(), |i| msg[..i].to_string());
        let msg = if msg == "recursion limit exceeded" {
            format!("JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels (recursion limit exceeded)")
        } else {
            msg
        };
        SettingsError {
            location: Location { path: path.to_path_buf(), line: e.line().max(1), column: e.column().max(1) },
            message: format!("invalid JSON: {msg}"),
            managed: scope == Scope::Managed,
        }
    })?;
    let Value::Object(top) = value else {
        return Err(cx.err(&[], false, "settings must be a JSON object"));
    };
    let mut file = SettingsFile {
        scope,
        path: path.to_path_buf(),
        sha256: crate::digest::sha256_hex(text.as_bytes()),
        hooks: Vec::new(),
        permissions: PermissionLists::default(),
        disable_all_hooks: None,
        allow_managed_hooks_only: None,
        allow_managed_permission_rules_only: None,
        fail_closed: None,
        disable_bypass_permissions: None,
        strict_bash_rules: None,
        max_hooks_per_event: None,
        rollback: RollbackSettings::default(),
        require_pinned_hooks: None,
        daemon_mode: None,
        audit: None,
        remote: None,
        force_remote_refresh: None,
        extensions: Map::new(),
        warnings: Vec::new(),
    };
    let mut permissions_mode: Option<Enforcement> = None;
    for (k, v) in &top {
        let at = key(&[], k);
        if MANAGED_ONLY.contains(&k.as_str()) && scope != Scope::Managed {
            cx.warn(&at, true, format!("`{k}` is a managed-only key and is ignored in {scope} settings"));
            continue;
        }
        match k.as_str() {
            "$schema" | "$comment" => {}
            "hooks" => file.hooks = parse_hooks(&mut cx, v)?,
            "permissions" => {
                let (lists, disable_bypass) = parse_permissions(&mut cx, v)?;
                file.permissions = lists;
                file.disable_bypass_permissions = disable_bypass;
            }
            "audit" => file.audit = Some(parse_audit(&cx, &at, v)?),
            "hookhost" => {
                let obj = v.as_object().ok_or_else(|| cx.err(&at, false, "`hookhost` must be an object"))?;
                for (k, x) in obj {
                    let kat = key(&at, k);
                    match k.as_str() {
                        "permissionsMode" => {
                            permissions_mode = Some(x.as_str().and_then(Enforcement::parse).ok_or_else(|| {
                                cx.err(
                                    &kat,
                                    false,
                                    "`hookhost.permissionsMode` must be \"enforce\", \"warn\" or \"audit\"",
                                )
                            })?)
                        }
                        "strictBashRules" if scope == Scope::Managed => {
                            file.strict_bash_rules = Some(bool_at(&cx, &kat, x)?)
                        }
                        "strictBashRules" => cx.warn(
                            &kat,
                            true,
                            format!("`hookhost.strictBashRules` is managed-only and is ignored in {scope} settings"),
                        ),
                        "maxHooksPerEvent" if scope == Scope::Managed => {
                            let n = x
                                .as_u64()
                                .filter(|n| (1..=MAX_HOOKS_PER_EVENT_CEILING as u64).contains(n))
                                .ok_or_else(|| {
                                    cx.err(
                                        &kat,
                                        false,
                                        format!(
                                            "`hookhost.maxHooksPerEvent` must be an integer from 1 to \
                                             {MAX_HOOKS_PER_EVENT_CEILING}"
                                        ),
                                    )
                                })?;
                            file.max_hooks_per_event = Some(n as usize);
                        }
                        "daemon" if scope == Scope::Managed => {
                            let m = x.as_str().and_then(crate::vocab::DaemonMode::parse).ok_or_else(|| {
                                cx.err(&kat, false, "`hookhost.daemon` must be \"auto\", \"off\" or \"required\"")
                            })?;
                            file.daemon_mode = Some(m);
                        }
                        "daemon" => cx.warn(
                            &kat,
                            true,
                            format!("`hookhost.daemon` is managed-only and is ignored in {scope} settings"),
                        ),
                        "maxHooksPerEvent" => cx.warn(
                            &kat,
                            true,
                            format!("`hookhost.maxHooksPerEvent` is managed-only and is ignored in {scope} settings"),
                        ),
                        "rollbackRejectedEdits"
                        | "revertBlockedConfigChanges"
                        | "rollbackSnapshotTtlSeconds"
                        | "rollbackMaxFileBytes"
                            if scope != Scope::Managed =>
                        {
                            cx.warn(
                                &kat,
                                true,
                                format!("`hookhost.{k}` is managed-only and is ignored in {scope} settings"),
                            )
                        }
                        "rollbackRejectedEdits" => file.rollback.rejected_edits = Some(bool_at(&cx, &kat, x)?),
                        "revertBlockedConfigChanges" => {
                            file.rollback.revert_config_changes = Some(bool_at(&cx, &kat, x)?)
                        }
                        "rollbackSnapshotTtlSeconds" | "rollbackMaxFileBytes" => {
                            let hi = if k == "rollbackSnapshotTtlSeconds" {
                                MAX_ROLLBACK_TTL_SECONDS
                            } else {
                                MAX_ROLLBACK_FILE_BYTES
                            };
                            let n = int_in(x, 1, hi).ok_or_else(|| {
                                cx.err(&kat, false, format!("`hookhost.{k}` must be a whole number from 1 to {hi}"))
                            })?;
                            if k == "rollbackSnapshotTtlSeconds" {
                                file.rollback.snapshot_ttl_seconds = Some(n);
                            } else {
                                file.rollback.max_file_bytes = Some(n);
                            }
                        }
                        _ => {}
                    }
                }
                file.extensions.insert(k.to_string(), v.clone());
            }
            "disableAllHooks" => file.disable_all_hooks = Some(bool_at(&cx, &at, v)?),
            "allowManagedPermissionRulesOnly" => file.allow_managed_permission_rules_only = Some(bool_at(&cx, &at, v)?),
            "allowManagedHooksOnly" => {
                // Claude Code: an invalid value counts as true.
                let b = match v {
                    Value::Bool(b) => *b,
                    _ => {
                        cx.warn(&at, false, "`allowManagedHooksOnly` is not a boolean; treated as true");
                        true
                    }
                };
                file.allow_managed_hooks_only = Some(b);
            }
            "failClosed" => {
                let events = string_list(&cx, &at, v)?;
                for (i, e) in events.iter().enumerate() {
                    if !KNOWN_EVENTS.contains(&e.as_str()) {
                        cx.warn(&with(&at, Seg::Index(i)), false, format!("`{e}` is not a known Claude Code event"));
                    }
                }
                file.fail_closed = Some(events);
            }
            "sandbox" => {
                crate::exec::sandbox::ManagedSandbox::from_value(Some(v)).map_err(|m| cx.err(&at, false, m))?;
                file.extensions.insert(k.to_string(), v.clone());
            }
            "requirePinnedHooks" => {
                // Like `allowManagedHooksOnly`: an invalid value counts as true (fail closed).
                let b = match v {
                    Value::Bool(b) => *b,
                    _ => {
                        cx.warn(&at, false, "`requirePinnedHooks` is not a boolean; treated as true");
                        true
                    }
                };
                file.require_pinned_hooks = Some(b);
                file.extensions.insert(k.to_string(), Value::Bool(b));
            }
            "remoteSettings" => {
                // Located at the field that cannot produce a request (remote::config).
                let config = super::remote_config::RemoteConfig::from_value(v)
                    .map_err(|e| cx.err(&[at.as_slice(), &e.path].concat(), e.key, e.message))?;
                file.remote = Some(config);
                file.extensions.insert(k.to_string(), v.clone());
            }
            "forceRemoteSettingsRefresh" => {
                // Not a boolean: an error (the admin asked for something; it is not guessed).
                file.force_remote_refresh = Some(bool_at(&cx, &at, v)?);
                file.extensions.insert(k.to_string(), v.clone());
            }
            k if EXTENSIONS.contains(&k) => {
                file.extensions.insert(k.to_string(), v.clone());
            }
            other => cx.warn(&at, true, format!("key `{other}` is not used by hookhost (ignored)")),
        }
    }
    // The file's rule set mode applies to every rule the file lists.
    if let Some(m) = permissions_mode {
        for l in file.permissions.allow.iter_mut().chain(&mut file.permissions.ask).chain(&mut file.permissions.deny) {
            l.enforcement = m;
        }
    }
    file.warnings = cx.warnings;
    Ok(file)
}

/// Managed rollback settings as one file writes them (`None`: not set in this file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackSettings {
    /// `hookhost.rollbackRejectedEdits`: arm edit rollback for every file-editing tool call.
    pub rejected_edits: Option<bool>,
    /// `hookhost.revertBlockedConfigChanges`: write a blocked settings change back.
    pub revert_config_changes: Option<bool>,
    /// `hookhost.rollbackSnapshotTtlSeconds`: how long an edit snapshot waits for its PostToolUse.
    pub snapshot_ttl_seconds: Option<u64>,
    /// `hookhost.rollbackMaxFileBytes`: the largest file snapshotted.
    pub max_file_bytes: Option<u64>,
}

pub use crate::audit::AuditSettings;

fn parse_audit(cx: &Ctx, at: &[Seg], v: &Value) -> Result<AuditSettings, SettingsError> {
    let obj = v.as_object().ok_or_else(|| cx.err(at, false, "`audit` must be an object"))?;
    let mut a = AuditSettings::default();
    for (k, x) in obj {
        let kat = key(at, k);
        let ranged = |x: &Value, lo: u64, hi: u64| {
            int_in(x, lo, hi)
                .ok_or_else(|| cx.err(&kat, false, format!("`audit.{k}` must be a whole number from {lo} to {hi}")))
        };
        match k.as_str() {
            "enabled" => a.enabled = bool_at(cx, &kat, x)?,
            "includeInput" => a.include_input = bool_at(cx, &kat, x)?,
            "path" => {
                let p = x
                    .as_str()
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| cx.err(&kat, false, "`audit.path` must be an absolute path"))?;
                a.path = Some(PathBuf::from(p));
            }
            "anchor" => {
                let p = x
                    .as_str()
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| cx.err(&kat, false, "`audit.anchor` must be an absolute path"))?;
                a.anchor = Some(PathBuf::from(p));
            }
            "fsync" => {
                a.fsync_always = match x.as_str() {
                    Some("always") => true,
                    Some("batched") => false,
                    _ => return Err(cx.err(&kat, false, "`audit.fsync` must be \"always\" or \"batched\"")),
                }
            }
            "maxBytes" => a.max_bytes = Some(ranged(x, 1, MAX_AUDIT_BYTES)?),
            "maxRecordBytes" => {
                let n = ranged(x, crate::audit::MIN_RECORD_BYTES as u64, MAX_AUDIT_RECORD_BYTES)?;
                // At most MAX_AUDIT_RECORD_BYTES (64 MiB): fits a usize.
                a.max_record_bytes = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            "redact" => {
                let list = x.as_array().ok_or_else(|| cx.err(&kat, false, "`audit.redact` must be an array"))?;
                for (i, r) in list.iter().enumerate() {
                    let rat = with(&kat, Seg::Index(i));
                    // A bare string is a pointer to mask; an object names the action.
                    let red = match r {
                        Value::String(p) => crate::audit::Redaction::new(p.clone(), crate::audit::RedactAction::Mask),
                        other => serde_json::from_value::<crate::audit::Redaction>(other.clone())
                            .map_err(|e| cx.err(&rat, false, format!("invalid redaction: {e}")))?,
                    };
                    red.validate().map_err(|e| cx.err(&rat, false, e.to_string()))?;
                    a.redact.push(red);
                }
            }
            "ship" => a.ship = parse_ship(cx, &kat, x)?,
            "shipCursorDir" => {
                let p = x
                    .as_str()
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| cx.err(&kat, false, "`audit.shipCursorDir` must be an absolute path"))?;
                a.ship_cursor_dir = Some(PathBuf::from(p));
            }
            other => return Err(cx.err(&kat, true, format!("unknown field `{other}` in `audit`"))),
        }
    }
    Ok(a)
}

/// Managed `audit.ship`: a list of sinks (see `crate::audit::ship` and README "Observability").
fn parse_ship(cx: &Ctx, at: &[Seg], v: &Value) -> Result<Vec<crate::audit::ship::SinkConfig>, SettingsError> {
    use crate::audit::ship::{SinkConfig, SinkKind, StartAt, otlp, syslog};
    let list = v.as_array().ok_or_else(|| cx.err(at, false, "`audit.ship` must be an array of sinks"))?;
    let mut sinks: Vec<SinkConfig> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let sat = with(at, Seg::Index(i));
        let obj =
            s.as_object().ok_or_else(|| cx.err(&sat, false, "a sink must be an object with `type` and `name`"))?;
        let str_of = |k: &str| -> Result<Option<String>, SettingsError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(cx.err(&key(&sat, k), false, format!("`{k}` must be a string"))),
            }
        };
        let num_of =
            |k: &str, lo: f64, hi: f64| -> Result<Option<f64>, SettingsError> {
                match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(x) => x.as_f64().filter(|n| (lo..=hi).contains(n)).map(Some).ok_or_else(|| {
                        cx.err(&key(&sat, k), false, format!("`{k}` must be a number from {lo} to {hi}"))
                    }),
                }
            };
        let path_of = |k: &str| -> Result<Option<PathBuf>, SettingsError> {
            match str_of(k)? {
                None => Ok(None),
                Some(p) if p.starts_with('/') => Ok(Some(PathBuf::from(p))),
                Some(_) => Err(cx.err(&key(&sat, k), false, format!("`{k}` must be an absolute path"))),
            }
        };
        let map_of = |k: &str| -> Result<Vec<(String, String)>, SettingsError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(name, v)| match v {
                        Value::String(s) => Ok((name.clone(), s.clone())),
                        _ => Err(cx.err(&key(&key(&sat, k), name), false, format!("`{k}.{name}` must be a string"))),
                    })
                    .collect(),
                Some(_) => Err(cx.err(&key(&sat, k), false, format!("`{k}` must be an object of strings"))),
            }
        };
        let ty = str_of("type")?.ok_or_else(|| cx.err(&sat, false, "a sink needs `type`: \"syslog\" or \"otlp\""))?;
        let allowed: &[&str] = match ty.as_str() {
            "syslog" => &[
                "type",
                "name",
                "batch",
                "maxBackoffSeconds",
                "start",
                "transport",
                "socket",
                "address",
                "caFile",
                "serverName",
                "facility",
                "appName",
                "sdId",
                "maxMessageBytes",
                "confirmSeconds",
                "timeoutSeconds",
            ],
            "otlp" => &[
                "type",
                "name",
                "batch",
                "maxBackoffSeconds",
                "start",
                "endpoint",
                "headers",
                "timeoutSeconds",
                "caFile",
                "resource",
            ],
            other => {
                return Err(cx.err(
                    &key(&sat, "type"),
                    false,
                    format!("unknown sink type {other:?} (expected \"syslog\" or \"otlp\")"),
                ));
            }
        };
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(cx.err(
                    &key(&sat, k),
                    true,
                    format!("unknown field `{k}` in a {ty} sink (expected one of: {})", allowed.join(", ")),
                ));
            }
        }
        let name = str_of("name")?
            .ok_or_else(|| cx.err(&sat, false, "a sink needs a `name` (it names its cursor and metrics)"))?;
        if !crate::audit::ship::valid_name(&name) {
            return Err(cx.err(&key(&sat, "name"), false, "`name` must be 1 to 64 letters, digits, `_`, `.` or `-`"));
        }
        if sinks.iter().any(|s| s.name == name) {
            return Err(cx.err(&key(&sat, "name"), false, format!("two sinks are named {name:?}")));
        }
        let batch = num_of("batch", 1.0, crate::audit::ship::MAX_BATCH as f64)?
            .map_or(crate::audit::ship::DEFAULT_BATCH, |n| n as usize);
        let max_backoff = num_of("maxBackoffSeconds", 0.1, 3600.0)?
            .map_or(crate::audit::ship::DEFAULT_MAX_BACKOFF, Duration::from_secs_f64);
        let start = match str_of("start")?.as_deref() {
            None | Some("oldest") => StartAt::Oldest,
            Some("end") => StartAt::End,
            Some(_) => return Err(cx.err(&key(&sat, "start"), false, "`start` must be \"oldest\" or \"end\"")),
        };
        let kind = if ty == "syslog" {
            let transport = match str_of("transport")?.as_deref() {
                None | Some("unix") => {
                    if obj.contains_key("address") {
                        return Err(cx.err(
                            &key(&sat, "address"),
                            false,
                            "`address` is for the tcp and tls transports",
                        ));
                    }
                    syslog::Transport::Unix { path: path_of("socket")?.unwrap_or_else(|| PathBuf::from("/dev/log")) }
                }
                Some(t @ ("tcp" | "tls")) => {
                    if obj.contains_key("socket") {
                        return Err(cx.err(&key(&sat, "socket"), false, "`socket` is for the unix transport"));
                    }
                    let address = str_of("address")?
                        .filter(|a| a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()))
                        .ok_or_else(|| {
                            cx.err(&sat, false, format!("a {t} syslog sink needs `address`: \"host:port\""))
                        })?;
                    if t == "tcp" {
                        if obj.contains_key("caFile") || obj.contains_key("serverName") {
                            return Err(cx.err(&sat, false, "`caFile` and `serverName` are for the tls transport"));
                        }
                        syslog::Transport::Tcp { address }
                    } else {
                        syslog::Transport::Tls {
                            address,
                            ca_file: path_of("caFile")?,
                            server_name: str_of("serverName")?,
                        }
                    }
                }
                Some(_) => {
                    return Err(cx.err(
                        &key(&sat, "transport"),
                        false,
                        "`transport` must be \"unix\", \"tcp\" or \"tls\"",
                    ));
                }
            };
            let facility = match obj.get("facility") {
                None | Some(Value::Null) => 16,
                Some(Value::String(f)) => {
                    syslog::FACILITIES.iter().find(|(n, _)| n == f).map(|(_, c)| *c).ok_or_else(|| {
                        cx.err(
                            &key(&sat, "facility"),
                            false,
                            format!("unknown facility {f:?} (kern, user, … local0 … local7)"),
                        )
                    })?
                }
                Some(x) => int_in(x, 0, 23).map(|n| n as u8).ok_or_else(|| {
                    cx.err(&key(&sat, "facility"), false, "`facility` must be a name (\"local0\") or 0 to 23")
                })?,
            };
            let app_name = str_of("appName")?.unwrap_or_else(|| syslog::DEFAULT_APP_NAME.into());
            if !syslog::valid_app_name(&app_name) {
                return Err(cx.err(
                    &key(&sat, "appName"),
                    false,
                    "`appName` must be 1 to 48 printable ASCII characters",
                ));
            }
            let sd_id = str_of("sdId")?.unwrap_or_else(|| syslog::DEFAULT_SD_ID.into());
            if !syslog::valid_sd_id(&sd_id) {
                return Err(cx.err(
                    &key(&sat, "sdId"),
                    false,
                    "`sdId` must be name@number (RFC 5424 SD-ID), at most 32 characters",
                ));
            }
            SinkKind::Syslog(syslog::SyslogConfig {
                transport,
                facility,
                app_name,
                sd_id,
                max_message_bytes: num_of("maxMessageBytes", 2048.0, (16u64 << 20) as f64)?
                    .map_or(syslog::DEFAULT_MAX_MESSAGE_BYTES, |n| n as usize),
                confirm: num_of("confirmSeconds", 0.0, 600.0)?.map_or(syslog::DEFAULT_CONFIRM, Duration::from_secs_f64),
                timeout: num_of("timeoutSeconds", 0.1, 600.0)?.map_or(Duration::from_secs(10), Duration::from_secs_f64),
            })
        } else {
            let endpoint = str_of("endpoint")?
                .ok_or_else(|| cx.err(&sat, false, "an otlp sink needs `endpoint` (http(s)://host:4318/v1/logs)"))?;
            match url::Url::parse(&endpoint) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(cx.err(&key(&sat, "endpoint"), false, "`endpoint` must be an http:// or https:// URL"));
                }
            }
            let headers = map_of("headers")?;
            for (h, v) in &headers {
                if ureq::http::HeaderName::try_from(h.as_str()).is_err()
                    || ureq::http::HeaderValue::try_from(v.as_str()).is_err()
                {
                    return Err(cx.err(&key(&key(&sat, "headers"), h), true, format!("header {h:?} cannot be sent")));
                }
            }
            SinkKind::Otlp(otlp::OtlpConfig {
                endpoint,
                headers,
                timeout: num_of("timeoutSeconds", 0.1, 600.0)?.map_or(otlp::DEFAULT_TIMEOUT, Duration::from_secs_f64),
                ca_file: path_of("caFile")?,
                resource: map_of("resource")?,
            })
        };
        sinks.push(SinkConfig { name, kind, batch, max_backoff, start });
    }
    Ok(sinks)
}

fn bool_at(cx: &Ctx, at: &[Seg], v: &Value) -> Result<bool, SettingsError> {
    v.as_bool()
        .ok_or_else(|| cx.err(at, false, format!("expected true or false, found {}", crate::event::json_type(v))))
}

fn string_list(cx: &Ctx, at: &[Seg], v: &Value) -> Result<Vec<String>, SettingsError> {
    let arr = v.as_array().ok_or_else(|| cx.err(at, false, "expected an array of strings"))?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_str().map(str::to_string).ok_or_else(|| cx.err(&with(at, Seg::Index(i)), false, "expected a string"))
        })
        .collect()
}

fn parse_permissions(cx: &mut Ctx, v: &Value) -> Result<(PermissionLists, Option<bool>), SettingsError> {
    let at = key(&[], "permissions");
    let obj = v.as_object().ok_or_else(|| cx.err(&at, false, "`permissions` must be an object"))?;
    let mut out = PermissionLists::default();
    let mut disable_bypass = None;
    for (k, list) in obj {
        let kat = key(&at, k);
        let target = match k.as_str() {
            "allow" => &mut out.allow,
            "ask" => &mut out.ask,
            "deny" => &mut out.deny,
            "disableBypassPermissionsMode" => {
                match list.as_str() {
                    Some("disable") => disable_bypass = Some(true),
                    _ => return Err(cx.err(&kat, false, "`disableBypassPermissionsMode` must be \"disable\"")),
                }
                continue;
            }
            "defaultMode" | "additionalDirectories" => continue,
            other => {
                cx.warn(&kat, true, format!("permissions key `{other}` is not used by hookhost (ignored)"));
                continue;
            }
        };
        for (i, s) in string_list(cx, &kat, list)?.into_iter().enumerate() {
            let rat = with(&kat, Seg::Index(i));
            let rule = Rule::parse(&s).map_err(|m| cx.err(&rat, false, m))?;
            target.push(LocatedRule { rule, origin: cx.origin(&rat), enforcement: Enforcement::Enforce });
        }
    }
    Ok((out, disable_bypass))
}

fn parse_hooks(cx: &mut Ctx, v: &Value) -> Result<Vec<Hook>, SettingsError> {
    let at = key(&[], "hooks");
    let obj =
        v.as_object().ok_or_else(|| cx.err(&at, false, "`hooks` must be an object of event name → matcher groups"))?;
    let mut hooks = Vec::new();
    for (event, groups) in obj {
        let eat = key(&at, event);
        if !KNOWN_EVENTS.contains(&event.as_str()) {
            cx.warn(
                &eat,
                true,
                format!(
                    "`{event}` is not a Claude Code event known to hookhost; its hooks run only if an agent sends it"
                ),
            );
        }
        let groups = groups.as_array().ok_or_else(|| cx.err(&eat, false, "expected an array of matcher groups"))?;
        for (gi, group) in groups.iter().enumerate() {
            let gat = with(&eat, Seg::Index(gi));
            let g = group
                .as_object()
                .ok_or_else(|| cx.err(&gat, false, "a matcher group must be an object with `hooks`"))?;
            for k in g.keys() {
                if k != "matcher" && k != "hooks" {
                    return Err(cx.err(
                        &key(&gat, k),
                        true,
                        format!("unknown field `{k}` in matcher group (expected `matcher`, `hooks`)"),
                    ));
                }
            }
            let mat = key(&gat, "matcher");
            let matcher_source = match g.get("matcher") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(cx.err(&mat, false, "`matcher` must be a string")),
            };
            let (matcher, warnings) =
                Matcher::compile(matcher_source.as_deref(), event).map_err(|m| cx.err(&mat, false, m))?;
            for w in warnings {
                cx.warn(&mat, false, w);
            }
            let hat = key(&gat, "hooks");
            let list = g
                .get("hooks")
                .ok_or_else(|| cx.err(&gat, false, "matcher group has no `hooks` array"))?
                .as_array()
                .ok_or_else(|| cx.err(&hat, false, "`hooks` must be an array of hook handlers"))?;
            for (hi, h) in list.iter().enumerate() {
                let at = with(&hat, Seg::Index(hi));
                hooks.push(parse_handler(cx, &at, event, &matcher, &matcher_source, h)?);
            }
        }
    }
    Ok(hooks)
}

fn parse_handler(
    cx: &mut Ctx,
    at: &[Seg],
    event: &str,
    matcher: &Matcher,
    matcher_source: &Option<String>,
    h: &Value,
) -> Result<Hook, SettingsError> {
    let obj = h.as_object().ok_or_else(|| cx.err(at, false, "a hook handler must be an object with `type`"))?;
    let ty = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(cx.err(&key(at, "type"), false, "`type` must be a string")),
        None => {
            return Err(cx.err(at, false, "hook handler has no `type` (\"command\" or \"wasm\")"));
        }
    };
    let allowed = match ty {
        "command" => COMMAND_KEYS,
        "wasm" => WASM_KEYS,
        "http" | "prompt" | "agent" | "mcp_tool" => &[][..],
        other => {
            return Err(cx.err(
                &key(at, "type"),
                false,
                format!("unknown hook type {other:?} (hookhost runs \"command\" and \"wasm\")"),
            ));
        }
    };
    if !allowed.is_empty() {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(cx.err(
                    &key(at, k),
                    true,
                    format!("unknown field `{k}` in a {ty} hook (expected one of: {})", allowed.join(", ")),
                ));
            }
        }
    }
    let string = |cx: &Ctx, k: &str| -> Result<Option<String>, SettingsError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(cx.err(&key(at, k), false, format!("`{k}` must be a string"))),
        }
    };
    let boolean = |cx: &Ctx, k: &str| -> Result<bool, SettingsError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => bool_at(cx, &key(at, k), v),
        }
    };
    let uint = |cx: &Ctx, k: &str, hi: u64| -> Result<Option<u64>, SettingsError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => int_in(v, 1, hi)
                .map(Some)
                .ok_or_else(|| cx.err(&key(at, k), false, format!("`{k}` must be a whole number from 1 to {hi}"))),
        }
    };
    let handler = match ty {
        "command" => {
            let command = string(cx, "command")?
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| cx.err(at, false, "command hook has no `command`"))?;
            let args = match obj.get("args") {
                None | Some(Value::Null) => None,
                Some(v) => Some(string_list(cx, &key(at, "args"), v)?),
            };
            let shell = match string(cx, "shell")?.as_deref() {
                None | Some("sh") => Some(Shell::Sh),
                Some("bash") => Some(Shell::Bash),
                Some("powershell") => None,
                Some(other) => {
                    return Err(cx.err(
                        &key(at, "shell"),
                        false,
                        format!("unknown shell {other:?} (expected \"bash\", \"sh\" or \"powershell\")"),
                    ));
                }
            };
            match shell {
                Some(shell) => Handler::Command(CommandHook { command, args, shell }),
                None => {
                    cx.warn(
                        &key(at, "shell"),
                        false,
                        "powershell hooks are not supported by hookhost; this hook fails when it fires",
                    );
                    Handler::Unsupported { kind: "powershell".into() }
                }
            }
        }
        "wasm" => {
            let component =
                string(cx, "component")?.ok_or_else(|| cx.err(at, false, "wasm hook has no `component`"))?;
            Handler::Wasm(WasmHook {
                component: PathBuf::from(component),
                memory_mb: uint(cx, "memoryMb", crate::exec::wasm::MAX_MEMORY_MB)?,
                fuel: uint(cx, "fuel", u64::MAX)?,
            })
        }
        other => {
            cx.warn(
                &key(at, "type"),
                false,
                format!("`{other}` hooks are Claude Code's and are not run by hookhost; this hook fails when it fires"),
            );
            Handler::Unsupported { kind: other.to_string() }
        }
    };
    let timeout = match obj.get("timeout") {
        None | Some(Value::Null) => default_timeout(event),
        Some(v) => match v
            .as_f64()
            .filter(|s| (MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(s))
            .map(Duration::try_from_secs_f64)
        {
            Some(Ok(d)) => d,
            _ => {
                return Err(cx.err(
                    &key(at, "timeout"),
                    false,
                    format!(
                        "`timeout` must be a number of seconds from {MIN_TIMEOUT_SECONDS} to {MAX_TIMEOUT_SECONDS}"
                    ),
                ));
            }
        },
    };
    let if_rule = match string(cx, "if")? {
        None => None,
        Some(s) => {
            let rule = Rule::parse(&s).map_err(|m| cx.err(&key(at, "if"), false, m))?;
            if !crate::event::facts_of(event).is_tool_event() {
                cx.warn(
                    &key(at, "if"),
                    false,
                    format!("`if` is only evaluated on tool events; on {event} this hook never runs"),
                );
            }
            Some(rule)
        }
    };
    let on_failure = match string(cx, "onFailure")?.as_deref() {
        None => None,
        Some("allow") => Some(OnFailure::Allow),
        Some("block") => Some(OnFailure::Block),
        Some(other) => {
            return Err(cx.err(
                &key(at, "onFailure"),
                false,
                format!("`onFailure` must be \"allow\" or \"block\", got {other:?}"),
            ));
        }
    };
    let sha256 = match string(cx, "sha256")? {
        None => None,
        Some(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => Some(s.to_ascii_lowercase()),
        Some(_) => {
            return Err(cx.err(&key(at, "sha256"), false, "`sha256` must be 64 hexadecimal digits"));
        }
    };
    let sandbox = match obj.get("sandbox") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(
            crate::sandbox_settings::SandboxOverrides::parse(v).map_err(|m| cx.err(&key(at, "sandbox"), false, m))?,
        ),
        Some(_) => return Err(cx.err(&key(at, "sandbox"), false, "`sandbox` must be an object")),
    };
    let is_async = boolean(cx, "async")? || boolean(cx, "asyncRewake")?;
    let enforcement = match string(cx, "mode")? {
        None => Enforcement::Enforce,
        Some(m) => Enforcement::parse(&m).ok_or_else(|| {
            cx.err(&key(at, "mode"), false, format!("`mode` must be \"enforce\", \"warn\" or \"audit\", got {m:?}"))
        })?,
    };
    let _ = boolean(cx, "once")?;
    let rollback = boolean(cx, "rollback")?;
    let post_tool_use = event == EventName::PostToolUse.as_str();
    if rollback && !post_tool_use {
        cx.warn(
            &key(at, "rollback"),
            true,
            format!("`rollback` applies only to PostToolUse hooks (it undoes a rejected edit); ignored on {event}"),
        );
    }
    let name = match string(cx, "name")? {
        None => None,
        Some(n) if crate::audit::ship::valid_name(&n) => Some(n),
        Some(_) => {
            return Err(cx.err(
                &key(at, "name"),
                false,
                "`name` must be 1 to 64 letters, digits, `_`, `.` or `-` (it labels the hook's metrics)",
            ));
        }
    };
    // The pin is not part of the definition project trust records: trust also records the
    // content the pin covers, so `pin --write` after `trust` (or before) changes nothing trusted.
    let mut unpinned = h.clone();
    if let Some(o) = unpinned.as_object_mut() {
        o.remove("sha256");
    }
    let definition = serde_json::json!({"event": event, "matcher": matcher_source, "hook": unpinned});
    let definition_sha256 = crate::digest::sha256_hex(definition.to_string().as_bytes());
    Ok(Hook {
        event: event.to_string(),
        matcher: matcher.clone(),
        matcher_source: matcher_source.clone(),
        handler,
        if_rule,
        timeout,
        on_failure,
        is_async,
        enforcement,
        status_message: string(cx, "statusMessage")?,
        sha256,
        sandbox,
        origin: cx.origin(at),
        definition_sha256,
        name,
        rollback: rollback && post_tool_use,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::DEFAULT_TIMEOUT;

    fn p(text: &str) -> Result<SettingsFile, SettingsError> {
        parse(text, Path::new("/s.json"), Scope::Project)
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = p("{\n  \"hooks\": {\n    \"PreToolUse\": [\n  }\n}").unwrap_err();
        assert_eq!((e.location.line, e.location.column), (4, 3), "{e}");
        assert!(e.to_string().starts_with("/s.json:4:3: invalid JSON"), "{e}");
    }

    #[test]
    fn semantic_errors_are_located() {
        let text = r#"{
  "hooks": {
    "PreToolUse": [
      { "matcher": "Bash([", "hooks": [ { "type": "command", "command": "x" } ] }
    ]
  }
}"#;
        let e = p(text).unwrap_err();
        assert_eq!((e.location.line, e.location.column), (4, 20), "{e}");
        assert!(e.message.contains("invalid matcher regex"), "{e}");

        let text = "{\"hooks\": {\"Stop\": [{\"hooks\": [\n  {\"type\": \"command\", \"command\": \"x\",\n   \"onfailure\": \"block\"}]}]}}";
        let e = p(text).unwrap_err();
        assert_eq!((e.location.line, e.location.column), (3, 4), "{e}");
        assert!(e.message.contains("unknown field `onfailure`"), "{e}");
    }

    #[test]
    fn managed_only_keys_below_managed_are_warnings() {
        let f = p(r#"{"allowManagedHooksOnly": true, "model": "x"}"#).unwrap();
        assert_eq!(f.allow_managed_hooks_only, None);
        assert_eq!(f.warnings.len(), 2);
        let f = parse(r#"{"allowManagedHooksOnly": "yes"}"#, Path::new("/m.json"), Scope::Managed).unwrap();
        assert_eq!(f.allow_managed_hooks_only, Some(true));
    }

    #[test]
    fn hooks_parse_with_origins() {
        let f = p(r#"{"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": "a.sh", "timeout": 5, "onFailure": "block", "if": "Bash(git *)"},
            {"type": "command", "command": "b", "args": ["x y"]}]}]}}"#)
        .unwrap();
        assert_eq!(f.hooks.len(), 2);
        assert_eq!(f.hooks[0].timeout, Duration::from_secs(5));
        assert_eq!(f.hooks[0].on_failure, Some(OnFailure::Block));
        assert_eq!(f.hooks[0].origin.line, 2);
        assert_eq!(f.hooks[1].label(), "[b 'x y']");
        assert_eq!(f.hooks[1].timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn rollback_keys_and_hook_field() {
        let text = r#"{"hookhost": {"rollbackRejectedEdits": true, "revertBlockedConfigChanges": true,
            "rollbackSnapshotTtlSeconds": 60, "rollbackMaxFileBytes": 1024}}"#;
        let f = p(text).unwrap();
        assert_eq!(f.rollback, RollbackSettings::default(), "managed-only: ignored in user settings");
        assert_eq!(f.warnings.len(), 4);
        let f = parse(text, Path::new("/m.json"), Scope::Managed).unwrap();
        assert_eq!(
            f.rollback,
            RollbackSettings {
                rejected_edits: Some(true),
                revert_config_changes: Some(true),
                snapshot_ttl_seconds: Some(60),
                max_file_bytes: Some(1024)
            }
        );
        let e = parse(r#"{"hookhost": {"rollbackMaxFileBytes": 0}}"#, Path::new("/m.json"), Scope::Managed);
        assert!(e.unwrap_err().message.contains("whole number from 1 to"));
        let f = p(r#"{"hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [
            {"type": "command", "command": "scan", "rollback": true}]}],
            "PreToolUse": [{"hooks": [{"type": "wasm", "component": "x.wasm", "rollback": true}]}]}}"#)
        .unwrap();
        assert!(f.hooks[0].rollback);
        assert!(!f.hooks[1].rollback, "only meaningful on PostToolUse");
        assert!(f.warnings.iter().any(|w| w.message.contains("applies only to PostToolUse")), "{:?}", f.warnings);
    }
}
