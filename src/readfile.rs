//! Reading a file hookhost decides by: one helper for "a bounded regular file", used for every
//! file on the decision path (settings of every scope, the last known good records, the trust
//! store, pinned scripts, WebAssembly components and their precompiled artifacts, the remote
//! settings cache and approvals, the audit log's files and the rollback snapshots).
//!
//! Promises, for every read:
//! - the file is opened with `O_NONBLOCK` (opening a FIFO or a device never waits for a peer)
//!   and, unless the caller allows links, `O_NOFOLLOW`; with [`Links::Beneath`] no component
//!   below the given root may be a symbolic link (each is opened with `O_NOFOLLOW` from the
//!   previous directory's descriptor), so a repository cannot point its settings anywhere;
//! - what was opened is checked on the open descriptor (`fstat`), not by path: anything but a
//!   regular file (a FIFO, `/dev/stdout`, `/dev/zero`, a directory, a socket) is refused, and
//!   so is a file whose size is over the caller's limit (a 2 GB sparse file is refused before a
//!   byte is read); the read itself stops at the limit too (a file that grows while read);
//! - the whole open-check-read runs under a deadline on a worker thread, so a file system that
//!   never answers (FUSE, a dead NFS server) costs the caller the deadline, not the event: the
//!   stuck worker is abandoned and the read is an error; a file mapped instead of read
//!   ([`map_with_metadata`], the precompile cache's entries) is mapped with its pages populated
//!   on that thread, under the same deadline;
//! - every refusal is a [`ReadError`] that names the path and what it is.
//!
//! It does not decide what a refusal means: callers turn it into a located settings error, a
//! `HookFailure` (`Load`, `Untrusted`) or a corrupt state record, and the event's failure policy
//! applies.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How long one read may take unless the caller says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// What symbolic links the path may contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Links {
    /// Follow links anywhere (the target must still be a regular file): managed files kept by
    /// configuration management, the user's dotfiles, scripts and components named by settings.
    Follow,
    /// The last component must not be a link (hookhost's own state and cache files).
    NoFollow,
    /// No component below this root may be a link (a repository's `.hookhost/` files). The path
    /// must start with the root.
    Beneath(PathBuf),
}

/// How a file is read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub links: Links,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
    pub deadline: Duration,
}

impl ReadOptions {
    pub fn new(links: Links, max_bytes: u64) -> Self {
        ReadOptions { links, max_bytes, deadline: DEFAULT_DEADLINE }
    }
}

/// Why a file could not be read. Displays as `<path>: <reason>`.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: no such file", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: is {what}, not a regular file", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{}: {}", path.display(), symlink_reason(path, at))]
    Symlink { path: PathBuf, at: PathBuf },
    #[error("{}: is {len} bytes, over the limit of {limit} bytes", path.display())]
    TooLarge { path: PathBuf, len: u64, limit: u64 },
    #[error("{}: could not be read within {:.1} s (the file system does not answer)", path.display(), deadline.as_secs_f64())]
    TimedOut { path: PathBuf, deadline: Duration },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn symlink_reason(path: &Path, at: &Path) -> String {
    if path == at {
        "is a symbolic link, which is not followed here".into()
    } else {
        format!("goes through a symbolic link ({}), which is not followed here", at.display())
    }
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound { path }
            | ReadError::NotRegular { path, .. }
            | ReadError::Symlink { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::TimedOut { path, .. }
            | ReadError::Io { path, .. } => path,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound { .. })
    }

    /// The reason without the path (for messages that name the path themselves).
    pub fn reason(&self) -> String {
        let full = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        full.strip_prefix(&prefix).map(str::to_string).unwrap_or(full)
    }
}

/// Reads the whole file. A missing file is [`ReadError::NotFound`].
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Vec<u8>, ReadError> {
    read_with_metadata(path, opts).map(|(b, _)| b)
}

/// [`read`], with the metadata of the descriptor that was read (owner, mode, identity: of
/// exactly the file whose bytes these are, not of whatever the path names later).
pub fn read_with_metadata(path: &Path, opts: &ReadOptions) -> Result<(Vec<u8>, std::fs::Metadata), ReadError> {
    let (p, o) = (path.to_path_buf(), opts.clone());
    run_with_deadline(path, opts.deadline, move || {
        let (mut f, meta) = open_checked(&p, &o)?;
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&mut f).take(o.max_bytes + 1).read_to_end(&mut buf).map_err(|e| io_err(&p, e))?;
        if buf.len() as u64 > o.max_bytes {
            return Err(ReadError::TooLarge { path: p, len: buf.len() as u64, limit: o.max_bytes });
        }
        Ok((buf, meta))
    })
}

/// [`read_with_metadata`], mapped instead of copied: `map` maps the checked descriptor's `len`
/// bytes (the precompile cache passes `exec::sandbox::MappedFile::map`: read-only, private,
/// populated, so the pages are in place within the deadline). For large files read whole once.
pub(crate) fn map_with_metadata<M: Send + 'static>(
    path: &Path,
    opts: &ReadOptions,
    map: fn(&File, usize) -> std::io::Result<M>,
) -> Result<(M, std::fs::Metadata), ReadError> {
    let (p, o) = (path.to_path_buf(), opts.clone());
    run_with_deadline(path, opts.deadline, move || {
        let (f, meta) = open_checked(&p, &o)?;
        let len = usize::try_from(meta.len()).map_err(|_| ReadError::TooLarge {
            path: p.clone(),
            len: meta.len(),
            limit: o.max_bytes,
        })?;
        let mapped = map(&f, len).map_err(|e| io_err(&p, e))?;
        Ok((mapped, meta))
    })
}

/// [`read`], with a missing file as `Ok(None)`.
pub fn read_optional(path: &Path, opts: &ReadOptions) -> Result<Option<Vec<u8>>, ReadError> {
    match read(path, opts) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading without waiting (a FIFO or a device is refused, never opened for
/// good) and returns the descriptor once `fstat` says it is a regular file, for callers that read
/// it in pieces (the audit log's files, rollback snapshots). No size limit and no deadline: a
/// caller that reads it bounds its own reads.
pub fn open_regular(path: &Path, links: Links) -> Result<File, ReadError> {
    open_checked(path, &ReadOptions::new(links, u64::MAX)).map(|(f, _)| f)
}

/// The lowercase hex SHA-256 of the file's bytes, streamed (the file is never held in memory).
pub fn sha256(path: &Path, opts: &ReadOptions) -> Result<String, ReadError> {
    let (p, o) = (path.to_path_buf(), opts.clone());
    run_with_deadline(path, opts.deadline, move || {
        let (f, _) = open_checked(&p, &o)?;
        let mut h = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut f = f.take(o.max_bytes + 1);
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n as u64;
                    h.update(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(&p, e)),
            }
        }
        if total > o.max_bytes {
            return Err(ReadError::TooLarge { path: p, len: total, limit: o.max_bytes });
        }
        Ok(format!("{:x}", h.finalize()))
    })
}

fn io_err(path: &Path, e: std::io::Error) -> ReadError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ReadError::NotFound { path: path.to_path_buf() }
    } else {
        ReadError::Io { path: path.to_path_buf(), source: e }
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens `path` per `opts.links` without blocking, and checks the descriptor: a regular file no
/// larger than the limit. Returns the file and its metadata.
fn open_checked(path: &Path, opts: &ReadOptions) -> Result<(File, std::fs::Metadata), ReadError> {
    let f = match &opts.links {
        Links::Follow => open_flags(path, 0)?,
        Links::NoFollow => open_flags(path, libc::O_NOFOLLOW)?,
        Links::Beneath(root) => open_beneath(root, path)?,
    };
    let meta = f.metadata().map_err(|e| io_err(path, e))?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular { path: path.to_path_buf(), what: kind_of(meta.file_type()) });
    }
    if meta.len() > opts.max_bytes {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), len: meta.len(), limit: opts.max_bytes });
    }
    Ok((f, meta))
}

fn open_flags(path: &Path, extra: libc::c_int) -> Result<File, ReadError> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | extra).open(path).map_err(
        |e| match e.raw_os_error() {
            Some(libc::ELOOP) if extra & libc::O_NOFOLLOW != 0 => {
                ReadError::Symlink { path: path.to_path_buf(), at: path.to_path_buf() }
            }
            _ => io_err(path, e),
        },
    )
}

/// Opens `path` (which must lie under `root`) one component at a time from `root`, each with
/// `O_NOFOLLOW`: no component below the root may be a symbolic link.
fn open_beneath(root: &Path, path: &Path) -> Result<File, ReadError> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let rel = path.strip_prefix(root).map_err(|_| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("not under {}", root.display())),
    })?;
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => Ok(s),
            _ => Err(ReadError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("the path has `.`, `..` or a root below the project directory"),
            }),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(ReadError::NotRegular { path: path.to_path_buf(), what: "a directory" });
    };
    let map = |e: nix::Error, at: &Path, is_dir: bool| -> ReadError {
        match e {
            nix::Error::ELOOP => ReadError::Symlink { path: path.to_path_buf(), at: at.to_path_buf() },
            // O_DIRECTORY|O_NOFOLLOW on a symlink to a directory is ENOTDIR on some kernels.
            nix::Error::ENOTDIR if is_dir => match std::fs::symlink_metadata(at) {
                Ok(m) if m.file_type().is_symlink() => {
                    ReadError::Symlink { path: path.to_path_buf(), at: at.to_path_buf() }
                }
                _ => {
                    ReadError::NotRegular { path: path.to_path_buf(), what: "below something that is not a directory" }
                }
            },
            nix::Error::ENOENT => ReadError::NotFound { path: path.to_path_buf() },
            e => ReadError::Io { path: path.to_path_buf(), source: std::io::Error::from(e) },
        }
    };
    let mut dir: std::os::fd::OwnedFd = std::fs::File::open(root).map_err(|e| io_err(path, e))?.into();
    let mut at = root.to_path_buf();
    for d in dirs {
        at.push(d);
        dir = openat(
            dir.as_fd(),
            *d,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| map(e, &at, true))?;
    }
    at.push(last);
    let fd = openat(
        dir.as_fd(),
        *last,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| map(e, &at, false))?;
    Ok(File::from(fd))
}

// ---------------------------------------------------------------------------------------------
// Deadline: a small pool of reader threads. A read that does not finish in time leaves its
// thread behind (it cannot be interrupted); the caller gets an error at the deadline.

type Job = Box<dyn FnOnce() + Send>;

/// Idle workers, each waiting for one job on its channel.
fn idle() -> &'static Mutex<Vec<mpsc::Sender<Job>>> {
    static IDLE: OnceLock<Mutex<Vec<mpsc::Sender<Job>>>> = OnceLock::new();
    IDLE.get_or_init(|| Mutex::new(Vec::new()))
}

/// At most this many idle workers are kept.
const MAX_IDLE: usize = 4;

fn worker() -> std::io::Result<mpsc::Sender<Job>> {
    if let Some(tx) = idle().lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() {
        return Ok(tx);
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let me = tx.clone();
    std::thread::Builder::new().name("hookhost-read".into()).spawn(move || {
        while let Ok(job) = rx.recv() {
            job();
            // Done in time or not, the worker is free again.
            let mut pool = idle().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() >= MAX_IDLE {
                return;
            }
            pool.push(me.clone());
        }
    })?;
    Ok(tx)
}

/// Runs `f` on a reader thread and waits at most `deadline` for it.
pub fn with_deadline<T: Send + 'static>(deadline: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (rtx, rrx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = rtx.send(f());
    });
    let tx = worker().ok()?;
    if let Err(mpsc::SendError(job)) = tx.send(job) {
        // That worker is gone (it exited): use a fresh one.
        worker().ok()?.send(job).ok()?;
    }
    rrx.recv_timeout(deadline).ok()
}

fn run_with_deadline<T: Send + 'static>(
    path: &Path,
    deadline: Duration,
    f: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    match with_deadline(deadline, f) {
        Some(r) => r,
        None => Err(ReadError::TimedOut { path: path.to_path_buf(), deadline }),
    }
}

/// For tests: runs `f` on a thread and fails the test if it has not returned within 20 s (far
/// longer than any answer takes: a FIFO opened for good would wait forever).
#[cfg(test)]
pub(crate) fn must_return<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what}: waited on (a FIFO opened for good?)"))
}

/// For tests: a FIFO at `path`.
#[cfg(test)]
pub(crate) fn plant_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_regular_opens_files_and_refuses_a_fifo_without_waiting() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("log");
        std::fs::write(&f, "x").unwrap();
        assert!(open_regular(&f, Links::NoFollow).is_ok());
        let fifo = t.path().join("fifo");
        plant_fifo(&fifo);
        let e = must_return("fifo", move || open_regular(&fifo, Links::Follow)).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(open_regular(&link, Links::NoFollow), Err(ReadError::Symlink { .. })));
    }

    fn opts(links: Links) -> ReadOptions {
        ReadOptions::new(links, 1024)
    }

    const MAP: fn(&File, usize) -> std::io::Result<crate::exec::sandbox::MappedFile> =
        crate::exec::sandbox::MappedFile::map;

    /// A mapped file holds exactly the file's bytes, and keeps them when the file is replaced
    /// by rename (as the precompile cache replaces entries) or removed; an empty file maps to
    /// no bytes; links, FIFOs and files over the limit are refused like a read refuses them.
    #[test]
    fn a_mapped_file_is_its_bytes_and_is_refused_like_a_read() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("entry");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&f, &bytes).unwrap();
        let (map, meta) = map_with_metadata(&f, &ReadOptions::new(Links::NoFollow, 1 << 20), MAP).unwrap();
        assert_eq!(meta.len(), bytes.len() as u64);
        assert_eq!(&map[..], &bytes[..]);
        let next = t.path().join("next");
        std::fs::write(&next, b"another entry").unwrap();
        std::fs::rename(&next, &f).unwrap();
        assert_eq!(&map[..], &bytes[..], "the mapped file is the one that was opened");
        std::fs::remove_file(&f).unwrap();
        assert_eq!(&map[..], &bytes[..]);
        drop(map);

        let empty = t.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(map_with_metadata(&empty, &opts(Links::NoFollow), MAP).unwrap().0.is_empty());
        let big = t.path().join("big");
        std::fs::write(&big, vec![0u8; 2048]).unwrap();
        assert!(matches!(map_with_metadata(&big, &opts(Links::NoFollow), MAP), Err(ReadError::TooLarge { .. })));
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&empty, &link).unwrap();
        assert!(matches!(map_with_metadata(&link, &opts(Links::NoFollow), MAP), Err(ReadError::Symlink { .. })));
        let fifo = t.path().join("fifo");
        plant_fifo(&fifo);
        let e =
            must_return("fifo", move || map_with_metadata(&fifo, &opts(Links::Follow), MAP).map(|_| ())).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }

    #[test]
    fn regular_files_read_and_everything_else_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("a.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(read(&f, &opts(Links::Follow)).unwrap(), b"{}");
        assert!(read(&t.path().join("missing"), &opts(Links::Follow)).unwrap_err().is_not_found());
        assert_eq!(read_optional(&t.path().join("missing"), &opts(Links::Follow)).unwrap(), None);
        // A FIFO: opened without waiting for a writer, refused.
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read(&fifo, &opts(Links::Follow)).unwrap_err();
        assert!(e.to_string().contains("fifo: is a FIFO"), "{e}");
        // A directory, /dev/zero, a sparse file over the limit.
        assert!(read(t.path(), &opts(Links::Follow)).unwrap_err().to_string().contains("is a directory"));
        let e = read(Path::new("/dev/zero"), &opts(Links::Follow)).unwrap_err();
        assert!(e.to_string().contains("/dev/zero: is a character device"), "{e}");
        let big = t.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(2 << 30).unwrap();
        let e = read(&big, &opts(Links::Follow)).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { len, .. } if len == 2 << 30), "{e}");
        assert!(matches!(sha256(&big, &opts(Links::Follow)).unwrap_err(), ReadError::TooLarge { .. }));
        // Links: followed to a regular file, refused as the last component, refused beneath.
        let link = t.path().join("link.json");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read(&link, &opts(Links::Follow)).unwrap(), b"{}");
        assert!(matches!(read(&link, &opts(Links::NoFollow)).unwrap_err(), ReadError::Symlink { .. }));
        let root = t.path().to_path_buf();
        assert!(matches!(read(&link, &opts(Links::Beneath(root.clone()))).unwrap_err(), ReadError::Symlink { .. }));
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::fs::write(t.path().join("real/s.json"), "{}").unwrap();
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("dirlink")).unwrap();
        assert_eq!(read(&t.path().join("real/s.json"), &opts(Links::Beneath(root.clone()))).unwrap(), b"{}");
        let e = read(&t.path().join("dirlink/s.json"), &opts(Links::Beneath(root.clone()))).unwrap_err();
        assert!(matches!(&e, ReadError::Symlink { at, .. } if at.ends_with("dirlink")), "{e}");
        assert!(e.to_string().contains("goes through a symbolic link"), "{e}");
        assert!(read(&t.path().join("real/none.json"), &opts(Links::Beneath(root))).unwrap_err().is_not_found());
        // A link to /dev/stdout (whatever stdout is here) is never read.
        let out = t.path().join("out.json");
        std::os::unix::fs::symlink("/dev/stdout", &out).unwrap();
        assert!(read(&out, &opts(Links::Follow)).is_err());
        assert_eq!(sha256(&f, &opts(Links::Follow)).unwrap(), format!("{:x}", Sha256::digest(b"{}")));
    }

    #[test]
    fn a_read_that_does_not_finish_is_abandoned_at_its_deadline() {
        let start = std::time::Instant::now();
        let r = with_deadline(Duration::from_millis(100), || std::thread::sleep(Duration::from_secs(60)));
        assert!(r.is_none());
        assert!(start.elapsed() < Duration::from_secs(30), "the caller was released at its deadline");
        // Later reads still work (a fresh worker).
        assert_eq!(with_deadline(Duration::from_secs(5), || 7), Some(7));
    }
}
