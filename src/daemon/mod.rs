//! The warm daemon (`hookhost serve`) and its thin client (`hookhost dispatch` with
//! `HOOKHOST_SOCKET`): one event per request over a Unix socket.
//!
//! Wire format: frames of a 4-byte big-endian length and that many bytes of JSON, at most
//! [`MAX_FRAME`]. A request is `{"v":1,"type":"event","event":"<the event JSON, verbatim>",
//! "project_dir":…,"settings":…}` or `{"v":1,"type":"status",…}`; a reply is
//! `{"type":"outcome","exit_code":…,"stdout":…,"stderr":…,"revision":…}`,
//! `{"type":"status",…}` or `{"type":"error","message":…}`. The event travels as a string so the
//! hooks receive exactly the bytes the agent sent.
//!
//! Owns: the frame codec and message types (here), the server (`server`: socket and its
//! directory, peer-credential check, managed-only answers for other uids, per-connection limits,
//! one live settings revision per project with a watcher, graceful shutdown) and the client
//! (`client`: blocking, no runtime, deadline-bounded, checks the listener's uid). Promises: a
//! malformed or oversized frame gets an error frame and never takes the daemon down; nothing a
//! peer of another uid can write runs with the daemon's rights; the client never waits past its
//! deadline and never sends an event to a listener that is neither its user nor root.

pub mod activation;
pub mod auto;
pub mod client;
pub mod guard;
pub mod server;

use serde::{Deserialize, Serialize};

/// The largest frame either side accepts (the largest event plus envelope).
pub const MAX_FRAME: usize = 16 * 1024 * 1024 + 64 * 1024;
/// Protocol version in every request.
pub const PROTOCOL: u32 = 1;

/// A request from a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Dispatch one event.
    Event {
        #[serde(default)]
        v: u32,
        /// The event JSON exactly as the agent sent it.
        event: String,
        /// `--project-dir` or `CLAUDE_PROJECT_DIR` of the client (else the event's `cwd`);
        /// refused from a peer whose uid is not the daemon's.
        #[serde(default)]
        project_dir: Option<std::path::PathBuf>,
        /// `--settings FILE` of the client (absolute); refused from a peer whose uid is not the
        /// daemon's.
        #[serde(default)]
        settings: Option<std::path::PathBuf>,
    },
    /// The live settings revision for a project.
    Status {
        #[serde(default)]
        v: u32,
        #[serde(default)]
        project_dir: Option<std::path::PathBuf>,
        #[serde(default)]
        settings: Option<std::path::PathBuf>,
    },
}

/// One settings file of the live revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub scope: String,
    pub path: std::path::PathBuf,
    pub sha256: String,
}

/// A reply from the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The folded outcome, rendered for Claude Code.
    Outcome { exit_code: u8, stdout: String, stderr: String, revision: String },
    /// The live revision of a project.
    Status {
        revision: String,
        sources: Vec<SourceInfo>,
        /// Settings files whose content on disk is not in force (invalid), with the error.
        errors: Vec<String>,
        /// Seconds since the revision became live.
        age_seconds: f64,
        /// How many projects the daemon serves.
        projects: usize,
        pid: u32,
        version: String,
        /// Observability (issue 24): the audit shipper's sinks (lag, errors).
        #[serde(default)]
        ship: Vec<crate::audit::ship::SinkStatus>,
        /// WebAssembly instances made ahead of events (none until a WebAssembly hook ran).
        #[serde(default)]
        wasm_prepared: Option<crate::exec::wasm::PreparedCounts>,
    },
    /// The request could not be served.
    Error { message: String },
}

/// Encodes one frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap_or_else(|e| {
        serde_json::to_vec(&Reply::Error { message: format!("cannot encode: {e}") }).unwrap_or_default()
    });
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The default socket path: `$XDG_RUNTIME_DIR/hookhost.sock`, else `/run/hookhost.sock`.
pub fn default_socket() -> std::path::PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => std::path::PathBuf::from(d).join("hookhost.sock"),
        None => std::path::PathBuf::from("/run/hookhost.sock"),
    }
}
