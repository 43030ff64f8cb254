//! The permission stage on worst-case inputs (issue 17 §9: no input makes dispatch slow): each
//! case is an event of up to 1 MiB decided by `EventBus::check_rules` under the admin
//! policy, in a scratch project. Run with `cargo bench --bench permissions`; peak memory of the
//! same inputs through the binary: `scripts/permissions-worst.sh` (README, "Permission rules").

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hookhost::bus::{DispatchContext, EventBus};
use hookhost::event::HookEvent;
use hookhost::settings::{Scope, file, resolve};
use serde_json::json;

#[path = "support/permission_cases.rs"]
mod permission_cases;

use permission_cases::{POLICY, cases};

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    std::fs::create_dir_all(proj.join("secrets")).unwrap();
    std::fs::create_dir_all(proj.join(".hookhost")).unwrap();
    std::fs::write(proj.join(".env"), "x").unwrap();
    let f = file::parse(POLICY, Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed).unwrap();
    let bus = EventBus::new(resolve(vec![f]));
    let ctx = DispatchContext { project_dir: Some(proj.clone()), user_dir: None };
    let mut g = c.benchmark_group("permissions_worst_case");
    g.sample_size(10);
    for (name, tool, input) in cases() {
        let event = json!({
            "session_id": "s", "cwd": proj, "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": input, "tool_use_id": "t"
        });
        let event = HookEvent::parse(event.to_string().as_bytes()).unwrap();
        g.bench_function(name, |b| b.iter(|| bus.check_rules(black_box(&event), &ctx)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
