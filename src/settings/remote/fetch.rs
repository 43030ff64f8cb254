//! One GET of the settings URL over the HTTP client (`ureq` 3), with retries.
//!
//! Promises: the request is [`RemoteConfig::request`] (what validation built); it is conditional
//! only when the caller hands validators that came with a payload it verified itself; a 304 to an
//! unconditional request is an error (nothing was asked to be confirmed); redirects are not
//! followed; the body is capped at [`MAX_PAYLOAD_BYTES`]; a body is only returned once
//! `super::accept` verified it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Payload, RemoteConfig, RemoteError, accept};
use crate::settings::envelope::SIGNATURE_HEADER;
pub use crate::settings::remote_config::Validators;

/// The largest payload accepted.
pub const MAX_PAYLOAD_BYTES: u64 = crate::settings::file::MAX_SETTINGS_BYTES;

/// What one request returned.
#[derive(Debug)]
pub enum Fetched {
    /// 304 to a conditional request.
    NotModified,
    Payload {
        payload: Payload,
        validators: Validators,
    },
}

/// One GET of the settings URL (conditional when `validators` are given), retried with
/// exponential backoff and jitter on network errors, timeouts, 429 and 5xx.
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
    // Validation built this same request, so this only fails if that promise broke: an error,
    // never a silent skip.
    let req = cfg
        .request(validators)
        .map_err(|m| RemoteError::Invalid { url: url.clone(), message: format!("cannot build the request: {m}") })?;
    let mut resp = agent.run(req).map_err(|e| RemoteError::Network { url: url.clone(), message: e.to_string() })?;
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    match status {
        304 if !validators.is_empty() => Ok(Fetched::NotModified),
        304 => Err(RemoteError::Invalid {
            url,
            message: "answered 304 Not Modified to an unconditional request (nothing was asked to be confirmed)".into(),
        }),
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
