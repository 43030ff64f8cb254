//! `hookhost init`: a starting policy and the Claude Code registration, written where they
//! belong, with what was written and where printed.
//!
//! `--managed` (the default) writes `$HOOKHOST_MANAGED_DIR/managed-settings.json` (default
//! `/etc/hookhost`) and registers `hookhost dispatch` in Claude Code's managed settings
//! (`/etc/claude-code/managed-settings.json`); `--project` writes `<project>/.hookhost/settings.json`
//! and registers in `<project>/.claude/settings.json`. `--claude-settings FILE` names another
//! Claude Code file.
//!
//! Promises: nothing is overwritten (an existing file is left as it is and reported, unless
//! `--force`; an existing Claude Code file is never rewritten: the registration to merge is
//! printed instead); every policy written passes `hookhost check` (a test loads each preset at
//! its scope through the linter); comments are `$comment` keys, which hookhost ignores.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::event::EventName;

/// The starting policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The seed's managed example: deny `curl`/`wget` in Bash, reading or editing `.env` files
    /// and `secrets/**`; managed permission rules only.
    ClaudeCodeBaseline,
    /// The baseline, plus: only managed hooks run, Bash rules see through `bash -c` and other
    /// wrappers, and PreToolUse and ConfigChange fail closed when a hook breaks.
    Strict,
    /// No rules or hooks: only the comments saying where things go.
    Empty,
}

/// Where `init` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Managed,
    Project,
}

/// How long Claude Code waits for `hookhost dispatch`, in seconds: above every hook's own
/// deadline, since Claude Code proceeds when its hook times out.
pub const REGISTRATION_TIMEOUT_SECONDS: u64 = 120;

/// The events `init` registers hookhost for.
const EVENTS: &[&str] = &[
    EventName::PreToolUse.as_str(),
    EventName::PostToolUse.as_str(),
    EventName::ConfigChange.as_str(),
    EventName::UserPromptSubmit.as_str(),
    EventName::SessionStart.as_str(),
    EventName::Stop.as_str(),
];

/// The policy text of `preset` for `target` (managed-only keys only in managed settings).
pub fn policy(preset: Preset, target: Target) -> Value {
    let mut p = serde_json::Map::new();
    p.insert(
        "$comment".into(),
        json!([
            "hookhost policy written by `hookhost init`. Every key: README.md, section Settings.",
            "Check it with `hookhost check` (every problem, located); try an event with `hookhost explain < event.json`.",
            "Block a command: add \"Bash(cmd *)\" to permissions.deny. Protect a path: \"Read(./path)\" and \"Edit(./path)\".",
            format!(
                "Hooks: \"hooks\": {{\"{}\": [{{\"matcher\": \"Bash\", \"hooks\": [{{\"type\": \"command\", \"command\": \"/path/hook.sh\", \"timeout\": 10}}]}}]}}",
                EventName::PreToolUse
            )
        ]),
    );
    if preset == Preset::Empty {
        return Value::Object(p);
    }
    p.insert(
        "permissions".into(),
        json!({"deny": [
            "Bash(curl *)", "Bash(wget *)",
            "Read(./.env)", "Read(./.env.*)", "Edit(./.env)", "Edit(./.env.*)",
            "Read(./secrets/**)", "Edit(./secrets/**)"
        ]}),
    );
    if target == Target::Managed {
        p.insert("allowManagedPermissionRulesOnly".into(), json!(true));
        if preset == Preset::Strict {
            p.insert("allowManagedHooksOnly".into(), json!(true));
            p.insert("failClosed".into(), json!([EventName::PreToolUse.as_str(), EventName::ConfigChange.as_str()]));
            p.insert("hookhost".into(), json!({"strictBashRules": true, "strictCheck": true}));
        }
    }
    Value::Object(p)
}

/// Claude Code's hook registration for hookhost, with a `timeout`.
pub fn registration(target: Target) -> Value {
    let mut hooks = serde_json::Map::new();
    for e in EVENTS {
        hooks.insert(
            (*e).into(),
            json!([{"matcher": "*", "hooks": [{"type": "command", "command": "hookhost dispatch",
                                               "timeout": REGISTRATION_TIMEOUT_SECONDS}]}]),
        );
    }
    let mut r = serde_json::Map::new();
    if target == Target::Managed {
        // Claude Code then runs only this hook, not hooks of its own settings files.
        r.insert("allowManagedHooksOnly".into(), json!(true));
    }
    r.insert("hooks".into(), Value::Object(hooks));
    Value::Object(r)
}

/// What `init` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    pub preset: Preset,
    /// The hookhost settings file to write.
    pub policy_file: PathBuf,
    /// Claude Code's settings file to register in.
    pub claude_file: PathBuf,
    pub force: bool,
}

/// Writes the policy and the registration; prints what and where. Returns the exit code.
pub fn run(r: &Request, out: &mut dyn std::io::Write) -> std::io::Result<u8> {
    let text = pretty(&policy(r.preset, r.target));
    let mut code = 0;
    if r.policy_file.exists() && !r.force {
        writeln!(
            out,
            "kept {} (it exists; --force replaces it). The policy it would get:\n{text}",
            r.policy_file.display()
        )?;
        code = 1;
    } else {
        match write_new(&r.policy_file, &text) {
            Ok(()) => writeln!(
                out,
                "wrote {} ({:?} preset, {} scope)\n  check it: hookhost check{}",
                r.policy_file.display(),
                r.preset,
                if r.target == Target::Managed { "managed" } else { "project" },
                if r.target == Target::Project {
                    "; then review it and run `hookhost trust` for its hooks"
                } else {
                    ""
                }
            )?,
            Err(e) => {
                writeln!(out, "cannot write {}: {e}", r.policy_file.display())?;
                code = 1;
            }
        }
    }
    let reg = pretty(&registration(r.target));
    if r.claude_file.exists() {
        writeln!(
            out,
            "\n{} exists and is not changed: merge this registration into it (Claude Code waits up to {}s for \
             hookhost; keep that above your slowest hook's timeout):\n{reg}",
            r.claude_file.display(),
            REGISTRATION_TIMEOUT_SECONDS
        )?;
    } else {
        match write_new(&r.claude_file, &reg) {
            Ok(()) => writeln!(
                out,
                "wrote {}: Claude Code runs `hookhost dispatch` for {} (timeout {}s)",
                r.claude_file.display(),
                EVENTS.join(", "),
                REGISTRATION_TIMEOUT_SECONDS
            )?,
            Err(e) => {
                writeln!(out, "cannot write {}: {e}; the registration to put there:\n{reg}", r.claude_file.display())?;
                code = 1;
            }
        }
    }
    Ok(code)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{Severity, lint_text};
    use crate::settings::Scope;

    #[test]
    fn every_preset_passes_check_at_its_scope() {
        for preset in [Preset::ClaudeCodeBaseline, Preset::Strict, Preset::Empty] {
            for (target, scope) in [(Target::Managed, Scope::Managed), (Target::Project, Scope::Project)] {
                let text = pretty(&policy(preset, target));
                let f = lint_text(&text, Path::new("/x.json"), scope, None);
                assert!(f.is_empty(), "{preset:?} {target:?}: {f:#?}");
                let _ = Severity::Error;
            }
        }
        let reg = registration(Target::Managed);
        assert_eq!(reg["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"], REGISTRATION_TIMEOUT_SECONDS);
    }
}
