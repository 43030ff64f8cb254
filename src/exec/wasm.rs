//! WebAssembly component hooks (`"type": "wasm"`): the wasmtime engine, the precompile cache,
//! and one call of a component's `handle` for one event (world `hook` in `wit/world.wit`, and
//! the older world versions `world` keeps loading).
//!
//! Owns: one `Engine` and one `Linker` per process (a second pair, with fuel metering, only when
//! a hook sets `fuel`); the host-owned epoch ticker thread; one `InstancePre` per distinct
//! component (by content hash); the on-disk precompile cache.
//!
//! Promises:
//! - A component whose bytes do not match its `sha256` pin is never compiled, loaded or run
//!   (`Untrusted`).
//! - Every event gets a fresh `Store` and instance: nothing survives from one event to the next,
//!   and a trap, a timeout or a limit hit leaves the host as it was.
//! - A guest gets nothing: WASI p2 is linked (a `wasm32-wasip2` std guest needs it, Python and
//!   JavaScript runtimes import filesystem and sockets too) with a context that grants no files,
//!   environment, arguments or sockets and closes stdin; stdout and stderr are captured (64 KiB
//!   each) into hookhost's log; `log.write` lines go to the log too. A component importing
//!   anything outside `world::granted` (e.g. `wasi:http`) is refused at load, by name.
//! - Each call stops at its deadline (epoch interruption: `timeout`, checked every 10 ms), its
//!   memory limit (`memoryMb`, default 64) and, if set, its fuel. Every way a call can go wrong
//!   is a `HookFailure` with its own kind, never a panic or a host error.
//! - Nothing is compiled when the precompile cache has the component: the cache is keyed by the
//!   engine's compatibility hash and the component's sha256, lives in a directory only this user
//!   can write (else it is not used), and an entry that fails its digest or wasmtime's own
//!   checks is deleted and rebuilt, never trusted.
//!
//! Does not: know about settings files or the bus, or fold answers (it maps one response to one
//! `Decision` exactly like a command hook's JSON would map).

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::decision::{Decision, FailureKind, HookFailure, HookResult, Permission, can_block, cap, truncate_chars};
use crate::event::{EventKind, HookEvent};

mod world;

pub use world::{GRANTED_WASI, WORLD_VERSIONS};
use world::{log, types};

/// How often the ticker advances the epoch: the resolution of every deadline.
pub const TICK: Duration = Duration::from_millis(10);
/// Linear memory per instance when the hook sets no `memoryMb`.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// The largest `memoryMb` honoured.
pub const MAX_MEMORY_MB: u64 = 4096;
/// The largest component file loaded.
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// Captured guest stdout and stderr, each; writing more traps the guest.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// `log.write` lines kept per event, and characters per line.
const LOG_LINES: usize = 100;
const LOG_LINE_CHARS: usize = 2000;

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Allocate per instance (no set-up cost, no reservation: best for one-shot `dispatch`).
    OnDemand,
    /// A pre-reserved pool with resident memory reuse (best for many events per process).
    Pooling,
}

/// How a `WasmRuntime` is set up.
#[derive(Debug, Clone)]
pub struct WasmOptions {
    /// The precompile cache directory; `None` compiles in memory on every first load.
    pub cache_dir: Option<PathBuf>,
    pub allocator: Allocator,
}

impl WasmOptions {
    /// The defaults: cache in [`default_cache_dir`], on-demand allocation.
    pub fn from_env() -> Self {
        WasmOptions { cache_dir: default_cache_dir(), allocator: Allocator::OnDemand }
    }
}

/// `$XDG_CACHE_HOME/hookhost/wasm`, else `~/.cache/hookhost/wasm`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("hookhost").join("wasm"))
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly engine: {0}")]
pub struct WasmError(String);

/// One hook run: which component, with which limits.
#[derive(Debug, Clone)]
pub struct WasmRun {
    /// How logs and messages name the hook, e.g. `[wasm /x/guard.wasm]`.
    pub label: String,
    pub component: PathBuf,
    /// The pinned sha256 (lowercase hex), if any.
    pub sha256: Option<String>,
    pub timeout: Duration,
    pub memory_mb: Option<u64>,
    pub fuel: Option<u64>,
}

/// What the hook needs to know about the event, and how its answer is interpreted.
#[derive(Debug, Clone)]
pub struct GuestEvent {
    name: String,
    tool_name: Option<String>,
    payload: String,
    /// The payload's `agent` object (`name`, `version`), when it has one.
    agent: Option<(String, Option<String>)>,
    pre_tool_use: bool,
    can_block: bool,
}

impl GuestEvent {
    pub fn new(event: &HookEvent) -> Self {
        GuestEvent {
            name: event.name().to_string(),
            tool_name: event.tool_name().map(str::to_string),
            payload: String::from_utf8_lossy(event.raw()).into_owned(),
            agent: event.fields().get("agent").and_then(|a| {
                let name = a.get("name")?.as_str()?.to_string();
                Some((name, a.get("version").and_then(|v| v.as_str()).map(str::to_string)))
            }),
            pre_tool_use: event.kind() == EventKind::PreToolUse,
            can_block: can_block(event),
        }
    }
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct WasmOutcome {
    pub result: HookResult,
    /// The first line the guest wrote to stderr (a Rust guest's panic message lands here).
    pub stderr_head: Option<String>,
}

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Already loaded in this process.
    Memory,
    /// Deserialized from the precompile cache.
    Cache,
    /// Compiled now (and stored in the cache when there is one).
    Compiled,
}

/// The process's WebAssembly host. Cheap to clone (shared state).
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    options: WasmOptions,
    cache: Option<DiskCache>,
    plain: EngineHost,
    fueled: OnceLock<Result<EngineHost, String>>,
}

impl std::fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("options", &self.inner.options)
            .field("cache", &self.inner.cache.as_ref().map(|c| &c.dir))
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<WasmRuntime, String>> = OnceLock::new();

impl WasmRuntime {
    /// Builds the engine and linker and starts the epoch ticker. A cache directory that cannot
    /// be created or is not safe is reported in the log and not used.
    pub fn new(options: WasmOptions) -> Result<Self, WasmError> {
        let start = std::time::Instant::now();
        let plain = EngineHost::new(&options, false).map_err(WasmError)?;
        let cache = options.cache_dir.as_deref().and_then(|d| match DiskCache::open(d) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(dir = %d.display(), "wasm precompile cache not used: {e}");
                None
            }
        });
        let inner = Arc::new(Inner { options, cache, plain, fueled: OnceLock::new() });
        spawn_ticker(Arc::downgrade(&inner)).map_err(|e| WasmError(format!("cannot start the epoch ticker: {e}")))?;
        tracing::debug!(took_us = start.elapsed().as_micros() as u64, "wasm runtime started");
        Ok(WasmRuntime { inner })
    }

    /// The process-wide runtime ([`WasmOptions::from_env`]), built on first use.
    pub fn shared() -> Result<WasmRuntime, String> {
        SHARED.get_or_init(|| WasmRuntime::new(WasmOptions::from_env()).map_err(|e| e.to_string())).clone()
    }

    /// The precompile cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.as_ref().map(|c| c.dir.as_path())
    }

    fn host(&self, fuel: bool) -> Result<&EngineHost, HookFailure> {
        if !fuel {
            return Ok(&self.inner.plain);
        }
        self.inner
            .fueled
            .get_or_init(|| EngineHost::new(&self.inner.options, true))
            .as_ref()
            .map_err(|e| HookFailure::new(FailureKind::Load, format!("cannot start the WebAssembly engine: {e}")))
    }

    /// Loads (verifies, then deserializes or compiles, checks and pre-links) the component of
    /// `run`. Cheap when it is already loaded and its file did not change.
    pub fn load(&self, run: &WasmRun) -> Result<(LoadedComponent, LoadSource), HookFailure> {
        let host = self.host(run.fuel.is_some())?;
        host.load(&run.component, run.sha256.as_deref(), self.inner.cache.as_ref())
    }

    /// Forgets every loaded component: the next load reads the precompile cache again.
    pub fn clear_loaded(&self) {
        for host in std::iter::once(&self.inner.plain).chain(self.inner.fueled.get().and_then(|r| r.as_ref().ok())) {
            lock(&host.by_path).clear();
            lock(&host.by_hash).clear();
        }
    }

    /// Runs the hook for one event in a fresh instance. Blocks for at most about `run.timeout`
    /// once loaded (plus a compile on the very first load of a component that is not cached).
    pub fn run(&self, run: &WasmRun, event: &GuestEvent) -> WasmOutcome {
        let start = std::time::Instant::now();
        let (loaded, source) = match self.load(run) {
            Ok(l) => l,
            Err(f) => return WasmOutcome { result: HookResult::Failed(f), stderr_head: None },
        };
        let loaded_at = start.elapsed();
        let mut instance = match loaded.instantiate(run) {
            Ok(i) => i,
            Err(f) => return WasmOutcome { result: HookResult::Failed(f), stderr_head: None },
        };
        let instantiated_at = start.elapsed();
        let out = instance.handle(event);
        tracing::debug!(
            hook = %run.label,
            ?source,
            load_us = loaded_at.as_micros() as u64,
            instantiate_us = (instantiated_at - loaded_at).as_micros() as u64,
            call_us = (start.elapsed() - instantiated_at).as_micros() as u64,
            "wasm hook ran"
        );
        out
    }
}

/// One engine with its linker and loaded components.
struct EngineHost {
    engine: Engine,
    linker: Linker<GuestState>,
    /// Hex of the engine's precompile compatibility hash.
    compat: String,
    fuel: bool,
    by_path: Mutex<HashMap<PathBuf, PathEntry>>,
    by_hash: Mutex<HashMap<String, Arc<world::HookPre>>>,
}

struct PathEntry {
    stamp: Stamp,
    sha256: String,
    pre: Arc<world::HookPre>,
}

/// A file's identity and version: any replacement or write changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Self {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000).saturating_add(m.mtime_nsec()),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked (every update is one insert).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn load_failure(message: impl Into<String>) -> HookFailure {
    HookFailure::new(FailureKind::Load, message)
}

impl EngineHost {
    fn new(options: &WasmOptions, fuel: bool) -> Result<Self, String> {
        let mut config = Config::new();
        // Copy-on-write memory images (wasmtime's default, stated): an instance maps its initial
        // memory from the artifact instead of copying it; this is what keeps Python and
        // JavaScript components (tens of MiB of pre-initialised heap) cheap to instantiate.
        config.epoch_interruption(true).consume_fuel(fuel).memory_init_cow(true);
        if options.allocator == Allocator::Pooling {
            let slots = 256;
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(slots)
                // A wasip2 component holds several core instances (design/performance.md §4.7).
                .total_core_instances(slots * 5)
                .total_memories(slots * 2)
                .total_tables(slots * 5)
                .max_memories_per_component(4)
                .max_memory_size((MAX_MEMORY_MB * 1024 * 1024) as usize)
                .linear_memory_keep_resident(8 * 1024 * 1024)
                .table_keep_resident(64 * 1024)
                .pagemap_scan(wasmtime::Enabled::Auto)
                .decommit_batch_size(32)
                .max_unused_warm_slots(64);
            config.allocation_strategy(pool);
        }
        let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| format!("linking WASI: {e:#}"))?;
        world::add_to_linker(&mut linker).map_err(|e| format!("linking hookhost:hook/log: {e:#}"))?;
        let compat = compat_key(&engine, fuel);
        Ok(EngineHost {
            engine,
            linker,
            compat,
            fuel,
            by_path: Mutex::new(HashMap::new()),
            by_hash: Mutex::new(HashMap::new()),
        })
    }

    fn load(
        &self,
        path: &Path,
        pin: Option<&str>,
        cache: Option<&DiskCache>,
    ) -> Result<(LoadedComponent, LoadSource), HookFailure> {
        let meta = std::fs::metadata(path)
            .map_err(|e| load_failure(format!("cannot read component {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(load_failure(format!("component {} is not a regular file", path.display())));
        }
        let stamp = Stamp::of(&meta);
        if let Some(e) = lock(&self.by_path).get(path).filter(|e| e.stamp == stamp) {
            check_pin(path, &e.sha256, pin)?;
            return Ok((self.loaded(e.pre.clone(), &e.sha256), LoadSource::Memory));
        }
        if meta.len() > MAX_COMPONENT_BYTES {
            return Err(load_failure(format!(
                "component {} is {} bytes, over the {} MiB limit",
                path.display(),
                meta.len(),
                MAX_COMPONENT_BYTES >> 20
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| load_failure(format!("cannot read component {}: {e}", path.display())))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        // The pin is checked before a single byte is compiled or loaded.
        check_pin(path, &sha256, pin)?;
        let known = lock(&self.by_hash).get(&sha256).cloned();
        let (pre, source) = match known {
            Some(pre) => (pre, LoadSource::Memory),
            None => {
                let (component, source) = self.component(&sha256, &bytes, cache)?;
                let pre = Arc::new(self.prepare(path, &component)?);
                lock(&self.by_hash).insert(sha256.clone(), pre.clone());
                (pre, source)
            }
        };
        lock(&self.by_path).insert(path.to_path_buf(), PathEntry { stamp, sha256: sha256.clone(), pre: pre.clone() });
        tracing::debug!(component = %path.display(), sha256 = %sha256, source = ?source, world = pre.version(), "wasm component loaded");
        Ok((self.loaded(pre, &sha256), source))
    }

    fn loaded(&self, pre: Arc<world::HookPre>, sha256: &str) -> LoadedComponent {
        LoadedComponent { pre, engine: self.engine.clone(), fuel: self.fuel, sha256: sha256.to_string() }
    }

    /// The compiled component: from the cache, else compiled (and cached).
    fn component(
        &self,
        sha256: &str,
        bytes: &[u8],
        cache: Option<&DiskCache>,
    ) -> Result<(Component, LoadSource), HookFailure> {
        if let Some(c) = cache.and_then(|c| c.get(&self.engine, &self.compat, sha256)) {
            return Ok((c, LoadSource::Cache));
        }
        let component = compile(&self.engine, bytes)?;
        if let Some(cache) = cache
            && let Err(e) = cache.put(&self.compat, sha256, &component)
        {
            tracing::warn!(dir = %cache.dir.display(), "cannot write the wasm precompile cache: {e}");
        }
        Ok((component, LoadSource::Compiled))
    }

    /// Checks the component's imports and exports against world `hook` and pre-links it.
    fn prepare(&self, path: &Path, component: &Component) -> Result<world::HookPre, HookFailure> {
        let ty = component.component_type();
        let refused: Vec<&str> =
            ty.imports(&self.engine).map(|(name, _)| name).filter(|n| !world::granted(n)).collect();
        if !refused.is_empty() {
            let hints: Vec<String> = refused.iter().filter_map(|n| world::refusal_hint(n)).collect();
            return Err(load_failure(format!(
                "component {} imports {}, which hookhost does not grant (a hook may import only hookhost:hook/log and WASI 0.2's io, cli, clocks, random, filesystem and sockets, all granted nothing){}",
                path.display(),
                refused.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                if hints.is_empty() { String::new() } else { format!("; {}", hints.join("; ")) }
            )));
        }
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| load_failure(format!("component {} cannot be linked: {e:#}", path.display())))?;
        world::HookPre::new(pre).map_err(|e| {
            load_failure(format!(
                "component {} is not a `hook` component of hookhost:hook@{} (it must export `handle: func(event) -> result<response, string>`): {e}",
                path.display(),
                WORLD_VERSIONS.join(" or @")
            ))
        })
    }
}

fn check_pin(path: &Path, actual: &str, pin: Option<&str>) -> Result<(), HookFailure> {
    match pin {
        Some(p) if !p.eq_ignore_ascii_case(actual) => Err(HookFailure::new(
            FailureKind::Untrusted,
            format!("component {} has sha256 {actual}, but the settings pin {p}; not run", path.display()),
        )),
        _ => Ok(()),
    }
}

/// The cache key of everything about the engine that makes an artifact loadable: a digest of
/// `Engine::precompile_compatibility_hash` (wasmtime version, `Config`, compiler settings).
#[cfg(feature = "compile")]
fn compat_key(engine: &Engine, _fuel: bool) -> String {
    let mut h = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    hex(&h.0.finalize())[..32].to_string()
}

/// Without a compiler wasmtime offers no compatibility hash: a runtime-only build keys its
/// entries by its own description (wasmtime's checks at load still reject a mismatch). It
/// cannot use the entries a full build wrote.
#[cfg(not(feature = "compile"))]
fn compat_key(_engine: &Engine, fuel: bool) -> String {
    let config = format!("wasmtime-48.0.8 runtime-only {} fuel={fuel}", std::env::consts::ARCH);
    hex(&Sha256::digest(config.as_bytes()))[..32].to_string()
}

#[cfg(feature = "compile")]
fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, HookFailure> {
    Component::from_binary(engine, bytes).map_err(|e| load_failure(format!("not a valid WebAssembly component: {e:#}")))
}

#[cfg(not(feature = "compile"))]
fn compile(_engine: &Engine, _bytes: &[u8]) -> Result<Component, HookFailure> {
    Err(load_failure(
        "the component is not in the precompile cache and this build of hookhost cannot compile (built without the `compile` feature); precompile it with a full build",
    ))
}

/// A component ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: Arc<world::HookPre>,
    engine: Engine,
    fuel: bool,
    sha256: String,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent").field("sha256", &self.sha256).field("fuel", &self.fuel).finish()
    }
}

impl LoadedComponent {
    /// The component's sha256 (hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The version of world `hook` the component was built against (one of [`WORLD_VERSIONS`]).
    pub fn world_version(&self) -> &'static str {
        self.pre.version()
    }

    /// A fresh `Store` (limits, deadline, fuel, an empty WASI context) and instance.
    pub fn instantiate(&self, run: &WasmRun) -> Result<WasmInstance, HookFailure> {
        let mut store = self.store(run);
        match self.pre.instantiate(&mut store) {
            Ok(hook) => Ok(WasmInstance { store, hook, run: run.clone() }),
            Err(e) => Err(classify(e, store.data(), run, "instantiation")),
        }
    }

    /// Only the `Store` set-up of [`instantiate`](Self::instantiate) (for benchmarks).
    pub fn store_setup_only(&self, run: &WasmRun) {
        drop(self.store(run));
    }

    fn store(&self, run: &WasmRun) -> Store<GuestState> {
        let memory_mb = run.memory_mb.unwrap_or(DEFAULT_MEMORY_MB).min(MAX_MEMORY_MB);
        let stdout = MemoryOutputPipe::new(OUTPUT_CAP);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
        // Grants nothing: stdin closed, no args, env, preopens, sockets or name lookups.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limits: Limits {
                inner: StoreLimitsBuilder::new().memory_size((memory_mb * 1024 * 1024) as usize).build(),
                hit: None,
            },
            label: run.label.clone(),
            logged: 0,
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(deadline_ticks(run.timeout));
        if self.fuel {
            // A fueled engine without fuel would trap at once; `fuel` is set whenever it is used.
            let _ = store.set_fuel(run.fuel.unwrap_or(u64::MAX));
        }
        store
    }
}

fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / TICK.as_millis()).saturating_add(1).min(u64::MAX as u128) as u64
}

/// A live instance of a hook component.
pub struct WasmInstance {
    store: Store<GuestState>,
    hook: world::Hook,
    run: WasmRun,
}

impl WasmInstance {
    /// Calls `handle` and maps its answer. Reusing an instance for a second event is for
    /// benchmarks only: the runner instantiates afresh for every event.
    pub fn handle(&mut self, event: &GuestEvent) -> WasmOutcome {
        self.store.set_epoch_deadline(deadline_ticks(self.run.timeout));
        let wit_event = types::Event {
            hook_event_name: event.name.clone(),
            tool_name: event.tool_name.clone(),
            payload_json: event.payload.clone(),
            agent: event
                .agent
                .as_ref()
                .map(|(name, version)| types::AgentInfo { name: name.clone(), version: version.clone() }),
        };
        let called = self.hook.call_handle(&mut self.store, &wit_event);
        let state = self.store.data_mut();
        let stderr_head = state.flush_output();
        let result = match called {
            Ok(Ok(response)) => match to_decision(event, response) {
                Ok(d) => HookResult::Decided(d),
                Err(f) => HookResult::Failed(f),
            },
            Ok(Err(message)) => HookResult::Failed(HookFailure::new(
                FailureKind::GuestError,
                format!("the hook returned an error: {}", truncate_chars(&message, 1000)),
            )),
            Err(e) => {
                let mut f = classify(e, self.store.data(), &self.run, "call");
                if let Some(h) = &stderr_head {
                    f.message.push_str(&format!("; stderr: {h}"));
                }
                HookResult::Failed(f)
            }
        };
        WasmOutcome { result, stderr_head }
    }
}

/// Turns a wasmtime error (trap or host error) into a failure with its kind.
fn classify(e: wasmtime::Error, state: &GuestState, run: &WasmRun, during: &str) -> HookFailure {
    tracing::debug!(hook = %run.label, "wasm {during} failed: {e:?}");
    if let Some(hit) = &state.limits.hit {
        return HookFailure::new(FailureKind::ResourceLimit, format!("{hit}; stopped during {during}"));
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => HookFailure::new(
            FailureKind::Timeout,
            format!("ran past its {:.3}s deadline; stopped during {during}", run.timeout.as_secs_f64()),
        ),
        Some(Trap::OutOfFuel) => HookFailure::new(
            FailureKind::OutOfFuel,
            format!("used up its fuel ({}); stopped during {during}", run.fuel.unwrap_or(0)),
        ),
        Some(t) => HookFailure::new(FailureKind::Trap, format!("trapped during {during}: {t}")),
        None => HookFailure::new(
            FailureKind::Trap,
            format!("failed during {during}: {}", truncate_chars(&e.root_cause().to_string(), 300)),
        ),
    }
}

/// Maps the WIT response to a `Decision`, with the same rules as a command hook's JSON: on
/// PreToolUse allow/ask/defer/deny are the permission decision and block is deny; on other
/// events block blocks (or is a notice where the event cannot be blocked), allow says nothing,
/// and deny/ask/defer are invalid. `updated-input-json` must be a JSON object.
fn to_decision(event: &GuestEvent, r: types::Response) -> Result<Decision, HookFailure> {
    use types::Decision as W;
    let invalid = |m: String| HookFailure::new(FailureKind::InvalidOutput, m);
    let mut d = Decision {
        additional_context: r.additional_context.as_deref().map(cap),
        system_message: r.system_message.as_deref().map(cap),
        ..Decision::default()
    };
    let reason = r.reason.as_deref().map(cap);
    match r.decision {
        None => {}
        Some(w) if event.pre_tool_use => {
            d.permission = Some(match w {
                W::Allow => Permission::Allow,
                W::Ask => Permission::Ask,
                W::Defer => Permission::Defer,
                W::Deny | W::Block => Permission::Deny,
            });
            d.reason = reason;
        }
        Some(W::Block) => {
            if event.can_block {
                d.block = true;
                d.reason = reason;
            } else {
                d.notice = Some(reason.unwrap_or_else(|| "blocked by hook (this event cannot be blocked)".into()));
            }
        }
        Some(W::Allow) => {}
        Some(w @ (W::Deny | W::Ask | W::Defer)) => {
            let name = match w {
                W::Deny => "deny",
                W::Ask => "ask",
                _ => "defer",
            };
            return Err(invalid(format!(
                "decision `{name}` is only valid for PreToolUse, not {} (use `block`)",
                event.name
            )));
        }
    }
    if let Some(json) = r.updated_input_json {
        // Read as `JSON.parse` reads it (a duplicated key takes its last value). A guest that
        // rejects the call keeps its rejection whatever its updated input looks like.
        let rejects = d.block || d.permission == Some(Permission::Deny);
        match crate::decision::parse_js_json(crate::decision::js_trim(&json)) {
            crate::decision::JsJson::Value(v) if v.is_object() => d.updated_input = Some(v),
            _ if rejects => {}
            crate::decision::JsJson::Value(_) => {
                return Err(invalid("updated-input-json must be a JSON object".into()));
            }
            crate::decision::JsJson::Invalid(e) | crate::decision::JsJson::Unreadable(e) => {
                return Err(invalid(format!("updated-input-json is not valid JSON: {e}")));
            }
        }
    }
    Ok(d)
}

/// Per-instance state: the empty WASI context, limits, and what the guest said.
struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
    label: String,
    logged: usize,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl GuestState {
    /// Sends captured stdout/stderr to the log; returns the first stderr line.
    fn flush_output(&mut self) -> Option<String> {
        let mut head = None;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                tracing::info!(target: "hookhost::wasm::guest", hook = %self.label, stream, "{}", truncate_chars(line, LOG_LINE_CHARS));
                if stream == "stderr" && head.is_none() {
                    head = Some(truncate_chars(line, 200));
                }
            }
        }
        head
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl GuestState {
    /// One `log.write` line (of any world version).
    fn log_line(&mut self, level: log::Level, message: String) {
        self.logged += 1;
        if self.logged > LOG_LINES {
            if self.logged == LOG_LINES + 1 {
                tracing::warn!(target: "hookhost::wasm::guest", hook = %self.label, "more than {LOG_LINES} log lines; the rest are dropped");
            }
            return;
        }
        let m = truncate_chars(&message, LOG_LINE_CHARS);
        let hook = self.label.as_str();
        match level {
            log::Level::Debug => tracing::debug!(target: "hookhost::wasm::guest", hook, "{m}"),
            log::Level::Info => tracing::info!(target: "hookhost::wasm::guest", hook, "{m}"),
            log::Level::Warn => tracing::warn!(target: "hookhost::wasm::guest", hook, "{m}"),
            log::Level::Error => tracing::error!(target: "hookhost::wasm::guest", hook, "{m}"),
        }
    }
}

/// `StoreLimits` that remember which limit was hit, so the failure says so.
struct Limits {
    inner: StoreLimits,
    hit: Option<String>,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok && self.hit.is_none() {
            self.hit = Some(format!(
                "memory limit hit: growing linear memory from {} to {} KiB was refused",
                current / 1024,
                desired / 1024
            ));
        }
        Ok(ok)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = self.inner.table_growing(current, desired, maximum)?;
        if !ok && self.hit.is_none() {
            self.hit =
                Some(format!("table limit hit: growing a table from {current} to {desired} elements was refused"));
        }
        Ok(ok)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Advances every engine's epoch each `TICK` until the runtime is dropped.
fn spawn_ticker(inner: Weak<Inner>) -> std::io::Result<()> {
    std::thread::Builder::new().name("hookhost-wasm-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(TICK);
            let Some(inner) = inner.upgrade() else { return };
            inner.plain.engine.increment_epoch();
            if let Some(Ok(f)) = inner.fueled.get() {
                f.engine.increment_epoch();
            }
        }
    })?;
    Ok(())
}

/// Feeds `Hash` output into sha256 (a stable digest of the engine's compatibility hash).
#[cfg(feature = "compile")]
struct ShaHasher(Sha256);

#[cfg(feature = "compile")]
impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The precompile cache: `<compat>-<sha256>.cwasm` (native code) and `<compat>-<sha256>.sha256`
/// (the artifact's digest, written by us after it).
#[derive(Debug)]
struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// Creates the directory (0700) if needed and checks that only this user can write it.
    fn open(dir: &Path) -> Result<Self, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        check_dir_chain(dir)?;
        Ok(DiskCache { dir: dir.to_path_buf() })
    }

    fn paths(&self, compat: &str, sha256: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{compat}-{sha256}");
        (self.dir.join(format!("{stem}.cwasm")), self.dir.join(format!("{stem}.sha256")))
    }

    /// The cached component, or `None` (missing, unsafe, corrupt or incompatible: such an entry
    /// is deleted so the caller rebuilds it).
    fn get(&self, engine: &Engine, compat: &str, sha256: &str) -> Option<Component> {
        let (artifact, digest) = self.paths(compat, sha256);
        let expected = std::fs::read_to_string(&digest).ok()?;
        let verdict = (|| -> Result<Component, String> {
            check_file(&artifact)?;
            check_file(&digest)?;
            let bytes = std::fs::read(&artifact).map_err(|e| e.to_string())?;
            if hex(&Sha256::digest(&bytes)) != expected.trim() {
                return Err("digest mismatch (corrupt entry)".into());
            }
            drop(bytes);
            super::sandbox::deserialize_component(engine, &artifact).map_err(|e| format!("{e:#}"))
        })();
        match verdict {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(entry = %artifact.display(), "wasm precompile cache entry rejected, rebuilding: {e}");
                let _ = std::fs::remove_file(&artifact);
                let _ = std::fs::remove_file(&digest);
                None
            }
        }
    }

    fn put(&self, compat: &str, sha256: &str, component: &Component) -> Result<(), String> {
        let (artifact, digest) = self.paths(compat, sha256);
        let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
        let sum = hex(&Sha256::digest(&bytes));
        let write = |path: &Path, data: &[u8]| -> Result<(), String> {
            use std::io::Write;
            // NamedTempFile is created 0600 in the cache directory, then renamed into place.
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
            tmp.write_all(data).map_err(|e| e.to_string())?;
            tmp.as_file().sync_all().map_err(|e| e.to_string())?;
            tmp.persist(path).map_err(|e| e.to_string())?;
            Ok(())
        };
        // Digest last: an entry without it is a miss.
        let _ = std::fs::remove_file(&digest);
        write(&artifact, &bytes)?;
        write(&digest, sum.as_bytes())
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The cache directory is ours with no group/other access; each ancestor is ours or root's
/// and writable by no one else unless sticky (like `/tmp`).
fn check_dir_chain(dir: &Path) -> Result<(), String> {
    let me = euid();
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if m.uid() != me {
        return Err(format!("{} is owned by uid {}, not by this user (uid {me})", dir.display(), m.uid()));
    }
    if m.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} has mode {:o}; only its owner may access it (chmod 700)",
            dir.display(),
            m.permissions().mode() & 0o7777
        ));
    }
    let canonical = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for a in canonical.ancestors().skip(1) {
        let m = std::fs::metadata(a).map_err(|e| format!("{}: {e}", a.display()))?;
        let mode = m.permissions().mode();
        if m.uid() != me && m.uid() != 0 {
            return Err(format!("{} is owned by uid {}, neither this user nor root", a.display(), m.uid()));
        }
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(format!("{} is writable by other users (mode {:o})", a.display(), mode & 0o7777));
        }
    }
    Ok(())
}

/// A cache file is a regular file (not a symlink) of ours that no one else can write.
fn check_file(path: &Path) -> Result<(), String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !m.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if m.uid() != euid() {
        return Err(format!("owned by uid {}, not this user", m.uid()));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(format!("writable by others (mode {:o})", m.permissions().mode() & 0o7777));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(name: &str, tool: Option<&str>) -> GuestEvent {
        GuestEvent {
            name: name.into(),
            tool_name: tool.map(str::to_string),
            payload: "{}".into(),
            agent: None,
            pre_tool_use: name == "PreToolUse",
            can_block: name != "SessionStart",
        }
    }

    fn response(decision: Option<types::Decision>) -> types::Response {
        types::Response {
            decision,
            reason: Some("why".into()),
            additional_context: None,
            updated_input_json: None,
            system_message: None,
        }
    }

    #[test]
    fn decisions_map_like_command_hooks() {
        use types::Decision as W;
        let pre = guest("PreToolUse", Some("Bash"));
        for (w, p) in [
            (W::Allow, Permission::Allow),
            (W::Ask, Permission::Ask),
            (W::Defer, Permission::Defer),
            (W::Deny, Permission::Deny),
            (W::Block, Permission::Deny),
        ] {
            let d = to_decision(&pre, response(Some(w))).unwrap();
            assert_eq!((d.permission, d.reason.as_deref(), d.block), (Some(p), Some("why"), false));
        }
        let post = guest("PostToolUse", Some("Bash"));
        let d = to_decision(&post, response(Some(W::Block))).unwrap();
        assert!(d.block && d.permission.is_none());
        assert!(to_decision(&post, response(Some(W::Allow))).unwrap().is_silent());
        let f = to_decision(&post, response(Some(W::Deny))).unwrap_err();
        assert_eq!(f.kind, FailureKind::InvalidOutput);
        let d = to_decision(&guest("SessionStart", None), response(Some(W::Block))).unwrap();
        assert!(!d.block && d.notice.as_deref() == Some("why"));
        assert!(to_decision(&pre, response(None)).unwrap().is_silent());
    }

    #[test]
    fn updated_input_must_be_an_object() {
        let pre = guest("PreToolUse", Some("Bash"));
        let mut r = response(Some(types::Decision::Allow));
        r.updated_input_json = Some(r#"{"command": "ls"}"#.into());
        assert_eq!(to_decision(&pre, r.clone()).unwrap().updated_input, Some(serde_json::json!({"command": "ls"})));
        for bad in ["[1]", "{not json", "\"s\""] {
            r.updated_input_json = Some(bad.into());
            assert_eq!(to_decision(&pre, r.clone()).unwrap_err().kind, FailureKind::InvalidOutput, "{bad}");
        }
    }

    #[test]
    fn huge_strings_are_capped() {
        let mut r = response(Some(types::Decision::Deny));
        r.reason = Some("x".repeat(1_000_000));
        let d = to_decision(&guest("PreToolUse", Some("Bash")), r).unwrap();
        assert_eq!(d.reason.unwrap().chars().count(), crate::decision::MAX_TEXT_CHARS);
    }

    #[test]
    fn deadline_ticks_round_up() {
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 1);
        assert_eq!(deadline_ticks(Duration::from_secs(5)), 501);
    }

    #[test]
    fn cache_dir_must_be_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        assert!(DiskCache::open(&dir).is_ok());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(DiskCache::open(&dir).unwrap_err().contains("chmod 700"));
    }
}
