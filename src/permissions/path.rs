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

/// `*` and `?` stay within one path segment; `**` spans any number of segments.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            if rest.first() == Some(&b'/') && glob(&rest[1..], s) {
                return true;
            }
            (0..=s.len()).any(|i| glob(rest, &s[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if s.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        Some(b'?') => s.first().is_some_and(|c| *c != b'/') && glob(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
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
