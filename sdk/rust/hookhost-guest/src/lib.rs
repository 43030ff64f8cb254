//! Write [hookhost](https://github.com/) WebAssembly hooks in Rust: a typed [`Event`], answer
//! builders ([`deny`], [`allow`], [`ask`], [`defer`], [`block`], [`rewrite`], [`context`],
//! [`system_message`]) and one export macro, [`hook!`]. The component is built for world
//! `hookhost:hook@0.2.0` (`wit/`) with `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use hookhost_guest::{Answer, Event, Kind, deny, hook};
//!
//! fn policy(event: &Event) -> Answer {
//!     match event.kind() {
//!         Kind::PreToolUse { tool_name: "Bash", tool_input, .. }
//!             if tool_input["command"].as_str().is_some_and(|c| c.contains("rm -rf")) =>
//!         {
//!             deny("no rm -rf")
//!         }
//!         _ => Answer::none(),
//!     }
//! }
//!
//! hook!(policy);
//! ```
//!
//! The policy function takes `&Event` and returns an [`Answer`], or a `Result<Answer, E>` whose
//! error (any `Display`) is a hook *failure*, handled by the hook's `onFailure` policy, not a
//! "no". A panic traps, which hookhost also counts as a failure.
//!
//! Helpers policies keep needing: [`shell`] splits a Bash command line into simple commands,
//! [`paths`] matches paths against gitignore-style rules, [`log`] writes to hookhost's log.
//! A hook has no other capability: no files, no environment, no network.

pub mod paths;
pub mod shell;

pub use serde_json::{self, Value, json};

#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // generated: an export takes one argument per flattened field
pub mod bindings {
    wit_bindgen::generate!({
        world: "hook",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__hookhost_export",
        default_bindings_module: "hookhost_guest::bindings",
    });
}

use std::ops::Range;
use std::sync::OnceLock;

use bindings::hookhost::hook::types::AgentInfo;

/// The agent that sent the event, when hookhost knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// "claude", "codex", "gemini", …
    pub name: String,
    pub version: Option<String>,
}

/// One event: its name, the tool (for tool events), the agent, and the whole payload as JSON
/// (Claude Code's wire form, unknown fields kept). [`Event::kind`] gives the typed view.
///
/// The payload is indexed, not parsed, when the event arrives: a top-level field is parsed the
/// first time something asks for it ([`Event::get`], [`Event::str`], [`Event::tool_input`],
/// [`Event::kind`], …), and the whole tree only if [`Event::payload`] is called. A policy that
/// reads `tool_input` does not pay for building the transcript path, session id and every other
/// field into a tree it never looks at. What each accessor returns is exactly what the whole
/// payload parsed with `serde_json` holds (for a key given twice, the last one, as there).
#[derive(Debug, Clone)]
pub struct Event {
    /// `hook_event_name`, e.g. "PreToolUse".
    pub name: String,
    /// The tool's name for tool events ("Bash", "Edit", "mcp__memory__create", …).
    pub tool_name: Option<String>,
    pub agent: Option<Agent>,
    /// The whole payload, exactly as hookhost passed it.
    pub payload_json: String,
    /// The payload's top-level fields, in order.
    fields: Vec<Field>,
    /// The whole payload parsed, filled on first use of [`Event::payload`].
    payload: OnceLock<Value>,
}

/// One top-level field of the payload.
#[derive(Debug, Clone)]
struct Field {
    key: Key,
    /// Where its value sits in `payload_json`.
    value: Range<usize>,
    /// Its value parsed, filled on first use.
    parsed: OnceLock<Value>,
}

/// A top-level key: where it sits in `payload_json`, or its text when it had escapes.
#[derive(Debug, Clone)]
enum Key {
    At(Range<usize>),
    Unescaped(String),
}

impl PartialEq for Event {
    /// Two events are equal when their fields and payload text are (the parse caches aside).
    fn eq(&self, other: &Event) -> bool {
        (&self.name, &self.tool_name, &self.agent, &self.payload_json)
            == (&other.name, &other.tool_name, &other.agent, &other.payload_json)
    }
}

/// The typed view of an event, borrowed from its payload. Fields the payload lacks are empty
/// strings, `Null` or `false`; the payload itself always has everything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind<'a> {
    PreToolUse {
        tool_name: &'a str,
        tool_input: &'a Value,
        tool_use_id: Option<&'a str>,
    },
    PostToolUse {
        tool_name: &'a str,
        tool_input: &'a Value,
        tool_response: &'a Value,
    },
    PostToolUseFailure {
        tool_name: &'a str,
        tool_input: &'a Value,
        error: &'a str,
        is_interrupt: bool,
    },
    UserPromptSubmit {
        prompt: &'a str,
    },
    /// `source`: "user_settings", "project_settings", "local_settings", "policy_settings", "skills".
    ConfigChange {
        source: &'a str,
        file_path: Option<&'a str>,
    },
    Stop {
        stop_hook_active: bool,
        last_assistant_message: Option<&'a str>,
    },
    SubagentStop {
        stop_hook_active: bool,
        last_assistant_message: Option<&'a str>,
    },
    SessionStart {
        source: &'a str,
    },
    SessionEnd {
        reason: &'a str,
    },
    Notification {
        message: &'a str,
    },
    PreCompact {
        trigger: &'a str,
    },
    /// Any other event: see [`Event::name`] and [`Event::payload`].
    Other,
}

static NULL: Value = Value::Null;

impl Event {
    /// An event from hookhost's fields and payload text. Fails when the payload is not a JSON
    /// object. A field `serde_json` cannot hold as a `Value` (a number beyond `f64`, nesting
    /// deeper than 128) panics when read, a trap and so a failure; hookhost never passes one,
    /// since it parses every payload itself.
    pub fn new(name: &str, tool_name: Option<&str>, payload_json: &str) -> Result<Event, String> {
        Event::from_parts(name.to_string(), tool_name.map(str::to_string), None, payload_json.to_string())
    }

    /// Builds an event from owned parts (the WIT event's strings move in, not copied); `agent`,
    /// when not given, comes from the payload's `agent` field.
    fn from_parts(
        name: String,
        tool_name: Option<String>,
        agent: Option<Agent>,
        payload_json: String,
    ) -> Result<Event, String> {
        let fields = index(&payload_json).map_err(|e| format!("event is not JSON: {e}"))?;
        let mut event = Event { name, tool_name, agent: None, payload_json, fields, payload: OnceLock::new() };
        event.agent = agent.or_else(|| {
            let a = event.get("agent")?;
            Some(Agent {
                name: a.get("name")?.as_str()?.to_string(),
                version: a.get("version").and_then(Value::as_str).map(str::to_string),
            })
        });
        Ok(event)
    }

    /// Parses a payload alone (for tests): the name and tool come from the payload.
    pub fn from_payload(payload_json: &str) -> Result<Event, String> {
        let mut e = Event::new("", None, payload_json)?;
        e.name = e.str("hook_event_name").unwrap_or_default().to_string();
        e.tool_name = e.str("tool_name").map(str::to_string);
        Ok(e)
    }

    /// The whole payload, parsed (on first use; the accessors below parse only the field they
    /// read).
    pub fn payload(&self) -> &Value {
        self.payload.get_or_init(|| parse(&self.payload_json))
    }

    /// A top-level field of the payload, parsed on first use.
    pub fn get(&self, key: &str) -> Option<&Value> {
        // The last occurrence, as in a parsed map.
        let field = self.fields.iter().rev().find(|f| match &f.key {
            Key::At(r) => &self.payload_json[r.clone()] == key,
            Key::Unescaped(k) => k == key,
        })?;
        Some(field.parsed.get_or_init(|| parse(&self.payload_json[field.value.clone()])))
    }

    /// The typed view of this event.
    pub fn kind(&self) -> Kind<'_> {
        let s = |k: &str| self.str(k);
        let v = |k: &str| self.get(k).unwrap_or(&NULL);
        let b = |k: &str| self.get(k).and_then(Value::as_bool).unwrap_or(false);
        let tool_name = self.tool_name.as_deref().or_else(|| s("tool_name")).unwrap_or_default();
        match self.name.as_str() {
            "PreToolUse" => Kind::PreToolUse { tool_name, tool_input: v("tool_input"), tool_use_id: s("tool_use_id") },
            "PostToolUse" => {
                Kind::PostToolUse { tool_name, tool_input: v("tool_input"), tool_response: v("tool_response") }
            }
            "PostToolUseFailure" => Kind::PostToolUseFailure {
                tool_name,
                tool_input: v("tool_input"),
                error: s("error").unwrap_or_default(),
                is_interrupt: b("is_interrupt"),
            },
            "UserPromptSubmit" => Kind::UserPromptSubmit { prompt: s("prompt").unwrap_or_default() },
            "ConfigChange" => Kind::ConfigChange { source: s("source").unwrap_or_default(), file_path: s("file_path") },
            "Stop" => Kind::Stop {
                stop_hook_active: b("stop_hook_active"),
                last_assistant_message: s("last_assistant_message"),
            },
            "SubagentStop" => Kind::SubagentStop {
                stop_hook_active: b("stop_hook_active"),
                last_assistant_message: s("last_assistant_message"),
            },
            "SessionStart" => Kind::SessionStart { source: s("source").unwrap_or_default() },
            "SessionEnd" => Kind::SessionEnd { reason: s("reason").unwrap_or_default() },
            "Notification" => Kind::Notification { message: s("message").unwrap_or_default() },
            "PreCompact" => Kind::PreCompact { trigger: s("trigger").unwrap_or_default() },
            _ => Kind::Other,
        }
    }

    /// A top-level string field of the payload.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The project directory the agent runs in (`cwd`).
    pub fn cwd(&self) -> Option<&str> {
        self.str("cwd")
    }

    pub fn session_id(&self) -> Option<&str> {
        self.str("session_id")
    }

    /// `tool_input` of a tool event (`Null` otherwise).
    pub fn tool_input(&self) -> &Value {
        self.get("tool_input").unwrap_or(&NULL)
    }

    /// The command of a `Bash` tool event.
    pub fn bash_command(&self) -> Option<&str> {
        (self.tool_name.as_deref() == Some("Bash")).then(|| self.tool_input()["command"].as_str()).flatten()
    }

    /// The file a file tool works on: `tool_input.file_path`, else `notebook_path`, else `path`.
    pub fn file_path(&self) -> Option<&str> {
        let input = self.tool_input();
        ["file_path", "notebook_path", "path"].iter().find_map(|k| input[*k].as_str())
    }
}

/// Parses JSON that [`index`] has already checked. The host hands over only payloads it parsed
/// itself with `serde_json` (nesting limit included), so this cannot fail; if it ever did, the
/// hook traps, which hookhost counts as a failure, never as "no objection".
fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("event payload field does not parse: {e}"))
}

/// The top-level fields of a JSON object, each as its key and the byte range of its value, in
/// one pass over the text that checks it is JSON without building any value.
fn index(json: &str) -> Result<Vec<Field>, serde_json::Error> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    use serde_json::value::RawValue;

    /// A key borrowed from the text, or decoded when it had escapes.
    struct RawKey<'de>(std::borrow::Cow<'de, str>);

    impl<'de> serde::Deserialize<'de> for RawKey<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = RawKey<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a key")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<RawKey<'de>, E> {
                    Ok(RawKey(v.into()))
                }
                fn visit_str<E>(self, v: &str) -> Result<RawKey<'de>, E> {
                    Ok(RawKey(v.to_string().into()))
                }
            }
            d.deserialize_str(V)
        }
    }

    struct Fields<'de>(&'de str);

    impl<'de> Visitor<'de> for Fields<'de> {
        type Value = Vec<Field>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let base = self.0.as_ptr() as usize;
            let span = |s: &str| s.as_ptr() as usize - base..s.as_ptr() as usize - base + s.len();
            let mut fields = Vec::with_capacity(16);
            while let Some(RawKey(key)) = map.next_key()? {
                let value: &'de RawValue = map.next_value()?;
                let key = match key {
                    std::borrow::Cow::Borrowed(k) => Key::At(span(k)),
                    std::borrow::Cow::Owned(k) => Key::Unescaped(k),
                };
                fields.push(Field { key, value: span(value.get()), parsed: OnceLock::new() });
            }
            Ok(fields)
        }
    }

    let mut de = serde_json::Deserializer::from_str(json);
    let fields = (&mut de).deserialize_map(Fields(json))?;
    de.end()?;
    Ok(fields)
}

/// What a hook decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No objection; on PreToolUse this skips the permission prompt (rules still apply).
    Allow,
    /// PreToolUse: the call does not run; the reason goes to the model.
    Deny,
    /// PreToolUse: ask the user.
    Ask,
    /// PreToolUse: defer the call.
    Defer,
    /// Other events: block (PostToolUse: reason to the model; ConfigChange: not applied; Stop:
    /// keep working). On PreToolUse it means deny.
    Block,
}

/// A hook's answer. [`Answer::none`] says nothing; every builder sets one thing and the
/// `with_*` methods add the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub decision: Option<Decision>,
    pub reason: Option<String>,
    pub additional_context: Option<String>,
    /// PreToolUse: replaces the whole `tool_input` (must be a JSON object).
    pub updated_input: Option<Value>,
    pub system_message: Option<String>,
}

impl Answer {
    /// No opinion.
    pub fn none() -> Answer {
        Answer::default()
    }

    fn decided(decision: Decision, reason: Option<String>) -> Answer {
        Answer { decision: Some(decision), reason, ..Answer::default() }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Answer {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_context(mut self, text: impl Into<String>) -> Answer {
        self.additional_context = Some(text.into());
        self
    }

    pub fn with_system_message(mut self, text: impl Into<String>) -> Answer {
        self.system_message = Some(text.into());
        self
    }

    pub fn with_updated_input(mut self, input: Value) -> Answer {
        self.updated_input = Some(input);
        self
    }

    /// The WIT response.
    #[doc(hidden)]
    pub fn into_response(self) -> bindings::Response {
        use bindings::Decision as W;
        bindings::Response {
            decision: self.decision.map(|d| match d {
                Decision::Allow => W::Allow,
                Decision::Deny => W::Deny,
                Decision::Ask => W::Ask,
                Decision::Defer => W::Defer,
                Decision::Block => W::Block,
            }),
            reason: self.reason,
            additional_context: self.additional_context,
            updated_input_json: self.updated_input.map(|v| v.to_string()),
            system_message: self.system_message,
        }
    }
}

/// Allow (PreToolUse: skip the permission prompt).
pub fn allow() -> Answer {
    Answer::decided(Decision::Allow, None)
}

/// Deny the tool call; `reason` goes to the model.
pub fn deny(reason: impl Into<String>) -> Answer {
    Answer::decided(Decision::Deny, Some(reason.into()))
}

/// Ask the user; `reason` is shown to them.
pub fn ask(reason: impl Into<String>) -> Answer {
    Answer::decided(Decision::Ask, Some(reason.into()))
}

/// Defer the tool call.
pub fn defer() -> Answer {
    Answer::decided(Decision::Defer, None)
}

/// Block the action (events other than PreToolUse); `reason` says why.
pub fn block(reason: impl Into<String>) -> Answer {
    Answer::decided(Decision::Block, Some(reason.into()))
}

/// Allow the tool call with `input` (a JSON object) as its whole new `tool_input`.
pub fn rewrite(input: Value) -> Answer {
    allow().with_updated_input(input)
}

/// No decision, but extra context for the model.
pub fn context(text: impl Into<String>) -> Answer {
    Answer::none().with_context(text)
}

/// No decision, but a warning shown to the user.
pub fn system_message(text: impl Into<String>) -> Answer {
    Answer::none().with_system_message(text)
}

/// What a policy function may return: an [`Answer`], or a `Result` whose error is a failure.
pub trait IntoAnswer {
    fn into_answer(self) -> Result<Answer, String>;
}

impl IntoAnswer for Answer {
    fn into_answer(self) -> Result<Answer, String> {
        Ok(self)
    }
}

impl<E: std::fmt::Display> IntoAnswer for Result<Answer, E> {
    fn into_answer(self) -> Result<Answer, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Runs `policy` on one WIT event (what [`hook!`] exports).
#[doc(hidden)]
pub fn __handle<R: IntoAnswer>(
    event: bindings::Event,
    policy: impl FnOnce(&Event) -> R,
) -> Result<bindings::Response, String> {
    let agent = event.agent.map(|AgentInfo { name, version }| Agent { name, version });
    let e = Event::from_parts(event.hook_event_name, event.tool_name, agent, event.payload_json)?;
    policy(&e).into_answer().map(Answer::into_response)
}

/// Exports `policy` (a `fn(&Event) -> Answer`, or `-> Result<Answer, E>`) as the component's
/// `handle`. Use it once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! hook {
    ($policy:path) => {
        struct __HookhostHook;

        impl $crate::bindings::Guest for __HookhostHook {
            fn handle(
                event: $crate::bindings::Event,
            ) -> ::core::result::Result<$crate::bindings::Response, ::std::string::String> {
                $crate::__handle(event, $policy)
            }
        }

        $crate::bindings::__hookhost_export!(__HookhostHook with_types_in $crate::bindings);
    };
}

/// Lines in hookhost's log, attributed to the hook (`RUST_LOG=hookhost=info` shows them).
pub mod log {
    use crate::bindings::hookhost::hook::log::{Level, write};

    pub fn debug(message: &str) {
        write(Level::Debug, message)
    }

    pub fn info(message: &str) {
        write(Level::Info, message)
    }

    pub fn warn(message: &str) {
        write(Level::Warn, message)
    }

    pub fn error(message: &str) {
        write(Level::Error, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRE_BASH: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");
    const POST_BASH: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/PostToolUse-Bash.json");
    const CONFIG: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/ConfigChange-user_settings.json");
    const STOP: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/Stop.json");
    const PROMPT: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/UserPromptSubmit.json");
    const FAILURE: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/PostToolUseFailure-Bash.json");
    const START: &str = include_str!("../../../../tests/fixtures/claude-code-2.1.328/SessionStart.json");

    #[test]
    fn real_events_have_typed_views() {
        let e = Event::from_payload(PRE_BASH).unwrap();
        assert_eq!(
            e.kind(),
            Kind::PreToolUse {
                tool_name: "Bash",
                tool_input: &json!({"command": "ls -la && false", "description": "list then fail"}),
                tool_use_id: Some("toolu_mock0005"),
            }
        );
        assert_eq!(e.bash_command(), Some("ls -la && false"));
        assert_eq!((e.cwd(), e.file_path(), e.agent.as_ref()), (Some("/home/dev/project"), None, None));
        let post = Event::from_payload(POST_BASH).unwrap();
        let Kind::PostToolUse { tool_response, .. } = post.kind() else { panic!() };
        assert_eq!(tool_response["stdout"], "ok");
        assert_eq!(
            Event::from_payload(CONFIG).unwrap().kind(),
            Kind::ConfigChange { source: "user_settings", file_path: Some("/home/dev/.claude/settings.json") }
        );
        assert_eq!(
            Event::from_payload(STOP).unwrap().kind(),
            Kind::Stop { stop_hook_active: false, last_assistant_message: Some("done") }
        );
        assert_eq!(Event::from_payload(PROMPT).unwrap().kind(), Kind::UserPromptSubmit { prompt: "run it" });
        assert_eq!(Event::from_payload(START).unwrap().kind(), Kind::SessionStart { source: "startup" });
        let failure = Event::from_payload(FAILURE).unwrap();
        let Kind::PostToolUseFailure { error, is_interrupt: false, .. } = failure.kind() else { panic!() };
        assert!(error.starts_with("Exit code 1"));
        let other = Event::from_payload(r#"{"hook_event_name": "Future", "x": 1}"#).unwrap();
        assert_eq!((other.kind(), &other.payload()["x"]), (Kind::Other, &json!(1)));
        assert!(Event::from_payload("{not json").is_err());
    }

    /// Every accessor answers what the whole payload parsed with `serde_json` holds: for every
    /// captured payload of every agent, and for payloads built to tell a lazy index from a parse
    /// (escaped and repeated keys, values that hold keys, odd spacing, nesting).
    #[test]
    fn fields_read_lazily_match_the_whole_parse() {
        let mut payloads: Vec<String> = Vec::new();
        // Every JSON object in the repository's fixtures: captured payloads and scenario files.
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(path).unwrap();
                    if serde_json::from_str::<Value>(&text).is_ok_and(|v| v.is_object()) {
                        payloads.push(text);
                    }
                }
            }
        }
        assert!(payloads.len() > 300, "fixtures not found: {}", payloads.len());
        for tricky in [
            r#"{"tool_input": {"command": "ls"}, "tool_input": {"command": "rm -rf /"}}"#,
            r#"{"tool\u005finput": {"command": "rm -rf /"}}"#,
            r#"{"tool_input": {"command": "ls"}, "tool\u005finput": {"command": "rm -rf /"}}"#,
            r#"{"tool\u005finput": {"command": "rm -rf /"}, "tool_input": {"command": "ls"}}"#,
            r#"{"x": "\"tool_input\": {\"command\": \"ls\"}", "tool_input": {"command": "rm -rf /"}}"#,
            r#"{"x": {"tool_input": 1}, "tool_input": 2, "y": [{"tool_input": 3}]}"#,
            "\t{ \"tool_input\" :\n{\"command\":\"a\\u0000b\"} ,\"cwd\":\"\\ud83d\\ude00\"\r}\n",
            r#"{"b": -0.0, "c": 1e300, "d": 18446744073709551615, "e": -9223372036854775808, "f": 0.1}"#,
            r#"{"": 1, "tool_name": null, "hook_event_name": "PreToolUse", "tool_name": "Bash"}"#,
            "{}",
        ] {
            payloads.push(tricky.to_string());
        }
        // Nesting up to serde_json's limit, in a value beside the field a policy reads.
        let deep = format!("{}1{}", "[".repeat(126), "]".repeat(126));
        payloads.push(format!(r#"{{"a": {deep}, "tool_input": {{"command": "rm -rf /"}}}}"#));
        for json in &payloads {
            let e = Event::from_payload(json).unwrap();
            let whole: Value = serde_json::from_str(json).unwrap();
            let map = whole.as_object().unwrap();
            for (key, value) in map {
                assert_eq!(e.get(key), Some(value), "{key} in {json}");
            }
            for key in ["tool_input", "tool_name", "hook_event_name", "cwd", "missing", ""] {
                assert_eq!(e.get(key), map.get(key), "{key} in {json}");
            }
            assert_eq!(e.payload(), &whole);
            assert_eq!(e.name, whole["hook_event_name"].as_str().unwrap_or_default());
            assert_eq!(e.tool_name.as_deref(), whole["tool_name"].as_str());
            assert_eq!(e.tool_input(), map.get("tool_input").unwrap_or(&Value::Null));
        }
    }

    /// A field `serde_json` cannot hold as a `Value` (a number beyond `f64`, nesting past its
    /// limit) is refused when it is read: the hook traps, a failure, never an empty field.
    /// hookhost parses every payload itself first, so a guest never gets one.
    #[test]
    fn a_field_serde_json_cannot_hold_traps_when_read() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for field in ["1e400", deep.as_str()] {
            let json = format!(r#"{{"hook_event_name": "Stop", "x": {field}, "tool_input": {{"command": "ls"}}}}"#);
            assert!(serde_json::from_str::<Value>(&json).is_err());
            let e = Event::from_payload(&json).unwrap();
            assert_eq!((e.name.as_str(), e.tool_input()["command"].as_str()), ("Stop", Some("ls")));
            for read in [|e: &Event| e.get("x").is_some(), |e: &Event| e.payload().is_object()] {
                let e = e.clone();
                assert!(std::panic::catch_unwind(move || read(&e)).is_err(), "{field:.20}");
            }
        }
    }

    #[test]
    fn a_payload_that_is_not_a_json_object_is_refused() {
        for bad in
            ["", "nope", "[1]", "1", "\"s\"", "{", "{\"a\":}", "{\"a\":1}x", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}"]
        {
            let err = Event::from_payload(bad).unwrap_err();
            assert!(err.starts_with("event is not JSON"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_agent_comes_from_the_payload() {
        let e = Event::from_payload(r#"{"hook_event_name": "Stop", "agent": {"name": "codex", "version": "0.9"}}"#)
            .unwrap();
        assert_eq!(e.agent, Some(Agent { name: "codex".into(), version: Some("0.9".into()) }));
    }

    #[test]
    fn answers_map_to_the_wit_response() {
        use bindings::Decision as W;
        for (a, d) in [
            (allow(), Some(W::Allow)),
            (deny("r"), Some(W::Deny)),
            (ask("r"), Some(W::Ask)),
            (defer(), Some(W::Defer)),
            (block("r"), Some(W::Block)),
            (Answer::none(), None),
            (context("c"), None),
        ] {
            assert_eq!(a.into_response().decision, d);
        }
        let r = rewrite(json!({"command": "ls"})).with_reason("why").with_system_message("m").into_response();
        assert_eq!(
            (r.decision, r.reason.as_deref(), r.updated_input_json.as_deref(), r.system_message.as_deref()),
            (Some(W::Allow), Some("why"), Some(r#"{"command":"ls"}"#), Some("m"))
        );
        assert_eq!(context("c").into_response().additional_context.as_deref(), Some("c"));
        assert_eq!(system_message("s").into_response().system_message.as_deref(), Some("s"));
    }

    #[test]
    fn handle_runs_the_policy_and_reports_failures() {
        let wit = |payload: &str| bindings::Event {
            hook_event_name: "PreToolUse".into(),
            tool_name: Some("Bash".into()),
            payload_json: payload.into(),
            agent: Some(AgentInfo { name: "gemini".into(), version: None }),
        };
        let r = __handle(wit(PRE_BASH), |e: &Event| deny(e.agent.as_ref().unwrap().name.clone())).unwrap();
        assert_eq!(r.reason.as_deref(), Some("gemini"));
        let failing = |_: &Event| -> Result<Answer, String> { Err("broken".into()) };
        assert_eq!(__handle(wit(PRE_BASH), failing).unwrap_err(), "broken");
        assert!(__handle(wit("nope"), |_: &Event| allow()).unwrap_err().contains("not JSON"));
    }
}
