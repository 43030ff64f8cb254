//! The thin client: one request, one reply, over a blocking Unix socket with a deadline.
//!
//! Promises: returns within the deadline (connect, write and read are each bounded by what is
//! left of it); sends nothing to a process that is neither this user's nor root's (the
//! listener's uid, read with `SO_PEERCRED` right after connecting: another user may have bound
//! the socket path first); every way the daemon can be unavailable (no socket, refused, peer
//! rejected, listener of another uid, killed mid-request, timed out, garbage reply) is a
//! `ClientError` naming the socket and the cause, so the caller can apply the failure policy.
//! No async runtime: a thin client's cost is one connect and two small syscalls.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{MAX_FRAME, Reply, Request, encode};

/// Why the daemon gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the hookhost daemon at {socket}: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the hookhost daemon at {socket} did not answer within {waited:?}")]
    Timeout { socket: PathBuf, waited: Duration },
    #[error("the hookhost daemon at {socket} went away: {message}")]
    Gone { socket: PathBuf, message: String },
    #[error("the hookhost daemon at {socket} refused the request: {message}")]
    Refused { socket: PathBuf, message: String },
    #[error(
        "the process listening at {socket} runs as uid {uid}, neither this user (uid {me}) nor root; \
         not sending it the event (another user may have bound the socket path)"
    )]
    ForeignListener { socket: PathBuf, uid: u32, me: u32 },
}

/// The daemon at the other end, as verified before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// The listener's uid: this user's or root.
    pub uid: u32,
    /// It runs as this user: it reads this user's settings (otherwise it answers with the
    /// managed policy only, and refuses `settings` and `project_dir`).
    pub same_user: bool,
}

/// Sends `req` to the daemon at `socket` and waits at most `deadline` for the reply. An
/// `Error` reply is returned as `ClientError::Refused`.
pub fn request(socket: &Path, req: &Request, deadline: Duration) -> Result<Reply, ClientError> {
    request_with(socket, deadline, |_| req.clone())
}

/// Connects to the daemon at `socket`, checks who listens there (this user or root, else
/// `ClientError::ForeignListener` and nothing is sent), sends the request `build` makes for
/// that daemon and waits at most `deadline` (from now) for the reply. An `Error` reply is
/// returned as `ClientError::Refused`.
pub fn request_with(
    socket: &Path,
    deadline: Duration,
    build: impl FnOnce(&Server) -> Request,
) -> Result<Reply, ClientError> {
    let start = Instant::now();
    let left = || deadline.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
    let timeout = || ClientError::Timeout { socket: socket.to_path_buf(), waited: start.elapsed() };
    let gone = |e: std::io::Error| {
        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
            timeout()
        } else {
            ClientError::Gone { socket: socket.to_path_buf(), message: e.to_string() }
        }
    };
    // A Unix-socket connect does not wait for the server to accept: it fails at once or
    // succeeds into the backlog.
    let mut s =
        UnixStream::connect(socket).map_err(|e| ClientError::Connect { socket: socket.to_path_buf(), source: e })?;
    let server = verify_listener(socket, &s)?;
    let req = build(&server);
    s.set_write_timeout(Some(left())).map_err(gone)?;
    let written = s.write_all(&encode(&req));
    // A daemon that refuses us (peer uid) answers and hangs up without reading: the write may
    // fail while its error frame is already waiting to be read.
    let write_error = match written {
        Ok(()) => None,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset) => Some(e),
        Err(e) => return Err(gone(e)),
    };
    let mut len = [0u8; 4];
    s.set_read_timeout(Some(left())).map_err(gone)?;
    if let Err(e) = hookhost_dispatch::read_exact(&mut s, &mut len, start, deadline) {
        return Err(gone(write_error.unwrap_or(e)));
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(ClientError::Gone {
            socket: socket.to_path_buf(),
            message: format!("reply frame of {n} bytes is over the limit"),
        });
    }
    let mut body = vec![0u8; n];
    hookhost_dispatch::read_exact(&mut s, &mut body, start, deadline).map_err(gone)?;
    let reply: Reply = serde_json::from_slice(&body)
        .map_err(|e| ClientError::Gone { socket: socket.to_path_buf(), message: format!("unreadable reply: {e}") })?;
    match reply {
        Reply::Error { message } => Err(ClientError::Refused { socket: socket.to_path_buf(), message }),
        r => Ok(r),
    }
}

/// The uid of the process that listens at the other end of `s` (`SO_PEERCRED`: its
/// credentials when it called `listen`): accepted if it is this process's uid or root.
fn verify_listener(socket: &Path, s: &UnixStream) -> Result<Server, ClientError> {
    let creds =
        nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials).map_err(|e| ClientError::Gone {
            socket: socket.to_path_buf(),
            message: format!("cannot read the listener's credentials: {e}"),
        })?;
    let (uid, me) = (creds.uid(), nix::unistd::getuid().as_raw());
    if uid != me && uid != 0 {
        return Err(ClientError::ForeignListener { socket: socket.to_path_buf(), uid, me });
    }
    Ok(Server { uid, same_user: uid == me })
}
