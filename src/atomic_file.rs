//! Atomic file replacement, the one copy: every state file hookhost rewrites (trust store,
//! rollback snapshots and records, the remote-settings cache, last known good, the WASM
//! precompile cache, shipping cursors, agent configs) goes through [`replace`].
//!
//! Promises: a reader sees the old bytes or the new bytes, never a mix; after `Ok` the new bytes
//! and the rename are on disk (the file and its directory are fsynced); the file's mode is the
//! one asked for, set on the open descriptor (not subject to the umask, never a path that could
//! be swapped); a failure leaves the old file as it was and no temporary file behind. A leaf:
//! imports nothing of ours.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode a replaced file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exactly these permission bits.
    Exact(u32),
    /// The permission bits of the file being replaced, or these when there is none.
    KeepOr(u32),
}

/// Replaces `path` with `bytes`: a temporary file in the same directory (name `.<prefix>…`),
/// mode per `mode`, owner `owner` when given (best effort: only root may give a file away),
/// written and fsynced, renamed over `path`, then the directory fsynced.
pub fn replace(path: &Path, bytes: &[u8], mode: Mode, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let bits = match mode {
        Mode::Exact(m) => m,
        Mode::KeepOr(m) => std::fs::metadata(path).map(|md| md.permissions().mode()).unwrap_or(m),
    } & 0o7777;
    // Created O_EXCL with a random name, mode 0600, and removed again if anything below fails.
    let mut tmp = tempfile::Builder::new().prefix(".hookhost-").tempfile_in(dir)?;
    if let Some((uid, gid)) = owner {
        // Best effort, before the mode (chown clears set-id bits).
        let _ = nix::unistd::fchown(
            tmp.as_file(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        );
    }
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(bits))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// fsyncs a directory, so that a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir)?.sync_all() {
        // Some filesystems cannot fsync a directory; the rename is still atomic.
        Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_with_the_mode_asked_and_leaves_nothing_behind() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        replace(&p, b"one", Mode::Exact(0o600), None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        replace(&p, b"two", Mode::KeepOr(0o600), None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640, "the old mode is kept");
        assert_ne!(std::fs::metadata(&p).unwrap().ino(), ino, "a new file renamed over, not rewritten in place");
        // An explicit mode is exact, whatever the umask.
        replace(&p, b"three", Mode::Exact(0o644), None).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(entries(d.path()), vec!["state.json".to_string()]);
    }

    #[test]
    fn a_failed_replace_keeps_the_old_file_and_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails after the temp file is written.
        let p = d.path().join("busy");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"x").unwrap();
        assert!(replace(&p, b"new", Mode::Exact(0o600), None).is_err());
        assert!(p.is_dir() && std::fs::read(p.join("inside")).unwrap() == b"x");
        assert_eq!(entries(d.path()), vec!["busy".to_string()], "the temporary file is removed");
        // A missing directory is an error, not a panic.
        assert!(replace(&d.path().join("no/such/file"), b"x", Mode::Exact(0o600), None).is_err());
    }

    #[test]
    fn the_owner_is_set_on_the_descriptor_when_root() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("owned");
        replace(&p, b"x", Mode::Exact(0o600), Some((4242, 4343))).unwrap();
        let md = std::fs::metadata(&p).unwrap();
        if nix::unistd::geteuid().is_root() {
            assert_eq!((md.uid(), md.gid()), (4242, 4343));
        } else {
            assert_eq!(md.uid(), nix::unistd::geteuid().as_raw(), "best effort: stays ours");
        }
    }
}
