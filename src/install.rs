//! `hookhost install --agent X`: registers `hookhost dispatch --agent X` as that agent's command
//! hook for every event hookhost handles, in the agent's own config file at one scope; and the
//! per-agent part of `hookhost doctor`.
//!
//! Promises: merges into an existing file without losing a key it does not own (JSON objects
//! keep their keys and order; Codex's TOML goes through `toml_edit`, which keeps comments and
//! formatting); idempotent (a second run changes nothing and writes nothing); the previous
//! content is kept beside the file as `<file>.hookhost-backup` before a change; `--dry-run`
//! prints a unified diff and writes nothing; `--uninstall` removes exactly the entries it owns
//! (a hook whose command runs `hookhost … dispatch`). A file that does not parse is an error
//! naming it, and is not touched. Every path is overridable: `--config FILE`, `$HOME`,
//! `--project-dir`, `HOOKHOST_INSTALL_ETC` (the `/etc` of managed files) and the agents' own
//! variables (`CODEX_HOME`, `COPILOT_HOME`, `GEMINI_CLI_SYSTEM_SETTINGS_PATH`,
//! `QWEN_CODE_SYSTEM_SETTINGS_PATH`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::agents::Agent;

use crate::agents::files::registered;
pub use crate::agents::files::{InstallScope, location};

#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// The agent to register hookhost with.
    #[arg(long, value_enum)]
    pub agent: Agent,
    /// Which of the agent's config files (managed: the system file the admin owns).
    #[arg(long, value_enum, default_value_t = InstallScope::User)]
    pub scope: InstallScope,
    /// Print the change as a unified diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove hookhost's entries instead.
    #[arg(long)]
    pub uninstall: bool,
    /// The config file to change (default: the agent's file at that scope).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The hookhost command the agent runs (default: this binary's absolute path).
    #[arg(long, value_name = "PATH")]
    pub hookhost: Option<String>,
}

/// The agent's events hookhost registers for (in the agent's spelling: `Agent::hook_events`).
pub fn events(agent: Agent) -> &'static [&'static str] {
    agent.hook_events()
}

/// The command the agent runs for `event`.
pub fn command(hookhost: &str, agent: Agent, event: &str) -> String {
    let q = shlex::try_quote(hookhost).map(|c| c.into_owned()).unwrap_or_else(|_| hookhost.to_string());
    match agent {
        Agent::Claude => format!("{q} dispatch"),
        Agent::Copilot => format!("{q} dispatch --agent copilot --agent-event {event}"),
        a => format!("{q} dispatch --agent {}", a.name()),
    }
}

/// Whether a hook command is one of hookhost's.
pub fn is_ours(cmd: &str) -> bool {
    let mut words = cmd.split_whitespace();
    words.next().is_some_and(|w| w.trim_matches('\'').ends_with("hookhost")) && words.any(|w| w == "dispatch")
}

fn hook_cmd(h: &Value) -> Option<&str> {
    h.get("command").or_else(|| h.get("bash")).and_then(Value::as_str)
}

/// One entry for `event` in the agent's schema.
fn entry(agent: Agent, cmd: &str) -> Value {
    match agent {
        Agent::Claude => json!({"matcher": "*", "hooks": [{"type": "command", "command": cmd, "timeout": 600}]}),
        Agent::Codex | Agent::Qwen => json!({"hooks": [{"type": "command", "command": cmd, "timeout": 60}]}),
        Agent::Gemini => json!({"matcher": "*", "hooks": [{"type": "command", "command": cmd, "timeout": 60000}]}),
        Agent::Copilot => json!({"type": "command", "bash": cmd, "timeoutSec": 60}),
        Agent::Cursor => json!({"command": cmd}),
    }
}

/// Removes hookhost's hooks from an event's list (groups or flat entries); keeps the rest.
fn strip_ours(list: &mut Vec<Value>) {
    list.retain_mut(|item| {
        if hook_cmd(item).is_some_and(is_ours) {
            return false;
        }
        if let Some(Value::Array(hooks)) = item.get_mut("hooks") {
            let before = hooks.len();
            hooks.retain(|h| !hook_cmd(h).is_some_and(is_ours));
            return !(hooks.is_empty() && before > 0);
        }
        true
    });
}

/// The new JSON text of an agent's config file.
pub fn merge_json(agent: Agent, old: &str, hookhost: &str, uninstall: bool) -> Result<String, String> {
    let mut root: Map<String, Value> = if old.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str(old) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("not a JSON object".into()),
            Err(e) => return Err(format!("line {} column {}: {e}", e.line(), e.column())),
        }
    };
    if matches!(agent, Agent::Cursor) && !uninstall {
        root.entry("version").or_insert(1.into());
    }
    if agent == Agent::Gemini && !uninstall {
        let cfg = root.entry("hooksConfig").or_insert_with(|| json!({}));
        if let Value::Object(c) = cfg {
            c.insert("enabled".into(), true.into());
        }
    }
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let Value::Object(hooks) = hooks else { return Err("`hooks` is not an object".into()) };
    for e in events(agent) {
        let list = hooks.entry(*e).or_insert_with(|| json!([]));
        let Value::Array(list) = list else { return Err(format!("`hooks.{e}` is not a list")) };
        strip_ours(list);
        if !uninstall {
            list.push(entry(agent, &command(hookhost, agent, e)));
        }
        if list.is_empty() {
            hooks.remove(*e);
        }
    }
    if hooks.is_empty() && uninstall {
        root.remove("hooks");
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(root)).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// The new TOML text of Codex's managed `requirements.toml` (`toml_edit`: comments kept).
pub fn merge_toml(old: &str, hookhost: &str, uninstall: bool) -> Result<String, String> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = old.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    if !uninstall {
        doc["allow_managed_hooks_only"] = value(true);
    }
    if doc.get("hooks").is_none() {
        if uninstall {
            return Ok(doc.to_string());
        }
        let mut t = Table::new();
        t.set_implicit(true);
        doc["hooks"] = Item::Table(t);
    }
    let Some(hooks) = doc["hooks"].as_table_mut() else { return Err("`hooks` is not a table".into()) };
    for e in events(Agent::Codex) {
        if hooks.get(e).is_none() {
            if uninstall {
                continue;
            }
            hooks.insert(e, Item::ArrayOfTables(ArrayOfTables::new()));
        }
        let Some(groups) = hooks.get_mut(e).and_then(Item::as_array_of_tables_mut) else {
            return Err(format!("`hooks.{e}` is not an array of tables"));
        };
        groups.retain(|g| {
            !g.get("hooks")
                .and_then(Item::as_array_of_tables)
                .is_some_and(|hs| hs.iter().any(|h| h.get("command").and_then(Item::as_str).is_some_and(is_ours)))
        });
        if !uninstall {
            let mut h = Table::new();
            h["type"] = value("command");
            h["command"] = value(command(hookhost, Agent::Codex, e));
            h["timeout"] = value(60);
            let mut inner = ArrayOfTables::new();
            inner.push(h);
            let mut g = Table::new();
            g.insert("hooks", Item::ArrayOfTables(inner));
            groups.push(g);
        }
        if groups.is_empty() {
            hooks.remove(e);
        }
    }
    Ok(doc.to_string())
}

/// `hookhost install`.
pub fn run(project_dir: Option<&Path>, a: &InstallArgs, out: &mut dyn std::io::Write) -> Result<u8, String> {
    let project = match project_dir {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    let path = match &a.config {
        Some(p) => p.clone(),
        None => location(a.agent, a.scope, &project)?,
    };
    let hookhost = match &a.hookhost {
        Some(h) => h.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find the hookhost binary: {e}"))?
            .to_string_lossy()
            .into_owned(),
    };
    let old = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let toml = path.extension().is_some_and(|x| x == "toml");
    let new =
        if toml { merge_toml(&old, &hookhost, a.uninstall) } else { merge_json(a.agent, &old, &hookhost, a.uninstall) }
            .map_err(|e| format!("{}: {e}; not changed", path.display()))?;
    let verb = if a.uninstall { "uninstall" } else { "install" };
    if new == old || (old.is_empty() && a.uninstall) {
        writeln!(
            out,
            "{}: hookhost already {verb}ed for {} ({}); nothing to do",
            path.display(),
            a.agent.name(),
            a.scope.name()
        )
        .map_err(|e| e.to_string())?;
        return Ok(0);
    }
    if a.dry_run {
        let diff = similar::TextDiff::from_lines(&old, &new);
        let shown = path.display().to_string();
        write!(out, "{}", diff.unified_diff().header(&shown, &shown)).map_err(|e| e.to_string())?;
        return Ok(0);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if !old.is_empty() {
        let backup = backup_path(&path);
        std::fs::write(&backup, &old).map_err(|e| format!("{}: {e}", backup.display()))?;
        writeln!(out, "backup: {}", backup.display()).map_err(|e| e.to_string())?;
    }
    // The agent's config keeps its mode (a new one is private: it may hold tokens).
    crate::atomic_file::replace(&path, new.as_bytes(), crate::atomic_file::Mode::KeepOr(0o600), None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(out, "{}: hookhost {verb}ed for {} ({} scope)", path.display(), a.agent.name(), a.scope.name())
        .map_err(|e| e.to_string())?;
    Ok(0)
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".hookhost-backup");
    PathBuf::from(s)
}

/// What in a lower-scope file could turn hooks off.
fn disables(agent: Agent, text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    if v.get("disableAllHooks").and_then(Value::as_bool) == Some(true) {
        return Some("disableAllHooks: true".into());
    }
    if agent == Agent::Gemini && v.pointer("/hooksConfig/enabled").and_then(Value::as_bool) == Some(false) {
        return Some("hooksConfig.enabled: false".into());
    }
    None
}

/// `hookhost doctor`'s agents section: per agent with hookhost installed, where it is
/// registered and what at a lower scope could bypass it.
pub fn doctor_report(project: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for agent in Agent::ALL {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for scope in [InstallScope::Managed, InstallScope::User, InstallScope::Project] {
            let Ok(path) = location(agent, scope, project) else { continue };
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            if registered(&text) {
                found.push((scope, path.clone()));
            }
            if scope != InstallScope::Managed
                && let Some(d) = disables(agent, &text)
            {
                problems.push(format!("{} ({}) has {d}", path.display(), scope.name()));
            }
        }
        if found.is_empty() {
            continue;
        }
        let at: Vec<String> = found.iter().map(|(s, p)| format!("{} ({})", p.display(), s.name())).collect();
        lines.push(format!("agent {}: hookhost registered in {}", agent.name(), at.join(", ")));
        if !found.iter().any(|(s, _)| *s == InstallScope::Managed) {
            problems.push(
                "not registered at managed scope: the agent runs as the user and can edit the user and project files"
                    .into(),
            );
        }
        if agent == Agent::Codex {
            problems.push("Codex runs user-level hooks only when they are trusted (observed in 0.169.0)".into());
        }
        for p in problems {
            lines.push(format!("  WARNING: {p}"));
        }
    }
    if lines.is_empty() {
        lines.push("agents: hookhost is not registered with any agent (hookhost install --agent X)".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_merge_is_idempotent_keeps_keys_and_uninstalls_exactly() {
        let old = "{\n  \"theme\": \"dark\",\n  \"hooks\": {\"BeforeTool\": [{\"matcher\": \"x\", \"hooks\": [{\"type\": \"command\", \"command\": \"mine\"}]}]}\n}\n";
        let once = merge_json(Agent::Gemini, old, "/usr/bin/hookhost", false).unwrap();
        let twice = merge_json(Agent::Gemini, &once, "/usr/bin/hookhost", false).unwrap();
        assert_eq!(once, twice);
        let v: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(v["theme"], "dark");
        assert_eq!(v["hooksConfig"]["enabled"], true);
        assert_eq!(v["hooks"]["BeforeTool"].as_array().unwrap().len(), 2);
        assert_eq!(v["hooks"]["BeforeTool"][1]["hooks"][0]["command"], "/usr/bin/hookhost dispatch --agent gemini");
        let un: Value =
            serde_json::from_str(&merge_json(Agent::Gemini, &once, "/usr/bin/hookhost", true).unwrap()).unwrap();
        assert_eq!(
            un["hooks"],
            json!({"BeforeTool": [{"matcher": "x", "hooks": [{"type": "command", "command": "mine"}]}]})
        );
    }

    #[test]
    fn toml_merge_keeps_comments() {
        let old = "# admin's file\nmodel = \"x\" # keep me\n\n[sandbox]\nmode = \"strict\"\n";
        let once = merge_toml(old, "/usr/bin/hookhost", false).unwrap();
        assert!(once.contains("# admin's file") && once.contains("# keep me"), "{once}");
        assert!(once.contains("allow_managed_hooks_only = true"), "{once}");
        assert!(once.contains("/usr/bin/hookhost dispatch --agent codex"), "{once}");
        assert_eq!(merge_toml(&once, "/usr/bin/hookhost", false).unwrap(), once);
        let un = merge_toml(&once, "/usr/bin/hookhost", true).unwrap();
        assert!(!un.contains("dispatch"), "{un}");
        assert!(un.contains("# keep me") && un.contains("mode = \"strict\""), "{un}");
    }
}
