//! The syslog sink: one RFC 5424 message per audit record, over the local socket (a Unix
//! datagram socket, `/dev/log` by default), TCP, or TLS (RFC 5425), with octet-counting framing
//! (RFC 6587 §3.4.1: `<length> <message>`) on TCP and TLS.
//!
//! # The message
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD-ID seq="…" hash="…" prev="…" kind="…" event="…" tool="…" decision="…" session="…" revision="…"] {the record}
//! ```
//!
//! - PRI: `facility * 8 + severity`; severity 2 (crit) for an anchor break, 3 (err) for a host
//!   error, 4 (warning) for a deny, block, defer or stop, 5 (notice) for an ask, 6 (info) else.
//! - TIMESTAMP: the record's `time`; HOSTNAME: this machine's name; APP-NAME: `appName`
//!   (default `hookhost`); PROCID: `-`; MSGID: the record's `kind` (`event`, `async_hook`,
//!   `settings_change`, …).
//! - STRUCTURED-DATA: one element, `sdId` (default `hookhost@32473`, 32473 being the example
//!   enterprise number of RFC 5612, as hookhost has none), with the chain fields and the
//!   record's summary fields that are present (values escaped as RFC 5424 §6.3.3 says, control
//!   characters replaced by `?`).
//! - MSG: the record's line exactly as the audit log holds it (JSON, after redaction, no BOM).
//!   When the whole message would exceed `maxMessageBytes`, MSG is a summary instead (the chain
//!   and summary fields plus `"shipped_truncated":true` and `"original_bytes"`); the full record
//!   stays in the local log.
//!
//! # Delivery
//!
//! Syslog has no acknowledgement. A batch counts as delivered (and the cursor moves past it)
//! once (TCP, TLS) the receiver's TCP stack acknowledged every byte of it (the socket's send
//! queue, read from `/proc/net/tcp`, no longer holds it) or (Unix socket) the datagrams were
//! queued to the receiver, *and* the connection was still open `confirmSeconds` later (default
//! 2). A receiver that dies closes the connection (RST or FIN): everything not yet confirmed is
//! sent again after reconnecting, so a receiver killed and restarted gets every record, some
//! twice (deduplicate on `seq`). What this cannot cover: a receiver that holds records unwritten
//! for longer than `confirmSeconds` and then dies, or a machine that vanishes without closing
//! the connection; OTLP, acknowledged per request, has no such window.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Record, Sink, SinkError};

/// How syslog messages travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A local datagram socket (`/dev/log`).
    Unix { path: PathBuf },
    /// `host:port`, plain TCP.
    Tcp { address: String },
    /// `host:port`, TLS; the server's certificate is checked against `ca_file` (PEM) when given,
    /// else the Mozilla roots, for `server_name` (default: the host of `address`).
    Tls { address: String, ca_file: Option<PathBuf>, server_name: Option<String> },
}

/// A syslog sink's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    pub transport: Transport,
    /// 0–23 (`local0` is 16).
    pub facility: u8,
    pub app_name: String,
    pub sd_id: String,
    pub max_message_bytes: usize,
    /// How long a connection must stay open after a batch was taken before it counts as
    /// delivered.
    pub confirm: Duration,
    /// Connecting and writing must finish within this.
    pub timeout: Duration,
}

/// Facility names (RFC 5424 §6.2.1, as syslog.conf spells them).
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub const DEFAULT_APP_NAME: &str = "hookhost";
pub const DEFAULT_SD_ID: &str = "hookhost@32473";
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 10;
pub const DEFAULT_CONFIRM: Duration = Duration::from_secs(2);

/// Whether `s` is a valid APP-NAME (1–48 printable US-ASCII characters).
pub fn valid_app_name(s: &str) -> bool {
    (1..=48).contains(&s.len()) && s.bytes().all(|b| (33..=126).contains(&b))
}

/// Whether `s` is a valid SD-ID: a name (1–32 printable US-ASCII, no `=`, space, `]`, `"`),
/// with `@<digits>` when it is not an IANA-registered one (every name hookhost accepts has it).
pub fn valid_sd_id(s: &str) -> bool {
    let ok = (1..=32).contains(&s.len()) && s.bytes().all(|b| (33..=126).contains(&b) && !b"= ]\"".contains(&b));
    ok && s
        .split_once('@')
        .is_some_and(|(n, pen)| !n.is_empty() && !pen.is_empty() && pen.bytes().all(|b| b.is_ascii_digit()))
}

/// The record fields copied into STRUCTURED-DATA, and their SD-PARAM names.
const SD_FIELDS: &[(&str, &str)] = &[
    ("kind", "kind"),
    ("event", "event"),
    ("tool", "tool"),
    ("decision", "decision"),
    ("session_id", "session"),
    ("settings_revision", "revision"),
    ("agent", "agent"),
];

/// The fields a summary keeps (besides the chain's).
const SUMMARY_FIELDS: &[&str] =
    &["time", "kind", "event", "tool", "session_id", "agent", "decision", "settings_revision", "input_sha256", "host"];

/// Severity of a record (RFC 5424 §6.2.1).
pub fn severity(fields: &Map<String, Value>) -> u8 {
    let s = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    if fields.contains_key(crate::audit::ANCHOR_BREAK_FIELD) || s("kind") == "audit_anchor_break" {
        return 2;
    }
    match (s("kind"), s("decision")) {
        ("host_error", _) | (_, "error") => 3,
        (_, "deny" | "block" | "defer" | "stop") => 4,
        (_, "ask") => 5,
        _ => 6,
    }
}

/// A record's MSG when the full line does not fit: the chain fields and a summary.
pub fn summary(r: &Record, fields: &Map<String, Value>) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("v".into(), fields.get("v").cloned().unwrap_or(Value::from(1)));
    m.insert("seq".into(), r.seq.into());
    m.insert("prev".into(), r.prev.clone().into());
    m.insert("hash".into(), r.hash.clone().into());
    for k in SUMMARY_FIELDS {
        let v = match (*k, fields.get(*k)) {
            ("agent", Some(Value::Object(a))) => a.get("name"),
            (_, v) => v,
        };
        if let Some(v) = v.filter(|v| !v.is_object() && !v.is_array()) {
            let v = match v {
                Value::String(s) if s.len() > 256 => Value::String(s[..s.floor_char_boundary(256)].to_string()),
                other => other.clone(),
            };
            m.insert((*k).into(), v);
        }
    }
    m.insert("shipped_truncated".into(), true.into());
    m.insert("original_bytes".into(), r.line.len().into());
    serde_json::to_vec(&m).unwrap_or_default()
}

fn printable(s: &str, max: usize) -> String {
    let t: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if t.is_empty() { "-".into() } else { t }
}

/// One SD-PARAM value, escaped (`"`, `\` and `]` get a backslash); control characters (a
/// newline would split the message for a receiver that writes lines) become `?`.
fn sd_value(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        let c = if c.is_control() { '?' } else { c };
        if matches!(c, '"' | '\\' | ']') {
            out.push(b'\\');
        }
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
}

/// The RFC 5424 message of one record (without framing).
pub fn format(cfg: &SyslogConfig, hostname: &str, r: &Record) -> Vec<u8> {
    let fields: Map<String, Value> = serde_json::from_slice(&r.line).unwrap_or_default();
    let pri = u16::from(cfg.facility) * 8 + u16::from(severity(&fields));
    let time = r.time.as_deref().filter(|t| super::parse_time(t).is_some() && t.len() <= 32).unwrap_or("-").to_string();
    let msgid = printable(fields.get("kind").and_then(Value::as_str).unwrap_or(""), 32);
    let mut out =
        format!("<{pri}>1 {time} {} {} - {msgid} [{}", printable(hostname, 255), cfg.app_name, cfg.sd_id).into_bytes();
    let mut param = |name: &str, value: &str| {
        out.extend_from_slice(format!(" {name}=\"").as_bytes());
        sd_value(&mut out, value);
        out.push(b'"');
    };
    param("seq", &r.seq.to_string());
    param("hash", &r.hash);
    param("prev", &r.prev);
    for (field, name) in SD_FIELDS {
        // The agent is recorded as an object (`{"name": …, "version": …}`): its name here.
        let value = match (*field, fields.get(*field)) {
            ("agent", Some(Value::Object(a))) => a.get("name"),
            (_, v) => v,
        };
        match value {
            Some(Value::String(s)) => param(name, &s.chars().take(256).collect::<String>()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => param(name, &v.to_string()),
            _ => {}
        }
    }
    out.extend_from_slice(b"] ");
    let head = out.len();
    if head + r.line.len() <= cfg.max_message_bytes {
        out.extend_from_slice(&r.line);
    } else {
        out.extend_from_slice(&summary(r, &fields));
    }
    out
}

/// This machine's name for HOSTNAME.
pub fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "-".into())
}

// ---------------------------------------------------------------------------------------------
// The connection

/// A TCP stream that counts the bytes written to it (TLS records included).
struct Counting {
    tcp: TcpStream,
    written: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tcp.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Conn {
    Dgram(UnixDatagram),
    Tcp(Counting),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Counting>>),
}

/// A batch handed to the connection.
struct Sent {
    records: usize,
    /// Bytes written on the connection up to the end of this batch.
    end: u64,
    /// When the receiver had all of it.
    taken: Option<Instant>,
}

/// The syslog sink.
pub struct SyslogSink {
    cfg: SyslogConfig,
    hostname: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    sent: VecDeque<Sent>,
    written: u64,
}

impl SyslogSink {
    pub fn new(cfg: SyslogConfig) -> Result<SyslogSink, String> {
        let tls = match &cfg.transport {
            Transport::Tls { ca_file, .. } => Some(Arc::new(tls_config(ca_file.as_deref())?)),
            _ => None,
        };
        Ok(SyslogSink { cfg, hostname: hostname(), tls, conn: None, sent: VecDeque::new(), written: 0 })
    }

    fn connect(&mut self) -> Result<(), SinkError> {
        let timeout = self.cfg.timeout;
        let conn = match &self.cfg.transport {
            Transport::Unix { path } => {
                let s = UnixDatagram::unbound().map_err(|e| SinkError::new(format!("socket: {e}")))?;
                s.connect(path).map_err(|e| SinkError::new(format!("{}: {e}", path.display())))?;
                s.set_write_timeout(Some(timeout)).map_err(|e| SinkError::new(e.to_string()))?;
                Conn::Dgram(s)
            }
            Transport::Tcp { address } => Conn::Tcp(Counting { tcp: tcp_connect(address, timeout)?, written: 0 }),
            Transport::Tls { address, server_name, .. } => {
                let host = server_name.clone().unwrap_or_else(|| host_of(address).to_string());
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| SinkError::new(format!("TLS server name {host:?}: {e}")))?;
                let config = self.tls.clone().ok_or_else(|| SinkError::new("no TLS configuration"))?;
                let c = rustls::ClientConnection::new(config, name)
                    .map_err(|e| SinkError::new(format!("TLS to {address}: {e}")))?;
                let mut s = rustls::StreamOwned::new(c, Counting { tcp: tcp_connect(address, timeout)?, written: 0 });
                while s.conn.is_handshaking() {
                    s.conn
                        .complete_io(&mut s.sock)
                        .map_err(|e| SinkError::new(format!("TLS handshake with {address}: {e}")))?;
                }
                Conn::Tls(Box::new(s))
            }
        };
        self.conn = Some(conn);
        self.written = 0;
        self.sent.clear();
        Ok(())
    }

    /// Bytes on the connection the receiver has taken (TCP: acknowledged).
    fn taken(&self) -> Option<u64> {
        match &self.conn {
            None => None,
            Some(Conn::Dgram(_)) => Some(self.written),
            Some(Conn::Tcp(c)) => tcp_unacked(&c.tcp).map(|q| c.written.saturating_sub(q)),
            Some(Conn::Tls(s)) => tcp_unacked(&s.sock.tcp).map(|q| s.sock.written.saturating_sub(q)),
        }
    }

    /// Errors when the receiver closed the connection (or it broke).
    fn check_open(&mut self) -> Result<(), SinkError> {
        let closed = |what: &str| SinkError::new(format!("the receiver {what}"));
        match &mut self.conn {
            None | Some(Conn::Dgram(_)) => Ok(()),
            Some(Conn::Tcp(c)) => {
                use nix::sys::socket::{MsgFlags, recv};
                use std::os::fd::AsRawFd;
                let mut buf = [0u8; 4096];
                loop {
                    match recv(c.tcp.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                        Ok(0) => return Err(closed("closed the connection")),
                        Ok(_) => continue, // Nothing is expected from a syslog receiver: dropped.
                        Err(nix::errno::Errno::EAGAIN) => return Ok(()),
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(closed(&format!("connection broke: {e}"))),
                    }
                }
            }
            Some(Conn::Tls(s)) => {
                s.sock.tcp.set_nonblocking(true).map_err(|e| closed(&e.to_string()))?;
                let result = loop {
                    match s.conn.read_tls(&mut s.sock) {
                        Ok(0) => break Err(closed("closed the connection")),
                        Ok(_) => match s.conn.process_new_packets() {
                            Ok(state) if state.peer_has_closed() => break Err(closed("closed the TLS session")),
                            Ok(state) => {
                                let mut sink = vec![0u8; state.plaintext_bytes_to_read()];
                                let _ = s.conn.reader().read(&mut sink);
                            }
                            Err(e) => break Err(closed(&format!("TLS error: {e}"))),
                        },
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(closed(&format!("connection broke: {e}"))),
                    }
                };
                s.sock.tcp.set_nonblocking(false).map_err(|e| closed(&e.to_string()))?;
                result
            }
        }
    }
}

impl Sink for SyslogSink {
    fn send(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let cfg = &self.cfg;
        let messages: Vec<Vec<u8>> = batch.iter().map(|r| format(cfg, &self.hostname, r)).collect();
        let err = |e: io::Error| SinkError::new(format!("write: {e}"));
        match self.conn.as_mut() {
            None => return Err(SinkError::new("not connected")),
            Some(Conn::Dgram(s)) => {
                for m in &messages {
                    let n = s.send(m).map_err(err)?;
                    self.written += n as u64;
                }
            }
            Some(Conn::Tcp(c)) => {
                let framed = frame(&messages);
                c.write_all(&framed).map_err(err)?;
                self.written = c.written;
            }
            Some(Conn::Tls(s)) => {
                let framed = frame(&messages);
                s.write_all(&framed).map_err(err)?;
                s.flush().map_err(err)?;
                self.written = s.sock.written;
            }
        }
        self.sent.push_back(Sent { records: batch.len(), end: self.written, taken: None });
        Ok(())
    }

    fn confirmed(&mut self) -> Result<usize, SinkError> {
        if self.sent.is_empty() {
            if self.conn.is_some() {
                self.check_open()?;
            }
            return Ok(0);
        }
        self.check_open()?;
        let now = Instant::now();
        if self.sent.iter().any(|s| s.taken.is_none()) {
            // Unknown (no /proc/net/tcp): what was written counts as taken.
            let taken = self.taken().unwrap_or(self.written);
            for s in self.sent.iter_mut().filter(|s| s.taken.is_none() && s.end <= taken) {
                s.taken = Some(now);
            }
        }
        let mut n = 0;
        while let Some(s) = self.sent.front() {
            match s.taken {
                Some(t) if now.duration_since(t) >= self.cfg.confirm => {
                    n += s.records;
                    self.sent.pop_front();
                }
                _ => break,
            }
        }
        Ok(n)
    }

    fn reset(&mut self) {
        self.conn = None;
        self.sent.clear();
        self.written = 0;
    }
}

/// Octet-counting framing: `<length> <message>` for each message.
fn frame(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
    for m in messages {
        out.extend_from_slice(m.len().to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(m);
    }
    out
}

fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

fn tcp_connect(address: &str, timeout: Duration) -> Result<TcpStream, SinkError> {
    let addrs: Vec<_> = address.to_socket_addrs().map_err(|e| SinkError::new(format!("{address}: {e}")))?.collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let set =
                    s.set_write_timeout(Some(timeout)).and(s.set_read_timeout(Some(timeout))).and(s.set_nodelay(true));
                set.map_err(|e| SinkError::new(format!("{address}: {e}")))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(SinkError::new(format!("{address}: {}", last.map_or_else(|| "no address".to_string(), |e| e.to_string()))))
}

/// Bytes sent on `s` not yet acknowledged by the receiver (the `tx_queue` of its line in
/// `/proc/net/tcp` or `tcp6`, found by the socket's inode). `None` when it cannot be read.
fn tcp_unacked(s: &TcpStream) -> Option<u64> {
    let ino = nix::sys::stat::fstat(s.as_fd()).ok()?.st_ino;
    let table = if s.local_addr().ok()?.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let text = std::fs::read_to_string(table).ok()?;
    let ino = ino.to_string();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9) == Some(&ino.as_str()) {
            let tx = cols.get(4)?.split(':').next()?;
            return u64::from_str_radix(tx, 16).ok();
        }
    }
    None
}

/// The TLS client configuration: the roots in `ca_file` (PEM), else Mozilla's.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("{}: no CA certificate in it", path.display()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ship::Position;

    fn record(line: &str) -> Record {
        let v: Value = serde_json::from_str(line).unwrap();
        Record {
            seq: v["seq"].as_u64().unwrap(),
            hash: v["hash"].as_str().unwrap().into(),
            prev: v["prev"].as_str().unwrap().into(),
            time: v["time"].as_str().map(String::from),
            line: line.as_bytes().to_vec(),
            end: Position { dev: 0, ino: 0, offset: 0, seq: 0, hash: String::new() },
        }
    }

    fn cfg() -> SyslogConfig {
        SyslogConfig {
            transport: Transport::Tcp { address: "127.0.0.1:1".into() },
            facility: 16,
            app_name: "hookhost".into(),
            sd_id: DEFAULT_SD_ID.into(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            confirm: DEFAULT_CONFIRM,
            timeout: Duration::from_secs(1),
        }
    }

    const H: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn a_record_becomes_one_rfc5424_message() {
        let line = format!(
            r#"{{"v":1,"seq":7,"prev":"{H}","time":"2026-01-02T03:04:05.123456Z","kind":"event","event":"PreToolUse","tool":"Bash","session_id":"s\"]\\1","decision":"deny","hash":"{H}"}}"#
        );
        let m = String::from_utf8(format(&cfg(), "box", &record(&line))).unwrap();
        // local0 (16) * 8 + warning (4) = 132.
        let want = format!(
            "<132>1 2026-01-02T03:04:05.123456Z box hookhost - event [hookhost@32473 seq=\"7\" hash=\"{H}\" prev=\"{H}\" kind=\"event\" event=\"PreToolUse\" tool=\"Bash\" decision=\"deny\" session=\"s\\\"\\]\\\\1\"] {line}"
        );
        assert_eq!(m, want);
        assert_eq!(frame(&[b"abc".to_vec(), b"".to_vec()]), b"3 abc0 ".to_vec());
    }

    #[test]
    fn oversized_records_are_summarised_and_severities_map() {
        let big = "x".repeat(100_000);
        let line = format!(
            r#"{{"v":1,"seq":9,"prev":"{H}","time":"bad","kind":"event","decision":"ask","input":{{"c":"{big}"}},"hash":"{H}"}}"#
        );
        let m = format(&cfg(), "h o\nst", &record(&line));
        assert!(m.len() < 2000, "{}", m.len());
        let text = String::from_utf8(m).unwrap();
        assert!(text.starts_with("<133>1 - host hookhost - event ["), "{text}");
        let msg: Value = serde_json::from_str(text.split_once("] ").unwrap().1).unwrap();
        assert_eq!(msg["seq"], 9);
        assert_eq!(msg["shipped_truncated"], true);
        assert_eq!(msg["original_bytes"], line.len());
        assert!(msg.get("input").is_none());
        let sev = |v: Value| severity(v.as_object().unwrap());
        assert_eq!(sev(serde_json::json!({"kind": "audit_anchor_break"})), 2);
        assert_eq!(sev(serde_json::json!({"kind": "event", "decision": "error"})), 3);
        assert_eq!(sev(serde_json::json!({"kind": "event", "decision": "block"})), 4);
        assert_eq!(sev(serde_json::json!({"kind": "event", "decision": "allow"})), 6);
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_app_name("hookhost"));
        assert!(!valid_app_name("hook host"));
        assert!(!valid_app_name(&"a".repeat(49)));
        assert!(valid_sd_id("hookhost@32473"));
        for bad in ["hookhost", "a@", "@1", "a b@1", "a=b@1", "a\"@1", &format!("{}@1", "a".repeat(31))] {
            assert!(!valid_sd_id(bad), "{bad}");
        }
        assert_eq!(host_of("[::1]:6514"), "::1");
        assert_eq!(host_of("logs.example.com:6514"), "logs.example.com");
    }
}
