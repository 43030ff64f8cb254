//! Every typed option kept past load rejects out-of-range and mistyped values at load, with
//! an error located at file:line:column (the `settings::locate` machinery): a hook's
//! `sandbox` (`SandboxOverrides`), the managed `sandbox` policy (`ManagedSandbox`),
//! `remoteSettings` (`RemoteConfig`), `forceRemoteSettingsRefresh`, `audit` and the rollback
//! options. Each case writes the offending value at a marked place (`⟪`), which the error must
//! name.

use std::path::Path;

use super::Scope;
use super::file::parse_bytes;
use crate::sandbox_settings::{MAX_SANDBOX_CPU_SECONDS, MAX_SANDBOX_MEMORY_MB, MAX_SANDBOX_PIDS};

/// (label, managed settings text with `⟪` where the error is located, words of the message)
fn cases() -> Vec<(String, String, &'static str)> {
    let hook = |sandbox: &str| {
        format!(
            "{{\n  \"hooks\": {{\"PreToolUse\": [{{\"matcher\": \"*\", \"hooks\": [\n    {{\"type\": \"command\", \"command\": \"true\",\n      \"sandbox\": ⟪{sandbox}}}\n  ]}}]}}\n}}"
        )
    };
    let managed = |sandbox: &str| format!("{{\n  \"failClosed\": [\"Stop\"],\n  \"sandbox\": ⟪{sandbox}\n}}");
    let remote = |field: &str, v: &str| {
        format!("{{\n  \"remoteSettings\": {{\"url\": \"https://127.0.0.1:9/s\",\n    \"{field}\": ⟪{v}}}\n}}")
    };
    let mut v = Vec::new();
    for (field, hi) in
        [("memoryMb", MAX_SANDBOX_MEMORY_MB), ("pids", MAX_SANDBOX_PIDS), ("cpuSeconds", MAX_SANDBOX_CPU_SECONDS)]
    {
        for bad in ["0".to_string(), (hi + 1).to_string(), "-1".into(), "1.5".into(), "\"8\"".into()] {
            let msg = "must be a whole number from 1 to";
            v.push((format!("hook sandbox.{field} {bad}"), hook(&format!("{{\"{field}\": {bad}}}")), msg));
            v.push((format!("managed sandbox.{field} {bad}"), managed(&format!("{{\"{field}\": {bad}}}")), msg));
        }
    }
    for (obj, msg) in [
        (r#"{"mode": "loose"}"#, "`sandbox.mode` must be"),
        (r#"{"network": "lan"}"#, "`sandbox.network` must be"),
        (r#"{"disable": ["nope"]}"#, "unknown sandbox layer"),
        (r#"{"allowRead": "/opt"}"#, "must be an array of strings"),
        (r#"{"env": [1]}"#, "must be an array of strings"),
        (r#"{"bogus": 1}"#, "unknown field `bogus`"),
    ] {
        v.push((format!("hook sandbox {obj}"), hook(obj), msg));
        v.push((format!("managed sandbox {obj}"), managed(obj), msg));
    }
    v.push(("managed sandbox.floor".into(), managed(r#"{"floor": "nonsense"}"#), "`sandbox.floor` must be a mode"));
    v.push(("managed sandbox.forbidOff".into(), managed(r#"{"forbidOff": "yes"}"#), "must be a boolean"));
    v.push(("hook sandbox not an object".into(), hook("[]"), "`sandbox` must be an object"));
    for (field, bad, msg) in [
        ("pollSeconds", "0", "pollSeconds` must be an integer from 1 to"),
        ("pollSeconds", "604801", "pollSeconds` must be an integer from 1 to"),
        ("timeoutSeconds", "0", "timeoutSeconds` must be a number from 0.001 to 300"),
        ("timeoutSeconds", "301", "timeoutSeconds` must be a number from 0.001 to 300"),
        ("retries", "11", "retries` must be an integer 0..=10"),
        ("retries", "-1", "retries` must be an integer 0..=10"),
    ] {
        v.push((format!("remoteSettings.{field} {bad}"), remote(field, bad), msg));
    }
    v.push((
        "forceRemoteSettingsRefresh".into(),
        "{\n  \"forceRemoteSettingsRefresh\": ⟪\"yes\"\n}".into(),
        "expected true or false",
    ));
    for (field, bad) in [("maxBytes", "0"), ("maxRecordBytes", "0"), ("maxBytes", "1e300")] {
        v.push((
            format!("audit.{field} {bad}"),
            format!("{{\n  \"audit\": {{\"enabled\": true,\n    \"{field}\": ⟪{bad}}}\n}}"),
            "must be a whole number from",
        ));
    }
    for (field, bad) in [("rollbackSnapshotTtlSeconds", "0"), ("rollbackMaxFileBytes", "0")] {
        v.push((
            format!("hookhost.{field} {bad}"),
            format!("{{\n  \"hookhost\": {{\n    \"{field}\": ⟪{bad}}}\n}}"),
            "must be a whole number from 1 to",
        ));
    }
    v
}

#[test]
fn out_of_range_typed_options_are_rejected_at_load_with_a_located_error() {
    let cases = cases();
    assert!(cases.len() >= 50, "{}", cases.len());
    for (label, marked, words) in cases {
        let (before, _) = marked.split_once('⟪').unwrap();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
        let text = marked.replace('⟪', "");
        let e = match parse_bytes(text.as_bytes(), Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed) {
            Ok(_) => panic!("{label}: accepted\n{text}"),
            Err(e) => e,
        };
        assert!(e.managed, "{label}: {e}");
        assert!(e.message.contains(words), "{label}: {e}");
        assert_eq!((e.location.line, e.location.column), (line, column), "{label}: {e}\n{text}");
        assert!(e.to_string().starts_with(&format!("/etc/hookhost/managed-settings.json:{line}:{column}")), "{e}");
    }
}

/// The managed floor is a typed field of the revision: a policy that cannot be used is an
/// `Err` there (never the defaults), and a usable one survives assembly exactly.
#[test]
fn the_managed_floor_is_typed_on_the_revision_and_never_defaulted() {
    let path = Path::new("/etc/hookhost/managed-settings.json");
    let text = r#"{"sandbox": {"floor": "strict", "forbidOff": true, "allowRead": ["/opt"]}}"#;
    let file = parse_bytes(text.as_bytes(), path, Scope::Managed).unwrap();
    let s = super::resolve(vec![file]);
    let m = s.managed_sandbox().unwrap();
    assert_eq!(m.floor, Some(crate::exec::sandbox::Mode::Strict));
    assert!(m.forbid_off);
    assert_eq!(m.defaults.as_ref().unwrap().allow_read, ["/opt"]);
    assert!(!s.extensions.contains_key("sandbox"), "the raw object is not kept on the revision");
    // Broken after parsing (as a future merge rule might): an error, not the defaults.
    let mut file = parse_bytes(text.as_bytes(), path, Scope::Managed).unwrap();
    file.extensions.insert("sandbox".into(), serde_json::json!({"floor": 7}));
    let s = super::resolve(vec![file]);
    assert_eq!(s.managed_sandbox(), Err("`sandbox.floor` must be a mode".to_string()));
}
