//! Keeping a precompile cache this process writes from growing without bound: an entry or
//! identity record unused for [`UNUSED`] is removed when a new entry is written, and so are
//! files of the cache's earlier format (`*.cwasm` with a `*.sha256` beside it) and leftover
//! temporary files. "Used" is the later of a file's mtime and atime; a load from the cache sets
//! the atime of what it read when it is more than a day old, whatever the mount's atime policy.
//!
//! Promises: only files of this cache's own naming, directly in its directory and not links,
//! are ever removed; the system cache (`SYSTEM_CACHE_DIR`, an admin's precompiled components,
//! which processes not running as root cannot rebuild) is never trimmed; a failure to trim or
//! to mark is logged and changes nothing else. Removing costs at most one compile later.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{DiskCache, SYSTEM_CACHE_DIR};

/// How long a cache file may go unused before a trim removes it.
pub(super) const UNUSED: Duration = Duration::from_secs(30 * 24 * 3600);
/// How stale a used file's atime may be before a load sets it again.
const MARK_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Whether `name` is one of this cache's files: an entry, an identity record, a file of the
/// earlier format, or a temporary file of an interrupted write.
fn ours(name: &str) -> bool {
    name.ends_with(".entry")
        || (name.starts_with("source-") && name.ends_with(".json"))
        || name.ends_with(".cwasm")
        || name.ends_with(".sha256")
        || name.starts_with(".hookhost-")
}

fn time_of(secs: i64, nsecs: i64) -> SystemTime {
    let t = Duration::new(secs.max(0) as u64, nsecs.clamp(0, 999_999_999) as u32);
    SystemTime::UNIX_EPOCH + t
}

/// The later of `m`'s mtime and atime.
fn last_used(m: &std::fs::Metadata) -> SystemTime {
    time_of(m.mtime(), m.mtime_nsec()).max(time_of(m.atime(), m.atime_nsec()))
}

impl DiskCache {
    /// Records that `path` (just read, with metadata `meta`) is in use: sets its atime to `now`
    /// when it is more than a day old. Only in a cache this process writes.
    pub(super) fn mark_used(&self, path: &Path, meta: &std::fs::Metadata, now: SystemTime) {
        if !self.writable || now.duration_since(last_used(meta)).is_ok_and(|d| d < MARK_AFTER) {
            return;
        }
        let marked = std::fs::File::options()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .and_then(|f| f.set_times(std::fs::FileTimes::new().set_accessed(now)));
        if let Err(e) = marked {
            tracing::debug!(file = %path.display(), "cannot mark a wasm precompile cache file as used: {e}");
        }
    }

    /// Removes this cache's files unused for [`UNUSED`] before `now` (module documentation).
    /// Returns how many were removed.
    pub(super) fn trim(&self, now: SystemTime) -> usize {
        if !self.writable || self.dir == Path::new(SYSTEM_CACHE_DIR) {
            return 0;
        }
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut removed = 0;
        for e in dir.flatten() {
            let name = e.file_name();
            if !ours(&name.to_string_lossy()) {
                continue;
            }
            // Not followed: a link or anything but a regular file is not ours to judge.
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            if !m.file_type().is_file() || now.duration_since(last_used(&m)).map_or(true, |d| d < UNUSED) {
                continue;
            }
            match std::fs::remove_file(e.path()) {
                Ok(()) => removed += 1,
                Err(err) => tracing::debug!(file = %e.path().display(), "cannot trim the wasm precompile cache: {err}"),
            }
        }
        if removed > 0 {
            tracing::info!(dir = %self.dir.display(), removed, "wasm precompile cache trimmed (files unused for 30 days)");
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_cache_s_own_names_are_trimmed() {
        for name in ["540d-b4a7.entry", "source-ee84.json", "540d-0466.cwasm", "540d-0466.sha256", ".hookhost-Ab12cd"] {
            assert!(ours(name), "{name}");
        }
        for name in ["notes.txt", "source-x.txt", "entry", "settings.json", "x.entry.bak"] {
            assert!(!ours(name), "{name}");
        }
    }

    #[test]
    fn unused_files_go_used_and_foreign_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&tmp.path().join("c")).unwrap();
        let now = SystemTime::now();
        let old = now - UNUSED - Duration::from_secs(3600);
        let file = |name: &str, modified: SystemTime, accessed: SystemTime| {
            let p = cache.dir.join(name);
            std::fs::write(&p, b"x").unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_times(std::fs::FileTimes::new().set_modified(modified).set_accessed(accessed)).unwrap();
            p
        };
        let stale = [
            file("a-b.entry", old, old),
            file("source-1.json", old, old),
            file("a-c.cwasm", old, old),
            file("a-c.sha256", old, old),
        ];
        let read_lately = file("a-d.entry", old, now - Duration::from_secs(3600));
        let fresh = file("a-e.entry", now, now);
        let foreign = file("notes.txt", old, old);
        std::os::unix::fs::symlink(&foreign, cache.dir.join("link.entry")).unwrap();
        assert_eq!(cache.trim(now), 4);
        for p in &stale {
            assert!(!p.exists(), "{} was kept", p.display());
        }
        for p in [&read_lately, &fresh, &foreign] {
            assert!(p.exists(), "{} was removed", p.display());
        }
        assert!(cache.dir.join("link.entry").symlink_metadata().is_ok(), "a link was removed");
        // A read-only cache (the system cache as a user sees it) trims nothing.
        let stale = file("a-f.entry", old, old);
        assert_eq!(DiskCache { dir: cache.dir.clone(), writable: false }.trim(now), 0);
        assert!(stale.exists());

        // Marking: an old atime is set to now; a recent one is left alone; read-only: nothing.
        let m = std::fs::metadata(&stale).unwrap();
        DiskCache { dir: cache.dir.clone(), writable: false }.mark_used(&stale, &m, now);
        assert_eq!(last_used(&std::fs::metadata(&stale).unwrap()), last_used(&m));
        cache.mark_used(&stale, &m, now);
        let after = std::fs::metadata(&stale).unwrap();
        assert!(now.duration_since(last_used(&after)).map_or(true, |d| d < Duration::from_secs(1)));
        assert_eq!(after.mtime(), m.mtime(), "marking changed the mtime");
        assert_eq!(cache.trim(now), 0);
    }
}
