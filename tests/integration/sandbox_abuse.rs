//! Sandbox abuse tests: the 42 hostile hooks of `design/sandbox.md` §8, run through the real
//! `hookhost dispatch` / `explain` binary (so the real runner and sandbox), strict mode, as root.
//!
//! Every case asserts that the forbidden *effect* did not happen — a victim file outside the grant
//! is unchanged, a listener the test opened saw nothing, the host's random `HOOK_TEST_SECRET`
//! never shows up, no process of the hook survives, the host answers normally — and never relies
//! on an exit code alone (a tool missing inside the sandbox, exit 127, proves nothing and fails
//! the case; a tool missing on the machine skips that sub-case with a printed reason).
//!
//! Cases run concurrently in threads; each reports `case N: …` in its assertion messages, and a
//! group fails listing every case that was not contained. CPU-heavy cases never overlap the
//! timing-sensitive ones (a lock), so "killed at timeout ± 200 ms" means what it says.
//!
//! Afterwards, each optional layer is disabled by configuration in turn: `strict` must refuse,
//! `best_effort` must run, report `<layer>=disabled`, and the remaining layers must still contain
//! a few representative abuses.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::support::{Env, alive, bash_event, hook_settings};

type R = Result<(), String>;

// ---------------------------------------------------------------------------------------------
// Fixtures shared by all cases.

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The secret in the host's (hookhost's) environment, never in the test process's own.
fn secret() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| format!("hts{}", random_hex(16)))
}

/// The real Python interpreter (not a pyenv shim script) and the directories it needs.
struct Py {
    exe: String,
    grant: Vec<String>,
}

fn python() -> Option<&'static Py> {
    static PY: OnceLock<Option<Py>> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys;print(sys.executable);print(sys.base_prefix);print(sys.prefix)"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let exe = lines.next()?.trim().to_string();
        let mut magic = [0u8; 4];
        std::fs::File::open(&exe).ok()?.read_exact(&mut magic).ok()?;
        if &magic != b"\x7fELF" {
            return None;
        }
        let mut grant: Vec<String> = lines.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        grant.push(Path::new(&exe).parent()?.to_string_lossy().into_owned());
        grant.sort();
        grant.dedup();
        Some(Py { exe, grant })
    })
    .as_ref()
}

/// A tool on the hook's `PATH` (`/usr/local/bin:/usr/bin:/bin`).
fn tool(name: &str) -> Option<String> {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

fn skip_note(n: u32, what: &str) {
    eprintln!("[abuse] case {n}: sub-case skipped: {what}");
}

/// Timing-sensitive cases take this for reading; CPU-heavy ones for writing.
static TIMING: RwLock<()> = RwLock::new(());

fn timing() -> std::sync::RwLockReadGuard<'static, ()> {
    TIMING.read().unwrap_or_else(|e| e.into_inner())
}

fn heavy() -> std::sync::RwLockWriteGuard<'static, ()> {
    TIMING.write().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Hook settings.

fn hook(command: &str, timeout: f64, sandbox: Value) -> Value {
    json!({"type": "command", "command": command, "timeout": timeout, "sandbox": sandbox})
}

/// `{"mode": "strict"}` plus `extra`.
fn strict(extra: Value) -> Value {
    merge(json!({"mode": "strict"}), extra)
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            match (b.get_mut(&k), v) {
                (Some(Value::Array(a)), Value::Array(more)) => a.extend(more),
                (_, v) => {
                    b.insert(k, v);
                }
            }
        }
    }
    base
}

/// `sandbox` plus a read grant for the real Python interpreter.
fn with_py(sandbox: Value) -> Value {
    match python() {
        Some(py) => merge(sandbox, json!({"allowRead": py.grant})),
        None => sandbox,
    }
}

/// Shell code printing a PreToolUse deny whose reason is `reason` (no quotes in it).
fn deny(reason: &str) -> String {
    format!(
        "printf '%s' '{{\"hookSpecificOutput\":{{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"{reason}\"}}}}'"
    )
}

// ---------------------------------------------------------------------------------------------
// Processes and cgroups, seen from the test.

/// (state, ppid, pgrp, session) of a process.
fn stat(pid: i32) -> Option<(char, i32, i32, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Live (non-zombie) processes in session `sid`.
fn session_alive(sid: i32) -> Vec<i32> {
    all_pids().into_iter().filter(|p| matches!(stat(*p), Some((st, _, _, s)) if s == sid && st != 'Z')).collect()
}

/// Waits up to `within` for `pids` to be gone; returns those still alive.
fn wait_gone(pids: &[i32], within: Duration) -> Vec<i32> {
    let end = Instant::now() + within;
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() >= end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn describe(pid: i32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
    format!("{pid} ({}) {:?}", cmd.trim(), stat(pid))
}

/// Reads a pid a hook wrote, waiting up to `within` for it.
fn read_pid(p: &Path, within: Duration) -> Option<i32> {
    let end = Instant::now() + within;
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && let Some(n) = s.split_whitespace().next().and_then(|w| w.parse().ok())
        {
            return Some(n);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Debug, Default, Clone)]
struct CgroupMounts {
    v2: Option<PathBuf>,
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
}

fn cgroup_mounts() -> &'static CgroupMounts {
    static M: OnceLock<CgroupMounts> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = CgroupMounts::default();
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in mi.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let Some(dash) = f.iter().position(|x| *x == "-") else { continue };
            let (Some(mp), Some(ty), Some(opts)) = (f.get(4), f.get(dash + 1), f.get(dash + 3)) else { continue };
            match *ty {
                "cgroup2" => m.v2 = Some(PathBuf::from(mp)),
                "cgroup" if opts.split(',').any(|o| o == "pids") => m.pids = Some(PathBuf::from(mp)),
                "cgroup" if opts.split(',').any(|o| o == "memory") => m.memory = Some(PathBuf::from(mp)),
                _ => {}
            }
        }
        m
    })
}

/// The test's own cgroup path per hierarchy ("" = v2), which hookhost inherits.
fn own_cgroups() -> BTreeMap<String, String> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            Some((c.to_string(), path.to_string()))
        })
        .collect()
}

/// The directories below which hookhost creates its per-run leaves.
fn cgroup_parents() -> Vec<PathBuf> {
    let m = cgroup_mounts();
    let own = own_cgroups();
    let mut v = Vec::new();
    for (ctrl, mount) in [("", &m.v2), ("pids", &m.pids), ("memory", &m.memory)] {
        if let (Some(mount), Some(rel)) = (
            mount,
            own.iter()
                .find(|(c, _)| c.split(',').any(|x| x == ctrl) || (ctrl.is_empty() && c.is_empty()))
                .map(|(_, p)| p),
        ) {
            v.push(mount.join(rel.trim_start_matches('/')));
        }
    }
    v
}

/// Cgroup leaves named after hookhost process `host_pid` (also used by `sandbox_pool`).
pub(super) fn leftover_leaves(host_pid: i32) -> Vec<PathBuf> {
    let prefix = format!("hookhost-{host_pid}-");
    cgroup_parents()
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running hookhost.

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    pid: i32,
    /// hookhost's own peak RSS (VmHWM, KiB), last sample.
    peak_rss_kb: u64,
}

impl Run {
    fn json(&self) -> Value {
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
        }
    }
    fn system_message(&self) -> String {
        self.json()["systemMessage"].as_str().unwrap_or_default().to_string()
    }
    fn deny_reason(&self) -> Option<String> {
        self.json()["hookSpecificOutput"]["permissionDecisionReason"].as_str().map(str::to_string)
    }
}

fn vm_hwm(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    super::support::status_kib(&s, "VmHWM")
}

/// Spawns `cmd`, feeds `stdin`, samples the process while it runs (`during` gets the pid and
/// the time since the start), and kills it at `limit` (a hung host: the case fails).
fn spawn_run(
    n: u32,
    mut cmd: Command,
    stdin: Vec<u8>,
    limit: Duration,
    mut during: Option<&mut dyn FnMut(i32, Duration)>,
) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child: Child = cmd.spawn().expect("spawn hookhost");
    let pid = child.id() as i32;
    let mut w = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&stdin);
    });
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ro = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let re = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let mut peak = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let Some(h) = vm_hwm(pid) {
            peak = peak.max(h);
        }
        if let Some(f) = during.as_mut() {
            f(pid, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
            panic!("case {n}: hookhost (pid {pid}) did not return within {limit:?}: the host hangs or was stopped");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&ro.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&re.join().unwrap()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
    Run { code, stdout, stderr, elapsed, pid, peak_rss_kb: peak }
}

/// One hook's block in `hookhost explain`.
#[derive(Debug, Clone, Default)]
struct Explained {
    answered: String,
    took_ms: f64,
    sandbox: String,
}

fn parse_explain(out: &str) -> Vec<Explained> {
    let mut v: Vec<Explained> = Vec::new();
    for line in out.lines() {
        if line.starts_with("  command  ") {
            v.push(Explained::default());
        } else if let Some(cur) = v.last_mut() {
            let l = line.trim_start();
            if let Some(a) = l.strip_prefix("answered: ") {
                cur.answered = a.to_string();
            } else if let Some(t) = l.strip_prefix("took ") {
                cur.took_ms = t.split(" ms").next().and_then(|x| x.trim().parse().ok()).unwrap_or(f64::NAN);
            } else if let Some(s) = l.strip_prefix("sandbox: ") {
                cur.sandbox = s.to_string();
            }
        }
    }
    v
}

/// One case: its own temporary machine, an output dir the hooks may write (`out`), an outside
/// dir with victims (not granted), and hookhost's own `TMPDIR` (to see run temp dirs go).
struct Case {
    n: u32,
    env: Env,
    out: PathBuf,
    outside: tempfile::TempDir,
    tmpdir: tempfile::TempDir,
}

impl Case {
    fn new(n: u32) -> Case {
        let env = Env::new();
        let out = env.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let outside = tempfile::Builder::new().prefix("abuse-outside-").tempdir().unwrap();
        let tmpdir = tempfile::Builder::new().prefix("abuse-hosttmp-").tempdir().unwrap();
        assert!(!outside.path().starts_with(env.path()) && !env.path().starts_with(outside.path()));
        Case { n, env, out, outside, tmpdir }
    }

    /// A path in the allowed output dir.
    fn p(&self, name: &str) -> String {
        self.out.join(name).to_string_lossy().into_owned()
    }

    /// A path in the outside (victim) dir.
    fn v(&self, name: &str) -> String {
        self.outside.path().join(name).to_string_lossy().into_owned()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read(self.out.join(name)).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    fn exists(&self, name: &str) -> bool {
        self.out.join(name).symlink_metadata().is_ok()
    }

    /// `key=value` lines a hook wrote.
    fn kv(&self, name: &str) -> BTreeMap<String, String> {
        self.read(name)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect()
    }

    /// Writes a hook script into the output dir; the hook execs it with the host's pid as `$1`.
    fn sh_hook(&self, name: &str, body: &str, timeout: f64, sandbox: Value) -> Value {
        let path = self.p(name);
        std::fs::write(&path, body).unwrap();
        hook(&format!("exec /bin/sh {path} \"$PPID\""), timeout, sandbox)
    }

    fn set_hooks(&self, hooks: Vec<Value>) {
        self.env.write("managed", &hook_settings("PreToolUse", "*", Value::Array(hooks)));
    }

    fn command(&self, sub: &[&str]) -> Command {
        let mut c = self.env.command(sub);
        c.env("HOOK_TEST_SECRET", secret()).env("TMPDIR", self.tmpdir.path());
        c
    }

    fn run_with(
        &self,
        sub: &[&str],
        event: &[u8],
        limit: Duration,
        during: Option<&mut dyn FnMut(i32, Duration)>,
    ) -> Run {
        spawn_run(self.n, self.command(sub), event.to_vec(), limit, during)
    }

    fn dispatch(&self) -> Run {
        self.run_with(&["dispatch"], &bash_event("ls"), Duration::from_secs(20), None)
    }

    fn explain(&self) -> (Run, Vec<Explained>) {
        let r = self.run_with(&["explain"], &bash_event("ls"), Duration::from_secs(20), None);
        let e = parse_explain(&r.stdout);
        (r, e)
    }

    /// The host answered normally: exit 0, Claude Code JSON (or nothing), no panic.
    fn assert_host_ok(&self, r: &Run) {
        let n = self.n;
        assert_eq!(r.code, 0, "case {n}: hookhost did not exit 0: {r:?}");
        assert!(!r.stderr.contains("panicked"), "case {n}: hookhost panicked: {}", r.stderr);
        if !r.stdout.trim().is_empty() && !r.stdout.starts_with("event ") {
            assert!(r.json().is_object(), "case {n}: dispatch printed no JSON object: {:?}", r.stdout);
        }
    }

    /// No secret anywhere the hook could leave it; run cgroup leaves and temp dirs gone.
    fn assert_clean(&self, r: &Run) {
        let n = self.n;
        let s = secret();
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "case {n}: the host's secret appears in hookhost's output"
        );
        for f in walk(&self.out) {
            let b = std::fs::read(&f).unwrap_or_default();
            assert!(!String::from_utf8_lossy(&b).contains(s), "case {n}: the host's secret appears in {}", f.display());
        }
        let end = Instant::now() + Duration::from_millis(300);
        loop {
            let leaves = leftover_leaves(r.pid);
            let temps: Vec<_> = std::fs::read_dir(self.tmpdir.path()).unwrap().flatten().map(|e| e.path()).collect();
            if leaves.is_empty() && temps.is_empty() {
                break;
            }
            assert!(
                Instant::now() < end,
                "case {n}: after the run, cgroup leaves {leaves:?} and run temp dirs {temps:?} remain"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            v.extend(walk(&e.path()));
        } else if ft.is_file() && e.metadata().map(|m| m.len() < 8 << 20).unwrap_or(false) {
            v.push(e.path());
        }
    }
    v
}

/// A file's observable state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snap {
    content: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    nlink: u64,
    ino: u64,
    xattrs: Vec<u8>,
}

fn snap(p: &Path) -> Option<Snap> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let content = if m.is_file() { std::fs::read(p).ok()? } else { Vec::new() };
    Some(Snap {
        content,
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
        nlink: m.nlink(),
        ino: m.ino(),
        xattrs: list_xattrs(p),
    })
}

fn list_xattrs(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: llistxattr writes at most buf.len() bytes into our buffer.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf.truncate(n as usize);
    buf
}

fn diff_snap(what: &str, before: &Snap, after: Option<Snap>) -> Option<String> {
    let Some(a) = after else { return Some(format!("{what}: victim is gone")) };
    let mut d = Vec::new();
    if a.content != before.content {
        d.push(format!(
            "content {:?} -> {:?}",
            String::from_utf8_lossy(&before.content),
            String::from_utf8_lossy(&a.content)
        ));
    }
    if a.mode != before.mode {
        d.push(format!("mode {:o} -> {:o}", before.mode, a.mode));
    }
    if (a.uid, a.gid) != (before.uid, before.gid) {
        d.push(format!("owner {}:{} -> {}:{}", before.uid, before.gid, a.uid, a.gid));
    }
    if a.mtime != before.mtime {
        d.push(format!("mtime {:?} -> {:?}", before.mtime, a.mtime));
    }
    if a.nlink != before.nlink {
        d.push(format!("nlink {} -> {}", before.nlink, a.nlink));
    }
    if a.xattrs != before.xattrs {
        d.push(format!(
            "xattrs {:?} -> {:?}",
            String::from_utf8_lossy(&before.xattrs),
            String::from_utf8_lossy(&a.xattrs)
        ));
    }
    if d.is_empty() { None } else { Some(format!("{what}: {}", d.join(", "))) }
}

/// A victim file outside the grant: mode 0600, an old mtime.
fn make_victim(p: &Path, content: &str) -> Snap {
    std::fs::write(p, content).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)).unwrap();
    drop(f);
    snap(p).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Listeners the hooks must not reach.

struct Listeners {
    tcp: TcpListener,
    udp: UdpSocket,
    unix: UnixListener,
    unix_path: PathBuf,
    abstract_: UnixListener,
    abstract_name: String,
    _dir: tempfile::TempDir,
}

impl Listeners {
    /// Opens all four and checks each works (a control connection from the test).
    fn open() -> Listeners {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::Builder::new().prefix("abuse-sock-").tempdir().unwrap();
        let unix_path = dir.path().join("daemon.sock");
        let unix = UnixListener::bind(&unix_path).unwrap();
        let abstract_name = format!("hookhost-abuse-{}", random_hex(8));
        let abstract_ =
            UnixListener::bind_addr(&UnixAddr::from_abstract_name(abstract_name.as_bytes()).unwrap()).unwrap();
        // Controls.
        let _c = TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        tcp.accept().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"control", udp.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        udp.recv_from(&mut buf).unwrap();
        let _u = UnixStream::connect(&unix_path).unwrap();
        unix.accept().unwrap();
        let _a = UnixStream::connect_addr(&UnixAddr::from_abstract_name(abstract_name.as_bytes()).unwrap()).unwrap();
        abstract_.accept().unwrap();
        for l in [&tcp as &dyn NonBlock, &udp, &unix, &abstract_] {
            l.nb();
        }
        Listeners { tcp, udp, unix, unix_path, abstract_, abstract_name, _dir: dir }
    }

    fn tcp_port(&self) -> u16 {
        self.tcp.local_addr().unwrap().port()
    }

    fn udp_port(&self) -> u16 {
        self.udp.local_addr().unwrap().port()
    }

    /// What reached the listeners (empty = contained).
    fn breaches(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(50));
        let mut v = Vec::new();
        if let Ok((_, a)) = self.tcp.accept() {
            v.push(format!("TCP listener accepted a connection from {a}"));
        }
        let mut buf = [0u8; 256];
        if let Ok((k, a)) = self.udp.recv_from(&mut buf) {
            v.push(format!("UDP listener received {:?} from {a}", String::from_utf8_lossy(&buf[..k])));
        }
        if self.unix.accept().is_ok() {
            v.push(format!("pathname Unix listener {} accepted a connection", self.unix_path.display()));
        }
        if self.abstract_.accept().is_ok() {
            v.push(format!("abstract Unix listener @{} accepted a connection", self.abstract_name));
        }
        v
    }
}

trait NonBlock {
    fn nb(&self);
}
impl NonBlock for TcpListener {
    fn nb(&self) {
        self.set_nonblocking(true).unwrap()
    }
}
impl NonBlock for UdpSocket {
    fn nb(&self) {
        self.set_nonblocking(true).unwrap()
    }
}
impl NonBlock for UnixListener {
    fn nb(&self) {
        self.set_nonblocking(true).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Running a group of cases.

type CaseFn = Box<dyn FnOnce() -> R + Send>;

fn case(n: u32, what: &'static str, f: fn() -> R) -> (u32, &'static str, CaseFn) {
    (n, what, Box::new(f))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs the cases on `parallel` threads; fails listing every case that failed. A case returns
/// `Err(reason)` to be skipped.
fn run_cases(group: &str, parallel: usize, cases: Vec<(u32, &'static str, CaseFn)>) {
    let queue = Mutex::new(cases.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some((n, what, f)) = next else { break };
                    let start = Instant::now();
                    let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                        Ok(Ok(())) => "PASS".to_string(),
                        Ok(Err(why)) => format!("SKIPPED ({why})"),
                        Err(p) => {
                            let m = panic_text(p);
                            failures.lock().unwrap().push(format!("case {n} ({what}): {m}"));
                            format!("FAIL: {m}")
                        }
                    };
                    let line = format!("case {n:>2} {what}: {status} [{:.2}s]", start.elapsed().as_secs_f64());
                    eprintln!("[abuse] {line}");
                    results.lock().unwrap().push((n, line));
                }
            });
        }
    });
    let mut r = results.into_inner().unwrap();
    r.sort();
    eprintln!("[abuse] ---- {group} ----");
    for (_, l) in &r {
        eprintln!("[abuse] {l}");
    }
    let f = failures.into_inner().unwrap();
    assert!(f.is_empty(), "{group}: {} case(s) not contained:\n{}", f.len(), f.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The machine's report (strict, all layers) — the target of the whole table.

fn baseline_report() -> &'static str {
    static REP: OnceLock<String> = OnceLock::new();
    REP.get_or_init(|| {
        let c = Case::new(0);
        c.set_hooks(vec![hook("true", 2.0, json!({}))]);
        let (r, e) = c.explain();
        assert_eq!(r.code, 0, "{r:?}");
        e.first().map(|e| e.sandbox.clone()).unwrap_or_default()
    })
}

#[test]
fn abuse_00_default_report_is_strict_with_every_layer() {
    let rep = baseline_report();
    eprintln!("[abuse] default sandbox report: {rep}");
    assert_eq!(rep, "strict: all 15 layers enforced", "CI machines must enforce every layer in strict mode");
}

// =============================================================================================
// 1–10, 35, 36: lifetime and I/O.

fn case_01() -> R {
    let c = Case::new(1);
    c.set_hooks(vec![hook(&format!("cat > {}", c.p("stdin.json")), 2.0, strict(json!({})))]);
    let ev = bash_event("echo hello");
    let r = c.run_with(&["dispatch"], &ev, Duration::from_secs(10), None);
    c.assert_host_ok(&r);
    assert!(r.system_message().is_empty(), "case 1: `cat` failed: {}", r.system_message());
    assert_eq!(std::fs::read(c.p("stdin.json")).unwrap_or_default(), ev, "case 1: the hook's stdin is not the event");
    c.assert_clean(&r);
    Ok(())
}

fn case_02() -> R {
    for mib in [1usize, 50] {
        let c = Case::new(2);
        c.set_hooks(vec![hook("true", 2.0, strict(json!({})))]);
        let ev = bash_event(&"x".repeat(mib << 20));
        let r = c.run_with(&["dispatch", "--max-event-bytes", "60000000"], &ev, Duration::from_secs(20), None);
        c.assert_host_ok(&r);
        let m = r.system_message();
        assert!(m.is_empty(), "case 2: `true` fed {mib} MiB failed (EPIPE not tolerated or a hang): {m}");
        assert!(r.elapsed < Duration::from_secs(8), "case 2: {mib} MiB event took {:?}", r.elapsed);
        c.assert_clean(&r);
        eprintln!("[abuse] case 2: `true` fed {mib} MiB: {:?}", r.elapsed);
    }
    Ok(())
}

fn case_03() -> R {
    let _t = timing();
    let c = Case::new(3);
    let pid = c.p("pid");
    c.set_hooks(vec![c.sh_hook("h.sh", &format!("echo $$ > {pid}\nexec sleep 600\n"), 1.0, strict(json!({})))]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    let e = &e[0];
    eprintln!("[abuse] case 3: {} after {} ms", e.answered, e.took_ms);
    assert!(e.answered.contains("FAILED (timeout)"), "case 3: not timed out: {}", e.answered);
    assert!(e.took_ms >= 990.0 && e.took_ms <= 1200.0, "case 3: killed at {} ms, not 1000 ms ± 200", e.took_ms);
    let p = read_pid(Path::new(&pid), Duration::ZERO).ok_or("no pid").unwrap();
    let left = wait_gone(&[p], Duration::from_millis(200));
    assert!(left.is_empty(), "case 3: survivor {}", describe(p));
    assert!(session_alive(p).is_empty(), "case 3: survivors in the hook's session: {:?}", session_alive(p));
    c.assert_clean(&r);
    Ok(())
}

fn case_04() -> R {
    let _t = heavy();
    let c = Case::new(4);
    let pid = c.p("pid");
    c.set_hooks(vec![c.sh_hook(
        "h.sh",
        &format!("echo $$ > {pid}\ntrap '' TERM\nwhile :; do :; done\n"),
        1.0,
        strict(json!({})),
    )]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    let e = &e[0];
    eprintln!("[abuse] case 4: {} after {} ms", e.answered, e.took_ms);
    assert!(e.answered.contains("FAILED (timeout)"), "case 4: not timed out: {}", e.answered);
    assert!(
        e.took_ms >= 1900.0 && e.took_ms <= 2300.0,
        "case 4: SIGKILL not after the 1 s grace: took {} ms",
        e.took_ms
    );
    let p = read_pid(Path::new(&pid), Duration::ZERO).expect("case 4: no pid");
    assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 4: survivor {}", describe(p));
    c.assert_clean(&r);
    Ok(())
}

fn case_05() -> R {
    let _t = timing();
    let c = Case::new(5);
    let gc = c.p("gc.pid");
    c.set_hooks(vec![c.sh_hook(
        "h.sh",
        &format!("(sleep 600 & echo $! > {gc})\n{}\n", deny("done")),
        3.0,
        strict(json!({})),
    )]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    assert_eq!(r.deny_reason().as_deref(), Some("done"), "case 5: the hook's answer is missing: {}", r.stdout);
    assert!(r.elapsed < Duration::from_secs(1), "case 5: returned after {:?}, not at once", r.elapsed);
    let p = read_pid(Path::new(&gc), Duration::ZERO).expect("case 5: no grandchild pid");
    assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 5: grandchild survived: {}", describe(p));
    c.assert_clean(&r);
    Ok(())
}

fn case_06() -> R {
    let _t = timing();
    let c = Case::new(6);
    let job = c.p("job.pid");
    c.set_hooks(vec![c.sh_hook(
        "h.sh",
        &format!("sleep 600 &\necho $! > {job}\n{}\n", deny("done")),
        3.0,
        strict(json!({})),
    )]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    assert_eq!(r.deny_reason().as_deref(), Some("done"), "case 6: {}", r.stdout);
    assert!(r.elapsed < Duration::from_secs(1), "case 6: returned after {:?}", r.elapsed);
    let p = read_pid(Path::new(&job), Duration::ZERO).expect("case 6: no job pid");
    assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 6: background job survived: {}", describe(p));
    c.assert_clean(&r);
    Ok(())
}

fn case_07() -> R {
    let c = Case::new(7);
    let job = c.p("job.pid");
    let body = format!(
        "setsid sh -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat) > {job}; exec sleep 600' </dev/null >/dev/null 2>&1 &\nsleep 0.3\n{}\n",
        deny("done")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    assert_eq!(r.deny_reason().as_deref(), Some("done"), "case 7: {}", r.stdout);
    let line = c.read("job.pid");
    let w: Vec<i32> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    assert_eq!(w.len(), 2, "case 7: the setsid job did not start: {line:?}");
    assert_eq!(w[0], w[1], "case 7: the job did not get its own session (test premise): {line:?}");
    assert!(
        wait_gone(&[w[0]], Duration::from_millis(200)).is_empty(),
        "case 7: setsid job survived: {}",
        describe(w[0])
    );
    c.assert_clean(&r);
    Ok(())
}

fn case_08() -> R {
    let c = Case::new(8);
    let (d, m) = (c.p("daemon.pid"), c.p("marker"));
    let body = format!(
        "( setsid sh -c 'echo $$ > {d}; sleep 2; echo pwn > {m}' </dev/null >/dev/null 2>&1 & )\nsleep 0.2\n{}\n",
        deny("done")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let start = Instant::now();
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let p = read_pid(Path::new(&d), Duration::ZERO).expect("case 8: the daemon did not start");
    let left = wait_gone(&[p], Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(2800).saturating_sub(start.elapsed()));
    assert!(!c.exists("marker"), "case 8: the double-forked daemon wrote its marker 2 s later");
    assert!(left.is_empty(), "case 8: daemon survived: {}", describe(p));
    c.assert_clean(&r);
    Ok(())
}

fn case_09() -> R {
    let _t = timing();
    let c = Case::new(9);
    c.set_hooks(vec![hook("exec head -c 1000000000 /dev/zero", 3.0, strict(json!({})))]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    let e = &e[0];
    assert!(e.answered.contains("stdout exceeded 1024 KiB"), "case 9: not capped/truncated: {}", e.answered);
    assert!(e.took_ms < 1000.0, "case 9: took {} ms", e.took_ms);
    assert!(r.peak_rss_kb < 64 * 1024, "case 9: hookhost's memory grew to {} KiB", r.peak_rss_kb);
    eprintln!("[abuse] case 9: capped in {} ms, hookhost peak RSS {} KiB", e.took_ms, r.peak_rss_kb);
    c.assert_clean(&r);
    Ok(())
}

fn case_10() -> R {
    let _t = timing();
    let c = Case::new(10);
    let a = c.p("a.pid");
    c.set_hooks(vec![
        c.sh_hook("a.sh", &format!("echo $$ > {a}\nexec yes >&2\n"), 3.0, strict(json!({}))),
        c.sh_hook(
            "b.sh",
            &format!("head -c 200000 /dev/zero | tr '\\0' y >&2\n{}\n", deny("stdout-intact")),
            3.0,
            strict(json!({})),
        ),
    ]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    assert!(r.system_message().contains("stderr exceeded 256 KiB"), "case 10: stderr not capped: {}", r.stdout);
    assert_eq!(
        r.deny_reason().as_deref(),
        Some("stdout-intact"),
        "case 10: stdout beside heavy stderr lost: {}",
        r.stdout
    );
    assert!(r.elapsed < Duration::from_millis(1500), "case 10: took {:?}", r.elapsed);
    let p = read_pid(Path::new(&a), Duration::ZERO).expect("case 10: no pid");
    assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 10: `yes` survived");
    c.assert_clean(&r);
    Ok(())
}

fn case_35() -> R {
    let _t = timing();
    let c = Case::new(35);
    let (a, b) = (c.p("a.pid"), c.p("b.pid"));
    c.set_hooks(vec![
        c.sh_hook("a.sh", &format!("echo $$ > {a}\nexec >&-\nexec sleep 600\n"), 1.0, strict(json!({}))),
        c.sh_hook("b.sh", &format!("echo $$ > {b}\nexec >&- 2>&-\nexec sleep 601\n"), 1.0, strict(json!({}))),
    ]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    assert_eq!(e.len(), 2, "case 35: {}", r.stdout);
    for h in &e {
        eprintln!("[abuse] case 35: {} after {} ms", h.answered, h.took_ms);
        assert!(h.answered.contains("FAILED (timeout)"), "case 35: {}", h.answered);
        assert!(h.took_ms < 1300.0, "case 35: waited for EOF: took {} ms", h.took_ms);
    }
    for f in [&a, &b] {
        let p = read_pid(Path::new(f), Duration::ZERO).expect("case 35: no pid");
        assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 35: survivor {}", describe(p));
    }
    c.assert_clean(&r);
    Ok(())
}

fn case_36() -> R {
    let c = Case::new(36);
    let head = r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":""#;
    c.set_hooks(vec![
        // Partial JSON, then killed at the timeout.
        c.sh_hook("partial.sh", &format!("printf '%s' '{head}PWN36A'\nexec sleep 600\n"), 1.0, strict(json!({}))),
        // A complete, valid answer of 2 MB: over the stdout cap.
        c.sh_hook(
            "oversized.sh",
            &format!("printf '%s' '{head}PWN36B'\nhead -c 2000000 /dev/zero | tr '\\0' a\nprintf '\"}}}}'\n"),
            3.0,
            strict(json!({})),
        ),
        // Invalid JSON, exit 0.
        c.sh_hook("invalid.sh", "printf '{\"hookSpecificOutput\": PWN36C'\n", 3.0, strict(json!({}))),
        // Partial JSON, then killed by a signal.
        c.sh_hook("killed.sh", &format!("printf '%s' '{head}PWN36D'\nkill -9 $$\n"), 3.0, strict(json!({}))),
    ]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let v = r.json();
    assert!(v.get("hookSpecificOutput").is_none(), "case 36: a broken answer became a decision: {}", r.stdout);
    let m = r.system_message();
    for (what, needle) in [
        ("partial + timeout", "timed out after 1s"),
        ("oversized", "stdout exceeded 1024 KiB"),
        ("invalid", "invalid output"),
        ("partial + SIGKILL", "signal 9"),
    ] {
        assert!(m.contains(needle), "case 36: {what}: no {needle:?} failure in {m:?}");
    }
    c.assert_clean(&r);
    Ok(())
}

#[test]
fn abuse_lifetime_and_output() {
    run_cases(
        "lifetime and output",
        5,
        vec![
            case(1, "cat: stdin = event", case_01),
            case(2, "true fed 1 and 50 MiB", case_02),
            case(3, "sleep 600", case_03),
            case(4, "trap TERM + spin", case_04),
            case(5, "(sleep 600 &); echo done", case_05),
            case(6, "sleep 600 & echo done", case_06),
            case(7, "setsid job", case_07),
            case(8, "double-fork daemon", case_08),
            case(9, "1 GB on stdout", case_09),
            case(10, "yes >&2", case_10),
            case(35, "exec >&-; sleep 600", case_35),
            case(36, "broken JSON answers", case_36),
        ],
    );
}

// =============================================================================================
// 11–14: resources.

fn case_11() -> R {
    let rep = baseline_report();
    if rep != "strict: all 15 layers enforced" && rep.contains("cgroup_pids=") {
        return Err(format!("cgroup_pids is not enforced here ({rep}): the fork bomb never runs without pids.max"));
    }
    let _t = heavy();
    let c = Case::new(11);
    let pid = c.p("bomb.pid");
    c.set_hooks(vec![c.sh_hook(
        "bomb.sh",
        &format!("echo $$ > {pid}\nf(){{ f|f & }}; f\nexec sleep 2\n"),
        3.0,
        strict(json!({"pids": 64})),
    )]);
    // While the bomb runs: its pids leaf, and whether another hookhost still answers.
    let pids_mount = cgroup_mounts().pids.clone();
    let mut max_current = 0u64;
    let mut events_max = 0u64;
    let mut leaf: Option<PathBuf> = None;
    let probe = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(800));
        let o = Case::new(11);
        o.set_hooks(vec![hook("true", 2.0, strict(json!({})))]);
        let r = o.dispatch();
        (r.code, r.system_message(), r.elapsed)
    });
    let mut during = |_: i32, _: Duration| {
        if leaf.is_none()
            && let (Some(m), Some(p)) = (&pids_mount, read_pid(Path::new(&pid), Duration::ZERO))
            && let Ok(cg) = std::fs::read_to_string(format!("/proc/{p}/cgroup"))
            && let Some(rel) = cg.lines().find_map(|l| l.split_once(":pids:").map(|(_, r)| r.to_string()))
        {
            leaf = Some(m.join(rel.trim_start_matches('/')));
        }
        if let Some(l) = &leaf {
            if let Some(n) = std::fs::read_to_string(l.join("pids.current")).ok().and_then(|s| s.trim().parse().ok()) {
                max_current = max_current.max(n);
            }
            if let Some(n) = std::fs::read_to_string(l.join("pids.events"))
                .ok()
                .and_then(|s| s.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
            {
                events_max = events_max.max(n);
            }
        }
    };
    let r = c.run_with(&["dispatch"], &bash_event("ls"), Duration::from_secs(20), Some(&mut during));
    c.assert_host_ok(&r);
    let (code, msg, took) = probe.join().unwrap();
    eprintln!(
        "[abuse] case 11: bomb leaf {leaf:?}: max pids.current {max_current}, pids.events max {events_max}; concurrent dispatch {took:?}; host {:?}",
        r.elapsed
    );
    assert!(leaf.is_some(), "case 11: the bomb's pids cgroup was never seen");
    assert!(max_current <= 64, "case 11: {max_current} processes in a leaf limited to 64");
    assert!(events_max > 0, "case 11: pids.max never hit (the bomb did not run?)");
    assert!(
        code == 0 && msg.is_empty() && took < Duration::from_secs(3),
        "case 11: host unresponsive during the bomb: {code} {msg:?} {took:?}"
    );
    assert!(r.elapsed < Duration::from_secs(6), "case 11: dispatch took {:?}", r.elapsed);
    let p = read_pid(Path::new(&pid), Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let left = session_alive(p);
    assert!(
        left.is_empty(),
        "case 11: {} bomb processes survived: {:?}",
        left.len(),
        left.iter().take(5).map(|p| describe(*p)).collect::<Vec<_>>()
    );
    c.assert_clean(&r);
    Ok(())
}

fn case_12() -> R {
    let _t = heavy();
    let c = Case::new(12);
    let mut body = format!("echo $$ > {}\n", c.p("pid"));
    match python() {
        Some(py) => {
            std::fs::write(
                c.p("alloc.py"),
                "import sys\nb = b'x' * (3 << 30)\nopen(sys.argv[1], 'w').write(str(len(b)))\n",
            )
            .unwrap();
            body +=
                &format!("{} {} {}\necho \"py=$?\" >> {}\n", py.exe, c.p("alloc.py"), c.p("py-allocated"), c.p("rc"));
        }
        None => skip_note(12, "no python3 interpreter: Python allocation"),
    }
    body += &format!(
        "head -c 3G /dev/zero | tail > /dev/null && echo ok > {}\necho \"tail=$?\" >> {}\n",
        c.p("tail-allocated"),
        c.p("rc")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, with_py(strict(json!({"memoryMb": 256}))))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let rc = c.kv("rc");
    eprintln!("[abuse] case 12: exit statuses {rc:?}; {}", r.system_message());
    assert!(!c.exists("py-allocated"), "case 12: Python allocated 3 GiB under memoryMb 256");
    assert!(!c.exists("tail-allocated"), "case 12: `tail` buffered 3 GiB under memoryMb 256");
    assert!(rc.get("tail").is_some_and(|v| v != "0"), "case 12: tail did not fail: {rc:?}");
    if python().is_some() {
        assert!(
            rc.get("py").is_some_and(|v| v != "0" && v != "127"),
            "case 12: python did not run or did not fail: {rc:?}"
        );
    }
    assert!(r.peak_rss_kb < 64 * 1024, "case 12: hookhost grew to {} KiB", r.peak_rss_kb);
    c.assert_clean(&r);
    Ok(())
}

fn case_13() -> R {
    let c = Case::new(13);
    let big = c.p("big");
    c.set_hooks(vec![c.sh_hook(
        "h.sh",
        &format!("head -c 200000000 /dev/zero > {big}\necho \"rc=$?\" > {}\n", c.p("rc")),
        3.0,
        strict(json!({})),
    )]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let size = std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0);
    let rc = c.kv("rc");
    let _ = std::fs::remove_file(&big);
    assert!(size > 0, "case 13: nothing was written (test premise)");
    assert!(size <= 64 << 20, "case 13: wrote {size} bytes past the 64 MiB FSIZE limit");
    assert_eq!(rc.get("rc").map(String::as_str), Some("153"), "case 13: not killed by SIGXFSZ (128+25): {rc:?}");
    c.assert_clean(&r);
    Ok(())
}

fn case_14() -> R {
    let _t = heavy();
    let c = Case::new(14);
    let pid = c.p("pid");
    c.set_hooks(vec![c.sh_hook(
        "h.sh",
        &format!("echo $$ > {pid}\nwhile :; do :; done\n"),
        10.0,
        strict(json!({"cpuSeconds": 1})),
    )]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    let e = &e[0];
    eprintln!("[abuse] case 14: {} after {} ms", e.answered, e.took_ms);
    assert!(
        e.answered.contains("signal 24") || e.answered.contains("signal 9"),
        "case 14: not killed by RLIMIT_CPU (SIGXCPU/SIGKILL): {}",
        e.answered
    );
    assert!(e.took_ms < 5000.0, "case 14: ran {} ms of a 10 s timeout", e.took_ms);
    let p = read_pid(Path::new(&pid), Duration::ZERO).unwrap();
    assert!(wait_gone(&[p], Duration::from_millis(200)).is_empty(), "case 14: survivor");
    c.assert_clean(&r);
    Ok(())
}

#[test]
fn abuse_resources() {
    run_cases(
        "resources",
        2,
        vec![
            case(11, "fork bomb under pids 64", case_11),
            case(12, "allocate 3 GiB under memoryMb 256", case_12),
            case(13, "write 200 MB (FSIZE 64 MiB)", case_13),
            case(14, "CPU spin, cpuSeconds 1", case_14),
        ],
    );
}

// =============================================================================================
// 15–19, 39: the filesystem.

fn case_15() -> R {
    let c = Case::new(15);
    std::fs::create_dir_all(c.v(".ssh")).unwrap();
    let key =
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\nfakekey{}\n-----END OPENSSH PRIVATE KEY-----\n", random_hex(24));
    make_victim(Path::new(&c.v(".ssh/id_rsa")), &key);
    let o = c.p("c15");
    let body = format!(
        "exec > {o} 2>&1\ncat {k}; echo \"idrsa=$?\"\ncat ~root/.ssh/*; echo \"rootssh=$?\"\nls -a /root; echo \"lsroot=$?\"\ncat /etc/shadow; echo \"shadow=$?\"\ncat /etc/gshadow; echo \"gshadow=$?\"\nfor f in /etc/ssh/ssh_host_*_key; do cat $f; done; echo \"hostkeys=$?\"\ncat /etc/hostname >/dev/null; echo \"control=$?\"\n",
        k = c.v(".ssh/id_rsa")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let out = c.read("c15");
    let kv = c.kv("c15");
    let mut errs = Vec::new();
    if out.contains("fakekey") {
        errs.push("the outside id_rsa was read".to_string());
    }
    for (k, what) in [
        ("idrsa", "outside id_rsa"),
        ("rootssh", "~root/.ssh/*"),
        ("lsroot", "ls /root"),
        ("shadow", "/etc/shadow"),
        ("gshadow", "/etc/gshadow"),
    ] {
        match kv.get(k).map(String::as_str) {
            Some("0") => errs.push(format!("{what} succeeded")),
            Some("127") | None => errs.push(format!("{what}: no result / tool missing ({:?})", kv.get(k))),
            _ => {}
        }
    }
    if kv.get("control").map(String::as_str) != Some("0") {
        errs.push(format!("control read of /etc/hostname failed: {:?} (test premise)", kv.get("control")));
    }
    // Nothing of /root's listing or of shadow files / host keys.
    for e in std::fs::read_dir("/root").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != ".ssh" && out.lines().any(|l| l.trim() == name) {
            errs.push(format!("/root entry {name:?} listed"));
        }
    }
    for f in ["/etc/shadow", "/etc/gshadow"] {
        for l in std::fs::read_to_string(f).unwrap_or_default().lines().filter(|l| l.len() > 3) {
            if out.contains(l) {
                errs.push(format!("{f} line {:?} leaked", l.split(':').next()));
            }
        }
    }
    for e in std::fs::read_dir("/etc/ssh").into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("ssh_host_") && n.ends_with("_key") {
            let k = std::fs::read_to_string(e.path()).unwrap_or_default();
            if let Some(l) = k.lines().nth(1)
                && out.contains(l)
            {
                errs.push(format!("host key {n} leaked"));
            }
        }
    }
    assert!(errs.is_empty(), "case 15: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_16() -> R {
    let c = Case::new(16);
    let names = [
        "write",
        "append",
        "rm",
        "trunc",
        "redir_trunc",
        "mv",
        "mv_out",
        "touch",
        "chmod",
        "chown",
        "xattr",
        "cp_over",
    ];
    let mut before = BTreeMap::new();
    for n in names {
        before.insert(n, make_victim(Path::new(&c.v(n)), &format!("orig-{n}\n")));
    }
    let dir_before = std::fs::metadata(c.outside.path()).unwrap();
    let v = |n: &str| c.v(n);
    // Each attempt in its own subshell: a failed redirection must not end the script.
    let attempts: Vec<(&str, String)> = vec![
        ("write", format!("echo pwn > {}", v("write"))),
        ("append", format!("echo pwn >> {}", v("append"))),
        ("rm", format!("rm -f {}", v("rm"))),
        ("trunc", format!("truncate -s 0 {}", v("trunc"))),
        ("redir_trunc", format!(": > {}", v("redir_trunc"))),
        ("mv", format!("mv {0} {0}.moved", v("mv"))),
        ("mv_out", format!("mv {} {}", v("mv_out"), c.p("stolen"))),
        ("touch", format!("touch {}", v("touch"))),
        ("chmod", format!("chmod 4777 {}", v("chmod"))),
        ("chown", format!("chown 65534:65534 {}", v("chown"))),
        ("cp_over", format!("cp {} {}", c.p("h.sh"), v("cp_over"))),
        ("create", format!("touch {}", v("new"))),
        ("mkdir", format!("mkdir {}", v("newdir"))),
        ("symlink", format!("ln -s /etc/passwd {}", v("newlink"))),
        ("mkfifo", format!("mkfifo {}", v("fifo"))),
    ];
    let mut body = format!("exec > {} 2>&1\n", c.p("c16"));
    for (k, cmd) in &attempts {
        body += &format!("( {cmd} ); echo \"{k}=$?\"\n");
    }
    let mut keys: Vec<&str> = attempts.iter().map(|(k, _)| *k).collect();
    let mut sandbox = strict(json!({}));
    match python() {
        Some(py) => {
            body += &format!(
                "{} -c 'import os,sys; os.setxattr(sys.argv[1], \"user.pwn\", b\"1\")' {}; echo \"xattr=$?\"\n",
                py.exe,
                v("xattr")
            );
            keys.push("xattr");
            sandbox = with_py(sandbox);
        }
        None => skip_note(16, "no python3: setxattr"),
    }
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, sandbox)]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("c16");
    eprintln!("[abuse] case 16: exit statuses {kv:?}");
    let mut errs = Vec::new();
    for n in names {
        if let Some(d) = diff_snap(n, &before[n], snap(Path::new(&c.v(n)))) {
            errs.push(d);
        }
    }
    let listing: BTreeSet<String> = std::fs::read_dir(c.outside.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    if listing != expected {
        errs.push(format!(
            "outside dir changed: new {:?}, missing {:?}",
            listing.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&listing).collect::<Vec<_>>()
        ));
    }
    let dir_after = std::fs::metadata(c.outside.path()).unwrap();
    if dir_after.mtime() != dir_before.mtime() || dir_after.mode() != dir_before.mode() {
        errs.push("outside dir metadata changed".into());
    }
    if c.exists("stolen") {
        errs.push("a victim was moved into the allowed dir".into());
    }
    for k in &keys {
        match kv.get(*k).map(String::as_str) {
            None => errs.push(format!("{k}: never attempted")),
            Some("127") => errs.push(format!("{k}: tool missing inside the sandbox (proves nothing)")),
            _ => {}
        }
    }
    assert!(errs.is_empty(), "case 16: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_17() -> R {
    let c = Case::new(17);
    let body = format!(
        "echo ok > {a}\necho home > \"$HOME/h\" && cat \"$HOME/h\" > {b}\necho tmp > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" > {t}\necho \"$HOME\" > {hp}\nstat -c %a \"$HOME\" > {mode}\n",
        a = c.p("allowed"),
        b = c.p("home"),
        t = c.p("tmp"),
        hp = c.p("homepath"),
        mode = c.p("homemode")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    assert_eq!(c.read("allowed"), "ok\n", "case 17: cannot write the allowed dir");
    assert_eq!(c.read("home"), "home\n", "case 17: cannot write the temp HOME");
    assert_eq!(c.read("tmp"), "tmp\n", "case 17: cannot write TMPDIR");
    let home = c.read("homepath").trim().to_string();
    assert!(home.starts_with(&*c.tmpdir.path().to_string_lossy()), "case 17: HOME {home:?} is not a per-run temp dir");
    assert!(!Path::new(&home).exists(), "case 17: the temp HOME {home} outlived the run");
    assert_eq!(c.read("homemode"), "700\n", "case 17: the temp HOME is not private (0700), seen from the hook");
    c.assert_clean(&r);
    Ok(())
}

fn case_18() -> R {
    let c = Case::new(18);
    let victim = c.v("victim");
    let before = make_victim(Path::new(&victim), "orig\n");
    let body = format!(
        "cd {out} && ln -s {victim} l; echo \"ln=$?\" > {rc}\necho pwn > {out}/l; echo \"write=$?\" >> {rc}\necho pwn >> {out}/l; echo \"append=$?\" >> {rc}\n",
        out = c.out.display(),
        rc = c.p("rc")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("rc");
    assert!(kv.contains_key("write"), "case 18: hook did not run: {kv:?}");
    if let Some(d) = diff_snap("victim", &before, snap(Path::new(&victim))) {
        panic!("case 18: write through a symlink changed the outside victim: {d} ({kv:?})");
    }
    c.assert_clean(&r);
    Ok(())
}

fn case_19() -> R {
    let c = Case::new(19);
    let victim = c.v("victim");
    let before = make_victim(Path::new(&victim), "orig\n");
    let h = c.p("h");
    let body = format!(
        "ln {victim} {h}; echo \"ln=$?\" > {rc}\necho pwn >> {h}; echo \"append=$?\" >> {rc}\n",
        rc = c.p("rc")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("rc");
    let mut errs = Vec::new();
    if kv.get("ln").map(String::as_str) == Some("0") {
        errs.push("hard link to the outside victim was created".to_string());
    }
    if let Some(d) = diff_snap("victim", &before, snap(Path::new(&victim))) {
        errs.push(d);
    }
    if let Ok(m) = std::fs::metadata(&h)
        && m.ino() == before.ino
    {
        errs.push("allowed dir holds a hard link to the victim".into());
    }
    assert!(errs.is_empty(), "case 19: {} ({kv:?})", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_39() -> R {
    let tag = random_hex(6);
    let shm = format!("/dev/shm/hookhost-abuse-{tag}");
    let tmp = format!("/tmp/hookhost-abuse-{tag}");
    let shm_dir = format!("/dev/shm/hookhost-abuse-dir-{tag}");
    let tmp_dir = format!("/tmp/hookhost-abuse-dir-{tag}");
    std::fs::create_dir_all(&shm_dir).unwrap();
    std::fs::create_dir_all(&tmp_dir).unwrap();
    let cleanup = || {
        let _ = std::fs::remove_file(&shm);
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir_all(&shm_dir);
        let _ = std::fs::remove_dir_all(&tmp_dir);
    };
    let result = std::panic::catch_unwind(|| {
        let c = Case::new(39);
        let body = format!(
            "echo x > {shm}; echo \"shm=$?\" > {rc}\necho x > {tmp}; echo \"tmp=$?\" >> {rc}\necho x > {shm_dir}/f; echo \"shmdir=$?\" >> {rc}\n",
            rc = c.p("undeclared")
        );
        let body2 = format!(
            "echo x > {shm_dir}/f; echo \"shmdir=$?\" > {rc}\necho x > {tmp_dir}/f; echo \"tmpdir=$?\" >> {rc}\n",
            rc = c.p("declared")
        );
        c.set_hooks(vec![
            c.sh_hook("a.sh", &body, 3.0, strict(json!({}))),
            c.sh_hook("b.sh", &body2, 3.0, strict(json!({"allowWrite": [shm_dir, tmp_dir]}))),
        ]);
        let r = c.dispatch();
        c.assert_host_ok(&r);
        let mut errs = Vec::new();
        if Path::new(&shm).exists() {
            errs.push(format!("undeclared {shm} was written"));
        }
        if Path::new(&tmp).exists() {
            errs.push(format!("undeclared {tmp} was written"));
        }
        let (u, d) = (c.kv("undeclared"), c.kv("declared"));
        if u.get("shmdir").map(String::as_str) == Some("0") {
            errs.push("a hook wrote another hook's declared dir".into());
        }
        if d.get("shmdir").map(String::as_str) != Some("0") || d.get("tmpdir").map(String::as_str) != Some("0") {
            errs.push(format!("declared /dev/shm and /tmp dirs not writable: {d:?}"));
        }
        assert!(errs.is_empty(), "case 39: {} ({u:?} {d:?})", errs.join("; "));
        c.assert_clean(&r);
    });
    cleanup();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    Ok(())
}

#[test]
fn abuse_filesystem() {
    run_cases(
        "filesystem",
        4,
        vec![
            case(15, "read secrets outside the grant", case_15),
            case(16, "write/rm/truncate/mv/touch/chmod outside", case_16),
            case(17, "write allowed dir and temp HOME", case_17),
            case(18, "symlink to an outside victim", case_18),
            case(19, "hard link to an outside victim", case_19),
            case(39, "/dev/shm and /tmp unless declared", case_39),
        ],
    );
}

// =============================================================================================
// 20–24: the network and host daemons.

/// Shell lines probing every channel to `l`; results as `name=rc` in `rc_file`.
fn net_probes(c: &Case, l: &Listeners, which: &[&str]) -> (String, Value) {
    let rc = c.p("rc");
    let mut body = String::new();
    let mut sandbox = strict(json!({}));
    let (tp, up) = (l.tcp_port(), l.udp_port());
    let has = |t: &str| which.contains(&t);
    let missing = |w: &str| skip_note(c.n, w);
    if has("tcp") {
        match tool("bash") {
            Some(b) => body += &format!("{b} -c 'echo hi > /dev/tcp/127.0.0.1/{tp}'; echo \"devtcp=$?\" >> {rc}\n"),
            None => missing("bash /dev/tcp: no bash"),
        }
        match tool("curl") {
            Some(t) => body += &format!("{t} -s -m 1 http://127.0.0.1:{tp}/; echo \"curl=$?\" >> {rc}\n"),
            None => missing("curl: not installed"),
        }
        match tool("nc").or_else(|| tool("ncat")) {
            Some(t) => body += &format!("{t} -z -w 1 127.0.0.1 {tp}; echo \"nc=$?\" >> {rc}\n"),
            None => missing("nc -z: nc not installed"),
        }
    }
    if has("udp") {
        match tool("bash") {
            Some(b) => body += &format!("{b} -c 'echo hi > /dev/udp/127.0.0.1/{up}'; echo \"devudp=$?\" >> {rc}\n"),
            None => missing("bash /dev/udp: no bash"),
        }
    }
    if has("unix") {
        match tool("curl") {
            Some(t) => {
                body += &format!(
                    "{t} -s -m 1 --unix-socket {} http://x/; echo \"curlunix=$?\" >> {rc}\n",
                    l.unix_path.display()
                )
            }
            None => missing("curl --unix-socket: no curl"),
        }
    }
    if has("abstract") {
        match tool("curl") {
            Some(t) => {
                body += &format!(
                    "{t} -s -m 1 --abstract-unix-socket {} http://x/; echo \"curlabstract=$?\" >> {rc}\n",
                    l.abstract_name
                )
            }
            None => missing("curl --abstract-unix-socket: no curl"),
        }
    }
    match python() {
        Some(py) => {
            let script = c.p("net.py");
            std::fs::write(
                &script,
                r#"import socket, sys
kind, target = sys.argv[1], sys.argv[2]
if kind == "tcp":
    socket.create_connection(("127.0.0.1", int(target)), 1).sendall(b"pwn")
elif kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"pwn", ("127.0.0.1", int(target)))
elif kind == "unix":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(1); s.connect(target); s.sendall(b"pwn")
elif kind == "abstract":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(1); s.connect("\0" + target); s.sendall(b"pwn")
"#,
            )
            .unwrap();
            for (k, t) in [
                ("tcp", tp.to_string()),
                ("udp", up.to_string()),
                ("unix", l.unix_path.display().to_string()),
                ("abstract", l.abstract_name.clone()),
            ] {
                if has(k) {
                    body += &format!("{} {script} {k} {t}; echo \"py{k}=$?\" >> {rc}\n", py.exe);
                }
            }
            sandbox = with_py(sandbox);
        }
        None => missing("python3 not found: Python socket probes"),
    }
    (body, sandbox)
}

/// Every probe ran (not 127) and failed; nothing reached a listener.
fn assert_net_contained(c: &Case, l: &Listeners, extra_ok: &[&str]) {
    let n = c.n;
    let kv = c.kv("rc");
    eprintln!("[abuse] case {n}: probe exit statuses {kv:?}");
    let mut errs = l.breaches();
    assert!(!kv.is_empty(), "case {n}: no probe ran");
    for (k, v) in &kv {
        if v == "127" {
            errs.push(format!("{k}: tool missing inside the sandbox (exit 127 proves nothing)"));
        } else if v == "0" && !extra_ok.contains(&k.as_str()) {
            errs.push(format!("{k}: exited 0"));
        }
    }
    assert!(errs.is_empty(), "case {n}: {}", errs.join("; "));
}

fn net_case(n: u32, which: &[&str], extra_ok: &[&str]) -> R {
    let c = Case::new(n);
    let l = Listeners::open();
    let (body, sandbox) = net_probes(&c, &l, which);
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, sandbox)]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    // bash writes /dev/udp datagrams without knowing whether they arrived: exit 0 is no breach
    // by itself; the listener decides.
    assert_net_contained(&c, &l, extra_ok);
    c.assert_clean(&r);
    Ok(())
}

fn case_20() -> R {
    net_case(20, &["tcp"], &[])
}

fn case_21() -> R {
    net_case(21, &["udp"], &["devudp", "pyudp"])
}

fn case_22() -> R {
    let Some(getent) = tool("getent") else { return Err("getent not installed".into()) };
    let c = Case::new(22);
    let body = format!(
        "s=$(date +%s%N)\n{getent} ahosts example.com > {o} 2>&1\nrc=$?\ne=$(date +%s%N)\necho \"rc=$rc\" > {k}\necho \"ms=$(( (e - s) / 1000000 ))\" >> {k}\n",
        o = c.p("out"),
        k = c.p("rc")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("rc");
    let out = c.read("out");
    let rc = kv.get("rc").cloned().unwrap_or_default();
    eprintln!("[abuse] case 22: {kv:?} {out:?}");
    let ms: u64 = kv.get("ms").and_then(|m| m.parse().ok()).unwrap_or(u64::MAX);
    assert!(
        rc != "0" && rc != "127" && !rc.is_empty(),
        "case 22: getent ahosts example.com: rc {rc:?}, output {out:?}"
    );
    assert!(!out.contains("STREAM") && !out.contains("DGRAM"), "case 22: name resolved: {out:?}");
    assert!(ms < 1000, "case 22: failing took {ms} ms (not fast)");
    c.assert_clean(&r);
    Ok(())
}

fn case_23() -> R {
    net_case(23, &["unix"], &[])
}

fn case_24() -> R {
    net_case(24, &["abstract"], &[])
}

#[test]
fn abuse_network() {
    run_cases(
        "network",
        5,
        vec![
            case(20, "TCP to a host listener", case_20),
            case(21, "UDP to a host listener", case_21),
            case(22, "getent ahosts", case_22),
            case(23, "pathname Unix socket", case_23),
            case(24, "abstract Unix socket", case_24),
        ],
    );
}

// =============================================================================================
// 25–34: secrets, signals, privileges.

fn case_25() -> R {
    let c = Case::new(25);
    c.set_hooks(vec![hook(&format!("env > {}", c.p("env")), 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let env = c.read("env");
    assert!(!env.is_empty(), "case 25: `env` did not run");
    assert!(!env.contains(secret()), "case 25: the host's secret is in the hook's environment");
    let allowed = ["PATH", "HOME", "TMPDIR", "LANG", "CLAUDE_PROJECT_DIR", "PWD", "SHLVL", "_", "OLDPWD"];
    let extra: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !allowed.contains(k) && !k.starts_with("HOOK_"))
        .collect();
    assert!(extra.is_empty(), "case 25: variables outside the allowlist: {extra:?}");
    assert!(
        !env.contains("HOOK_TEST_SECRET") && !env.contains("HOOKHOST_MANAGED_DIR"),
        "case 25: host variables inherited"
    );
    c.assert_clean(&r);
    Ok(())
}

fn case_26() -> R {
    let c = Case::new(26);
    let body = format!(
        "HOST=$1\nexec > {o} 2>&1\ncat /proc/$HOST/environ; echo \"host=$?\"\ntr '\\0' '\\n' < /proc/$HOST/environ; echo \"hosttr=$?\"\ncat /proc/$PPID/environ; echo \"ppid=$?\"\ncat /proc/1/environ; echo \"init=$?\"\nfor f in /proc/[0-9]*/environ; do cat $f; echo; done\ncat /proc/self/environ; echo \"self=$?\"\nhead -c 4096 /proc/$HOST/mem; echo \"mem=$?\"\n",
        o = c.p("c26")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let out = c.read("c26");
    let kv = c.kv("c26");
    assert!(!out.contains(secret()), "case 26: the host's secret read from /proc");
    assert!(
        out.contains("hookhost-run-"),
        "case 26: the hook could not even read its own environ (test premise): {out:.300}"
    );
    assert!(kv.get("host").is_some_and(|v| v != "0"), "case 26: /proc/<host>/environ readable: {kv:?}");
    c.assert_clean(&r);
    Ok(())
}

/// An innocent process of the host's (root, all capabilities, no sandbox).
fn bystander() -> Child {
    Command::new("sleep").arg("30").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn case_27() -> R {
    let c = Case::new(27);
    let mut by = bystander();
    let bp = by.id();
    let body = format!(
        "HOST=$1\nexec > {o} 2>&1\nkill -STOP $HOST; echo \"stophost=$?\"\nkill -9 $HOST; echo \"killhost=$?\"\nkill -STOP {bp}; echo \"stopother=$?\"\nkill -9 {bp}; echo \"killother=$?\"\nkill -0 $$; echo \"control=$?\"\n",
        o = c.p("c27")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    let kv = c.kv("c27");
    let state = stat(bp as i32).map(|s| s.0);
    let _ = by.kill();
    let _ = by.wait();
    c.assert_host_ok(&r);
    let mut errs = Vec::new();
    for k in ["stophost", "killhost", "stopother", "killother"] {
        if kv.get(k).is_none_or(|v| v == "0") {
            errs.push(format!("{k}: {:?}", kv.get(k)));
        }
    }
    if kv.get("control").map(String::as_str) != Some("0") {
        errs.push(format!("the hook could not signal itself (test premise): {kv:?}"));
    }
    if !matches!(state, Some('S') | Some('R')) {
        errs.push(format!("the bystander process is {state:?} (stopped or killed)"));
    }
    assert!(errs.is_empty(), "case 27: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_28() -> R {
    let c = Case::new(28);
    let mut by = bystander();
    let bp = by.id();
    let mut body = format!("HOST=$1\nexec > {o} 2>&1\n", o = c.p("c28"));
    let mut sandbox = strict(json!({}));
    match tool("gdb") {
        Some(g) => {
            body +=
                &format!("{g} -nx -batch -p {bp} -ex 'info registers rip' > {} 2>&1; echo \"gdb=$?\"\n", c.p("gdb.out"))
        }
        None => skip_note(28, "gdb not installed"),
    }
    match python() {
        Some(py) => {
            std::fs::write(
                c.p("pt.py"),
                r#"import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
victim, host = int(sys.argv[1]), int(sys.argv[2])
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
r = libc.ptrace(16, victim, None, None)
print(f"attach={r}:{ctypes.get_errno()}")
if r == 0:
    import os; os.waitpid(victim, 0); libc.ptrace(17, victim, None, None)
r = libc.ptrace(0x4206, host, None, None)
print(f"seize={r}:{ctypes.get_errno()}")
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = iovec(0x10000, 64)
libc.process_vm_readv.restype = ctypes.c_ssize_t
n = libc.process_vm_readv(host, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print(f"vmreadv={n}:{ctypes.get_errno()}")
n = libc.process_vm_writev(victim, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print(f"vmwritev={n}:{ctypes.get_errno()}")
"#,
            )
            .unwrap();
            body += &format!("{} {} {bp} $HOST; echo \"py=$?\"\n", py.exe, c.p("pt.py"));
            sandbox = with_py(sandbox);
        }
        None => skip_note(28, "no python3: ptrace / process_vm_readv"),
    }
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 5.0, sandbox)]);
    let r = c.dispatch();
    let tracer = std::fs::read_to_string(format!("/proc/{bp}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:").map(|x| x.trim().to_string()));
    let state = stat(bp as i32).map(|s| s.0);
    let _ = by.kill();
    let _ = by.wait();
    c.assert_host_ok(&r);
    let kv = c.kv("c28");
    eprintln!("[abuse] case 28: {kv:?}");
    let mut errs = Vec::new();
    if tool("gdb").is_some() {
        let g = c.read("gdb.out");
        if g.lines().any(|l| l.trim_start().starts_with("rip ")) {
            errs.push(format!("gdb attached and read registers: {g:.200}"));
        }
        if kv.get("gdb").is_none_or(|v| v == "127") {
            errs.push("gdb did not run".into());
        }
    }
    if python().is_some() {
        for k in ["attach", "seize", "vmreadv", "vmwritev"] {
            if kv.get(k).map(String::as_str) != Some("-1:1") {
                errs.push(format!("{k}: {:?} (expected -1 with EPERM)", kv.get(k)));
            }
        }
    }
    if tracer.as_deref() != Some("0") || !matches!(state, Some('S') | Some('R')) {
        errs.push(format!("bystander traced or stopped: TracerPid {tracer:?}, state {state:?}"));
    }
    assert!(errs.is_empty(), "case 28: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_29() -> R {
    let c = Case::new(29);
    let mut body = format!("exec > {o} 2>&1\n", o = c.p("c29"));
    let mut sandbox = strict(json!({}));
    match tool("unshare") {
        Some(u) => {
            body += &format!(
                "{u} -Urn sh -c 'echo escaped > {a}'; echo \"unshareUrn=$?\"\n{u} -m sh -c 'echo escaped > {b}'; echo \"unsharem=$?\"\n{u} -p -f sh -c 'echo escaped > {b2}'; echo \"unsharep=$?\"\n",
                a = c.p("userns"),
                b = c.p("mntns"),
                b2 = c.p("pidns")
            )
        }
        None => skip_note(29, "unshare not installed"),
    }
    match python() {
        Some(py) => {
            std::fs::write(
                c.p("ns.py"),
                r#"import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x00020000, 17
marker = sys.argv[1]
def child(tag):
    open(f"{marker}-{tag}", "w").write("escaped")
    os._exit(0)
# clone3(CLONE_NEWUSER): struct clone_args v0 is 8 u64.
args = ctypes.create_string_buffer(struct.pack("8Q", CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0), 64)
r = libc.syscall(435, args, ctypes.c_size_t(64))
if r == 0: child("clone3")
print(f"clone3={r}:{ctypes.get_errno()}")
if r > 0: os.waitpid(r, 0)
# clone(CLONE_NEWUSER | SIGCHLD), fork-like (no new stack).
r = libc.syscall(56, ctypes.c_ulong(CLONE_NEWUSER | SIGCHLD), None, None, None, None)
if r == 0: child("clone")
print(f"clone={r}:{ctypes.get_errno()}")
if r > 0: os.waitpid(r, 0)
r = libc.unshare(CLONE_NEWUSER)
print(f"unshare_user={r}:{ctypes.get_errno()}")
r = libc.unshare(CLONE_NEWNS)
print(f"unshare_ns={r}:{ctypes.get_errno()}")
"#,
            )
            .unwrap();
            body += &format!("{} {} {}; echo \"py=$?\"\n", py.exe, c.p("ns.py"), c.p("py"));
            sandbox = with_py(sandbox);
        }
        None => skip_note(29, "no python3: clone3 / clone probes"),
    }
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, sandbox)]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("c29");
    eprintln!("[abuse] case 29: {kv:?}");
    let mut errs = Vec::new();
    for m in ["userns", "mntns", "pidns", "py-clone3", "py-clone"] {
        if c.exists(m) {
            errs.push(format!("{m}: a new namespace ran code"));
        }
    }
    for k in ["unshareUrn", "unsharem", "unsharep"] {
        if tool("unshare").is_some() && kv.get(k).is_none_or(|v| v == "0" || v == "127") {
            errs.push(format!("{k}: {:?}", kv.get(k)));
        }
    }
    if python().is_some() {
        for (k, want) in [("clone3", "-1:38"), ("clone", "-1:1"), ("unshare_user", "-1:1"), ("unshare_ns", "-1:1")] {
            if kv.get(k).map(String::as_str) != Some(want) {
                errs.push(format!("{k}: {:?}, expected {want}", kv.get(k)));
            }
        }
    }
    assert!(errs.is_empty(), "case 29: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn mountinfo_targets() -> BTreeMap<String, String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f.get(4)?.to_string(), f.get(5)?.to_string()))
        })
        .collect()
}

fn case_30() -> R {
    let Some(mount) = tool("mount") else { return Err("mount not installed".into()) };
    let c = Case::new(30);
    let before = mountinfo_targets();
    let mnt = c.p("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let body = format!(
        "exec > {o} 2>&1\n{mount} -o remount,rw /; echo \"remount=$?\"\n{mount} -t tmpfs none {mnt}; echo \"tmpfs=$?\"\n{mount} --bind {out} {victims}; echo \"bind=$?\"\n",
        o = c.p("c30"),
        out = c.out.display(),
        victims = c.outside.path().display()
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    let after = mountinfo_targets();
    for t in [mnt.as_str(), &c.outside.path().to_string_lossy()] {
        if after.contains_key(t) {
            let _ = Command::new("umount").arg("-l").arg(t).status();
        }
    }
    c.assert_host_ok(&r);
    let kv = c.kv("c30");
    let mut errs = Vec::new();
    for k in ["remount", "tmpfs", "bind"] {
        if !kv.contains_key(k) {
            errs.push(format!("{k}: never attempted"));
        }
    }
    for (k, v) in &kv {
        if v == "0" || v == "127" {
            errs.push(format!("{k}: exit {v}"));
        }
    }
    if after.contains_key(&mnt) {
        errs.push(format!("tmpfs mounted on {mnt}"));
    }
    if after.contains_key(&*c.outside.path().to_string_lossy()) {
        errs.push("bind mount over the outside dir".into());
    }
    if before.get("/") != after.get("/") {
        errs.push(format!("/ options changed: {:?} -> {:?}", before.get("/"), after.get("/")));
    }
    assert!(errs.is_empty(), "case 30: {} ({kv:?})", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_31() -> R {
    let c = Case::new(31);
    let m = cgroup_mounts();
    let own = own_cgroups();
    let mut targets: BTreeSet<String> = BTreeSet::new();
    for (ctrl, mount) in [("", &m.v2), ("pids", &m.pids), ("memory", &m.memory)] {
        let Some(mount) = mount else { continue };
        targets.insert(mount.join("cgroup.procs").to_string_lossy().into_owned());
        if let Some((_, rel)) =
            own.iter().find(|(c, _)| if ctrl.is_empty() { c.is_empty() } else { c.split(',').any(|x| x == ctrl) })
        {
            targets.insert(mount.join(rel.trim_start_matches('/')).join("cgroup.procs").to_string_lossy().into_owned());
        }
    }
    let mut body = format!("echo $$ > {}\ncat /proc/self/cgroup > {}\n", c.p("hook.pid"), c.p("cg-before"));
    for (i, t) in targets.iter().enumerate() {
        body += &format!("echo $$ > {t}; echo \"procs{i}=$?\" >> {}\n", c.p("c31"));
    }
    for (ctrl, file, val) in [("pids", "pids.max", "max"), ("memory", "memory.limit_in_bytes", "-1")] {
        if let Some(mount) = match ctrl {
            "pids" => &m.pids,
            _ => &m.memory,
        } {
            body += &format!(
                "own=$(grep ':{ctrl}:' /proc/self/cgroup | cut -d: -f3)\necho {val} > {}$own/{file}; echo \"{file}=$?\" >> {}\n",
                mount.display(),
                c.p("c31")
            );
        }
    }
    if let Some(v2) = &m.v2 {
        body += &format!(
            "own=$(grep '^0::' /proc/self/cgroup | cut -d: -f3)\necho 0 > {}$own/cgroup.freeze; mkdir {}$own/sub; echo \"v2sub=$?\" >> {}\n",
            v2.display(),
            v2.display(),
            c.p("c31")
        );
    }
    body += &format!(
        "cat /proc/self/cgroup > {after}\nsetsid sh -c 'echo $$ > {esc}; exec sleep 600' </dev/null >/dev/null 2>&1 &\nsleep 0.3\n",
        after = c.p("cg-after"),
        esc = c.p("esc.pid")
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("c31");
    eprintln!("[abuse] case 31: targets {targets:?}: {kv:?}");
    let mut errs = Vec::new();
    if kv.is_empty() {
        errs.push("no write attempted".into());
    }
    for (k, v) in &kv {
        if v == "0" {
            errs.push(format!("{k} write succeeded"));
        }
    }
    let (b, a) = (c.read("cg-before"), c.read("cg-after"));
    if b != a || !a.contains("hookhost-") {
        errs.push(format!("the hook's cgroups changed: {b:?} -> {a:?}"));
    }
    for f in ["hook.pid", "esc.pid"] {
        match read_pid(&c.out.join(f), Duration::ZERO) {
            Some(p) => {
                if !wait_gone(&[p], Duration::from_millis(200)).is_empty() {
                    errs.push(format!("{f}: survived: {}", describe(p)));
                }
            }
            None => errs.push(format!("{f}: the process did not start")),
        }
    }
    assert!(errs.is_empty(), "case 31: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_32() -> R {
    let Some(bash) = tool("bash") else { return Err("bash not installed".into()) };
    let c = Case::new(32);
    let o = c.p("c32");
    let body = format!(
        "exec > {o} 2>&1\nulimit -v unlimited; echo \"v=$?\"\nulimit -n 1048576; echo \"n=$?\"\nulimit -Hn 1048576; echo \"Hn=$?\"\nulimit -c unlimited; echo \"c=$?\"\nulimit -t unlimited; echo \"t=$?\"\nulimit -f unlimited; echo \"f=$?\"\n\
         echo \"after_n=$(ulimit -n)\"\necho \"after_Hn=$(ulimit -Hn)\"\necho \"after_c=$(ulimit -Hc)\"\necho \"after_t=$(ulimit -Ht)\"\necho \"after_f=$(ulimit -Hf)\"\n"
    );
    std::fs::write(c.p("h.bash"), body).unwrap();
    c.set_hooks(vec![hook(&format!("exec {bash} {}", c.p("h.bash")), 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let kv = c.kv("c32");
    eprintln!("[abuse] case 32: {kv:?}");
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
    let mut errs = Vec::new();
    for k in ["n", "Hn", "c", "t", "f"] {
        if kv.get(k).is_none_or(|v| v == "0") {
            errs.push(format!("raising {k} succeeded: {:?}", kv.get(k)));
        }
    }
    if num("after_n").is_none_or(|n| n > 1024) || num("after_Hn").is_none_or(|n| n > 1024) {
        errs.push(format!("NOFILE now {:?}/{:?}", kv.get("after_n"), kv.get("after_Hn")));
    }
    if num("after_c") != Some(0) {
        errs.push(format!("CORE now {:?}", kv.get("after_c")));
    }
    if num("after_t").is_none_or(|t| t > 6) {
        errs.push(format!("CPU now {:?}", kv.get("after_t")));
    }
    if num("after_f").is_none_or(|f| f > 65536) {
        errs.push(format!("FSIZE now {:?} KiB", kv.get("after_f")));
    }
    assert!(errs.is_empty(), "case 32: {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

fn case_33() -> R {
    let c = Case::new(33);
    c.set_hooks(vec![hook(
        &format!("grep -E 'Cap|NoNewPrivs|Seccomp' /proc/self/status > {}", c.p("c33")),
        3.0,
        strict(json!({})),
    )]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let s = c.read("c33");
    let field = |k: &str| s.lines().find_map(|l| l.strip_prefix(&format!("{k}:")).map(|v| v.trim().to_string()));
    let mut errs = Vec::new();
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        if field(k).as_deref() != Some("0000000000000000") {
            errs.push(format!("{k} = {:?}", field(k)));
        }
    }
    if field("NoNewPrivs").as_deref() != Some("1") {
        errs.push(format!("NoNewPrivs = {:?}", field("NoNewPrivs")));
    }
    if field("Seccomp").as_deref() != Some("2") {
        errs.push(format!("Seccomp = {:?}", field("Seccomp")));
    }
    assert!(errs.is_empty(), "case 33: {} in {s:?}", errs.join(", "));
    c.assert_clean(&r);
    Ok(())
}

fn case_34() -> R {
    let c = Case::new(34);
    c.set_hooks(vec![hook(&format!("ls /proc/self/fd > {}", c.p("c34")), 3.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let fds: BTreeSet<String> = c.read("c34").split_whitespace().map(str::to_string).collect();
    let want: BTreeSet<String> = ["0", "1", "2", "3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(fds, want, "case 34: inherited descriptors beyond 0–2 (3 is the listing's own)");
    c.assert_clean(&r);
    Ok(())
}

#[test]
fn abuse_secrets_and_privileges() {
    run_cases(
        "secrets and privileges",
        5,
        vec![
            case(25, "env", case_25),
            case(26, "/proc/*/environ", case_26),
            case(27, "signal the host and a bystander", case_27),
            case(28, "gdb, ptrace, process_vm_readv", case_28),
            case(29, "unshare, clone3, clone(NEWUSER)", case_29),
            case(30, "mount", case_30),
            case(31, "escape the run's cgroup", case_31),
            case(32, "raise rlimits", case_32),
            case(33, "capabilities, NoNewPrivs, seccomp", case_33),
            case(34, "inherited fds", case_34),
        ],
    );
}

// =============================================================================================
// 37, 38, 40: argv, big events, concurrency.

fn case_37() -> R {
    let c = Case::new(37);
    let dir = c.out.join("a b;c$(touch pwn37a)`touch pwn37e`");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("argv.sh");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" > {}\n", c.p("argv"))).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = ["one two", "a;touch pwn37b", "$(touch pwn37c)", "`touch pwn37d`", "${HOME}", "*", "|", "&&"];
    c.set_hooks(vec![json!({"type": "command", "command": script.to_string_lossy(), "args": args, "timeout": 3, "sandbox": strict(json!({}))})]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let got = c.read("argv");
    let mut want = format!("{}\n", args.len());
    for a in args {
        want += a;
        want.push('\n');
    }
    assert_eq!(got, want, "case 37: arguments were split or expanded ({})", r.system_message());
    let pwned: Vec<PathBuf> =
        walk(c.env.path()).into_iter().filter(|p| p.to_string_lossy().contains("/pwn37")).collect();
    assert!(pwned.is_empty(), "case 37: a shell ran: {pwned:?}");
    for d in [c.env.project(), c.out.clone(), PathBuf::from("/")] {
        for x in ["a", "b", "c", "d", "e"] {
            assert!(!d.join(format!("pwn37{x}")).exists(), "case 37: a shell ran ({}/pwn37{x})", d.display());
        }
    }
    c.assert_clean(&r);
    Ok(())
}

fn case_38() -> R {
    let c = Case::new(38);
    c.set_hooks(vec![hook(&format!("cat > {}", c.p("stdin")), 3.0, strict(json!({})))]);
    let mut cmd = String::new();
    while cmd.len() < 200 * 1024 {
        cmd.push_str("echo \"é ü — 🙂 \\\" ' $HOME `id` \\n\" ; ");
    }
    let ev = bash_event(&cmd);
    assert!(ev.len() >= 200 * 1024);
    let r = c.run_with(&["dispatch"], &ev, Duration::from_secs(20), None);
    c.assert_host_ok(&r);
    assert_eq!(
        std::fs::read(c.p("stdin")).unwrap_or_default(),
        ev,
        "case 38: the 200 KiB event was not intact on stdin"
    );
    c.assert_clean(&r);
    Ok(())
}

fn case_40() -> R {
    let _t = timing();
    let c = Case::new(40);
    let mut hooks: Vec<Value> = (0..50)
        .map(|i| hook(&format!("sleep 0.1; echo ok > {}", c.p(&format!("done{i}"))), 5.0, strict(json!({}))))
        .collect();
    hooks.push(hook(&format!("echo $$ > {}; exec sleep 1.5", c.p("slow.pid")), 5.0, strict(json!({}))));
    c.set_hooks(hooks);
    // (fds, O_PATH fds), children.
    type Sample = ((usize, usize), Vec<(i32, char)>);
    let mut sample: Option<Sample> = None;
    let mut during = |pid: i32, t: Duration| {
        if sample.is_none() && t >= Duration::from_millis(1100) {
            // The sandbox keeps the host paths every hook may read open (O_PATH, shared by all
            // runs): counted apart, they must not grow with the number of hooks run.
            let (mut fds, mut o_path) = (0usize, 0usize);
            for e in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
                let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy()));
                let flags = info.ok().and_then(|i| {
                    i.lines().find_map(|l| l.strip_prefix("flags:")).and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                });
                match flags {
                    Some(f) if f & libc::O_PATH as u32 != 0 => o_path += 1,
                    _ => fds += 1,
                }
            }
            let fds = (fds, o_path);
            // A hook started inside its v2 cgroup leaf runs below its proxy (a forked copy of
            // hookhost that waits for it: `exec::sandbox::child`): look through the proxy.
            let cmdline = |p: i32| std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let kids: Vec<(i32, char)> = all_pids()
                .into_iter()
                .filter_map(|p| stat(p).filter(|s| s.1 == pid).map(|s| (p, s.0)))
                .map(|(k, state)| {
                    let behind = (cmdline(k) == cmdline(pid))
                        .then(|| all_pids().into_iter().find_map(|g| stat(g).filter(|s| s.1 == k).map(|s| (g, s.0))))
                        .flatten();
                    behind.unwrap_or((k, state))
                })
                .collect();
            sample = Some((fds, kids));
        }
    };
    let r = c.run_with(&["dispatch"], &bash_event("ls"), Duration::from_secs(20), Some(&mut during));
    c.assert_host_ok(&r);
    let missing: Vec<usize> = (0..50).filter(|i| c.read(&format!("done{i}")) != "ok\n").collect();
    assert!(missing.is_empty(), "case 40: hooks did not finish: {missing:?} ({})", r.system_message());
    assert!(r.system_message().is_empty(), "case 40: failures: {}", r.system_message());
    assert!(r.elapsed < Duration::from_secs(4), "case 40: 50 concurrent hooks took {:?}", r.elapsed);
    let ((fds, o_path), kids) = sample.expect("case 40: no sample taken while the slow hook ran");
    eprintln!(
        "[abuse] case 40: at 1.1 s hookhost had {fds} fds (+{o_path} shared O_PATH grants) and children {kids:?}; total {:?}",
        r.elapsed
    );
    let slow = read_pid(&c.out.join("slow.pid"), Duration::ZERO).unwrap();
    assert_eq!(
        kids.iter().map(|k| k.0).collect::<Vec<_>>(),
        vec![slow],
        "case 40: zombies or leftover children: {kids:?}"
    );
    assert!(fds <= 24, "case 40: hookhost held {fds} fds with one hook running (leak)");
    // One per granted /etc entry and system path, whatever the number of runs (51 here).
    let grants = std::fs::read_dir("/etc").map(|d| d.count()).unwrap_or(0) + 16;
    assert!(
        o_path <= grants,
        "case 40: hookhost held {o_path} O_PATH fds, more than the {grants} shared grants (leak)"
    );
    c.assert_clean(&r);
    Ok(())
}

#[test]
fn abuse_argv_events_concurrency() {
    run_cases(
        "argv, events, concurrency",
        3,
        vec![
            case(37, "exec form: no shell", case_37),
            case(38, "200 KiB event", case_38),
            case(40, "50 concurrent hooks", case_40),
        ],
    );
}

// =============================================================================================
// 41: the host is SIGTERM'd mid-hook.

fn case_41() -> R {
    let c = Case::new(41);
    let (pid, gc, marker) = (c.p("hook.pid"), c.p("gc.pid"), c.p("marker"));
    let body = format!(
        "echo $$ > {pid}\n(setsid sh -c 'echo $$ > {gc}; sleep 2; echo pwn > {marker}' </dev/null >/dev/null 2>&1 &)\nexec sleep 600\n"
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 10.0, strict(json!({})))]);
    let mut cmd = c.command(&["dispatch"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&bash_event("ls")).unwrap();
    let host = child.id() as i32;
    let g = read_pid(Path::new(&gc), Duration::from_secs(5));
    let seen = Instant::now();
    let h = read_pid(Path::new(&pid), Duration::from_secs(1));
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(host), nix::sys::signal::Signal::SIGTERM);
    let end = Instant::now() + Duration::from_secs(4);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let (Some(g), Some(h)) = (g, h) else { panic!("case 41: the hook did not start ({err})") };
    assert!(status.is_some(), "case 41: hookhost ignored SIGTERM for 4 s");
    let left = wait_gone(&[h, g], Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(2600).saturating_sub(seen.elapsed()));
    let mut errs = Vec::new();
    if !left.is_empty() {
        errs.push(format!("survivors after SIGTERM: {:?}", left.iter().map(|p| describe(*p)).collect::<Vec<_>>()));
    }
    if Path::new(&marker).exists() {
        errs.push("the grandchild wrote its marker 2 s later".into());
    }
    let leaves = leftover_leaves(host);
    if !leaves.is_empty() {
        errs.push(format!("cgroup leaves left: {leaves:?}"));
    }
    let temps: Vec<_> = std::fs::read_dir(c.tmpdir.path()).unwrap().flatten().map(|e| e.path()).collect();
    if !temps.is_empty() {
        errs.push(format!("run temp dirs left: {temps:?}"));
    }
    // Clean up whatever escaped, so later runs are not disturbed.
    for p in left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    eprintln!("[abuse] case 41: hookhost exit {status:?}, stderr {err:?}");
    assert!(errs.is_empty(), "case 41: {}", errs.join("; "));
    Ok(())
}

#[test]
fn abuse_host_sigterm() {
    run_cases("host SIGTERM", 1, vec![case(41, "host SIGTERM'd mid-hook", case_41)]);
}

// =============================================================================================
// 42 and every optional layer disabled by configuration.

/// Strict + `disable` refuses (the hook never runs); best effort runs and reports the layer
/// `disabled`.
fn refuse_then_run(n: u32, layers: &[&str]) {
    let c = Case::new(n);
    let ran = c.p("ran");
    let disable: Vec<&str> = layers.to_vec();
    c.set_hooks(vec![hook(&format!("echo yes > {ran}"), 3.0, strict(json!({"disable": disable})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let m = r.system_message();
    assert!(m.contains("sandbox refused"), "case {n}: strict with {layers:?} disabled was not refused: {}", r.stdout);
    for l in layers {
        assert!(m.contains(&format!("layer `{l}` disabled")), "case {n}: refusal does not name `{l}`: {m}");
    }
    assert!(!c.exists("ran"), "case {n}: strict refused, yet the hook ran");
    c.assert_clean(&r);

    c.set_hooks(vec![hook(&format!("echo yes > {ran}"), 3.0, json!({"mode": "best_effort", "disable": disable}))]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    let rep = &e[0].sandbox;
    assert!(rep.starts_with("best_effort:"), "case {n}: report {rep:?}");
    for l in layers {
        assert!(rep.contains(&format!("{l}=disabled")), "case {n}: report does not mark {l}: {rep:?}");
    }
    assert_eq!(c.read("ran"), "yes\n", "case {n}: best_effort with {layers:?} disabled did not run: {}", e[0].answered);
    c.assert_clean(&r);
}

fn case_42() -> R {
    refuse_then_run(42, &["landlock"]);
    // "cgroups faked absent": all three cgroup layers off by configuration.
    refuse_then_run(42, &["cgroup_pids", "cgroup_memory", "cgroup_kill"]);
    Ok(())
}

#[test]
fn abuse_42_strict_refuses_disabled_landlock() {
    run_cases("disabled layers", 1, vec![case(42, "landlock / cgroups disabled by config", case_42)]);
}

/// What the other layers must still contain with `layer` off (best effort).
fn layer_off(layer: &'static str) -> R {
    let n = 42;
    refuse_then_run(n, &[layer]);
    let c = Case::new(n);
    let l = Listeners::open();
    let victim = c.v("victim");
    let before = make_victim(Path::new(&victim), "orig\n");
    let (net, sandbox) = net_probes(&c, &l, &["tcp", "udp", "unix", "abstract"]);
    let esc = c.p("esc.pid");
    let body = format!(
        "HOST=$1\n{net}\
         echo pwn > {victim}; echo \"victim=$?\" >> {rc}\n\
         cat /proc/$HOST/environ > {env} 2>&1; echo \"environ=$?\" >> {rc}\n\
         env >> {env}\n\
         grep -E 'NoNewPrivs|Seccomp:|CapEff' /proc/self/status > {st}\n\
         setsid sh -c 'echo $$ > {esc}; exec sleep 600' </dev/null >/dev/null 2>&1 &\nsleep 0.3\n",
        rc = c.p("rc"),
        env = c.p("environ"),
        st = c.p("status"),
    );
    let sandbox = merge(sandbox, json!({"mode": "best_effort", "disable": [layer]}));
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 5.0, sandbox)]);
    let (r, e) = c.explain();
    c.assert_host_ok(&r);
    assert!(e[0].sandbox.contains(&format!("{layer}=disabled")), "{layer} off: report {:?}", e[0].sandbox);
    let kv = c.kv("rc");
    eprintln!("[abuse] {layer} off: {kv:?}; {}", c.read("status").replace('\n', " "));
    let mut errs = Vec::new();
    // TCP and UDP: netns, seccomp and Landlock TCP overlap; any one left must hold. Abstract
    // sockets: seccomp and the Landlock scope. Pathname Unix sockets: only seccomp (Landlock
    // ABI < 9 does not cover them: design §4.2), so without seccomp that is a known gap.
    for b in l.breaches() {
        if layer == "seccomp" && b.starts_with("pathname Unix") {
            eprintln!("[abuse] seccomp off: known gap (design §4.2, Landlock ABI < 9): {b}");
        } else {
            errs.push(b);
        }
    }
    for (k, v) in &kv {
        if v == "127" {
            errs.push(format!("{k}: tool missing inside the sandbox"));
        }
    }
    if layer != "landlock" {
        if let Some(d) = diff_snap("victim", &before, snap(Path::new(&victim))) {
            errs.push(format!("Landlock no longer protects the outside victim: {d}"));
        }
    } else {
        let changed = diff_snap("victim", &before, snap(Path::new(&victim))).is_some();
        eprintln!(
            "[abuse] landlock off: outside victim written = {changed} (expected: as root, nothing else guards files)"
        );
    }
    if c.read("environ").contains(secret()) {
        errs.push("the host's secret was read".into());
    }
    // Without the capability drop, `/proc` is not granted at all (a capable uid 0 could read the
    // host's environ through it), so the status check only applies with capdrop on.
    if layer == "capdrop" {
        if !c.read("status").is_empty() {
            errs.push(format!("/proc readable without the capability drop: {:?}", c.read("status")));
        }
    } else if !c.read("status").contains("NoNewPrivs:\t1") {
        errs.push(format!("no_new_privs missing: {:?}", c.read("status")));
    }
    match read_pid(&c.out.join("esc.pid"), Duration::ZERO) {
        Some(p) => {
            if !wait_gone(&[p], Duration::from_millis(200)).is_empty() {
                errs.push(format!("setsid'ed child survived the hook: {}", describe(p)));
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
        }
        None => errs.push("setsid'ed child did not start".into()),
    }
    assert!(errs.is_empty(), "case 42 ({layer} disabled, best_effort): {}", errs.join("; "));
    c.assert_clean(&r);
    Ok(())
}

#[test]
fn abuse_each_optional_layer_disabled() {
    fn landlock() -> R {
        layer_off("landlock")
    }
    fn seccomp() -> R {
        layer_off("seccomp")
    }
    fn netns() -> R {
        layer_off("netns")
    }
    fn cgroup_pids() -> R {
        layer_off("cgroup_pids")
    }
    fn cgroup_memory() -> R {
        layer_off("cgroup_memory")
    }
    fn cgroup_kill() -> R {
        layer_off("cgroup_kill")
    }
    fn capdrop() -> R {
        layer_off("capdrop")
    }
    run_cases(
        "each optional layer disabled",
        4,
        vec![
            case(42, "landlock disabled", landlock),
            case(42, "seccomp disabled", seccomp),
            case(42, "netns disabled", netns),
            case(42, "cgroup_pids disabled", cgroup_pids),
            case(42, "cgroup_memory disabled", cgroup_memory),
            case(42, "cgroup_kill disabled", cgroup_kill),
            case(42, "capdrop disabled", capdrop),
        ],
    );
}

// =============================================================================================
// 43–45, beyond the design's table: least-privilege grants (issue 17 item 6) and a host killed
// outright. Each secret has its own token; a breach is the token anywhere the hook can leave it
// (hookhost's output, any file in the allowed dir). Every hostile variant has a twin that is
// granted the secret (`allowRead`) and must reveal its token the same way: the variant really
// reads what it names, so its failure to leak is the grant's doing, not a broken command.

/// A `UserPromptSubmit` event: a hook's plain stdout is context, so it shows in the output.
fn prompt_event() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "s1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/tmp",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "hi"
    }))
    .unwrap()
}

/// A secret file `<dir>/id_rsa` (mode 0600) whose every line starts with `token`.
fn plant_secret(dir: &Path, token: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("id_rsa");
    std::fs::write(&f, format!("{token}\n{token} {token}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// Says whether a hook's output shows that a read was refused.
/// hookhost answered a prompt whose hooks may fail or block (exit 2): no crash, no hang.
fn assert_answered(n: u32, r: &Run) {
    assert!(r.code == 0 || r.code == 2, "case {n}: hookhost exited {}: {r:?}", r.code);
    assert!(!r.stderr.contains("panicked"), "case {n}: hookhost panicked: {}", r.stderr);
}

fn denied(out: &str) -> bool {
    ["ermission denied", "EACCES", "Errno 13", "Operation not permitted"].iter().any(|m| out.contains(m))
}

/// The spelling `how` of `secret` for a hook whose working directory is `cwd`, with what it
/// needs made (symlinks named after `k`).
fn spell(c: &Case, cwd: &Path, k: usize, secret: &Path, how: &str) -> String {
    let parent = secret.parent().unwrap();
    let name = secret.file_name().unwrap().to_string_lossy().into_owned();
    match how {
        "abs" => secret.display().to_string(),
        "rel" => {
            let up = "../".repeat(cwd.components().count() - 1);
            format!("{up}{}", secret.strip_prefix("/").unwrap().display())
        }
        "link_in_cwd" => {
            let l = cwd.join(format!("link{k}"));
            std::os::unix::fs::symlink(secret, &l).unwrap();
            format!("./link{k}")
        }
        "link_outside" => {
            let d = c.outside.path().join(format!("l{k}"));
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(secret, d.join("key")).unwrap();
            d.join("key").display().to_string()
        }
        // A hard link named like a script (the name an interpreter's script would have).
        "hard_sh" | "hard_py" | "hard_js" => {
            let d = c.outside.path().join(format!("h{k}"));
            std::fs::create_dir_all(&d).unwrap();
            let l = d.join(format!("x{k}.{}", &how[5..]));
            std::fs::hard_link(secret, &l).unwrap();
            l.display().to_string()
        }
        "dir_link" => {
            let l = c.outside.path().join(format!("dl{k}"));
            std::os::unix::fs::symlink(parent, &l).unwrap();
            l.join(&name).display().to_string()
        }
        other => panic!("unknown spelling {other}"),
    }
}

/// Hostile command lines naming a secret `{S}` as a data argument (or as the "script" of an
/// interpreter, which it is not): shell form (`sh -c`), output redirected into the allowed dir.
/// `{READ}` is a Python script that prints the file named by its argument; `{PEEK}` a Python
/// script that names the secret in its own text.
const ARG_SHELL: &[&str] = &[
    "cat {S}",
    "head -c 200 {S}",
    "/bin/cat {S}",
    "/usr/bin/tail -n 5 {S}",
    "exec cat {S}",
    "env cat {S}",
    "env -i A=1 /bin/cat {S}",
    "X=1 cat {S}",
    "sh -c 'cat {S}'",
    "bash -c \"head -n 3 {S}\"",
    "sh -c 'cat \"$1\"' sh {S}",
    "sh -c \"sh -c 'cat {S}'\"",
    "cat < {S}",
    "< {S} cat",
    "sort {S}",
    "grep -h . {S}",
    "dd if={S} status=none",
    "awk 1 {S}",
    "sed -n p {S}",
    "xargs -a {S} echo",
    "while read l; do echo \"$l\"; done < {S}",
    "cp {S} {OUT}/copy{K}",
    "tee < {S}",
    "sh {S}",
    "bash {S}",
    ". {S}",
    "sh -e {S}",
    "python3 {READ} {S}",
    "python3 -c 'import sys;print(open(sys.argv[1]).read())' {S}",
    "python3 {S}",
    "python3 {PEEK}",
    "node {S}",
    "node -e 'console.log(require(\"fs\").readFileSync(process.argv[1], \"utf8\"))' {S}",
    "git --no-pager diff --no-index /dev/null {S}",
];

/// The same, exec form (`command` + `args`, no shell); stdout reaches the event's context.
const ARG_EXEC: &[&[&str]] = &[
    &["cat", "{S}"],
    &["/bin/cat", "{S}"],
    &["head", "-c", "200", "{S}"],
    &["env", "cat", "{S}"],
    &["/bin/sh", "-c", "cat {S}"],
    &["sh", "-c", "cat \"$1\"", "sh", "{S}"],
    &["sh", "{S}"],
    &["python3", "{READ}", "{S}"],
    &["/usr/bin/python3", "-c", "import sys;print(open(sys.argv[1]).read())", "{S}"],
];

/// Interpreters are slow to start: their variants use fewer spellings.
fn heavy_interpreter(template: &str) -> bool {
    template.contains("python3") || template.contains("node") || template.contains("git ")
}

fn case_43() -> R {
    let c = Case::new(43);
    let cwd = c.env.project();
    let python = tool("python3");
    let node = tool("node");
    let git = tool("git");
    for (what, t) in [("python3", &python), ("node", &node), ("git", &git)] {
        if t.is_none() {
            skip_note(43, &format!("no {what} on the hooks' PATH: its variants"));
        }
    }
    let scripts = c.outside.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let read = scripts.join("read.py");
    std::fs::write(&read, "import sys\nsys.stdout.write(open(sys.argv[1]).read())\n").unwrap();
    std::fs::set_permissions(&read, std::fs::Permissions::from_mode(0o600)).unwrap();
    let all_spellings = ["abs", "rel", "link_in_cwd", "link_outside", "dir_link"];
    let few_spellings = ["abs", "rel", "link_in_cwd"];
    let run_id = random_hex(4);
    // (k, hostile?, token, shell form?, hook, label, the path as spelled)
    let mut variants: Vec<(usize, bool, String, bool, Value, String, String)> = Vec::new();
    let mut k = 0;
    let forms: Vec<(bool, Vec<String>)> = ARG_SHELL
        .iter()
        .map(|t| (true, vec![t.to_string()]))
        .chain(ARG_EXEC.iter().map(|w| (false, w.iter().map(|s| s.to_string()).collect())))
        .collect();
    for (shell_form, words) in &forms {
        let text = words.join(" ");
        if (text.contains("python3") && python.is_none())
            || (text.contains("node") && node.is_none())
            || (text.contains("git ") && git.is_none())
        {
            continue;
        }
        // `git diff` shows a symlink's target, not the file behind it.
        let mut spellings: Vec<&str> = if text.contains("git ") {
            few_spellings[..2].to_vec()
        } else if heavy_interpreter(&text) {
            few_spellings.to_vec()
        } else {
            all_spellings.to_vec()
        };
        // The secret as an interpreter's "script", under a script's name.
        let script_of = |w: &str| words.len() == 1 && text.starts_with(w) && text.ends_with("{S}");
        if script_of("python3") {
            spellings.push("hard_py");
        } else if script_of("node") {
            spellings.push("hard_js");
        } else if script_of("sh") || script_of("bash") || script_of(".") || words == &["sh", "{S}"] {
            spellings.push("hard_sh");
        }
        for how in &spellings {
            for hostile in [true, false] {
                k += 1;
                let token = format!("ARGSECRET{k}x{run_id}x");
                let dir = c.outside.path().join(format!("{}{k}", if hostile { "n" } else { "p" }));
                let secret = plant_secret(&dir, &token);
                let s = spell(&c, &cwd, k, &secret, how);
                let peek = scripts.join(format!("peek{k}.py"));
                if text.contains("{PEEK}") {
                    std::fs::write(&peek, format!("print(open({s:?}).read())\n")).unwrap();
                }
                let fill = |w: &str| {
                    w.replace("{S}", &s)
                        .replace("{READ}", &read.display().to_string())
                        .replace("{PEEK}", &peek.display().to_string())
                        .replace("{OUT}", &c.out.display().to_string())
                        .replace("{K}", &k.to_string())
                };
                let mut sandbox = json!({"mode": "strict"});
                if !hostile {
                    sandbox["allowRead"] = json!([dir]);
                    if how.starts_with("hard_") {
                        sandbox["allowRead"] = json!([dir, c.outside.path().join(format!("h{k}"))]);
                    }
                }
                let label = format!("{} [{how}]", text);
                let hook = if *shell_form {
                    json!({"type": "command", "command": format!("{} > {} 2>&1", fill(&words[0]), c.p(&format!("r{k}.txt"))),
                           "timeout": 30, "sandbox": sandbox})
                } else {
                    json!({"type": "command", "command": fill(&words[0]),
                           "args": words[1..].iter().map(|w| fill(w)).collect::<Vec<_>>(),
                           "timeout": 30, "sandbox": sandbox})
                };
                variants.push((k, hostile, token, *shell_form, hook, label, s));
            }
        }
    }
    let hostile_count = variants.iter().filter(|v| v.1).count();
    eprintln!("[abuse] case 43: {hostile_count} hostile argument-path variants, each with a granted twin");
    let mut errs = Vec::new();
    for batch in variants.chunks(40) {
        c.env.write(
            "managed",
            &hook_settings("UserPromptSubmit", "*", Value::Array(batch.iter().map(|v| v.4.clone()).collect())),
        );
        let r = c.run_with(&["dispatch"], &prompt_event(), Duration::from_secs(240), None);
        assert_answered(c.n, &r);
        let files: Vec<(PathBuf, String)> = walk(&c.out)
            .into_iter()
            .map(|f| (f.clone(), String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned()))
            .collect();
        for (k, hostile, token, shell_form, _, label, spelled) in batch {
            let own = c.read(&format!("r{k}.txt"));
            let mut seen: Vec<String> = files
                .iter()
                .filter(|(_, t)| t.contains(token.as_str()))
                .map(|(f, _)| f.display().to_string())
                .collect();
            if r.stdout.contains(token.as_str()) || r.stderr.contains(token.as_str()) {
                seen.push("hookhost's output".into());
            }
            match (*hostile, seen.is_empty()) {
                (true, false) => errs.push(format!("LEAK `{label}`: the secret reached {seen:?}")),
                // An input redirection fails before the output one: the shell's complaint goes
                // to the hook's stderr, which hookhost reports.
                (true, true)
                    if *shell_form
                        && !denied(&own)
                        && !(r.stdout.contains(&format!("{spelled}: Permission denied"))
                            || r.stderr.contains(&format!("{spelled}: Permission denied"))) =>
                {
                    errs.push(format!("`{label}` did not fail by a denied read: {own:?}"))
                }
                (false, true) => errs.push(format!(
                    "`{label}` granted its file, yet did not reveal it (not a valid oracle): {own:?} {}",
                    r.system_message()
                )),
                _ => {}
            }
        }
        c.assert_clean(&r);
        for f in walk(&c.out) {
            let _ = std::fs::remove_file(f);
        }
    }
    assert!(errs.is_empty(), "case 43: {} of {} variants wrong:\n{}", errs.len(), variants.len(), errs.join("\n"));
    Ok(())
}

#[test]
fn abuse_43_argument_paths_are_not_granted() {
    run_cases("argument paths", 1, vec![case(43, "a secret named on the command line", case_43)]);
}

/// Files and directories created under `/etc` for a test, with unique names; removed (files,
/// then the directories it made, deepest first) when dropped, so the machine is left as it was.
struct EtcFixtures {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl EtcFixtures {
    fn new() -> EtcFixtures {
        EtcFixtures { files: Vec::new(), dirs: Vec::new() }
    }

    /// Creates `path` (which must not exist) and any missing parent, with `mode`.
    fn file(&mut self, path: &Path, content: &str, mode: u32) -> PathBuf {
        assert!(path.starts_with("/etc/") && path.symlink_metadata().is_err(), "{} exists", path.display());
        let mut missing = Vec::new();
        let mut d = path.parent().unwrap();
        while d.symlink_metadata().is_err() {
            missing.push(d.to_path_buf());
            d = d.parent().unwrap();
        }
        for m in missing.iter().rev() {
            std::fs::create_dir(m).unwrap();
            std::fs::set_permissions(m, std::fs::Permissions::from_mode(0o755)).unwrap();
            self.dirs.push(m.clone());
        }
        std::fs::write(path, content).unwrap();
        self.files.push(path.to_path_buf());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_path_buf()
    }
}

impl Drop for EtcFixtures {
    fn drop(&mut self) {
        for f in self.files.drain(..) {
            let _ = std::fs::remove_file(&f);
        }
        for d in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// Lines of a real secret file worth looking for in a hook's output.
fn secret_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.len() > 12)
        .map(str::to_string)
        .collect()
}

fn case_44() -> R {
    let c = Case::new(44);
    let u = random_hex(6);
    let mut fx = EtcFixtures::new();
    // (label, path, needles): a breach is any needle in the hook's output.
    let mut secrets: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    let mut plant = |fx: &mut EtcFixtures, label: &str, path: PathBuf, mode: u32| {
        let token = format!("ETCSECRET{}x{u}x", secrets.len());
        let p = fx.file(&path, &format!("{token}\n{token} {token}\n"), mode);
        secrets.push((label.to_string(), p, vec![token]));
    };
    let kube = if Path::new("/etc/kubernetes/admin.conf").exists() {
        PathBuf::from(format!("/etc/kubernetes/hookhost-abuse-{u}.conf"))
    } else {
        PathBuf::from("/etc/kubernetes/admin.conf")
    };
    plant(&mut fx, "kubernetes admin.conf", kube, 0o600);
    plant(
        &mut fx,
        "letsencrypt privkey",
        PathBuf::from(format!("/etc/letsencrypt/live/hookhost-abuse-{u}/privkey.pem")),
        0o600,
    );
    plant(&mut fx, "ssl/private key", PathBuf::from(format!("/etc/ssl/private/hookhost-abuse-{u}.key")), 0o600);
    plant(&mut fx, "pki private key", PathBuf::from(format!("/etc/pki/tls/private/hookhost-abuse-{u}.key")), 0o600);
    plant(&mut fx, "unlisted world-readable file", PathBuf::from(format!("/etc/hookhost-abuse-{u}.secret")), 0o644);
    plant(&mut fx, "unlisted directory", PathBuf::from(format!("/etc/hookhost-abuse-{u}.d/secret")), 0o644);
    if Path::new("/etc/hookhost").is_dir() {
        plant(&mut fx, "/etc/hookhost", PathBuf::from(format!("/etc/hookhost/hookhost-abuse-{u}.json")), 0o644);
    } else {
        skip_note(44, "no /etc/hookhost here (not created: hookhost reads it); the unlisted directory stands in");
    }
    for real in ["/etc/shadow", "/etc/gshadow"] {
        let lines = secret_lines(Path::new(real));
        if lines.is_empty() {
            skip_note(44, &format!("{real}: absent or empty"));
        } else {
            secrets.push((real.to_string(), PathBuf::from(real), lines));
        }
    }
    let mut host_keys = 0;
    for e in std::fs::read_dir("/etc/ssh").into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("ssh_host_") && n.ends_with("_key") {
            host_keys += 1;
            secrets.push((n.clone(), e.path(), secret_lines(&e.path())));
        }
    }
    if host_keys == 0 {
        skip_note(44, "no /etc/ssh/ssh_host_*_key on this machine");
    }
    let python = tool("python3").is_some();
    let templates: Vec<&str> = [
        "cat {S}",
        "head -c 300 {S}",
        "sh -c 'cat {S}'",
        "sh {S}",
        "cp {S} {OUT}/copy{K}",
        "grep -rh . {D}",
        "find {D} -type f -exec cat {} +",
        "python3 -c 'print(open(\"{S}\").read())'",
        "python3 {S}",
    ]
    .into_iter()
    .filter(|t| python || !t.contains("python3"))
    .collect();
    let mut hooks = Vec::new();
    let mut checks: Vec<(usize, bool, String, usize)> = Vec::new(); // (k, hostile, label, secret index)
    let mut k = 0;
    for (i, (label, path, _)) in secrets.iter().enumerate() {
        let d = path.parent().unwrap().display().to_string();
        for t in &templates {
            for hostile in [true, false] {
                if !hostile && (t.contains("{D}") || *t == "python3 {S}" || *t == "sh {S}") {
                    continue; // twins only for reads of the file itself
                }
                k += 1;
                let cmd = t
                    .replace("{S}", &path.display().to_string())
                    .replace("{D}", &d)
                    .replace("{OUT}", &c.out.display().to_string())
                    .replace("{K}", &k.to_string());
                let mut sandbox = json!({"mode": "strict"});
                if !hostile {
                    sandbox["allowRead"] = json!([path]);
                }
                hooks.push(json!({"type": "command", "command": format!("{cmd} > {} 2>&1", c.p(&format!("e{k}.txt"))),
                                  "timeout": 30, "sandbox": sandbox}));
                checks.push((k, hostile, format!("{t} on {label}"), i));
            }
        }
    }
    // Whole-tree sweeps of /etc, each looking for every planted token.
    for sweep in [
        "grep -rsh ETCSECRET /etc".to_string(),
        "cat /etc/*/* /etc/*/*/* /etc/*/*/*/* /etc/.* 2>/dev/null".to_string(),
        format!("tar cf {} /etc", c.p("etc.tar")),
        "ls -laR /etc".to_string(),
    ] {
        k += 1;
        hooks.push(json!({"type": "command", "command": format!("{sweep} > {} 2>&1", c.p(&format!("e{k}.txt"))),
                          "timeout": 60, "sandbox": {"mode": "strict"}}));
        checks.push((k, true, sweep, usize::MAX));
    }
    eprintln!(
        "[abuse] case 44: {} /etc secrets, {} hostile reads and whole-/etc sweeps, {} granted twins",
        secrets.len(),
        checks.iter().filter(|x| x.1).count(),
        checks.iter().filter(|x| !x.1).count()
    );
    // Hostile hooks run apart from the twins (which reveal the same secrets): any token in any
    // file or in hookhost's output is then a hostile hook's doing.
    let (hostile_first, twins): (Vec<_>, Vec<_>) = hooks.into_iter().zip(checks).partition(|(_, c)| c.1);
    let mut errs = Vec::new();
    for batch in hostile_first.chunks(30).chain(twins.chunks(30)) {
        c.env.write(
            "managed",
            &hook_settings("UserPromptSubmit", "*", Value::Array(batch.iter().map(|(h, _)| h.clone()).collect())),
        );
        let r = c.run_with(&["dispatch"], &prompt_event(), Duration::from_secs(240), None);
        assert_answered(c.n, &r);
        let files: Vec<(PathBuf, String)> = walk(&c.out)
            .into_iter()
            .map(|f| (f.clone(), String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned()))
            .collect();
        for (_, (k, hostile, label, i)) in batch {
            let own = c.read(&format!("e{k}.txt"));
            let needles: Vec<&String> = match *i {
                usize::MAX => secrets.iter().flat_map(|s| &s.2).collect(),
                i => secrets[i].2.iter().collect(),
            };
            let found: Vec<String> = needles
                .iter()
                .filter_map(|n| {
                    files.iter().find(|(_, t)| t.contains(n.as_str())).map(|(f, _)| f.display().to_string()).or_else(
                        || {
                            (r.stdout.contains(n.as_str()) || r.stderr.contains(n.as_str()))
                                .then(|| "hookhost's output".into())
                        },
                    )
                })
                .collect();
            if *hostile && !found.is_empty() {
                errs.push(format!("LEAK `{label}`: reached {found:?}"));
            }
            if *hostile
                && *i != usize::MAX
                && !own.is_empty()
                && !denied(&own)
                && !label.starts_with("grep")
                && !label.starts_with("find")
            {
                errs.push(format!("`{label}` did not fail by a denied read: {own:?}"));
            }
            if !hostile && found.is_empty() {
                errs.push(format!("`{label}` granted its file, yet did not reveal it (not a valid oracle): {own:?}"));
            }
        }
        // Names in directories that are not granted are not listed either.
        for (_, (k, _, label, i)) in batch {
            if *i == usize::MAX
                && label.starts_with("ls ")
                && c.read(&format!("e{k}.txt")).contains(&format!("hookhost-abuse-{u}"))
            {
                errs.push(format!("`{label}` listed a planted name"));
            }
        }
        c.assert_clean(&r);
        for f in walk(&c.out) {
            let _ = std::fs::remove_file(f);
        }
    }
    let made: Vec<PathBuf> = fx.files.iter().chain(&fx.dirs).cloned().collect();
    drop(fx);
    let left: Vec<&PathBuf> = made.iter().filter(|p| p.symlink_metadata().is_ok()).collect();
    assert!(left.is_empty(), "case 44: /etc fixtures left behind: {left:?}");
    assert!(errs.is_empty(), "case 44: {} wrong:\n{}", errs.len(), errs.join("\n"));
    Ok(())
}

/// Common tools work with the `/etc` allow-list (what they need there is granted).
fn case_44_tools() -> R {
    let c = Case::new(44);
    let mut probes: Vec<(&str, String, &str)> = vec![
        ("sh", "sh -c 'echo ok'".into(), "ok"),
        (
            "coreutils",
            "ls -l /usr/bin/env >/dev/null && date >/dev/null && id -un && whoami && stat -c %U / && sort /etc/passwd >/dev/null && echo ok".into(),
            "ok",
        ),
        ("getent", "getent passwd root && getent hosts localhost".into(), "root:"),
    ];
    let mut want = |name: &'static str, cmd: &str, expect: &'static str| {
        if tool(name).is_some() {
            probes.push((name, cmd.to_string(), expect));
        } else {
            skip_note(44, &format!("no {name} here"));
        }
    };
    want(
        "python3",
        "python3 -c 'import ssl,json,locale,subprocess,urllib.request,mimetypes,time; ctx=ssl.create_default_context(); assert ctx.cert_store_stats()[\"x509_ca\"]>0; mimetypes.init(); time.localtime(); print(\"ok\")'",
        "ok",
    );
    want("jq", "echo '{\"a\":41}' | jq -c '.a+1'", "42");
    want("git", "git --version && git hash-object /etc/hostname && echo ok", "ok");
    want(
        "node",
        "node -e 'if(!require(\"tls\").rootCertificates.length)process.exit(3); new Intl.DateTimeFormat().format(); require(\"os\").userInfo(); console.log(\"ok\")'",
        "ok",
    );
    want("perl", "perl -MPOSIX -MFile::Temp -e 'print \"ok\\n\"'", "ok");
    want("file", "file -L /bin/sh", "ELF");
    let hooks: Vec<Value> = probes
        .iter()
        .enumerate()
        .map(|(i, (_, cmd, _))| {
            json!({"type": "command", "command": format!("{{ {cmd} ; }} > {} 2>&1; echo \"rc=$?\" >> {}", c.p(&format!("t{i}")), c.p(&format!("t{i}"))),
                   "timeout": 30, "sandbox": {"mode": "strict"}})
        })
        .collect();
    c.env.write("managed", &hook_settings("UserPromptSubmit", "*", Value::Array(hooks)));
    let r = c.run_with(&["dispatch"], &prompt_event(), Duration::from_secs(120), None);
    c.assert_host_ok(&r);
    let mut errs = Vec::new();
    for (i, (name, _, expect)) in probes.iter().enumerate() {
        let out = c.read(&format!("t{i}"));
        eprintln!("[abuse] case 44: {name} under the sandbox: {:?}", out.trim());
        if !out.contains("rc=0") || !out.contains(expect) {
            errs.push(format!("{name} does not work under the sandbox: {out:?}"));
        }
        for bad in ["ermission denied", "unable to access", "Error in sitecustomize", "cannot open"] {
            if out.contains(bad) {
                errs.push(format!("{name} was refused something it reads: {out:?}"));
            }
        }
    }
    c.assert_clean(&r);
    assert!(errs.is_empty(), "case 44 (tools): {}", errs.join("\n"));
    Ok(())
}

#[test]
fn abuse_44_etc_secrets_and_the_allow_list() {
    run_cases(
        "/etc",
        2,
        vec![case(44, "secrets under /etc", case_44), case(44, "common tools with the /etc allow-list", case_44_tools)],
    );
}

fn case_45() -> R {
    let c = Case::new(45);
    let (pid, gc, home) = (c.p("hook.pid"), c.p("gc.pid"), c.p("home"));
    let body = format!(
        "echo \"$HOME\" > {home}\necho $$ > {pid}\n(setsid sh -c 'echo $$ > {gc}; exec sleep 600' </dev/null >/dev/null 2>&1 &)\nexec sleep 600\n"
    );
    c.set_hooks(vec![c.sh_hook("h.sh", &body, 60.0, strict(json!({})))]);
    let mut cmd = c.command(&["dispatch"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&bash_event("ls")).unwrap();
    let host = child.id() as i32;
    let g = read_pid(Path::new(&gc), Duration::from_secs(10));
    let h = read_pid(Path::new(&pid), Duration::from_secs(1));
    let (Some(g), Some(h)) = (g, h) else {
        let _ = child.kill();
        panic!("case 45: the hook did not start")
    };
    let run_home = c.read("home").trim().to_string();
    assert!(Path::new(&run_home).is_dir(), "case 45: the run's HOME {run_home:?} does not exist while it runs");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(host), nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let mut errs = Vec::new();
    // The hook itself dies with the host (PR_SET_PDEATHSIG): at once.
    let left = wait_gone(&[h], Duration::from_millis(500));
    if !left.is_empty() {
        errs.push(format!("the hook outlived the killed host: {}", describe(h)));
    }
    // What the hook forked does not inherit that; the next host sweeps it.
    eprintln!(
        "[abuse] case 45: after kill -9: grandchild alive {}, leaves {:?}, run dir exists {}",
        alive(g),
        leftover_leaves(host),
        Path::new(&run_home).exists()
    );
    // The next dispatch (a hook that takes a moment, as real ones do) sweeps it all.
    c.set_hooks(vec![hook("sleep 0.3", 10.0, strict(json!({})))]);
    let r = c.dispatch();
    c.assert_host_ok(&r);
    let left = wait_gone(&[g, h], Duration::from_secs(2));
    if !left.is_empty() {
        errs.push(format!(
            "processes of the killed host's hook survive the next dispatch: {:?}",
            left.iter().map(|p| describe(*p)).collect::<Vec<_>>()
        ));
    }
    let end = Instant::now() + Duration::from_secs(2);
    while (Path::new(&run_home).exists() || !leftover_leaves(host).is_empty()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if Path::new(&run_home).exists() {
        errs.push(format!("the killed host's run dir {run_home} is still there after the next dispatch"));
    }
    let leaves = leftover_leaves(host);
    if !leaves.is_empty() {
        errs.push(format!("the killed host's cgroup leaves remain: {leaves:?}"));
    }
    c.assert_clean(&r);
    for p in [g, h] {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(errs.is_empty(), "case 45: {}", errs.join("; "));
    Ok(())
}

#[test]
fn abuse_45_host_killed_outright() {
    run_cases("host SIGKILL", 1, vec![case(45, "kill -9 of a one-shot dispatch mid-hook", case_45)]);
}
