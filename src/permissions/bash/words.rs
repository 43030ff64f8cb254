//! Shell words after quote removal, as the permission rules need them: which parts are literal
//! (and whether they were quoted), which are only known at run time, and what the shell's
//! globbing and brace expansion would do with them.
//!
//! A [`Word`] never guesses a run-time value: a parameter, command, arithmetic or `$'…'`
//! expansion is a [`Piece::Dyn`]. Only `~` and `$HOME` are expanded statically (to the home
//! directory, when the command line does not assign `HOME`).

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text. Quoted text (`'…'`, `"…"`, `\x`) is never a glob or a brace.
    Lit { text: String, quoted: bool },
    /// Text known only at run time; `source` is how it was written.
    Dyn { source: String },
}

/// A shell word: its pieces and its source text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word {
    pub pieces: Vec<Piece>,
    pub source: String,
    /// The word is (or contains) a process substitution `<(…)`/`>(…)`: it names a pipe.
    pub process_substitution: bool,
}

/// One character of a command's text for rule matching: a literal, or any run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Lit(char),
    /// A glob, an expansion or anything else decided at run time: any text.
    Any,
}

impl Word {
    pub fn literal(text: &str) -> Word {
        Word {
            pieces: vec![Piece::Lit { text: text.to_string(), quoted: true }],
            source: text.to_string(),
            process_substitution: false,
        }
    }

    /// The value when it is fully static (no run-time piece), globs and braces left as written.
    pub fn value(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit { text, .. } => s.push_str(text),
                Piece::Dyn { .. } => return None,
            }
        }
        Some(s)
    }

    pub fn is_static(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Lit { .. }))
    }

    /// Unquoted `*`, `?` or `[`: the shell expands the word against the file system.
    pub fn has_glob(&self) -> bool {
        // `*` and `?` always; `[` only when a `]` can follow it in the word (bash leaves a lone
        // `[`, the `test` builtin, as it is). Anything expanded after a `[` might be that `]`.
        let mut bracket = false;
        for p in &self.pieces {
            match p {
                Piece::Lit { text, quoted } => {
                    for c in text.chars() {
                        if (!quoted && (c == '*' || c == '?')) || (bracket && c == ']') {
                            return true;
                        }
                        bracket |= !quoted && c == '[';
                    }
                }
                _ if bracket => return true,
                _ => {}
            }
        }
        false
    }

    /// Unquoted `{…}` with something inside: brace expansion may turn it into several words.
    pub fn has_brace(&self) -> bool {
        let mut open = false;
        let mut inside = false;
        for p in &self.pieces {
            match p {
                Piece::Lit { text, quoted: false } => {
                    for c in text.chars() {
                        match c {
                            '{' => {
                                open = true;
                                inside = false;
                            }
                            '}' if open && inside => return true,
                            _ if open => inside = true,
                            _ => {}
                        }
                    }
                }
                _ if open => inside = true,
                _ => {}
            }
        }
        false
    }

    /// The word as a shell glob pattern (quoted characters escaped with `\`), when static.
    pub fn glob_pattern(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit { text, quoted: false } => s.push_str(text),
                Piece::Lit { text, quoted: true } => {
                    for c in text.chars() {
                        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Piece::Dyn { .. } => return None,
            }
        }
        Some(s)
    }

    /// For people: the static value with run-time pieces as written.
    pub fn display(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit { text, .. } => text.as_str(),
                Piece::Dyn { source } => source.as_str(),
            })
            .collect()
    }

    /// For rule matching: literal characters, and `Any` for run-time pieces and unquoted glob
    /// characters (a glob can expand to any name).
    pub fn tokens(&self, out: &mut Vec<Tok>) {
        for p in &self.pieces {
            match p {
                Piece::Lit { text, quoted } => {
                    for c in text.chars() {
                        if !quoted && matches!(c, '*' | '?' | '[') {
                            if out.last() != Some(&Tok::Any) {
                                out.push(Tok::Any);
                            }
                        } else {
                            out.push(Tok::Lit(c));
                        }
                    }
                }
                Piece::Dyn { .. } => {
                    if out.last() != Some(&Tok::Any) {
                        out.push(Tok::Any);
                    }
                }
            }
        }
    }

    /// The first piece starts with an unquoted `-` (an option), as far as can be told.
    pub fn looks_like_option(&self) -> bool {
        matches!(self.pieces.first(), Some(Piece::Lit { text, .. }) if text.starts_with('-') && text.len() > 1)
    }

    /// Could be an option at run time (`-x`, or starts with a run-time piece).
    pub fn may_be_option(&self) -> bool {
        match self.pieces.first() {
            Some(Piece::Lit { text, .. }) => text.starts_with('-'),
            Some(Piece::Dyn { .. }) => true,
            None => false,
        }
    }
}

/// Tokens of several words joined by single spaces.
pub fn join_tokens<'a>(words: impl IntoIterator<Item = &'a Word>) -> Vec<Tok> {
    let mut out = Vec::new();
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(Tok::Lit(' '));
        }
        w.tokens(&mut out);
    }
    out
}

/// Tokens of a plain string (every character literal).
pub fn lit_tokens(s: &str) -> Vec<Tok> {
    s.chars().map(Tok::Lit).collect()
}

/// Removes backslash escapes of unquoted text (`\x` → quoted `x`, `\⏎` → nothing) and splits
/// it into unquoted and quoted pieces.
pub fn unquoted_pieces(text: &str, out: &mut Vec<Piece>) {
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') | None => {}
                Some(n) => {
                    push_piece(out, std::mem::take(&mut cur), false);
                    push_piece(out, n.to_string(), true);
                }
            }
        } else {
            cur.push(c);
        }
    }
    push_piece(out, cur, false);
}

/// Double-quoted text: `\$`, `` \` ``, `\"`, `\\` lose the backslash, `\⏎` disappears.
pub fn double_quoted(text: &str) -> String {
    let mut s = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    s.extend(chars.next());
                }
                Some('\n') => {
                    chars.next();
                }
                _ => s.push(c),
            }
        } else {
            s.push(c);
        }
    }
    s
}

pub fn push_piece(out: &mut Vec<Piece>, text: String, quoted: bool) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Lit { text: t, quoted: q }) = out.last_mut()
        && *q == quoted
    {
        t.push_str(&text);
        return;
    }
    out.push(Piece::Lit { text, quoted });
}

/// The base name of a program path (`/usr/bin/curl` → `curl`).
pub fn base_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pieces: Vec<Piece>) -> Word {
        Word { pieces, source: String::new(), process_substitution: false }
    }
    fn lit(t: &str, q: bool) -> Piece {
        Piece::Lit { text: t.into(), quoted: q }
    }

    #[test]
    fn globs_braces_and_patterns() {
        assert!(w(vec![lit(".e[n]v", false)]).has_glob());
        assert!(!w(vec![lit("*.env", true)]).has_glob());
        assert!(w(vec![lit("{curl,x}", false)]).has_brace());
        assert!(!w(vec![lit("{}", false)]).has_brace(), "find's {{}} is literal");
        assert!(!w(vec![lit("{a,b}", true)]).has_brace());
        assert_eq!(w(vec![lit("a", false), lit("*", true), lit("*", false)]).glob_pattern().unwrap(), "a\\**");
        let mut t = Vec::new();
        w(vec![lit("a", false), Piece::Dyn { source: "$x".into() }, lit("*", false)]).tokens(&mut t);
        assert_eq!(t, vec![Tok::Lit('a'), Tok::Any]);
    }

    #[test]
    fn escapes() {
        let mut p = Vec::new();
        unquoted_pieces("c\\url\\\nx", &mut p);
        assert_eq!(w(p).value().unwrap(), "curlx");
        assert_eq!(double_quoted("a\\$b\\\\c\\d\\\ne"), "a$b\\c\\de");
    }
}
