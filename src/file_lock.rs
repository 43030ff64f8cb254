//! Advisory file locks, through std (`File::lock`, `lock_shared`, `try_lock`,
//! `try_lock_shared`, stable since Rust 1.89): the one way hookhost locks a file.
//!
//! Promises:
//! - **flock(2) semantics.** On Linux std implements these with `flock(2)` (`LOCK_EX`,
//!   `LOCK_SH`, `| LOCK_NB`, `LOCK_UN` on the descriptor; seen with strace, and so documented
//!   by std's `File::lock`), the call nix's `Flock` made before. A lock is held by the open file
//!   description: a lock taken by this version excludes one taken by the previous version's
//!   binaries on the same file, and the other way round (a daemon and a one-shot `dispatch` of
//!   different versions still serialise). Descriptors are close-on-exec (std opens so), so a
//!   hook never inherits a lock.
//! - **Released on drop.** `FileLock` owns the locked `File`; dropping it unlocks and closes it.
//!   Lock a `try_clone` when the file must stay open (the clone shares the open file
//!   description, so the lock is the original's too).
//! - **Interruption handled.** A blocking lock interrupted by a signal (`EINTR`) is retried; it
//!   returns only holding the lock or with a real error, which callers treat as "not locked"
//!   (a gate that needs the lock fails closed: `live::lkg`).
//! - **Non-blocking** attempts say "held elsewhere" as `Ok(None)`, distinct from an error.
//!
//! A leaf: imports nothing of ours.

use std::fs::{File, TryLockError};
use std::io;

/// Shared (many readers) or exclusive (one writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; dropping it releases the lock and closes the file.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Waits for the lock on `file` (retrying when a signal interrupts the wait).
    pub fn lock(file: File, mode: Mode) -> io::Result<FileLock> {
        loop {
            let taken = match mode {
                Mode::Shared => file.lock_shared(),
                Mode::Exclusive => file.lock(),
            };
            match taken {
                Ok(()) => return Ok(FileLock { file }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the lock on `file` if nobody holds a conflicting one: `Ok(None)` when somebody does.
    pub fn try_lock(file: File, mode: Mode) -> io::Result<Option<FileLock>> {
        loop {
            let taken = match mode {
                Mode::Shared => file.try_lock_shared(),
                Mode::Exclusive => file.try_lock(),
            };
            match taken {
                Ok(()) => return Ok(Some(FileLock { file })),
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    /// The locked file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the last descriptor of the open file description releases the lock anyway;
        // unlocking first releases it now even if a clone of the descriptor lives on.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two open file descriptions of one file: they contend as two processes would.
    fn two(dir: &std::path::Path) -> (File, File) {
        let p = dir.join("l");
        let a = File::create(&p).unwrap();
        let b = File::open(&p).unwrap();
        (a, b)
    }

    #[test]
    fn exclusive_excludes_shared_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = two(d.path());
        let held = FileLock::lock(a, Mode::Exclusive).unwrap();
        let b2 = b.try_clone().unwrap();
        assert!(FileLock::try_lock(b, Mode::Shared).unwrap().is_none(), "exclusive excludes shared");
        assert!(FileLock::try_lock(b2.try_clone().unwrap(), Mode::Exclusive).unwrap().is_none());
        drop(held);
        let shared = FileLock::try_lock(b2, Mode::Shared).unwrap().expect("released on drop");
        // Shared locks coexist; an exclusive one waits for them.
        let c = File::open(d.path().join("l")).unwrap();
        let shared2 = FileLock::try_lock(c, Mode::Shared).unwrap().expect("shared with shared");
        let e = File::open(d.path().join("l")).unwrap();
        assert!(FileLock::try_lock(e.try_clone().unwrap(), Mode::Exclusive).unwrap().is_none());
        drop((shared, shared2));
        assert!(FileLock::try_lock(e, Mode::Exclusive).unwrap().is_some());
    }

    #[test]
    fn a_blocking_lock_waits_for_the_holder_in_another_process() {
        // The holder is a real other process: flock(1) holding the file for a moment.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        std::fs::write(&p, "").unwrap();
        let marker = d.path().join("released");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 9<'{}'; flock -x 9; echo held; sleep 0.5; touch '{}'", p.display(), marker.display()))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line, "held\n");
        assert!(FileLock::try_lock(File::open(&p).unwrap(), Mode::Shared).unwrap().is_none(), "held by the child");
        let held = FileLock::lock(File::open(&p).unwrap(), Mode::Exclusive).unwrap();
        assert!(marker.exists(), "the lock was taken only after the other process let go");
        drop(held);
        child.wait().unwrap();
    }

    #[test]
    fn the_lock_is_flock_and_holds_against_flock_1() {
        // A lock of ours, seen from flock(1) (flock(2), the previous versions' call): taken.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let held = FileLock::lock(File::create(&p).unwrap(), Mode::Shared).unwrap();
        let probe = |how: &str| {
            std::process::Command::new("flock").args([how, "-n"]).arg(&p).arg("true").status().unwrap().success()
        };
        assert!(!probe("-x"), "exclusive flock(2) refused while we hold a shared lock");
        assert!(probe("-s"), "shared flock(2) allowed beside our shared lock");
        drop(held);
        assert!(probe("-x"), "released on drop");
    }
}
