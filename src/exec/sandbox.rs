//! The sandbox of command hooks: the only module with `unsafe` (which is also why the one unsafe
//! call of the WebAssembly runner, loading precompiled native code, lives here:
//! `deserialize_component`).
//!
//! Every sandboxed hook process gets, in this order, in its `pre_exec` (a forked copy of a
//! multi-threaded process: no allocation, no locks, no logging — everything is prepared by the
//! parent): cgroup join → `setsid` → rlimits → `umask 077` → `close_range(3.., CLOEXEC)` →
//! `unshare(CLONE_NEWNET)` → `PDEATHSIG` → `no_new_privs` → capability drop (bounding, ambient,
//! securebits locked, `capset` zero) → Landlock → seccomp. Around it, the parent provides a
//! cleared environment with a per-run temporary `HOME`/`TMPDIR`, and tears the run's cgroup
//! leaves down (`cgroup.kill`, or killing every member) when the hook is done.
//!
//! Promises: a layer either holds or is reported (`LayerStatus`) per run; in `strict` mode (and
//! for layers named in `HOOKHOST_SANDBOX_REQUIRE`) a missing layer is a `HookFailure` and the
//! hook does not run. Landlock and seccomp are only ever installed in hook children, never in
//! the host. Design: `design/sandbox.md`.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use serde_json::Value;

/// How hard the sandbox insists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// No sandbox (explicit).
    Off,
    /// Run with the layers that exist; report the missing ones.
    BestEffort,
    /// Refuse to run when a layer is missing.
    Strict,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "off" => Mode::Off,
            "best_effort" => Mode::BestEffort,
            "strict" => Mode::Strict,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::BestEffort => "best_effort",
            Mode::Strict => "strict",
        }
    }
}

/// The sandbox layers, as named in settings (`disable`), `HOOKHOST_SANDBOX_REQUIRE` and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Landlock,
    LandlockNet,
    LandlockScope,
    Seccomp,
    Netns,
    CgroupPids,
    CgroupMemory,
    CgroupKill,
    Capdrop,
    NoNewPrivs,
    Rlimits,
    Session,
    Env,
    TempHome,
    Fds,
}

impl Layer {
    pub const ALL: [Layer; 15] = [
        Layer::Session,
        Layer::Env,
        Layer::TempHome,
        Layer::Fds,
        Layer::Rlimits,
        Layer::NoNewPrivs,
        Layer::Capdrop,
        Layer::Landlock,
        Layer::LandlockNet,
        Layer::LandlockScope,
        Layer::Seccomp,
        Layer::Netns,
        Layer::CgroupPids,
        Layer::CgroupMemory,
        Layer::CgroupKill,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Landlock => "landlock",
            Layer::LandlockNet => "landlock_net",
            Layer::LandlockScope => "landlock_scope",
            Layer::Seccomp => "seccomp",
            Layer::Netns => "netns",
            Layer::CgroupPids => "cgroup_pids",
            Layer::CgroupMemory => "cgroup_memory",
            Layer::CgroupKill => "cgroup_kill",
            Layer::Capdrop => "capdrop",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::Rlimits => "rlimits",
            Layer::Session => "session",
            Layer::Env => "env",
            Layer::TempHome => "temp_home",
            Layer::Fds => "fds",
        }
    }

    pub fn parse(s: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Layers a hook cannot run without, whatever the mode.
    fn always_on(self) -> bool {
        matches!(self, Layer::Session | Layer::Env | Layer::TempHome | Layer::Fds | Layer::Rlimits | Layer::NoNewPrivs)
    }
}

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

/// Network access of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    None,
    Host,
}

/// A hook's resolved sandbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// settings errors (the caller locates them).
    pub fn apply(mut self, v: &Value) -> Result<SandboxSpec, String> {
        let obj = v.as_object().ok_or("`sandbox` must be an object")?;
        for (k, x) in obj {
            let strings = |x: &Value| -> Result<Vec<String>, String> {
                x.as_array()
                    .ok_or(format!("`sandbox.{k}` must be an array of strings"))?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or(format!("`sandbox.{k}` must be an array of strings")))
                    .collect()
            };
            let positive =
                |x: &Value| x.as_u64().filter(|n| *n > 0).ok_or(format!("`sandbox.{k}` must be a positive integer"));
            match k.as_str() {
                "mode" => {
                    self.mode = x
                        .as_str()
                        .and_then(Mode::parse)
                        .ok_or("`sandbox.mode` must be \"strict\", \"best_effort\" or \"off\"")?
                }
                "allowRead" => self.allow_read.extend(strings(x)?),
                "allowWrite" => self.allow_write.extend(strings(x)?),
                "network" => {
                    self.network = match x.as_str() {
                        Some("none") => Network::None,
                        Some("host") => Network::Host,
                        _ => return Err("`sandbox.network` must be \"none\" or \"host\"".into()),
                    }
                }
                "env" => self.env.extend(strings(x)?),
                "memoryMb" => self.memory_mb = positive(x)?,
                "pids" => self.pids = positive(x)?,
                "cpuSeconds" => self.cpu_seconds = Some(positive(x)?),
                "disable" => {
                    for s in strings(x)? {
                        self.disable.push(Layer::parse(&s).ok_or(format!("unknown sandbox layer {s:?}"))?);
                    }
                }
                // Managed-only policy keys, read by `ManagedSandbox`.
                "forbidOff" | "floor" => {}
                other => return Err(format!("unknown field `{other}` in `sandbox`")),
            }
        }
        Ok(self)
    }
}

/// Managed sandbox policy: defaults for every hook plus a floor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagedSandbox {
    pub defaults: Option<Value>,
    /// Hooks never run below this mode.
    pub floor: Option<Mode>,
    /// `mode: "off"` is not allowed (raised to the floor, or `best_effort`).
    pub forbid_off: bool,
}

impl ManagedSandbox {
    pub fn from_value(v: Option<&Value>) -> Result<Self, String> {
        let Some(v) = v else { return Ok(Self::default()) };
        SandboxSpec::base(Mode::Strict).apply(v)?;
        let floor = match v.get("floor") {
            None => None,
            Some(f) => Some(f.as_str().and_then(Mode::parse).ok_or("`sandbox.floor` must be a mode")?),
        };
        let forbid_off =
            v.get("forbidOff").map(|b| b.as_bool().ok_or("`sandbox.forbidOff` must be a boolean")).transpose()?;
        Ok(ManagedSandbox { defaults: Some(v.clone()), floor, forbid_off: forbid_off.unwrap_or(false) })
    }

    /// The spec of a hook: defaults, then managed defaults, then the hook's own `sandbox`, then
    /// the managed floor.
    pub fn resolve(&self, hook: Option<&Value>) -> Result<SandboxSpec, String> {
        let explicit = |v: Option<&Value>| v.and_then(|v| v.get("mode")).is_some();
        let mut spec = if explicit(self.defaults.as_ref()) || explicit(hook) {
            SandboxSpec::base(Mode::Strict)
        } else {
            SandboxSpec::default()
        };
        if let Some(d) = &self.defaults {
            spec = spec.apply(d)?;
        }
        if let Some(h) = hook {
            spec = spec.apply(h)?;
        }
        if self.forbid_off && spec.mode == Mode::Off {
            spec.mode = self.floor.unwrap_or(Mode::BestEffort).max(Mode::BestEffort);
        }
        if let Some(f) = self.floor {
            spec.mode = spec.mode.max(f);
        }
        Ok(spec)
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities of this machine, probed once.

/// How cgroups are laid out here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cgroups {
    /// The host's own cgroup directory in the v2 hierarchy (for `cgroup.kill`, and controllers
    /// when delegated).
    pub v2_dir: Option<PathBuf>,
    pub v2_kill: bool,
    pub v2_pids: bool,
    pub v2_memory: bool,
    /// The host's own directory in the v1 `pids` / `memory` hierarchies.
    pub v1_pids: Option<PathBuf>,
    pub v1_memory: Option<PathBuf>,
}

/// What this machine offers.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub landlock_abi: i32,
    pub seccomp: bool,
    pub root: bool,
    pub netns: bool,
    pub cgroups: Cgroups,
    pub cap_last_cap: u32,
    /// Why each unavailable layer is unavailable.
    pub reasons: BTreeMap<Layer, String>,
}

impl Capabilities {
    /// Layers this machine cannot provide, with the reason.
    pub fn missing(&self) -> Vec<(Layer, String)> {
        self.reasons.iter().map(|(l, r)| (*l, r.clone())).collect()
    }

    fn probe() -> Capabilities {
        // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag
        // only queries the ABI version; it touches no memory.
        let abi =
            unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<libc::c_void>(), 0usize, 1u32) }
                as i32;
        let landlock_abi = abi.max(0);
        let seccomp = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
        let root = nix::unistd::geteuid().is_root();
        let cgroups = probe_cgroups();
        let cap_last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        let mut reasons = BTreeMap::new();
        if landlock_abi < 1 {
            reasons.insert(Layer::Landlock, "the kernel does not offer Landlock".to_string());
        }
        if landlock_abi < 4 {
            reasons.insert(Layer::LandlockNet, format!("Landlock ABI {landlock_abi} < 4 has no TCP rules"));
        }
        if landlock_abi < 6 {
            reasons.insert(Layer::LandlockScope, format!("Landlock ABI {landlock_abi} < 6 has no scopes"));
        }
        if !seccomp {
            reasons.insert(Layer::Seccomp, "the kernel does not offer seccomp filters".to_string());
        }
        let netns = root && Path::new("/proc/self/ns/net").exists();
        if !netns {
            reasons.insert(Layer::Netns, "network namespaces need root (CAP_SYS_ADMIN) here".to_string());
        }
        if !root {
            reasons.insert(Layer::Capdrop, "not running as root: nothing to drop".to_string());
        }
        if !(cgroups.v2_pids || cgroups.v1_pids.is_some()) {
            reasons.insert(Layer::CgroupPids, "no writable pids cgroup controller".to_string());
        }
        if !(cgroups.v2_memory || cgroups.v1_memory.is_some()) {
            reasons.insert(Layer::CgroupMemory, "no writable memory cgroup controller".to_string());
        }
        if !cgroups.v2_kill {
            reasons.insert(
                Layer::CgroupKill,
                "no cgroup v2 `cgroup.kill` (kernel < 5.14 or no writable v2 cgroup)".to_string(),
            );
        }
        Capabilities { landlock_abi, seccomp, root, netns, cgroups, cap_last_cap, reasons }
    }
}

/// The machine's capabilities (probed on first use).
pub fn capabilities() -> &'static Capabilities {
    static CAPS: OnceLock<Capabilities> = OnceLock::new();
    CAPS.get_or_init(Capabilities::probe)
}

fn probe_cgroups() -> Cgroups {
    let mut c = Cgroups::default();
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else { return c };
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return c };
    // mountinfo: id parent maj:min root mountpoint opts - fstype source superopts
    let mut v2_mount = None;
    let mut v1_mounts: Vec<(PathBuf, String)> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(mountpoint), Some(fstype), Some(superopts)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
        else {
            continue;
        };
        if fields.get(3) != Some(&"/") {
            continue; // a bind mount of a sub-tree: paths would not line up
        }
        match *fstype {
            "cgroup2" => v2_mount = Some(PathBuf::from(mountpoint)),
            "cgroup" => v1_mounts.push((PathBuf::from(mountpoint), superopts.to_string())),
            _ => {}
        }
    }
    let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            if let Some(m) = &v2_mount {
                let dir = m.join(rel);
                if writable(&dir) {
                    c.v2_kill = dir.join("cgroup.kill").exists()
                        || std::fs::read_dir(&dir).is_ok() && kernel_has_cgroup_kill(m);
                    let sub = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                    c.v2_pids = sub.split_whitespace().any(|s| s == "pids");
                    c.v2_memory = sub.split_whitespace().any(|s| s == "memory");
                    c.v2_dir = Some(dir);
                }
            }
            continue;
        }
        for ctrl in ctrls.split(',') {
            if ctrl != "pids" && ctrl != "memory" {
                continue;
            }
            let Some((m, _)) = v1_mounts.iter().find(|(_, o)| o.split(',').any(|x| x == ctrl)) else { continue };
            let dir = m.join(rel);
            if writable(&dir) {
                if ctrl == "pids" {
                    c.v1_pids = Some(dir);
                } else {
                    c.v1_memory = Some(dir);
                }
            }
        }
    }
    c
}

/// `cgroup.kill` exists in non-root v2 cgroups from Linux 5.14 on (the root cgroup has none, so
/// the kernel version is the cheap test).
fn kernel_has_cgroup_kill(_v2_mount: &Path) -> bool {
    let Ok(u) = nix::sys::utsname::uname() else { return false };
    let release = u.release().to_string_lossy().into_owned();
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter_map(|x| x.parse::<u32>().ok());
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (5, 14)
}

// ---------------------------------------------------------------------------------------------
// Per-run preparation (parent side).

/// Host paths a hook may read and execute by default.
const READ_EXEC: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];
/// `/etc` entries never granted: secrets a capability-less uid 0 could still read.
const ETC_DENY: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "sudoers.d",
    "ssh",
    "ssl",
    "security",
    "hookhost",
    "krb5.keytab",
    ".pwd.lock",
    "subuid",
    "subgid",
    "subuid-",
    "subgid-",
    "opasswd",
    "libvirt",
    "docker",
    "containerd",
    "credstore",
    "credstore.encrypted",
    "wireguard",
    "NetworkManager",
    "ipsec.secrets",
    "ppp",
    "openvpn",
];
/// Device files granted read+write.
const DEV_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
const DEV_R: &[&str] = &["/dev/urandom", "/dev/random"];

/// Everything the child needs, computed before the fork.
pub struct Prepared {
    torn_down: std::sync::atomic::AtomicBool,
    pub report: SandboxReport,
    pub env: Vec<(OsString, OsString)>,
    pub temp: Option<tempfile::TempDir>,
    child: ChildPlan,
    cgroup: Option<Leaves>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("report", &self.report).finish_non_exhaustive()
    }
}

/// Data for `pre_exec`: owned, plain, allocation-free to use. The default plan only starts a
/// new session (mode `off`).
#[derive(Default)]
struct ChildPlan {
    sandboxed: bool,
    cgroup_procs: Vec<CString>,
    rlimits: Vec<(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t)>,
    unshare_net: bool,
    drop_caps: bool,
    cap_last_cap: u32,
    landlock: Option<OwnedFd>,
    seccomp: Vec<BpfProgram>,
}

/// A run's cgroup leaves.
struct Leaves {
    v2: Option<PathBuf>,
    v1: Vec<PathBuf>,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A value fixed for the life of this process and, with the pid, distinct from every earlier
/// process's: the time of the first sandboxed run, in nanoseconds.
fn process_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    })
}

/// Context of one hook run.
pub struct RunInfo<'a> {
    pub timeout: Duration,
    pub project_dir: Option<&'a Path>,
    /// Directories of the hook's script (granted read+exec).
    pub script_dirs: Vec<PathBuf>,
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

/// Prepares a sandboxed run of a hook with `spec`. `Err` when the hook must not run.
pub fn prepare(spec: &SandboxSpec, run: &RunInfo<'_>, host_env: &[(OsString, OsString)]) -> Result<Prepared, Refusal> {
    prepare_inner(spec, run, host_env, true)
}

/// `prepare` for `hookhost doctor`: never refuses over a missing layer (it reports it).
pub fn prepare_for_doctor(
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    host_env: &[(OsString, OsString)],
) -> Result<Prepared, Refusal> {
    prepare_inner(spec, run, host_env, false)
}

fn prepare_inner(
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    host_env: &[(OsString, OsString)],
    enforce: bool,
) -> Result<Prepared, Refusal> {
    let start = Instant::now();
    let caps = capabilities();
    tracing::debug!(elapsed_us = start.elapsed().as_micros() as u64, "sandbox: capabilities");
    if spec.mode == Mode::Off {
        return Ok(Prepared::unsandboxed(host_env.to_vec()));
    }
    let mut report = SandboxReport { mode: Some(spec.mode), layers: Vec::new() };
    let required = required_layers().map_err(|m| Refusal { message: m, report: report.clone() })?;
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
    let temp = tempfile::Builder::new().prefix("hookhost-run-").tempdir().map_err(|e| Refusal {
        message: format!("sandbox layer `temp_home` failed: cannot create a temporary directory: {e}"),
        report: SandboxReport::default(),
    })?;
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), temp.path().into()),
        ("TMPDIR".into(), temp.path().into()),
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
    set(Layer::Session, LayerStatus::Enforced);
    set(Layer::Env, LayerStatus::Enforced);
    set(Layer::TempHome, LayerStatus::Enforced);
    set(Layer::Fds, LayerStatus::Enforced);
    set(Layer::NoNewPrivs, LayerStatus::Enforced);

    // Cgroup leaves.
    let mut leaves = Leaves { v2: None, v1: Vec::new() };
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    // Unique across processes, not only within this one: a host killed mid-hook leaves its leaf
    // behind, and a later process may get the same pid.
    let leaf_name = format!("hookhost-{}-{:x}-{n}", std::process::id(), process_nonce());
    let mut procs = Vec::new();
    let cg = &caps.cgroups;
    let mut pids_done = false;
    let mut mem_done = false;
    let mut cgroup_errors = Vec::new();
    let want_kill = wanted(Layer::CgroupKill);
    let want_pids = wanted(Layer::CgroupPids);
    let want_mem = wanted(Layer::CgroupMemory);
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
                    mem_done =
                        std::fs::write(leaf.join("memory.max"), (spec.memory_mb * 1024 * 1024).to_string()).is_ok();
                    let _ = std::fs::write(leaf.join("memory.swap.max"), "0");
                }
                procs.push(path_cstring(&leaf.join("cgroup.procs")));
                leaves.v2 = Some(leaf);
            }
            Err(e) => cgroup_errors.push(format!("v2 leaf: {e}")),
        }
    }
    // v1 hierarchies for the controllers the v2 leaf could not provide (the hybrid layout).
    let mut v1_leaf = |dir: &Path, file: &str, value: &str, extra: Option<&str>, what: &str| {
        let leaf = dir.join(&leaf_name);
        match std::fs::create_dir(&leaf).and_then(|_| std::fs::write(leaf.join(file), value)) {
            Ok(()) => {
                if let Some(extra) = extra {
                    let _ = std::fs::write(leaf.join(extra), value);
                }
                procs.push(path_cstring(&leaf.join("cgroup.procs")));
                leaves.v1.push(leaf);
                true
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&leaf);
                cgroup_errors.push(format!("v1 {what} leaf: {e}"));
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
        let bytes = (spec.memory_mb * 1024 * 1024).to_string();
        mem_done = v1_leaf(dir, "memory.limit_in_bytes", &bytes, Some("memory.memsw.limit_in_bytes"), "memory");
    }
    let cg_err = if cgroup_errors.is_empty() { "not set up".to_string() } else { cgroup_errors.join("; ") };
    let kill_done = leaves.v2.as_ref().is_some_and(|l| l.join("cgroup.kill").exists());
    for (layer, want, done) in [
        (Layer::CgroupPids, want_pids, pids_done),
        (Layer::CgroupMemory, want_mem, mem_done),
        (Layer::CgroupKill, want_kill, kill_done),
    ] {
        set(
            layer,
            match want {
                Err(s) => s,
                Ok(()) if done => LayerStatus::Enforced,
                Ok(()) => LayerStatus::Unavailable(cg_err.clone()),
            },
        );
    }

    // rlimits.
    let cpu = spec.cpu_seconds.unwrap_or(run.timeout.as_secs() + 1).max(1);
    let mut rlimits = vec![
        (libc::RLIMIT_CORE, 0, 0),
        (libc::RLIMIT_CPU, cpu, cpu + 1),
        (libc::RLIMIT_FSIZE, 64 << 20, 64 << 20),
        (libc::RLIMIT_NOFILE, 1024, 1024),
        (libc::RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
        (libc::RLIMIT_MSGQUEUE, 0, 0),
    ];
    if !mem_done {
        let asz = (spec.memory_mb * 1024 * 1024).max(4 << 30);
        rlimits.push((libc::RLIMIT_AS, asz, asz));
    }
    if !caps.root {
        rlimits.push((libc::RLIMIT_NPROC, spec.pids, spec.pids));
    }
    // Never try to raise a hard limit (root without CAP_SYS_RESOURCE cannot).
    let rlimits: Vec<_> = rlimits
        .into_iter()
        .map(|(r, soft, hard)| {
            let cur = nix_getrlimit(r);
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
    let unshare_net = enable(Layer::Netns);
    let drop_caps = enable(Layer::Capdrop);

    // Landlock.
    let mut landlock = None;
    match wanted(Layer::Landlock) {
        Err(s) => {
            set(Layer::Landlock, s);
            set(Layer::LandlockNet, LayerStatus::Disabled("landlock is off".into()));
            set(Layer::LandlockScope, LayerStatus::Disabled("landlock is off".into()));
        }
        Ok(()) => {
            let net = wanted(Layer::LandlockNet);
            let scope = wanted(Layer::LandlockScope);
            match build_landlock(caps.landlock_abi, spec, run, temp.path(), net.is_ok(), scope.is_ok(), drop_caps) {
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

    // seccomp.
    let seccomp = match wanted(Layer::Seccomp) {
        Err(s) => {
            set(Layer::Seccomp, s);
            Vec::new()
        }
        Ok(()) => match build_seccomp(spec.network) {
            Ok(p) => {
                set(Layer::Seccomp, LayerStatus::Enforced);
                p
            }
            Err(e) => {
                set(Layer::Seccomp, LayerStatus::Unavailable(e));
                Vec::new()
            }
        },
    };

    report.layers.sort_by_key(|(l, _)| Layer::ALL.iter().position(|x| x == l));
    tracing::debug!(elapsed_us = start.elapsed().as_micros() as u64, "sandbox: prepared");
    let prepared = Prepared {
        torn_down: Default::default(),
        report: report.clone(),
        env,
        temp: Some(temp),
        child: ChildPlan {
            sandboxed: true,
            cgroup_procs: procs,
            rlimits,
            unshare_net,
            drop_caps,
            cap_last_cap: caps.cap_last_cap,
            landlock,
            seccomp,
        },
        cgroup: Some(leaves),
    };
    // Refuse when a needed layer does not hold. Derived statuses (a layer off because
    // `network` is "host", or because Landlock itself is off) are not reasons of their own.
    let derived =
        |s: &LayerStatus| matches!(s, LayerStatus::Disabled(d) if d.contains("network is") || d == "landlock is off");
    let refuse: Vec<String> = report
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
        prepared.teardown();
        return Err(Refusal {
            message: format!("sandbox refused to run the hook ({why}): {}", refuse.join("; ")),
            report,
        });
    }
    Ok(prepared)
}

fn nix_getrlimit(r: libc::__rlimit_resource_t) -> (libc::rlim_t, libc::rlim_t) {
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

/// The `/etc` entries granted (everything but `ETC_DENY`), listed once.
fn etc_entries() -> &'static [PathBuf] {
    static ETC: OnceLock<Vec<PathBuf>> = OnceLock::new();
    ETC.get_or_init(|| {
        let mut v: Vec<PathBuf> = std::fs::read_dir("/etc")
            .map(|rd| {
                rd.flatten()
                    .filter(|e| !ETC_DENY.contains(&e.file_name().to_string_lossy().as_ref()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        // Public CA certificates are fine; private keys next to them are not.
        v.push(PathBuf::from("/etc/ssl/certs"));
        v.sort();
        v
    })
}

fn build_landlock(
    abi_num: i32,
    spec: &SandboxSpec,
    run: &RunInfo<'_>,
    temp: &Path,
    net: bool,
    scope: bool,
    proc_ok: bool,
) -> Result<(OwnedFd, Vec<String>), String> {
    let abi = ABI::from(abi_num);
    let e = |e: landlock::RulesetError| e.to_string();
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(e)?;
    if net && abi_num >= 4 {
        rs = rs.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(e)?;
    }
    if scope && abi_num >= 6 {
        rs = rs.scope(Scope::AbstractUnixSocket | Scope::Signal).map_err(e)?;
    }
    let mut created = rs.create().map_err(e)?;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let mut skipped = Vec::new();
    let mut grant = |created: landlock::RulesetCreated,
                     p: &Path,
                     access,
                     required: bool|
     -> Result<landlock::RulesetCreated, String> {
        match PathFd::new(p) {
            Ok(fd) => created.add_rule(PathBeneath::new(fd, access)).map_err(e),
            Err(_) => {
                if required {
                    skipped.push(p.display().to_string());
                }
                Ok(created)
            }
        }
    };
    for p in READ_EXEC {
        created = grant(created, Path::new(p), read, false)?;
    }
    // `/proc` only when capabilities are dropped: a uid 0 hook with capabilities could read the
    // host's `/proc/<pid>/environ`.
    if proc_ok {
        created = grant(created, Path::new("/proc"), read, false)?;
    }
    for p in etc_entries() {
        created = grant(created, p, read, false)?;
    }
    for p in DEV_R {
        created = grant(created, Path::new(p), AccessFs::ReadFile.into(), false)?;
    }
    for p in DEV_RW {
        created = grant(created, Path::new(p), AccessFs::ReadFile | AccessFs::WriteFile, false)?;
    }
    for d in &run.script_dirs {
        created = grant(created, d, read, false)?;
    }
    created = grant(created, temp, all, true)?;
    for p in &spec.allow_read {
        created = grant(created, &expand(p, run.project_dir), read, true)?;
    }
    for p in &spec.allow_write {
        created = grant(created, &expand(p, run.project_dir), all, true)?;
    }
    let fd: Option<OwnedFd> = created.into();
    fd.map(|fd| (fd, skipped)).ok_or_else(|| "the kernel refused to create a Landlock ruleset".to_string())
}

/// `setxattrat(2)` and `removexattrat(2)` (Linux 6.13; same number on every architecture).
const SYS_SETXATTRAT: i64 = 463;
const SYS_REMOVEXATTRAT: i64 = 466;

// The ioctl request constants' type differs between libc targets.
#[allow(clippy::unnecessary_cast)]
fn build_seccomp(network: Network) -> Result<Vec<BpfProgram>, String> {
    let arch: TargetArch = std::env::consts::ARCH.try_into().map_err(|e| format!("seccomp: {e:?}"))?;
    let cond = |arg: u8, op: SeccompCmpOp, v: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, v).map_err(|e| format!("{e:?}"))
    };
    let rule = |c: Vec<SeccompCondition>| SeccompRule::new(c).map_err(|e| format!("{e:?}"));
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in [
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_chroot,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
        libc::SYS_name_to_handle_at,
        libc::SYS_open_by_handle_at,
        libc::SYS_personality,
        libc::SYS_setdomainname,
        libc::SYS_sethostname,
        libc::SYS_quotactl,
        libc::SYS_lookup_dcookie,
        libc::SYS_vhangup,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_ioperm,
    ] {
        deny.insert(nr, Vec::new());
    }
    // File metadata, which Landlock does not cover: a capability-less uid 0 still owns most of
    // the system and could chmod (setuid), set xattrs or timestamps on any file it can open.
    for nr in [
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchmodat2,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        SYS_SETXATTRAT,
        SYS_REMOVEXATTRAT,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chmod,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chown,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_lchown,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utime,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utimes,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_futimesat,
    ] {
        deny.insert(nr, Vec::new());
    }
    // utimensat: only `futimens(fd, NULL)` (what `touch` does on a file it just created) is
    // allowed; a path or explicit times are denied.
    deny.insert(
        libc::SYS_utimensat,
        vec![rule(vec![cond(1, SeccompCmpOp::Ne, 0)?])?, rule(vec![cond(2, SeccompCmpOp::Ne, 0)?])?],
    );
    // Sockets: none at all without network; with network, everything but Unix sockets (a Unix
    // socket reaches host daemons, which Landlock ABI < 9 does not stop).
    match network {
        Network::None => {
            deny.insert(libc::SYS_socket, Vec::new());
        }
        Network::Host => {
            deny.insert(libc::SYS_socket, vec![rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_UNIX as u64)?])?]);
        }
    }
    deny.insert(libc::SYS_socketpair, vec![rule(vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?])?]);
    // clone with namespace flags (clone3 hides its flags behind a pointer: ENOSYS below).
    let ns_flags = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
    ];
    let mut clone_rules = Vec::new();
    for f in ns_flags {
        clone_rules.push(rule(vec![cond(0, SeccompCmpOp::MaskedEq(f as u64), f as u64)?])?);
    }
    deny.insert(libc::SYS_clone, clone_rules);
    // TIOCSTI / TIOCLINUX: typing into a terminal.
    deny.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), libc::TIOCSTI as u64)?])?,
            rule(vec![cond(1, SeccompCmpOp::MaskedEq(0xffff_ffff), libc::TIOCLINUX as u64)?])?,
        ],
    );
    let eperm: BpfProgram =
        SeccompFilter::new(deny, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
            .and_then(|f| f.try_into())
            .map_err(|e| format!("seccomp: {e:?}"))?;
    let mut enosys_rules = BTreeMap::new();
    enosys_rules.insert(libc::SYS_clone3, Vec::new());
    let enosys: BpfProgram =
        SeccompFilter::new(enosys_rules, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)
            .and_then(|f| f.try_into())
            .map_err(|e| format!("seccomp: {e:?}"))?;
    Ok(vec![eperm, enosys])
}

// ---------------------------------------------------------------------------------------------
// The child side.

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const libc::c_void,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each set and locked; KEEP_CAPS locked off.
const SECUREBITS: libc::c_ulong = 0b1110_1111;

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Writes `pid` in decimal to the open file `fd` without allocating.
fn write_pid(fd: libc::c_int, pid: libc::pid_t) -> bool {
    let mut buf = [0u8; 16];
    let mut n = pid as u64;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = buf.len() - i;
    // SAFETY: writes `len` initialised bytes from our stack buffer to an fd we opened.
    unsafe { libc::write(fd, buf[i..].as_ptr().cast(), len) == len as isize }
}

impl ChildPlan {
    /// Runs in the forked child before exec. Raw syscalls only; no allocation.
    fn apply(&self) -> std::io::Result<()> {
        // SAFETY (whole function): every call below is a plain syscall on data owned by `self`,
        // which lives in the parent's address space copy; nothing allocates or takes a lock.
        unsafe {
            // 1. cgroup join.
            let pid = libc::getpid();
            for path in &self.cgroup_procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(errno());
                }
                let ok = write_pid(fd, pid);
                libc::close(fd);
                if !ok {
                    return Err(errno());
                }
            }
            // 2. New session: no controlling terminal, own process group.
            if libc::setsid() < 0 {
                return Err(errno());
            }
            if !self.sandboxed {
                return Ok(());
            }
            // 3. rlimits.
            for &(res, soft, hard) in &self.rlimits {
                let l = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                if libc::setrlimit(res, &l) != 0 {
                    return Err(errno());
                }
            }
            // 4. umask, and no inherited descriptors beyond 0–2.
            libc::umask(0o077);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                return Err(errno());
            }
            // 5. Empty network namespace (needs CAP_SYS_ADMIN: before the capability drop).
            if self.unshare_net && libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(errno());
            }
            // 6. Die with the parent (a backstop: it tracks the forking thread).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(errno());
            }
            // 7. no_new_privs.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(errno());
            }
            // 8. Capabilities: bounding set, ambient set, securebits (needs CAP_SETPCAP), capset 0.
            if self.drop_caps {
                for cap in 0..=self.cap_last_cap {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                        return Err(errno());
                    }
                }
                if libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(errno());
                }
                if libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0 {
                    return Err(errno());
                }
                let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
                let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
                if libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) != 0 {
                    return Err(errno());
                }
            }
            // 9. Landlock.
            if let Some(fd) = &self.landlock
                && libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0u32) != 0
            {
                return Err(errno());
            }
            // 10. seccomp, last (it denies some of the calls above).
            for prog in &self.seccomp {
                let fprog = SockFprog { len: prog.len() as libc::c_ushort, filter: prog.as_ptr().cast() };
                if libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &fprog as *const SockFprog,
                ) != 0
                {
                    return Err(errno());
                }
            }
        }
        Ok(())
    }
}

impl Prepared {
    /// A run without a sandbox (mode `off`), but still in its own session.
    pub fn unsandboxed(env: Vec<(OsString, OsString)>) -> Prepared {
        Prepared {
            torn_down: Default::default(),
            report: SandboxReport::default(),
            env,
            temp: None,
            child: ChildPlan::default(),
            cgroup: None,
        }
    }

    /// Installs the child-side steps on `cmd`. The plan is moved into the closure; the caller
    /// must spawn `cmd` at most once.
    pub fn install(&mut self, cmd: &mut tokio::process::Command) {
        let plan = std::mem::take(&mut self.child);
        // SAFETY: the closure only makes raw syscalls on data it owns (see `ChildPlan::apply`);
        // it does not allocate, lock or touch state shared with other threads.
        unsafe {
            cmd.pre_exec(move || plan.apply());
        }
    }

    /// Kills every process of the run: `cgroup.kill`, else each member of the v1 leaves.
    pub fn kill_all(&self) {
        let Some(leaves) = &self.cgroup else { return };
        if let Some(v2) = &leaves.v2
            && std::fs::write(v2.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        for dir in leaves.v2.iter().chain(&leaves.v1) {
            for pid in members(dir) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// Processes still in the run's cgroups.
    pub fn survivors(&self) -> Vec<i32> {
        let Some(leaves) = &self.cgroup else { return Vec::new() };
        let mut v: Vec<i32> = leaves.v2.iter().chain(&leaves.v1).flat_map(|d| members(d)).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Kills what is left, waits (bounded) for the leaves to empty and removes them.
    pub fn teardown(&self) {
        let Some(leaves) = &self.cgroup else { return };
        if self.torn_down.swap(true, Ordering::AcqRel) {
            return;
        }
        let start = Instant::now();
        let mut retries = 0u32;
        self.kill_all();
        let deadline = Instant::now() + Duration::from_millis(500);
        for dir in leaves.v2.iter().chain(&leaves.v1) {
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

impl Drop for Prepared {
    /// A run abandoned half-way (the host got SIGTERM, a panic unwound, the dispatch was
    /// cancelled) still kills everything the hook started and removes its cgroups.
    fn drop(&mut self) {
        self.teardown();
    }
}

fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Loads a precompiled component (native code) from the WebAssembly precompile cache.
///
/// Only `exec::wasm`'s cache calls this, for a file it has just checked: a regular file (not a
/// symlink), owned by this process's effective user and writable by nobody else, in a cache
/// directory owned by that user with no group or other permissions, whose ancestors are owned
/// by that user or root and writable by no one else (or sticky), and whose contents match the
/// sha256 recorded when hookhost itself wrote the entry.
pub(crate) fn deserialize_component(
    engine: &wasmtime::Engine,
    path: &Path,
) -> wasmtime::Result<wasmtime::component::Component> {
    // SAFETY: `deserialize_file` maps the file as executable code and trusts it to be what this
    // engine produced. The caller's ownership, permission and digest checks above mean only
    // this user's own hookhost can have written these bytes, and did so with
    // `Component::serialize` from an engine with the same compatibility hash (part of the file
    // name); wasmtime itself still rejects artifacts from another version or configuration.
    unsafe { wasmtime::component::Component::deserialize_file(engine, path) }
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
        let s = m.resolve(Some(&json!({"mode": "off", "allowWrite": ["/tmp/x"], "network": "host"}))).unwrap();
        assert_eq!(s.mode, Mode::BestEffort);
        assert_eq!(s.allow_read, ["/opt"]);
        assert_eq!(s.allow_write, ["/tmp/x"]);
        assert_eq!(s.network, Network::Host);
        let s = m.resolve(Some(&json!({"mode": "strict"}))).unwrap();
        assert_eq!(s.mode, Mode::Strict);
        assert!(m.resolve(Some(&json!({"mode": "loose"}))).is_err());
        assert!(m.resolve(Some(&json!({"disable": ["nope"]}))).is_err());
        assert!(m.resolve(Some(&json!({"bogus": 1}))).is_err());
    }

    #[test]
    fn pid_digits() {
        let mut fds = [0; 2];
        // SAFETY: a pipe for the test.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(write_pid(fds[1], 4_194_304));
        let mut buf = [0u8; 16];
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 16) };
        assert_eq!(&buf[..n as usize], b"4194304");
        // SAFETY: closing our fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn seccomp_programs_build() {
        assert_eq!(build_seccomp(Network::None).unwrap().len(), 2);
        assert_eq!(build_seccomp(Network::Host).unwrap().len(), 2);
    }
}
