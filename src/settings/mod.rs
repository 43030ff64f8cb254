//! hookhost's own settings, in Claude Code's schema: scopes and file locations (`scope`), one
//! file's parsing and validation (`file`, `locate`), and the layered merge into one revision
//! (`resolve`), and server-managed settings (`remote`: fetch, verify, cache). Settings never call the bus: they hand resolved revisions up.

pub mod envelope;
pub mod file;
pub mod locate;
pub mod pins;
pub mod remote;
pub mod remote_config;
pub mod resolve;
pub mod scope;
#[cfg(test)]
mod typed_tests;
pub mod watch;

pub use file::{Diagnostic, SettingsFile};
pub use resolve::{Loaded, ManagedSandboxPolicy, RemoteStatus, Settings, Source, assemble, load, load_with, resolve};
pub use scope::{Locations, Scope};
