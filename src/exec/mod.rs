//! Runs one resolved hook for one event and returns its `HookResult` with a report.
//!
//! `Runner` dispatches on the handler: command hooks run as processes (`command`), WebAssembly
//! hooks in wasmtime (`wasm`, on a blocking thread so that they run concurrently with the
//! command hooks of the same event), and Claude Code hook types hookhost does not implement fail
//! with `Unsupported`. The runner never knows about
//! settings files or the bus: it gets one `Hook`, one event and a context.

pub mod command;
pub mod sandbox;
pub mod wasm;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::decision::{ExitKind, FailureKind, HookFailure, HookResult, interpret};
use crate::event::HookEvent;
use crate::hook::{CommandHook, Handler, Hook, Shell, WasmHook, expand_project_dir};
use sandbox::{ManagedSandbox, RunInfo, SandboxReport};

/// Host environment variables a command hook inherits; everything else is cleared.
pub const INHERITED_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "TMPDIR"];
/// `PATH` for hooks when the host has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Per-event facts a hook run needs.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// `CLAUDE_PROJECT_DIR` for the hook, and its working directory when it exists.
    pub project_dir: Option<PathBuf>,
    /// The hook is the only one the event runs: on a multi-threaded runtime (the daemon) a
    /// WebAssembly hook then runs on the current worker (`block_in_place`) instead of being
    /// handed to the blocking pool, which saves a thread wake-up per event; with other hooks to
    /// run concurrently it is always handed off.
    pub sole: bool,
}

/// What happened when one hook ran.
#[derive(Debug, Clone, PartialEq)]
pub struct HookReport {
    pub result: HookResult,
    pub duration: Duration,
    pub exit: Option<ExitKind>,
    /// The first line of stderr, for reports.
    pub stderr_head: Option<String>,
    /// What the sandbox enforced (command hooks).
    pub sandbox: Option<SandboxReport>,
}

/// Where a runner gets its WebAssembly runtime when its first wasm hook runs: its owner's (a
/// `Host` builds it then, not when the bus is built, so an event no wasm hook matches never
/// starts a wasmtime engine).
pub type WasmSource = std::sync::Arc<dyn Fn() -> Result<wasm::WasmRuntime, String> + Send + Sync>;

/// Runs hooks. One per settings revision; cheap to share.
pub struct Runner {
    /// The managed sandbox policy; `Err`: unusable, so no command hook runs.
    managed_sandbox: Result<ManagedSandbox, String>,
    /// The sandbox spec of each command hook of the revision, resolved once (keyed by the
    /// hook's address: the revision's `Arc<Hook>`s outlive the runner's use).
    specs: std::collections::HashMap<usize, sandbox::SandboxSpec>,
    /// The WebAssembly runtime the owner (a `Host`, a live revision) gave; else one of this
    /// runner's own, built at its first wasm hook. Never a process-wide one.
    wasm: std::sync::OnceLock<Result<wasm::WasmRuntime, String>>,
    /// What fills `wasm` at the first wasm hook (else a runtime with the defaults).
    wasm_source: Option<WasmSource>,
    /// The owner's warm sandbox pool (a `Host` built with `sandbox_pool(true)`), held weakly:
    /// it ends with its owner. Unset, or ended: every run is prepared and torn down inline.
    pool: std::sync::OnceLock<sandbox::WeakSandboxPool>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("managed_sandbox", &self.managed_sandbox)
            .field("specs", &self.specs)
            .field("wasm", &self.wasm)
            .field("wasm_source", &self.wasm_source.is_some())
            .field("pool", &self.pool)
            .finish()
    }
}

impl Runner {
    /// A runner applying the managed sandbox policy (defaults and floor) to every command hook.
    pub fn new(managed_sandbox: ManagedSandbox) -> Self {
        Runner::for_revision(Ok(managed_sandbox), &[])
    }

    /// The runner of one settings revision: every hook's sandbox spec resolved now, once
    /// (managed defaults, the hook's own `sandbox`, the managed floor).
    pub fn for_revision(managed_sandbox: Result<ManagedSandbox, String>, hooks: &[std::sync::Arc<Hook>]) -> Self {
        let specs = match &managed_sandbox {
            Ok(m) => hooks
                .iter()
                .filter(|h| matches!(h.handler, Handler::Command(_)))
                .map(|h| (std::sync::Arc::as_ptr(h) as usize, m.resolve(h.sandbox.as_ref())))
                .collect(),
            Err(_) => std::collections::HashMap::new(),
        };
        Runner {
            managed_sandbox,
            specs,
            wasm: std::sync::OnceLock::new(),
            wasm_source: None,
            pool: std::sync::OnceLock::new(),
        }
    }

    /// The sandbox spec of `hook`: resolved for the revision, else (a hook not of the revision
    /// the runner was built for) from its typed settings now; no JSON either way.
    fn sandbox_spec(&self, hook: &Hook) -> Result<sandbox::SandboxSpec, String> {
        let managed = self
            .managed_sandbox
            .as_ref()
            .map_err(|e| format!("the managed sandbox policy cannot be used ({e}); no command hook runs"))?;
        Ok(match self.specs.get(&(hook as *const Hook as usize)) {
            Some(spec) => spec.clone(),
            None => managed.resolve(hook.sandbox.as_ref()),
        })
    }

    /// Runs WebAssembly hooks in `runtime` instead of the process-wide runtime.
    pub fn with_wasm_runtime(self, runtime: wasm::WasmRuntime) -> Self {
        let _ = self.wasm.set(Ok(runtime));
        self
    }

    /// Takes the WebAssembly runtime from `source` at the first wasm hook (never before).
    pub fn with_wasm_source(mut self, source: WasmSource) -> Self {
        self.wasm_source = Some(source);
        self
    }

    /// Prepares command hooks' sandboxes through `pool` (its owner's warm pool) from now on;
    /// a runner's pool is set once (a second call changes nothing).
    pub fn use_sandbox_pool(&self, pool: &sandbox::SandboxPool) {
        let _ = self.pool.set(pool.downgrade());
    }

    /// Whether this runner has a WebAssembly runtime yet (built, or given).
    pub fn wasm_started(&self) -> bool {
        self.wasm.get().is_some()
    }

    /// This runner's WebAssembly runtime (its owner's, else built now with the defaults).
    fn wasm_runtime(&self) -> Result<wasm::WasmRuntime, String> {
        self.wasm
            .get_or_init(|| match &self.wasm_source {
                Some(source) => source(),
                None => wasm::WasmRuntime::new(wasm::WasmOptions::from_env()).map_err(|e| e.to_string()),
            })
            .clone()
    }

    pub async fn run(&self, hook: &Hook, event: &HookEvent, ctx: &RunContext) -> HookReport {
        let start = Instant::now();
        let fail = |kind, m: String| HookResult::Failed(HookFailure::new(kind, m));
        let mut report = HookReport {
            result: fail(FailureKind::Io, String::new()),
            duration: Duration::ZERO,
            exit: None,
            stderr_head: None,
            sandbox: None,
        };
        report.result = match &hook.handler {
            Handler::Command(c) => self.run_command(hook, c, event, ctx, &mut report).await,
            Handler::Wasm(w) => self.run_wasm(hook, w, event, ctx, &mut report).await,
            Handler::Unsupported { kind } => {
                fail(FailureKind::Unsupported, format!("`{kind}` hooks are not run by hookhost"))
            }
        };
        report.duration = start.elapsed();
        report
    }

    async fn run_wasm(
        &self,
        hook: &Hook,
        w: &WasmHook,
        event: &HookEvent,
        ctx: &RunContext,
        report: &mut HookReport,
    ) -> HookResult {
        let runtime = match self.wasm_runtime() {
            Ok(r) => r,
            Err(e) => return HookResult::Failed(HookFailure::new(FailureKind::Load, e)),
        };
        let run = wasm::WasmRun {
            label: hook.label(),
            component: wasm_component_path(hook, w, ctx),
            sha256: hook.sha256.clone(),
            timeout: hook.timeout,
            memory_mb: w.memory_mb,
            fuel: w.fuel,
        };
        let guest_event = wasm::GuestEvent::new(event);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if ctx.sole && multi_thread {
            let out = tokio::task::block_in_place(|| runtime.run(&run, &guest_event));
            report.stderr_head = out.stderr_head;
            return out.result;
        }
        match tokio::task::spawn_blocking(move || runtime.run(&run, &guest_event)).await {
            Ok(out) => {
                report.stderr_head = out.stderr_head;
                out.result
            }
            Err(e) => {
                HookResult::Failed(HookFailure::new(FailureKind::Io, format!("the WebAssembly call failed: {e}")))
            }
        }
    }

    async fn run_command(
        &self,
        hook: &Hook,
        c: &CommandHook,
        event: &HookEvent,
        ctx: &RunContext,
        report: &mut HookReport,
    ) -> HookResult {
        let mut spec = command_spec(hook, c, event, ctx);
        let sandbox_spec = match self.sandbox_spec(hook) {
            Ok(s) => s,
            Err(e) => return HookResult::Failed(HookFailure::new(FailureKind::Sandbox, e)),
        };
        let run = RunInfo {
            timeout: hook.timeout,
            project_dir: ctx.project_dir.as_deref(),
            launch: Some(sandbox::Launch { program: &spec.program, args: &spec.args, cwd: &spec.cwd }),
        };
        // Preparing the sandbox makes cgroups and reads the program: off the async workers.
        let prepare = || match self.pool.get().and_then(sandbox::WeakSandboxPool::upgrade) {
            Some(pool) => pool.prepare(&sandbox_spec, &run, &spec.env),
            None => sandbox::prepare(&sandbox_spec, &run, &spec.env),
        };
        let mut prepared = match crate::offload::blocking(prepare) {
            Ok(p) => p,
            Err(refusal) => {
                report.sandbox = Some(refusal.report);
                return HookResult::Failed(HookFailure::new(FailureKind::Sandbox, refusal.message));
            }
        };
        tracing::debug!(hook = %hook.label(), sandbox = %prepared.report.summary(), layers = ?prepared.report.layers, "sandbox: run report");
        report.sandbox = Some(prepared.report.clone());
        spec.env = prepared.env.clone();
        // The pin is checked as late as possible: right before the spawn (crate::trust has the
        // remaining window), and again after the exit.
        let pinned = match &hook.sha256 {
            Some(expected) => {
                // Hashing the pinned program (up to 128 MiB): off the async workers.
                let target = crate::trust::command_target(c, ctx.project_dir.as_deref());
                match crate::offload::blocking(|| crate::trust::verify(target, expected)) {
                    Ok(v) => Some(v),
                    Err(f) => return HookResult::Failed(f),
                }
            }
            None => None,
        };
        let out = match command::run(&spec, &mut prepared).await {
            Ok(o) => o,
            Err(e) => {
                let what = spec.program.to_string_lossy();
                return HookResult::Failed(HookFailure::new(FailureKind::Spawn, format!("cannot start `{what}`: {e}")));
            }
        };
        report.exit = Some(out.exit);
        report.stderr_head =
            String::from_utf8_lossy(&out.stderr).lines().next().map(|l| crate::decision::truncate_chars(l, 200));
        if let Some(f) = pinned.as_ref().and_then(|p| crate::offload::blocking(|| crate::trust::recheck(p))) {
            return HookResult::Failed(f);
        }
        if out.timed_out {
            HookResult::Failed(HookFailure::new(
                FailureKind::Timeout,
                format!("timed out after {}; process group killed", secs(hook.timeout)),
            ))
        } else if let Some(stream) = out.overflow {
            let cap = if stream == "stdout" { spec.stdout_cap } else { spec.stderr_cap };
            HookResult::Failed(HookFailure::new(
                FailureKind::OutputTooLarge,
                format!("{stream} exceeded {} KiB; hook killed, output not parsed", cap / 1024),
            ))
        } else if out.drain_timed_out {
            HookResult::Failed(HookFailure::new(
                FailureKind::Io,
                "output pipes stayed open after the process group was killed (a process escaped the group)",
            ))
        } else {
            interpret(event, out.exit, &out.stdout, &out.stderr)
        }
    }
}

/// Loads the component of every wasm hook in `hooks` (distinct files once) into the process-wide
/// runtime, compiling into the precompile cache what is not there yet, so that later events
/// never compile. One line per component for reports: its path and how it went.
pub fn preload_wasm(
    runtime: &Result<wasm::WasmRuntime, String>,
    hooks: &[std::sync::Arc<Hook>],
    ctx: &RunContext,
) -> Vec<(PathBuf, Result<String, HookFailure>)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for hook in hooks {
        let Handler::Wasm(w) = &hook.handler else { continue };
        let path = wasm_component_path(hook, w, ctx);
        if !seen.insert((path.clone(), w.fuel.is_some())) {
            continue;
        }
        let run = wasm::WasmRun {
            label: hook.label(),
            component: path.clone(),
            sha256: hook.sha256.clone(),
            timeout: hook.timeout,
            memory_mb: w.memory_mb,
            fuel: w.fuel,
        };
        let result = runtime.clone().map_err(|e| HookFailure::new(FailureKind::Load, e)).and_then(|rt| {
            // Off the event path: a compile gets the precompile budget, not the hook's deadline.
            let (loaded, source) = rt.precompile(&run)?;
            let from = match source {
                wasm::LoadSource::Memory => "already loaded".to_string(),
                wasm::LoadSource::Cache => "from the precompile cache".to_string(),
                wasm::LoadSource::Compiled => match rt.cache_dir() {
                    Some(d) => format!("compiled into the precompile cache {}", d.display()),
                    None => "compiled (no precompile cache this process may write: only root writes one)".to_string(),
                },
            };
            Ok(format!("sha256 {}, {from}", loaded.sha256()))
        });
        out.push((path, result));
    }
    out
}

/// A wasm hook's component file ([`crate::hook::wasm_component_path`]) for a run.
pub fn wasm_component_path(hook: &Hook, w: &WasmHook, ctx: &RunContext) -> PathBuf {
    crate::hook::wasm_component_path(hook, w, ctx.project_dir.as_deref())
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.3}s", d.as_secs_f64()) }
}

/// Builds the process for a command hook: shell form `sh -c <command>`, or exec form
/// `command args…` with `${CLAUDE_PROJECT_DIR}` substituted (there is no shell to expand it).
pub fn command_spec(hook: &Hook, c: &CommandHook, event: &HookEvent, ctx: &RunContext) -> command::ProcessSpec {
    let expand = |s: &str| expand_project_dir(s, ctx.project_dir.as_deref());
    let (program, args): (OsString, Vec<OsString>) = match &c.args {
        Some(args) => (expand(&c.command).into(), args.iter().map(|a| expand(a).into()).collect()),
        None => {
            let shell = match c.shell {
                Shell::Sh => "/bin/sh",
                Shell::Bash if Path::new("/bin/bash").exists() => "/bin/bash",
                Shell::Bash => "bash",
            };
            (shell.into(), vec!["-c".into(), c.command.clone().into()])
        }
    };
    let mut env: Vec<(OsString, OsString)> =
        INHERITED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v))).collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if let Some(p) = &ctx.project_dir {
        env.push(("CLAUDE_PROJECT_DIR".into(), p.clone().into()));
    }
    let cwd = ctx.project_dir.clone().filter(|p| p.is_dir()).unwrap_or_else(|| PathBuf::from("/"));
    command::ProcessSpec {
        program,
        args,
        env,
        cwd,
        stdin: event.raw().clone(),
        timeout: hook.timeout,
        stdout_cap: command::STDOUT_CAP,
        stderr_cap: command::STDERR_CAP,
        grace: command::KILL_GRACE,
    }
}
