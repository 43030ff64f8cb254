//! Host faults: a panic anywhere in hookhost is answered like any host error, never with Rust's
//! exit 101 (which Claude Code reads as a non-blocking error, so the action would go through).
//!
//! Owns: the process-wide record of what the running front end has learnt about the event in
//! hand ([`note_front_end`], [`note_event`]: its name, whether managed `failClosed` lists it,
//! where its audit log is), the panic hook ([`install`]), and the answer to a caught panic
//! ([`answer`]: the exit code from [`crate::error::dispatch_exit_code`], a reason on stderr, a
//! best-effort `host_error` audit record written on a helper thread that is waited for at most
//! [`AUDIT_WAIT`], so a fault never hangs).
//!
//! Promises: `dispatch` answers a fault with `2` (block) when the event fails closed or when
//! the fault came before the policy was known, `1` otherwise; every other subcommand exits `1`.
//! The panic message goes to stderr once, as the block reason (`dispatch`) or like Rust's own
//! report (other subcommands). Panics on threads whose panics are handled (tokio tasks, the
//! WebAssembly blocking pool: they become a hook failure under that hook's failure policy) are
//! recorded and logged, and decide nothing by themselves.
//!
//! Does not: catch `abort`s, stack overflows or signals (those kill the process: Claude Code then
//! sees no exit code 0 or 2, and treats it as a non-blocking error; the daemon client applies the
//! failure policy when its daemon dies).

use std::any::Any;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{EXIT_ERROR, HostFault, dispatch_exit_code};
use crate::settings::file::AuditSettings;

/// How long a fault waits for its audit record to be written.
pub const AUDIT_WAIT: Duration = Duration::from_secs(2);

/// The front end the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrontEnd {
    /// `hookhost dispatch`: speaks Claude Code's exit codes.
    Dispatch,
    /// Any other subcommand (0 ok, 1 error, 2 violation).
    #[default]
    Other,
}

#[derive(Debug, Default)]
struct State {
    front_end: FrontEnd,
    event: Option<String>,
    /// Whether managed `failClosed` lists the event (`None`: not known yet).
    fail_closed: Option<bool>,
    audit: Option<AuditSettings>,
    revision: Option<String>,
    /// The first panic seen, with its location.
    panic: Option<String>,
}

static STATE: Mutex<State> = Mutex::new(State {
    front_end: FrontEnd::Other,
    event: None,
    fail_closed: None,
    audit: None,
    revision: None,
    panic: None,
});

fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    f(&mut STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Records which front end runs (call before doing anything that can panic).
pub fn note_front_end(front_end: FrontEnd) {
    with_state(|s| s.front_end = front_end);
}

/// Records what the front end learnt about the event in hand: its name, whether the settings
/// in force fail it closed, where the audit log is and the settings revision.
pub fn note_event(event: Option<&str>, fail_closed: bool, audit: &AuditSettings, revision: &str) {
    with_state(|s| {
        s.event = event.map(str::to_string);
        s.fail_closed = Some(fail_closed);
        s.audit = Some(audit.clone());
        s.revision = Some(revision.to_string());
    });
}

/// Records only the event's name (known before its settings are).
pub fn note_event_name(event: &str) {
    with_state(|s| s.event = Some(event.to_string()));
}

/// Installs the panic hook: it records the first panic (message and location) for [`answer`];
/// outside `dispatch` it also reports it as Rust does (stderr, backtrace if asked). In
/// `dispatch` stderr is Claude Code's block reason, so the report is left to [`answer`] (and to
/// `RUST_LOG`).
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what = payload_text(info.payload());
        let at = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        let msg = format!("panic in thread '{thread}'{at}: {what}");
        // `try_lock`: a panic while the state is locked must not deadlock its own hook.
        let front_end = match STATE.try_lock() {
            Ok(mut s) => {
                s.panic.get_or_insert(msg.clone());
                s.front_end
            }
            Err(_) => FrontEnd::Other,
        };
        tracing::error!(panic = %msg, "hookhost: internal error");
        if front_end != FrontEnd::Dispatch {
            default(info);
        }
    }));
}

fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Answers a panic caught by `main`: reports it, audits it (best effort, bounded wait) and
/// returns the exit code from the one exit-code map.
pub fn answer(payload: &(dyn Any + Send)) -> u8 {
    let (front_end, event, fail_closed, audit, revision, panic) = with_state(|s| {
        (s.front_end, s.event.clone(), s.fail_closed, s.audit.clone(), s.revision.clone(), s.panic.clone())
    });
    let panic = panic.unwrap_or_else(|| format!("panic: {}", payload_text(payload)));
    if front_end != FrontEnd::Dispatch {
        // Rust's report was printed by the default hook.
        return EXIT_ERROR;
    }
    let code = dispatch_exit_code(HostFault::Evaluation, fail_closed);
    let policy = match (fail_closed, &event) {
        (Some(true), Some(e)) => format!("failing closed for {e} (managed failClosed)"),
        (Some(true), None) => "failing closed (managed failClosed)".to_string(),
        (None, _) => "failing closed: the fault came before the policy for this event was known".to_string(),
        (Some(false), _) => "not failing closed: the event is not in managed failClosed".to_string(),
    };
    let message = format!("internal error ({panic}); {policy}");
    if let Some(a) = audit {
        let (event, revision, message) = (event.clone(), revision.unwrap_or_default(), message.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("fault-audit".into()).spawn(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                audit_host_error(&a, &revision, event.as_deref(), &message, code);
            }));
            let _ = tx.send(());
        });
        if spawned.is_ok() {
            let _ = rx.recv_timeout(AUDIT_WAIT);
        }
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("hookhost: {message}\n").as_bytes());
    code
}

/// Records a host error (an event that could not be dispatched, or a fault) in the audit log
/// the settings name. Best effort: a log that cannot be opened or written is reported through
/// `tracing` only.
pub fn audit_host_error(audit: &AuditSettings, revision: &str, event: Option<&str>, message: &str, exit_code: u8) {
    let Ok(Some(log)) = crate::audit::open_configured(audit) else { return };
    let mut r = serde_json::Map::new();
    r.insert("time".into(), crate::clock::now_rfc3339().into());
    r.insert("kind".into(), "host_error".into());
    r.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
    r.insert("event".into(), event.map_or(serde_json::Value::Null, |e| e.into()));
    r.insert("settings_revision".into(), revision.into());
    r.insert("error".into(), message.into());
    r.insert("exit_code".into(), exit_code.into());
    if let Err(e) = log.append(r, true) {
        tracing::warn!(error = %e, "audit: cannot record a host error");
    }
}

/// A deliberate panic for tests, at the named point of `dispatch`, when the environment
/// variable `HOOKHOST_TEST_PANIC` names it. Compiled only into debug builds (the test
/// profile): a release binary has no way to trigger it.
#[cfg(debug_assertions)]
#[track_caller]
pub fn test_point(site: &str) {
    if std::env::var_os("HOOKHOST_TEST_PANIC").is_some_and(|v| v == site) {
        panic!("injected test panic at `{site}` (HOOKHOST_TEST_PANIC)");
    }
}

/// Release builds: no test panics.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn test_point(_site: &str) {}
