//! A Bash command line split into its simple commands, for policies that look at what a `Bash`
//! tool call runs (`rm -rf`, `curl … | sh`). The same splitter as the Python and JavaScript
//! SDKs (one test corpus: `sdk/testdata/shell.json`).
//!
//! Words follow Bash's quoting (`'…'`, `"…"`, backslash); commands are split at `;`, `&&`, `||`,
//! `&`, `|`, `|&`, newlines and parentheses; redirections (`> f`, `2>&1`, `<f`) are taken out of
//! the arguments into `redirects`; leading assignments (`X=1`), keywords (`if`, `then`, `do`,
//! `!`, `{` …) and wrappers (`sudo -u root`, `env X=1`, `timeout 5`, `xargs -0` …) are dropped;
//! the script of `sh -c '…'`, `bash -lc "…"` and `eval …` is split too, its commands following
//! the shell's, and so are command and process substitutions (`$(…)`, backticks, `<(…)`), their
//! commands at the end. It is a heuristic, not a shell parser: variables, globs, aliases and
//! functions are not expanded. For rules that must hold against an adversary, use hookhost's
//! permission rules (`Bash(rm:*)`), which parse the command with a real Bash grammar; a hook
//! adds judgement on top.

/// Wrappers: the name, its options that take a value, and how many plain arguments precede the
/// command (`timeout 5 cmd`).
pub const WRAPPERS: &[(&str, &[&str], usize)] = &[
    ("sudo", &["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"], 0),
    ("doas", &["-u", "-C"], 0),
    ("command", &[], 0),
    ("builtin", &[], 0),
    ("exec", &["-a"], 0),
    ("nice", &["-n"], 0),
    ("nohup", &[], 0),
    ("time", &["-f", "-o"], 0),
    ("env", &["-u", "-C", "-S"], 0),
    ("xargs", &["-n", "-I", "-d", "-P", "-L", "-s", "-a", "-E"], 0),
    ("timeout", &["-s", "-k"], 1),
    ("stdbuf", &["-i", "-o", "-e"], 0),
    ("setsid", &[], 0),
    ("ionice", &["-c", "-n", "-p"], 0),
];
/// Shell keywords skipped before a command.
pub const KEYWORDS: &[&str] =
    &["!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "in", "esac"];
/// Shells whose `-c` script is split too.
pub const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox"];
/// How deep `sh -c`, `eval` and substitutions are followed.
pub const MAX_DEPTH: usize = 8;

/// One simple command of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program's file name (`/usr/bin/rm` → `rm`), after wrappers and assignments.
    pub program: String,
    pub args: Vec<String>,
    /// Whether its output is piped (`|`, `|&`) into the next command.
    pub piped: bool,
    /// The targets of its redirections, in order (`> out.txt` → `out.txt`).
    pub redirects: Vec<String>,
}

impl Command {
    /// Whether any argument is `arg`.
    pub fn has_arg(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }

    /// Whether the command sets one of the short flags in `shorts` (in any cluster: `-rf` sets
    /// `r` and `f`) or the long flag `--long`. Arguments after `--` are not flags.
    pub fn has_flag(&self, shorts: &str, long: &str) -> bool {
        for a in &self.args {
            if a == "--" {
                break;
            }
            if let Some(l) = a.strip_prefix("--") {
                if l == long {
                    return true;
                }
            } else if a.chars().count() > 1 && a.starts_with('-') && a.contains(|c| shorts.contains(c)) {
                return true;
            }
        }
        false
    }
}

/// The simple commands of `line`, in order (empty ones are skipped).
pub fn commands(line: &str) -> Vec<Command> {
    split(line, 0)
}

enum Token {
    Word(String),
    /// A command separator; `true` when it pipes into the next command.
    Sep(bool),
    Redirect,
    Substitution(String),
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

/// The substitution starting at `i` (`$(`, `<(`, `>(` or a backtick): its script's start and
/// end, and the index just past it (the end of the line when it is not closed).
fn substitution(line: &[char], i: usize) -> (usize, usize, usize) {
    let n = line.len();
    if line[i] == '`' {
        let mut j = i + 1;
        while j < n && line[j] != '`' {
            j += if line[j] == '\\' { 2 } else { 1 };
        }
        return (i + 1, j.min(n), (j + 1).min(n));
    }
    let (mut depth, mut j) = (0i64, i + 1);
    while j < n {
        if line[j] == '(' {
            depth += 1;
        } else if line[j] == ')' {
            depth -= 1;
            if depth == 0 {
                return (i + 2, j, j + 1);
            }
        }
        j += 1;
    }
    (i + 2, n, n)
}

fn tokens(text: &str) -> Vec<Token> {
    let line: Vec<char> = text.chars().collect();
    let n = line.len();
    let (mut out, mut subs) = (Vec::new(), Vec::new());
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    let end_word = |cur: &mut Option<String>, out: &mut Vec<Token>| {
        if let Some(w) = cur.take() {
            out.push(Token::Word(w));
        }
    };
    let mut i = 0;
    while i < n {
        let c = line[i];
        let nxt = line.get(i + 1).copied();
        if quote != Some('\'')
            && (c == '`'
                || (c == '$' && nxt == Some('('))
                || (quote.is_none() && matches!(c, '<' | '>') && nxt == Some('(')))
        {
            let (start, end, j) = substitution(&line, i);
            subs.push(Token::Substitution(line[start..end].iter().collect()));
            cur.get_or_insert_with(String::new).extend(&line[i..j]);
            i = j;
            continue;
        }
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    cur.get_or_insert_with(String::new).push(c);
                }
            }
            Some(_) => {
                if c == '"' {
                    quote = None;
                } else if c == '\\' && matches!(nxt, Some('"' | '\\' | '$' | '`')) {
                    cur.get_or_insert_with(String::new).extend(nxt);
                    i += 1;
                } else {
                    cur.get_or_insert_with(String::new).push(c);
                }
            }
            None if c == '\\' => match nxt {
                Some('\n') => i += 1,
                Some(x) => {
                    cur.get_or_insert_with(String::new).push(x);
                    i += 1;
                }
                None => cur.get_or_insert_with(String::new).push(c),
            },
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            None if is_blank(c) => end_word(&mut cur, &mut out),
            None if matches!(c, ';' | '&' | '|' | '(' | ')' | '\n') => {
                end_word(&mut cur, &mut out);
                if c == '|' {
                    if nxt == Some('|') {
                        out.push(Token::Sep(false));
                        i += 1;
                    } else {
                        out.push(Token::Sep(true));
                        if nxt == Some('&') {
                            i += 1;
                        }
                    }
                } else if c == '&' && nxt == Some('>') {
                    out.push(Token::Redirect);
                    i = if line.get(i + 2) == Some(&'>') { i + 2 } else { i + 1 };
                } else {
                    if c == '&' && nxt == Some('&') {
                        i += 1;
                    }
                    out.push(Token::Sep(false));
                }
            }
            None if c == '<' || c == '>' => {
                if cur.as_deref().is_some_and(|w| !w.is_empty() && w.chars().all(|d| d.is_ascii_digit())) {
                    cur = None; // a file descriptor number: `2>`
                }
                end_word(&mut cur, &mut out);
                let mut j = i;
                while j + 1 < n && matches!(line[j + 1], '<' | '>' | '&' | '|') {
                    j += 1;
                }
                out.push(Token::Redirect);
                i = j;
            }
            None => cur.get_or_insert_with(String::new).push(c),
        }
        i += 1;
    }
    end_word(&mut cur, &mut out);
    out.extend(subs);
    out
}

fn is_assignment(w: &str) -> bool {
    let Some((name, _)) = w.split_once('=') else { return false };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Drops leading assignments, keywords and wrappers (with their options).
fn strip(words: &[String]) -> &[String] {
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if is_assignment(w) || KEYWORDS.contains(&w) {
            i += 1;
        } else if let Some((_, takes_value, positional)) = WRAPPERS.iter().find(|(name, ..)| *name == w) {
            i += 1;
            while i < words.len() && words[i].starts_with('-') && words[i] != "-" {
                if words[i] == "--" {
                    i += 1;
                    break;
                }
                i += if takes_value.contains(&words[i].as_str()) { 2 } else { 1 };
            }
            while i < words.len() && is_assignment(&words[i]) {
                i += 1;
            }
            i += positional;
        } else {
            break;
        }
    }
    &words[i.min(words.len())..]
}

/// The script of `sh -c SCRIPT` (`-c` in any option cluster; the script is the first argument
/// that is not an option) or of `eval ARGS`.
fn inline_script(program: &str, args: &[String]) -> Option<String> {
    if program == "eval" {
        return Some(args.join(" "));
    }
    if !SHELLS.contains(&program) {
        return None;
    }
    let (mut seen_c, mut k) = (false, 0);
    while k < args.len() {
        let a = &args[k];
        if a == "--" {
            k += 1;
            break;
        }
        let mut chars = a.chars();
        let (Some(first), Some(second)) = (chars.next(), chars.next()) else { break };
        if !matches!(first, '-' | '+') {
            break;
        }
        if second != '-' {
            seen_c = seen_c || a[1..].contains('c');
            if a.ends_with(['o', 'O']) {
                k += 1; // -o OPTION
            }
        }
        k += 1;
    }
    if seen_c { args.get(k).cloned() } else { None }
}

fn split(line: &str, depth: usize) -> Vec<Command> {
    let mut out = Vec::new();
    let (mut words, mut redirects, mut scripts) = (Vec::new(), Vec::new(), Vec::new());
    let mut want_target = false;
    let flush = |words: &mut Vec<String>, redirects: &mut Vec<String>, piped: bool, out: &mut Vec<Command>| {
        let rest = strip(words);
        if let Some((program, args)) = rest.split_first() {
            let program = program.rsplit('/').next().unwrap_or_default().to_string();
            let script = inline_script(&program, args);
            out.push(Command { program, args: args.to_vec(), piped, redirects: std::mem::take(redirects) });
            if let Some(script) = script
                && depth < MAX_DEPTH
            {
                out.extend(split(&script, depth + 1));
            }
        }
        words.clear();
        redirects.clear();
    };
    for token in tokens(line) {
        match token {
            Token::Substitution(s) => scripts.push(s),
            Token::Word(w) if want_target => {
                redirects.push(w);
                want_target = false;
            }
            Token::Word(w) => words.push(w),
            Token::Redirect => want_target = true,
            Token::Sep(piped) => {
                want_target = false;
                flush(&mut words, &mut redirects, piped, &mut out);
            }
        }
    }
    flush(&mut words, &mut redirects, false, &mut out);
    if depth < MAX_DEPTH {
        for s in scripts {
            out.extend(split(&s, depth + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The corpus every SDK passes: line → [[program, [args…], piped, [redirects…]], …].
    #[test]
    fn shared_corpus() {
        let corpus: Value = serde_json::from_str(include_str!("../../../testdata/shell.json")).unwrap();
        let cases = corpus["cases"].as_array().unwrap();
        assert!(cases.len() >= 100, "{}", cases.len());
        for case in cases {
            let line = case["line"].as_str().unwrap();
            let got: Vec<Value> =
                commands(line).into_iter().map(|c| json!([c.program, c.args, c.piped, c.redirects])).collect();
            assert_eq!(Value::Array(got), case["commands"], "{line:?}");
        }
    }

    #[test]
    fn flags() {
        let c = &commands("rm -rf --no-preserve-root x -- -f")[0];
        assert!(c.has_flag("rR", "recursive") && c.has_flag("f", "force") && !c.has_flag("v", "verbose"));
        assert!(commands("rm --recursive x")[0].has_flag("r", "recursive"));
        assert!(commands("rm -Rf x")[0].has_flag("rR", "recursive"));
        assert!(!commands("rm -- -r")[0].has_flag("r", "recursive"));
        assert!(commands("chmod 777 x")[0].has_arg("777"));
    }

    #[test]
    fn deep_nesting_stops() {
        let nested = format!("{}rm -rf /{}", "$(".repeat(50), ")".repeat(50));
        let got = commands(&nested);
        assert_eq!(got.len(), MAX_DEPTH + 1, "{got:?}");
        let mut line = "rm -rf /".to_string();
        for _ in 0..12 {
            line = format!("sh -c {}", serde_json::to_string(&line).unwrap());
        }
        assert_eq!(commands(&line).len(), MAX_DEPTH + 1);
        assert!(commands(&"$(".repeat(10_000)).len() <= MAX_DEPTH + 1);
    }
}
