//! What a `Host` builds, and when: no wasmtime engine until a WebAssembly hook matches the
//! event being dispatched (issue 23, item 5).

use super::*;

fn event(name: &str, tool: &str) -> Vec<u8> {
    serde_json::json!({
        "session_id": "s",
        "cwd": "/",
        "hook_event_name": name,
        "tool_name": tool,
        "tool_input": {"command": "ls"},
        "tool_response": {},
    })
    .to_string()
    .into_bytes()
}

#[test]
fn no_wasmtime_engine_is_started_until_a_wasm_hook_matches_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let managed = dir.path().join("managed");
    std::fs::create_dir_all(&managed).unwrap();
    let component = dir.path().join("policy.wasm");
    let settings = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "wasm", "component": component, "onFailure": "block"}
    ]}]}});
    std::fs::write(managed.join("managed-settings.json"), settings.to_string()).unwrap();
    let host = Host::builder()
        .managed_dir(&managed)
        .user_settings(None)
        .state_dir(Some(dir.path().join("state")))
        .project_dir(dir.path())
        .front_end(FrontEnd::OneShot)
        .build()
        .unwrap();
    // Events the wasm hook does not match: answered, and no engine.
    for (name, tool) in [("PostToolUse", "Bash"), ("PreToolUse", "Read"), ("UserPromptSubmit", "")] {
        let r = host.dispatch_blocking(&event(name, tool));
        assert_eq!(r.exit_code, 0, "{name} {tool}: {r:?}");
        assert!(host.inner.wasm_runtime.get().is_none(), "{name} {tool}: a wasmtime engine was started");
    }
    // The event it matches: the engine starts, and the missing component blocks (onFailure).
    let r = host.dispatch_blocking(&event("PreToolUse", "Bash"));
    assert!(host.inner.wasm_runtime.get().is_some_and(Result::is_ok), "the matching event starts the engine");
    assert!(r.stdout.contains(r#""permissionDecision":"deny""#) && r.stdout.contains("policy.wasm"), "{r:?}");
}

#[test]
fn a_bus_runs_its_wasm_hooks_after_the_host_that_built_it_is_gone() {
    // `Host::tools().what_if_bus(..)` (demo, test): the host is a temporary.
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("policy.wasm");
    let managed = dir.path().join("managed");
    std::fs::create_dir_all(&managed).unwrap();
    let settings = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "wasm", "component": component, "onFailure": "block"}
    ]}]}});
    std::fs::write(managed.join("managed-settings.json"), settings.to_string()).unwrap();
    let host = Host::builder().managed_dir(&managed).user_settings(None).state_dir(None).build_offline();
    let settings = crate::settings::load(&host.locations(None, None, None)).settings;
    assert!(settings.hooks.iter().any(|h| matches!(h.handler, crate::hook::Handler::Wasm(_))));
    let bus = host.bus_over(settings);
    let weak = Arc::downgrade(&host.inner);
    drop(host);
    assert!(weak.upgrade().is_none(), "the bus holds the host");
    assert!(!bus.wasm_started());
    let event = crate::event::HookEvent::parse_with_limit(&event("PreToolUse", "Bash"), 1 << 20).unwrap();
    let ctx = crate::bus::DispatchContext { project_dir: None, user_dir: None };
    let outcome = block_on_fresh(bus.dispatch(&event, &ctx)).unwrap();
    assert!(bus.wasm_started(), "the engine started for the matching hook");
    let r = outcome.render(&event);
    // The hook ran and failed on its missing component (not on a missing host).
    assert!(r.stdout.contains("cannot read component") && r.stdout.contains("policy.wasm"), "{r:?}");
}
