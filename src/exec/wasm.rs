//! WebAssembly component hooks (`"type": "wasm"`): the wasmtime engine, the precompile cache,
//! and one call of a component's `handle` for one event (world `hook` in `wit/world.wit`, and
//! the older world versions `world` keeps loading).
//!
//! Owns: one `Engine` per process (a second pair, with fuel metering, only when
//! a hook sets `fuel`); the host-owned epoch ticker thread; one `InstancePre` per distinct
//! component (by content hash); the on-disk precompile cache.
//!
//! Promises:
//! - A component whose bytes do not match its `sha256` pin is never compiled, loaded or run
//!   (`Untrusted`).
//! - Every event gets a fresh `Store` and instance: nothing survives from one event to the next,
//!   and a trap, a timeout or a limit hit leaves the host as it was. A long-lived process
//!   (`prepare_instances`) makes that fresh instance before the event arrives and drops it
//!   after the answer (`prepared`); it is still new, made for one event and used by one.
//! - A guest gets nothing: WASI p2 is linked (a `wasm32-wasip2` std guest needs it, Python and
//!   JavaScript runtimes import filesystem and sockets too) with a context that grants no files,
//!   environment, arguments or sockets and closes stdin; stdout and stderr are captured (64 KiB
//!   each) into hookhost's log; `log.write` lines go to the log too. A component importing
//!   anything outside `world::granted` (e.g. `wasi:http`) is refused at load, by name.
//! - Each call stops at its deadline (epoch interruption: `timeout`, checked every 10 ms), its
//!   memory limit (`memoryMb`, default 64) and, if set, its fuel. Every way a call can go wrong
//!   is a `HookFailure` with its own kind, never a panic or a host error.
//! - Compiled code comes only from where the agent cannot write: a precompile cache is read
//!   only when root owns it and no one else can write it or any directory above it (a process
//!   running as root writes its own; a non-root process reads the system cache
//!   [`SYSTEM_CACHE_DIR`] and never touches a cache of its own user, whom the agent runs as).
//!   An entry is bound to its component (a header naming the engine's compatibility hash, the
//!   component's sha256 and the artifact's digest: BLAKE3-256, or SHA-256 in older entries),
//!   opened once and mapped read-only, and deserialised from the very mapped bytes that were
//!   checked, never from a file reopened by path (only root, who could write a forged entry
//!   just as well, could change them in between). Anything else is compiled for this
//!   process only. A version 1 entry that loads is rewritten as version 2 by a process that
//!   writes the cache.
//! - A trusted cache also keeps an identity record per component file (`source_records`): a
//!   process that finds the file's identity (device, inode, size, mtime, ctime) recorded takes
//!   its sha256 from the record instead of reading and hashing the file; any change to the file
//!   makes it read and hashed again, and the pin is always checked against the sha256 of bytes
//!   hookhost read.
//! - A cache this process writes (never the system cache) drops what it has not used for 30
//!   days whenever it gains an entry (`cache_trim`).
//! - Compiling is bounded: it runs in a child process (this program, `__compile-wasm`) with a
//!   data-memory cap (`RLIMIT_DATA`) and is killed at the hook's deadline; the call then gets
//!   what is left of that deadline. Over either bound the load is a `HookFailure` (`load`) and
//!   the hook's failure policy applies. Concurrent loads of one component share one compile.
//!   The child confines itself before it parses the component (`sandbox::confine_self`: no new
//!   privileges, no capabilities, Landlock with no file system grant, seccomp): Cranelift reads
//!   bytes a project may have chosen, and a bug it has must not become the host's rights.
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

mod cache_trim;
mod prepared;
mod source_records;
mod wasi_link;
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
    /// The precompile cache directory this process writes (used only when root owns it: see the
    /// module documentation); `None`: none.
    pub cache_dir: Option<PathBuf>,
    pub allocator: Allocator,
    /// How a component is compiled.
    pub compiler: Compiler,
    /// The memory cap of one compile on the event path, in MiB.
    pub compile_memory_mb: u64,
    /// Make each hook's next fresh instance before its next event, and drop a used one after
    /// its answer, on a background thread (`prepared`): for processes that serve many events
    /// (the daemon). Off for one-shot `dispatch`, which serves one.
    pub prepare_instances: bool,
    /// How long a prepared instance may wait for its event before it is dropped (its memory
    /// returned): [`PREPARED_IDLE`] by default.
    pub prepared_idle: Duration,
}

/// The pooling allocator's slots: see [`WasmRuntime::pool_slots`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSlots {
    /// Memories and tables of live instances.
    pub memories: usize,
    pub tables: usize,
    /// Free slots whose reset memory or table stays resident for the next instance.
    pub warm_memories: u32,
    pub warm_tables: u32,
}

/// The default [`WasmOptions::prepared_idle`]: ten minutes.
pub const PREPARED_IDLE: Duration = prepared::SPARE_IDLE;

/// Where compiling happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiler {
    /// In a child process running this hookhost executable with `__compile-wasm`: killed at the
    /// deadline, its data memory capped.
    Child(PathBuf),
    /// On a thread of this process, abandoned at the deadline (memory is not capped): for
    /// programs that embed hookhost without its executable.
    Thread,
}

/// Set by the `hookhost` executable's `main` ([`Compiler::in_hookhost_executable`]).
static HOOKHOST_EXECUTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Compiler {
    /// `Child` when this process is the hookhost executable (whatever it is named), else
    /// `Thread`.
    pub fn detect() -> Compiler {
        if HOOKHOST_EXECUTABLE.load(std::sync::atomic::Ordering::Relaxed) {
            Compiler::Child(PathBuf::from("/proc/self/exe"))
        } else {
            Compiler::Thread
        }
    }

    /// Called once by the `hookhost` executable: this process can run `__compile-wasm`
    /// children of itself. (Asking the kernel for the executable's name instead cost every
    /// one-shot `dispatch` with a WebAssembly hook a `readlink`.)
    pub fn in_hookhost_executable() {
        HOOKHOST_EXECUTABLE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The memory cap of a compile on the event path (`__compile-wasm`'s `RLIMIT_DATA`).
pub const COMPILE_MEMORY_MB: u64 = 1024;
/// The budget of a compile off the event path (`hookhost check`, `hookhost pin`).
pub const PRECOMPILE_DEADLINE: Duration = Duration::from_secs(600);
pub const PRECOMPILE_MEMORY_MB: u64 = 8192;
/// The largest compiled artifact accepted from a compile or a cache entry.
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;
/// Core instances, tables and memories one component instance may create (a `wasm32-wasip2`
/// guest needs a handful of each).
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
/// The root-owned cache every process reads (an admin fills it: `sudo XDG_CACHE_HOME=/var/cache
/// hookhost check`).
pub const SYSTEM_CACHE_DIR: &str = "/var/cache/hookhost/wasm";

impl WasmOptions {
    /// The defaults: cache in [`default_cache_dir`], on-demand allocation, compiled in a child
    /// when this is the hookhost executable.
    pub fn from_env() -> Self {
        WasmOptions {
            cache_dir: default_cache_dir(),
            allocator: Allocator::OnDemand,
            compiler: Compiler::detect(),
            compile_memory_mb: COMPILE_MEMORY_MB,
            prepare_instances: false,
            prepared_idle: PREPARED_IDLE,
        }
    }
}

/// `$XDG_CACHE_HOME/hookhost/wasm`, else `~/.cache/hookhost/wasm`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("hookhost").join("wasm"))
}

/// [`WasmRuntime::prepared_instances`] (also in the daemon's status reply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreparedCounts {
    /// Spare instances ready now (at most one per hook component and limits).
    pub ready: usize,
    /// Events that got a spare instead of instantiating on their own path.
    pub used: u64,
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
    /// The event in the world's types, built once per event and lowered from this reference
    /// into each hook's instance (no copy per hook). Its `agent` is the payload's `agent` object
    /// (`name`, `version`), when it has one.
    wit: types::Event,
    pre_tool_use: bool,
    can_block: bool,
}

impl GuestEvent {
    pub fn new(event: &HookEvent) -> Self {
        let wit = types::Event {
            hook_event_name: event.name().to_string(),
            tool_name: event.tool_name().map(str::to_string),
            payload_json: String::from_utf8_lossy(event.raw()).into_owned(),
            agent: event.fields().get("agent").and_then(|a| {
                let name = a.get("name")?.as_str()?.to_string();
                Some(types::AgentInfo { name, version: a.get("version").and_then(|v| v.as_str()).map(str::to_string) })
            }),
        };
        GuestEvent { wit, pre_tool_use: event.kind() == EventKind::PreToolUse, can_block: can_block(event) }
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
    /// Trusted caches, in the order they are read; at most one is written.
    caches: Vec<DiskCache>,
    plain: EngineHost,
    fueled: OnceLock<Result<EngineHost, String>>,
    /// Spare instances (`options.prepare_instances`).
    prepared: Option<prepared::Prepared>,
}

impl std::fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("options", &self.inner.options)
            .field("caches", &self.inner.caches.iter().map(|c| &c.dir).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WasmRuntime {
    /// Builds the engine and linker and starts the epoch ticker. The caches it trusts: its own
    /// (`options.cache_dir`) when this process runs as root and the directory is root's alone,
    /// and [`SYSTEM_CACHE_DIR`] read-only when root's alone; any other is reported in the log and
    /// not used.
    pub fn new(options: WasmOptions) -> Result<Self, WasmError> {
        let start = std::time::Instant::now();
        let plain = EngineHost::new(&options, false).map_err(WasmError)?;
        let mut caches = Vec::new();
        if let Some(d) = options.cache_dir.as_deref() {
            if euid() != 0 {
                tracing::debug!(dir = %d.display(), "wasm precompile cache not used: this user (whom the agent runs as) can write it; compiling in memory");
            } else {
                match DiskCache::open(d) {
                    Ok(c) => caches.push(c),
                    Err(e) => tracing::warn!(dir = %d.display(), "wasm precompile cache not used: {e}"),
                }
            }
        }
        let system = Path::new(SYSTEM_CACHE_DIR);
        if !caches.iter().any(|c| c.dir == system) && system.is_dir() {
            match check_dir_chain(system) {
                Ok(()) => caches.push(DiskCache { dir: system.to_path_buf(), writable: false }),
                Err(e) => tracing::warn!(dir = SYSTEM_CACHE_DIR, "wasm system cache not used: {e}"),
            }
        }
        let prepared = if options.prepare_instances {
            Some(
                prepared::Prepared::start(options.prepared_idle)
                    .map_err(|e| WasmError(format!("cannot start the instance thread: {e}")))?,
            )
        } else {
            None
        };
        let inner = Arc::new(Inner { options, caches, plain, fueled: OnceLock::new(), prepared });
        spawn_ticker(Arc::downgrade(&inner)).map_err(|e| WasmError(format!("cannot start the epoch ticker: {e}")))?;
        tracing::debug!(took_us = start.elapsed().as_micros() as u64, "wasm runtime started");
        Ok(WasmRuntime { inner })
    }

    /// The precompile cache directory this process writes, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.caches.iter().find(|c| c.writable).map(|c| c.dir.as_path())
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
        self.load_within(run, self.budget(run.timeout, self.inner.options.compile_memory_mb))
    }

    /// [`load`](Self::load) off the event path (`hookhost check`): a compile may take up to
    /// [`PRECOMPILE_DEADLINE`] and [`PRECOMPILE_MEMORY_MB`].
    pub fn precompile(&self, run: &WasmRun) -> Result<(LoadedComponent, LoadSource), HookFailure> {
        self.load_within(run, self.budget(PRECOMPILE_DEADLINE, PRECOMPILE_MEMORY_MB))
    }

    fn budget(&self, deadline: Duration, memory_mb: u64) -> Budget {
        Budget {
            deadline: std::time::Instant::now() + deadline,
            memory_mb,
            compiler: self.inner.options.compiler.clone(),
        }
    }

    fn load_within(&self, run: &WasmRun, budget: Budget) -> Result<(LoadedComponent, LoadSource), HookFailure> {
        let host = self.host(run.fuel.is_some())?;
        host.load(&run.component, run.sha256.as_deref(), &self.inner.caches, &budget)
    }

    /// Forgets every loaded component: the next load reads the precompile cache again.
    pub fn clear_loaded(&self) {
        for host in std::iter::once(&self.inner.plain).chain(self.inner.fueled.get().and_then(|r| r.as_ref().ok())) {
            lock(&host.by_path).clear();
            lock(&host.by_hash).clear();
        }
        if let Some(p) = &self.inner.prepared {
            p.clear();
        }
    }

    /// Fresh instances made ahead (`prepare_instances`): how many are ready for the next
    /// events, and how many events got one so far. Zero without `prepare_instances`.
    pub fn prepared_instances(&self) -> PreparedCounts {
        self.inner.prepared.as_ref().map(|p| p.counts()).unwrap_or_default()
    }

    /// The pooling allocator's slots (engine without fuel), `None` with the on-demand
    /// allocator: how many memories and tables are in use, and how many free slots still hold
    /// a reset, resident memory or table that the next instance of the same component reuses.
    pub fn pool_slots(&self) -> Option<PoolSlots> {
        let m = self.inner.plain.engine.pooling_allocator_metrics()?;
        Some(PoolSlots {
            memories: m.memories(),
            tables: m.tables(),
            warm_memories: m.unused_warm_memories(),
            warm_tables: m.unused_warm_tables(),
        })
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
        // A spare made for this hook's limits, waited for at most what is left of its deadline.
        let full = run;
        let spare = (self.inner.prepared.as_ref())
            .and_then(|p| p.take(&loaded, full, full.timeout.saturating_sub(start.elapsed())));
        let prepared = spare.is_some();
        // A compile (or the wait for a spare) spent part of the hook's deadline: the call gets
        // the rest.
        let Some(left) = full.timeout.checked_sub(start.elapsed()).filter(|d| !d.is_zero()) else {
            return WasmOutcome {
                result: HookResult::Failed(HookFailure::new(
                    FailureKind::Timeout,
                    format!("loading the component used up its {:.3}s deadline", full.timeout.as_secs_f64()),
                )),
                stderr_head: None,
            };
        };
        let run = &WasmRun { timeout: left, ..full.clone() };
        let instance = match spare {
            Some(mut spare) => {
                spare.store.data_mut().label.clone_from(&run.label);
                spare.run = run.clone();
                Ok(spare)
            }
            None => loaded.instantiate(run),
        };
        let mut instance = match instance {
            Ok(i) => i,
            Err(f) => return WasmOutcome { result: HookResult::Failed(f), stderr_head: None },
        };
        let instantiated_at = start.elapsed();
        let out = instance.handle(event);
        tracing::debug!(
            hook = %run.label,
            ?source,
            prepared,
            load_us = loaded_at.as_micros() as u64,
            instantiate_us = (instantiated_at - loaded_at).as_micros() as u64,
            call_us = (start.elapsed() - instantiated_at).as_micros() as u64,
            "wasm hook ran"
        );
        if let Some(p) = &self.inner.prepared {
            p.after(instance, &loaded, full);
        }
        out
    }
}

/// One engine and its loaded components (each pre-linked with a linker of its own).
struct EngineHost {
    /// Loads and runs compiled components; it has no compiler (building one costs a one-shot
    /// `dispatch` about 0.15 ms), and its artifacts come from `__compile-wasm` or `compiler`.
    engine: Engine,
    /// The same configuration with Cranelift, built at the first compile on a thread of this
    /// process (`Compiler::Thread`).
    compiler: OnceLock<Result<Engine, String>>,
    /// Hex of the engine's precompile compatibility hash.
    compat: String,
    fuel: bool,
    by_path: Mutex<HashMap<PathBuf, PathEntry>>,
    by_hash: Mutex<HashMap<String, Arc<world::HookPre>>>,
    /// Compiles in progress, by component sha256: later loads wait for the first.
    inflight: Mutex<HashMap<String, Arc<Inflight>>>,
}

/// One compile in progress, and its result for those who wait.
#[derive(Default)]
struct Inflight {
    result: Mutex<Option<Result<Component, HookFailure>>>,
    done: std::sync::Condvar,
}

/// What one load may spend on compiling.
#[derive(Debug, Clone)]
struct Budget {
    deadline: std::time::Instant,
    memory_mb: u64,
    compiler: Compiler,
}

impl Budget {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(std::time::Instant::now())
    }
}

/// An engine's configuration without its compiler: what loads and runs components. Artifacts
/// of [`engine_config`] load in it (wasmtime checks the compiler's settings and the CPU
/// features they need against this host at every load).
fn loader_config(allocator: Allocator, fuel: bool) -> Config {
    #[allow(unused_mut)]
    let mut config = engine_config(allocator, fuel);
    #[cfg(feature = "compile")]
    config.enable_compiler(false);
    config
}

/// The engine configuration: epoch interruption, fuel when asked, and the allocator. The
/// `__compile-wasm` child builds the same, so its artifacts load here.
fn engine_config(allocator: Allocator, fuel: bool) -> Config {
    let mut config = Config::new();
    // Copy-on-write memory images (wasmtime's default, stated): an instance maps its initial
    // memory from the artifact instead of copying it; this is what keeps Python and
    // JavaScript components (tens of MiB of pre-initialised heap) cheap to instantiate.
    config.epoch_interruption(true).consume_fuel(fuel).memory_init_cow(true);
    if allocator == Allocator::Pooling {
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
    config
}

struct PathEntry {
    stamp: Stamp,
    sha256: String,
    pre: Arc<world::HookPre>,
}

/// A file's identity and version: any replacement or write changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
        let engine = Engine::new(&loader_config(options.allocator, fuel)).map_err(|e| format!("{e:#}"))?;
        let compat = compat_key(&engine, fuel);
        Ok(EngineHost {
            engine,
            compiler: OnceLock::new(),
            compat,
            fuel,
            by_path: Mutex::new(HashMap::new()),
            by_hash: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    fn load(
        &self,
        path: &Path,
        pin: Option<&str>,
        caches: &[DiskCache],
        budget: &Budget,
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
        // A trusted cache's record of this file's identity names its sha256 (`source_records`):
        // the compiled artifact is loaded by it without reading the file. With no record, or no
        // artifact to load, the file is read and hashed.
        let (sha256, pre, source) = match self.load_by_record(path, &stamp, pin, caches)? {
            Some(found) => found,
            None => self.load_by_reading(path, &stamp, pin, caches, budget)?,
        };
        lock(&self.by_path).insert(path.to_path_buf(), PathEntry { stamp, sha256: sha256.clone(), pre: pre.clone() });
        tracing::debug!(component = %path.display(), sha256 = %sha256, source = ?source, world = pre.version(), "wasm component loaded");
        Ok((self.loaded(pre, &sha256), source))
    }

    /// The component whose sha256 a cache recorded for this file identity, pin-checked, when it
    /// is already pre-linked or its artifact is cached; `None`: no record, or nothing to load by
    /// it (the caller reads the file).
    fn load_by_record(
        &self,
        path: &Path,
        stamp: &Stamp,
        pin: Option<&str>,
        caches: &[DiskCache],
    ) -> Result<Option<(String, Arc<world::HookPre>, LoadSource)>, HookFailure> {
        let Some(sha256) = caches.iter().find_map(|c| c.recorded_sha256(path, stamp)) else { return Ok(None) };
        check_pin(path, &sha256, pin)?;
        if let Some(pre) = lock(&self.by_hash).get(&sha256).cloned() {
            return Ok(Some((sha256, pre, LoadSource::Memory)));
        }
        let Some(component) = caches.iter().find_map(|c| c.get(&self.engine, &self.compat, &sha256)) else {
            return Ok(None);
        };
        // A refusal is reported by the reading path, which meets it again.
        let Ok(pre) = self.prepare(path, &component) else { return Ok(None) };
        let pre = Arc::new(pre);
        lock(&self.by_hash).insert(sha256.clone(), pre.clone());
        Ok(Some((sha256, pre, LoadSource::Cache)))
    }

    /// The component read from `path` (identity `stamp`) and hashed, pin-checked, then pre-linked
    /// from memory, a cache or a compile; its identity recorded in the cache this process writes.
    fn load_by_reading(
        &self,
        path: &Path,
        stamp: &Stamp,
        pin: Option<&str>,
        caches: &[DiskCache],
        budget: &Budget,
    ) -> Result<(String, Arc<world::HookPre>, LoadSource), HookFailure> {
        // Read as a bounded regular file (a FIFO or a device swapped in after the stat above is
        // refused, never waited on); the pin is checked on exactly these bytes.
        let read_at = std::time::SystemTime::now();
        let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::Follow, MAX_COMPONENT_BYTES);
        let bytes = crate::readfile::read(path, &opts)
            .map_err(|e| load_failure(format!("cannot read component {}: {}", path.display(), e.reason())))?;
        let sha256 = sha256_hex(&bytes);
        // The pin is checked before a single byte is compiled or loaded.
        check_pin(path, &sha256, pin)?;
        let known = lock(&self.by_hash).get(&sha256).cloned();
        let (pre, source) = match known {
            Some(pre) => (pre, LoadSource::Memory),
            None => {
                let (component, source) = self.component(&sha256, &bytes, caches, budget)?;
                let t = std::time::Instant::now();
                let pre = Arc::new(self.prepare(path, &component)?);
                tracing::debug!(prepare_us = t.elapsed().as_micros() as u64, "wasm component pre-linked");
                lock(&self.by_hash).insert(sha256.clone(), pre.clone());
                (pre, source)
            }
        };
        if let Some(cache) = caches.iter().find(|c| c.writable) {
            cache.record(path, stamp, &sha256, read_at);
        }
        Ok((sha256, pre, source))
    }

    fn loaded(&self, pre: Arc<world::HookPre>, sha256: &str) -> LoadedComponent {
        LoadedComponent { pre, engine: self.engine.clone(), fuel: self.fuel, sha256: sha256.to_string() }
    }

    /// The compiled component: from a trusted cache, else compiled within `budget` (and cached
    /// where this process may write). One compile per component at a time: a concurrent load
    /// waits for it (until its own deadline).
    fn component(
        &self,
        sha256: &str,
        bytes: &[u8],
        caches: &[DiskCache],
        budget: &Budget,
    ) -> Result<(Component, LoadSource), HookFailure> {
        if let Some(c) = caches.iter().find_map(|c| c.get(&self.engine, &self.compat, sha256)) {
            return Ok((c, LoadSource::Cache));
        }
        let (flight, leader) = {
            let mut map = lock(&self.inflight);
            match map.get(sha256) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Inflight::default());
                    map.insert(sha256.to_string(), f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            let mut r = lock(&flight.result);
            while r.is_none() {
                let left = budget.left();
                if left.is_zero() {
                    return Err(load_failure(
                        "the component is still being compiled for another event; deadline reached",
                    ));
                }
                r = flight.done.wait_timeout(r, left).unwrap_or_else(|e| e.into_inner()).0;
            }
            return r
                .clone()
                .unwrap_or_else(|| Err(load_failure("no compile result")))
                .map(|c| (c, LoadSource::Compiled));
        }
        let result = self.compile_and_store(sha256, bytes, caches, budget);
        *lock(&flight.result) = Some(result.clone());
        flight.done.notify_all();
        lock(&self.inflight).remove(sha256);
        result.map(|c| (c, LoadSource::Compiled))
    }

    fn compile_and_store(
        &self,
        sha256: &str,
        bytes: &[u8],
        caches: &[DiskCache],
        budget: &Budget,
    ) -> Result<Component, HookFailure> {
        let artifact = compile_bounded(&self.compiler, self.fuel, bytes, budget)?;
        // SAFETY is argued at `deserialize_component`: these bytes come from our own compile.
        let component = super::sandbox::deserialize_component(&self.engine, &artifact)
            .map_err(|e| load_failure(format!("the compiled component does not load: {e:#}")))?;
        if let Some(cache) = caches.iter().find(|c| c.writable)
            && let Err(e) = cache.put(&self.compat, sha256, &artifact)
        {
            tracing::warn!(dir = %cache.dir.display(), "cannot write the wasm precompile cache: {e}");
        }
        Ok(component)
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
        // A linker of its own: the WASI interfaces it imports (not all of WASI) and `log`.
        let mut linker = Linker::new(&self.engine);
        wasi_link::add_imported(&mut linker, ty.imports(&self.engine).map(|(name, _)| name))
            .map_err(|e| load_failure(format!("linking WASI for component {}: {e:#}", path.display())))?;
        world::add_to_linker(&mut linker).map_err(|e| load_failure(format!("linking hookhost:hook/log: {e:#}")))?;
        let pre = linker
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

/// The key of this engine's entries: wasmtime's compatibility hash of the loading engine (its
/// version, tunables and wasm features; without a compiler it leaves out Cranelift's flags)
/// and the CPU features Cranelift compiles for on this machine. A key that matched an
/// incompatible artifact would still be caught: wasmtime checks the artifact's flags against
/// this host when it loads, and a rejected entry is rebuilt.
#[cfg(feature = "compile")]
fn compat_key(engine: &Engine, _fuel: bool) -> String {
    let mut h = ShaHasher(Sha256::new());
    // Without a compiler, wasmtime's hash leaves out Cranelift's settings, and its check at load
    // accepts any optimisation level: bump this tag whenever `engine_config` changes one.
    std::hash::Hash::hash(&"hookhost loader 1", &mut h);
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    std::hash::Hash::hash(&native_cpu_features(), &mut h);
    hex(&h.0.finalize())[..32].to_string()
}

/// The CPU features Cranelift's native flags depend on (cranelift-native 0.135's
/// `infer_native_flags`), as detected on this machine.
#[cfg(feature = "compile")]
fn native_cpu_features() -> Vec<&'static str> {
    let mut v = vec![std::env::consts::ARCH];
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => { $( if std::arch::is_x86_feature_detected!($f) { v.push($f); } )* };
        }
        detect!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "bmi1",
            "bmi2",
            "lzcnt",
            "fma",
            "cmpxchg16b",
            "avx512f",
            "avx512vl",
            "avx512dq",
            "avx512bitalg",
            "avx512vbmi",
            "avxvnni",
            "avx512vnni"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => { $( if std::arch::is_aarch64_feature_detected!($f) { v.push($f); } )* };
        }
        detect!("lse", "paca", "pacg", "fp16", "dotprod", "i8mm");
    }
    v
}

/// Without a compiler wasmtime offers no compatibility hash: a runtime-only build keys its
/// entries by its own description (wasmtime's checks at load still reject a mismatch). It
/// cannot use the entries a full build wrote.
#[cfg(not(feature = "compile"))]
fn compat_key(_engine: &Engine, fuel: bool) -> String {
    let config = format!("wasmtime-48.0.8 runtime-only {} fuel={fuel}", std::env::consts::ARCH);
    sha256_hex(config.as_bytes())[..32].to_string()
}

/// Compiles `bytes` into a serialized artifact within `budget` (module documentation).
/// `compiler` is the engine a compile on this process's thread uses, built at first use (on
/// demand, like `__compile-wasm`: the allocator is not part of what makes an artifact load, and
/// a second pool would only reserve memory).
fn compile_bounded(
    compiler: &OnceLock<Result<Engine, String>>,
    fuel: bool,
    bytes: &[u8],
    budget: &Budget,
) -> Result<Vec<u8>, HookFailure> {
    let started = std::time::Instant::now();
    let out = match &budget.compiler {
        Compiler::Child(exe) => compile_in_child(exe, bytes, fuel, budget),
        Compiler::Thread => {
            match compiler
                .get_or_init(|| Engine::new(&engine_config(Allocator::OnDemand, fuel)).map_err(|e| format!("{e:#}")))
            {
                Ok(engine) => compile_on_thread(engine, bytes, budget),
                Err(e) => Err(load_failure(format!("cannot start the WebAssembly compiler: {e}"))),
            }
        }
    };
    tracing::debug!(took_ms = started.elapsed().as_millis() as u64, ok = out.is_ok(), "wasm component compiled");
    out
}

fn over_deadline(took: Duration) -> HookFailure {
    load_failure(format!(
        "compiling the component did not finish within the hook's deadline (stopped after {:.3}s): it is \
         too expensive to compile on the event path; precompile it with `hookhost check` as root",
        took.as_secs_f64()
    ))
}

#[cfg(feature = "compile")]
fn compile_on_thread(engine: &Engine, bytes: &[u8], budget: &Budget) -> Result<Vec<u8>, HookFailure> {
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    let started = std::time::Instant::now();
    match crate::readfile::with_deadline(budget.left(), move || engine.precompile_component(&bytes)) {
        Some(Ok(a)) => Ok(a),
        Some(Err(e)) => Err(load_failure(format!("not a valid WebAssembly component: {e:#}"))),
        None => Err(over_deadline(started.elapsed())),
    }
}

#[cfg(not(feature = "compile"))]
fn compile_on_thread(_engine: &Engine, _bytes: &[u8], _budget: &Budget) -> Result<Vec<u8>, HookFailure> {
    Err(load_failure(
        "the component is not in a trusted precompile cache and this build of hookhost cannot compile (built without the `compile` feature); precompile it with a full build",
    ))
}

/// Runs `exe __compile-wasm` with the component on stdin; its stdout is the artifact. Killed at
/// the deadline; its data memory is capped by the child itself before it reads a byte.
fn compile_in_child(exe: &Path, bytes: &[u8], fuel: bool, budget: &Budget) -> Result<Vec<u8>, HookFailure> {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let started = std::time::Instant::now();
    let mut cmd = Command::new(exe);
    cmd.arg("__compile-wasm").arg("--memory-mb").arg(budget.memory_mb.to_string());
    if fuel {
        cmd.arg("--fuel");
    }
    cmd.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child =
        cmd.spawn().map_err(|e| load_failure(format!("cannot start the compiler ({}): {e}", exe.display())))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(load_failure("cannot talk to the compiler"));
    };
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = stdout.take(MAX_ARTIFACT_BYTES + 1).read_to_end(&mut buf);
        r.map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if budget.left().is_zero() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(over_deadline(started.elapsed()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(load_failure(format!("waiting for the compiler: {e}"))),
        }
    };
    let _ = writer.join();
    let artifact = out_reader.join().map_err(|_| load_failure("reading the compiler's output"))?;
    let stderr = err_reader.join().unwrap_or_default();
    let artifact = artifact.map_err(|e| load_failure(format!("reading the compiler's output: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    if !status.success() {
        let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        let why = if status.signal().is_some() || why.contains("memory allocation") {
            format!(
                "compiling the component ran out of its {} MiB memory cap ({}); precompile it with `hookhost check` as root",
                budget.memory_mb,
                if why.is_empty() { status.to_string() } else { why }
            )
        } else {
            why
        };
        return Err(load_failure(truncate_chars(&why, 1000)));
    }
    if artifact.len() as u64 > MAX_ARTIFACT_BYTES {
        return Err(load_failure(format!("the compiled component is over {} MiB", MAX_ARTIFACT_BYTES >> 20)));
    }
    Ok(artifact)
}

/// `hookhost __compile-wasm [--memory-mb N] [--fuel]`: caps its own data memory,
/// reads a component on stdin, writes the serialized artifact to stdout. Exit 0, or 1 with the
/// reason on stderr. Only hookhost itself runs it ([`Compiler::Child`]).
pub fn compile_child_main(args: &[String]) -> u8 {
    use std::io::{Read, Write};
    let mut memory_mb = COMPILE_MEMORY_MB;
    let mut fuel = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fuel" => fuel = true,
            "--memory-mb" => match it.next().and_then(|v| v.parse().ok()) {
                Some(n) => memory_mb = n,
                None => {
                    eprintln!("__compile-wasm: --memory-mb needs a number");
                    return 1;
                }
            },
            other => {
                eprintln!("__compile-wasm: unknown argument {other}");
                return 1;
            }
        }
    }
    let cap = memory_mb.saturating_mul(1024 * 1024);
    use nix::sys::resource::{Resource, setrlimit};
    if let Err(e) = setrlimit(Resource::RLIMIT_DATA, cap, cap) {
        eprintln!("__compile-wasm: cannot cap memory: {e}");
        return 1;
    }
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().lock().take(MAX_COMPONENT_BYTES + 1).read_to_end(&mut bytes) {
        eprintln!("__compile-wasm: cannot read the component: {e}");
        return 1;
    }
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        eprintln!("__compile-wasm: the component is over {} MiB", MAX_COMPONENT_BYTES >> 20);
        return 1;
    }
    // From here on the child holds everything it needs (stdin read, stdout and stderr open):
    // confined for good before a byte of the component is parsed.
    match crate::exec::sandbox::confine_self() {
        Ok(missing) if !missing.is_empty() => {
            tracing::debug!(?missing, "__compile-wasm: layers this machine lacks");
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("__compile-wasm: cannot confine the compiler: {e}");
            return 1;
        }
    }
    // Code does not depend on the allocator: an on-demand engine's artifact loads in a pooling
    // one (whose up-front reservations would not fit the memory cap).
    let engine = match Engine::new(&engine_config(Allocator::OnDemand, fuel)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("__compile-wasm: cannot start the engine: {e:#}");
            return 1;
        }
    };
    match precompile(&engine, &bytes) {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("__compile-wasm: cannot write the artifact: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("not a valid WebAssembly component: {e}");
            1
        }
    }
}

#[cfg(feature = "compile")]
fn precompile(engine: &Engine, bytes: &[u8]) -> Result<Vec<u8>, String> {
    engine.precompile_component(bytes).map_err(|e| format!("{e:#}"))
}

#[cfg(not(feature = "compile"))]
fn precompile(_engine: &Engine, _bytes: &[u8]) -> Result<Vec<u8>, String> {
    Err("this build of hookhost cannot compile (built without the `compile` feature)".into())
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
        let state = GuestState {
            wasi: None,
            table: ResourceTable::new(),
            limits: Limits {
                inner: StoreLimitsBuilder::new()
                    .memory_size((memory_mb * 1024 * 1024) as usize)
                    // A table element is at least a pointer: tables share the memory budget.
                    .table_elements((memory_mb * 1024 * 1024 / 8) as usize)
                    .instances(MAX_INSTANCES)
                    .tables(MAX_TABLES)
                    .memories(MAX_MEMORIES)
                    .build(),
                hit: None,
            },
            label: run.label.clone(),
            logged: 0,
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
        let called = self.hook.call_handle(&mut self.store, &event.wit);
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
                event.wit.hook_event_name
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

/// Per-instance state: the empty WASI context (built on the guest's first WASI call), limits,
/// and what the guest said.
struct GuestState {
    wasi: Option<GuestWasi>,
    table: ResourceTable,
    limits: Limits,
    label: String,
    logged: usize,
}

/// The WASI context of one instance, and where its stdout and stderr go.
struct GuestWasi {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl GuestWasi {
    /// Grants nothing: stdin closed, no args, env, preopens, sockets or name lookups; stdout and
    /// stderr captured ([`OUTPUT_CAP`] each).
    fn deny_all() -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAP);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        GuestWasi { ctx, stdout, stderr }
    }
}

impl GuestState {
    /// Sends captured stdout/stderr to the log; returns the first stderr line.
    fn flush_output(&mut self) -> Option<String> {
        let mut head = None;
        // A guest that made no WASI call wrote nothing.
        let Some(wasi) = &self.wasi else { return None };
        for (stream, pipe) in [("stdout", &wasi.stdout), ("stderr", &wasi.stderr)] {
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
    /// Every WASI call reaches the context through here: it is built (always the same deny-all
    /// context) the first time the guest uses WASI, so a guest that never does (most Rust hooks)
    /// does not pay for its random seeding and allocations.
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(GuestWasi::deny_all);
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut self.table }
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

use crate::digest::{hex, sha256_hex};

/// A precompile cache directory that only root can write: `<compat>-<sha256>.entry`, each a
/// one-line JSON header (`v`, `compat`, `component_sha256`, the artifact's digest: `artifact_blake3`
/// in version 2, `artifact_sha256` in version 1; `len`) followed by the artifact (native code).
#[derive(Debug)]
struct DiskCache {
    dir: PathBuf,
    /// This process writes it (it runs as root); otherwise it is only read.
    writable: bool,
}

/// An entry's header. Version 2 (written now) binds the artifact by its BLAKE3-256 digest, which
/// hashes about four times faster than SHA-256 here (a 317 KB artifact in 42 µs, not 169 µs) at
/// the same 256-bit strength; version 1 entries (SHA-256) are still read and checked.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryHeader {
    v: u32,
    compat: String,
    component_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_blake3: Option<String>,
    len: u64,
}

impl EntryHeader {
    /// Whether `artifact` is exactly the artifact this header names (its version's one digest;
    /// a header naming none, or the other version's, matches nothing).
    fn matches(&self, artifact: &[u8]) -> bool {
        if self.len != artifact.len() as u64 {
            return false;
        }
        match (self.v, &self.artifact_sha256, &self.artifact_blake3) {
            (1, Some(sha), None) => sha256_hex(artifact) == *sha,
            (2, None, Some(b3)) => blake3::hash(artifact).to_hex().as_str() == b3,
            _ => false,
        }
    }
}

impl DiskCache {
    /// Creates the directory if needed (0700; 0755 for [`SYSTEM_CACHE_DIR`], which every user
    /// reads) and checks that only root can write it or any directory above it.
    fn open(dir: &Path) -> Result<Self, String> {
        let mode = if dir == Path::new(SYSTEM_CACHE_DIR) { 0o755 } else { 0o700 };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        check_dir_chain(dir)?;
        Ok(DiskCache { dir: dir.to_path_buf(), writable: true })
    }

    fn entry_path(&self, compat: &str, sha256: &str) -> PathBuf {
        self.dir.join(format!("{compat}-{sha256}.entry"))
    }

    /// The cached component for `sha256`, or `None` (missing, or rejected: logged, and removed
    /// when this process writes the cache). The entry is opened once and mapped (not copied), as
    /// a bounded regular file that is not a link, owned by root and writable by no one else; its
    /// header must name this engine and this component, its artifact must hash to the header's
    /// digest, and exactly those mapped bytes are deserialised.
    fn get(&self, engine: &Engine, compat: &str, sha256: &str) -> Option<Component> {
        let path = self.entry_path(compat, sha256);
        let map = |p: &Path, o: &crate::readfile::ReadOptions| {
            crate::readfile::map_with_metadata(p, o, super::sandbox::MappedFile::map)
        };
        let bytes = self.root_only(&path, MAX_ARTIFACT_BYTES + 4096, "entry", map)?;
        let read_at = std::time::Instant::now();
        let verdict = (|| -> Result<Component, String> {
            let bytes = bytes?;
            let nl = bytes.iter().position(|b| *b == b'\n').ok_or("no header")?;
            let h: EntryHeader = serde_json::from_slice(&bytes[..nl]).map_err(|e| format!("bad header: {e}"))?;
            let artifact = &bytes[nl + 1..];
            if !matches!(h.v, 1 | 2) || h.compat != compat || h.component_sha256 != sha256 {
                return Err(format!("it is the entry of component {} (engine {})", h.component_sha256, h.compat));
            }
            if !h.matches(artifact) {
                return Err("its artifact does not match its digest (corrupt or patched)".into());
            }
            let verified_at = std::time::Instant::now();
            let c = super::sandbox::deserialize_component(engine, artifact).map_err(|e| format!("{e:#}"));
            tracing::debug!(
                verify_us = (verified_at - read_at).as_micros() as u64,
                deserialize_us = verified_at.elapsed().as_micros() as u64,
                bytes = artifact.len(),
                "wasm precompile cache entry read"
            );
            // A version 1 entry that loaded is rewritten as version 2 (the same artifact, bound
            // by BLAKE3): every later load verifies it four times faster. Once per entry.
            if c.is_ok() && h.v == 1 && self.writable {
                match self.put(compat, sha256, artifact) {
                    Ok(()) => {
                        tracing::debug!(entry = %path.display(), "wasm precompile cache entry upgraded to version 2")
                    }
                    Err(e) => tracing::warn!(entry = %path.display(), "wasm precompile cache entry not upgraded: {e}"),
                }
            }
            c
        })();
        match verdict {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(entry = %path.display(), "wasm precompile cache entry rejected: {e}");
                if self.writable {
                    let _ = std::fs::remove_file(&path);
                }
                None
            }
        }
    }

    /// A file of this cache (`what`: an entry, a record), read as a bounded regular file that
    /// is not a link: `None` when missing or unreadable (logged), `Some(Err)` when it is not
    /// root's alone (owned by another uid, or writable by group or others). A file read is
    /// marked as used (`cache_trim`).
    fn read_root_only(&self, path: &Path, max_bytes: u64, what: &str) -> Option<Result<Vec<u8>, String>> {
        self.root_only(path, max_bytes, what, crate::readfile::read_with_metadata)
    }

    /// [`read_root_only`](Self::read_root_only) with `read` getting the bytes (read, or mapped).
    fn root_only<B>(
        &self,
        path: &Path,
        max_bytes: u64,
        what: &str,
        read: impl FnOnce(
            &Path,
            &crate::readfile::ReadOptions,
        ) -> Result<(B, std::fs::Metadata), crate::readfile::ReadError>,
    ) -> Option<Result<B, String>> {
        let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::NoFollow, max_bytes);
        let (bytes, meta) = match read(path, &opts) {
            Ok(x) => x,
            Err(e) if e.is_not_found() => return None,
            Err(e) => {
                tracing::warn!(file = %path.display(), "wasm precompile cache {what} not used: {}", e.reason());
                return None;
            }
        };
        Some(if meta.uid() != 0 {
            Err(format!("owned by uid {}, not root", meta.uid()))
        } else if meta.permissions().mode() & 0o022 != 0 {
            Err(format!("writable by others (mode {:o})", meta.permissions().mode() & 0o7777))
        } else {
            self.mark_used(path, &meta, std::time::SystemTime::now());
            Ok(bytes)
        })
    }

    fn put(&self, compat: &str, sha256: &str, artifact: &[u8]) -> Result<(), String> {
        let header = EntryHeader {
            v: 2,
            compat: compat.to_string(),
            component_sha256: sha256.to_string(),
            artifact_sha256: None,
            artifact_blake3: Some(blake3::hash(artifact).to_hex().to_string()),
            len: artifact.len() as u64,
        };
        let mut data = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        data.push(b'\n');
        data.extend_from_slice(artifact);
        // Private to its user, except in the system cache (root's, read by every user).
        let mode = if self.dir == Path::new(SYSTEM_CACHE_DIR) { 0o644 } else { 0o600 };
        crate::atomic_file::replace(
            &self.entry_path(compat, sha256),
            &data,
            crate::atomic_file::Mode::Exact(mode),
            None,
        )
        .map_err(|e| e.to_string())?;
        // A new entry (after a compile, so rarely): what has gone unused for a month goes.
        self.trim(std::time::SystemTime::now());
        Ok(())
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Only root can write the cache directory: it is root's, writable by no group or other, and
/// so is every directory above it (a sticky one, like `/tmp`, may be writable by others: they
/// cannot rename or remove root's entries in it).
fn check_dir_chain(dir: &Path) -> Result<(), String> {
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if m.uid() != 0 {
        return Err(format!(
            "{} is owned by uid {}, not root: compiled code is only run from where only root writes",
            dir.display(),
            m.uid()
        ));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{} has mode {:o}; only root may write it (chmod go-w)",
            dir.display(),
            m.permissions().mode() & 0o7777
        ));
    }
    let canonical = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for a in canonical.ancestors().skip(1) {
        let m = std::fs::metadata(a).map_err(|e| format!("{}: {e}", a.display()))?;
        let mode = m.permissions().mode();
        if m.uid() != 0 {
            return Err(format!("{} is owned by uid {}, not root", a.display(), m.uid()));
        }
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(format!("{} is writable by other users (mode {:o})", a.display(), mode & 0o7777));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(name: &str, tool: Option<&str>) -> GuestEvent {
        GuestEvent {
            wit: types::Event {
                hook_event_name: name.into(),
                tool_name: tool.map(str::to_string),
                payload_json: "{}".into(),
                agent: None,
            },
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
    fn an_entry_header_matches_only_its_own_artifact() {
        let artifact = b"machine code".as_slice();
        let header = |v, sha: Option<String>, b3: Option<String>| EntryHeader {
            v,
            compat: "c".into(),
            component_sha256: "s".into(),
            artifact_sha256: sha,
            artifact_blake3: b3,
            len: artifact.len() as u64,
        };
        let sha = || Some(sha256_hex(artifact));
        let b3 = || Some(blake3::hash(artifact).to_hex().to_string());
        assert!(header(2, None, b3()).matches(artifact));
        assert!(header(1, sha(), None).matches(artifact));
        for wrong in [
            header(2, sha(), None),
            header(1, None, b3()),
            header(2, sha(), b3()),
            header(2, None, None),
            header(3, None, b3()),
            header(2, None, Some(blake3::hash(b"other").to_hex().to_string())),
        ] {
            assert!(!wrong.matches(artifact));
        }
        let mut patched = artifact.to_vec();
        patched[3] ^= 1;
        assert!(!header(2, None, b3()).matches(&patched));
        assert!(!header(2, None, b3()).matches(&artifact[1..]));
    }

    #[test]
    fn cache_dir_must_be_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        assert!(DiskCache::open(&dir).is_ok());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(DiskCache::open(&dir).unwrap_err().contains("chmod go-w"));
    }
}
