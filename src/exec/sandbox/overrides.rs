//! Applies a parsed `sandbox` object (`crate::sandbox_settings::SandboxOverrides`) to a spec.

use crate::sandbox_settings::SandboxOverrides;

use super::SandboxSpec;

impl SandboxOverrides {
    /// `spec` with this object applied on top (lists extend, scalars replace).
    pub fn apply_to(&self, mut spec: SandboxSpec) -> SandboxSpec {
        if let Some(m) = self.mode {
            spec.mode = m;
        }
        spec.allow_read.extend(self.allow_read.iter().cloned());
        spec.allow_write.extend(self.allow_write.iter().cloned());
        if let Some(n) = self.network {
            spec.network = n;
        }
        spec.env.extend(self.env.iter().cloned());
        if let Some(n) = self.memory_mb {
            spec.memory_mb = n;
        }
        if let Some(n) = self.pids {
            spec.pids = n;
        }
        if let Some(n) = self.cpu_seconds {
            spec.cpu_seconds = Some(n);
        }
        spec.disable.extend(self.disable.iter().copied());
        spec
    }
}

#[cfg(test)]
mod tests {
    //! The typed resolution (parsed once at load, applied per revision) against the old per-run
    //! resolution of raw JSON (kept here, verbatim, as the oracle), over a generated corpus of
    //! managed and hook `sandbox` objects: every key hookhost knows and some it does not, each
    //! with values of every JSON type, in and out of range. Both paths are checked: the
    //! functions alone, and a managed settings file through the settings parser and assembly.

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::super::{
        Layer, MAX_SANDBOX_CPU_SECONDS, MAX_SANDBOX_MEMORY_MB, MAX_SANDBOX_PIDS, ManagedSandbox, Mode, Network,
        SandboxSpec,
    };
    use crate::sandbox_settings::SandboxOverrides;

    /// The old `SandboxSpec::apply`, verbatim.
    fn old_apply(mut spec: SandboxSpec, v: &Value) -> Result<SandboxSpec, String> {
        let obj = v.as_object().ok_or("`sandbox` must be an object")?;
        for (k, x) in obj {
            let strings = |x: &Value| -> Result<Vec<String>, String> {
                x.as_array()
                    .ok_or(format!("`sandbox.{k}` must be an array of strings"))?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or(format!("`sandbox.{k}` must be an array of strings")))
                    .collect()
            };
            let ranged = |x: &Value, hi: u64| {
                x.as_u64()
                    .filter(|n| (1..=hi).contains(n))
                    .ok_or(format!("`sandbox.{k}` must be a whole number from 1 to {hi}"))
            };
            match k.as_str() {
                "mode" => {
                    spec.mode = x
                        .as_str()
                        .and_then(Mode::parse)
                        .ok_or("`sandbox.mode` must be \"strict\", \"best_effort\" or \"off\"")?
                }
                "allowRead" => spec.allow_read.extend(strings(x)?),
                "allowWrite" => spec.allow_write.extend(strings(x)?),
                "network" => {
                    spec.network = match x.as_str() {
                        Some("none") => Network::None,
                        Some("host") => Network::Host,
                        _ => return Err("`sandbox.network` must be \"none\" or \"host\"".into()),
                    }
                }
                "env" => spec.env.extend(strings(x)?),
                "memoryMb" => spec.memory_mb = ranged(x, MAX_SANDBOX_MEMORY_MB)?,
                "pids" => spec.pids = ranged(x, MAX_SANDBOX_PIDS)?,
                "cpuSeconds" => spec.cpu_seconds = Some(ranged(x, MAX_SANDBOX_CPU_SECONDS)?),
                "disable" => {
                    for s in strings(x)? {
                        spec.disable.push(Layer::parse(&s).ok_or(format!("unknown sandbox layer {s:?}"))?);
                    }
                }
                "forbidOff" | "floor" => {}
                other => return Err(format!("unknown field `{other}` in `sandbox`")),
            }
        }
        Ok(spec)
    }

    /// The old `ManagedSandbox` (defaults kept as raw JSON).
    struct OldManaged {
        defaults: Option<Value>,
        floor: Option<Mode>,
        forbid_off: bool,
    }

    /// The old `ManagedSandbox::from_value`, verbatim.
    fn old_from_value(v: Option<&Value>) -> Result<OldManaged, String> {
        let Some(v) = v else { return Ok(OldManaged { defaults: None, floor: None, forbid_off: false }) };
        old_apply(SandboxSpec::base(Mode::Strict), v)?;
        let floor = match v.get("floor") {
            None => None,
            Some(f) => Some(f.as_str().and_then(Mode::parse).ok_or("`sandbox.floor` must be a mode")?),
        };
        let forbid_off =
            v.get("forbidOff").map(|b| b.as_bool().ok_or("`sandbox.forbidOff` must be a boolean")).transpose()?;
        Ok(OldManaged { defaults: Some(v.clone()), floor, forbid_off: forbid_off.unwrap_or(false) })
    }

    /// The old per-run `ManagedSandbox::resolve`, verbatim.
    fn old_resolve(m: &OldManaged, hook: Option<&Value>) -> Result<SandboxSpec, String> {
        let explicit = |v: Option<&Value>| v.and_then(|v| v.get("mode")).is_some();
        let mut spec = if explicit(m.defaults.as_ref()) || explicit(hook) {
            SandboxSpec::base(Mode::Strict)
        } else {
            SandboxSpec::default()
        };
        if let Some(d) = &m.defaults {
            spec = old_apply(spec, d)?;
        }
        if let Some(h) = hook {
            spec = old_apply(spec, h)?;
        }
        if m.forbid_off && spec.mode == Mode::Off {
            spec.mode = m.floor.unwrap_or(Mode::BestEffort).max(Mode::BestEffort);
        }
        if let Some(f) = m.floor {
            spec.mode = spec.mode.max(f);
        }
        Ok(spec)
    }

    /// What the old code gave: the managed policy's error, else the hook's spec or error.
    fn oracle(managed: Option<&Value>, hook: Option<&Value>) -> Result<Result<SandboxSpec, String>, String> {
        let m = old_from_value(managed)?;
        Ok(old_resolve(&m, hook))
    }

    /// The same through the typed path: parsed once, resolved without JSON.
    fn typed(managed: Option<&Value>, hook: Option<&Value>) -> Result<Result<SandboxSpec, String>, String> {
        let m = ManagedSandbox::from_value(managed)?;
        Ok(hook.map(SandboxOverrides::parse).transpose().map(|h| m.resolve(h.as_ref())))
    }

    fn value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(json!(null)),
            Just(json!(true)),
            Just(json!(false)),
            Just(json!(0)),
            Just(json!(1)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!(512)),
            Just(json!(MAX_SANDBOX_MEMORY_MB)),
            Just(json!(MAX_SANDBOX_MEMORY_MB + 1)),
            Just(json!(MAX_SANDBOX_PIDS)),
            Just(json!(MAX_SANDBOX_PIDS + 1)),
            Just(json!(MAX_SANDBOX_CPU_SECONDS)),
            Just(json!(MAX_SANDBOX_CPU_SECONDS + 1)),
            Just(json!(u64::MAX)),
            Just(json!(1e300)),
            Just(json!("strict")),
            Just(json!("best_effort")),
            Just(json!("off")),
            Just(json!("none")),
            Just(json!("host")),
            Just(json!("loose")),
            Just(json!("")),
            Just(json!("/opt")),
            Just(json!({})),
            Just(json!({"mode": "off"})),
        ];
        let list = prop_oneof![
            Just(json!([])),
            Just(json!(["/opt", "/srv"])),
            Just(json!(["HOME", "LANG"])),
            Just(json!(["landlock"])),
            Just(json!(["netns", "seccomp", "cgroup_pids"])),
            Just(json!(["nope"])),
            Just(json!(["landlock", 3])),
            Just(json!([null])),
        ];
        prop_oneof![3 => scalar, 1 => list]
    }

    fn object() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("mode"),
            Just("allowRead"),
            Just("allowWrite"),
            Just("network"),
            Just("env"),
            Just("memoryMb"),
            Just("pids"),
            Just("cpuSeconds"),
            Just("disable"),
            Just("floor"),
            Just("forbidOff"),
            Just("bogus"),
        ];
        proptest::collection::vec((key, value()), 0..6).prop_map(|fields| {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
    }

    /// A sandbox object, often valid: the valid values of each key are weighted up.
    fn mostly_valid() -> impl Strategy<Value = Value> {
        let field = prop_oneof![
            prop_oneof![Just("strict"), Just("best_effort"), Just("off")].prop_map(|m| ("mode", json!(m))),
            prop_oneof![Just("strict"), Just("best_effort"), Just("off")].prop_map(|m| ("floor", json!(m))),
            any::<bool>().prop_map(|b| ("forbidOff", json!(b))),
            prop_oneof![Just("none"), Just("host")].prop_map(|n| ("network", json!(n))),
            (1..=MAX_SANDBOX_MEMORY_MB).prop_map(|n| ("memoryMb", json!(n))),
            (1..=MAX_SANDBOX_PIDS).prop_map(|n| ("pids", json!(n))),
            (1..=MAX_SANDBOX_CPU_SECONDS).prop_map(|n| ("cpuSeconds", json!(n))),
            Just(("allowRead", json!(["/opt"]))),
            Just(("allowWrite", json!(["/tmp/x"]))),
            Just(("env", json!(["LANG"]))),
            proptest::sample::subsequence(Layer::optional(), 0..4)
                .prop_map(|ls| ("disable", json!(ls.iter().map(|l| l.as_str()).collect::<Vec<_>>()))),
        ];
        proptest::collection::vec(field, 0..6).prop_map(|fields| {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
    }

    fn sandbox_object() -> impl Strategy<Value = Value> {
        prop_oneof![2 => mostly_valid(), 1 => object(), 1 => value()]
    }

    /// A managed settings file with `managed` as its `sandbox` and one hook with `hook`.
    fn managed_file(managed: Option<&Value>, hook: Option<&Value>) -> String {
        let mut h = json!({"type": "command", "command": "true"});
        if let Some(v) = hook {
            h["sandbox"] = v.clone();
        }
        let mut file = json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [h]}]}});
        if let Some(v) = managed {
            file["sandbox"] = v.clone();
        }
        serde_json::to_string_pretty(&file).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The typed resolution is the old one: the same spec, or the same error.
        #[test]
        fn typed_resolution_is_the_old_per_run_resolution(
            managed in proptest::option::of(sandbox_object()),
            hook in proptest::option::of(sandbox_object()),
        ) {
            prop_assert_eq!(typed(managed.as_ref(), hook.as_ref()), oracle(managed.as_ref(), hook.as_ref()));
        }

        /// Through the settings parser and assembly: the file loads exactly when the old code
        /// accepted both objects, and the revision's hook gets the spec the old code resolved
        /// at each run (a `null` hook `sandbox` is no object, as before).
        #[test]
        fn loaded_settings_resolve_as_the_old_code_did(
            managed in proptest::option::of(sandbox_object()),
            hook in proptest::option::of(sandbox_object()),
        ) {
            let text = managed_file(managed.as_ref(), hook.as_ref());
            let path = std::path::Path::new("/etc/hookhost/managed-settings.json");
            let parsed = crate::settings::file::parse_bytes(text.as_bytes(), path, crate::settings::Scope::Managed);
            let hook_value = hook.as_ref().filter(|v| !v.is_null());
            let hook_ok = hook_value.is_none_or(Value::is_object) && oracle(None, hook_value).is_ok_and(|r| r.is_ok());
            let managed_ok = managed.as_ref().is_none_or(|m| old_from_value(Some(m)).is_ok());
            match parsed {
                Err(e) => {
                    prop_assert!(!(hook_ok && managed_ok), "rejected a file the old code accepted: {}", e);
                    prop_assert!(e.location.line >= 1 && e.location.column >= 1);
                }
                Ok(file) => {
                    prop_assert!(hook_ok && managed_ok, "accepted a file the old code rejected: {}", text);
                    let settings = crate::settings::resolve(vec![file]);
                    let m = settings.managed_sandbox();
                    prop_assert!(m.is_ok());
                    let spec = m.unwrap().resolve(settings.hooks[0].sandbox.as_ref());
                    prop_assert_eq!(Ok(Ok(spec)), oracle(managed.as_ref(), hook_value));
                }
            }
        }
    }
}
