//! Resolved hooks: what one configured hook is, after its settings entry was validated.
//!
//! A `Hook` carries everything needed to decide whether it applies to an event (event name,
//! compiled matcher, `if` rule) and to run it (handler, timeout, failure policy), plus its origin
//! (scope, file, line, column) so every report can say where it came from.

use std::path::PathBuf;
use std::time::Duration;

use crate::matcher::Matcher;
use crate::permissions::Rule;

/// Claude Code's default timeout for command hooks.
pub use crate::event::facts::DEFAULT_TIMEOUT;

/// The default timeout of a hook registered for `event` (the event's facts: Claude Code's 600 s,
/// but 30 s for `UserPromptSubmit`, 10 s for `MessageDisplay` and 1.5 s for `SessionEnd`).
pub fn default_timeout(event: &str) -> Duration {
    crate::event::facts_of(event).default_timeout
}

/// Substitutes `${CLAUDE_PROJECT_DIR}` and `$CLAUDE_PROJECT_DIR` in a path or word written in
/// settings (an empty string when there is no project directory). Used wherever hookhost, not a
/// shell, reads such a word: exec-form commands, script pins, sandbox grants, wasm components.
pub fn expand_project_dir(s: &str, project_dir: Option<&std::path::Path>) -> String {
    let p = project_dir.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    s.replace("${CLAUDE_PROJECT_DIR}", &p).replace("$CLAUDE_PROJECT_DIR", &p)
}

pub use crate::vocab::{Enforcement, Origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Allow,
    Block,
}

/// The shell of a shell-form command hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shell {
    /// `/bin/sh -c`.
    Sh,
    /// `bash -c`.
    Bash,
}

/// A command hook: shell form (`command` run by the shell) or exec form (`command` + `args`,
/// no shell).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandHook {
    pub command: String,
    pub args: Option<Vec<String>>,
    pub shell: Shell,
}

/// A WebAssembly component hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmHook {
    pub component: PathBuf,
    pub memory_mb: Option<u64>,
    pub fuel: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    Command(CommandHook),
    Wasm(WasmHook),
    /// A Claude Code hook type hookhost does not run (`http`, `prompt`, `agent`, `mcp_tool`, or
    /// `shell: "powershell"`): it fails with `Unsupported` and its failure policy decides.
    Unsupported {
        kind: String,
    },
}

/// One configured hook.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The event it is registered for, e.g. `PreToolUse`.
    pub event: String,
    pub matcher: Matcher,
    /// The matcher as written (`None` when absent).
    pub matcher_source: Option<String>,
    pub handler: Handler,
    /// `if`: one permission rule the tool call must match.
    pub if_rule: Option<Rule>,
    pub timeout: Duration,
    pub on_failure: Option<OnFailure>,
    pub is_async: bool,
    /// `mode`: how the hook's answer is applied.
    pub enforcement: Enforcement,
    pub status_message: Option<String>,
    pub sha256: Option<String>,
    /// The `sandbox` object, parsed and checked at load (applied by the sandbox layer over the
    /// managed defaults, under the managed floor: `ManagedSandbox::resolve`).
    pub sandbox: Option<crate::sandbox_settings::SandboxOverrides>,
    pub origin: Origin,
    /// sha256 (hex) of the hook's definition as written: its event, its group's matcher and its
    /// handler object, re-serialized compactly with keys in written order. Project trust
    /// (`crate::trust`) records it: any edit of the entry except whitespace changes it.
    pub definition_sha256: String,
    /// `name`: what metrics call this hook (`[A-Za-z0-9_.-]`, 1–64 characters); see
    /// [`Hook::metric_label`].
    pub name: Option<String>,
    /// `rollback: true` on a PostToolUse hook: the file a matching edit tool changes is
    /// snapshotted at PreToolUse and restored when the PostToolUse fold blocks
    /// (`crate::rollback`).
    pub rollback: bool,
}

impl Hook {
    /// How reasons and reports name this hook: `[<command>]`, as Claude Code does.
    pub fn label(&self) -> String {
        match &self.handler {
            Handler::Command(c) => match &c.args {
                None => format!("[{}]", c.command),
                Some(a) => {
                    let mut parts = vec![c.command.as_str()];
                    parts.extend(a.iter().map(String::as_str));
                    format!("[{}]", shlex::try_join(parts).unwrap_or_else(|_| c.command.clone()))
                }
            },
            Handler::Wasm(w) => format!("[wasm {}]", w.component.display()),
            Handler::Unsupported { kind } => format!("[{kind} hook]"),
        }
    }

    /// The hook's label in metrics: `<scope>:<name>`, else `<scope>:<first 8 hex digits of
    /// definition_sha256>`; never its command line or path.
    pub fn metric_label(&self) -> String {
        match &self.name {
            Some(n) => format!("{}:{n}", self.origin.scope.as_str()),
            None => format!(
                "{}:{}",
                self.origin.scope.as_str(),
                &self.definition_sha256[..8.min(self.definition_sha256.len())]
            ),
        }
    }

    /// Identical handlers in several settings files run once: this is what "identical" means.
    pub fn dedup_key(&self) -> Option<String> {
        match &self.handler {
            Handler::Command(c) => Some(format!("command\0{:?}\0{}\0{:?}", c.shell, c.command, c.args)),
            Handler::Wasm(w) => Some(format!("wasm\0{}", w.component.display())),
            Handler::Unsupported { .. } => None,
        }
    }

    pub fn kind(&self) -> &str {
        match &self.handler {
            Handler::Command(_) => "command",
            Handler::Wasm(_) => "wasm",
            Handler::Unsupported { kind } => kind,
        }
    }
}

/// A wasm hook's component file: `$CLAUDE_PROJECT_DIR` expanded, and a relative path taken
/// relative to the settings file that configured the hook.
pub fn wasm_component_path(hook: &Hook, w: &WasmHook, project_dir: Option<&std::path::Path>) -> PathBuf {
    let written = w.component.to_string_lossy();
    let path = match project_dir {
        Some(p) if written.contains("CLAUDE_PROJECT_DIR") => PathBuf::from(expand_project_dir(&written, Some(p))),
        _ => w.component.clone(),
    };
    match hook.origin.path.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}
