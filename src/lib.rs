//! hookhost runs the hooks an organisation attaches to a coding agent's events and turns their
//! answers into one decision the agent must obey.
//!
//! ```text
//!  agent (Claude Code, or any embedder)
//!    │  event JSON (PreToolUse / PostToolUse / ConfigChange / …, Claude Code's wire form)
//!    ▼
//!  front ends: `hookhost dispatch` (one process per event) · `hookhost serve` (warm daemon on a
//!              Unix socket, `dispatch` as its thin client) · `EventBus` (library API)
//!    ▼
//!  EventBus ── Settings (layered: managed > command line > local > project > user; in the
//!    │          daemon live: watched, ConfigChange-gated, last known good per file)
//!    │  1. matchers and `if` rules pick the hooks for this event (compiled at load)
//!    │  2. run them concurrently, each with a deadline (exec: command processes)
//!    │  3. fold: deny > defer > ask > allow; any block blocks; failures per failure policy
//!    ▼
//!  Outcome → Claude Code JSON on stdout + exit code (0 allow / 2 block), or the API value
//! ```
//!
//! The one invariant: a change a hook rejects never happens. A denied tool call is answered
//! `deny`; a blocked event exits 2; where the settings say fail closed, a broken, slow or missing
//! hook counts as a rejection.
//!
//! Module map: [`event`] (input), [`decision`] (answers, fold, output), [`matcher`],
//! [`permissions`] (rules), [`settings`] (files, layering, server-managed settings), [`hook`] (resolved hooks),
//! [`exec`] (running one hook: command processes, WebAssembly components), [`floor`] (the
//! machine's managed sandbox floor, imposed by the tools that run hooks), [`trust`] (pins and
//! project trust), [`bus`] (the pipeline), [`live`] (live settings: the ConfigChange gate and
//! the last known good record of each file), [`daemon`] (`serve` and its thin client), [`rollback`]
//! (undoing rejected edits and blocked settings changes), [`audit`] (the tamper-evident log),
//! [`hooktest`] (`hookhost test`), [`cli`], [`remote_cli`] (server-managed settings commands),
//! [`readfile`] (the one bounded, non-blocking, deadline-guarded read of a regular file),
//! [`error`] (host errors and the one map to exit codes), [`fault`] (a panic answered like a
//! host error).

pub mod agents;
pub mod audit;
pub mod bus;
pub mod cli;
pub mod daemon;
pub mod decision;
pub mod doctor;
pub mod error;
pub mod event;
pub mod exec;
pub mod fault;
pub mod floor;
pub mod hook;
pub mod hooktest;
pub mod install;
pub mod live;
pub mod matcher;
pub mod permissions;
pub mod readfile;
pub mod remote_cli;
pub mod replay;
pub mod rollback;
pub mod scaffold;
pub mod settings;
pub mod trust;

pub use bus::{DispatchContext, EventBus, Outcome};
pub use decision::{Decision, FailureKind, HookFailure, HookResult, Permission, Response, Verdict};
pub use error::{Error, SettingsError};
pub use event::{EventKind, HookEvent};
pub use hook::Hook;
pub use settings::{Locations, Scope, Settings};
