//! What a run leaves on the machine while it lives — its cgroup leaves and its temporary
//! directory — named after the process that owns them, and the sweep that kills and removes
//! those whose owner is gone (a host killed with SIGKILL, or that crashed, mid-hook).
//!
//! Names: `hookhost-<pid>-<start>-<n>` (cgroup leaves, below the host's own cgroups) and
//! `hookhost-run-<pid>-<start>-<random>` (temporary directories, 0700, in the host's
//! `TMPDIR`), where `<start>` is the owner's start time (`/proc/<pid>/stat`, in hex), so that a
//! pid reused by another process is not taken for the owner. The owner also holds an exclusive
//! `flock` on each of its temporary directories while the run lives.
//!
//! Promises: the sweep touches only entries whose owner is provably gone — no process with that
//! pid and start time, and for a directory also no lock held on it (an owner in another pid
//! namespace sharing `TMPDIR` keeps its lock), owned by this user — and nothing at all when
//! this process cannot read its own `/proc` entry. It kills whatever is left in an orphaned leaf
//! (`cgroup.kill`, else SIGKILL to each member) before removing it and the temporary
//! directories. It is bounded (entries examined, removals, time), so that it can run on a
//! warm-up thread beside a run without holding up the process.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::file_lock::{FileLock, Mode};

/// Prefix of every cgroup leaf.
pub(super) const LEAF_PREFIX: &str = "hookhost-";
/// Prefix of every run's temporary directory.
pub(super) const RUN_DIR_PREFIX: &str = "hookhost-run-";
/// Entries one sweep examines per directory, at most.
const MAX_ENTRIES: usize = 4096;
/// Orphans one sweep removes, at most.
const MAX_REMOVALS: usize = 64;
/// How long a leaf may take to empty once killed.
const LEAF_EMPTY_WAIT: Duration = Duration::from_millis(200);

/// `<pid>-<start>` of this process; `<start>` is 0 when `/proc` cannot tell (then nothing of
/// ours is ever swept by another process, and this process sweeps nothing).
fn owner_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}-{:x}", start_time(&pid.to_string()).ok().flatten().unwrap_or(0))
    })
}

/// The start time (field 22 of `/proc/<pid>/stat`); `Ok(None)` when the process does not
/// exist.
fn start_time(pid: &str) -> std::io::Result<Option<u64>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            after
                .split_whitespace()
                .nth(19)
                .and_then(|f| f.parse().ok())
                .map(Some)
                .ok_or_else(|| std::io::Error::other("unreadable /proc stat"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The name of this process's `n`-th cgroup leaf.
pub(super) fn leaf_name(n: u64) -> String {
    format!("{LEAF_PREFIX}{}-{n}", owner_tag())
}

/// A run's temporary directory (`HOME`, `TMPDIR`, working directory): mode 0700, locked while
/// the run lives, removed on drop.
pub(super) struct RunDir {
    // Fields drop in order: the directory is removed before its lock is released.
    dir: tempfile::TempDir,
    _lock: Option<FileLock>,
}

impl RunDir {
    pub(super) fn create() -> std::io::Result<RunDir> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{RUN_DIR_PREFIX}{}-", owner_tag()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // Close-on-exec (std opens so), and the child closes every fd above 2 anyway.
        let lock = File::open(dir.path()).ok().and_then(|f| FileLock::try_lock(f, Mode::Exclusive).ok().flatten());
        Ok(RunDir { dir, _lock: lock })
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Splits `<prefix><pid>-<start hex>-<rest>`.
fn owner_of(name: &str, prefix: &str) -> Option<(String, u64)> {
    let rest = name.strip_prefix(prefix)?;
    let mut it = rest.splitn(3, '-');
    let pid = it.next().filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
    let start = u64::from_str_radix(it.next()?, 16).ok()?;
    it.next()?;
    Some((pid.to_string(), start))
}

/// Whether the owner may still be alive (when in doubt: yes).
fn owner_alive(pid: &str, start: u64) -> bool {
    if start == 0 || pid == std::process::id().to_string() {
        return true;
    }
    match start_time(pid) {
        Ok(Some(s)) => s == start,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub leaves: usize,
    pub killed: usize,
    pub dirs: usize,
}

/// Sweeps unless a sweep of this process ran less than `interval` ago.
pub(super) fn sweep_if_due(interval: Duration, budget: Duration) -> Option<SweepReport> {
    {
        let mut last = LAST_SWEEP.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < interval) {
            return None;
        }
        *last = Some(Instant::now());
    }
    Some(sweep(budget))
}

/// When this process last swept.
static LAST_SWEEP: Mutex<Option<Instant>> = Mutex::new(None);

/// Whether `sweep_if_due(interval, …)` would sweep now (it decides again, atomically).
pub(super) fn sweep_due(interval: Duration) -> bool {
    !LAST_SWEEP.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| t.elapsed() < interval)
}

/// Kills and removes the cgroup leaves, then removes the temporary directories, of hookhost
/// processes that are gone (see the module doc), within `budget`.
pub fn sweep(budget: Duration) -> SweepReport {
    let start = Instant::now();
    let mut report = SweepReport::default();
    if owner_tag().ends_with("-0") {
        return report; // this process cannot read /proc: it cannot tell the living from the dead
    }
    let over = |r: &SweepReport| start.elapsed() > budget || r.leaves + r.dirs >= MAX_REMOVALS;
    let cg = &super::capabilities().cgroups;
    // The v2 leaf first: `cgroup.kill` there kills the run's every process, which the v1 leaves
    // of the same name hold too.
    let parents: Vec<&PathBuf> = cg.v2_dir.iter().chain(&cg.v1_pids).chain(&cg.v1_memory).collect();
    for parent in parents {
        let Ok(rd) = std::fs::read_dir(parent) else { continue };
        for e in rd.flatten().take(MAX_ENTRIES) {
            if over(&report) {
                break;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(RUN_DIR_PREFIX) {
                continue;
            }
            let Some((pid, owner_start)) = owner_of(&name, LEAF_PREFIX) else { continue };
            if owner_alive(&pid, owner_start) {
                continue;
            }
            let leaf = e.path();
            report.killed += kill_leaf(&leaf);
            if std::fs::remove_dir(&leaf).is_ok() {
                report.leaves += 1;
            }
        }
    }
    let me = nix::unistd::geteuid().as_raw();
    let tmp = std::env::temp_dir();
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten().take(MAX_ENTRIES) {
            if over(&report) {
                break;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((pid, owner_start)) = owner_of(&name, RUN_DIR_PREFIX) else { continue };
            // A real directory (not a symlink) of this user's, whose owner is gone and unlocked.
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
            if !meta.is_dir() || meta.uid() != me || owner_alive(&pid, owner_start) {
                continue;
            }
            let unlocked =
                File::open(e.path()).ok().and_then(|f| FileLock::try_lock(f, Mode::Exclusive).ok().flatten()).is_some();
            if unlocked && std::fs::remove_dir_all(e.path()).is_ok() {
                report.dirs += 1;
            }
        }
    }
    if report != SweepReport::default() {
        tracing::info!(
            leaves = report.leaves,
            killed = report.killed,
            dirs = report.dirs,
            elapsed_us = start.elapsed().as_micros() as u64,
            "sandbox: removed what hookhost processes that are gone left behind"
        );
    }
    report
}

/// Kills every process in `leaf` (`cgroup.kill` where it exists, else SIGKILL to each member)
/// and waits, bounded, for it to empty; returns how many processes were in it.
fn kill_leaf(leaf: &Path) -> usize {
    let members = || -> Vec<i32> {
        std::fs::read_to_string(leaf.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    };
    let found = members().len();
    if found == 0 {
        return 0;
    }
    let deadline = Instant::now() + LEAF_EMPTY_WAIT;
    loop {
        if std::fs::write(leaf.join("cgroup.kill"), "1").is_err() {
            for pid in members() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if members().is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        let tag = owner_tag();
        assert!(!tag.ends_with("-0"), "this process's start time is readable: {tag}");
        let leaf = leaf_name(7);
        let (pid, start) = owner_of(&leaf, LEAF_PREFIX).unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(owner_alive(&pid, start));
        assert_eq!(owner_of("hookhost-run-12-ab-x", RUN_DIR_PREFIX), Some(("12".into(), 0xab)));
        assert_eq!(owner_of("hookhost-run-12-ab", RUN_DIR_PREFIX), None);
        assert_eq!(owner_of("hookhost-x-ab-1", LEAF_PREFIX), None);
        assert_eq!(owner_of("hookhost-run-abcdef", RUN_DIR_PREFIX), None, "an older name without an owner");
        // Our own pid with another start time is a dead owner whose pid was reused; pid 1 with
        // its real start time is alive; a pid that cannot exist is dead.
        let init = start_time("1").unwrap().unwrap();
        assert!(owner_alive("1", init));
        assert!(!owner_alive("1", init + 1));
        assert!(!owner_alive("4194305", 5));
    }

    #[test]
    fn run_dirs_are_private_and_locked() {
        use std::os::unix::fs::PermissionsExt;
        let d = RunDir::create().unwrap();
        assert_eq!(std::fs::metadata(d.path()).unwrap().permissions().mode() & 0o7777, 0o700);
        let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{RUN_DIR_PREFIX}{}-", owner_tag())), "{name}");
        let again = File::open(d.path()).unwrap();
        assert!(FileLock::try_lock(again, Mode::Exclusive).unwrap().is_none(), "the run holds its lock");
        let p = d.path().to_path_buf();
        drop(d);
        assert!(!p.exists());
    }
}
