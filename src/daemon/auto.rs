//! Warm by default: the per-user automatic daemon that the thin client (`hookhost-dispatch`)
//! asks first, and the managed key `hookhost.daemon` that governs it.
//!
//! Owns: [`DaemonMode`]; the fallback the thin client hands to the full binary ([`Fallback`],
//! read from `HOOKHOST_FALLBACK*`); starting the daemon ([`start`]: detached, in its own process
//! group, `hookhost serve --auto` on the socket `hookhost_dispatch::auto_socket` names); the
//! daemon's [`lock`] (one automatic daemon per socket, so per uid and identity, however many
//! clients race to start it: the daemon holds an exclusive lock on `SOCKET.lock` for its life
//! and exits at once when another holds it); and the daemon's [`identity`].
//!
//! Promises: the socket directory is created 0700 and the daemon refuses one that another uid
//! owns or others can write (`server::check_directory`); a daemon answers only clients that
//! expect its identity (version and settings locations), and an automatic daemon stops
//! answering (and exits) when the managed policy says `"off"`; nothing here decides an event.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use hookhost_dispatch::Identity;

pub use crate::vocab::DaemonMode;

/// How long an automatic daemon lives without a connection (`HOOKHOST_DAEMON_IDLE_EXIT`
/// seconds overrides it for the daemon being started).
pub const DEFAULT_IDLE_EXIT: Duration = Duration::from_secs(900);
/// How long `required` waits for a daemon it started to answer.
pub const REQUIRED_WAIT: Duration = Duration::from_secs(5);

/// Why the thin client handed the event to the full binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackKind {
    /// The daemon named by `HOOKHOST_SOCKET` gave no usable answer (today's client semantics).
    Explicit,
    /// No suitable automatic daemon; nothing ran.
    Unavailable,
    /// The automatic daemon took the event and gave no usable answer.
    Failed,
}

/// The thin client's hand-over (`HOOKHOST_FALLBACK`, `…_CAUSE`, `…_SOCKET`).
#[derive(Debug, Clone)]
pub struct Fallback {
    pub kind: FallbackKind,
    pub cause: String,
    pub socket: Option<PathBuf>,
}

impl Fallback {
    /// The hand-over in this process's environment, if any. Setting these variables by hand
    /// can only start a daemon or fail an event closed, never loosen a decision.
    pub fn from_env() -> Option<Fallback> {
        let kind = match std::env::var(hookhost_dispatch::ENV_FALLBACK).ok()?.as_str() {
            "explicit" => FallbackKind::Explicit,
            "unavailable" => FallbackKind::Unavailable,
            "failed" => FallbackKind::Failed,
            _ => return None,
        };
        let cause = std::env::var(hookhost_dispatch::ENV_FALLBACK_CAUSE)
            .unwrap_or_else(|_| "the hookhost daemon gave no answer".into());
        let socket =
            std::env::var_os(hookhost_dispatch::ENV_FALLBACK_SOCKET).filter(|s| !s.is_empty()).map(PathBuf::from);
        Some(Fallback { kind, cause, socket })
    }
}

/// The identity a daemon with these base locations answers for.
pub fn identity(loc: &crate::settings::Locations) -> Identity {
    Identity {
        version: env!("CARGO_PKG_VERSION").into(),
        managed_dir: loc.managed_dir.clone(),
        user_file: loc.user_file.clone(),
        state_dir: loc.state_dir.clone(),
    }
}

/// Whether a daemon of `daemon` identity may answer a client expecting `expect`: everything
/// equal for a client of the daemon's own uid; the version and managed directory for another
/// uid's client (it gets the managed policy only, none of its own files).
pub fn identity_matches(daemon: &Identity, expect: &Identity, same_user: bool) -> bool {
    if same_user {
        daemon == expect
    } else {
        daemon.version == expect.version && daemon.managed_dir == expect.managed_dir
    }
}

/// This binary's automatic socket in this environment.
pub fn auto_socket() -> Option<PathBuf> {
    hookhost_dispatch::auto_socket(&std::env::current_exe().ok()?)
}

fn lock_path(socket: &Path) -> PathBuf {
    let mut s = socket.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Creates the automatic socket's directory, 0700, when missing.
pub fn ensure_dir(socket: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir),
        _ => Ok(()),
    }
}

/// Takes the daemon lock for `socket` without waiting: `Ok(None)` when another process holds it.
pub fn lock(socket: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(lock_path(socket))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// What [`start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A daemon process was started (it may still lose the lock to another one).
    Spawned(u32),
    /// A daemon holds the lock already (running or starting).
    Running,
}

/// Starts the automatic daemon for `socket` unless one holds its lock: `hookhost serve --auto`,
/// detached (own process group, stdin and stdout on /dev/null, stderr in `SOCKET.log`), with
/// this process's environment minus the thin client's hand-over.
pub fn start(socket: &Path) -> Result<Started, String> {
    use std::os::unix::process::CommandExt;
    ensure_dir(socket).map_err(|e| format!("cannot create {}: {e}", socket.display()))?;
    match lock(socket) {
        Ok(Some(held)) => drop(held),
        Ok(None) => return Ok(Started::Running),
        Err(e) => return Err(format!("cannot take the daemon lock for {}: {e}", socket.display())),
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the hookhost binary: {e}"))?;
    let idle = std::env::var("HOOKHOST_DAEMON_IDLE_EXIT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .unwrap_or(DEFAULT_IDLE_EXIT.as_secs_f64());
    let mut log_path = socket.as_os_str().to_os_string();
    log_path.push(".log");
    let log = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&log_path)
    };
    let mut c = std::process::Command::new(exe);
    c.arg("serve").arg("--auto").arg("--socket").arg(socket).arg("--idle-exit").arg(idle.to_string());
    for k in [
        hookhost_dispatch::ENV_FALLBACK,
        hookhost_dispatch::ENV_FALLBACK_CAUSE,
        hookhost_dispatch::ENV_FALLBACK_SOCKET,
        "HOOKHOST_SOCKET",
    ] {
        c.env_remove(k);
    }
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).process_group(0);
    match log {
        Ok(f) => c.stderr(f),
        Err(_) => c.stderr(std::process::Stdio::null()),
    };
    let child = c.spawn().map_err(|e| format!("cannot start `hookhost serve --auto`: {e}"))?;
    // Not waited for: it outlives this process (re-parented when we exit).
    Ok(Started::Spawned(child.id()))
}

/// The automatic daemon as `hookhost status` shows it: the managed mode, the socket this
/// binary's thin client asks in this environment, and who listens there (a listener of another
/// uid or another binary is shown as refused, with the reason).
pub fn status(mode: DaemonMode) -> serde_json::Value {
    let socket = auto_socket();
    let listener = socket.as_deref().map(|s| match std::os::unix::net::UnixStream::connect(s) {
        Err(e) => serde_json::json!({"running": false, "why": e.to_string()}),
        Ok(stream) => {
            let exe = std::env::current_exe().ok();
            match hookhost_dispatch::verify_listener(s, &stream, exe.as_deref()) {
                Ok(l) => serde_json::json!({"running": true, "pid": l.pid, "uid": l.uid}),
                Err(f) => serde_json::json!({"running": false, "refused": f.message()}),
            }
        }
    });
    serde_json::json!({
        "mode": mode.as_str(),
        "socket": socket,
        "listener": listener,
    })
}

/// One line of `hookhost status` for [`status`]'s value.
pub fn status_line(v: &serde_json::Value) -> String {
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or("-").to_string();
    let l = v.get("listener").cloned().unwrap_or_default();
    let state = if l.get("running") == Some(&serde_json::Value::Bool(true)) {
        format!("running (pid {})", l.get("pid").cloned().unwrap_or_default())
    } else if let Some(r) = l.get("refused").and_then(serde_json::Value::as_str) {
        format!("REFUSED: {r}")
    } else {
        "not running".into()
    };
    format!("auto daemon        {} at {}: {state}\n", s("mode"), s("socket"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thin_client_computes_the_locations_and_timeouts_hookhost_uses() {
        let loc = crate::settings::Locations::from_env(None, None, None);
        assert_eq!(identity(&loc), Identity::from_env());
        assert_eq!(hookhost_dispatch::VERSION, env!("CARGO_PKG_VERSION"));
        assert_eq!(hookhost_dispatch::DEFAULT_MANAGED_DIR, crate::settings::scope::DEFAULT_MANAGED_DIR);
        assert_eq!(hookhost_dispatch::DEFAULT_MAX_EVENT_BYTES, crate::event::DEFAULT_MAX_EVENT_BYTES);
        assert_eq!(hookhost_dispatch::MAX_FRAME, super::super::MAX_FRAME);
        for e in crate::event::KNOWN_EVENTS.iter().chain(["", "Other"].iter()) {
            assert_eq!(hookhost_dispatch::default_timeout(e), crate::hook::default_timeout(e), "{e}");
        }
    }

    #[test]
    fn an_identity_differing_in_any_field_is_refused_and_other_uids_compare_version_and_managed_dir() {
        let base = Identity {
            version: "0.1.0".into(),
            managed_dir: "/etc/hookhost".into(),
            user_file: Some("/home/u/.config/hookhost/settings.json".into()),
            state_dir: Some("/home/u/.local/state/hookhost".into()),
        };
        assert!(identity_matches(&base, &base, true));
        let variants: Vec<(Identity, bool)> = vec![
            (Identity { version: "0.1.1".into(), ..base.clone() }, false),
            (Identity { version: "".into(), ..base.clone() }, false),
            (Identity { managed_dir: "/tmp/evil".into(), ..base.clone() }, false),
            (Identity { managed_dir: "/etc/hookhost/../hookhost".into(), ..base.clone() }, false),
            (Identity { managed_dir: "/etc/hookhost2".into(), ..base.clone() }, false),
            (Identity { user_file: None, ..base.clone() }, true),
            (Identity { user_file: Some("/tmp/u.json".into()), ..base.clone() }, true),
            (Identity { state_dir: None, ..base.clone() }, true),
            (Identity { state_dir: Some("/tmp/state".into()), ..base.clone() }, true),
        ];
        // Paths compare by component: the same directory spelled with a trailing slash or a `.`
        // is the same location (any other spelling, a symlink included, is refused).
        for same in ["/etc/hookhost/", "/etc/./hookhost", "//etc/hookhost"] {
            assert!(identity_matches(&base, &Identity { managed_dir: same.into(), ..base.clone() }, true), "{same}");
        }
        for (other, other_uid_ok) in variants {
            assert!(!identity_matches(&base, &other, true), "same user: {other:?}");
            assert!(!identity_matches(&other, &base, true), "same user, reversed: {other:?}");
            assert_eq!(identity_matches(&base, &other, false), other_uid_ok, "other uid: {other:?}");
        }
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [DaemonMode::Auto, DaemonMode::Off, DaemonMode::Required] {
            assert_eq!(DaemonMode::parse(m.as_str()), Some(m));
        }
        for bad in ["", "Auto", "on", "true", "required "] {
            assert_eq!(DaemonMode::parse(bad), None);
        }
    }

    #[test]
    fn hookhost_daemon_is_managed_only_and_checked() {
        use crate::settings::{Scope, file::parse};
        let p = Path::new("/m.json");
        for (text, mode) in [("auto", DaemonMode::Auto), ("off", DaemonMode::Off), ("required", DaemonMode::Required)] {
            let f = parse(&format!(r#"{{"hookhost": {{"daemon": "{text}"}}}}"#), p, Scope::Managed).unwrap();
            assert_eq!(f.daemon_mode, Some(mode));
            for scope in [Scope::User, Scope::Project, Scope::Local, Scope::CommandLine] {
                let f = parse(&format!(r#"{{"hookhost": {{"daemon": "{text}"}}}}"#), p, scope).unwrap();
                assert_eq!(f.daemon_mode, None, "{scope}: managed-only");
                assert!(f.warnings.iter().any(|w| w.message.contains("managed-only")), "{scope}");
            }
        }
        for bad in [r#""on""#, "true", "1", "null", r#"["off"]"#, r#""OFF""#] {
            let e = parse(&format!(r#"{{"hookhost": {{"daemon": {bad}}}}}"#), p, Scope::Managed).unwrap_err();
            assert!(e.to_string().contains("hookhost.daemon") && e.to_string().contains("m.json:1:"), "{bad}: {e}");
        }
        assert_eq!(crate::settings::resolve(Vec::new()).daemon_mode, DaemonMode::Auto, "auto by default");
    }

    #[test]
    fn one_lock_holder_per_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        let held = lock(&socket).unwrap().expect("free");
        assert!(lock(&socket).unwrap().is_none(), "a second holder");
        assert_eq!(start(&socket).unwrap(), Started::Running, "no second daemon while one holds the lock");
        drop(held);
        assert!(lock(&socket).unwrap().is_some());
    }
}
