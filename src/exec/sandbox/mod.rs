//! The sandbox of command hooks: the only module with `unsafe` (which is also why the unsafe
//! calls of the WebAssembly runner live here: loading precompiled native code,
//! `deserialize_component`, and mapping a precompile cache entry, `MappedFile`).
//!
//! Every sandboxed hook process gets, in this order, in its `pre_exec` (`child`: a forked copy
//! of a multi-threaded process, so no allocation, no locks, no logging — everything is prepared
//! by the parent): cgroup join → `setsid` → `PDEATHSIG` (also without a sandbox) → rlimits →
//! `umask 077` → `close_range(3.., CLOEXEC)` → empty network namespace → `no_new_privs` →
//! capability drop (bounding, ambient, securebits locked, `capset` zero) → Landlock → seccomp.
//! Around it, the parent provides a cleared environment with a per-run temporary
//! `HOME`/`TMPDIR` (0700), and tears the run's cgroup leaves down (`cgroup.kill`, or killing
//! every member) when the hook is done; what a host killed mid-hook left is swept by the next
//! (`orphans`).
//!
//! Parts: `probe` (what the machine offers, and what every run of the process shares: the
//! empty network namespace, the open host-path grants), `grants` (the files a hook's own command
//! line executes, the only per-hook path grants besides `allowRead`/`allowWrite`), `seccomp`
//! (the filter), `child` (the steps in the child), `orphans` (names that carry their owner, and
//! the sweep of what dead hosts left), `pool` (runs prepared ahead and torn down after, for
//! long-lived hosts).
//!
//! Promises: a layer either holds or is reported (`LayerStatus`) per run; in `strict` mode (and
//! for layers named in `HOOKHOST_SANDBOX_REQUIRE`) a missing layer is a `HookFailure` and the
//! hook does not run. Landlock and seccomp are only ever installed in hook children, never in
//! the host, and no host thread ever leaves the host's namespaces. Design: `design/sandbox.md`.

mod child;
mod confine;
mod grants;
mod orphans;
mod overrides;
pub mod pool;
pub use crate::sandbox_settings::{
    Layer, MAX_SANDBOX_CPU_SECONDS, MAX_SANDBOX_MEMORY_MB, MAX_SANDBOX_PIDS, Mode, Network, SandboxOverrides,
};
pub use confine::confine_self;
pub use pool::{SandboxPool, WeakSandboxPool};
mod probe;
mod seccomp;

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope,
};
use serde_json::Value;

use child::{ChildPlan, NetPlan};
pub use probe::{Capabilities, Cgroups, capabilities, warm_up};

/// What one layer did for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Enforced,
    Partial(String),
    Unavailable(String),
    Disabled(String),
}

impl std::fmt::Display for LayerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerStatus::Enforced => write!(f, "enforced"),
            LayerStatus::Partial(d) => write!(f, "partial ({d})"),
            LayerStatus::Unavailable(d) => write!(f, "unavailable ({d})"),
            LayerStatus::Disabled(d) => write!(f, "disabled ({d})"),
        }
    }
}

/// Per-run report: every layer and its status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxReport {
    pub mode: Option<Mode>,
    pub layers: Vec<(Layer, LayerStatus)>,
}

impl SandboxReport {
    pub fn status(&self, layer: Layer) -> Option<&LayerStatus> {
        self.layers.iter().find(|(l, _)| *l == layer).map(|(_, s)| s)
    }

    /// One line: `strict: landlock=enforced, seccomp=enforced, …` (only non-enforced detail).
    pub fn summary(&self) -> String {
        let Some(mode) = self.mode else { return "off".into() };
        let enforced = self.layers.iter().filter(|(_, s)| *s == LayerStatus::Enforced).count();
        let others: Vec<String> = self
            .layers
            .iter()
            .filter(|(_, s)| *s != LayerStatus::Enforced)
            .map(|(l, s)| format!("{}={s}", l.as_str()))
            .collect();
        if others.is_empty() {
            format!("{}: all {enforced} layers enforced", mode.as_str())
        } else {
            format!("{}: {enforced} layers enforced; {}", mode.as_str(), others.join(", "))
        }
    }
}

/// A hook's resolved sandbox settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxSpec {
    pub mode: Mode,
    pub allow_read: Vec<String>,
    pub allow_write: Vec<String>,
    pub network: Network,
    /// Host environment variables to pass.
    pub env: Vec<String>,
    pub memory_mb: u64,
    pub pids: u64,
    pub cpu_seconds: Option<u64>,
    /// Layers switched off by configuration (reported as `Disabled`; `strict` refuses).
    pub disable: Vec<Layer>,
}

impl Default for SandboxSpec {
    /// The defaults, with the mode this machine supports (see `default_mode`).
    fn default() -> Self {
        SandboxSpec { mode: default_mode(), ..SandboxSpec::base(Mode::Strict) }
    }
}

impl SandboxSpec {
    /// The defaults with an explicit mode (no probing of the machine).
    pub fn base(mode: Mode) -> Self {
        SandboxSpec {
            mode,
            allow_read: Vec::new(),
            allow_write: Vec::new(),
            network: Network::None,
            env: Vec::new(),
            memory_mb: 512,
            pids: 128,
            cpu_seconds: None,
            disable: Vec::new(),
        }
    }
}

/// The default mode: strict where every layer exists, else best effort (with a warning, once).
pub fn default_mode() -> Mode {
    let caps = capabilities();
    if caps.missing().is_empty() {
        Mode::Strict
    } else {
        static WARNED: OnceLock<()> = OnceLock::new();
        WARNED.get_or_init(|| {
            tracing::warn!(
                missing = ?caps.missing().iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
                "sandbox: not every layer is available on this machine; command hooks run best-effort"
            );
        });
        Mode::BestEffort
    }
}

impl SandboxSpec {
    /// Reads a `sandbox` settings object on top of `base` (managed defaults). Errors are
    /// settings errors (the caller locates them). Settings are parsed once, at load
    /// (`SandboxOverrides::parse`); this is for callers holding a raw object.
    pub fn apply(self, v: &Value) -> Result<SandboxSpec, String> {
        SandboxOverrides::parse(v).map(|o| o.apply_to(self))
    }
}

/// Managed sandbox policy: defaults for every hook plus a floor, parsed once (at load).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagedSandbox {
    pub defaults: Option<SandboxOverrides>,
    /// Hooks never run below this mode.
    pub floor: Option<Mode>,
    /// `mode: "off"` is not allowed (raised to the floor, or `best_effort`).
    pub forbid_off: bool,
}

impl ManagedSandbox {
    /// Parses a managed `sandbox` object (`None`: no managed policy, the defaults).
    pub fn from_value(v: Option<&Value>) -> Result<Self, String> {
        let Some(v) = v else { return Ok(Self::default()) };
        let defaults = SandboxOverrides::parse(v)?;
        let floor = match v.get("floor") {
            None => None,
            Some(f) => Some(f.as_str().and_then(Mode::parse).ok_or("`sandbox.floor` must be a mode")?),
        };
        let forbid_off =
            v.get("forbidOff").map(|b| b.as_bool().ok_or("`sandbox.forbidOff` must be a boolean")).transpose()?;
        Ok(ManagedSandbox { defaults: Some(defaults), floor, forbid_off: forbid_off.unwrap_or(false) })
    }

    /// The spec of a hook: defaults, then managed defaults, then the hook's own `sandbox`, then
    /// the managed floor. Pure and infallible: both objects were checked when parsed.
    pub fn resolve(&self, hook: Option<&SandboxOverrides>) -> SandboxSpec {
        let explicit = |o: Option<&SandboxOverrides>| o.is_some_and(|o| o.mode.is_some());
        let mut spec = if explicit(self.defaults.as_ref()) || explicit(hook) {
            SandboxSpec::base(Mode::Strict)
        } else {
            SandboxSpec::default()
        };
        if let Some(d) = &self.defaults {
            spec = d.apply_to(spec);
        }
        if let Some(h) = hook {
            spec = h.apply_to(spec);
        }
        if self.forbid_off && spec.mode == Mode::Off {
            spec.mode = self.floor.unwrap_or(Mode::BestEffort).max(Mode::BestEffort);
        }
        if let Some(f) = self.floor {
            spec.mode = spec.mode.max(f);
        }
        spec
    }

    /// `resolve` of a raw hook `sandbox` object (parsed here; tests).
    #[cfg(test)]
    pub fn resolve_value(&self, hook: Option<&Value>) -> Result<SandboxSpec, String> {
        let hook = hook.map(SandboxOverrides::parse).transpose()?;
        Ok(self.resolve(hook.as_ref()))
    }
}

// ---------------------------------------------------------------------------------------------
// Per-run preparation (parent side).

/// Everything the child needs, computed before the fork (or, from the warm pool, the child
/// itself, started ahead).
pub struct Prepared {
    torn_down: bool,
    pub report: SandboxReport,
    pub env: Vec<(OsString, OsString)>,
    temp: Option<orphans::RunDir>,
    /// `None` once installed on a command (or used by a stub).
    child: Option<ChildPlan>,
    stub: Option<pool::Stub>,
    cgroup: Option<Leaves>,
    /// With the warm pool on: the key the next run of this hook is prepared under once this
    /// one is torn down.
    pool_key: Option<pool::Key>,
    /// The warm pool this run came through (its teardown is deferred to the pool's worker).
    pool: Option<pool::SandboxPool>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("report", &self.report).finish_non_exhaustive()
    }
}

/// A run's sandbox without its environment: what `stage` builds and the warm pool keeps.
struct Staged {
    report: SandboxReport,
    temp: orphans::RunDir,
    child: Option<ChildPlan>,
    /// The hook process itself, started ahead in this sandbox (warm pool only).
    stub: Option<pool::Stub>,
    leaves: Leaves,
    /// `probe::StaticGrants::generation` its Landlock ruleset was built from (`None`: no
    /// Landlock).
    grants_generation: Option<u64>,
    /// The hook's own files its Landlock ruleset grants, as they were (`grants::identities`).
    exec_files: (Vec<grants::ExecFile>, Vec<grants::Identity>),
    created: Instant,
}

impl Staged {
    fn into_remains(self) -> pool::Remains {
        pool::Remains { stub: self.stub, leaves: Some(self.leaves), temp: Some(self.temp), refill: None }
    }
}

/// A run's cgroup leaves.
struct Leaves {
    v2: Option<PathBuf>,
    v1: Vec<PathBuf>,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Context of one hook run.
pub struct RunInfo<'a> {
    pub timeout: Duration,
    pub project_dir: Option<&'a Path>,
    /// The process the run will start, when the caller knows it: the program and the script
    /// it names are granted (`grants`), and with the warm pool on, the next run of the same
    /// hook is started ahead, inside its sandbox.
    pub launch: Option<Launch<'a>>,
}

/// What a run executes (its environment is the sandbox's `Prepared::env`).
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub program: &'a OsStr,
    pub args: &'a [OsString],
    pub cwd: &'a Path,
}

/// A refusal: the hook does not run (strict mode or a required layer missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub report: SandboxReport,
}

/// Layers required by `HOOKHOST_SANDBOX_REQUIRE` (comma-separated layer names).
pub fn required_layers() -> Result<Vec<Layer>, String> {
    let Some(v) = std::env::var_os("HOOKHOST_SANDBOX_REQUIRE") else { return Ok(Vec::new()) };
    v.to_string_lossy()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Layer::parse(s).ok_or(format!("HOOKHOST_SANDBOX_REQUIRE: unknown layer {s:?}")))
        .collect()
}

fn expand(s: &str, project: Option<&Path>) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let s = crate::hook::expand_project_dir(s, project);
    match s.strip_prefix("~/") {
        Some(rest) => Path::new(&home).join(rest),
        None => PathBuf::from(s),
    }
}

/// Prepares a sandboxed run of a hook with `spec`, inline, torn down inline. `Err` when the
/// hook must not run. (`SandboxPool::prepare` is the warm pool's way.)
pub fn prepare(spec: &SandboxSpec, run: &RunInfo<'_>, host_env: &[(OsString, OsString)]) -> Result<Prepared, Refusal> {
    prepare_inner(spec, run, host_env, true, None)
}

/// `prepare` for `hookhost doctor`: never refuses over a missing layer (it reports it), never
/// pooled.
pub fn prepare_for_doctor(
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    host_env: &[(OsString, OsString)],
) -> Result<Prepared, Refusal> {
    prepare_inner(spec, run, host_env, false, None)
}

fn prepare_inner(
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    host_env: &[(OsString, OsString)],
    enforce: bool,
    pool: Option<&pool::SandboxPool>,
) -> Result<Prepared, Refusal> {
    let start = Instant::now();
    if spec.mode == Mode::Off {
        return Ok(Prepared::unsandboxed(host_env.to_vec()));
    }
    let required = required_layers()
        .map_err(|m| Refusal { message: m, report: SandboxReport { mode: Some(spec.mode), layers: Vec::new() } })?;
    let pool = pool.filter(|_| enforce);
    let pool_key = pool.and_then(|p| p.key(spec, run, host_env));
    let pooled = pool.zip(pool_key.as_ref()).and_then(|(p, k)| p.take(k));
    let from_pool = pooled.is_some();
    let staged = match pooled {
        Some(s) => s,
        None => stage(spec, run)?,
    };
    let env = hook_env(spec, host_env, staged.temp.path());
    let mut prepared = Prepared {
        torn_down: false,
        report: staged.report,
        env,
        temp: Some(staged.temp),
        child: staged.child,
        stub: staged.stub,
        cgroup: Some(staged.leaves),
        pool_key,
        pool: pool.cloned(),
    };
    tracing::debug!(
        elapsed_us = start.elapsed().as_micros() as u64,
        from_pool,
        started_ahead = prepared.stub.is_some(),
        "sandbox: prepared"
    );
    // Refuse when a needed layer does not hold. Derived statuses (a layer off because
    // `network` is "host", or because Landlock itself is off) are not reasons of their own.
    let derived =
        |s: &LayerStatus| matches!(s, LayerStatus::Disabled(d) if d.contains("network is") || d == "landlock is off");
    let refuse: Vec<String> = prepared
        .report
        .layers
        .iter()
        .filter(|(l, s)| {
            let needed = spec.mode == Mode::Strict || required.contains(l) || l.always_on();
            let holds = matches!(s, LayerStatus::Enforced | LayerStatus::Partial(_));
            needed && !holds && (required.contains(l) || !derived(s))
        })
        .map(|(l, s)| format!("layer `{}` {s}", l.as_str()))
        .collect();
    if enforce && !refuse.is_empty() {
        let why = if spec.mode == Mode::Strict { "strict mode" } else { "HOOKHOST_SANDBOX_REQUIRE" };
        let report = prepared.report.clone();
        prepared.pool_key = None; // a refused hook is not prepared ahead
        prepared.teardown();
        return Err(Refusal {
            message: format!("sandbox refused to run the hook ({why}): {}", refuse.join("; ")),
            report,
        });
    }
    Ok(prepared)
}

/// The hook's whole environment: a fixed base, the temporary `HOME`/`TMPDIR`, the protocol
/// variables and the names the hook's `env` allows.
fn hook_env(spec: &SandboxSpec, host_env: &[(OsString, OsString)], temp: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), temp.into()),
        ("TMPDIR".into(), temp.into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    for (k, v) in host_env {
        let name = k.to_string_lossy();
        if name == "CLAUDE_PROJECT_DIR" || spec.env.iter().any(|e| *e == name) {
            env.push((k.clone(), v.clone()));
        }
    }
    for n in &spec.env {
        if !env.iter().any(|(k, _)| k.to_string_lossy() == *n)
            && let Some(v) = std::env::var_os(n)
        {
            env.push((n.into(), v));
        }
    }
    env
}

/// Builds a run's sandbox for `spec`: temporary directory, cgroup leaves, rlimits, the
/// network plan, the Landlock ruleset and the seccomp program, with the report of every layer.
/// `Err` only when the temporary directory cannot be made (no layer can replace it).
fn stage(spec: &SandboxSpec, run: &RunInfo<'_>) -> Result<Staged, Refusal> {
    let start = Instant::now();
    let caps = capabilities();
    let mut report = SandboxReport { mode: Some(spec.mode), layers: Vec::new() };
    let mut set = |layer: Layer, status: LayerStatus| report.layers.push((layer, status));
    let wanted = |layer: Layer| -> Result<(), LayerStatus> {
        if spec.disable.contains(&layer) {
            return Err(LayerStatus::Disabled("sandbox.disable".into()));
        }
        if layer == Layer::Netns && spec.network == Network::Host {
            return Err(LayerStatus::Disabled("sandbox.network is \"host\"".into()));
        }
        if layer == Layer::LandlockNet && spec.network == Network::Host {
            return Err(LayerStatus::Disabled("sandbox.network is \"host\"".into()));
        }
        match caps.reasons.get(&layer) {
            Some(r) => Err(LayerStatus::Unavailable(r.clone())),
            None => Ok(()),
        }
    };

    // Always-on layers.
    let temp = orphans::RunDir::create().map_err(|e| Refusal {
        message: format!("sandbox layer `temp_home` failed: cannot create a temporary directory: {e}"),
        report: SandboxReport::default(),
    })?;
    set(Layer::Session, LayerStatus::Enforced);
    set(Layer::Env, LayerStatus::Enforced);
    set(Layer::TempHome, LayerStatus::Enforced);
    set(Layer::Fds, LayerStatus::Enforced);
    set(Layer::NoNewPrivs, LayerStatus::Enforced);

    // Cgroup leaves.
    let (leaves, cgroup_v2, cgroup_v1_tasks, cgroup_status) = make_leaves(
        spec,
        &caps.cgroups,
        [wanted(Layer::CgroupPids), wanted(Layer::CgroupMemory), wanted(Layer::CgroupKill)],
    );
    let mem_done = cgroup_status[1].1 == LayerStatus::Enforced;
    for (layer, status) in cgroup_status {
        set(layer, status);
    }

    // rlimits.
    let cpu = spec.cpu_seconds.unwrap_or(run.timeout.as_secs().saturating_add(1)).max(1);
    let mut rlimits = vec![
        (libc::RLIMIT_CORE, 0, 0),
        (libc::RLIMIT_CPU, cpu, cpu + 1),
        (libc::RLIMIT_FSIZE, 64 << 20, 64 << 20),
        (libc::RLIMIT_NOFILE, 1024, 1024),
        (libc::RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
        (libc::RLIMIT_MSGQUEUE, 0, 0),
    ];
    if !mem_done {
        let asz = (spec.memory_mb.saturating_mul(1024 * 1024)).max(4 << 30);
        rlimits.push((libc::RLIMIT_AS, asz, asz));
    }
    if !caps.root {
        rlimits.push((libc::RLIMIT_NPROC, spec.pids, spec.pids));
    }
    // Never try to raise a hard limit (root without CAP_SYS_RESOURCE cannot).
    let rlimits: Vec<_> = rlimits
        .into_iter()
        .map(|(r, soft, hard)| {
            let cur = getrlimit(r);
            let hard = hard.min(cur.1);
            (r as libc::__rlimit_resource_t, soft.min(hard), hard)
        })
        .collect();
    set(Layer::Rlimits, LayerStatus::Enforced);

    // Layers that are on unless unavailable or disabled.
    let mut enable = |layer: Layer| match wanted(layer) {
        Ok(()) => {
            set(layer, LayerStatus::Enforced);
            true
        }
        Err(s) => {
            set(layer, s);
            false
        }
    };
    let netns = enable(Layer::Netns);
    let drop_caps = enable(Layer::Capdrop);

    // seccomp.
    let seccomp = match wanted(Layer::Seccomp) {
        Err(s) => {
            set(Layer::Seccomp, s);
            None
        }
        Ok(()) => match seccomp::program(spec.network) {
            Ok(p) => {
                set(Layer::Seccomp, LayerStatus::Enforced);
                Some(p)
            }
            Err(e) => {
                set(Layer::Seccomp, LayerStatus::Unavailable(e));
                None
            }
        },
    };
    // Landlock.
    let mut landlock = None;
    let mut grants_generation = None;
    let files = match &run.launch {
        Some(l) => grants::exec_files(l.program, l.args, l.cwd, run.project_dir),
        None => Vec::new(),
    };
    let exec_ids = grants::identities(&files);
    match wanted(Layer::Landlock) {
        Err(s) => {
            set(Layer::Landlock, s);
            set(Layer::LandlockNet, LayerStatus::Disabled("landlock is off".into()));
            set(Layer::LandlockScope, LayerStatus::Disabled("landlock is off".into()));
        }
        Ok(()) => {
            let net = wanted(Layer::LandlockNet);
            let scope = wanted(Layer::LandlockScope);
            let access = LandlockAccess { net: net.is_ok(), scope: scope.is_ok(), proc: drop_caps };
            let grants = probe::static_grants();
            grants_generation = Some(grants.generation);
            match build_landlock(caps.landlock_abi, &grants, spec, run, &files, temp.path(), access) {
                Ok((fd, skipped)) => {
                    landlock = Some(fd);
                    set(
                        Layer::Landlock,
                        if skipped.is_empty() {
                            LayerStatus::Enforced
                        } else {
                            LayerStatus::Partial(format!("granted paths missing: {}", skipped.join(", ")))
                        },
                    );
                    set(Layer::LandlockNet, net.err().unwrap_or(LayerStatus::Enforced));
                    set(Layer::LandlockScope, scope.err().unwrap_or(LayerStatus::Enforced));
                }
                Err(e) => {
                    set(Layer::Landlock, LayerStatus::Unavailable(e.clone()));
                    set(Layer::LandlockNet, LayerStatus::Unavailable(e.clone()));
                    set(Layer::LandlockScope, LayerStatus::Unavailable(e));
                }
            }
        }
    }

    // The shared empty network namespace serves runs that can neither open a socket nor
    // reconfigure it; any other run gets one of its own. Last: a one-shot host may still be
    // creating it (`warm_up`).
    let net = match (netns, drop_caps && seccomp.is_some()) {
        (false, _) => NetPlan::Host,
        (true, true) => probe::shared_netns().map(NetPlan::Join).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "sandbox: no shared network namespace; one per run");
            NetPlan::Unshare
        }),
        (true, false) => NetPlan::Unshare,
    };

    report.layers.sort_by_key(|(l, _)| Layer::ALL.iter().position(|x| x == l));
    tracing::debug!(elapsed_us = start.elapsed().as_micros() as u64, "sandbox: staged");
    Ok(Staged {
        report,
        temp,
        child: Some(ChildPlan {
            sandboxed: true,
            cgroup_v2,
            cgroup_v1_tasks,
            migrate: false,
            rlimits,
            net,
            drop_caps,
            cap_last_cap: caps.cap_last_cap,
            landlock,
            seccomp,
            go: None,
            parent: std::process::id() as libc::pid_t,
        }),
        stub: None,
        leaves,
        grants_generation,
        exec_files: (files, exec_ids),
        created: Instant::now(),
    })
}

/// Creates the run's cgroup leaves below the host's own cgroups: a v2 leaf (for `cgroup.kill`,
/// and the controllers when v2 has them), and v1 leaves for the controllers it lacks (the
/// hybrid layout). Returns the leaves, what the child joins them by (the v2 leaf's directory
/// and `cgroup.procs`; the v1 leaves' `tasks`: see `child`), and the status of `cgroup_pids`,
/// `cgroup_memory` and `cgroup_kill` (in that order).
#[allow(clippy::type_complexity)]
fn make_leaves(
    spec: &SandboxSpec,
    cg: &Cgroups,
    [want_pids, want_mem, want_kill]: [Result<(), LayerStatus>; 3],
) -> (Leaves, Option<(OwnedFd, CString)>, Vec<CString>, [(Layer, LayerStatus); 3]) {
    let mut leaves = Leaves { v2: None, v1: Vec::new() };
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    // Unique across processes, not only within this one, and naming its owner: a host killed
    // mid-hook leaves its leaf behind for the next one to sweep (`orphans`).
    let leaf_name = orphans::leaf_name(n);
    let mut v2_join = None;
    let mut procs = Vec::new();
    let mut pids_done = false;
    let mut mem_done = false;
    let mut errors = Vec::new();
    if let Some(dir) = &cg.v2_dir
        && (want_kill.is_ok() || (want_pids.is_ok() && cg.v2_pids) || (want_mem.is_ok() && cg.v2_memory))
    {
        let leaf = dir.join(&leaf_name);
        match std::fs::create_dir(&leaf) {
            Ok(()) => {
                if cg.v2_pids && want_pids.is_ok() {
                    pids_done = std::fs::write(leaf.join("pids.max"), spec.pids.to_string()).is_ok();
                }
                if cg.v2_memory && want_mem.is_ok() {
                    mem_done = std::fs::write(
                        leaf.join("memory.max"),
                        (spec.memory_mb.saturating_mul(1024 * 1024)).to_string(),
                    )
                    .is_ok();
                    let _ = std::fs::write(leaf.join("memory.swap.max"), "0");
                }
                match std::fs::File::open(&leaf) {
                    Ok(dir) => {
                        v2_join = Some((OwnedFd::from(dir), path_cstring(&leaf.join("cgroup.procs"))));
                        leaves.v2 = Some(leaf);
                    }
                    Err(e) => {
                        let _ = std::fs::remove_dir(&leaf);
                        pids_done = false;
                        mem_done = false;
                        errors.push(format!("v2 leaf: {e}"));
                    }
                }
            }
            Err(e) => errors.push(format!("v2 leaf: {e}")),
        }
    }
    let mut v1_leaf = |dir: &Path, file: &str, value: &str, extra: Option<&str>, what: &str| {
        let leaf = dir.join(&leaf_name);
        match std::fs::create_dir(&leaf).and_then(|_| std::fs::write(leaf.join(file), value)) {
            Ok(()) => {
                if let Some(extra) = extra {
                    let _ = std::fs::write(leaf.join(extra), value);
                }
                procs.push(path_cstring(&leaf.join("tasks")));
                leaves.v1.push(leaf);
                true
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&leaf);
                errors.push(format!("v1 {what} leaf: {e}"));
                false
            }
        }
    };
    if !pids_done
        && want_pids.is_ok()
        && let Some(dir) = &cg.v1_pids
    {
        pids_done = v1_leaf(dir, "pids.max", &spec.pids.to_string(), None, "pids");
    }
    if !mem_done
        && want_mem.is_ok()
        && let Some(dir) = &cg.v1_memory
    {
        let bytes = (spec.memory_mb.saturating_mul(1024 * 1024)).to_string();
        mem_done = v1_leaf(dir, "memory.limit_in_bytes", &bytes, Some("memory.memsw.limit_in_bytes"), "memory");
    }
    let err = if errors.is_empty() { "not set up".to_string() } else { errors.join("; ") };
    let kill_done = leaves.v2.as_ref().is_some_and(|l| l.join("cgroup.kill").exists());
    let status = |want: Result<(), LayerStatus>, done: bool| match want {
        Err(s) => s,
        Ok(()) if done => LayerStatus::Enforced,
        Ok(()) => LayerStatus::Unavailable(err.clone()),
    };
    let statuses = [
        (Layer::CgroupPids, status(want_pids, pids_done)),
        (Layer::CgroupMemory, status(want_mem, mem_done)),
        (Layer::CgroupKill, status(want_kill, kill_done)),
    ];
    (leaves, v2_join, procs, statuses)
}

fn getrlimit(r: libc::__rlimit_resource_t) -> (libc::rlim_t, libc::rlim_t) {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(r, &mut l) } == 0 {
        (l.rlim_cur, l.rlim_max)
    } else {
        (libc::RLIM_INFINITY, libc::RLIM_INFINITY)
    }
}

fn path_cstring(p: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// Which optional Landlock rights a run's ruleset handles.
struct LandlockAccess {
    /// TCP bind and connect (ABI 4).
    net: bool,
    /// Signal and abstract-socket scopes (ABI 6).
    scope: bool,
    /// `/proc` readable (only when capabilities are dropped).
    proc: bool,
}

/// The run's Landlock ruleset: the shared host grants (already open), the hook's own program
/// and script files (`grants`: those files only, never their directories), the temporary
/// directory and the hook's `allowRead`/`allowWrite`. Returns the ruleset and the declared
/// paths that do not exist (a `Partial` report).
fn build_landlock(
    abi_num: i32,
    grants: &probe::StaticGrants,
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    exec_files: &[grants::ExecFile],
    temp: &Path,
    access: LandlockAccess,
) -> Result<(OwnedFd, Vec<String>), String> {
    let abi = ABI::from(abi_num);
    let e = |e: landlock::RulesetError| e.to_string();
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(e)?;
    if access.net && abi_num >= 4 {
        rs = rs.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(e)?;
    }
    if access.scope && abi_num >= 6 {
        rs = rs.scope(Scope::AbstractUnixSocket | Scope::Signal).map_err(e)?;
    }
    let mut created = rs.create().map_err(e)?;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    for (fd, grant) in &grants.paths {
        let rights = match grant {
            probe::Grant::Read => read,
            probe::Grant::ReadTree => AccessFs::ReadFile | AccessFs::ReadDir,
            probe::Grant::ReadFile => AccessFs::ReadFile.into(),
            probe::Grant::ReadWriteFile => AccessFs::ReadFile | AccessFs::WriteFile,
        };
        created = created.add_rule(PathBeneath::new(fd, rights)).map_err(e)?;
    }
    if access.proc
        && let Some(fd) = &grants.proc
    {
        created = created.add_rule(PathBeneath::new(fd, read)).map_err(e)?;
    }
    let mut skipped = Vec::new();
    let mut grant = |created: landlock::RulesetCreated, p: &Path, access| -> Result<landlock::RulesetCreated, String> {
        match PathFd::new(p) {
            Ok(fd) => created.add_rule(PathBeneath::new(fd, access)).map_err(e),
            Err(_) => {
                skipped.push(p.display().to_string());
                Ok(created)
            }
        }
    };
    for f in exec_files {
        if let Some((fd, rights)) = grants::open_grant(f) {
            let rights = match rights {
                grants::Rights::ReadExec => AccessFs::ReadFile | AccessFs::Execute,
                grants::Rights::Read => AccessFs::ReadFile.into(),
            };
            created = created.add_rule(PathBeneath::new(fd, rights)).map_err(e)?;
        }
    }
    created = grant(created, temp, all)?;
    for p in &spec.allow_read {
        created = grant(created, &expand(p, run.project_dir), read)?;
    }
    for p in &spec.allow_write {
        created = grant(created, &expand(p, run.project_dir), all)?;
    }
    let fd: Option<OwnedFd> = created.into();
    fd.map(|fd| (fd, skipped)).ok_or_else(|| "the kernel refused to create a Landlock ruleset".to_string())
}

impl Prepared {
    /// A run without a sandbox (mode `off`), but still in its own session.
    pub fn unsandboxed(env: Vec<(OsString, OsString)>) -> Prepared {
        Prepared {
            torn_down: false,
            report: SandboxReport::default(),
            env,
            temp: None,
            child: Some(ChildPlan { parent: std::process::id() as libc::pid_t, ..ChildPlan::default() }),
            stub: None,
            cgroup: None,
            pool_key: None,
            pool: None,
        }
    }

    /// Installs the child-side steps on `cmd`. The plan is moved into the closure; the caller
    /// must spawn `cmd` at most once. `Err` when the plan was already used (installed before,
    /// or consumed by a process started ahead): a run's sandbox is never applied twice, and a
    /// command is never started without it.
    pub fn install(&mut self, cmd: &mut tokio::process::Command) -> std::io::Result<()> {
        let plan = self.child.take().ok_or_else(|| std::io::Error::other("this run's sandbox was already used"))?;
        install_plan(cmd, plan);
        Ok(())
    }

    /// Tells the sandbox the run's process has started: a sandboxed run then lets this process
    /// sweep what dead hookhost processes left (`orphans`), beside the hook.
    pub fn started(&self) {
        if self.cgroup.is_some() || self.temp.is_some() {
            probe::sweep_orphans_soon();
        }
    }

    /// The hook process the warm pool started ahead for this run, told to exec `program` now,
    /// when it was started for exactly this process (`None`: spawn as usual with `install`).
    pub fn start_ready(
        &mut self,
        program: &OsStr,
        args: &[OsString],
        cwd: &Path,
    ) -> Option<std::io::Result<tokio::process::Child>> {
        let stub = self.stub.take()?;
        if !stub.is_for(program, args, cwd, &self.env) {
            // Never the case (the pool key holds all of it); the stub used the plan, so the
            // run cannot fall back to a spawn of its own.
            let e = std::io::Error::other("the process started ahead does not match this hook");
            pool::reap(self.pool.as_ref(), pool::Remains { stub: Some(stub), leaves: None, temp: None, refill: None });
            return Some(Err(e));
        }
        Some(stub.go())
    }

    /// Kills every process of the run: `cgroup.kill`, else each member of the v1 leaves.
    pub fn kill_all(&self) {
        if let Some(leaves) = &self.cgroup {
            leaves.kill_all();
        }
    }

    /// Processes still in the run's cgroups.
    pub fn survivors(&self) -> Vec<i32> {
        let Some(leaves) = &self.cgroup else { return Vec::new() };
        let mut v: Vec<i32> = leaves.dirs().flat_map(|d| members(d)).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Kills what is left of the run, then removes its cgroup leaves (once empty) and its
    /// temporary directory: here, or on the warm pool's worker when the pool is on (the kill
    /// is always immediate).
    pub fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        self.kill_all();
        pool::reap(
            self.pool.as_ref(),
            pool::Remains {
                stub: self.stub.take(),
                leaves: self.cgroup.take(),
                temp: self.temp.take(),
                refill: self.pool_key.take(),
            },
        );
    }
}

/// A hook's process as every one is started (the warm pool's stubs too): `program args…` with
/// exactly `env` (nothing inherited), in `cwd`, stdin, stdout and stderr piped, killed if the
/// handle is dropped.
pub(crate) fn piped_command<'a>(
    program: &OsStr,
    args: impl IntoIterator<Item = &'a OsString>,
    env: &[(OsString, OsString)],
    cwd: &Path,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Makes `plan` the pre-exec step of `cmd`.
fn install_plan(cmd: &mut tokio::process::Command, plan: ChildPlan) {
    // SAFETY: the closure only makes raw syscalls on data it owns (see `ChildPlan::apply`);
    // it does not allocate, lock or touch state shared with other threads.
    unsafe {
        cmd.pre_exec(move || plan.apply());
    }
}

impl Drop for Prepared {
    /// A run abandoned half-way (the host got SIGTERM, a panic unwound, the dispatch was
    /// cancelled) still kills everything the hook started and removes its cgroups.
    fn drop(&mut self) {
        self.teardown();
    }
}

impl Leaves {
    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.v2.iter().chain(&self.v1)
    }

    /// `cgroup.kill` when there is a v2 leaf, else SIGKILL to every member.
    fn kill_all(&self) {
        if let Some(v2) = &self.v2
            && std::fs::write(v2.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        for dir in self.dirs() {
            for pid in members(dir) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// Kills what is left, waits (bounded) for the leaves to empty and removes them.
    fn remove(&self) {
        let start = Instant::now();
        let mut retries = 0u32;
        let deadline = start + Duration::from_millis(500);
        for dir in self.dirs() {
            loop {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                if Instant::now() > deadline {
                    tracing::warn!(leaf = %dir.display(), "sandbox: cgroup leaf not empty after teardown");
                    break;
                }
                self.kill_all();
                retries += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        tracing::debug!(elapsed_us = start.elapsed().as_micros() as u64, retries, "sandbox: cgroup teardown");
    }
}

fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// A whole regular file mapped read-only and private (`MAP_POPULATE`: its pages are in place
/// when this returns), unmapped on drop. The precompile cache's entries are read this way: no
/// copy into a fresh buffer (whose pages each cost a fault) before wasmtime copies the artifact
/// into its own code memory.
pub(crate) struct MappedFile {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only, owned by this value alone and only ever read through `&[u8]`,
// so moving it to or sharing it with another thread is like doing so with a `Box<[u8]>`.
unsafe impl Send for MappedFile {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps the first `len` bytes of `file` (its size as `fstat` gave it).
    pub(crate) fn map(file: &std::fs::File, len: usize) -> std::io::Result<MappedFile> {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return Ok(MappedFile { ptr: std::ptr::NonNull::dangling(), len: 0 });
        }
        // SAFETY: a new mapping chosen by the kernel (no address given), read-only and private,
        // of an open descriptor; nothing else refers to that memory. The bytes are trusted only
        // as far as the caller checks them. Who could change the file under the mapping (a
        // private mapping still shows later writes to pages not yet copied) or truncate it
        // (SIGBUS) is whoever may write it: for the precompile cache that is root alone, who
        // could equally have written a forged entry; hookhost itself replaces entries by rename,
        // which leaves a mapped file as it was.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u8>()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(MappedFile { ptr, len })
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is a live read-only mapping of `len` bytes (unmapped only on drop, which
        // needs `&mut self`), so the slice lives no longer than the mapping.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the mapping `map` made; no slice of it outlives `self`.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            }
        }
    }
}

pub(crate) fn deserialize_component(
    engine: &wasmtime::Engine,
    artifact: &[u8],
) -> wasmtime::Result<wasmtime::component::Component> {
    // SAFETY: `Component::deserialize` copies `artifact` into executable memory and trusts it to
    // be what an engine with this configuration produced. Callers pass only bytes that are
    // out of the agent's reach: the output of hookhost's own `__compile-wasm` child (same uid as
    // this process, so no weaker than this process itself), or a precompile cache entry opened
    // once and mapped (`MappedFile`) from a root-owned file in a directory no one else can write
    // (`exec::wasm::DiskCache::get`), whose header binds it to this engine's compatibility hash
    // and to the component's sha256 and whose artifact matched its digest; these exact mapped
    // bytes are deserialised (only root could change them in between, and root could as well
    // write a forged entry), never a file reopened by path. wasmtime itself still rejects
    // artifacts of another version or configuration.
    unsafe { wasmtime::component::Component::deserialize(engine, artifact) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_and_floor() {
        let m = ManagedSandbox::from_value(Some(
            &json!({"floor": "best_effort", "forbidOff": true, "allowRead": ["/opt"]}),
        ))
        .unwrap();
        let s = m.resolve_value(Some(&json!({"mode": "off", "allowWrite": ["/tmp/x"], "network": "host"}))).unwrap();
        assert_eq!(s.mode, Mode::BestEffort);
        assert_eq!(s.allow_read, ["/opt"]);
        assert_eq!(s.allow_write, ["/tmp/x"]);
        assert_eq!(s.network, Network::Host);
        let s = m.resolve_value(Some(&json!({"mode": "strict"}))).unwrap();
        assert_eq!(s.mode, Mode::Strict);
        assert!(m.resolve_value(Some(&json!({"mode": "loose"}))).is_err());
        assert!(m.resolve_value(Some(&json!({"disable": ["nope"]}))).is_err());
        assert!(m.resolve_value(Some(&json!({"bogus": 1}))).is_err());
    }
}
