//! OpenAI Codex CLI (observed: 0.169.0, `fixtures/codex-0.169.0/`).
//!
//! *In*: Codex already speaks Claude Code's event names and common fields. Its shell tool
//! reaches hooks as `Bash {command}` (the model's `exec_command {cmd}` and `shell {command:[…]}`
//! are mapped too, should a version send them); `apply_patch {command: <patch>}` is parsed
//! into the files it touches ([`super::patch`]); a `Bash` command that carries a patch
//! (`apply_patch <<'EOF'`) keeps its name and gets `files` as well.
//!
//! *Out* (what 0.169.0 honours, README table): any unsupported output **fails open**, so only
//! observed forms are sent. Deny, ask, defer and stop on PreToolUse → exit 2 with the reason on
//! stderr (never an empty reason); a rewrite → `permissionDecision:"allow"` + `updatedInput`
//! in Codex's keys; a plain allow or no opinion → nothing (Codex rejects a plain allow);
//! context and system messages are not sent (unsupported keys would void the answer). Stop:
//! `{"decision":"block","reason"}` (Codex runs one more turn). Other blocks: exit 2.

use serde_json::{Map, Value, json};

use super::{Answer, Inbound, Mapped, ToolSpec, exit2, json_answer, rewrite_denied, silent};
use crate::decision::{Permission, Response};

/// Codex's tools whose input is a patch.
pub const PATCH_TOOLS: &[&str] = &["apply_patch"];

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec { agent: "Bash", canonical: "Bash", keys: &[] },
    ToolSpec { agent: "exec_command", canonical: "Bash", keys: &[("cmd", "command"), ("workdir", "cwd")] },
    // Text typed into a running shell session is a command line too.
    ToolSpec { agent: "write_stdin", canonical: "Bash", keys: &[("chars", "command")] },
    ToolSpec { agent: "read_file", canonical: "Read", keys: &[("path", "file_path")] },
];

pub fn to_canonical(map: &Map<String, Value>) -> Result<Mapped, super::AgentError> {
    let event = map
        .get("hook_event_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| super::AgentError("Codex event has no `hook_event_name`".into()))?
        .to_string();
    let mut fields = map.clone();
    // `shell {command: ["bash", "-lc", "…"]}`: the argv, as one command line.
    if fields.get("tool_name").and_then(Value::as_str).is_some_and(|t| t == "shell" || t == "local_shell")
        && let Some(Value::Array(argv)) = fields.get("tool_input").and_then(|i| i.get("command")).cloned()
    {
        let words: Vec<String> = argv.iter().map(|w| w.as_str().unwrap_or("").to_string()).collect();
        let line = match words.as_slice() {
            [sh, flag, script] if (sh.ends_with("sh")) && flag.starts_with('-') && flag.contains('c') => script.clone(),
            _ => shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" ")),
        };
        fields.insert("tool_name".into(), "Bash".into());
        fields.insert("tool_input".into(), json!({"command": line}));
    }
    let tool = super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, PATCH_TOOLS);
    add_patch_files_to_bash(&mut fields);
    Ok(Mapped { event: event.clone(), agent_event: event, fields, tool, version: None })
}

/// A shell command that carries a patch: `files` lists what it touches.
pub fn add_patch_files_to_bash(fields: &mut Map<String, Value>) {
    if fields.get("tool_name").and_then(Value::as_str) != Some("Bash") {
        return;
    }
    let cwd = fields.get("cwd").and_then(Value::as_str).map(str::to_string);
    if let Some(Value::Object(input)) = fields.get_mut("tool_input")
        && let Some(cmd) = input.get("command").and_then(Value::as_str)
        && super::patch::looks_like_patch(cmd)
    {
        let (_, canon) = super::patch::canonical_call(cmd, cwd.as_deref());
        if let Some(files) = canon.get("files") {
            input.insert("files".into(), files.clone());
        }
    }
}

pub fn render(inb: &Inbound, a: &Answer) -> Response {
    match inb.event.as_str() {
        "PreToolUse" => {
            if let Some(reason) = a.strict_deny() {
                return exit2(&reason);
            }
            match &a.updated_input {
                Some(u) if a.permission.is_none_or(|p| p == Permission::Allow) => {
                    let agent_input = match inb.rewrite_to_agent(u, false) {
                        Ok(Value::String(patch)) => json!({"command": patch}),
                        Ok(v) => v,
                        Err(why) => return exit2(&rewrite_denied(u, &why)),
                    };
                    json_answer(json!({"hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": "allow",
                        "updatedInput": agent_input,
                    }}))
                }
                _ => silent(),
            }
        }
        "Stop" | "SubagentStop" => {
            if a.blocked && !a.stop {
                json_answer(json!({"decision": "block", "reason": a.reason_or("hookhost policy: keep working")}))
            } else {
                silent()
            }
        }
        "PermissionRequest" => {
            if a.permission == Some(Permission::Deny) || a.blocked {
                exit2(&a.reason_or("denied by hookhost policy"))
            } else {
                silent()
            }
        }
        _ => {
            if a.blocked || a.stop {
                let r = if a.blocked {
                    a.reason_or("blocked by hookhost policy")
                } else {
                    format!("hookhost stops the session: {}", a.stop_reason.clone().unwrap_or_default())
                };
                exit2(&r)
            } else {
                silent()
            }
        }
    }
}
