//! `hookhost serve`: a tokio server on a Unix socket that keeps settings live (watched and gated,
//! `crate::live`), WebAssembly components warm (one pooled runtime for every revision) and
//! command hooks' sandboxes prepared ahead (`crate::exec::sandbox::pool`).
//!
//! Promises: only peers whose uid is allowed (default: the daemon's own uid and root, checked
//! with `SO_PEERCRED`) get an answer; the socket is created with mode 0600 (or the configured
//! mode) with no window where it is wider; a bad frame is answered with an error frame and never
//! stops the daemon; SIGTERM/SIGINT stop accepting, let every in-flight event finish, remove
//! the socket file and return, leaving no pooled sandbox behind. One live revision per project
//! directory (at most `max_projects`), each with its own watcher.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::{MAX_FRAME, Reply, Request, SourceInfo, encode};
use crate::decision::Response;
use crate::event::HookEvent;
use crate::exec::wasm::{Allocator, WasmOptions, WasmRuntime};
use crate::live::{Live, LiveHandle, LiveOptions, Revision};
use crate::settings::Locations;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    /// Peer uids that may send requests (besides none: an empty list means the defaults).
    pub allowed_uids: Vec<u32>,
    /// Mode of the socket file (0600 by default; 0660 to share with a group).
    pub mode: u32,
    /// The most distinct projects served at once.
    pub max_projects: usize,
    /// The largest event accepted.
    pub max_event_bytes: usize,
    /// Projects (project dir, `--settings` file) whose live settings are loaded at start.
    pub preload: Vec<(Option<PathBuf>, Option<PathBuf>)>,
    /// Server-managed settings to poll (from endpoint-managed `remoteSettings`).
    pub remote: Option<Arc<crate::settings::remote::RemoteSource>>,
}

impl ServeOptions {
    pub fn new(socket: PathBuf) -> Self {
        ServeOptions {
            socket,
            allowed_uids: Vec::new(),
            mode: 0o600,
            max_projects: 64,
            max_event_bytes: 16 << 20,
            preload: Vec::new(),
            remote: None,
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
}

type Key = (Option<PathBuf>, Option<PathBuf>);

struct State {
    options: ServeOptions,
    allowed: Vec<u32>,
    wasm: Option<WasmRuntime>,
    /// One cell per project: the map's lock is held only to find or add the cell, so a
    /// project's first load (which may run ConfigChange hooks) never holds up the others.
    projects: std::sync::Mutex<HashMap<Key, Arc<tokio::sync::OnceCell<LiveHandle>>>>,
    stop: watch::Receiver<bool>,
    session_id: String,
    /// New server-managed payloads cached by the poller.
    server_changes: Option<watch::Receiver<Option<PathBuf>>>,
}

/// Binds the socket (see [`ServeOptions`]) without serving yet: a caller can report readiness
/// (for example to systemd or a test) once this returns.
pub fn bind(options: &ServeOptions) -> Result<UnixListener, ServeError> {
    let socket = &options.socket;
    let err = |source| ServeError::Socket { socket: socket.clone(), source };
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; refusing to replace it",
            )));
        }
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
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

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight events and removes
/// the socket file.
pub async fn serve(listener: UnixListener, options: ServeOptions, shutdown: impl std::future::Future<Output = ()>) {
    // Command hooks' sandboxes are prepared ahead and torn down after, off the decision path
    // (exec::sandbox::pool); what every run shares is built now, not at the first event.
    let sandbox_pool = crate::exec::sandbox::pool::enable();
    crate::exec::sandbox::warm_up();
    let wasm = match WasmRuntime::new(WasmOptions { allocator: Allocator::Pooling, ..WasmOptions::from_env() }) {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::warn!(error = %e, "pooled WebAssembly runtime unavailable; using the default one");
            None
        }
    };
    let me = nix::unistd::getuid().as_raw();
    let mut allowed = if options.allowed_uids.is_empty() { vec![me, 0] } else { options.allowed_uids.clone() };
    allowed.sort_unstable();
    allowed.dedup();
    let (stop_tx, stop_rx) = watch::channel(false);
    let socket = options.socket.clone();
    let (server_changes, poller) = match options.remote.clone() {
        Some(source) => {
            let (tx, rx) = watch::channel(None);
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            let thread = std::thread::Builder::new().name("hookhost-remote-poll".into()).spawn(move || {
                source.poll(&s2, |r| match r {
                    Ok(crate::settings::remote::Refresh::Changed { payload_path, new, .. }) => {
                        tracing::info!(revision = %new, "server-managed settings changed");
                        let _ = tx.send(Some(payload_path));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "server-managed settings: refresh failed; keeping the cache"),
                })
            });
            (Some(rx), thread.ok().map(|t| (stop, t)))
        }
        None => (None, None),
    };
    let state = Arc::new(State {
        options,
        allowed,
        wasm,
        projects: std::sync::Mutex::new(HashMap::new()),
        stop: stop_rx,
        session_id: format!("hookhost-serve-{}", std::process::id()),
        server_changes,
    });
    for (project_dir, settings) in state.options.preload.clone() {
        if let Err(e) = live_for(&state, project_dir, settings, None).await {
            tracing::warn!(error = %e, "cannot preload a project");
        }
    }
    tracing::info!(socket = %socket.display(), uids = ?state.allowed, "hookhost daemon listening");
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let st = state.clone();
                    conns.spawn(async move { connection(st, stream).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    tracing::info!(in_flight = conns.len(), "shutting down: no new connections; finishing in-flight events");
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    if let Some((stop, thread)) = poller {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    // Pooled sandboxes and deferred teardowns: no cgroup leaf or temporary directory outlives us.
    let _ = tokio::task::spawn_blocking(move || drop(sandbox_pool)).await;
    tracing::info!("hookhost daemon stopped");
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
        let _ = stream.write_all(&encode(&msg)).await;
        return;
    }
    let mut stop = state.stop.clone();
    loop {
        // Idle: a shutdown closes the connection; a request in progress is finished first.
        let mut len = [0u8; 4];
        tokio::select! {
            r = stream.read_exact(&mut len) => if r.is_err() { return },
            _ = stop.changed() => return,
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_FRAME {
            let msg = Reply::Error { message: format!("frame of {n} bytes is over the limit of {MAX_FRAME}") };
            let _ = stream.write_all(&encode(&msg)).await;
            return; // The stream cannot be resynchronised.
        }
        let mut body = vec![0u8; n];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = match serde_json::from_slice::<Request>(&body) {
            Ok(req) => handle(&state, req).await,
            Err(e) => Reply::Error { message: format!("malformed request: {e}") },
        };
        if stream.write_all(&encode(&reply)).await.is_err() {
            return;
        }
    }
}

async fn live_for(
    state: &State,
    project_dir: Option<PathBuf>,
    settings: Option<PathBuf>,
    cwd: Option<&str>,
) -> Result<LiveHandle, String> {
    let loc = Locations::from_env(settings.clone(), project_dir, cwd);
    let key = (loc.project_dir.clone(), loc.cli_file.clone());
    let cell = {
        let mut projects = state.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = projects.get(&key) {
            c.clone()
        } else {
            if projects.len() >= state.options.max_projects {
                return Err(format!(
                    "this daemon already serves {} projects (its limit); run another daemon or dispatch in-process",
                    projects.len()
                ));
            }
            let c = Arc::new(tokio::sync::OnceCell::new());
            projects.insert(key, c.clone());
            c
        }
    };
    let handle = cell
        .get_or_init(|| async {
            let options = LiveOptions {
                wasm: state.wasm.clone(),
                session_id: Some(state.session_id.clone()),
                no_persist: false,
                server_changes: state.server_changes.clone(),
            };
            let (live, reports) = Live::open(loc, options).await;
            for r in &reports {
                tracing::info!(file = %r.path.display(), result = r.result.label(), "settings changed while no daemon watched");
            }
            let handle = live.handle();
            live.spawn_watch(state.stop.clone());
            handle
        })
        .await;
    Ok(handle.clone())
}

async fn handle(state: &State, req: Request) -> Reply {
    match req {
        Request::Event { event, project_dir, settings, .. } => {
            let event = match HookEvent::parse_with_limit(event.as_bytes(), state.options.max_event_bytes) {
                Ok(e) => e,
                Err(e) => return Reply::Error { message: format!("invalid event: {e}") },
            };
            let live = match live_for(state, project_dir, settings, event.cwd()).await {
                Ok(l) => l,
                Err(message) => return Reply::Error { message },
            };
            let rev = live.current();
            let r = respond(&rev, &event).await;
            Reply::Outcome {
                exit_code: r.exit_code,
                stdout: r.stdout,
                stderr: r.stderr,
                revision: rev.settings().revision.clone(),
            }
        }
        Request::Status { project_dir, settings, .. } => {
            let live = match live_for(state, project_dir, settings, None).await {
                Ok(l) => l,
                Err(message) => return Reply::Error { message },
            };
            let rev = live.current();
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
                projects: state.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len(),
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").into(),
            }
        }
    }
}

/// Dispatches `event` on a live revision, with the same host-failure rules as one-shot
/// `dispatch`: an unusable managed file with no good version in force fails closed; a skipped
/// file fails closed where the event is in `failClosed`, else it is reported.
pub async fn respond(rev: &Revision, event: &HookEvent) -> Response {
    let (errors, mut notes) = crate::live::split_errors(rev.settings(), &rev.errors);
    match crate::live::admit(rev.settings(), &errors, false, event.name()) {
        Ok(skipped) => notes.extend(skipped),
        Err(msg) => return Response { stdout: String::new(), stderr: format!("hookhost: {msg}\n"), exit_code: 2 },
    }
    let mut outcome = rev.bus.dispatch(event, &rev.ctx).await;
    outcome.verdict.system_messages.extend(notes);
    outcome.render(event)
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
