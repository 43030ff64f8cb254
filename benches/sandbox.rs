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

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hookhost::exec::command::{self, ProcessSpec};
use hookhost::exec::sandbox::{self, Launch, Layer, Mode, Prepared, RunInfo, SandboxSpec};

/// Time between runs in the warm-host group.
const GAP: Duration = Duration::from_millis(10);
const EVENT: &[u8] = include_bytes!("../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");

fn process() -> ProcessSpec {
    ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), "true".into()],
        env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
        cwd: "/".into(),
        stdin: Arc::from(EVENT),
        timeout: Duration::from_secs(10),
        stdout_cap: command::STDOUT_CAP,
        stderr_cap: command::STDERR_CAP,
        grace: command::KILL_GRACE,
    }
}

/// One whole sandboxed run; panics if the sandbox refuses or the hook fails.
async fn run_once(spec: &SandboxSpec, p: &ProcessSpec) {
    let launch = Launch { program: &p.program, args: &p.args, cwd: &p.cwd };
    let info = RunInfo { timeout: p.timeout, project_dir: None, script_dirs: Vec::new(), launch: Some(launch) };
    let mut prepared: Prepared = match spec.mode {
        Mode::Off => Prepared::unsandboxed(p.env.clone()),
        _ => sandbox::prepare(spec, &info, &p.env).unwrap_or_else(|r| panic!("{}", r.message)),
    };
    let mut p = p.clone();
    p.env = prepared.env.clone();
    let out = command::run(&p, &mut prepared).await.expect("spawn");
    assert_eq!(out.exit, hookhost::decision::ExitKind::Code(0), "{}", String::from_utf8_lossy(&out.stderr));
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = process();
    let caps = sandbox::capabilities();
    let missing = caps.missing();
    for (l, why) in &missing {
        println!("sandbox bench: layer {} unavailable here ({why}); rows that need it are skipped", l.as_str());
    }
    let only = |keep: Option<Layer>| SandboxSpec {
        mode: Mode::BestEffort,
        disable: Layer::optional().into_iter().filter(|l| Some(*l) != keep).collect(),
        ..SandboxSpec::base(Mode::BestEffort)
    };
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
        sandbox::pool::enable()
    };
    let mut g = c.benchmark_group("sandbox");
    g.sample_size(100).measurement_time(Duration::from_secs(8));
    for (name, spec) in &variants {
        // Warm the per-process caches (capabilities, host path grants, seccomp program, the
        // empty network namespace) and the pool first, as a running daemon has.
        for _ in 0..3 {
            rt.block_on(run_once(spec, &p));
            std::thread::sleep(GAP);
        }
        g.bench_function(name.as_str(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    std::thread::sleep(GAP);
                    let start = Instant::now();
                    rt.block_on(run_once(spec, &p));
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
        g.bench_function(name.as_str(), |b| b.iter(|| rt.block_on(run_once(spec, &p))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
