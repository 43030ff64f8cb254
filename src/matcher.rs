//! Settings matchers, compiled once when settings load, with Claude Code's exact rules:
//! `*`, empty or absent matches everything; a string of only letters, digits, `_`, `-`, space,
//! `,` and `|` is an exact, case-sensitive name or a list split on `|`/`,` (for `FileChanged` and
//! `StopFailure` only letters, digits, `_` and `|`); anything else is an unanchored regular
//! expression (JavaScript syntax; look-around and back-references are supported).
//!
//! Promises: matching never fails at run time; a pattern that does not compile is a load error;
//! patterns that can never fire the way their author meant produce warnings. Matching time is
//! bounded: a regular expression is at most [`MAX_REGEX_BYTES`] long (a load error beyond), and
//! a subject longer than [`MAX_REGEX_SUBJECT_BYTES`] is not run through a regular expression,
//! and a regular expression that runs out of its backtracking budget gives no answer: either
//! counts as a match, so the hook runs (and sees the whole event) rather than being skipped.

use std::fmt;

/// The longest regular-expression matcher accepted.
pub const MAX_REGEX_BYTES: usize = 1024;
/// The longest subject (tool name, source, …) a regular expression is run on.
pub const MAX_REGEX_SUBJECT_BYTES: usize = 1024;

/// A compiled matcher.
#[derive(Clone)]
pub enum Matcher {
    All,
    Exact(Vec<String>),
    Regex(Box<fancy_regex::Regex>),
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::All => write!(f, "All"),
            Matcher::Exact(v) => write!(f, "Exact({v:?})"),
            Matcher::Regex(r) => write!(f, "Regex({:?})", r.as_str()),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Matcher::All, Matcher::All) => true,
            (Matcher::Exact(a), Matcher::Exact(b)) => a == b,
            (Matcher::Regex(a), Matcher::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// Tool names Claude Code ships (rules and matchers name them, case-sensitively): the one
/// table, for the matchers' case warnings and `check`'s "did you mean".
pub const KNOWN_TOOLS: &[&str] = &[
    "Bash",
    "Read",
    "Write",
    "Edit",
    "MultiEdit",
    "NotebookEdit",
    "NotebookRead",
    "Glob",
    "Grep",
    "LS",
    "WebFetch",
    "WebSearch",
    "Task",
    "Agent",
    "TodoWrite",
    "ExitPlanMode",
    "BashOutput",
    "KillShell",
    "KillBash",
    "Skill",
    "SlashCommand",
];

impl Matcher {
    /// Compiles `pattern` for hooks of `event`. Returns the matcher and any warnings.
    pub fn compile(pattern: Option<&str>, event: &str) -> Result<(Matcher, Vec<String>), String> {
        let mut warnings = Vec::new();
        let p = match pattern {
            None => return Ok((Matcher::All, warnings)),
            Some(p) => p,
        };
        if p.is_empty() || p == "*" {
            return Ok((Matcher::All, warnings));
        }
        let name = crate::event::EventName::parse(event);
        let facts = name.facts();
        if facts.matcher.is_none() && name.is_known() {
            warnings.push(format!(
                "{event} has no matcher field: matcher {p:?} is ignored and the hook runs on every {event}"
            ));
        }
        let restricted = facts.narrow_exact_matcher;
        let exact_char = |c: char| {
            c.is_ascii_alphanumeric() || c == '_' || c == '|' || (!restricted && matches!(c, '-' | ' ' | ','))
        };
        let tool_event = facts.is_tool_event();
        if p.chars().all(exact_char) {
            let names: Vec<String> = p
                .split(if restricted { &['|'][..] } else { &['|', ','][..] })
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if tool_event {
                for n in &names {
                    if let Some(k) = KNOWN_TOOLS.iter().find(|k| k.eq_ignore_ascii_case(n) && **k != n) {
                        warnings.push(format!("matcher name {n:?} is case-sensitive and never matches tool {k:?}"));
                    }
                    if n.starts_with("mcp__") && n.matches("__").count() == 1 {
                        warnings.push(format!(
                            "matcher {n:?} is an exact name and matches no MCP tool; use \"{n}__.*\" for all of its tools"
                        ));
                    }
                }
            }
            return Ok((Matcher::Exact(names), warnings));
        }
        if tool_event && p.contains('(') && p.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            warnings.push(format!(
                "matcher {p:?} looks like a permission rule: matchers only see the tool name, never its arguments; put the rule in \"if\""
            ));
        }
        if p.len() > MAX_REGEX_BYTES {
            return Err(format!("matcher regex is longer than the limit of {MAX_REGEX_BYTES} bytes"));
        }
        let re = fancy_regex::Regex::new(p).map_err(|e| format!("invalid matcher regex {p:?}: {e}"))?;
        Ok((Matcher::Regex(Box::new(re)), warnings))
    }

    /// Whether an event whose matcher subject is `subject` fits. Events without a matcher
    /// field (`subject == None`) always fit.
    pub fn matches(&self, subject: Option<&str>) -> bool {
        let Some(s) = subject else { return true };
        match self {
            Matcher::All => true,
            Matcher::Exact(names) => names.iter().any(|n| n == s),
            // Past the subject limit the hook runs: never skipped for being expensive to match.
            Matcher::Regex(_) if s.len() > MAX_REGEX_SUBJECT_BYTES => true,
            // A regex that exhausts its backtracking budget has no answer: the hook runs (a
            // policy hook is never skipped because its matcher is expensive on this subject).
            Matcher::Regex(re) => re.is_match(s).unwrap_or(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: Option<&str>) -> Matcher {
        Matcher::compile(p, "PreToolUse").unwrap().0
    }

    #[test]
    fn forms() {
        for all in [None, Some(""), Some("*")] {
            assert_eq!(m(all), Matcher::All);
            assert!(m(all).matches(Some("Anything")));
        }
        let list = m(Some("Edit|Write, MultiEdit"));
        assert_eq!(list, Matcher::Exact(vec!["Edit".into(), "Write".into(), "MultiEdit".into()]));
        assert!(list.matches(Some("Write")) && list.matches(Some("MultiEdit")));
        assert!(!list.matches(Some("NotebookEdit")) && !list.matches(Some("edit")));
        let re = m(Some("Edit.*"));
        assert!(re.matches(Some("NotebookEdit")), "unanchored");
        assert!(!m(Some("^Edit$")).matches(Some("NotebookEdit")));
        assert!(m(Some("mcp__memory__.*")).matches(Some("mcp__memory__create")));
        assert!(!m(Some("mcp__memory")).matches(Some("mcp__memory__create")));
        assert!(m(Some("^(?!Bash$).*")).matches(Some("Read")), "look-ahead");
        assert!(!m(Some("^(?!Bash$).*")).matches(Some("Bash")));
        assert!(m(Some("Bash")).matches(None), "no matcher field: matches");
    }

    /// A matcher whose regex runs out of backtracking counts as a match (module doc), for
    /// every catastrophic pattern and subject length tried; the same patterns still decide
    /// normally on subjects they can answer.
    #[test]
    fn a_regex_out_of_backtracking_budget_counts_as_a_match() {
        // Back-references and look-around force fancy-regex's backtracking VM.
        let patterns = [r"^(a+)+\1b", r"^(a|a)+(?=b)", r"^(a*)*\1$c", r"(?=(a+)+b)x", r"^((a|aa)+)\1z"];
        let mut tried = 0;
        for p in patterns {
            let m = m(Some(p));
            assert!(matches!(m, Matcher::Regex(_)), "{p}");
            let Matcher::Regex(re) = &m else { unreachable!() };
            for n in [40usize, 64, 200, MAX_REGEX_SUBJECT_BYTES] {
                let s = "a".repeat(n);
                if re.is_match(&s).is_err() {
                    tried += 1;
                    assert!(m.matches(Some(&s)), "{p} on {n} a's ran out of budget: must count as a match");
                }
            }
            assert!(!m.matches(Some("b")), "{p} still answers no where it can");
        }
        assert!(tried >= 5, "the corpus must exhaust the budget ({tried} cases did)");
    }

    #[test]
    fn errors_and_warnings() {
        assert!(Matcher::compile(Some("Bash(["), "PreToolUse").is_err());
        let (_, w) = Matcher::compile(Some("bash"), "PreToolUse").unwrap();
        assert!(w[0].contains("case-sensitive"), "{w:?}");
        let (_, w) = Matcher::compile(Some("Bash(git commit*)"), "PreToolUse").unwrap();
        assert!(w[0].contains("permission rule"), "{w:?}");
        let (m, _) = Matcher::compile(Some("a-b"), "FileChanged").unwrap();
        assert!(matches!(m, Matcher::Regex(_)), "hyphen is regex for FileChanged");
    }
}
