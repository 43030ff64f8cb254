//! Permission rules in Claude Code's syntax (`Tool`, `Tool(specifier)`, `mcp__server`), and
//! matching a tool call against one rule.
//!
//! Used today for a hook's `if` field (which holds exactly one rule); the allow/ask/deny engine
//! builds on the same matching. Bash specifiers use `*` wildcards and are checked against every
//! subcommand of a compound command (split on `&&`, `||`, `;`, `|`, `|&`, `&`, newlines, with
//! quotes respected; `$(…)`, backticks and groups included), after stripping `VAR=value`
//! prefixes and wrappers such as `timeout` or `nohup`. Path specifiers follow gitignore-style
//! anchoring (`//abs`, `~/home`, `/project-root`, `./cwd`, bare names at any depth).

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub tool: String,
    /// `None` for a bare tool name (and for `Tool(*)`).
    pub specifier: Option<String>,
    pub text: String,
}

/// Paths a rule is anchored to.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// The event's working directory.
    pub cwd: Option<PathBuf>,
    /// The root for `/path` rules (the project directory).
    pub root: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

const PATH_TOOLS: &[&str] = &[
    "Read",
    "Edit",
    "Write",
    "MultiEdit",
    "NotebookEdit",
    "Glob",
    "Grep",
    "LS",
];

impl Rule {
    pub fn parse(text: &str) -> Result<Rule, String> {
        let t = text.trim();
        let (tool, spec) = match t.find('(') {
            None => (t, None),
            Some(i) => {
                if !t.ends_with(')') {
                    return Err(format!(
                        "rule {text:?} has `(` without a closing `)` at the end"
                    ));
                }
                (&t[..i], Some(&t[i + 1..t.len() - 1]))
            }
        };
        if tool.is_empty()
            || !tool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*')
        {
            return Err(format!("rule {text:?}: {tool:?} is not a tool name"));
        }
        let specifier = match spec {
            None => None,
            Some("") => {
                return Err(format!(
                    "rule {text:?} has an empty specifier; write {tool:?} for all calls"
                ));
            }
            Some("*") => None,
            Some(s) => {
                let s = if tool == "Bash" {
                    s.strip_suffix(":*")
                        .map(|p| format!("{p} *"))
                        .unwrap_or_else(|| s.to_string())
                } else {
                    s.to_string()
                };
                Some(s)
            }
        };
        Ok(Rule {
            tool: tool.to_string(),
            specifier,
            text: t.to_string(),
        })
    }

    fn tool_matches(&self, tool_name: &str) -> bool {
        if self.tool.contains('*') {
            return wildcard(&self.tool, tool_name);
        }
        if self.tool == tool_name {
            return true;
        }
        // `mcp__server` covers all of the server's tools.
        self.tool.starts_with("mcp__")
            && self.tool.matches("__").count() == 1
            && tool_name
                .strip_prefix(&self.tool)
                .is_some_and(|rest| rest.starts_with("__"))
    }

    /// Whether a call matches this rule. For Bash, a call matches when any of its subcommands
    /// does; a command that cannot be split reliably matches (the caller decides how to treat
    /// that conservatively).
    pub fn matches(&self, tool_name: &str, input: &Value, ctx: &RuleContext) -> bool {
        if !self.tool_matches(tool_name) {
            return false;
        }
        let Some(spec) = &self.specifier else {
            return true;
        };
        match tool_name {
            "Bash" => {
                let cmd = input.get("command").and_then(Value::as_str).unwrap_or("");
                match split_bash(cmd) {
                    Some(parts) => parts.iter().any(|p| bash_matches(spec, p)),
                    None => true,
                }
            }
            t if PATH_TOOLS.contains(&t) => {
                let Some(target) = ["file_path", "notebook_path", "path"]
                    .iter()
                    .find_map(|k| input.get(*k).and_then(Value::as_str))
                else {
                    return false;
                };
                path_matches(spec, target, ctx)
            }
            "WebFetch" => {
                let url = input.get("url").and_then(Value::as_str).unwrap_or("");
                match spec.strip_prefix("domain:") {
                    Some(d) => {
                        host_of(url).is_some_and(|h| h == d || h.ends_with(&format!(".{d}")))
                    }
                    None => wildcard(spec, url),
                }
            }
            _ => false,
        }
    }
}

/// A Bash specifier against one simple command: `*` matches anything; a trailing ` *` also
/// matches the bare command (`Bash(ls *)` matches `ls` and `ls -la`, not `lsof`).
fn bash_matches(spec: &str, command: &str) -> bool {
    if wildcard(spec, command) {
        return true;
    }
    spec.strip_suffix(" *")
        .is_some_and(|head| wildcard(head, command))
}

/// Wildcard match where `*` matches any run of characters (including none).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

const WRAPPERS: &[&str] = &[
    "timeout", "nice", "nohup", "time", "command", "builtin", "exec", "env", "stdbuf", "xargs",
];

/// Splits a shell command line into simple commands, including those inside `$(…)`, `<(…)`,
/// backticks, `( … )` and `{ …; }`. Returns `None` when quoting is unbalanced.
pub fn split_bash(cmd: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    split_into(cmd, &mut parts, 0)?;
    Some(
        parts
            .into_iter()
            .map(|p| normalize(&p))
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

fn split_into(cmd: &str, parts: &mut Vec<String>, depth: usize) -> Option<()> {
    if depth > 32 {
        return None;
    }
    let chars: Vec<char> = cmd.chars().collect();
    let mut cur = String::new();
    let mut i = 0;
    let (mut single, mut double) = (false, false);
    let push = |cur: &mut String, parts: &mut Vec<String>| {
        let t = cur.trim().to_string();
        if !t.is_empty() {
            parts.push(t);
        }
        cur.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        if single {
            if c == '\'' {
                single = false;
            }
            cur.push(c);
            i += 1;
            continue;
        }
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.get(i + 1) {
                    cur.push(*n);
                }
                i += 2;
                continue;
            }
            '\'' if !double => single = true,
            '"' => double = !double,
            '`' => {
                let end = chars[i + 1..].iter().position(|&x| x == '`')? + i + 1;
                let inner: String = chars[i + 1..end].iter().collect();
                split_into(&inner, parts, depth + 1)?;
                cur.push_str("__SUBST__");
                i = end + 1;
                continue;
            }
            '$' | '<' | '>' if chars.get(i + 1) == Some(&'(') => {
                let end = matching_paren(&chars, i + 1)?;
                let inner: String = chars[i + 2..end].iter().collect();
                split_into(&inner, parts, depth + 1)?;
                cur.push_str("__SUBST__");
                i = end + 1;
                continue;
            }
            _ if double => {}
            '(' if cur.trim().is_empty() => {
                let end = matching_paren(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                split_into(&inner, parts, depth + 1)?;
                i = end + 1;
                continue;
            }
            '{' if cur.trim().is_empty() && chars.get(i + 1).is_some_and(|c| c.is_whitespace()) => {
                i += 1;
                continue;
            }
            '}' if cur.trim().is_empty() => {
                i += 1;
                continue;
            }
            ';' | '\n' => {
                push(&mut cur, parts);
                i += 1;
                continue;
            }
            '&' | '|' => {
                // `&&`, `||`, `|&`, `|`, `&` all separate commands; `>&`/`&>` are redirections.
                let prev = cur.chars().last();
                if c == '&'
                    && (prev == Some('>') || prev == Some('<') || chars.get(i + 1) == Some(&'>'))
                {
                    cur.push(c);
                    i += 1;
                    continue;
                }
                push(&mut cur, parts);
                i += 1;
                if matches!(chars.get(i), Some('&') | Some('|')) {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    if single || double {
        return None;
    }
    push(&mut cur, parts);
    Some(())
}

fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let (mut single, mut double) = (false, false);
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if !single => i += 1,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '(' if !single && !double => depth += 1,
            ')' if !single && !double => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Strips `VAR=value` prefixes and wrapper commands (with their options) from a simple command.
fn normalize(part: &str) -> String {
    let Some(words) = shlex::split(part) else {
        return part.trim().to_string();
    };
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let is_assign = w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit())
        });
        let base = w.rsplit('/').next().unwrap_or(w);
        if is_assign {
            i += 1;
        } else if WRAPPERS.contains(&base) {
            i += 1;
            // Options of the wrapper, and the duration of `timeout` / the level of `nice -n`.
            while let Some(o) = words.get(i) {
                if o.starts_with('-')
                    || (base == "timeout" && o.chars().next().is_some_and(|c| c.is_ascii_digit()))
                {
                    i += 1;
                } else {
                    break;
                }
            }
        } else {
            break;
        }
    }
    let rest = &words[i.min(words.len())..];
    let mut out: Vec<String> = rest.to_vec();
    // `/usr/bin/curl` is `curl`.
    if let Some(first) = out.first_mut()
        && first.contains('/')
    {
        *first = first.rsplit('/').next().unwrap_or(first).to_string();
    }
    out.join(" ")
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    Some(host.split(':').next().unwrap_or(host))
}

/// Gitignore-style path rule against an absolute or cwd-relative target path.
fn path_matches(spec: &str, target: &str, ctx: &RuleContext) -> bool {
    let base = |p: &Option<PathBuf>| p.clone().unwrap_or_else(|| PathBuf::from("/"));
    let target = lexical(&base(&ctx.cwd).join(target));
    let pattern: PathBuf = if let Some(abs) = spec.strip_prefix("//") {
        PathBuf::from("/").join(abs)
    } else if let Some(h) = spec.strip_prefix("~/") {
        base(&ctx.home).join(h)
    } else if let Some(r) = spec.strip_prefix('/') {
        base(&ctx.root).join(r)
    } else if let Some(r) = spec.strip_prefix("./") {
        base(&ctx.cwd).join(r)
    } else if !spec.contains('/') {
        // A bare name matches at any depth.
        PathBuf::from("/**").join(spec)
    } else {
        base(&ctx.cwd).join(spec)
    };
    let pattern = lexical(&pattern);
    let (p, t) = (pattern.to_string_lossy(), target.to_string_lossy());
    // A pattern naming a directory covers everything below it.
    let mut cur: Option<&Path> = Some(Path::new(t.as_ref()));
    while let Some(c) = cur {
        if glob(p.as_bytes(), c.to_string_lossy().as_bytes()) {
            return true;
        }
        cur = c.parent();
    }
    false
}

fn lexical(p: &Path) -> PathBuf {
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
fn glob(p: &[u8], s: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bash(rule: &str, cmd: &str) -> bool {
        Rule::parse(rule).unwrap().matches(
            "Bash",
            &json!({"command": cmd}),
            &RuleContext::default(),
        )
    }

    #[test]
    fn parse() {
        assert_eq!(Rule::parse("Bash").unwrap().specifier, None);
        assert_eq!(Rule::parse("Bash(*)").unwrap().specifier, None);
        assert_eq!(
            Rule::parse("Bash(npm run:*)").unwrap().specifier.as_deref(),
            Some("npm run *")
        );
        assert!(Rule::parse("Bash(git").is_err());
        assert!(Rule::parse("Bash()").is_err());
        assert!(Rule::parse("Ba sh").is_err());
    }

    #[test]
    fn bash_rules() {
        assert!(bash("Bash(ls *)", "ls -la"));
        assert!(bash("Bash(ls *)", "ls"));
        assert!(!bash("Bash(ls *)", "lsof"));
        assert!(bash("Bash(ls*)", "lsof"));
        assert!(bash("Bash(git * main)", "git push origin main"));
        for c in [
            "echo hi && curl x",
            "FOO=1 curl x",
            "/usr/bin/curl x",
            "timeout 5 curl x",
            "env curl x",
            "echo $(curl x)",
            "echo `curl x`",
            "(curl x)",
            "{ curl x; }",
            "cat <(curl x)",
            "ls | curl x",
            "a\ncurl x",
            "nohup curl x &",
        ] {
            assert!(bash("Bash(curl *)", c), "{c}");
        }
        assert!(!bash("Bash(curl *)", "echo 'curl x'"));
        assert!(!bash("Bash(curl *)", "echo \"a && curl x\""));
        assert!(
            bash("Bash(curl *)", "echo 'unbalanced"),
            "unparsable matches"
        );
    }

    #[test]
    fn path_rules() {
        let ctx = RuleContext {
            cwd: Some("/p/sub".into()),
            root: Some("/p".into()),
            home: Some("/home/u".into()),
        };
        let m = |rule: &str, path: &str| {
            Rule::parse(rule)
                .unwrap()
                .matches("Read", &json!({"file_path": path}), &ctx)
        };
        assert!(m("Read(.env)", "/p/a/b/.env"));
        assert!(m("Read(.env.*)", "/p/.env.local"));
        assert!(!m("Read(.env)", "/p/.envrc"));
        assert!(m("Read(./secrets/**)", "/p/sub/secrets/a/b.txt"));
        assert!(!m("Read(./secrets/**)", "/p/secrets/a"));
        assert!(m("Read(/secrets/**)", "/p/secrets/a"));
        assert!(m("Read(//etc/passwd)", "/etc/passwd"));
        assert!(m("Read(~/.ssh/*)", "/home/u/.ssh/id_rsa"));
        assert!(m("Read(/src/**/*.ts)", "/p/src/a.ts"));
        assert!(m("Read(/src/**/*.ts)", "/p/src/x/y/a.ts"));
        assert!(!m("Read(/src/*.ts)", "/p/src/x/a.ts"));
        assert!(
            m("Read(./secrets)", "/p/sub/secrets/key"),
            "directory covers contents"
        );
        assert!(m("Read(/secrets/**)", "/p/sub/../secrets/k"), "normalized");
    }

    #[test]
    fn tools() {
        let c = RuleContext::default();
        assert!(
            Rule::parse("mcp__mem")
                .unwrap()
                .matches("mcp__mem__get", &json!({}), &c)
        );
        assert!(
            !Rule::parse("mcp__mem")
                .unwrap()
                .matches("mcp__memory__get", &json!({}), &c)
        );
        assert!(
            Rule::parse("WebFetch(domain:example.com)")
                .unwrap()
                .matches("WebFetch", &json!({"url": "https://api.example.com/x"}), &c)
        );
        assert!(
            !Rule::parse("Edit")
                .unwrap()
                .matches("Write", &json!({}), &c)
        );
    }
}
