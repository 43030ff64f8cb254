//! Agent adapters (`hookhost dispatch --agent X`), checked against the captured payloads of each
//! agent (`tests/fixtures/agents/`, copies of the team's shared captures) and against a model of
//! what each agent honours in an answer, written from the fixture READMEs' observation tables
//! (not from the adapters' code):
//! - every fixture of every agent routes (the canonical event name), maps (tool name and keys,
//!   the original payload under `agent.payload`) and reaches a real hook;
//! - a table per agent: deny / allow / ask / defer / rewrite / stop / no opinion, each answered
//!   by a real hook through a real `hookhost dispatch` process, read back with the agent model;
//! - a property: for every canonical decision, the rendered answer means the same or a stricter
//!   decision to the agent, never a weaker one;
//! - permission rules bind every agent's tools; the daemon gives the same answers.

use std::path::PathBuf;

use hookhost::agents::{Agent, Inbound};
use hookhost::decision::{Permission, Response, Verdict, render};
use hookhost::event::HookEvent;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::support::{Env, Output, fixture, fixture_names, repo, run};

fn agents_dir() -> PathBuf {
    repo().join("tests/fixtures/agents")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(agents_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `hookhost dispatch --agent AGENT [--agent-event HINT]`.
fn dispatch(env: &Env, agent: &str, hint: Option<&str>, payload: &[u8]) -> Output {
    let mut args = vec!["dispatch", "--agent", agent];
    if let Some(h) = hint {
        args.extend(["--agent-event", h]);
    }
    env.run(&args, payload)
}

// ---------------------------------------------------------------------------------------------
// What each agent does with an answer (fixture READMEs' "Responses" tables).

#[derive(Debug, Clone, PartialEq)]
enum Effect {
    /// The tool ran as asked.
    Ran,
    /// The tool ran with this command instead.
    RanWith(String),
    /// The user is asked (or, headless, the call is blocked).
    Asked,
    /// The call is blocked; the text the model gets.
    Blocked(String),
    /// The whole session stops.
    Stopped,
    /// The agent hangs (Gemini's headless `ask`).
    Hung,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dialect {
    Plain,
    /// Copilot camelCase config keys.
    CopilotCamel,
    /// Copilot PascalCase ("VS Code compatible") keys.
    CopilotPascal,
    /// Cursor beforeShellExecution (permission form).
    CursorShell,
    /// Cursor preToolUse (decision and permission forms, unconfirmed which one is read).
    CursorPreTool,
}

fn stdout_json(r: &Response) -> Option<Map<String, Value>> {
    let t = r.stdout.trim();
    if t.is_empty() {
        return Some(Map::new());
    }
    match serde_json::from_str(t) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn cmd_of(v: &Value) -> String {
    v.get("command").and_then(Value::as_str).unwrap_or("").to_string()
}

/// What `agent` does with the answer `r` to a pre-tool event whose original tool input was
/// `original`.
fn honour(agent: Agent, dialect: Dialect, r: &Response, original: &Value) -> Effect {
    match agent {
        Agent::Claude => unreachable!("Claude is checked byte for byte"),
        Agent::Codex => {
            // Observed: exit 2 with a reason blocks; JSON outside the supported set fails open.
            if r.exit_code == 2 {
                return if r.stderr.trim().is_empty() { Effect::Ran } else { Effect::Blocked(r.stderr.trim().into()) };
            }
            if r.exit_code != 0 {
                return Effect::Ran;
            }
            let Some(out) = stdout_json(r) else { return Effect::Ran };
            if out.keys().any(|k| !matches!(k.as_str(), "hookSpecificOutput" | "decision" | "reason")) {
                return Effect::Ran; // continue / stopReason / systemMessage: unsupported, fail open
            }
            if s(&out, "decision") == Some("block") {
                return Effect::Blocked(s(&out, "reason").unwrap_or("").into());
            }
            let Some(spec) = out.get("hookSpecificOutput").and_then(Value::as_object) else { return Effect::Ran };
            match s(spec, "permissionDecision") {
                Some("deny") => match s(spec, "permissionDecisionReason") {
                    Some(r) if !r.is_empty() => Effect::Blocked(r.into()),
                    _ => Effect::Ran,
                },
                Some("allow") => match spec.get("updatedInput") {
                    Some(u) => Effect::RanWith(cmd_of(u)),
                    None => Effect::Ran, // "unsupported permissionDecision:allow", fail open
                },
                _ => Effect::Ran, // ask: fail open
            }
        }
        Agent::Gemini => {
            if r.exit_code == 2 {
                return Effect::Blocked(r.stderr.trim().into());
            }
            let Some(out) = stdout_json(r).filter(|_| r.exit_code == 0) else { return Effect::Ran };
            if out.get("continue").and_then(Value::as_bool) == Some(false) {
                return Effect::Stopped;
            }
            match s(&out, "decision") {
                Some("deny" | "block") => {
                    return Effect::Blocked(s(&out, "reason").unwrap_or("No reason provided").into());
                }
                Some("ask") => return Effect::Hung,
                _ => {}
            }
            if let Some(ti) = out.get("hookSpecificOutput").and_then(|h| h.get("tool_input")).and_then(Value::as_object)
            {
                // Merged into the original arguments.
                let mut merged = original.as_object().cloned().unwrap_or_default();
                merged.extend(ti.clone());
                return Effect::RanWith(cmd_of(&Value::Object(merged)));
            }
            Effect::Ran
        }
        Agent::Copilot => {
            if r.exit_code == 2 {
                return Effect::Blocked("hook exited with code 2".into());
            }
            let Some(out) = stdout_json(r).filter(|_| r.exit_code == 0) else { return Effect::Ran };
            let mut forms = vec![out.clone()];
            if dialect == Dialect::CopilotPascal
                && let Some(spec) = out.get("hookSpecificOutput").and_then(Value::as_object)
            {
                forms.push(spec.clone());
            }
            for f in &forms {
                match s(f, "permissionDecision") {
                    Some("deny") => {
                        return Effect::Blocked(
                            s(f, "permissionDecisionReason").unwrap_or("No reason provided").into(),
                        );
                    }
                    Some("ask") => return Effect::Asked,
                    Some("allow") => {
                        if let Some(m) = f.get("modifiedArgs").or_else(|| f.get("updatedInput")) {
                            return Effect::RanWith(cmd_of(m));
                        }
                    }
                    _ => {}
                }
            }
            Effect::Ran
        }
        Agent::Qwen => {
            if r.exit_code == 2 {
                return Effect::Blocked(r.stderr.trim().into());
            }
            let Some(out) = stdout_json(r).filter(|_| r.exit_code == 0) else { return Effect::Ran };
            if out.get("continue").and_then(Value::as_bool) == Some(false) {
                return Effect::Blocked(s(&out, "stopReason").unwrap_or("").into()); // that call only
            }
            if matches!(s(&out, "decision"), Some("deny" | "block")) {
                return Effect::Blocked(s(&out, "reason").unwrap_or("").into());
            }
            let spec = out.get("hookSpecificOutput").and_then(Value::as_object).cloned().unwrap_or_default();
            match s(&spec, "permissionDecision") {
                Some("deny") => Effect::Blocked(s(&spec, "permissionDecisionReason").unwrap_or("").into()),
                Some("ask") => Effect::Asked,
                _ => Effect::Ran, // updatedInput is ignored: the original runs
            }
        }
        Agent::Cursor => {
            // Documented only. Exit 2 is a deny whatever the JSON says; otherwise the answer
            // must mean the same in every form it could be read in: the weakest reading counts.
            if r.exit_code == 2 {
                return Effect::Blocked(r.stderr.trim().into());
            }
            let Some(out) = stdout_json(r).filter(|_| r.exit_code == 0) else { return Effect::Ran };
            let permission_reading = match s(&out, "permission") {
                Some("deny") => Effect::Blocked(s(&out, "agent_message").unwrap_or("").into()),
                Some("ask") if dialect == Dialect::CursorShell => Effect::Asked,
                Some("ask") => Effect::Ran,
                _ => match out.get("updated_input") {
                    Some(u) if dialect == Dialect::CursorPreTool => Effect::RanWith(cmd_of(u)),
                    _ => Effect::Ran,
                },
            };
            if dialect != Dialect::CursorPreTool {
                return permission_reading;
            }
            let decision_reading = match s(&out, "decision") {
                Some("deny") => Effect::Blocked(s(&out, "reason").unwrap_or("").into()),
                _ => match out.get("updated_input") {
                    Some(u) => Effect::RanWith(cmd_of(u)),
                    None => Effect::Ran,
                },
            };
            weakest(permission_reading, decision_reading)
        }
    }
}

fn rank(e: &Effect) -> u8 {
    match e {
        Effect::Hung => 0,
        Effect::Ran | Effect::RanWith(_) => 1,
        Effect::Asked => 2,
        Effect::Blocked(_) => 3,
        Effect::Stopped => 4,
    }
}

fn weakest(a: Effect, b: Effect) -> Effect {
    if a == b {
        return a;
    }
    if rank(&a) <= rank(&b) { a } else { b }
}

/// The canonical meaning of a verdict on PreToolUse.
fn canonical_effect(v: &Verdict) -> Effect {
    if v.stop {
        return Effect::Stopped;
    }
    match v.permission {
        Some(Permission::Deny | Permission::Defer) => Effect::Blocked(v.reason.clone().unwrap_or_default()),
        Some(Permission::Ask) => Effect::Asked,
        _ => match &v.updated_input {
            Some(u) => Effect::RanWith(cmd_of(u)),
            None => Effect::Ran,
        },
    }
}

/// Same or stricter, never weaker.
fn at_least(canonical: &Effect, got: &Effect) -> bool {
    match (canonical, got) {
        (_, Effect::Hung) => false,
        (Effect::Stopped, g) => matches!(g, Effect::Stopped | Effect::Blocked(_)),
        (Effect::Blocked(_), g) => matches!(g, Effect::Stopped | Effect::Blocked(_)),
        (Effect::Asked, g) => matches!(g, Effect::Stopped | Effect::Blocked(_) | Effect::Asked),
        (Effect::RanWith(c), g) => match g {
            Effect::RanWith(d) => c == d,
            Effect::Blocked(reason) => reason.contains(c.as_str()),
            Effect::Stopped => true,
            _ => false,
        },
        (Effect::Ran, g) => matches!(g, Effect::Ran),
        (Effect::Hung, _) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures: every capture routes, maps and reaches a hook.

/// (agent, fixture path, hint, canonical event, canonical tool)
/// (agent, fixture path, hint, canonical event, canonical tool)
type FixtureRow = (Agent, &'static str, Option<&'static str>, &'static str, Option<&'static str>);

fn fixture_table() -> Vec<FixtureRow> {
    use Agent::*;
    vec![
        (Codex, "codex-0.169.0/PreToolUse-Bash.json", None, "PreToolUse", Some("Bash")),
        (Codex, "codex-0.169.0/PostToolUse-Bash.json", None, "PostToolUse", Some("Bash")),
        (Codex, "codex-0.169.0/PreToolUse-apply_patch-add.json", None, "PreToolUse", Some("Write")),
        (Codex, "codex-0.169.0/PostToolUse-apply_patch-add.json", None, "PostToolUse", Some("Write")),
        (Codex, "codex-0.169.0/PreToolUse-apply_patch-update.json", None, "PreToolUse", Some("Edit")),
        (Codex, "codex-0.169.0/PostToolUse-apply_patch-update.json", None, "PostToolUse", Some("Edit")),
        (Codex, "codex-0.169.0/SessionStart.json", None, "SessionStart", None),
        (Codex, "codex-0.169.0/UserPromptSubmit.json", None, "UserPromptSubmit", None),
        (Codex, "codex-0.169.0/Stop.json", None, "Stop", None),
        (Codex, "codex-0.169.0/SessionEnd.json", None, "SessionEnd", None),
        (Gemini, "gemini-cli-0.61.0/BeforeTool-run_shell_command.json", None, "PreToolUse", Some("Bash")),
        (Gemini, "gemini-cli-0.61.0/AfterTool-run_shell_command.json", None, "PostToolUse", Some("Bash")),
        (Gemini, "gemini-cli-0.61.0/BeforeTool-write_file.json", None, "PreToolUse", Some("Write")),
        (Gemini, "gemini-cli-0.61.0/AfterTool-write_file.json", None, "PostToolUse", Some("Write")),
        (Gemini, "gemini-cli-0.61.0/BeforeTool-replace.json", None, "PreToolUse", Some("Edit")),
        (Gemini, "gemini-cli-0.61.0/AfterTool-replace.json", None, "PostToolUse", Some("Edit")),
        (Gemini, "gemini-cli-0.61.0/BeforeAgent.json", None, "UserPromptSubmit", None),
        (Gemini, "gemini-cli-0.61.0/AfterAgent.json", None, "Stop", None),
        (Gemini, "gemini-cli-0.61.0/PreCompress.json", None, "PreCompact", None),
        (Gemini, "gemini-cli-0.61.0/BeforeToolSelection.json", None, "BeforeToolSelection", None),
        (Gemini, "gemini-cli-0.61.0/SessionStart.json", None, "SessionStart", None),
        (Gemini, "gemini-cli-0.61.0/SessionEnd.json", None, "SessionEnd", None),
        (Qwen, "qwen-code-0.24.4/PreToolUse-run_shell_command.json", None, "PreToolUse", Some("Bash")),
        (Qwen, "qwen-code-0.24.4/PostToolUse-run_shell_command.json", None, "PostToolUse", Some("Bash")),
        (Qwen, "qwen-code-0.24.4/PreToolUse-read_file.json", None, "PreToolUse", Some("Read")),
        (Qwen, "qwen-code-0.24.4/PostToolUse-read_file.json", None, "PostToolUse", Some("Read")),
        (Qwen, "qwen-code-0.24.4/PreToolUse-write_file.json", None, "PreToolUse", Some("Write")),
        (Qwen, "qwen-code-0.24.4/PostToolUse-write_file.json", None, "PostToolUse", Some("Write")),
        (Qwen, "qwen-code-0.24.4/PreToolUse-edit.json", None, "PreToolUse", Some("Edit")),
        (Qwen, "qwen-code-0.24.4/PostToolUse-edit.json", None, "PostToolUse", Some("Edit")),
        (Qwen, "qwen-code-0.24.4/SessionStart.json", None, "SessionStart", None),
        (Qwen, "qwen-code-0.24.4/Notification.json", None, "Notification", None),
        (Qwen, "qwen-code-0.24.4/UserPromptSubmit.json", None, "UserPromptSubmit", None),
        (Qwen, "qwen-code-0.24.4/UserPromptSubmit-continuation.json", None, "UserPromptSubmit", None),
        (Qwen, "qwen-code-0.24.4/Stop.json", None, "Stop", None),
        (Copilot, "copilot-cli-1.0.102/preToolUse-bash.json", Some("preToolUse"), "PreToolUse", Some("Bash")),
        (Copilot, "copilot-cli-1.0.102/postToolUse-bash.json", Some("postToolUse"), "PostToolUse", Some("Bash")),
        (Copilot, "copilot-cli-1.0.102/preToolUse-create.json", Some("preToolUse"), "PreToolUse", Some("Write")),
        (Copilot, "copilot-cli-1.0.102/postToolUse-create.json", Some("postToolUse"), "PostToolUse", Some("Write")),
        (Copilot, "copilot-cli-1.0.102/preToolUse-edit.json", Some("preToolUse"), "PreToolUse", Some("Edit")),
        (Copilot, "copilot-cli-1.0.102/postToolUse-edit.json", Some("postToolUse"), "PostToolUse", Some("Edit")),
        (
            Copilot,
            "copilot-cli-1.0.102/preToolUse-apply_patch-add.json",
            Some("preToolUse"),
            "PreToolUse",
            Some("Write"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/postToolUse-apply_patch-add.json",
            Some("postToolUse"),
            "PostToolUse",
            Some("Write"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/preToolUse-apply_patch-update.json",
            Some("preToolUse"),
            "PreToolUse",
            Some("Edit"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/postToolUse-apply_patch-update.json",
            Some("postToolUse"),
            "PostToolUse",
            Some("Edit"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/permissionRequest-bash.json",
            Some("permissionRequest"),
            "PermissionRequest",
            Some("Bash"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/permissionRequest-edit.json",
            Some("permissionRequest"),
            "PermissionRequest",
            Some("Edit"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/permissionRequest-edit-for-create.json",
            Some("permissionRequest"),
            "PermissionRequest",
            Some("Edit"),
        ),
        (Copilot, "copilot-cli-1.0.102/sessionStart.json", Some("sessionStart"), "SessionStart", None),
        (
            Copilot,
            "copilot-cli-1.0.102/userPromptSubmitted.json",
            Some("userPromptSubmitted"),
            "UserPromptSubmit",
            None,
        ),
        (Copilot, "copilot-cli-1.0.102/agentStop.json", Some("agentStop"), "Stop", None),
        (Copilot, "copilot-cli-1.0.102/sessionEnd.json", Some("sessionEnd"), "SessionEnd", None),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PreToolUse-Bash.json", None, "PreToolUse", Some("Bash")),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PostToolUse-Bash.json", None, "PostToolUse", Some("Bash")),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PreToolUse-Write.json", None, "PreToolUse", Some("Write")),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PostToolUse-Write.json", None, "PostToolUse", Some("Write")),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PreToolUse-Edit.json", None, "PreToolUse", Some("Edit")),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/PostToolUse-Edit.json", None, "PostToolUse", Some("Edit")),
        (
            Copilot,
            "copilot-cli-1.0.102/vscode-compat/PreToolUse-Edit-apply_patch-add.json",
            None,
            "PreToolUse",
            Some("Write"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/vscode-compat/PostToolUse-Edit-apply_patch-add.json",
            None,
            "PostToolUse",
            Some("Write"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/vscode-compat/PreToolUse-Edit-apply_patch-update.json",
            None,
            "PreToolUse",
            Some("Edit"),
        ),
        (
            Copilot,
            "copilot-cli-1.0.102/vscode-compat/PostToolUse-Edit-apply_patch-update.json",
            None,
            "PostToolUse",
            Some("Edit"),
        ),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/SessionStart.json", None, "SessionStart", None),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/UserPromptSubmit.json", None, "UserPromptSubmit", None),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/Stop.json", None, "Stop", None),
        (Copilot, "copilot-cli-1.0.102/vscode-compat/SessionEnd.json", None, "SessionEnd", None),
    ]
}

#[test]
fn the_fixture_table_covers_every_capture_and_matches_the_shared_originals() {
    let mut listed: Vec<&str> = fixture_table().iter().map(|(_, f, ..)| *f).collect();
    listed.sort();
    let mut on_disk = Vec::new();
    for dir in [
        "codex-0.169.0",
        "gemini-cli-0.61.0",
        "qwen-code-0.24.4",
        "copilot-cli-1.0.102",
        "copilot-cli-1.0.102/vscode-compat",
    ] {
        for e in std::fs::read_dir(agents_dir().join(dir)).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".json") {
                on_disk.push(format!("{dir}/{n}"));
            }
        }
    }
    on_disk.sort();
    assert_eq!(listed, on_disk.iter().map(String::as_str).collect::<Vec<_>>());
    let shared = repo().join("../shared/fixtures");
    if shared.is_dir() {
        for f in &on_disk {
            assert_eq!(std::fs::read(shared.join(f)).unwrap(), read(f), "{f} drifted from shared/");
        }
    }
}

/// Settings whose hook (for every event) saves its stdin to `rec`.
fn recording_env() -> (Env, PathBuf) {
    let env = Env::new();
    let rec = env.path().join("rec.json");
    let hook = json!([{"type": "command", "command": format!("cat > {}", rec.display()), "timeout": 20}]);
    let mut hooks = Map::new();
    for e in [
        "PreToolUse",
        "PostToolUse",
        "SessionStart",
        "SessionEnd",
        "Stop",
        "UserPromptSubmit",
        "PermissionRequest",
        "PreCompact",
        "Notification",
        "BeforeToolSelection",
    ] {
        hooks.insert(e.into(), json!([{"matcher": "*", "hooks": hook.clone()}]));
    }
    env.write("cli", &json!({"hooks": hooks}).to_string());
    (env, rec)
}

#[test]
fn every_fixture_of_every_agent_reaches_a_hook_as_the_canonical_event() {
    let (env, rec) = recording_env();
    for (agent, file, hint, event, tool) in fixture_table() {
        for hint in [hint, None] {
            let payload = read(file);
            let _ = std::fs::remove_file(&rec);
            let out = dispatch(&env, agent.name(), hint, &payload);
            assert_eq!(out.code, 0, "{file}: {out:?}");
            let got: Value = serde_json::from_slice(
                &std::fs::read(&rec).unwrap_or_else(|e| panic!("{file}: no hook ran: {e} {out:?}")),
            )
            .unwrap();
            let original: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(got["hook_event_name"], event, "{file}");
            assert_eq!(got["agent"]["name"], agent.name(), "{file}");
            assert_eq!(got["agent"]["payload"], original, "{file}: the original payload rides along");
            assert_eq!(got["cwd"], "/home/user/project", "{file}");
            assert!(got["session_id"].is_string(), "{file}: {got}");
            let Some(tool) = tool else {
                assert!(got.get("tool_name").is_none(), "{file}");
                continue;
            };
            assert_eq!(got["tool_name"], tool, "{file}");
            let input = &got["tool_input"];
            match tool {
                "Bash" => assert_eq!(input["command"], "echo hello-capture | tee out.txt", "{file}"),
                "Write" => {
                    assert_eq!(input["file_path"], "/home/user/project/new.txt", "{file}");
                    assert_eq!(input["content"], "brand new\n", "{file}");
                }
                "Edit" => {
                    let target = if file.contains("for-create") { "new.txt" } else { "existing.txt" };
                    assert_eq!(input["file_path"], format!("/home/user/project/{target}"), "{file}: {input}");
                    if let Some(files) = input.get("files").and_then(Value::as_array) {
                        // A patch or diff: every file it touches is listed, absolute.
                        let want = format!("/home/user/project/{target}");
                        assert!(files.iter().any(|f| f["path"] == want.as_str()), "{file}: {input}");
                    }
                    if input.get("diff").is_none() {
                        assert_eq!(input["old_string"], "line one", "{file}");
                        assert_eq!(input["new_string"], "line one edited", "{file}");
                    }
                }
                "Read" => assert_eq!(input["file_path"], "/home/user/project/existing.txt", "{file}"),
                other => panic!("{other}"),
            }
        }
    }
}

#[test]
fn claude_bytes_and_answers_are_unchanged() {
    let (env, rec) = recording_env();
    for name in fixture_names() {
        let payload = fixture(&name);
        let _ = std::fs::remove_file(&rec);
        let plain = env.run(&["dispatch"], &payload);
        let received = std::fs::read(&rec).ok();
        let _ = std::fs::remove_file(&rec);
        let named = dispatch(&env, "claude", None, &payload);
        assert_eq!((plain.code, &plain.stdout, &plain.stderr), (named.code, &named.stdout, &named.stderr), "{name}");
        if let Some(r) = received {
            assert_eq!(r, payload, "{name}: bytes unchanged");
            assert_eq!(std::fs::read(&rec).unwrap(), payload, "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-agent tables through a real dispatch.

/// A pre-tool payload of each agent with a shell command, and its dialect.
fn shell_payloads() -> Vec<(Agent, Dialect, Option<&'static str>, Vec<u8>)> {
    let cursor_shell = json!({"conversation_id": "c1", "generation_id": "g1", "model": "m", "hook_event_name": "beforeShellExecution",
        "cursor_version": "1.7.0", "workspace_roots": ["/home/user/project"], "user_email": null, "transcript_path": null,
        "command": "echo hello-capture | tee out.txt", "cwd": "/home/user/project", "timeout": 30});
    let cursor_pre = json!({"conversation_id": "c1", "generation_id": "g1", "model": "m", "hook_event_name": "preToolUse",
        "cursor_version": "1.7.0", "workspace_roots": ["/home/user/project"], "tool_name": "Shell",
        "tool_input": {"command": "echo hello-capture | tee out.txt", "working_directory": "/home/user/project"},
        "tool_use_id": "abc123", "cwd": "/home/user/project", "agent_message": "…"});
    vec![
        (Agent::Codex, Dialect::Plain, None, read("codex-0.169.0/PreToolUse-Bash.json")),
        (Agent::Gemini, Dialect::Plain, None, read("gemini-cli-0.61.0/BeforeTool-run_shell_command.json")),
        (Agent::Qwen, Dialect::Plain, None, read("qwen-code-0.24.4/PreToolUse-run_shell_command.json")),
        (Agent::Copilot, Dialect::CopilotCamel, Some("preToolUse"), read("copilot-cli-1.0.102/preToolUse-bash.json")),
        (Agent::Copilot, Dialect::CopilotPascal, None, read("copilot-cli-1.0.102/vscode-compat/PreToolUse-Bash.json")),
        (Agent::Cursor, Dialect::CursorShell, None, serde_json::to_vec(&cursor_shell).unwrap()),
        (Agent::Cursor, Dialect::CursorPreTool, None, serde_json::to_vec(&cursor_pre).unwrap()),
    ]
}

fn original_input(agent: Agent, payload: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(payload).unwrap();
    match agent {
        Agent::Copilot => v.get("toolArgs").or_else(|| v.get("tool_input")).cloned().unwrap_or(Value::Null),
        Agent::Cursor => v.get("tool_input").cloned().unwrap_or_else(|| json!({"command": v["command"]})),
        _ => v["tool_input"].clone(),
    }
}

fn pre(decision: &str, extra: Value) -> Value {
    let mut spec = json!({"hookEventName": "PreToolUse", "permissionDecision": decision, "permissionDecisionReason": format!("policy says {decision}")});
    if let Value::Object(m) = extra {
        spec.as_object_mut().unwrap().extend(m);
    }
    json!({"hookSpecificOutput": spec})
}

#[test]
fn every_agent_gets_each_answer_in_a_form_it_honours() {
    let env = Env::new();
    let answer = env.path().join("answer.json");
    let hook = json!([{"type": "command", "command": format!("cat {}", answer.display())}]);
    env.write("cli", &json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": hook}]}}).to_string());
    let rewritten = "echo rewritten";
    let answers: Vec<(&str, Value)> = vec![
        ("deny", pre("deny", json!({}))),
        ("defer", pre("defer", json!({}))),
        ("ask", pre("ask", json!({}))),
        ("allow", pre("allow", json!({}))),
        ("rewrite", pre("allow", json!({"updatedInput": {"command": rewritten, "description": "write out.txt"}}))),
        ("stop", json!({"continue": false, "stopReason": "halt now"})),
        ("none", json!({})),
    ];
    let mut rows = Vec::new();
    for (agent, dialect, hint, payload) in shell_payloads() {
        let original = original_input(agent, &payload);
        for (label, a) in &answers {
            std::fs::write(&answer, a.to_string()).unwrap();
            let out = dispatch(&env, agent.name(), hint, &payload);
            let r = Response { stdout: out.stdout.clone(), stderr: out.stderr.clone(), exit_code: out.code as u8 };
            let effect = honour(agent, dialect, &r, &original);
            let expected = match (*label, agent, dialect) {
                ("deny", ..) => Effect::Blocked("policy says deny".into()),
                ("defer", ..) => Effect::Blocked("policy says defer".into()),
                ("ask", Agent::Copilot, _) | ("ask", Agent::Cursor, Dialect::CursorShell) => Effect::Asked,
                ("ask", ..) => Effect::Blocked("approval needed".into()),
                ("allow" | "none", ..) => Effect::Ran,
                ("rewrite", Agent::Qwen, _) | ("rewrite", Agent::Cursor, Dialect::CursorShell) => {
                    Effect::Blocked(rewritten.into())
                }
                ("rewrite", ..) => Effect::RanWith(rewritten.into()),
                ("stop", Agent::Gemini, _) => Effect::Stopped,
                ("stop", ..) => Effect::Blocked("halt now".into()),
                other => panic!("{other:?}"),
            };
            let ok = match (&expected, &effect) {
                (Effect::Blocked(want), Effect::Blocked(got)) => {
                    // Copilot's exit 2 loses the reason; hookhost never answers it that way.
                    got.contains(want.as_str())
                }
                (e, g) => e == g,
            };
            assert!(ok, "{} {dialect:?} {label}: expected {expected:?}, got {effect:?} from {out:?}", agent.name());
            rows.push(format!("{} {dialect:?} {label}: {effect:?}", agent.name()));
        }
    }
    assert_eq!(rows.len(), 7 * 7);
}

#[test]
fn stop_hooks_keep_every_agent_working_in_its_own_form() {
    let env = Env::new();
    let hook =
        json!([{"type": "command", "command": "printf '%s' '{\"decision\":\"block\",\"reason\":\"tests fail\"}'"}]);
    env.write("cli", &json!({"hooks": {"Stop": [{"matcher": "*", "hooks": hook}]}}).to_string());
    let cases: Vec<(Agent, Option<&str>, Vec<u8>, Value)> = vec![
        (Agent::Codex, None, read("codex-0.169.0/Stop.json"), json!({"decision": "block", "reason": "tests fail"})),
        (
            Agent::Gemini,
            None,
            read("gemini-cli-0.61.0/AfterAgent.json"),
            json!({"decision": "deny", "reason": "tests fail"}),
        ),
        (Agent::Qwen, None, read("qwen-code-0.24.4/Stop.json"), json!({"decision": "block", "reason": "tests fail"})),
        (
            Agent::Copilot,
            Some("agentStop"),
            read("copilot-cli-1.0.102/agentStop.json"),
            json!({"decision": "block", "reason": "tests fail"}),
        ),
    ];
    for (agent, hint, payload, want) in cases {
        let out = dispatch(&env, agent.name(), hint, &payload);
        assert_eq!(out.code, 0, "{}: {out:?}", agent.name());
        assert_eq!(out.json(), want, "{}", agent.name());
    }
}

// ---------------------------------------------------------------------------------------------
// The property: never weaker.

fn arb_verdict() -> impl Strategy<Value = Verdict> {
    (
        prop_oneof![
            Just(None),
            Just(Some(Permission::Allow)),
            Just(Some(Permission::Ask)),
            Just(Some(Permission::Defer)),
            Just(Some(Permission::Deny)),
        ],
        proptest::option::of("[a-zA-Z0-9 :;'\"`$()|&\\n-]{0,40}"),
        proptest::option::of("[a-z0-9 |>_-]{1,30}"),
        any::<bool>(),
        proptest::option::of("[a-z ]{0,20}"),
        proptest::collection::vec("[a-z ]{1,10}", 0..2),
        proptest::collection::vec("[a-z ]{1,10}", 0..2),
    )
        .prop_map(|(permission, reason, rewrite, stop, stop_reason, ctx, msgs)| {
            let denies = matches!(permission, Some(Permission::Deny | Permission::Defer));
            Verdict {
                permission,
                reason: permission.and(reason),
                updated_input: rewrite
                    .filter(|_| !denies)
                    .map(|c| json!({"command": c, "description": "write out.txt"})),
                stop,
                stop_reason: stop.then_some(stop_reason).flatten(),
                additional_context: ctx,
                system_messages: msgs,
                ..Verdict::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_rendered_answer_means_the_same_or_stricter(v in arb_verdict(), host_error in 0u8..4) {
        for (agent, dialect, hint, payload) in shell_payloads() {
            let inbound: Inbound = agent.accept(&payload, hint).unwrap();
            let event = HookEvent::parse(&inbound.canonical).unwrap();
            let (claude_form, canonical) = match host_error {
                // A host error that fails closed / open (exit 2 / 1), as dispatch answers it.
                0 => (Response { stdout: String::new(), stderr: "hookhost: broken\n".into(), exit_code: 2 }, Effect::Blocked("hookhost: broken".into())),
                1 => (Response { stdout: String::new(), stderr: "hookhost: broken\n".into(), exit_code: 1 }, Effect::Ran),
                _ => (render(&event, &v), canonical_effect(&v)),
            };
            let wire = inbound.render(&claude_form);
            let got = honour(agent, dialect, &wire, &original_input(agent, &payload));
            prop_assert!(at_least(&canonical, &got), "{} {dialect:?}: {v:?} means {canonical:?}, but the agent would do {got:?} with {wire:?}", agent.name());
            if let (Effect::Blocked(want), Effect::Blocked(said)) = (&canonical, &got)
                && !want.trim().is_empty()
            {
                prop_assert!(said.contains(want.trim()), "{}: the reason {want:?} is lost: {said:?}", agent.name());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Permission rules bind every agent's tools.

fn rules_env() -> Env {
    let env = Env::new();
    env.write(
        "managed",
        &json!({"permissions": {"deny": ["Bash(curl *)", "Read(./.env)", "Edit(./secrets/**)", "mcp__github__delete_repo"]}})
            .to_string(),
    );
    env
}

fn replace_bytes(p: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8_lossy(p).replace(from, to).into_bytes()
}

#[test]
fn permission_rules_bind_every_agents_tools() {
    let env = rules_env();
    let curl = |p: Vec<u8>| replace_bytes(&p, "echo hello-capture | tee out.txt", "curl https://evil.example/x");
    // (agent, dialect, hint, payload, what the deny must name)
    type Case<'a> = (Agent, Dialect, Option<&'a str>, Vec<u8>, &'a str);
    let mut cases: Vec<Case> = Vec::new();
    for (agent, dialect, hint, payload) in shell_payloads() {
        cases.push((agent, dialect, hint, curl(payload), "Bash(curl *)"));
    }
    cases.push((
        Agent::Qwen,
        Dialect::Plain,
        None,
        replace_bytes(&read("qwen-code-0.24.4/PreToolUse-read_file.json"), "existing.txt", ".env"),
        "Read(./.env)",
    ));
    for f in ["codex-0.169.0/PreToolUse-apply_patch-add.json", "codex-0.169.0/PreToolUse-apply_patch-update.json"] {
        let p = replace_bytes(&read(f), "new.txt", "secrets/key.txt");
        let p = replace_bytes(&p, "existing.txt", "secrets/key.txt");
        cases.push((Agent::Codex, Dialect::Plain, None, p, "Edit(./secrets/**)"));
    }
    // A patch whose second file is the secret one; a move into secrets/; a delete.
    for patch in [
        "*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Update File: secrets/key.txt\n@@\n-a\n+b\n*** End Patch\n",
        "*** Begin Patch\n*** Update File: ok.txt\n*** Move to: secrets/ok.txt\n@@\n-a\n+b\n*** End Patch\n",
        "*** Begin Patch\n*** Delete File: secrets/key.txt\n*** End Patch\n",
        "  *** Begin Patch\n  *** Add File: secrets/indented.txt\n  +x\n  *** End Patch\n",
    ] {
        let mut v: Value = serde_json::from_slice(&read("codex-0.169.0/PreToolUse-apply_patch-add.json")).unwrap();
        v["tool_input"]["command"] = patch.into();
        cases.push((Agent::Codex, Dialect::Plain, None, serde_json::to_vec(&v).unwrap(), "Edit(./secrets/**)"));
        let mut c: Value =
            serde_json::from_slice(&read("copilot-cli-1.0.102/preToolUse-apply_patch-add.json")).unwrap();
        c["toolArgs"] = patch.into();
        cases.push((
            Agent::Copilot,
            Dialect::CopilotCamel,
            None,
            serde_json::to_vec(&c).unwrap(),
            "Edit(./secrets/**)",
        ));
    }
    // Codex running apply_patch through the shell.
    let mut heredoc: Value = serde_json::from_slice(&read("codex-0.169.0/PreToolUse-Bash.json")).unwrap();
    heredoc["tool_input"]["command"] =
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: secrets/k\n+x\n*** End Patch\nEOF\n".into();
    cases.push((Agent::Codex, Dialect::Plain, None, serde_json::to_vec(&heredoc).unwrap(), "Edit(./secrets/**)"));
    // Gemini and Qwen write into secrets/; Copilot creates there.
    cases.push((
        Agent::Gemini,
        Dialect::Plain,
        None,
        replace_bytes(&read("gemini-cli-0.61.0/BeforeTool-write_file.json"), "new.txt", "secrets/new.txt"),
        "Edit(./secrets/**)",
    ));
    cases.push((
        Agent::Copilot,
        Dialect::CopilotCamel,
        Some("preToolUse"),
        replace_bytes(&read("copilot-cli-1.0.102/preToolUse-create.json"), "new.txt", "secrets/new.txt"),
        "Edit(./secrets/**)",
    ));
    // MCP in each agent's spelling.
    let mut g: Value = serde_json::from_slice(&read("gemini-cli-0.61.0/BeforeTool-run_shell_command.json")).unwrap();
    g["tool_name"] = "github__delete_repo".into();
    g["tool_input"] = json!({"repo": "acme/x"});
    cases.push((Agent::Gemini, Dialect::Plain, None, serde_json::to_vec(&g).unwrap(), "mcp__github__delete_repo"));
    let mut q: Value = serde_json::from_slice(&read("qwen-code-0.24.4/PreToolUse-run_shell_command.json")).unwrap();
    q["tool_name"] = "mcp__github__delete_repo".into();
    cases.push((Agent::Qwen, Dialect::Plain, None, serde_json::to_vec(&q).unwrap(), "mcp__github__delete_repo"));
    let cursor_mcp = json!({"conversation_id": "c", "hook_event_name": "beforeMCPExecution", "tool_name": "delete_repo",
        "tool_input": {"repo": "acme/x"}, "server": "github", "cwd": "/home/user/project"});
    cases.push((
        Agent::Cursor,
        Dialect::CursorShell,
        None,
        serde_json::to_vec(&cursor_mcp).unwrap(),
        "mcp__github__delete_repo",
    ));
    let cursor_read = json!({"conversation_id": "c", "hook_event_name": "beforeReadFile", "file_path": "/home/user/project/.env",
        "content": "SECRET=1", "workspace_roots": ["/home/user/project"]});
    cases.push((Agent::Cursor, Dialect::CursorShell, None, serde_json::to_vec(&cursor_read).unwrap(), "Read(./.env)"));

    for (agent, dialect, hint, payload, rule) in &cases {
        let out = dispatch(&env, agent.name(), *hint, payload);
        let r = Response { stdout: out.stdout.clone(), stderr: out.stderr.clone(), exit_code: out.code as u8 };
        let effect = honour(*agent, *dialect, &r, &original_input(*agent, payload));
        match &effect {
            Effect::Blocked(reason) if *agent == Agent::Copilot || reason.contains(rule) => {}
            other => panic!("{} {dialect:?}: {rule} did not deny: {other:?} {out:?}", agent.name()),
        }
    }
    // The same calls with harmless targets run.
    for (agent, dialect, hint, payload) in shell_payloads() {
        let out = dispatch(&env, agent.name(), hint, &payload);
        let r = Response { stdout: out.stdout.clone(), stderr: out.stderr.clone(), exit_code: out.code as u8 };
        assert_eq!(
            honour(agent, dialect, &r, &original_input(agent, &payload)),
            Effect::Ran,
            "{}: {out:?}",
            agent.name()
        );
    }
    assert!(cases.len() >= 25, "{}", cases.len());
}

// ---------------------------------------------------------------------------------------------
// The daemon gives the same answers.

#[test]
fn the_daemon_gives_the_same_answers_as_in_process() {
    let env = rules_env();
    let socket = env.path().join("d.sock");
    let _daemon = super::daemon::Daemon::start_with(&env, &socket, &[], &[]);
    let curl = |p: Vec<u8>| replace_bytes(&p, "echo hello-capture | tee out.txt", "curl https://evil.example/x");
    for (agent, _, hint, payload) in shell_payloads() {
        for p in [payload.clone(), curl(payload)] {
            let local = dispatch(&env, agent.name(), hint, &p);
            let mut c = env.command(&["dispatch", "--agent", agent.name()]);
            if let Some(h) = hint {
                c.args(["--agent-event", h]);
            }
            c.env("HOOKHOST_SOCKET", &socket).env("HOOKHOST_SOCKET_TIMEOUT", "20");
            let remote = run(c, &p);
            assert!(!remote.stderr.contains("evaluated in-process"), "{remote:?}");
            assert_eq!(
                (local.code, &local.stdout, &local.stderr),
                (remote.code, &remote.stdout, &remote.stderr),
                "{}",
                agent.name()
            );
        }
    }
}

/// An agent named by HOOKHOST_AGENT is used like `--agent`.
#[test]
fn hookhost_agent_env_selects_the_adapter() {
    let env = rules_env();
    let p = replace_bytes(&read("gemini-cli-0.61.0/BeforeTool-run_shell_command.json"), "echo hello-capture", "curl x");
    let mut c = env.command(&["dispatch"]);
    c.env("HOOKHOST_AGENT", "gemini");
    let out = run(c, &p);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["decision"], "deny", "{out:?}");
    let bad = {
        let mut c = env.command(&["dispatch"]);
        c.env("HOOKHOST_AGENT", "notepad");
        run(c, &p)
    };
    assert_eq!(bad.code, 2, "an unknown agent blocks: {bad:?}");
}

// ---------------------------------------------------------------------------------------------
// Audit, explain and `hookhost test` know the agent.

#[test]
fn audit_records_carry_the_agent() {
    let env = rules_env();
    let log = env.path().join("audit.jsonl");
    env.write("managed.d/10-audit.json", &json!({"audit": {"path": log}}).to_string());
    let p = replace_bytes(&read("gemini-cli-0.61.0/BeforeTool-run_shell_command.json"), "echo hello-capture", "curl x");
    assert_eq!(dispatch(&env, "gemini", None, &p).json()["decision"], "deny");
    let c = replace_bytes(&read("copilot-cli-1.0.102/preToolUse-bash.json"), "echo hello-capture", "ls");
    dispatch(&env, "copilot", Some("preToolUse"), &c);
    dispatch(&env, "claude", None, &fixture("PreToolUse-Bash.json"));
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["kind"] == "event")
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["agent"], json!({"name": "gemini", "event": "BeforeTool", "tool": "run_shell_command"}));
    assert_eq!(records[0]["tool"], "Bash");
    assert_eq!(records[0]["rule"]["decision"], "deny");
    assert_eq!(records[1]["agent"], json!({"name": "copilot", "event": "preToolUse", "tool": "bash"}));
    assert_eq!(records[2]["agent"], json!({"name": "claude"}));
}

#[test]
fn explain_shows_the_mapping_and_the_agents_answer() {
    let env = rules_env();
    let p = replace_bytes(&read("codex-0.169.0/PreToolUse-apply_patch-add.json"), "new.txt", "secrets/new.txt");
    let out = env.run(&["explain", "--agent", "codex"], &p);
    assert_eq!(out.code, 0, "{out:?}");
    for want in [
        "agent codex: event PreToolUse → PreToolUse",
        "tool apply_patch → Write",
        "patch parsed into files",
        "Edit(./secrets/**)",
        "answered to codex in its own form",
        "would exit 2",
    ] {
        assert!(out.stdout.contains(want), "{want:?} missing from:\n{}", out.stdout);
    }
}

#[test]
fn hookhost_test_cases_may_name_an_agent() {
    let env = Env::new();
    let dir = env.path().join("t");
    std::fs::create_dir_all(&dir).unwrap();
    let gemini: Value = serde_json::from_slice(&replace_bytes(
        &read("gemini-cli-0.61.0/BeforeTool-run_shell_command.json"),
        "echo hello-capture",
        "curl x",
    ))
    .unwrap();
    let copilot: Value = serde_json::from_slice(&read("copilot-cli-1.0.102/preToolUse-bash.json")).unwrap();
    let file = |expect_gemini: Value| {
        json!({"settings": {"permissions": {"deny": ["Bash(curl *)"]}}, "cases": [
            {"name": "gemini curl", "agent": "gemini", "event": gemini, "expect": expect_gemini},
            {"name": "copilot echo", "agent": "copilot", "agentEvent": "preToolUse", "event": copilot,
             "expect": {"decision": "none", "exitCode": 0, "output": null}},
        ]})
    };
    std::fs::write(
        dir.join("tests.json"),
        file(json!({"decision": "deny", "reasonContains": "curl", "exitCode": 0})).to_string(),
    )
    .unwrap();
    let out = env.run(&["test", dir.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.matches("  PASS  ").count(), 2, "{out:?}");
    // The agent's wire form is what `output` compares: Claude's form is not Gemini's.
    std::fs::write(
        dir.join("tests.json"),
        file(json!({"output": {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny"}}}))
            .to_string(),
    )
    .unwrap();
    let out = env.run(&["test", dir.to_str().unwrap()], b"");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("\"decision\":\"deny\""), "{out:?}");
}

/// `hooks-examples/multi-agent`: one policy denies the same `curl` for every agent, through
/// `hookhost test` and through a real `dispatch` read back with each agent's model.
#[test]
fn the_multi_agent_example_denies_curl_for_every_agent() {
    let env = Env::new();
    let dir = repo().join("hooks-examples/multi-agent");
    let out = env.run(&["test", dir.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.matches("  PASS  ").count(), 8, "{out:?}");
    let settings = dir.join("settings.json");
    for (file, agent, dialect, hint) in [
        ("codex", Agent::Codex, Dialect::Plain, None),
        ("gemini", Agent::Gemini, Dialect::Plain, None),
        ("qwen", Agent::Qwen, Dialect::Plain, None),
        ("copilot", Agent::Copilot, Dialect::CopilotCamel, Some("preToolUse")),
        ("copilot-vscode", Agent::Copilot, Dialect::CopilotPascal, None),
        ("cursor-shell", Agent::Cursor, Dialect::CursorShell, None),
        ("cursor-pretooluse", Agent::Cursor, Dialect::CursorPreTool, None),
    ] {
        let payload = std::fs::read(dir.join(format!("events/{file}.json"))).unwrap();
        // `hookhost dispatch --agent X`, and the thin client `hookhost-dispatch` registered with
        // `HOOKHOST_AGENT=X` (it hands other agents' payloads to the full binary to be mapped;
        // forwarded unmapped, Gemini's `run_shell_command` would slip past `Bash(curl *)`).
        let direct = env.command(&["dispatch", "--agent", agent.name()]);
        let mut thin = env.command(&["dispatch"]);
        thin.env("HOOKHOST_AGENT", agent.name()).env("XDG_RUNTIME_DIR", env.path().join("run"));
        let thin_path = super::thin::thin_bin();
        let thin_args: Vec<std::ffi::OsString> = thin.get_args().map(|a| a.to_os_string()).collect();
        let mut thin_cmd = std::process::Command::new(thin_path);
        thin_cmd.env_clear().args(&thin_args);
        for (k, v) in thin.get_envs() {
            thin_cmd.env(k, v.unwrap_or_default());
        }
        thin_cmd.env("HOOKHOST_BIN", super::support::bin());
        for (how, mut c) in [("dispatch --agent", direct), ("hookhost-dispatch + HOOKHOST_AGENT", thin_cmd)] {
            c.arg("--settings").arg(&settings);
            if let Some(h) = hint {
                c.env("HOOKHOST_AGENT_EVENT", h);
            }
            let out = run(c, &payload);
            let r = Response { stdout: out.stdout.clone(), stderr: out.stderr.clone(), exit_code: out.code as u8 };
            match honour(agent, dialect, &r, &original_input(agent, &payload)) {
                Effect::Blocked(reason) => assert!(reason.contains("Bash(curl *)"), "{file} via {how}: {reason}"),
                other => panic!("{file} via {how}: {other:?} {out:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `hookhost install --agent X` and `hookhost doctor`.

fn install(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["install"];
    all.extend_from_slice(args);
    let mut c = env.command(&all);
    c.env("HOOKHOST_INSTALL_ETC", env.path().join("etc"));
    run(c, b"")
}

/// Every command string registered in an agent config file (JSON).
fn registered_commands(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if (k == "command" || k == "bash") && x.is_string() {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[test]
fn install_registers_merges_is_idempotent_backs_up_and_uninstalls() {
    let env = rules_env();
    let home = env.path();
    let files = [
        ("claude", ".claude/settings.json"),
        ("codex", ".codex/hooks.json"),
        ("gemini", ".gemini/settings.json"),
        ("copilot", ".copilot/settings.json"),
        ("qwen", ".qwen/settings.json"),
        ("cursor", ".cursor/hooks.json"),
    ];
    for (agent, rel) in files {
        let path = home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = "{\n  \"theme\": \"dark\",\n  \"hooks\": {\"Other\": [{\"command\": \"mine\"}]}\n}\n";
        std::fs::write(&path, original).unwrap();
        // Dry run: a diff, nothing written.
        let dry = install(&env, &["--agent", agent, "--dry-run"]);
        assert_eq!(dry.code, 0, "{dry:?}");
        assert!(dry.stdout.contains("+") && dry.stdout.contains("dispatch"), "{agent}: {dry:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original, "{agent}: dry run wrote");
        let out = install(&env, &["--agent", agent]);
        assert_eq!(out.code, 0, "{agent}: {out:?}");
        let installed = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&installed).unwrap();
        assert_eq!(v["theme"], "dark", "{agent}");
        assert_eq!(v["hooks"]["Other"], json!([{"command": "mine"}]), "{agent}");
        assert_eq!(std::fs::read_to_string(hookhost::install::backup_path(&path)).unwrap(), original, "{agent}");
        let cmds: Vec<String> =
            registered_commands(&v["hooks"]).into_iter().filter(|c| c.contains("dispatch")).collect();
        assert!(cmds.len() >= 6, "{agent}: {cmds:?}");
        // Idempotent.
        let again = install(&env, &["--agent", agent]);
        assert!(again.stdout.contains("nothing to do"), "{agent}: {again:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), installed, "{agent}");
        // The registered command, run as the agent runs it (through a shell), denies curl.
        let pre = cmds
            .iter()
            .find(|c| agent == "claude" || !c.contains("--agent-event") || c.ends_with("preToolUse"))
            .unwrap()
            .clone();
        let (payload, dialect, ag) = match agent {
            "claude" => (fixture("PreToolUse-Bash.json"), Dialect::Plain, Agent::Claude),
            _ => {
                let (a, d, _, p) = shell_payloads()
                    .into_iter()
                    .find(|(a, d, ..)| {
                        a.name() == agent && *d != Dialect::CopilotPascal && *d != Dialect::CursorPreTool
                    })
                    .unwrap();
                (p, d, a)
            }
        };
        let payload = replace_bytes(&payload, "echo hello-capture | tee out.txt", "curl x");
        let payload = replace_bytes(&payload, "ls -la && false", "curl x");
        let mut c = env.bare_command(&[]);
        c = {
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c").arg(format!("{pre} --project-dir {}", env.project().display()));
            sh.env_clear().envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
            sh
        };
        let ran = run(c, &payload);
        if ag == Agent::Claude {
            assert_eq!(ran.json()["hookSpecificOutput"]["permissionDecision"], "deny", "{ran:?}");
        } else {
            let r = Response { stdout: ran.stdout.clone(), stderr: ran.stderr.clone(), exit_code: ran.code as u8 };
            assert!(
                matches!(honour(ag, dialect, &r, &original_input(ag, &payload)), Effect::Blocked(_)),
                "{agent}: {pre}: {ran:?}"
            );
        }
        // Uninstall gives back exactly what was there (keys, values, order).
        let un = install(&env, &["--agent", agent, "--uninstall"]);
        assert_eq!(un.code, 0, "{un:?}");
        let mut back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if agent == "gemini" {
            // `hooksConfig.enabled` is left on: the other hooks of the file may rely on it.
            assert_eq!(back.as_object_mut().unwrap().remove("hooksConfig"), Some(json!({"enabled": true})));
        }
        if agent == "cursor" {
            // The schema's `version` stays.
            assert_eq!(back.as_object_mut().unwrap().remove("version"), Some(json!(1)));
        }
        let orig: Value = serde_json::from_str(original).unwrap();
        assert_eq!(back, orig, "{agent}");
    }
}

#[test]
fn codex_managed_requirements_keep_comments_and_doctor_reports_each_agent() {
    let env = Env::new();
    let req = env.path().join("etc/codex/requirements.toml");
    std::fs::create_dir_all(req.parent().unwrap()).unwrap();
    let original = "# Managed by IT. Do not edit.\napproval_policy = \"on-request\" # why: audit\n\n[sandbox_workspace_write]\nnetwork_access = false\n";
    std::fs::write(&req, original).unwrap();
    let out = install(&env, &["--agent", "codex", "--scope", "managed"]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&req).unwrap();
    for keep in
        ["# Managed by IT. Do not edit.", "# why: audit", "network_access = false", "allow_managed_hooks_only = true"]
    {
        assert!(text.contains(keep), "{keep:?} missing:\n{text}");
    }
    assert!(text.contains("dispatch --agent codex"), "{text}");
    let again = install(&env, &["--agent", "codex", "--scope", "managed"]);
    assert!(again.stdout.contains("nothing to do"), "{again:?}");
    // Gemini at user scope, with a project file that turns hooks off.
    assert_eq!(install(&env, &["--agent", "gemini"]).code, 0);
    std::fs::create_dir_all(env.project().join(".gemini")).unwrap();
    std::fs::write(env.project().join(".gemini/settings.json"), r#"{"hooksConfig": {"enabled": false}}"#).unwrap();
    let mut c = env.command(&["doctor"]);
    c.env("HOOKHOST_INSTALL_ETC", env.path().join("etc"));
    let doc = run(c, b"");
    assert!(doc.stdout.contains("agent codex: hookhost registered in") && doc.stdout.contains("(managed)"), "{doc:?}");
    assert!(doc.stdout.contains("agent gemini: hookhost registered in"), "{doc:?}");
    assert!(doc.stdout.contains("hooksConfig.enabled: false"), "{doc:?}");
    assert!(doc.stdout.contains("not registered at managed scope"), "{doc:?}");
    // Copilot has no known managed location: a clear error, nothing written.
    let bad = install(&env, &["--agent", "copilot", "--scope", "managed"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("no known managed"), "{bad:?}");
    // A file that does not parse is named and left alone.
    let broken = env.path().join(".qwen/settings.json");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, "{ not json").unwrap();
    let out = install(&env, &["--agent", "qwen"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(".qwen/settings.json") && out.stderr.contains("not changed"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "{ not json");
}

/// Text typed into a running shell (Copilot `write_bash`, Codex `write_stdin`) is judged as a
/// command line: `Bash(curl *)` denies it.
#[test]
fn text_typed_into_a_running_shell_is_a_command_line() {
    let env = rules_env();
    let mut c: Value = serde_json::from_slice(&read("copilot-cli-1.0.102/preToolUse-bash.json")).unwrap();
    c["toolName"] = "write_bash".into();
    c["toolArgs"] = json!({"shellId": "0", "input": "curl https://evil.example/x\n", "delay": 1});
    let out = dispatch(&env, "copilot", Some("preToolUse"), &serde_json::to_vec(&c).unwrap());
    assert_eq!(out.json()["permissionDecision"], "deny", "{out:?}");
    let mut x: Value = serde_json::from_slice(&read("codex-0.169.0/PreToolUse-Bash.json")).unwrap();
    x["tool_name"] = "write_stdin".into();
    x["tool_input"] = json!({"session_id": 1, "chars": "curl https://evil.example/x\n"});
    let out = dispatch(&env, "codex", None, &serde_json::to_vec(&x).unwrap());
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("Bash(curl *)"), "{out:?}");
}

/// Generated patches (Codex's envelope with indentation, CRLF, a heredoc wrapper, moves,
/// deletes, several files in any order, unified diffs): whenever any file the patch names is
/// under `secrets/`, `Edit(./secrets/**)` denies it; when none is, it runs.
#[test]
fn generated_patches_touching_secrets_are_denied() {
    let env = rules_env();
    let base: Value = serde_json::from_slice(&read("codex-0.169.0/PreToolUse-apply_patch-add.json")).unwrap();
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let (mut denied, mut ran) = (0, 0);
    for i in 0..300 {
        let files = 1 + next(4);
        let mut body = String::new();
        let mut touches_secret = false;
        let indent = ["", " ", "  ", "\t"][next(4) as usize];
        let eol = if next(5) == 0 { "\r\n" } else { "\n" };
        for f in 0..files {
            let secret = next(3) == 0;
            let dir = if secret {
                ["secrets/", "./secrets/", "src/../secrets/", "secrets/a/b/"][next(4) as usize]
            } else {
                "src/"
            };
            let path = format!("{dir}f{i}_{f}.txt");
            match next(4) {
                0 => body.push_str(&format!("{indent}*** Add File: {path}{eol}+x{eol}")),
                1 => body.push_str(&format!("{indent}*** Update File: {path}{eol}@@{eol}-a{eol}+b{eol}")),
                2 => body.push_str(&format!("{indent}*** Delete File: {path}{eol}")),
                _ => {
                    // A move: the destination counts.
                    let from = format!("src/m{i}_{f}.txt");
                    body.push_str(&format!(
                        "{indent}*** Update File: {from}{eol}{indent}*** Move to: {path}{eol}@@{eol}-a{eol}+b{eol}"
                    ));
                }
            }
            touches_secret |= secret;
        }
        let patch = format!("{indent}*** Begin Patch{eol}{body}{indent}*** End Patch{eol}");
        let (tool, input) = match next(3) {
            0 => ("Bash", json!({"command": format!("apply_patch <<'EOF'\n{patch}EOF\n")})),
            _ => ("apply_patch", json!({"command": patch})),
        };
        let mut ev = base.clone();
        ev["tool_name"] = tool.into();
        ev["tool_input"] = input;
        let out = dispatch(&env, "codex", None, &serde_json::to_vec(&ev).unwrap());
        if touches_secret {
            assert_eq!(out.code, 2, "#{i} not denied: {ev}\n{out:?}");
            assert!(out.stderr.contains("secrets"), "{out:?}");
            denied += 1;
        } else {
            assert_eq!((out.code, out.stdout.as_str()), (0, ""), "#{i} denied without a secret: {ev}\n{out:?}");
            ran += 1;
        }
    }
    assert!(denied > 50 && ran > 50, "{denied} denied, {ran} ran");
}

/// `expect.output`: `null` means "prints nothing" and is checked (alone it is a valid expect);
/// absent means "not checked". serde's `Option` alone reads both as absent.
#[test]
fn hookhost_test_output_null_means_nothing_printed_and_absent_means_unchecked() {
    let env = Env::new();
    let dir = env.path().join("t");
    std::fs::create_dir_all(&dir).unwrap();
    let ev = |cmd: &str| json!({"hook_event_name": "PreToolUse", "cwd": "/tmp", "tool_name": "Bash", "tool_input": {"command": cmd}});
    let run_cases = |cases: Value| {
        std::fs::write(
            dir.join("tests.json"),
            json!({"settings": {"permissions": {"deny": ["Bash(curl *)"]}}, "cases": cases}).to_string(),
        )
        .unwrap();
        env.run(&["test", dir.to_str().unwrap()], b"")
    };
    // `null` alone: a valid expect, passing when nothing is printed...
    let out = run_cases(json!([{"name": "ls prints nothing", "event": ev("ls"), "expect": {"output": null}}]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("  PASS  "), "{out:?}");
    // ...and failing when the answer prints JSON (a deny).
    let out = run_cases(json!([{"name": "curl prints a deny", "event": ev("curl x"), "expect": {"output": null}}]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("expected no output (null)"), "{out:?}");
    // Absent: not checked (the deny's JSON is not compared with anything).
    let out = run_cases(json!([{"name": "curl denied", "event": ev("curl x"), "expect": {"decision": "deny"}}]));
    assert_eq!(out.code, 0, "{out:?}");
    // An empty expect is still refused.
    let out = run_cases(json!([{"name": "empty", "event": ev("ls"), "expect": {}}]));
    assert_eq!(out.code, 1, "{out:?}");
}
