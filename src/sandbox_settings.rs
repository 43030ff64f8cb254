//! The words of hookhost's sandbox settings, parsed once into validated types: `Mode`,
//! `Network`, `Layer`, the range limits, and `SandboxOverrides` (what one `sandbox` object of a
//! hook, or of managed settings, sets).
//!
//! A leaf (imports nothing of ours), so the settings parser and `Hook` hold typed sandbox
//! settings without depending on the executor; `exec::sandbox` re-exports these names and
//! applies them (`SandboxOverrides::apply_to`). Promises: parsing happens at load (the settings
//! parser locates its errors at file:line:column); a parsed object applies without failing
//! and without touching JSON, so a run never re-reads settings; the first error reported is
//! that of the first offending key in written order.

use serde_json::Value;

/// How hard the sandbox insists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The layers that are on unless unavailable or disabled by configuration (`ALL` minus the
    /// always-on ones), in `ALL`'s order.
    pub fn optional() -> Vec<Layer> {
        Layer::ALL.into_iter().filter(|l| !l.always_on()).collect()
    }

    /// Layers a hook cannot run without, whatever the mode.
    pub fn always_on(self) -> bool {
        matches!(self, Layer::Session | Layer::Env | Layer::TempHome | Layer::Fds | Layer::Rlimits | Layer::NoNewPrivs)
    }
}

/// Network access of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    None,
    Host,
}

/// The largest `sandbox.memoryMb` (1 TiB).
pub const MAX_SANDBOX_MEMORY_MB: u64 = 1 << 20;
/// The largest `sandbox.pids` (the kernel's `pid_max` ceiling).
pub const MAX_SANDBOX_PIDS: u64 = 4_194_304;
/// The largest `sandbox.cpuSeconds` (a day, the longest hook `timeout`).
pub const MAX_SANDBOX_CPU_SECONDS: u64 = 86_400;

/// What one `sandbox` object sets (`None` / empty: left as the layer below has it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxOverrides {
    pub mode: Option<Mode>,
    pub allow_read: Vec<String>,
    pub allow_write: Vec<String>,
    pub network: Option<Network>,
    pub env: Vec<String>,
    /// 1 ..= `MAX_SANDBOX_MEMORY_MB`.
    pub memory_mb: Option<u64>,
    /// 1 ..= `MAX_SANDBOX_PIDS`.
    pub pids: Option<u64>,
    /// 1 ..= `MAX_SANDBOX_CPU_SECONDS`.
    pub cpu_seconds: Option<u64>,
    pub disable: Vec<Layer>,
}

impl SandboxOverrides {
    /// Parses a `sandbox` object. Errors are settings errors (the caller locates them).
    pub fn parse(v: &Value) -> Result<SandboxOverrides, String> {
        let obj = v.as_object().ok_or("`sandbox` must be an object")?;
        let mut o = SandboxOverrides::default();
        for (k, x) in obj {
            let strings = |x: &Value| -> Result<Vec<String>, String> {
                x.as_array()
                    .ok_or(format!("`sandbox.{k}` must be an array of strings"))?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or(format!("`sandbox.{k}` must be an array of strings")))
                    .collect()
            };
            // Checked ranges: the limits are multiplied and written to cgroup files and rlimits.
            let ranged = |x: &Value, hi: u64| {
                x.as_u64()
                    .filter(|n| (1..=hi).contains(n))
                    .ok_or(format!("`sandbox.{k}` must be a whole number from 1 to {hi}"))
            };
            match k.as_str() {
                "mode" => {
                    o.mode = Some(
                        x.as_str()
                            .and_then(Mode::parse)
                            .ok_or("`sandbox.mode` must be \"strict\", \"best_effort\" or \"off\"")?,
                    )
                }
                "allowRead" => o.allow_read.extend(strings(x)?),
                "allowWrite" => o.allow_write.extend(strings(x)?),
                "network" => {
                    o.network = Some(match x.as_str() {
                        Some("none") => Network::None,
                        Some("host") => Network::Host,
                        _ => return Err("`sandbox.network` must be \"none\" or \"host\"".into()),
                    })
                }
                "env" => o.env.extend(strings(x)?),
                "memoryMb" => o.memory_mb = Some(ranged(x, MAX_SANDBOX_MEMORY_MB)?),
                "pids" => o.pids = Some(ranged(x, MAX_SANDBOX_PIDS)?),
                "cpuSeconds" => o.cpu_seconds = Some(ranged(x, MAX_SANDBOX_CPU_SECONDS)?),
                "disable" => {
                    for s in strings(x)? {
                        o.disable.push(Layer::parse(&s).ok_or(format!("unknown sandbox layer {s:?}"))?);
                    }
                }
                // Managed-only policy keys, read by `ManagedSandbox` (ignored in a hook's object).
                "forbidOff" | "floor" => {}
                other => return Err(format!("unknown field `{other}` in `sandbox`")),
            }
        }
        Ok(o)
    }
}
