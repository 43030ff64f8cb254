//! Following an audit log set (`crate::audit`: `<log>.N` … `<log>.1`, `<log>`) from a position,
//! record by record, across rotation.
//!
//! A [`Position`] names the place right after a record: the file by identity (device and inode,
//! so a rename by rotation does not lose it), the byte offset, and the record's `seq` and `hash`.
//! Resuming checks that the bytes just before the offset end with that hash; if the file is gone
//! or does not match, the record is looked up by `seq` in the set instead, and what cannot be
//! found is reported as a [`Notice`] (records deleted before they were shipped, a log replaced
//! by a new chain), never skipped silently.
//!
//! Promises: only complete lines (ending in `\n`) are returned, in file order; lines that are not
//! records (torn writes) are skipped; the unterminated tail of the file being written is left for
//! later, and that of a rotated file (a torn write before the rotation) is skipped. A file is
//! left for its successor only once it was seen rotated *and* then read to its end, so no record
//! written before the rotation is missed. Nothing here writes.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The place right after a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    pub seq: u64,
    pub hash: String,
}

/// One record read from the log: its line (without `\n`) exactly as on disk.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub hash: String,
    pub prev: String,
    /// The record's `time` field (RFC 3339), when it has one.
    pub time: Option<String>,
    pub line: Vec<u8>,
    /// Where the log continues after this record.
    pub end: Position,
}

/// Something the follower had to work around, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Records `from..=to` are no longer in the log (deleted before they were shipped).
    Missing { from: u64, to: u64 },
    /// The record at `seq` has another hash than the one shipped, or the log is shorter than the
    /// position: the log was rewritten or replaced by a new chain. Shipping goes on from `resume`.
    Replaced { seq: u64, resume: u64 },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Missing { from, to } => {
                write!(
                    f,
                    "records {from}..={to} are no longer in the audit log: they were deleted before they were shipped"
                )
            }
            Notice::Replaced { seq, resume } => write!(
                f,
                "the audit log no longer holds the shipped record {seq} as it was shipped (rewritten, or replaced by a new \
                 chain): shipping goes on from seq {resume}"
            ),
        }
    }
}

/// Where a follower without a position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The oldest record still in the set.
    #[default]
    Oldest,
    /// After the last record now in the set.
    End,
}

#[derive(Deserialize)]
struct Head {
    seq: u64,
    prev: String,
    hash: String,
    #[serde(default)]
    time: Option<String>,
}

/// Reads a line as a record's chain fields (`None`: not a record).
fn head(line: &[u8]) -> Option<Head> {
    if !line.starts_with(b"{\"v\":") {
        return None;
    }
    let h: Head = serde_json::from_slice(line).ok()?;
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex(&h.hash) && hex(&h.prev)).then_some(h)
}

/// The largest line read (a record is at most `audit.maxRecordBytes`, 64 MiB).
const MAX_LINE: usize = 64 << 20;
const CHUNK: usize = 256 << 10;

/// A file of the set, open.
struct Open {
    file: File,
    dev: u64,
    ino: u64,
}

/// Reads a log set from a position onwards.
pub struct Follower {
    log: PathBuf,
    cur: Option<Open>,
    offset: u64,
    /// The last record returned (or the starting position's).
    seq: u64,
    hash: String,
    /// Bytes read past `offset` that do not yet end in `\n`.
    partial: Vec<u8>,
}

impl Follower {
    /// A follower of the set at `log`, placed after `from` (else as `start` says). Also returns
    /// what it had to work around to get there.
    pub fn open(log: &Path, from: Option<&Position>, start: StartAt) -> io::Result<(Follower, Vec<Notice>)> {
        let mut f =
            Follower { log: log.to_path_buf(), cur: None, offset: 0, seq: 0, hash: String::new(), partial: Vec::new() };
        let notices = match from {
            Some(p) => f.seek(p)?,
            None => {
                if start == StartAt::End {
                    f.seek_end()?;
                }
                Vec::new()
            }
        };
        Ok((f, notices))
    }

    /// The position after the last record returned.
    pub fn position(&self) -> Option<Position> {
        self.cur.as_ref().map(|c| Position {
            dev: c.dev,
            ino: c.ino,
            offset: self.offset,
            seq: self.seq,
            hash: self.hash.clone(),
        })
    }

    /// Goes back (or forward) to `p`, a position this follower returned.
    pub fn rewind(&mut self, p: &Position) -> io::Result<Vec<Notice>> {
        self.partial.clear();
        if let Some(c) = &self.cur
            && (c.dev, c.ino) == (p.dev, p.ino)
        {
            self.offset = p.offset;
            self.seq = p.seq;
            self.hash = p.hash.clone();
            return Ok(Vec::new());
        }
        self.seek(p)
    }

    /// Places the follower after `p`: in the same file by identity when its bytes still end
    /// with the record's hash there, else after the record with `p.seq` wherever it is now.
    fn seek(&mut self, p: &Position) -> io::Result<Vec<Notice>> {
        self.partial.clear();
        let files = set_files(&self.log)?;
        for (path, dev, ino) in &files {
            if (*dev, *ino) != (p.dev, p.ino) {
                continue;
            }
            let file = File::open(path)?;
            let meta = file.metadata()?;
            if (meta.dev(), meta.ino()) == (p.dev, p.ino) && ends_with_hash(&file, p.offset, &p.hash)? {
                self.cur = Some(Open { file, dev: p.dev, ino: p.ino });
                self.offset = p.offset;
                self.seq = p.seq;
                self.hash = p.hash.clone();
                return Ok(Vec::new());
            }
        }
        self.seek_seq(p, &files)
    }

    /// Places the follower after the record `p.seq` found by scanning the set, else before the
    /// first record after it.
    fn seek_seq(&mut self, p: &Position, files: &[(PathBuf, u64, u64)]) -> io::Result<Vec<Notice>> {
        self.cur = None;
        self.offset = 0;
        self.seq = 0;
        self.hash.clear();
        self.partial.clear();
        if p.seq == 0 {
            return Ok(Vec::new());
        }
        let mut first_seq = None;
        for (path, dev, ino) in files {
            let file = File::open(path)?;
            let meta = file.metadata()?;
            if (meta.dev(), meta.ino()) != (*dev, *ino) {
                continue;
            }
            // (offset to resume at, seq found there, hash of the record before, exact)
            let mut found: Option<(u64, u64, String, bool)> = None;
            scan_lines(&file, 0, meta.len(), |line, end| {
                let Some(h) = head(line) else { return true };
                first_seq.get_or_insert(h.seq);
                if h.seq == p.seq {
                    found = Some((end, h.seq, h.hash, true));
                    return false;
                }
                if h.seq > p.seq {
                    found = Some((end - line.len() as u64 - 1, h.seq, p.hash.clone(), false));
                    return false;
                }
                true
            })?;
            let Some((offset, seq, hash, exact)) = found else { continue };
            self.cur = Some(Open { file, dev: *dev, ino: *ino });
            self.offset = offset;
            self.seq = p.seq;
            let notices = if exact && hash != p.hash {
                vec![Notice::Replaced { seq: p.seq, resume: p.seq + 1 }]
            } else if !exact && first_seq == Some(seq) && seq <= p.seq + 1 {
                Vec::new()
            } else if !exact && seq > p.seq + 1 {
                vec![Notice::Missing { from: p.seq + 1, to: seq - 1 }]
            } else {
                Vec::new()
            };
            self.hash = hash;
            return Ok(notices);
        }
        // Every record in the set is older than the position: the log is not the one shipped
        // (a new chain); start over from its oldest record.
        Ok(match first_seq {
            Some(first) => vec![Notice::Replaced { seq: p.seq, resume: first }],
            None => Vec::new(),
        })
    }

    /// Places the follower after the last complete record of the set.
    fn seek_end(&mut self) -> io::Result<()> {
        let files = set_files(&self.log)?;
        for (path, dev, ino) in files.iter().rev() {
            let file = File::open(path)?;
            let len = file.metadata()?.len();
            let mut last = None;
            scan_lines(&file, 0, len, |line, end| {
                if let Some(h) = head(line) {
                    last = Some((end, h.seq, h.hash));
                }
                true
            })?;
            if let Some((end, seq, hash)) = last {
                // Complete lines after it (not records) are skipped later like any torn line.
                self.cur = Some(Open { file, dev: *dev, ino: *ino });
                self.offset = end;
                self.seq = seq;
                self.hash = hash;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Up to `max_records` records (and about `max_bytes`, at least one) after the position, in
    /// order; empty when there is nothing new yet.
    pub fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        loop {
            if self.cur.is_none() && !self.open_oldest()? {
                return Ok(out);
            }
            let progressed = self.read_current(&mut out, &mut bytes, max_records, max_bytes)?;
            if out.len() >= max_records || bytes >= max_bytes {
                return Ok(out);
            }
            if progressed {
                continue;
            }
            // At the end of the current file: if it was rotated away, read what it still holds
            // (written before the rotation), then go on with its successor.
            if !self.rotated()? {
                return Ok(out);
            }
            self.read_current(&mut out, &mut bytes, usize::MAX, usize::MAX)?;
            if !self.next_file()? {
                return Ok(out);
            }
        }
    }

    /// Reads complete lines of the current file into `out`; whether anything was consumed.
    fn read_current(
        &mut self,
        out: &mut Vec<Record>,
        bytes: &mut usize,
        max_records: usize,
        max_bytes: usize,
    ) -> io::Result<bool> {
        let Some(cur) = &self.cur else { return Ok(false) };
        let len = cur.file.metadata()?.len();
        let mut progressed = false;
        while out.len() < max_records && *bytes < max_bytes {
            let read_at = self.offset + self.partial.len() as u64;
            if read_at >= len {
                break;
            }
            let n = ((len - read_at) as usize).min(CHUNK);
            let mut buf = vec![0u8; n];
            cur.file.read_exact_at(&mut buf, read_at)?;
            self.partial.extend_from_slice(&buf);
            let mut consumed = 0usize;
            while let Some(i) = self.partial[consumed..].iter().position(|b| *b == b'\n') {
                let line = &self.partial[consumed..consumed + i];
                let end = self.offset + (consumed + i + 1) as u64;
                if let Some(h) = head(line) {
                    *bytes += line.len();
                    self.seq = h.seq;
                    self.hash = h.hash.clone();
                    out.push(Record {
                        seq: h.seq,
                        hash: h.hash,
                        prev: h.prev,
                        time: h.time,
                        line: line.to_vec(),
                        end: Position {
                            dev: cur.dev,
                            ino: cur.ino,
                            offset: end,
                            seq: self.seq,
                            hash: self.hash.clone(),
                        },
                    });
                }
                consumed += i + 1;
                if out.len() >= max_records || *bytes >= max_bytes {
                    break;
                }
            }
            if consumed > 0 {
                progressed = true;
                self.offset += consumed as u64;
                self.partial.drain(..consumed);
            }
            if self.partial.len() > MAX_LINE {
                // Not a line a writer of this log wrote: skip it like a torn one.
                self.offset += self.partial.len() as u64;
                self.partial.clear();
                progressed = true;
            }
        }
        // Bytes read but not consumed are read again next time (the file may grow meanwhile).
        self.partial.clear();
        Ok(progressed)
    }

    /// Whether the file being read is no longer the log's current file.
    fn rotated(&self) -> io::Result<bool> {
        let Some(cur) = &self.cur else { return Ok(false) };
        match std::fs::metadata(&self.log) {
            Ok(m) => Ok((m.dev(), m.ino()) != (cur.dev, cur.ino)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Moves to the file after the current one in the set (its unterminated tail, a torn
    /// write, is skipped). False when there is none yet.
    fn next_file(&mut self) -> io::Result<bool> {
        let Some(cur) = &self.cur else { return Ok(false) };
        let files = set_files(&self.log)?;
        let at = files.iter().position(|(_, d, i)| (*d, *i) == (cur.dev, cur.ino));
        let next = match at {
            Some(i) => files.get(i + 1),
            // Our file left the set (deleted): find our place by seq.
            None => {
                let p = Position {
                    dev: cur.dev,
                    ino: cur.ino,
                    offset: self.offset,
                    seq: self.seq,
                    hash: self.hash.clone(),
                };
                let notices = self.seek_seq(&p, &files)?;
                for n in notices {
                    tracing::warn!(log = %self.log.display(), "audit shipping: {n}");
                }
                return Ok(self.cur.is_some());
            }
        };
        let Some((path, dev, ino)) = next else { return Ok(false) };
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if (meta.dev(), meta.ino()) != (*dev, *ino) {
            return Ok(false); // Renamed again meanwhile: try next time.
        }
        self.cur = Some(Open { file, dev: *dev, ino: *ino });
        self.offset = 0;
        self.partial.clear();
        Ok(true)
    }

    /// Opens the oldest file of the set at its start (no position yet). False: no file.
    fn open_oldest(&mut self) -> io::Result<bool> {
        let files = set_files(&self.log)?;
        let Some((path, dev, ino)) = files.first() else { return Ok(false) };
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if (meta.dev(), meta.ino()) != (*dev, *ino) {
            return Ok(false);
        }
        self.cur = Some(Open { file, dev: *dev, ino: *ino });
        self.offset = 0;
        Ok(true)
    }
}

/// The files of the set, oldest first, with their identity; listed under the log's shared lock
/// when it can be taken, so a rotation cannot happen half-way through the listing.
fn set_files(log: &Path) -> io::Result<Vec<(PathBuf, u64, u64)>> {
    let lock = File::open(crate::audit::lock_path(log)).ok();
    let _held = lock.and_then(|l| crate::file_lock::FileLock::lock(l, crate::file_lock::Mode::Shared).ok());
    let files = crate::audit::log_files(log).map_err(|e| io::Error::other(e.to_string()))?;
    let mut out = Vec::with_capacity(files.len());
    for p in files {
        match std::fs::metadata(&p) {
            Ok(m) => out.push((p, m.dev(), m.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether the `offset` bytes of `file` end with a record line whose hash is `hash`
/// (`…"hash":"<hash>"}\n`).
fn ends_with_hash(file: &File, offset: u64, hash: &str) -> io::Result<bool> {
    let want = format!("\"hash\":\"{hash}\"}}\n");
    let n = want.len() as u64;
    if offset < n || file.metadata()?.len() < offset {
        return Ok(false);
    }
    let mut buf = vec![0u8; n as usize];
    file.read_exact_at(&mut buf, offset - n)?;
    Ok(buf == want.as_bytes())
}

/// Calls `each(line, end offset)` for every complete line of `file` in `[from, to)`, until it
/// returns false.
fn scan_lines(file: &File, from: u64, to: u64, mut each: impl FnMut(&[u8], u64) -> bool) -> io::Result<()> {
    let mut pos = from;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = from;
    while pos < to {
        let n = ((to - pos) as usize).min(CHUNK);
        let mut chunk = vec![0u8; n];
        file.read_exact_at(&mut chunk, pos)?;
        pos += n as u64;
        buf.extend_from_slice(&chunk);
        let mut consumed = 0usize;
        while let Some(i) = buf[consumed..].iter().position(|b| *b == b'\n') {
            let end = buf_start + (consumed + i + 1) as u64;
            if !each(&buf[consumed..consumed + i], end) {
                return Ok(());
            }
            consumed += i + 1;
        }
        buf.drain(..consumed);
        buf_start += consumed as u64;
        if buf.len() > MAX_LINE {
            buf_start += buf.len() as u64;
            buf.clear();
        }
    }
    Ok(())
}

/// The seq of the last complete record in the set (0 when there is none), read from the end.
pub fn tail_seq(log: &Path) -> io::Result<u64> {
    let files = set_files(log)?;
    for (path, _, _) in files.iter().rev() {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        // Records are read backwards in growing windows until one is complete.
        let mut window = CHUNK as u64;
        loop {
            let from = len.saturating_sub(window);
            let mut last = None;
            // Skip the first (possibly partial) line unless the window starts the file.
            let mut first = from > 0;
            scan_lines(&file, from, len, |line, _| {
                if first {
                    first = false;
                    return true;
                }
                if let Some(h) = head(line) {
                    last = Some(h.seq);
                }
                true
            })?;
            if let Some(seq) = last {
                return Ok(seq);
            }
            if from == 0 || window >= MAX_LINE as u64 * 2 {
                break;
            }
            window *= 4;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, AuditOptions};
    use serde_json::json;

    fn fields(i: u64) -> serde_json::Map<String, serde_json::Value> {
        match json!({"time": "2026-01-01T00:00:00.000000Z", "kind": "event", "i": i, "pad": "x".repeat(200)}) {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn drain(f: &mut Follower) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let b = f.next_batch(7, 1 << 20).unwrap();
            if b.is_empty() {
                return seqs;
            }
            seqs.extend(b.iter().map(|r| r.seq));
        }
    }

    #[test]
    fn follows_across_rotations_and_resumes_by_identity_or_by_seq() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&p, AuditOptions { max_bytes: 2000, ..AuditOptions::default() }).unwrap();
        for i in 0..10 {
            log.append(fields(i), false).unwrap();
        }
        let (mut f, notices) = Follower::open(&p, None, StartAt::Oldest).unwrap();
        assert!(notices.is_empty());
        assert_eq!(drain(&mut f), (1..=10).collect::<Vec<_>>());
        let at = f.position().unwrap();
        for i in 10..40 {
            log.append(fields(i), false).unwrap();
        }
        assert!(crate::audit::log_files(&p).unwrap().len() > 3);
        assert_eq!(drain(&mut f), (11..=40).collect::<Vec<_>>());
        // A new follower from the saved position (its file renamed by rotation since).
        let (mut g, notices) = Follower::open(&p, Some(&at), StartAt::Oldest).unwrap();
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(drain(&mut g), (11..=40).collect::<Vec<_>>());
        assert_eq!(tail_seq(&p).unwrap(), 40);
        // The files holding the position and the records after it deleted: a notice, and
        // shipping goes on from the oldest record left.
        for file in crate::audit::log_files(&p).unwrap() {
            let text = std::fs::read_to_string(&file).unwrap();
            let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            if first["seq"].as_u64().unwrap() > 12 {
                break;
            }
            std::fs::remove_file(&file).unwrap();
        }
        let (mut h, notices) = Follower::open(&p, Some(&at), StartAt::Oldest).unwrap();
        assert!(matches!(notices.as_slice(), [Notice::Missing { from: 11, .. }]), "{notices:?}");
        let got = drain(&mut h);
        assert_eq!(*got.last().unwrap(), 40);
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn start_at_end_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&p, AuditOptions::default()).unwrap();
        for i in 0..3 {
            log.append(fields(i), false).unwrap();
        }
        let (mut f, _) = Follower::open(&p, None, StartAt::End).unwrap();
        assert!(drain(&mut f).is_empty());
        // A torn fragment, then a writer terminates it and goes on.
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"{\"v\":1,\"seq\":4,\"pr").unwrap();
        assert!(drain(&mut f).is_empty());
        drop(log);
        let log = AuditLog::open(&p, AuditOptions::default()).unwrap();
        log.append(fields(9), false).unwrap();
        assert_eq!(drain(&mut f), vec![4]);
        assert_eq!(tail_seq(&p).unwrap(), 4);
    }

    #[test]
    fn a_rewritten_record_is_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&p, AuditOptions::default()).unwrap();
        for i in 0..5 {
            log.append(fields(i), false).unwrap();
        }
        let (mut f, _) = Follower::open(&p, None, StartAt::Oldest).unwrap();
        let b = f.next_batch(3, 1 << 20).unwrap();
        let mut at = b[2].end.clone();
        at.hash = "0".repeat(64);
        at.ino = 0;
        let (mut g, notices) = Follower::open(&p, Some(&at), StartAt::Oldest).unwrap();
        assert_eq!(notices, vec![Notice::Replaced { seq: 3, resume: 4 }]);
        assert_eq!(drain(&mut g), vec![4, 5]);
        // A position past the end of the log (a new, shorter chain).
        at.seq = 99;
        let (mut h, notices) = Follower::open(&p, Some(&at), StartAt::Oldest).unwrap();
        assert_eq!(notices, vec![Notice::Replaced { seq: 99, resume: 1 }]);
        assert_eq!(drain(&mut h), vec![1, 2, 3, 4, 5]);
    }
}
