//! Approvals of server revisions (`remoteSettings.requireApproval`): one record per revision in
//! `<state_dir>/approvals/<revision>.json`, written by `hookhost approve` / `hookhost reject`.
//!
//! A record can only hold back hooks or let approved ones run; every front end reads it again
//! at each event (one-shot dispatch reassembles its settings, the daemon checks
//! `ServerState::stale`), so a decision applies from the next event on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cache::{SYSTEM_STATE_DIR, atomic_write};

/// An approval decision for one server revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub revision: String,
    /// `"approved"` or `"rejected"`.
    pub decision: String,
    pub time: String,
    pub user: Option<String>,
    pub url: String,
}

fn approvals_dir(state_dir: Option<&Path>) -> PathBuf {
    state_dir.map_or_else(|| PathBuf::from(SYSTEM_STATE_DIR), Path::to_path_buf).join("approvals")
}

/// The decision recorded for `revision`, if any.
pub fn approval(state_dir: Option<&Path>, revision: &str) -> Option<ApprovalRecord> {
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let p = approvals_dir(state_dir).join(format!("{revision}.json"));
    // Never waited on: the approvals of a user's one-shot `dispatch` sit where the agent can write.
    crate::readfile::read(&p, &crate::readfile::ReadOptions::new(crate::readfile::Links::NoFollow, 64 * 1024))
        .ok()
        .and_then(|b| serde_json::from_slice::<ApprovalRecord>(&b).ok())
        .filter(|r| r.revision == revision)
}

/// Records `decision` for `revision`.
pub fn record_approval(state_dir: Option<&Path>, rec: &ApprovalRecord) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = approvals_dir(state_dir);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let p = dir.join(format!("{}.json", rec.revision));
    atomic_write(&dir, &p, &serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?)?;
    Ok(p)
}
