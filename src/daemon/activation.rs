//! systemd socket activation for `hookhost serve`: the listening socket inherited as fd 3
//! (`LISTEN_FDS=1`, `LISTEN_PID` = this process, as `hookhost.socket` passes it), read with the
//! `listenfd` crate (which checks the pid and the socket's type, and clears the variables).
//!
//! Promises: with no (or another process's) `LISTEN_*` variables, nothing happens and `serve`
//! binds its own socket; with them, exactly one Unix stream socket is accepted (anything else
//! is an error, never a silent fallback to another socket); its path must pass the same
//! directory check as a socket `serve` binds itself ([`super::server::check_directory`]:
//! a directory only this uid or root can write); and the socket file is systemd's: `serve`
//! does not remove it when it stops, so the next connection starts the daemon again. The
//! socket's mode and group are systemd's (`SocketMode=`, `SocketGroup=`); the peer uid check
//! (`--allow-uid`) applies as always.

use std::path::PathBuf;

/// The socket systemd passed, and its path; `Ok(None)` when not socket-activated.
pub fn inherited() -> Result<Option<(std::os::unix::net::UnixListener, PathBuf)>, String> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    if fds.len() != 1 {
        return Err(format!("systemd passed {} sockets (LISTEN_FDS); hookhost serve takes exactly one", fds.len()));
    }
    let listener = fds
        .take_unix_listener(0)
        .map_err(|e| format!("the socket systemd passed (fd 3) is not a Unix stream socket: {e}"))?
        .ok_or_else(|| "the socket systemd passed (fd 3) was already taken".to_string())?;
    let addr = listener.local_addr().map_err(|e| format!("the socket systemd passed has no address: {e}"))?;
    let path = addr
        .as_pathname()
        .map(PathBuf::from)
        .ok_or_else(|| "the socket systemd passed is not bound to a path (ListenStream= must be a path)".to_string())?;
    super::server::check_directory(&path, nix::unistd::getuid().as_raw()).map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some((listener, path)))
}
