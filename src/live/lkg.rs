//! The last known good record of each settings file below managed scope:
//! `<state_dir>/settings/files/<sha256(canonical path)>.json`, one JSON object per file.
//!
//! A record is keyed by the file's canonical path (`crate::settings::scope::canonical_file`),
//! not by a project or a set of locations: the user's settings file has one record however many
//! projects use it, and a project's files have one record whatever spelling reached them. It
//! holds:
//! - `accepted`: the content the ConfigChange gate last accepted (text and sha256), or absent
//!   (the file did not exist when last accepted);
//! - `blocked`: content that was judged and blocked (sha256, `""` for a deletion), each with the
//!   managed policy revision it was judged under (the most recent [`MAX_BLOCKED`] are kept);
//! - `invalid`: unusable content already reported (sha256, the error);
//! - `dev`/`ino`: the file's identity when last seen (a hard link elsewhere is recognised).
//!
//! Managed files never have a record: they are always read from their own location.
//!
//! Trust: this directory is the user's, so the agent can write it. [`Store::load`] therefore
//! checks what it can (the record is a regular file of bounded size, not a link; it names the
//! path it is stored under; its text hashes to its sha256) and treats anything else as no
//! record. What each field can do is in `crate::live`'s documentation and the README's threat
//! model: a record can only ever select content of the user's own lower-scope files, never
//! managed policy.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::readfile::{Links, ReadOptions};
use crate::settings::file::MAX_SETTINGS_BYTES;

/// Blocked contents remembered per file.
pub const MAX_BLOCKED: usize = 64;
/// The largest record read (a settings file's text, JSON-escaped, plus the memos).
const MAX_RECORD_BYTES: u64 = 8 * MAX_SETTINGS_BYTES;
/// The most records looked at when checking a file seen for the first time against all others.
const MAX_RECORDS_SCANNED: usize = 10_000;
const VERSION: u32 = 2;

/// What the gate last accepted for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The file did not exist.
    Absent,
    /// This content (UTF-8 JSON; its sha256).
    Content { sha256: String, bytes: Vec<u8> },
}

impl Accepted {
    pub fn sha256(&self) -> Option<&str> {
        match self {
            Accepted::Absent => None,
            Accepted::Content { sha256, .. } => Some(sha256),
        }
    }
}

/// One file's record, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The canonical path of the file.
    pub path: PathBuf,
    pub accepted: Accepted,
    /// (sha256 of blocked content, `""` for a deletion; the policy revision that judged it).
    pub blocked: Vec<(String, String)>,
    /// (sha256 of unusable content, `""` when unreadable; the error).
    pub invalid: Option<(String, String)>,
    /// The file's (device, inode) when last seen, if it existed.
    pub identity: Option<(u64, u64)>,
}

impl Record {
    pub fn new(path: &Path, accepted: Accepted) -> Record {
        Record { path: path.to_path_buf(), accepted, blocked: Vec::new(), invalid: None, identity: None }
    }

    /// Whether content `sha` (`""`: the file's deletion) was blocked under `policy`.
    pub fn is_blocked(&self, sha: &str, policy: &str) -> bool {
        self.blocked.iter().any(|(s, p)| s == sha && p == policy)
    }

    /// Remembers that `sha` was blocked under `policy` (oldest entries go first).
    pub fn block(&mut self, sha: &str, policy: &str) {
        self.blocked.retain(|(s, _)| s != sha);
        self.blocked.push((sha.to_string(), policy.to_string()));
        let over = self.blocked.len().saturating_sub(MAX_BLOCKED);
        self.blocked.drain(..over);
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFile {
    version: u32,
    path: PathBuf,
    /// `null`: absent.
    accepted: Option<ContentFile>,
    #[serde(default)]
    blocked: Vec<BlockedFile>,
    #[serde(default)]
    invalid: Option<InvalidFile>,
    #[serde(default)]
    dev: Option<u64>,
    #[serde(default)]
    ino: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentFile {
    sha256: String,
    text: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockedFile {
    sha256: String,
    policy: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidFile {
    sha256: String,
    error: String,
}

use crate::digest::sha256_hex;

/// The records of one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The store's lock: one gate at a time per user (held while a change is judged).
pub type Lock = crate::file_lock::FileLock;

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store { dir: state_dir.join("settings") }
    }

    fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// Where the record of `path` (canonical) is kept.
    pub fn record_path(&self, path: &Path) -> PathBuf {
        self.files_dir().join(format!("{}.json", sha256_hex(path.as_os_str().as_encoded_bytes())))
    }

    fn create_dirs(&self) -> std::io::Result<()> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(self.files_dir())
    }

    /// Takes the store's lock (blocking).
    pub fn lock_blocking(&self) -> std::io::Result<Lock> {
        self.create_dirs()?;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            // Never waits on a FIFO planted in its place (ENXIO), never follows a link.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.dir.join(".lock"))?;
        if !f.metadata()?.file_type().is_file() {
            return Err(std::io::Error::other("the lock is not a regular file"));
        }
        crate::file_lock::FileLock::lock(f, crate::file_lock::Mode::Exclusive)
    }

    /// Whether the store's directory exists (a store that could never be created holds no
    /// record to guard).
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Takes the store's lock without blocking the async runtime (a gate in another process may
    /// hold it while its ConfigChange hooks run).
    pub async fn lock(&self) -> std::io::Result<Lock> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.lock_blocking()).await.map_err(std::io::Error::other)?
    }

    /// The verified record of `path`, or `None` (none, or one that fails a check: logged).
    pub fn load(&self, path: &Path) -> Option<Record> {
        let file = self.record_path(path);
        let opts = ReadOptions::new(Links::NoFollow, MAX_RECORD_BYTES);
        let bytes = match crate::readfile::read_optional(&file, &opts) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "a last known good settings record is unreadable; ignored");
                return None;
            }
        };
        match Self::verify(path, &bytes) {
            Ok(r) => Some(r),
            Err(why) => {
                tracing::warn!(record = %file.display(), settings = %path.display(), %why, "a last known good settings record fails its checks; ignored");
                None
            }
        }
    }

    fn verify(path: &Path, bytes: &[u8]) -> Result<Record, String> {
        let f: RecordFile = serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))?;
        if f.version != VERSION {
            return Err(format!("unknown version {}", f.version));
        }
        if f.path != path {
            return Err(format!("it is the record of {}", f.path.display()));
        }
        let accepted = match f.accepted {
            None => Accepted::Absent,
            Some(c) => {
                if sha256_hex(c.text.as_bytes()) != c.sha256 {
                    return Err("its accepted text does not hash to its sha256".into());
                }
                Accepted::Content { sha256: c.sha256, bytes: c.text.into_bytes() }
            }
        };
        let hex = |s: &str| s.is_empty() || (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if !f.blocked.iter().all(|b| hex(&b.sha256)) || !f.invalid.as_ref().is_none_or(|i| hex(&i.sha256)) {
            return Err("a memo is not a sha256".into());
        }
        let mut blocked: Vec<(String, String)> = f.blocked.into_iter().map(|b| (b.sha256, b.policy)).collect();
        let over = blocked.len().saturating_sub(MAX_BLOCKED);
        blocked.drain(..over);
        Ok(Record {
            path: f.path,
            accepted,
            blocked,
            invalid: f.invalid.map(|i| (i.sha256, i.error)),
            identity: f.dev.zip(f.ino),
        })
    }

    /// Writes `rec` atomically (temp file, fsync, rename), mode 0600 in a 0700 directory.
    pub fn store(&self, rec: &Record) -> std::io::Result<()> {
        self.create_dirs()?;
        let accepted = match &rec.accepted {
            Accepted::Absent => None,
            Accepted::Content { sha256, bytes } => Some(ContentFile {
                sha256: sha256.clone(),
                text: String::from_utf8(bytes.clone()).map_err(std::io::Error::other)?,
            }),
        };
        let f = RecordFile {
            version: VERSION,
            path: rec.path.clone(),
            accepted,
            blocked: rec.blocked.iter().map(|(s, p)| BlockedFile { sha256: s.clone(), policy: p.clone() }).collect(),
            invalid: rec.invalid.as_ref().map(|(s, e)| InvalidFile { sha256: s.clone(), error: e.clone() }),
            dev: rec.identity.map(|i| i.0),
            ino: rec.identity.map(|i| i.1),
        };
        let bytes = serde_json::to_vec(&f).map_err(std::io::Error::other)?;
        atomic_file::replace(&self.record_path(&rec.path), &bytes, atomic_file::Mode::Exact(0o600), None)
    }

    /// Every verified record but the one of `except` (at most [`MAX_RECORDS_SCANNED`]).
    fn others(&self, except: &Path) -> Vec<Record> {
        let Ok(rd) = std::fs::read_dir(self.files_dir()) else { return Vec::new() };
        let mut out = Vec::new();
        for entry in rd.flatten().take(MAX_RECORDS_SCANNED) {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".json") {
                continue;
            }
            let opts = ReadOptions::new(Links::NoFollow, MAX_RECORD_BYTES);
            let Ok(bytes) = crate::readfile::read(&entry.path(), &opts) else { continue };
            let Ok(f) = serde_json::from_slice::<RecordFile>(&bytes) else { continue };
            if f.path == except {
                continue;
            }
            // Verified against its own key: a record copied under another name is ignored.
            if entry.path() != self.record_path(&f.path) {
                continue;
            }
            if let Ok(r) = Self::verify(&f.path.clone(), &bytes) {
                out.push(r);
            }
        }
        out
    }

    /// Whether a file seen for the first time (no record of its own) may be accepted as it is:
    /// not when another record blocked this very content (`sha`), nor when another record is of
    /// the same file (`identity`: a hard link) with a different accepted content. Returns the
    /// reason it may not.
    pub fn first_sight_objection(&self, path: &Path, sha: &str, identity: Option<(u64, u64)>) -> Option<String> {
        for r in self.others(path) {
            if r.blocked.iter().any(|(s, _)| s == sha) {
                return Some(format!("this content was blocked as a change to {}", r.path.display()));
            }
            if identity.is_some() && r.identity == identity && r.accepted.sha256() != Some(sha) {
                return Some(format!("it is the same file as {}, whose accepted content differs", r.path.display()));
            }
        }
        None
    }

    /// The paths of every record (for tests and `status`).
    pub fn paths(&self) -> BTreeSet<PathBuf> {
        self.others(Path::new("")).into_iter().map(|r| r.path).collect()
    }
}

/// The managed files a process last saw (`<state_dir>/settings/managed-seen.json`: paths and
/// sha256, never contents). Only used to *report* a managed change once (a `policy_settings`
/// ConfigChange, audited): what is in force always comes from the managed files themselves, so
/// a forged list can at most cause or suppress that report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedSeen {
    pub files: Vec<(PathBuf, String)>,
}

impl Store {
    fn managed_seen_path(&self) -> PathBuf {
        self.dir.join("managed-seen.json")
    }

    /// The managed files last seen (`None`: never recorded, or unreadable).
    pub fn managed_seen(&self) -> Option<ManagedSeen> {
        let opts = ReadOptions::new(Links::NoFollow, 1 << 20);
        let bytes = crate::readfile::read_optional(&self.managed_seen_path(), &opts).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn store_managed_seen(&self, seen: &ManagedSeen) -> std::io::Result<()> {
        self.create_dirs()?;
        let bytes = serde_json::to_vec(seen).map_err(std::io::Error::other)?;
        atomic_file::replace(&self.managed_seen_path(), &bytes, atomic_file::Mode::Exact(0o600), None)
    }
}

/// The (device, inode) of an existing file.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_forged_ones_are_ignored() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path());
        let p = PathBuf::from("/home/u/.config/hookhost/settings.json");
        assert_eq!(s.load(&p), None);
        let text = br#"{"permissions": {"deny": ["Bash(rm:*)"]}}"#.to_vec();
        let mut r = Record::new(&p, Accepted::Content { sha256: sha256_hex(&text), bytes: text.clone() });
        r.block(&"a".repeat(64), "pol");
        r.identity = Some((1, 2));
        s.store(&r).unwrap();
        assert_eq!(s.load(&p), Some(r.clone()));
        assert!(s.load(&p).unwrap().is_blocked(&"a".repeat(64), "pol"));

        let file = s.record_path(&p);
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            f(&mut v);
            std::fs::write(&file, v.to_string()).unwrap();
        };
        // Text edited, sha256 kept: ignored.
        edit(&|v| v["accepted"]["text"] = "{}".into());
        assert_eq!(s.load(&p), None);
        s.store(&r).unwrap();
        // The record of another file copied under this key: ignored.
        edit(&|v| v["path"] = "/elsewhere/settings.json".into());
        assert_eq!(s.load(&p), None);
        s.store(&r).unwrap();
        // A FIFO or a link in its place: ignored, never waited on.
        std::fs::remove_file(&file).unwrap();
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(s.load(&p), None);
        std::fs::remove_file(&file).unwrap();
        let other = t.path().join("other.json");
        std::fs::write(&other, "{}").unwrap();
        std::os::unix::fs::symlink(&other, &file).unwrap();
        assert_eq!(s.load(&p), None);
    }

    #[test]
    fn a_first_sight_is_refused_content_blocked_elsewhere_and_a_differing_hard_link() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path());
        let a = PathBuf::from("/p/a/.hookhost/settings.local.json");
        let mut r = Record::new(&a, Accepted::Absent);
        r.block(&"b".repeat(64), "pol");
        r.identity = Some((7, 9));
        s.store(&r).unwrap();
        let b = PathBuf::from("/p/b/.hookhost/settings.local.json");
        assert!(s.first_sight_objection(&b, &"b".repeat(64), None).unwrap().contains("/p/a/"));
        assert!(s.first_sight_objection(&b, &"c".repeat(64), Some((7, 9))).unwrap().contains("same file"));
        assert_eq!(s.first_sight_objection(&b, &"c".repeat(64), Some((7, 10))), None);
        assert_eq!(s.first_sight_objection(&a, &"b".repeat(64), None), None, "its own record is not another");
    }
}
