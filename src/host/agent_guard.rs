//! What the daemon's agent config guard (`crate::daemon::guard`) needs of a host besides
//! dispatching its ConfigChange events ([`Host::dispatch_for`], like any event): the state
//! directory its last accepted snapshots live in, the audit log of a target's live revision
//! (where its records go, next to the event's own), and the projects met after start.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Host, Target};
use crate::audit::AuditLog;

impl Host {
    /// hookhost's state directory for this host (`None`: it keeps none).
    pub(crate) fn guard_state_dir(&self) -> Option<PathBuf> {
        self.inner.locations(None, None, None).state_dir
    }

    /// The directories of the projects this host meets for the first time from now on (`None`:
    /// it keeps no live revisions).
    pub(crate) fn guard_new_projects(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<PathBuf>> {
        self.inner.projects.as_ref().map(|p| p.watch_new_projects())
    }

    /// The audit log of `target`'s live revision (`None`: none configured, or not live).
    pub(crate) async fn guard_audit_log(&self, target: &Target) -> Option<Arc<AuditLog>> {
        let handle = self.live_handle(target, None).await.ok()?;
        handle.current().bus.audit_log()
    }
}
