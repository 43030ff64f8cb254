//! Shipping the audit log to the engines admins already run (managed `audit.ship`): syslog
//! (`syslog`: RFC 5424, local socket, TCP, TLS) and OpenTelemetry (`otlp`: OTLP/HTTP protobuf
//! logs).
//!
//! The local hash-chained log (`crate::audit`) stays the source of truth. A shipper follows it
//! (`follow`) with a persisted cursor per sink and hands the records, exactly as the log holds
//! them after redaction, to the sink; it never re-derives anything from events. One thread per
//! sink, in the daemon (`hookhost serve`) or in `hookhost audit ship`; the decision path only
//! appends to the log, as without shipping.
//!
//! Promises:
//! - **Nothing lost, nothing reordered.** Records go out in log order; the cursor moves only
//!   past records the sink confirmed (an HTTP 2xx for OTLP; for syslog, which has no
//!   acknowledgement, see `syslog`). After a failure everything after the cursor is sent again,
//!   so a sink that was down, slow or restarted gets every record, in order, at least once on the
//!   wire; every record carries its `seq` (and `hash`, `prev`) for deduplication and for gap
//!   detection at the receiver.
//! - **Never in the way.** A slow or dead sink slows only its own thread: bounded memory (at most
//!   `window` unconfirmed records and one batch), retries with exponential backoff and full
//!   jitter up to `maxBackoffSeconds`, honouring a sink's `Retry-After`.
//! - **Visible.** Each sink's lag (records and seconds behind the log), last error and notices
//!   (records deleted before they were shipped, a log replaced) are in its cursor file, in
//!   `hookhost status` and in the daemon's metrics.
//! - **One shipper per sink.** A shipper holds an exclusive lock on `<cursor>.lock`; a second one
//!   for the same sink waits (the daemon) or refuses (`audit ship`).
//!
//! The cursor (`<cursor dir>/<log file name>.<sink>.cursor`, JSON, mode 0600, replaced by
//! rename) lives in managed `audit.shipCursorDir`, by default the anchor's directory: whoever can
//! write it can make the shipper re-send records (rewinding it) or skip them (advancing it). A
//! skip is visible at the receiver as a gap in `seq`, and is why the cursor belongs where the
//! agent cannot write (the daemon's directory).

pub mod follow;
pub mod otlp;
pub mod syslog;

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use follow::{Follower, Notice, Position, Record, StartAt};

// ---------------------------------------------------------------------------------------------
// Configuration (parsed from managed `audit.ship` by `crate::settings::file`)

/// One sink of managed `audit.ship`.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Names the sink in its cursor file, `hookhost status` and metrics (`[A-Za-z0-9_.-]`,
    /// 1–64 characters, unique).
    pub name: String,
    pub kind: SinkKind,
    /// Records per delivery.
    pub batch: usize,
    /// The longest pause between two attempts after a failure.
    pub max_backoff: Duration,
    /// Where a sink without a cursor starts.
    pub start: StartAt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    Syslog(syslog::SyslogConfig),
    Otlp(otlp::OtlpConfig),
}

impl SinkKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SinkKind::Syslog(_) => "syslog",
            SinkKind::Otlp(_) => "otlp",
        }
    }
}

/// The default records per delivery.
pub const DEFAULT_BATCH: usize = 256;
/// The largest `batch`.
pub const MAX_BATCH: usize = 10_000;
/// The default `maxBackoffSeconds`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Bytes of records per delivery (a batch stops at the record that reaches it).
const BATCH_BYTES: usize = 4 << 20;
/// The first pause after a failure (doubling up to the sink's `max_backoff`).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// How often a caught-up shipper looks at the log.
const POLL: Duration = Duration::from_millis(50);

/// Whether `name` may name a sink.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

// ---------------------------------------------------------------------------------------------
// Sinks

/// Why a sink could not take records now.
#[derive(Debug, Clone)]
pub struct SinkError {
    pub message: String,
    /// The sink asked to wait this long (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> SinkError {
        SinkError { message: message.into(), retry_after: None }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A destination for records.
pub trait Sink: Send {
    /// Sends `batch`, in order. `Ok`: handed over; whether it is delivered is for `confirmed`.
    fn send(&mut self, batch: &[Record]) -> Result<(), SinkError>;
    /// How many of the records sent and not yet counted (oldest first) are now known to be
    /// delivered. An error means the connection is lost: what was not confirmed is sent again.
    fn confirmed(&mut self) -> Result<usize, SinkError>;
    /// Drops the connection after an error.
    fn reset(&mut self);
}

/// Builds the sink a configuration names.
pub fn connect(cfg: &SinkConfig) -> Result<Box<dyn Sink>, String> {
    match &cfg.kind {
        SinkKind::Syslog(s) => Ok(Box::new(syslog::SyslogSink::new(s.clone())?)),
        SinkKind::Otlp(o) => Ok(Box::new(otlp::OtlpSink::new(o.clone())?)),
    }
}

// ---------------------------------------------------------------------------------------------
// Cursor

/// What a cursor file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub v: u32,
    pub sink: String,
    /// The log (absolute) this cursor follows.
    pub log: PathBuf,
    /// After the last record the sink confirmed (`None`: nothing shipped yet).
    pub position: Option<Position>,
    /// `time` of that record.
    #[serde(default)]
    pub time: Option<String>,
    /// When the cursor was written (Unix seconds).
    pub updated: f64,
    /// The last delivery error, while it lasts.
    #[serde(default)]
    pub error: Option<String>,
    /// What the follower had to work around (records deleted before shipping, a log replaced).
    #[serde(default)]
    pub notices: Vec<String>,
}

/// The cursor file of `sink` for the log at `log`, in `dir`.
pub fn cursor_path(dir: &Path, log: &Path, sink: &str) -> PathBuf {
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "audit".into());
    dir.join(format!("{name}.{sink}.cursor"))
}

/// The directory of the cursors: managed `audit.shipCursorDir`, else the anchor's directory.
pub fn cursor_dir(a: &crate::audit::AuditSettings) -> Option<PathBuf> {
    if let Some(d) = &a.ship_cursor_dir {
        return Some(d.clone());
    }
    let anchor = crate::audit::configured_anchor(a)?;
    let anchor = std::path::absolute(&anchor).unwrap_or(anchor);
    anchor.parent().map(Path::to_path_buf)
}

/// Reads a cursor file (`None`: there is none).
pub fn read_cursor(path: &Path) -> io::Result<Option<Cursor>> {
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    let mut text = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, 1 << 20), &mut text)?;
    serde_json::from_slice(&text).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes a cursor file atomically and durably, mode 0600 (`crate::atomic_file`).
fn write_cursor(path: &Path, c: &Cursor) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(c).map_err(io::Error::other)?;
    bytes.push(b'\n');
    crate::atomic_file::replace(path, &bytes, crate::atomic_file::Mode::Exact(0o600), None)
}

fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Unix seconds of an RFC 3339 UTC time as the audit log writes it
/// (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`; `crate::clock`).
pub fn parse_time(s: &str) -> Option<f64> {
    crate::clock::parse_rfc3339(s)
}

// ---------------------------------------------------------------------------------------------
// Status

/// One sink's state, for `hookhost status` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkStatus {
    pub name: String,
    pub kind: String,
    /// The last record the sink confirmed.
    pub delivered_seq: u64,
    /// The last record in the log.
    pub log_seq: u64,
    /// Records in the log not yet confirmed by the sink.
    pub lag_records: u64,
    /// Age of the oldest record not yet confirmed (0 when caught up).
    pub lag_seconds: f64,
    /// Records confirmed by this shipper since it started.
    pub delivered: u64,
    /// Failed attempts since it started.
    pub failures: u64,
    pub error: Option<String>,
    pub notices: Vec<String>,
    /// Another shipper holds this sink's cursor (this one waits).
    #[serde(default)]
    pub waiting_for_lock: bool,
}

/// The state of every configured sink read from the files (cursor and log): what
/// `hookhost status` shows without a daemon.
pub fn status_from_files(a: &crate::audit::AuditSettings) -> Vec<Result<SinkStatus, String>> {
    let (Some(log), Some(dir)) = (crate::audit::configured_path(a), cursor_dir(a)) else { return Vec::new() };
    let log = std::path::absolute(&log).unwrap_or(log);
    a.ship
        .iter()
        .map(|s| {
            let path = cursor_path(&dir, &log, &s.name);
            let cursor = read_cursor(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let log_seq = follow::tail_seq(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let mut st =
                SinkStatus { name: s.name.clone(), kind: s.kind.as_str().into(), log_seq, ..Default::default() };
            let position = cursor.as_ref().and_then(|c| c.position.clone());
            st.delivered_seq = position.as_ref().map_or(0, |p| p.seq);
            if let Some(c) = &cursor {
                st.error = c.error.clone();
                st.notices = c.notices.clone();
            }
            st.lag_records = log_seq.saturating_sub(st.delivered_seq);
            if st.lag_records > 0 {
                let start = if position.is_some() { StartAt::Oldest } else { s.start };
                if let Ok((mut f, _)) = Follower::open(&log, position.as_ref(), start)
                    && let Ok(next) = f.next_batch(1, 1)
                    && let Some(t) = next.first().and_then(|r| r.time.as_deref()).and_then(parse_time)
                {
                    st.lag_seconds = (now_unix() - t).max(0.0);
                }
            }
            Ok(st)
        })
        .collect()
}

/// The states of a running shipper's sinks, shared with the daemon's status and metrics.
pub type Shared = Arc<Mutex<Vec<SinkStatus>>>;

// ---------------------------------------------------------------------------------------------
// The shipper

/// How a shipper runs.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// The log followed.
    pub log: PathBuf,
    /// Where the cursors are.
    pub cursor_dir: PathBuf,
    pub sinks: Vec<SinkConfig>,
}

impl ShipOptions {
    /// The shipping the audit settings configure (`None`: no sink, or no log).
    pub fn from_settings(a: &crate::audit::AuditSettings) -> Option<ShipOptions> {
        if !a.enabled || a.ship.is_empty() {
            return None;
        }
        let log = crate::audit::configured_path(a)?;
        let log = std::path::absolute(&log).unwrap_or(log);
        Some(ShipOptions { log, cursor_dir: cursor_dir(a)?, sinks: a.ship.clone() })
    }
}

/// A running shipper: one thread per sink.
pub struct Shipper {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub status: Shared,
}

impl Shipper {
    /// Starts following the log, one thread per sink, until [`Shipper::stop`]. A sink whose
    /// cursor another shipper holds waits for it.
    pub fn spawn(options: ShipOptions) -> Shipper {
        let stop = Arc::new(AtomicBool::new(false));
        let status: Shared = Arc::new(Mutex::new(
            options
                .sinks
                .iter()
                .map(|s| SinkStatus { name: s.name.clone(), kind: s.kind.as_str().into(), ..Default::default() })
                .collect(),
        ));
        let mut threads = Vec::new();
        for (i, sink) in options.sinks.iter().enumerate() {
            let (stop, status, sink, options) = (stop.clone(), status.clone(), sink.clone(), options.clone());
            let thread_name = format!("hookhost-ship-{}", sink.name);
            let spawned = std::thread::Builder::new().name(thread_name.clone()).spawn(move || {
                let report = |st: SinkStatus| set_status(&status, i, st);
                let lock = loop {
                    match lock_cursor(&options, &sink) {
                        Ok(l) => break l,
                        Err(e) => {
                            report(SinkStatus {
                                name: sink.name.clone(),
                                kind: sink.kind.as_str().into(),
                                waiting_for_lock: e.kind() == io::ErrorKind::WouldBlock,
                                error: Some(e.to_string()),
                                ..Default::default()
                            });
                            if sleep_until_stopped(&stop, Duration::from_secs(1)) {
                                return;
                            }
                        }
                    }
                };
                let mut run = SinkRun::new(&options, &sink, report);
                run.run(&stop, None);
                drop(lock);
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    tracing::error!(thread = %thread_name, error = %e, "audit shipping: cannot start the sink's thread")
                }
            }
        }
        Shipper { stop, threads, status }
    }

    /// Stops every sink's thread (each saves its cursor) and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn set_status(status: &Shared, i: usize, st: SinkStatus) {
    let mut all = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(slot) = all.get_mut(i) {
        *slot = st;
    }
    crate::metrics::ship_status(all.iter().map(|s| (s.name.as_str(), s.lag_records, s.lag_seconds)));
}

/// Sleeps `d` in small steps; true when asked to stop meanwhile.
fn sleep_until_stopped(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Takes the exclusive lock of a sink's cursor without waiting.
fn lock_cursor(options: &ShipOptions, sink: &SinkConfig) -> io::Result<crate::file_lock::FileLock> {
    if !options.cursor_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&options.cursor_dir)?;
    }
    let mut lock = cursor_path(&options.cursor_dir, &options.log, &sink.name).into_os_string();
    lock.push(".lock");
    let file = crate::audit::open_private_rw(Path::new(&lock))?;
    crate::file_lock::FileLock::try_lock(file, crate::file_lock::Mode::Exclusive)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("another shipper holds sink {:?} ({})", sink.name, PathBuf::from(&lock).display()),
        )
    })
}

/// Exponential backoff with full jitter.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff { next: FIRST_BACKOFF.min(max), max }
    }
    fn reset(&mut self) {
        self.next = FIRST_BACKOFF.min(self.max);
    }
    /// The pause before the next attempt: uniformly in [next/2, next], then `next` doubles.
    fn pause(&mut self, asked: Option<Duration>) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jittered = base.mul_f64(0.5 + fastrand::f64() * 0.5);
        asked.map_or(jittered, |a| a.min(self.max).max(jittered))
    }
}

/// One sink's shipping loop.
struct SinkRun<'a, R: Fn(SinkStatus)> {
    options: &'a ShipOptions,
    cfg: &'a SinkConfig,
    report: R,
    cursor_path: PathBuf,
    cursor: Cursor,
    /// Sent, not yet confirmed, oldest first.
    unconfirmed: VecDeque<Record>,
    /// Most records unconfirmed at once.
    window: usize,
    status: SinkStatus,
    last_status: Instant,
}

/// What a drain (`hookhost audit ship` without `--follow`) achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct Drained {
    pub caught_up: bool,
    pub status: SinkStatus,
}

impl<'a, R: Fn(SinkStatus)> SinkRun<'a, R> {
    fn new(options: &'a ShipOptions, cfg: &'a SinkConfig, report: R) -> Self {
        let cursor_path = cursor_path(&options.cursor_dir, &options.log, &cfg.name);
        SinkRun {
            options,
            cfg,
            report,
            cursor_path,
            cursor: Cursor::default(),
            unconfirmed: VecDeque::new(),
            window: (cfg.batch * 4).clamp(64, 40_000),
            status: SinkStatus { name: cfg.name.clone(), kind: cfg.kind.as_str().into(), ..Default::default() },
            last_status: Instant::now() - Duration::from_secs(60),
        }
    }

    fn load_cursor(&mut self) {
        self.cursor = match read_cursor(&self.cursor_path) {
            Ok(Some(c)) if c.log == self.options.log => c,
            Ok(Some(c)) => {
                self.notice(format!(
                    "the cursor followed another log ({}); starting over on {}",
                    c.log.display(),
                    self.options.log.display()
                ));
                Cursor::default()
            }
            Ok(None) => Cursor::default(),
            Err(e) => {
                // Unreadable: start from the oldest record (re-sending is safe, skipping is not).
                self.notice(format!(
                    "the cursor {} is unreadable ({e}); re-sending from the oldest record",
                    self.cursor_path.display()
                ));
                Cursor { notices: self.status.notices.clone(), ..Cursor::default() }
            }
        };
        self.cursor.v = 1;
        self.cursor.sink = self.cfg.name.clone();
        self.cursor.log = self.options.log.clone();
        self.status.delivered_seq = self.cursor.position.as_ref().map_or(0, |p| p.seq);
        self.status.notices = self.cursor.notices.clone();
    }

    fn notice(&mut self, n: String) {
        tracing::warn!(sink = %self.cfg.name, "audit shipping: {n}");
        crate::metrics::ship_notice(&self.cfg.name);
        self.status.notices.push(n.clone());
        if self.status.notices.len() > 20 {
            self.status.notices.remove(0);
        }
        self.cursor.notices = self.status.notices.clone();
    }

    fn save_cursor(&mut self) {
        self.cursor.updated = now_unix();
        self.cursor.error = self.status.error.clone();
        if let Err(e) = write_cursor(&self.cursor_path, &self.cursor) {
            tracing::warn!(sink = %self.cfg.name, error = %e, path = %self.cursor_path.display(), "audit shipping: cannot write the cursor");
        }
    }

    fn publish(&mut self, force: bool) {
        if !force && self.last_status.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last_status = Instant::now();
        let log_seq = follow::tail_seq(&self.options.log).unwrap_or(self.status.log_seq);
        self.status.log_seq = log_seq.max(self.status.delivered_seq);
        self.status.lag_records = self.status.log_seq - self.status.delivered_seq;
        self.status.lag_seconds = match (self.status.lag_records, self.unconfirmed.front()) {
            (0, _) => 0.0,
            (_, Some(r)) => r.time.as_deref().and_then(parse_time).map_or(0.0, |t| (now_unix() - t).max(0.0)),
            (_, None) => self.oldest_pending_age(),
        };
        (self.report)(self.status.clone());
    }

    /// Age of the record after the cursor (read from the log).
    fn oldest_pending_age(&self) -> f64 {
        let position = self.cursor.position.as_ref();
        let start = if position.is_some() { StartAt::Oldest } else { self.cfg.start };
        match Follower::open(&self.options.log, position, start) {
            Ok((mut f, _)) => match f.next_batch(1, 1) {
                Ok(b) => b
                    .first()
                    .and_then(|r| r.time.as_deref())
                    .and_then(parse_time)
                    .map_or(0.0, |t| (now_unix() - t).max(0.0)),
                Err(_) => 0.0,
            },
            Err(_) => 0.0,
        }
    }

    /// Ships until `stop` (`deadline`: until caught up, or that instant).
    fn run(&mut self, stop: &AtomicBool, deadline: Option<Instant>) -> bool {
        self.load_cursor();
        let mut backoff = Backoff::new(self.cfg.max_backoff);
        let mut sink: Option<Box<dyn Sink>> = None;
        let mut follower: Option<Follower> = None;
        loop {
            if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let step = self.step(&mut sink, &mut follower);
            match step {
                Ok(Step::Progress) => {
                    backoff.reset();
                    self.publish(false);
                }
                Ok(Step::Idle) => {
                    self.publish(false);
                    if deadline.is_some() && self.unconfirmed.is_empty() {
                        self.publish(true);
                        if self.status.lag_records == 0 {
                            self.save_cursor();
                            return true;
                        }
                    }
                    if sleep_until_stopped(stop, POLL) {
                        break;
                    }
                }
                Ok(Step::Waiting) => {
                    self.publish(false);
                    if sleep_until_stopped(stop, POLL) {
                        break;
                    }
                }
                Err(e) => {
                    self.status.failures += 1;
                    crate::metrics::ship_failure(&self.cfg.name);
                    if self.status.error.as_deref() != Some(e.message.as_str()) {
                        tracing::warn!(sink = %self.cfg.name, error = %e, "audit shipping: delivery failed; retrying");
                        self.status.error = Some(e.message.clone());
                        self.save_cursor();
                    }
                    if let Some(s) = sink.as_mut() {
                        s.reset();
                    }
                    // Everything not confirmed goes again, from the cursor.
                    self.unconfirmed.clear();
                    follower = None;
                    self.publish(true);
                    if sleep_until_stopped(stop, backoff.pause(e.retry_after)) {
                        break;
                    }
                }
            }
        }
        // Confirmations that arrived meanwhile count; the rest is sent again next time.
        if let Some(s) = sink.as_mut()
            && let Ok(n) = s.confirmed()
        {
            self.advance(n);
        }
        self.save_cursor();
        self.publish(true);
        false
    }

    /// Moves the cursor past the `n` oldest unconfirmed records.
    fn advance(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let mut last = None;
        for _ in 0..n {
            last = self.unconfirmed.pop_front().or(last);
        }
        if let Some(r) = last {
            self.status.delivered += n as u64;
            crate::metrics::ship_delivered(&self.cfg.name, n as u64);
            self.status.delivered_seq = r.seq;
            self.cursor.position = Some(r.end.clone());
            self.cursor.time = r.time.clone();
        }
    }

    fn step(&mut self, sink: &mut Option<Box<dyn Sink>>, follower: &mut Option<Follower>) -> Result<Step, SinkError> {
        let s = match sink {
            Some(s) => s,
            None => sink.insert(connect(self.cfg).map_err(SinkError::new)?),
        };
        let n = s.confirmed()?;
        let confirmed_any = n > 0;
        if confirmed_any {
            self.advance(n);
            if self.status.error.take().is_some() {
                tracing::info!(sink = %self.cfg.name, "audit shipping: the sink takes records again");
            }
            self.save_cursor();
        }
        let f = match follower {
            Some(f) => f,
            None => {
                let position = self.cursor.position.clone();
                let start = if position.is_some() { StartAt::Oldest } else { self.cfg.start };
                let (f, notices) = Follower::open(&self.options.log, position.as_ref(), start).map_err(|e| {
                    SinkError::new(format!("cannot read the audit log {}: {e}", self.options.log.display()))
                })?;
                for n in notices {
                    self.notice(n.to_string());
                }
                if position.is_none()
                    && start == StartAt::End
                    && let Some(p) = f.position()
                {
                    // Nothing before this point is to be shipped: remember where we started.
                    self.cursor.position = Some(p);
                    self.save_cursor();
                }
                follower.insert(f)
            }
        };
        if self.unconfirmed.len() >= self.window {
            return Ok(if confirmed_any { Step::Progress } else { Step::Waiting });
        }
        let want = self.cfg.batch.min(self.window - self.unconfirmed.len());
        let batch = f
            .next_batch(want, BATCH_BYTES)
            .map_err(|e| SinkError::new(format!("cannot read the audit log {}: {e}", self.options.log.display())))?;
        if batch.is_empty() {
            return Ok(if confirmed_any {
                Step::Progress
            } else if self.unconfirmed.is_empty() {
                Step::Idle
            } else {
                Step::Waiting
            });
        }
        s.send(&batch)?;
        self.unconfirmed.extend(batch);
        let n = s.confirmed()?;
        self.advance(n);
        if n > 0 {
            if self.status.error.take().is_some() {
                tracing::info!(sink = %self.cfg.name, "audit shipping: the sink takes records again");
            }
            self.save_cursor();
        }
        Ok(Step::Progress)
    }
}

enum Step {
    /// Records were sent or confirmed.
    Progress,
    /// Nothing new in the log, nothing unconfirmed.
    Idle,
    /// Waiting for confirmations.
    Waiting,
}

/// `hookhost audit ship`: ships to every sink until caught up (`follow`: until SIGTERM/SIGINT,
/// signalled through `stop`), then returns each sink's status. Sinks run one after the other in
/// drain mode, all at once in follow mode. `Err`: a sink's cursor is held by another shipper.
pub fn run_cli(
    options: &ShipOptions,
    follow: bool,
    timeout: Duration,
    stop: &AtomicBool,
) -> Vec<Result<Drained, String>> {
    if follow {
        let mut locks = Vec::new();
        for s in &options.sinks {
            match lock_cursor(options, s) {
                Ok(l) => locks.push(l),
                Err(e) => return vec![Err(e.to_string())],
            }
        }
        drop(locks);
        let shipper = Shipper::spawn(options.clone());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = shipper.status.clone();
        shipper.stop();
        let all = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        return all.into_iter().map(|st| Ok(Drained { caught_up: st.lag_records == 0, status: st })).collect();
    }
    options
        .sinks
        .iter()
        .map(|s| {
            let _lock = lock_cursor(options, s).map_err(|e| e.to_string())?;
            let last = std::cell::RefCell::new(SinkStatus::default());
            let mut run = SinkRun::new(options, s, |st| *last.borrow_mut() = st);
            let caught_up = run.run(stop, Some(Instant::now() + timeout));
            drop(run);
            Ok(Drained { caught_up, status: last.into_inner() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_the_log_writes_them() {
        for secs in [0i64, 1, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let s = crate::clock::format_rfc3339(secs, Some(123_456));
            assert_eq!(parse_time(&s), Some(secs as f64 + 0.123456), "{s}");
            let s = crate::clock::format_rfc3339(secs, None);
            assert_eq!(parse_time(&s), Some(secs as f64), "{s}");
        }
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "x026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_and_backoff() {
        assert!(valid_name("siem-1.local_2"));
        for bad in ["", "a b", "a/b", "..x/", &"x".repeat(65), "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let mut b = Backoff::new(Duration::from_secs(2));
        let pauses: Vec<Duration> = (0..10).map(|_| b.pause(None)).collect();
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(2)), "{pauses:?}");
        assert!(pauses[0] >= FIRST_BACKOFF / 2 && pauses[0] <= FIRST_BACKOFF);
        assert!(pauses[9] >= Duration::from_secs(1));
        assert_eq!(b.pause(Some(Duration::from_secs(60))), Duration::from_secs(2));
        b.reset();
        assert!(b.pause(None) <= FIRST_BACKOFF);
    }
}
