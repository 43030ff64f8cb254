//! The machine's managed sandbox floor, imposed on the hooks every tool runs.
//!
//! `dispatch` and `explain` run hooks under the managed settings of this machine, so the managed
//! `sandbox.floor` and `sandbox.forbidOff` hold there by construction. The tools that run hooks
//! under *other* settings — `hookhost test` (a test file's settings, in place of managed ones),
//! `hookhost demo` (the examples, as managed drop-ins in a temporary directory) and `hookhost
//! replay` (a candidate policy file) — take this machine's floor with [`machine_sandbox`] and
//! impose it with [`impose`]: their settings may raise it, never lower it. `replay` also forbids
//! `mode: "off"` whatever the machine says (a candidate under review always runs sandboxed).
//!
//! Promises: when the machine's managed settings cannot be read, the tools refuse to run hooks
//! (an error), rather than run them without the floor.

use crate::exec::sandbox::{ManagedSandbox, Mode};
use crate::settings::{Locations, Settings};

/// This machine's managed sandbox policy (endpoint-managed files, or the verified cached
/// server payload), as `dispatch` would apply it.
pub fn machine_sandbox() -> Result<ManagedSandbox, String> {
    let env = Locations::from_env(None, None, None);
    let managed_only = Locations { user_file: None, project_dir: None, cli_file: None, ..env };
    let loaded = crate::settings::load(&managed_only);
    if let Some(e) = loaded.managed_errors().next() {
        return Err(format!(
            "the managed settings of this machine are invalid, so their sandbox floor is unknown: {e}"
        ));
    }
    loaded
        .settings
        .managed_sandbox()
        .map_err(|e| format!("the managed `sandbox` settings of this machine are invalid: {e}"))
}

/// Raises `settings`' managed `sandbox` policy to `floor`: the higher of the two floors, and
/// `forbidOff` when either sets it. Everything else of `settings`' own policy stays. An own
/// policy that cannot be used stays unusable (no command hook runs): it is never read as "no
/// floor".
pub fn impose(settings: &mut Settings, floor: &ManagedSandbox) {
    let Ok(own) = &settings.sandbox.0 else { return };
    let merged_floor: Option<Mode> = match (own.floor, floor.floor) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let raised = ManagedSandbox {
        defaults: own.defaults.clone(),
        floor: merged_floor,
        forbid_off: own.forbid_off || floor.forbid_off,
    };
    settings.sandbox = crate::settings::ManagedSandboxPolicy(Ok(raised));
}

/// [`machine_sandbox`] with `mode: "off"` forbidden too (`hookhost replay`).
pub fn machine_sandbox_never_off() -> Result<ManagedSandbox, String> {
    let mut m = machine_sandbox()?;
    m.forbid_off = true;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    fn with_own(own: Option<&Value>) -> Settings {
        Settings {
            sandbox: crate::settings::ManagedSandboxPolicy(ManagedSandbox::from_value(own)),
            ..Settings::default()
        }
    }

    #[test]
    fn the_floor_only_rises() {
        let spec = |s: &Settings, hook: Value| {
            let hook = crate::sandbox_settings::SandboxOverrides::parse(&hook).unwrap();
            s.managed_sandbox().unwrap().resolve(Some(&hook)).mode
        };
        let strict = ManagedSandbox { defaults: None, floor: Some(Mode::Strict), forbid_off: true };
        for own in [
            None,
            Some(serde_json::json!({"floor": "off"})),
            Some(serde_json::json!({"floor": "best_effort", "forbidOff": false, "allowRead": ["/opt"]})),
            Some(serde_json::json!({"mode": "off"})),
        ] {
            let mut s = with_own(own.as_ref());
            impose(&mut s, &strict);
            assert_eq!(spec(&s, serde_json::json!({"mode": "off"})), Mode::Strict, "{own:?}");
            assert_eq!(spec(&s, serde_json::json!({})), Mode::Strict, "{own:?}");
        }
        // Grants of the settings' own object stay.
        let mut s = with_own(Some(&serde_json::json!({"allowRead": ["/opt"], "floor": "strict"})));
        impose(&mut s, &ManagedSandbox::default());
        let m = s.managed_sandbox().unwrap();
        assert_eq!(m.defaults.as_ref().unwrap().allow_read, ["/opt"]);
        assert_eq!(m.floor, Some(Mode::Strict), "a higher own floor stays");
        // Forbidding off without a floor: at least best effort.
        let mut s = Settings::default();
        impose(&mut s, &ManagedSandbox { defaults: None, floor: None, forbid_off: true });
        assert_eq!(spec(&s, serde_json::json!({"mode": "off"})), Mode::BestEffort);
        // An own policy that cannot be used stays unusable (never "no floor").
        let mut s = with_own(Some(&serde_json::json!({"floor": "nonsense"})));
        impose(&mut s, &ManagedSandbox::default());
        assert!(s.managed_sandbox().is_err());
    }
}
