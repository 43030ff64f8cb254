//! Test support: a throwaway home for all settings scopes, and running the real binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hookhost")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Claude Code 2.1.328 fixtures, copied into the repository (a test checks the copy against
/// the team's shared originals when they are beside the checkout).
pub fn fixtures_dir() -> PathBuf {
    repo().join("tests/fixtures/claude-code-2.1.328")
}

/// Every fixture file name (the `.json` files).
pub fn fixture_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// A temporary machine: managed dir, user config home, user state dir and a project dir.
pub struct Env {
    pub tmp: tempfile::TempDir,
    /// Run `hookhost trust` for the project before every command when project or local
    /// settings exist (the user trusted the repository). On by default; trust tests turn it off.
    pub trust_project: std::cell::Cell<bool>,
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["managed", "xdg", "project"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let env = Env { tmp, trust_project: std::cell::Cell::new(true) };
        // Hooks run sandboxed (strict where every layer exists): let test hooks write their
        // marker files in this machine's temp dir and read the scenario scripts.
        env.write(
            "managed.d/00-test-sandbox.json",
            &serde_json::json!({"sandbox": {
                "allowWrite": [env.path()],
                "allowRead": [repo().join("tests/fixtures")]
            }})
            .to_string(),
        );
        env
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn managed_dir(&self) -> PathBuf {
        self.path().join("managed")
    }

    pub fn project(&self) -> PathBuf {
        self.path().join("project")
    }

    pub fn cli_file(&self) -> PathBuf {
        self.path().join("cli.json")
    }

    /// `$XDG_STATE_HOME`: the trust store lives in `state/hookhost/`.
    pub fn state_home(&self) -> PathBuf {
        self.path().join("state")
    }

    /// A `Command` for the binary, pointing at this machine, without trusting the project first.
    /// `program` with this machine's environment only (PATH, the managed directory, the XDG
    /// directories and HOME) and no arguments.
    pub fn machine_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOOKHOST_MANAGED_DIR", self.managed_dir())
            .env("XDG_CONFIG_HOME", self.path().join("xdg"))
            .env("XDG_STATE_HOME", self.state_home())
            .env("HOME", self.path());
        c
    }

    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut c = self.machine_command(bin());
        c.args(args).arg("--project-dir").arg(self.project());
        if self.cli_file().exists() {
            c.arg("--settings").arg(self.cli_file());
        }
        c
    }

    /// Runs `hookhost trust` for the project.
    pub fn trust(&self) -> Output {
        run(self.bare_command(&["trust"]), b"")
    }

    /// Where a scope's file goes: `managed`, `managed.d/NAME`, `cli`, `local`, `project`, `user`.
    pub fn scope_path(&self, scope: &str) -> PathBuf {
        match scope {
            "managed" => self.managed_dir().join("managed-settings.json"),
            "cli" => self.cli_file(),
            "local" => self.project().join(".hookhost/settings.local.json"),
            "project" => self.project().join(".hookhost/settings.json"),
            "user" => self.path().join("xdg/hookhost/settings.json"),
            other => match other.strip_prefix("managed.d/") {
                Some(name) => self.managed_dir().join("managed-settings.d").join(name),
                None => panic!("unknown scope {other}"),
            },
        }
    }

    pub fn write(&self, scope: &str, text: &str) -> PathBuf {
        let p = self.scope_path(scope);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A `Command` for the binary with a clean environment pointing at this machine. With
    /// `trust_project`, the project's current hooks are trusted first (`hookhost trust`).
    pub fn command(&self, args: &[&str]) -> Command {
        let project_settings = self.scope_path("project").exists() || self.scope_path("local").exists();
        if self.trust_project.get() && project_settings && !matches!(args.first(), Some(&"trust")) {
            let out = self.trust();
            assert_eq!(out.code, 0, "hookhost trust failed: {out:?}");
        }
        self.bare_command(args)
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.command(args), stdin)
    }

    pub fn dispatch(&self, event: &[u8]) -> Output {
        self.run(&["dispatch"], event)
    }
}

pub fn run(mut c: Command, stdin: &[u8]) -> Output {
    let mut child =
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn hookhost");
    let mut w = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A Bash PreToolUse event with the given command.
pub fn bash_event(command: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "session_id": "s1",
        "cwd": "/tmp",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "test"},
        "tool_use_id": "toolu_1"
    }))
    .unwrap()
}

/// Settings with one hook group.
pub fn hook_settings(event: &str, matcher: &str, hooks: serde_json::Value) -> String {
    serde_json::json!({"hooks": {event: [{"matcher": matcher, "hooks": hooks}]}}).to_string()
}

/// A `kB` field of a `/proc/<pid>/status` text (`VmRSS`, `VmHWM`, `RssAnon`, ...), in KiB.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// A loopback TCP port nothing listens on, for a server a test starts (or a sink it leaves
/// down). It lies outside the kernel's ephemeral range (`ip_local_port_range`), so no outgoing
/// connection of a parallel test can take it between this call and the bind, and a restarted
/// server can bind it again; each call in this process gets a different one. Binding port 0 and
/// closing it would hand out a port the next `connect()` anywhere may pick as its local port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    // The larger stretch outside [low, high], above the privileged ports.
    let (start, len) =
        if low.saturating_sub(10_000) >= 65_535 - high { (10_000, low - 10_000) } else { (high + 1, 65_535 - high) };
    assert!(len >= 1000, "no room outside the ephemeral port range {low}-{high}");
    let offset = std::process::id() * 7919 % len;
    for _ in 0..len {
        let port = (start + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % len) as u16;
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if tcp.is_ok() && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {start}..{}", start + len)
}
