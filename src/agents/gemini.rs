//! Google Gemini CLI (observed: 0.61.0, `fixtures/gemini-cli-0.61.0/`).
//!
//! *In*: `BeforeTool` → `PreToolUse`, `AfterTool` → `PostToolUse`, `BeforeAgent` →
//! `UserPromptSubmit`, `AfterAgent` → `Stop` (`prompt_response` → `last_assistant_message`),
//! `PreCompress` → `PreCompact`; `SessionStart`, `SessionEnd`, `Notification` keep their names
//! and Gemini-only events (`BeforeModel`, `AfterModel`, `BeforeToolSelection`) pass through.
//! Tools: `run_shell_command` → `Bash`, `write_file` → `Write`, `replace` → `Edit`, `read_file`
//! → `Read` (`absolute_path` → `file_path`), `read_many_files` → `Read` with every path in
//! `files`, `list_directory` → `LS`, `glob` → `Glob`, `search_file_content`/`grep_search` →
//! `Grep`, `web_fetch` → `WebFetch` (`url`: the first URL of its prompt), `google_web_search` →
//! `WebSearch`; `server__tool` → `mcp__server__tool`.
//!
//! *Out* (README table): Gemini reads only the top-level `decision`. Deny → `{"decision":
//! "deny","reason"}`; ask → the same deny (an `ask` hangs a headless run, and no field of the
//! payload or environment tells an interactive session apart), defer → deny; stop →
//! `continue:false` (the agent stops) plus the deny; a rewrite →
//! `{"hookSpecificOutput":{"tool_input":…}}` in Gemini's keys — Gemini *merges* it into the
//! original arguments, so a rewrite that drops an argument is denied instead; allow →
//! `{"decision":"allow"}`. A block of any other event → `{"decision":"deny","reason"}` (on
//! AfterAgent Gemini runs another turn).

use serde_json::{Map, Value, json};

use super::{Answer, Inbound, Mapped, ToolSpec, json_answer, rewrite_denied, silent};
use crate::decision::{Permission, Response};

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec { agent: "run_shell_command", canonical: "Bash", keys: &[] },
    ToolSpec { agent: "write_file", canonical: "Write", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "replace", canonical: "Edit", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "edit", canonical: "Edit", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "read_file", canonical: "Read", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "list_directory", canonical: "LS", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "glob", canonical: "Glob", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "search_file_content", canonical: "Grep", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "grep_search", canonical: "Grep", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "google_web_search", canonical: "WebSearch", keys: &[] },
    ToolSpec { agent: "write_todos", canonical: "TodoWrite", keys: &[] },
];

/// Gemini's event names → Claude Code's.
pub const EVENTS: &[(&str, &str)] = &[
    ("BeforeTool", "PreToolUse"),
    ("AfterTool", "PostToolUse"),
    ("BeforeAgent", "UserPromptSubmit"),
    ("AfterAgent", "Stop"),
    ("PreCompress", "PreCompact"),
];

pub fn to_canonical(map: &Map<String, Value>) -> Result<Mapped, super::AgentError> {
    let agent_event = map
        .get("hook_event_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| super::AgentError("Gemini CLI event has no `hook_event_name`".into()))?
        .to_string();
    let event = EVENTS.iter().find(|(g, _)| *g == agent_event).map_or(agent_event.as_str(), |(_, c)| c).to_string();
    let mut fields = map.clone();
    if event == "Stop"
        && let Some(r) = fields.get("prompt_response").cloned()
    {
        fields.entry("last_assistant_message").or_insert(r);
    }
    let tool = map_tools(&mut fields, TOOLS);
    Ok(Mapped { event, agent_event, fields, tool, version: None })
}

/// Gemini-family tool mapping (shared with Qwen Code, a fork): the table, plus the tools whose
/// inputs need more than a rename (`read_many_files`, `web_fetch`).
pub fn map_tools(fields: &mut Map<String, Value>, table: &[ToolSpec]) -> Option<super::ToolMapping> {
    let name = fields.get("tool_name").and_then(Value::as_str).map(str::to_string);
    let mut tool = super::map_tool_fields(fields, "tool_name", "tool_input", table, &[])?;
    let cwd = fields.get("cwd").and_then(Value::as_str).map(str::to_string);
    match name.as_deref() {
        Some("read_many_files") => {
            fields.insert("tool_name".into(), "Read".into());
            tool.canonical_tool = "Read".into();
            if let Some(Value::Object(input)) = fields.get_mut("tool_input") {
                let paths: Vec<String> = ["paths", "include"]
                    .iter()
                    .filter_map(|k| input.get(*k).and_then(Value::as_array))
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|p| super::patch::absolute(p, cwd.as_deref()))
                    .collect();
                if let Some(first) = paths.first() {
                    input.entry("file_path").or_insert_with(|| first.clone().into());
                }
                let files: Vec<Value> = paths.iter().map(|p| json!({"action": "read", "path": p})).collect();
                input.insert("files".into(), Value::Array(files));
            }
        }
        Some("web_fetch") => {
            fields.insert("tool_name".into(), "WebFetch".into());
            tool.canonical_tool = "WebFetch".into();
            if let Some(Value::Object(input)) = fields.get_mut("tool_input")
                && !input.contains_key("url")
                && let Some(url) = input
                    .get("prompt")
                    .and_then(Value::as_str)
                    .and_then(|p| p.split_whitespace().find(|w| w.starts_with("http://") || w.starts_with("https://")))
            {
                input.insert("url".into(), url.trim_end_matches([',', '.', ')', ';']).into());
            }
        }
        _ => {}
    }
    Some(tool)
}

pub fn render(inb: &Inbound, a: &Answer) -> Response {
    if inb.event == "PreToolUse" {
        if let Some(reason) = a.strict_deny() {
            let mut out = json!({"decision": "deny", "reason": reason});
            if a.stop {
                out["continue"] = false.into();
                out["stopReason"] = a.stop_reason.clone().unwrap_or_else(|| reason.clone()).into();
            }
            return json_answer(out);
        }
        if let Some(u) = &a.updated_input {
            return match inb.rewrite_to_agent(u, true) {
                Ok(v) if !matches!(v, Value::String(_)) => {
                    json_answer(json!({"hookSpecificOutput": {"tool_input": v}}))
                }
                Ok(_) => json_answer(
                    json!({"decision": "deny", "reason": rewrite_denied(u, "Gemini CLI cannot apply a patch rewrite")}),
                ),
                Err(why) => json_answer(json!({"decision": "deny", "reason": rewrite_denied(u, &why)})),
            };
        }
        return match a.permission {
            Some(Permission::Allow) => json_answer(json!({"decision": "allow"})),
            _ => silent(),
        };
    }
    if a.stop && inb.event == "Stop" {
        // continue:false beats a block: the agent stops (it is stopping anyway).
        return silent();
    }
    let mut out = Map::new();
    if a.blocked || a.permission == Some(Permission::Deny) {
        out.insert("decision".into(), "deny".into());
        out.insert("reason".into(), a.reason_or("blocked by hookhost policy").into());
    }
    if a.stop {
        out.insert("continue".into(), false.into());
        out.insert(
            "stopReason".into(),
            a.stop_reason.clone().unwrap_or_else(|| a.reason_or("stopped by hookhost")).into(),
        );
    }
    if out.is_empty() { silent() } else { json_answer(Value::Object(out)) }
}
