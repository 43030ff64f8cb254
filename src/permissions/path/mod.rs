//! Path rules with gitignore-style anchoring, and the path machinery behind them.
//!
//! Anchoring ([`anchors`]): `//abs`, `~/home`, `/root-relative` (the settings file's root),
//! `./x` or `dir/x` (relative to the **project directory**, and for deny and ask rules also to
//! the event's cwd, so moving `cwd` cannot escape them), a bare name (no `/`) at any depth.
//! A `./name` deny or ask rule also binds `name` at any depth below those directories, as
//! Claude Code 2.1.328 does (`Read(./.env)` denies `sub/.env`). `*` and `?` stay within one
//! segment, `**` spans segments, and a pattern naming a directory covers everything below it.
//!
//! - [`resolve`]: targets are resolved the way the kernel resolves them (symlinks followed
//!   where met, `..` after them, `/proc/self/cwd` as the command's directory).
//! - [`intersect`]: whether a shell glob and a rule can name the same path.
//! - [`fs`]: one decision's bounded, cached file-system work (resolutions, listings, glob
//!   expansion, directory walks).

pub mod fs;
pub mod intersect;
pub mod resolve;

use std::path::{Component, Path, PathBuf};

use super::{PathMatch, RuleContext};

/// The absolute patterns a path specifier stands for. `project`: the project directory (`./x`
/// anchor of allow rules; with the cwd, of deny and ask rules); `root`: the settings file's
/// root (`/x` rules).
pub fn anchors(spec: &str, ctx: &RuleContext, root: &Path, how: PathMatch) -> Vec<String> {
    let home = ctx.home.clone().unwrap_or_else(|| PathBuf::from("/"));
    let cwd = ctx.cwd.clone().or_else(|| ctx.root.clone()).unwrap_or_else(|| PathBuf::from("/"));
    let project = ctx.root.clone().unwrap_or_else(|| cwd.clone());
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: PathBuf| {
        let s = lexical(&p).to_string_lossy().into_owned();
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if let Some(abs) = spec.strip_prefix("//") {
        add(PathBuf::from("/").join(abs));
    } else if let Some(h) = spec.strip_prefix("~/") {
        add(home.join(h));
    } else if let Some(r) = spec.strip_prefix('/') {
        add(root.join(r));
    } else if !spec.contains('/') {
        add(PathBuf::from("/**").join(spec));
    } else {
        let rel = spec.strip_prefix("./").unwrap_or(spec);
        let bases: Vec<&PathBuf> = match how {
            PathMatch::Any => vec![&project, &cwd],
            PathMatch::All => vec![&project],
        };
        for b in &bases {
            add(b.join(rel));
        }
        if how == PathMatch::Any && spec.starts_with("./") && !rel.contains('/') {
            for b in bases {
                add(b.join("**").join(rel));
            }
        }
    }
    out
}

/// Whether `pattern` (already anchored) matches `target` or one of its ancestors.
pub fn matches(pattern: &str, target: &Path) -> bool {
    let p = pattern;
    let mut cur = Some(target);
    while let Some(c) = cur {
        if glob(p.as_bytes(), c.to_string_lossy().as_bytes()) {
            return true;
        }
        cur = c.parent();
    }
    false
}

/// `p` with `.` and `..` removed lexically (for patterns and spelling only; targets are
/// resolved with [`resolve`]).
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// `*` and `?` stay within one path segment; `**` spans any number of segments (and `**/`
/// also matches nothing).
///
/// Iterative over the set of text positions the pattern read so far can end at: O(|p| · |s|)
/// time at worst, O(|p|) for a pattern without stars, and no recursion. Rules come from
/// settings files a repository can ship, and a backtracking matcher is exponential in the
/// number of stars (and recursive in the pattern's length).
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let n = s.len();
    // Sorted, distinct positions j such that the pattern read so far matches s[..j].
    let mut cur: Vec<usize> = vec![0];
    let mut next: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < p.len() {
        next.clear();
        let from = cur[0];
        match p[i] {
            b'*' if p.get(i + 1) == Some(&b'*') => {
                i += 2;
                if p.get(i) == Some(&b'/') {
                    // `**/`: any run ending in `/`, or nothing at all.
                    i += 1;
                    let slashes = (from..n).filter(|&k| s[k] == b'/').map(|k| k + 1);
                    merge(&cur, slashes, &mut next);
                } else {
                    // `**`: any run, `/` included.
                    next.extend(from..=n);
                }
            }
            b'*' => {
                // `*`: any run without `/`.
                i += 1;
                let mut emitted = 0;
                for &j in &cur {
                    if j < emitted {
                        // Inside the run already emitted (same segment): nothing new.
                        continue;
                    }
                    // Each scan starts past the last one: O(|s|) for the whole step.
                    let end = s[j..].iter().position(|&c| c == b'/').map_or(n, |k| j + k);
                    next.extend(j..=end);
                    emitted = end + 1;
                }
            }
            c => {
                i += 1;
                next.extend(
                    cur.iter().filter(|&&j| j < n && if c == b'?' { s[j] != b'/' } else { s[j] == c }).map(|j| j + 1),
                );
            }
        }
        std::mem::swap(&mut cur, &mut next);
        if cur.is_empty() {
            return false;
        }
    }
    cur.last() == Some(&n)
}

/// Merges a sorted list and a sorted iterator into `out`, sorted and without duplicates.
fn merge(a: &[usize], b: impl Iterator<Item = usize>, out: &mut Vec<usize>) {
    let mut b = b.peekable();
    let mut a = a.iter().copied().peekable();
    loop {
        let v = match (a.peek(), b.peek()) {
            (Some(&x), Some(&y)) if x <= y => {
                a.next();
                x
            }
            (_, Some(&y)) => {
                b.next();
                y
            }
            (Some(&x), None) => {
                a.next();
                x
            }
            (None, None) => return,
        };
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The specification: the backtracking matcher `glob` replaced (exponential, kept as the
    /// reference on small inputs).
    fn reference(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                if rest.first() == Some(&b'/') && reference(&rest[1..], s) {
                    return true;
                }
                (0..=s.len()).any(|i| reference(rest, &s[i..]))
            }
            Some(b'*') => {
                let rest = &p[1..];
                for i in 0..=s.len() {
                    if reference(rest, &s[i..]) {
                        return true;
                    }
                    if s.get(i) == Some(&b'/') {
                        break;
                    }
                }
                false
            }
            Some(b'?') => s.first().is_some_and(|c| *c != b'/') && reference(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && reference(&p[1..], &s[1..]),
        }
    }

    #[test]
    fn examples() {
        for (p, s, want) in [
            ("/**/.env", "/a/b/.env", true),
            ("/**/.env", "/.env", true),
            ("/a/*.rs", "/a/b.rs", true),
            ("/a/*.rs", "/a/b/c.rs", false),
            ("/a/**", "/a/b/c", true),
            ("/a/**/c", "/a/c", true),
            ("/a/?", "/a/b", true),
            ("/a/?", "/a//", false),
            ("", "", true),
            ("***", "a/b", true),
        ] {
            assert_eq!(glob(p.as_bytes(), s.as_bytes()), want, "{p} vs {s}");
            assert_eq!(reference(p.as_bytes(), s.as_bytes()), want, "reference: {p} vs {s}");
        }
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let p = format!("/**/{}b", "*a".repeat(40));
        let s = format!("/{}", "a".repeat(4000));
        let t = std::time::Instant::now();
        assert!(!glob(p.as_bytes(), s.as_bytes()));
        let long = "x".repeat(1_000_000);
        assert!(glob(long.as_bytes(), long.as_bytes()), "no recursion on the pattern's length");
        let stars = format!("/**{}", "/**".repeat(200));
        assert!(glob(stars.as_bytes(), format!("/{}", "a/".repeat(2000)).as_bytes()));
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    }

    proptest! {
        #[test]
        fn same_as_the_reference(p in "[ab/*?]{0,9}", s in "[ab/]{0,12}") {
            prop_assert_eq!(glob(p.as_bytes(), s.as_bytes()), reference(p.as_bytes(), s.as_bytes()));
        }
    }
}
