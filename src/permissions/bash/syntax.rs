//! The shell grammar: brush-parser, the parser of the brush shell (a bash-compatible shell
//! that runs bash's own test scripts), bounded.
//!
//! A command line is parsed only when it is within [`MAX_COMMAND_BYTES`], has no NUL byte,
//! nests at most [`MAX_NESTING`] levels deep by a quick count (brackets, `if`/`case`/loops,
//! backquote escape depth), which bounds the parser's recursion, and has at most
//! [`MAX_TOKENS`] tokens, which bounds the tree's memory. Anything else is an error:
//! the caller answers "cannot decide". (tree-sitter-bash was tried first, as codex-rs uses it;
//! it reads valid bash differently from bash without reporting an error — a newline swallowed
//! inside `a && b | c | d⏎curl x && e`, trailing redirections attached to whole lists,
//! `cur\⏎l` split in two — and its scanner reads out of bounds on some non-ASCII input.)

use brush_parser::word::WordPieceWithSource;
use brush_parser::{ParserImpl, ParserOptions, ast};

/// Longest command line read (longer: cannot decide).
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;
/// Deepest nesting read (brackets, compound commands, substitutions).
pub const MAX_NESTING: usize = 48;
/// Most tokens (words and operators; a here-document body is one) in one command line: the
/// syntax tree's memory grows with them (more: cannot decide).
pub const MAX_TOKENS: usize = 30_000;

/// How bash reads a command line run by `bash -c`: no extended globs, tilde expansion at the
/// start of words.
pub fn options() -> ParserOptions {
    ParserOptions {
        enable_extended_globbing: false,
        posix_mode: false,
        sh_mode: false,
        tilde_expansion_at_word_start: true,
        tilde_expansion_after_colon: false,
        parser_impl: ParserImpl::Peg,
    }
}

/// Parses `src`, or says why it cannot be read.
pub fn parse(src: &str) -> Result<ast::Program, String> {
    if src.len() > MAX_COMMAND_BYTES {
        return Err(format!("the command line is longer than the {MAX_COMMAND_BYTES}-byte limit"));
    }
    if src.contains('\0') {
        return Err("the command line contains a NUL byte".into());
    }
    let depth = nesting(src);
    if depth > MAX_NESTING {
        return Err(format!("the command line nests deeper than {MAX_NESTING} levels"));
    }
    // A quick over-count first: the tokenizer's own memory grows with the tokens.
    if rough_tokens(src) > 4 * MAX_TOKENS {
        return Err(format!("the command line has more than {MAX_TOKENS} words and operators"));
    }
    let opts = options();
    let tokens = brush_parser::tokenize_str_with_options(src, &opts.tokenizer_options())
        .map_err(|e| format!("the shell grammar cannot read it ({e})"))?;
    if tokens.len() > MAX_TOKENS {
        return Err(format!("the command line has more than {MAX_TOKENS} words and operators"));
    }
    brush_parser::parse_tokens(&tokens, &opts).map_err(|e| format!("the shell grammar cannot read it ({e})"))
}

/// A word's pieces (quotes, expansions, substitutions).
pub fn word(s: &str) -> Result<Vec<WordPieceWithSource>, String> {
    brush_parser::word::parse(s, &options()).map_err(|e| format!("a word the shell grammar cannot read ({e})"))
}

/// A here-document body's pieces (expansions; quotes are literal).
pub fn heredoc(s: &str) -> Result<Vec<WordPieceWithSource>, String> {
    brush_parser::word::parse_heredoc(s, &options())
        .map_err(|e| format!("a here-document the shell grammar cannot read ({e})"))
}

/// Words and operator characters, counted without regard to quoting (an over-count).
pub fn rough_tokens(src: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for b in src.bytes() {
        match b {
            b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' => {
                n += 1;
                in_word = false;
            }
            b' ' | b'\t' | b'\n' => in_word = false,
            _ if !in_word => {
                n += 1;
                in_word = true;
            }
            _ => {}
        }
    }
    n
}

/// An upper bound on how deep `src` nests: open brackets, open `if`/`case`/loop keywords, and
/// the escape depth of backquotes (nested backquotes need 1, 3, 7, … backslashes), summed.
pub fn nesting(src: &str) -> usize {
    let b = src.as_bytes();
    let (mut brackets, mut max_brackets) = (0usize, 0usize);
    let (mut keywords, mut max_keywords) = (0usize, 0usize);
    let mut max_ticks = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'{' | b'[' => {
                brackets += 1;
                max_brackets = max_brackets.max(brackets);
            }
            b')' | b'}' | b']' => brackets = brackets.saturating_sub(1),
            b'`' => {
                let run = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
                // 0 backslashes: level 1; 1: level 2; 3: level 3; 7: level 4 …
                let level = (usize::BITS - run.leading_zeros()) as usize + 1;
                max_ticks = max_ticks.max(level);
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &b[start..i] {
                    b"if" | b"case" | b"while" | b"until" | b"for" | b"select" => {
                        keywords += 1;
                        max_keywords = max_keywords.max(keywords);
                    }
                    b"fi" | b"esac" | b"done" => keywords = keywords.saturating_sub(1),
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    max_brackets + max_keywords + max_ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(parse("echo 'open").is_err());
        assert!(parse("echo $(date").is_err());
        assert!(parse("echo a\0b").is_err());
        assert!(parse(&"a ".repeat(MAX_COMMAND_BYTES)).is_err());
        assert!(parse(&format!("{}x{}", "$(".repeat(60), ")".repeat(60))).is_err());
        assert!(parse(&format!("{}x{}", "if true; then ".repeat(60), "; fi".repeat(60))).is_err());
        assert!(parse("cat 0<>.env").is_ok());
        assert!(parse("cur\\\nl x").is_ok());
        assert!(parse("echo é → ü {\u{f24df}..x}").is_ok());
    }

    #[test]
    fn nesting_counts() {
        assert_eq!(nesting("echo hi"), 0);
        assert_eq!(nesting("$($(x))"), 2);
        assert_eq!(nesting("if a; then if b; then c; fi; fi"), 2);
        assert_eq!(nesting("echo `a \\`b\\``"), 2);
    }
}
