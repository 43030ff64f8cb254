//! Server-managed settings: the `remoteSettings` bootstrap (`config`), signed envelopes
//! (`envelope`), fetching (`fetch`), the on-disk cache (`cache`), approvals (`approval`), and
//! here the rules that tie them together: which payload is in force at startup, what a refresh
//! does, and what a long-running host rechecks at every event ([`ServerState`]).
//!
//! Promises:
//! - A payload is applied only after it parsed as managed settings and, when `publicKey` is
//!   set, after its signature verified against one of the accepted keys: a version-2 envelope
//!   bound to this client's URL (or `fleet`), not expired, and not older than the highest
//!   version verified before; a bare (legacy) signature only under `allowLegacySignatures`.
//!   A rejected payload is never cached.
//! - Validators never vouch for a payload they did not come with: a one-shot process always
//!   fetches unconditionally (the cache's ETag / Last-Modified are the user's to edit); a
//!   long-running [`RemoteSource`] sends the validators of the payload it fetched and verified
//!   itself, and never under `forceRemoteSettingsRefresh`. A 304 to an unconditional request is
//!   an error.
//! - A payload that expired is not applied; its `failClosed` events still fail closed and the
//!   event's failure policy decides the rest. A cache rolled back below the highest verified
//!   version that no fetch can repair fails closed.
//! - Network failures never remove a good cache.
//!
//! This module does not dispatch ConfigChange events or audit: it reports what happened
//! (`StartupReport`, `Refresh`) and its callers do that.

pub mod approval;
pub mod cache;

use super::envelope;
pub mod fetch;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use super::remote_config::{
    ConfigError, DEFAULT_POLL_SECONDS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_SECONDS, RemoteConfig, normalize_url,
};
pub use approval::{ApprovalRecord, approval, record_approval};
pub use cache::{
    AttemptRecord, CLOCK_SKEW, Cache, CacheMeta, Cached, Highest, SLOW_FAILURE_BACKOFF, SYSTEM_STATE_DIR, checked_time,
};
pub use envelope::{
    ENVELOPE_KEY, SIGNATURE_HEADER, Signed, Target, generate_key, parse_public_key, public_key_of, read_signing_key,
};
pub use fetch::{Fetched, MAX_PAYLOAD_BYTES, Validators, fetch, jittered};

use super::Scope;
use crate::error::{Location, SettingsError};

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach {url}: {message}")]
    Network { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{url} sent an unsigned payload, but remoteSettings.publicKey requires a signed envelope (a bare 204 is unsigned: \
         publish an empty policy as a signed envelope of `{{}}`)"
    )]
    Unsigned { url: String },
    #[error("{url} sent a payload whose signature does not verify with any key in remoteSettings.publicKey")]
    BadSignature { url: String },
    #[error(
        "{url} sent a payload with a bare (legacy) signature, bound to no URL, version or expiry: accepted only with \
         remoteSettings.allowLegacySignatures (sign it again with `hookhost sign --url`)"
    )]
    Legacy { url: String },
    #[error(
        "{url} sent a payload signed for {got}, but this client expects {want}: refused (replayed from elsewhere?)"
    )]
    WrongTarget { url: String, got: Target, want: Target },
    #[error("{url} sent a payload that expired at {} (signed envelope version {version})", rfc3339(*.expires))]
    Expired { url: String, version: u64, expires: u64 },
    #[error("{url}: {message}")]
    RolledBack { url: String, message: String },
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

pub use crate::digest::sha256_hex;

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Unix seconds as RFC 3339 (years past 9999 are clamped).
pub fn rfc3339(t: u64) -> String {
    crate::clock::format_rfc3339(t.min(253_402_300_799) as i64, None)
}

/// A verified server payload.
#[derive(Debug, Clone)]
pub struct Payload {
    pub bytes: Vec<u8>,
    pub signature: Option<String>,
    /// sha256 of the bytes: the server revision.
    pub revision: String,
    /// The signed metadata (a version-2 envelope); None for a legacy or unsigned payload.
    pub signed: Option<Signed>,
}

impl Payload {
    /// The signed version (0: legacy or unsigned, lower than any envelope's).
    pub fn version(&self) -> u64 {
        self.signed.as_ref().map_or(0, |s| s.version)
    }

    /// When the signed envelope expires (unix seconds).
    pub fn expires(&self) -> Option<u64> {
        self.signed.as_ref().map(|s| s.expires)
    }

    /// Whether the envelope expired (beyond the allowed clock skew).
    pub fn is_expired(&self) -> bool {
        self.expires().is_some_and(|e| now_unix() > e as f64 + CLOCK_SKEW.as_secs_f64())
    }

    /// How it was authenticated: `"envelope"` (version 2), `"legacy"` or `"unsigned"`.
    pub fn kind(&self) -> &'static str {
        match (&self.signed, &self.signature) {
            (Some(_), _) => "envelope",
            (None, Some(_)) => "legacy",
            (None, None) => "unsigned",
        }
    }

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

/// Checks a response body and its header signature: reads the envelope, verifies the signature
/// when keys are configured (a version-2 envelope; a bare signature only under
/// `allowLegacySignatures`), checks a version-2 envelope's target and expiry, and parses the
/// payload as managed settings. The version is the caller's to compare (it knows the cache).
pub fn accept(cfg: &RemoteConfig, body: &[u8], header_sig: Option<&str>) -> Result<Payload, RemoteError> {
    let url = cfg.url.clone();
    let body =
        envelope::read_body(body, header_sig).map_err(|m| RemoteError::Invalid { url: url.clone(), message: m })?;
    let payload = match body {
        envelope::Body::Signed { meta, payload, signature } => {
            if !cfg.keys.is_empty() && !envelope::verify_signed(&cfg.keys, &meta, &payload, &signature) {
                return Err(RemoteError::BadSignature { url });
            }
            if meta.target != cfg.target() {
                return Err(RemoteError::WrongTarget { url, got: meta.target, want: cfg.target() });
            }
            let p = Payload {
                revision: sha256_hex(&payload),
                bytes: payload,
                signature: Some(signature),
                signed: Some(meta),
            };
            if p.is_expired() {
                return Err(RemoteError::Expired {
                    url,
                    version: p.version(),
                    expires: p.expires().unwrap_or_default(),
                });
            }
            p
        }
        envelope::Body::Bare { payload, signature } => {
            if !cfg.keys.is_empty() {
                match &signature {
                    None => return Err(RemoteError::Unsigned { url }),
                    Some(_) if !cfg.allow_legacy => return Err(RemoteError::Legacy { url }),
                    Some(s) if !envelope::verify_legacy(&cfg.keys, &payload, s) => {
                        return Err(RemoteError::BadSignature { url });
                    }
                    Some(_) => {}
                }
            }
            Payload { revision: sha256_hex(&payload), bytes: payload, signature, signed: None }
        }
    };
    if !payload.is_empty() {
        super::file::parse_bytes(&payload.bytes, Path::new(&cfg.url), Scope::Managed)
            .map_err(|e| RemoteError::Invalid { url: cfg.url.clone(), message: e.to_string() })?;
    }
    Ok(payload)
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
    /// Loud problems (fail-open fetch failure, rejected cache, a timestamp from the state
    /// directory that cannot be trusted); shown and audited by callers.
    pub problems: Vec<String>,
    /// Set when no fresh copy could be fetched although one is required
    /// (`forceRemoteSettingsRefresh`, or a cache found rolled back): the caller must fail closed
    /// with this reason.
    pub fail_closed: Option<String>,
    /// The cache is older than the (jittered) poll interval: refresh in the background.
    pub stale: bool,
    /// Revision of the cached payload before this load changed it (if it did).
    pub previous_revision: Option<String>,
    /// A verified payload that is not applied because its envelope expired and no fresh copy
    /// could be fetched, with its cache file: the event's failure policy applies, and its
    /// `failClosed` events still fail closed.
    pub expired: Option<(Payload, PathBuf)>,
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
        expired: None,
    };
    let now = now_unix();
    let mut rolled_back = None;
    let loaded = match cache.load(cfg) {
        Ok(c) => {
            r.cache_verified = c.as_ref().map(|_| true);
            r.problems.extend(c.as_ref().and_then(|c| c.note.clone()));
            c
        }
        Err(e) => {
            r.cache_verified = Some(false);
            if matches!(e, RemoteError::RolledBack { .. }) {
                rolled_back = Some(e.to_string());
            }
            r.problems.push(format!("remote settings cache rejected, not applied: {e}"));
            None
        }
    };
    // An expired payload is verified but no longer the current policy: it is not applied.
    let (cached, expired) = match loaded {
        Some(c) if c.payload.is_expired() => (None, Some(c)),
        c => (c, None),
    };
    let force = endpoint_force || cached.as_ref().or(expired.as_ref()).is_some_and(|c| c.payload.force_refresh());
    // Times the user can write: trusted only when plausible.
    let attempt = cache.last_attempt().unwrap_or_else(|m| {
        r.problems.push(format!("remote settings state: {m}"));
        None
    });
    let fetched_at = cached.as_ref().map_or(0.0, |c| {
        checked_time(c.meta.fetched_at, &format!("{} `fetched_at`", cache.meta_path().display())).unwrap_or_else(|m| {
            r.problems.push(format!("remote settings state: {m}"));
            0.0
        })
    });
    let mut must_fetch = mode == Mode::Startup && (force || cached.is_none());
    if must_fetch
        && !force
        && rolled_back.is_none()
        && let Some(a) = attempt.as_ref().filter(|a| a.recent_slow_failure())
    {
        // The server made the last dispatch wait and failed: do not make every event wait. A
        // background refresh keeps trying (its lock keeps them from piling up).
        r.problems.push(format!(
            "server-managed settings are unavailable; continuing without them (fail open) until a fetch \
             succeeds (the last attempt, {:.0}s ago, failed: {})",
            now - a.at,
            a.result.trim_start_matches("error: ")
        ));
        r.stale = true;
        must_fetch = false;
    }
    if !must_fetch {
        if let Some(c) = cached {
            // The last attempt paces refreshes only if it left this very payload in the cache.
            let since = attempt
                .as_ref()
                .filter(|a| a.revision.as_ref().is_none_or(|r| *r == c.payload.revision))
                .map_or(fetched_at, |a| a.at.max(fetched_at));
            r.stale |= now - since >= jittered(cfg.poll).as_secs_f64();
            r.payload = Some(c.payload);
            r.payload_path = Some(c.payload_path);
        } else if let Some(c) = expired {
            r.stale = true;
            r.expired = Some((c.payload, c.payload_path));
        }
        return r;
    }
    let current = cached.or(expired);
    r.previous_revision = current.as_ref().map(|c| c.payload.revision.clone());
    let held = current.as_ref().filter(|c| c.payload.is_expired()).map(|c| (c.payload.clone(), c.payload_path.clone()));
    // Unconditional: validators read from the cache would vouch for whatever it holds.
    match refresh_with(cfg, cache, current, None) {
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
        Err(e) if rolled_back.is_some() => {
            r.fail_closed = Some(format!(
                "the cached server-managed settings were rolled back ({}) and no fresh copy could be fetched: {e}",
                rolled_back.unwrap_or_default()
            ));
        }
        Err(e) if held.is_some() => {
            r.problems.push(format!("the expired server-managed settings could not be refreshed: {e}"));
            r.expired = held;
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
    /// 304, or the same bytes again (a new envelope of the same payload is cached).
    NotModified { revision: String },
}

/// Fetches once, unconditionally (with retries), and updates the cache; network failures keep
/// the cache. What one-shot processes (`remote refresh`, dispatch's background refresh) use.
pub fn refresh_once(cfg: &RemoteConfig, cache: &Cache) -> Result<Refresh, RemoteError> {
    let cached = cache.load(cfg).ok().flatten();
    let old = cached.as_ref().map(|c| c.payload.revision.clone());
    let (c, changed) = refresh_with(cfg, cache, cached, None)?;
    Ok(if changed {
        Refresh::Changed { old, new: c.payload.revision, payload_path: c.payload_path }
    } else {
        Refresh::NotModified { revision: c.payload.revision }
    })
}

/// One fetch against the payload in force `current`. `conditional`: the validators and the
/// payload they came with, fetched and verified by this process (a 304 confirms that payload,
/// which is written back if the cache holds another).
fn refresh_with(
    cfg: &RemoteConfig,
    cache: &Cache,
    current: Option<Cached>,
    conditional: Option<(Validators, Cached)>,
) -> Result<(Cached, bool), RemoteError> {
    let validators = conditional.as_ref().map(|(v, _)| v.clone()).unwrap_or_default();
    let started = std::time::Instant::now();
    let out = match fetch(cfg, &validators) {
        Ok(Fetched::NotModified) => match conditional {
            Some((v, mut mine)) => {
                let changed = current.as_ref().is_none_or(|c| c.payload.revision != mine.payload.revision);
                // `current` may be this process's memory because the disk copy was changed.
                let same_on_disk = current.as_ref().is_some_and(|c| {
                    c.note.is_none()
                        && c.payload.revision == mine.payload.revision
                        && c.payload.signed == mine.payload.signed
                });
                if same_on_disk {
                    cache.touch(&mut mine).map(|()| (mine, changed))
                } else {
                    cache.store(cfg, &mine.payload, v).map(|c| (c, changed))
                }
            }
            None => {
                Err(RemoteError::Invalid { url: cfg.url.clone(), message: "304 to an unconditional request".into() })
            }
        },
        Ok(Fetched::Payload { payload, validators }) => {
            cache.check_not_older(cfg, &payload, current.as_ref()).and_then(|()| {
                let changed = current.as_ref().is_none_or(|c| c.payload.revision != payload.revision);
                cache.store(cfg, &payload, validators).map(|c| (c, changed))
            })
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
        out.as_ref().ok().map(|(c, _)| c.payload.revision.as_str()),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// The API a long-running host (the daemon) uses

/// One server-managed settings source: its configuration and cache. A long-running host calls
/// [`RemoteSource::startup`] once (with [`Mode::Startup`]; refuse to start when
/// `fail_closed` is set), then [`RemoteSource::poll`] on a blocking thread; on every
/// `Refresh::Changed` it reloads settings (`settings::load`, which reads the verified cache) and
/// reports the change as a `policy_settings` ConfigChange (`host::remote::policy_change` does
/// both for one-shot processes). A policy change is applied whatever the hooks answer. Before
/// each event it checks [`ServerState::stale`] on the settings in force and reassembles them
/// when an approval decision or an expiry changed what applies.
#[derive(Debug)]
pub struct RemoteSource {
    pub config: RemoteConfig,
    pub cache: Cache,
    /// Endpoint-managed settings set `forceRemoteSettingsRefresh`.
    pub endpoint_force: bool,
    /// The validators of the last payload this source fetched and verified, with that payload.
    mine: Mutex<Option<(Validators, Cached)>>,
}

impl RemoteSource {
    pub fn new(config: RemoteConfig, state_dir: Option<&Path>) -> Self {
        let cache = Cache::new(state_dir, &config.url);
        RemoteSource { config, cache, endpoint_force: false, mine: Mutex::new(None) }
    }

    /// Endpoint-managed settings set `forceRemoteSettingsRefresh`: every refresh is unconditional.
    pub fn with_endpoint_force(mut self, force: bool) -> Self {
        self.endpoint_force = force;
        self
    }

    /// One fetch (with retries) and cache update; failures keep the cache. Conditional only on
    /// the validators of a payload this source fetched itself, and never under
    /// `forceRemoteSettingsRefresh`.
    pub fn refresh_once(&self) -> Result<Refresh, RemoteError> {
        let _lock = self.cache.try_lock();
        let current = self.cache.load(&self.config).ok().flatten();
        let old = current.as_ref().map(|c| c.payload.revision.clone());
        let force = self.endpoint_force || current.as_ref().is_some_and(|c| c.payload.force_refresh());
        let mut mine = self.mine.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let conditional = if force { None } else { mine.clone() };
        let (c, changed) = refresh_with(&self.config, &self.cache, current, conditional)?;
        let v = Validators { etag: c.meta.etag.clone(), last_modified: c.meta.last_modified.clone() };
        *mine = (!v.is_empty()).then(|| (v, c.clone()));
        Ok(if changed {
            Refresh::Changed { old, new: c.payload.revision, payload_path: c.payload_path }
        } else {
            Refresh::NotModified { revision: c.payload.revision }
        })
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
                    std::time::Duration::from_millis(100)
                        .min(deadline.saturating_duration_since(std::time::Instant::now())),
                );
            }
            on_result(self.refresh_once());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What every front end rechecks at each event

/// The server-managed part of one settings revision that can change without any settings file
/// changing: the approval decision of the revision in force (`hookhost approve` / `reject`) and
/// the expiry of its envelope. Carried in `Settings::server`, so every front end sees it; a
/// long-running host checks [`ServerState::stale`] before each event and reassembles.
#[derive(Debug, Clone, Default)]
pub struct ServerState {
    pub state_dir: Option<PathBuf>,
    /// The server revision applied (None: endpoint-managed settings apply).
    pub revision: Option<String>,
    /// The cached payload file of the applied revision.
    pub payload_path: Option<PathBuf>,
    pub require_approval: bool,
    /// The approval decision read when these settings were assembled.
    pub decision: Option<String>,
    /// Server hooks are held back for approval.
    pub unapproved: bool,
    /// Expiry of the applied payload's envelope (unix seconds).
    pub expires: Option<u64>,
    /// A verified payload held back (expired): the event's failure policy applies.
    pub problem: Option<SettingsError>,
}

impl ServerState {
    /// Whether the settings assembled with this state no longer match the approval records or
    /// the clock: a decision changed, or the applied payload expired.
    pub fn stale(&self) -> bool {
        if self.expires.is_some_and(|e| now_unix() > e as f64 + CLOCK_SKEW.as_secs_f64()) {
            return true;
        }
        match (&self.revision, self.require_approval) {
            (Some(rev), true) => approval(self.state_dir.as_deref(), rev).map(|a| a.decision) != self.decision,
            _ => false,
        }
    }

    /// Whether two states hold back and let through the same (for a host deciding whether to
    /// swap in reassembled settings whose files did not change).
    pub fn same(a: Option<&ServerState>, b: Option<&ServerState>) -> bool {
        let key = |s: Option<&ServerState>| {
            s.map(|s| {
                (
                    s.revision.clone(),
                    s.decision.clone(),
                    s.unapproved,
                    s.expires,
                    s.problem.as_ref().map(ToString::to_string),
                )
            })
        };
        key(a) == key(b)
    }
}

/// The settings error that makes an expired payload count under the event's failure policy.
pub fn expired_error(payload: &Payload, path: &Path) -> SettingsError {
    SettingsError {
        location: Location { path: path.to_path_buf(), line: 1, column: 1 },
        message: format!(
            "the server-managed settings (revision {}, signed envelope version {}) expired at {} and no fresh copy \
             could be fetched: not applied; their failClosed events fail closed",
            payload.revision,
            payload.version(),
            rfc3339(payload.expires().unwrap_or_default())
        ),
        managed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::time::Duration;

    fn cfg(keys: Vec<ed25519_dalek::VerifyingKey>) -> RemoteConfig {
        RemoteConfig {
            url: "http://127.0.0.1:1/s.json".into(),
            fleet: None,
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 0,
            keys,
            headers: Vec::new(),
            require_approval: false,
            allow_legacy: false,
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3u8; 32])
    }

    fn meta(c: &RemoteConfig, version: u64) -> Signed {
        Signed { target: c.target(), version, expires: now_unix() as u64 + 3600 }
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
            serde_json::json!({"url": "https://user:pw@x/s"}),
            serde_json::json!({"url": "https://x/s", "allowLegacySignatures": true}),
            serde_json::json!({"url": "https://x/s", "fleet": ""}),
            serde_json::json!({"url": "https://x/s", "fleet": "a b"}),
            serde_json::json!({"url": "https://x/s", "headers": {"X-A": "a\u{b}b"}}),
            serde_json::json!({"url": "https://x/s", "headers": {"X-A": "a\u{0}b"}}),
            serde_json::json!({"url": "https://x/s", "headers": {"Content-Length": "5"}}),
            serde_json::json!({"url": "https://x/s", "headers": {"If-Modified-Since": "x"}}),
            serde_json::json!({"url": "https://x/s", "headers": {"X-A": "1", "x-a": "2"}}),
            serde_json::json!({"url": "https://x/s", "headers": {"Authorization": "Bearer é"}}),
        ] {
            assert!(RemoteConfig::from_value(&bad).is_err(), "{bad}");
        }
        for (url, want) in [
            ("http://localhost:8/s", "http://localhost:8/s"),
            ("http://[::1]:8/s", "http://[::1]:8/s"),
            ("HTTP://127.1:8/s#frag", "http://127.0.0.1:8/s"),
            ("https://Policy.EXAMPLE.com:443/a/../s.json", "https://policy.example.com/s.json"),
        ] {
            assert_eq!(RemoteConfig::from_value(&serde_json::json!({"url": url})).unwrap().url, want);
        }
        // The error names the field.
        let e = RemoteConfig::from_value(&serde_json::json!({"url": "https://x/s", "headers": {"X-A": "\u{0}"}}))
            .unwrap_err();
        assert_eq!(e.path, vec![Seg::Key("headers".into()), Seg::Key("X-A".into())]);
        assert!(e.message.contains("U+0000"), "{e}");
    }

    use crate::settings::locate::Seg;

    #[test]
    fn accept_v2_target_expiry_and_legacy() {
        let k = key();
        let c = cfg(vec![k.verifying_key()]);
        let body = br#"{"allowManagedHooksOnly": true}"#;
        let env = envelope::sign(&k, &meta(&c, 7), body);
        let p = accept(&c, env.as_bytes(), None).unwrap();
        assert_eq!((p.bytes.as_slice(), p.version(), p.kind()), (&body[..], 7, "envelope"));
        // Another URL, a fleet, expired.
        let other = Signed { target: Target::Url("http://127.0.0.1:1/other.json".into()), ..meta(&c, 7) };
        assert!(matches!(
            accept(&c, envelope::sign(&k, &other, body).as_bytes(), None),
            Err(RemoteError::WrongTarget { .. })
        ));
        let fleet = Signed { target: Target::Fleet("acme".into()), ..meta(&c, 7) };
        assert!(matches!(
            accept(&c, envelope::sign(&k, &fleet, body).as_bytes(), None),
            Err(RemoteError::WrongTarget { .. })
        ));
        let old = Signed { expires: now_unix() as u64 - 400, ..meta(&c, 7) };
        assert!(matches!(
            accept(&c, envelope::sign(&k, &old, body).as_bytes(), None),
            Err(RemoteError::Expired { .. })
        ));
        // A configured fleet takes the fleet's envelope from any URL.
        let mut cf = c.clone();
        cf.fleet = Some("acme".into());
        assert!(accept(&cf, envelope::sign(&k, &fleet, body).as_bytes(), None).is_ok());
        // Legacy: the bare signature and the v1 envelope only with allowLegacySignatures.
        let (v1, sig) = envelope::sign_legacy(&k, body);
        assert!(matches!(accept(&c, body, Some(&sig)), Err(RemoteError::Legacy { .. })));
        assert!(matches!(accept(&c, v1.as_bytes(), None), Err(RemoteError::Legacy { .. })));
        assert!(matches!(accept(&c, b"", None), Err(RemoteError::Unsigned { .. })));
        let (_, empty_sig) = envelope::sign_legacy(&k, b"");
        assert!(matches!(accept(&c, b"", Some(&empty_sig)), Err(RemoteError::Legacy { .. })));
        let mut legacy = c.clone();
        legacy.allow_legacy = true;
        assert_eq!(accept(&legacy, body, Some(&sig)).unwrap().kind(), "legacy");
        assert!(accept(&legacy, v1.as_bytes(), None).is_ok());
        assert!(accept(&legacy, b"", Some(&empty_sig)).unwrap().is_empty());
        assert!(matches!(accept(&cfg(vec![]), b"{nope", None), Err(RemoteError::Invalid { .. })));
        // Another key.
        let other_key = SigningKey::from_bytes(&[9u8; 32]);
        let env2 = envelope::sign(&other_key, &meta(&c, 7), body);
        assert!(matches!(accept(&c, env2.as_bytes(), None), Err(RemoteError::BadSignature { .. })));
    }

    #[test]
    fn server_state_is_stale_after_a_decision_or_an_expiry() {
        let d = tempfile::tempdir().unwrap();
        let rev = "ab".repeat(32);
        let s = ServerState {
            state_dir: Some(d.path().to_path_buf()),
            revision: Some(rev.clone()),
            require_approval: true,
            expires: Some(now_unix() as u64 + 3600),
            ..Default::default()
        };
        assert!(!s.stale());
        let rec = |decision: &str| ApprovalRecord {
            revision: rev.clone(),
            decision: decision.into(),
            time: String::new(),
            user: None,
            url: String::new(),
        };
        record_approval(Some(d.path()), &rec("approved")).unwrap();
        assert!(s.stale(), "approved since");
        let approved = ServerState { decision: Some("approved".into()), ..s.clone() };
        assert!(!approved.stale());
        record_approval(Some(d.path()), &rec("rejected")).unwrap();
        assert!(approved.stale(), "rejected since");
        // A record copied under another revision's name decides nothing.
        let other = "cd".repeat(32);
        std::fs::copy(d.path().join(format!("approvals/{rev}.json")), d.path().join(format!("approvals/{other}.json")))
            .unwrap();
        assert!(approval(Some(d.path()), &other).is_none());
        // Expired beyond the clock skew; without requireApproval decisions do not matter.
        let expired = ServerState { expires: Some(now_unix() as u64 - 301), require_approval: false, ..s.clone() };
        assert!(expired.stale());
        let within_skew = ServerState { expires: Some(now_unix() as u64 - 200), require_approval: false, ..s };
        assert!(!within_skew.stale());
        assert!(ServerState::same(Some(&within_skew), Some(&within_skew.clone())));
        assert!(!ServerState::same(Some(&within_skew), Some(&expired)));
        assert!(!ServerState::same(Some(&within_skew), None));
    }

    #[test]
    fn cache_roundtrip_tamper_and_rollback() {
        let d = tempfile::tempdir().unwrap();
        let k = key();
        let c = cfg(vec![k.verifying_key()]);
        let cache = Cache::new(Some(d.path()), &c.url);
        let body = br#"{"failClosed": ["PreToolUse"]}"#.to_vec();
        let p1 = accept(&c, envelope::sign(&k, &meta(&c, 1), &body).as_bytes(), None).unwrap();
        cache.store(&c, &p1, Validators { etag: Some("\"e1\"".into()), last_modified: None }).unwrap();
        let meta1 = std::fs::read(cache.meta_path()).unwrap();
        let got = cache.load(&c).unwrap().unwrap();
        assert_eq!(got.payload.bytes, body);
        assert_eq!(got.meta.etag.as_deref(), Some("\"e1\""));
        assert_eq!(cache.highest(&c).unwrap().version, 1);
        // Version 2, then the version-1 record put back: refused as rolled back (the highest
        // record), and this process keeps the newer copy it verified.
        let body2 = br#"{"failClosed": ["PreToolUse", "Stop"]}"#.to_vec();
        let p2 = accept(&c, envelope::sign(&k, &meta(&c, 2), &body2).as_bytes(), None).unwrap();
        cache.store(&c, &p2, Validators::default()).unwrap();
        std::fs::write(cache.payload_path(&p1.revision), &body).unwrap();
        std::fs::write(cache.meta_path(), &meta1).unwrap();
        assert!(matches!(cache.load_disk_for_test(&c), Err(RemoteError::RolledBack { .. })));
        let kept = cache.load(&c).unwrap().unwrap();
        assert_eq!(kept.payload.version(), 2);
        assert!(kept.note.is_some());
        // A replayed older envelope is refused at fetch time too.
        assert!(matches!(cache.check_not_older(&c, &p1, None), Err(RemoteError::RolledBack { .. })));
        // Same version, other bytes: refused.
        let p2b = accept(&c, envelope::sign(&k, &meta(&c, 2), b"{}").as_bytes(), None).unwrap();
        assert!(cache.check_not_older(&c, &p2b, None).is_err());
        // Tampered bytes.
        std::fs::write(cache.meta_path(), serde_json::to_vec(&kept.meta).unwrap()).unwrap();
        std::fs::write(&kept.payload_path, br#"{"failClosed": []}"#).unwrap();
        assert!(cache.load_disk_for_test(&c).is_err());
        // A record edited to point elsewhere is corrupt, not a path.
        let mut m = kept.meta.clone();
        m.payload_sha256 = "../../é".repeat(20);
        std::fs::write(cache.meta_path(), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(cache.load_disk_for_test(&c).unwrap_err().to_string().contains("not a sha256"));
        assert!(Payload { bytes: b" {} ".to_vec(), signature: None, revision: String::new(), signed: None }.is_empty());
    }

    /// A user's one-shot cache sits where the agent can write: a FIFO in place of any of its
    /// files is refused at once, never opened for good (an event waiting on it would run into the
    /// agent's hook timeout, which fails open).
    #[test]
    fn fifos_in_the_cache_and_the_approvals_are_refused_without_waiting() {
        let t = tempfile::tempdir().unwrap();
        let c = cfg(vec![key().verifying_key()]);
        let cache = Cache::new(Some(t.path()), &c.url);
        std::fs::create_dir_all(&cache.dir).unwrap();
        for p in [cache.meta_path(), cache.highest_path(), cache.attempt_path()] {
            crate::readfile::plant_fifo(&p);
        }
        let (c1, k1) = (c.clone(), cache.clone());
        let e = crate::readfile::must_return("meta.json", move || k1.load_disk_for_test(&c1)).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let (c2, k2) = (c.clone(), cache.clone());
        assert!(crate::readfile::must_return("highest.json", move || k2.highest(&c2)).is_none());
        let k3 = cache.clone();
        assert!(crate::readfile::must_return("last-attempt.json", move || k3.last_attempt()).unwrap().is_none());
        // The payload a valid meta names.
        std::fs::remove_file(cache.meta_path()).unwrap();
        let sha = "ab".repeat(32);
        let meta = serde_json::json!({"version": 2, "url": c.url, "payload_sha256": sha, "fetched_at": now_unix()});
        std::fs::write(cache.meta_path(), meta.to_string()).unwrap();
        crate::readfile::plant_fifo(&cache.payload_path(&sha));
        let (c4, k4) = (c.clone(), cache.clone());
        let e = crate::readfile::must_return("payload", move || k4.load_disk_for_test(&c4)).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        // An approval record.
        let rev = "cd".repeat(32);
        let dir = t.path().join("approvals");
        std::fs::create_dir_all(&dir).unwrap();
        crate::readfile::plant_fifo(&dir.join(format!("{rev}.json")));
        let state = t.path().to_path_buf();
        assert!(crate::readfile::must_return("approval", move || approval::approval(Some(&state), &rev)).is_none());
    }
}
