//! GitHub Copilot CLI (observed: 1.0.102, `fixtures/copilot-cli-1.0.102/`), both dialects.
//!
//! *In*: a payload with `hook_event_name` is the "VS Code compatible" dialect (PascalCase config
//! keys): Claude's event and tool names, Copilot's input keys. Otherwise it is the native
//! camelCase dialect, which carries **no event name**: the event is `--agent-event` /
//! `HOOKHOST_AGENT_EVENT` (what `hookhost install --agent copilot` registers per event), else
//! `hookName`, else inferred from the payload's shape (`toolResult` → postToolUse, `toolName` →
//! preToolUse, `prompt` → userPromptSubmitted, `stopReason`/`stop_hook_active` → agentStop,
//! `source` → sessionStart, `reason` → sessionEnd). A payload shaped like a pre-tool call is
//! always a PreToolUse, whatever the hint says, so a deny cannot be lost to a wrong hint.
//! Events: preToolUse → PreToolUse, postToolUse → PostToolUse, userPromptSubmitted →
//! UserPromptSubmit, agentStop → Stop, subagentStop → SubagentStop, sessionStart/sessionEnd,
//! permissionRequest → PermissionRequest. Fields: `sessionId` → `session_id`, `toolName`/`toolArgs`
//! (`toolInput`) → `tool_name`/`tool_input`, `toolResult` → `tool_response`. Tools: `bash` →
//! `Bash`, `create` → `Write`, `edit` → `Edit`, `view` → `Read`, `glob` → `Glob`, `grep` →
//! `Grep`, `web_fetch` → `WebFetch`, `apply_patch` (a bare string) → a patch call; keys `path` →
//! `file_path`, `file_text` → `content`, `old_str`/`new_str` → `old_string`/`new_string`; a
//! permissionRequest's `diff` is parsed like a patch.
//!
//! *Out* (README tables; the flat form is honoured in both dialects, Claude's nested form only
//! under PascalCase): deny → `{"permissionDecision":"deny","permissionDecisionReason"}` (not
//! exit 2, which drops the reason); ask → `permissionDecision:"ask"` (prompts, and blocks in
//! `-p`); defer and stop (ignored by Copilot) → deny; a rewrite → `permissionDecision:"allow"` +
//! `modifiedArgs` in Copilot's keys (a patch rewrite is denied: unverified); allow →
//! `permissionDecision:"allow"`. agentStop block → `{"decision":"block","reason"}`.

use serde_json::{Map, Value, json};

use super::{Answer, Inbound, Mapped, ToolSpec, json_answer, rewrite_denied, silent};
use crate::decision::{Permission, Response};

pub const TOOL_KEYS: &[(&str, &str)] =
    &[("path", "file_path"), ("file_text", "content"), ("old_str", "old_string"), ("new_str", "new_string")];

pub const TOOLS: &[ToolSpec] = &[
    ToolSpec { agent: "bash", canonical: "Bash", keys: TOOL_KEYS },
    // Text typed into a running shell session is a command line too.
    ToolSpec { agent: "write_bash", canonical: "Bash", keys: &[("input", "command")] },
    ToolSpec { agent: "create", canonical: "Write", keys: TOOL_KEYS },
    ToolSpec { agent: "edit", canonical: "Edit", keys: TOOL_KEYS },
    ToolSpec { agent: "view", canonical: "Read", keys: TOOL_KEYS },
    ToolSpec { agent: "glob", canonical: "Glob", keys: &[] },
    ToolSpec { agent: "grep", canonical: "Grep", keys: &[] },
    ToolSpec { agent: "web_fetch", canonical: "WebFetch", keys: &[] },
    // PascalCase: names already Claude's, keys Copilot's.
    ToolSpec { agent: "Bash", canonical: "Bash", keys: TOOL_KEYS },
    ToolSpec { agent: "Write", canonical: "Write", keys: TOOL_KEYS },
    ToolSpec { agent: "Edit", canonical: "Edit", keys: TOOL_KEYS },
    ToolSpec { agent: "Read", canonical: "Read", keys: TOOL_KEYS },
];

pub const PATCH_TOOLS: &[&str] = &["apply_patch"];

/// camelCase event names → Claude Code's.
pub const EVENTS: &[(&str, &str)] = &[
    ("preToolUse", "PreToolUse"),
    ("postToolUse", "PostToolUse"),
    ("userPromptSubmitted", "UserPromptSubmit"),
    ("agentStop", "Stop"),
    ("subagentStop", "SubagentStop"),
    ("sessionStart", "SessionStart"),
    ("sessionEnd", "SessionEnd"),
    ("permissionRequest", "PermissionRequest"),
    ("errorOccurred", "Notification"),
];

const FIELDS: &[(&str, &str)] = &[
    ("sessionId", "session_id"),
    ("transcriptPath", "transcript_path"),
    ("toolName", "tool_name"),
    ("toolArgs", "tool_input"),
    ("toolInput", "tool_input"),
    ("toolResult", "tool_response"),
    ("initialPrompt", "initial_prompt"),
    ("stopReason", "stop_reason"),
    ("hookName", "hook_name"),
    ("permissionSuggestions", "permission_suggestions"),
];

fn infer(map: &Map<String, Value>) -> Option<&'static str> {
    let has = |k: &str| map.contains_key(k);
    Some(if has("toolResult") {
        "postToolUse"
    } else if has("toolName") {
        "preToolUse"
    } else if has("prompt") {
        "userPromptSubmitted"
    } else if has("stopReason") || has("stop_hook_active") {
        "agentStop"
    } else if has("source") || has("initialPrompt") {
        "sessionStart"
    } else if has("reason") {
        "sessionEnd"
    } else {
        return None;
    })
}

pub fn to_canonical(map: &Map<String, Value>, hint: Option<&str>) -> Result<Mapped, super::AgentError> {
    if let Some(name) = map.get("hook_event_name").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        // VS Code compatible dialect.
        let mut fields = map.clone();
        let tool = super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, PATCH_TOOLS);
        return Ok(Mapped { event: name.to_string(), agent_event: name.to_string(), fields, tool, version: None });
    }
    let hooked = map.get("hookName").and_then(Value::as_str);
    let pre_shaped = map.contains_key("toolName") && !map.contains_key("toolResult") && hooked.is_none();
    let agent_event = if pre_shaped {
        "preToolUse".to_string()
    } else {
        hint.map(str::to_string)
            .or_else(|| hooked.map(str::to_string))
            .or_else(|| infer(map).map(str::to_string))
            .ok_or_else(|| {
                super::AgentError(
                    "Copilot CLI camelCase event without an event name: pass --agent-event (hookhost install does)"
                        .into(),
                )
            })?
    };
    let event = EVENTS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(&agent_event))
        .map_or(agent_event.as_str(), |(_, e)| e)
        .to_string();
    let (mut fields, _) = super::rename_keys(map, FIELDS);
    let tool = super::map_tool_fields(&mut fields, "tool_name", "tool_input", TOOLS, PATCH_TOOLS);
    // permissionRequest on an edit carries the change as a diff: its files are checked too.
    let cwd = fields.get("cwd").and_then(Value::as_str).map(str::to_string);
    if let Some(Value::Object(input)) = fields.get_mut("tool_input")
        && let Some(diff) = input.get("diff").and_then(Value::as_str)
    {
        let (_, canon) = super::patch::canonical_call(diff, cwd.as_deref());
        if let Some(files) = canon.get("files") {
            input.insert("files".into(), files.clone());
        }
    }
    Ok(Mapped { event, agent_event, fields, tool, version: None })
}

pub fn render(inb: &Inbound, a: &Answer) -> Response {
    match inb.event.as_str() {
        "PreToolUse" | "PermissionRequest" => {
            let deny =
                |reason: String| json_answer(json!({"permissionDecision": "deny", "permissionDecisionReason": reason}));
            match a.permission {
                Some(Permission::Ask) if !a.stop => {
                    return json_answer(json!({
                        "permissionDecision": "ask",
                        "permissionDecisionReason": a.reason_or("hookhost policy asks for confirmation"),
                    }));
                }
                _ => {}
            }
            if let Some(reason) = a.strict_deny() {
                return deny(reason);
            }
            if let Some(u) = &a.updated_input {
                return match inb.rewrite_to_agent(u, false) {
                    Ok(v) if !matches!(v, Value::String(_)) => {
                        json_answer(json!({"permissionDecision": "allow", "modifiedArgs": v}))
                    }
                    Ok(_) => deny(rewrite_denied(u, "a patch rewrite is not known to work with Copilot CLI")),
                    Err(why) => deny(rewrite_denied(u, &why)),
                };
            }
            match a.permission {
                Some(Permission::Allow) => json_answer(json!({"permissionDecision": "allow"})),
                _ => silent(),
            }
        }
        _ => {
            if a.stop && inb.event == "Stop" {
                return silent();
            }
            if a.blocked || a.stop {
                let r = if a.blocked {
                    a.reason_or("blocked by hookhost policy")
                } else {
                    format!("hookhost stops the session: {}", a.stop_reason.clone().unwrap_or_default())
                };
                json_answer(json!({"decision": "block", "reason": r}))
            } else {
                silent()
            }
        }
    }
}
