//! The shared vocabulary of settings, hooks, rules and the audit log: where a setting came from
//! ([`Scope`]), where a hook or rule was configured ([`Origin`]), how its answer is applied
//! ([`Enforcement`]) and how events reach a daemon ([`DaemonMode`], managed `hookhost.daemon`).
//! A leaf: imports nothing of ours, so every layer can use these words without depending on the
//! module that parses them.

use std::path::PathBuf;

/// Where a setting came from. Ordered by precedence (greater wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    User,
    Project,
    Local,
    CommandLine,
    Managed,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
            Scope::CommandLine => "command line",
            Scope::Managed => "managed",
        }
    }

    /// Claude Code's ConfigChange `source` for a file of this scope.
    pub fn config_source(self) -> &'static str {
        match self {
            Scope::User => "user_settings",
            Scope::Project => "project_settings",
            Scope::Local => "local_settings",
            Scope::CommandLine => "command_line_settings",
            Scope::Managed => "policy_settings",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a hook was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scope: Scope,
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}:{}:{}", self.scope, self.path.display(), self.line, self.column)
    }
}

/// How a hook's (or a rule set's) answer is applied: `enforce` (default), `warn` (a rejection
/// becomes a warning to the user), `audit` (computed and recorded only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    #[default]
    Enforce,
    Warn,
    Audit,
}

impl Enforcement {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "enforce" => Enforcement::Enforce,
            "warn" => Enforcement::Warn,
            "audit" => Enforcement::Audit,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Enforce => "enforce",
            Enforcement::Warn => "warn",
            Enforcement::Audit => "audit",
        }
    }
}

/// Managed `hookhost.daemon` (what `crate::daemon::auto` does with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DaemonMode {
    /// The thin client's first event starts this user's daemon and is answered in-process;
    /// later events take the warm path.
    #[default]
    Auto,
    /// No automatic daemon: every event is evaluated in-process (an explicit `HOOKHOST_SOCKET`
    /// is still honoured).
    Off,
    /// Events are answered by a daemon only: when none answers, one is started and waited for
    /// (bounded); if it still does not answer, the event fails closed, naming the cause.
    Required,
}

impl DaemonMode {
    pub fn parse(s: &str) -> Option<DaemonMode> {
        match s {
            "auto" => Some(DaemonMode::Auto),
            "off" => Some(DaemonMode::Off),
            "required" => Some(DaemonMode::Required),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DaemonMode::Auto => "auto",
            DaemonMode::Off => "off",
            DaemonMode::Required => "required",
        }
    }
}
