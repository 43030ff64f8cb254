//! `hookhost doctor`: what the sandbox can enforce on this machine, proven in a throwaway child.
//!
//! It prints the machine's capabilities, then runs one probe process through the real sandbox
//! (the same `prepare` + `command::run` path every command hook takes) and checks each layer by
//! its effect from inside (`/proc/self/status`, namespaces, cgroup membership, a denied read of
//! `/etc/shadow`, …), next to what the run report claimed. Exit status: 0 when the configured
//! mode (and `HOOKHOST_SANDBOX_REQUIRE`) can be met, 2 when it cannot, 1 on error.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use crate::exec::command::{self, ProcessSpec};
use crate::exec::sandbox::{self, Layer, LayerStatus, Mode, RunInfo, SandboxSpec};

/// The probe: one `key=value` line per observation.
const PROBE: &str = r#"
s=/proc/self/status
echo "nnp=$(awk '/^NoNewPrivs/{print $2}' $s)"
echo "seccomp=$(awk '/^Seccomp:/{print $2}' $s)"
echo "capeff=$(awk '/^CapEff/{print $2}' $s)"
echo "capbnd=$(awk '/^CapBnd/{print $2}' $s)"
echo "netns=$(readlink /proc/self/ns/net)"
echo "sid=$(awk '{print $6}' /proc/self/stat) pid=$$"
echo "core=$(ulimit -c)"
echo "fds=$(ls /proc/self/fd | wc -l)"
echo "home=$HOME"
echo "home_mode=$(stat -c %a "$HOME")"
grep -E '^[0-9]+:(pids|memory|[^:]*,pids|[^:]*,memory)?:|^0::' /proc/self/cgroup | sed 's/^/cgroup=/'
if cat /etc/shadow >/dev/null 2>&1; then echo "shadow=readable"; else echo "shadow=denied"; fi
if ( : > /var/tmp/.hookhost-doctor-probe ) 2>/dev/null; then rm -f /var/tmp/.hookhost-doctor-probe; echo "write_outside=allowed"; else echo "write_outside=denied"; fi
if ( : > "$HOME/probe" ) 2>/dev/null; then echo "write_home=allowed"; else echo "write_home=denied"; fi
if (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; then echo "tcp=connected"; else echo "tcp=blocked"; fi
"#;

/// Runs the doctor; returns the exit code.
pub fn run(configured: Mode) -> u8 {
    let caps = sandbox::capabilities();
    println!("hookhost doctor: sandbox layers on this machine\n");
    println!(
        "  running as root: {}   Landlock ABI: {}   seccomp filters: {}",
        caps.root,
        caps.landlock_abi,
        if caps.seccomp { "yes" } else { "no" }
    );
    let cg = &caps.cgroups;
    println!(
        "  cgroups: v2 dir {}  (kill: {}, pids: {}, memory: {}); v1 pids {}; v1 memory {}",
        cg.v2_dir.as_ref().map_or("-".into(), |p| p.display().to_string()),
        cg.v2_kill,
        cg.v2_pids,
        cg.v2_memory,
        cg.v1_pids.as_ref().map_or("-".into(), |p| p.display().to_string()),
        cg.v1_memory.as_ref().map_or("-".into(), |p| p.display().to_string()),
    );
    if let Ok(m) = std::fs::read_to_string("/proc/mounts")
        && m.lines().any(|l| l.contains(" cgroup2 ") && !l.contains("favordynmods"))
        && (cg.v2_dir.is_some() || cg.v1_pids.is_some())
    {
        println!(
            "  note: cgroup2 is mounted without `favordynmods`: a migration into a cgroup waits for an RCU grace\n        period (milliseconds), so hooks are started inside their v2 leaf (clone3 CLONE_INTO_CGROUP) and\n        join v1 leaves by moving their own thread; only the daemon's warm pool migrates, ahead of events"
        );
    }
    let required = match sandbox::required_layers() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookhost doctor: {e}");
            return 1;
        }
    };
    println!(
        "  configured mode: {}{}\n",
        configured.as_str(),
        if required.is_empty() {
            String::new()
        } else {
            format!("; HOOKHOST_SANDBOX_REQUIRE={}", required.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(","))
        }
    );

    // One real sandboxed run, best effort so that the report lists every layer.
    let spec = SandboxSpec { mode: Mode::BestEffort, ..SandboxSpec::base(Mode::BestEffort) };
    let host_env: Vec<(OsString, OsString)> = vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())];
    let info = RunInfo { timeout: Duration::from_secs(10), project_dir: None, launch: None };
    let mut prepared = match sandbox::prepare_for_doctor(&spec, &info, &host_env) {
        Ok(p) => p,
        Err(r) => {
            eprintln!("hookhost doctor: {}", r.message);
            return 2;
        }
    };
    let report = prepared.report.clone();
    let pspec = ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), PROBE.into()],
        env: prepared.env.clone(),
        cwd: "/".into(),
        stdin: Arc::from(&b""[..]),
        timeout: Duration::from_secs(10),
        stdout_cap: command::STDOUT_CAP,
        stderr_cap: command::STDERR_CAP,
        grace: command::KILL_GRACE,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost doctor: {e}");
            return 1;
        }
    };
    let out = match rt.block_on(command::run(&pspec, &mut prepared)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hookhost doctor: the probe could not start in the sandbox: {e}");
            return 2;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            seen.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    let get = |k: &str| seen.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let host_netns = std::fs::read_link("/proc/self/ns/net").map(|p| p.display().to_string()).unwrap_or_default();
    let cgroups = seen.get("cgroup").cloned().unwrap_or_default();
    let in_leaf = |pat: &dyn Fn(&str) -> bool| cgroups.iter().any(|l| pat(l) && l.contains("hookhost-"));
    let sid_ok = {
        let v = get("sid");
        let mut it = v.split(" pid=");
        matches!((it.next(), it.next()), (Some(a), Some(b)) if a == b)
    };
    let verify = |layer: Layer| -> Option<(bool, String)> {
        Some(match layer {
            Layer::NoNewPrivs => (get("nnp") == "1", format!("NoNewPrivs {}", get("nnp"))),
            Layer::Seccomp => (get("seccomp") == "2", format!("Seccomp mode {}", get("seccomp"))),
            Layer::Capdrop => (
                get("capeff").trim_start_matches('0').is_empty() && get("capbnd").trim_start_matches('0').is_empty(),
                format!("CapEff {} CapBnd {}", get("capeff"), get("capbnd")),
            ),
            Layer::Netns => (!get("netns").is_empty() && get("netns") != host_netns, format!("netns {}", get("netns"))),
            Layer::Session => (sid_ok, "session leader".into()),
            Layer::Rlimits => (get("core") == "0", format!("core limit {}", get("core"))),
            Layer::Fds => (get("fds").trim().parse::<u32>().is_ok_and(|n| n <= 5), format!("{} open fds", get("fds"))),
            Layer::TempHome => (
                get("write_home") == "allowed" && get("home_mode") == "700",
                format!("HOME {} writable, mode {}", get("home"), get("home_mode")),
            ),
            Layer::Landlock => (
                get("write_outside") == "denied"
                    && (get("shadow") == "denied" || !std::path::Path::new("/etc/shadow").exists()),
                format!("/etc/shadow {}, write outside {}", get("shadow"), get("write_outside")),
            ),
            Layer::CgroupPids => (in_leaf(&|l: &str| l.contains("pids")), "member of a hookhost pids leaf".into()),
            Layer::CgroupMemory => {
                (in_leaf(&|l: &str| l.contains("memory")), "member of a hookhost memory leaf".into())
            }
            Layer::CgroupKill => (in_leaf(&|l: &str| l.starts_with("0::")), "member of a hookhost v2 leaf".into()),
            Layer::LandlockNet | Layer::LandlockScope | Layer::Env => return None,
        })
    };
    println!("  {:<15} {:<14} {:<10} detail", "layer", "report", "verified");
    let mut unmet = Vec::new();
    for (layer, status) in &report.layers {
        let v = verify(*layer);
        let verified = match &v {
            Some((true, _)) => "yes",
            Some((false, _)) => "NO",
            None => "-",
        };
        let detail = match (status, &v) {
            (LayerStatus::Enforced, Some((_, d))) => d.clone(),
            (s, _) => s.to_string(),
        };
        let holds = matches!(status, LayerStatus::Enforced | LayerStatus::Partial(_)) && !matches!(v, Some((false, _)));
        let label = match status {
            LayerStatus::Enforced => "enforced",
            LayerStatus::Partial(_) => "partial",
            LayerStatus::Unavailable(_) => "unavailable",
            LayerStatus::Disabled(_) => "disabled",
        };
        println!("  {:<15} {:<14} {:<10} {}", layer.as_str(), label, verified, detail);
        if !holds && (configured == Mode::Strict || required.contains(layer)) {
            unmet.push(layer.as_str());
        }
    }
    if out.timed_out || !prepared.survivors().is_empty() {
        unmet.push("teardown");
    }
    if unmet.is_empty() {
        println!("\nok: the configured mode ({}) can be met", configured.as_str());
        0
    } else {
        println!("\nNOT MET: {} cannot be enforced here: {}", configured.as_str(), unmet.join(", "));
        2
    }
}
