//! [`Host`]: everything between the bytes of an event and the final [`Response`] (stdout,
//! stderr, exit code). Every front end — one-shot `hookhost dispatch`, its fallback when the
//! daemon cannot answer, `hookhost serve`, `explain`, the detached `async-hooks` process, and a
//! program that embeds hookhost — goes through a `Host`, so none of them rebuilds the policy
//! around the bus and they cannot disagree.
//!
//! Owns: the settings locations and the gated settings (the ConfigChange gate and the last
//! known good records, [`crate::live`]; admission of unusable files and unapproved server hooks,
//! [`gate`]; server-managed settings at startup and while polling, [`remote`]; the per-project
//! live revisions of a long-running host, [`projects`]), the audit log and rollback of each
//! revision's [`crate::bus::EventBus`], the WebAssembly runtime and the warm sandbox pool.
//!
//! Promises: the same event under the same files gets the same `Response` from every front end
//! (`tests/integration/frontends.rs` checks it); a host fault never fails open (the one exit
//! code map, [`crate::error::dispatch_exit_code`]); nothing here starts a tokio runtime inside an
//! async context, and [`Host::dispatch_blocking`] never panics inside one; two `Host`s in one
//! process share no WebAssembly runtime, live revision or poller.

mod agent_guard;
pub(crate) mod gate;
mod oneshot;
pub(crate) use oneshot::{Explained, Prepared};
#[cfg(test)]
mod pool_tests;
pub(crate) mod projects;
pub(crate) mod remote;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub use crate::decision::Response;
use crate::error::HostFault;
use crate::exec::wasm::{Allocator, WasmOptions, WasmRuntime};
use crate::settings::Locations;

/// How WebAssembly hooks get their memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WasmAllocator {
    /// Each instance allocates its memory when it starts (default: no memory reserved ahead).
    #[default]
    OnDemand,
    /// A pooling allocator reserves slots ahead, and each hook's next fresh instance is made
    /// before its next event (a long-running host with many wasm events).
    Pooled,
}

/// How server-managed settings (`remoteSettings` in endpoint-managed settings) are obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemoteMode {
    /// From their verified cache only: no network (default).
    #[default]
    CacheOnly,
    /// Fetched when there is no cache (or `forceRemoteSettingsRefresh` asks for a fresh copy) at
    /// each load, as one-shot `hookhost dispatch` does.
    Startup,
    /// Fetched once at [`HostBuilder::build`] (which fails under `forceRemoteSettingsRefresh`
    /// when the fetch fails), then polled on a thread of the host (`watch` hosts: the daemon).
    Poll,
}

/// Which front end a host serves: what is recorded and undone, and what happens to `async:
/// true` hooks. Embedders get [`FrontEnd::Embedded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrontEnd {
    /// Records, rolls back; async hooks run in the background on the caller's runtime.
    Embedded,
    /// One-shot `hookhost dispatch` (and `async-hooks`): records, rolls back, detaches async
    /// hooks to a process that outlives it, refreshes a stale server cache in the background,
    /// tells the panic handler about the event, and is cancelled by SIGTERM/SIGINT/SIGHUP.
    OneShot,
    /// `hookhost explain`: records nothing, undoes nothing, awaits async hooks to report them.
    Explain,
}

/// Hands the `async: true` hooks of one-shot `dispatch` to a process that outlives it; returns
/// its pid.
pub(crate) type Detacher =
    Arc<dyn Fn(&crate::event::HookEvent, &crate::bus::Outcome) -> Result<u32, String> + Send + Sync>;

/// Builds a [`Host`]. Every setting has a safe default; see [`Host::builder`].
#[derive(Clone)]
pub struct HostBuilder {
    project_dir: Option<PathBuf>,
    settings_file: Option<PathBuf>,
    managed_dir: Option<PathBuf>,
    user_settings: Option<Option<PathBuf>>,
    state_dir: Option<Option<PathBuf>>,
    wasm: WasmAllocator,
    sandbox_pool: bool,
    remote: RemoteMode,
    watch: bool,
    max_event_bytes: usize,
    max_projects: usize,
    front: FrontEnd,
    detach: Option<Detacher>,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("project_dir", &self.project_dir)
            .field("settings_file", &self.settings_file)
            .field("managed_dir", &self.managed_dir)
            .field("wasm", &self.wasm)
            .field("sandbox_pool", &self.sandbox_pool)
            .field("remote", &self.remote)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl HostBuilder {
    /// The project directory (default: `$CLAUDE_PROJECT_DIR`, else each event's `cwd`).
    pub fn project_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.project_dir = Some(dir.into());
        self
    }

    /// An extra settings file at "command line" scope (`--settings`).
    pub fn settings_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.settings_file = Some(file.into());
        self
    }

    /// Where `managed-settings.json` and `managed-settings.d/` are (default:
    /// `$HOOKHOST_MANAGED_DIR`, else `/etc/hookhost`).
    pub fn managed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.managed_dir = Some(dir.into());
        self
    }

    /// The user's settings file (default: `$XDG_CONFIG_HOME/hookhost/settings.json`); `None`:
    /// no user scope.
    pub fn user_settings(mut self, file: Option<PathBuf>) -> Self {
        self.user_settings = Some(file);
        self
    }

    /// hookhost's state directory: trust records, last known good settings, rollback
    /// snapshots, the server-managed settings cache (default: `$XDG_STATE_HOME/hookhost`);
    /// `None`: none (settings files are taken as they are, nothing is trusted or undone).
    pub fn state_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// How WebAssembly hooks get their memory (default [`WasmAllocator::OnDemand`]).
    pub fn wasm(mut self, allocator: WasmAllocator) -> Self {
        self.wasm = allocator;
        self
    }

    /// Prepare command hooks' sandboxes ahead and tear them down off the decision path (default
    /// off). Build the host inside a tokio runtime for hook processes to be started ahead too.
    /// The pool is this host's own (a worker thread and what it prepared): another `Host` in
    /// the process has its own or none, and dropping this one (or [`Host::shutdown`]) stops the
    /// worker and removes every process, cgroup leaf and temporary directory it prepared.
    pub fn sandbox_pool(mut self, on: bool) -> Self {
        self.sandbox_pool = on;
        self
    }

    /// How server-managed settings are obtained (default [`RemoteMode::CacheOnly`]: no network).
    pub fn remote(mut self, mode: RemoteMode) -> Self {
        self.remote = mode;
        self
    }

    /// Keep settings live (default off): one revision per project, every settings file watched
    /// and each change gated by the ConfigChange hooks as it happens, as `hookhost serve` does.
    /// Off, each dispatch reads the settings through the same gate. On, the host must be used
    /// from a tokio runtime (its watchers run there) or through [`Host::dispatch_blocking`].
    pub fn watch(mut self, on: bool) -> Self {
        self.watch = on;
        self
    }

    /// The largest event accepted, in bytes (default 16 MiB; at least 1).
    pub fn max_event_bytes(mut self, n: usize) -> Self {
        self.max_event_bytes = n.max(1);
        self
    }

    /// With `watch`: the most distinct projects served at once (default 64; at least 1).
    pub fn max_projects(mut self, n: usize) -> Self {
        self.max_projects = n.max(1);
        self
    }

    pub(crate) fn front_end(mut self, front: FrontEnd) -> Self {
        self.front = front;
        self
    }

    pub(crate) fn detach_with(mut self, detach: Detacher) -> Self {
        self.detach = Some(detach);
        self
    }

    /// Builds the host. `Err` only with [`RemoteMode::Poll`] when `forceRemoteSettingsRefresh`
    /// asks for a fresh copy of the server-managed settings and it cannot be fetched.
    pub fn build(self) -> Result<Host, crate::Error> {
        let poll = self.remote == RemoteMode::Poll;
        let host = self.build_offline();
        if poll {
            let base = host.inner.locations(None, None, None);
            let (source, problems) = remote::startup_source(&base).map_err(crate::Error::Usage)?;
            let warnings = problems.into_iter().map(|p| format!("server-managed settings: {p}")).collect();
            *host.inner.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = warnings;
            if let (Some(source), Some(projects)) = (source, &host.inner.projects) {
                *host.inner.poller.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(remote::Poller::start(source, projects.server_sender()));
            }
        }
        Ok(host)
    }

    /// [`HostBuilder::build`] without the startup fetch of [`RemoteMode::Poll`] (which is then
    /// read from the cache, and not polled): cannot fail.
    pub(crate) fn build_offline(self) -> Host {
        let pool = self.sandbox_pool.then(|| {
            let pool = crate::exec::sandbox::SandboxPool::start();
            // What every sandboxed run shares is built now, not at the first event.
            crate::exec::sandbox::warm_up();
            pool
        });
        let projects = self
            .watch
            .then(|| projects::Projects::new(self.max_projects, format!("hookhost-serve-{}", std::process::id())));
        Host {
            inner: Arc::new(Inner {
                wasm_runtime: Arc::new(OnceLock::new()),
                pool: Mutex::new(pool),
                projects,
                poller: Mutex::new(None),
                warnings: Mutex::new(Vec::new()),
                blocking_rt: OnceLock::new(),
                b: self,
            }),
        }
    }
}

/// One hookhost host: settings, hooks, audit log, rollback and runtimes, turning events into
/// decisions. `Send + Sync` and cheap to clone (an `Arc` inside): share it between tasks.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("builder", &self.inner.b).finish_non_exhaustive()
    }
}

struct Inner {
    b: HostBuilder,
    /// This host's WebAssembly runtime, built at the first wasm hook (shared with the buses it
    /// builds, which may outlive it).
    wasm_runtime: Arc<OnceLock<Result<WasmRuntime, String>>>,
    /// This host's warm sandbox pool (`sandbox_pool(true)`): the only strong handle besides
    /// runs in flight (buses hold it weakly), so dropping the host, or `shutdown`, ends it.
    pool: Mutex<Option<crate::exec::sandbox::SandboxPool>>,
    projects: Option<projects::Projects>,
    poller: Mutex<Option<remote::Poller>>,
    warnings: Mutex<Vec<String>>,
    /// The runtime of [`Host::dispatch_blocking`] called outside any runtime.
    blocking_rt: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl Inner {
    /// This host's WebAssembly runtime (built at first use).
    fn wasm_runtime(&self) -> Result<WasmRuntime, String> {
        wasm_runtime_in(&self.wasm_runtime, self.b.wasm)
    }

    fn locations(&self, project_dir: Option<PathBuf>, settings: Option<PathBuf>, cwd: Option<&str>) -> Locations {
        let b = &self.b;
        let mut loc = Locations::from_env(
            settings.or_else(|| b.settings_file.clone()),
            project_dir.or_else(|| b.project_dir.clone()),
            cwd,
        );
        if let Some(m) = &b.managed_dir {
            loc.managed_dir = m.clone();
        }
        if let Some(u) = &b.user_settings {
            loc.user_file = u.clone();
        }
        if let Some(s) = &b.state_dir {
            loc.state_dir = s.clone();
        }
        loc
    }
}

/// The WebAssembly runtime in `cell`, built there at first use with `allocator`.
fn wasm_runtime_in(
    cell: &OnceLock<Result<WasmRuntime, String>>,
    allocator: WasmAllocator,
) -> Result<WasmRuntime, String> {
    cell.get_or_init(|| {
        let allocator = match allocator {
            WasmAllocator::OnDemand => Allocator::OnDemand,
            WasmAllocator::Pooled => Allocator::Pooling,
        };
        // A pooled runtime serves many events (the daemon): it also prepares instances ahead,
        // with the pool or, when that is unavailable, without it.
        let pooled = allocator == Allocator::Pooling;
        let runtime = |allocator| {
            WasmRuntime::new(WasmOptions { allocator, prepare_instances: pooled, ..WasmOptions::from_env() })
        };
        match runtime(allocator) {
            Ok(rt) => Ok(rt),
            Err(e) if pooled => {
                tracing::warn!(error = %e, "pooled WebAssembly runtime unavailable; allocating on demand");
                runtime(Allocator::OnDemand).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .clone()
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(p) = &self.projects {
            p.stop();
        }
        // A runtime may not be dropped (blocking) inside an async context: shut it down
        // without waiting.
        if let Some(Ok(rt)) = self.blocking_rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Whom a request is for (the daemon's peers; an embedder's host is its own).
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The client's project directory (`None`: the host's, else `$CLAUDE_PROJECT_DIR`, else the
    /// event's `cwd`).
    pub project_dir: Option<PathBuf>,
    /// The client's `--settings` file.
    pub settings: Option<PathBuf>,
    /// A peer of another uid than the host's: the managed policy only.
    pub foreign: bool,
}

impl Host {
    /// A builder with every default:
    ///
    /// - settings from the standard locations (`$HOOKHOST_MANAGED_DIR` or `/etc/hookhost`,
    ///   `$XDG_CONFIG_HOME/hookhost/settings.json`, `<project>/.hookhost/`), each file below
    ///   managed scope gated by the ConfigChange hooks against its last known good version in
    ///   `$XDG_STATE_HOME/hookhost`;
    /// - **denied by default**: project and local hooks run only once `hookhost trust` recorded
    ///   them; no network fetch of server-managed settings ([`RemoteMode::CacheOnly`]); no warm
    ///   sandbox pool; WebAssembly memory on demand;
    /// - **always applied, whatever the builder says**: the managed policy — managed hooks and
    ///   rules, `failClosed` (a broken, slow or missing hook, an unusable managed file or a host
    ///   fault blocks the events it lists), the managed sandbox floor of every command hook,
    ///   `requireApproval` of server hooks, and every managed-only key.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), hookhost::Error> {
    /// let host = hookhost::Host::builder().project_dir("/path/to/project").build()?;
    /// let event = br#"{"session_id":"s","cwd":"/path/to/project","hook_event_name":"PreToolUse",
    ///                  "tool_name":"Bash","tool_input":{"command":"rm -rf /"}}"#;
    /// let response = host.dispatch(event).await;
    /// if response.exit_code == 2 { /* blocked: response.stderr says why */ }
    /// # Ok(()) }
    /// ```
    pub fn builder() -> HostBuilder {
        HostBuilder {
            project_dir: None,
            settings_file: None,
            managed_dir: None,
            user_settings: None,
            state_dir: None,
            wasm: WasmAllocator::OnDemand,
            sandbox_pool: false,
            remote: RemoteMode::CacheOnly,
            watch: false,
            max_event_bytes: crate::event::DEFAULT_MAX_EVENT_BYTES,
            max_projects: 64,
            front: FrontEnd::Embedded,
            detach: None,
        }
    }

    /// Decides one event (Claude Code's hook JSON): runs the hooks whose matchers fit and
    /// answers as `hookhost dispatch` would — stdout, stderr, and exit code 0 (allow or no
    /// opinion) or 2 (block), or 1 for a host error where the event does not fail closed.
    /// Never panics and never fails open on a host fault.
    pub async fn dispatch(&self, event: &[u8]) -> Response {
        self.dispatch_for(event, &Target::default()).await
    }

    /// [`Host::dispatch`] from synchronous code. Inside a multi-threaded tokio runtime it blocks
    /// this worker in place; inside a current-thread runtime it runs the event on a thread of
    /// its own; outside any runtime on one the host keeps. Never panics.
    pub fn dispatch_blocking(&self, event: &[u8]) -> Response {
        match self.block_on(self.dispatch(event)) {
            Ok(r) => r,
            // The policy is not known: the one exit-code map blocks.
            Err(e) => host_error(HostFault::Evaluation, None, e),
        }
    }

    /// Warnings from building the host (server-managed settings problems at startup).
    pub fn warnings(&self) -> Vec<String> {
        self.inner.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Stops the host's watchers and poller and tears its sandbox pool down, waiting for them
    /// off the async workers. Dropping the last clone does the same without waiting.
    pub async fn shutdown(&self) {
        if let Some(p) = &self.inner.projects {
            p.stop();
        }
        let poller = self.inner.poller.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let pool = self.inner.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(mut p) = poller {
                p.stop();
            }
            // Pooled sandboxes and deferred teardowns: no cgroup leaf or temporary directory
            // outlives the host.
            drop(pool);
        })
        .await;
    }

    /// One event for `target`: a live revision when the host watches, else a gated load.
    pub(crate) async fn dispatch_for(&self, event: &[u8], target: &Target) -> Response {
        if self.inner.projects.is_some()
            && let Ok(text) = std::str::from_utf8(event)
        {
            match self.dispatch_live(text, target).await {
                Ok((r, _)) => return r,
                // An event that does not parse is answered like one-shot dispatch answers it.
                Err(LiveError::Event(_)) => {}
                Err(LiveError::Refused(msg)) => return host_error(HostFault::Evaluation, None, msg),
            }
        }
        self.dispatch_oneshot(event, target, None).await
    }

    /// The settings revisions in force in a long-running host, one per project (the metrics'
    /// `hookhost_settings_revision`); empty for a one-shot host.
    pub(crate) fn live_revisions(&self) -> Vec<String> {
        self.inner.projects.as_ref().map(projects::Projects::revisions).unwrap_or_default()
    }

    /// The revision of the settings a `Host` built for `target` applies now (the daemon's
    /// `status`), with the unusable files, when it was accepted, and how many projects are live.
    pub(crate) async fn live_status(&self, target: &Target) -> Result<LiveStatus, String> {
        let projects = self.inner.projects.as_ref().ok_or("this host does not keep settings live")?;
        let handle = self.live_handle(target, None).await?;
        let rev = handle.current();
        Ok(LiveStatus { revision: rev, projects: projects.count() })
    }

    /// Loads (and gates) the live settings of a project now rather than at its first event.
    pub(crate) async fn preload(&self, target: &Target) -> Result<(), String> {
        self.live_handle(target, None).await.map(|_| ())
    }

    async fn live_handle(&self, target: &Target, cwd: Option<&str>) -> Result<crate::live::LiveHandle, String> {
        let projects = self.inner.projects.as_ref().ok_or("this host does not keep settings live")?;
        let wasm = self.wasm_runtime().ok();
        let pool = self.sandbox_pool();
        if target.foreign {
            projects.managed_only(self.locations(None, None, None), wasm, pool).await
        } else {
            let loc = self.locations(target.project_dir.clone(), target.settings.clone(), cwd);
            projects.project(loc, wasm, pool).await
        }
    }

    /// An event on a live revision (`watch` hosts). `Err(Event)`: the event does not parse
    /// (the daemon answers its client with an error frame; the client decides in-process).
    pub(crate) async fn dispatch_live(&self, text: &str, target: &Target) -> Result<(Response, String), LiveError> {
        let event = crate::event::HookEvent::parse_with_limit(text.as_bytes(), self.inner.b.max_event_bytes)
            .map_err(|e| LiveError::Event(format!("invalid event: {e}")))?;
        let handle = self.live_handle(target, event.cwd()).await.map_err(LiveError::Refused)?;
        let projects = self.inner.projects.as_ref().ok_or_else(|| LiveError::Refused("not live".into()))?;
        let rev = match projects.current(&handle).await {
            Ok(r) => r,
            Err(message) => {
                tracing::error!(%message, "failing the event closed");
                let revision = handle.current().settings().revision.clone();
                return Ok((host_error(HostFault::Policy, None, message), revision));
            }
        };
        let r = oneshot::respond_live(&rev, &event).await;
        Ok((r, rev.settings().revision.clone()))
    }

    /// The settings locations for a request: its own project and `--settings` file, else the
    /// host's; then the builder's overrides.
    fn locations(&self, project_dir: Option<PathBuf>, settings: Option<PathBuf>, cwd: Option<&str>) -> Locations {
        self.inner.locations(project_dir, settings, cwd)
    }

    /// The host of the tools that run hooks off the event path (`check`, `demo`, `test`,
    /// `replay`): records nothing, undoes nothing.
    pub(crate) fn tools() -> Host {
        Host::builder().front_end(FrontEnd::Explain).build_offline()
    }

    /// A bus over `settings` with this host's WebAssembly runtime, built when the first wasm
    /// hook runs (an event no wasm hook matches starts no wasmtime engine; issue 23).
    pub(crate) fn bus_over(&self, settings: crate::settings::Settings) -> crate::bus::EventBus {
        let has_wasm = settings.hooks.iter().any(|h| matches!(h.handler, crate::hook::Handler::Wasm(_)));
        let pool = self.sandbox_pool();
        if !has_wasm {
            return crate::bus::EventBus::new(settings).with_sandbox_pool(pool.as_ref());
        }
        // The runtime's cell, not the host: a bus may outlive a host built for one call
        // (`Host::tools()`), and holds no reference back to it.
        let (cell, allocator) = (self.inner.wasm_runtime.clone(), self.inner.b.wasm);
        crate::bus::EventBus::with_wasm_source(settings, Arc::new(move || wasm_runtime_in(&cell, allocator)))
            .with_sandbox_pool(pool.as_ref())
    }

    /// This host's warm sandbox pool, until `shutdown`.
    pub(crate) fn sandbox_pool(&self) -> Option<crate::exec::sandbox::SandboxPool> {
        self.inner.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The what-if tools (`test`, `replay`, `demo`): a bus over `settings` as given (not loaded
    /// from the locations, not gated) with `floor`, the machine's managed sandbox floor, imposed
    /// on it, so a tool never runs a hook less confined than dispatch would. Records nothing.
    pub(crate) fn what_if_bus(
        &self,
        mut settings: crate::settings::Settings,
        floor: &crate::exec::sandbox::ManagedSandbox,
    ) -> crate::bus::EventBus {
        crate::floor::impose(&mut settings, floor);
        self.bus_over(settings)
    }

    /// Loads every wasm hook's component of `hooks` into this host's runtime, compiling it into
    /// the precompile cache (`check`, `test`).
    pub(crate) fn preload_wasm(
        &self,
        hooks: &[Arc<crate::hook::Hook>],
        ctx: &crate::exec::RunContext,
    ) -> Vec<(PathBuf, Result<String, crate::decision::HookFailure>)> {
        let needed = hooks.iter().any(|h| matches!(h.handler, crate::hook::Handler::Wasm(_)));
        if !needed {
            return Vec::new();
        }
        crate::exec::preload_wasm(&self.wasm_runtime(), hooks, ctx)
    }

    /// This host's WebAssembly runtime (built at first use).
    fn wasm_runtime(&self) -> Result<WasmRuntime, String> {
        self.inner.wasm_runtime()
    }

    /// The instances this host's WebAssembly runtime prepared ahead of events
    /// ([`WasmRuntime::prepared_instances`]); `None` until a WebAssembly hook built the runtime
    /// (asking does not build it).
    pub fn wasm_prepared_instances(&self) -> Option<crate::exec::wasm::PreparedCounts> {
        match self.inner.wasm_runtime.get() {
            Some(Ok(rt)) => Some(rt.prepared_instances()),
            _ => None,
        }
    }

    /// Runs `fut` to completion from synchronous code (see [`Host::dispatch_blocking`]).
    pub(crate) fn block_on<F>(&self, fut: F) -> Result<F::Output, String>
    where
        F: Future + Send,
        F::Output: Send,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                Ok(tokio::task::block_in_place(|| h.block_on(fut)))
            }
            // A current-thread runtime cannot be blocked: the event runs on a thread of its own.
            Ok(_) => block_on_fresh(fut),
            Err(_) => {
                let rt = self
                    .inner
                    .blocking_rt
                    .get_or_init(|| {
                        let mut b = if self.inner.b.front == FrontEnd::Embedded {
                            let mut b = tokio::runtime::Builder::new_multi_thread();
                            b.worker_threads(1);
                            b
                        } else {
                            tokio::runtime::Builder::new_current_thread()
                        };
                        b.enable_all().build().map_err(|e| format!("cannot start the runtime: {e}"))
                    })
                    .as_ref()
                    .map_err(Clone::clone)?;
                Ok(rt.block_on(fut))
            }
        }
    }
}

/// Runs `fut` to completion from synchronous code without a host: in place on a multi-threaded
/// runtime's worker, else on a thread of its own with a runtime of its own (never a runtime
/// inside a runtime, never a panic).
pub(crate) fn block_on_fresh<F>(fut: F) -> Result<F::Output, String>
where
    F: Future + Send,
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let fresh = |fut: F| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        Ok(rt.block_on(fut))
    };
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| h.block_on(fut)))
        }
        Ok(_) => std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("hookhost-block-on".into())
                .spawn_scoped(s, || fresh(fut))
                .map_err(|e| format!("cannot start a thread: {e}"))?
                .join()
                .map_err(|_| "the thread running it panicked".to_string())?
        }),
        Err(_) => fresh(fut),
    }
}

/// Why a live dispatch did not decide.
#[derive(Debug)]
pub(crate) enum LiveError {
    /// The event does not parse.
    Event(String),
    /// No live revision for this request (too many projects).
    Refused(String),
}

/// A live revision, for the daemon's `status`.
pub(crate) struct LiveStatus {
    pub revision: Arc<crate::live::Revision>,
    pub projects: usize,
}

/// A host error (hookhost itself could not answer), with its exit code from the one exit-code
/// map ([`crate::error::dispatch_exit_code`]).
pub(crate) fn host_error(fault: HostFault, fail_closed: Option<bool>, msg: impl std::fmt::Display) -> Response {
    Response {
        stdout: String::new(),
        stderr: format!("hookhost: {msg}\n"),
        exit_code: crate::error::dispatch_exit_code(fault, fail_closed),
    }
}
