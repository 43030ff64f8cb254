//! Server-managed settings: the `remoteSettings` bootstrap (an endpoint-managed, managed-only
//! key), fetching the server's payload over HTTPS, verifying its ed25519 signature, and the
//! on-disk cache in `<state_dir>/remote/`.
//!
//! Promises:
//! - A payload is applied only after it parsed as managed settings and, when `publicKey` is
//!   set, after its detached signature verified against one of the accepted keys. A rejected
//!   payload is never cached.
//! - The cache (payload bytes, signature, ETag / Last-Modified, fetch time, url) is written atomically (temp
//!   file, fsync, rename; the payload file is named by its hash and written before the record
//!   that points at it) and re-verified at every load: a cache whose bytes, url or signature do
//!   not check out is rejected, reported, and never applied.
//! - Network failures never remove a good cache.
//!
//! Signatures travel in one of two ways (both sign the exact payload bytes):
//! the `X-Hookhost-Signature: <base64 signature>` response header, or, for static web servers
//! that cannot set headers, a signed envelope as the whole body:
//! `{"hookhostSigned": 1, "payload": "<base64 bytes>", "signature": "<base64>"}` (what
//! `hookhost sign` writes). An empty body (HTTP 204) is an empty payload and must be signed too
//! when `publicKey` is set (the signature is over zero bytes).
//!
//! This module does not dispatch ConfigChange events or audit: it reports what happened
//! (`StartupReport`, `Refresh`) and its callers do that.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Scope;

/// The response header that carries the payload's signature.
pub const SIGNATURE_HEADER: &str = "X-Hookhost-Signature";
/// The key that marks a signed envelope body.
pub const ENVELOPE_KEY: &str = "hookhostSigned";
/// The longest `pollSeconds` (a week): the interval is added to clock readings.
pub const MAX_POLL_SECONDS: u64 = 7 * 86_400;
/// Default poll interval (Claude Code polls hourly).
pub const DEFAULT_POLL_SECONDS: u64 = 3600;
/// Default timeout of one fetch attempt.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 5.0;
/// Default number of retries after a failed attempt (network error, timeout, 5xx).
pub const DEFAULT_RETRIES: u32 = 2;
/// The largest payload accepted.
pub const MAX_PAYLOAD_BYTES: u64 = super::file::MAX_SETTINGS_BYTES;
/// Where the cache lives when no user state directory is known.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/hookhost";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach {url}: {message}")]
    Network { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent an unsigned payload, but remoteSettings.publicKey requires a signature")]
    Unsigned { url: String },
    #[error("{url} sent a payload whose signature does not verify with any key in remoteSettings.publicKey")]
    BadSignature { url: String },
    #[error("{url} sent an invalid payload: {message}")]
    Invalid { url: String, message: String },
    #[error("remote settings cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
}

impl RemoteError {
    /// Whether another attempt may succeed (network trouble and server errors, not a bad payload).
    fn retryable(&self) -> bool {
        match self {
            RemoteError::Network { .. } => true,
            RemoteError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The validated `remoteSettings` object of endpoint-managed settings.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub url: String,
    pub poll: Duration,
    pub timeout: Duration,
    pub retries: u32,
    /// Accepted signing keys (`publicKey`: one base64 key or a list, for rotation). Empty: payloads
    /// need no signature.
    pub keys: Vec<VerifyingKey>,
    pub headers: Vec<(String, String)>,
    /// Hooks and env vars delivered by the server run only once their revision is approved.
    pub require_approval: bool,
}

const CONFIG_KEYS: &[&str] =
    &["url", "pollSeconds", "timeoutSeconds", "retries", "publicKey", "headers", "requireApproval"];

impl RemoteConfig {
    /// Validates a `remoteSettings` value; the error says what is wrong.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("`remoteSettings` must be an object with `url`")?;
        if let Some(k) = obj.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field `{k}` in `remoteSettings` (expected one of: {})",
                CONFIG_KEYS.join(", ")
            ));
        }
        let url = obj.get("url").and_then(Value::as_str).ok_or("`remoteSettings.url` must be a string")?.to_string();
        check_url(&url)?;
        let poll = match obj.get("pollSeconds") {
            None => DEFAULT_POLL_SECONDS,
            Some(x) => x
                .as_u64()
                .filter(|n| (1..=MAX_POLL_SECONDS).contains(n))
                .ok_or("`remoteSettings.pollSeconds` must be a whole number from 1 to 604800 (a week)")?,
        };
        let timeout = match obj.get("timeoutSeconds") {
            None => DEFAULT_TIMEOUT_SECONDS,
            Some(x) => x
                .as_f64()
                .filter(|n| (0.001..=300.0).contains(n))
                .ok_or("`remoteSettings.timeoutSeconds` must be a number of seconds from 0.001 to 300")?,
        };
        let retries = match obj.get("retries") {
            None => DEFAULT_RETRIES,
            Some(x) => {
                x.as_u64().filter(|n| *n <= 10).ok_or("`remoteSettings.retries` must be an integer 0..=10")? as u32
            }
        };
        let keys = match obj.get("publicKey") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![parse_public_key(s)?],
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|k| {
                    k.as_str()
                        .ok_or_else(|| "`remoteSettings.publicKey` entries must be strings".to_string())
                        .and_then(parse_public_key)
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`remoteSettings.publicKey` must be a base64 key or a non-empty list of them".into()),
        };
        let headers = match obj.get("headers") {
            None => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) if valid_header_name(k) && !s.contains(['\r', '\n']) => Ok((k.clone(), s.to_string())),
                    _ => Err(format!("`remoteSettings.headers.{k}` must be a valid header name with a string value")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`remoteSettings.headers` must be an object of header name → value".into()),
        };
        let require_approval = match obj.get("requireApproval") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("`remoteSettings.requireApproval` must be true or false".into()),
        };
        Ok(RemoteConfig {
            url,
            poll: Duration::from_secs(poll),
            timeout: Duration::from_secs_f64(timeout),
            retries,
            keys,
            headers,
            require_approval,
        })
    }
}

fn valid_header_name(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `https://`, or `http://` to a loopback host only (a local test server or a local proxy).
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = if host.starts_with('[') {
            host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        if matches!(host, "localhost" | "127.0.0.1" | "::1") {
            return Ok(());
        }
    }
    Err(format!("`remoteSettings.url` must be an https:// URL (http:// only to localhost), got {url:?}"))
}

/// Parses a base64 ed25519 public key (32 bytes).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let bytes = B64.decode(s.trim()).map_err(|e| format!("public key {s:?} is not base64: {e}"))?;
    let arr: [u8; 32] =
        bytes.try_into().map_err(|_| format!("public key {s:?} is not an ed25519 key (32 bytes, base64)"))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("public key {s:?} is not a valid ed25519 key: {e}"))
}

/// Whether `signature` (base64) over `payload` verifies with one of `keys`.
pub fn verify(keys: &[VerifyingKey], payload: &[u8], signature: &str) -> bool {
    let Ok(bytes) = B64.decode(signature.trim()) else { return false };
    let Ok(sig) = Signature::from_slice(&bytes) else { return false };
    keys.iter().any(|k| k.verify(payload, &sig).is_ok())
}

/// A new signing key: (private key file text, base64 public key). The file holds the base64
/// 32-byte seed.
pub fn generate_key() -> std::io::Result<(String, String)> {
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut seed)?;
    let key = SigningKey::from_bytes(&seed);
    Ok((format!("{}\n", B64.encode(seed)), B64.encode(key.verifying_key().as_bytes())))
}

/// Reads a private key file written by [`generate_key`].
pub fn read_signing_key(text: &str) -> Result<SigningKey, String> {
    let bytes = B64.decode(text.trim()).map_err(|e| format!("the key file is not base64: {e}"))?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| "the key file does not hold a 32-byte ed25519 seed")?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The signed envelope for `payload` (what `hookhost sign` prints) and the bare signature.
pub fn sign(key: &SigningKey, payload: &[u8]) -> (String, String) {
    let sig = B64.encode(key.sign(payload).to_bytes());
    let env = serde_json::json!({ENVELOPE_KEY: 1, "payload": B64.encode(payload), "signature": sig});
    (format!("{}\n", serde_json::to_string_pretty(&env).unwrap_or_default()), sig)
}

pub fn public_key_of(key: &SigningKey) -> String {
    B64.encode(key.verifying_key().as_bytes())
}

pub fn sha256_hex(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A verified server payload.
#[derive(Debug, Clone)]
pub struct Payload {
    pub bytes: Vec<u8>,
    pub signature: Option<String>,
    /// sha256 of the bytes: the server revision.
    pub revision: String,
}

impl Payload {
    /// Whether the server delivered no settings (`{}` or an empty body): endpoint-managed applies.
    pub fn is_empty(&self) -> bool {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        match serde_json::from_slice::<Value>(&self.bytes) {
            Ok(Value::Object(m)) => m.keys().all(|k| k == "$schema"),
            _ => false,
        }
    }

    /// The parsed payload object (empty when it is empty or not an object).
    pub fn object(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_slice::<Value>(&self.bytes) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// `forceRemoteSettingsRefresh: true` in the payload (self-perpetuating through the cache).
    pub fn force_refresh(&self) -> bool {
        self.object().get("forceRemoteSettingsRefresh") == Some(&Value::Bool(true))
    }
}

/// Checks a response body and its header signature: unwraps an envelope, verifies the
/// signature when keys are configured, and parses the payload as managed settings.
pub fn accept(cfg: &RemoteConfig, body: &[u8], header_sig: Option<&str>) -> Result<Payload, RemoteError> {
    let url = cfg.url.clone();
    let (bytes, signature) = match envelope(body) {
        Some(Ok((p, s))) => (p, Some(s)),
        Some(Err(m)) => return Err(RemoteError::Invalid { url, message: m }),
        None => (body.to_vec(), header_sig.map(str::to_string)),
    };
    if !cfg.keys.is_empty() {
        match &signature {
            None => return Err(RemoteError::Unsigned { url }),
            Some(s) if !verify(&cfg.keys, &bytes, s) => return Err(RemoteError::BadSignature { url }),
            Some(_) => {}
        }
    }
    let payload = Payload { revision: sha256_hex(&bytes), bytes, signature };
    if !payload.is_empty() {
        super::file::parse_bytes(&payload.bytes, Path::new(&cfg.url), Scope::Managed)
            .map_err(|e| RemoteError::Invalid { url: cfg.url.clone(), message: e.to_string() })?;
    }
    Ok(payload)
}

/// `Some` when `body` is a signed envelope.
fn envelope(body: &[u8]) -> Option<Result<(Vec<u8>, String), String>> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else { return None };
    m.get(ENVELOPE_KEY)?;
    let get = |k: &str| m.get(k).and_then(Value::as_str).ok_or(format!("signed envelope has no string `{k}`"));
    Some((|| {
        let payload = B64.decode(get("payload")?).map_err(|e| format!("envelope payload is not base64: {e}"))?;
        Ok((payload, get("signature")?.to_string()))
    })())
}

/// What one request returned.
#[derive(Debug)]
pub enum Fetched {
    NotModified,
    Payload { payload: Payload, validators: Validators },
}

/// The cache validators a server sent (`ETag`, `Last-Modified`), sent back on the next request
/// (`If-None-Match`, `If-Modified-Since`) so an unchanged payload costs a 304.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// One GET of the settings URL (conditional when `validators` are given), retried with
/// exponential backoff and jitter on network errors, timeouts and 5xx.
pub fn fetch(cfg: &RemoteConfig, validators: &Validators) -> Result<Fetched, RemoteError> {
    let mut attempt = 0;
    loop {
        match fetch_once(cfg, validators) {
            Err(e) if e.retryable() && attempt < cfg.retries => {
                let base = Duration::from_millis(250u64 << attempt.min(6));
                let jitter = Duration::from_millis(u64::from(jitter_u32()) % (base.as_millis() as u64 / 2 + 1));
                tracing::info!(error = %e, attempt, "remote settings: retrying");
                std::thread::sleep(base + jitter);
                attempt += 1;
            }
            r => return r,
        }
    }
}

fn jitter_u32() -> u32 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).is_err() {
        return SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    }
    u32::from_le_bytes(b)
}

/// `d` stretched by a random 0–10 %, so many machines do not poll in step.
pub fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(f64::from(jitter_u32() % 1000) / 10_000.0)
}

fn fetch_once(cfg: &RemoteConfig, validators: &Validators) -> Result<Fetched, RemoteError> {
    let url = cfg.url.clone();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(cfg.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("hookhost/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut req = agent.get(&cfg.url);
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(e) = &validators.etag {
        req = req.header("If-None-Match", e.as_str());
    }
    if let Some(m) = &validators.last_modified {
        req = req.header("If-Modified-Since", m.as_str());
    }
    let mut resp = req.call().map_err(|e| RemoteError::Network { url: url.clone(), message: e.to_string() })?;
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    match status {
        304 if !validators.is_empty() => Ok(Fetched::NotModified),
        200 | 204 => {
            let sig = header(SIGNATURE_HEADER);
            let new = Validators { etag: header("ETag"), last_modified: header("Last-Modified") };
            let body =
                if status == 204 {
                    Vec::new()
                } else {
                    resp.body_mut().with_config().limit(MAX_PAYLOAD_BYTES).read_to_vec().map_err(|e| {
                        RemoteError::Network { url: url.clone(), message: format!("reading the body: {e}") }
                    })?
                };
            let payload = accept(cfg, &body, sig.as_deref())?;
            Ok(Fetched::Payload { payload, validators: new })
        }
        s => Err(RemoteError::Status { url, status: s }),
    }
}

// ---------------------------------------------------------------------------------------------
// The cache

/// The cache record (`meta.json`); the payload sits beside it in `payload-<sha256>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheMeta {
    pub version: u32,
    pub url: String,
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Unix time of the last successful fetch (200, 204 or 304).
    pub fetched_at: f64,
    pub payload_sha256: String,
    pub signature: Option<String>,
}

/// The last fetch attempt, for `status` and for pacing background refreshes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub at: f64,
    /// `"changed"`, `"not modified"` or `"error: …"`.
    pub result: String,
    /// How long the attempt took, in seconds.
    #[serde(default)]
    pub took: f64,
}

impl AttemptRecord {
    /// A failed attempt that made its caller wait (a timeout, a slow server), less than
    /// [`SLOW_FAILURE_BACKOFF`] ago: a dispatch without a cache does not wait for the server again.
    pub fn recent_slow_failure(&self) -> bool {
        self.result.starts_with("error")
            && self.took >= 1.0
            && now_unix() - self.at < SLOW_FAILURE_BACKOFF.as_secs_f64()
    }
}

/// After a slow failed fetch, how long dispatches without a cache skip the synchronous fetch.
pub const SLOW_FAILURE_BACKOFF: Duration = Duration::from_secs(60);

/// A cache entry that verified.
#[derive(Debug, Clone)]
pub struct Cached {
    pub meta: CacheMeta,
    pub payload: Payload,
    pub payload_path: PathBuf,
}

/// The cache directory for one settings URL.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    /// `<state_dir>/remote/<sha256(url)[..16]>` (`/var/lib/hookhost` without a state dir).
    pub fn new(state_dir: Option<&Path>, url: &str) -> Cache {
        let base = state_dir.map_or_else(|| PathBuf::from(SYSTEM_STATE_DIR), Path::to_path_buf);
        Cache { dir: base.join("remote").join(&sha256_hex(url.as_bytes())[..16]) }
    }

    pub fn meta_path(&self) -> PathBuf {
        self.dir.join("meta.json")
    }

    /// The payload file for a revision (`sha` is a hex sha256: validated before any use).
    pub fn payload_path(&self, sha: &str) -> PathBuf {
        self.dir.join(format!("payload-{}.json", sha.get(..32).unwrap_or(sha)))
    }

    fn attempt_path(&self) -> PathBuf {
        self.dir.join("last-attempt.json")
    }

    fn err(&self, path: &Path, message: impl Into<String>) -> RemoteError {
        RemoteError::Cache { path: path.to_path_buf(), message: message.into() }
    }

    /// The verified cache entry: `Ok(None)` when there is none, `Err` when it does not verify
    /// (tampered, torn, for another URL, or signed with a key no longer accepted).
    pub fn load(&self, cfg: &RemoteConfig) -> Result<Option<Cached>, RemoteError> {
        let mp = self.meta_path();
        let text = match std::fs::read(&mp) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(&mp, format!("cannot read: {e}"))),
        };
        let meta: CacheMeta = serde_json::from_slice(&text).map_err(|e| self.err(&mp, format!("corrupt: {e}")))?;
        if meta.payload_sha256.len() != 64 || !meta.payload_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err(&mp, "corrupt: `payload_sha256` is not a sha256"));
        }
        if meta.url != cfg.url {
            return Err(self.err(&mp, format!("is for {}, not {}", meta.url, cfg.url)));
        }
        let pp = self.payload_path(&meta.payload_sha256);
        let bytes = std::fs::read(&pp).map_err(|e| self.err(&pp, format!("cannot read: {e}")))?;
        if sha256_hex(&bytes) != meta.payload_sha256 {
            return Err(self.err(&pp, "payload does not match its recorded sha256 (tampered)"));
        }
        if !cfg.keys.is_empty() {
            match &meta.signature {
                None => return Err(self.err(&pp, "payload has no signature, but remoteSettings.publicKey is set")),
                Some(s) if !verify(&cfg.keys, &bytes, s) => {
                    return Err(self.err(&pp, "payload signature does not verify (tampered, or the key was rotated)"));
                }
                Some(_) => {}
            }
        }
        let payload = Payload { revision: meta.payload_sha256.clone(), bytes, signature: meta.signature.clone() };
        Ok(Some(Cached { meta, payload, payload_path: pp }))
    }

    /// Stores a verified payload: payload file first, then the record pointing at it; older
    /// payload files are removed afterwards.
    pub fn store(&self, cfg: &RemoteConfig, payload: &Payload, v: Validators) -> Result<Cached, RemoteError> {
        self.ensure_dir()?;
        let pp = self.payload_path(&payload.revision);
        atomic_write(&self.dir, &pp, &payload.bytes).map_err(|e| self.err(&pp, e.to_string()))?;
        let meta = CacheMeta {
            version: 1,
            url: cfg.url.clone(),
            etag: v.etag,
            last_modified: v.last_modified,
            fetched_at: now_unix(),
            payload_sha256: payload.revision.clone(),
            signature: payload.signature.clone(),
        };
        self.write_meta(&meta)?;
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("payload-") && e.path() != pp {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Cached { meta, payload: payload.clone(), payload_path: pp })
    }

    fn write_meta(&self, meta: &CacheMeta) -> Result<(), RemoteError> {
        let mp = self.meta_path();
        let text = serde_json::to_vec_pretty(meta).map_err(|e| self.err(&mp, e.to_string()))?;
        atomic_write(&self.dir, &mp, &text).map_err(|e| self.err(&mp, e.to_string()))
    }

    /// Marks the cached payload as confirmed by the server now (a 304).
    pub fn touch(&self, cached: &mut Cached) -> Result<(), RemoteError> {
        cached.meta.fetched_at = now_unix();
        self.write_meta(&cached.meta)
    }

    pub fn last_attempt(&self) -> Option<AttemptRecord> {
        std::fs::read(self.attempt_path()).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    pub fn record_attempt(&self, result: &str, took: Duration) {
        let rec = AttemptRecord { at: now_unix(), result: result.to_string(), took: took.as_secs_f64() };
        if self.ensure_dir().is_ok()
            && let Ok(text) = serde_json::to_vec(&rec)
            && let Err(e) = atomic_write(&self.dir, &self.attempt_path(), &text)
        {
            tracing::warn!(error = %e, "remote settings: cannot record the fetch attempt");
        }
    }

    fn ensure_dir(&self) -> Result<(), RemoteError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| self.err(&self.dir, format!("cannot create: {e}")))
    }

    /// Holds the refresh lock (non-blocking): `None` when another process is refreshing.
    pub fn try_lock(&self) -> Option<nix::fcntl::Flock<std::fs::File>> {
        self.ensure_dir().ok()?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("refresh.lock"))
            .ok()?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
    }
}

fn atomic_write(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Startup and refresh

/// Where the managed settings in force come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedSource {
    Server,
    Endpoint,
    None,
}

impl ManagedSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedSource::Server => "server",
            ManagedSource::Endpoint => "endpoint",
            ManagedSource::None => "none",
        }
    }
}

/// How much a load may do to obtain the server payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the verified cache (no network): `check`, `status`, `trust`, …
    CacheOnly,
    /// Agent startup rules: cache at once, fetch when there is none (fail open), fresh fetch
    /// required under `forceRemoteSettingsRefresh` (fail closed).
    Startup,
}

/// What obtaining the server payload at load time did.
#[derive(Debug, Clone)]
pub struct StartupReport {
    pub url: String,
    /// The payload in force (None: no server settings apply, endpoint-managed does).
    pub payload: Option<Payload>,
    /// The file the payload was read from (the cache's payload file).
    pub payload_path: Option<PathBuf>,
    /// `Some(true)`: a cache existed and verified; `Some(false)`: it was rejected.
    pub cache_verified: Option<bool>,
    /// The payload came from a fetch made by this load (not only the cache).
    pub fetched: bool,
    /// Loud problems (fail-open fetch failure, rejected cache); shown and audited by callers.
    pub problems: Vec<String>,
    /// Set when `forceRemoteSettingsRefresh` is in force and no fresh fetch succeeded: the
    /// caller must fail closed with this reason.
    pub fail_closed: Option<String>,
    /// The cache is older than the (jittered) poll interval: refresh in the background.
    pub stale: bool,
    /// Revision of the cached payload before this load changed it (if it did).
    pub previous_revision: Option<String>,
}

/// Obtains the server payload for `cfg` following the startup rules of `mode`. `endpoint_force`:
/// endpoint-managed settings set `forceRemoteSettingsRefresh: true`.
pub fn startup(cfg: &RemoteConfig, cache: &Cache, mode: Mode, endpoint_force: bool) -> StartupReport {
    let mut r = StartupReport {
        url: cfg.url.clone(),
        payload: None,
        payload_path: None,
        cache_verified: None,
        fetched: false,
        problems: Vec::new(),
        fail_closed: None,
        stale: false,
        previous_revision: None,
    };
    let cached = match cache.load(cfg) {
        Ok(c) => {
            r.cache_verified = c.as_ref().map(|_| true);
            c
        }
        Err(e) => {
            r.cache_verified = Some(false);
            r.problems.push(format!("remote settings cache rejected, not applied: {e}"));
            None
        }
    };
    let force = endpoint_force || cached.as_ref().is_some_and(|c| c.payload.force_refresh());
    let mut must_fetch = mode == Mode::Startup && (force || cached.is_none());
    if must_fetch
        && !force
        && let Some(a) = cache.last_attempt().filter(AttemptRecord::recent_slow_failure)
    {
        // The server made the last dispatch wait and failed: do not make every event wait.
        r.problems.push(format!(
            "server-managed settings are unavailable; continuing without them (fail open) until a fetch \
             succeeds (the last attempt, {:.0}s ago, failed: {})",
            now_unix() - a.at,
            a.result.trim_start_matches("error: ")
        ));
        r.stale = now_unix() - a.at >= SLOW_FAILURE_BACKOFF.as_secs_f64() / 2.0;
        must_fetch = false;
    }
    if !must_fetch {
        if let Some(c) = cached {
            let since = cache.last_attempt().map_or(c.meta.fetched_at, |a| a.at.max(c.meta.fetched_at));
            r.stale = now_unix() - since >= jittered(cfg.poll).as_secs_f64();
            r.payload = Some(c.payload);
            r.payload_path = Some(c.payload_path);
        }
        return r;
    }
    r.previous_revision = cached.as_ref().map(|c| c.payload.revision.clone());
    // Under force, fetch unconditionally: a 304 would vouch for whatever the cache holds, and
    // the cache owner can put back an older, validly signed payload with the current ETag.
    match refresh_with(cfg, cache, cached, !force) {
        Ok((c, _)) => {
            r.fetched = true;
            r.payload = Some(c.payload);
            r.payload_path = Some(c.payload_path);
        }
        Err(e) if force => {
            r.fail_closed = Some(format!(
                "forceRemoteSettingsRefresh is set and the server-managed settings could not be refreshed: {e}"
            ));
        }
        Err(e) => {
            r.problems.push(format!(
                "server-managed settings could not be fetched; continuing without them (fail open): {e}"
            ));
        }
    }
    r
}

/// What a refresh did.
#[derive(Debug, Clone)]
pub enum Refresh {
    /// The server delivered a different payload (now cached). `old` is None on a first fetch.
    Changed { old: Option<String>, new: String, payload_path: PathBuf },
    /// 304, or the same bytes again.
    NotModified { revision: String },
}

/// Fetches once (with retries) and updates the cache; network failures keep the cache.
pub fn refresh_once(cfg: &RemoteConfig, cache: &Cache) -> Result<Refresh, RemoteError> {
    let cached = cache.load(cfg).ok().flatten();
    let old = cached.as_ref().map(|c| c.payload.revision.clone());
    let (c, changed) = refresh_with(cfg, cache, cached, true)?;
    Ok(if changed {
        Refresh::Changed { old, new: c.payload.revision, payload_path: c.payload_path }
    } else {
        Refresh::NotModified { revision: c.payload.revision }
    })
}

fn refresh_with(
    cfg: &RemoteConfig,
    cache: &Cache,
    cached: Option<Cached>,
    conditional: bool,
) -> Result<(Cached, bool), RemoteError> {
    let validators = cached
        .as_ref()
        .filter(|_| conditional)
        .map(|c| Validators { etag: c.meta.etag.clone(), last_modified: c.meta.last_modified.clone() })
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let result = fetch(cfg, &validators);
    let out = match result {
        Ok(Fetched::NotModified) => match cached {
            Some(mut c) => {
                cache.touch(&mut c)?;
                Ok((c, false))
            }
            // A 304 answers the validators we sent, which came from a cache.
            None => Err(RemoteError::Invalid { url: cfg.url.clone(), message: "304 without a cache".into() }),
        },
        Ok(Fetched::Payload { payload, validators }) => {
            let changed = cached.as_ref().is_none_or(|c| c.payload.revision != payload.revision);
            cache.store(cfg, &payload, validators).map(|c| (c, changed))
        }
        Err(e) => Err(e),
    };
    cache.record_attempt(
        &match &out {
            Ok((_, true)) => "changed".to_string(),
            Ok((_, false)) => "not modified".to_string(),
            Err(e) => format!("error: {e}"),
        },
        started.elapsed(),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// The API a long-running host (the daemon) uses

/// One server-managed settings source: its configuration and cache. A long-running host calls
/// [`RemoteSource::startup`] once (with [`Mode::Startup`]; refuse to start when
/// `fail_closed` is set), then [`RemoteSource::poll`] on a blocking thread; on every
/// `Refresh::Changed` it reloads settings (`settings::load`, which reads the verified cache) and
/// reports the change as a `policy_settings` ConfigChange (`remote_cli::policy_change` does
/// both for one-shot processes). A policy change is applied whatever the hooks answer.
#[derive(Debug, Clone)]
pub struct RemoteSource {
    pub config: RemoteConfig,
    pub cache: Cache,
}

impl RemoteSource {
    pub fn new(config: RemoteConfig, state_dir: Option<&Path>) -> Self {
        let cache = Cache::new(state_dir, &config.url);
        RemoteSource { config, cache }
    }

    /// The startup rules (see [`startup`]).
    pub fn startup(&self, mode: Mode, endpoint_force: bool) -> StartupReport {
        startup(&self.config, &self.cache, mode, endpoint_force)
    }

    /// One fetch (with retries) and cache update; failures keep the cache.
    pub fn refresh_once(&self) -> Result<Refresh, RemoteError> {
        let _lock = self.cache.try_lock();
        refresh_once(&self.config, &self.cache)
    }

    /// Refreshes every `pollSeconds` (jittered) until `stop` is set, handing each result to
    /// `on_result`. Blocking: run it on its own thread. `stop` is checked at least every 100 ms.
    pub fn poll(&self, stop: &std::sync::atomic::AtomicBool, mut on_result: impl FnMut(Result<Refresh, RemoteError>)) {
        use std::sync::atomic::Ordering;
        while !stop.load(Ordering::Relaxed) {
            let deadline = std::time::Instant::now() + jittered(self.config.poll);
            while std::time::Instant::now() < deadline {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(
                    Duration::from_millis(100).min(deadline.saturating_duration_since(std::time::Instant::now())),
                );
            }
            on_result(self.refresh_once());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Approvals

/// An approval decision for one server revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub revision: String,
    /// `"approved"` or `"rejected"`.
    pub decision: String,
    pub time: String,
    pub user: Option<String>,
    pub url: String,
}

fn approvals_dir(state_dir: Option<&Path>) -> PathBuf {
    state_dir.map_or_else(|| PathBuf::from(SYSTEM_STATE_DIR), Path::to_path_buf).join("approvals")
}

/// The decision recorded for `revision`, if any.
pub fn approval(state_dir: Option<&Path>, revision: &str) -> Option<ApprovalRecord> {
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let p = approvals_dir(state_dir).join(format!("{revision}.json"));
    std::fs::read(p).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// Records `decision` for `revision`.
pub fn record_approval(state_dir: Option<&Path>, rec: &ApprovalRecord) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = approvals_dir(state_dir);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let p = dir.join(format!("{}.json", rec.revision));
    atomic_write(&dir, &p, &serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(keys: Vec<VerifyingKey>) -> RemoteConfig {
        RemoteConfig {
            url: "http://127.0.0.1:1/s.json".into(),
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 0,
            keys,
            headers: Vec::new(),
            require_approval: false,
        }
    }

    #[test]
    fn config_validation() {
        let ok = RemoteConfig::from_value(&serde_json::json!({"url": "https://x/s", "pollSeconds": 5})).unwrap();
        assert_eq!(ok.poll, Duration::from_secs(5));
        for bad in [
            serde_json::json!({"url": "http://example.com/s"}),
            serde_json::json!({"url": "https://x", "publicKey": "nope"}),
            serde_json::json!({"url": "https://x", "pollSeconds": 0}),
            serde_json::json!({"url": "https://x", "bogus": 1}),
        ] {
            assert!(RemoteConfig::from_value(&bad).is_err(), "{bad}");
        }
        assert!(RemoteConfig::from_value(&serde_json::json!({"url": "http://localhost:8/s"})).is_ok());
        assert!(RemoteConfig::from_value(&serde_json::json!({"url": "http://[::1]:8/s"})).is_ok());
    }

    #[test]
    fn sign_verify_envelope_and_rotation() {
        let (k1, p1) = generate_key().unwrap();
        let (_, p2) = generate_key().unwrap();
        let key = read_signing_key(&k1).unwrap();
        let body = br#"{"allowManagedHooksOnly": true}"#;
        let (env, sig) = sign(&key, body);
        let c = cfg(vec![parse_public_key(&p2).unwrap(), parse_public_key(&p1).unwrap()]);
        let p = accept(&c, env.as_bytes(), None).unwrap();
        assert_eq!(p.bytes, body);
        assert!(accept(&c, body, Some(&sig)).is_ok());
        assert!(matches!(accept(&c, body, None), Err(RemoteError::Unsigned { .. })));
        let only2 = cfg(vec![parse_public_key(&p2).unwrap()]);
        assert!(matches!(accept(&only2, body, Some(&sig)), Err(RemoteError::BadSignature { .. })));
        assert!(matches!(accept(&cfg(vec![]), b"{nope", None), Err(RemoteError::Invalid { .. })));
    }

    #[test]
    fn cache_roundtrip_and_tamper() {
        let d = tempfile::tempdir().unwrap();
        let (k, p) = generate_key().unwrap();
        let key = read_signing_key(&k).unwrap();
        let c = cfg(vec![parse_public_key(&p).unwrap()]);
        let cache = Cache::new(Some(d.path()), &c.url);
        let body = br#"{"failClosed": ["PreToolUse"]}"#.to_vec();
        let (_, sig) = sign(&key, &body);
        let payload = accept(&c, &body, Some(&sig)).unwrap();
        cache.store(&c, &payload, Validators { etag: Some("\"e1\"".into()), last_modified: None }).unwrap();
        let got = cache.load(&c).unwrap().unwrap();
        assert_eq!(got.payload.bytes, body);
        assert_eq!(got.meta.etag.as_deref(), Some("\"e1\""));
        std::fs::write(&got.payload_path, br#"{"failClosed": []}"#).unwrap();
        assert!(cache.load(&c).is_err());
        // A record edited to point elsewhere is corrupt, not a path.
        let mut meta = got.meta.clone();
        meta.payload_sha256 = "../../é".repeat(20);
        std::fs::write(cache.meta_path(), serde_json::to_vec(&meta).unwrap()).unwrap();
        assert!(cache.load(&c).unwrap_err().to_string().contains("not a sha256"));
        assert!(Payload { bytes: b" {} ".to_vec(), signature: None, revision: String::new() }.is_empty());
    }
}
