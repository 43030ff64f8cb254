//! Every payload captured from Claude Code 2.1.328 is accepted, routed by its event name and
//! matcher subject, and reaches a hook byte-for-byte unchanged.

use hookhost::event::{EventKind, HookEvent, Payload};
use serde_json::{Value, json};

use super::support::{Env, fixture, fixture_names, fixtures_dir, repo};

#[test]
fn there_are_nineteen_fixtures_and_they_match_the_shared_originals() {
    let names = fixture_names();
    assert_eq!(names.len(), 19, "{names:?}");
    let shared = repo().join("../shared/fixtures/claude-code-2.1.328");
    if shared.is_dir() {
        for n in &names {
            assert_eq!(std::fs::read(shared.join(n)).unwrap(), fixture(n), "{n} drifted from shared/");
        }
    }
}

#[test]
fn every_fixture_parses_with_its_typed_view_and_round_trips() {
    for name in fixture_names() {
        let bytes = fixture(&name);
        let e = HookEvent::parse(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        let expected_event = name.split(['-', '.']).next().unwrap();
        assert_eq!(e.name(), expected_event, "{name}");
        // Re-rendering keeps every key, in order, with the same values.
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(e.to_json(), serde_json::to_string(&original).unwrap(), "{name}");
        assert_eq!(&**e.raw(), &bytes[..], "{name}");
        let tool = name.strip_suffix(".json").unwrap().split('-').nth(1);
        match e.payload() {
            Payload::PreToolUse(c) => assert_eq!(Some(c.tool_name.as_str()), tool, "{name}"),
            Payload::PostToolUse(p) => {
                assert_eq!(Some(p.call.tool_name.as_str()), tool, "{name}");
                assert!(!p.tool_response.is_null(), "{name}");
            }
            Payload::PostToolUseFailure(p) => {
                assert_eq!(Some(p.call.tool_name.as_str()), tool);
                assert!(p.error.as_deref().unwrap_or("").starts_with("Exit code"), "{name}");
            }
            Payload::ConfigChange(c) => {
                assert_eq!(Some(c.source.as_str()), tool, "{name}");
                assert!(c.file_path.is_some());
            }
            Payload::Other => assert_eq!(e.kind(), EventKind::Other),
        }
    }
}

/// For each fixture: a `*` hook, an exact-subject hook and a never-matching hook, each saving
/// its stdin. The first two must receive the fixture's exact bytes; the third must not run
/// (unless the event has no matcher field, where Claude Code ignores matchers).
#[test]
fn every_fixture_is_routed_and_passed_through_unchanged() {
    for name in fixture_names() {
        let bytes = fixture(&name);
        let event = HookEvent::parse(&bytes).unwrap();
        let env = Env::new();
        let out_dir = env.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let save = |f: &str| json!({"type": "command", "command": format!("cat > {}/{f}", out_dir.display())});
        let subject = event.matcher_subject().map(str::to_string);
        let mut groups = vec![
            json!({"matcher": "*", "hooks": [save("all")]}),
            json!({"matcher": "ZZZNoSuchThing", "hooks": [save("none")]}),
        ];
        if let Some(s) = &subject {
            groups.push(json!({"matcher": s, "hooks": [save("exact")]}));
        }
        env.write("managed", &json!({"hooks": {event.name(): groups}}).to_string());
        let out = env.dispatch(&bytes);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        assert!(out.stdout.is_empty(), "{name}: hooks said nothing, so dispatch says nothing: {out:?}");
        assert_eq!(std::fs::read(out_dir.join("all")).unwrap(), bytes, "{name}: `*` hook input differs");
        if subject.is_some() {
            assert_eq!(std::fs::read(out_dir.join("exact")).unwrap(), bytes, "{name}: exact hook input differs");
            assert!(!out_dir.join("none").exists(), "{name}: non-matching hook ran");
        } else {
            assert!(out_dir.join("none").exists(), "{name}: matcher must be ignored for events without one");
        }
    }
    assert!(fixtures_dir().is_dir());
}

/// Hooks registered for another event never see the fixture.
#[test]
fn fixtures_do_not_reach_hooks_of_other_events() {
    let env = Env::new();
    let marker = env.path().join("ran");
    env.write(
        "managed",
        &json!({"hooks": {"Notification": [{"hooks": [{"type": "command", "command": format!("touch {}", marker.display())}]}]}}).to_string(),
    );
    for name in fixture_names() {
        let out = env.dispatch(&fixture(&name));
        assert_eq!(out.code, 0, "{name}");
    }
    assert!(!marker.exists());
}
