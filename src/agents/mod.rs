//! One adapter per coding agent: the agent's hook payload → the canonical event (Claude Code's
//! shape), and hookhost's answer (a [`Response`] in Claude Code's form) → the agent's wire form.
//! Nothing else: no policy, no I/O, no front end (`crate::cli::agents` is where they meet
//! `dispatch`). The adapters sit at the edge of `dispatch` (and of `explain`, `test`), so every
//! front end evaluates the same canonical event and the daemon never needs to know which agent
//! asked.
//!
//! **The canonical mapping contract** (what every adapter promises):
//! - *in*: `hook_event_name` is Claude Code's event name (`BeforeTool` → `PreToolUse`,
//!   Copilot's `preToolUse`, Cursor's `beforeShellExecution` → `PreToolUse` + `Bash`, …);
//!   `tool_name` is Claude Code's tool name where there is one (`run_shell_command`,
//!   `exec_command`, `bash`, `Shell` → `Bash`; `read_file`, `view` → `Read`; `write_file`,
//!   `create` → `Write`; `replace`, `edit` → `Edit`; MCP tools → `mcp__server__tool`), and
//!   `tool_input` uses Claude Code's keys (`command`, `file_path`, `content`, `old_string`,
//!   `new_string`); a patch-shaped edit becomes `Write`/`Edit` with `patch` and `files` (every
//!   file it touches, see [`patch`]). Common fields (`session_id`, `cwd`, `transcript_path`, …)
//!   get their snake_case names; fields without a canonical name are kept as they are. The
//!   event carries `"agent": {"name", "version", "payload"}` with the original payload.
//!   Claude Code is the identity: its bytes are passed on unchanged, with no `agent` added.
//! - *out*: the answer keeps its meaning or gets stricter, never weaker ([`Answer`] is the
//!   meaning): a deny is sent in a form the agent is observed to honour; where the agent has no
//!   `ask`, ask becomes a deny whose reason says approval is needed; a rewrite
//!   (`updatedInput`) is mapped back to the agent's tool keys, or becomes a deny that names it
//!   where the agent cannot apply it; a stop that the agent would ignore becomes a deny; a
//!   plain allow is sent only where the agent accepts it (else no opinion). Host errors keep
//!   their exit code (2 blocks for every agent; 1 is a failed hook, which every agent ignores).

pub mod claude;
pub mod codex;
pub mod copilot;
pub mod cursor;
pub mod files;
pub mod gemini;
pub mod patch;
pub mod qwen;

use serde_json::{Map, Value};

use crate::decision::{Permission, Response};

/// The agents hookhost speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Agent {
    #[default]
    Claude,
    Codex,
    Gemini,
    Copilot,
    Qwen,
    Cursor,
}

impl Agent {
    pub const ALL: [Agent; 6] =
        [Agent::Claude, Agent::Codex, Agent::Gemini, Agent::Copilot, Agent::Qwen, Agent::Cursor];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Copilot => "copilot",
            Agent::Qwen => "qwen",
            Agent::Cursor => "cursor",
        }
    }

    pub fn parse(s: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == s.trim().to_ascii_lowercase())
    }

    /// The agent's events hookhost registers for, in the agent's spelling (`hookhost install`);
    /// Claude Code's are names of the event vocabulary.
    pub fn hook_events(self) -> &'static [&'static str] {
        use crate::event::EventName as E;
        const CLAUDE: &[&str] = &[
            E::PreToolUse.as_str(),
            E::PostToolUse.as_str(),
            E::PostToolUseFailure.as_str(),
            E::PermissionRequest.as_str(),
            E::UserPromptSubmit.as_str(),
            E::Stop.as_str(),
            E::SubagentStop.as_str(),
            E::SessionStart.as_str(),
            E::SessionEnd.as_str(),
            E::ConfigChange.as_str(),
        ];
        match self {
            Agent::Claude => CLAUDE,
            Agent::Codex => &["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"],
            Agent::Gemini => {
                &["SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent", "PreCompress", "SessionEnd"]
            }
            Agent::Qwen => &[
                "SessionStart",
                "UserPromptSubmit",
                "PreToolUse",
                "PostToolUse",
                "PostToolUseFailure",
                "Stop",
                "SessionEnd",
            ],
            Agent::Copilot => &[
                "sessionStart",
                "userPromptSubmitted",
                "preToolUse",
                "postToolUse",
                "permissionRequest",
                "agentStop",
                "sessionEnd",
            ],
            Agent::Cursor => &[
                "sessionStart",
                "beforeSubmitPrompt",
                "beforeShellExecution",
                "beforeMCPExecution",
                "beforeReadFile",
                "preToolUse",
                "postToolUse",
                "afterShellExecution",
                "afterFileEdit",
                "stop",
                "sessionEnd",
            ],
        }
    }

    /// The agent's payload → the canonical event. `event_hint`: the agent's event name when the
    /// payload does not carry one (Copilot's camelCase hooks; `--agent-event`).
    pub fn accept(self, input: &[u8], event_hint: Option<&str>) -> Result<Inbound, AgentError> {
        if self == Agent::Claude {
            return Ok(Inbound::identity(input));
        }
        let payload: Value = serde_json::from_slice(input).map_err(|e| AgentError(format!("invalid event: {e}")))?;
        let Value::Object(map) = payload else {
            return Err(AgentError("invalid event: not a JSON object".into()));
        };
        let mapped = match self {
            Agent::Claude => unreachable_identity(&map),
            Agent::Codex => codex::to_canonical(&map),
            Agent::Gemini => gemini::to_canonical(&map),
            Agent::Copilot => copilot::to_canonical(&map, event_hint),
            Agent::Qwen => qwen::to_canonical(&map),
            Agent::Cursor => cursor::to_canonical(&map, event_hint),
        }?;
        Ok(Inbound::mapped(self, map, mapped))
    }
}

fn unreachable_identity(map: &Map<String, Value>) -> Result<Mapped, AgentError> {
    // Claude is answered by `Inbound::identity` above; kept total without a panic.
    let event = map.get("hook_event_name").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Mapped { event: event.clone(), agent_event: event, fields: map.clone(), tool: None, version: None })
}

/// An agent payload that cannot be read (answered like an invalid event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AgentError(pub String);

/// What an adapter's *in* produced.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// Claude Code's event name.
    pub event: String,
    /// The agent's own event name (for the answer's form).
    pub agent_event: String,
    /// Canonical fields, without `hook_event_name` and `agent` (added by [`Inbound::mapped`]).
    pub fields: Map<String, Value>,
    /// The tool mapping applied, for mapping a rewrite back.
    pub tool: Option<ToolMapping>,
    pub version: Option<String>,
}

/// One tool's name and input keys in the agent's spelling and in Claude Code's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolMapping {
    pub agent_tool: String,
    pub canonical_tool: String,
    /// (agent key, canonical key) pairs that were renamed.
    pub keys: Vec<(String, String)>,
    /// The original input was a patch (string or `command`): a rewrite must give `patch`.
    pub patch: bool,
    /// The original input (to check what a rewrite drops).
    pub original_input: Value,
}

/// One event, in and out.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub agent: Agent,
    /// The canonical event's bytes (Claude: the input, unchanged).
    pub canonical: Vec<u8>,
    /// Claude Code's event name of this event (empty for Claude: routed unchanged).
    pub event: String,
    pub agent_event: String,
    pub tool: Option<ToolMapping>,
    pub original: Map<String, Value>,
}

impl Inbound {
    fn identity(input: &[u8]) -> Self {
        Inbound {
            agent: Agent::Claude,
            canonical: input.to_vec(),
            event: String::new(),
            agent_event: String::new(),
            tool: None,
            original: Map::new(),
        }
    }

    fn mapped(agent: Agent, original: Map<String, Value>, m: Mapped) -> Self {
        let mut out = Map::new();
        let mut fields = m.fields;
        fields.remove("hook_event_name");
        fields.remove("agent");
        // Claude Code's order: common fields, then the event name, then the event's fields.
        for k in ["session_id", "transcript_path", "cwd", "prompt_id", "permission_mode"] {
            if let Some(v) = fields.remove(k) {
                out.insert(k.into(), v);
            }
        }
        out.insert("hook_event_name".into(), m.event.clone().into());
        out.extend(fields);
        let mut a = Map::new();
        a.insert("name".into(), agent.name().into());
        a.insert("version".into(), m.version.map_or(Value::Null, Value::String));
        a.insert("event".into(), m.agent_event.clone().into());
        a.insert("payload".into(), Value::Object(original.clone()));
        out.insert("agent".into(), Value::Object(a));
        let canonical = serde_json::to_vec(&Value::Object(out)).unwrap_or_default();
        Inbound { agent, canonical, event: m.event, agent_event: m.agent_event, tool: m.tool, original }
    }

    /// hookhost's answer (Claude Code's form) → this agent's wire form.
    pub fn render(&self, r: &Response) -> Response {
        if self.agent == Agent::Claude {
            return r.clone();
        }
        // Exit codes other than 0 and 2 are host errors that fail open for every agent (a
        // failed hook): passed on as they are.
        if r.exit_code != 0 && r.exit_code != 2 {
            return r.clone();
        }
        let answer = Answer::read(&self.event, r);
        match self.agent {
            Agent::Claude => r.clone(),
            Agent::Codex => codex::render(self, &answer),
            Agent::Gemini => gemini::render(self, &answer),
            Agent::Copilot => copilot::render(self, &answer),
            Agent::Qwen => qwen::render(self, &answer),
            Agent::Cursor => cursor::render(self, &answer),
        }
    }

    /// `explain`: the mapping applied, one line each.
    pub fn describe(&self) -> Vec<String> {
        if self.agent == Agent::Claude {
            return vec!["agent claude: the event is passed on unchanged (Claude Code's own form)".into()];
        }
        let mut v = vec![format!("agent {}: event {} → {}", self.agent.name(), self.agent_event, self.event)];
        if let Some(t) = &self.tool {
            v.push(format!("  tool {} → {}", t.agent_tool, t.canonical_tool));
            for (a, c) in &t.keys {
                v.push(format!("  tool_input.{a} → tool_input.{c}"));
            }
            if t.patch {
                v.push("  patch parsed into files (each checked by Edit/Write rules)".into());
            }
        }
        v
    }

    /// The canonical `tool_input` rewrite → the agent's keys. `Err`: it cannot be expressed
    /// (the caller denies, naming the rewrite).
    pub fn rewrite_to_agent(&self, updated: &Value, merges: bool) -> Result<Value, String> {
        let Some(t) = &self.tool else { return Ok(updated.clone()) };
        let Value::Object(u) = updated else {
            return Err("the rewritten input is not an object".into());
        };
        if t.patch {
            let p = u.get("patch").and_then(Value::as_str).ok_or("a rewrite of a patch must give `patch`")?;
            return Ok(Value::String(p.to_string()));
        }
        let mut out = Map::new();
        for (k, v) in u {
            if k == "files" || k == "patch" {
                continue;
            }
            let agent_key = t.keys.iter().find(|(_, c)| c == k).map(|(a, _)| a.clone()).unwrap_or_else(|| k.clone());
            out.insert(agent_key, v.clone());
        }
        if merges && let Value::Object(orig) = &t.original_input {
            // The agent merges the answer into the original input: a key the rewrite drops
            // would survive, so such a rewrite cannot be expressed.
            if let Some(k) = orig.keys().find(|k| !out.contains_key(*k) && !MERGE_DROPPABLE.contains(&k.as_str())) {
                return Err(format!("the rewrite drops `{k}`, which this agent would keep"));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Keys whose survival in a merge changes nothing that runs.
const MERGE_DROPPABLE: &[&str] = &["description", "instruction"];

/// The meaning of hookhost's answer, read back from the Claude-form [`Response`] that
/// `dispatch` renders (the adapters' only input on the way out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// PreToolUse (and PermissionRequest): the permission decision.
    pub permission: Option<Permission>,
    /// Other events: blocked (exit 2 or `decision:"block"`).
    pub blocked: bool,
    pub reason: Option<String>,
    pub updated_input: Option<Value>,
    pub stop: bool,
    pub stop_reason: Option<String>,
    pub context: Option<String>,
    pub system_message: Option<String>,
    /// `hookSpecificOutput` of events other than PreToolUse (PermissionRequest's `decision`, …).
    pub specific: Map<String, Value>,
}

impl Answer {
    /// Reads a Claude-form response. An unreadable stdout (never rendered by hookhost) is read
    /// as a deny / block: fail closed.
    pub fn read(event: &str, r: &Response) -> Answer {
        let pre = event == "PreToolUse";
        let mut a = Answer::default();
        let text = r.stdout.trim();
        let json = if text.is_empty() {
            Some(Map::new())
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            }
        };
        let Some(out) = json else {
            a.reason = Some("hookhost: unreadable answer; denied (fail closed)".into());
            if pre {
                a.permission = Some(Permission::Deny);
            } else {
                a.blocked = true;
            }
            return a;
        };
        let spec = out.get("hookSpecificOutput").and_then(Value::as_object).cloned().unwrap_or_default();
        if pre {
            a.permission = spec.get("permissionDecision").and_then(Value::as_str).and_then(|p| match p {
                "allow" => Some(Permission::Allow),
                "ask" => Some(Permission::Ask),
                "defer" => Some(Permission::Defer),
                "deny" => Some(Permission::Deny),
                _ => None,
            });
            a.reason = spec.get("permissionDecisionReason").and_then(Value::as_str).map(str::to_string);
            a.updated_input = spec.get("updatedInput").cloned();
        } else {
            for (k, v) in &spec {
                if k != "hookEventName" && k != "additionalContext" {
                    a.specific.insert(k.clone(), v.clone());
                }
            }
            if out.get("decision").and_then(Value::as_str) == Some("block") {
                a.blocked = true;
                a.reason = out.get("reason").and_then(Value::as_str).map(str::to_string);
            }
            if let Some(Value::Object(d)) = spec.get("decision")
                && d.get("behavior").and_then(Value::as_str) == Some("deny")
            {
                a.permission = Some(Permission::Deny);
                a.reason = d.get("message").and_then(Value::as_str).map(str::to_string).or(a.reason);
            }
        }
        if r.exit_code == 2 {
            let stderr = r.stderr.trim().to_string();
            if pre {
                a.permission = Some(Permission::Deny);
                a.updated_input = None;
                if !stderr.is_empty() {
                    a.reason = Some(stderr);
                }
            } else {
                a.blocked = true;
                if a.reason.as_deref().is_none_or(str::is_empty) && !stderr.is_empty() {
                    a.reason = Some(stderr);
                }
            }
        }
        a.context = spec.get("additionalContext").and_then(Value::as_str).map(str::to_string);
        a.stop = out.get("continue").and_then(Value::as_bool) == Some(false);
        a.stop_reason = out.get("stopReason").and_then(Value::as_str).map(str::to_string);
        a.system_message = out.get("systemMessage").and_then(Value::as_str).map(str::to_string);
        a
    }

    /// The reason to show, never empty (Codex treats a deny without one as invalid).
    pub fn reason_or(&self, default: &str) -> String {
        match self.reason.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => default.to_string(),
        }
    }

    /// A PreToolUse decision folded to what an agent without `ask`/`defer`/`stop` can be told:
    /// `Some(reason)` = deny with that reason.
    pub fn strict_deny(&self) -> Option<String> {
        match self.permission {
            Some(Permission::Deny) => Some(self.reason_or("denied by hookhost policy")),
            Some(Permission::Defer) => Some(format!(
                "{} (deferred by hookhost policy; this agent cannot defer, so the call is denied)",
                self.reason_or("deferred")
            )),
            Some(Permission::Ask) => Some(format!(
                "approval needed: {} (this agent cannot ask the user through a hook, so hookhost denies the call; \
                 approve it in hookhost's policy or run it yourself)",
                self.reason_or("a permission rule or hook asks for confirmation")
            )),
            _ if self.stop => Some(format!(
                "hookhost stops the session: {}",
                self.stop_reason.clone().unwrap_or_else(|| self.reason_or("continue:false"))
            )),
            _ => None,
        }
    }
}

/// The `agent` of an audit record: `{"name", "version", "event", "tool"}` from the canonical
/// event's `agent` object (the agent's own event and tool names), `{"name":"claude"}` for an
/// event in Claude Code's own form.
pub fn audit_agent(event: &crate::event::HookEvent) -> Value {
    let mut m = Map::new();
    let a = event.fields().get("agent").and_then(Value::as_object);
    let name = a.and_then(|a| a.get("name")).and_then(Value::as_str).unwrap_or("claude");
    m.insert("name".into(), name.into());
    if let Some(a) = a {
        for k in ["version", "event"] {
            if let Some(v) = a.get(k).filter(|v| !v.is_null()) {
                m.insert(k.into(), v.clone());
            }
        }
        if let Some(t) =
            a.get("payload").and_then(|p| p.get("tool_name").or_else(|| p.get("toolName"))).and_then(Value::as_str)
        {
            m.insert("tool".into(), t.into());
        }
    }
    Value::Object(m)
}

/// A deny naming a rewrite the agent cannot apply.
pub fn rewrite_denied(updated: &Value, why: &str) -> String {
    let shown = match updated.get("command").and_then(Value::as_str) {
        Some(c) => format!("`{c}`"),
        None => crate::decision::first_line(&updated.to_string()),
    };
    format!(
        "hookhost policy rewrote this call to {shown}, but {why}; denied rather than running the original. \
         Run the rewritten call instead."
    )
}

/// Exit 2 with the reason on stderr (every agent's observed "block"), nothing on stdout.
pub fn exit2(reason: &str) -> Response {
    Response { stdout: String::new(), stderr: format!("{}\n", reason.trim_end()), exit_code: 2 }
}

/// Exit 0 with one JSON object on stdout.
pub fn json_answer(v: Value) -> Response {
    Response { stdout: json_line(v), stderr: String::new(), exit_code: 0 }
}

/// Exit 0, nothing said (no opinion).
pub fn silent() -> Response {
    Response::default()
}

/// A JSON object as one line with a newline (the agents read one JSON document on stdout).
pub fn json_line(v: Value) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()) + "\n"
}

/// Common-field renames from camelCase payloads (Copilot): (agent key, canonical key).
pub const COMMON_CAMEL: &[(&str, &str)] =
    &[("sessionId", "session_id"), ("transcriptPath", "transcript_path"), ("hookName", "hook_name")];

/// Renames `keys` of `input` (an object) from agent to canonical spelling; other keys kept.
/// When the input also has a key under the canonical name, the two swap places (so both
/// values stay, and a path under either name is still checked).
pub fn rename_keys(input: &Map<String, Value>, keys: &[(&str, &str)]) -> (Map<String, Value>, Vec<(String, String)>) {
    let renamed: Vec<(&str, &str)> = keys.iter().copied().filter(|(a, c)| a != c && input.contains_key(*a)).collect();
    let mut out = Map::new();
    for (k, v) in input {
        if let Some((_, c)) = renamed.iter().find(|(a, _)| a == k) {
            out.insert((*c).to_string(), v.clone());
        } else if let Some((a, _)) = renamed.iter().find(|(_, c)| c == k) {
            out.insert((*a).to_string(), v.clone());
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    (out, renamed.iter().map(|(a, c)| ((*a).to_string(), (*c).to_string())).collect())
}

/// A tool's canonical name and key renames, from an agent's table.
pub struct ToolSpec {
    pub agent: &'static str,
    pub canonical: &'static str,
    pub keys: &'static [(&'static str, &'static str)],
}

/// Maps a tool call (`name`, `input`) through `table`; a string input or a patch tool becomes
/// a patch call. MCP names go through [`mcp_name`]. Unknown tools keep their name and keys.
pub fn map_tool(
    table: &[ToolSpec],
    name: &str,
    input: &Value,
    cwd: Option<&str>,
    patch_tools: &[&str],
) -> (String, Value, ToolMapping) {
    let mapping = |canonical: &str, keys: Vec<(String, String)>, patch: bool| ToolMapping {
        agent_tool: name.to_string(),
        canonical_tool: canonical.to_string(),
        keys,
        patch,
        original_input: input.clone(),
    };
    let patch_text = match input {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) if patch_tools.contains(&name) => {
            m.get("command").or_else(|| m.get("patch")).or_else(|| m.get("input")).and_then(Value::as_str)
        }
        _ => None,
    };
    if let Some(text) = patch_text {
        let (tool, canon) = patch::canonical_call(text, cwd);
        return (tool.to_string(), canon, mapping(tool, Vec::new(), true));
    }
    if let Some(spec) = table.iter().find(|s| s.agent == name) {
        let (canon, used) = match input {
            Value::Object(m) => {
                let (c, u) = rename_keys(m, spec.keys);
                (Value::Object(c), u)
            }
            other => (other.clone(), Vec::new()),
        };
        return (spec.canonical.to_string(), canon, mapping(spec.canonical, used, false));
    }
    let canonical = mcp_name(name).unwrap_or_else(|| name.to_string());
    (canonical.clone(), input.clone(), mapping(&canonical, Vec::new(), false))
}

/// An MCP tool name in an agent's spelling → `mcp__server__tool`: `mcp__s__t` as it is;
/// `s__t` (Gemini CLI's and Qwen Code's `server__tool` form; no built-in tool has `__`) →
/// `mcp__s__t`. `None`: not an MCP name.
pub fn mcp_name(name: &str) -> Option<String> {
    if name.starts_with("mcp__") {
        return Some(name.to_string());
    }
    let (server, tool) = name.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then(|| format!("mcp__{server}__{tool}"))
}

/// `cwd` of a payload.
pub fn cwd_of(map: &Map<String, Value>) -> Option<&str> {
    map.get("cwd").and_then(Value::as_str)
}

/// `tool_name`/`tool_input` → canonical, in place, with the table; returns the mapping.
pub fn map_tool_fields(
    fields: &mut Map<String, Value>,
    name_key: &str,
    input_key: &str,
    table: &[ToolSpec],
    patch_tools: &[&str],
) -> Option<ToolMapping> {
    let name = fields.get(name_key).and_then(Value::as_str)?.to_string();
    let input = fields.get(input_key).cloned().unwrap_or(Value::Object(Map::new()));
    let cwd = fields.get("cwd").and_then(Value::as_str).map(str::to_string);
    let (tool, canon, mapping) = map_tool(table, &name, &input, cwd.as_deref(), patch_tools);
    fields.remove(name_key);
    fields.remove(input_key);
    fields.insert("tool_name".into(), tool.into());
    fields.insert("tool_input".into(), canon);
    Some(mapping)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_names() {
        assert_eq!(mcp_name("mcp__github__get").as_deref(), Some("mcp__github__get"));
        assert_eq!(mcp_name("github__get").as_deref(), Some("mcp__github__get"));
        assert_eq!(mcp_name("run_shell_command"), None);
    }

    #[test]
    fn answers_read_back() {
        let deny = Response { stdout: String::new(), stderr: "no\n".into(), exit_code: 2 };
        let a = Answer::read("PreToolUse", &deny);
        assert_eq!(a.permission, Some(Permission::Deny));
        assert_eq!(a.reason.as_deref(), Some("no"));
        let garbage = Response { stdout: "nope".into(), stderr: String::new(), exit_code: 0 };
        assert_eq!(Answer::read("PreToolUse", &garbage).permission, Some(Permission::Deny));
        assert!(Answer::read("Stop", &garbage).blocked);
    }

    /// The adapters keep the agents' spellings, but every name they map to is a name of
    /// hookhost's event vocabulary (a typo would route to an unknown event and no hook).
    #[test]
    fn every_mapped_name_is_in_the_event_vocabulary() {
        use crate::event::EventName;
        let mapped = copilot::EVENTS.iter().chain(cursor::EVENTS).chain(gemini::EVENTS).map(|(_, ours)| *ours);
        // Codex and Qwen spell their events as Claude Code does.
        let same =
            Agent::Codex.hook_events().iter().chain(Agent::Qwen.hook_events()).chain(Agent::Claude.hook_events());
        for name in mapped.chain(same.copied()) {
            assert!(EventName::parse(name).is_known(), "{name}");
        }
    }
}
