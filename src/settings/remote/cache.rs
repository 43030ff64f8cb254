//! The on-disk cache of server-managed settings, `<state_dir>/remote/<sha256(url)[..16]>/`:
//! `payload-<sha256>.json` (the settings bytes), `meta.json` (url, signed metadata, signature,
//! ETag / Last-Modified, fetch time), `highest.json` (the highest envelope version verified for
//! this target), `last-attempt.json` (when the last fetch ran and how it ended), `refresh.lock`.
//!
//! Promises:
//! - Writes are atomic (temp file, fsync, rename, directory fsync; the payload before the record
//!   that points at it). A load re-verifies everything it applies: the payload hash, the URL, the
//!   signature over the signed metadata with the keys configured *now*, the target, and the
//!   version against `highest.json`. What does not verify is an error, never applied.
//! - A process keeps in memory the newest payload it verified (per cache directory): a copy on
//!   disk that is older, equal-versioned with other bytes, tampered or deleted does not replace
//!   it. That is what keeps a long-running host (the daemon, `remote watch`) from being rolled
//!   back through files the user owns; a one-shot process starts with nothing in memory.
//! - Timestamps read from these files are sanity-checked ([`checked_time`]): one in the future
//!   beyond [`CLOCK_SKEW`] is ignored and reported, never trusted to postpone a fetch.
//!
//! Every file here is writable by whoever owns the state directory (the user, for a user-run
//! hookhost; root for a root-run daemon using `/var/lib/hookhost`): see the README's threat model
//! for server policy for what that owner can and cannot do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Payload, RemoteConfig, RemoteError, now_unix, sha256_hex};
use crate::settings::envelope::{Signed, Target, verify_legacy, verify_signed};

/// Where the cache lives when no user state directory is known.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/hookhost";
/// How far in the future a timestamp from the state directory may be before it is ignored (and
/// how far past its expiry a signed envelope is still accepted).
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// After a slow failed fetch, how long dispatches without a cache skip the synchronous fetch.
pub const SLOW_FAILURE_BACKOFF: Duration = Duration::from_secs(60);
/// The cache record's format version.
pub const META_FORMAT: u32 = 2;

/// The cache record (`meta.json`); the payload sits beside it in `payload-<sha256>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheMeta {
    /// Format of this record: 1 (legacy, no `signed`) or 2.
    pub version: u32,
    pub url: String,
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Unix time of the last successful fetch (200, 204 or 304). Not trusted beyond
    /// [`checked_time`]: the user can write it.
    pub fetched_at: f64,
    pub payload_sha256: String,
    pub signature: Option<String>,
    /// The signed metadata of a version-2 envelope (None: legacy or unsigned).
    #[serde(default)]
    pub signed: Option<Signed>,
}

/// The highest envelope version verified for a target (`highest.json`), raised by every store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highest {
    pub target: Target,
    pub version: u64,
    pub payload_sha256: String,
}

/// The last fetch attempt, for `status` and for pacing fetches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub at: f64,
    /// `"changed"`, `"not modified"` or `"error: …"`.
    pub result: String,
    /// How long the attempt took, in seconds.
    #[serde(default)]
    pub took: f64,
    /// The revision a successful attempt left in the cache: a cache holding another one was
    /// changed by something other than a fetch, and is refreshed.
    #[serde(default)]
    pub revision: Option<String>,
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

/// `t` (unix seconds, `what` names it) when it is a plausible past time: finite, not negative,
/// and not later than now plus [`CLOCK_SKEW`]. The error says why it is ignored.
pub fn checked_time(t: f64, what: &str) -> Result<f64, String> {
    let now = now_unix();
    if !t.is_finite() || t < 0.0 {
        return Err(format!("{what} holds an invalid time ({t}); ignored"));
    }
    if t > now + CLOCK_SKEW.as_secs_f64() {
        return Err(format!(
            "{what} is dated in the future ({}, {:.0}s ahead of this clock); ignored",
            crate::clock::format_rfc3339(t.min(253_402_300_799.0) as i64, None),
            t - now
        ));
    }
    Ok(t)
}

/// A cache entry that verified.
#[derive(Debug, Clone)]
pub struct Cached {
    pub meta: CacheMeta,
    pub payload: Payload,
    pub payload_path: PathBuf,
    /// Set when this is the copy the process verified earlier, because the one on disk is older,
    /// tampered or gone: what happened to the disk copy.
    pub note: Option<String>,
}

/// The newest payload each cache directory's process verified (see the module doc).
static VERIFIED: LazyLock<Mutex<HashMap<PathBuf, Cached>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn verified() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Cached>> {
    VERIFIED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a payload of `version` and `revision` is older than what `seen_version` /
/// `seen_revision` name, for rollback purposes: a lower version, or the same version with other
/// bytes (a version never names two payloads). Version 0 is "unversioned" (legacy and unsigned
/// payloads): nothing orders two of those, and any signed version is newer.
pub fn older_than(version: u64, revision: &str, seen_version: u64, seen_revision: &str) -> bool {
    version < seen_version || (version == seen_version && version > 0 && revision != seen_revision)
}

fn older(a: &Payload, b: &Payload) -> bool {
    older_than(a.version(), &a.revision, b.version(), &b.revision)
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

    pub fn highest_path(&self) -> PathBuf {
        self.dir.join("highest.json")
    }

    pub fn attempt_path(&self) -> PathBuf {
        self.dir.join("last-attempt.json")
    }

    /// The payload file for a revision (`sha` is a hex sha256: validated before any use).
    pub fn payload_path(&self, sha: &str) -> PathBuf {
        self.dir.join(format!("payload-{}.json", sha.get(..32).unwrap_or(sha)))
    }

    fn err(&self, path: &Path, message: impl Into<String>) -> RemoteError {
        RemoteError::Cache { path: path.to_path_buf(), message: message.into() }
    }

    /// The verified cache entry: `Ok(None)` when there is none, `Err` when it does not verify
    /// (tampered, torn, for another URL or target, signed with a key no longer accepted, a bare
    /// signature without `allowLegacySignatures`, or older than `highest.json`:
    /// [`RemoteError::RolledBack`]). When this process verified a newer payload before, that one
    /// is returned instead (with [`Cached::note`]). Expiry is the caller's to judge.
    pub fn load(&self, cfg: &RemoteConfig) -> Result<Option<Cached>, RemoteError> {
        let disk = self.load_disk(cfg);
        let mut mem = verified();
        let remembered = mem.get(&self.dir).filter(|m| self.still_verifies(cfg, m)).cloned();
        match (disk, remembered) {
            (Ok(Some(d)), Some(m)) if older(&d.payload, &m.payload) => Ok(Some(Cached {
                note: Some(format!(
                    "the cached server payload on disk (version {}, revision {}) is older than the one this process \
                     verified (version {}, revision {}): kept the verified one",
                    d.payload.version(),
                    d.payload.revision,
                    m.payload.version(),
                    m.payload.revision
                )),
                ..m
            })),
            (Ok(Some(d)), _) => {
                mem.insert(self.dir.clone(), Cached { note: None, ..d.clone() });
                Ok(Some(d))
            }
            (Ok(None), Some(m)) => Ok(Some(Cached {
                note: Some("the server payload cache was deleted: kept the copy this process verified".into()),
                ..m
            })),
            (Err(e), Some(m)) => Ok(Some(Cached {
                note: Some(format!("{e}; kept the copy this process verified (revision {})", m.payload.revision)),
                ..m
            })),
            (Err(e), None) => Err(e),
            (Ok(None), None) => Ok(None),
        }
    }

    #[cfg(test)]
    pub(super) fn load_disk_for_test(&self, cfg: &RemoteConfig) -> Result<Option<Cached>, RemoteError> {
        self.load_disk(cfg)
    }

    /// Whether a remembered entry still verifies under `cfg` (keys, target and legacy mode may
    /// have changed since).
    fn still_verifies(&self, cfg: &RemoteConfig, c: &Cached) -> bool {
        self.check_auth(cfg, &c.meta, &c.payload.bytes, &c.payload_path).is_ok()
    }

    fn load_disk(&self, cfg: &RemoteConfig) -> Result<Option<Cached>, RemoteError> {
        let mp = self.meta_path();
        let text = match read_state(&mp, MAX_RECORD_BYTES) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(self.err(&mp, format!("cannot read: {}", e.reason()))),
        };
        let meta: CacheMeta = serde_json::from_slice(&text).map_err(|e| self.err(&mp, format!("corrupt: {e}")))?;
        if meta.payload_sha256.len() != 64 || !meta.payload_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err(&mp, "corrupt: `payload_sha256` is not a sha256"));
        }
        if meta.url != cfg.url {
            return Err(self.err(&mp, format!("is for {}, not {}", meta.url, cfg.url)));
        }
        let pp = self.payload_path(&meta.payload_sha256);
        let bytes = read_state(&pp, super::MAX_PAYLOAD_BYTES)
            .map_err(|e| self.err(&pp, format!("cannot read: {}", e.reason())))?;
        if sha256_hex(&bytes) != meta.payload_sha256 {
            return Err(self.err(&pp, "payload does not match its recorded sha256 (tampered)"));
        }
        self.check_auth(cfg, &meta, &bytes, &pp)?;
        let payload = Payload {
            revision: meta.payload_sha256.clone(),
            bytes,
            signature: meta.signature.clone(),
            signed: meta.signed.clone(),
        };
        if let Some(h) = self.highest(cfg)
            && older_than(payload.version(), &payload.revision, h.version, &h.payload_sha256)
        {
            return Err(RemoteError::RolledBack {
                url: cfg.url.clone(),
                message: format!(
                    "the cached server payload (version {}, revision {}) is older than version {} (revision {}) \
                     verified before ({}): the cache was rolled back",
                    payload.version(),
                    payload.revision,
                    h.version,
                    h.payload_sha256,
                    self.highest_path().display()
                ),
            });
        }
        Ok(Some(Cached { meta, payload, payload_path: pp, note: None }))
    }

    /// The signature (over the signed metadata, with the keys configured now) and the target.
    fn check_auth(&self, cfg: &RemoteConfig, meta: &CacheMeta, bytes: &[u8], pp: &Path) -> Result<(), RemoteError> {
        if let Some(s) = &meta.signed
            && s.target != cfg.target()
        {
            return Err(self.err(pp, format!("payload is signed for {}, not {}", s.target, cfg.target())));
        }
        if cfg.keys.is_empty() {
            return Ok(());
        }
        let Some(sig) = &meta.signature else {
            return Err(self.err(pp, "payload has no signature, but remoteSettings.publicKey is set"));
        };
        let ok = match &meta.signed {
            Some(s) => verify_signed(&cfg.keys, s, bytes, sig),
            None if !cfg.allow_legacy => {
                return Err(self.err(
                    pp,
                    "payload carries a bare (legacy) signature, accepted only with remoteSettings.allowLegacySignatures",
                ));
            }
            None => verify_legacy(&cfg.keys, bytes, sig),
        };
        if ok {
            Ok(())
        } else {
            Err(self.err(pp, "payload signature does not verify (tampered, or the key was rotated)"))
        }
    }

    /// The highest version recorded for `cfg`'s target (None: none, unreadable, or another
    /// target's).
    pub fn highest(&self, cfg: &RemoteConfig) -> Option<Highest> {
        let h: Highest = serde_json::from_slice(&read_state(&self.highest_path(), MAX_RECORD_BYTES).ok()?).ok()?;
        (h.target == cfg.target()).then_some(h)
    }

    /// Refuses a fetched payload that is older than what was verified before: the cached copy
    /// `current`, `highest.json`, and this process's memory. A server (or anyone on the path)
    /// replaying an old signed envelope gets [`RemoteError::RolledBack`].
    pub fn check_not_older(
        &self,
        cfg: &RemoteConfig,
        fetched: &Payload,
        current: Option<&Cached>,
    ) -> Result<(), RemoteError> {
        let mut seen: Vec<(u64, String, &str)> = Vec::new();
        if let Some(c) = current {
            seen.push((c.payload.version(), c.payload.revision.clone(), "the cached payload"));
        }
        if let Some(h) = self.highest(cfg) {
            seen.push((h.version, h.payload_sha256, "the highest version recorded"));
        }
        if let Some(m) = verified().get(&self.dir) {
            seen.push((m.payload.version(), m.payload.revision.clone(), "the payload this process verified"));
        }
        for (version, revision, what) in seen {
            if older_than(fetched.version(), &fetched.revision, version, &revision) {
                return Err(RemoteError::RolledBack {
                    url: cfg.url.clone(),
                    message: format!(
                        "the server sent version {} (revision {}), older than {what} (version {version}, revision \
                         {revision}): refused (an old signed envelope replayed, or a version reused)",
                        fetched.version(),
                        fetched.revision
                    ),
                });
            }
        }
        Ok(())
    }

    /// Stores a verified payload: payload file first, then the record pointing at it, then the
    /// highest version; older payload files are removed afterwards.
    pub fn store(&self, cfg: &RemoteConfig, payload: &Payload, v: super::Validators) -> Result<Cached, RemoteError> {
        self.ensure_dir()?;
        let pp = self.payload_path(&payload.revision);
        atomic_write(&self.dir, &pp, &payload.bytes).map_err(|e| self.err(&pp, e.to_string()))?;
        let meta = CacheMeta {
            version: META_FORMAT,
            url: cfg.url.clone(),
            etag: v.etag,
            last_modified: v.last_modified,
            fetched_at: now_unix(),
            payload_sha256: payload.revision.clone(),
            signature: payload.signature.clone(),
            signed: payload.signed.clone(),
        };
        self.write_meta(&meta)?;
        if let Some(s) = &payload.signed
            && self.highest(cfg).is_none_or(|h| h.version < s.version)
        {
            let h = Highest { target: s.target.clone(), version: s.version, payload_sha256: payload.revision.clone() };
            let hp = self.highest_path();
            let text = serde_json::to_vec_pretty(&h).map_err(|e| self.err(&hp, e.to_string()))?;
            atomic_write(&self.dir, &hp, &text).map_err(|e| self.err(&hp, e.to_string()))?;
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("payload-") && e.path() != pp {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let cached = Cached { meta, payload: payload.clone(), payload_path: pp, note: None };
        let mut mem = verified();
        if mem.get(&self.dir).is_none_or(|m| !older(&cached.payload, &m.payload)) {
            mem.insert(self.dir.clone(), cached.clone());
        }
        Ok(cached)
    }

    fn write_meta(&self, meta: &CacheMeta) -> Result<(), RemoteError> {
        let mp = self.meta_path();
        let text = serde_json::to_vec_pretty(meta).map_err(|e| self.err(&mp, e.to_string()))?;
        atomic_write(&self.dir, &mp, &text).map_err(|e| self.err(&mp, e.to_string()))
    }

    /// Marks the cached payload as confirmed by the server now (a 304 to a request whose
    /// validators came with this very payload).
    pub fn touch(&self, cached: &mut Cached) -> Result<(), RemoteError> {
        cached.meta.fetched_at = now_unix();
        self.write_meta(&cached.meta)
    }

    /// The last fetch attempt: `Ok(None)` when none is recorded (or unreadable), `Err` when its
    /// time cannot be trusted (ignored; the message says why).
    pub fn last_attempt(&self) -> Result<Option<AttemptRecord>, String> {
        let Some(a) = read_state(&self.attempt_path(), MAX_RECORD_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice::<AttemptRecord>(&b).ok())
        else {
            return Ok(None);
        };
        let what = self.attempt_path().display().to_string();
        checked_time(a.at, &what)?;
        if !a.took.is_finite() || a.took < 0.0 || a.took > 3600.0 {
            return Err(format!("{what} holds an invalid duration ({}); ignored", a.took));
        }
        Ok(Some(a))
    }

    pub fn record_attempt(&self, result: &str, took: Duration, revision: Option<&str>) {
        let rec = AttemptRecord {
            at: now_unix(),
            result: result.to_string(),
            took: took.as_secs_f64(),
            revision: revision.map(str::to_string),
        };
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
    pub fn try_lock(&self) -> Option<crate::file_lock::FileLock> {
        self.ensure_dir().ok()?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("refresh.lock"))
            .ok()?;
        crate::file_lock::FileLock::try_lock(f, crate::file_lock::Mode::Exclusive).ok().flatten()
    }
}

/// Replaces `path` (a file in `dir`) atomically and durably, mode 0600 (`crate::atomic_file`).
pub(super) fn atomic_write(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    debug_assert_eq!(path.parent(), Some(dir));
    crate::atomic_file::replace(path, bytes, crate::atomic_file::Mode::Exact(0o600), None)
}

/// The largest cache record (`meta.json`, `highest.json`, `attempt.json`) read back.
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Reads one of the cache's own files: a regular file, not a link, bounded, never waited on (the
/// cache of a user's one-shot `dispatch` sits where the agent can write: a FIFO there must not
/// hang an event).
fn read_state(path: &Path, max: u64) -> Result<Vec<u8>, crate::readfile::ReadError> {
    crate::readfile::read(path, &crate::readfile::ReadOptions::new(crate::readfile::Links::NoFollow, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_state_are_sanity_checked() {
        let now = now_unix();
        assert!(checked_time(now, "t").is_ok());
        assert!(checked_time(now + 60.0, "t").is_ok(), "within the clock skew");
        for bad in [now + 3600.0, 253_402_300_799.0, 1e300, f64::INFINITY, f64::NAN, -1.0] {
            let e = checked_time(bad, "last-attempt.json").unwrap_err();
            assert!(e.contains("last-attempt.json") && e.contains("ignored"), "{e}");
        }
    }
}
