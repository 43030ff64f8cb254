//! The sandbox's cost per command hook, in a warm host (the daemon, or an agent embedding the
//! library): the real runner spawns `sh -c true` with the event on stdin, unsandboxed (mode
//! `off`: its own session, nothing else), under the full sandbox, under the always-on layers
//! only, and with each optional layer alone on top of those. Each sample is one whole run:
//! prepare (temp HOME, cgroup leaves, Landlock ruleset, seccomp program), spawn, wait, drain
//! and teardown. The target (design/performance.md §7): full sandbox ≤ +0.5 ms p50 over the
//! unsandboxed spawn. `scripts/bench-compare.sh` measures the same through one-shot
//! `hookhost dispatch` processes.
//!
//! Two groups: `sandbox`, a warm host with the warm pool on (as `hookhost serve` runs), runs
//! 10 ms apart; and `sandbox_inline`, the same without the pool (every run prepared, applied and
//! torn down on the way), back to back.
//! Run with `cargo bench --bench sandbox` (as root, where every layer exists; a layer this
//! machine lacks is reported and its row is skipped).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hookhost::exec::sandbox::{self, Layer, Mode, SandboxSpec};

#[path = "support/sandbox_run.rs"]
mod sandbox_run;
use sandbox_run::{only, process, run_once};

/// Time between runs in the warm-host group.
const GAP: Duration = Duration::from_millis(10);

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = process();
    let caps = sandbox::capabilities();
    let missing = caps.missing();
    for (l, why) in &missing {
        println!("sandbox bench: layer {} unavailable here ({why}); rows that need it are skipped", l.as_str());
    }
    let mut variants: Vec<(String, SandboxSpec)> = vec![
        ("sh -c true, no sandbox".into(), SandboxSpec::base(Mode::Off)),
        ("sh -c true, always-on layers".into(), only(None)),
    ];
    if missing.is_empty() {
        variants.push(("sh -c true, full sandbox (strict)".into(), SandboxSpec::base(Mode::Strict)));
    } else {
        variants.push(("sh -c true, full sandbox (best effort)".into(), SandboxSpec::base(Mode::BestEffort)));
    }
    for l in Layer::optional() {
        if missing.iter().all(|(m, _)| *m != l) {
            variants.push((format!("sh -c true, always-on + {}", l.as_str()), only(Some(l))));
        }
    }
    // A warm host (the daemon): runs prepared ahead and torn down after, on the pool's worker.
    // Runs are 10 ms apart (outside the timed part), as an agent's events come: the worker
    // prepares the next run once the last is done (after a 2 ms settle), so a hook fired back
    // to back with no gap at all mostly finds nothing prepared and runs inline (the second group).
    let pool = {
        let _runtime = rt.enter();
        sandbox::SandboxPool::start()
    };
    let mut g = c.benchmark_group("sandbox");
    g.sample_size(100).measurement_time(Duration::from_secs(8));
    for (name, spec) in &variants {
        // Warm the per-process caches (capabilities, host path grants, seccomp program, the
        // empty network namespace) and the pool first, as a running daemon has.
        for _ in 0..3 {
            rt.block_on(run_once(spec, &p, Some(&pool)));
            std::thread::sleep(GAP);
        }
        g.bench_function(name.as_str(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    std::thread::sleep(GAP);
                    let start = Instant::now();
                    rt.block_on(run_once(spec, &p, Some(&pool)));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
    drop(pool);
    // The same host without the pool: every run prepared and torn down inline (what a one-shot
    // `dispatch` does, minus its process-wide set-up).
    let mut g = c.benchmark_group("sandbox_inline");
    g.sample_size(200).measurement_time(Duration::from_secs(4));
    for (name, spec) in variants.iter().take(3) {
        g.bench_function(name.as_str(), |b| b.iter(|| rt.block_on(run_once(spec, &p, None))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
