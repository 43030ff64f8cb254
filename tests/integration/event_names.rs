//! One event vocabulary (issue 18 item 4), read from the source: no string literal of a known
//! event name (`"PreToolUse"`, `"Stop"`, …) appears in `src/**/*.rs` outside the facts module
//! (`src/event/facts.rs`), the agents' adapters (`src/agents/`, which map foreign names into
//! `EventName`), comments and test code (`#[cfg(test)]` items, and files declared as
//! `#[cfg(test)] mod x;`). Every other module names an event with `EventName::X` and asks its
//! facts instead of keeping a string table of its own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hookhost::event::KNOWN_EVENTS;

/// Paths (relative to `src/`) exempt from the rule.
const EXEMPT: &[&str] = &["event/facts.rs", "agents/"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A Rust source read just enough to tell code from the rest: `code` is the text with every
/// comment and the inside of every string and char literal blanked (newlines kept, so offsets
/// and lines stay), `literals` the string literals (offset, content as written).
struct Lexed {
    code: Vec<u8>,
    literals: Vec<(usize, String)>,
}

fn lex(text: &str) -> Lexed {
    let b = text.as_bytes();
    let mut code = b.to_vec();
    let mut literals = Vec::new();
    let blank = |code: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut code[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
                blank(&mut code, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                blank(&mut code, i, end);
                i = end;
            }
            b'r' if (i == 0 || !ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !ident(b[i - 2]))))
                && matches!(b.get(i + 1), Some(b'"' | b'#')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let open = i + 1 + hashes + 1;
                let close = format!("\"{}", "#".repeat(hashes));
                let end = text[open..].find(&close).map_or(b.len(), |n| open + n);
                literals.push((open, text[open..end].to_string()));
                blank(&mut code, open, end);
                i = (end + close.len()).min(b.len());
            }
            b'"' => {
                let open = i + 1;
                let mut j = open;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                literals.push((open, text[open..end].to_string()));
                blank(&mut code, open, end);
                i = end + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{7b}'), else a lifetime.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..].iter().position(|&c| c == b'\'').map(|n| i + 2 + n)
                } else {
                    let c = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + c) == Some(&b'\'')).then_some(i + 1 + c)
                };
                match end {
                    Some(end) => {
                        blank(&mut code, i + 1, end);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    Lexed { code, literals }
}

/// The spans of `#[cfg(test)]` items in `code` (blanked text), and the names of the modules
/// declared as `#[cfg(test)] mod name;`.
fn test_items(code: &[u8]) -> (Vec<(usize, usize)>, Vec<String>) {
    let text = String::from_utf8_lossy(code);
    let mut spans = Vec::new();
    let mut mods = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let item = start + "#[cfg(test)]".len();
        // The item ends at its first `;` outside braces, or at the brace closing its body.
        let mut depth = 0usize;
        let mut end = code.len();
        for (k, &c) in code.iter().enumerate().skip(item) {
            match c {
                b'{' => depth += 1,
                b'}' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = k + 1;
                    let decl = text[item..k].trim();
                    let decl = decl.rsplit(']').next().unwrap_or(decl).trim();
                    if let Some(name) =
                        decl.trim_start_matches("pub(crate) ").trim_start_matches("pub ").strip_prefix("mod ")
                    {
                        mods.push(name.trim().to_string());
                    }
                    break;
                }
                _ => {}
            }
        }
        spans.push((start, end));
        from = end;
    }
    (spans, mods)
}

/// The event-name literals of `text` outside test items and comments: (line, name). Also the
/// modules it declares as `#[cfg(test)] mod name;`. A literal names an event when it is the
/// name, or holds it in quotes (JSON in a raw or escaped string).
fn scan(text: &str, names: &[&str]) -> (Vec<(usize, String)>, Vec<String>) {
    let lexed = lex(text);
    let (spans, mods) = test_items(&lexed.code);
    let mut hits = Vec::new();
    for (at, lit) in &lexed.literals {
        if spans.iter().any(|(s, e)| (*s..*e).contains(at)) {
            continue;
        }
        for n in names {
            if lit == n || lit.contains(&format!("\"{n}\"")) || lit.contains(&format!("\\\"{n}\\\"")) {
                hits.push((text[..*at].matches('\n').count() + 1, (*n).to_string()));
            }
        }
    }
    (hits, mods)
}

/// Every event-name literal in `src` outside the exemptions, as `file:line: name`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut test_files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut found = Vec::new();
    let mut scanned = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (hits, mods) = scan(&text, KNOWN_EVENTS);
        // `a.rs` and `a/mod.rs` declare children in `a/`; `lib.rs`, `main.rs` in `src/`.
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = if stem == "mod" || f.parent() == Some(src) && (stem == "lib" || stem == "main") {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in mods {
            // `m.rs`, and everything under `m/` (its `mod.rs` and children).
            test_files.insert(dir.join(format!("{m}.rs")));
            test_files.insert(dir.join(&m));
        }
        scanned.push((f.clone(), hits));
    }
    for (f, hits) in scanned {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        if EXEMPT.iter().any(|e| rel == *e || (e.ends_with('/') && rel.starts_with(e))) {
            continue;
        }
        if test_files.iter().any(|t| f.starts_with(t)) {
            continue;
        }
        for (line, name) in hits {
            found.push(format!("src/{rel}:{line}: \"{name}\""));
        }
    }
    found
}

#[test]
fn event_names_are_spelled_only_in_the_facts_module() {
    let found = violations(&super::support::repo().join("src"));
    assert!(
        found.is_empty(),
        "event names spelled as string literals outside src/event/facts.rs (use EventName::X, and \
         the event's facts instead of a list of names):\n{}",
        found.join("\n")
    );
}

/// The scanner itself: a planted literal is found in code, and not in comments or test code.
#[test]
fn the_scan_finds_a_planted_literal_and_skips_tests_and_comments() {
    let text = r##"
fn route(e: &str) -> bool {
    e == "PreToolUse" // planted
}
// "Stop" in a comment, /* "Stop" */
/// "Stop" in a doc comment
const URL: &str = "http://x//y"; fn l<'a>(x: &'a str) -> char { let _ = "SessionEnd"; '{' }
#[cfg(test)]
mod tests {
    fn t() { let _ = "ConfigChange"; let _ = "{\n  \"z\": 1,"; let _ = '}'; let _ = r#"{"x": "Stop"}"#; }
}
#[cfg(test)]
mod more;
fn after() -> &'static str { "Notification" }
const RAW: &str = r#"{"hook_event_name":"PostToolUse"}"#; const ESC: &str = "{\"hook_event_name\":\"Setup\"}";
const NOT: &str = "PreToolUse:Bash hook error"; const ALSO_NOT: &str = "StopFailure ";
"##;
    let (hits, mods) = scan(text, KNOWN_EVENTS);
    assert_eq!(
        hits,
        vec![
            (3, "PreToolUse".to_string()),
            (7, "SessionEnd".to_string()),
            (14, "Notification".to_string()),
            (15, "PostToolUse".to_string()),
            (15, "Setup".to_string()),
        ]
    );
    assert_eq!(mods, vec!["more".to_string()]);
    // And on the real tree: a file with a plant is reported with its line.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("agents")).unwrap();
    std::fs::create_dir_all(src.join("host")).unwrap();
    std::fs::create_dir_all(src.join("event")).unwrap();
    std::fs::write(src.join("bus.rs"), "fn f() -> &'static str {\n    \"PermissionRequest\"\n}\n").unwrap();
    std::fs::write(src.join("agents/x.rs"), "const A: &str = \"PreToolUse\";\n").unwrap();
    std::fs::write(src.join("event/facts.rs"), "const A: &str = \"PreToolUse\";\n").unwrap();
    std::fs::write(src.join("host/mod.rs"), "#[cfg(test)]\nmod tests;\n").unwrap();
    std::fs::write(src.join("host/tests.rs"), "const A: &str = \"PreToolUse\";\n").unwrap();
    std::fs::write(src.join("host/gate.rs"), "const A: &str = \"Stop\";\n").unwrap();
    assert_eq!(violations(&src), vec!["src/bus.rs:2: \"PermissionRequest\"", "src/host/gate.rs:1: \"Stop\""]);
}
