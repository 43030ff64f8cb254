//! Events as Claude Code sends them: parsing, routing keys and exact pass-through.
//!
//! A `HookEvent` keeps the bytes it was parsed from, so what a hook receives on stdin is
//! byte-for-byte what the agent sent (same keys, same order, same values, unknown fields
//! included). On top of that it offers a validated, typed view for the events hookhost reasons
//! about (`PreToolUse`, `PostToolUse`, `PostToolUseFailure`, `ConfigChange`); every other event
//! is accepted by name with its payload kept as JSON. Parsing never panics: bad input is an
//! `EventError` that says what is wrong and where.

use std::sync::Arc;

pub mod facts;
pub use facts::{Block, EventName, Facts, KNOWN_EVENTS, facts_of};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Default upper bound for one event on stdin or a socket frame.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// The deepest JSON nesting accepted anywhere input arrives (events, settings files, hook
/// output): serde_json's recursion limit, which counts every array and object level. A
/// deeper document is an error that names this limit.
pub const MAX_JSON_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not valid JSON at line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("event is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("event nests JSON deeper than the limit of {limit} levels (recursion limit exceeded)")]
    TooDeep { limit: usize },
    #[error("event is empty (expected one JSON object on stdin)")]
    Empty,
    #[error("event must be a JSON object, found {0}")]
    NotObject(&'static str),
    #[error("event has no string field `hook_event_name`")]
    NoEventName,
    #[error("{event} event: {message}")]
    Payload { event: String, message: String },
}

impl EventError {
    fn json(e: serde_json::Error) -> Self {
        let message = e.to_string();
        if message.starts_with("recursion limit exceeded") {
            return EventError::TooDeep { limit: MAX_JSON_DEPTH };
        }
        // serde_json appends " at line L column C"; keep the message itself.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        EventError::Json { line: e.line(), column: e.column(), message }
    }
}

/// The four event kinds hookhost has typed views of; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PreToolUse,
    PostToolUse,
    PostToolUseFailure,
    ConfigChange,
    Other,
}

/// The tool call of a tool event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToolCall {
    pub tool_name: String,
    #[serde(default)]
    pub tool_input: Value,
    #[serde(default)]
    pub tool_use_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostToolUse {
    #[serde(flatten)]
    pub call: ToolCall,
    #[serde(default)]
    pub tool_response: Value,
    #[serde(default)]
    pub duration_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostToolUseFailure {
    #[serde(flatten)]
    pub call: ToolCall,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub is_interrupt: Option<bool>,
    #[serde(default)]
    pub duration_ms: Option<f64>,
}

/// Which settings file a `ConfigChange` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    UserSettings,
    ProjectSettings,
    LocalSettings,
    PolicySettings,
    Skills,
    Other(String),
}

impl ConfigSource {
    pub fn parse(s: &str) -> Self {
        match s {
            "user_settings" => Self::UserSettings,
            "project_settings" => Self::ProjectSettings,
            "local_settings" => Self::LocalSettings,
            "policy_settings" => Self::PolicySettings,
            "skills" => Self::Skills,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::UserSettings => "user_settings",
            Self::ProjectSettings => "project_settings",
            Self::LocalSettings => "local_settings",
            Self::PolicySettings => "policy_settings",
            Self::Skills => "skills",
            Self::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub source: ConfigSource,
    pub file_path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigChangeWire {
    source: String,
    #[serde(default)]
    file_path: Option<String>,
}

/// The typed view of an event's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    PreToolUse(ToolCall),
    PostToolUse(PostToolUse),
    PostToolUseFailure(PostToolUseFailure),
    ConfigChange(ConfigChange),
    /// Any other event, accepted by name; its fields stay in `HookEvent::fields`.
    Other,
}

/// One event, as received.
#[derive(Debug, Clone)]
pub struct HookEvent {
    raw: Arc<[u8]>,
    fields: Map<String, Value>,
    name: EventName,
    payload: Payload,
}

impl HookEvent {
    /// Parses one event. `bytes` must hold exactly one JSON object (whitespace around it is fine).
    pub fn parse(bytes: &[u8]) -> Result<Self, EventError> {
        Self::parse_with_limit(bytes, DEFAULT_MAX_EVENT_BYTES)
    }

    pub fn parse_with_limit(bytes: &[u8], limit: usize) -> Result<Self, EventError> {
        if bytes.len() > limit {
            return Err(EventError::TooLarge { limit });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(EventError::Empty);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(EventError::json)?;
        let fields = match value {
            Value::Object(map) => map,
            other => return Err(EventError::NotObject(json_type(&other))),
        };
        let name = match fields.get("hook_event_name") {
            Some(Value::String(s)) if !s.is_empty() => EventName::parse(s),
            _ => return Err(EventError::NoEventName),
        };
        let payload = typed_payload(&name, &fields)?;
        Ok(HookEvent { raw: Arc::from(bytes), fields, name, payload })
    }

    /// The `hook_event_name`, exactly as sent.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The event, as a name of the vocabulary (`EventName::Other` for an unknown one).
    pub fn event_name(&self) -> &EventName {
        &self.name
    }

    /// The facts of this event (hook-protocol.md §1): how it blocks, what its matcher sees.
    pub fn facts(&self) -> Facts {
        self.name.facts()
    }

    /// A hook can stop this event's action: its facts say so, and it is not a `ConfigChange`
    /// from `policy_settings` (which Claude Code cannot block).
    pub fn can_block(&self) -> bool {
        if let Some(cc) = self.config_change() {
            return cc.source != ConfigSource::PolicySettings;
        }
        self.facts().block.blocks()
    }

    pub fn kind(&self) -> EventKind {
        match self.payload {
            Payload::PreToolUse(_) => EventKind::PreToolUse,
            Payload::PostToolUse(_) => EventKind::PostToolUse,
            Payload::PostToolUseFailure(_) => EventKind::PostToolUseFailure,
            Payload::ConfigChange(_) => EventKind::ConfigChange,
            Payload::Other => EventKind::Other,
        }
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The exact bytes received: what hooks get on stdin.
    pub fn raw(&self) -> &Arc<[u8]> {
        &self.raw
    }

    /// All fields, in the order received, unknown ones included.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// Re-renders the event from its fields (same keys, order and values as received).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.fields).unwrap_or_default()
    }

    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn cwd(&self) -> Option<&str> {
        self.str_field("cwd")
    }

    /// The tool call of a tool event (`PreToolUse`, `PostToolUse`, `PostToolUseFailure`, and
    /// the other events that carry `tool_name`, such as `PermissionRequest`).
    pub fn tool_name(&self) -> Option<&str> {
        match &self.payload {
            Payload::PreToolUse(c) => Some(&c.tool_name),
            Payload::PostToolUse(p) => Some(&p.call.tool_name),
            Payload::PostToolUseFailure(p) => Some(&p.call.tool_name),
            _ => self.str_field("tool_name"),
        }
    }

    pub fn tool_input(&self) -> Option<&Value> {
        match &self.payload {
            Payload::PreToolUse(c) => Some(&c.tool_input),
            Payload::PostToolUse(p) => Some(&p.call.tool_input),
            Payload::PostToolUseFailure(p) => Some(&p.call.tool_input),
            _ => self.fields.get("tool_input"),
        }
    }

    pub fn config_change(&self) -> Option<&ConfigChange> {
        match &self.payload {
            Payload::ConfigChange(c) => Some(c),
            _ => None,
        }
    }

    /// What a settings matcher is tested against for this event, per Claude Code's table;
    /// `None` for events that have no matcher (the matcher is then ignored).
    pub fn matcher_subject(&self) -> Option<&str> {
        let facts = self.facts();
        let field = facts.matcher?;
        if facts.is_tool_event() {
            return self.tool_name();
        }
        if self.name == EventName::FileChanged {
            let path = self.str_field("file_path")?;
            return Some(path.rsplit('/').next().unwrap_or(path));
        }
        Some(self.str_field(field).unwrap_or(""))
    }
}

/// The field a matcher tests for `event` (hook-protocol.md §1); `None` for events that have no
/// matcher.
pub fn matcher_field(event: &str) -> Option<&'static str> {
    facts_of(event).matcher
}

fn typed_payload(event: &EventName, fields: &Map<String, Value>) -> Result<Payload, EventError> {
    fn view<T: for<'de> Deserialize<'de>>(
        name: &str,
        fields: &Map<String, Value>,
        keys: &[&str],
    ) -> Result<T, EventError> {
        // Deserialize from the few fields the typed view needs, not a clone of everything.
        let mut sub = Map::new();
        for k in keys {
            if let Some(v) = fields.get(*k) {
                sub.insert((*k).to_string(), v.clone());
            }
        }
        serde_json::from_value(Value::Object(sub))
            .map_err(|e| EventError::Payload { event: name.to_string(), message: e.to_string() })
    }
    const CALL: [&str; 3] = ["tool_name", "tool_input", "tool_use_id"];
    let name = event.as_str();
    Ok(match event {
        EventName::PreToolUse => Payload::PreToolUse(view(name, fields, &CALL)?),
        EventName::PostToolUse => {
            Payload::PostToolUse(view(name, fields, &[CALL[0], CALL[1], CALL[2], "tool_response", "duration_ms"])?)
        }
        EventName::PostToolUseFailure => Payload::PostToolUseFailure(view(
            name,
            fields,
            &[CALL[0], CALL[1], CALL[2], "error", "is_interrupt", "duration_ms"],
        )?),
        EventName::ConfigChange => {
            let w: ConfigChangeWire = view(name, fields, &["source", "file_path"])?;
            Payload::ConfigChange(ConfigChange { source: ConfigSource::parse(&w.source), file_path: w.file_path })
        }
        _ => Payload::Other,
    })
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The one builder of the ConfigChange events hookhost emits itself (a settings file changed
/// under a live revision, a new server-managed payload): Claude Code's payload for a change to
/// `file_path` from `source` (`user_settings`, `project_settings`, `local_settings`,
/// `policy_settings`), with the `hookhost` extension object `ext`. `cwd`: the project, else `/`.
pub(crate) fn config_change(
    session_id: &str,
    cwd: Option<&std::path::Path>,
    source: &str,
    file_path: &std::path::Path,
    ext: Value,
) -> Result<HookEvent, EventError> {
    let v = serde_json::json!({
        "session_id": session_id,
        "transcript_path": "",
        "cwd": cwd.map_or_else(|| "/".into(), |p| p.to_string_lossy()),
        "hook_event_name": EventName::ConfigChange.as_str(),
        "source": source,
        "file_path": file_path.to_string_lossy(),
        "hookhost": ext,
    });
    HookEvent::parse(v.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tool_use_is_typed_and_keeps_unknown_fields() {
        let raw = br#"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"toolu_1","future_field":{"x":1}}"#;
        let e = HookEvent::parse(raw).unwrap();
        assert_eq!(e.kind(), EventKind::PreToolUse);
        assert_eq!(
            e.payload(),
            &Payload::PreToolUse(ToolCall {
                tool_name: "Bash".into(),
                tool_input: serde_json::json!({"command": "ls"}),
                tool_use_id: Some("toolu_1".into()),
            })
        );
        assert_eq!(&**e.raw(), &raw[..]);
        assert_eq!(e.to_json().as_bytes(), &raw[..]);
        assert_eq!(e.matcher_subject(), Some("Bash"));
    }

    #[test]
    fn unknown_events_are_accepted_by_name() {
        let e = HookEvent::parse(br#"{"hook_event_name":"BrandNewEvent","x":[1,2]}"#).unwrap();
        assert_eq!(e.kind(), EventKind::Other);
        assert_eq!(e.name(), "BrandNewEvent");
        assert_eq!(e.matcher_subject(), None);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(HookEvent::parse(b"{\"hook_event_name\": \"PreTo"), Err(EventError::Json { line: 1, .. })));
        assert!(matches!(HookEvent::parse(b""), Err(EventError::Empty)));
        assert!(matches!(HookEvent::parse(b"[1]"), Err(EventError::NotObject(_))));
        assert!(matches!(HookEvent::parse(b"{\"a\":1}"), Err(EventError::NoEventName)));
        assert!(matches!(
            HookEvent::parse(br#"{"hook_event_name":"PreToolUse","tool_name":7}"#),
            Err(EventError::Payload { .. })
        ));
        assert!(HookEvent::parse(b"{\"hook_event_name\":\"X\",\"s\":\"\xff\xfe\"}").is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep = format!("{{\"hook_event_name\":\"X\",\"d\":{deep}}}");
        assert!(HookEvent::parse(deep.as_bytes()).is_err());
        assert!(matches!(HookEvent::parse_with_limit(b"{}", 1), Err(EventError::TooLarge { limit: 1 })));
    }

    #[test]
    fn the_typed_view_is_where_the_facts_say() {
        for name in EventName::KNOWN {
            let raw = format!(
                r#"{{"hook_event_name":"{name}","tool_name":"Bash","tool_input":{{}},"source":"skills","file_path":"/p/f"}}"#
            );
            let e = HookEvent::parse(raw.as_bytes()).unwrap();
            assert_eq!(e.event_name(), name);
            assert_eq!(e.kind() != EventKind::Other, name.facts().typed_payload, "{name}");
            assert_eq!(e.matcher_subject().is_some(), name.facts().matcher.is_some(), "{name}");
        }
        let e = HookEvent::parse(br#"{"hook_event_name":"FileChanged","file_path":"/a/b/.env"}"#).unwrap();
        assert_eq!(e.matcher_subject(), Some(".env"));
    }

    #[test]
    fn config_change_source() {
        let e = HookEvent::parse(br#"{"hook_event_name":"ConfigChange","source":"policy_settings","file_path":"/x"}"#)
            .unwrap();
        assert_eq!(e.config_change().unwrap().source, ConfigSource::PolicySettings);
        assert_eq!(e.matcher_subject(), Some("policy_settings"));
    }
}
