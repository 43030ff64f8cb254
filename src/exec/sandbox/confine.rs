//! Confines the calling process for good: used by hookhost's own `__compile-wasm` child, which
//! turns a component's bytes (chosen by a settings file, possibly a project's) into native code
//! with Cranelift, and needs nothing but the descriptors it already holds (the component on
//! stdin, the artifact to stdout, errors to stderr).
//!
//! Promises, once [`confine_self`] returned `Ok`: no new privileges; every capability dropped
//! (when running as root); no file system access at all through Landlock (no path can be opened,
//! created, executed or removed), no TCP bind or connect (Landlock ABI ≥ 4), no signals to or
//! abstract sockets of processes outside (ABI ≥ 6); and the hooks' seccomp deny-list with no
//! network (design/sandbox.md §4.2). A layer the machine lacks is reported in the returned list,
//! never silently assumed. A layer that is available but cannot be applied is an `Err`: the
//! caller does not compile (the hook then fails to load, under its failure policy).

use landlock::{ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, Scope};

use super::{Network, probe, seccomp};

/// Applies every layer this machine has to the calling process and its future threads (call it
/// before any thread is started). Returns the layers it could not apply because the machine
/// lacks them.
pub fn confine_self() -> Result<Vec<&'static str>, String> {
    let caps = probe::capabilities();
    let mut missing = Vec::new();
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    if caps.root {
        super::child::drop_capabilities(caps.cap_last_cap).map_err(|e| format!("dropping capabilities: {e}"))?;
    }
    if caps.landlock_abi >= 1 {
        let abi = ABI::from(caps.landlock_abi);
        let e = |e: landlock::RulesetError| format!("landlock: {e}");
        let mut rs = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))
            .map_err(e)?;
        if caps.landlock_abi >= 4 {
            rs = rs.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(e)?;
        }
        if caps.landlock_abi >= 6 {
            rs = rs.scope(Scope::AbstractUnixSocket | Scope::Signal).map_err(e)?;
        }
        // No rule: nothing beneath any path is granted.
        rs.create().map_err(e)?.restrict_self().map_err(e)?;
        // The ruleset took: the root directory cannot be opened any more.
        if std::fs::read_dir("/").is_ok() {
            return Err("landlock: the ruleset was applied but `/` can still be read".into());
        }
    } else {
        missing.push("landlock");
    }
    if caps.seccomp {
        let program = seccomp::program(Network::None)?;
        seccompiler::apply_filter(program).map_err(|e| format!("seccomp: {e}"))?;
    } else {
        missing.push("seccomp");
    }
    Ok(missing)
}
