//! Last-accepted settings snapshots, and writing a blocked settings change back.
//!
//! For every settings file hookhost watches (Claude Code's, seen through ConfigChange
//! `file_path`, and hookhost's own, through the daemon's watcher) this keeps the content that
//! was last accepted: [`SettingsSnapshots::accept`] after a SessionStart or an accepted change,
//! [`SettingsSnapshots::revert`] when a change was blocked, so a restart cannot load it.
//!
//! Layout: `<state_dir>/rollback/settings/<sha256(path)>.json` (mode 0600, dir 0700), one JSON
//! object per file: the path, whether it existed, its mode, its sha256 and its content (UTF-8
//! text, or base16 when it is not UTF-8). Writes are atomic.
//!
//! A revert never writes through a swapped path (`super::dirfd`): the accepted record keeps the
//! file's real path and its directory's device and inode; a revert opens that directory with no
//! symbolic link on its path, refuses ([`RollbackError::Refused`], audited as `refused`) when it
//! is not the same directory or the file has become a link, and swaps the content in atomically.
//!
//! Does not: decide whether a change is blocked, or know which files are managed (callers never
//! pass `policy_settings` / managed files: those are applied, never reverted).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dirfd::{Dir, DirError, FileId};
use super::{DEFAULT_MAX_FILE_BYTES, RollbackError, private_dir, sha256_hex, write_atomic};
use crate::readfile::Links;

/// Claude Code's settings files for a project: `~/.claude/settings.json`,
/// `<project>/.claude/settings.json`, `<project>/.claude/settings.local.json` (managed settings
/// are never reverted, so not listed).
pub fn claude_code_files(project_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        v.push(PathBuf::from(home).join(".claude").join("settings.json"));
    }
    if let Some(p) = project_dir {
        v.push(p.join(".claude").join("settings.json"));
        v.push(p.join(".claude").join("settings.local.json"));
    }
    v
}

/// The last accepted state of one settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub path: PathBuf,
    pub existed: bool,
    pub mode: Option<u32>,
    pub sha256: Option<String>,
    /// The content as UTF-8 text (`None` when it is stored in `content_hex`).
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hex: Option<String>,
    pub accepted_at: String,
    /// `path` with symbolic links resolved when it was accepted: what a revert writes.
    #[serde(default)]
    pub real_path: Option<PathBuf>,
    /// The device and inode of `real_path`'s directory when it was accepted.
    #[serde(default)]
    pub dir_id: Option<FileId>,
}

impl Accepted {
    pub fn bytes(&self) -> Vec<u8> {
        if let Some(t) = &self.content {
            return t.clone().into_bytes();
        }
        let hex = self.content_hex.as_deref().unwrap_or("");
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
    }
}

/// What [`SettingsSnapshots::revert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertAction {
    /// The last accepted content (and mode) was written back.
    Restored,
    /// The file did not exist when last accepted: it was removed.
    Removed,
    /// The file already has its last accepted content.
    Unchanged,
    /// Nothing was ever accepted for this file: it was left as it is.
    NoSnapshot,
}

impl RevertAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RevertAction::Restored => "reverted",
            RevertAction::Removed => "reverted_removed",
            RevertAction::Unchanged => "unchanged",
            RevertAction::NoSnapshot => "no_snapshot",
        }
    }
}

/// The outcome of one revert, for reports and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertReport {
    pub path: PathBuf,
    pub action: RevertAction,
    /// sha256 of the file before the revert (`None`: it did not exist).
    pub before_sha256: Option<String>,
    /// sha256 of the file after the revert (`None`: it does not exist).
    pub after_sha256: Option<String>,
}

/// The last-accepted snapshots of one state directory.
#[derive(Debug, Clone)]
pub struct SettingsSnapshots {
    dir: PathBuf,
}

impl SettingsSnapshots {
    /// The store under `state_dir/rollback/settings` (created on the first `accept`).
    pub fn new(state_dir: &Path) -> Self {
        SettingsSnapshots { dir: state_dir.join("rollback").join("settings") }
    }

    /// Like [`SettingsSnapshots::new`], creating the directory (mode 0700) now.
    pub fn open(state_dir: &Path) -> Result<Self, RollbackError> {
        let s = Self::new(state_dir);
        private_dir(&s.dir)?;
        Ok(s)
    }

    fn file(&self, path: &Path) -> PathBuf {
        self.dir.join(format!("{}.json", &sha256_hex(path.as_os_str().as_encoded_bytes())[..32]))
    }

    /// Records `bytes` as the last accepted content of `path` (its current mode is kept with it).
    pub fn accept(&self, path: &Path, bytes: &[u8]) -> Result<(), RollbackError> {
        let mode = std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777);
        self.store(path, Some(bytes), mode)
    }

    /// Records that `path` did not exist when last accepted (a revert removes it).
    pub fn accept_absent(&self, path: &Path) -> Result<(), RollbackError> {
        self.store(path, None, None)
    }

    /// Records the current state of `path` on disk as accepted.
    /// The file is read as a bounded regular file (`crate::readfile`): a FIFO or a device is
    /// refused, never waited on.
    pub fn accept_current(&self, path: &Path) -> Result<(), RollbackError> {
        match read_regular(path, Links::Follow, DEFAULT_MAX_FILE_BYTES)? {
            Some(bytes) => self.accept(path, &bytes),
            None => self.accept_absent(path),
        }
    }

    fn store(&self, path: &Path, bytes: Option<&[u8]>, mode: Option<u32>) -> Result<(), RollbackError> {
        let (real_path, dir_id) = locate(path);
        let (content, content_hex) = match bytes.map(std::str::from_utf8) {
            None => (None, None),
            Some(Ok(t)) => (Some(t.to_string()), None),
            Some(Err(_)) => {
                let b = bytes.unwrap_or_default();
                (None, Some(crate::digest::hex(b)))
            }
        };
        let rec = Accepted {
            path: path.to_path_buf(),
            existed: bytes.is_some(),
            mode,
            sha256: bytes.map(sha256_hex),
            content,
            content_hex,
            accepted_at: crate::clock::now_rfc3339(),
            real_path,
            dir_id,
        };
        private_dir(&self.dir)?;
        let file = self.file(path);
        let json =
            serde_json::to_vec(&rec).map_err(|e| RollbackError::Corrupt { path: file.clone(), why: e.to_string() })?;
        write_atomic(&file, &json, 0o600, None)
    }

    /// The last accepted state of `path`, if any.
    pub fn last_accepted(&self, path: &Path) -> Result<Option<Accepted>, RollbackError> {
        let file = self.file(path);
        // The snapshot (hex-encoded content, at most twice the cap, plus its JSON): never a link.
        let Some(bytes) = read_regular(&file, Links::NoFollow, 4 * DEFAULT_MAX_FILE_BYTES + 65536)? else {
            return Ok(None);
        };
        let rec: Accepted = serde_json::from_slice(&bytes)
            .map_err(|e| RollbackError::Corrupt { path: file.clone(), why: e.to_string() })?;
        if rec.path != path {
            return Err(RollbackError::Corrupt { path: file, why: format!("it is of {}", rec.path.display()) });
        }
        if rec.existed && rec.sha256.as_deref() != Some(sha256_hex(&rec.bytes()).as_str()) {
            return Err(RollbackError::Corrupt { path: file, why: "content does not match its sha256".into() });
        }
        Ok(Some(rec))
    }

    /// Writes the last accepted content of `path` back (atomically, with its mode), or removes
    /// the file if it did not exist then. The snapshot itself is kept: it is still the last
    /// accepted state. Refused when the path no longer leads to the directory it was accepted in.
    pub fn revert(&self, path: &Path) -> Result<RevertReport, RollbackError> {
        let rec = self.last_accepted(path)?;
        let target = rec.as_ref().and_then(|r| r.real_path.clone()).unwrap_or_else(|| path.to_path_buf());
        let refused = |why: String| RollbackError::Refused { path: target.clone(), why };
        let (dir_path, name) = super::dirfd::split(&target)
            .ok_or_else(|| RollbackError::Unsupported { path: target.clone(), why: "not an absolute path".into() })?;
        let dir = match Dir::open(dir_path) {
            Ok(d) => d,
            Err(DirError::Symlink) => {
                return Err(refused(format!("a directory on the path {} is a symbolic link now", dir_path.display())));
            }
            Err(DirError::Io(e)) => return Err(RollbackError::io(dir_path, e)),
            Err(e) => return Err(refused(e.to_string())),
        };
        if let Some(want) = rec.as_ref().and_then(|r| r.dir_id) {
            let now = dir.id().map_err(|e| refused(e.to_string()))?;
            if now != want {
                return Err(refused(format!(
                    "{} is not the directory it was when accepted ({want} then, {now} now)",
                    dir_path.display()
                )));
            }
        }
        let before = match dir.read(name, DEFAULT_MAX_FILE_BYTES) {
            Ok(b) => b,
            Err(DirError::Symlink) => return Err(refused("the file was replaced by a symbolic link".into())),
            Err(DirError::Io(e)) => return Err(RollbackError::io(&target, e)),
            Err(e) => return Err(refused(e.to_string())),
        };
        let before_sha256 = before.as_ref().map(|b| sha256_hex(&b.bytes));
        let report = |action, after_sha256| RevertReport {
            path: path.to_path_buf(),
            action,
            before_sha256: before_sha256.clone(),
            after_sha256,
        };
        let Some(rec) = rec else {
            return Ok(report(RevertAction::NoSnapshot, before_sha256.clone()));
        };
        if before_sha256 == rec.sha256 {
            return Ok(report(RevertAction::Unchanged, before_sha256.clone()));
        }
        let swapped = |e: DirError| match e {
            DirError::Changed(why) => refused(why),
            DirError::Io(e) => RollbackError::io(&target, e),
            e => RollbackError::Unsupported { path: target.clone(), why: e.to_string() },
        };
        if !rec.existed {
            if let Some(b) = &before {
                dir.remove(name, &b.expected()).map_err(swapped)?;
            }
            return Ok(report(RevertAction::Removed, None));
        }
        let mode = rec.mode.or(before.as_ref().map(|b| b.mode)).unwrap_or(0o644);
        let owner = before.as_ref().map(|b| b.owner);
        let expected = before.as_ref().map(|b| b.expected());
        dir.replace(name, &rec.bytes(), mode, owner, expected.as_ref()).map_err(swapped)?;
        Ok(report(RevertAction::Restored, rec.sha256.clone()))
    }
}

/// Where `path` really is (symbolic links resolved, the file itself need not exist) and the
/// identity of its directory; `(None, None)` when its directory cannot be found.
fn locate(path: &Path) -> (Option<PathBuf>, Option<FileId>) {
    let real = match std::fs::canonicalize(path) {
        Ok(p) => Some(p),
        Err(_) => match (path.parent().and_then(|d| std::fs::canonicalize(d).ok()), path.file_name()) {
            (Some(d), Some(n)) => Some(d.join(n)),
            _ => None,
        },
    };
    let id = real.as_deref().and_then(super::dirfd::split).and_then(|(d, _)| Dir::open(d).ok()?.id().ok());
    (real, id)
}

/// `crate::readfile::read_optional`, with its refusal as a rollback error naming the path.
fn read_regular(path: &Path, links: Links, max: u64) -> Result<Option<Vec<u8>>, RollbackError> {
    crate::readfile::read_optional(path, &crate::readfile::ReadOptions::new(links, max)).map_err(|e| match e {
        crate::readfile::ReadError::Io { path, source } => RollbackError::Io { path, source },
        e => RollbackError::Unsupported { path: e.path().to_path_buf(), why: e.reason() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_settings_accept_and_revert() {
        let tmp = tempfile::tempdir().unwrap();
        let s = SettingsSnapshots::open(&tmp.path().join("state")).unwrap();
        let f = tmp.path().join("settings.json");
        assert_eq!(s.revert(&f).unwrap().action, RevertAction::NoSnapshot);
        std::fs::write(&f, "{\"a\": 1}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        s.accept_current(&f).unwrap();
        std::fs::write(&f, "{\"a\": 2}").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = s.revert(&f).unwrap();
        assert_eq!(r.action, RevertAction::Restored);
        assert_eq!(r.after_sha256.as_deref(), Some(sha256_hex(b"{\"a\": 1}").as_str()));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{\"a\": 1}");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(s.revert(&f).unwrap().action, RevertAction::Unchanged);
        // Absent when accepted: a revert removes it; binary content round-trips.
        let g = tmp.path().join("g.json");
        s.accept_current(&g).unwrap();
        std::fs::write(&g, [0xff, 0x00]).unwrap();
        assert_eq!(s.revert(&g).unwrap().action, RevertAction::Removed);
        assert!(!g.exists());
        s.accept(&g, &[0xff, 0x01]).unwrap();
        std::fs::write(&g, "x").unwrap();
        s.revert(&g).unwrap();
        assert_eq!(std::fs::read(&g).unwrap(), [0xff, 0x01]);
    }
}
