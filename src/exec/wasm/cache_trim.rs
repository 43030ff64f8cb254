//! Keeping a precompile cache this process writes from growing without bound: an entry or
//! identity record unused for [`UNUSED`] is removed when a new entry is written, and so are
//! files of the cache's earlier format (`*.cwasm` with a `*.sha256` beside it) and leftover
//! temporary files. If what is left still holds more than [`MAX_BYTES`], the least recently
//! used files go until it fits, except those used in the last [`IN_USE`]. "Used" is the later
//! of a file's mtime and atime; a load from the cache sets the atime of what it read when it is
//! more than a day old, whatever the mount's atime policy.
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
/// How many bytes of this cache's files a trim leaves at most (about 55 Python or JavaScript
/// components, whose entries are 35–37 MB; a Rust one is about 0.3 MB).
pub(super) const MAX_BYTES: u64 = 2 << 30;
/// Files used this recently are never removed to meet [`MAX_BYTES`]: the entry just written,
/// and what other processes are loading.
const IN_USE: Duration = Duration::from_secs(600);
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

    /// Removes this cache's files unused for [`UNUSED`] before `now`, then the least recently
    /// used ones beyond [`MAX_BYTES`] (module documentation). Returns how many were removed.
    pub(super) fn trim(&self, now: SystemTime) -> usize {
        self.trim_to(now, MAX_BYTES)
    }

    fn trim_to(&self, now: SystemTime, max_bytes: u64) -> usize {
        if !self.writable || self.dir == Path::new(SYSTEM_CACHE_DIR) {
            return 0;
        }
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return 0 };
        let remove = |path: &Path| match std::fs::remove_file(path) {
            Ok(()) => true,
            Err(err) => {
                tracing::debug!(file = %path.display(), "cannot trim the wasm precompile cache: {err}");
                false
            }
        };
        let (mut unused, mut over) = (0, 0);
        // What stays after the first pass: (last used, size, path).
        let mut kept = Vec::new();
        for e in dir.flatten() {
            let name = e.file_name();
            if !ours(&name.to_string_lossy()) {
                continue;
            }
            // Not followed: a link or anything but a regular file is not ours to judge.
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            if !m.file_type().is_file() {
                continue;
            }
            let used = last_used(&m);
            if now.duration_since(used).map_or(true, |d| d < UNUSED) {
                kept.push((used, m.len(), e.path()));
            } else if remove(&e.path()) {
                unused += 1;
            }
        }
        let mut total: u64 = kept.iter().map(|k| k.1).sum();
        if total > max_bytes {
            kept.sort();
            for (used, len, path) in kept {
                if total <= max_bytes || now.duration_since(used).map_or(true, |d| d < IN_USE) {
                    break;
                }
                if remove(&path) {
                    total -= len;
                    over += 1;
                }
            }
        }
        if unused + over > 0 {
            tracing::info!(
                dir = %self.dir.display(),
                unused,
                over_the_size_limit = over,
                limit_mib = max_bytes >> 20,
                "wasm precompile cache trimmed (files unused for 30 days; least recently used beyond the size limit)"
            );
        }
        unused + over
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

    #[test]
    fn beyond_the_size_limit_the_least_recently_used_go_first_and_files_in_use_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&tmp.path().join("c")).unwrap();
        let now = SystemTime::now();
        let file = |name: &str, len: usize, age: Duration| {
            let p = cache.dir.join(name);
            std::fs::write(&p, vec![0u8; len]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            let t = now - age;
            f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t)).unwrap();
            p
        };
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let oldest = file("a-1.entry", 400, hours(30));
        let older = file("a-2.entry", 300, hours(20));
        let record = file("source-1.json", 50, hours(10));
        let newer = file("a-3.entry", 300, hours(5));
        // Used within IN_USE: kept even though the limit is still exceeded.
        let in_use = file("a-4.entry", 500, Duration::from_secs(60));
        let foreign = file("notes.txt", 5000, hours(40));
        // 1550 bytes of ours, limit 900: the oldest go until 900 fit (850 left).
        assert_eq!(cache.trim_to(now, 900), 2);
        for p in [&oldest, &older] {
            assert!(!p.exists(), "{} was kept", p.display());
        }
        for p in [&record, &newer, &in_use, &foreign] {
            assert!(p.exists(), "{} was removed", p.display());
        }
        // Under the limit: nothing goes. Over it with only files in use left: they stay.
        assert_eq!(cache.trim_to(now, 900), 0);
        assert_eq!(cache.trim_to(now, 400), 2, "the record and the newer entry go, not the one in use");
        assert!(in_use.exists() && foreign.exists());
        assert_eq!(cache.trim_to(now, 1), 0);
        assert!(in_use.exists());
        // A read-only cache removes nothing, whatever its size.
        let big = file("a-5.entry", 2000, hours(3));
        assert_eq!(DiskCache { dir: cache.dir.clone(), writable: false }.trim_to(now, 1), 0);
        assert!(big.exists());
    }
}
