//! Reading a Bash command line the way permission rules need it: split into simple commands
//! (on `&&`, `||`, `;`, `|`, `|&`, `&` and newlines, quotes and escapes respected, with the
//! commands inside `$(…)`, `<(…)`, `>(…)`, backticks, `( … )` and `{ …; }` included), each with
//! `VAR=value` prefixes and wrappers (`timeout`, `nice`, `nohup`, `env`, `command`, `xargs`, …)
//! stripped and the program reduced to its base name (`/usr/bin/curl` is `curl`), and the files
//! it reads and writes (known file commands and redirections).
//!
//! Strict mode (managed `hookhost.strictBashRules`) also looks inside `bash -c '…'`/`sh -c`,
//! `su -c`, `eval`, `sudo`/`doas`, and interpreter one-liners (`python3 -c`, `perl -e`, `node
//! -e`, …), whose string literals count as both commands and file names.

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    /// The normalised command: program base name and its arguments, space-joined.
    pub text: String,
    pub words: Vec<String>,
    /// Files it reads (by argument or `<` redirection).
    pub reads: Vec<String>,
    /// Files it writes (by argument or `>`/`>>`/`&>` redirection).
    pub writes: Vec<String>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub commands: Vec<SimpleCommand>,
    /// The line contains command or process substitution (never auto-allowed).
    pub has_substitution: bool,
}

const MAX_DEPTH: usize = 16;

/// Parses a command line; `None` when it cannot be read reliably (unbalanced quotes or
/// parentheses, nesting too deep).
pub fn parse(cmd: &str, strict: bool) -> Option<Parsed> {
    let mut out = Parsed::default();
    parse_into(cmd, strict, 0, &mut out)?;
    Some(out)
}

fn parse_into(cmd: &str, strict: bool, depth: usize, out: &mut Parsed) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut raw = Vec::new();
    split_into(cmd, &mut raw, &mut out.has_substitution, 0)?;
    for part in raw {
        let c = simple(&part, strict)?;
        if c.words.is_empty() {
            continue;
        }
        if strict {
            for inner in inner_commands(&c) {
                parse_into(&inner, strict, depth + 1, out)?;
            }
            for lit in interpreter_literals(&c) {
                out.commands.push(SimpleCommand {
                    reads: vec![lit.clone()],
                    writes: vec![lit.clone()],
                    ..Default::default()
                });
                // A literal may itself be a command line (os.system("curl …")).
                let mut sub = Parsed::default();
                if parse_into(&lit, strict, depth + 1, &mut sub).is_some() {
                    out.commands.extend(sub.commands);
                }
            }
        }
        out.commands.push(c);
    }
    Some(())
}

/// Splits into raw simple-command strings. Substitutions are split recursively and replaced by
/// a placeholder in the enclosing command.
fn split_into(cmd: &str, parts: &mut Vec<String>, subst: &mut bool, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
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
                *subst = true;
                split_into(&inner, parts, subst, depth + 1)?;
                cur.push_str("__SUBST__");
                i = end + 1;
                continue;
            }
            '$' | '<' | '>' if chars.get(i + 1) == Some(&'(') => {
                let end = matching_paren(&chars, i + 1)?;
                let inner: String = chars[i + 2..end].iter().collect();
                *subst = true;
                split_into(&inner, parts, subst, depth + 1)?;
                cur.push_str("__SUBST__");
                i = end + 1;
                continue;
            }
            _ if double => {}
            '(' if cur.trim().is_empty() => {
                let end = matching_paren(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                split_into(&inner, parts, subst, depth + 1)?;
                i = end + 1;
                continue;
            }
            ')' => return None,
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
                // `&&`, `||`, `|&`, `|`, `&` separate commands; `>&`, `<&` and `&>` redirect.
                let prev = cur.chars().last();
                if c == '&' && (prev == Some('>') || prev == Some('<') || chars.get(i + 1) == Some(&'>')) {
                    cur.push(c);
                    i += 1;
                    continue;
                }
                if c == '|' && prev == Some('>') {
                    cur.push(c); // `>|` clobber redirection
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
    let mut depth = 0usize;
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
                depth = depth.checked_sub(1)?;
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

/// Wrappers stripped in every mode, with their options that take a value.
const WRAPPERS: &[(&str, &[&str])] = &[
    ("timeout", &["-s", "--signal", "-k", "--kill-after"]),
    ("nice", &["-n", "--adjustment"]),
    ("nohup", &[]),
    ("time", &["-f", "--format", "-o", "--output"]),
    ("command", &[]),
    ("builtin", &[]),
    ("exec", &["-a"]),
    ("env", &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"]),
    ("stdbuf", &["-i", "-o", "-e"]),
    (
        "xargs",
        &[
            "-I",
            "-i",
            "-n",
            "-P",
            "-L",
            "-s",
            "-d",
            "-E",
            "-a",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
        ],
    ),
    ("ionice", &["-c", "-n", "-p"]),
    ("setsid", &[]),
    ("chronic", &[]),
];
/// Wrappers stripped only in strict mode.
const STRICT_WRAPPERS: &[(&str, &[&str])] = &[
    (
        "sudo",
        &[
            "-u", "--user", "-g", "--group", "-C", "-D", "--chdir", "-h", "--host", "-p", "--prompt", "-r", "--role",
            "-t", "--type", "-U",
        ],
    ),
    ("doas", &["-u", "-C"]),
];

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !k.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn base(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// Reads one raw simple command: redirections, wrappers, program, file arguments.
fn simple(part: &str, strict: bool) -> Option<SimpleCommand> {
    let words = shlex::split(part)?;
    let mut c = SimpleCommand::default();
    // Redirections first (they may sit anywhere among the words).
    let mut rest: Vec<String> = Vec::new();
    let mut it = words.into_iter().peekable();
    while let Some(w) = it.next() {
        if let Some((is_write, target)) = redirection(&w) {
            let target = match target {
                Some(t) => Some(t),
                None => it.next(),
            };
            if let Some(t) = target.filter(|t| !t.starts_with('&') && !t.is_empty() && t != "__SUBST__") {
                if is_write { c.writes.push(t) } else { c.reads.push(t) }
            }
            continue;
        }
        rest.push(w);
    }
    // Shell keywords, assignments and wrappers.
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        match w.as_str() {
            "!" | "if" | "then" | "elif" | "else" | "do" | "while" | "until" | "{" | "fi" | "done" | "esac" | "}" => {
                i += 1;
                continue;
            }
            // A loop header (`for x in a b`) runs no command of its own.
            "for" | "select" if i == 0 => return Some(c),
            // Constructs whose commands we cannot see reliably.
            "case" | "function" | "coproc" => return None,
            _ => {}
        }
        if w.ends_with("()") {
            return None; // function definition
        }
        if is_assignment(w) {
            i += 1;
            continue;
        }
        let b = base(w);
        let wrapper = WRAPPERS.iter().chain(if strict { STRICT_WRAPPERS } else { &[] }).find(|(n, _)| *n == b);
        let Some((name, with_value)) = wrapper else { break };
        i += 1;
        while let Some(o) = rest.get(i) {
            if o == "--" {
                i += 1;
                break;
            }
            if with_value.contains(&o.as_str()) {
                i += 2;
            } else if o.starts_with('-')
                || (*name == "env" && is_assignment(o))
                || (*name == "timeout" && o.starts_with(|c: char| c.is_ascii_digit()))
                || (*name == "nice" && o.starts_with('+'))
            {
                i += 1;
            } else {
                break;
            }
        }
    }
    let mut words: Vec<String> = rest.into_iter().skip(i).collect();
    if let Some(first) = words.first_mut() {
        // A program name built at run time (`$cmd`, `${x}y`, `$'…'`, `$(…)`) cannot be judged.
        if first.contains('$') || first.contains('`') || first.contains("__SUBST__") {
            return None;
        }
        if first.contains('/') {
            *first = base(first).to_string();
        }
        // `eval` builds its command at run time; strict mode looks inside, default mode cannot.
        if first == "eval" && !strict {
            return None;
        }
    }
    c.text = words.join(" ");
    file_args(&words, &mut c);
    c.words = words;
    Some(c)
}

/// `>file`, `> file`, `2>>f`, `&>f`, `<f`, `>|f` → (writes?, attached target).
fn redirection(w: &str) -> Option<(bool, Option<String>)> {
    let t = w.trim_start_matches(|c: char| c.is_ascii_digit());
    let (is_write, rest) = if let Some(r) = t.strip_prefix("&>>").or_else(|| t.strip_prefix("&>")) {
        (true, r)
    } else if let Some(r) = t.strip_prefix(">>").or_else(|| t.strip_prefix(">|")).or_else(|| t.strip_prefix('>')) {
        (true, r)
    } else if t.starts_with("<<") {
        return Some((false, Some(String::new()))); // here-doc / here-string: no file
    } else if let Some(r) = t.strip_prefix('<') {
        (false, r)
    } else {
        return None;
    };
    if rest.starts_with('&') {
        return Some((is_write, Some(String::new()))); // 2>&1
    }
    Some((is_write, (!rest.is_empty()).then(|| rest.to_string())))
}

const READERS: &[&str] = &[
    "cat",
    "head",
    "tail",
    "less",
    "more",
    "nl",
    "tac",
    "wc",
    "cut",
    "sort",
    "uniq",
    "diff",
    "cmp",
    "comm",
    "xxd",
    "od",
    "hexdump",
    "strings",
    "base64",
    "base32",
    "file",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "cksum",
    "source",
    ".",
    "bat",
    "view",
    "paste",
    "column",
    "fold",
    "fmt",
    "iconv",
    "zcat",
    "gunzip",
    "bzcat",
    "xzcat",
    "look",
    "scp",
    "rsync",
    "tar",
    "zip",
    "openssl",
];
const PATTERN_FIRST: &[&str] = &["grep", "egrep", "fgrep", "rg", "ag", "ack", "awk", "gawk", "sed", "jq", "yq"];
const WRITERS: &[&str] = &["touch", "rm", "rmdir", "truncate", "shred", "unlink", "mkdir", "tee"];
const EDITORS: &[&str] = &["vi", "vim", "nvim", "nano", "emacs", "ed", "code", "pico", "micro"];
const COPIERS: &[&str] = &["cp", "mv", "install", "ln"];
const MODE_FIRST: &[&str] = &["chmod", "chown", "chgrp"];

fn file_args(words: &[String], c: &mut SimpleCommand) {
    let Some(prog) = words.first() else { return };
    let prog = prog.as_str();
    let mut operands: Vec<String> = Vec::new();
    let mut opts_done = false;
    let mut has_e = false;
    let mut in_place = false;
    for w in &words[1..] {
        if !opts_done && w == "--" {
            opts_done = true;
        } else if !opts_done && w.starts_with('-') && w.len() > 1 {
            has_e |= w == "-e" || w == "-f" || w.starts_with("--regexp") || w.starts_with("--file");
            in_place |= w == "-i" || w.starts_with("-i") && prog == "sed" || w == "--in-place";
        } else if w != "__SUBST__" {
            operands.push(w.clone());
        }
    }
    if prog == "dd" {
        for w in &words[1..] {
            if let Some(f) = w.strip_prefix("if=") {
                c.reads.push(f.to_string());
            } else if let Some(f) = w.strip_prefix("of=") {
                c.writes.push(f.to_string());
            }
        }
        return;
    }
    if READERS.contains(&prog) {
        c.reads.extend(operands);
    } else if PATTERN_FIRST.contains(&prog) {
        let files: Vec<String> = if has_e { operands } else { operands.into_iter().skip(1).collect() };
        if prog == "sed" && in_place {
            c.writes.extend(files.iter().cloned());
        }
        c.reads.extend(files);
    } else if WRITERS.contains(&prog) {
        c.writes.extend(operands);
    } else if EDITORS.contains(&prog) {
        c.reads.extend(operands.iter().cloned());
        c.writes.extend(operands);
    } else if COPIERS.contains(&prog) {
        if let Some((dest, srcs)) = operands.split_last() {
            c.reads.extend(srcs.iter().cloned());
            if prog == "mv" {
                c.writes.extend(srcs.iter().cloned());
            }
            c.writes.push(dest.clone());
        }
    } else if MODE_FIRST.contains(&prog) {
        c.writes.extend(operands.into_iter().skip(1));
    }
}

const SHELLS: &[&str] = &["bash", "sh", "zsh", "dash", "ksh", "fish", "busybox"];
const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "Rscript", "deno", "bun",
];

/// Strict mode: command strings run by a shell (`bash -c`, `su -c`, `eval`).
fn inner_commands(c: &SimpleCommand) -> Vec<String> {
    let w = &c.words;
    let prog = w[0].as_str();
    if SHELLS.contains(&prog) || prog == "su" {
        if let Some(pos) = w
            .iter()
            .position(|x| x == "-c" || (x.starts_with('-') && !x.starts_with("--") && x.ends_with('c') && prog != "su"))
        {
            return w.get(pos + 1).cloned().into_iter().collect();
        }
        return Vec::new();
    }
    if prog == "eval" {
        return vec![w[1..].join(" ")];
    }
    Vec::new()
}

/// Strict mode: string literals of interpreter one-liners (`python3 -c '…'`, `perl -e '…'`).
fn interpreter_literals(c: &SimpleCommand) -> Vec<String> {
    let w = &c.words;
    let prog = w[0].as_str();
    let is_interp = INTERPRETERS.contains(&prog)
        || INTERPRETERS
            .iter()
            .any(|i| prog.starts_with(i) && prog[i.len()..].chars().all(|c| c.is_ascii_digit() || c == '.'));
    if !is_interp {
        return Vec::new();
    }
    let Some(pos) = w.iter().position(|x| matches!(x.as_str(), "-c" | "-e" | "-E" | "-r" | "--eval" | "-p")) else {
        return Vec::new();
    };
    let Some(code) = w.get(pos + 1) else { return Vec::new() };
    let mut lits = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let q = chars[i];
        if q == '\'' || q == '"' || q == '`' {
            let mut s = String::new();
            let mut j = i + 1;
            while j < chars.len() && chars[j] != q {
                if chars[j] == '\\' && j + 1 < chars.len() {
                    j += 1;
                }
                s.push(chars[j]);
                j += 1;
            }
            if !s.is_empty() {
                lits.push(s);
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    lits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(cmd: &str, strict: bool) -> Vec<String> {
        parse(cmd, strict).unwrap().commands.into_iter().map(|c| c.text).filter(|t| !t.is_empty()).collect()
    }

    #[test]
    fn splits_and_normalizes() {
        assert_eq!(
            texts("ls -la && /usr/bin/curl -s x | jq . ; echo 'a && b'", false),
            ["ls -la", "curl -s x", "jq .", "echo a && b"]
        );
        assert_eq!(texts("FOO=1 timeout -s KILL 5 env -u X BAR=2 nice -n 10 curl x", false), ["curl x"]);
        assert_eq!(texts("xargs -I {} curl {}", false), ["curl {}"]);
        assert_eq!(
            texts("echo $(curl x) `wget y` <(nc z)", false),
            ["curl x", "wget y", "nc z", "echo __SUBST__ __SUBST__ __SUBST__"]
        );
        assert_eq!(texts("(cd a && curl x) || { curl y; }", false), ["cd a", "curl x", "curl y"]);
        assert_eq!(texts("a |& b & c\nd", false), ["a", "b", "c", "d"]);
        assert_eq!(texts("make 2>&1 | tee log", false), ["make", "tee log"]);
        assert!(parse("echo 'unbalanced", false).is_none());
        assert!(parse("echo $(unbalanced", false).is_none());
        assert!(parse("a )", false).is_none());
        assert!(parse("curl${IFS}x", false).is_none());
        assert!(parse("$'curl' x", false).is_none());
        assert!(parse("eval curl x", false).is_none());
        assert_eq!(texts("if curl x; then ls; fi", false), ["curl x", "ls"]);
        assert_eq!(texts("for i in 1 2; do curl x; done", false), ["curl x"]);
        assert_eq!(texts("! curl x", false), ["curl x"]);
        assert!(parse("echo $(curl x)", false).unwrap().has_substitution);
    }

    #[test]
    fn files() {
        let p = parse("cat .env > out.txt; grep -r key secrets/ < in; cp a b; sed -i s/x/y/ f; echo x >> .env", false)
            .unwrap();
        let reads: Vec<_> = p.commands.iter().flat_map(|c| c.reads.clone()).collect();
        let writes: Vec<_> = p.commands.iter().flat_map(|c| c.writes.clone()).collect();
        for r in [".env", "secrets/", "in", "a", "f"] {
            assert!(reads.contains(&r.to_string()), "{r} in {reads:?}");
        }
        for w in ["out.txt", "b", "f", ".env"] {
            assert!(writes.contains(&w.to_string()), "{w} in {writes:?}");
        }
        assert!(!reads.contains(&"-r".to_string()) && !reads.contains(&"key".to_string()));
    }

    #[test]
    fn strict_looks_inside() {
        assert!(!texts("bash -c 'curl x'", false).contains(&"curl x".to_string()));
        assert!(texts("bash -c 'curl x'", true).contains(&"curl x".to_string()));
        assert!(texts("sudo -u root curl x", true).contains(&"curl x".to_string()));
        assert!(!texts("sudo -u root curl x", false).contains(&"curl x".to_string()));
        let p = parse("python3 -c 'open(\".env\").read()'", true).unwrap();
        assert!(p.commands.iter().any(|c| c.reads.contains(&".env".to_string())));
        let p = parse("python3 -c 'import os; os.system(\"curl x\")'", true).unwrap();
        assert!(p.commands.iter().any(|c| c.text == "curl x"));
    }
}
