//! `hookhost serve`: a tokio server on a Unix socket in front of one [`crate::Host`] that keeps
//! settings live (watched and gated per project, `crate::host::projects`), WebAssembly
//! components warm (one pooled runtime for every revision) and command hooks' sandboxes prepared
//! ahead. The server owns the socket, framing, peer credentials and limits; every decision and
//! status comes from the host, so it decides exactly as one-shot `dispatch` does.
//!
//! Promises:
//! - **Who.** Only peers whose uid is allowed (default: the daemon's own uid and root, checked
//!   with `SO_PEERCRED`) get an answer. A peer whose uid is not the daemon's own (a *foreign*
//!   peer: another user of a shared daemon, root included when the daemon is not root) gets
//!   decisions of the managed policy only (server-managed and endpoint-managed scopes): its
//!   request's `settings` and `project_dir` are refused with an error frame, the event's `cwd`
//!   selects no project, no user, project, local or command-line file is read for it, and
//!   nothing is rolled back for it. So nothing a foreign peer can write runs with the daemon's
//!   rights.
//! - **Where.** The socket is created with mode 0600 (or the configured mode) with no window
//!   where it is wider, in a directory no one else can write: the socket's directory must be
//!   owned by the daemon's uid or root and not group- or world-writable, and every directory
//!   above it owned by the daemon's uid or root and not writable by others unless sticky.
//! - **How much.** At most `max_connections_per_uid` connections per peer uid; a connection
//!   with no request for `idle_timeout` is closed, and a frame (request read or reply written)
//!   must complete within `frame_timeout` of its first byte. Frames in flight, on all
//!   connections together, reserve at most `max_buffered_bytes` (one uid at most three quarters
//!   of it): a frame's declared length is reserved when its header arrives, without waiting (a
//!   frame that finds no room gets an error frame), and its buffer then grows only with the
//!   bytes that arrive, never preallocated from the declared length.
//! - A bad frame is answered with an error frame and never stops the daemon; SIGTERM/SIGINT stop
//!   accepting, let every in-flight event finish, remove the socket file and return, leaving no
//!   pooled sandbox behind. One live revision per project directory of the daemon's own uid (at
//!   most `max_projects`), plus one managed-only revision for foreign peers, each with its own
//!   watcher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::{MAX_FRAME, Reply, Request, SourceInfo, encode};
use crate::host::{Host, LiveError, Target};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    /// Peer uids that may send requests (besides none: an empty list means the defaults).
    pub allowed_uids: Vec<u32>,
    /// Mode of the socket file (0600 by default; 0660 to share with a group).
    pub mode: u32,
    /// The largest event accepted.
    pub max_event_bytes: usize,
    /// The most connections open at once from one peer uid.
    pub max_connections_per_uid: usize,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// The longest a frame may take, from its first byte to its last (requests and replies).
    pub frame_timeout: Duration,
    /// The most bytes buffered for frames across all connections.
    pub max_buffered_bytes: usize,
    /// Projects (project dir, `--settings` file) whose live settings are loaded at start.
    pub preload: Vec<(Option<PathBuf>, Option<PathBuf>)>,
    /// Observability (issue 24): the bound metrics endpoint (`--metrics`; off when `None`).
    pub metrics: Option<Arc<std::net::TcpListener>>,
    /// Observability (issue 24): the audit shipping managed `audit.ship` configures, read at
    /// start.
    pub ship: Option<crate::audit::ship::ShipOptions>,
    /// Exit after this long with no connection (`--idle-exit`).
    pub idle_exit: Option<Duration>,
    /// The automatic daemon (`serve --auto`, see `super::auto`): stops answering, and exits,
    /// when the managed `hookhost.daemon` is `"off"`.
    pub auto: bool,
    /// The socket came from systemd (`daemon::activation`): it is systemd's, not removed at exit.
    pub socket_activated: bool,
}

impl ServeOptions {
    pub fn new(socket: PathBuf) -> Self {
        ServeOptions {
            socket,
            allowed_uids: Vec::new(),
            mode: 0o600,
            max_event_bytes: 16 << 20,
            max_connections_per_uid: 64,
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(10),
            max_buffered_bytes: 64 << 20,
            preload: Vec::new(),
            metrics: None,
            ship: None,
            idle_exit: None,
            auto: false,
            socket_activated: false,
        }
    }
}

/// A daemon that could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{socket}: another hookhost daemon is already listening there")]
    InUse { socket: PathBuf },
    #[error("{socket}: {source}")]
    Socket {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{socket}: refusing a socket in {dir}: {why}; other users could replace the socket there \
         (use a private directory such as $XDG_RUNTIME_DIR or /run/hookhost)"
    )]
    UnsafeDirectory { socket: PathBuf, dir: PathBuf, why: String },
}

struct State {
    options: ServeOptions,
    allowed: Vec<u32>,
    /// The daemon's own uid: peers with another uid are foreign.
    me: u32,
    /// Every decision and status comes from the host (live settings per project, the
    /// managed-only revision of foreign peers, server-managed settings polled).
    host: Host,
    /// Open connections and reserved frame budget per peer uid.
    connections: std::sync::Mutex<HashMap<u32, PerUid>>,
    /// Frame buffer budget, in KiB.
    budget: Arc<Semaphore>,
    /// The most of the budget one uid may reserve, in KiB.
    per_uid_kib: usize,
    stop: watch::Receiver<bool>,
    /// Observability (issue 24): the audit shipper's sinks, for `Status`.
    ship: Option<crate::audit::ship::Shared>,
    /// What this daemon answers for (version, settings locations): a client expecting another
    /// identity is refused before anything runs.
    identity: super::auto::Identity,
    /// Stops the daemon from inside (an automatic daemon the managed policy turned off).
    quit: tokio::sync::Notify,
}

/// What one peer uid holds.
#[derive(Debug, Default)]
struct PerUid {
    connections: usize,
    reserved_kib: usize,
}

/// Who sent a request.
#[derive(Debug, Clone, Copy)]
struct Peer {
    uid: u32,
    /// Not the daemon's own uid: decisions of the managed policy only.
    foreign: bool,
}

/// Binds the socket (see [`ServeOptions`]) without serving yet: a caller can report readiness
/// (for example to systemd or a test) once this returns.
pub fn bind(options: &ServeOptions) -> Result<UnixListener, ServeError> {
    let socket = &options.socket;
    let err = |source| ServeError::Socket { socket: socket.clone(), source };
    check_directory(socket, nix::unistd::getuid().as_raw())?;
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; refusing to replace it",
            )));
        }
        // An automatic daemon holds the socket's lock (`super::auto::lock`): whatever listens
        // there without it is not the automatic daemon (its clients verify and refuse it), so it
        // is replaced.
        if !options.auto && std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(ServeError::InUse { socket: socket.clone() });
        }
        // A stale socket of a daemon that died.
        std::fs::remove_file(socket).map_err(err)?;
    }
    // Create the socket with no permission bits for anyone else from the start, then widen to
    // the configured mode: no window where another user could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(socket);
    nix::sys::stat::umask(old);
    let std_listener = bound.map_err(err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(options.mode & 0o777)).map_err(err)?;
    }
    std_listener.set_nonblocking(true).map_err(err)?;
    UnixListener::from_std(std_listener).map_err(err)
}

/// Refuses a socket path that another user could take over: its directory must be owned by
/// `me` or root and writable by no one else (no group or world write bit, sticky or not), and
/// every directory above it owned by `me` or root and, when group- or world-writable, sticky
/// (so no one else can rename the directories below it). Checked along the path as written
/// (a symlink on it must be owned by `me` or root) and along the directory it resolves to.
pub fn check_directory(socket: &Path, me: u32) -> Result<(), ServeError> {
    let io = |e| ServeError::Socket { socket: socket.to_path_buf(), source: e };
    let absolute = std::path::absolute(socket).map_err(io)?;
    let Some(dir) = absolute.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let real = std::fs::canonicalize(dir).map_err(io)?;
    check_chain(socket, dir, me, false)?;
    check_chain(socket, &real, me, true)
}

/// [`check_directory`]'s rules for `dir` and every directory above it (`follow`: stat, else
/// lstat each entry).
fn check_chain(socket: &Path, dir: &Path, me: u32, follow: bool) -> Result<(), ServeError> {
    use std::os::unix::fs::MetadataExt;
    let unsafe_dir =
        |d: &Path, why: String| ServeError::UnsafeDirectory { socket: socket.to_path_buf(), dir: d.to_path_buf(), why };
    for (i, d) in dir.ancestors().enumerate() {
        let meta = if follow { std::fs::metadata(d) } else { std::fs::symlink_metadata(d) }
            .map_err(|e| ServeError::Socket { socket: socket.to_path_buf(), source: e })?;
        let (uid, mode) = (meta.uid(), meta.mode());
        if uid != me && uid != 0 {
            return Err(unsafe_dir(d, format!("it is owned by uid {uid}, neither this daemon's uid ({me}) nor root")));
        }
        if meta.file_type().is_symlink() {
            continue; // Who may replace it is a matter of its directory, checked next.
        }
        let writable = mode & 0o022 != 0;
        if i == 0 && writable {
            return Err(unsafe_dir(
                d,
                format!("it is writable by its group or by everyone (mode {:04o})", mode & 0o7777),
            ));
        }
        if writable && mode & 0o1000 == 0 {
            return Err(unsafe_dir(
                d,
                format!("it is writable by its group or by everyone and not sticky (mode {:04o})", mode & 0o7777),
            ));
        }
    }
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight events and removes
/// the socket file.
pub async fn serve(
    listener: UnixListener,
    options: ServeOptions,
    host: Host,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let me = nix::unistd::getuid().as_raw();
    let mut allowed = if options.allowed_uids.is_empty() { vec![me, 0] } else { options.allowed_uids.clone() };
    allowed.sort_unstable();
    allowed.dedup();
    let (stop_tx, stop_rx) = watch::channel(false);
    let socket = options.socket.clone();
    let keep_socket = options.socket_activated;
    let budget_kib = (options.max_buffered_bytes / 1024).clamp(MIN_BUDGET_KIB, Semaphore::MAX_PERMITS);
    // One uid may take three quarters: the rest stays for the others (at least one frame).
    let per_uid_kib = (budget_kib / 4 * 3).max(MIN_BUDGET_KIB);
    // Observability (issue 24): the metrics endpoint (bound by the caller) and the audit
    // shipper, both off the decision path (their own task and threads).
    let metrics_listener = options.metrics.as_ref().and_then(|l| {
        crate::metrics::enable();
        let l = l.try_clone().and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        });
        l.map_err(|e| tracing::error!(error = %e, "metrics endpoint unusable")).ok()
    });
    let shipper = options.ship.clone().map(crate::audit::ship::Shipper::spawn);
    let state = Arc::new(State {
        ship: shipper.as_ref().map(|s| s.status.clone()),
        options,
        allowed,
        me,
        host: host.clone(),
        connections: std::sync::Mutex::new(HashMap::new()),
        budget: Arc::new(Semaphore::new(budget_kib)),
        per_uid_kib,
        stop: stop_rx,
        identity: super::auto::identity(&crate::settings::Locations::from_env(None, None, None)),
        quit: tokio::sync::Notify::new(),
    });
    for (project_dir, settings) in state.options.preload.clone() {
        if let Err(e) = host.preload(&Target { project_dir, settings, foreign: false }).await {
            tracing::warn!(error = %e, "cannot preload a project");
        }
    }
    // The config guard of other agents (issue 21): what is there now is accepted before the
    // first request is served.
    let guard_projects = state.options.preload.iter().filter_map(|(p, _)| p.clone()).collect();
    let guard = super::guard::Guard::start(host.clone(), guard_projects).await;
    let guard_task = guard.map(|g| tokio::spawn(g.run(state.stop.clone())));
    let metrics_task = metrics_listener.map(|l| {
        let weak = Arc::downgrade(&state);
        crate::metrics::revisions_from(move || weak.upgrade().map(|st| st.host.live_revisions()).unwrap_or_default());
        tokio::spawn(crate::metrics::serve(l, state.stop.clone()))
    });
    tracing::info!(socket = %socket.display(), uids = ?state.allowed, "hookhost daemon listening");
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    // The socket file this daemon bound: removed at exit only while it is still this one (an
    // automatic daemon may have been replaced at the same path).
    let bound = socket_inode(&socket);
    let mut last_active = Instant::now();
    let mut idle_tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = state.quit.notified() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    last_active = Instant::now();
                    let st = state.clone();
                    conns.spawn(async move { connection(st, stream).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => last_active = Instant::now(),
            _ = idle_tick.tick(), if state.options.idle_exit.is_some() => {
                if conns.is_empty() && state.options.idle_exit.is_some_and(|d| last_active.elapsed() >= d) {
                    tracing::info!("no connection for the idle period: exiting");
                    break;
                }
            }
        }
    }
    tracing::info!(in_flight = conns.len(), "shutting down: no new connections; finishing in-flight events");
    drop(listener);
    if !keep_socket && bound.is_some() && socket_inode(&socket) == bound {
        let _ = std::fs::remove_file(&socket);
    }
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    if let Some(t) = guard_task {
        let _ = t.await;
    }
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    if let Some(shipper) = shipper {
        let _ = tokio::task::spawn_blocking(move || shipper.stop()).await;
    }
    // Watchers, the poller and the sandbox pool: no cgroup leaf or temporary directory
    // outlives us.
    host.shutdown().await;
    tracing::info!("hookhost daemon stopped");
}

/// The inode of the socket file at `socket`, if there is one.
fn socket_inode(socket: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(socket).ok().map(|m| (m.dev(), m.ino()))
}

/// The smallest frame budget: one largest frame.
const MIN_BUDGET_KIB: usize = MAX_FRAME.div_ceil(1024);
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// The first growth of a frame's buffer.
const FIRST_CAPACITY: usize = 64 * 1024;

/// A peer uid's share of the connection cap, given back on drop.
struct Slot<'a> {
    state: &'a State,
    uid: u32,
}

impl<'a> Slot<'a> {
    fn take(state: &'a State, uid: u32) -> Option<Slot<'a>> {
        let mut conns = state.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = conns.entry(uid).or_default();
        if e.connections >= state.options.max_connections_per_uid {
            return None;
        }
        e.connections += 1;
        Some(Slot { state, uid })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut conns = self.state.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = conns.get_mut(&self.uid) {
            e.connections = e.connections.saturating_sub(1);
            if e.connections == 0 && e.reserved_kib == 0 {
                conns.remove(&self.uid);
            }
        }
    }
}

/// Why a connection stops reading.
enum Stop {
    /// The peer hung up, or the socket failed: nothing to answer.
    Closed,
    /// Answer this, then close (the stream cannot be resynchronised).
    Refuse(String),
}

/// A reply as framed: the reply and the identity the daemon answers for.
#[derive(serde::Serialize)]
struct Framed<'a> {
    #[serde(flatten)]
    reply: &'a Reply,
    identity: &'a super::auto::Identity,
}

/// What a client names in its request besides the request itself.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    expect: Option<super::auto::Identity>,
}

/// Writes `msg` within the frame timeout; false when it could not.
async fn send(state: &State, stream: &mut UnixStream, msg: &Reply) -> bool {
    let bytes = encode(&Framed { reply: msg, identity: &state.identity });
    matches!(tokio::time::timeout(state.options.frame_timeout, stream.write_all(&bytes)).await, Ok(Ok(())))
}

async fn connection(state: Arc<State>, mut stream: UnixStream) {
    let uid = match stream.peer_cred() {
        Ok(c) => c.uid(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read peer credentials; closing");
            return;
        }
    };
    if !state.allowed.contains(&uid) {
        tracing::warn!(uid, "refused a client: uid not allowed");
        let msg = Reply::Error { message: format!("peer uid {uid} is not allowed by this hookhost daemon") };
        send(&state, &mut stream, &msg).await;
        return;
    }
    let Some(_slot) = Slot::take(&state, uid) else {
        let limit = state.options.max_connections_per_uid;
        tracing::warn!(uid, limit, "refused a client: too many connections from its uid");
        let msg = Reply::Error {
            message: format!("too many connections from uid {uid} (this hookhost daemon's limit is {limit})"),
        };
        send(&state, &mut stream, &msg).await;
        return;
    };
    let peer = Peer { uid, foreign: uid != state.me };
    let mut stop = state.stop.clone();
    loop {
        // Idle: a shutdown closes the connection; a request in progress is finished first.
        let mut first = [0u8; 1];
        tokio::select! {
            r = tokio::time::timeout(state.options.idle_timeout, stream.read(&mut first)) => match r {
                Ok(Ok(1)) => {}
                Ok(_) => return,
                Err(_) => {
                    tracing::debug!(uid, "closing an idle connection");
                    return;
                }
            },
            _ = stop.changed() => return,
        }
        let deadline = Instant::now() + state.options.frame_timeout;
        let (body, reservation) = match read_frame(&state, uid, &mut stream, first[0], deadline).await {
            Ok(frame) => frame,
            Err(Stop::Closed) => return,
            Err(Stop::Refuse(message)) => {
                tracing::warn!(uid, %message, "closing a connection");
                send(&state, &mut stream, &Reply::Error { message }).await;
                return;
            }
        };
        let expect = serde_json::from_slice::<Envelope>(&body).ok().and_then(|e| e.expect);
        let reply = match serde_json::from_slice::<Request>(&body) {
            Ok(_)
                if expect
                    .as_ref()
                    .is_some_and(|x| !super::auto::identity_matches(&state.identity, x, !peer.foreign)) =>
            {
                let x = expect.as_ref().map(|x| format!("{x:?}")).unwrap_or_default();
                tracing::warn!(uid, expected = %x, "refused a client expecting another daemon");
                Reply::Error {
                    message: format!(
                        "{}it answers for {:?}, the client expects {x} (another version, or other settings \
                         locations)",
                        hookhost_dispatch::UNSUITABLE,
                        state.identity
                    ),
                }
            }
            Ok(req) => {
                drop(body);
                handle(&state, req, peer).await
            }
            Err(e) => Reply::Error { message: format!("malformed request: {e}") },
        };
        let sent = send(&state, &mut stream, &reply).await;
        drop(reservation);
        if !sent {
            return;
        }
    }
}

/// Room reserved in the frame budget for one frame, given back on drop (to the budget and to
/// the uid's share).
struct Reservation<'a> {
    state: &'a State,
    uid: u32,
    kib: usize,
    _permit: OwnedSemaphorePermit,
}

impl<'a> Reservation<'a> {
    /// Reserves `kib` for a frame of `uid`, without waiting: `None` when the budget, or this
    /// uid's share of it, has no room now.
    fn take(state: &'a State, uid: u32, kib: usize) -> Option<Reservation<'a>> {
        let mut conns = state.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = conns.entry(uid).or_default();
        if entry.reserved_kib + kib > state.per_uid_kib {
            return None;
        }
        let permit = state.budget.clone().try_acquire_many_owned(u32::try_from(kib).ok()?).ok()?;
        entry.reserved_kib += kib;
        Some(Reservation { state, uid, kib, _permit: permit })
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut conns = self.state.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = conns.get_mut(&self.uid) {
            e.reserved_kib = e.reserved_kib.saturating_sub(self.kib);
        }
    }
}

/// Reads the rest of a frame whose first byte is `first`, by `deadline`. Room for the declared
/// length is reserved in the daemon's frame budget first, without waiting (a frame that finds
/// no room is refused: nothing ever holds part of the budget while waiting for more, so no
/// set of frames can lock it), but memory is only taken as bytes arrive. The reservation is
/// returned with the frame and released when it is answered.
async fn read_frame<'a>(
    state: &'a State,
    uid: u32,
    stream: &mut UnixStream,
    first: u8,
    deadline: Instant,
) -> Result<(Vec<u8>, Reservation<'a>), Stop> {
    let timeout = |what: &str| {
        Stop::Refuse(format!(
            "{what} not completed within {} s; closing the connection",
            state.options.frame_timeout.as_secs_f64()
        ))
    };
    let mut len = [first, 0, 0, 0];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut len[1..])).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Err(Stop::Closed),
        Err(_) => return Err(timeout("the frame header was")),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(Stop::Refuse(format!("frame of {n} bytes is over the limit of {MAX_FRAME}")));
    }
    let Some(reservation) = Reservation::take(state, uid, n.div_ceil(1024).max(1)) else {
        return Err(Stop::Refuse(format!(
            "this hookhost daemon cannot buffer a frame of {n} bytes now (frames in flight use its \
             budget of {} bytes, at most {} bytes per uid); try again",
            state.options.max_buffered_bytes,
            state.per_uid_kib * 1024
        )));
    };
    let mut body: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK.min(n)];
    while body.len() < n {
        let want = chunk.len().min(n - body.len());
        let got = match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..want])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Closed),
            Ok(Ok(got)) => got,
            Err(_) => return Err(timeout("the frame")),
        };
        let needed = body.len() + got;
        if needed > body.capacity() {
            // Grow geometrically, never past the declared (reserved) length.
            let capacity = needed.max(body.capacity() * 2).max(FIRST_CAPACITY).min(n);
            body.reserve_exact(capacity - body.len());
        }
        body.extend_from_slice(&chunk[..got]);
    }
    Ok((body, reservation))
}

/// Why a foreign peer's request is refused, if it asks for more than decisions: its own
/// `settings` file or project would run with the daemon's rights.
fn foreign_refusal(state: &State, peer: Peer, project_dir: Option<&Path>, settings: Option<&Path>) -> Option<String> {
    let what = match (settings, project_dir) {
        (Some(s), _) => format!("its settings file {}", s.display()),
        (None, Some(p)) => format!("its project directory {}", p.display()),
        (None, None) => return None,
    };
    tracing::warn!(uid = peer.uid, %what, "refused a foreign peer's settings");
    Some(format!(
        "peer uid {} is not this hookhost daemon's uid ({}): the daemon answers it with the managed \
         policy only and refuses {what} (another user's settings never run with the daemon's rights)",
        peer.uid, state.me
    ))
}

async fn handle(state: &State, req: Request, peer: Peer) -> Reply {
    match req {
        Request::Event { event, project_dir, settings, .. } => {
            if peer.foreign
                && let Some(message) = foreign_refusal(state, peer, project_dir.as_deref(), settings.as_deref())
            {
                return Reply::Error { message };
            }
            // An automatic daemon the managed policy turned off stops answering (and exits).
            if state.options.auto
                && let Ok(s) =
                    state.host.live_status(&Target { project_dir: None, settings: None, foreign: true }).await
                && s.revision.settings().daemon_mode == super::auto::DaemonMode::Off
            {
                tracing::info!("managed hookhost.daemon is \"off\": this automatic daemon stops");
                state.quit.notify_one();
                return Reply::Error {
                    message: format!(
                        "{}the managed policy sets hookhost.daemon to \"off\"; this automatic daemon is stopping",
                        hookhost_dispatch::UNSUITABLE
                    ),
                };
            }
            let target = Target { project_dir, settings, foreign: peer.foreign };
            match state.host.dispatch_live(&event, &target).await {
                Ok((r, revision)) => {
                    Reply::Outcome { exit_code: r.exit_code, stdout: r.stdout, stderr: r.stderr, revision }
                }
                Err(LiveError::Event(message) | LiveError::Refused(message)) => Reply::Error { message },
            }
        }
        Request::Status { project_dir, settings, .. } => {
            if peer.foreign
                && let Some(message) = foreign_refusal(state, peer, project_dir.as_deref(), settings.as_deref())
            {
                return Reply::Error { message };
            }
            let target = Target { project_dir, settings, foreign: peer.foreign };
            let (rev, projects) = match state.host.live_status(&target).await {
                Ok(s) => (s.revision, s.projects),
                Err(message) => return Reply::Error { message },
            };
            let s = rev.settings();
            Reply::Status {
                revision: s.revision.clone(),
                sources: s
                    .sources
                    .iter()
                    .map(|x| SourceInfo {
                        scope: x.scope.as_str().into(),
                        path: x.path.clone(),
                        sha256: x.sha256.clone(),
                    })
                    .collect(),
                errors: rev.errors.iter().map(|e| e.to_string()).collect(),
                age_seconds: rev.since.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0),
                projects,
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").into(),
                ship: state
                    .ship
                    .as_ref()
                    .map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
                    .unwrap_or_default(),
                wasm_prepared: state.host.wasm_prepared_instances(),
            }
        }
    }
}

/// The allowed-uid list from `--allow-uid` values (numbers or user names).
pub fn parse_uid(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(s) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("no such user: {s}")),
        Err(e) => Err(format!("cannot look up user {s}: {e}")),
    }
}
