//! Cursor (documented protocol only: `fixtures/cursor-docs/README.md`; no payload captured).
//! Where the documentation is ambiguous, the answer is given in every form it names.
//!
//! *In*: `beforeShellExecution {command, cwd}` → `PreToolUse` + `Bash {command}`;
//! `beforeMCPExecution {tool_name, tool_input}` → `PreToolUse` + `mcp__server__tool` (server:
//! the payload's `server`/`server_name`, else `unknown`); `beforeReadFile {file_path}` →
//! `PreToolUse` + `Read`; `preToolUse` → `PreToolUse` with tools `Shell` → `Bash`, `Read`,
//! `Write`, `Edit`/`StrReplace` → `Edit`, `Delete` → `Edit`, `Grep`, `LS`, `Task`, `MCP` →
//! `mcp__…`; keys `working_directory` → `cwd` kept beside `command`, `path`/`target_file` →
//! `file_path`; `postToolUse`, `afterShellExecution`, `afterMCPExecution`, `afterFileEdit` →
//! `PostToolUse`; `postToolUseFailure` → `PostToolUseFailure`; `beforeSubmitPrompt` →
//! `UserPromptSubmit`; `stop` → `Stop`; `sessionStart`/`sessionEnd`, `subagentStart`/
//! `subagentStop`, `preCompact` → Claude's names; `conversation_id` → `session_id`,
//! `workspace_roots[0]` → `cwd` when there is none; `cursor_version` → `agent.version`.
//!
//! *Out*: always JSON (`{}` when there is nothing to say). Deny (and ask where the event has
//! no ask, defer, stop, a rewrite Cursor cannot apply) → exit 2 **and** the JSON in every
//! documented form: `{"permission":"deny","user_message","agent_message"}` plus, on
//! preToolUse, `{"decision":"deny","reason"}`. Ask on shell/MCP → `permission:"ask"`. A rewrite
//! on preToolUse → allow with `updated_input` in Cursor's keys; on the other events → deny
//! naming it. beforeSubmitPrompt block → `{"continue":false,"user_message"}` and exit 2.

use serde_json::{Map, Value, json};

use super::{Answer, Inbound, Mapped, ToolSpec, json_answer, rewrite_denied};
use crate::decision::{Permission, Response};

const KEYS: &[(&str, &str)] = &[("path", "file_path"), ("target_file", "file_path"), ("contents", "content")];

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec { agent: "Shell", canonical: "Bash", keys: &[] },
    ToolSpec { agent: "Read", canonical: "Read", keys: KEYS },
    ToolSpec { agent: "Write", canonical: "Write", keys: KEYS },
    ToolSpec { agent: "Edit", canonical: "Edit", keys: KEYS },
    ToolSpec { agent: "StrReplace", canonical: "Edit", keys: KEYS },
    ToolSpec { agent: "Delete", canonical: "Edit", keys: KEYS },
    ToolSpec { agent: "Grep", canonical: "Grep", keys: &[] },
    ToolSpec { agent: "LS", canonical: "LS", keys: &[] },
    ToolSpec { agent: "Task", canonical: "Task", keys: &[] },
];

pub const EVENTS: &[(&str, &str)] = &[
    ("preToolUse", "PreToolUse"),
    ("beforeShellExecution", "PreToolUse"),
    ("beforeMCPExecution", "PreToolUse"),
    ("beforeReadFile", "PreToolUse"),
    ("postToolUse", "PostToolUse"),
    ("afterShellExecution", "PostToolUse"),
    ("afterMCPExecution", "PostToolUse"),
    ("afterFileEdit", "PostToolUse"),
    ("postToolUseFailure", "PostToolUseFailure"),
    ("beforeSubmitPrompt", "UserPromptSubmit"),
    ("stop", "Stop"),
    ("sessionStart", "SessionStart"),
    ("sessionEnd", "SessionEnd"),
    ("subagentStart", "SubagentStart"),
    ("subagentStop", "SubagentStop"),
    ("preCompact", "PreCompact"),
];

fn mcp(map: &Map<String, Value>, tool: &str) -> String {
    if let Some(n) = super::mcp_name(tool) {
        return n;
    }
    let server = ["server", "server_name", "serverName"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .unwrap_or("unknown");
    format!("mcp__{server}__{tool}")
}

pub fn to_canonical(map: &Map<String, Value>, hint: Option<&str>) -> Result<Mapped, super::AgentError> {
    let agent_event = map
        .get("hook_event_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or(hint)
        .ok_or_else(|| super::AgentError("Cursor event has no `hook_event_name`".into()))?
        .to_string();
    let event = EVENTS.iter().find(|(c, _)| *c == agent_event).map_or(agent_event.as_str(), |(_, e)| e).to_string();
    let (mut fields, _) = super::rename_keys(map, &[("conversation_id", "session_id")]);
    if !fields.contains_key("cwd")
        && let Some(root) = map.get("workspace_roots").and_then(Value::as_array).and_then(|r| r.first()).cloned()
    {
        fields.insert("cwd".into(), root);
    }
    let version = map.get("cursor_version").and_then(Value::as_str).map(str::to_string);
    let take = |fields: &mut Map<String, Value>, keys: &[&str]| {
        let mut input = Map::new();
        for k in keys {
            if let Some(v) = fields.remove(*k) {
                input.insert((*k).to_string(), v);
            }
        }
        input
    };
    let tool = match agent_event.as_str() {
        "beforeShellExecution" | "afterShellExecution" => {
            let mut input = take(&mut fields, &["command", "timeout", "output", "duration"]);
            if let Some(c) = fields.get("cwd") {
                input.insert("working_directory".into(), c.clone());
            }
            fields.insert("tool_name".into(), "Shell".into());
            fields.insert("tool_input".into(), Value::Object(input));
            super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, &[])
        }
        "beforeReadFile" => {
            let input = take(&mut fields, &["file_path", "content", "attachments"]);
            fields.insert("tool_name".into(), "Read".into());
            fields.insert("tool_input".into(), Value::Object(input));
            super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, &[])
        }
        "afterFileEdit" => {
            let input = take(&mut fields, &["file_path", "edits"]);
            fields.insert("tool_name".into(), "Edit".into());
            fields.insert("tool_input".into(), Value::Object(input));
            super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, &[])
        }
        "beforeMCPExecution" | "afterMCPExecution" => {
            let name = fields.get("tool_name").and_then(Value::as_str).unwrap_or("").to_string();
            let canonical = mcp(map, &name);
            let mut t = super::map_tool_fields(&mut fields, "tool_name", "tool_input", &[], &[]);
            fields.insert("tool_name".into(), canonical.clone().into());
            if let Some(t) = t.as_mut() {
                t.canonical_tool = canonical;
            }
            t
        }
        _ => {
            let name = fields.get("tool_name").and_then(Value::as_str).map(str::to_string);
            let mut t = super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, &[]);
            if name.as_deref() == Some("MCP") {
                let inner = fields
                    .get("tool_input")
                    .and_then(|i| i.get("tool_name").or_else(|| i.get("name")))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string();
                let canonical = mcp(map, &inner);
                fields.insert("tool_name".into(), canonical.clone().into());
                if let Some(t) = t.as_mut() {
                    t.canonical_tool = canonical;
                }
            }
            t
        }
    };
    Ok(Mapped { event, agent_event, fields, tool, version })
}

fn has_ask(agent_event: &str) -> bool {
    matches!(agent_event, "beforeShellExecution" | "beforeMCPExecution")
}

pub fn render(inb: &Inbound, a: &Answer) -> Response {
    let pre_tool = inb.agent_event == "preToolUse";
    let deny = |reason: String| {
        let mut out = json!({"permission": "deny", "user_message": reason, "agent_message": reason});
        if pre_tool {
            out["decision"] = "deny".into();
            out["reason"] = reason.clone().into();
        }
        let mut r = json_answer(out);
        r.stderr = format!("{reason}\n");
        r.exit_code = 2;
        r
    };
    match inb.event.as_str() {
        "PreToolUse" => {
            if a.permission == Some(Permission::Ask) && has_ask(&inb.agent_event) && !a.stop {
                let reason = a.reason_or("hookhost policy asks for confirmation");
                return json_answer(json!({"permission": "ask", "user_message": reason, "agent_message": reason}));
            }
            if let Some(reason) = a.strict_deny() {
                return deny(reason);
            }
            if let Some(u) = &a.updated_input {
                if !pre_tool {
                    return deny(rewrite_denied(u, "Cursor cannot rewrite this event's input"));
                }
                return match inb.rewrite_to_agent(u, false) {
                    Ok(v) if !matches!(v, Value::String(_)) => json_answer(json!({
                        "permission": "allow", "decision": "allow", "updated_input": v,
                    })),
                    Ok(_) => deny(rewrite_denied(u, "Cursor cannot apply a patch rewrite")),
                    Err(why) => deny(rewrite_denied(u, &why)),
                };
            }
            match a.permission {
                Some(Permission::Allow) if pre_tool => json_answer(json!({"permission": "allow", "decision": "allow"})),
                Some(Permission::Allow) => json_answer(json!({"permission": "allow"})),
                _ => json_answer(json!({})),
            }
        }
        "UserPromptSubmit" if a.blocked || a.stop => {
            let reason = a.reason_or("blocked by hookhost policy");
            let mut r = json_answer(json!({"continue": false, "user_message": reason}));
            r.stderr = format!("{reason}\n");
            r.exit_code = 2;
            r
        }
        "Stop" if a.blocked && !a.stop => {
            json_answer(json!({"followup_message": a.reason_or("hookhost policy: keep working")}))
        }
        _ if a.blocked => {
            let reason = a.reason_or("blocked by hookhost policy");
            let mut r = json_answer(json!({"permission": "deny", "user_message": reason, "agent_message": reason}));
            r.stderr = format!("{reason}\n");
            r.exit_code = 2;
            r
        }
        _ => json_answer(json!({})),
    }
}
