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

use serde_json::{Map, Value};

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
    ManagedSandbox::from_value(loaded.settings.extensions.get("sandbox"))
        .map_err(|e| format!("the managed `sandbox` settings of this machine are invalid: {e}"))
}

/// Raises `settings`' managed `sandbox` policy to `floor`: the higher of the two floors, and
/// `forbidOff` when either sets it. Everything else of `settings`' own `sandbox` object stays.
pub fn impose(settings: &mut Settings, floor: &ManagedSandbox) {
    // An own policy that cannot be used is never read as "no floor": strict, off forbidden.
    let own = settings.managed_sandbox().unwrap_or(ManagedSandbox {
        defaults: None,
        floor: Some(Mode::Strict),
        forbid_off: true,
    });
    let merged_floor: Option<Mode> = match (own.floor, floor.floor) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let forbid_off = own.forbid_off || floor.forbid_off;
    let mut obj: Map<String, Value> =
        settings.extensions.get("sandbox").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(f) = merged_floor {
        obj.insert("floor".into(), f.as_str().into());
    }
    if forbid_off {
        obj.insert("forbidOff".into(), true.into());
    }
    if !obj.is_empty() {
        settings.extensions.insert("sandbox".into(), Value::Object(obj));
    }
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

    #[test]
    fn the_floor_only_rises() {
        let spec = |s: &Settings, hook: Value| {
            ManagedSandbox::from_value(s.extensions.get("sandbox")).unwrap().resolve(Some(&hook)).unwrap().mode
        };
        let strict = ManagedSandbox { defaults: None, floor: Some(Mode::Strict), forbid_off: true };
        for own in [
            None,
            Some(serde_json::json!({"floor": "off"})),
            Some(serde_json::json!({"floor": "best_effort", "forbidOff": false, "allowRead": ["/opt"]})),
            Some(serde_json::json!({"mode": "off"})),
        ] {
            let mut s = Settings::default();
            if let Some(o) = &own {
                s.extensions.insert("sandbox".into(), o.clone());
            }
            impose(&mut s, &strict);
            assert_eq!(spec(&s, serde_json::json!({"mode": "off"})), Mode::Strict, "{own:?}");
            assert_eq!(spec(&s, serde_json::json!({})), Mode::Strict, "{own:?}");
        }
        // Grants of the settings' own object stay.
        let mut s = Settings::default();
        s.extensions.insert("sandbox".into(), serde_json::json!({"allowRead": ["/opt"], "floor": "strict"}));
        impose(&mut s, &ManagedSandbox::default());
        assert_eq!(s.extensions["sandbox"]["allowRead"], serde_json::json!(["/opt"]));
        assert_eq!(s.extensions["sandbox"]["floor"], "strict", "a higher own floor stays");
        // Forbidding off without a floor: at least best effort.
        let mut s = Settings::default();
        impose(&mut s, &ManagedSandbox { defaults: None, floor: None, forbid_off: true });
        assert_eq!(spec(&s, serde_json::json!({"mode": "off"})), Mode::BestEffort);
    }
}
