//! The event vocabulary: every event name Claude Code sends, as `EventName`, and one row of facts
//! per event (hook-protocol.md §1, §3, §5).
//!
//! This is the only place in hookhost that spells an event name or states a fact about one: the
//! router (which field a matcher sees, which events are tool events, where `onFailure` is
//! ignored), the fold and the output reader (can a hook block it, and how), the renderer (what a
//! block looks like on the wire), `check` (known names, did-you-mean), the settings loader
//! (default timeouts) and the wasm guest flags all read `EventName::facts`. A leaf: it imports
//! nothing of ours. `tests/integration/event_names.rs` fails if an event name is spelled as a
//! string literal elsewhere in `src/` (outside `src/agents/`, whose adapters map foreign names
//! into these, and tests).
//!
//! An unknown name is still an event: `EventName::parse` carries it as `Other(name)`, it is
//! routed by that name and passes through unchanged, with the facts of `Facts::UNKNOWN` (no
//! matcher, blockable by exit 2 / `decision: "block"` so that a newer agent's semantics pass
//! through, 600 s default timeout).

use std::time::Duration;

/// How a hook stops the action of an event, which is also what a block looks like on the wire
/// when hookhost answers for all of its hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// `PreToolUse`: `hookSpecificOutput.permissionDecision` (`deny` blocks; `ask`, `defer`,
    /// `allow` are the other answers); exit 2 and the legacy `decision: "block"` are a deny.
    /// hookhost answers with JSON on stdout and exit 0.
    Permission,
    /// Exit 2, or `{"decision": "block", "reason": …}` on stdout. hookhost answers exit 2 with
    /// the reason on stderr and the same JSON on stdout. (`ConfigChange` from `policy_settings`
    /// is the one case of such an event that cannot be blocked: `HookEvent::can_block`.)
    Decision,
    /// `PermissionRequest`: only `hookSpecificOutput.decision.behavior: "deny"` (passed through
    /// as the hook wrote it) denies; exit 2 and `decision: "block"` are ignored.
    Behavior,
    /// Cannot be blocked: exit 2's reason becomes a notice (`systemMessage`).
    Never,
}

impl Block {
    /// Exit 2 / `decision: "block"` / a deny stops the action.
    pub const fn blocks(self) -> bool {
        matches!(self, Block::Permission | Block::Decision)
    }
}

/// Everything hookhost knows about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Whether and how a hook stops the action.
    pub block: Block,
    /// The payload field a settings matcher is tested against (`FileChanged`: the file name of
    /// `file_path`); `None`: the event has no matcher and a matcher on it is ignored.
    pub matcher: Option<&'static str>,
    /// The matcher's exact form allows only letters, digits, `_` and `|` (no `-`, space or `,`).
    pub narrow_exact_matcher: bool,
    /// Claude Code's default timeout of a hook registered for the event.
    pub default_timeout: Duration,
    /// Claude Code ignores `onFailure: "block"` on this event (a blocking failure would loop the
    /// agent).
    pub on_failure_ignored: bool,
    /// Plain text on stdout at exit 0 is context for the model.
    pub text_is_context: bool,
    /// hookhost parses a typed view of the payload (`event::Payload`).
    pub typed_payload: bool,
}

/// The matcher field of tool events.
const TOOL_NAME: &str = "tool_name";

/// Claude Code's default timeout for command hooks.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

impl Facts {
    /// The row every event starts from: no matcher, blockable by exit 2 / `decision: "block"`,
    /// 600 s. Also the facts of an unknown event.
    pub const UNKNOWN: Facts = Facts {
        block: Block::Decision,
        matcher: None,
        narrow_exact_matcher: false,
        default_timeout: DEFAULT_TIMEOUT,
        on_failure_ignored: false,
        text_is_context: false,
        typed_payload: false,
    };

    /// A tool event (`PreToolUse`, `PostToolUse`, `PostToolUseFailure`, `PermissionRequest`,
    /// `PermissionDenied`): its matcher sees `tool_name`.
    pub fn is_tool_event(&self) -> bool {
        self.matcher == Some(TOOL_NAME)
    }
}

macro_rules! event_names {
    ($($name:ident),* $(,)?) => {
        /// An event name: one of Claude Code's, or any other name (`Other`), carried as sent.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventName {
            $($name,)*
            /// A name hookhost does not know; build it with `EventName::parse` (never with a
            /// known name inside).
            Other(String),
        }

        /// Every event name Claude Code 2.1.328 is known to send, in hook-protocol.md §1 order.
        pub const KNOWN_EVENTS: &[&str] = &[$(stringify!($name)),*];

        impl EventName {
            /// Every known event, in the order of `KNOWN_EVENTS`.
            pub const KNOWN: &'static [EventName] = &[$(EventName::$name),*];

            /// The event called `name`; an unknown name is `Other(name)`.
            pub fn parse(name: &str) -> EventName {
                match name {
                    $(stringify!($name) => EventName::$name,)*
                    other => EventName::Other(other.to_string()),
                }
            }

            /// The name as Claude Code spells it (an unknown one as it was sent).
            pub const fn as_str(&self) -> &str {
                match self {
                    $(EventName::$name => stringify!($name),)*
                    EventName::Other(name) => name.as_str(),
                }
            }
        }
    };
}

event_names![
    SessionStart,
    Setup,
    UserPromptSubmit,
    UserPromptExpansion,
    PreToolUse,
    PermissionRequest,
    PermissionDenied,
    PostToolUse,
    PostToolUseFailure,
    PostToolBatch,
    Notification,
    MessageDisplay,
    SubagentStart,
    SubagentStop,
    TaskCreated,
    TaskCompleted,
    Stop,
    StopFailure,
    TeammateIdle,
    InstructionsLoaded,
    ConfigChange,
    CwdChanged,
    DirectoryAdded,
    FileChanged,
    WorktreeCreate,
    WorktreeRemove,
    PreCompact,
    PostCompact,
    Elicitation,
    ElicitationResult,
    SessionEnd,
    PreModelSwitch,
    PostModelSwitch,
];

impl EventName {
    /// The event's row of facts (hook-protocol.md §1, §3, §5).
    pub const fn facts(&self) -> Facts {
        use EventName as E;
        const U: Facts = Facts::UNKNOWN;
        const fn matcher(field: &'static str, block: Block) -> Facts {
            Facts { matcher: Some(field), block, ..U }
        }
        const fn tool(block: Block) -> Facts {
            matcher(TOOL_NAME, block)
        }
        const NEVER: Block = Block::Never;
        const BLOCK: Block = Block::Decision;
        match self {
            E::SessionStart => Facts { text_is_context: true, ..matcher("source", NEVER) },
            E::Setup => matcher("trigger", NEVER),
            E::UserPromptSubmit => Facts { text_is_context: true, default_timeout: Duration::from_secs(30), ..U },
            E::UserPromptExpansion => Facts { text_is_context: true, ..matcher("command_name", BLOCK) },
            E::PreToolUse => Facts { typed_payload: true, ..tool(Block::Permission) },
            E::PermissionRequest => tool(Block::Behavior),
            E::PermissionDenied => tool(NEVER),
            E::PostToolUse => Facts { typed_payload: true, ..tool(BLOCK) },
            E::PostToolUseFailure => Facts { typed_payload: true, ..tool(BLOCK) },
            E::PostToolBatch => U,
            E::Notification => matcher("notification_type", NEVER),
            E::MessageDisplay => Facts { block: NEVER, default_timeout: Duration::from_secs(10), ..U },
            E::SubagentStart => matcher("agent_type", NEVER),
            E::SubagentStop => Facts { on_failure_ignored: true, ..matcher("agent_type", BLOCK) },
            E::TaskCreated => U,
            E::TaskCompleted => Facts { on_failure_ignored: true, ..U },
            E::Stop => Facts { on_failure_ignored: true, ..U },
            E::StopFailure => Facts { narrow_exact_matcher: true, ..matcher("error", NEVER) },
            E::TeammateIdle => Facts { on_failure_ignored: true, ..U },
            E::InstructionsLoaded => matcher("load_reason", NEVER),
            E::ConfigChange => Facts { typed_payload: true, ..matcher("source", BLOCK) },
            E::CwdChanged => Facts { block: NEVER, ..U },
            E::DirectoryAdded => matcher("source", NEVER),
            E::FileChanged => Facts { narrow_exact_matcher: true, ..matcher("file_path", NEVER) },
            E::WorktreeCreate => U,
            E::WorktreeRemove => Facts { block: NEVER, ..U },
            E::PreCompact => matcher("trigger", BLOCK),
            E::PostCompact => matcher("trigger", NEVER),
            E::Elicitation | E::ElicitationResult => matcher("mcp_server_name", BLOCK),
            E::SessionEnd => Facts { default_timeout: Duration::from_millis(1500), ..matcher("reason", NEVER) },
            E::PreModelSwitch => U,
            E::PostModelSwitch => Facts { block: NEVER, ..U },
            E::Other(_) => U,
        }
    }

    /// True for the names in `KNOWN_EVENTS`.
    pub const fn is_known(&self) -> bool {
        !matches!(self, EventName::Other(_))
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The facts of the event called `name` (`Facts::UNKNOWN` for an unknown one).
pub fn facts_of(name: &str) -> Facts {
    EventName::parse(name).facts()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, by an exhaustive match: a new variant that is missing from `KNOWN` (the
    /// list `parse`, `as_str` and `KNOWN_EVENTS` are made from) does not compile here.
    fn position(e: &EventName) -> usize {
        use EventName as E;
        let all = [
            E::SessionStart,
            E::Setup,
            E::UserPromptSubmit,
            E::UserPromptExpansion,
            E::PreToolUse,
            E::PermissionRequest,
            E::PermissionDenied,
            E::PostToolUse,
            E::PostToolUseFailure,
            E::PostToolBatch,
            E::Notification,
            E::MessageDisplay,
            E::SubagentStart,
            E::SubagentStop,
            E::TaskCreated,
            E::TaskCompleted,
            E::Stop,
            E::StopFailure,
            E::TeammateIdle,
            E::InstructionsLoaded,
            E::ConfigChange,
            E::CwdChanged,
            E::DirectoryAdded,
            E::FileChanged,
            E::WorktreeCreate,
            E::WorktreeRemove,
            E::PreCompact,
            E::PostCompact,
            E::Elicitation,
            E::ElicitationResult,
            E::SessionEnd,
            E::PreModelSwitch,
            E::PostModelSwitch,
        ];
        match e {
            E::SessionStart
            | E::Setup
            | E::UserPromptSubmit
            | E::UserPromptExpansion
            | E::PreToolUse
            | E::PermissionRequest
            | E::PermissionDenied
            | E::PostToolUse
            | E::PostToolUseFailure
            | E::PostToolBatch
            | E::Notification
            | E::MessageDisplay
            | E::SubagentStart
            | E::SubagentStop
            | E::TaskCreated
            | E::TaskCompleted
            | E::Stop
            | E::StopFailure
            | E::TeammateIdle
            | E::InstructionsLoaded
            | E::ConfigChange
            | E::CwdChanged
            | E::DirectoryAdded
            | E::FileChanged
            | E::WorktreeCreate
            | E::WorktreeRemove
            | E::PreCompact
            | E::PostCompact
            | E::Elicitation
            | E::ElicitationResult
            | E::SessionEnd
            | E::PreModelSwitch
            | E::PostModelSwitch => all.iter().position(|x| x == e).unwrap(),
            E::Other(_) => usize::MAX,
        }
    }

    #[test]
    fn every_event_name_has_a_complete_fact_row() {
        assert_eq!(EventName::KNOWN.len(), 33);
        assert_eq!(KNOWN_EVENTS.len(), EventName::KNOWN.len());
        for (i, e) in EventName::KNOWN.iter().enumerate() {
            assert_eq!(position(e), i, "{e}");
            assert!(e.is_known());
            let f = e.facts();
            // A complete row: a matcher field is a snake_case payload key, a timeout is set.
            if let Some(m) = f.matcher {
                assert!(!m.is_empty() && m.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{e}: {m}");
            }
            assert!(f.default_timeout > Duration::ZERO && f.default_timeout <= DEFAULT_TIMEOUT, "{e}");
            assert_eq!(f.is_tool_event(), f.matcher == Some("tool_name"), "{e}");
            // Only tool events and ConfigChange have a typed view; only PreToolUse answers with a
            // permission decision and only PermissionRequest with a behaviour.
            assert_eq!(
                f.typed_payload,
                matches!(e.as_str(), "PreToolUse" | "PostToolUse" | "PostToolUseFailure" | "ConfigChange"),
                "{e}"
            );
            assert_eq!(f.block == Block::Permission, *e == EventName::PreToolUse, "{e}");
            assert_eq!(f.block == Block::Behavior, *e == EventName::PermissionRequest, "{e}");
            // onFailure is ignored only where a block is possible and would loop the agent.
            assert!(!f.on_failure_ignored || f.block.blocks(), "{e}");
            assert!(!f.narrow_exact_matcher || f.matcher.is_some(), "{e}");
        }
        // The rows hook-protocol.md §1 and §3 state, spot-checked by name.
        assert_eq!(facts_of("PreToolUse").matcher, Some("tool_name"));
        assert_eq!(facts_of("Notification").matcher, Some("notification_type"));
        assert_eq!(facts_of("SessionEnd").default_timeout, Duration::from_millis(1500));
        assert_eq!(facts_of("UserPromptSubmit").default_timeout, Duration::from_secs(30));
        assert_eq!(facts_of("MessageDisplay").default_timeout, Duration::from_secs(10));
        assert_eq!(facts_of("SessionStart").block, Block::Never);
        assert_eq!(facts_of("ConfigChange").block, Block::Decision);
        let ignored: Vec<&str> =
            EventName::KNOWN.iter().filter(|e| e.facts().on_failure_ignored).map(EventName::as_str).collect();
        assert_eq!(ignored, ["SubagentStop", "TaskCompleted", "Stop", "TeammateIdle"]);
        assert_eq!(facts_of("NoSuchEvent"), Facts::UNKNOWN);
        assert!(Facts::UNKNOWN.block.blocks());
    }

    #[test]
    fn parse_and_as_str_round_trip_and_unknown_names_are_carried() {
        for (e, name) in EventName::KNOWN.iter().zip(KNOWN_EVENTS) {
            assert_eq!(e.as_str(), *name);
            assert_eq!(&EventName::parse(name), e);
            assert_eq!(EventName::parse(e.as_str()).as_str(), e.as_str());
        }
        let mut names: Vec<&str> = KNOWN_EVENTS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KNOWN_EVENTS.len(), "no name twice");
        for unknown in
            ["", "BrandNewEvent", "pretooluse", "PreToolUse ", " PreToolUse", "PRETOOLUSE", "Pre\u{0}ToolUse", "é"]
        {
            let e = EventName::parse(unknown);
            assert_eq!(e, EventName::Other(unknown.to_string()));
            assert!(!e.is_known());
            assert_eq!(e.as_str(), unknown);
            assert_eq!(EventName::parse(e.as_str()), e);
            assert_eq!(e.facts(), Facts::UNKNOWN);
        }
    }

    /// The six string tables this module replaced, verbatim from before it (event.rs, decision.rs,
    /// bus.rs, settings/file.rs, hook.rs, matcher.rs): the rows say the same for every known
    /// name and an unknown one.
    #[test]
    fn the_rows_equal_the_tables_they_replace() {
        fn old_matcher_field(event: &str) -> Option<&'static str> {
            Some(match event {
                "PreToolUse" | "PostToolUse" | "PostToolUseFailure" | "PermissionRequest" | "PermissionDenied" => {
                    "tool_name"
                }
                "SessionStart" | "ConfigChange" | "DirectoryAdded" => "source",
                "Setup" | "PreCompact" | "PostCompact" => "trigger",
                "UserPromptExpansion" => "command_name",
                "Notification" => "notification_type",
                "SubagentStart" | "SubagentStop" => "agent_type",
                "StopFailure" => "error",
                "InstructionsLoaded" => "load_reason",
                "FileChanged" => "file_path",
                "Elicitation" | "ElicitationResult" => "mcp_server_name",
                "SessionEnd" => "reason",
                _ => return None,
            })
        }
        fn old_can_block(event: &str) -> bool {
            !matches!(
                event,
                "SessionStart"
                    | "Setup"
                    | "PermissionRequest"
                    | "PermissionDenied"
                    | "Notification"
                    | "MessageDisplay"
                    | "SubagentStart"
                    | "StopFailure"
                    | "InstructionsLoaded"
                    | "CwdChanged"
                    | "DirectoryAdded"
                    | "FileChanged"
                    | "WorktreeRemove"
                    | "PostCompact"
                    | "SessionEnd"
                    | "PostModelSwitch"
            )
        }
        fn old_timeout(event: &str) -> Duration {
            match event {
                "UserPromptSubmit" => Duration::from_secs(30),
                "MessageDisplay" => Duration::from_secs(10),
                "SessionEnd" => Duration::from_millis(1500),
                _ => Duration::from_secs(600),
            }
        }
        const OLD_ON_FAILURE_IGNORED: &[&str] = &["Stop", "SubagentStop", "TaskCompleted", "TeammateIdle"];
        const OLD_TOOL_EVENTS: &[&str] =
            &["PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"];
        let names = KNOWN_EVENTS.iter().copied().chain(["BrandNewEvent", ""]);
        for name in names {
            let f = facts_of(name);
            assert_eq!(f.matcher, old_matcher_field(name), "{name}");
            assert_eq!(f.block.blocks(), old_can_block(name), "{name}");
            assert_eq!(f.default_timeout, old_timeout(name), "{name}");
            assert_eq!(f.on_failure_ignored, OLD_ON_FAILURE_IGNORED.contains(&name), "{name}");
            assert_eq!(f.is_tool_event(), OLD_TOOL_EVENTS.contains(&name), "{name}");
            assert_eq!(f.narrow_exact_matcher, matches!(name, "FileChanged" | "StopFailure"), "{name}");
            assert_eq!(
                f.text_is_context,
                matches!(name, "UserPromptSubmit" | "UserPromptExpansion" | "SessionStart"),
                "{name}"
            );
            assert_eq!(f.block == Block::Permission, name == "PreToolUse", "{name}");
            assert_eq!(f.block == Block::Behavior, name == "PermissionRequest", "{name}");
        }
    }
}
