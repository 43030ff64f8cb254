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

    /// The exit code of `hookhost dispatch` for this error: `2` (block) when the failure policy
    /// of the event is closed, `1` (Claude Code's "non-blocking hook error") otherwise.
    /// An invalid managed settings file always blocks: an admin's policy is never skipped.
    pub fn dispatch_exit_code(&self, fail_closed: bool) -> u8 {
        let managed = match self {
            Error::Settings(e) => e.managed,
            Error::SettingsMany(v) => v.iter().any(|e| e.managed),
            _ => false,
        };
        if fail_closed || managed { 2 } else { 1 }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
