//! Paths against gitignore-style rules, relative to the project, for policies about files
//! (`.env`, `secrets/**`). The same in the Rust, Python and JavaScript SDKs (one test corpus,
//! `sdk/testdata/paths.json`).
//!
//! As in `.gitignore`: the last matching rule wins and `!rule` re-allows; a rule without `/`
//! matches a name at any depth, a rule with `/` the path from the project root (a leading `/` is
//! dropped); `**` matches any number of directories, `*` and `?` stay within one name; a
//! protected directory protects everything under it (a `!` rule cannot re-allow a file inside
//! it). [`relative`] resolves `.` and `..` as text: a hook cannot see the file system, so
//! symlinks are not followed.

fn normalize(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            // A relative path that leaves its start keeps its `..`; above `/` is `/`.
            ".." if !path.starts_with('/') => out.push(".."),
            ".." => {}
            c => out.push(c),
        }
    }
    out
}

/// `path` (absolute, or relative to `cwd`) relative to `cwd` when it is inside it, else the
/// absolute path without its leading `/`; `.`, `..` and empty components resolved.
pub fn relative(path: &str, cwd: &str) -> String {
    let joined;
    let path = if !path.starts_with('/') && cwd.starts_with('/') {
        joined = format!("{cwd}/{path}");
        joined.as_str()
    } else {
        path
    };
    let parts = normalize(path);
    if cwd.starts_with('/') {
        let base = normalize(cwd);
        if parts.len() > base.len() && parts[..base.len()] == base[..] {
            return parts[base.len()..].join("/");
        }
    }
    parts.join("/")
}

/// An ordered list of gitignore-style rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<String>,
}

impl Rules {
    pub fn new<S: AsRef<str>>(rules: &[S]) -> Rules {
        Rules { rules: rules.iter().map(|r| r.as_ref().to_string()).collect() }
    }

    /// The last rule that matches `parts` exactly, unless it is a `!` rule.
    fn last(&self, parts: &[&str]) -> Option<&str> {
        let mut hit = None;
        for rule in &self.rules {
            let (negated, pattern) = match rule.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, rule.as_str()),
            };
            let matched = if pattern.contains('/') {
                let pat: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
                match_parts(&pat, parts)
            } else {
                parts.last().is_some_and(|name| glob(pattern, name))
            };
            if matched {
                hit = if negated { None } else { Some(rule.as_str()) };
            }
        }
        hit
    }

    /// The rule that protects `rel` (a relative path) or a directory above it, if any.
    pub fn matching(&self, rel: &str) -> Option<&str> {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        (1..=parts.len()).find_map(|k| self.last(&parts[..k]))
    }
}

/// Path components against pattern components, `**` matching zero or more components.
fn match_parts(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|i| match_parts(rest, &parts[i..])),
        Some((p, rest)) => parts.split_first().is_some_and(|(name, tail)| glob(p, name) && match_parts(rest, tail)),
    }
}

/// One name against a pattern with `*` and `?` (`?` is one character).
fn glob(pattern: &str, name: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative with one backtrack point: linear in practice, no recursion blow-up.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) && p[pi] != '*' {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The corpus every SDK passes.
    #[test]
    fn shared_corpus() {
        let corpus: Value = serde_json::from_str(include_str!("../../../testdata/paths.json")).unwrap();
        let rules: Vec<&str> = corpus["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let rules = Rules::new(&rules);
        let cases = corpus["cases"].as_array().unwrap();
        assert!(cases.len() >= 50, "{}", cases.len());
        for case in cases {
            let (path, cwd) = (case["path"].as_str().unwrap(), case["cwd"].as_str().unwrap());
            let rel = relative(path, cwd);
            assert_eq!(rel, case["relative"].as_str().unwrap(), "{path} in {cwd}");
            assert_eq!(rules.matching(&rel), case["rule"].as_str(), "{path} in {cwd}");
        }
        for (p, n, want) in corpus["globs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g[0].as_str().unwrap(), g[1].as_str().unwrap(), g[2].as_bool().unwrap()))
        {
            assert_eq!(glob(p, n), want, "{p} {n}");
        }
    }
}
