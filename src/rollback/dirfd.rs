//! Files read and replaced through a held directory, never through a path that could have been
//! swapped since it was checked: what rollback uses to snapshot and restore (issues 17.10, 19.9).
//!
//! Owns: opening a directory by an absolute path with no symbolic link anywhere in it
//! ([`Dir::open`]: `openat2(RESOLVE_NO_SYMLINKS)`, else a walk of `openat(O_NOFOLLOW)` one
//! component at a time), its identity (device and inode, [`FileId`]), reading one entry without
//! following a link ([`Dir::read`]), and replacing or removing one entry atomically against the
//! identity and content the caller checked ([`Dir::replace`]: a new file written and fsynced in
//! the directory, swapped in with `renameat2(RENAME_EXCHANGE)`, the swapped-out entry verified
//! and swapped back on a mismatch; [`Dir::remove`]: renamed aside, verified, then unlinked).
//!
//! Promises: nothing here follows a symbolic link or writes into an existing inode (a hard link
//! to a file elsewhere is replaced as a directory entry, its inode is never written); owner and
//! mode are set on the new file's descriptor (`fchown`, `fchmod`), never by path; a FIFO or
//! device is never opened for blocking I/O (`O_NONBLOCK`, then refused as not a regular file); a
//! filesystem without `RENAME_EXCHANGE` gets no restore (an error), never a non-atomic one.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::{Mode, SFlag, fchmod, fstat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};
use serde::{Deserialize, Serialize};

use super::sha256_hex;

/// A file's or directory's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device {} inode {}", self.dev, self.ino)
    }
}

/// One regular file read through a [`Dir`].
#[derive(Debug, Clone)]
pub struct Entry {
    pub bytes: Vec<u8>,
    pub id: FileId,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub owner: (u32, u32),
}

impl Entry {
    /// What [`Dir::replace`] and [`Dir::remove`] check the entry against.
    pub fn expected(&self) -> Expected {
        Expected { id: self.id, len: self.bytes.len() as u64, sha256: sha256_hex(&self.bytes) }
    }
}

/// The entry a replace or remove expects to find: the one the caller read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub id: FileId,
    pub len: u64,
    pub sha256: String,
}

/// Why a read, replace or remove did nothing.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The entry (or a directory on the way to it) is a symbolic link.
    #[error("it is a symbolic link")]
    Symlink,
    #[error("it is not a regular file")]
    NotRegular,
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    /// The entry changed between the check and the swap: nothing was written (or it was put
    /// back).
    #[error("it changed while being replaced: {0}")]
    Changed(String),
    #[error("this filesystem cannot swap two files atomically (renameat2 RENAME_EXCHANGE: {0})")]
    NoExchange(Errno),
}

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// An open directory, held for the whole operation.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

const DIR_FLAGS: OFlag = OFlag::O_DIRECTORY.union(OFlag::O_RDONLY).union(OFlag::O_CLOEXEC).union(OFlag::O_NOFOLLOW);

impl Dir {
    /// Opens the absolute directory `path`, refusing if any component of it is a symbolic link
    /// (`ELOOP`, reported as [`DirError::Symlink`]) or `..`.
    pub fn open(path: &Path) -> Result<Dir, DirError> {
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return Err(DirError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: not an absolute path without `..`", path.display()),
            )));
        }
        let how = nix::fcntl::OpenHow::new().flags(DIR_FLAGS).resolve(nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS);
        let fd = match nix::fcntl::openat2(AT_FDCWD, path, how) {
            Ok(fd) => fd,
            // Kernels before 5.6 (or a seccomp filter) have no openat2: walk instead.
            Err(Errno::ENOSYS | Errno::EPERM) => Self::walk(path)?,
            Err(Errno::ELOOP) => return Err(DirError::Symlink),
            Err(Errno::ENOTDIR) => return Err(Self::walk(path).err().unwrap_or(DirError::Io(io(Errno::ENOTDIR)))),
            Err(e) => return Err(DirError::Io(io(e))),
        };
        Ok(Dir { fd, path: path.to_path_buf() })
    }

    /// [`Dir::open`] one component at a time, each `openat(O_NOFOLLOW | O_DIRECTORY)` relative
    /// to the one before.
    fn walk(path: &Path) -> Result<OwnedFd, DirError> {
        let mut fd = openat(AT_FDCWD, "/", DIR_FLAGS, Mode::empty()).map_err(|e| DirError::Io(io(e)))?;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(name) => {
                    fd = match openat(&fd, name, DIR_FLAGS, Mode::empty()) {
                        Ok(next) => next,
                        Err(Errno::ELOOP) => return Err(DirError::Symlink),
                        // O_DIRECTORY | O_NOFOLLOW on a link: ENOTDIR on some kernels.
                        Err(Errno::ENOTDIR) if is_symlink(&fd, name) => return Err(DirError::Symlink),
                        Err(e) => return Err(DirError::Io(io(e))),
                    };
                }
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(DirError::Io(std::io::Error::from(std::io::ErrorKind::InvalidInput)));
                }
            }
        }
        Ok(fd)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's identity.
    pub fn id(&self) -> Result<FileId, DirError> {
        let st = fstat(&self.fd).map_err(io)?;
        Ok(FileId { dev: st.st_dev, ino: st.st_ino })
    }

    /// Reads the regular file `name` in this directory without following a link; `Ok(None)`
    /// when there is no such entry.
    pub fn read(&self, name: &OsStr, cap: u64) -> Result<Option<Entry>, DirError> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = match openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(DirError::Symlink),
            Err(e) => return Err(DirError::Io(io(e))),
        };
        read_fd(fd, cap).map(Some)
    }

    /// Puts `bytes` (with `mode`, and `owner` where the process may give files away) at
    /// `name`, replacing the entry the caller checked (`expect`), or creating it when `expect`
    /// is `None` (then nothing may be there). Atomic: the new file is swapped in with
    /// `RENAME_EXCHANGE`; if what was swapped out is not `expect` (another file, a symbolic link,
    /// other content), it is swapped back and [`DirError::Changed`] returned.
    pub fn replace(
        &self,
        name: &OsStr,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
        expect: Option<&Expected>,
    ) -> Result<(), DirError> {
        let (tmp, fd) = self.create_temp()?;
        let written = (|| -> Result<(), DirError> {
            // Owner first: chown clears setuid/setgid, the mode is set after it.
            if let Some((uid, gid)) = owner {
                let _ = fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
            }
            fchmod(&fd, Mode::from_bits_truncate(mode & 0o7777)).map_err(io)?;
            let mut f = std::fs::File::from(fd.try_clone()?);
            f.write_all(bytes)?;
            fsync(&fd).map_err(io)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = unlinkat(&self.fd, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
        let Some(expect) = expect else {
            let r = renameat2(&self.fd, tmp.as_os_str(), &self.fd, name, RenameFlags::RENAME_NOREPLACE);
            if let Err(e) = r {
                let _ = unlinkat(&self.fd, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
                return Err(match e {
                    Errno::EEXIST => DirError::Changed("a file appeared where there was none".into()),
                    e => DirError::Io(io(e)),
                });
            }
            self.sync();
            return Ok(());
        };
        match renameat2(&self.fd, tmp.as_os_str(), &self.fd, name, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => {}
            Err(e) => {
                let _ = unlinkat(&self.fd, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
                return Err(match e {
                    Errno::ENOENT => DirError::Changed("it was removed".into()),
                    Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP => DirError::NoExchange(e),
                    e => DirError::Io(io(e)),
                });
            }
        }
        // `tmp` now names what was at `name` an instant ago: it must be what the caller checked.
        if let Err(why) = self.verify(&tmp, expect) {
            let back = renameat2(&self.fd, tmp.as_os_str(), &self.fd, name, RenameFlags::RENAME_EXCHANGE);
            let _ = unlinkat(&self.fd, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            self.sync();
            return Err(DirError::Changed(match back {
                Ok(()) => format!("{why}; it was put back and nothing was written"),
                Err(e) => format!("{why}; putting it back failed ({e})"),
            }));
        }
        unlinkat(&self.fd, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir).map_err(io)?;
        self.sync();
        Ok(())
    }

    /// Removes `name` if it still is the entry the caller checked: renamed aside (never
    /// following a link), verified, then unlinked; put back on a mismatch.
    pub fn remove(&self, name: &OsStr, expect: &Expected) -> Result<(), DirError> {
        let aside = self.temp_name(0);
        match renameat2(&self.fd, name, &self.fd, aside.as_os_str(), RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => {}
            Err(Errno::ENOENT) => return Err(DirError::Changed("it was removed".into())),
            Err(e) => return Err(DirError::Io(io(e))),
        }
        if let Err(why) = self.verify(&aside, expect) {
            let back = renameat2(&self.fd, aside.as_os_str(), &self.fd, name, RenameFlags::RENAME_NOREPLACE);
            return Err(DirError::Changed(match back {
                Ok(()) => format!("{why}; it was put back and nothing was removed"),
                Err(e) => format!("{why}; it is kept as {} ({e})", self.path.join(&aside).display()),
            }));
        }
        unlinkat(&self.fd, aside.as_os_str(), UnlinkatFlags::NoRemoveDir).map_err(io)?;
        self.sync();
        Ok(())
    }

    /// Clears `name` for a restore when it is not a regular file, never following it: what the
    /// agents' config guard does before it writes the accepted content back where something
    /// else was put. A symbolic link, FIFO, socket or device is unlinked (`Ok(None)`); a
    /// directory is renamed aside, kept, and its new name returned. Absent or a regular file:
    /// nothing is done (`Ok(None)`).
    pub fn clear_non_regular(&self, name: &OsStr) -> Result<Option<PathBuf>, DirError> {
        let st = match nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(DirError::Io(io(e))),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFREG {
            return Ok(None);
        }
        if kind == SFlag::S_IFDIR {
            let mut aside = name.to_os_string();
            aside.push(format!(".hookhost-aside-{}", self.temp_name(0).display()));
            renameat2(&self.fd, name, &self.fd, aside.as_os_str(), RenameFlags::RENAME_NOREPLACE).map_err(io)?;
            self.sync();
            return Ok(Some(self.path.join(aside)));
        }
        unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir).map_err(io)?;
        self.sync();
        Ok(None)
    }

    /// fsyncs the directory (best effort: the rename is already atomic; this makes it durable).
    pub fn sync(&self) {
        let _ = fsync(&self.fd);
    }

    /// Whether the entry `name` is `expect` (same inode, same content), read without following
    /// a link.
    fn verify(&self, name: &Path, expect: &Expected) -> Result<(), String> {
        match self.read(name.as_os_str(), expect.len) {
            Ok(Some(e)) if e.id == expect.id && sha256_hex(&e.bytes) == expect.sha256 => Ok(()),
            Ok(Some(e)) if e.id != expect.id => Err(format!("another file was put in its place ({})", e.id)),
            Ok(Some(_)) => Err("its content was changed".into()),
            Ok(None) => Err("it disappeared".into()),
            Err(DirError::Symlink) => Err("a symbolic link was put in its place".into()),
            Err(DirError::NotRegular) => Err("something that is not a regular file was put in its place".into()),
            Err(DirError::TooLarge(_)) => Err("its content was changed (it grew)".into()),
            Err(e) => Err(format!("it cannot be read back ({e})")),
        }
    }

    fn temp_name(&self, attempt: u32) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        PathBuf::from(format!(".hookhost-rollback-{}-{nanos:08x}-{attempt}", std::process::id()))
    }

    /// A new, empty, private file in this directory (`O_CREAT | O_EXCL | O_NOFOLLOW`).
    fn create_temp(&self) -> Result<(PathBuf, OwnedFd), DirError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut attempt = 0;
        loop {
            let name = self.temp_name(attempt);
            match openat(&self.fd, name.as_os_str(), flags, Mode::from_bits_truncate(0o600)) {
                Ok(fd) => return Ok((name, fd)),
                Err(Errno::EEXIST) if attempt < 16 => attempt += 1,
                Err(e) => return Err(DirError::Io(io(e))),
            }
        }
    }
}

/// Whether `name` in `dir` is a symbolic link (not followed).
fn is_symlink(dir: &OwnedFd, name: &OsStr) -> bool {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFLNK)
}

fn read_fd(fd: OwnedFd, cap: u64) -> Result<Entry, DirError> {
    let st = fstat(fd.as_fd()).map_err(io)?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(DirError::NotRegular);
    }
    let len = u64::try_from(st.st_size).unwrap_or(0);
    if len > cap {
        return Err(DirError::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
    std::fs::File::from(fd).take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(DirError::TooLarge(bytes.len() as u64));
    }
    Ok(Entry {
        bytes,
        id: FileId { dev: st.st_dev, ino: st.st_ino },
        mode: st.st_mode & 0o7777,
        owner: (st.st_uid, st.st_gid),
    })
}

/// `path` split into its directory and its last component (`None` for `/` or a relative path).
pub fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) if path.is_absolute() => Some((d, n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirfd_open_refuses_symlinks_anywhere_and_the_walk_agrees() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real/sub");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        assert!(Dir::open(&base.join("real/sub")).is_ok());
        assert!(Dir::walk(&base.join("real/sub")).is_ok());
        for p in [base.join("link/sub"), base.join("link")] {
            assert!(matches!(Dir::open(&p), Err(DirError::Symlink)), "{}", p.display());
            assert!(matches!(Dir::walk(&p), Err(DirError::Symlink)), "{}", p.display());
        }
        assert!(Dir::open(&base.join("real/../real")).is_err());
    }

    #[test]
    fn dirfd_replace_swaps_back_when_the_entry_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let victim = base.join("victim");
        std::fs::write(&victim, "victim").unwrap();
        std::fs::write(base.join("f"), "tool wrote").unwrap();
        let dir = Dir::open(&base).unwrap();
        let checked = dir.read(OsStr::new("f"), 1024).unwrap().unwrap();
        // Swapped for a symbolic link to the victim after the check.
        std::fs::remove_file(base.join("f")).unwrap();
        std::os::unix::fs::symlink(&victim, base.join("f")).unwrap();
        let r = dir.replace(OsStr::new("f"), b"restored", 0o644, None, Some(&checked.expected()));
        assert!(matches!(r, Err(DirError::Changed(_))), "{r:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
        assert!(std::fs::symlink_metadata(base.join("f")).unwrap().file_type().is_symlink(), "put back");
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 2, "no temp file left");
        // The entry as checked: replaced, mode set on the descriptor.
        std::fs::remove_file(base.join("f")).unwrap();
        std::fs::write(base.join("f"), "tool wrote").unwrap();
        let checked = dir.read(OsStr::new("f"), 1024).unwrap().unwrap();
        dir.replace(OsStr::new("f"), b"restored", 0o600, None, Some(&checked.expected())).unwrap();
        assert_eq!(std::fs::read_to_string(base.join("f")).unwrap(), "restored");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(base.join("f")).unwrap().permissions().mode() & 0o777, 0o600);
        // Remove: only the entry that was checked.
        let checked = dir.read(OsStr::new("f"), 1024).unwrap().unwrap();
        std::fs::write(base.join("f"), "changed").unwrap();
        assert!(matches!(dir.remove(OsStr::new("f"), &checked.expected()), Err(DirError::Changed(_))));
        assert_eq!(std::fs::read_to_string(base.join("f")).unwrap(), "changed");
        let checked = dir.read(OsStr::new("f"), 1024).unwrap().unwrap();
        dir.remove(OsStr::new("f"), &checked.expected()).unwrap();
        assert!(!base.join("f").exists());
        // A FIFO is never opened for blocking I/O.
        nix::unistd::mkfifo(&base.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(dir.read(OsStr::new("fifo"), 1024), Err(DirError::NotRegular)));
    }
}
