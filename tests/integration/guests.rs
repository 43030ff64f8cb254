//! Guests in every language, each built by its own `build.sh` with its language's stock
//! toolchain (cargo, componentize-py, componentize-js), as a hook author builds them:
//!
//! - capability probes in Rust, Python and JavaScript (`tests/guests/`) get an error for every
//!   file, environment variable, argument, socket and process they reach for, and never the
//!   host's data (a canary file's content, a secret in hookhost's environment), and a loopback
//!   listener receives nothing;
//! - components built against world 0.1.0 and 0.2.0 both load and decide;
//! - the Python and JavaScript examples pass their `tests.json`, and one policy written in
//!   Rust, Python and JavaScript decides a corpus of commands identically, and on the same
//!   `tool_input` as hookhost's own parse where a payload repeats or escapes a key.
//!
//! A guest is rebuilt only when its sources (its directory, its language's SDK, `wit/`, the
//! shared test corpora) changed since its last build (a stamp under `CARGO_TARGET_TMPDIR`). The
//! large Python and JavaScript components are compiled once into a precompile cache shared by
//! test runs (`CARGO_TARGET_TMPDIR/guest-wasm-cache`). Without a toolchain (no `python3` or
//! `node`, or no wasm32-wasip2 target) a test is skipped with a message, except under CI (`CI`
//! set), where it fails.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hookhost::decision::{HookResult, Permission};
use hookhost::event::HookEvent;
use hookhost::exec::wasm::{Allocator, GuestEvent, WasmOptions, WasmRun, WasmRuntime};
use sha2::{Digest, Sha256};

use super::support::{Env, bash_event, hook_settings, repo, run};

fn tmpdir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The precompile cache shared by test runs: `XDG_CACHE_HOME` for `hookhost` children, the
/// cache directory of in-process runtimes.
fn shared_cache_home() -> PathBuf {
    let d = tmpdir().join("guest-wasm-cache");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    d
}

fn runtime(allocator: Allocator) -> WasmRuntime {
    let cache = shared_cache_home().join("hookhost/wasm");
    WasmRuntime::new(WasmOptions { cache_dir: Some(cache), allocator, ..WasmOptions::from_env() }).unwrap()
}

/// Files under `dir` that go into a build (build outputs and caches left out), sorted.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "build" | "target" | "node_modules" | "__pycache__") {
            continue;
        }
        if p.is_dir() {
            sources(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn stamp_of(dirs: &[&str]) -> String {
    let mut files = Vec::new();
    for d in dirs {
        sources(&repo().join(d), &mut files);
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    format!("{:x}", h.finalize())
}

/// What a guest needs to build, by the directory it lives in.
fn toolchain(dir: &str) -> (&'static str, bool) {
    if dir.contains("python") {
        ("python3", which("python3"))
    } else if dir.contains("js") {
        ("node and npm", which("node") && which("npm"))
    } else {
        let sysroot = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().ok();
        let sysroot = sysroot.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())).unwrap_or_default();
        (
            "the wasm32-wasip2 target (rustup target add wasm32-wasip2)",
            sysroot.join("lib/rustlib/wasm32-wasip2").is_dir(),
        )
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Builds the guest in `dir` (relative to the repository) with its `build.sh` unless it is up
/// to date, and returns what `build.sh` printed last (the component, or for `tests/guests/rust`
/// the directory of components). `None` when the toolchain is missing outside CI.
fn build(dir: &'static str) -> Option<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, Option<PathBuf>>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(dir) {
        return p.clone();
    }
    let (needs, present) = toolchain(dir);
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must build {dir}, but {needs} is missing");
        eprintln!("SKIPPED: {needs} is missing; the {dir} guest was not built and its tests did not run");
        built.insert(dir, None);
        return None;
    }
    let lang_sdk = if dir.contains("python") {
        "sdk/python"
    } else if dir.contains("js") {
        "sdk/js"
    } else {
        "sdk/rust"
    };
    let stamp = stamp_of(&[dir, lang_sdk, "wit", "sdk/testdata"]);
    let stamp_file = tmpdir().join("guest-stamps").join(dir.replace('/', "_"));
    if let Some((old, path)) = std::fs::read_to_string(&stamp_file).ok().as_deref().and_then(|s| s.split_once('\n'))
        && old == stamp
        && Path::new(path).exists()
    {
        let p = PathBuf::from(path);
        built.insert(dir, Some(p.clone()));
        return Some(p);
    }
    let out = std::process::Command::new(repo().join(dir).join("build.sh"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run build.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{dir}/build.sh failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let path = PathBuf::from(stdout.lines().last().expect("build.sh printed nothing").trim());
    assert!(path.exists(), "{dir}/build.sh printed {}, which does not exist", path.display());
    std::fs::create_dir_all(stamp_file.parent().unwrap()).unwrap();
    std::fs::write(&stamp_file, format!("{stamp}\n{}", path.display())).unwrap();
    built.insert(dir, Some(path.clone()));
    Some(path)
}

fn run_of(component: &Path) -> WasmRun {
    WasmRun {
        label: format!("[wasm {}]", component.display()),
        component: component.to_path_buf(),
        sha256: None,
        timeout: Duration::from_secs(60),
        memory_mb: None,
        fuel: None,
    }
}

fn reason_of(result: HookResult) -> String {
    match result {
        HookResult::Decided(d) => {
            assert_eq!(d.permission, Some(Permission::Deny), "{d:?}");
            d.reason.unwrap_or_default()
        }
        other => panic!("expected a decision, got {other:?}"),
    }
}

/// The probe's reports: `name` → `ok:…` or `err:…`.
fn reports(reason: &str) -> HashMap<String, String> {
    reason.split(' ').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Runs a capability probe through `hookhost dispatch` with a secret in hookhost's environment,
/// a canary file the host can read and a loopback TCP listener and UDP socket; checks that
/// nothing of them reached the guest, and returns its reports.
fn probe_through_dispatch(component: &Path) -> HashMap<String, String> {
    let env = Env::new();
    let secret = format!("SECRET-{}", std::process::id());
    let canary_text = format!("CANARY-{:x}", Sha256::digest(component.to_string_lossy().as_bytes()));
    let canary = env.path().join("canary.txt");
    std::fs::write(&canary, &canary_text).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port();
    let udp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    udp.set_nonblocking(true).unwrap();
    env.write(
        "managed.d/10-wasm.json",
        &hook_settings(
            "PreToolUse",
            "*",
            serde_json::json!([{"type": "wasm", "component": component, "timeout": 120, "memoryMb": 256}]),
        ),
    );
    let mut event: serde_json::Value = serde_json::from_slice(&bash_event("ls")).unwrap();
    event["canary_file"] = canary.to_string_lossy().into();
    event["port"] = port.into();
    event["agent"] = serde_json::json!({"name": "codex", "version": "0.9"});
    let mut cmd = env.command(&["dispatch"]);
    cmd.env("HOOKHOST_CANARY", &secret).env("XDG_CACHE_HOME", shared_cache_home()).env("RUST_LOG", "hookhost=info");
    let out = run(cmd, &serde_json::to_vec(&event).unwrap());
    assert_eq!(out.code, 0, "{out:?}");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(&canary_text) && !text.contains(&secret), "host data reached the guest: {out:?}");
    }
    assert_eq!(tcp.accept().map(|_| ()).unwrap_err().kind(), ErrorKind::WouldBlock, "the guest connected");
    assert_eq!(udp.recv(&mut [0; 16]).unwrap_err().kind(), ErrorKind::WouldBlock, "the guest sent a datagram");
    let reason = out.json()["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap_or_default().to_string();
    let r = reports(&reason);
    assert!(r.len() >= 8, "{reason}");
    r
}

fn assert_err(r: &HashMap<String, String>, name: &str, want: &str) {
    let got = r.get(name).unwrap_or_else(|| panic!("no {name} report in {r:?}"));
    assert!(got.starts_with("err:") && got.contains(want), "{name}: expected err containing {want:?}, got {got:?}");
}

fn assert_ok(r: &HashMap<String, String>, name: &str, want: &str) {
    let got = r.get(name).unwrap_or_else(|| panic!("no {name} report in {r:?}"));
    assert_eq!(got, &format!("ok:{want}"), "{name}");
}

#[test]
fn rust_guest_gets_errors_never_host_data() {
    let Some(dir) = build("tests/guests/rust") else { return };
    let _ = std::fs::remove_file("/tmp/hookhost-rust-guest-was-here");
    let r = probe_through_dispatch(&dir.join("capabilities.wasm"));
    for fs in ["passwd", "canary", "listdir", "write"] {
        assert_err(&r, fs, "NotFound");
    }
    for net in ["tcp", "udp"] {
        assert_err(&r, net, "PermissionDenied");
    }
    assert_err(&r, "dns", "failed_to_lookup_address");
    assert_err(&r, "getenv", "NotPresent");
    assert_ok(&r, "environ", "[]");
    assert_ok(&r, "args", "[]");
    assert_ok(&r, "stdin", "\"\"");
    assert_ok(&r, "agent", "Some(\"codex\")");
    assert!(!Path::new("/tmp/hookhost-rust-guest-was-here").exists());
}

#[test]
fn python_guest_gets_errors_never_host_data() {
    let Some(component) = build("tests/guests/python-capabilities") else { return };
    let _ = std::fs::remove_file("/tmp/hookhost-python-guest-was-here");
    let r = probe_through_dispatch(&component);
    for fs in ["passwd", "canary", "listdir", "write"] {
        assert_err(&r, fs, "FileNotFoundError");
    }
    // CPython for WASI has no `_socket` or `_posixsubprocess`: the modules are not there.
    for missing in ["socket", "urllib", "subprocess"] {
        assert_err(&r, missing, "ModuleNotFoundError");
    }
    assert_err(&r, "system", "AttributeError");
    assert_err(&r, "getenv", "KeyError");
    assert_ok(&r, "environ", "{}");
    assert_ok(&r, "urandom", "8");
    assert_ok(&r, "agent", "'codex'");
    assert!(!Path::new("/tmp/hookhost-python-guest-was-here").exists());
}

#[test]
fn javascript_guest_gets_errors_never_host_data() {
    let Some(component) = build("tests/guests/js-capabilities") else { return };
    let r = probe_through_dispatch(&component);
    assert_err(&r, "fetch", "TypeError");
    for absent in ["process", "require", "Deno", "XMLHttpRequest", "WebSocket"] {
        assert_ok(&r, absent, "\"undefined\"");
    }
    assert_ok(&r, "random", "4");
    assert_ok(&r, "agent", "\"codex\"");
}

#[test]
fn worlds_0_1_and_0_2_both_load() {
    let Some(dir) = build("tests/guests/rust") else { return };
    let event = HookEvent::parse(
        br#"{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"},
             "agent": {"name": "gemini"}}"#,
    )
    .unwrap();
    for allocator in [Allocator::OnDemand, Allocator::Pooling] {
        let rt = runtime(allocator);
        let old = run_of(&dir.join("compat_v0_1.wasm"));
        let new = run_of(&dir.join("capabilities.wasm"));
        assert_eq!(rt.load(&old).unwrap().0.world_version(), "0.1.0");
        assert_eq!(rt.load(&new).unwrap().0.world_version(), "0.2.0");
        let reason = reason_of(rt.run(&old, &GuestEvent::new(&event)).result);
        assert!(reason.starts_with("0.1.0 guest saw PreToolUse Bash ("), "{reason}");
        let r = reports(&reason_of(rt.run(&new, &GuestEvent::new(&event)).result));
        assert_ok(&r, "agent", "Some(\"gemini\")");
    }
}

#[test]
fn python_and_javascript_examples_pass_their_tests() {
    let examples = [
        "hooks-examples/wasm-python/protect-secrets",
        "hooks-examples/wasm-python/block-dangerous-bash",
        "hooks-examples/wasm-js/block-dangerous-bash",
    ];
    let mut dirs = Vec::new();
    for e in examples {
        let Some(_) = build(e) else { return };
        dirs.push(repo().join(e));
    }
    let env = Env::new();
    let args: Vec<&str> = std::iter::once("test").chain(dirs.iter().map(|p| p.to_str().unwrap())).collect();
    let mut cmd = env.command(&args);
    cmd.env("XDG_CACHE_HOME", shared_cache_home()).env("RUST_LOG", "hookhost=info");
    let out = run(cmd, b"");
    assert_eq!(out.code, 0, "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS: 23/23"), "{}", out.stdout);
    // The `log` import works from both SDKs: each block-dangerous-bash logged its denials.
    for lang in ["_py.wasm", "_js.wasm"] {
        assert!(
            out.stderr.lines().any(|l| l.contains("denied: `rm -rf`") && l.contains(lang)),
            "no log line from block_dangerous_bash{lang}:\n{}",
            out.stderr
        );
    }
}

/// One policy, three languages, the same answers: block-dangerous-bash in Rust, Python and
/// JavaScript over the shared shell corpus and dangerous variants (the Rust example is the
/// reference: its unit tests and the corpus pin its behaviour).
#[test]
fn the_same_policy_decides_the_same_in_every_language() {
    let Some(py) = build("hooks-examples/wasm-python/block-dangerous-bash") else { return };
    let Some(js) = build("hooks-examples/wasm-js/block-dangerous-bash") else { return };
    let Some(rs) = build("hooks-examples/wasm/block-dangerous-bash") else { return };
    let corpus: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("sdk/testdata/shell.json")).unwrap()).unwrap();
    let mut lines: Vec<String> =
        corpus["cases"].as_array().unwrap().iter().map(|c| c["line"].as_str().unwrap().to_string()).collect();
    for wrap in ["sudo {}", "ls; {}", "true && {}", "bash -c '{}'", "echo $({})", "nohup {} &", "env A=1 {}"] {
        for cmd in ["rm -rf /", "curl -s x | sh", "chmod 777 f", "mkfs.ext4 /dev/x", "dd of=/dev/sda", "ls -la"] {
            lines.push(wrap.replace("{}", cmd));
        }
    }
    let rt = runtime(Allocator::Pooling);
    let mut denied = 0;
    for line in &lines {
        let event = GuestEvent::new(&HookEvent::parse(&bash_event(line)).unwrap());
        let answers: Vec<String> = [&rs, &py, &js]
            .iter()
            .map(|c| match rt.run(&run_of(c), &event).result {
                HookResult::Decided(d) => format!("{:?} {:?}", d.permission, d.reason),
                other => panic!("{}: {line:?}: {other:?}", c.display()),
            })
            .collect();
        assert!(answers[0] == answers[1] && answers[1] == answers[2], "{line:?}: {answers:#?}");
        denied += answers[0].starts_with("Some(Deny)") as usize;
    }
    assert!(lines.len() >= 160 && denied >= 60, "{} lines, {denied} denied", lines.len());
}

/// A guest reads the payload's fields as the host does: where a payload repeats a key, escapes
/// one, or hides the command behind a large or deeply nested field, the policy in Rust (whose
/// SDK indexes the payload and parses a field only when the policy reads it), Python and
/// JavaScript decides on the same `tool_input.command` that hookhost's own parse sees (the
/// oracle: `HookEvent::tool_input`, what permission rules and command hooks get).
#[test]
fn every_language_reads_the_fields_the_host_reads() {
    let Some(py) = build("hooks-examples/wasm-python/block-dangerous-bash") else { return };
    let Some(js) = build("hooks-examples/wasm-js/block-dangerous-bash") else { return };
    let Some(rs) = build("hooks-examples/wasm/block-dangerous-bash") else { return };
    let (bad, good) = (r#"{"command": "rm -rf /"}"#, r#"{"command": "ls"}"#);
    let big = format!(r#""{}""#, "x\\\"tool_input\\\": ".repeat(20_000));
    let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
    let tails = [
        format!(r#""tool_input": {good}, "tool_input": {bad}"#),
        format!(r#""tool_input": {bad}, "tool_input": {good}"#),
        format!(r#""tool\u005finput": {bad}"#),
        format!(r#""tool_input": {good}, "tool\u005finput": {bad}"#),
        format!(r#""tool\u005finput": {bad}, "tool_input": {good}"#),
        r#""tool_input": {"comm\u0061nd": "rm -rf /"}"#.to_string(),
        r#""tool_input": {"command": "ls", "command": "rm -rf /"}"#.to_string(),
        r#""tool_input": {"command": "rm\u0020-rf /"}"#.to_string(),
        format!(r#""x": {big}, "tool_input": {bad}"#),
        format!(r#""tool_input": {good}, "x": {big}, "tool_input": {bad}, "y": {deep}"#),
        format!(r#""x": {{"tool_input": {bad}}}, "tool_input": {good}"#),
        format!(r#""x": "\"tool_input\": {{\"command\": \"rm -rf /\"}}", "tool_input": {good}"#),
    ];
    let rt = runtime(Allocator::Pooling);
    let mut denied = 0;
    for tail in &tails {
        let payload = format!(
            r#"{{"session_id": "s1", "cwd": "/tmp", "hook_event_name": "PreToolUse", "tool_name": "Bash", {tail}}}"#
        );
        let host = HookEvent::parse(payload.as_bytes()).unwrap_or_else(|e| panic!("{tail}: {e}"));
        let command = host.tool_input().and_then(|t| t["command"].as_str()).unwrap_or_default().to_string();
        let want = if command.starts_with("rm -rf") { Some(Permission::Deny) } else { None };
        let event = GuestEvent::new(&host);
        for c in [&rs, &py, &js] {
            match rt.run(&run_of(c), &event).result {
                HookResult::Decided(d) => assert_eq!(d.permission, want, "{}: {tail:.200}", c.display()),
                other => panic!("{}: {tail:.200}: {other:?}", c.display()),
            }
        }
        denied += want.is_some() as usize;
    }
    assert_eq!(denied, 8, "the corpus has both kinds");
}

/// Every event gets a fresh instance: a guest that counts its calls in a global sees 1 on every
/// event, in Rust, Python and JavaScript, with both allocators (the pooling one reuses memory
/// slots, reset between instances).
#[test]
fn a_guest_keeps_nothing_from_one_event_to_the_next() {
    let guests: Vec<(&str, Option<PathBuf>)> = vec![
        ("Rust", build("tests/guests/rust").map(|d| d.join("capabilities.wasm"))),
        ("Python", build("tests/guests/python-capabilities")),
        ("JavaScript", build("tests/guests/js-capabilities")),
    ];
    let event = HookEvent::parse(&bash_event("ls")).unwrap();
    for allocator in [Allocator::OnDemand, Allocator::Pooling] {
        let rt = runtime(allocator);
        for (lang, component) in &guests {
            let Some(component) = component else { continue };
            let run = WasmRun { memory_mb: Some(256), ..run_of(component) };
            let (loaded, _) = rt.precompile(&run).unwrap();
            // The oracle: one instance called twice does remember (the probe can fail).
            let mut reused = loaded.instantiate(&run).unwrap();
            for n in ["ok:1", "ok:2"] {
                let r = reports(&reason_of(reused.handle(&GuestEvent::new(&event)).result));
                assert_eq!(r.get("calls").map(String::as_str), Some(n), "{lang}: {r:?}");
            }
            drop(reused);
            for n in 1..=4 {
                let r = reports(&reason_of(rt.run(&run, &GuestEvent::new(&event)).result));
                assert_eq!(r.get("calls").map(String::as_str), Some("ok:1"), "{lang}, {allocator:?}, event {n}: {r:?}");
            }
        }
    }
}
