//! The tamper-evident audit log: an append-only, hash-chained JSON Lines file set that any number
//! of processes (a daemon and one-shot `hookhost dispatch` runs) append to, and `verify`, which
//! checks a whole rotated set and says whether it is intact, cut short by a crash, or tampered.
//!
//! # Record format (version 1)
//!
//! One JSON object per line, compact (no whitespace outside strings), UTF-8, ending in `\n`:
//!
//! ```text
//! {"v":1,"seq":7,"prev":"<64 hex>","time":"…","kind":"decision",…,"hash":"<64 hex>"}
//! ```
//!
//! `v` is [`FORMAT_VERSION`], `seq` counts records from 1 across the whole rotated set, `prev` is
//! the previous record's `hash` ([`GENESIS_PREV`], 64 zeros, for seq 1), then the caller's fields
//! in the caller's order, then `hash`. The hash is defined on bytes, not on a re-serialization:
//! the *canonical bytes* of a record are its line without the trailing `\n` and with the final
//! `,"hash":"<64 hex>"` removed, i.e. `serde_json::to_vec` of the object `{v, seq, prev, fields…}`
//! in that key order; `hash` is the lowercase hex SHA-256 of those bytes. A verifier therefore
//! checks the exact bytes on disk: changing any byte of a line (including escapes and number
//! spelling) changes the hash or makes the line unreadable.
//!
//! # Promises
//!
//! - **No interleaving, no forks.** Every append takes an exclusive `flock` on the sibling file
//!   `<log>.lock` (never renamed, so it survives rotation), reads the chain's tail, and writes the
//!   whole line with one `write(2)` on an `O_APPEND` descriptor. Writers in other processes, and
//!   other [`AuditLog`] handles in this one, are serialized; two records never share a `seq`.
//! - **Durability.** [`Fsync::Always`] fsyncs after every append; [`Fsync::Batched`] after every
//!   `every` appends of this handle, when the append is `durable`, on [`AuditLog::sync`] and on
//!   drop. An append that returns with [`AppendReceipt::synced`] survives power loss, together
//!   with every record before it. Rotation always fsyncs the old file and the directory.
//! - **Torn lines are not tampering.** A crash (power loss, a full disk, a SIGKILL landing
//!   between the pages of a write) can leave the last line without its `\n`. The next writer
//!   does not trust it: it finds the last complete record before it, terminates the fragment by
//!   starting its own write with `\n`, and continues the chain from that record (`seq` and `prev`
//!   as if the fragment were not there); if that append rotates, the fragment stays unterminated
//!   at the end of the rotated file. `verify` reports such a fragment as a [`TornLine`] at the
//!   `seq` position it would have had, and the report is [`Integrity::Truncated`], not
//!   [`Integrity::Tampered`]: a line that is not a record counts as torn exactly when the chain
//!   continues unbroken across it, or when it ends the set without a `\n`. A non-record line the
//!   chain does *not* continue across, or a `\n`-terminated one at the very end, is tampering,
//!   reported at that line. A line that has a record's shape is never skipped by a writer (it
//!   chains to the stored `hash`), so an edited record stays a hash mismatch forever.
//! - **Rotation by size.** Before an append that would push the current file past
//!   `max_bytes`, the file is renamed to `<log>.1` after shifting `<log>.N` to `<log>.N+1`
//!   (highest first, so no rename ever overwrites; a crash half-way leaves a gap in the numbers,
//!   which is harmless: files are ordered by number). The chain continues in the new file.
//!   Rotated files are never deleted by hookhost; deleting old ones makes `verify` report the
//!   missing head as a sequence gap.
//! - **Bounded lines.** No line is longer than `max_record_bytes`: the longest strings of the
//!   caller's fields are cut (to a common length, at a character boundary) and the record gets
//!   `"truncated":true`; if cutting strings is not enough, the largest nested values are replaced
//!   by `"[omitted N bytes]"`.
//!
//! What the chain alone cannot show: records removed from the *end* of the newest file, or a
//! whole set re-hashed after a record was removed or changed. That is what the anchor is for.
//!
//! # The anchor
//!
//! A log opened [`AuditLog::with_anchor`] keeps its chain's head, `{"v":1,"log":…,"seq":…,
//! "hash":…}` of the last record, in a separate small file, rewritten in place (one `pwrite`
//! of a space-padded, never shrinking text) under the log's lock, twice per append: before the record is written, naming
//! it as pending (`"next":{"seq":…,"hash":…}`), and after, as the new head (fsynced whenever
//! the record is; the first write too under [`Fsync::Always`]). A writer that dies in between
//! leaves a set that ends at the head or at exactly the pending record; both count as
//! anchored, and nothing else does. Under [`Fsync::Batched`] a power failure can still leave
//! an anchor that does not match the set (records lost before their fsync, or an anchor write
//! lost after the record's): it reads as a cut or a break.
//! Placed where the writers of the log cannot write (the admin's or the daemon's directory),
//! it makes cutting the tail or rewriting the chain visible to [`verify_anchored`]: the set must
//! end exactly at the anchored record, with the anchored hash. Before appending, a writer that
//! does not know the tail (another process wrote since) checks that the chain continues from the
//! anchor; if not, it does not bless the log as it found it: it first appends an *anchor break*
//! record (top-level field [`ANCHOR_BREAK_FIELD`], written by the log itself, reserved to it)
//! naming the anchor and the tail it found, and `verify` reports every break record as
//! tampering for as long as that set exists. An anchor that is not an anchor (garbage) is such
//! a break, then rewritten; one that cannot be opened, read or written (a directory, FIFO or
//! symlink at its path, no permission, a full disk) fails the append: the caller cannot
//! record. An
//! anchor only protects against those who can write the log but not the anchor: whoever can
//! write both can rewrite both.
//!
//! [`redact`] masks or removes fields of an event before it is logged.

mod options;
pub mod ship;

pub use options::AuditSettings;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::file_lock::{FileLock, Mode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `v` field of every record this module writes.
pub const FORMAT_VERSION: u64 = 1;

/// `prev` of the first record (seq 1): 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The smallest `max_record_bytes` accepted: room for the chain fields and a few caller fields.
pub const MIN_RECORD_BYTES: usize = 512;

/// Top-level fields the log writes itself; a caller's map must not contain them.
pub const RESERVED_FIELDS: [&str; 5] = ["v", "seq", "prev", "hash", ANCHOR_BREAK_FIELD];

/// The first field of an anchor break record (see [the anchor](self#the-anchor)).
pub const ANCHOR_BREAK_FIELD: &str = "anchor_break";

/// The largest anchor file read.
const MAX_ANCHOR_BYTES: u64 = 64 * 1024;

/// Set on a record whose fields were cut to fit `max_record_bytes`.
pub const TRUNCATED_FIELD: &str = "truncated";

const HASH_PREFIX: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex + `"}`: what a line ends with (before its `\n`).
const HASH_SUFFIX_LEN: usize = HASH_PREFIX.len() + 64 + 2;
const HEAD_PREFIX: &[u8] = b"{\"v\":";
const SEQ_KEY: &[u8] = b",\"seq\":";
const PREV_KEY: &[u8] = b",\"prev\":\"";
const READ_CHUNK: u64 = 64 * 1024;

/// When appends reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// fsync after every append.
    Always,
    /// fsync after every `every` appends of this handle, after a `durable` append, on
    /// [`AuditLog::sync`] and when the handle is dropped.
    Batched { every: u32 },
}

/// How an [`AuditLog`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    pub fsync: Fsync,
    /// Rotate before an append would make the current file larger than this; 0 never rotates.
    pub max_bytes: u64,
    /// The longest line (including its `\n`) an append may write; at least [`MIN_RECORD_BYTES`].
    pub max_record_bytes: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { fsync: Fsync::Batched { every: 64 }, max_bytes: 64 << 20, max_record_bytes: 256 << 10 }
    }
}

/// What went wrong writing or reading an audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("audit field {0:?} is written by the audit log itself; the caller may not set it")]
    ReservedField(String),
    #[error("audit record needs {needed} bytes even with its fields cut, more than max_record_bytes ({max})")]
    RecordTooLarge { needed: usize, max: usize },
    #[error("invalid audit options: {0}")]
    InvalidOptions(String),
    #[error("invalid redaction pointer {0:?}: a JSON pointer is empty or starts with '/'")]
    InvalidPointer(String),
    #[error("audit log {}: cannot continue the chain: {reason}", path.display())]
    Chain { path: PathBuf, reason: String },
    #[error("audit record fields cannot be serialized: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("audit anchor {}: {reason}", path.display())]
    Anchor { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.to_path_buf(), source }
}

/// What an append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReceipt {
    pub seq: u64,
    /// The record's `hash` (the next record's `prev`).
    pub hash: String,
    /// The record (and all before it) reached the disk before `append` returned.
    pub synced: bool,
    /// Fields were cut to fit `max_record_bytes` (the record carries `"truncated":true`).
    pub truncated: bool,
}

/// An open audit log. Cheap to share between threads (`&self` methods, one internal mutex);
/// any number of handles, in any number of processes, may append to the same path.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    options: AuditOptions,
    /// Where the chain's head is kept (see [the anchor](self#the-anchor)).
    anchor: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    lock: File,
    log: Option<Current>,
    /// Appends by this handle since its last fsync.
    unsynced: u32,
    /// A file was created or renamed since the directory was last fsynced.
    dir_dirty: bool,
}

/// The descriptor of the file at `path`, as of the last time we held the lock.
#[derive(Debug)]
struct Current {
    file: File,
    dev: u64,
    ino: u64,
    /// Where the chain stood after this handle's last append, checked before reuse.
    tail: Option<Tail>,
}

#[derive(Debug, Clone)]
struct Tail {
    end: u64,
    seq: u64,
    hash: String,
}

/// The chain's last complete record, as the next writer sees it.
struct Link {
    seq: u64,
    hash: String,
}

impl AuditLog {
    /// Opens (creating it and its directory if needed) the log at `path`, and its lock file
    /// `<path>.lock`.
    pub fn open(path: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        if options.max_record_bytes < MIN_RECORD_BYTES {
            return Err(AuditError::InvalidOptions(format!(
                "max_record_bytes {} is below the minimum {MIN_RECORD_BYTES}",
                options.max_record_bytes
            )));
        }
        if options.fsync == (Fsync::Batched { every: 0 }) {
            return Err(AuditError::InvalidOptions("Fsync::Batched needs every >= 1".into()));
        }
        if path.file_name().is_none() {
            return Err(AuditError::InvalidOptions(format!("{} does not name a file", path.display())));
        }
        let dir = parent_dir(&path);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = lock_path(&path);
        let lock = open_private_rw(&lock_path).map_err(io_err(&lock_path))?;
        check_regular(&lock, &lock_path)?;
        let log = AuditLog {
            path,
            options,
            anchor: None,
            state: Mutex::new(State { lock, log: None, unsynced: 0, dir_dirty: false }),
        };
        {
            let mut st = log.state.lock().unwrap_or_else(PoisonError::into_inner);
            let _held = flock(&st.lock, Mode::Exclusive).map_err(io_err(&lock_path))?;
            log.current(&mut st)?;
        }
        Ok(log)
    }

    /// Keeps the chain's head in `anchor` from now on (see [the anchor](self#the-anchor)),
    /// creating its directory (mode 0700) if needed.
    pub fn with_anchor(mut self, anchor: impl Into<PathBuf>) -> Result<AuditLog, AuditError> {
        let anchor = std::path::absolute(anchor.into()).map_err(io_err(&self.path))?;
        if anchor.file_name().is_none() {
            return Err(AuditError::InvalidOptions(format!("{} does not name a file", anchor.display())));
        }
        let dir = parent_dir(&anchor);
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(io_err(&dir))?;
        }
        self.anchor = Some(anchor);
        Ok(self)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The anchor file, if the log keeps one.
    pub fn anchor(&self) -> Option<&Path> {
        self.anchor.as_deref()
    }

    pub fn options(&self) -> &AuditOptions {
        &self.options
    }

    /// Appends one record made of `fields` (in their order) after `v`, `seq` and `prev`.
    /// `durable` forces an fsync before returning whatever the [`Fsync`] policy.
    pub fn append(&self, mut fields: Map<String, Value>, durable: bool) -> Result<AppendReceipt, AuditError> {
        if let Some(k) = RESERVED_FIELDS.iter().find(|k| fields.contains_key(**k)) {
            return Err(AuditError::ReservedField((*k).to_string()));
        }
        let mut body = serde_json::to_vec(&fields)?;
        let truncated = max_line_len(body.len()) > self.options.max_record_bytes;
        if truncated {
            cap_fields(&mut fields, self.options.max_record_bytes)?;
            body = serde_json::to_vec(&fields)?;
        }

        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let held = flock(&st.lock, Mode::Exclusive).map_err(|e| io_err(&lock_path(&self.path))(e))?;
        let result = self.append_locked(&mut st, &body, durable);
        drop(held);
        if result.is_err()
            && let Some(cur) = st.log.as_mut()
        {
            cur.tail = None;
        }
        let (seq, hash, synced) = result?;
        Ok(AppendReceipt { seq, hash, synced, truncated })
    }

    fn append_locked(&self, st: &mut State, body: &[u8], durable: bool) -> Result<(u64, String, bool), AuditError> {
        let path = &self.path;
        self.current(st)?;
        let (mut size, mut terminated, link, known) = {
            let cur = current_mut(st, path)?;
            let size = cur.file.metadata().map_err(io_err(path))?.len();
            let cached = match &cur.tail {
                Some(t) if t.end == size && tail_matches(&cur.file, t).map_err(io_err(path))? => {
                    Some(Link { seq: t.seq, hash: t.hash.clone() })
                }
                _ => None,
            };
            match cached {
                Some(link) => (size, true, link, true),
                None => {
                    let (link, terminated) = scan_tail(path, &cur.file, size)?;
                    (size, terminated, link, false)
                }
            }
        };
        let anchor_err = |anchor: &Path, what: &str, e: io::Error| AuditError::Anchor {
            path: anchor.to_path_buf(),
            reason: format!("cannot {what}: {e}"),
        };
        let anchor = match &self.anchor {
            Some(a) => Some((a.as_path(), open_anchor(a).map_err(|e| anchor_err(a, "open", e))?)),
            None => None,
        };
        // A tail this handle wrote itself continues from the anchor it wrote with it; any other
        // tail is checked against the anchor, and a break is recorded before anything else.
        let (anchor_break, base) = match (&anchor, known) {
            (Some((path, file)), false) => self.check_anchor(path, file, &link)?,
            _ => (None, ChainHead { seq: link.seq, hash: link.hash.clone() }),
        };
        let next = |seq: u64| {
            seq.checked_add(1).ok_or_else(|| AuditError::Chain {
                path: path.clone(),
                reason: format!("seq {seq} cannot be followed"),
            })
        };
        let mut lines = Vec::new();
        let (mut seq, mut prev) = (link.seq, link.hash.clone());
        if let Some(fields) = anchor_break {
            seq = next(seq)?;
            let (l, h) = build_line(seq, &prev, &serde_json::to_vec(&fields)?);
            lines.extend_from_slice(&l);
            prev = h;
        }
        seq = next(seq)?;
        let (line, hash) = build_line(seq, &prev, body);
        lines.extend_from_slice(&line);
        let line = lines;
        // Phase one: the anchor names the record about to be written as pending, so a writer
        // that dies between the record and the anchor leaves a state the next one recognises
        // (the set ends at the head or at exactly this record), and nothing else passes.
        let log_abs = std::path::absolute(path).map_err(io_err(path))?;
        let write = |head: &ChainHead, next: Option<ChainHead>, sync: bool| -> Result<(), AuditError> {
            let Some((path, file)) = &anchor else { return Ok(()) };
            let a = Anchor { v: FORMAT_VERSION, log: log_abs.clone(), seq: head.seq, hash: head.hash.clone(), next };
            write_anchor_to(file, &a, sync).map_err(|e| anchor_err(path, "write", e))
        };
        let sync = match self.options.fsync {
            Fsync::Always => true,
            Fsync::Batched { every } => durable || st.unsynced.saturating_add(1) >= every,
        };
        // Durable before the record only where every record is: a power failure between this
        // and the record's fsync is otherwise one way to leave a false break.
        write(&base, Some(ChainHead { seq, hash: hash.clone() }), self.options.fsync == Fsync::Always)?;
        let needed = line.len() as u64 + u64::from(!terminated);
        if self.options.max_bytes > 0 && size > 0 && size + needed > self.options.max_bytes {
            self.rotate(st)?;
            size = 0;
            terminated = true;
        }
        let cur = current_mut(st, path)?;
        let mut out = Vec::with_capacity(line.len() + 1);
        if !terminated {
            out.push(b'\n');
        }
        out.extend_from_slice(&line);
        // One write(2) of the whole buffer; `write_all` only loops on a short write (a full disk),
        // still under the lock, so no other writer can slip in between.
        (&cur.file).write_all(&out).map_err(io_err(path))?;
        cur.tail = Some(Tail { end: size + out.len() as u64, seq, hash: hash.clone() });
        st.unsynced = st.unsynced.saturating_add(1);
        if sync {
            self.sync_locked(st)?;
        }
        // Phase two: the record is the head.
        write(&ChainHead { seq, hash: hash.clone() }, None, sync)?;
        Ok((seq, hash, sync))
    }

    /// Compares the anchor with the tail `link` the next record would follow. The chain
    /// continues from it when the tail is its head, or the record it names as pending (a
    /// writer died between its record and the anchor); there is no anchor yet; then: no break,
    /// and the tail is the base of the next anchor. Otherwise: the fields of the break record
    /// to write first, and the anchor's own head stays the base until the append completes.
    /// An anchor that cannot be read, or that belongs to another log, is an error.
    fn check_anchor(
        &self,
        anchor: &Path,
        file: &File,
        link: &Link,
    ) -> Result<(Option<Map<String, Value>>, ChainHead), AuditError> {
        let tail = ChainHead { seq: link.seq, hash: link.hash.clone() };
        let (found, base) = match read_anchor_from(file) {
            Ok(None) => return Ok((None, tail)),
            Ok(Some(a)) => {
                let log = std::path::absolute(&self.path).map_err(io_err(&self.path))?;
                if a.log != log {
                    return Err(AuditError::Anchor {
                        path: anchor.to_path_buf(),
                        reason: format!("it anchors another log ({}), not {}", a.log.display(), log.display()),
                    });
                }
                let head = ChainHead { seq: a.seq, hash: a.hash.clone() };
                if head == tail || a.next.as_ref() == Some(&tail) {
                    return Ok((None, tail));
                }
                (serde_json::json!({"seq": a.seq, "hash": a.hash}), head)
            }
            Err(AnchorReadError::Invalid(reason)) => (serde_json::json!({ "unreadable": reason }), tail.clone()),
            Err(AnchorReadError::Io(e)) => {
                return Err(AuditError::Anchor { path: anchor.to_path_buf(), reason: format!("cannot read: {e}") });
            }
        };
        let message = format!(
            "the log did not continue from its anchor: it ended at seq {} (hash {}), the anchor {} said {}; \
             records were removed or rewritten (or lost in a crash before they reached the disk)",
            link.seq,
            link.hash,
            anchor.display(),
            found
        );
        let mut m = Map::new();
        m.insert(
            ANCHOR_BREAK_FIELD.into(),
            serde_json::json!({"anchor": found, "log": {"seq": link.seq, "hash": link.hash}}),
        );
        m.insert("kind".into(), "audit_anchor_break".into());
        m.insert("anchor_path".into(), anchor.to_string_lossy().into_owned().into());
        m.insert("message".into(), message.into());
        Ok((Some(m), base))
    }

    /// fsyncs what this handle appended (and the directory, if files were created or renamed).
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.sync_locked(&mut st)
    }

    fn sync_locked(&self, st: &mut State) -> Result<(), AuditError> {
        if let Some(cur) = &st.log {
            cur.file.sync_data().map_err(io_err(&self.path))?;
        }
        if st.dir_dirty {
            sync_dir(&self.path)?;
            st.dir_dirty = false;
        }
        st.unsynced = 0;
        Ok(())
    }

    /// Makes `st.log` the file now at `path` (opening or creating it when another writer rotated
    /// the old one away). Called with the lock held.
    fn current(&self, st: &mut State) -> Result<(), AuditError> {
        let path = &self.path;
        let on_disk = match std::fs::metadata(path) {
            Ok(m) => Some((m.dev(), m.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path)(e)),
        };
        if let (Some(cur), Some(id)) = (&st.log, on_disk)
            && (cur.dev, cur.ino) == id
        {
            return Ok(());
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(io_err(path))?;
        check_regular(&file, path)?;
        let meta = file.metadata().map_err(io_err(path))?;
        if on_disk.is_none() {
            st.dir_dirty = true;
        }
        st.log = Some(Current { file, dev: meta.dev(), ino: meta.ino(), tail: None });
        Ok(())
    }

    /// Renames the current file to `<path>.1` (shifting older ones up) and opens a new one. A
    /// torn fragment at the end of the old file stays as it is (unterminated): `verify` reports
    /// it as torn whether or not a record follows in the new file.
    fn rotate(&self, st: &mut State) -> Result<(), AuditError> {
        let path = &self.path;
        // The new file's first record chains to this one's last: both must survive together.
        current_mut(st, path)?.file.sync_data().map_err(io_err(path))?;
        let rotated = rotated_files(path)?;
        for (n, old) in rotated.iter().rev() {
            let new = rotated_path(path, n + 1);
            std::fs::rename(old, &new).map_err(io_err(old))?;
        }
        std::fs::rename(path, rotated_path(path, 1)).map_err(io_err(path))?;
        st.log = None;
        self.current(st)?;
        sync_dir(path)?;
        st.dir_dirty = false;
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if st.unsynced == 0 && !st.dir_dirty {
            return;
        }
        if let Some(cur) = &st.log
            && let Err(e) = cur.file.sync_data()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "audit log: fsync on close failed");
        }
        if st.dir_dirty
            && let Err(e) = sync_dir(&self.path)
        {
            tracing::warn!(error = %e, "audit log: directory fsync on close failed");
        }
    }
}

/// Opens read-write, creating it 0600, one of hookhost's own files (a lock file, the anchor):
/// never through a symbolic link, never waited on, not inherited by children. Also the audit
/// shipper's cursor locks.
pub(crate) fn open_private_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Opens one of the log's files (the current one or a rotated one) for reading: never waited on
/// (a FIFO planted in the log's directory is refused, not opened for good), a regular file only.
fn open_log_file(path: &Path) -> Result<File, AuditError> {
    crate::readfile::open_regular(path, crate::readfile::Links::Follow).map_err(|e| match e {
        crate::readfile::ReadError::Io { path, source } => AuditError::Io { path, source },
        e => io_err(path)(io::Error::new(io::ErrorKind::InvalidInput, e.reason())),
    })
}

/// Refuses a descriptor that is not a regular file (a FIFO or device at the log path would
/// block or swallow records).
fn check_regular(file: &File, path: &Path) -> Result<(), AuditError> {
    let meta = file.metadata().map_err(io_err(path))?;
    if meta.file_type().is_file() {
        Ok(())
    } else {
        Err(io_err(path)(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")))
    }
}

/// The head of a chain, as kept in an anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub v: u64,
    /// The log (absolute path) whose head this is.
    pub log: PathBuf,
    /// `seq` and `hash` of its last record.
    pub seq: u64,
    pub hash: String,
    /// The record a writer is appending (set before it writes, cleared after): a set that ends
    /// at exactly this record is anchored too (the writer died before it could say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<ChainHead>,
}

/// A record's place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// Why an anchor file could not be used.
#[derive(Debug)]
enum AnchorReadError {
    /// It could not be read (permission, I/O): nothing is known.
    Io(io::Error),
    /// It was read and is not an anchor (not a regular file, too large, not the format).
    Invalid(String),
}

/// Reads the anchor at `path` (`None` when there is none, or it is empty): not following a
/// symlink, not blocking on a FIFO, at most [`MAX_ANCHOR_BYTES`].
fn read_anchor(path: &Path) -> Result<Option<Anchor>, AnchorReadError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(AnchorReadError::Invalid("it is a symbolic link".into()));
        }
        Err(e) => return Err(AnchorReadError::Io(e)),
    };
    read_anchor_from(&file)
}

/// Reads the anchor in `file` (`None` when it is empty).
fn read_anchor_from(file: &File) -> Result<Option<Anchor>, AnchorReadError> {
    let meta = file.metadata().map_err(AnchorReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(AnchorReadError::Invalid("not a regular file".into()));
    }
    if meta.len() > MAX_ANCHOR_BYTES {
        return Err(AnchorReadError::Invalid(format!("larger than {MAX_ANCHOR_BYTES} bytes")));
    }
    let mut text = vec![0u8; meta.len() as usize];
    file.read_exact_at(&mut text, 0).map_err(AnchorReadError::Io)?;
    if text.is_empty() {
        return Ok(None);
    }
    let a: Anchor =
        serde_json::from_slice(&text).map_err(|e| AnchorReadError::Invalid(format!("not an anchor: {e}")))?;
    if a.v != FORMAT_VERSION
        || !is_hash(a.hash.as_bytes())
        || a.next.as_ref().is_some_and(|n| !is_hash(n.hash.as_bytes()))
    {
        return Err(AnchorReadError::Invalid("not an anchor of this format".into()));
    }
    Ok(Some(a))
}

/// Opens (creating it, mode 0600) the anchor at `path` for an append: a regular file, not
/// through a symlink, never blocking.
fn open_anchor(path: &Path) -> io::Result<File> {
    let file = open_private_rw(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

/// Rewrites the anchor in place with one `pwrite` at offset 0 (under the log's lock, so no
/// reader sees it half-written): the JSON, padded with spaces to a multiple of 512 bytes and at
/// least the file's length (the file never shrinks, no old bytes remain), ending in `\n`.
/// `sync`: fdatasync.
fn write_anchor_to(file: &File, anchor: &Anchor, sync: bool) -> io::Result<()> {
    let mut text = serde_json::to_vec(anchor).map_err(io::Error::other)?;
    let len = (text.len() + 1).next_multiple_of(512).max(file.metadata()?.len() as usize);
    text.resize(len - 1, b' ');
    text.push(b'\n');
    file.write_all_at(&text, 0)?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

fn current_mut<'a>(st: &'a mut State, path: &Path) -> Result<&'a mut Current, AuditError> {
    st.log.as_mut().ok_or_else(|| AuditError::Chain { path: path.to_path_buf(), reason: "log file is not open".into() })
}

/// Waits for the lock (`mode`) on a duplicate of `file`'s descriptor (same open file
/// description, so the lock is this handle's); dropping the guard unlocks.
fn flock(file: &File, mode: Mode) -> io::Result<FileLock> {
    FileLock::lock(file.try_clone()?, mode)
}

/// The audit log file: managed `audit.path`, else `$XDG_STATE_HOME/hookhost/audit.jsonl`
/// (`~/.local/state/hookhost/audit.jsonl`).
pub fn configured_path(a: &AuditSettings) -> Option<PathBuf> {
    if let Some(p) = &a.path {
        return Some(p.clone());
    }
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let state = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local/state")))?;
    Some(state.join("hookhost").join("audit.jsonl"))
}

/// The anchor of the configured log: managed `audit.anchor`, else `<log>.anchor`.
pub fn configured_anchor(a: &AuditSettings) -> Option<PathBuf> {
    a.anchor.clone().or_else(|| configured_path(a).map(|p| default_anchor(&p)))
}

/// The anchor of a log no setting names one for: `<log>.anchor`.
pub fn default_anchor(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_os_string();
    s.push(".anchor");
    PathBuf::from(s)
}

/// Opens the audit log managed settings ask for, anchored (`None` when auditing is disabled or
/// no path is known; the error is the reason, for the user). Creates the directory with mode
/// 0700.
pub fn open_configured(a: &AuditSettings) -> Result<Option<AuditLog>, String> {
    if !a.enabled {
        return Ok(None);
    }
    let Some(path) = configured_path(a) else { return Ok(None) };
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let defaults = AuditOptions::default();
    let options = AuditOptions {
        fsync: if a.fsync_always { Fsync::Always } else { defaults.fsync },
        max_bytes: a.max_bytes.unwrap_or(defaults.max_bytes),
        max_record_bytes: a.max_record_bytes.unwrap_or(defaults.max_record_bytes),
    };
    let anchor = a.anchor.clone().unwrap_or_else(|| default_anchor(&path));
    AuditLog::open(&path, options).and_then(|log| log.with_anchor(anchor)).map(Some).map_err(|e| e.to_string())
}

/// The sibling lock file of a log: `<path>.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// The `n`th rotated file of a log: `<path>.<n>` (1 is the newest).
pub fn rotated_path(path: &Path, n: u64) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(path: &Path) -> Result<(), AuditError> {
    let dir = parent_dir(path);
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err(&dir))
}

/// The rotated files of a log that exist, `(n, path)` by ascending `n` (newest first).
fn rotated_files(path: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let dir = parent_dir(path);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Err(AuditError::InvalidOptions(format!("{} is not a UTF-8 file name", path.display())));
    };
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let file_name = entry.file_name();
        let Some(n) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|d| !d.is_empty() && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, rotated_path(path, n)));
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Every file of a log's set, oldest first: `<path>.N` … `<path>.1`, then `<path>` itself
/// (each only if it exists).
pub fn log_files(path: impl AsRef<Path>) -> Result<Vec<PathBuf>, AuditError> {
    let path = path.as_ref();
    let mut files: Vec<PathBuf> = rotated_files(path)?.into_iter().rev().map(|(_, p)| p).collect();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Lines and hashes

use crate::digest::sha256_hex;

fn is_hash(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The line (with `\n`) of record `seq` after `prev`, and its hash. `body` is the caller's
/// fields serialized as one compact JSON object.
fn build_line(seq: u64, prev: &str, body: &[u8]) -> (Vec<u8>, String) {
    let mut line = Vec::with_capacity(body.len() + 200);
    line.extend_from_slice(HEAD_PREFIX);
    line.extend_from_slice(FORMAT_VERSION.to_string().as_bytes());
    line.extend_from_slice(SEQ_KEY);
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(PREV_KEY);
    line.extend_from_slice(prev.as_bytes());
    line.push(b'"');
    if body.len() > 2 {
        line.push(b',');
        line.extend_from_slice(&body[1..]);
    } else {
        line.push(b'}');
    }
    let hash = sha256_hex(&line);
    line.pop();
    line.extend_from_slice(HASH_PREFIX);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    (line, hash)
}

/// The longest line a record can take whose caller fields serialize to `body_len` bytes
/// (`seq` taken at its widest, 20 digits).
fn max_line_len(body_len: usize) -> usize {
    let head = HEAD_PREFIX.len() + FORMAT_VERSION.to_string().len() + SEQ_KEY.len() + 20 + PREV_KEY.len() + 64 + 1;
    let fields = if body_len > 2 { body_len - 1 } else { 0 };
    head + fields + HASH_SUFFIX_LEN + 1
}

/// A line that has the shape of a record (whatever its chain position).
#[derive(Debug)]
struct Parsed {
    v: u64,
    seq: u64,
    prev: String,
    /// The `hash` written in the line.
    hash: String,
    /// SHA-256 of the line's canonical bytes.
    computed: String,
    /// The record is an anchor break the log wrote (its first field is [`ANCHOR_BREAK_FIELD`]).
    anchor_break: bool,
}

#[derive(Deserialize)]
struct Head {
    v: u64,
    seq: u64,
    prev: String,
}

/// Reads a line (without its `\n`) as a record; the error says why it is not one.
fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return Err("not a record line".into());
    }
    let at = line.len() - HASH_SUFFIX_LEN;
    let hash = &line[at + HASH_PREFIX.len()..line.len() - 2];
    if &line[at..at + HASH_PREFIX.len()] != HASH_PREFIX || !is_hash(hash) {
        return Err("no \"hash\" at the end of the line".into());
    }
    let mut canonical = Vec::with_capacity(at + 1);
    canonical.extend_from_slice(&line[..at]);
    canonical.push(b'}');
    let head: Head = serde_json::from_slice(&canonical).map_err(|e| format!("not a record: {e}"))?;
    if !is_hash(head.prev.as_bytes()) {
        return Err("\"prev\" is not a hex SHA-256".into());
    }
    // The log writes a break record's reserved field first, right after `prev`, in its own
    // spelling of the head.
    let head_len = format!("{{\"v\":{},\"seq\":{},\"prev\":\"{}\"", head.v, head.seq, head.prev).len();
    let break_key = format!(",\"{ANCHOR_BREAK_FIELD}\":");
    let anchor_break = canonical.get(head_len..).is_some_and(|rest| rest.starts_with(break_key.as_bytes()));
    Ok(Parsed {
        v: head.v,
        seq: head.seq,
        prev: head.prev,
        hash: String::from_utf8_lossy(hash).into_owned(),
        computed: sha256_hex(&canonical),
        anchor_break,
    })
}

/// Whether `file` still ends with the line this handle wrote last (`…"hash":"<tail.hash>"}\n`).
fn tail_matches(file: &File, tail: &Tail) -> io::Result<bool> {
    let len = 64 + 3;
    if tail.end < len as u64 {
        return Ok(false);
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, tail.end - len as u64)?;
    Ok(&buf[..64] == tail.hash.as_bytes() && &buf[64..] == b"\"}\n")
}

/// Lines of a file from the last to the first, without their `\n`.
struct RevLines<'a> {
    file: &'a File,
    /// Bytes before `pos` are not read yet; `buf` holds `[pos, end of the current line)`.
    pos: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<'a> RevLines<'a> {
    /// Also says whether the file ends with `\n` (an empty file counts as terminated).
    fn new(file: &'a File, size: u64) -> io::Result<(Self, bool)> {
        if size == 0 {
            return Ok((RevLines { file, pos: 0, buf: Vec::new(), done: true }, true));
        }
        let mut last = [0u8];
        file.read_exact_at(&mut last, size - 1)?;
        let terminated = last[0] == b'\n';
        let pos = if terminated { size - 1 } else { size };
        Ok((RevLines { file, pos, buf: Vec::new(), done: false }, terminated))
    }

    fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.buf.iter().rposition(|b| *b == b'\n') {
                let line = self.buf.split_off(i + 1);
                self.buf.truncate(i);
                return Ok(Some(line));
            }
            if self.pos == 0 {
                if self.done {
                    return Ok(None);
                }
                self.done = true;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            let n = READ_CHUNK.min(self.pos);
            let mut chunk = vec![0u8; n as usize];
            self.file.read_exact_at(&mut chunk, self.pos - n)?;
            self.pos -= n;
            chunk.extend_from_slice(&self.buf);
            self.buf = chunk;
        }
    }
}

/// The chain's last record: the last line with a record's shape in the current file, else in
/// the newest rotated file that has one, else the genesis. Lines that are not records (torn
/// writes) are skipped. The stored `hash` is used as is, so a tampered tail stays detectable.
/// Also says whether the current file ends with `\n`.
fn scan_tail(path: &Path, current: &File, size: u64) -> Result<(Link, bool), AuditError> {
    let (mut lines, terminated) = RevLines::new(current, size).map_err(io_err(path))?;
    if let Some(link) = last_record(&mut lines).map_err(io_err(path))? {
        return Ok((link, terminated));
    }
    for (_, rotated) in rotated_files(path)? {
        let file = open_log_file(&rotated)?;
        let len = file.metadata().map_err(io_err(&rotated))?.len();
        let (mut lines, _) = RevLines::new(&file, len).map_err(io_err(&rotated))?;
        if let Some(link) = last_record(&mut lines).map_err(io_err(&rotated))? {
            return Ok((link, terminated));
        }
    }
    Ok((Link { seq: 0, hash: GENESIS_PREV.to_string() }, terminated))
}

fn last_record(lines: &mut RevLines<'_>) -> io::Result<Option<Link>> {
    while let Some(line) = lines.next_line()? {
        if let Ok(p) = parse_line(&line) {
            return Ok(Some(Link { seq: p.seq, hash: p.hash }));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Verification

/// The verdict of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Every line is a record and the chain is unbroken.
    Intact,
    /// The chain is unbroken, but there are torn lines (writes cut short by a crash).
    Truncated,
    /// A record was changed, removed, inserted or moved (see [`VerifyReport::problem`]).
    Tampered,
}

/// A line that is not a record but breaks nothing: a write cut short by a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: u64,
    /// The seq the record would have had (the next record takes it).
    pub seq: u64,
    pub bytes: usize,
    /// A later writer terminated it and continued the chain (else it is the unterminated end).
    pub recovered: bool,
}

/// How a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The stored `hash` is not the SHA-256 of the line's canonical bytes (the line was edited).
    HashMismatch { stored: String, computed: String },
    /// `prev` is not the previous record's `hash` (a record before it was replaced or removed).
    PrevMismatch { expected: String, found: String },
    /// Records are missing: the next seq should have been `expected`.
    SeqGap { expected: u64, found: u64 },
    /// Records are out of order (moved or replayed).
    Reordered { expected: u64, found: u64 },
    /// The line is not a record and the chain does not continue across it.
    Unparsable { reason: String },
    /// A record of a format version this build does not know.
    UnsupportedVersion { v: u64 },
}

/// The first record that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: u64,
    /// The seq at this position of the chain (the record's own seq field may be damaged).
    pub seq: u64,
    pub kind: ProblemKind,
}

/// What [`verify`] found. `Display` is the text of `hookhost audit verify FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The files checked, oldest first.
    pub files: Vec<PathBuf>,
    /// Records verified (before the problem, if any).
    pub records: u64,
    /// The last verified record's seq and hash.
    pub last: Option<(u64, String)>,
    /// Torn lines, in file order.
    pub torn: Vec<TornLine>,
    /// The first break in the chain; verification stops there.
    pub problem: Option<Problem>,
    /// Anchor break records in the chain (verified before the problem, if any).
    pub breaks: Vec<AnchorBreak>,
    /// The anchor the set was checked against, if one was asked for.
    pub anchor: Option<AnchorCheck>,
}

/// An anchor break record: when it was written, the log did not continue from its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorBreak {
    pub file: PathBuf,
    pub line: u64,
    pub seq: u64,
    /// The record's `message`.
    pub message: String,
}

/// How the set compares with its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCheck {
    pub path: PathBuf,
    /// Owner uid and permission bits of the anchor file (who can rewrite it).
    pub owner: Option<(u32, u32)>,
    pub status: AnchorStatus,
}

/// The verdict of the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorStatus {
    /// The set ends exactly at the anchored record.
    Matches { seq: u64 },
    /// There is no anchor file: a cut at the end cannot be told from a log that ends there.
    Missing,
    /// The anchor file is not an anchor (or not of this log).
    Invalid { reason: String },
    /// The set ends before the anchored record: records were cut off the end (or lost in a
    /// crash before they reached the disk).
    Cut { anchored: u64, last: u64 },
    /// The anchored record has another hash in the set: the chain was rewritten.
    Rewritten { seq: u64, anchored: String, found: String },
    /// Records follow the anchored one: written by someone who does not keep the anchor.
    Unanchored { anchored: u64, last: u64 },
    /// The chain breaks before the anchored record: see the problem.
    NotReached { anchored: u64 },
}

impl AnchorStatus {
    /// Whether this status is evidence of tampering.
    pub fn is_problem(&self) -> bool {
        !matches!(self, AnchorStatus::Matches { .. } | AnchorStatus::Missing | AnchorStatus::NotReached { .. })
    }
}

impl fmt::Display for AnchorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnchorStatus::Matches { seq } => write!(f, "the set ends at the anchored record (seq {seq})"),
            AnchorStatus::Missing => {
                write!(f, "no anchor file: a cut at the end of the log or a re-hashed chain cannot be detected")
            }
            AnchorStatus::Invalid { reason } => write!(f, "the anchor is unusable: {reason}"),
            AnchorStatus::Cut { anchored, last } => write!(
                f,
                "cut short: the anchor says the log reaches seq {anchored}, the set ends at seq {last} \
                 (records {}..={anchored} were removed, or lost in a crash before they reached the disk)",
                last + 1
            ),
            AnchorStatus::Rewritten { seq, anchored, found } => write!(
                f,
                "rewritten: record {seq} has hash {found}, the anchor says {anchored} (the chain was re-hashed)"
            ),
            AnchorStatus::Unanchored { anchored, last } => write!(
                f,
                "records {}..={last} follow the anchored record (seq {anchored}): appended by a writer that does \
                 not keep this anchor",
                anchored + 1
            ),
            AnchorStatus::NotReached { anchored } => {
                write!(f, "not checked: the chain breaks before the anchored record (seq {anchored})")
            }
        }
    }
}

impl VerifyReport {
    pub fn integrity(&self) -> Integrity {
        if self.problem.is_some()
            || !self.breaks.is_empty()
            || self.anchor.as_ref().is_some_and(|a| a.status.is_problem())
        {
            Integrity::Tampered
        } else if self.torn.is_empty() {
            Integrity::Intact
        } else {
            Integrity::Truncated
        }
    }

    /// No tampering (a torn tail is allowed).
    pub fn is_trustworthy(&self) -> bool {
        self.integrity() != Integrity::Tampered
    }
}

fn file_label(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::HashMismatch { stored, computed } => {
                write!(f, "hash mismatch: the record was altered (stored {stored}, computed {computed})")
            }
            ProblemKind::PrevMismatch { expected, found } => {
                write!(f, "prev mismatch: the record before it was replaced (expected {expected}, found {found})")
            }
            ProblemKind::SeqGap { expected, found } => {
                write!(f, "seq gap: expected {expected}, found {found} (records {expected}..={} missing)", found - 1)
            }
            ProblemKind::Reordered { expected, found } => {
                write!(f, "reordered: expected seq {expected}, found {found}")
            }
            ProblemKind::Unparsable { reason } => {
                write!(f, "unparsable line the chain does not continue across: {reason}")
            }
            ProblemKind::UnsupportedVersion { v } => write!(f, "unsupported record format version {v}"),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = match self.files.len() {
            1 => "1 file".to_string(),
            n => format!("{n} files"),
        };
        let span = match &self.last {
            Some((last, _)) => format!("{} records (seq {}..={last})", self.records, last + 1 - self.records),
            None => "0 records".to_string(),
        };
        match (&self.problem, self.integrity()) {
            (Some(p), _) => {
                writeln!(f, "TAMPERED: {}:{}: seq {}: {}", file_label(&p.file), p.line, p.seq, p.kind)?;
                write!(f, "verified before it: {span} in {files}")?;
            }
            (None, Integrity::Tampered) => {
                match (self.breaks.first(), &self.anchor) {
                    (Some(b), _) => writeln!(
                        f,
                        "TAMPERED: {}:{}: seq {}: anchor break: {}",
                        file_label(&b.file),
                        b.line,
                        b.seq,
                        b.message
                    )?,
                    (None, Some(a)) => writeln!(f, "TAMPERED: anchor {}: {}", a.path.display(), a.status)?,
                    (None, None) => writeln!(f, "TAMPERED")?,
                }
                write!(f, "chain verified: {span} in {files}")?;
            }
            (None, Integrity::Truncated) => write!(f, "truncated: {span} in {files}, chain intact")?,
            (None, _) => write!(f, "intact: {span} in {files}")?,
        }
        if let Some((_, hash)) = &self.last {
            write!(f, "; last hash {hash}")?;
        }
        for t in &self.torn {
            let what = if t.recovered {
                "a torn write, terminated by a later writer; the chain continues past it"
            } else {
                "an unterminated torn write at the end of the log"
            };
            write!(f, "\ntorn line: {}:{} at seq {} ({} bytes): {what}", file_label(&t.file), t.line, t.seq, t.bytes)?;
        }
        for b in &self.breaks {
            write!(f, "\nanchor break: {}:{} at seq {}: {}", file_label(&b.file), b.line, b.seq, b.message)?;
        }
        if let Some(a) = &self.anchor {
            write!(f, "\nanchor: {}", a.path.display())?;
            if let Some((uid, mode)) = a.owner {
                write!(f, " (owner uid {uid}, mode {:04o})", mode & 0o7777)?;
            }
            write!(f, ": {}", a.status)?;
        }
        Ok(())
    }
}

/// A file of the set, read up to its length when the set was listed.
type Reader = BufReader<io::Take<File>>;

/// One line of the set.
struct Item {
    file: usize,
    line: u64,
    bytes: Vec<u8>,
    terminated: bool,
}

/// The lines of every file of a snapshot, in order, with one line of lookahead.
struct SetLines {
    readers: Vec<Reader>,
    paths: Vec<PathBuf>,
    file: usize,
    line: u64,
    peeked: Option<Item>,
}

impl SetLines {
    fn read(&mut self) -> Result<Option<Item>, AuditError> {
        while self.file < self.readers.len() {
            let mut bytes = Vec::new();
            let n = self.readers[self.file].read_until(b'\n', &mut bytes).map_err(io_err(&self.paths[self.file]))?;
            if n == 0 {
                self.file += 1;
                self.line = 0;
                continue;
            }
            self.line += 1;
            let terminated = bytes.last() == Some(&b'\n');
            if terminated {
                bytes.pop();
            }
            return Ok(Some(Item { file: self.file, line: self.line, bytes, terminated }));
        }
        Ok(None)
    }

    fn next_item(&mut self) -> Result<Option<Item>, AuditError> {
        match self.peeked.take() {
            Some(item) => Ok(Some(item)),
            None => self.read(),
        }
    }

    fn peek(&mut self) -> Result<Option<&Item>, AuditError> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref())
    }
}

/// Opens every file of the set under a shared lock (when the lock file exists), so a rotation
/// cannot happen between listing and opening; the newest file is read only up to its size at
/// that moment. Writers wait only for the listing, not for the verification.
fn snapshot(path: &Path, anchor: Option<&Path>) -> Result<Snapshot, AuditError> {
    let lock_path = lock_path(path);
    let _held = match File::open(&lock_path) {
        Ok(lock) => Some(flock(&lock, Mode::Shared).map_err(io_err(&lock_path))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&lock_path)(e)),
    };
    let files = log_files(path)?;
    if files.is_empty() {
        return Err(io_err(path)(io::Error::new(io::ErrorKind::NotFound, "no audit log here")));
    }
    let mut readers = Vec::with_capacity(files.len());
    for p in &files {
        let file = open_log_file(p)?;
        let len = file.metadata().map_err(io_err(p))?.len();
        readers.push(BufReader::with_capacity(READ_CHUNK as usize, file.take(len)));
    }
    // Read under the same lock: writers replace the anchor only while holding it.
    let anchor = match anchor {
        None => None,
        Some(a) => {
            use std::os::unix::fs::MetadataExt;
            let owner = std::fs::symlink_metadata(a).ok().map(|m| (m.uid(), m.mode()));
            let read = match read_anchor(a) {
                Ok(found) => Ok(found),
                Err(AnchorReadError::Invalid(reason)) => Err(reason),
                Err(AnchorReadError::Io(e)) => {
                    return Err(AuditError::Anchor { path: a.to_path_buf(), reason: format!("cannot read: {e}") });
                }
            };
            Some((a.to_path_buf(), owner, read))
        }
    };
    Ok(Snapshot { files, readers, anchor })
}

/// The files of a set opened together, and its anchor as it was then.
struct Snapshot {
    files: Vec<PathBuf>,
    readers: Vec<Reader>,
    /// The anchor asked for: its path, owner and mode, and its content (`Err`: unusable).
    #[allow(clippy::type_complexity)]
    anchor: Option<(PathBuf, Option<(u32, u32)>, Result<Option<Anchor>, String>)>,
}

/// Checks the chain of the whole set at `path` (its rotated files, oldest first, then `path`).
/// `Err` only when the files cannot be read; a broken chain is a report with a
/// [`Problem`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, AuditError> {
    verify_anchored(path, None::<&Path>)
}

/// [`verify`], and compares the set with the anchor at `anchor` (see
/// [the anchor](self#the-anchor)): the set must end exactly at the anchored record, with the
/// anchored hash, and hold no anchor break record. An anchor that cannot be read (permission)
/// is an `Err`; one that is not an anchor of this log, a cut, a rewrite, records after the
/// anchored one and break records are tampering in the report.
pub fn verify_anchored(path: impl AsRef<Path>, anchor: Option<impl AsRef<Path>>) -> Result<VerifyReport, AuditError> {
    let path = path.as_ref();
    let Snapshot { files, readers, anchor } = snapshot(path, anchor.as_ref().map(|a| a.as_ref()))?;
    let anchored_seq = match &anchor {
        Some((_, _, Ok(Some(a)))) => Some(a.seq),
        _ => None,
    };
    let (mut report, anchored_hash) = chain(files, readers, anchored_seq)?;
    report.anchor = anchor.map(|(a, owner, read)| {
        let status = match read {
            Err(reason) => AnchorStatus::Invalid { reason },
            Ok(None) => AnchorStatus::Missing,
            Ok(Some(found)) => compare_anchor(path, &found, &report, anchored_hash.as_deref()),
        };
        AnchorCheck { path: a, owner, status }
    });
    Ok(report)
}

/// Where the verified chain stands against the anchor `a`.
/// `anchored_hash`: the hash of the record at the anchored seq, if the chain reached it.
fn compare_anchor(path: &Path, a: &Anchor, report: &VerifyReport, anchored_hash: Option<&str>) -> AnchorStatus {
    match std::path::absolute(path) {
        Ok(log) if log == a.log => {}
        _ => {
            return AnchorStatus::Invalid {
                reason: format!("it anchors another log ({}), not {}", a.log.display(), path.display()),
            };
        }
    }
    let last = report.last.as_ref().map_or(0, |(seq, _)| *seq);
    if report.problem.is_some() {
        return AnchorStatus::NotReached { anchored: a.seq };
    }
    // A writer that died between its record and the anchor's second write.
    if let (Some(n), Some((seq, hash))) = (&a.next, &report.last)
        && n.seq == *seq
        && n.hash == *hash
    {
        return AnchorStatus::Matches { seq: n.seq };
    }
    if last < a.seq {
        return AnchorStatus::Cut { anchored: a.seq, last };
    }
    match anchored_hash {
        Some(found) if found == a.hash => {}
        Some(found) => {
            return AnchorStatus::Rewritten { seq: a.seq, anchored: a.hash.clone(), found: found.to_string() };
        }
        // seq 0 (an empty set) has no record to compare.
        None if a.seq == 0 => {}
        None => return AnchorStatus::Cut { anchored: a.seq, last },
    }
    if last > a.seq {
        return AnchorStatus::Unanchored { anchored: a.seq, last };
    }
    AnchorStatus::Matches { seq: a.seq }
}

/// Checks the chain of the lines of `files`; also returns the hash of record `want`, if the
/// chain reaches it.
fn chain(
    files: Vec<PathBuf>,
    readers: Vec<Reader>,
    want: Option<u64>,
) -> Result<(VerifyReport, Option<String>), AuditError> {
    let mut wanted = None;
    let mut lines = SetLines { readers, paths: files.clone(), file: 0, line: 0, peeked: None };
    let mut report = VerifyReport {
        files,
        records: 0,
        last: None,
        torn: Vec::new(),
        problem: None,
        breaks: Vec::new(),
        anchor: None,
    };
    let mut expected: u64 = 1;
    let mut last_hash = GENESIS_PREV.to_string();
    // Lines that are not records, since the last record: torn if the chain continues past them.
    let mut pending: Vec<(Item, String)> = Vec::new();

    let problem = |report: &VerifyReport, item: &Item, seq: u64, kind: ProblemKind| Problem {
        file: report.files[item.file].clone(),
        line: item.line,
        seq,
        kind,
    };

    while let Some(item) = lines.next_item()? {
        let rec = match parse_line(&item.bytes) {
            Ok(rec) => rec,
            Err(reason) => {
                pending.push((item, reason));
                continue;
            }
        };
        if !pending.is_empty() {
            if rec.seq == expected && rec.prev == last_hash {
                for (junk, _) in pending.drain(..) {
                    report.torn.push(torn(&report, &junk, expected, true));
                }
            } else {
                let (junk, reason) = pending.swap_remove(0);
                report.problem = Some(problem(&report, &junk, expected, ProblemKind::Unparsable { reason }));
                return Ok((report, wanted));
            }
        }
        let kind = if rec.v != FORMAT_VERSION {
            Some(ProblemKind::UnsupportedVersion { v: rec.v })
        } else if rec.hash != rec.computed {
            Some(ProblemKind::HashMismatch { stored: rec.hash.clone(), computed: rec.computed.clone() })
        } else if rec.seq != expected {
            let next_seq = match lines.peek()? {
                Some(next) => parse_line(&next.bytes).ok().map(|p| p.seq),
                None => None,
            };
            if rec.seq < expected || next_seq.is_some_and(|n| n < rec.seq) {
                Some(ProblemKind::Reordered { expected, found: rec.seq })
            } else {
                Some(ProblemKind::SeqGap { expected, found: rec.seq })
            }
        } else if rec.prev != last_hash {
            Some(ProblemKind::PrevMismatch { expected: last_hash.clone(), found: rec.prev.clone() })
        } else {
            None
        };
        if let Some(kind) = kind {
            report.problem = Some(problem(&report, &item, expected, kind));
            return Ok((report, wanted));
        }
        report.records += 1;
        expected += 1;
        if want == Some(rec.seq) {
            wanted = Some(rec.hash.clone());
        }
        if rec.anchor_break {
            report.breaks.push(AnchorBreak {
                file: report.files[item.file].clone(),
                line: item.line,
                seq: rec.seq,
                message: break_message(&item.bytes),
            });
        }
        report.last = Some((rec.seq, rec.hash.clone()));
        last_hash = rec.hash;
    }
    // Lines after the last record: a torn tail if the set ends in the middle of a line (a later
    // writer always starts with the `\n` that terminates a fragment, and writes a record after
    // it); a terminated non-record line at the very end is an altered last record.
    if let Some((last, _)) = pending.last() {
        if last.terminated {
            let (junk, reason) = pending.swap_remove(0);
            report.problem = Some(problem(&report, &junk, expected, ProblemKind::Unparsable { reason }));
        } else {
            let n = pending.len();
            for (i, (junk, _)) in pending.into_iter().enumerate() {
                report.torn.push(torn(&report, &junk, expected, i + 1 < n));
            }
        }
    }
    Ok((report, wanted))
}

/// The `message` of an anchor break record's line.
fn break_message(line: &[u8]) -> String {
    serde_json::from_slice::<Value>(line)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "the log did not continue from its anchor".into())
}

fn torn(report: &VerifyReport, item: &Item, seq: u64, recovered: bool) -> TornLine {
    TornLine {
        file: report.files[item.file].clone(),
        line: item.line,
        seq,
        bytes: item.bytes.len() + usize::from(item.terminated),
        recovered,
    }
}

// ---------------------------------------------------------------------------------------------
// Redaction

/// What [`redact`] does to the value at a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactAction {
    /// Replace with `"[redacted sha256:<hex>]"`, the SHA-256 of the value's compact JSON (equal
    /// values stay recognisably equal; a low-entropy value can be guessed from its hash).
    Mask,
    /// Remove the key (or array element); at the root, the value becomes `null`.
    Drop,
}

/// One redaction: an RFC 6901 JSON pointer (`/tool_input/content`; `~1` is `/`, `~0` is `~`),
/// in which a segment `*` stands for every key or element at that level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    pub pointer: String,
    pub action: RedactAction,
}

impl Redaction {
    pub fn new(pointer: impl Into<String>, action: RedactAction) -> Redaction {
        Redaction { pointer: pointer.into(), action }
    }

    /// Checks the pointer's syntax (an invalid pointer matches nothing).
    pub fn validate(&self) -> Result<(), AuditError> {
        pointer_segments(&self.pointer).map(|_| ()).ok_or_else(|| AuditError::InvalidPointer(self.pointer.clone()))
    }
}

/// The mask [`RedactAction::Mask`] puts in place of `value`.
pub fn mask_of(value: &Value) -> Value {
    let json = serde_json::to_vec(value).unwrap_or_default();
    Value::String(format!("[redacted sha256:{}]", sha256_hex(&json)))
}

/// Applies `redactions` in order to `value`. Pointers that match nothing are ignored.
pub fn redact(value: &mut Value, redactions: &[Redaction]) {
    for r in redactions {
        if let Some(segments) = pointer_segments(&r.pointer) {
            apply(value, &segments, r.action);
        }
    }
}

fn pointer_segments(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect())
}

fn array_index(segment: &str, len: usize) -> Option<usize> {
    if segment.is_empty()
        || (segment.len() > 1 && segment.starts_with('0'))
        || !segment.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    segment.parse::<usize>().ok().filter(|i| *i < len)
}

fn apply(value: &mut Value, segments: &[String], action: RedactAction) {
    let Some((first, rest)) = segments.split_first() else {
        *value = match action {
            RedactAction::Mask => mask_of(value),
            RedactAction::Drop => Value::Null,
        };
        return;
    };
    if rest.is_empty() && action == RedactAction::Drop {
        match value {
            Value::Object(m) if first == "*" => m.clear(),
            Value::Object(m) => {
                m.shift_remove(first.as_str());
            }
            Value::Array(a) if first == "*" => a.clear(),
            Value::Array(a) => {
                if let Some(i) = array_index(first, a.len()) {
                    a.remove(i);
                }
            }
            _ => {}
        }
        return;
    }
    match value {
        Value::Object(m) if first == "*" => m.values_mut().for_each(|c| apply(c, rest, action)),
        Value::Object(m) => {
            if let Some(c) = m.get_mut(first.as_str()) {
                apply(c, rest, action);
            }
        }
        Value::Array(a) if first == "*" => a.iter_mut().for_each(|c| apply(c, rest, action)),
        Value::Array(a) => {
            if let Some(i) = array_index(first, a.len()) {
                apply(&mut a[i], rest, action);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Size cap

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

const OMITTED_PREFIX: &str = "[omitted ";
const OMITTED_SUFFIX: &str = " bytes]";

fn is_omitted_marker(s: &str) -> bool {
    s.strip_prefix(OMITTED_PREFIX)
        .and_then(|r| r.strip_suffix(OMITTED_SUFFIX))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn get_ref<'a>(fields: &'a Map<String, Value>, path: &[Seg]) -> Option<&'a Value> {
    let (Seg::Key(k), rest) = path.split_first()? else { return None };
    let mut v = fields.get(k)?;
    for seg in rest {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn get_mut<'a>(fields: &'a mut Map<String, Value>, path: &[Seg]) -> Option<&'a mut Value> {
    let (Seg::Key(k), rest) = path.split_first()? else { return None };
    let mut v = fields.get_mut(k)?;
    for seg in rest {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Every string (`(bytes, path)`) and every array or object (`(serialized bytes, path)`) under
/// `v`.
fn collect(v: &Value, path: &mut Vec<Seg>, strings: &mut Vec<(usize, Vec<Seg>)>, nested: &mut Vec<(usize, Vec<Seg>)>) {
    match v {
        Value::String(s) => strings.push((s.len(), path.clone())),
        Value::Array(a) => {
            nested.push((serde_json::to_vec(v).map_or(0, |b| b.len()), path.clone()));
            for (i, c) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                collect(c, path, strings, nested);
                path.pop();
            }
        }
        Value::Object(m) => {
            nested.push((serde_json::to_vec(v).map_or(0, |b| b.len()), path.clone()));
            for (k, c) in m {
                path.push(Seg::Key(k.clone()));
                collect(c, path, strings, nested);
                path.pop();
            }
        }
        _ => {}
    }
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Cuts `fields` until the record's line fits in `max_line` bytes; returns whether it cut.
/// Strings first: the longest ones are cut to one common length, just short enough. Only when
/// no string is left to cut is the largest array or object replaced by `"[omitted N bytes]"`.
fn cap_fields(fields: &mut Map<String, Value>, max_line: usize) -> Result<bool, AuditError> {
    if max_line_len(serde_json::to_vec(&*fields)?.len()) <= max_line {
        return Ok(false);
    }
    fields.insert(TRUNCATED_FIELD.to_string(), Value::Bool(true));
    loop {
        let needed = max_line_len(serde_json::to_vec(&*fields)?.len());
        if needed <= max_line {
            return Ok(true);
        }
        let excess = needed - max_line;
        let mut strings = Vec::new();
        let mut nested = Vec::new();
        let mut path = Vec::new();
        for (k, v) in fields.iter() {
            path.push(Seg::Key(k.clone()));
            collect(v, &mut path, &mut strings, &mut nested);
            path.pop();
        }
        strings.retain(|(len, path)| {
            *len > 0 && !matches!(get_ref(fields, path), Some(Value::String(s)) if is_omitted_marker(s))
        });
        strings.sort_by_key(|s| std::cmp::Reverse(s.0));
        if let Some(level) = water_level(&strings, excess) {
            for (len, path) in &strings {
                if *len <= level {
                    break;
                }
                if let Some(Value::String(s)) = get_mut(fields, path) {
                    let keep = floor_char_boundary(s, level);
                    s.truncate(keep);
                }
            }
            continue;
        }
        let omitted = nested
            .into_iter()
            .filter(|(len, _)| *len > 40)
            .max_by_key(|(len, _)| *len)
            .and_then(|(len, path)| get_mut(fields, &path).map(|v| (len, v)));
        match omitted {
            Some((len, v)) => *v = Value::String(format!("{OMITTED_PREFIX}{len}{OMITTED_SUFFIX}")),
            None => return Err(AuditError::RecordTooLarge { needed, max: max_line }),
        }
    }
}

/// The length to cut the longest strings (sorted longest first, all non-empty) to so that at
/// least `excess` bytes go; `None` when there are no strings.
fn water_level(strings: &[(usize, Vec<Seg>)], excess: usize) -> Option<usize> {
    if strings.is_empty() {
        return None;
    }
    let mut sum = 0usize;
    for (k, (len, _)) in strings.iter().enumerate() {
        sum += len;
        let count = k + 1;
        let next = strings.get(count).map_or(0, |(l, _)| *l);
        // Cutting the `count` longest strings to `next` frees `sum - count * next` bytes.
        if sum - count * next >= excess {
            return Some((sum - excess) / count);
        }
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn the_line_is_the_canonical_object_plus_its_hash() {
        let fields = obj(json!({"time": "2026-01-01T00:00:00Z", "kind": "decision", "n": 1.5, "s": "a\u{1}\"é"}));
        let body = serde_json::to_vec(&fields).unwrap();
        let prev = sha256_hex(b"x");
        let (line, hash) = build_line(42, &prev, &body);
        let mut record = Map::new();
        record.insert("v".into(), json!(1));
        record.insert("seq".into(), json!(42));
        record.insert("prev".into(), json!(prev));
        record.extend(fields);
        let canonical = serde_json::to_vec(&record).unwrap();
        assert_eq!(hash, sha256_hex(&canonical));
        record.insert("hash".into(), json!(hash));
        let mut expected = serde_json::to_vec(&record).unwrap();
        expected.push(b'\n');
        assert_eq!(String::from_utf8(line.clone()).unwrap(), String::from_utf8(expected).unwrap());
        let p = parse_line(&line[..line.len() - 1]).unwrap();
        assert_eq!((p.v, p.seq, p.prev.as_str(), &p.hash, &p.computed), (1, 42, prev.as_str(), &hash, &hash));
    }

    #[test]
    fn empty_fields_make_a_bare_chain_record() {
        let (line, hash) = build_line(1, GENESIS_PREV, b"{}");
        let expected = format!("{{\"v\":1,\"seq\":1,\"prev\":\"{GENESIS_PREV}\",\"hash\":\"{hash}\"}}\n");
        assert_eq!(String::from_utf8(line).unwrap(), expected);
    }

    #[test]
    fn max_line_len_is_exact_at_the_widest_seq() {
        for body in [&b"{}"[..], b"{\"a\":1}", b"{\"a\":\"xyz\",\"b\":[1,2]}"] {
            let (line, _) = build_line(u64::MAX, GENESIS_PREV, body);
            assert_eq!(line.len(), max_line_len(body.len()), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn parse_line_rejects_torn_and_foreign_lines() {
        let (line, _) = build_line(3, GENESIS_PREV, b"{\"a\":{\"b\":1}}");
        let line = &line[..line.len() - 1];
        for cut in [0, 1, 10, line.len() / 2, line.len() - 1] {
            assert!(parse_line(&line[..cut]).is_err(), "prefix {cut}");
        }
        assert!(parse_line(b"{\"hello\":1}").is_err());
        assert!(parse_line(&[0u8; 200]).is_err());
        let upper = String::from_utf8(line.to_vec()).unwrap().to_uppercase();
        assert!(parse_line(upper.as_bytes()).is_err());
    }

    #[test]
    fn reserved_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path().join("a.jsonl"), AuditOptions::default()).unwrap();
        for k in RESERVED_FIELDS {
            let err = log.append(obj(json!({k: 1})), false).unwrap_err();
            assert!(matches!(err, AuditError::ReservedField(ref f) if f == k), "{err}");
        }
    }

    #[test]
    fn options_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let small = AuditOptions { max_record_bytes: 100, ..AuditOptions::default() };
        assert!(matches!(AuditLog::open(&p, small), Err(AuditError::InvalidOptions(_))));
        let zero = AuditOptions { fsync: Fsync::Batched { every: 0 }, ..AuditOptions::default() };
        assert!(matches!(AuditLog::open(&p, zero), Err(AuditError::InvalidOptions(_))));
    }

    #[test]
    fn mask_replaces_a_value_with_the_hash_of_its_json() {
        let mut v = json!({"tool_input": {"content": {"a": [1, "x"]}, "path": "/etc/passwd"}});
        redact(&mut v, &[Redaction::new("/tool_input/content", RedactAction::Mask)]);
        let expected = format!("[redacted sha256:{}]", sha256_hex(br#"{"a":[1,"x"]}"#));
        assert_eq!(v, json!({"tool_input": {"content": expected, "path": "/etc/passwd"}}));
    }

    #[test]
    fn drop_removes_keys_and_elements_and_keeps_order() {
        let mut v = json!({"a": 1, "secret": 2, "b": [10, 11, 12], "c": 3});
        redact(&mut v, &[Redaction::new("/secret", RedactAction::Drop), Redaction::new("/b/1", RedactAction::Drop)]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":1,"b":[10,12],"c":3}"#);
    }

    #[test]
    fn wildcards_escapes_root_and_misses() {
        let mut v = json!({"edits": [{"old": "p1", "new": "s1"}, {"old": "p2", "new": "s2"}], "a/b": {"~k": 1}});
        redact(
            &mut v,
            &[
                Redaction::new("/edits/*/new", RedactAction::Mask),
                Redaction::new("/edits/*/old", RedactAction::Drop),
                Redaction::new("/a~1b/~0k", RedactAction::Drop),
                Redaction::new("/nope/deeper", RedactAction::Drop),
                Redaction::new("/edits/7", RedactAction::Mask),
                Redaction::new("/edits/01", RedactAction::Mask),
                Redaction::new("no-slash", RedactAction::Drop),
            ],
        );
        assert_eq!(v["edits"][0], json!({"new": mask_of(&json!("s1"))}));
        assert_eq!(v["edits"][1], json!({"new": mask_of(&json!("s2"))}));
        assert_eq!(v["a/b"], json!({}));
        let mut root = json!({"x": 1});
        redact(&mut root, &[Redaction::new("", RedactAction::Mask)]);
        assert_eq!(root, mask_of(&json!({"x": 1})));
        redact(&mut root, &[Redaction::new("", RedactAction::Drop)]);
        assert_eq!(root, Value::Null);
        assert!(Redaction::new("no-slash", RedactAction::Drop).validate().is_err());
        assert!(Redaction::new("", RedactAction::Drop).validate().is_ok());
        let parsed: Redaction = serde_json::from_value(json!({"pointer": "/a", "action": "mask"})).unwrap();
        assert_eq!(parsed, Redaction::new("/a", RedactAction::Mask));
    }

    fn line_len(fields: &Map<String, Value>) -> usize {
        max_line_len(serde_json::to_vec(fields).unwrap().len())
    }

    #[test]
    fn small_records_are_untouched() {
        let mut f = obj(json!({"kind": "decision", "text": "x".repeat(100)}));
        let before = f.clone();
        assert!(!cap_fields(&mut f, 1024).unwrap());
        assert_eq!(f, before);
    }

    #[test]
    fn the_longest_strings_are_cut_to_a_common_length() {
        let mut f = obj(json!({
            "kind": "decision",
            "event": {"tool_input": {"content": "c".repeat(5000), "other": "o".repeat(3000)}, "short": "keep me"},
        }));
        assert!(cap_fields(&mut f, 2048).unwrap());
        assert!(line_len(&f) <= 2048, "{}", line_len(&f));
        assert_eq!(f["truncated"], json!(true));
        assert_eq!(f["kind"], json!("decision"));
        assert_eq!(f["event"]["short"], json!("keep me"));
        let c = f["event"]["tool_input"]["content"].as_str().unwrap().len();
        let o = f["event"]["tool_input"]["other"].as_str().unwrap().len();
        assert!(c > 500 && c.abs_diff(o) <= 1, "{c} {o}");
        // Cut just enough (give or take the rounding of the common length).
        assert!(line_len(&f) + 8 >= 2048, "{}", line_len(&f));
    }

    #[test]
    fn cuts_respect_utf8_and_escapes() {
        let mut f = obj(json!({"s": "é€😀".repeat(500), "ctl": "\u{1}".repeat(300)}));
        assert!(cap_fields(&mut f, 1000).unwrap());
        assert!(line_len(&f) <= 1000);
        assert!(f["s"].as_str().is_some());
        let (line, _) = build_line(1, GENESIS_PREV, &serde_json::to_vec(&f).unwrap());
        assert!(line.len() <= 1000);
        std::str::from_utf8(&line).unwrap();
    }

    #[test]
    fn without_strings_large_values_are_omitted() {
        let numbers: Vec<u64> = (0..2000).collect();
        let mut f = obj(json!({"kind": "x", "numbers": numbers, "small": [1, 2]}));
        assert!(cap_fields(&mut f, 600).unwrap());
        assert!(line_len(&f) <= 600);
        assert!(f["numbers"].as_str().unwrap().starts_with("[omitted "), "{}", f["numbers"]);
        assert_eq!(f["small"], json!([1, 2]));
    }

    #[test]
    fn keys_alone_too_large_is_an_error() {
        let mut f = Map::new();
        f.insert("k".repeat(2000), json!(1));
        assert!(matches!(cap_fields(&mut f, 600), Err(AuditError::RecordTooLarge { .. })));
    }

    #[test]
    fn rev_lines_reads_lines_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let long = "y".repeat(200_000);
        std::fs::write(&p, format!("\na\n{long}\nb\ntorn")).unwrap();
        let f = File::open(&p).unwrap();
        let (mut r, terminated) = RevLines::new(&f, f.metadata().unwrap().len()).unwrap();
        assert!(!terminated);
        let mut got = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            got.push(String::from_utf8(l).unwrap());
        }
        assert_eq!(got, vec!["torn".to_string(), "b".into(), long, "a".into(), String::new()]);
    }

    #[test]
    fn rotated_names_are_numbered_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        for name in ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.10", "audit.jsonl.2", "audit.jsonl.lock"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        for name in ["audit.jsonl.01", "audit.jsonl.x", "audit.jsonl.1.bak", "other.jsonl.3"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> =
            log_files(&p).unwrap().iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["audit.jsonl.10", "audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"]);
    }

    #[test]
    fn report_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&p, AuditOptions::default()).unwrap();
        for i in 0..3 {
            log.append(obj(json!({"i": i})), false).unwrap();
        }
        let r = verify(&p).unwrap();
        assert_eq!(r.integrity(), Integrity::Intact);
        assert!(r.to_string().starts_with("intact: 3 records (seq 1..=3) in 1 file; last hash "), "{r}");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replacen("\"i\":1", "\"i\":7", 1)).unwrap();
        let r = verify(&p).unwrap();
        assert_eq!(r.integrity(), Integrity::Tampered);
        assert!(r.to_string().starts_with("TAMPERED: audit.jsonl:2: seq 2: hash mismatch"), "{r}");
        assert!(r.to_string().contains("verified before it: 1 records (seq 1..=1)"), "{r}");
    }

    /// A FIFO planted in the log's directory under a rotated file's name: appending (which looks
    /// for the chain's head in the rotated files when the current one is empty) and verifying
    /// are errors naming it, never a wait.
    #[test]
    fn a_fifo_among_the_rotated_files_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "").unwrap();
        crate::readfile::plant_fifo(&dir.path().join("a.jsonl.1"));
        let q = p.clone();
        let e = crate::readfile::must_return("append", move || {
            AuditLog::open(&q, AuditOptions::default())
                .and_then(|log| log.append(obj(json!({"kind": "decision"})), false).map(|_| ()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = crate::readfile::must_return("verify", move || verify(&p).map(|_| ())).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }
}
