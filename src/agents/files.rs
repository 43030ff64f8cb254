//! Where each agent keeps its config files: the one path knowledge shared by `hookhost install`
//! / `doctor` (`crate::install`) and the daemon's config guard (`crate::daemon::guard`).
//!
//! Owns: [`InstallScope`], [`location`] (the file `install --agent X --scope S` writes),
//! [`guarded`] (every file of an agent at a scope that can turn its hooks off: the install
//! location plus, for Codex, `config.toml` beside `hooks.json`) and [`registered`] (whether a
//! config file's text registers hookhost). Promises: every path is overridable by the same
//! variables (`$HOME`, `HOOKHOST_INSTALL_ETC`, `CODEX_HOME`, `COPILOT_HOME`,
//! `GEMINI_CLI_SYSTEM_SETTINGS_PATH`, `QWEN_CODE_SYSTEM_SETTINGS_PATH`). Does not read or write
//! any file.

use std::path::{Path, PathBuf};

use super::Agent;

/// Where an agent's config file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum InstallScope {
    Managed,
    User,
    Project,
}

impl InstallScope {
    pub fn name(self) -> &'static str {
        match self {
            InstallScope::Managed => "managed",
            InstallScope::User => "user",
            InstallScope::Project => "project",
        }
    }

    /// The ConfigChange `source` Claude Code gives a file of this scope.
    pub fn config_source(self) -> &'static str {
        match self {
            InstallScope::Managed => "policy_settings",
            InstallScope::User => "user_settings",
            InstallScope::Project => "project_settings",
        }
    }
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn codex_home(home: &Path) -> PathBuf {
    env_path("CODEX_HOME").unwrap_or_else(|| home.join(".codex"))
}

/// The agent's config file at `scope`.
pub fn location(agent: Agent, scope: InstallScope, project: &Path) -> Result<PathBuf, String> {
    let etc = env_path("HOOKHOST_INSTALL_ETC").unwrap_or_else(|| PathBuf::from("/etc"));
    let home = env_path("HOME").ok_or("HOME is not set")?;
    use Agent::*;
    use InstallScope::*;
    Ok(match (agent, scope) {
        (Claude, Managed) => etc.join("claude-code/managed-settings.json"),
        (Claude, User) => home.join(".claude/settings.json"),
        (Claude, Project) => project.join(".claude/settings.json"),
        (Codex, Managed) => etc.join("codex/requirements.toml"),
        (Codex, User) => codex_home(&home).join("hooks.json"),
        (Codex, Project) => project.join(".codex/hooks.json"),
        (Gemini, Managed) => {
            env_path("GEMINI_CLI_SYSTEM_SETTINGS_PATH").unwrap_or_else(|| etc.join("gemini-cli/settings.json"))
        }
        (Gemini, User) => home.join(".gemini/settings.json"),
        (Gemini, Project) => project.join(".gemini/settings.json"),
        (Copilot, Managed) => {
            return Err("Copilot CLI has no known managed config location; name one with --config".into());
        }
        (Copilot, User) => env_path("COPILOT_HOME").unwrap_or_else(|| home.join(".copilot")).join("settings.json"),
        (Copilot, Project) => project.join(".github/hooks/hookhost.json"),
        (Qwen, Managed) => {
            env_path("QWEN_CODE_SYSTEM_SETTINGS_PATH").unwrap_or_else(|| etc.join("qwen-code/settings.json"))
        }
        (Qwen, User) => home.join(".qwen/settings.json"),
        (Qwen, Project) => project.join(".qwen/settings.json"),
        (Cursor, Managed) => etc.join("cursor/hooks.json"),
        (Cursor, User) => home.join(".cursor/hooks.json"),
        (Cursor, Project) => project.join(".cursor/hooks.json"),
    })
}

/// Every file of `agent` at `scope` whose change can loosen what the agent runs: the install
/// [`location`], plus Codex's `config.toml` (inline `[hooks]`, features) beside `hooks.json`.
/// Empty where the agent has no file at that scope.
pub fn guarded(agent: Agent, scope: InstallScope, project: &Path) -> Vec<PathBuf> {
    let Ok(main) = location(agent, scope, project) else { return Vec::new() };
    let mut v = vec![main];
    if agent == Agent::Codex && scope != InstallScope::Managed {
        let dir = match scope {
            InstallScope::User => env_path("HOME").map(|h| codex_home(&h)),
            _ => Some(project.join(".codex")),
        };
        v.extend(dir.map(|d| d.join("config.toml")));
    }
    v
}

/// Whether `text` (an agent config file) registers hookhost.
pub fn registered(text: &str) -> bool {
    text.lines().any(|l| l.contains("hookhost") && l.contains("dispatch"))
}
