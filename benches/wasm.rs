//! In-process costs of WebAssembly hooks, with the real `block-dangerous-bash` guest (built
//! for wasm32-wasip2 on first use) deciding a Claude Code `PreToolUse` Bash event: a fresh
//! instance per event (on-demand and pooling allocators), the call alone on a warm instance,
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

fn percentiles(name: &str, mut f: impl FnMut()) {
    for _ in 0..200 {
        f();
    }
    let mut samples: Vec<Duration> = (0..10_000)
        .map(|_| {
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

criterion_group!(benches, bench);
criterion_main!(benches);
