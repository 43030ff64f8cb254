//! `WebFetch(…)` rules against a URL parsed by the WHATWG URL standard (the `url` crate), the
//! way the agent's `fetch` parses it: `https://evil.example\@allowed.example/` is a fetch to
//! evil.example; upper case, a trailing dot, percent-encoded dots, IDNA forms, ports,
//! userinfo and IPv4 spellings (`http://0x7f.1/` is 127.0.0.1) are normalised before the host
//! is compared, on both the URL and the rule's domain.
//!
//! A URL that does not parse, or has no host, is never allowed by a rule and hits every
//! `WebFetch(domain:…)` deny and ask rule (its host cannot be known).

use url::{Host, Url};

/// How a rule must match (deny/ask: any reading; allow: every reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Any,
    All,
}

/// The host of a URL, normalised (lower case, IDNA to ASCII, IPv4 canonical, no trailing dot);
/// `None` when the URL does not parse or has no host. An IPv4-mapped IPv6 address also reads
/// as its IPv4 address (the connection goes there).
pub fn host(url: &str) -> Option<String> {
    hosts(url).and_then(|h| h.into_iter().next())
}

fn hosts(url: &str) -> Option<Vec<String>> {
    let u = Url::parse(url.trim()).ok()?;
    let v = match u.host()? {
        Host::Domain(d) => vec![d.trim_end_matches('.').to_ascii_lowercase()],
        Host::Ipv4(a) => vec![a.to_string()],
        Host::Ipv6(a) => {
            let mut v = vec![format!("[{a}]")];
            v.extend(a.to_ipv4_mapped().map(|x| x.to_string()));
            v
        }
    };
    (!v.iter().any(String::is_empty)).then_some(v)
}

/// A rule's domain normalised the same way (`*.` prefix kept apart).
fn rule_domain(d: &str) -> (bool, String) {
    let (wild, d) = match d.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, d),
    };
    let norm = host(&format!("http://{d}/")).unwrap_or_else(|| d.trim_end_matches('.').to_ascii_lowercase());
    (wild, norm)
}

/// Whether a `WebFetch` specifier matches a fetch of `url`.
pub fn matches(spec: &str, url: &str, mode: Mode) -> bool {
    match spec.strip_prefix("domain:") {
        Some(d) => {
            let Some(hs) = hosts(url) else { return mode == Mode::Any };
            if d == "*" {
                return true;
            }
            let (wild, d) = rule_domain(d);
            let hit = |h: &String| {
                let sub = h.len() > d.len() && h.ends_with(&d) && h.as_bytes()[h.len() - d.len() - 1] == b'.';
                if wild { sub } else { *h == d || sub }
            };
            match mode {
                Mode::Any => hs.iter().any(hit),
                Mode::All => hs.iter().all(hit),
            }
        }
        None => {
            let serialized = Url::parse(url.trim()).map(|u| u.to_string()).ok();
            let raw = super::wildcard(spec, url);
            match (mode, serialized) {
                (Mode::Any, s) => raw || s.is_some_and(|s| super::wildcard(spec, &s)),
                (Mode::All, Some(s)) => raw && super::wildcard(spec, &s),
                (Mode::All, None) => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(d: &str, url: &str) -> bool {
        matches(&format!("domain:{d}"), url, Mode::Any)
    }
    fn allow(d: &str, url: &str) -> bool {
        matches(&format!("domain:{d}"), url, Mode::All)
    }

    #[test]
    fn whatwg_hosts() {
        assert_eq!(host("https://evil.example\\@allowed.example/").as_deref(), Some("evil.example"));
        assert!(!allow("allowed.example", "https://evil.example\\@allowed.example/"));
        assert!(deny("evil.example", "https://evil.example\\@allowed.example/"));
        for u in [
            "https://EVIL.example/",
            "https://evil.example./",
            "https://evil%2Eexample/",
            "https://user:pw@evil.example:8443/x",
            "  https://evil.example/  ",
            "https://a.b.evil.example/",
            "HTTPS://EvIl.ExAmPlE",
        ] {
            assert!(deny("evil.example", u), "{u}");
        }
        assert!(deny("127.0.0.1", "http://0x7f.1/"));
        assert!(deny("127.0.0.1", "http://2130706433/"));
        assert!(deny("127.0.0.1", "http://[::ffff:127.0.0.1]/"), "IPv4-mapped IPv6");
        assert!(deny("xn--bcher-kva.example", "https://bücher.example/"));
        assert!(deny("bücher.example", "https://xn--bcher-kva.example/"));
        assert!(!deny("example.com", "https://example.com.evil.io/"));
        assert!(!deny("example.com", "https://evilexample.com/"));
        assert!(deny("*.example.com", "https://a.example.com/"));
        assert!(!deny("*.example.com", "https://example.com/"));
    }

    #[test]
    fn unparsable_urls_fail_closed() {
        for u in ["not a url", "https://", "http://[::1", "mailto:x@evil.example", ""] {
            assert!(deny("anything.example", u), "{u:?} must hit a deny");
            assert!(!allow("anything.example", u), "{u:?} must not be allowed");
        }
    }
}
