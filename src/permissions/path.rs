//! Path rules with gitignore-style anchoring: `//abs`, `~/home`, `/root-relative`,
//! `./cwd-relative` or `dir/x` (cwd-relative), and a bare name (no `/`) at any depth. `*` and
//! `?` stay within one segment, `**` spans segments, and a pattern naming a directory covers
//! everything below it. Targets are normalised lexically (`..` cannot climb past what it names)
//! and, when they exist, also through their symlinks: a rule matches if either form matches, so
//! neither `../` nor a symlink walks around a deny.

use std::path::{Component, Path, PathBuf};

use super::RuleContext;

/// Where a path pattern is anchored.
pub fn anchor(spec: &str, ctx: &RuleContext, root: &Path) -> PathBuf {
    let or_root = |p: &Option<PathBuf>| p.clone().unwrap_or_else(|| PathBuf::from("/"));
    let p = if let Some(abs) = spec.strip_prefix("//") {
        PathBuf::from("/").join(abs)
    } else if let Some(h) = spec.strip_prefix("~/") {
        or_root(&ctx.home).join(h)
    } else if let Some(r) = spec.strip_prefix('/') {
        root.join(r)
    } else if let Some(r) = spec.strip_prefix("./") {
        or_root(&ctx.cwd).join(r)
    } else if !spec.contains('/') {
        PathBuf::from("/**").join(spec)
    } else {
        or_root(&ctx.cwd).join(spec)
    };
    lexical(&p)
}

/// The forms of a target path a rule is checked against: lexical, and canonical if it exists.
pub fn target_forms(target: &str, ctx: &RuleContext) -> Vec<PathBuf> {
    let base = ctx.cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
    let expanded = match (target.strip_prefix("~/"), &ctx.home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => base.join(target),
    };
    let lex = lexical(&expanded);
    let mut v = vec![lex.clone()];
    if let Ok(c) = std::fs::canonicalize(&lex)
        && c != lex
    {
        v.push(c);
    } else if let Some(parent) = lex.parent()
        && let Ok(c) = std::fs::canonicalize(parent)
        && c != parent
        && let Some(name) = lex.file_name()
    {
        // A file that does not exist yet, in a directory reached through a symlink.
        v.push(c.join(name));
    }
    v
}

/// Whether `pattern` (already anchored) matches `target` or one of its ancestors.
pub fn matches(pattern: &Path, target: &Path) -> bool {
    let p = pattern.to_string_lossy();
    let mut cur = Some(target);
    while let Some(c) = cur {
        if glob(p.as_bytes(), c.to_string_lossy().as_bytes()) {
            return true;
        }
        cur = c.parent();
    }
    false
}

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

/// Expands a shell glob in the last segment of `arg` (as the shell would, against `cwd`); a
/// name starting with `.` is matched only by a pattern starting with `.`. Returns nothing when
/// `arg` has no glob characters or nothing matches.
pub fn expand_glob(arg: &str, cwd: &Path) -> Vec<String> {
    if !arg.contains(['*', '?', '[']) {
        return Vec::new();
    }
    let (dir, pat) = match arg.rfind('/') {
        Some(i) => (&arg[..=i], &arg[i + 1..]),
        None => ("", arg),
    };
    if dir.contains(['*', '?', '[']) {
        return Vec::new();
    }
    let base = if dir.is_empty() { cwd.to_path_buf() } else { cwd.join(dir) };
    let Ok(rd) = std::fs::read_dir(&base) else { return Vec::new() };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| (!n.starts_with('.') || pat.starts_with('.')) && glob(pat.as_bytes(), n.as_bytes()))
        .map(|n| format!("{dir}{n}"))
        .collect()
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
