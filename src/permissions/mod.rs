//! Permission rules in Claude Code's syntax (`Tool`, `Tool(specifier)`, `mcp__server`,
//! `mcp__server__tool`, `*` wildcards) and matching a tool call against them.
//!
//! - `Rule`: one parsed rule; `Rule::matches` is what a hook's `if` field uses.
//! - `engine::evaluate`: the built-in first stage of every `PreToolUse`: deny → ask → allow
//!   over the merged rule lists, with Claude Code's compound-command and path semantics.
//! - `bash`: reading command lines with a real shell grammar; `path`: path patterns, resolution
//!   like the kernel, bounded file-system work; `web`: URLs by the WHATWG standard.

pub mod bash;
pub mod engine;
pub mod path;
pub mod web;

use std::path::PathBuf;

use serde_json::Value;

use crate::vocab::Origin;
use crate::vocab::Scope;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub tool: String,
    /// `None` for a bare tool name (and for `Tool(*)`).
    pub specifier: Option<String>,
    pub text: String,
}

/// A rule and where it was written.
#[derive(Debug, Clone)]
pub struct LocatedRule {
    pub rule: Rule,
    pub origin: Origin,
    /// The rule set's mode (`hookhost.permissionsMode` of the file it came from).
    pub enforcement: crate::vocab::Enforcement,
}

/// The merged `permissions` lists, highest scope first.
#[derive(Debug, Clone, Default)]
pub struct PermissionLists {
    pub allow: Vec<LocatedRule>,
    pub ask: Vec<LocatedRule>,
    pub deny: Vec<LocatedRule>,
}

impl PermissionLists {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.ask.is_empty() && self.deny.is_empty()
    }
}

/// The longest permission rule accepted (a settings error beyond it).
pub const MAX_RULE_BYTES: usize = 4096;
/// Paths longer than this cannot be opened (Linux `PATH_MAX`): deny and ask path rules match
/// them, allow rules never do, and they are not matched character by character.
pub const MAX_PATH_BYTES: usize = 4096;

/// Paths rules are anchored to.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// The event's working directory (`./x` and `x/y` rules, relative targets).
    pub cwd: Option<PathBuf>,
    /// The project directory (`/x` rules from managed, command-line, local and project files).
    pub root: Option<PathBuf>,
    /// hookhost's user settings directory (`/x` rules from user settings).
    pub user_root: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl RuleContext {
    /// The root of `/x` rules written at `scope`.
    pub fn root_for(&self, scope: Scope) -> PathBuf {
        let r = if scope == Scope::User { self.user_root.as_ref().or(self.root.as_ref()) } else { self.root.as_ref() };
        r.cloned().unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// Tools whose calls read files, bound by `Read(…)` rules.
pub const READ_TOOLS: &[&str] = &["Read", "Glob", "Grep", "LS", "NotebookRead"];
/// Tools whose calls edit files, bound by `Edit(…)` and `Write(…)` rules.
pub const EDIT_TOOLS: &[&str] = &["Edit", "MultiEdit", "Write", "NotebookEdit"];

impl Rule {
    pub fn parse(text: &str) -> Result<Rule, String> {
        if text.len() > MAX_RULE_BYTES {
            return Err(format!("rule is longer than the limit of {MAX_RULE_BYTES} bytes"));
        }
        let t = text.trim();
        let (tool, spec) = match t.find('(') {
            None => (t, None),
            Some(i) => {
                if !t.ends_with(')') {
                    return Err(format!("rule {text:?} has `(` without a closing `)` at the end"));
                }
                (&t[..i], Some(&t[i + 1..t.len() - 1]))
            }
        };
        if tool.is_empty() || !tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*') {
            return Err(format!("rule {text:?}: {tool:?} is not a tool name"));
        }
        let specifier = match spec {
            None => None,
            Some("") => return Err(format!("rule {text:?} has an empty specifier; write {tool:?} for all calls")),
            Some("*") => None,
            Some(s) => {
                if s.contains('(') != s.contains(')') && tool != "Bash" {
                    return Err(format!("rule {text:?} has unbalanced parentheses"));
                }
                let s = if tool == "Bash" {
                    s.strip_suffix(":*").map(|p| format!("{p} *")).unwrap_or_else(|| s.to_string())
                } else {
                    s.to_string()
                };
                if tool == "WebFetch" && s.starts_with("domain:") && s.len() == "domain:".len() {
                    return Err(format!("rule {text:?}: `domain:` needs a domain"));
                }
                Some(s)
            }
        };
        Ok(Rule { tool: tool.to_string(), specifier, text: t.to_string() })
    }

    /// Whether the rule names this tool (MCP server rules cover all of the server's tools).
    pub fn names_tool(&self, tool_name: &str) -> bool {
        if self.tool.contains('*') {
            return wildcard(&self.tool, tool_name);
        }
        if self.tool == tool_name {
            return true;
        }
        self.tool.starts_with("mcp__")
            && self.tool.matches("__").count() == 1
            && tool_name.strip_prefix(&self.tool).is_some_and(|rest| rest.starts_with("__"))
    }

    /// Whether a path rule (`Read`, `Edit`, `Write`, …) applies to a call of `tool_name`.
    pub fn binds_path_tool(&self, tool_name: &str) -> bool {
        match self.tool.as_str() {
            "Read" => READ_TOOLS.contains(&tool_name),
            "Edit" | "Write" => EDIT_TOOLS.contains(&tool_name),
            _ => self.names_tool(tool_name),
        }
    }

    /// Whether a call matches this rule, as a hook's `if` uses it: for Bash, any command of the
    /// line matching is enough, and a line that cannot be decided matches (the hook runs).
    pub fn matches(&self, tool_name: &str, input: &Value, ctx: &RuleContext) -> bool {
        if !(self.names_tool(tool_name) || (self.specifier.is_some() && self.binds_path_tool(tool_name))) {
            return false;
        }
        let Some(spec) = &self.specifier else { return true };
        match tool_name {
            "Bash" => {
                let cmd = input.get("command").and_then(Value::as_str).unwrap_or("");
                let home = ctx.home.as_ref().map(|h| h.to_string_lossy().into_owned());
                let p = bash::analyze(cmd, &bash::Options { strict: false, home });
                !p.decidable() || p.commands.iter().any(|c| bash_denies(spec, c))
            }
            "WebFetch" => webfetch_matches(spec, input),
            t if READ_TOOLS.contains(&t) || EDIT_TOOLS.contains(&t) => {
                engine::path_rule_matches(spec, &self.tool, tool_name, input, ctx)
            }
            _ => false,
        }
    }
}

/// Every file a path tool call is about: each of `file_path`, `notebook_path`, `path`,
/// `absolute_path`, and the `files` a patch touches (agent adapters, `crate::agents::patch`).
pub fn target_paths(input: &Value) -> Vec<String> {
    crate::agents::patch::input_paths(input)
}

/// The file a path tool call is about (`file_path`, `notebook_path` or `path`).
pub fn target_path(input: &Value) -> Option<String> {
    ["file_path", "notebook_path", "path"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// A Bash specifier against one simple command's text: `*` matches anything; a trailing ` *`
/// also matches the bare command (`Bash(ls *)` matches `ls` and `ls -la`, not `lsof`).
pub fn bash_matches(spec: &str, command: &str) -> bool {
    wildcard(spec, command) || spec.strip_suffix(" *").is_some_and(|head| wildcard(head, command))
}

/// Deny and ask: whether some run-time reading of the command can match `spec` (run-time
/// words and globs may be any text), in any of its forms (each wrapper layer, the program as
/// run); a `prog -xy *` specifier also matches the same short flags spelled apart or in
/// another order (`rm -r -f`, `rm -fr`, `rm --recursive --force`).
pub fn bash_denies(spec: &str, c: &bash::SimpleCommand) -> bool {
    c.forms
        .iter()
        .any(|f| !f.is_empty() && (tokens_meet(spec, f) || spec.strip_suffix(" *").is_some_and(|h| tokens_meet(h, f))))
        || flags_match(spec, c)
}

/// Allow: whether every run-time reading of `form` matches `spec` (a run-time piece only
/// inside a `*` of the specifier).
pub fn bash_allows(spec: &str, form: &[bash::Tok]) -> bool {
    tokens_within(spec, form) || spec.strip_suffix(" *").is_some_and(|h| tokens_within(h, form))
}

/// Largest specifier × command product compared exactly; beyond it, deny and ask bind.
const MAX_MEET: usize = 1 << 26;

/// Some text is matched both by the wildcard `spec` and by the token pattern `toks` (where a
/// run-time token is any text). Column by column over the tokens: O(|spec| · |toks|) time,
/// O(|spec|) memory.
fn tokens_meet(spec: &str, toks: &[bash::Tok]) -> bool {
    use bash::Tok;
    let p: Vec<char> = spec.chars().collect();
    // The common literal prefix first: most rules differ from most commands at once.
    let mut k = 0;
    while k < p.len() && k < toks.len() && p[k] != '*' {
        match toks[k] {
            Tok::Lit(c) if c == p[k] => k += 1,
            Tok::Lit(_) => return false,
            Tok::Any => break,
        }
    }
    let (p, t) = (&p[k..], &toks[k..]);
    let (m, n) = (p.len(), t.len());
    if m.saturating_mul(n) > MAX_MEET {
        return true;
    }
    let close_stars = |s: &mut Vec<bool>| {
        for i in 0..m {
            if s[i] && p[i] == '*' {
                s[i + 1] = true;
            }
        }
    };
    let mut s = vec![false; m + 1];
    s[0] = true;
    for &tok in t {
        close_stars(&mut s);
        if tok == Tok::Any {
            // A run-time token can produce any run of the specifier's characters.
            let mut on = false;
            for x in s.iter_mut() {
                on |= *x;
                *x = on;
            }
        }
        let mut next = vec![false; m + 1];
        for i in 0..=m {
            if !s[i] {
                continue;
            }
            match tok {
                Tok::Any => next[i] = true,
                Tok::Lit(c) => {
                    if i < m && p[i] == '*' {
                        next[i] = true;
                    }
                    if i < m && p[i] == c {
                        next[i + 1] = true;
                    }
                }
            }
        }
        s = next;
        if !s.iter().any(|x| *x) {
            return false;
        }
    }
    close_stars(&mut s);
    s[m]
}

/// Every text `toks` can produce is matched by `spec`: a run-time token only inside a star.
fn tokens_within(spec: &str, toks: &[bash::Tok]) -> bool {
    let p: Vec<char> = spec.chars().collect();
    star_match(&p, toks, |c, t| matches!(t, bash::Tok::Lit(l) if *l == c))
}

/// `Bash(rm -rf *)` against `rm -r -f x`, `rm -fr x`, `rm --recursive --force x`: every short
/// flag of the rule is set, however spelled (a run-time word may set any of them).
fn flags_match(spec: &str, c: &bash::SimpleCommand) -> bool {
    let parts: Vec<&str> = spec.split(' ').collect();
    let Some((&prog, rest)) = parts.split_first() else { return false };
    let Some((&last, flags)) = rest.split_last() else { return false };
    let short = |f: &&str| f.len() > 1 && f.starts_with('-') && f[1..].chars().all(|c| c.is_ascii_alphabetic());
    if last != "*" || flags.is_empty() || !flags.iter().all(short) {
        return false;
    }
    let Some(program) = c.program.as_deref() else { return false };
    if bash::words::base_name(program) != prog {
        return false;
    }
    let want: Vec<char> = flags.iter().flat_map(|f| f[1..].chars()).collect();
    let mut have: Vec<char> = Vec::new();
    for w in c.argv.iter().skip(1) {
        let Some(v) = w.value() else { return true };
        if v == "--" {
            break;
        }
        if let Some(long) = v.strip_prefix("--") {
            let mapped = match (prog, long) {
                ("rm", "recursive") => Some('r'),
                ("rm", "force") => Some('f'),
                ("rm", "dir") => Some('d'),
                _ => None,
            };
            have.extend(mapped);
        } else if let Some(short) = v.strip_prefix('-') {
            have.extend(short.chars().map(|c| if prog == "rm" && c == 'R' { 'r' } else { c }));
        }
    }
    want.iter().all(|f| have.contains(f))
}

/// A `WebFetch` specifier against a call's `url` (deny semantics: an unparsable URL matches).
pub fn webfetch_matches(spec: &str, input: &Value) -> bool {
    let url = input.get("url").and_then(Value::as_str).unwrap_or("");
    web::matches(spec, url, web::Mode::Any)
}

/// How a path rule must match a target's readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    /// deny/ask: any reading matching, or anything below the target; `./` anchored at the
    /// project directory and at the cwd.
    Any,
    /// allow: every reading must match, so a symlink cannot carry an allow out of its tree;
    /// `./` anchored at the project directory only.
    All,
}

/// Wildcard match where `*` matches any run of characters (including none).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    star_match(&p, &t, |a, b| a == *b)
}

/// `*`-only wildcard matching of `pattern` against a sequence whose items `eq` compares with a
/// pattern character (a `*` in the pattern matches any run of items, a non-`*` one item it
/// equals). Greedy with one backtrack point: linear in practice, O(n·m) at worst.
fn star_match<T>(pattern: &[char], text: &[T], eq: impl Fn(char, &T) -> bool) -> bool {
    let (p, t) = (pattern, text);
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && eq(p[pi], &t[ti]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bash(rule: &str, cmd: &str) -> bool {
        Rule::parse(rule).unwrap().matches("Bash", &json!({"command": cmd}), &RuleContext::default())
    }

    #[test]
    fn parse() {
        assert_eq!(Rule::parse("Bash").unwrap().specifier, None);
        assert_eq!(Rule::parse("Bash(*)").unwrap().specifier, None);
        assert_eq!(Rule::parse("Bash(npm run:*)").unwrap().specifier.as_deref(), Some("npm run *"));
        assert!(Rule::parse("Bash(git").is_err());
        assert!(Rule::parse("Bash()").is_err());
        assert!(Rule::parse("Ba sh").is_err());
        assert!(Rule::parse("WebFetch(domain:)").is_err());
    }

    #[test]
    fn if_rules_on_bash() {
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
            "echo $(curl x)",
            "(curl x)",
            "{ curl x; }",
        ] {
            assert!(bash("Bash(curl *)", c), "{c}");
        }
        assert!(!bash("Bash(curl *)", "echo 'curl x'"));
        assert!(bash("Bash(curl *)", "echo 'unbalanced"), "unparsable: the hook runs");
        assert!(bash("Bash(rm -rf *)", "rm -r -f x"));
        assert!(bash("Bash(rm -rf *)", "rm --force --recursive x"));
        assert!(bash("Bash(rm -rf *)", "rm -Rf x"));
        assert!(!bash("Bash(rm -rf *)", "rm -r x"));
        assert!(bash("Bash(rm -rf *)", "rm $FLAGS x"), "a run-time word may be -rf");
        assert!(!bash("Bash(curl *)", "echo \"$(date)\" curl"));
    }

    #[test]
    fn path_rules() {
        let ctx = RuleContext {
            cwd: Some("/p/sub".into()),
            root: Some("/p".into()),
            user_root: None,
            home: Some("/home/u".into()),
        };
        let m = |rule: &str, path: &str| Rule::parse(rule).unwrap().matches("Read", &json!({"file_path": path}), &ctx);
        assert!(m("Read(.env)", "/p/a/b/.env"));
        assert!(m("Read(.env.*)", "/p/.env.local"));
        assert!(!m("Read(.env)", "/p/.envrc"));
        assert!(m("Read(./secrets/**)", "/p/sub/secrets/a/b.txt"));
        assert!(m("Read(./secrets/**)", "/p/secrets/a"), "./ also anchors at the project directory");
        assert!(m("Read(./.env)", "/p/sub/deeper/.env"), "./name binds name at any depth");
        assert!(m("Read(/secrets/**)", "/p/secrets/a"));
        assert!(m("Read(//etc/passwd)", "/etc/passwd"));
        assert!(m("Read(~/.ssh/*)", "/home/u/.ssh/id_rsa"));
        assert!(m("Read(/src/**/*.ts)", "/p/src/a.ts"));
        assert!(m("Read(/src/**/*.ts)", "/p/src/x/y/a.ts"));
        assert!(!m("Read(/src/*.ts)", "/p/src/x/a.ts"));
        assert!(m("Read(./secrets)", "/p/sub/secrets/key"), "directory covers contents");
        assert!(m("Read(/secrets/**)", "/p/sub/../secrets/k"), "normalized");
        assert!(m("Read(.env)", "../x/.env"), "relative targets");
    }

    #[test]
    fn tools() {
        let c = RuleContext::default();
        assert!(Rule::parse("mcp__mem").unwrap().matches("mcp__mem__get", &json!({}), &c));
        assert!(!Rule::parse("mcp__mem").unwrap().matches("mcp__memory__get", &json!({}), &c));
        assert!(Rule::parse("mcp__mem__*").unwrap().matches("mcp__mem__get", &json!({}), &c));
        assert!(Rule::parse("WebFetch(domain:example.com)").unwrap().matches(
            "WebFetch",
            &json!({"url": "https://api.example.com/x"}),
            &c
        ));
        assert!(!Rule::parse("WebFetch(domain:example.com)").unwrap().matches(
            "WebFetch",
            &json!({"url": "https://example.com.evil.io/"}),
            &c
        ));
        assert!(!Rule::parse("Edit").unwrap().matches("Write", &json!({}), &c));
    }
}
