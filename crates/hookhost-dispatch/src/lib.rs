//! hookhost's thin client: the command agents register (`hookhost-dispatch`) forwards one event
//! to the warm daemon (`hookhost serve`) and prints its answer byte for byte; when no suitable
//! daemon answers it `exec`s the full `hookhost dispatch` with the same stdin bytes and the cause.
//!
//! Owns: the client half of the daemon's frame protocol (4-byte big-endian length + JSON, see
//! `hookhost::daemon`), the daemon's [`Identity`] (version and settings locations), the per-user
//! automatic socket ([`auto_socket`]) and the checks made before an event is sent.
//!
//! Promises:
//! - nothing is sent to a listener that is neither this user nor root (`SO_PEERCRED`), nor to a
//!   listener of this user whose executable is not the hookhost binary the fallback would run
//!   (`/proc/PID/exe`, same device and inode: a process the agent started cannot pose as the
//!   daemon); the request names the [`Identity`] this client expects and the daemon refuses a
//!   mismatch, and an answer whose identity differs from the expected one is never printed;
//! - every failure is classified: [`Failure::Unavailable`] (nothing was sent, or the daemon
//!   refused before running anything) or [`Failure::Failed`] (the event was sent and no usable
//!   answer came back: killed mid-event, timed out, garbage), so the full binary applies the
//!   failure policy (`failClosed`, `hookhost.daemon`);
//! - no async runtime, no settings parser, no WebAssembly: std, `nix` and `serde_json` only.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub mod main_impl;

/// The version of this client; equal to hookhost's (a test in hookhost checks it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Protocol version in every request.
pub const PROTOCOL: u32 = 1;
/// The largest frame either side accepts (the largest event plus envelope).
pub const MAX_FRAME: usize = 16 * 1024 * 1024 + 64 * 1024;
/// The largest event accepted by default (`--max-event-bytes`).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// The managed settings directory when `HOOKHOST_MANAGED_DIR` is not set.
pub const DEFAULT_MANAGED_DIR: &str = "/etc/hookhost";
/// Start of the message of an error reply by which a daemon says it is not the one this client
/// wants (other identity, disabled by managed policy): nothing ran, the event is unanswered.
pub const UNSUITABLE: &str = "unsuitable hookhost daemon: ";

/// Environment of the full binary when the thin client falls back: why (`explicit`: the daemon
/// named by `HOOKHOST_SOCKET` did not answer; `unavailable`: no suitable automatic daemon;
/// `failed`: the automatic daemon took the event and gave no usable answer).
pub const ENV_FALLBACK: &str = "HOOKHOST_FALLBACK";
/// The cause, in words (named in a fail-closed answer).
pub const ENV_FALLBACK_CAUSE: &str = "HOOKHOST_FALLBACK_CAUSE";
/// The socket the thin client tried.
pub const ENV_FALLBACK_SOCKET: &str = "HOOKHOST_FALLBACK_SOCKET";

/// What a daemon must match to answer this client: same hookhost version and the same settings
/// locations (so a daemon started with another `HOOKHOST_MANAGED_DIR`, `XDG_CONFIG_HOME` or
/// `XDG_STATE_HOME` is never asked). Computed exactly as `hookhost::settings::Locations::from_env`
/// computes the locations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub version: String,
    pub managed_dir: PathBuf,
    pub user_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

fn var(k: &str) -> Option<PathBuf> {
    std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Identity {
    /// This process's identity, from its environment.
    pub fn from_env() -> Identity {
        let config_home = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
        let state_home = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local").join("state")));
        Identity {
            version: VERSION.into(),
            managed_dir: var("HOOKHOST_MANAGED_DIR").unwrap_or_else(|| PathBuf::from(DEFAULT_MANAGED_DIR)),
            user_file: config_home.map(|c| c.join("hookhost").join("settings.json")),
            state_dir: state_home.map(|s| s.join("hookhost")),
        }
    }
}

/// The directory of this user's automatic daemon socket: `$XDG_RUNTIME_DIR/hookhost`, else
/// `/tmp/hookhost-UID` (created 0700 by the daemon, which refuses it when another uid owns it
/// or others can write it).
pub fn auto_dir() -> PathBuf {
    match var("XDG_RUNTIME_DIR") {
        Some(d) => d.join("hookhost"),
        None => PathBuf::from(format!("/tmp/hookhost-{}", nix::unistd::getuid().as_raw())),
    }
}

/// The automatic daemon's socket for the hookhost binary `bin` and this environment's
/// [`Identity`]: `auto_dir()/daemon-HASH.sock`, the hash over the identity and the binary's
/// device, inode and modification time, so another version, another build or other settings
/// locations get a daemon of their own. `None` when `bin` cannot be read.
pub fn auto_socket(bin: &Path) -> Option<PathBuf> {
    auto_socket_in(&auto_dir(), &Identity::from_env(), bin)
}

/// [`auto_socket`] for a given directory and identity.
pub fn auto_socket_in(dir: &Path, id: &Identity, bin: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(bin).ok()?;
    let mut h = Fnv::new();
    h.write(id.version.as_bytes());
    for p in [Some(&id.managed_dir), id.user_file.as_ref(), id.state_dir.as_ref()] {
        h.write(&[0xff]);
        if let Some(p) = p {
            h.write(p.as_os_str().as_encoded_bytes());
        }
    }
    for n in [meta.dev(), meta.ino(), meta.mtime() as u64, meta.mtime_nsec() as u64] {
        h.write(&n.to_le_bytes());
    }
    Some(dir.join(format!("daemon-{:016x}.sock", h.0)))
}

/// FNV-1a, 64 bits: a stable name, not a security boundary (the daemon is verified on connect).
struct Fnv(u64);
impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The full hookhost binary: `HOOKHOST_BIN`, else `hookhost` next to this executable.
pub fn full_binary() -> Option<PathBuf> {
    if let Some(b) = var("HOOKHOST_BIN") {
        return Some(b);
    }
    Some(std::env::current_exe().ok()?.parent()?.join("hookhost"))
}

/// The hook timeout Claude Code applies to an event (hookhost's `hook::default_timeout`).
pub fn default_timeout(event: &str) -> Duration {
    match event {
        "UserPromptSubmit" => Duration::from_secs(30),
        "MessageDisplay" => Duration::from_secs(10),
        "SessionEnd" => Duration::from_millis(1500),
        _ => Duration::from_secs(600),
    }
}

/// Why no answer is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing ran: no daemon, a listener that is not ours, a daemon that refused before
    /// running anything because it is not the one this client wants.
    Unavailable(String),
    /// The event was sent and no usable answer came back.
    Failed(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Unavailable(m) | Failure::Failed(m) => m,
        }
    }
}

/// The daemon's answer, printed as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub exit_code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// One event request, as the daemon reads it.
#[derive(Serialize)]
struct EventRequest<'a> {
    v: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_dir: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<&'a Path>,
    expect: &'a Identity,
}

/// A reply, as the daemon writes it (other fields are ignored).
#[derive(Deserialize)]
struct ReplyFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    exit_code: Option<u8>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    identity: Option<Identity>,
}

/// Who listens at the other end, as verified before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub uid: u32,
    pub pid: i32,
    /// It runs as this user (so it reads this user's settings).
    pub same_user: bool,
}

/// Checks the listener of `s`: its uid (`SO_PEERCRED`) must be this user's or root's, and when
/// it is this user's, its executable must be `bin` (the hookhost binary this client trusts).
pub fn verify_listener(socket: &Path, s: &UnixStream, bin: Option<&Path>) -> Result<Listener, Failure> {
    let creds = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials).map_err(|e| {
        Failure::Unavailable(format!(
            "cannot read the credentials of the process listening at {}: {e}",
            socket.display()
        ))
    })?;
    let (uid, me, pid) = (creds.uid(), nix::unistd::getuid().as_raw(), creds.pid());
    if uid != me && uid != 0 {
        return Err(Failure::Unavailable(format!(
            "the process listening at {} runs as uid {uid}, neither this user (uid {me}) nor root; not sending it \
             the event (another user may have bound the socket path)",
            socket.display()
        )));
    }
    // The listener of a socket systemd (pid 1, root-configured socket activation) bound is
    // pid 1 itself, not the daemon it hands the socket to: only root configures pid 1's units.
    if uid == me
        && pid != 1
        && let Some(bin) = bin
    {
        let theirs = std::fs::metadata(format!("/proc/{pid}/exe"));
        let ours = std::fs::metadata(bin);
        let same = matches!((&theirs, &ours), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino());
        if !same && pid > 0 && exited(pid) {
            // Killed between accepting and this check: it is not there to be checked.
            return Err(Failure::Unavailable(format!(
                "the hookhost daemon at {} went away: its process (pid {pid}) exited before it could be checked",
                socket.display()
            )));
        }
        if !same {
            return Err(Failure::Unavailable(format!(
                "the process listening at {} (pid {pid}) is not the hookhost binary {} (another build, or a \
                 program posing as the daemon); not sending it the event",
                socket.display(),
                bin.display()
            )));
        }
    }
    Ok(Listener { uid, pid, same_user: uid == me })
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold anything.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub socket: &'a Path,
    /// The event, exactly as the agent sent it.
    pub event: &'a str,
    /// The project (absolute); sent only to a daemon of this user.
    pub project_dir: Option<&'a Path>,
    /// `--settings FILE` (absolute).
    pub settings: Option<&'a Path>,
    pub expect: &'a Identity,
    /// The hookhost binary a daemon of this user must run.
    pub bin: Option<&'a Path>,
    pub deadline: Duration,
}

/// Sends one event to the daemon and waits, at most `deadline`, for its answer.
pub fn ask(a: &Ask) -> Result<Answer, Failure> {
    let start = Instant::now();
    let socket = a.socket;
    let mut s = UnixStream::connect(socket).map_err(|e| {
        Failure::Unavailable(format!("cannot connect to the hookhost daemon at {}: {e}", socket.display()))
    })?;
    let listener = verify_listener(socket, &s, a.bin)?;
    let req = EventRequest {
        v: PROTOCOL,
        kind: "event",
        event: a.event,
        project_dir: a.project_dir.filter(|_| listener.same_user),
        settings: a.settings,
        expect: a.expect,
    };
    let body = serde_json::to_vec(&req).map_err(|e| Failure::Unavailable(format!("cannot encode the request: {e}")))?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    let gone = |e: std::io::Error| {
        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
            Failure::Failed(format!(
                "the hookhost daemon at {} did not answer within {:?}",
                socket.display(),
                start.elapsed()
            ))
        } else {
            Failure::Failed(format!("the hookhost daemon at {} went away: {e}", socket.display()))
        }
    };
    let left = || a.deadline.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
    s.set_write_timeout(Some(left())).map_err(gone)?;
    // A daemon that refuses us answers and hangs up without reading: its error frame may be
    // waiting although the write failed.
    let write_error = match s.write_all(&frame) {
        Ok(()) => None,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset) => Some(e),
        Err(e) => return Err(gone(e)),
    };
    let mut len = [0u8; 4];
    if let Err(e) = read_exact(&mut s, &mut len, start, a.deadline) {
        return Err(gone(write_error.unwrap_or(e)));
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(Failure::Failed(format!(
            "the hookhost daemon at {} went away: reply frame of {n} bytes is over the limit",
            socket.display()
        )));
    }
    let mut body = vec![0u8; n];
    read_exact(&mut s, &mut body, start, a.deadline).map_err(gone)?;
    let reply: ReplyFrame = serde_json::from_slice(&body).map_err(|e| {
        Failure::Failed(format!("the hookhost daemon at {} went away: unreadable reply: {e}", socket.display()))
    })?;
    match reply.kind.as_str() {
        "outcome" => {
            // A daemon of another uid (root) answers with the managed policy only: its version
            // and managed directory must be ours; its own user files are not ours to compare.
            let matches = match &reply.identity {
                Some(i) if listener.same_user => i == a.expect,
                Some(i) => i.version == a.expect.version && i.managed_dir == a.expect.managed_dir,
                None => false,
            };
            if !matches {
                // Hooks may have run there: the event was taken, and not answered usably.
                return Err(Failure::Failed(format!(
                    "the hookhost daemon at {} answered for other settings locations or another version ({}); its \
                     answer is discarded",
                    socket.display(),
                    match &reply.identity {
                        Some(i) => format!("version {}, managed dir {}", i.version, i.managed_dir.display()),
                        None => "it named none: an older daemon".into(),
                    }
                )));
            }
            match (reply.exit_code, reply.stdout, reply.stderr) {
                (Some(exit_code), Some(stdout), Some(stderr)) => Ok(Answer { exit_code, stdout, stderr }),
                _ => Err(Failure::Failed(format!(
                    "the hookhost daemon at {} went away: incomplete reply",
                    socket.display()
                ))),
            }
        }
        "error" => {
            let message = reply.message.unwrap_or_default();
            if let Some(why) = message.strip_prefix(UNSUITABLE) {
                Err(Failure::Unavailable(format!(
                    "the hookhost daemon at {} is not usable here: {why}",
                    socket.display()
                )))
            } else {
                Err(Failure::Failed(format!(
                    "the hookhost daemon at {} refused the request: {message}",
                    socket.display()
                )))
            }
        }
        other => Err(Failure::Failed(format!(
            "the hookhost daemon at {} answered with an unexpected {other:?} reply",
            socket.display()
        ))),
    }
}

/// `read_exact` that re-arms the socket timeout with what is left of the deadline, so a daemon
/// trickling bytes cannot hold the client past it (also hookhost's own client,
/// `hookhost::daemon::client`).
pub fn read_exact(s: &mut UnixStream, buf: &mut [u8], start: Instant, deadline: Duration) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let left = deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf[done..]) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_socket_changes_with_the_binary_and_lives_in_the_private_dir() {
        let dir = std::env::temp_dir().join(format!("hhd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "x").unwrap();
        let (sa, sb) = (auto_socket(&a).unwrap(), auto_socket(&b).unwrap());
        assert_ne!(sa, sb, "another binary, another daemon");
        assert_eq!(sa, auto_socket(&a).unwrap(), "stable");
        assert_eq!(sa.parent().unwrap(), auto_dir());
        assert!(auto_socket(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A live process has not exited; one that exited has, before it is reaped (a zombie: a
    /// killed daemon its parent has not waited for yet) and after.
    #[test]
    fn exited_tells_a_live_process_from_a_dead_one() {
        assert!(!exited(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let t = std::time::Instant::now();
        while !exited(pid) {
            assert!(t.elapsed() < std::time::Duration::from_secs(10), "`true` never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(exited(pid));
    }
}
