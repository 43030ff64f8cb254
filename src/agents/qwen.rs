//! Qwen Code (observed: 0.24.4, `fixtures/qwen-code-0.24.4/`).
//!
//! *In*: Claude Code's event names and common fields already; tools as in Gemini CLI (a fork):
//! `run_shell_command` → `Bash`, `write_file` → `Write`, `read_file` → `Read`, `edit` →
//! `Edit`, `list_directory` → `LS`, `glob` → `Glob`, `grep_search` → `Grep`, `web_fetch` →
//! `WebFetch`, `todo_write` → `TodoWrite`, `task` → `Task`; `server__tool` →
//! `mcp__server__tool`.
//!
//! *Out* (README table): Claude Code's nested JSON is honoured. Deny → `permissionDecision:
//! "deny"` (the model sees the bare reason); ask and defer → that deny with a reason saying
//! approval is needed (ask only blocks a headless run); stop → the deny plus `continue:false`
//! (0.24.4 blocks that call and goes on); a **rewrite → deny naming it**: 0.24.4 ignores
//! `updatedInput` on PreToolUse and would run the original; allow → `permissionDecision:
//! "allow"`. Other events: `{"decision":"block","reason"}` (on Stop Qwen runs another turn).

use serde_json::{Map, Value, json};

use super::{Answer, Inbound, Mapped, ToolSpec, json_answer, rewrite_denied, silent};
use crate::decision::{Permission, Response};

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec { agent: "run_shell_command", canonical: "Bash", keys: &[] },
    ToolSpec { agent: "write_file", canonical: "Write", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "read_file", canonical: "Read", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "edit", canonical: "Edit", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "replace", canonical: "Edit", keys: &[("absolute_path", "file_path")] },
    ToolSpec { agent: "list_directory", canonical: "LS", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "glob", canonical: "Glob", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "grep_search", canonical: "Grep", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "search_file_content", canonical: "Grep", keys: &[("dir_path", "path")] },
    ToolSpec { agent: "todo_write", canonical: "TodoWrite", keys: &[] },
    ToolSpec { agent: "task", canonical: "Task", keys: &[] },
];

pub fn to_canonical(map: &Map<String, Value>) -> Result<Mapped, super::AgentError> {
    let event = map
        .get("hook_event_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| super::AgentError("Qwen Code event has no `hook_event_name`".into()))?
        .to_string();
    let mut fields = map.clone();
    let tool = super::gemini::map_tools(&mut fields, TOOLS);
    Ok(Mapped { event: event.clone(), agent_event: event, fields, tool, version: None })
}

pub fn render(inb: &Inbound, a: &Answer) -> Response {
    if inb.event == "PreToolUse" {
        let deny = a.strict_deny().or_else(|| {
            a.updated_input
                .as_ref()
                .map(|u| rewrite_denied(u, "Qwen Code 0.24.4 cannot apply a rewrite (it would run the original)"))
        });
        if let Some(reason) = deny {
            let mut out = json!({"hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }});
            if a.stop {
                out["continue"] = false.into();
                out["stopReason"] = a.stop_reason.clone().unwrap_or_default().into();
            }
            return json_answer(out);
        }
        let mut spec = Map::new();
        if a.permission == Some(Permission::Allow) {
            spec.insert("permissionDecision".into(), "allow".into());
        }
        if let Some(c) = &a.context {
            spec.insert("additionalContext".into(), c.clone().into());
        }
        if spec.is_empty() {
            return silent();
        }
        let mut s = Map::new();
        s.insert("hookEventName".into(), "PreToolUse".into());
        s.extend(spec);
        return json_answer(json!({"hookSpecificOutput": s}));
    }
    claude_like_other(a, &inb.event)
}

/// Events other than PreToolUse for agents on Claude Code's schema: a block is
/// `{"decision":"block","reason"}`, a stop `continue:false` (not on Stop, which ends anyway).
pub fn claude_like_other(a: &Answer, event: &str) -> Response {
    if a.stop && event == "Stop" {
        // continue:false beats a block: the agent stops (it is stopping anyway).
        return silent();
    }
    let mut out = Map::new();
    if a.blocked {
        out.insert("decision".into(), "block".into());
        out.insert("reason".into(), a.reason_or("blocked by hookhost policy").into());
    }
    if a.stop && event != "Stop" {
        out.insert("continue".into(), false.into());
        if let Some(r) = &a.stop_reason {
            out.insert("stopReason".into(), r.clone().into());
        }
    }
    if !a.specific.is_empty() {
        let mut s = Map::new();
        s.insert("hookEventName".into(), event.into());
        s.extend(a.specific.clone());
        out.insert("hookSpecificOutput".into(), Value::Object(s));
    }
    if out.is_empty() { silent() } else { json_answer(Value::Object(out)) }
}
