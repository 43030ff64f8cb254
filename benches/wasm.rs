//! In-process costs of WebAssembly hooks, with the real `block-dangerous-bash` guest (built
//! for wasm32-wasip2 on first use) deciding a Claude Code `PreToolUse` Bash event: a fresh
//! instance per event (on-demand and pooling allocators), a decision with an instance prepared
//! ahead (the daemon's runtime), the call alone on a warm instance,
//! the `Store` set-up alone, a cold load from the precompile cache, and throughput on 1 and 2
//! threads. Prints p50/p99 of the fresh-instance decision first (criterion reports means).
//! Run with `cargo bench --bench wasm`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hookhost::decision::{HookResult, Permission};
use hookhost::event::HookEvent;
use hookhost::exec::wasm::{Allocator, GuestEvent, LoadSource, WasmOptions, WasmRun, WasmRuntime};

const EVENT: &[u8] = include_bytes!("../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");

/// The built guest, building it if needed.
fn guest() -> PathBuf {
    if let Some(p) = std::env::var_os("HOOKHOST_BENCH_GUEST") {
        return PathBuf::from(p);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hooks-examples/wasm");
    let wasm = dir.join("target/wasm32-wasip2/release/block_dangerous_bash.wasm");
    if !wasm.is_file() {
        let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the guest failed (is wasm32-wasip2 installed?)");
    }
    wasm
}

fn run_spec(component: PathBuf) -> WasmRun {
    WasmRun {
        label: "[bench]".into(),
        component,
        sha256: None,
        timeout: Duration::from_secs(5),
        memory_mb: None,
        fuel: None,
    }
}

/// A deny event (rm -rf) so the guest does all its work.
fn event() -> GuestEvent {
    let mut v: serde_json::Value = serde_json::from_slice(EVENT).unwrap();
    v["tool_input"]["command"] = "ls build && rm -rf build".into();
    GuestEvent::new(&HookEvent::parse(v.to_string().as_bytes()).unwrap())
}

fn runtime(allocator: Allocator, cache: &std::path::Path) -> WasmRuntime {
    WasmRuntime::new(WasmOptions { cache_dir: Some(cache.to_path_buf()), allocator, ..WasmOptions::from_env() })
        .unwrap()
}

/// The daemon's runtime: pooling, each hook's next instance made before its next event.
fn daemon_runtime(cache: &std::path::Path) -> WasmRuntime {
    WasmRuntime::new(WasmOptions {
        cache_dir: Some(cache.to_path_buf()),
        allocator: Allocator::Pooling,
        prepare_instances: true,
        ..WasmOptions::from_env()
    })
    .unwrap()
}

/// A decision as `WasmRuntime::run` makes it (load by path, instance, call), events `gap`
/// apart (an agent spends far longer between tool calls): a fresh instance made on the event
/// path (a runtime without prepared instances), then one prepared ahead (the daemon's), and how
/// many events got a prepared one.
fn run_rows(name: &str, cache: &std::path::Path, run: &WasmRun, ev: &GuestEvent, n: usize, gap: Duration) {
    for (how, rt) in
        [("made on the event path", runtime(Allocator::Pooling, cache)), ("prepared", daemon_runtime(cache))]
    {
        rt.precompile(run).unwrap();
        let before = rt.prepared_instances().used;
        percentiles_gap(&format!("{name}: run(), {how}"), n, gap, || {
            let out = rt.run(run, ev);
            assert!(matches!(&out.result, HookResult::Decided(d) if d.permission == Some(Permission::Deny)));
            black_box(out);
        });
        if how == "prepared" {
            let used = rt.prepared_instances().used - before;
            println!("{:<44} {used} of {} events got a prepared instance", "", n + (n / 50).max(20));
        }
    }
}

/// This thread's minor page faults so far (copy-on-write and first-touch faults).
fn minor_faults() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
        .map(|u| u.minor_page_faults())
        .unwrap_or(0)
}

fn percentiles(name: &str, f: impl FnMut()) {
    percentiles_n(name, 10_000, f)
}

fn percentiles_n(name: &str, n: usize, f: impl FnMut()) {
    percentiles_gap(name, n, Duration::ZERO, f)
}

/// p50/p99 of `f` (after a warm-up), with `gap` of idle time before each (not timed).
fn percentiles_gap(name: &str, n: usize, gap: Duration, mut f: impl FnMut()) {
    for _ in 0..(n / 50).max(20) {
        f();
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            std::thread::sleep(gap);
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!("{name:<44} p50 {:>7.1} µs   p99 {:>7.1} µs   (n = {})", p(0.5), p(0.99), samples.len());
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = run_spec(guest());
    let ev = event();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "wasm bench: {cores} cores, kernel {}, profile {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    languages(&cache, &ev);

    for (name, allocator) in [("on-demand", Allocator::OnDemand), ("pooling", Allocator::Pooling)] {
        let rt = runtime(allocator, &cache);
        let (loaded, _) = rt.load(&run).unwrap();
        let decide = || {
            let mut i = loaded.instantiate(&run).unwrap();
            let out = i.handle(&ev);
            assert!(matches!(&out.result, HookResult::Decided(d) if d.permission == Some(Permission::Deny)));
            out
        };
        percentiles(&format!("fresh instance per event, {name}"), || {
            black_box(decide());
        });
        let mut g = c.benchmark_group(format!("wasm_{}", name.replace('-', "_")));
        g.throughput(Throughput::Elements(1));
        g.bench_function("fresh_instance_decision", |b| b.iter(|| black_box(decide())));
        for threads in [1, 2] {
            g.bench_function(format!("throughput_{threads}_threads"), |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                for _ in 0..per {
                                    black_box(decide());
                                }
                            });
                        }
                    });
                    // Time per event across all threads.
                    start.elapsed().mul_f64(iters as f64 / (per * threads) as f64)
                })
            });
        }
        g.finish();
    }

    run_rows("Rust, back to back", &cache, &run, &ev, 10_000, Duration::ZERO);
    run_rows("Rust, 1 ms apart", &cache, &run, &ev, 5_000, Duration::from_millis(1));

    one_shot(&cache, &run);

    let rt = runtime(Allocator::OnDemand, &cache);
    let (loaded, _) = rt.load(&run).unwrap();
    let mut warm = loaded.instantiate(&run).unwrap();
    percentiles("call only, warm instance", || {
        black_box(warm.handle(&ev));
    });
    c.bench_function("wasm_call_only_warm_instance", |b| b.iter(|| black_box(warm.handle(&ev))));
    c.bench_function("wasm_store_setup", |b| b.iter(|| loaded.store_setup_only(black_box(&run))));
    c.bench_function("wasm_cold_load_from_precompile_cache", |b| {
        b.iter(|| {
            rt.clear_loaded();
            let (l, source) = rt.load(&run).unwrap();
            assert_eq!(source, LoadSource::Cache);
            l
        })
    });
}

/// What one-shot `dispatch` pays before its first WASM call: the engine start (engine, linker,
/// ticker) and a load from the precompile cache (read, verify, deserialise, pre-link).
fn one_shot(cache: &std::path::Path, run: &WasmRun) {
    let engine_start = || runtime(Allocator::OnDemand, cache);
    percentiles_n("one-shot: engine start, on-demand", 200, || drop(black_box(engine_start())));
    let rt = engine_start();
    rt.load(run).unwrap();
    let cold_load = || {
        rt.clear_loaded();
        let (l, source) = rt.load(run).unwrap();
        assert_eq!(source, LoadSource::Cache);
        black_box(l);
    };
    percentiles_n("one-shot: load from the precompile cache", 200, cold_load);
    if std::env::var("HOOKHOST_BENCH_PROFILE").as_deref() == Ok("one-shot") {
        println!("profiling: engine start and cache load for 20 s (pid {})", std::process::id());
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            let rt = engine_start();
            rt.load(run).unwrap();
        }
        std::process::exit(0);
    }
}

/// The same policy built in Python and JavaScript (when their examples are built:
/// hooks-examples/wasm-*/block-dangerous-bash/build.sh), next to Rust: where a decision's time
/// goes (instantiation, including dropping the instance, vs the call), pooling allocator.
fn languages(cache: &std::path::Path, ev: &GuestEvent) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let guests = [
        ("Rust", guest()),
        ("Python", root.join("hooks-examples/wasm-python/block-dangerous-bash/build/block_dangerous_bash_py.wasm")),
        ("JavaScript", root.join("hooks-examples/wasm-js/block-dangerous-bash/build/block_dangerous_bash_js.wasm")),
    ];
    let rt = runtime(Allocator::Pooling, cache);
    // HOOKHOST_BENCH_PROFILE=<language>: after the rows, runs that language's fresh-instance
    // decision for 20 s more (to attach `perf`), then exits.
    let profile = std::env::var("HOOKHOST_BENCH_PROFILE").ok();
    for (lang, component) in guests {
        if profile.as_deref().is_some_and(|p| p != lang) {
            continue;
        }
        if !component.is_file() {
            println!("{lang}: {} is not built; its rows are left out", component.display());
            continue;
        }
        let run = WasmRun { memory_mb: Some(256), ..run_spec(component) };
        // Compiling a Python or JavaScript component takes longer than an event's deadline.
        let (loaded, _) = rt.precompile(&run).unwrap();
        let n = if lang == "Rust" { 10_000 } else { 1_000 };
        percentiles_n(&format!("{lang}: instantiate (and drop), pooling"), n, || {
            black_box(loaded.instantiate(&run).unwrap());
        });
        // The parts of a fresh-instance decision, each timed alone.
        let (mut inst, mut first, mut drop_) = (Vec::new(), Vec::new(), Vec::new());
        let (mut faults_inst, mut faults_first) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let f0 = minor_faults();
            let t = Instant::now();
            let mut i = loaded.instantiate(&run).unwrap();
            inst.push(t.elapsed());
            let f1 = minor_faults();
            let t = Instant::now();
            black_box(i.handle(ev));
            first.push(t.elapsed());
            faults_first.push(minor_faults() - f1);
            faults_inst.push(f1 - f0);
            let t = Instant::now();
            drop(i);
            drop_.push(t.elapsed());
        }
        for (part, mut v) in
            [("instantiate only", inst), ("first call on a fresh instance", first), ("drop after a call", drop_)]
        {
            v.sort();
            println!("{:<44} p50 {:>7.1} µs", format!("{lang}: {part}"), v[v.len() / 2].as_secs_f64() * 1e6);
        }
        for (part, mut v) in [("instantiate", faults_inst), ("first call", faults_first)] {
            v.sort();
            println!("{:<44} p50 {:>7} page faults", format!("{lang}: {part}"), v[v.len() / 2]);
        }
        let mut warm = loaded.instantiate(&run).unwrap();
        percentiles_n(&format!("{lang}: call only, warm instance"), n, || {
            black_box(warm.handle(ev));
        });
        percentiles_n(&format!("{lang}: fresh instance per event, pooling"), n, || {
            let out = loaded.instantiate(&run).unwrap().handle(ev);
            assert!(matches!(&out.result, HookResult::Decided(d) if d.permission == Some(Permission::Deny)));
            black_box(out);
        });
        if lang != "Rust" {
            run_rows(&format!("{lang}, 5 ms apart"), cache, &run, ev, n, Duration::from_millis(5));
        }
        if profile.is_some() {
            println!("profiling: {lang} fresh instance per event for 20 s (pid {})", std::process::id());
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until {
                black_box(loaded.instantiate(&run).unwrap().handle(ev));
            }
            std::process::exit(0);
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
