//! The `remoteSettings` bootstrap (an endpoint-managed, managed-only key): validated into a
//! [`RemoteConfig`] that can always produce its HTTP request.
//!
//! Promises:
//! - `url` is parsed by the WHATWG URL standard (the `url` crate, as the agent's fetch parses
//!   URLs), and what is fetched, cached and bound into signed envelopes is its serialisation, so
//!   no two parsers disagree about which server is asked.
//! - Every value is checked exactly as the HTTP client (`ureq` 3, the `http` crate's
//!   `Uri` / `HeaderName` / `HeaderValue`) will take it: a configuration that validates always
//!   builds its request ([`RemoteConfig::request`] is what the fetch sends, and validation builds
//!   it once). What cannot be sent is a load error naming the field (`ConfigError::path`, located
//!   by the settings parser as file:line:column), never a request that silently fails forever.
//! - Headers that would change how the request is framed or answered (`Host`, `Content-Length`,
//!   `Transfer-Encoding`, the conditional and range headers, …) are refused: hookhost alone
//!   decides when a request is conditional (`If-None-Match` / `If-Modified-Since`).

use std::collections::BTreeSet;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::envelope::{Target, parse_public_key};
use crate::settings::locate::Seg;

/// Default poll interval (Claude Code polls hourly).
pub const DEFAULT_POLL_SECONDS: u64 = 3600;
/// The longest poll interval (a week).
pub const MAX_POLL_SECONDS: u64 = 7 * 24 * 3600;
/// Default timeout of one fetch attempt.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 5.0;
/// Default number of retries after a failed attempt (network error, timeout, 5xx).
pub const DEFAULT_RETRIES: u32 = 2;
/// The longest fleet id.
pub const MAX_FLEET_BYTES: usize = 256;

/// Request headers hookhost does not let settings set: they change how the request is framed
/// or routed (the HTTP client refuses some of them outright, e.g. `Content-Length` on a GET), or
/// make it conditional or partial, which only hookhost may decide (a validator must never vouch
/// for a payload it did not come with).
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

/// The validated `remoteSettings` object of endpoint-managed settings.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The WHATWG serialisation of `remoteSettings.url` (what is fetched and cached).
    pub url: String,
    /// `remoteSettings.fleet`: signed envelopes must name this fleet instead of the URL.
    pub fleet: Option<String>,
    pub poll: Duration,
    pub timeout: Duration,
    pub retries: u32,
    /// Accepted signing keys (`publicKey`: one base64 key or a list, for rotation). Empty: payloads
    /// need no signature.
    pub keys: Vec<VerifyingKey>,
    pub headers: Vec<(String, String)>,
    /// Hooks and env vars delivered by the server run only once their revision is approved.
    pub require_approval: bool,
    /// `allowLegacySignatures`: also accept bare signatures (over the payload bytes alone, bound
    /// to no URL, version or expiry), for a migration period.
    pub allow_legacy: bool,
}

/// A `remoteSettings` value that cannot be used: where (a path inside `remoteSettings`; `key`:
/// point at the key rather than the value) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: Vec<Seg>,
    pub key: bool,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(path: &[&str], key: bool, message: impl Into<String>) -> ConfigError {
    ConfigError { path: path.iter().map(|s| Seg::Key((*s).to_string())).collect(), key, message: message.into() }
}

const CONFIG_KEYS: &[&str] = &[
    "url",
    "fleet",
    "pollSeconds",
    "timeoutSeconds",
    "retries",
    "publicKey",
    "headers",
    "requireApproval",
    "allowLegacySignatures",
];

impl RemoteConfig {
    /// Validates a `remoteSettings` value; the error says what is wrong and where.
    pub fn from_value(v: &Value) -> Result<Self, ConfigError> {
        let obj = v.as_object().ok_or_else(|| err(&[], false, "`remoteSettings` must be an object with `url`"))?;
        if let Some(k) = obj.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
            return Err(err(
                &[k],
                true,
                format!("unknown field `{k}` in `remoteSettings` (expected one of: {})", CONFIG_KEYS.join(", ")),
            ));
        }
        let raw_url = obj
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&["url"], false, "`remoteSettings.url` must be a string"))?;
        let url = normalize_url(raw_url).map_err(|m| err(&["url"], false, m))?;
        let fleet = match obj.get("fleet") {
            None => None,
            Some(Value::String(s)) => Some(check_fleet(s).map_err(|m| err(&["fleet"], false, m))?),
            Some(_) => return Err(err(&["fleet"], false, "`remoteSettings.fleet` must be a string")),
        };
        let poll = match obj.get("pollSeconds") {
            None => DEFAULT_POLL_SECONDS,
            Some(x) => x.as_u64().filter(|n| (1..=MAX_POLL_SECONDS).contains(n)).ok_or_else(|| {
                err(
                    &["pollSeconds"],
                    false,
                    format!("`remoteSettings.pollSeconds` must be an integer from 1 to {MAX_POLL_SECONDS}"),
                )
            })?,
        };
        let timeout = match obj.get("timeoutSeconds") {
            None => DEFAULT_TIMEOUT_SECONDS,
            Some(x) => x.as_f64().filter(|n| *n >= 0.001 && *n <= 300.0).ok_or_else(|| {
                err(&["timeoutSeconds"], false, "`remoteSettings.timeoutSeconds` must be a number from 0.001 to 300")
            })?,
        };
        let retries = match obj.get("retries") {
            None => DEFAULT_RETRIES,
            Some(x) => x
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n <= 10)
                .ok_or_else(|| err(&["retries"], false, "`remoteSettings.retries` must be an integer 0..=10"))?,
        };
        let keys = match obj.get("publicKey") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![parse_public_key(s).map_err(|m| err(&["publicKey"], false, m))?],
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut keys = Vec::with_capacity(a.len());
                for (i, k) in a.iter().enumerate() {
                    let at = || ConfigError {
                        path: vec![Seg::Key("publicKey".into()), Seg::Index(i)],
                        key: false,
                        message: String::new(),
                    };
                    let s = k.as_str().ok_or_else(|| ConfigError {
                        message: "`remoteSettings.publicKey` entries must be strings".into(),
                        ..at()
                    })?;
                    keys.push(parse_public_key(s).map_err(|m| ConfigError { message: m, ..at() })?);
                }
                keys
            }
            Some(_) => {
                return Err(err(
                    &["publicKey"],
                    false,
                    "`remoteSettings.publicKey` must be a base64 key or a non-empty list of them",
                ));
            }
        };
        let headers = match obj.get("headers") {
            None => Vec::new(),
            Some(Value::Object(h)) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::with_capacity(h.len());
                for (k, v) in h {
                    out.push(check_header(k, v, &mut seen)?);
                }
                out
            }
            Some(_) => {
                return Err(err(
                    &["headers"],
                    false,
                    "`remoteSettings.headers` must be an object of header name → value",
                ));
            }
        };
        let flag = |name: &str| match obj.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(err(&[name], false, format!("`remoteSettings.{name}` must be true or false"))),
        };
        let require_approval = flag("requireApproval")?;
        let allow_legacy = flag("allowLegacySignatures")?;
        if allow_legacy && keys.is_empty() {
            return Err(err(
                &["allowLegacySignatures"],
                false,
                "`remoteSettings.allowLegacySignatures` only applies with `publicKey` (without a key nothing is signed)",
            ));
        }
        let cfg = RemoteConfig {
            url,
            fleet,
            poll: Duration::from_secs(poll),
            timeout: Duration::from_secs_f64(timeout),
            retries,
            keys,
            headers,
            require_approval,
            allow_legacy,
        };
        // The request is built here exactly as every fetch builds it: what validates, sends.
        cfg.request(&Validators::default())
            .map_err(|m| err(&["url"], false, format!("`remoteSettings` cannot produce an HTTP request: {m}")))?;
        Ok(cfg)
    }

    /// What signed envelopes must name: the fleet when one is configured, else the URL.
    pub fn target(&self) -> Target {
        match &self.fleet {
            Some(f) => Target::Fleet(f.clone()),
            None => Target::Url(self.url.clone()),
        }
    }

    /// The GET request of one fetch (conditional when `validators` are given), built with the
    /// HTTP client's own types.
    pub fn request(&self, validators: &Validators) -> Result<ureq::http::Request<()>, String> {
        let mut b = ureq::http::Request::get(self.url.as_str());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(e) = &validators.etag {
            b = b.header("If-None-Match", e.as_str());
        }
        if let Some(m) = &validators.last_modified {
            b = b.header("If-Modified-Since", m.as_str());
        }
        let req = b.body(()).map_err(|e| e.to_string())?;
        if req.uri().host().is_none() {
            return Err(format!("{} has no host", self.url));
        }
        Ok(req)
    }
}

/// One `headers` entry, checked as the HTTP client will use it.
fn check_header(k: &str, v: &Value, seen: &mut BTreeSet<String>) -> Result<(String, String), ConfigError> {
    let at = |key: bool, m: String| err(&["headers", k], key, m);
    let name = ureq::http::HeaderName::try_from(k)
        .map_err(|_| at(true, format!("`remoteSettings.headers`: {k:?} is not a valid HTTP header name")))?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(at(
            true,
            format!(
                "`remoteSettings.headers.{k}` cannot be set: hookhost frames its requests and decides when they \
                 are conditional (reserved: {})",
                RESERVED_HEADERS.join(", ")
            ),
        ));
    }
    if !seen.insert(name.as_str().to_string()) {
        return Err(at(true, format!("`remoteSettings.headers` names {k:?} twice (header names ignore case)")));
    }
    let s = v.as_str().ok_or_else(|| at(false, format!("`remoteSettings.headers.{k}` must be a string")))?;
    // `HeaderValue` refuses control characters other than tab; the client also refuses
    // non-ASCII `Authorization` and `Host` values at send time: visible ASCII only, everywhere.
    let ok = ureq::http::HeaderValue::try_from(s).is_ok_and(|h| h.to_str().is_ok());
    if !ok {
        return Err(at(
            false,
            format!(
                "`remoteSettings.headers.{k}` is not a valid HTTP header value: only visible ASCII, spaces and \
                 tabs can be sent (found {})",
                describe_bad(s)
            ),
        ));
    }
    Ok((k.to_string(), s.to_string()))
}

/// The first character a header value cannot carry, spelled so a reader can find it.
fn describe_bad(s: &str) -> String {
    match s.chars().find(|c| !(*c == '\t' || (' '..='~').contains(c))) {
        Some(c) => format!("U+{:04X}", u32::from(c)),
        None => "nothing sendable".into(),
    }
}

/// `remoteSettings.url` as the WHATWG URL standard parses it, serialised without a fragment:
/// `https://`, or `http://` to `localhost`, `127.0.0.1` or `[::1]` only (a local test server or
/// proxy); no credentials (they belong in `headers`).
pub fn normalize_url(s: &str) -> Result<String, String> {
    let mut u = url::Url::parse(s).map_err(|e| format!("`remoteSettings.url` {s:?} is not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "`remoteSettings.url` {s:?} carries credentials: put them in `remoteSettings.headers` instead"
        ));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    match u.scheme() {
        "https" if u.host().is_some() => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "`remoteSettings.url` must be an https:// URL (http:// only to localhost, 127.0.0.1 or [::1]), got {s:?}"
            ));
        }
    }
    u.set_fragment(None);
    Ok(u.into())
}

/// A fleet id: 1 to 256 visible ASCII characters.
pub fn check_fleet(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_FLEET_BYTES || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "`remoteSettings.fleet` must be 1 to {MAX_FLEET_BYTES} visible ASCII characters (no spaces), got {s:?}"
        ));
    }
    Ok(s.to_string())
}

/// The cache validators a server sent (`ETag`, `Last-Modified`). Sent back (`If-None-Match`,
/// `If-Modified-Since`) only with the payload they came with, which the sender verified itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

#[cfg(test)]
mod tests {
    //! The HTTP client itself is the oracle: every configuration validation accepts is sent to a
    //! real loopback server, which must receive it as configured; every header validation refuses
    //! for its syntax is one the client cannot send either.

    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    /// One request: its target and header lines (names lower-cased).
    type Seen = (String, Vec<(String, String)>);

    /// A real HTTP/1.1 server on 127.0.0.1 recording each request's target and header lines.
    struct Server {
        port: u16,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Server {
        fn start() -> Server {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = seen.clone();
            std::thread::spawn(move || {
                for mut c in l.incoming().flatten() {
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    let mut first = String::new();
                    r.read_line(&mut first).unwrap_or(0);
                    let target = first.split(' ').nth(1).unwrap_or_default().to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        let line = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            headers.push((k.to_ascii_lowercase(), v.trim_matches([' ', '\t']).to_string()));
                        }
                    }
                    s.lock().unwrap().push((target, headers));
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
                }
            });
            Server { port, seen }
        }

        fn last(&self) -> Option<Seen> {
            self.seen.lock().unwrap().last().cloned()
        }
    }

    fn base(port: u16) -> serde_json::Map<String, Value> {
        let v =
            serde_json::json!({"url": format!("http://127.0.0.1:{port}/s.json"), "timeoutSeconds": 5, "retries": 0});
        v.as_object().unwrap().clone()
    }

    /// Sends `cfg`'s request the way a fetch does; whether it reached the server.
    fn sent(server: &Server, cfg: &RemoteConfig) -> bool {
        let before = server.seen.lock().unwrap().len();
        let ok = crate::settings::remote::fetch(cfg, &Validators::default()).is_ok();
        ok && server.seen.lock().unwrap().len() == before + 1
    }

    fn header_variants() -> Vec<(String, String)> {
        let mut v = Vec::new();
        for c in (0u32..=255).filter_map(char::from_u32) {
            v.push(("X-Token".to_string(), format!("a{c}b")));
            v.push((format!("X-T{c}k"), "v".to_string()));
        }
        for s in ["", " ", "\t", " lead", "trail ", "é", "中文", "😀", "a\u{85}b", "a\u{2028}b", "\u{feff}x", "a\r\nb"]
        {
            v.push(("X-Token".to_string(), s.to_string()));
            v.push(("Authorization".to_string(), format!("Bearer {s}")));
        }
        for n in ["", " ", "X Token", "X:Token", "Ünï", "x-token\u{0}", "A".repeat(100).as_str()] {
            v.push((n.to_string(), "v".to_string()));
        }
        v
    }

    #[test]
    fn header_validation_matches_the_http_client() {
        let server = Server::start();
        let mut accepted = 0;
        let variants = header_variants();
        assert!(variants.len() > 500, "{}", variants.len());
        for (name, value) in &variants {
            let mut obj = base(server.port);
            obj.insert("headers".into(), serde_json::json!({ name.clone(): value.clone() }));
            match RemoteConfig::from_value(&Value::Object(obj.clone())) {
                Ok(cfg) => {
                    accepted += 1;
                    assert!(sent(&server, &cfg), "accepted but not sent: {name:?}: {value:?}");
                    let (_, headers) = server.last().unwrap();
                    let lower = name.to_ascii_lowercase();
                    let got = headers.iter().find(|(k, _)| *k == lower).map(|(_, v)| v.clone());
                    assert_eq!(got.as_deref(), Some(value.trim_matches([' ', '\t'])), "{name:?}: {value:?}");
                }
                Err(e) => {
                    // Where (the header) and why.
                    assert_eq!(e.path.first(), Some(&Seg::Key("headers".into())), "{e:?}");
                    let stricter = RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || !value.is_ascii();
                    if !stricter {
                        // The client cannot send it either.
                        let mut raw = RemoteConfig::from_value(&Value::Object(base(server.port))).unwrap();
                        raw.headers = vec![(name.clone(), value.clone())];
                        assert!(!sent(&server, &raw), "refused but the client sends it: {name:?}: {value:?}: {e}");
                    }
                }
            }
        }
        assert!(accepted > 150, "{accepted}");
    }

    #[test]
    fn the_vertical_tab_and_nul_are_refused_naming_the_header() {
        for bad in ["a\u{b}b", "a\u{0}b", "\u{7f}"] {
            let e = RemoteConfig::from_value(
                &serde_json::json!({"url": "https://p.example/s", "headers": {"X-Token": bad}}),
            )
            .unwrap_err();
            assert_eq!(e.path, vec![Seg::Key("headers".into()), Seg::Key("X-Token".into())]);
            assert!(e.message.contains("`remoteSettings.headers.X-Token`"), "{e}");
        }
    }

    #[test]
    fn accepted_urls_reach_the_loopback_server_as_serialised() {
        let server = Server::start();
        let p = server.port;
        let mut urls: Vec<String> = vec![
            format!("http://127.0.0.1:{p}/s.json"),
            format!("HTTP://127.1:{p}/s.json"),
            format!("http://0x7f.0.0.1:{p}/s.json"),
            format!("http://2130706433:{p}/s.json"),
            format!("http://localhost:{p}/s.json"),
            format!("http://LOCALHOST:{p}/a/../s.json?x=1#frag"),
            format!("http://127.0.0.1:{p}\\s.json"),
            format!(" http://127.0.0.1:{p}/s.json "),
            format!("http://127.0.0.1:{p}/s\t.js\non"),
        ];
        for c in (0u32..=0x7f).chain([0xe9, 0x4e2d, 0x1f600]).filter_map(char::from_u32) {
            urls.push(format!("http://127.0.0.1:{p}/a{c}b?q{c}r"));
        }
        let refused = [
            format!("http://evil.example\\@127.0.0.1:{p}/"),
            format!("http://127.0.0.1.evil.example:{p}/"),
            format!("http://user:pw@127.0.0.1:{p}/"),
            format!("http://127.0.0.2:{p}/"),
            format!("ftp://127.0.0.1:{p}/"),
            "file:///etc/passwd".to_string(),
        ];
        let mut accepted = 0;
        for u in &urls {
            let mut obj = base(p);
            obj.insert("url".into(), u.clone().into());
            let Ok(cfg) = RemoteConfig::from_value(&Value::Object(obj)) else { continue };
            accepted += 1;
            assert!(sent(&server, &cfg), "accepted but not fetched: {u:?} -> {}", cfg.url);
            let parsed = url::Url::parse(&cfg.url).unwrap();
            let want = match parsed.query() {
                Some(q) => format!("{}?{q}", parsed.path()),
                None => parsed.path().to_string(),
            };
            assert_eq!(server.last().unwrap().0, want, "{u:?}");
        }
        assert!(accepted > 100, "{accepted}");
        for u in &refused {
            let mut obj = base(p);
            obj.insert("url".into(), u.clone().into());
            let e = RemoteConfig::from_value(&Value::Object(obj)).unwrap_err();
            assert_eq!(e.path, vec![Seg::Key("url".into())], "{u}");
        }
    }
}
