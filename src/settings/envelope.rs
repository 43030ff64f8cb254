//! Signed server payloads: keys, what is signed, how it is encoded, and how a response body is
//! read back into a payload with its signed metadata.
//!
//! **Version 2** (what `hookhost sign` writes) is a JSON object that is the whole response body:
//!
//! ```json
//! {"hookhostSigned": 2, "url": "https://policy.example/s.json", "version": 1767225600,
//!  "expires": 1769817600, "payload": "<base64 of the settings file>", "signature": "<base64>"}
//! ```
//!
//! (`"fleet": "<id>"` instead of `"url"` for a client configured with `remoteSettings.fleet`).
//! The ed25519 signature covers a canonical, domain-separated byte string built from those
//! fields ([`message`]), never JSON text: no JSON detail (key order, duplicate keys, number
//! spelling, whitespace) can make the client verify one value and use another, and no other
//! signed hookhost message can be mistaken for it. A target, a version that only goes up and an
//! expiry make a signature say "this is the current policy of this fleet, until then", not only
//! "the admin wrote these bytes once".
//!
//! **Legacy** (before version 2): a detached signature over the payload bytes alone, in the
//! `X-Hookhost-Signature` response header or a `{"hookhostSigned": 1, "payload", "signature"}`
//! envelope. It binds no URL, version or expiry (replayable anywhere, forever; one constant per
//! key for an empty body), so clients accept it only under `allowLegacySignatures`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Map, Value};

/// The key that marks a signed envelope body.
pub const ENVELOPE_KEY: &str = "hookhostSigned";
/// The response header that carries a legacy detached signature.
pub const SIGNATURE_HEADER: &str = "X-Hookhost-Signature";
/// Domain separation: every version-2 signed message starts with these bytes (a settings file,
/// what legacy signatures cover, cannot: it is JSON).
pub const CONTEXT: &[u8] = b"hookhost remote settings envelope v2\0";
/// The longest target (URL or fleet id) an envelope may name.
pub const MAX_TARGET_BYTES: usize = 8192;

/// What a signed envelope is bound to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The settings URL (WHATWG serialisation).
    Url(String),
    /// A fleet / tenant id the client is configured with (`remoteSettings.fleet`).
    Fleet(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Url(u) => write!(f, "url {u}"),
            Target::Fleet(id) => write!(f, "fleet {id}"),
        }
    }
}

/// The signed metadata of a version-2 payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signed {
    pub target: Target,
    /// Only goes up: a client refuses a version lower than the highest it verified.
    pub version: u64,
    /// Unix seconds after which the payload is no longer the current policy.
    pub expires: u64,
}

/// The exact bytes a version-2 signature covers: [`CONTEXT`], then the target kind (1 url,
/// 2 fleet), the target's length (u64, big endian) and bytes, the version, the expiry, the
/// payload's length and bytes. Fixed-width big-endian integers and length prefixes: one encoding
/// per value, so two different envelopes never sign the same bytes.
pub fn message(meta: &Signed, payload: &[u8]) -> Vec<u8> {
    let (kind, id) = match &meta.target {
        Target::Url(u) => (1u8, u.as_bytes()),
        Target::Fleet(f) => (2u8, f.as_bytes()),
    };
    let mut m = Vec::with_capacity(CONTEXT.len() + 1 + 8 + id.len() + 24 + payload.len());
    m.extend_from_slice(CONTEXT);
    m.push(kind);
    m.extend_from_slice(&(id.len() as u64).to_be_bytes());
    m.extend_from_slice(id);
    m.extend_from_slice(&meta.version.to_be_bytes());
    m.extend_from_slice(&meta.expires.to_be_bytes());
    m.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// A response body as read (nothing verified yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A version-2 envelope.
    Signed { meta: Signed, payload: Vec<u8>, signature: String },
    /// The payload bytes with a legacy detached signature (header or version-1 envelope), or
    /// none at all.
    Bare { payload: Vec<u8>, signature: Option<String> },
}

/// Reads a response body: a version-2 or version-1 envelope, or the bare payload (with the
/// `X-Hookhost-Signature` header's value, if any). A version-2 envelope is strict: unknown or
/// mistyped fields are an error.
pub fn read_body(body: &[u8], header_sig: Option<&str>) -> Result<Body, String> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return Ok(Body::Bare { payload: body.to_vec(), signature: header_sig.map(str::to_string) });
    };
    let Some(v) = m.get(ENVELOPE_KEY) else {
        return Ok(Body::Bare { payload: body.to_vec(), signature: header_sig.map(str::to_string) });
    };
    match v.as_u64() {
        Some(1) => {
            let payload = b64_field(&m, "payload")?;
            let signature = str_field(&m, "signature")?.to_string();
            Ok(Body::Bare { payload, signature: Some(signature) })
        }
        Some(2) => read_v2(&m),
        _ => Err(format!("signed envelope has an unknown `{ENVELOPE_KEY}` version {v} (this hookhost reads 1 and 2)")),
    }
}

const V2_KEYS: &[&str] = &[ENVELOPE_KEY, "url", "fleet", "version", "expires", "payload", "signature"];

fn read_v2(m: &Map<String, Value>) -> Result<Body, String> {
    if let Some(k) = m.keys().find(|k| !V2_KEYS.contains(&k.as_str())) {
        return Err(format!("signed envelope has an unknown field `{k}`"));
    }
    let target = match (m.get("url"), m.get("fleet")) {
        (Some(_), Some(_)) => return Err("signed envelope names both `url` and `fleet`".into()),
        (Some(_), None) => Target::Url(str_field(m, "url")?.to_string()),
        (None, Some(_)) => Target::Fleet(str_field(m, "fleet")?.to_string()),
        (None, None) => return Err("signed envelope names neither `url` nor `fleet`".into()),
    };
    let t = match &target {
        Target::Url(s) | Target::Fleet(s) => s,
    };
    if t.len() > MAX_TARGET_BYTES {
        return Err(format!("signed envelope target is longer than {MAX_TARGET_BYTES} bytes"));
    }
    let int = |k: &str| {
        m.get(k).and_then(Value::as_u64).ok_or_else(|| format!("signed envelope `{k}` must be a non-negative integer"))
    };
    let meta = Signed { target, version: int("version")?, expires: int("expires")? };
    Ok(Body::Signed { meta, payload: b64_field(m, "payload")?, signature: str_field(m, "signature")?.to_string() })
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, String> {
    m.get(k).and_then(Value::as_str).ok_or_else(|| format!("signed envelope has no string `{k}`"))
}

fn b64_field(m: &Map<String, Value>, k: &str) -> Result<Vec<u8>, String> {
    B64.decode(str_field(m, k)?).map_err(|e| format!("signed envelope `{k}` is not base64: {e}"))
}

/// Whether `signature` (base64) over `bytes` verifies with one of `keys`.
fn verify_bytes(keys: &[VerifyingKey], bytes: &[u8], signature: &str) -> bool {
    let Ok(raw) = B64.decode(signature.trim()) else { return false };
    let Ok(sig) = Signature::from_slice(&raw) else { return false };
    keys.iter().any(|k| k.verify_strict(bytes, &sig).is_ok())
}

/// Whether a version-2 signature verifies.
pub fn verify_signed(keys: &[VerifyingKey], meta: &Signed, payload: &[u8], signature: &str) -> bool {
    verify_bytes(keys, &message(meta, payload), signature)
}

/// Whether a legacy signature (over the payload bytes alone) verifies.
pub fn verify_legacy(keys: &[VerifyingKey], payload: &[u8], signature: &str) -> bool {
    verify_bytes(keys, payload, signature)
}

/// The version-2 envelope of `payload` (what `hookhost sign` writes).
pub fn sign(key: &SigningKey, meta: &Signed, payload: &[u8]) -> String {
    let sig = B64.encode(key.sign(&message(meta, payload)).to_bytes());
    let mut env = Map::new();
    env.insert(ENVELOPE_KEY.into(), 2.into());
    match &meta.target {
        Target::Url(u) => env.insert("url".into(), u.clone().into()),
        Target::Fleet(f) => env.insert("fleet".into(), f.clone().into()),
    };
    env.insert("version".into(), meta.version.into());
    env.insert("expires".into(), meta.expires.into());
    env.insert("payload".into(), B64.encode(payload).into());
    env.insert("signature".into(), sig.into());
    format!("{}\n", serde_json::to_string_pretty(&Value::Object(env)).unwrap_or_default())
}

/// The legacy version-1 envelope for `payload` and the bare signature (for clients that still
/// run `allowLegacySignatures`).
pub fn sign_legacy(key: &SigningKey, payload: &[u8]) -> (String, String) {
    let sig = B64.encode(key.sign(payload).to_bytes());
    let env = serde_json::json!({ENVELOPE_KEY: 1, "payload": B64.encode(payload), "signature": sig});
    (format!("{}\n", serde_json::to_string_pretty(&env).unwrap_or_default()), sig)
}

/// Parses a base64 ed25519 public key (32 bytes).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let bytes = B64.decode(s.trim()).map_err(|e| format!("public key {s:?} is not base64: {e}"))?;
    let arr: [u8; 32] =
        bytes.try_into().map_err(|_| format!("public key {s:?} is not an ed25519 key (32 bytes, base64)"))?;
    let key =
        VerifyingKey::from_bytes(&arr).map_err(|e| format!("public key {s:?} is not a valid ed25519 key: {e}"))?;
    if key.is_weak() {
        return Err(format!("public key {s:?} is a weak (small-order) ed25519 key"));
    }
    Ok(key)
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

pub fn public_key_of(key: &SigningKey) -> String {
    B64.encode(key.verifying_key().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn meta() -> Signed {
        Signed { target: Target::Url("https://p.example/s.json".into()), version: 5, expires: 1_000_000 }
    }

    #[test]
    fn message_is_canonical_and_domain_separated() {
        let m = message(&meta(), b"{}");
        assert!(m.starts_with(CONTEXT));
        let mut expected = CONTEXT.to_vec();
        expected.push(1);
        expected.extend_from_slice(&24u64.to_be_bytes());
        expected.extend_from_slice(b"https://p.example/s.json");
        expected.extend_from_slice(&5u64.to_be_bytes());
        expected.extend_from_slice(&1_000_000u64.to_be_bytes());
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(b"{}");
        assert_eq!(m, expected);
        // Moving bytes between the target and the payload changes the message.
        let a = Signed { target: Target::Url("ab".into()), ..meta() };
        let b = Signed { target: Target::Url("a".into()), ..meta() };
        assert_ne!(message(&a, b"c"), message(&b, b"bc"));
        // A fleet and a URL with the same text are different targets.
        let f = Signed { target: Target::Fleet("https://p.example/s.json".into()), ..meta() };
        assert_ne!(message(&f, b"{}"), m);
    }

    /// Every single-field change of a signed envelope (target kind and text, version, expiry,
    /// payload, signature) fails verification; the untouched one verifies.
    #[test]
    fn every_field_is_covered_by_the_signature() {
        let k = key();
        let keys = [k.verifying_key()];
        let payload = br#"{"failClosed": ["PreToolUse"]}"#;
        let env = sign(&k, &meta(), payload);
        let Body::Signed { meta: m, payload: p, signature } = read_body(env.as_bytes(), None).unwrap() else {
            panic!("not v2")
        };
        assert!(verify_signed(&keys, &m, &p, &signature));
        let mut variants = 0;
        let targets = [
            Target::Url("https://p.example/s.json ".into()),
            Target::Url("https://p.example/other.json".into()),
            Target::Fleet("https://p.example/s.json".into()),
            Target::Url(String::new()),
        ];
        for t in targets {
            assert!(!verify_signed(&keys, &Signed { target: t, ..m.clone() }, &p, &signature));
            variants += 1;
        }
        for v in [0, 4, 6, u64::MAX, 5 << 32] {
            assert!(!verify_signed(&keys, &Signed { version: v, ..m.clone() }, &p, &signature));
            assert!(!verify_signed(&keys, &Signed { expires: v, ..m.clone() }, &p, &signature));
            variants += 2;
        }
        for i in 0..p.len() {
            let mut q = p.clone();
            q[i] ^= 1;
            assert!(!verify_signed(&keys, &m, &q, &signature));
            variants += 1;
        }
        assert!(!verify_signed(&keys, &m, &p[..p.len() - 1], &signature));
        // The legacy check of the same signature over the bare payload fails too.
        assert!(!verify_legacy(&keys, &p, &signature));
        let (_, legacy) = sign_legacy(&k, &p);
        assert!(verify_legacy(&keys, &p, &legacy));
        assert!(!verify_signed(&keys, &m, &p, &legacy));
        assert!(variants > 40);
    }

    #[test]
    fn strict_v2_reading() {
        let env: Value = serde_json::from_str(&sign(&key(), &meta(), b"{}")).unwrap();
        let with = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut v = env.clone();
            f(v.as_object_mut().unwrap());
            read_body(v.to_string().as_bytes(), None)
        };
        assert!(with(&|_| {}).is_ok());
        assert!(with(&|m| drop(m.insert("extra".into(), 1.into()))).unwrap_err().contains("unknown field"));
        assert!(with(&|m| drop(m.insert("fleet".into(), "x".into()))).unwrap_err().contains("both"));
        assert!(with(&|m| drop(m.remove("url"))).unwrap_err().contains("neither"));
        assert!(with(&|m| drop(m.insert("version".into(), (-1).into()))).is_err());
        assert!(with(&|m| drop(m.insert("version".into(), 1.5.into()))).is_err());
        assert!(with(&|m| drop(m.insert("expires".into(), "1".into()))).is_err());
        assert!(with(&|m| drop(m.insert("payload".into(), "!!".into()))).is_err());
        assert!(with(&|m| drop(m.insert(ENVELOPE_KEY.into(), 3.into()))).unwrap_err().contains("unknown"));
        // Not an envelope: the bare body with the header signature.
        assert_eq!(
            read_body(b"{\"a\": 1}", Some("sig")).unwrap(),
            Body::Bare { payload: b"{\"a\": 1}".to_vec(), signature: Some("sig".into()) }
        );
        assert_eq!(read_body(b"", None).unwrap(), Body::Bare { payload: Vec::new(), signature: None });
    }
}
