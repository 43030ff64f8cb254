//! hookhost runs the hooks an organisation attaches to a coding agent's events and turns their
//! answers into one decision the agent must obey.
//!
//! ```text
//!  agent (Claude Code, or any embedder)
//!    │  event JSON (PreToolUse / PostToolUse / ConfigChange / …, Claude Code's wire form)
//!    ▼
//!  front ends: `hookhost dispatch` (one process per event) · `hookhost serve` (warm daemon on a
//!              Unix socket, `dispatch` as its thin client) · an embedder's `Host`
//!    ▼
//!  Host ── settings: layered (managed > command line > local > project > user, or a server),
//!    │      every change below managed scope ConfigChange-gated, last known good per file;
//!    │      admission (unusable files, unapproved server hooks, failClosed); audit; rollback
//!    ▼
//!  EventBus (one settings revision)
//!    │  1. matchers and `if` rules pick the hooks for this event (compiled at load)
//!    │  2. run them concurrently, each with a deadline (sandboxed processes, wasm components)
//!    │  3. fold: deny > defer > ask > allow; any block blocks; failures per failure policy
//!    ▼
//!  Response: Claude Code JSON on stdout + stderr + exit code (0 allow / 2 block)
//! ```
//!
//! The one invariant: a change a hook rejects never happens. A denied tool call is answered
//! `deny`; a blocked event exits 2; where the settings say fail closed, a broken, slow or missing
//! hook counts as a rejection, and a fault of hookhost itself never fails open.
//!
//! # Embedding hookhost
//!
//! The public API is [`Host`] (built with [`Host::builder`], see there for what is denied and
//! what always applies by default), its [`HostBuilder`], [`RemoteMode`] and [`WasmAllocator`],
//! the [`Response`] it answers with, and [`Error`] / [`SettingsError`]. An embedder hands the
//! host each event in Claude Code's hook JSON and obeys the response exactly as Claude Code obeys
//! `hookhost dispatch`: exit code 2 blocks (the reason is on stderr), stdout carries the JSON
//! answer (`permissionDecision` for tool calls), anything else proceeds.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let machine = tempfile::tempdir()?;
//! let (managed, project) = (machine.path().join("managed"), machine.path().join("project"));
//! std::fs::create_dir_all(&managed)?;
//! std::fs::create_dir_all(&project)?;
//! // The admin's policy: no reading .env files, wherever the agent is.
//! std::fs::write(managed.join("managed-settings.json"), r#"{"permissions": {"deny": ["Read(**/.env)"]}}"#)?;
//!
//! let host = hookhost::Host::builder()
//!     .managed_dir(&managed)
//!     .project_dir(&project)
//!     .user_settings(None)
//!     .state_dir(Some(machine.path().join("state")))
//!     .build()?;
//! let event = serde_json::json!({
//!     "session_id": "s1", "cwd": project, "hook_event_name": "PreToolUse",
//!     "tool_name": "Read", "tool_input": {"file_path": project.join(".env")},
//! });
//! let response = host.dispatch_blocking(event.to_string().as_bytes());
//! let answer: serde_json::Value = serde_json::from_str(&response.stdout)?;
//! assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
//! # Ok(()) }
//! ```
//!
//! `examples/embed.rs` is a runnable toy agent loop (`cargo run --example embed`).
//!
//! Everything else below is public for hookhost's own binary, tests, benchmarks and fuzz
//! harness only (hidden from the documentation, no stability promise): module map
//! [`host`] (the façade: gate, remote, live projects), `event` (input; `event::facts` is the event
//! vocabulary), `decision` (answers,
//! fold, output), `matcher`, `permissions` (rules), `settings` (files, layering,
//! server-managed settings), `hook` (resolved hooks), `exec` (running one hook: command
//! processes, WebAssembly components), `floor` (the machine's managed sandbox floor), `trust`
//! (pins and project trust; `settings::pins` writes pins back), `bus` (one revision's pipeline), `live` (the ConfigChange gate and
//! the last known good record of each file), `daemon` (`serve`'s socket and its thin client),
//! `rollback`, `audit` (the tamper-evident log, its options, and `audit::ship`: the log shipped to
//! syslog and OpenTelemetry), `hooktest` (`hookhost test`), `cli` (arguments and
//! rendering, one file per command group; `cli::agents` is the agent adapters' edge of `dispatch`), `lint` (`hookhost check`'s analysis), `readfile` (the one bounded read of a regular file),
//! `atomic_file` (the one atomic replacement of a file), `file_lock` (the one file lock, std's
//! flock), `digest` (the one sha256 hex), `clock`
//! (RFC 3339 times), `offload` (blocking file I/O off the async workers),
//! `metrics` (the daemon's
//! Prometheus metrics), `init`, `install`, `notice`, `pipe`,
//! `demo_bundle`,
//! `error` (host errors and the one map to exit codes), `fault` (a panic answered like a host
//! error).

#[doc(hidden)]
pub mod agents;
#[doc(hidden)]
pub mod atomic_file;
#[doc(hidden)]
pub mod audit;
#[doc(hidden)]
pub mod bus;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod clock;
#[doc(hidden)]
pub mod completions;
#[doc(hidden)]
pub mod daemon;
#[doc(hidden)]
pub mod decision;
#[doc(hidden)]
pub mod demo_bundle;
#[doc(hidden)]
pub mod digest;
#[doc(hidden)]
pub mod doctor;
#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod event;
#[doc(hidden)]
pub mod exec;
#[doc(hidden)]
pub mod fault;
#[doc(hidden)]
pub mod file_lock;
#[doc(hidden)]
pub mod floor;
#[doc(hidden)]
pub mod hook;
#[doc(hidden)]
pub mod hooktest;
pub mod host;
#[doc(hidden)]
pub mod init;
#[doc(hidden)]
pub mod install;
#[doc(hidden)]
pub mod lint;
#[doc(hidden)]
pub mod live;
#[doc(hidden)]
pub mod matcher;
#[doc(hidden)]
pub mod metrics;
#[doc(hidden)]
pub mod notice;
#[doc(hidden)]
pub mod offload;
#[doc(hidden)]
pub mod permissions;
#[doc(hidden)]
pub mod pipe;
#[doc(hidden)]
pub mod readfile;
#[doc(hidden)]
pub mod replay;
#[doc(hidden)]
pub mod rollback;
#[doc(hidden)]
pub mod sandbox_settings;
#[doc(hidden)]
pub mod scaffold;
#[doc(hidden)]
pub mod settings;
#[doc(hidden)]
pub mod trust;
#[doc(hidden)]
pub mod vocab;

// The embedder's API.
pub use decision::Response;
pub use error::{Error, SettingsError};
pub use host::{Host, HostBuilder, RemoteMode, WasmAllocator};

// For hookhost's own tests and benchmarks (hidden; not part of the API).
#[doc(hidden)]
pub use bus::{DispatchContext, EventBus, Outcome};
#[doc(hidden)]
pub use decision::{Decision, FailureKind, HookFailure, HookResult, Permission, Verdict};
#[doc(hidden)]
pub use event::{EventKind, HookEvent};
#[doc(hidden)]
pub use hook::Hook;
#[doc(hidden)]
pub use settings::{Locations, Scope, Settings};
