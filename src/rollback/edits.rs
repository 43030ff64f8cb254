//! The edit snapshot store: the state of one file before an edit tool ran, keyed by the call's
//! `tool_use_id`, and its atomic restore.
//!
//! Layout: `<state_dir>/rollback/edits/` (mode 0700), one file per call named by the sha256 of
//! its `tool_use_id` (`<hex>.snap`, mode 0600): a JSON line of [`SnapshotMeta`], then the file's
//! raw bytes. A snapshot is written as `<hex>.<pid>.tmp` and renamed into place, so a reader sees
//! a whole snapshot or none; a `.tmp` left by a dead process is removed by [`EditStore::clean`].
//!
//! Promises: a snapshot is only returned when its content still hashes to the recorded sha256,
//! its `tool_use_id` is the one asked for, it was taken in this boot and it is younger than the
//! TTL; [`EditSnapshot::restore`] writes nothing when the file on disk is not what the tool
//! produced (see [`Expect`]), so a third party's change is kept.
//!
//! A swapped path is never written through (`super::dirfd`): the snapshot reads the file with
//! `O_NOFOLLOW` from its directory, opened with no symbolic link anywhere on its path, and
//! records that directory's device and inode; the restore opens the directory the same way,
//! refuses ([`Restore::Refused`]) when it is not the same directory any more, when the file has
//! become a symbolic link or something other than a regular file, or when it changes between the
//! check and the atomic swap (`renameat2(RENAME_EXCHANGE)`, verified, swapped back on a
//! mismatch). Owner and mode are set on the new file's descriptor, never by path.

use std::io::{BufRead, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dirfd::{Dir, DirError, FileId};
use super::{RollbackError, private_dir, sha256_hex, write_atomic};

/// Version 2 records the directory's identity (`dir_id`); older snapshots are discarded.
const FORMAT_VERSION: u32 = 2;
/// A `.tmp` older than this is removed even if a process with its pid exists (pid reuse).
const TMP_GRACE: Duration = Duration::from_secs(60);

/// What a snapshot records about the file, besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub version: u32,
    pub tool_use_id: String,
    pub session_id: Option<String>,
    pub tool: String,
    /// The file as the tool call names it (absolute).
    pub path: PathBuf,
    /// The file a restore writes: `path` with symlinks resolved at snapshot time.
    pub real_path: PathBuf,
    /// The device and inode of `real_path`'s directory at snapshot time (`None`: it did not
    /// exist yet). A restore writes only into that same directory.
    #[serde(default)]
    pub dir_id: Option<FileId>,
    /// Whether the file existed before the tool ran (if not, a restore removes it).
    pub existed: bool,
    /// Permission bits (with setuid/setgid/sticky), when it existed.
    pub mode: Option<u32>,
    /// Owner (uid, gid), when it existed: restored when hookhost may (as root).
    #[serde(default)]
    pub owner: Option<(u32, u32)>,
    pub len: u64,
    /// sha256 of the content, when it existed.
    pub sha256: Option<String>,
    pub created_unix: u64,
    pub pid: u32,
    /// `/proc/sys/kernel/random/boot_id`: a snapshot from another boot is never applied.
    pub boot_id: String,
}

/// A snapshot read back.
#[derive(Debug, Clone)]
pub struct EditSnapshot {
    pub meta: SnapshotMeta,
    pub content: Vec<u8>,
}

/// What taking a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshotted {
    /// Saved; `sha256` is `None` when the file does not exist yet.
    Saved { sha256: Option<String>, existed: bool },
    /// The file is larger than the cap: no snapshot, no rollback.
    TooLarge { len: u64 },
}

/// What the file must look like for a restore to be the undoing of this tool call, and not of
/// someone else's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exactly these bytes (Write: `content`; Edit/MultiEdit: the snapshot with the edits applied).
    Exact(Vec<u8>),
    /// Every one of these byte strings occurs in the file (the edits could not be replayed on the
    /// snapshot; NotebookEdit: the new source lines, JSON-escaped).
    Contains(Vec<Vec<u8>>),
    /// Only that the file differs from the snapshot (NotebookEdit deleting a cell).
    Changed,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// The previous content and mode are back; `before` is the rejected content's sha256.
    Restored { before: String },
    /// The tool created the file; it was removed.
    Removed { before: String },
    /// The file already is as the snapshot has it.
    Unchanged,
    /// Not what the tool wrote: left alone.
    Conflict { why: String, current: Option<String> },
    /// The path no longer leads where it led at snapshot time (a directory or the file was
    /// replaced, e.g. by a symbolic link), or it changed during the swap: nothing was written.
    Refused { why: String, current: Option<String> },
    /// The restore itself failed (the file is as it was before the attempt).
    Failed { error: String, current: Option<String> },
}

impl Restore {
    /// sha256 of the file before and after the rollback stage (`None`: no file).
    pub fn hashes(&self, snap: &EditSnapshot) -> (Option<String>, Option<String>) {
        match self {
            Restore::Restored { before } => (Some(before.clone()), snap.meta.sha256.clone()),
            Restore::Removed { before } => (Some(before.clone()), None),
            Restore::Unchanged => (snap.meta.sha256.clone(), snap.meta.sha256.clone()),
            Restore::Conflict { current, .. } | Restore::Failed { current, .. } | Restore::Refused { current, .. } => {
                (current.clone(), current.clone())
            }
        }
    }
}

/// The store of one state directory.
#[derive(Debug, Clone)]
pub struct EditStore {
    dir: PathBuf,
    ttl: Duration,
    max_file_bytes: u64,
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads `path` if it exists (`None` when it does not).
/// Reads one of the store's own files, never through a symbolic link put in its place and never
/// blocking on a FIFO.
fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, RollbackError> {
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RollbackError::io(path, e)),
    };
    if !f.metadata().map_err(|e| RollbackError::io(path, e))?.is_file() {
        return Err(RollbackError::Corrupt { path: path.to_path_buf(), why: "not a regular file".into() });
    }
    let mut b = Vec::new();
    f.read_to_end(&mut b).map_err(|e| RollbackError::io(path, e))?;
    Ok(Some(b))
}

impl EditStore {
    /// The store under `state_dir/rollback/edits` (created on the first snapshot).
    pub fn new(state_dir: &Path, ttl: Duration, max_file_bytes: u64) -> Self {
        EditStore { dir: state_dir.join("rollback").join("edits"), ttl, max_file_bytes }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, tool_use_id: &str) -> PathBuf {
        self.dir.join(format!("{}.snap", &sha256_hex(tool_use_id.as_bytes())[..32]))
    }

    /// Snapshots `path` for the call `tool_use_id`.
    pub fn snapshot(
        &self,
        tool_use_id: &str,
        session_id: Option<&str>,
        tool: &str,
        path: &Path,
    ) -> Result<Snapshotted, RollbackError> {
        let real_path = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match (path.parent().and_then(|d| std::fs::canonicalize(d).ok()), path.file_name()) {
                    (Some(d), Some(n)) => d.join(n),
                    _ => path.to_path_buf(),
                }
            }
            Err(e) => return Err(RollbackError::io(path, e)),
        };
        // The file is read with O_NOFOLLOW from its directory, opened with no symbolic link on
        // its path: a link swapped in after `canonicalize` is refused, never followed.
        let (dir_path, name) = super::dirfd::split(&real_path).ok_or_else(|| RollbackError::Unsupported {
            path: real_path.clone(),
            why: "not an absolute path to a file".into(),
        })?;
        let unsupported = |why: String| RollbackError::Unsupported { path: real_path.clone(), why };
        let dir = match Dir::open(dir_path) {
            Ok(d) => Some(d),
            // The directory does not exist yet: the tool creates it, and the file.
            Err(DirError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(DirError::Symlink) => {
                return Err(unsupported(format!(
                    "{} changed into a symbolic link while being snapshotted",
                    dir_path.display()
                )));
            }
            Err(e) => return Err(unsupported(format!("cannot open {}: {e}", dir_path.display()))),
        };
        let dir_id = match &dir {
            Some(d) => Some(d.id().map_err(|e| unsupported(e.to_string()))?),
            None => None,
        };
        let entry = match &dir {
            Some(d) => match d.read(name, self.max_file_bytes) {
                Ok(e) => e,
                Err(DirError::TooLarge(len)) => return Ok(Snapshotted::TooLarge { len }),
                Err(DirError::NotRegular) => {
                    return Err(unsupported("not a regular file (hookhost restores only regular files)".into()));
                }
                Err(DirError::Symlink) => {
                    return Err(unsupported("it changed into a symbolic link while being snapshotted".into()));
                }
                Err(e) => return Err(unsupported(e.to_string())),
            },
            None => None,
        };
        let (existed, mode_owner, content) = match entry {
            Some(e) => (true, Some((e.mode, e.owner)), e.bytes),
            None => (false, None, Vec::new()),
        };
        let sha256 = existed.then(|| sha256_hex(&content));
        let meta = SnapshotMeta {
            version: FORMAT_VERSION,
            tool_use_id: tool_use_id.to_string(),
            session_id: session_id.map(str::to_string),
            tool: tool.to_string(),
            path: path.to_path_buf(),
            real_path: real_path.clone(),
            dir_id,
            existed,
            mode: mode_owner.map(|(m, _)| m),
            owner: mode_owner.map(|(_, o)| o),
            len: content.len() as u64,
            sha256: sha256.clone(),
            created_unix: now_unix(),
            pid: std::process::id(),
            boot_id: boot_id(),
        };
        private_dir(&self.dir)?;
        let dest = self.file(tool_use_id);
        let mut data = serde_json::to_vec(&meta).map_err(|e| RollbackError::io(&dest, std::io::Error::other(e)))?;
        data.push(b'\n');
        data.extend_from_slice(&content);
        write_atomic(&dest, &data, 0o600, None)?;
        Ok(Snapshotted::Saved { sha256, existed })
    }

    fn read_meta(file: &Path) -> Result<SnapshotMeta, RollbackError> {
        // Never waited on (a FIFO planted in the rollback store is refused), never followed.
        let f = crate::readfile::open_regular(file, crate::readfile::Links::NoFollow).map_err(|e| match e {
            crate::readfile::ReadError::Io { path, source } => RollbackError::Io { path, source },
            e => RollbackError::io(file, std::io::Error::other(e.reason())),
        })?;
        let mut line = Vec::new();
        std::io::BufReader::new(f)
            .take(1 << 20)
            .read_until(b'\n', &mut line)
            .map_err(|e| RollbackError::io(file, e))?;
        serde_json::from_slice(&line)
            .map_err(|e| RollbackError::Corrupt { path: file.to_path_buf(), why: e.to_string() })
    }

    /// Why a snapshot must not be used any more (`None`: still valid).
    fn stale(&self, meta: &SnapshotMeta) -> Option<String> {
        if meta.version != FORMAT_VERSION {
            return Some(format!("format version {} is not {FORMAT_VERSION}", meta.version));
        }
        let age = now_unix().saturating_sub(meta.created_unix);
        if age > self.ttl.as_secs() || meta.created_unix > now_unix() + 60 {
            return Some(format!("expired: taken {age} s ago, the TTL is {} s", self.ttl.as_secs()));
        }
        let boot = boot_id();
        if !boot.is_empty() && meta.boot_id != boot {
            return Some("taken before the last reboot".into());
        }
        None
    }

    /// The snapshot of `tool_use_id`, if there is a valid one. A stale one is removed and `None`
    /// returned; a corrupt one is removed and reported as an error.
    pub fn load(&self, tool_use_id: &str) -> Result<Option<EditSnapshot>, RollbackError> {
        let file = self.file(tool_use_id);
        let Some(bytes) = read_opt(&file)? else { return Ok(None) };
        let corrupt = |why: String| {
            let _ = std::fs::remove_file(&file);
            RollbackError::Corrupt { path: file.clone(), why }
        };
        let nl = bytes.iter().position(|b| *b == b'\n').ok_or_else(|| corrupt("no header line".into()))?;
        let meta: SnapshotMeta = serde_json::from_slice(&bytes[..nl]).map_err(|e| corrupt(e.to_string()))?;
        let content = bytes[nl + 1..].to_vec();
        if meta.tool_use_id != tool_use_id {
            return Err(corrupt(format!("it is for tool_use_id {:?}", meta.tool_use_id)));
        }
        if meta.existed && meta.sha256.as_deref() != Some(sha256_hex(&content).as_str()) {
            return Err(corrupt("its content does not match its recorded sha256".into()));
        }
        if self.stale(&meta).is_some() {
            let _ = std::fs::remove_file(&file);
            return Ok(None);
        }
        Ok(Some(EditSnapshot { meta, content }))
    }

    pub fn remove(&self, tool_use_id: &str) -> Result<(), RollbackError> {
        let file = self.file(tool_use_id);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RollbackError::io(&file, e)),
            _ => Ok(()),
        }
    }

    /// Removes stale snapshots (expired, from another boot, unreadable) and temp files of dead
    /// writers. Returns what was removed and why.
    pub fn clean(&self) -> Vec<(PathBuf, String)> {
        let mut removed = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return removed };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let why = if let Some(stem) = name.strip_suffix(".tmp") {
                let pid = stem.rsplit('.').next().and_then(|p| p.parse::<u32>().ok());
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age > TMP_GRACE);
                match pid {
                    Some(p) if pid_alive(p) && !old => None,
                    _ => Some("a snapshot half-written by a process that is gone".to_string()),
                }
            } else if name.ends_with(".snap") {
                match Self::read_meta(&path) {
                    Ok(meta) => self.stale(&meta).map(|w| format!("{w} (of {})", meta.path.display())),
                    Err(e) => Some(e.to_string()),
                }
            } else {
                None
            };
            if let Some(why) = why
                && std::fs::remove_file(&path).is_ok()
            {
                removed.push((path, why));
            }
        }
        removed
    }
}

/// What the tool call in `tool_input` must have left in the file, given the snapshot (see
/// [`Expect`]).
pub fn expected_after(snap: &EditSnapshot, tool_input: &Value) -> Expect {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let before = std::str::from_utf8(&snap.content).ok().filter(|_| snap.meta.existed);
    let apply = |text: Option<&str>, edit: &Value| -> Option<String> {
        let (old, new) = (s(edit, "old_string")?, s(edit, "new_string")?);
        let all = edit.get("replace_all").and_then(Value::as_bool).unwrap_or(false);
        match text {
            None if old.is_empty() => Some(new),
            None => None,
            Some(_) if old.is_empty() => None,
            Some(t) if !t.contains(&old) => None,
            Some(t) if all => Some(t.replace(&old, &new)),
            Some(t) => Some(t.replacen(&old, &new, 1)),
        }
    };
    let contains_new = |edits: &[&Value]| {
        Expect::Contains(
            edits.iter().filter_map(|e| s(e, "new_string")).filter(|n| !n.is_empty()).map(String::into_bytes).collect(),
        )
    };
    match snap.meta.tool.as_str() {
        "Write" => match s(tool_input, "content") {
            Some(c) => Expect::Exact(c.into_bytes()),
            None => Expect::Changed,
        },
        "Edit" => match apply(before, tool_input) {
            Some(t) => Expect::Exact(t.into_bytes()),
            None => contains_new(&[tool_input]),
        },
        "MultiEdit" => {
            let edits: Vec<&Value> =
                tool_input.get("edits").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
            let mut text = before.map(str::to_string);
            for e in &edits {
                text = apply(text.as_deref(), e);
                if text.is_none() {
                    return contains_new(&edits);
                }
            }
            match text {
                Some(t) => Expect::Exact(t.into_bytes()),
                None => contains_new(&edits),
            }
        }
        _ => {
            let delete = s(tool_input, "edit_mode").as_deref() == Some("delete");
            match s(tool_input, "new_source").filter(|n| !n.is_empty() && !delete) {
                Some(src) => Expect::Contains(
                    src.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| {
                            let q = serde_json::to_string(l).unwrap_or_default();
                            q.trim_matches('"').as_bytes().to_vec()
                        })
                        .collect(),
                ),
                None => Expect::Changed,
            }
        }
    }
}

impl EditSnapshot {
    /// Puts the file back as the snapshot has it, if the file on disk is what the tool produced
    /// (`expect`); otherwise leaves it and reports the conflict.
    pub fn restore(&self, expect: &Expect) -> Restore {
        let m = &self.meta;
        let Some((dir_path, name)) = super::dirfd::split(&m.real_path) else {
            return Restore::Failed {
                error: format!("{}: not an absolute path", m.real_path.display()),
                current: None,
            };
        };
        let refused = |why: String, current: Option<String>| Restore::Refused { why, current };
        // The directory, by a path with no symbolic link in it, and the same directory as at
        // snapshot time: a parent swapped for a link (or for another directory) is refused.
        let dir = match Dir::open(dir_path) {
            Ok(d) => d,
            Err(DirError::Symlink) => {
                return refused(
                    format!("a directory on the path {} was replaced by a symbolic link", dir_path.display()),
                    None,
                );
            }
            Err(DirError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && m.existed => {
                return Restore::Conflict {
                    why: format!("its directory {} no longer exists", dir_path.display()),
                    current: None,
                };
            }
            Err(DirError::Io(e)) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return refused(format!("{} is no longer a directory", dir_path.display()), None);
            }
            Err(e) => return Restore::Failed { error: format!("{}: {e}", dir_path.display()), current: None },
        };
        if let Some(want) = m.dir_id {
            match dir.id() {
                Ok(id) if id == want => {}
                Ok(id) => {
                    return refused(
                        format!(
                            "{} is not the directory that was snapshotted any more ({want} then, {id} now): it was \
                             replaced",
                            dir_path.display()
                        ),
                        None,
                    );
                }
                Err(e) => return Restore::Failed { error: e.to_string(), current: None },
            }
        }
        let cap = (self.content.len() as u64).max(m.len).saturating_mul(4).saturating_add(64 << 20);
        let current = match dir.read(name, cap) {
            Ok(c) => c,
            Err(DirError::Symlink) => {
                return refused(format!("{} was replaced by a symbolic link", m.real_path.display()), None);
            }
            Err(DirError::NotRegular) => {
                return refused(format!("{} is no longer a regular file", m.real_path.display()), None);
            }
            Err(e) => return Restore::Failed { error: e.to_string(), current: None },
        };
        let current_sha = current.as_ref().map(|c| sha256_hex(&c.bytes));
        let Some(cur) = current else {
            return if m.existed {
                Restore::Conflict { why: "it no longer exists (deleted after the tool ran)".into(), current: None }
            } else {
                Restore::Unchanged
            };
        };
        let cur_sha = current_sha.clone().unwrap_or_default();
        if m.existed && cur.bytes == self.content && Some(cur.mode) == m.mode {
            return Restore::Unchanged;
        }
        let what_tool_wrote = match expect {
            Expect::Exact(e) => {
                if cur.bytes == *e {
                    Ok(())
                } else {
                    Err(format!(
                        "its content (sha256 {cur_sha}) is not what the {} wrote (sha256 {}): it was changed by \
                         someone else after the tool ran",
                        m.tool,
                        sha256_hex(e)
                    ))
                }
            }
            Expect::Contains(parts) => match parts.iter().find(|p| !contains(&cur.bytes, p)) {
                None => Ok(()),
                Some(_) => Err(format!(
                    "its content (sha256 {cur_sha}) does not contain what the {} wrote: it was changed by someone \
                     else after the tool ran",
                    m.tool
                )),
            },
            Expect::Changed => Ok(()),
        };
        if let Err(why) = what_tool_wrote {
            return Restore::Conflict { why, current: current_sha };
        }
        let checked = cur.expected();
        let done = if m.existed {
            dir.replace(name, &self.content, m.mode.unwrap_or(0o644), m.owner, Some(&checked))
        } else {
            dir.remove(name, &checked)
        };
        match done {
            Ok(()) if m.existed => Restore::Restored { before: cur_sha },
            Ok(()) => Restore::Removed { before: cur_sha },
            Err(DirError::Changed(why)) => refused(format!("{} {why}", m.real_path.display()), current_sha),
            Err(e) => Restore::Failed { error: format!("{}: {e}", m.real_path.display()), current: current_sha },
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn store(dir: &Path) -> EditStore {
        EditStore::new(dir, Duration::from_secs(3600), 1024)
    }

    #[test]
    fn rollback_snapshot_restore_edit_and_conflict() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.txt");
        std::fs::write(&f, "alpha\nbeta\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let s = store(&tmp.path().join("state"));
        s.snapshot("t1", Some("s"), "Edit", &f).unwrap();
        let mode = std::fs::metadata(s.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let input = json!({"file_path": f, "old_string": "beta", "new_string": "gamma"});
        let snap = s.load("t1").unwrap().unwrap();
        assert_eq!(expected_after(&snap, &input), Expect::Exact(b"alpha\ngamma\n".to_vec()));
        // A third party's content: kept.
        std::fs::write(&f, "alpha\nsomeone else\n").unwrap();
        assert!(matches!(snap.restore(&expected_after(&snap, &input)), Restore::Conflict { .. }));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "alpha\nsomeone else\n");
        // The tool's content: restored, mode too.
        std::fs::write(&f, "alpha\ngamma\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(snap.restore(&expected_after(&snap, &input)), Restore::Restored { .. }));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "alpha\nbeta\n");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777, 0o640);
    }

    #[test]
    fn rollback_caps_and_cleaning() {
        let tmp = tempfile::tempdir().unwrap();
        let big = tmp.path().join("big");
        std::fs::write(&big, vec![b'x'; 2000]).unwrap();
        let s = store(&tmp.path().join("state"));
        assert_eq!(s.snapshot("t", None, "Write", &big).unwrap(), Snapshotted::TooLarge { len: 2000 });
        assert!(s.load("t").unwrap().is_none());
        // Expired snapshots and dead writers' temp files are removed by clean().
        s.snapshot("t2", None, "Write", &tmp.path().join("new")).unwrap();
        std::fs::write(s.dir().join("abc.999999999.tmp"), "x").unwrap();
        let expired = EditStore::new(&tmp.path().join("state"), Duration::from_secs(0), 1024);
        std::thread::sleep(Duration::from_millis(1100));
        let removed = expired.clean();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert_eq!(std::fs::read_dir(s.dir()).unwrap().count(), 0);
    }

    #[test]
    fn rollback_expectations() {
        let snap = |tool: &str, content: &str, existed: bool| EditSnapshot {
            meta: SnapshotMeta {
                version: 1,
                tool_use_id: "t".into(),
                session_id: None,
                tool: tool.into(),
                path: "/x".into(),
                real_path: "/x".into(),
                dir_id: None,
                existed,
                mode: None,
                owner: None,
                len: 0,
                sha256: None,
                created_unix: 0,
                pid: 0,
                boot_id: String::new(),
            },
            content: content.as_bytes().to_vec(),
        };
        let multi = json!({"edits": [
            {"old_string": "a", "new_string": "b", "replace_all": true},
            {"old_string": "bc", "new_string": "X"}
        ]});
        assert_eq!(expected_after(&snap("MultiEdit", "abcabc", true), &multi), Expect::Exact(b"bXbbc".to_vec()));
        assert_eq!(
            expected_after(&snap("Edit", "", false), &json!({"old_string": "", "new_string": "n"})),
            Expect::Exact(b"n".to_vec())
        );
        assert_eq!(
            expected_after(&snap("Edit", "zzz", true), &json!({"old_string": "q", "new_string": "n"})),
            Expect::Contains(vec![b"n".to_vec()])
        );
        assert_eq!(
            expected_after(&snap("NotebookEdit", "{}", true), &json!({"new_source": "print(\"hi\")"})),
            Expect::Contains(vec![br#"print(\"hi\")"#.to_vec()])
        );
    }

    /// A FIFO planted in the store in place of a snapshot is removed by clean(), never waited on.
    #[test]
    fn a_fifo_in_the_store_is_refused_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("state"));
        s.snapshot("t1", None, "Write", &tmp.path().join("new")).unwrap();
        let snap = std::fs::read_dir(s.dir()).unwrap().flatten().map(|e| e.path()).next().unwrap();
        crate::readfile::plant_fifo(&snap);
        let removed = crate::readfile::must_return("clean", move || s.clean());
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(removed[0].1.contains("FIFO"), "{removed:?}");
    }
}
