//! What hooks answer and how the answers become one: `Decision` (a hook decided), `HookFailure`
//! (a hook broke), the fold across hooks, and the rendering of the result in Claude Code's output
//! format (JSON on stdout, reason on stderr, exit code).
//!
//! Promises: a hook's output is interpreted exactly as Claude Code 2.1.328 does (exit 0/2/other,
//! JSON only when stdout starts with `{`, `hookSpecificOutput` per event, legacy `decision`);
//! the fold is deterministic (deny > defer > ask > allow, any block blocks, `continue:false`
//! wins, the last `updatedInput` in configured order wins); a failure blocks only when its failure
//! policy says so. This module does no I/O.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::event::{Block, HookEvent};

/// Claude Code caps hook-provided strings at 10,000 characters; so does hookhost's output.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// A PreToolUse permission decision. `Ord` is restrictiveness: `Allow < Ask < Defer < Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Allow,
    Ask,
    Defer,
    Deny,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Ask => "ask",
            Permission::Defer => "defer",
            Permission::Deny => "deny",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allow" => Permission::Allow,
            "ask" => Permission::Ask,
            "defer" => Permission::Defer,
            "deny" => Permission::Deny,
            _ => return None,
        })
    }
}

/// One hook's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// PreToolUse: the permission decision (exit 2 and legacy `decision:"block"` are `Deny`).
    pub permission: Option<Permission>,
    /// Other events: the hook asked to block (exit 2 or `decision:"block"`).
    pub block: bool,
    /// `permissionDecisionReason`, or the blocking `reason` / exit-2 stderr.
    pub reason: Option<String>,
    pub updated_input: Option<Value>,
    pub additional_context: Option<String>,
    /// `continue: false`.
    pub stop: bool,
    pub stop_reason: Option<String>,
    pub system_message: Option<String>,
    /// Exit-2 stderr on an event that cannot be blocked: shown to the user, decides nothing.
    pub notice: Option<String>,
    /// `hookSpecificOutput` fields hookhost does not model, passed through unchanged.
    pub extra_specific: Map<String, Value>,
    /// Top-level output fields hookhost does not model, passed through unchanged.
    pub extra: Map<String, Value>,
}

impl Decision {
    /// True when the hook expressed no opinion at all.
    pub fn is_silent(&self) -> bool {
        *self == Decision::default()
    }

    /// A one-line summary for reports.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.permission {
            parts.push(p.as_str().to_string());
        }
        if self.block {
            parts.push("block".into());
        }
        if self.updated_input.is_some() {
            parts.push("updatedInput".into());
        }
        if self.additional_context.is_some() {
            parts.push("additionalContext".into());
        }
        if self.stop {
            parts.push("continue:false".into());
        }
        if self.system_message.is_some() {
            parts.push("systemMessage".into());
        }
        if self.notice.is_some() {
            parts.push("notice".into());
        }
        if parts.is_empty() {
            return "no opinion".into();
        }
        let mut s = parts.join(", ");
        if let Some(r) = &self.reason {
            s.push_str(&format!(": {}", first_line(r)));
        }
        s
    }
}

/// Why a hook produced no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The process could not be started (missing program, permission, sandbox set-up).
    Spawn,
    /// The hook ran past its deadline and was killed.
    Timeout,
    /// The hook exited with a code other than 0 or 2 and printed no valid JSON.
    ExitCode(i32),
    /// The hook was killed by a signal it did not get from us.
    Signal(i32),
    /// The hook printed JSON that is not valid or does not fit the schema.
    InvalidOutput,
    /// stdout or stderr went past its cap; the output was not parsed.
    OutputTooLarge,
    /// The hook type is not supported by this build or for this event.
    Unsupported,
    /// Host-side I/O with the hook failed.
    Io,
    /// The sandbox refused to run the hook (a required layer is missing).
    Sandbox,
    /// The hook's content does not match its `sha256` pin (or the content recorded by
    /// `hookhost trust`): it was not run, or its answer was discarded because its script
    /// changed while it ran.
    Untrusted,
    /// A hookhost limit was exceeded (e.g. managed `hookhost.maxHooksPerEvent`); nothing ran.
    Limit,
    /// A WebAssembly component could not be loaded: unreadable, not a component, made for
    /// another world, importing something hookhost does not grant, or no engine.
    Load,
    /// A WebAssembly hook trapped (a crash: `unreachable`, out-of-bounds access, a panic).
    Trap,
    /// A WebAssembly hook hit its memory (`memoryMb`) or table limit.
    ResourceLimit,
    /// A WebAssembly hook used up its `fuel`.
    OutOfFuel,
    /// A WebAssembly hook's `handle` returned `err(…)`.
    GuestError,
}

impl FailureKind {
    pub fn as_str(&self) -> String {
        match self {
            FailureKind::Spawn => "spawn".into(),
            FailureKind::Timeout => "timeout".into(),
            FailureKind::ExitCode(c) => format!("exit {c}"),
            FailureKind::Signal(s) => format!("signal {s}"),
            FailureKind::InvalidOutput => "invalid output".into(),
            FailureKind::OutputTooLarge => "output too large".into(),
            FailureKind::Unsupported => "unsupported".into(),
            FailureKind::Io => "io".into(),
            FailureKind::Sandbox => "sandbox".into(),
            FailureKind::Untrusted => "untrusted".into(),
            FailureKind::Limit => "limit".into(),
            FailureKind::Load => "load".into(),
            FailureKind::Trap => "trap".into(),
            FailureKind::ResourceLimit => "resource limit".into(),
            FailureKind::OutOfFuel => "out of fuel".into(),
            FailureKind::GuestError => "hook error".into(),
        }
    }
}

/// A broken hook, as data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HookFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl HookFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        HookFailure { kind, message: message.into() }
    }
}

/// What one hook run produced.
// Results are few (one per hook run) and short-lived; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum HookResult {
    Decided(Decision),
    Failed(HookFailure),
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

/// Events on which exit 2 / `decision:"block"` stops the action (the event's facts, hook-protocol.md
/// §1). Unknown events count as blockable so that a newer agent's semantics pass through unchanged.
pub fn can_block(event: &HookEvent) -> bool {
    event.can_block()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookOutputWire {
    #[serde(rename = "continue")]
    continue_: Option<bool>,
    stop_reason: Option<String>,
    #[allow(dead_code)]
    suppress_output: Option<bool>,
    system_message: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    hook_specific_output: Option<HookSpecificWire>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookSpecificWire {
    hook_event_name: Option<String>,
    permission_decision: Option<String>,
    permission_decision_reason: Option<String>,
    updated_input: Option<Value>,
    additional_context: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Whether `c` is white space for JavaScript's `String.prototype.trim()` (ECMAScript WhiteSpace
/// and LineTerminator): what Claude Code strips around a hook's stdout before it looks for
/// JSON. Unlike Rust's `trim`, it includes U+FEFF (a byte order mark) and excludes U+0085.
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{A}' | '\u{B}' | '\u{C}' | '\u{D}' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// `s` as JavaScript's `trim()` leaves it.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// A hook's JSON text as JavaScript's `JSON.parse` reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum JsJson {
    /// Parsed; a key given twice has its last value, as in `JSON.parse`.
    Value(Value),
    /// Not JSON for `JSON.parse` either: the same non-decision Claude Code makes of it.
    Invalid(String),
    /// Valid for `JSON.parse`, but not representable here (a number beyond f64, a lone UTF-16
    /// surrogate in an escape, nesting deeper than [`crate::event::MAX_JSON_DEPTH`]), or a parse
    /// error hookhost does not know to be one `JSON.parse` makes too. Its meaning cannot be
    /// read exactly, so it counts as a rejection (fail closed), never as "no opinion".
    Unreadable(String),
}

/// serde_json's syntax errors that `JSON.parse` makes too (ECMA-404 grammar, same whitespace,
/// no comments, no trailing commas, no control characters in strings). Any other error is
/// [`JsJson::Unreadable`].
const JS_REJECTS_TOO: &[&str] = &[
    "EOF while parsing",
    "expected `:`",
    "expected `,` or `]`",
    "expected `,` or `}`",
    "expected ident",
    "expected value",
    "expected `\"`",
    "invalid escape",
    "invalid number",
    "control character (\\u0000-\\u001F) found while parsing a string",
    "key must be a string",
    "trailing comma",
    "trailing characters",
];

/// Parses a hook's JSON text with `JSON.parse`'s meaning (see [`JsJson`]). The text is taken as
/// it is: trim it with [`js_trim`] first, as Claude Code does.
pub fn parse_js_json(text: &str) -> JsJson {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => JsJson::Value(v),
        Err(e) => {
            let msg = e.to_string();
            let what = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            if JS_REJECTS_TOO.iter().any(|p| what.starts_with(p)) {
                JsJson::Invalid(msg)
            } else if what == "recursion limit exceeded" {
                JsJson::Unreadable(format!(
                    "JSON nested deeper than the limit of {} levels ({msg})",
                    crate::event::MAX_JSON_DEPTH
                ))
            } else {
                JsJson::Unreadable(msg)
            }
        }
    }
}

/// The answer a hook gets when its output cannot be read exactly: a rejection of the event
/// (deny on PreToolUse, a block where the event can be blocked, else a notice).
pub fn unreadable_rejection(event: &HookEvent, why: &str) -> Decision {
    let reason = cap(&format!(
        "hookhost cannot read this hook's JSON output the way Claude Code would ({why}); it counts as a rejection"
    ));
    let mut d = Decision::default();
    if event.facts().block == Block::Permission {
        d.permission = Some(Permission::Deny);
        d.reason = Some(reason);
    } else if can_block(event) {
        d.block = true;
        d.reason = Some(reason);
    } else {
        d.notice = Some(reason);
    }
    d
}

/// Interprets what a hook process printed, per Claude Code's output contract: stdout is
/// decoded as UTF-8 (invalid bytes become U+FFFD, as Node's decoder does), trimmed as
/// JavaScript's `trim()` does (so a byte order mark is skipped) and read as JSON when it then
/// starts with `{`, with `JSON.parse`'s meaning (a duplicated key takes its last value).
pub fn interpret(event: &HookEvent, exit: ExitKind, stdout: &[u8], stderr: &[u8]) -> HookResult {
    let stdout_text = String::from_utf8_lossy(stdout);
    let trimmed = js_trim(&stdout_text);
    let json = if trimmed.starts_with('{') { Some(parse_json_output(event, trimmed)) } else { None };
    let stderr_text = String::from_utf8_lossy(stderr).trim().to_string();
    match exit {
        ExitKind::Code(0) => match json {
            Some(Ok(d)) => HookResult::Decided(d),
            Some(Err(f)) => HookResult::Failed(f),
            None => {
                let text = js_trim(&stdout_text);
                let mut d = Decision::default();
                if !text.is_empty() && event.facts().text_is_context {
                    d.additional_context = Some(cap(text));
                }
                HookResult::Decided(d)
            }
        },
        ExitKind::Code(2) => {
            // JSON is read on exit 2 too; its `allow` cannot undo the block.
            let mut d = match json {
                Some(Ok(d)) => d,
                _ => Decision::default(),
            };
            // The JSON's reason counts only if it is a blocking one (not an allow's reason).
            let blocking = d.block || d.permission == Some(Permission::Deny);
            let reason = d.reason.clone().filter(|r| blocking && !r.trim().is_empty()).unwrap_or_else(|| {
                if stderr_text.is_empty() {
                    "blocked by hook (exit 2, no reason given)".to_string()
                } else {
                    cap(&stderr_text)
                }
            });
            if event.facts().block == Block::Permission {
                d.permission = Some(Permission::Deny);
                d.reason = Some(reason);
            } else if event.facts().block == Block::Behavior {
                // Claude Code ignores exit 2 here (PermissionRequest); only `decision.behavior` counts.
            } else if can_block(event) {
                d.block = true;
                d.reason = Some(reason);
            } else {
                d.notice = Some(reason);
            }
            HookResult::Decided(d)
        }
        other => match json {
            // A schema-valid JSON answer decides whatever the exit code.
            Some(Ok(d)) => HookResult::Decided(d),
            _ => {
                let (kind, what) = match other {
                    ExitKind::Code(c) => (FailureKind::ExitCode(c), format!("exited with {c}")),
                    ExitKind::Signal(s) => (FailureKind::Signal(s), format!("killed by signal {s}")),
                };
                let detail =
                    stderr_text.lines().next().map(|l| format!(": {}", truncate_chars(l, 300))).unwrap_or_default();
                HookResult::Failed(HookFailure::new(kind, format!("{what}{detail}")))
            }
        },
    }
}

fn parse_json_output(event: &HookEvent, text: &str) -> Result<Decision, HookFailure> {
    let invalid = |m: String| HookFailure::new(FailureKind::InvalidOutput, m);
    let value = match parse_js_json(text) {
        JsJson::Value(v) => v,
        JsJson::Invalid(e) => return Err(invalid(format!("stdout is not valid hook JSON: {e}"))),
        JsJson::Unreadable(why) => return Ok(unreadable_rejection(event, &why)),
    };
    // From a `Value`, so a duplicated field has already taken its last value (serde's derive
    // would reject it, and a hook's deny would be lost to that difference).
    let wire: HookOutputWire =
        serde_json::from_value(value).map_err(|e| invalid(format!("stdout is not valid hook JSON: {e}")))?;
    let mut d = Decision {
        stop: wire.continue_ == Some(false),
        stop_reason: wire.stop_reason.as_deref().map(cap),
        system_message: wire.system_message.as_deref().map(cap),
        extra: wire.extra,
        ..Decision::default()
    };
    let pre_tool_use = event.facts().block == Block::Permission;
    match wire.decision.as_deref() {
        None => {}
        Some("block") if pre_tool_use => {
            d.permission = Some(Permission::Deny);
            d.reason = wire.reason.as_deref().map(cap);
        }
        Some("approve") if pre_tool_use => {
            d.permission = Some(Permission::Allow);
            d.reason = wire.reason.as_deref().map(cap);
        }
        Some("block") => {
            if can_block(event) {
                d.block = true;
            }
            d.reason = wire.reason.as_deref().map(cap);
        }
        Some(other) => {
            return Err(invalid(format!(
                "`decision` must be \"block\"{}, got {other:?}",
                if pre_tool_use { " or \"approve\"" } else { "" }
            )));
        }
    }
    if let Some(spec) = wire.hook_specific_output {
        if let Some(name) = &spec.hook_event_name
            && name != event.name()
        {
            return Err(invalid(format!(
                "hookSpecificOutput.hookEventName is {name:?} but the event is {:?}",
                event.name()
            )));
        }
        if let Some(p) = &spec.permission_decision {
            if !pre_tool_use {
                return Err(invalid(format!("permissionDecision is only valid for PreToolUse, not {}", event.name())));
            }
            let p = Permission::parse(p)
                .ok_or_else(|| invalid(format!("permissionDecision must be allow, deny, ask or defer, got {p:?}")))?;
            // The most restrictive of the legacy and the current form wins.
            d.permission = Some(d.permission.map_or(p, |q| q.max(p)));
            if let Some(r) = &spec.permission_decision_reason {
                d.reason = Some(cap(r));
            }
        }
        if let Some(u) = spec.updated_input {
            if !u.is_object() {
                return Err(invalid("updatedInput must be an object".into()));
            }
            d.updated_input = Some(u);
        }
        d.additional_context = spec.additional_context.as_deref().map(cap);
        d.extra_specific = spec.extra;
    }
    Ok(d)
}

/// What happens when a hook fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Claude Code's default: the failure is reported and the action proceeds.
    Open,
    /// The failure counts as a rejection; the string says which setting made it so.
    Closed(String),
}

/// One hook's contribution to the fold.
#[derive(Debug, Clone)]
pub struct FoldItem<'a> {
    /// How to name the hook in reasons, e.g. `[./guard.sh]`.
    pub label: &'a str,
    pub result: &'a HookResult,
    pub policy: FailurePolicy,
}

/// The combined answer of all hooks for one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// PreToolUse: the most restrictive permission decision, if any hook made one.
    pub permission: Option<Permission>,
    /// Other events: the action is blocked.
    pub blocked: bool,
    /// The reason for the permission decision or the block.
    pub reason: Option<String>,
    pub updated_input: Option<Value>,
    pub additional_context: Vec<String>,
    pub stop: bool,
    pub stop_reason: Option<String>,
    pub system_messages: Vec<String>,
    pub extra_specific: Map<String, Value>,
    pub extra: Map<String, Value>,
    /// Human-readable steps of how the verdict came about (for `explain` and the audit).
    pub why: Vec<String>,
    /// The host failed for this event where its failure policy is closed (e.g. the event could
    /// not be recorded in the audit log): rendered as a host error (exit 2, the cause on
    /// stderr), whatever the hooks said.
    pub host_error: Option<String>,
}

impl Verdict {
    /// The verdict in one word: deny, defer, ask, allow, block, stop or none.
    pub fn label(&self) -> &'static str {
        if self.host_error.is_some() {
            "error"
        } else if self.stop {
            "stop"
        } else if let Some(p) = self.permission {
            p.as_str()
        } else if self.blocked {
            "block"
        } else {
            "none"
        }
    }

    /// True when the action must not happen.
    pub fn rejects(&self) -> bool {
        self.host_error.is_some()
            || self.blocked
            || self.stop
            || matches!(self.permission, Some(Permission::Deny | Permission::Defer))
    }
}

/// Folds the answers of all hooks that ran for `event`, in configured order.
pub fn fold(event: &HookEvent, items: &[FoldItem<'_>]) -> Verdict {
    let pre_tool_use = event.facts().block == Block::Permission;
    let mut v = Verdict::default();
    // Reasons per permission level / for blocks, in configured order.
    let mut reasons: Vec<(Option<Permission>, String)> = Vec::new();
    let mut updated_from: Option<&str> = None;

    for item in items {
        match item.result {
            HookResult::Decided(d) => {
                if let Some(p) = d.permission {
                    v.permission = Some(v.permission.map_or(p, |q| q.max(p)));
                    if let Some(r) = &d.reason {
                        reasons.push((Some(p), r.clone()));
                    }
                    v.why.push(format!("{} answered {}", item.label, p.as_str()));
                }
                if d.block {
                    v.blocked = true;
                    reasons.push((None, d.reason.clone().unwrap_or_else(|| "blocked".into())));
                    v.why.push(format!("{} blocked", item.label));
                }
                if let Some(u) = &d.updated_input {
                    if let Some(prev) = updated_from {
                        v.why.push(format!(
                            "{} replaced the updatedInput of {prev} (last in configured order wins)",
                            item.label
                        ));
                    }
                    v.updated_input = Some(u.clone());
                    updated_from = Some(item.label);
                }
                if let Some(c) = &d.additional_context {
                    v.additional_context.push(c.clone());
                }
                if d.stop {
                    v.stop = true;
                    v.why.push(format!("{} answered continue:false", item.label));
                    if v.stop_reason.is_none() {
                        v.stop_reason = d.stop_reason.clone();
                    }
                }
                if let Some(m) = &d.system_message {
                    v.system_messages.push(m.clone());
                }
                if let Some(n) = &d.notice {
                    v.system_messages.push(format!("{}: {}", item.label, n));
                }
                merge_extra(&mut v.extra_specific, &d.extra_specific);
                for (k, val) in &d.extra {
                    v.extra.insert(k.clone(), val.clone());
                }
            }
            HookResult::Failed(f) => match &item.policy {
                FailurePolicy::Open => {
                    v.system_messages.push(format!(
                        "{} hook {} failed ({}): {}; ignored (fail-open)",
                        event.name(),
                        item.label,
                        f.kind.as_str(),
                        f.message
                    ));
                    v.why.push(format!("{} failed ({}), fail-open: no effect", item.label, f.kind.as_str()));
                }
                FailurePolicy::Closed(because) => {
                    let what = if f.kind == FailureKind::Timeout { "timed out" } else { "failed" };
                    let reason = format!("{}: {what} ({}); blocking because {because}", item.label, f.message);
                    v.why.push(format!("{} failed, fail-closed: counts as a rejection", item.label));
                    if pre_tool_use {
                        v.permission = Some(Permission::Deny);
                        reasons.push((Some(Permission::Deny), reason));
                    } else if can_block(event) {
                        v.blocked = true;
                        reasons.push((None, reason));
                    } else {
                        v.system_messages.push(format!(
                            "{}: {what} ({}); {because}, but {} cannot be blocked here",
                            item.label,
                            f.message,
                            event.name()
                        ));
                    }
                }
            },
        }
    }

    if pre_tool_use {
        // A block from any hook is a deny.
        if let Some(p) = v.permission {
            let mine: Vec<String> = reasons.iter().filter(|(q, _)| *q == Some(p)).map(|(_, r)| r.clone()).collect();
            if !mine.is_empty() {
                v.reason = Some(cap(&dedup(mine).join("\n")));
            }
            v.why.push(format!("most restrictive answer: {} (deny > defer > ask > allow)", p.as_str()));
        }
        if matches!(v.permission, Some(Permission::Deny | Permission::Defer)) && v.updated_input.is_some() {
            v.why.push("updatedInput dropped: the call does not run".into());
            v.updated_input = None;
        }
    } else {
        if let Some(cc) = event.config_change()
            && cc.source == crate::event::ConfigSource::PolicySettings
        {
            v.why.push("policy_settings changes cannot be blocked".into());
        }
        if v.blocked {
            let mine: Vec<String> = reasons.into_iter().filter(|(q, _)| q.is_none()).map(|(_, r)| r).collect();
            v.reason = Some(cap(&dedup(mine).join("\n")));
        }
        v.updated_input = None;
    }
    v
}

fn merge_extra(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, val) in from {
        // PermissionRequest: a deny behaviour beats an allow, whatever the order.
        if k == "decision"
            && into.get(k).and_then(|d| d.get("behavior")).and_then(Value::as_str) == Some("deny")
            && val.get("behavior").and_then(Value::as_str) != Some("deny")
        {
            continue;
        }
        into.insert(k.clone(), val.clone());
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// What `hookhost dispatch` prints and returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: u8,
}

/// Renders a verdict in Claude Code's output format.
///
/// PreToolUse always answers with JSON on stdout and exit 0 (the reason then reaches the model
/// without the command line in front of it). A block on any other event exits 2 with the reason
/// on stderr and the same answer as JSON on stdout.
pub fn render(event: &HookEvent, v: &Verdict) -> Response {
    if let Some(e) = &v.host_error {
        return Response { stdout: String::new(), stderr: format!("hookhost: {e}\n"), exit_code: 2 };
    }
    let mut out = Map::new();
    let mut spec = Map::new();
    if event.facts().block == Block::Permission {
        if let Some(p) = v.permission {
            spec.insert("permissionDecision".into(), p.as_str().into());
            if let Some(r) = &v.reason {
                spec.insert("permissionDecisionReason".into(), r.clone().into());
            }
        }
        if let Some(u) = &v.updated_input {
            spec.insert("updatedInput".into(), u.clone());
        }
    }
    if !v.additional_context.is_empty() {
        spec.insert("additionalContext".into(), cap(&v.additional_context.join("\n\n")).into());
    }
    for (k, val) in &v.extra_specific {
        spec.entry(k.clone()).or_insert_with(|| val.clone());
    }
    let blocked = v.blocked && event.facts().block != Block::Permission;
    if blocked {
        out.insert("decision".into(), "block".into());
        out.insert("reason".into(), v.reason.clone().unwrap_or_default().into());
    }
    if v.stop {
        out.insert("continue".into(), false.into());
        if let Some(r) = &v.stop_reason {
            out.insert("stopReason".into(), r.clone().into());
        }
    }
    if !v.system_messages.is_empty() {
        out.insert("systemMessage".into(), cap(&v.system_messages.join("\n")).into());
    }
    if !spec.is_empty() {
        let mut s = Map::new();
        s.insert("hookEventName".into(), event.name().into());
        s.extend(spec);
        out.insert("hookSpecificOutput".into(), Value::Object(s));
    }
    for (k, val) in &v.extra {
        out.entry(k.clone()).or_insert_with(|| val.clone());
    }
    let stdout = if out.is_empty() { String::new() } else { serde_json::to_string(&out).unwrap_or_default() + "\n" };
    if blocked {
        Response { stdout, stderr: format!("{}\n", v.reason.as_deref().unwrap_or("blocked by hookhost")), exit_code: 2 }
    } else {
        Response { stdout, stderr: String::new(), exit_code: 0 }
    }
}

pub(crate) fn cap(s: &str) -> String {
    truncate_chars(s, MAX_TEXT_CHARS)
}

/// At most `max` characters; a cut string ends with `…` (counted in `max`).
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().nth(max).is_none() {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    format!("{}…", &s[..end])
}

pub(crate) fn first_line(s: &str) -> String {
    truncate_chars(s.lines().next().unwrap_or(""), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(name: &str) -> HookEvent {
        let extra = match name {
            "PreToolUse" | "PostToolUse" => r#","tool_name":"Bash","tool_input":{"command":"ls"}"#,
            "ConfigChange" => r#","source":"user_settings""#,
            _ => "",
        };
        HookEvent::parse(format!(r#"{{"hook_event_name":"{name}"{extra}}}"#).as_bytes()).unwrap()
    }

    fn decided(r: HookResult) -> Decision {
        match r {
            HookResult::Decided(d) => d,
            HookResult::Failed(f) => panic!("failed: {f:?}"),
        }
    }

    #[test]
    fn exit_codes() {
        let e = ev("PreToolUse");
        assert!(decided(interpret(&e, ExitKind::Code(0), b"", b"")).is_silent());
        let d = decided(interpret(&e, ExitKind::Code(2), b"", b"no rm\n"));
        assert_eq!(d.permission, Some(Permission::Deny));
        assert_eq!(d.reason.as_deref(), Some("no rm"));
        // On exit 2, an allow's reason is not the block reason: stderr is.
        let allow = br#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"fine"}}"#;
        let d = decided(interpret(&e, ExitKind::Code(2), allow, b"no rm\n"));
        assert_eq!(d.permission, Some(Permission::Deny));
        assert_eq!(d.reason.as_deref(), Some("no rm"));
        let f = interpret(&e, ExitKind::Code(1), b"oops", b"boom\nmore");
        assert_eq!(f, HookResult::Failed(HookFailure::new(FailureKind::ExitCode(1), "exited with 1: boom")));
        // Exit 1 with schema-valid JSON decides.
        let d = decided(interpret(
            &e,
            ExitKind::Code(1),
            br#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask"}}"#,
            b"",
        ));
        assert_eq!(d.permission, Some(Permission::Ask));
        // Exit 2 on PostToolUse blocks; on SessionStart it is only a notice.
        assert!(decided(interpret(&ev("PostToolUse"), ExitKind::Code(2), b"", b"x")).block);
        let d = decided(interpret(&ev("SessionStart"), ExitKind::Code(2), b"", b"x"));
        assert!(!d.block);
        assert_eq!(d.notice.as_deref(), Some("x"));
    }

    #[test]
    fn json_forms() {
        let e = ev("PreToolUse");
        let d = decided(interpret(&e, ExitKind::Code(0), br#"  {"decision":"block","reason":"legacy"}"#, b""));
        assert_eq!((d.permission, d.reason.as_deref()), (Some(Permission::Deny), Some("legacy")));
        let d = decided(interpret(&e, ExitKind::Code(0), br#"{"decision":"approve"}"#, b""));
        assert_eq!(d.permission, Some(Permission::Allow));
        // A prefix turns JSON into text: no opinion on PreToolUse.
        assert!(decided(interpret(&e, ExitKind::Code(0), br#"hello {"decision":"block"}"#, b"")).is_silent());
        // Invalid JSON and schema errors are failures, never decisions.
        for bad in [
            &br#"{"decision":"#[..],
            br#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"yes"}}"#,
            br#"{"hookSpecificOutput":{"hookEventName":"PostToolUse","permissionDecision":"deny"}}"#,
            br#"{"decision":"maybe"}"#,
            br#"{"continue":"no"}"#,
        ] {
            assert!(matches!(
                interpret(&e, ExitKind::Code(0), bad, b""),
                HookResult::Failed(HookFailure { kind: FailureKind::InvalidOutput, .. })
            ));
        }
        // `{}` is no opinion.
        assert!(decided(interpret(&e, ExitKind::Code(0), b"{}", b"")).is_silent());
    }

    #[test]
    fn fold_is_most_restrictive_and_last_update_wins() {
        let e = ev("PreToolUse");
        let allow = HookResult::Decided(Decision {
            permission: Some(Permission::Allow),
            updated_input: Some(json!({"command": "a"})),
            ..Default::default()
        });
        let ask = HookResult::Decided(Decision {
            permission: Some(Permission::Ask),
            reason: Some("sure?".into()),
            updated_input: Some(json!({"command": "b"})),
            ..Default::default()
        });
        let deny = HookResult::Decided(Decision {
            permission: Some(Permission::Deny),
            reason: Some("no".into()),
            ..Default::default()
        });
        let item = |label, result| FoldItem { label, result, policy: FailurePolicy::Open };
        let v = fold(&e, &[item("a", &allow), item("b", &ask)]);
        assert_eq!(v.permission, Some(Permission::Ask));
        assert_eq!(v.reason.as_deref(), Some("sure?"));
        assert_eq!(v.updated_input, Some(json!({"command": "b"})));
        let v2 = fold(&e, &[item("b", &ask), item("a", &allow)]);
        assert_eq!(v2.updated_input, Some(json!({"command": "a"})));
        let v = fold(&e, &[item("a", &allow), item("c", &deny), item("b", &ask)]);
        assert_eq!(v.permission, Some(Permission::Deny));
        assert_eq!(v.reason.as_deref(), Some("no"));
        assert_eq!(v.updated_input, None);
        let r = render(&e, &v);
        assert_eq!(r.exit_code, 0);
        let out: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(out["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    }

    #[test]
    fn failures_follow_policy() {
        let e = ev("ConfigChange");
        let f = HookResult::Failed(HookFailure::new(FailureKind::Timeout, "timed out after 1s"));
        let open = fold(&e, &[FoldItem { label: "[x]", result: &f, policy: FailurePolicy::Open }]);
        assert!(!open.blocked);
        assert_eq!(render(&e, &open).exit_code, 0);
        let closed = fold(
            &e,
            &[FoldItem { label: "[x]", result: &f, policy: FailurePolicy::Closed("onFailure is \"block\"".into()) }],
        );
        assert!(closed.blocked);
        let r = render(&e, &closed);
        assert_eq!(r.exit_code, 2);
        assert!(r.stderr.contains("[x]: timed out"), "{}", r.stderr);
    }

    #[test]
    fn parity_bom_and_duplicate_keys_take_the_last_value() {
        let e = ev("PreToolUse");
        let perm = |out: &str| match interpret(&e, ExitKind::Code(0), out.as_bytes(), b"") {
            HookResult::Decided(d) => d.permission,
            HookResult::Failed(f) => panic!("{out}: {f:?}"),
        };
        assert_eq!(perm("\u{feff}{\"decision\":\"block\"}"), Some(Permission::Deny));
        assert_eq!(perm("\u{feff}\u{feff} \u{2028}{\"decision\":\"block\"}\u{feff}"), Some(Permission::Deny));
        assert_eq!(perm(r#"{"decision":"approve","decision":"block"}"#), Some(Permission::Deny));
        assert_eq!(
            perm(r#"{"hookSpecificOutput":{"permissionDecision":"allow","permissionDecision":"deny"}}"#),
            Some(Permission::Deny)
        );
        assert_eq!(
            perm(
                r#"{"hookSpecificOutput":{"permissionDecision":"deny"},"hookSpecificOutput":{"permissionDecision":"ask"}}"#
            ),
            Some(Permission::Ask)
        );
        // The last value wins both ways, as in JSON.parse.
        assert_eq!(perm(r#"{"decision":"block","decision":"approve"}"#), Some(Permission::Allow));
        // U+0085 is white space for Rust, not for JavaScript: the output is text, no opinion.
        assert_eq!(perm("\u{85}{\"decision\":\"block\"}"), None);
        // JSON.parse reads these; hookhost cannot represent them: a rejection, never no opinion.
        for out in [
            r#"{"decision":"approve","n":1e400}"#,
            r#"{"decision":"approve","s":"\ud800"}"#,
            r#"{"decision":"approve","s":"\udc00"}"#,
        ] {
            assert_eq!(perm(out), Some(Permission::Deny), "{out}");
        }
        let deep = format!(r#"{{"decision":"approve","x":{}{}}}"#, "[".repeat(300), "]".repeat(300));
        assert_eq!(perm(&deep), Some(Permission::Deny));
        // On another event the same is a block.
        let d = decided(interpret(&ev("PostToolUse"), ExitKind::Code(0), br#"{"n":1e999}"#, b""));
        assert!(d.block);
        // JSON.parse rejects these too: an invalid output, as before.
        for out in [r#"{"decision":"block",}"#, r#"{'decision':'block'}"#, r#"{"decision":"block"} x"#] {
            assert!(matches!(
                interpret(&e, ExitKind::Code(0), out.as_bytes(), b""),
                HookResult::Failed(HookFailure { kind: FailureKind::InvalidOutput, .. })
            ));
        }
    }

    #[test]
    fn truncation_counts_the_ellipsis() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("abcd", 4), "abcd");
        assert_eq!(truncate_chars("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn policy_settings_cannot_be_blocked() {
        let e = HookEvent::parse(br#"{"hook_event_name":"ConfigChange","source":"policy_settings"}"#).unwrap();
        let d = decided(interpret(&e, ExitKind::Code(2), b"", b"no"));
        assert!(!d.block);
        let d = decided(interpret(&e, ExitKind::Code(0), br#"{"decision":"block","reason":"no"}"#, b""));
        assert!(!d.block);
    }
}
