//! Host errors: what it means for hookhost itself (not a hook) to be broken, and the one map
//! from such an error to a process exit code.
//!
//! A hook that says "no" is a `Decision`; a hook that breaks is a `HookFailure`; both are data.
//! Only failures of the host itself (an unreadable or invalid settings file, an unreadable event,
//! an I/O error of our own) are `Error`s.

use std::path::PathBuf;

use crate::event::EventError;

/// Where in a settings file something is: 1-based line and column, like compilers print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// A settings file that cannot be used: unreadable, not JSON, or not hookhost's schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SettingsError {
    pub location: Location,
    pub message: String,
    /// True when the file belongs to the managed scope: such a file is never skipped.
    pub managed: bool,
}

/// A broken host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid settings: {0}")]
    Settings(#[from] SettingsError),
    #[error("{} settings files are invalid:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    SettingsMany(Vec<SettingsError>),
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Which kind of host fault this is: an invalid managed settings file means the admin's
    /// policy cannot be applied; anything else means this event could not be evaluated.
    pub fn fault(&self) -> HostFault {
        let managed = match self {
            Error::Settings(e) => e.managed,
            Error::SettingsMany(v) => v.iter().any(|e| e.managed),
            _ => false,
        };
        if managed { HostFault::Policy } else { HostFault::Evaluation }
    }
}

/// `dispatch`: Claude Code's "non-blocking hook error": reported, the action proceeds.
pub const DISPATCH_NONBLOCKING: u8 = 1;
/// `dispatch`: block, with the reason on stderr.
pub const DISPATCH_BLOCK: u8 = 2;
/// Every other subcommand: fine.
pub const EXIT_OK: u8 = 0;
/// Every other subcommand: an error (unusable input, settings, files; a host fault).
pub const EXIT_ERROR: u8 = 1;

/// What kind of failure of hookhost itself a front end is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFault {
    /// hookhost could not evaluate this event: unreadable event or stdin, an I/O or runtime
    /// error, the daemon unavailable, a signal, a panic. The event's failure policy decides.
    Evaluation,
    /// The admin's policy cannot be applied as written: an invalid managed settings file with no
    /// good version in force, a forced server refresh that failed, an unapproved server revision.
    /// Always blocks.
    Policy,
}

/// **The** map from a host fault to the exit code of `hookhost dispatch`, used by every front
/// end (one-shot dispatch, its thin-client fallback, the daemon's answers, the panic handler).
///
/// `fail_closed` is whether managed `failClosed` lists the event: `Some(false)` gives `1`
/// (Claude Code's non-blocking error, the action proceeds), `Some(true)` gives `2` (block).
/// `None` means the host broke before it could know (no settings, no event yet): that blocks,
/// so a fault can never fail open where the policy might have been closed. A `Policy` fault
/// always blocks.
pub fn dispatch_exit_code(fault: HostFault, fail_closed: Option<bool>) -> u8 {
    match (fault, fail_closed) {
        (HostFault::Evaluation, Some(false)) => DISPATCH_NONBLOCKING,
        (HostFault::Policy, _) | (HostFault::Evaluation, Some(true) | None) => DISPATCH_BLOCK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_map() {
        use HostFault::*;
        assert_eq!(dispatch_exit_code(Evaluation, Some(false)), 1);
        assert_eq!(dispatch_exit_code(Evaluation, Some(true)), 2);
        assert_eq!(dispatch_exit_code(Evaluation, None), 2);
        for f in [Some(false), Some(true), None] {
            assert_eq!(dispatch_exit_code(Policy, f), 2);
        }
        let managed = Error::Settings(SettingsError {
            location: Location { path: "/m.json".into(), line: 1, column: 1 },
            message: "bad".into(),
            managed: true,
        });
        assert_eq!(dispatch_exit_code(managed.fault(), Some(false)), 2);
        assert_eq!(dispatch_exit_code(Error::Usage("x".into()).fault(), Some(false)), 1);
    }
}
