//! Property tests (proptest) for every parser that takes outside input, and for the fold:
//!
//! - events: arbitrary bytes never panic `HookEvent::parse`; generated events round-trip
//!   (parse → `to_json` → parse gives the same fields, name and typed payload; the raw bytes
//!   are kept exactly); nesting past the limit is an error naming it;
//! - settings files: arbitrary text and generated settings-shaped JSON never panic
//!   `settings::file::parse`; every parsed hook has a location and a definition hash;
//! - hook stdout: arbitrary bytes and mutated valid answers never panic `decision::interpret`,
//!   and **garbage is never an allow where the failure policy is closed**: an `allow` verdict
//!   only ever comes from stdout that is a JSON object saying allow, with exit 0 or 1;
//! - the fold: permuting the hooks' answers changes nothing except what is documented as
//!   order-dependent (the last `updatedInput` in configured order wins; the first `stopReason`
//!   is kept; reasons are joined in configured order);
//! - `settings::pins::pin_text` (the `pin --write` editor): the edited text parses and carries the pins.
//!
//! The permission rules and the Bash splitter have their own properties in `permissions.rs`;
//! the path glob is checked against its reference matcher in `src/permissions/path.rs`.
//! WebAssembly responses are covered by the wasm runner's tests; daemon frames do not exist
//! yet.

use std::collections::BTreeMap;
use std::path::Path;

use hookhost::decision::{
    Decision, ExitKind, FailureKind, FailurePolicy, FoldItem, HookFailure, HookResult, Permission, fold, interpret,
    render,
};
use hookhost::settings::{Scope, file};
use hookhost::{EventKind, HookEvent};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// JSON values with exactly representable numbers (so text round trips are exact).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1000i32..1000).prop_map(|n| json!(f64::from(n) / 4.0)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const EVENT_NAMES: &[&str] =
    &["PreToolUse", "PostToolUse", "PostToolUseFailure", "ConfigChange", "Stop", "SessionStart", "Whatever"];

fn event_object() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(EVENT_NAMES),
        prop::option::of(prop_oneof![Just(json!("Bash")), Just(json!("Read")), json_value()]),
        prop::option::of(prop_oneof![json_value(), Just(json!({"command": "ls"}))]),
        prop::option::of(prop_oneof![Just(json!("user_settings")), Just(json!("policy_settings")), json_value()]),
        prop::collection::vec(("[a-z_]{1,10}", json_value()), 0..5),
    )
        .prop_map(|(name, tool, input, source, extra)| {
            let mut m = Map::new();
            for (k, v) in extra {
                m.insert(k, v);
            }
            m.insert("hook_event_name".into(), name.into());
            if let Some(t) = tool {
                m.insert("tool_name".into(), t);
            }
            if let Some(i) = input {
                m.insert("tool_input".into(), i);
            }
            if let Some(s) = source {
                m.insert("source".into(), s);
            }
            Value::Object(m)
        })
}

fn pre_tool_use() -> HookEvent {
    HookEvent::parse(br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#).unwrap()
}

fn says_allow(stdout: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stdout);
    let Ok(v) = serde_json::from_str::<Value>(text.trim()) else { return false };
    v.pointer("/hookSpecificOutput/permissionDecision") == Some(&json!("allow"))
        || v.get("decision") == Some(&json!("approve"))
}

const ALLOW: &str = r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"ok","updatedInput":{"command":"ls"}},"systemMessage":"m"}"#;

/// A valid answer with random byte edits.
fn mutated_answer() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec((0usize..ALLOW.len(), any::<u8>(), 0u8..3), 0..4)).prop_map(|edits| {
        let mut b = ALLOW.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let at = at.min(b.len().saturating_sub(1));
            match op {
                0 if !b.is_empty() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if !b.is_empty() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        b
    })
}

fn exit_kind() -> impl Strategy<Value = ExitKind> {
    prop_oneof![
        Just(ExitKind::Code(0)),
        Just(ExitKind::Code(2)),
        Just(ExitKind::Code(1)),
        any::<i32>().prop_map(ExitKind::Code),
        (1i32..32).prop_map(ExitKind::Signal),
    ]
}

/// One hook's contribution, for fold properties.
#[derive(Debug, Clone)]
struct Answer {
    result: HookResult,
    closed: bool,
}

fn answer() -> impl Strategy<Value = Answer> {
    let decided = (
        prop::option::of(prop::sample::select(vec![
            Permission::Allow,
            Permission::Ask,
            Permission::Defer,
            Permission::Deny,
        ])),
        any::<bool>(),
        prop::option::of("[a-z ]{1,8}"),
        prop::option::of((0u8..4).prop_map(|n| json!({"command": format!("v{n}")}))),
        prop::option::of("[a-z]{1,6}"),
        any::<bool>(),
        prop::option::of("[a-z]{1,6}"),
        prop::option::of("[a-z]{1,6}"),
    )
        .prop_map(|(permission, block, reason, updated_input, context, stop, stop_reason, system)| {
            HookResult::Decided(Decision {
                permission,
                block,
                reason,
                updated_input,
                additional_context: context,
                stop,
                stop_reason,
                system_message: system,
                ..Decision::default()
            })
        });
    let failed = prop::sample::select(vec![FailureKind::Timeout, FailureKind::InvalidOutput, FailureKind::Untrusted])
        .prop_map(|k| HookResult::Failed(HookFailure::new(k, "broke")));
    (prop_oneof![3 => decided, 1 => failed], any::<bool>()).prop_map(|(result, closed)| Answer { result, closed })
}

fn fold_answers(event: &HookEvent, answers: &[(String, Answer)]) -> hookhost::Verdict {
    let items: Vec<FoldItem<'_>> = answers
        .iter()
        .map(|(label, a)| FoldItem {
            label,
            result: &a.result,
            policy: if a.closed { FailurePolicy::Closed("test".into()) } else { FailurePolicy::Open },
        })
        .collect();
    fold(event, &items)
}

fn sorted_lines(s: &Option<String>) -> Vec<String> {
    let mut v: Vec<String> = s.iter().flat_map(|r| r.lines().map(str::to_string)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The permutation of `0..n` given by `seed` (Fisher–Yates with a small LCG).
fn permutation(n: usize, mut seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        p.swap(i, (seed >> 33) as usize % (i + 1));
    }
    p
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn event_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = HookEvent::parse(&bytes);
    }

    #[test]
    fn events_round_trip(v in event_object()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(e) = HookEvent::parse(&bytes) {
            prop_assert_eq!(&**e.raw(), &bytes[..], "raw bytes kept");
            let again = HookEvent::parse(e.to_json().as_bytes()).expect("a rendered event parses");
            prop_assert_eq!(again.fields(), e.fields());
            prop_assert_eq!(again.name(), e.name());
            prop_assert_eq!(again.payload(), e.payload());
            let rendered = e.to_json();
            prop_assert_eq!(rendered.as_bytes(), &bytes[..], "compact input renders byte for byte");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_named(depth in 120usize..300) {
        let text = format!("{{\"hook_event_name\":\"Stop\",\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        match HookEvent::parse(text.as_bytes()) {
            Ok(_) => prop_assert!(depth < 127),
            Err(e) => {
                prop_assert!(depth >= 127);
                prop_assert!(e.to_string().contains("limit of 128 levels"), "{}", e);
            }
        }
    }

    #[test]
    fn settings_parse_never_panics(text in prop_oneof![any::<String>(), "[{}\\[\\]\",: a-z0-9]{0,120}"]) {
        let _ = file::parse(&text, Path::new("/s.json"), Scope::Project);
        let _ = file::parse(&text, Path::new("/m.json"), Scope::Managed);
    }

    #[test]
    fn settings_shaped_json_never_panics(
        event in prop::sample::select(vec!["PreToolUse", "Stop", "ConfigChange", "Nope"]),
        matcher in prop_oneof![Just(json!("Bash")), Just(json!("*")), Just(json!("Bash([")), json_value()],
        hook in prop::collection::vec((prop::sample::select(vec![
            "type", "command", "args", "shell", "timeout", "if", "async", "onFailure", "sha256", "sandbox", "component",
            "memoryMb", "statusMessage", "bogus"]), prop_oneof![
            Just(json!("command")), Just(json!("wasm")), Just(json!("http")), Just(json!("ls")),
            Just(json!("block")), Just(json!(5)), Just(json!("Bash(git *)")), Just(json!("ab".repeat(32))),
            Just(json!({"mode": "strict"})), json_value()]), 0..6),
        top in prop::collection::vec((prop::sample::select(vec![
            "permissions", "disableAllHooks", "allowManagedHooksOnly", "failClosed", "requirePinnedHooks", "hookhost",
            "sandbox", "audit", "x"]), json_value()), 0..3),
    ) {
        let mut settings = json!({"hooks": {event: [{"matcher": matcher, "hooks": [Value::Object(
            hook.into_iter().map(|(k, v)| (k.to_string(), v)).collect())]}]}});
        for (k, v) in top {
            settings[k] = v;
        }
        for scope in [Scope::Project, Scope::Managed] {
            if let Ok(f) = file::parse(&serde_json::to_string_pretty(&settings).unwrap(), Path::new("/s.json"), scope) {
                for h in &f.hooks {
                    prop_assert!(h.origin.line >= 1 && h.origin.column >= 1);
                    prop_assert_eq!(h.definition_sha256.len(), 64);
                }
            }
        }
    }

    /// Hook stdout: never a panic; an allow only from JSON that says allow, never on exit 2, and
    /// never from a failure under a closed policy.
    #[test]
    fn garbage_is_never_an_allow(
        stdout in prop_oneof![prop::collection::vec(any::<u8>(), 0..200), mutated_answer(),
            Just(ALLOW.as_bytes().to_vec())],
        stderr in prop::collection::vec(any::<u8>(), 0..40),
        exit in exit_kind(),
    ) {
        let event = pre_tool_use();
        let result = interpret(&event, exit, &stdout, &stderr);
        let items = [FoldItem { label: "[h]", result: &result, policy: FailurePolicy::Closed("test".into()) }];
        let v = fold(&event, &items);
        if v.permission == Some(Permission::Allow) {
            prop_assert!(says_allow(&stdout), "allow from {:?}", String::from_utf8_lossy(&stdout));
            prop_assert!(exit != ExitKind::Code(2));
        }
        if matches!(result, HookResult::Failed(_)) {
            prop_assert_eq!(v.permission, Some(Permission::Deny), "a failure under a closed policy denies");
        }
        if exit == ExitKind::Code(2) {
            prop_assert_eq!(v.permission, Some(Permission::Deny));
        }
        // Whatever came in, the answer rendered for Claude Code is JSON.
        let r = render(&event, &v);
        if !r.stdout.is_empty() {
            prop_assert!(serde_json::from_str::<Value>(&r.stdout).is_ok(), "{}", r.stdout);
        }
        // On another event the same output is never a silent pass when it fails closed.
        let stop = HookEvent::parse(br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#).unwrap();
        let result = interpret(&stop, exit, &stdout, &stderr);
        let v = fold(&stop, &[FoldItem { label: "[h]", result: &result, policy: FailurePolicy::Closed("t".into()) }]);
        if matches!(result, HookResult::Failed(_)) {
            prop_assert!(v.blocked);
        }
    }

    /// The fold is order-independent except for the documented order-dependent parts.
    #[test]
    fn fold_is_order_independent(
        answers in prop::collection::vec(answer(), 0..7),
        seed in any::<u64>(),
        pre in any::<bool>(),
    ) {
        let event = if pre {
            pre_tool_use()
        } else {
            HookEvent::parse(br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#).unwrap()
        };
        prop_assert_eq!(event.kind() == EventKind::PreToolUse, pre);
        let labelled: Vec<(String, Answer)> =
            answers.into_iter().enumerate().map(|(i, a)| (format!("[h{i}]"), a)).collect();
        let perm = permutation(labelled.len(), seed);
        let shuffled: Vec<(String, Answer)> = perm.iter().map(|&i| labelled[i].clone()).collect();
        let a = fold_answers(&event, &labelled);
        let b = fold_answers(&event, &shuffled);
        prop_assert_eq!(a.permission, b.permission);
        prop_assert_eq!(a.blocked, b.blocked);
        prop_assert_eq!(a.stop, b.stop);
        prop_assert_eq!(a.label(), b.label());
        prop_assert_eq!(sorted_lines(&a.reason), sorted_lines(&b.reason));
        prop_assert_eq!(sorted(a.additional_context.clone()), sorted(b.additional_context.clone()));
        prop_assert_eq!(sorted(a.system_messages.clone()), sorted(b.system_messages.clone()));
        prop_assert_eq!(a.stop_reason.is_some(), b.stop_reason.is_some());
        // updatedInput: the last in configured order, unless the call does not run.
        for (v, order) in [(&a, &labelled), (&b, &shuffled)] {
            let last = order.iter().rev().find_map(|(_, x)| match &x.result {
                HookResult::Decided(d) => d.updated_input.clone(),
                HookResult::Failed(_) => None,
            });
            let runs = pre && !matches!(v.permission, Some(Permission::Deny | Permission::Defer));
            prop_assert_eq!(&v.updated_input, &if runs { last } else { None });
        }
    }

    /// `pin --write`'s editor: the result parses, carries every pin, and keeps the other keys.
    #[test]
    fn pin_text_lands_every_pin(
        commands in prop::collection::vec("[a-z./][a-z ./]{0,11}", 1..5),
        pretty in any::<bool>(),
        existing in prop::collection::vec(any::<bool>(), 5),
    ) {
        let hooks: Vec<Value> = commands.iter().enumerate().map(|(i, c)| {
            let mut h = json!({"type": "command", "command": c});
            if existing[i] {
                h["sha256"] = json!("0".repeat(64));
            }
            h
        }).collect();
        let v = json!({"before": 1, "hooks": {"Stop": [{"hooks": hooks}]}, "after": [1, 2]});
        let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        let path = Path::new("/s.json");
        let f = file::parse(&text, path, Scope::User).unwrap();
        let pins: BTreeMap<(usize, usize), String> = f.hooks.iter().enumerate()
            .map(|(i, h)| ((h.origin.line, h.origin.column), format!("{:064x}", i + 1))).collect();
        let (out, n) = hookhost::settings::pins::pin_text(&text, &pins).unwrap();
        prop_assert_eq!(n, commands.len());
        let g = file::parse(&out, path, Scope::User).unwrap();
        for (i, h) in g.hooks.iter().enumerate() {
            let want = format!("{:064x}", i + 1);
            prop_assert_eq!(h.sha256.as_deref(), Some(want.as_str()));
        }
        let back: Value = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(&back["before"], &v["before"]);
        prop_assert_eq!(&back["after"], &v["after"]);
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        prop_assert_eq!(keys, vec!["before", "hooks", "after"]);
    }
}
