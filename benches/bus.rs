//! In-process costs of the decision path: event parsing, routing with many non-matching hooks,
//! the fold, and settings parsing. Run with `cargo bench --bench bus`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hookhost::bus::{DispatchContext, EventBus};
use hookhost::decision::{Decision, FailurePolicy, FoldItem, HookResult, Permission, fold};
use hookhost::event::HookEvent;
use hookhost::settings::{Scope, file, resolve};

const EVENT: &[u8] = include_bytes!("../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");

fn settings_with(n: usize) -> String {
    let groups: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"matcher": "Tool{i}", "hooks": [{{"type": "command", "command": "hook-{i}.sh"}}]}}"#))
        .collect();
    format!(r#"{{"hooks": {{"PreToolUse": [{}]}}}}"#, groups.join(","))
}

fn bench(c: &mut Criterion) {
    c.bench_function("event_parse_pretooluse_bash", |b| b.iter(|| HookEvent::parse(black_box(EVENT)).unwrap()));

    let event = HookEvent::parse(EVENT).unwrap();
    for n in [0, 100, 1000] {
        let text = settings_with(n);
        let f = file::parse(&text, Path::new("/bench.json"), Scope::Managed).unwrap();
        let bus = EventBus::new(resolve(vec![f]));
        let ctx = DispatchContext::default();
        c.bench_function(&format!("route_{n}_non_matching_hooks"), |b| {
            b.iter(|| {
                let r = bus.route(black_box(&event), &ctx);
                assert!(r.selected.is_empty());
                r
            })
        });
    }

    let results: Vec<HookResult> = [Permission::Allow, Permission::Ask, Permission::Deny]
        .into_iter()
        .map(|p| HookResult::Decided(Decision { permission: Some(p), reason: Some("r".into()), ..Default::default() }))
        .collect();
    let items: Vec<FoldItem<'_>> =
        results.iter().map(|r| FoldItem { label: "[h]", result: r, policy: FailurePolicy::Open }).collect();
    c.bench_function("fold_three_answers", |b| b.iter(|| fold(black_box(&event), black_box(&items))));

    // Audit: one record per event, batched fsync vs fsync per record (real files in /var/tmp).
    let dir = tempfile::tempdir_in("/var/tmp").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    for (name, fsync) in [
        ("audit_append_batched", hookhost::audit::Fsync::Batched { every: 64 }),
        ("audit_append_fsync_always", hookhost::audit::Fsync::Always),
    ] {
        let log = hookhost::audit::AuditLog::open(
            dir.path().join(format!("{name}.jsonl")),
            hookhost::audit::AuditOptions { fsync, ..Default::default() },
        )
        .unwrap();
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "time": "2026-11-25T00:00:00Z", "kind": "event", "event": "PreToolUse", "tool": "Bash",
            "input": serde_json::from_slice::<serde_json::Value>(EVENT).unwrap(), "decision": "deny", "reason": "no"
        }))
        .unwrap();
        c.bench_function(name, |b| b.iter(|| log.append(record.clone(), false).unwrap()));
    }

    // Linear in the hooks: 30 times the hooks should cost about 30 times as much (each hook is
    // located in the file once, from an index, not by a scan from the start).
    for n in [100, 3000] {
        let text = settings_with(n);
        c.bench_function(&format!("settings_parse_{n}_hooks"), |b| {
            b.iter(|| file::parse(black_box(&text), Path::new("/bench.json"), Scope::Managed).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
