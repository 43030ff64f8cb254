//! The precompile cache's identity records: for a component file, the sha256 its bytes had when
//! its file had a given identity (device, inode, size, mtime, ctime). A process that finds a
//! record matching the file's identity takes the component's sha256 from it instead of reading
//! and hashing the file again, then loads the compiled artifact by that sha256 as usual (a
//! one-shot `dispatch` of a 19 MB Python component spared ~10 ms, of a Rust one ~0.15 ms).
//!
//! Promises:
//! - A record is trusted like an entry: read from a cache only root can write, as a bounded
//!   regular file that is not a link, owned by root and writable by no one else, naming this
//!   very path; anything else is ignored (and removed from the cache this process writes).
//! - A record never lets unchecked code run. It maps a file identity to a sha256 that hookhost
//!   computed from bytes it read; the pin is checked against that sha256 and the artifact run
//!   is the one compiled from those bytes. Any change to the file (a write, a rename over it, a
//!   `touch`, `chmod`) changes its ctime, which no one but root can set, so the record stops
//!   matching and the file is read and hashed again.
//! - Only a file whose ctime is at least [`SETTLED`] old when it was read is recorded (git's
//!   "racily clean" rule): a change made later, even within the file system's timestamp
//!   granularity, cannot carry the recorded ctime.
//!
//! Does not: decide whether a cache is trusted (`DiskCache`), or record anything for a process
//! that writes no cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{DiskCache, SYSTEM_CACHE_DIR, Stamp};

/// How old a file's ctime must be, when it is read, for its identity to be recorded.
pub(super) const SETTLED: Duration = Duration::from_secs(2);
/// The largest record read.
const MAX_RECORD_BYTES: u64 = 16 * 1024;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRecord {
    v: u32,
    path: PathBuf,
    stamp: Stamp,
    sha256: String,
}

impl DiskCache {
    /// `source-<sha256 of the path>.json`.
    fn record_path(&self, component: &Path) -> PathBuf {
        let key = crate::digest::sha256_hex(component.as_os_str().as_encoded_bytes());
        self.dir.join(format!("source-{key}.json"))
    }

    /// The sha256 recorded for `component` while its file had identity `stamp`, if any.
    pub(super) fn recorded_sha256(&self, component: &Path, stamp: &Stamp) -> Option<String> {
        let path = self.record_path(component);
        let bytes = self.read_root_only(&path, MAX_RECORD_BYTES, "record")?;
        let verdict = (|| -> Result<SourceRecord, String> {
            let r: SourceRecord = serde_json::from_slice(&bytes?).map_err(|e| format!("unreadable: {e}"))?;
            // The sha256 names an entry file: 64 hex digits, nothing else.
            let hex = r.sha256.len() == 64 && r.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if r.v != 1 || r.path != component || !hex {
                return Err(format!("it is not a version 1 record of {}", component.display()));
            }
            Ok(r)
        })();
        match verdict {
            Ok(r) => (r.stamp == *stamp).then_some(r.sha256),
            Err(e) => {
                tracing::warn!(record = %path.display(), "wasm component record rejected: {e}");
                if self.writable {
                    let _ = std::fs::remove_file(&path);
                }
                None
            }
        }
    }

    /// Records that `component`, read while its file had identity `stamp`, hashed to `sha256`:
    /// only in a cache this process writes, and only when the file had settled (its ctime at
    /// least [`SETTLED`] before `now`).
    pub(super) fn record(&self, component: &Path, stamp: &Stamp, sha256: &str, now: SystemTime) {
        if !self.writable || !settled(stamp, now) {
            return;
        }
        let r = SourceRecord { v: 1, path: component.to_path_buf(), stamp: *stamp, sha256: sha256.to_string() };
        let Ok(text) = serde_json::to_vec(&r) else { return };
        let mode = if self.dir == Path::new(SYSTEM_CACHE_DIR) { 0o644 } else { 0o600 };
        match crate::atomic_file::replace(
            &self.record_path(component),
            &text,
            crate::atomic_file::Mode::Exact(mode),
            None,
        ) {
            Ok(()) => tracing::debug!(component = %component.display(), "wasm component identity recorded"),
            Err(e) => tracing::warn!(dir = %self.dir.display(), "cannot record a wasm component's identity: {e}"),
        }
    }
}

/// Whether a file with identity `stamp` had settled by `now`: its ctime at least [`SETTLED`]
/// before (a ctime in the future has not).
fn settled(stamp: &Stamp, now: SystemTime) -> bool {
    let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else { return false };
    let now_ns = i64::try_from(now.as_nanos()).unwrap_or(i64::MAX);
    now_ns.saturating_sub(stamp.ctime_ns) >= SETTLED.as_nanos() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ctime_ns: i64) -> Stamp {
        Stamp { dev: 1, ino: 2, size: 3, mtime_ns: ctime_ns, ctime_ns }
    }

    #[test]
    fn only_a_settled_file_is_recorded() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let secs = |s: i64| s * 1_000_000_000;
        assert!(settled(&stamp(secs(998)), now));
        assert!(settled(&stamp(secs(10)), now));
        assert!(!settled(&stamp(secs(998) + 1), now));
        assert!(!settled(&stamp(secs(1_000)), now));
        assert!(!settled(&stamp(secs(2_000)), now), "a ctime in the future");
        assert!(!settled(&stamp(0), SystemTime::UNIX_EPOCH - Duration::from_secs(1)));
    }

    #[test]
    fn a_record_names_its_path_and_matches_only_its_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&tmp.path().join("c")).unwrap();
        let (a, b) = (Path::new("/hooks/a.wasm"), Path::new("/hooks/b.wasm"));
        let old = stamp(1_000_000_000);
        cache.record(a, &old, &"ab".repeat(32), SystemTime::now());
        assert_eq!(cache.recorded_sha256(a, &old), Some("ab".repeat(32)));
        assert_eq!(cache.recorded_sha256(b, &old), None);
        for changed in [
            Stamp { ctime_ns: old.ctime_ns + 1, ..old },
            Stamp { mtime_ns: old.mtime_ns + 1, ..old },
            Stamp { size: 4, ..old },
            Stamp { ino: 9, ..old },
            Stamp { dev: 9, ..old },
        ] {
            assert_eq!(cache.recorded_sha256(a, &changed), None, "{changed:?}");
        }
        // Another path's record copied over this path's: names the other path, so rejected.
        std::fs::copy(cache.record_path(a), cache.record_path(b)).unwrap();
        assert_eq!(cache.recorded_sha256(b, &old), None);
        assert!(!cache.record_path(b).exists(), "a rejected record is removed");
        // A sha256 that is not 64 lower-case hex digits (it names an entry file): rejected.
        for bad in ["../".repeat(21) + "x", "AB".repeat(32), "ab".repeat(31)] {
            cache.record(a, &old, &bad, SystemTime::now());
            assert_eq!(cache.recorded_sha256(a, &old), None, "{bad}");
        }
        cache.record(a, &old, &"ab".repeat(32), SystemTime::now());
        // Writable by others: rejected.
        std::fs::set_permissions(cache.record_path(a), std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        assert_eq!(cache.recorded_sha256(a, &old), None);
        // A file that has not settled is not recorded; a read-only cache records nothing.
        cache.record(b, &stamp(i64::MAX / 2), &"cd".repeat(32), SystemTime::now());
        assert!(!cache.record_path(b).exists());
        let read_only = DiskCache { dir: cache.dir.clone(), writable: false };
        read_only.record(b, &old, &"cd".repeat(32), SystemTime::now());
        assert!(!cache.record_path(b).exists());
    }
}
