//! Side-by-side process benchmark: baselines and `hookhost dispatch` in one run, round-robin so
//! drift hits every variant alike. Prints p50/p99 per variant and the ratios the targets in
//! design/performance.md and design/sandbox.md are stated in, including the sandbox's cost as a
//! whole and per layer. With `hooks-examples/wasm` built, it also runs one policy three ways —
//! the shell example spawned, the WebAssembly example through `dispatch`, and the same component
//! in-process — and prints their ratios. Run with `scripts/bench-compare.sh [ITERATIONS]`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/sandbox_run.rs"]
mod sandbox_run;

const EVENT: &[u8] = include_bytes!("../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");

struct Variant {
    name: String,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    stdin: bool,
    samples: Vec<Duration>,
}

fn spawn_once(v: &Variant) -> Duration {
    let mut c = Command::new(&v.cmd[0]);
    c.args(&v.cmd[1..]).envs(v.env.iter().map(|(k, x)| (k, x))).stdout(Stdio::null()).stderr(Stdio::null());
    c.stdin(if v.stdin { Stdio::piped() } else { Stdio::null() });
    let start = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{}: {e}", v.name));
    if v.stdin {
        let mut w = child.stdin.take().unwrap();
        let _ = w.write_all(EVENT);
    }
    let status = child.wait().unwrap();
    let d = start.elapsed();
    assert!(status.success(), "{} exited {status}", v.name);
    d
}

/// p50 in ms of `a` and of `b` over `n` rounds of `a` then `b` (after 5 rounds not counted):
/// each run follows a run of the other, so both start from the same state of the caches.
fn paired(a: &Variant, b: &Variant, n: usize) -> (f64, f64) {
    let (x, y) = paired_samples(a, b, n);
    (ms_at(&x, 0.5), ms_at(&y, 0.5))
}

/// The sorted times of `a` and of `b` over `n` rounds of `a` then `b` (see [`paired`]).
fn paired_samples(a: &Variant, b: &Variant, n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n + 5 {
        let (da, db) = (spawn_once(a), spawn_once(b));
        if i >= 5 {
            x.push(da);
            y.push(db);
        }
    }
    x.sort();
    y.sort();
    (x, y)
}

fn ms_at(sorted: &[Duration], p: f64) -> f64 {
    pct(sorted, p).as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Issue 23's targets as this run measured them: each is printed with its verdict where it is
/// measured, and all of them again together at the end of the run.
#[derive(Default)]
struct Targets(Vec<(String, String, bool)>);

impl Targets {
    /// Records one target and returns its verdict.
    fn record(&mut self, what: &str, measured: String, met: bool) -> &'static str {
        self.0.push((what.to_string(), measured, met));
        verdict(met)
    }

    fn summary(&self) {
        let met = self.0.iter().filter(|t| t.2).count();
        println!("\nissue 23's targets in this run: {met} of {} met", self.0.len());
        for (what, measured, ok) in &self.0 {
            println!("  {:<7} {what:<84} {measured}", verdict(*ok));
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

fn main() {
    let iterations: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(300);
    // `-- N sandbox`: only the in-process sandbox rows.
    if std::env::args().skip(1).any(|a| a == "sandbox") {
        sandbox_in_process(iterations);
        return;
    }
    // `-- N ship`: only the audit shipping rows.
    if std::env::args().skip(1).any(|a| a == "ship") {
        ship_overhead(iterations);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hookhost = installed(env!("CARGO_BIN_EXE_hookhost"), &tmp.path().join("bin"));
    let settings_dir = |name: &str, hook: Option<(&str, &str)>| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        if let Some((cmd, sandbox)) = hook {
            let s = format!(
                r#"{{"hooks": {{"PreToolUse": [{{"matcher": "Bash", "hooks": [{{"type": "command", "command": "{cmd}", "sandbox": {sandbox}}}]}}]}}}}"#
            );
            std::fs::write(d.join("managed-settings.json"), s).unwrap();
        }
        d
    };
    let optional: Vec<&str> = hookhost::exec::sandbox::Layer::optional().into_iter().map(|l| l.as_str()).collect();
    let all_off = format!(r#"{{"mode": "best_effort", "disable": {optional:?}}}"#);
    let empty = settings_dir("empty", None);
    let true_off = settings_dir("true-off", Some(("true", r#"{"mode": "off"}"#)));
    let true_bare = settings_dir("true-bare", Some(("true", &all_off)));
    let true_full = settings_dir("true-full", Some(("true", "{}")));
    let sh_off = settings_dir("sh-off", Some(("cat >/dev/null; echo {}", r#"{"mode": "off"}"#)));
    let sh_full = settings_dir("sh-full", Some(("cat >/dev/null; echo {}", "{}")));
    let xdg = tmp.path().join("xdg");
    // Each managed directory gets a state directory of its own: with one shared between
    // variants, every dispatch would find the managed policy changed since the previous one (its
    // `managed-seen` record) and pay for the policy ConfigChange records and their fsyncs.
    let state_of = |dir: &Path, what: &str| tmp.path().join(what).join(dir.file_name().unwrap_or_default());
    let dispatch_env = |dir: &Path| {
        vec![
            ("HOOKHOST_MANAGED_DIR".to_string(), dir.to_string_lossy().into_owned()),
            ("XDG_CONFIG_HOME".to_string(), xdg.to_string_lossy().into_owned()),
            ("XDG_STATE_HOME".to_string(), state_of(dir, "state").to_string_lossy().into_owned()),
            ("CLAUDE_PROJECT_DIR".to_string(), tmp.path().to_string_lossy().into_owned()),
        ]
    };
    let v = |name: &str, cmd: &[&str], env: Vec<(String, String)>, stdin: bool| Variant {
        name: name.to_string(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        env,
        stdin,
        samples: Vec::new(),
    };
    let d = |name: &str, dir: &Path| v(name, &[&hookhost, "dispatch"], dispatch_env(dir), true);
    let mut variants = vec![
        v("/bin/true (no stdin)", &["/bin/true"], vec![], false),
        v("/bin/true <event", &["/bin/true"], vec![], true),
        v("sh -c 'cat; echo {}' <event", &["/bin/sh", "-c", "cat >/dev/null; echo {}"], vec![], true),
        d("dispatch, 0 hooks", &empty),
        d("dispatch, true hook, sandbox off", &true_off),
        d("dispatch, true hook, always-on only", &true_bare),
        d("dispatch, true hook, full sandbox", &true_full),
        d("dispatch, sh hook, sandbox off", &sh_off),
        d("dispatch, sh hook, full sandbox", &sh_full),
    ];
    let mut only = Vec::new();
    for l in optional.iter().copied() {
        let others: Vec<&str> = optional.iter().copied().filter(|x| *x != l).collect();
        let dir = settings_dir(
            &format!("only-{l}"),
            Some(("true", &format!(r#"{{"mode": "best_effort", "disable": {others:?}}}"#))),
        );
        let name = format!("dispatch, true hook, only {l}");
        variants.push(d(&name, &dir));
        only.push(name);
    }
    if let Some(jq) = which("jq") {
        variants.push(v("jq -c .tool_name <event", &[jq.to_str().unwrap(), "-c", ".tool_name"], vec![], true));
    }
    // The real interpreter, not a pyenv shim (a bash script that triples its start-up).
    let py = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().ok().and_then(|o| {
        let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
        (!p.is_empty()).then_some(p)
    });
    if let Some(py) = &py {
        variants.push(v(
            "python3 -c json.load <event",
            &[py, "-c", "import sys, json; json.load(sys.stdin)"],
            vec![],
            true,
        ));
    }
    // One policy (deny `rm -rf`) three ways: the shell example spawned as Claude Code would, the
    // WebAssembly example through `dispatch`, and (after the table) the same component in-process.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shell_policy = root.join("hooks-examples/shell/block-rm-rf/hook.sh");
    let wasm_policy = root.join("hooks-examples/wasm/target/wasm32-wasip2/release/block_dangerous_bash.wasm");
    if which("jq").is_some() && shell_policy.is_file() {
        variants.push(v(SHELL_POLICY, &["/bin/sh", shell_policy.to_str().unwrap()], vec![], true));
    }
    if wasm_policy.is_file() {
        let dir = settings_dir("wasm-policy", None);
        let s = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "wasm", "component": wasm_policy, "timeout": 5}]}]}});
        std::fs::write(dir.join("managed-settings.json"), s.to_string()).unwrap();
        variants.push(d("dispatch, wasm block-dangerous-bash", &dir));
    } else {
        println!("(hooks-examples/wasm is not built: the WebAssembly rows are left out)");
    }
    // The same policy in Python and JavaScript, through one-shot `dispatch` (each language's
    // rows only when its example is built: hooks-examples/wasm-*/block-dangerous-bash/build.sh).
    let guests = language_guests(root);
    for (lang, component) in guests.iter().filter(|(l, _)| *l != "Rust") {
        let dir = settings_dir(&format!("wasm-{lang}"), None);
        let s = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "wasm", "component": component, "timeout": 30, "memoryMb": 256}]}]}});
        std::fs::write(dir.join("managed-settings.json"), s.to_string()).unwrap();
        variants.push(d(&format!("dispatch, wasm block-dangerous-bash ({lang})"), &dir));
    }
    // The warm daemon, serving the WebAssembly policy when built (else the 0-hook settings),
    // and `dispatch` as its thin client.
    let daemon_dir = if wasm_policy.is_file() { tmp.path().join("wasm-policy") } else { empty.clone() };
    let socket = tmp.path().join("bench.sock");
    let daemon = Daemon::start(&hookhost, &dispatch_env(&daemon_dir), tmp.path(), &socket);
    let mut thin_env = dispatch_env(&daemon_dir);
    thin_env.retain(|(k, _)| k != "XDG_STATE_HOME");
    thin_env.push(("HOOKHOST_SOCKET".into(), socket.to_string_lossy().into_owned()));
    // The client must expect the daemon's settings locations (its identity).
    thin_env.push(("XDG_STATE_HOME".into(), tmp.path().join("state").to_string_lossy().into_owned()));
    variants.push(v(THIN, &[&hookhost, "dispatch"], thin_env.clone(), true));
    // The small client (`hookhost-dispatch`) against the same daemon, and against this user's
    // automatic daemon (no HOOKHOST_SOCKET: the first events start it; measured once it is warm).
    // The thin client as installed (scripts/bench-compare.sh builds it statically for musl and
    // names it in HOOKHOST_THIN_BIN), else the one `cargo build` put next to `hookhost`. It
    // runs this `hookhost` (HOOKHOST_BIN) whichever directory it is in.
    let small = std::env::var("HOOKHOST_THIN_BIN").ok().filter(|b| Path::new(b).is_file()).unwrap_or_else(|| {
        Path::new(env!("CARGO_BIN_EXE_hookhost")).with_file_name("hookhost-dispatch").to_string_lossy().into_owned()
    });
    let small = installed(&small, &tmp.path().join("bin"));
    println!("thin client: {small} ({} bytes)", std::fs::metadata(&small).map(|m| m.len()).unwrap_or(0));
    thin_env.push(("HOOKHOST_BIN".into(), hookhost.clone()));
    variants.push(v(SMALL, &[&small], thin_env.clone(), true));
    let run_dir = tmp.path().join("run");
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&run_dir).unwrap();
    }
    let mut auto_env = dispatch_env(&daemon_dir);
    auto_env.retain(|(k, _)| k != "XDG_STATE_HOME");
    auto_env.push(("XDG_STATE_HOME".into(), tmp.path().join("state").to_string_lossy().into_owned()));
    auto_env.push(("XDG_RUNTIME_DIR".into(), run_dir.to_string_lossy().into_owned()));
    auto_env.push(("HOOKHOST_DAEMON_IDLE_EXIT".into(), "120".into()));
    auto_env.push(("HOOKHOST_BIN".into(), hookhost.clone()));
    variants.push(v(AUTO, &[&small], auto_env.clone(), true));
    // Before/after in one run: HOOKHOST_BEFORE_BIN names the previous build of `hookhost`; its
    // rows run round-robin with the others (its thin client against this daemon).
    let before_bin = std::env::var("HOOKHOST_BEFORE_BIN").ok().filter(|b| Path::new(b).is_file());
    let before = before_bin.as_deref().map(|b| installed(b, &tmp.path().join("before-bin")));
    // The previous build's thin client, next to it.
    let before_small = before_bin
        .as_deref()
        .map(|b| Path::new(b).with_file_name("hookhost-dispatch"))
        .filter(|p| p.is_file())
        .map(|p| installed(&p.to_string_lossy(), &tmp.path().join("before-bin")));
    // The previous build's one-shot rows get state directories of their own (its audit log
    // and settings records), apart from this build's, and a precompile cache of their own:
    // builds whose cache entry formats differ would otherwise rewrite each other's entries.
    let before_env = |dir: &Path| {
        let mut env = dispatch_env(dir);
        for (k, v) in env.iter_mut() {
            if k == "XDG_STATE_HOME" {
                *v = state_of(dir, "before-state").to_string_lossy().into_owned();
            }
        }
        env.push(("XDG_CACHE_HOME".into(), before_cache(tmp.path())));
        env
    };
    if let Some(b) = &before {
        for (name, dir) in [
            ("dispatch, 0 hooks", &empty),
            ("dispatch, true hook, sandbox off", &true_off),
            ("dispatch, true hook, full sandbox", &true_full),
        ] {
            variants.push(v(&format!("before: {name}"), &[b, "dispatch"], before_env(dir), true));
        }
        if wasm_policy.is_file() {
            let dir = tmp.path().join("wasm-policy");
            variants.push(v("before: dispatch, wasm block-dangerous-bash", &[b, "dispatch"], before_env(&dir), true));
        }
        // Its clients of this daemon too: when one falls back to deciding in-process, it must
        // not find (and replace) this build's cache entries.
        let mut before_thin_env = thin_env.clone();
        before_thin_env.push(("XDG_CACHE_HOME".into(), before_cache(tmp.path())));
        variants.push(v(&format!("before: {THIN}"), &[b, "dispatch"], before_thin_env.clone(), true));
        // The previous build's thin client against this daemon.
        if let Some(before_small) = &before_small {
            variants.push(v(&format!("before: {SMALL}"), &[before_small], before_thin_env, true));
        }
    }
    let auto_socket = {
        let var = |k: &str| auto_env.iter().find(|(n, _)| n == k).map(|(_, x)| PathBuf::from(x));
        let id = hookhost_dispatch::Identity {
            version: hookhost_dispatch::VERSION.into(),
            managed_dir: var("HOOKHOST_MANAGED_DIR").unwrap(),
            user_file: var("XDG_CONFIG_HOME").map(|c| c.join("hookhost/settings.json")),
            state_dir: var("XDG_STATE_HOME").map(|s| s.join("hookhost")),
        };
        hookhost_dispatch::auto_socket_in(&run_dir.join("hookhost"), &id, Path::new(&hookhost)).unwrap()
    };
    for v in &variants {
        for _ in 0..5 {
            spawn_once(v);
        }
    }
    // The automatic daemon the warm-up started: measured warm.
    let auto_start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&auto_socket).is_err() {
        assert!(auto_start.elapsed() < Duration::from_secs(30), "the automatic daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..5 {
        spawn_once(variants.iter().find(|v| v.name == AUTO).unwrap());
    }
    for _ in 0..iterations {
        for v in variants.iter_mut() {
            let d = spawn_once(v);
            v.samples.push(d);
        }
    }
    let uname = Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let fav = std::fs::read_to_string("/proc/mounts").map(|m| m.contains("favordynmods")).unwrap_or(false);
    println!(
        "hookhost bench-compare: kernel {uname}, {cores} cores, profile {}, cgroup2 favordynmods {}, {iterations} iterations per variant, round-robin",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        if fav { "on" } else { "off" }
    );
    println!("\n{:<46} {:>9} {:>9} {:>6}", "variant", "p50 ms", "p99 ms", "n");
    let mut p50 = std::collections::HashMap::new();
    let mut p99 = std::collections::HashMap::new();
    for v in variants.iter_mut() {
        v.samples.sort();
        let (a, b) = (pct(&v.samples, 0.5), pct(&v.samples, 0.99));
        p50.insert(v.name.clone(), a);
        p99.insert(v.name.clone(), b.as_secs_f64() * 1000.0);
        println!("{:<46} {:>9} {:>9} {:>6}", v.name, ms(a), ms(b), v.samples.len());
    }
    let get = |n: &str| p50[n].as_secs_f64() * 1000.0;
    let t = get("/bin/true <event");
    let d0 = get("dispatch, 0 hooks");
    let off = get("dispatch, true hook, sandbox off");
    let bare = get("dispatch, true hook, always-on only");
    let full = get("dispatch, true hook, full sandbox");
    println!("\nratios and targets (p50):");
    println!("  dispatch, 0 hooks           - /bin/true   = {:+.3} ms   (target: <= +1.5 ms)", d0 - t);
    println!("  true hook, sandbox off      - /bin/true   = {:+.3} ms   ({:.2}x /bin/true)", off - t, off / t);
    println!("  true hook, sandbox off      - dispatch 0  = {:+.3} ms   (one hook's spawn and wait)", off - d0);
    println!("  true hook, always-on layers - sandbox off = {:+.3} ms", bare - off);
    println!("  true hook, full sandbox     - sandbox off = {:+.3} ms   (target: <= +0.5 ms)", full - off);
    println!(
        "  sh hook, full sandbox       - sandbox off = {:+.3} ms",
        get("dispatch, sh hook, full sandbox") - get("dispatch, sh hook, sandbox off")
    );
    println!("  each optional layer alone, over the always-on layers:");
    for name in &only {
        println!("    {:<16} {:+.3} ms", name.rsplit(' ').next().unwrap_or(""), get(name) - bare);
    }
    println!(
        "  thin client (process) -> daemon - /bin/true = {:+.3} ms   (dispatch in-process: {:+.3} ms)",
        get(THIN) - t,
        d0 - t
    );
    // Issue 23's targets, each with its verdict.
    let t99 = p99["/bin/true <event"];
    let mut targets = Targets::default();
    println!("\ntargets (issue 23), p50 and p99 over /bin/true <event in this run:");
    // The p99 of the round robin's 200 runs rests on its two slowest: in one run of two, one
    // of these rows crossed +1.5 ms. The verdict is taken from 1,000 pairs of `/bin/true <event`
    // and the thin client, each run following one of the other; the round robin's figures are
    // printed beside it.
    let n_pairs = iterations.max(1000);
    for (name, env) in [(SMALL, &thin_env), (AUTO, &auto_env)] {
        let (tr, th) = paired_samples(
            &v("/bin/true <event", &["/bin/true"], vec![], true),
            &v(name, &[&small], env.clone(), true),
            n_pairs,
        );
        let (a, b) = (ms_at(&th, 0.5) - ms_at(&tr, 0.5), ms_at(&th, 0.99) - ms_at(&tr, 0.99));
        let what = format!("{name}, over /bin/true, p50 <= +0.5 / p99 <= +1.5 ms");
        println!(
            "  {name:<44} {a:+.3} ms p50 (<= +0.5), {b:+.3} ms p99 (<= +1.5): {}   ({n_pairs} pairs; in the round robin {:+.3} / {:+.3})",
            targets.record(&what, format!("{a:+.3} / {b:+.3} ms"), a <= 0.5 && b <= 1.5),
            get(name) - t,
            p99[name] - t99
        );
    }
    println!(
        "  one-shot true hook, full sandbox - sandbox off {:+.3} ms p50 (<= +1.5): {}",
        full - off,
        targets.record(
            "one-shot true hook, full sandbox - sandbox off, p50 <= +1.5 ms",
            format!("{:+.3} ms", full - off),
            full - off <= 1.5
        )
    );
    println!(
        "  dispatch, 0 hooks - /bin/true                 {:+.3} ms p50 (<= +1.5): {}",
        d0 - t,
        targets.record(
            "one-shot dispatch, 0 hooks - /bin/true, p50 <= +1.5 ms",
            format!("{:+.3} ms", d0 - t),
            d0 - t <= 1.5
        )
    );
    if p50.contains_key("dispatch, wasm block-dangerous-bash") {
        // In the round robin each row follows a different program: the WASM row follows the
        // 22 ms shell policy (sh and jq), the no-hook row `sh -c`, so the WASM row starts with
        // colder caches than its baseline (it read ~1 ms more than an A/B of the two). The
        // verdict is taken from pairs: no hooks then WASM, each run following one of the other.
        let wasm_dir = tmp.path().join("wasm-policy");
        let pair = |none: Variant, wasm: Variant| paired(&none, &wasm, iterations);
        let (none_ms, wasm_ms) =
            pair(d("dispatch, 0 hooks", &empty), d("dispatch, wasm block-dangerous-bash", &wasm_dir));
        let w = wasm_ms - none_ms;
        println!(
            "  one-shot wasm - dispatch 0 hooks, in pairs    {w:+.3} ms p50 (<= +1.0): {}   ({none_ms:.3} -> {wasm_ms:.3} ms; in the round robin {:+.3})",
            targets.record(
                "one-shot dispatch, cached WASM hook - 0 hooks, in pairs, p50 <= +1.0 ms",
                format!("{w:+.3} ms"),
                w <= 1.0
            ),
            get("dispatch, wasm block-dangerous-bash") - d0
        );
        if let Some(b) = &before {
            let (none_ms, wasm_ms) = pair(
                v("before: dispatch, 0 hooks", &[b, "dispatch"], before_env(&empty), true),
                v("before: dispatch, wasm block-dangerous-bash", &[b, "dispatch"], before_env(&wasm_dir), true),
            );
            println!("    the previous build (HOOKHOST_BEFORE_BIN), in pairs: {:+.3} ms", wasm_ms - none_ms);
        }
    }
    if before.is_some() {
        println!("\nbefore -> after (p50 over /bin/true <event, this run):");
        for (b, a) in [
            ("before: dispatch, 0 hooks", "dispatch, 0 hooks"),
            ("before: dispatch, true hook, full sandbox", "dispatch, true hook, full sandbox"),
            ("before: dispatch, wasm block-dangerous-bash", "dispatch, wasm block-dangerous-bash"),
            (&format!("before: {THIN}"), SMALL),
            (&format!("before: {SMALL}"), SMALL),
            (&format!("before: {THIN}"), AUTO),
        ] {
            if p50.contains_key(b) && p50.contains_key(a) {
                println!("  {:<44} {:+.3} ms -> {a}: {:+.3} ms", b, get(b) - t, get(a) - t);
            }
        }
        if p50.contains_key("before: dispatch, true hook, sandbox off") {
            println!(
                "  full sandbox - sandbox off: before {:+.3} ms -> after {:+.3} ms",
                get("before: dispatch, true hook, full sandbox") - get("before: dispatch, true hook, sandbox off"),
                full - off
            );
        }
    }
    if let Ok(s) = std::os::unix::net::UnixStream::connect(&auto_socket)
        && let Ok(c) = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials)
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.pid()), nix::sys::signal::Signal::SIGTERM);
    }
    let policy = if wasm_policy.is_file() { "wasm block-dangerous-bash" } else { "0 hooks (wasm example not built)" };
    let (rt50, rt99) = daemon.round_trips(tmp.path(), 10_000);
    println!("\nwarm daemon, {policy}: round trip timed in the client, connect to decision (10000 events):");
    println!(
        "  p50 {rt50:.3} ms, p99 {rt99:.3} ms   (target: p50 <= 0.3 ms): {}",
        targets.record(
            "warm daemon, WASM decision, round trip in a client, p50 <= 0.3 ms",
            format!("{rt50:.3} ms"),
            rt50 <= 0.3
        )
    );
    let (rl50, rl99) = daemon.reloads(tmp.path(), 200);
    println!("settings reload, file write -> new revision live (200 writes):");
    println!("  p50 {:.2} ms, p99 {:.2} ms   (target: p99 <= 50 ms)", rl50, rl99);
    drop(daemon);
    // One shell hook through the warm daemon, sandbox off and full: the daemon prepares each
    // run's sandbox, and starts its process, ahead (exec::sandbox::pool).
    let sock = |n: &str| tmp.path().join(format!("{n}.sock"));
    let d_off = Daemon::start(&hookhost, &dispatch_env(&sh_off), &tmp.path().join("d-off"), &sock("off"));
    let d_full = Daemon::start(&hookhost, &dispatch_env(&sh_full), &tmp.path().join("d-full"), &sock("full"));
    for (label, n, gap) in
        [("back to back", iterations * 4, 0), ("20 ms apart, as an agent's events come", iterations, 20)]
    {
        let (off, full) = Daemon::round_trip_pair(&d_off, &d_full, tmp.path(), n, Duration::from_millis(gap));
        println!(
            "\nwarm daemon, sh hook 'cat >/dev/null; echo {{}}', round trip in the client, alternating, {label} ({n} each):"
        );
        println!("  sandbox off   p50 {:.3} ms, p99 {:.3} ms", off.0, off.1);
        println!("  full sandbox  p50 {:.3} ms, p99 {:.3} ms", full.0, full.1);
        let over = full.0 - off.0;
        println!(
            "  full sandbox - sandbox off = {over:+.3} ms   (target: <= +0.5 ms): {}",
            targets.record(
                &format!("warm daemon, sh hook, full sandbox - sandbox off, {label}, p50 <= +0.5 ms"),
                format!("{over:+.3} ms"),
                over <= 0.5
            )
        );
    }
    drop((d_off, d_full));
    if wasm_policy.is_file() {
        let w = wasm_in_process(&wasm_policy, &tmp.path().join("wasm-cache"));
        println!("\nthe same policy in-process: block-dangerous-bash, fresh instance per event (on-demand):");
        println!("  p50 {:.1} µs, p99 {:.1} µs over 10000 events", w.0 * 1000.0, w.1 * 1000.0);
        if p50.contains_key(SHELL_POLICY) {
            println!("  shell policy spawned / wasm in-process = {:.0}x   (target: >= 50x)", get(SHELL_POLICY) / w.0);
        }
        println!("  sh -c 'cat; echo {{}}' / wasm in-process = {:.0}x", get("sh -c 'cat; echo {}' <event") / w.0);
        println!("  /bin/true spawned / wasm in-process  = {:.0}x", t / w.0);
        println!(
            "  dispatch, wasm hook - dispatch 0      = {:+.3} ms   (engine start, cached load, one call)",
            get("dispatch, wasm block-dangerous-bash") - d0
        );
        // Issue 23 item 4: the same decision with the pooling allocator (what `hookhost serve`
        // uses; one-shot `dispatch` makes one instance, on demand), a fresh instance per event,
        // and the events per second two threads decide that way.
        let cache = tmp.path().join("wasm-cache");
        let (f50, f99) = wasm_in_process_with(&wasm_policy, &cache, hookhost::exec::wasm::Allocator::Pooling, 10_000);
        let (f50, f99) = (f50 * 1000.0, f99 * 1000.0);
        println!("the same, pooling allocator (the daemon's):");
        println!(
            "  p50 {f50:.1} µs, p99 {f99:.1} µs over 10000 events   (target: p50 <= 8 µs): {}",
            targets.record(
                "in-process WASM decision, fresh instance per event, pooling, p50 <= 8 µs",
                format!("{f50:.1} µs"),
                f50 <= 8.0
            )
        );
        let one = wasm_throughput(&wasm_policy, &cache, 1);
        let two = wasm_throughput(&wasm_policy, &cache, 2);
        println!(
            "  throughput, fresh instance per event: 1 thread {:.0}k events/s, 2 threads {:.0}k events/s (rounds {}; the median counts)   (target: 2 threads >= 200k): {}",
            one.0 / 1e3,
            two.0 / 1e3,
            two.1.iter().map(|r| format!("{:.0}k", r / 1e3)).collect::<Vec<_>>().join(", "),
            targets.record(
                "in-process WASM decisions on 2 threads, fresh instance each, >= 200k/s",
                format!("{:.0}k events/s", two.0 / 1e3),
                two.0 >= 200_000.0
            )
        );
    }
    languages(&hookhost, before.as_deref(), &guests, tmp.path(), &p50, &dispatch_env);
    sandbox_in_process(iterations);
    ship_overhead(iterations);
    targets.summary();
}

/// Audit shipping's cost on the decision path: two warm daemons with the same policy (no
/// hooks, a deny rule) and the same audit log settings, one without sinks and one shipping to
/// two (syslog over TCP and OTLP/HTTP, each to a loopback receiver that takes everything),
/// round trips alternating between them, back to back and 20 ms apart. The shipper runs on its
/// own threads; the decision path only appends to the log in both.
fn ship_overhead(iterations: usize) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let hookhost = installed(env!("CARGO_BIN_EXE_hookhost"), &tmp.path().join("bin"));
    // The receivers: syslog bytes read and dropped; OTLP requests read and answered 200.
    let syslog = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let otlp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (syslog_addr, otlp_addr) = (syslog.local_addr().unwrap(), otlp.local_addr().unwrap());
    let (syslog_bytes, otlp_requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let counter = syslog_bytes.clone();
    std::thread::spawn(move || {
        for c in syslog.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let counter = otlp_requests.clone();
    std::thread::spawn(move || {
        for c in otlp.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf: Vec<u8> = Vec::new();
                let mut chunk = vec![0u8; 64 << 10];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0);
                    while buf.len() < end + len {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + len);
                    counter.fetch_add(1, Ordering::Relaxed);
                    if c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    let setup = |name: &str, ship: serde_json::Value| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let s = serde_json::json!({
            "permissions": {"deny": ["Bash(rm:*)"]},
            "audit": {"path": d.join("audit/audit.jsonl"), "ship": ship}
        });
        std::fs::write(d.join("managed-settings.json"), s.to_string()).unwrap();
        d
    };
    let none = setup("ship-none", serde_json::json!([]));
    let two = setup(
        "ship-two",
        serde_json::json!([
            {"name": "syslog", "type": "syslog", "transport": "tcp", "address": syslog_addr.to_string()},
            {"name": "otlp", "type": "otlp", "endpoint": format!("http://{otlp_addr}/v1/logs")}
        ]),
    );
    let env = |dir: &Path| {
        vec![
            ("HOOKHOST_MANAGED_DIR".to_string(), dir.to_string_lossy().into_owned()),
            ("XDG_CONFIG_HOME".to_string(), tmp.path().join("xdg").to_string_lossy().into_owned()),
            ("CLAUDE_PROJECT_DIR".to_string(), tmp.path().to_string_lossy().into_owned()),
        ]
    };
    let d_none = Daemon::start(&hookhost, &env(&none), &none, &tmp.path().join("none.sock"));
    let d_two = Daemon::start(&hookhost, &env(&two), &two, &tmp.path().join("two.sock"));
    println!(
        "\naudit shipping on the decision path: warm daemon, deny rule, no hooks, audited; round trip in the client, alternating"
    );
    for (label, n, gap) in
        [("back to back", iterations * 10, 0), ("20 ms apart, as an agent's events come", iterations, 20)]
    {
        let (a, b) = Daemon::round_trip_pair(&d_none, &d_two, tmp.path(), n, Duration::from_millis(gap));
        println!("  {label} ({n} each):");
        println!("    no sink                          p50 {:.3} ms, p99 {:.3} ms", a.0, a.1);
        println!("    two sinks (syslog TCP + OTLP)    p50 {:.3} ms, p99 {:.3} ms", b.0, b.1);
        println!(
            "    two sinks - no sink = {:+.3} ms p50, {:+.3} ms p99   (target: within noise)",
            b.0 - a.0,
            b.1 - a.1
        );
    }
    // The sinks really were fed while it ran.
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "  (the sinks received {} syslog bytes and {} OTLP requests)",
        syslog_bytes.load(Ordering::Relaxed),
        otlp_requests.load(Ordering::Relaxed)
    );
}

/// The block-dangerous-bash example in each language that is built: (language, component).
fn language_guests(root: &Path) -> Vec<(&'static str, PathBuf)> {
    [
        ("Rust", "hooks-examples/wasm/target/wasm32-wasip2/release/block_dangerous_bash.wasm"),
        ("Python", "hooks-examples/wasm-python/block-dangerous-bash/build/block_dangerous_bash_py.wasm"),
        ("JavaScript", "hooks-examples/wasm-js/block-dangerous-bash/build/block_dangerous_bash_js.wasm"),
    ]
    .into_iter()
    .map(|(l, p)| (l, root.join(p)))
    .filter(|(_, p)| p.is_file())
    .collect()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The previous build's precompile cache root (`XDG_CACHE_HOME`), under the run's directory.
fn before_cache(root: &Path) -> String {
    root.join("before-cache").to_string_lossy().into_owned()
}

/// A copy of the program `bin` in `dir`, as an install makes it, measured instead of `bin`. A
/// binary as the linker wrote it starts slower than a copy of it: `dispatch` with no hooks took
/// about 50 more page faults and 0.2 ms more, which made a fresh build look slower than a copied
/// previous build (`HOOKHOST_BEFORE_BIN`).
fn installed(bin: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(Path::new(bin).file_name().unwrap());
    std::fs::copy(bin, &to).unwrap_or_else(|e| panic!("copy {bin} to {}: {e}", to.display()));
    to.to_string_lossy().into_owned()
}

/// One policy (deny dangerous Bash commands) as a shell hook and as a WebAssembly hook in Rust,
/// Python and JavaScript: component size and compile time, one-shot `dispatch` (from the round-
/// robin table), the warm daemon's round trip and resident memory per loaded hook, and the
/// in-process decision with both allocators.
fn languages(
    hookhost: &str,
    before: Option<&str>,
    guests: &[(&'static str, PathBuf)],
    root: &Path,
    p50: &std::collections::HashMap<String, Duration>,
    dispatch_env: &dyn Fn(&Path) -> Vec<(String, String)>,
) {
    use hookhost::exec::wasm::Allocator;
    if guests.is_empty() {
        println!(
            "
(no block-dangerous-bash example is built: the per-language rows are left out)"
        );
        return;
    }
    println!(
        "
one policy per language: block-dangerous-bash (shell: hooks-examples/shell/block-rm-rf)"
    );
    let ms_of = |name: &str| p50.get(name).map_or("-".to_string(), |d| ms(*d));
    // The warm daemon: one per hook, plus one with no hooks for the memory baseline.
    let dir_of = |name: &str, hook: Option<serde_json::Value>| {
        let d = root.join(format!("lang-{name}"));
        std::fs::create_dir_all(&d).unwrap();
        if let Some(h) = hook {
            let s = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [h]}]}});
            std::fs::write(d.join("managed-settings.json"), s.to_string()).unwrap();
        }
        d
    };
    let start_with = |hookhost: &str, name: &str, dir: &Path| {
        let mut env = dispatch_env(dir);
        if Some(hookhost) == before {
            env.push(("XDG_CACHE_HOME".into(), before_cache(root)));
        }
        Daemon::start(hookhost, &env, &root.join(format!("lang-state-{name}")), &root.join(format!("{name}.sock")))
    };
    let start = |name: &str, dir: &Path| start_with(hookhost, name, dir);
    let base = start("none", &dir_of("none", None));
    let base_rss = {
        base.round_trips(root, 200);
        rss_kib(base.child.id())
    };
    let shell = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks-examples/shell/block-rm-rf/hook.sh");
    let mut paced: Vec<(String, f64)> = Vec::new();
    let mut rows = vec![(
        "shell (sh + jq)".to_string(),
        "-".to_string(),
        "-".to_string(),
        ms_of(SHELL_POLICY) + " (spawned bare)",
        dir_of(
            "shell",
            Some(
                serde_json::json!({"type": "command", "command": format!("/bin/sh {}", shell.display()), "sandbox": {"mode": "off"}}),
            ),
        ),
        None,
    )];
    for (lang, component) in guests {
        let size = std::fs::metadata(component).map(|m| m.len()).unwrap_or(0);
        let rt = hookhost::exec::wasm::WasmRuntime::new(wasm_options(None, Allocator::OnDemand)).unwrap();
        let t = Instant::now();
        rt.load(&bench_run(component)).unwrap();
        let compile = t.elapsed();
        let dispatch_row = if *lang == "Rust" {
            "dispatch, wasm block-dangerous-bash".to_string()
        } else {
            format!("dispatch, wasm block-dangerous-bash ({lang})")
        };
        rows.push((
            lang.to_string(),
            format!("{:.1} MB", size as f64 / 1e6),
            format!("{:.2} s", compile.as_secs_f64()),
            ms_of(&dispatch_row),
            dir_of(
                lang,
                Some(serde_json::json!({"type": "wasm", "component": component, "timeout": 30, "memoryMb": 256})),
            ),
            Some(component.clone()),
        ));
    }
    println!(
        "
  {:<16} {:>9} {:>10} {:>16} {:>20} {:>21} {:>11} {:>22} {:>22}",
        "language",
        "size",
        "compile",
        "dispatch p50 ms",
        "daemon p50/p99 ms",
        "5 ms apart p50/p99 ms",
        "daemon RSS",
        "in-process pooling µs",
        "in-process on-demand µs"
    );
    for (lang, size, compile, dispatch, dir, component) in rows {
        let name = lang.replace(' ', "_").replace(['(', ')', '+'], "");
        // The previous build's daemon (HOOKHOST_BEFORE_BIN) and this one's, alternating event by
        // event (one after the other, the second carried the first's drift: 0.25 ms here).
        let before_daemon = before.map(|b| start_with(b, &format!("before-{name}"), &dir));
        let daemon = start(&name, &dir);
        let both: Vec<&Daemon> = before_daemon.iter().chain([&daemon]).collect();
        let b2b = Daemon::round_trips_rr(&both, root, 2000, Duration::ZERO);
        let apart = Daemon::round_trips_rr(&both, root, 1000, PACE);
        drop(both);
        drop(before_daemon);
        let ((d50, d99), (g50, g99)) = (b2b[b2b.len() - 1], apart[apart.len() - 1]);
        let before_rows = (b2b.len() == 2).then(|| {
            (
                format!("before: {:.3} / {:.3}, ", b2b[0].0, b2b[0].1),
                format!("before: {:.3} / {:.3}, ", apart[0].0, apart[0].1),
            )
        });
        if component.is_some() && lang != "Rust" {
            paced.push((lang.clone(), g50));
        }
        let rss = rss_kib(daemon.child.id()).saturating_sub(base_rss);
        drop(daemon);
        let in_process = |allocator| {
            component.as_ref().map_or("-".to_string(), |c| {
                let n = if lang == "Rust" { 10_000 } else { 2_000 };
                let (a, b) = wasm_in_process_with(c, &root.join("wasm-cache"), allocator, n);
                format!("{:.1} / {:.1}", a * 1000.0, b * 1000.0)
            })
        };
        let (before_b2b, before_paced) = before_rows.unwrap_or_default();
        println!(
            "  {:<16} {:>9} {:>10} {:>16} {:>20} {:>21} {:>8} MiB {:>22} {:>22}",
            lang,
            size,
            compile,
            dispatch,
            format!("{before_b2b}{d50:.3} / {d99:.3}"),
            format!("{before_paced}{g50:.3} / {g99:.3}"),
            format!("{:+.1}", rss as f64 / 1024.0),
            in_process(Allocator::Pooling),
            in_process(Allocator::OnDemand),
        );
    }
    drop(base);
    println!(
        "  (compile: Cranelift in a `hookhost __compile-wasm` child, as hookhost compiles, once per component and engine, into the precompile cache; daemon: back to back, and {} ms apart as an agent sends them (the daemon prepares each hook's next instance between events); daemon RSS: over a daemon with no hooks, after 2000 events; in-process: p50 / p99 of a fresh instance and call)",
        PACE.as_millis()
    );
    for (lang, p50) in paced {
        println!(
            "  issue 22: a {lang} decision in the warm daemon, events {} ms apart: {p50:.3} ms p50 (<= 1.0): {}",
            PACE.as_millis(),
            verdict(p50 <= 1.0)
        );
    }
    // A fork of the daemon (for a command hook run without the sandbox, on the decision path;
    // for a warm-pool stub, after it) copied the page tables of every guest heap the daemon kept
    // resident, until wasmtime's mappings were left out of forks (vendor/README.md). Three
    // daemons per build, round robin, events 20 ms apart: the sh hook alone, the Python and
    // JavaScript hooks alone, and all of them; "together - sum" is what running them in one
    // daemon adds (about one empty round trip less than zero when nothing is added).
    let heavy: Vec<serde_json::Value> = guests
        .iter()
        .filter(|(lang, _)| *lang != "Rust")
        .map(|(_, c)| serde_json::json!({"type": "wasm", "component": c, "timeout": 30, "memoryMb": 256}))
        .collect();
    if heavy.is_empty() {
        return;
    }
    let sh = serde_json::json!({"type": "command", "command": "cat >/dev/null; echo {}", "sandbox": {"mode": "off"}});
    let policy = |name: &str, hooks: Vec<serde_json::Value>| {
        let d = root.join(format!("fork-{name}"));
        std::fs::create_dir_all(&d).unwrap();
        let s = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": hooks}]}});
        std::fs::write(d.join("managed-settings.json"), s.to_string()).unwrap();
        d
    };
    let together = [heavy.clone(), vec![sh.clone()]].concat();
    let dirs = [
        ("sh", policy("sh", vec![sh])),
        ("guests", policy("guests", heavy)),
        ("together", policy("together", together)),
    ];
    println!(
        "\nwarm daemon, an unsandboxed sh hook beside the Python and JavaScript hooks (a fork of the daemon per event), round robin, events 20 ms apart (100 each), p50 ms:"
    );
    for (label, bin) in before.map(|b| ("before", b)).into_iter().chain([("now", hookhost)]) {
        let daemons: Vec<Daemon> = dirs.iter().map(|(n, d)| start_with(bin, &format!("{label}-fork-{n}"), d)).collect();
        let p = Daemon::round_trips_rr(&daemons.iter().collect::<Vec<_>>(), root, 100, Duration::from_millis(20));
        let rss = rss_kib(daemons[2].child.id());
        drop(daemons);
        let (sh_ms, guests_ms, both_ms) = (p[0].0, p[1].0, p[2].0);
        println!(
            "  {label:<7} sh hook {sh_ms:.3}, guests {guests_ms:.3}, together {both_ms:.3}: together - sum = {:+.3} ms   (RSS {:.0} MiB)",
            both_ms - sh_ms - guests_ms,
            rss as f64 / 1024.0
        );
    }
}

/// How far apart the paced daemon rows send events (an agent's tool calls are further apart).
const PACE: Duration = Duration::from_millis(5);

fn bench_run(component: &Path) -> hookhost::exec::wasm::WasmRun {
    hookhost::exec::wasm::WasmRun {
        label: "[bench]".into(),
        component: component.to_path_buf(),
        sha256: None,
        timeout: Duration::from_secs(30),
        memory_mb: Some(256),
        fuel: None,
    }
}

/// The sandbox's cost per hook, in one process with the real runner (`sandbox::prepare` +
/// `command::run`) spawning `sh -c true` with the event on stdin:
/// 1. a warm host (`hookhost serve`: the warm pool prepares each run, and starts its process,
///    ahead): unsandboxed vs the full sandbox, round-robin: the target;
/// 2. the CPU each run costs in all (this process and its children, the pool's work included);
/// 3. the same runs 20 ms apart, as an agent's events come: on a kernel whose cgroup2 is not
///    mounted with `favordynmods`, joining a cgroup then waits for an RCU grace period;
/// 4. without the pool (what one-shot `dispatch` does): unsandboxed, the always-on layers, the
///    full sandbox and each optional layer alone, round-robin.
fn sandbox_in_process(iterations: usize) {
    use hookhost::exec::sandbox::{self, Layer, Mode, SandboxSpec};
    use sandbox_run::{only, process, run_once};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = process();
    // The warm pool the runs go through while one is on (as `hookhost serve`'s host owns one).
    let pool: std::sync::Mutex<Option<sandbox::SandboxPool>> = std::sync::Mutex::new(None);
    let once = |spec: &SandboxSpec| {
        let pool = pool.lock().unwrap().clone();
        let start = Instant::now();
        rt.block_on(run_once(spec, &p, pool.as_ref()));
        start.elapsed()
    };
    let optional = Layer::optional();
    let missing = sandbox::capabilities().missing();
    let full_mode = if missing.is_empty() { Mode::Strict } else { Mode::BestEffort };
    let off = ("no sandbox (own session only)".to_string(), SandboxSpec::base(Mode::Off));
    let full = (format!("full sandbox ({})", full_mode.as_str()), SandboxSpec::base(full_mode));
    type Variants = Vec<(String, SandboxSpec, Vec<Duration>)>;
    let with_samples =
        |v: Vec<(String, SandboxSpec)>| -> Variants { v.into_iter().map(|(n, s)| (n, s, Vec::new())).collect() };
    let pass = |variants: &mut Variants, n: usize, gap: Duration| {
        for (_, spec, _) in variants.iter() {
            for _ in 0..10 {
                once(spec);
            }
        }
        for _ in 0..n {
            for (_, spec, samples) in variants.iter_mut() {
                std::thread::sleep(gap);
                samples.push(once(spec));
            }
        }
        let mut p50 = Vec::new();
        for (name, _, samples) in variants.iter_mut() {
            samples.sort();
            let (a, b) = (pct(samples, 0.5), pct(samples, 0.99));
            println!("  {:<38} {:>9} {:>9} {:>6}", name, ms(a), ms(b), samples.len());
            p50.push(a.as_secs_f64() * 1000.0);
        }
        p50
    };
    let cpu_ms = || {
        let u = |who| {
            let mut r: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage fills the struct we own.
            unsafe { libc::getrusage(who, &mut r) };
            let t = |v: libc::timeval| v.tv_sec as f64 * 1000.0 + v.tv_usec as f64 / 1000.0;
            t(r.ru_utime) + t(r.ru_stime)
        };
        u(libc::RUSAGE_SELF) + u(libc::RUSAGE_CHILDREN)
    };
    let header = || println!("  {:<38} {:>9} {:>9} {:>6}", "variant", "p50 ms", "p99 ms", "n");

    *pool.lock().unwrap() = {
        let _runtime = rt.enter();
        Some(sandbox::SandboxPool::start())
    };
    println!("\nin-process runner, sh -c true <event, warm pool on (as `hookhost serve`), round-robin:");
    header();
    let p50 = pass(&mut with_samples(vec![off.clone(), full.clone()]), iterations, Duration::ZERO);
    println!("  full sandbox - no sandbox      = {:+.3} ms   (target: <= +0.5 ms)", p50[1] - p50[0]);
    let n = iterations.max(100);
    let mut cpu = Vec::new();
    for (_, spec) in [&off, &full] {
        std::thread::sleep(Duration::from_millis(100));
        let before = cpu_ms();
        for _ in 0..n {
            once(spec);
        }
        std::thread::sleep(Duration::from_millis(100)); // the pool's last refill and teardown
        cpu.push((cpu_ms() - before) / n as f64);
    }
    println!(
        "  CPU per run, all threads and children: no sandbox {:.3} ms, full sandbox {:.3} ms ({:+.3} ms, most of it on the pool's worker)",
        cpu[0],
        cpu[1],
        cpu[1] - cpu[0]
    );
    let spaced = (iterations / 4).max(25);
    println!("\nthe same, runs 20 ms apart (as an agent's events come), warm pool on:");
    header();
    let p50 = pass(&mut with_samples(vec![off.clone(), full.clone()]), spaced, Duration::from_millis(20));
    println!("  full sandbox - no sandbox      = {:+.3} ms", p50[1] - p50[0]);
    drop(pool.lock().unwrap().take());
    println!("runs 20 ms apart, without the pool (as one-shot `dispatch`):");
    header();
    let p50 = pass(&mut with_samples(vec![off.clone(), full.clone()]), spaced, Duration::from_millis(20));
    println!("  full sandbox - no sandbox      = {:+.3} ms", p50[1] - p50[0]);

    let mut inline = vec![off, ("always-on layers".to_string(), only(None)), full];
    for l in &optional {
        if missing.iter().all(|(m, _)| m != l) {
            inline.push((format!("always-on + {}", l.as_str()), only(Some(*l))));
        }
    }
    println!("\nwithout the pool (prepared, applied and torn down on the way, as one-shot `dispatch`), round-robin:");
    header();
    let p50 = pass(&mut with_samples(inline.clone()), iterations, Duration::ZERO);
    println!("  full sandbox - no sandbox      = {:+.3} ms", p50[2] - p50[0]);
    println!("  always-on layers - no sandbox  = {:+.3} ms", p50[1] - p50[0]);
    println!("  each optional layer alone, over the always-on layers:");
    for (i, (name, _)) in inline.iter().enumerate().skip(3) {
        println!("    {:<16} {:+.3} ms", name.trim_start_matches("always-on + "), p50[i] - p50[1]);
    }
}

const SHELL_POLICY: &str = "shell policy: block-rm-rf/hook.sh <event";
const THIN: &str = "dispatch via daemon (thin client)";
const SMALL: &str = "hookhost-dispatch -> daemon (HOOKHOST_SOCKET)";
const AUTO: &str = "hookhost-dispatch -> automatic daemon";

/// A `hookhost serve` child for the daemon rows.
struct Daemon {
    child: std::process::Child,
    socket: PathBuf,
}

impl Daemon {
    /// Starts `hookhost serve` with its state under `state_root`.
    fn start(hookhost: &str, env: &[(String, String)], state_root: &Path, socket: &Path) -> Daemon {
        let child = Command::new(hookhost)
            .args(["serve", "--socket", socket.to_str().unwrap()])
            .envs(env.iter().map(|(k, x)| (k, x)))
            .env("XDG_STATE_HOME", state_root.join("state"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hookhost serve");
        let d = Daemon { child, socket: socket.to_path_buf() };
        let project = env.iter().find(|(k, _)| k == "CLAUDE_PROJECT_DIR").map(|(_, v)| PathBuf::from(v));
        let start = Instant::now();
        while d.status(project.as_deref().unwrap_or(state_root)).is_none() {
            assert!(start.elapsed() < Duration::from_secs(30), "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn status(&self, project: &Path) -> Option<Vec<hookhost::daemon::SourceInfo>> {
        use hookhost::daemon::{Reply, Request, client};
        let req = Request::Status { v: 1, project_dir: Some(project.to_path_buf()), settings: None };
        match client::request(&self.socket, &req, Duration::from_secs(5)) {
            Ok(Reply::Status { sources, .. }) => Some(sources),
            _ => None,
        }
    }

    /// p50 and p99 (ms) of one event's round trip, timed in the client from connect to decision.
    fn round_trips(&self, project: &Path, n: usize) -> (f64, f64) {
        self.round_trips_apart(project, n, Duration::ZERO)
    }

    /// p50 and p99 (ms) of `n` round trips, `gap` of idle time before each (not timed).
    fn round_trips_apart(&self, project: &Path, n: usize, gap: Duration) -> (f64, f64) {
        use hookhost::daemon::{Reply, Request, client};
        let req = Request::Event {
            v: 1,
            event: String::from_utf8(EVENT.to_vec()).unwrap(),
            project_dir: Some(project.to_path_buf()),
            settings: None,
        };
        let once = || {
            let start = Instant::now();
            let r = client::request(&self.socket, &req, Duration::from_secs(5)).expect("daemon answer");
            assert!(matches!(r, Reply::Outcome { .. }));
            start.elapsed()
        };
        // The first event may compile the component (the previous build cannot read this
        // build's precompile cache entries): not a round trip, and not bound by 5 s.
        let first = client::request(&self.socket, &req, Duration::from_secs(300)).expect("daemon answer");
        assert!(matches!(first, Reply::Outcome { .. }));
        for _ in 0..200 {
            once();
        }
        let mut samples: Vec<Duration> = (0..n)
            .map(|_| {
                std::thread::sleep(gap); // No wait at all for a zero gap.
                once()
            })
            .collect();
        samples.sort();
        (pct(&samples, 0.5).as_secs_f64() * 1000.0, pct(&samples, 0.99).as_secs_f64() * 1000.0)
    }

    /// p50 and p99 (ms) of round trips to `a` and `b`, alternating, `gap` before each.
    fn round_trip_pair(a: &Daemon, b: &Daemon, project: &Path, n: usize, gap: Duration) -> ((f64, f64), (f64, f64)) {
        let q = Self::round_trips_rr(&[a, b], project, n, gap);
        (q[0], q[1])
    }

    /// p50 and p99 (ms) of round trips to each of `daemons`, in turn, `gap` before each.
    fn round_trips_rr(daemons: &[&Daemon], project: &Path, n: usize, gap: Duration) -> Vec<(f64, f64)> {
        use hookhost::daemon::{Reply, Request, client};
        let req = Request::Event {
            v: 1,
            event: String::from_utf8(EVENT.to_vec()).unwrap(),
            project_dir: Some(project.to_path_buf()),
            settings: None,
        };
        let once = |d: &Daemon| {
            std::thread::sleep(gap);
            let start = Instant::now();
            let r = client::request(&d.socket, &req, Duration::from_secs(5)).expect("daemon answer");
            assert!(matches!(&r, Reply::Outcome { exit_code: 0, .. }), "{r:?}");
            start.elapsed()
        };
        for d in daemons {
            // The first event may compile a component: not bound by 5 s.
            let first = client::request(&d.socket, &req, Duration::from_secs(300)).expect("daemon answer");
            assert!(matches!(&first, Reply::Outcome { exit_code: 0, .. }), "{first:?}");
        }
        for _ in 0..20 {
            for d in daemons {
                once(d);
            }
        }
        let mut samples = vec![Vec::new(); daemons.len()];
        for _ in 0..n {
            for (d, s) in daemons.iter().zip(&mut samples) {
                s.push(once(d));
            }
        }
        samples
            .iter_mut()
            .map(|s| {
                s.sort();
                (pct(s, 0.5).as_secs_f64() * 1000.0, pct(s, 0.99).as_secs_f64() * 1000.0)
            })
            .collect()
    }

    /// p50 and p99 (ms) from writing the project settings file to the daemon serving the new
    /// revision (polled with status requests).
    fn reloads(&self, project: &Path, n: usize) -> (f64, f64) {
        use sha2::{Digest, Sha256};
        let file = project.join(".hookhost/settings.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut samples = Vec::new();
        for i in 0..n {
            let text = format!(r#"{{"permissions": {{"deny": ["Bash(rm:*)"]}}, "env": {{"N": "{i}"}}}}"#);
            let want = format!("{:x}", Sha256::digest(text.as_bytes()));
            let start = Instant::now();
            std::fs::write(&file, &text).unwrap();
            loop {
                if self.status(project).is_some_and(|s| s.iter().any(|x| x.path == file && x.sha256 == want)) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "reload {i} never became live");
                std::thread::sleep(Duration::from_micros(200));
            }
            samples.push(start.elapsed());
            // Let the watcher settle so each write is its own reload.
            std::thread::sleep(Duration::from_millis(20));
        }
        samples.sort();
        (pct(&samples, 0.5).as_secs_f64() * 1000.0, pct(&samples, 0.99).as_secs_f64() * 1000.0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The options of this process's WebAssembly runtimes: components are compiled the way
/// `hookhost` compiles them, in a `hookhost __compile-wasm` child. Compiling on a thread of this
/// process instead (what a library build does) leaves Cranelift's heap behind in it: after the
/// Python and JavaScript compiles, each fork of this process (the in-process runner's rows)
/// took over 20 ms more here, a cost the daemon does not have.
fn wasm_options(cache: Option<&Path>, allocator: hookhost::exec::wasm::Allocator) -> hookhost::exec::wasm::WasmOptions {
    hookhost::exec::wasm::WasmOptions {
        cache_dir: cache.map(Path::to_path_buf),
        allocator,
        compiler: hookhost::exec::wasm::Compiler::Child(PathBuf::from(env!("CARGO_BIN_EXE_hookhost"))),
        ..hookhost::exec::wasm::WasmOptions::from_env()
    }
}

/// `component` loaded for in-process decisions (the default limits, a 5 s deadline), the run
/// it is instantiated for, and the event it decides; and the runtime, which must outlive the
/// decisions (it advances the engine's epoch, the deadline's clock).
struct InProcess {
    _rt: hookhost::exec::wasm::WasmRuntime,
    loaded: hookhost::exec::wasm::LoadedComponent,
    run: hookhost::exec::wasm::WasmRun,
    event: hookhost::exec::wasm::GuestEvent,
}

fn in_process_policy(component: &Path, cache: &Path, allocator: hookhost::exec::wasm::Allocator) -> InProcess {
    let rt = hookhost::exec::wasm::WasmRuntime::new(wasm_options(Some(cache), allocator)).unwrap();
    let run =
        hookhost::exec::wasm::WasmRun { timeout: Duration::from_secs(5), memory_mb: None, ..bench_run(component) };
    let event = hookhost::exec::wasm::GuestEvent::new(&hookhost::event::HookEvent::parse(EVENT).unwrap());
    // Off the event path: a Python or JavaScript compile takes longer than an event's deadline.
    let (loaded, _) = rt.precompile(&run).unwrap();
    InProcess { _rt: rt, loaded, run, event }
}

/// p50 and p99 (ms) of one in-process decision with a fresh instance.
fn wasm_in_process(component: &Path, cache: &Path) -> (f64, f64) {
    wasm_in_process_with(component, cache, hookhost::exec::wasm::Allocator::OnDemand, 10_000)
}

/// Events per second `threads` threads decide in process, each event on a fresh instance
/// (pooling allocator), over five rounds of one second: the median, and every round's figure.
fn wasm_throughput(component: &Path, cache: &Path, threads: usize) -> (f64, Vec<f64>) {
    let InProcess { loaded, run, event, .. } =
        &in_process_policy(component, cache, hookhost::exec::wasm::Allocator::Pooling);
    let decide = || {
        let outcome = loaded.instantiate(run).unwrap().handle(event);
        assert!(
            matches!(outcome.result, hookhost::decision::HookResult::Decided(_)),
            "the policy failed: {:?}",
            outcome.result
        );
    };
    for _ in 0..500 {
        decide();
    }
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let until = Instant::now() + Duration::from_secs(1);
            let start = Instant::now();
            let events: usize = std::thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            let mut n = 0;
                            while Instant::now() < until {
                                for _ in 0..64 {
                                    decide();
                                }
                                n += 64;
                            }
                            n
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).sum()
            });
            events as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    let shown = rounds.clone();
    rounds.sort_by(f64::total_cmp);
    (rounds[rounds.len() / 2], shown)
}

/// p50 and p99 (ms) of `n` in-process decisions with a fresh instance each.
fn wasm_in_process_with(
    component: &Path,
    cache: &Path,
    allocator: hookhost::exec::wasm::Allocator,
    n: usize,
) -> (f64, f64) {
    let InProcess { loaded, run, event, .. } = &in_process_policy(component, cache, allocator);
    let once = || {
        let start = Instant::now();
        std::hint::black_box(loaded.instantiate(run).unwrap().handle(event));
        start.elapsed()
    };
    for _ in 0..200 {
        once();
    }
    let mut samples: Vec<Duration> = (0..n).map(|_| once()).collect();
    samples.sort();
    (pct(&samples, 0.5).as_secs_f64() * 1000.0, pct(&samples, 0.99).as_secs_f64() * 1000.0)
}
