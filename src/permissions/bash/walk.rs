//! Walks brush-parser's syntax tree into [`SimpleCommand`]s.
//!
//! Every construct of the grammar is handled or reported as undecidable; every word is decoded
//! into [`Word`] pieces, and the command substitutions inside words (also inside `${…}`,
//! arithmetic, here-documents, array subscripts) are parsed and walked as commands of their
//! own. The walker tracks the current directory through `cd`/`pushd` (sequential lists,
//! `&&`/`||`, groups; subshells, pipelines and background jobs do not leak it) as a small set
//! of possible directories, or unknown.

use std::collections::HashSet;

use brush_parser::ast::{
    self, CommandPrefixOrSuffixItem as Item, IoFileRedirectKind, IoFileRedirectTarget, IoRedirect,
};
use brush_parser::word::{ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource};

use super::programs::{self, Access, Src, Unwrapped};
use super::syntax;
use super::words::{Piece, Tok, Word, base_name, join_tokens, lit_tokens, push_piece};
use super::{FileArg, Options, Parsed, SimpleCommand, Stdin};

/// Most candidate directories tracked before the directory becomes unknown.
const MAX_CWDS: usize = 8;
/// Deepest recursion of the walker (statements, words, substitutions).
pub const MAX_DEPTH: usize = 400;
/// Deepest nesting of command strings (`bash -c "bash -c '…'"`) and substitutions.
pub const MAX_NESTING: usize = 16;
/// Most simple commands read in one line (more: cannot decide; bounds time and memory).
pub const MAX_COMMANDS: usize = 10_000;
/// Most file names read in one line (more: cannot decide).
pub const MAX_FILES: usize = 20_000;

/// Where the shell is: one of a few directories ("" is the event's cwd), or unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cwd {
    Known(Vec<String>),
    Unknown,
}

impl Cwd {
    pub fn start() -> Cwd {
        Cwd::Known(vec![String::new()])
    }
    fn union(&self, other: &Cwd) -> Cwd {
        match (self, other) {
            (Cwd::Known(a), Cwd::Known(b)) => {
                let mut v = a.clone();
                for d in b {
                    if !v.contains(d) {
                        v.push(d.clone());
                    }
                }
                if v.len() > MAX_CWDS { Cwd::Unknown } else { Cwd::Known(v) }
            }
            _ => Cwd::Unknown,
        }
    }
}

/// `path` relative to `dir` ("" is the event's cwd).
pub fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') || dir.is_empty() {
        path.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{path}")
    } else {
        format!("{dir}/{path}")
    }
}

/// The directories a statement may leave the shell in, after success and after failure.
#[derive(Debug, Clone)]
struct Flow {
    ok: Cwd,
    fail: Cwd,
}

impl Flow {
    fn same(c: &Cwd) -> Flow {
        Flow { ok: c.clone(), fail: c.clone() }
    }
    fn any(&self) -> Cwd {
        self.ok.union(&self.fail)
    }
}

/// Facts about the whole line gathered while walking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFacts {
    /// Arithmetic evaluation, indirection or subscripts: they evaluate variables' values as code.
    pub evaluates: bool,
    /// Variables get values from the line (assignments, `read`, `for`, …).
    pub assigns: bool,
}

pub struct Walker<'a> {
    opts: &'a Options,
    pub out: &'a mut Parsed,
    depth: usize,
    nesting: usize,
    /// `$HOME` and `~` may be expanded statically (the line never names HOME otherwise).
    home: Option<String>,
    /// The line names CDPATH, PWD or OLDPWD other than by expansion: relative `cd` is unknown.
    cd_unknown: bool,
    /// The directory substitutions inside the current command's words run in.
    sub_cwd: Cwd,
}

fn mentions_other_than_expansion(src: &str, name: &str) -> bool {
    src.replace(&format!("${{{name}}}"), "").replace(&format!("${name}"), "").contains(name)
}

impl<'a> Walker<'a> {
    pub fn new(src: &str, opts: &'a Options, out: &'a mut Parsed, nesting: usize) -> Walker<'a> {
        let home = opts.home.clone().filter(|_| !mentions_other_than_expansion(src, "HOME"));
        let cd_unknown = ["CDPATH", "PWD", "OLDPWD"].iter().any(|n| mentions_other_than_expansion(src, n))
            || std::env::var_os("CDPATH").is_some_and(|v| !v.is_empty());
        if mentions_other_than_expansion(src, "GLOBIGNORE") {
            out.undecidable.push("the line sets GLOBIGNORE, which changes what globs match".into());
        }
        Walker { opts, out, depth: 0, nesting, home, cd_unknown, sub_cwd: Cwd::start() }
    }

    fn undecidable(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.out.undecidable.contains(&why) {
            self.out.undecidable.push(why);
        }
    }

    fn enter(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.undecidable(format!("the command line nests deeper than {MAX_DEPTH} levels"));
            self.depth -= 1;
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Walks a whole program.
    pub fn program(&mut self, p: &ast::Program, cwd: &Cwd) {
        let mut cur = cwd.clone();
        for cc in &p.complete_commands {
            cur = self.list(cc, &cur, &Stdin::Inherited).any();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Statements
    // -----------------------------------------------------------------------------------------

    /// `a; b & c`: each item in order; a background item runs in a subshell.
    fn list(&mut self, l: &ast::CompoundList, cwd: &Cwd, io: &Stdin) -> Flow {
        if !self.enter() {
            return Flow::same(&Cwd::Unknown);
        }
        let mut cur = cwd.clone();
        let mut last = Flow::same(cwd);
        for ast::CompoundListItem(and_or, sep) in &l.0 {
            let r = self.and_or(and_or, &cur, io);
            if matches!(sep, ast::SeparatorOperator::Async) {
                last = Flow::same(&cur);
            } else {
                cur = r.any();
                last = r;
            }
        }
        self.leave();
        last
    }

    fn and_or(&mut self, a: &ast::AndOrList, cwd: &Cwd, io: &Stdin) -> Flow {
        let mut flow = self.pipeline(&a.first, cwd, io);
        for next in &a.additional {
            flow = match next {
                ast::AndOr::And(p) => {
                    let r = self.pipeline(p, &flow.ok, io);
                    Flow { ok: r.ok, fail: flow.fail.union(&r.fail) }
                }
                ast::AndOr::Or(p) => {
                    let r = self.pipeline(p, &flow.fail, io);
                    Flow { ok: flow.ok.union(&r.ok), fail: r.fail }
                }
            };
        }
        flow
    }

    fn pipeline(&mut self, p: &ast::Pipeline, cwd: &Cwd, io: &Stdin) -> Flow {
        let r = if p.seq.len() == 1 {
            self.command(&p.seq[0], cwd, io)
        } else {
            // Every part of a pipeline runs in a subshell.
            for (i, c) in p.seq.iter().enumerate() {
                let stdin = if i == 0 { io.clone() } else { Stdin::Pipe };
                self.command(c, cwd, &stdin);
            }
            Flow::same(cwd)
        };
        if p.bang { Flow { ok: r.fail, fail: r.ok } } else { r }
    }

    fn command(&mut self, c: &ast::Command, cwd: &Cwd, io: &Stdin) -> Flow {
        if self.out.commands.len() >= MAX_COMMANDS || self.out.files_seen >= MAX_FILES {
            self.undecidable(format!(
                "the command line has more than {MAX_COMMANDS} commands or {MAX_FILES} file names"
            ));
            return Flow::same(&Cwd::Unknown);
        }
        if !self.enter() {
            return Flow::same(&Cwd::Unknown);
        }
        let saved = std::mem::replace(&mut self.sub_cwd, cwd.clone());
        let r = match c {
            ast::Command::Simple(sc) => self.simple(sc, cwd, io),
            ast::Command::Compound(cc, redirects) => {
                let mut files = Vec::new();
                let mut stdin = io.clone();
                for r in redirects.iter().flat_map(|r| &r.0) {
                    self.redirect(r, cwd, &mut files, &mut stdin);
                }
                self.push_files(files, cwd);
                self.compound(cc, cwd, &stdin)
            }
            ast::Command::Function(f) => {
                self.undecidable("it defines a shell function (a name that may shadow any command)");
                let ast::FunctionBody(body, redirects) = &f.body;
                let mut files = Vec::new();
                let mut stdin = io.clone();
                for r in redirects.iter().flat_map(|r| &r.0) {
                    self.redirect(r, cwd, &mut files, &mut stdin);
                }
                self.push_files(files, cwd);
                self.compound(body, cwd, &stdin);
                Flow::same(cwd)
            }
            ast::Command::ExtendedTest(t, redirects) => {
                self.out.facts.evaluates = true;
                let mut files = Vec::new();
                let mut stdin = io.clone();
                for r in redirects.iter().flat_map(|r| &r.0) {
                    self.redirect(r, cwd, &mut files, &mut stdin);
                }
                self.push_files(files, cwd);
                self.test_expr(&t.expr);
                Flow::same(cwd)
            }
        };
        self.sub_cwd = saved;
        self.leave();
        r
    }

    fn test_expr(&mut self, e: &ast::ExtendedTestExpr) {
        match e {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.test_expr(a);
                self.test_expr(b);
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => self.test_expr(a),
            ast::ExtendedTestExpr::UnaryTest(_, w) => {
                self.word(w);
            }
            ast::ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.word(a);
                self.word(b);
            }
        }
    }

    fn compound(&mut self, cc: &ast::CompoundCommand, cwd: &Cwd, io: &Stdin) -> Flow {
        match cc {
            ast::CompoundCommand::Arithmetic(a) => {
                self.out.facts.evaluates = true;
                self.out.facts.assigns = true;
                self.arithmetic(&a.expr.value);
                Flow::same(cwd)
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                self.out.facts.evaluates = true;
                self.out.facts.assigns = true;
                for e in [&f.initializer, &f.condition, &f.updater].into_iter().flatten() {
                    self.arithmetic(&e.value);
                }
                self.looped(&f.body.list, None, cwd, io)
            }
            ast::CompoundCommand::BraceGroup(b) => self.list(&b.list, cwd, io),
            ast::CompoundCommand::Subshell(s) => {
                self.list(&s.list, cwd, io);
                Flow::same(cwd)
            }
            ast::CompoundCommand::ForClause(f) => {
                self.out.facts.assigns = true;
                for w in f.values.iter().flatten() {
                    self.word(w);
                }
                self.looped(&f.body.list, None, cwd, io)
            }
            ast::CompoundCommand::CaseClause(c) => {
                self.word(&c.value);
                let mut acc = cwd.clone();
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(p);
                    }
                    if let Some(l) = &item.cmd {
                        // `;&` and `;;&` fall through: any item may follow any other.
                        let r = self.list(l, &acc, io);
                        acc = acc.union(&r.any());
                    }
                }
                Flow::same(&acc)
            }
            ast::CompoundCommand::IfClause(i) => {
                let mut acc = cwd.clone();
                let mut parts: Vec<&ast::CompoundList> = vec![&i.condition, &i.then];
                for e in i.elses.iter().flatten() {
                    parts.extend(e.condition.as_ref());
                    parts.push(&e.body);
                }
                for l in parts {
                    let r = self.list(l, &acc, io);
                    acc = acc.union(&r.any());
                }
                Flow::same(&acc)
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                let ast::WhileOrUntilClauseCommand(cond, body, _) = w;
                self.looped(&body.list, Some(cond), cwd, io)
            }
            ast::CompoundCommand::Coprocess(c) => {
                self.command(&c.body, cwd, io);
                Flow::same(cwd)
            }
        }
    }

    /// A loop: its condition and body run any number of times; if they change directory, the
    /// directory of every iteration is unknown.
    fn looped(&mut self, body: &ast::CompoundList, cond: Option<&ast::CompoundList>, cwd: &Cwd, io: &Stdin) -> Flow {
        let mut probe = Parsed::default();
        let changes = {
            let opts = self.opts;
            let mut w = Walker {
                opts,
                out: &mut probe,
                depth: self.depth,
                nesting: self.nesting,
                home: self.home.clone(),
                cd_unknown: self.cd_unknown,
                sub_cwd: cwd.clone(),
            };
            let mut any = cwd.clone();
            if let Some(c) = cond {
                any = any.union(&w.list(c, cwd, io).any());
            }
            any = any.union(&w.list(body, cwd, io).any());
            any != *cwd
        };
        let start = if changes { Cwd::Unknown } else { cwd.clone() };
        let mut acc = start.clone();
        if let Some(c) = cond {
            acc = acc.union(&self.list(c, &start, io).any());
        }
        acc = acc.union(&self.list(body, &start, io).any());
        Flow::same(&acc.union(cwd))
    }

    // -----------------------------------------------------------------------------------------
    // Simple commands
    // -----------------------------------------------------------------------------------------

    fn simple(&mut self, sc: &ast::SimpleCommand, cwd: &Cwd, io: &Stdin) -> Flow {
        let mut words = Vec::new();
        let mut files = Vec::new();
        let mut stdin = io.clone();
        let mut env_danger = false;
        let mut assignments = Vec::new();
        for i in sc.prefix.iter().flat_map(|p| &p.0) {
            self.item(i, true, cwd, &mut words, &mut files, &mut stdin, &mut env_danger, &mut assignments);
        }
        if let Some(w) = &sc.word_or_name {
            words.push(self.word(w));
        }
        for i in sc.suffix.iter().flat_map(|s| &s.0) {
            self.item(i, false, cwd, &mut words, &mut files, &mut stdin, &mut env_danger, &mut assignments);
        }
        if words.is_empty() {
            // Only assignments and redirections: the assignments stay in the shell. A value that
            // is a number (`i=0`, `i=$((i+1))`) cannot carry a command into a later arithmetic
            // evaluation, so it does not count.
            let numeric = sc.prefix.iter().flat_map(|p| &p.0).all(|i| match i {
                Item::AssignmentWord(a, _) => numeric_assignment(a),
                _ => true,
            });
            self.out.facts.assigns |= !assignments.is_empty() && !numeric;
            if assignments.iter().any(|n: &String| programs::dangerous_variable(n)) {
                self.out.env_tampered = true;
            }
            self.push_files(files, cwd);
            return Flow::same(cwd);
        }
        let declaring = words[0]
            .value()
            .is_some_and(|v| matches!(v.as_str(), "export" | "declare" | "typeset" | "local" | "readonly"));
        if declaring {
            self.out.facts.assigns = true;
            if assignments.iter().any(|n| programs::dangerous_variable(n)) {
                self.out.env_tampered = true;
            }
        }
        self.run(words, cwd, &stdin, files, env_danger, None)
    }

    /// One prefix or suffix item of a simple command.
    #[allow(clippy::too_many_arguments)]
    fn item(
        &mut self,
        i: &Item,
        prefix: bool,
        cwd: &Cwd,
        words: &mut Vec<Word>,
        files: &mut Vec<FileArg>,
        stdin: &mut Stdin,
        env_danger: &mut bool,
        assignments: &mut Vec<String>,
    ) {
        match i {
            Item::IoRedirect(r) => self.redirect(r, cwd, files, stdin),
            Item::Word(w) => words.push(self.word(w)),
            Item::AssignmentWord(a, w) => {
                if prefix {
                    let name = self.assignment(a);
                    *env_danger |= programs::dangerous_variable(&name);
                    assignments.push(name);
                } else {
                    // `env A=1 …`, `export A=1`, `dd of=f`: an argument (an assignment only to
                    // declaration builtins).
                    if let ast::AssignmentName::ArrayElementName(..) = a.name {
                        self.out.facts.evaluates = true;
                    }
                    let name = match &a.name {
                        ast::AssignmentName::VariableName(n) | ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
                    };
                    assignments.push(name);
                    words.push(self.word(w));
                }
            }
            Item::ProcessSubstitution(_, sub) => {
                self.out.has_substitution = true;
                let c = self.sub_cwd.clone();
                self.list(&sub.list, &c, &Stdin::Inherited);
                let source = "<(…)".to_string();
                words.push(Word {
                    pieces: vec![Piece::Dyn { source: source.clone() }],
                    source,
                    process_substitution: true,
                });
            }
        }
    }

    /// An assignment's value (its substitutions are walked); returns the variable's name.
    fn assignment(&mut self, a: &ast::Assignment) -> String {
        let name = match &a.name {
            ast::AssignmentName::VariableName(n) => n.clone(),
            ast::AssignmentName::ArrayElementName(n, index) => {
                self.out.facts.evaluates = true;
                self.arithmetic(index);
                n.clone()
            }
        };
        match &a.value {
            ast::AssignmentValue::Scalar(w) => {
                self.word(w);
            }
            ast::AssignmentValue::Array(v) => {
                for (k, w) in v {
                    if let Some(k) = k {
                        self.out.facts.evaluates = true;
                        self.word(k);
                    }
                    self.word(w);
                }
            }
        }
        name
    }

    /// Adds a command to the line's list (counting its files toward the bound).
    fn record(&mut self, c: SimpleCommand) {
        if self.out.commands.len() >= MAX_COMMANDS || self.out.files_seen >= MAX_FILES {
            self.undecidable(format!(
                "the command line has more than {MAX_COMMANDS} commands or {MAX_FILES} file names"
            ));
            return;
        }
        self.out.files_seen += c.files.len();
        self.out.commands.push(c);
    }

    fn push_files(&mut self, files: Vec<FileArg>, cwd: &Cwd) {
        if !files.is_empty() {
            self.record(SimpleCommand { files, dir: single(cwd), ..Default::default() });
        }
    }

    /// One redirection: its files go to `files`, what it feeds standard input to `stdin`.
    fn redirect(&mut self, r: &IoRedirect, cwd: &Cwd, files: &mut Vec<FileArg>, stdin: &mut Stdin) {
        let fd0 = |fd: &Option<ast::IoFd>| fd.as_ref().is_none_or(|f| *f == 0);
        match r {
            IoRedirect::File(fd, kind, target) => {
                let w = match target {
                    IoFileRedirectTarget::Filename(w) => self.word(w),
                    IoFileRedirectTarget::Fd(_) => return,
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.out.has_substitution = true;
                        let c = self.sub_cwd.clone();
                        self.list(&sub.list, &c, &Stdin::Inherited);
                        if matches!(kind, IoFileRedirectKind::Read) && fd0(fd) {
                            *stdin = Stdin::Redirected(None);
                        }
                        return;
                    }
                    IoFileRedirectTarget::Duplicate(w) => {
                        let w = self.word(w);
                        // `>&2`, `<&0`, `>&-`: descriptors. `>&file`: bash writes the file.
                        if w.value().is_some_and(|v| v == "-" || v.chars().all(|c| c.is_ascii_digit())) {
                            return;
                        }
                        w
                    }
                };
                let accesses: &[Access] = match kind {
                    IoFileRedirectKind::Read | IoFileRedirectKind::DuplicateInput => &[Access::Read],
                    IoFileRedirectKind::ReadAndWrite => &[Access::Read, Access::Write],
                    IoFileRedirectKind::Write
                    | IoFileRedirectKind::Append
                    | IoFileRedirectKind::Clobber
                    | IoFileRedirectKind::DuplicateOutput => &[Access::Write],
                };
                if accesses.contains(&Access::Read) && fd0(fd) {
                    *stdin = Stdin::Redirected(w.value().map(|v| join_first(cwd, &v)));
                }
                for a in accesses {
                    self.push_word_file(&w, *a, false, cwd, files);
                }
            }
            IoRedirect::OutputAndError(w, _) => {
                let w = self.word(w);
                self.push_word_file(&w, Access::Write, false, cwd, files);
            }
            IoRedirect::HereString(fd, w) => {
                let w = self.word(w);
                if fd0(fd) {
                    *stdin = Stdin::Here(w.value().map(|v| format!("{v}\n")));
                }
            }
            IoRedirect::HereDocument(fd, doc) => {
                let body =
                    if doc.requires_expansion { self.heredoc(&doc.doc.value) } else { Some(doc.doc.value.clone()) };
                let body = body.map(|b| if doc.remove_tabs { strip_tabs(&b) } else { b });
                if fd0(fd) {
                    *stdin = Stdin::Here(body);
                }
            }
        }
    }

    /// An unquoted here-document: its substitutions are walked; its text when static.
    fn heredoc(&mut self, body: &str) -> Option<String> {
        match syntax::heredoc(body) {
            Err(why) => {
                self.undecidable(why);
                None
            }
            Ok(pieces) => {
                let mut w = Word { source: body.to_string(), ..Default::default() };
                for p in &pieces {
                    self.piece(p, body, &mut w, true, false);
                }
                w.value()
            }
        }
    }

    /// Arithmetic text: evaluated as code; its substitutions are walked.
    fn arithmetic(&mut self, text: &str) {
        if text.contains(['$', '`']) {
            match syntax::word(text) {
                Ok(pieces) => {
                    let mut w = Word::default();
                    for p in &pieces {
                        self.piece(p, text, &mut w, true, false);
                    }
                }
                Err(why) => self.undecidable(why),
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Words
    // -----------------------------------------------------------------------------------------

    /// Decodes a word; walks the substitutions inside it.
    fn word(&mut self, w: &ast::Word) -> Word {
        let mut out = Word { source: w.value.clone(), ..Default::default() };
        if !self.enter() {
            out.pieces.push(Piece::Dyn { source: w.value.clone() });
            return out;
        }
        match syntax::word(&w.value) {
            Ok(pieces) => {
                for (i, p) in pieces.iter().enumerate() {
                    self.piece(p, &w.value, &mut out, false, i == 0);
                }
            }
            Err(why) => {
                self.undecidable(why);
                out.pieces.push(Piece::Dyn { source: w.value.clone() });
            }
        }
        self.leave();
        out
    }

    /// One piece of a word; `text` is the string the piece's indices point into.
    fn piece(&mut self, p: &WordPieceWithSource, text: &str, w: &mut Word, quoted: bool, first: bool) {
        let src = text.get(p.start_index..p.end_index).unwrap_or("").to_string();
        match &p.piece {
            WordPiece::Text(t) => push_piece(&mut w.pieces, t.clone(), quoted),
            WordPiece::SingleQuotedText(t) => push_piece(&mut w.pieces, t.clone(), true),
            WordPiece::AnsiCQuotedText(t) => {
                if t.contains('\\') {
                    w.pieces.push(Piece::Dyn { source: src });
                } else {
                    push_piece(&mut w.pieces, t.clone(), true);
                }
            }
            WordPiece::DoubleQuotedSequence(inner) => {
                if inner.is_empty() {
                    // `""` is an empty (but present) argument.
                    w.pieces.push(Piece::Lit { text: String::new(), quoted: true });
                }
                // Inner pieces' indices point into the same word.
                let mut sub = Word::default();
                for q in inner {
                    self.piece(q, text, &mut sub, true, false);
                }
                w.pieces.extend(sub.pieces);
            }
            WordPiece::GettextDoubleQuotedSequence(inner) => {
                let mut sub = Word::default();
                for q in inner {
                    self.piece(q, text, &mut sub, true, false);
                }
                w.pieces.push(Piece::Dyn { source: src });
            }
            WordPiece::TildeExpansion(t) => match (t, &self.home, first) {
                (TildeExpr::Home, Some(h), _) => push_piece(&mut w.pieces, h.clone(), true),
                _ => w.pieces.push(Piece::Dyn { source: src }),
            },
            WordPiece::ParameterExpansion(e) => {
                if let Some(h) = self.home.clone()
                    && (src == "$HOME" || src == "${HOME}")
                {
                    push_piece(&mut w.pieces, h, true);
                    return;
                }
                self.parameter(e);
                w.pieces.push(Piece::Dyn { source: src });
            }
            WordPiece::CommandSubstitution(text) => {
                self.substitution(text);
                w.pieces.push(Piece::Dyn { source: src });
            }
            WordPiece::BackquotedCommandSubstitution(_) => {
                // Inside backquotes a backslash quotes `$`, `` ` `` and `\` (bash's rule).
                let inner = src.strip_prefix('`').and_then(|s| s.strip_suffix('`')).unwrap_or("");
                let text = unescape_backquoted(inner);
                self.substitution(&text);
                w.pieces.push(Piece::Dyn { source: src });
            }
            WordPiece::EscapeSequence(e) => {
                let c = e.strip_prefix('\\').unwrap_or(e);
                if c != "\n" {
                    push_piece(&mut w.pieces, c.to_string(), true);
                }
            }
            WordPiece::ArithmeticExpression(e) => {
                self.out.facts.evaluates = true;
                self.arithmetic(&e.value);
                w.pieces.push(Piece::Dyn { source: src });
            }
        }
    }

    /// A command substitution: a subshell in the current directory.
    fn substitution(&mut self, text: &str) {
        self.out.has_substitution = true;
        let cwd = self.sub_cwd.clone();
        self.nested_program(text, &cwd, "a command substitution");
    }

    /// `${…}`: the words and arithmetic inside are walked; indirection, subscripts and
    /// substrings evaluate values as code.
    fn parameter(&mut self, e: &ParameterExpr) {
        use brush_parser::word::Parameter;
        let (param, indirect, texts): (Option<&Parameter>, bool, Vec<&str>) = match e {
            ParameterExpr::Parameter { parameter, indirect } => (Some(parameter), *indirect, vec![]),
            ParameterExpr::UseDefaultValues { parameter, indirect, default_value: v, .. }
            | ParameterExpr::AssignDefaultValues { parameter, indirect, default_value: v, .. }
            | ParameterExpr::IndicateErrorIfNullOrUnset { parameter, indirect, error_message: v, .. }
            | ParameterExpr::UseAlternativeValue { parameter, indirect, alternative_value: v, .. }
            | ParameterExpr::RemoveSmallestSuffixPattern { parameter, indirect, pattern: v }
            | ParameterExpr::RemoveLargestSuffixPattern { parameter, indirect, pattern: v }
            | ParameterExpr::RemoveSmallestPrefixPattern { parameter, indirect, pattern: v }
            | ParameterExpr::RemoveLargestPrefixPattern { parameter, indirect, pattern: v }
            | ParameterExpr::UppercaseFirstChar { parameter, indirect, pattern: v }
            | ParameterExpr::UppercasePattern { parameter, indirect, pattern: v }
            | ParameterExpr::LowercaseFirstChar { parameter, indirect, pattern: v }
            | ParameterExpr::LowercasePattern { parameter, indirect, pattern: v } => {
                (Some(parameter), *indirect, v.iter().map(String::as_str).collect())
            }
            ParameterExpr::ParameterLength { parameter, indirect }
            | ParameterExpr::Transform { parameter, indirect, .. } => (Some(parameter), *indirect, vec![]),
            ParameterExpr::Substring { parameter, indirect, offset, length } => {
                self.out.facts.evaluates = true;
                self.arithmetic(&offset.value);
                if let Some(l) = length {
                    self.arithmetic(&l.value);
                }
                (Some(parameter), *indirect, vec![])
            }
            ParameterExpr::ReplaceSubstring { parameter, indirect, pattern, replacement, .. } => {
                let mut v = vec![pattern.as_str()];
                v.extend(replacement.as_deref());
                (Some(parameter), *indirect, v)
            }
            ParameterExpr::VariableNames { .. } | ParameterExpr::MemberKeys { .. } => (None, false, vec![]),
        };
        if indirect {
            self.out.facts.evaluates = true;
        }
        if let Some(Parameter::NamedWithIndex { index, .. }) = param {
            self.out.facts.evaluates = true;
            self.arithmetic(index);
        }
        for t in texts {
            if t.contains(['$', '`']) {
                match syntax::word(t) {
                    Ok(pieces) => {
                        let mut w = Word { source: t.to_string(), ..Default::default() };
                        for p in &pieces {
                            self.piece(p, t, &mut w, true, false);
                        }
                    }
                    Err(why) => self.undecidable(why),
                }
            }
        }
    }

    /// A command line inside a string or substitution, parsed and walked in `cwd`.
    fn nested_program(&mut self, text: &str, cwd: &Cwd, what: &str) {
        if self.nesting + 1 > MAX_NESTING {
            self.undecidable(format!("command strings and substitutions nest deeper than {MAX_NESTING} levels"));
            return;
        }
        match syntax::parse(text) {
            Err(why) => self.undecidable(format!("{what}: {why}")),
            Ok(program) => {
                let opts = self.opts;
                let depth = self.depth;
                let mut inner = Walker::new(text, opts, &mut *self.out, self.nesting + 1);
                inner.depth = depth;
                inner.program(&program, cwd);
            }
        }
    }

    /// A command given as words: finds the program behind the wrappers, applies what it does.
    /// `roots`: for `find -exec`, the word indices that are `{}` and the files they stand for.
    fn run(
        &mut self,
        words: Vec<Word>,
        cwd: &Cwd,
        stdin: &Stdin,
        mut files: Vec<FileArg>,
        env_danger: bool,
        roots: Option<(&HashSet<usize>, &[FileArg])>,
    ) -> Flow {
        let forms_all = vec![form(&words, 0)];
        let first = &words[0];
        if !first.is_static() || first.has_glob() || first.has_brace() {
            self.undecidable(format!("the program name `{}` is only known at run time", first.source));
            self.push(words, forms_all, None, files, cwd, stdin);
            return Flow::same(cwd);
        }
        let u: Unwrapped = programs::unwrap(&words);
        for use_ in &u.uses {
            self.push_src(use_, &words, cwd, &mut files);
        }
        let mut forms = Vec::new();
        for &l in &u.layers {
            forms.push(form(&words, l));
        }
        if let Some(why) = &u.undecidable {
            self.undecidable(why.clone());
        }
        let inner_cwd = match &u.chdir {
            None => cwd.clone(),
            Some(Src::Unknown(_)) => Cwd::Unknown,
            Some(src) => {
                let mut tmp = Vec::new();
                self.push_src(
                    &programs::Use { src: src.clone(), access: Access::Read, guess: false },
                    &words,
                    cwd,
                    &mut tmp,
                );
                match tmp.first() {
                    Some(FileArg { path: Some(p), glob: None, dir: Some(d), .. }) => Cwd::Known(vec![join(d, p)]),
                    _ => Cwd::Unknown,
                }
            }
        };
        if !u.shell_string.is_empty() {
            let parts: Option<Vec<String>> = u.shell_string.iter().map(|&k| words[k].value()).collect();
            match parts {
                Some(p) => self.nested(&p.join(" "), &inner_cwd),
                None => self.undecidable("a command string built at run time"),
            }
        }
        let Some(p) = u.program.filter(|&p| p < words.len()) else {
            if forms.is_empty() {
                forms = forms_all;
            }
            // `exec` alone (`exec >/dev/null 2>&1`) only applies its redirections: nothing runs.
            let bare_exec = words.len() == 1 && words[0].value().as_deref() == Some("exec");
            let before = self.out.commands.len();
            self.push(words, forms, None, files, cwd, stdin);
            if bare_exec
                && self.out.commands.len() > before
                && let Some(c) = self.out.commands.last_mut()
            {
                c.runs_unknown = None;
            }
            return Flow::same(cwd);
        };
        let prog_word = &words[p];
        if !prog_word.is_static() || prog_word.has_glob() || prog_word.has_brace() {
            self.undecidable(format!("the program name `{}` is only known at run time", prog_word.source));
            forms.push(form(&words, p));
            self.push(words, forms, None, files, cwd, stdin);
            return Flow::same(cwd);
        }
        let prog_value = prog_word.value().unwrap_or_default();
        let prog = base_name(&prog_value).to_string();
        let mut args: Vec<Word> = words[p + 1..].to_vec();
        if let Some(r) = &u.replace {
            // xargs -I R: words with R in them are known only at run time.
            if prog_value.contains(r.as_str()) {
                self.undecidable("`xargs -I` builds the program name from its input");
            }
            for a in &mut args {
                if a.value().is_some_and(|v| v.contains(r.as_str())) {
                    *a = Word { pieces: vec![Piece::Dyn { source: a.source.clone() }], ..a.clone() };
                }
            }
        }
        if u.appended {
            args.push(Word {
                pieces: vec![Piece::Dyn { source: "<input of xargs>".into() }],
                source: "<input of xargs>".into(),
                process_substitution: false,
            });
        }
        forms.push(form(&words, p));
        let allow = (!u.privileged && !u.dangerous_env && !env_danger).then(|| {
            let mut t = lit_tokens(&prog_value);
            for a in &words[p + 1..] {
                t.push(Tok::Lit(' '));
                a.tokens(&mut t);
            }
            t
        });

        let mut next_cwd = Flow::same(cwd);
        match prog.as_str() {
            "cd" | "pushd" => {
                let s = programs::scan(&args, "", &[], true);
                let target = s.operands.first().map(|&k| &args[k]);
                let new = match target {
                    _ if s.dynamic => Cwd::Unknown,
                    None if prog == "cd" => match &self.home {
                        Some(h) => Cwd::Known(vec![h.clone()]),
                        None => Cwd::Unknown,
                    },
                    None => Cwd::Unknown,
                    Some(t) => match t.value() {
                        Some(v) if v == "-" || t.has_glob() || t.has_brace() => Cwd::Unknown,
                        // `/proc/self/cwd/x` is relative to the directory before the `cd`.
                        Some(v) if v.starts_with("/proc/") || v.starts_with("/dev/fd") => Cwd::Unknown,
                        Some(v) if v.starts_with('/') => Cwd::Known(vec![v]),
                        Some(_) if self.cd_unknown => Cwd::Unknown,
                        Some(v) => match &inner_cwd {
                            Cwd::Known(ds) => Cwd::Known(ds.iter().map(|d| join(d, &v)).collect()),
                            Cwd::Unknown => Cwd::Unknown,
                        },
                        None => Cwd::Unknown,
                    },
                };
                next_cwd = Flow { ok: new, fail: cwd.clone() };
            }
            "popd" => next_cwd = Flow { ok: Cwd::Unknown, fail: cwd.clone() },
            "eval" => match (self.opts.strict, args.iter().map(Word::value).collect::<Option<Vec<_>>>()) {
                (true, Some(v)) => self.nested(&v.join(" "), &inner_cwd),
                (true, None) => self.undecidable("`eval` of a string built at run time"),
                (false, _) => self.undecidable("`eval` runs a string as a command (strict mode reads static strings)"),
            },
            "trap" => {
                let s = programs::scan(&args, "", &[], true);
                if !s.has(&["l", "p"])
                    && let Some(&k) = s.operands.first()
                    && s.operands.len() > 1
                {
                    match (self.opts.strict, args[k].value()) {
                        (_, Some(v)) if v == "-" || v.is_empty() => {}
                        (true, Some(v)) => self.nested(&v, &inner_cwd),
                        _ => self.undecidable("`trap` runs a string as a command later"),
                    }
                }
            }
            "alias" if args.iter().any(|a| a.value().is_none_or(|v| v.contains('='))) => {
                self.undecidable("`alias` defines a command name");
            }
            "enable" => self.undecidable("`enable` loads or switches shell builtins"),
            "hash" if args.iter().any(|a| a.value().is_none_or(|v| v.starts_with("-p"))) => {
                self.undecidable("`hash -p` makes a command name run another program");
            }
            "shopt" if args.iter().any(|a| a.value().is_none_or(|v| v.starts_with("-s") || v.starts_with("-u"))) => {
                self.undecidable("`shopt` changes how the shell expands words");
            }
            "set" if args.iter().any(|a| a.value().is_none_or(|v| v == "-o" || v == "+o" || v.starts_with('+'))) => {
                // `set +f`, `set -o …`: globbing and other options change how words expand.
                self.undecidable("`set` changes how the shell expands words");
            }
            "read" | "mapfile" | "readarray" | "getopts" => self.out.facts.assigns = true,
            "let" => {
                self.out.facts.assigns = true;
                self.out.facts.evaluates = true;
            }
            // `printf -v NAME` (an option: only before the format, the first argument) assigns
            // and evaluates a subscript; a first argument known only at run time might be it.
            "printf" if args.first().is_some_and(|a| a.value().is_none_or(|v| v.starts_with('-') && v != "--")) => {
                self.out.facts.assigns = true;
                self.out.facts.evaluates = true;
            }
            "declare" | "typeset" | "local" | "export" | "readonly" => {
                // Reached only through a wrapper (`builtin export …`).
                self.out.facts.assigns = true;
                self.out.facts.evaluates = true;
                self.out.env_tampered = true;
            }
            "command_not_found_handle" => self.undecidable("calls the shell's command-not-found hook"),
            _ => {}
        }

        let e = programs::effects(&prog, &args);
        if let Some(why) = &e.undecidable {
            self.undecidable(why.clone());
        }
        for use_ in &e.uses {
            let before = files.len();
            self.push_src(use_, &args, &inner_cwd, &mut files);
            if let (Some((holes, root_files)), Src::Arg(k)) = (roots, &use_.src)
                && holes.contains(&(k + p + 1))
            {
                // find -exec: `{}` stands for every file below the roots.
                files.truncate(before);
                for r in root_files {
                    let mut f = r.clone();
                    f.access = use_.access.tree(true);
                    files.push(f);
                }
            }
        }
        for l in &e.links {
            let mut tmp = Vec::new();
            self.push_src(
                &programs::Use { src: l.clone(), access: Access::Write, guess: false },
                &args,
                &inner_cwd,
                &mut tmp,
            );
            self.out.links.extend(tmp);
        }
        for &k in &e.shell_strings {
            match args[k].value() {
                Some(v) => self.nested(&v, &inner_cwd),
                None => self.undecidable(format!("`{prog} -c` of a string built at run time")),
            }
        }
        // A script that is a pipe or a descriptor: `source <(…)`, `bash /dev/stdin <<< '…'`.
        let mut script_from_stdin = e.script_from_stdin;
        for s in &e.scripts {
            let Src::Arg(k) = s else { continue };
            let Some(w) = args.get(*k) else { continue };
            if w.process_substitution {
                self.undecidable(format!("`{prog}` runs a script built at run time (`<(…)`)"));
            } else if let Some(v) = w.value() {
                let fd = v
                    .strip_prefix("/dev/fd/")
                    .or_else(|| v.strip_prefix("/proc/self/fd/"))
                    .or_else(|| v.strip_prefix("/proc/thread-self/fd/"));
                if v == "/dev/stdin" || fd == Some("0") {
                    script_from_stdin = true;
                } else if fd.is_some() || v.starts_with("/proc/") || v == "/dev/tty" {
                    self.undecidable(format!("`{prog}` runs a script from a descriptor (`{v}`)"));
                }
            }
        }
        if script_from_stdin {
            match stdin {
                Stdin::Here(Some(body)) => {
                    let body = body.clone();
                    self.nested(&body, &inner_cwd);
                }
                Stdin::Here(None) => self.undecidable(format!("`{prog}` reads a script built at run time")),
                Stdin::Pipe => self.undecidable(format!("`{prog}` reads its script from a pipe")),
                Stdin::Inherited | Stdin::Redirected(_) => {}
            }
        }
        let mut code: Vec<String> = e.code.iter().filter_map(|&k| args.get(k).and_then(Word::value)).collect();
        if programs::interpreter(&prog).is_some()
            && e.code.is_empty()
            && let Stdin::Here(Some(body)) = stdin
        {
            code.push(body.clone());
        }
        for c in code {
            self.interpreter_code(&c, &inner_cwd);
        }
        for ex in &e.execs {
            self.exec(ex, &args, &inner_cwd, stdin);
        }

        let mut c_files = files;
        let runs = self.runs(&words, &u, p, &args, &e, &inner_cwd, stdin);
        let text_words: Vec<String> =
            std::iter::once(prog.clone()).chain(args.iter().take(words.len() - p - 1).map(Word::display)).collect();
        let mut cmd = SimpleCommand {
            text: text_words.join(" "),
            words: text_words,
            files: std::mem::take(&mut c_files),
            forms,
            allow,
            argv: words[p..].to_vec(),
            program: Some(prog_value.clone()),
            wrappers: u.layers.iter().filter_map(|&l| words[l].value()).collect(),
            dir: single(&inner_cwd),
            stdin: stdin.clone(),
            runs: runs.0,
            runs_unknown: runs.1,
        };
        cmd.forms.dedup();
        self.record(cmd);
        next_cwd
    }

    /// The files a command runs: its program when given as a path, its scripts.
    #[allow(clippy::too_many_arguments)]
    fn runs(
        &mut self,
        words: &[Word],
        u: &Unwrapped,
        p: usize,
        args: &[Word],
        e: &programs::Effects,
        cwd: &Cwd,
        stdin: &Stdin,
    ) -> (Vec<FileArg>, Option<String>) {
        let mut out = Vec::new();
        let mut unknown = None;
        for &k in u.layers.iter().chain(std::iter::once(&p)) {
            if words[k].value().is_some_and(|v| v.contains('/')) {
                self.push_word_file(&words[k], Access::Read, false, cwd, &mut out);
            }
        }
        for s in &e.scripts {
            self.push_src(&programs::Use { src: s.clone(), access: Access::Read, guess: false }, args, cwd, &mut out);
        }
        let prog = words[p].value().map(|v| base_name(&v).to_string()).unwrap_or_default();
        if programs::interpreter(&prog).is_some() {
            let call = programs::interpreter_call(&prog, args);
            if let Some(k) = call.script {
                self.push_word_file(&args[k], Access::Read, false, cwd, &mut out);
            }
            if let Some(k) = call.module {
                unknown = Some(format!("`{prog}` runs the module `{}`, found at run time", args[k].display()));
            }
            if call.stdin && e.code.is_empty() {
                match stdin {
                    Stdin::Redirected(Some(f)) => out.push(FileArg::new(f, None, Access::Read)),
                    Stdin::Here(_) => {}
                    _ => unknown = Some(format!("`{prog}` reads its program from standard input")),
                }
            }
        }
        if e.script_from_stdin {
            match stdin {
                Stdin::Redirected(Some(f)) => out.push(FileArg::new(f, None, Access::Read)),
                Stdin::Here(_) => {}
                _ => unknown = Some(format!("`{prog}` reads its script from standard input")),
            }
        }
        if out.iter().any(|f| f.path.is_none() || f.dir.is_none()) {
            unknown = Some("a script or program path known only at run time".into());
        }
        (out, unknown)
    }

    /// `find -exec PROG … {} ;`, `xargs PROG …`.
    fn exec(&mut self, ex: &programs::Exec, args: &[Word], cwd: &Cwd, stdin: &Stdin) {
        let mut words: Vec<Word> = ex.argv.iter().filter_map(|&k| args.get(k).cloned()).collect();
        if words.is_empty() {
            return;
        }
        let mut holes = HashSet::new();
        for (i, w) in words.iter_mut().enumerate() {
            if let Some(r) = &ex.replace
                && w.value().is_some_and(|v| v.contains(r.as_str()))
            {
                if i == 0 || w.value().as_deref() != Some(r.as_str()) {
                    *w = Word { pieces: vec![Piece::Dyn { source: w.source.clone() }], ..w.clone() };
                }
                holes.insert(i);
            }
        }
        if words[0].pieces.iter().any(|p| matches!(p, Piece::Dyn { .. })) {
            self.undecidable("`find -exec` runs a program named by the files it finds");
            return;
        }
        let mut root_files = Vec::new();
        for r in &ex.roots {
            self.push_src(
                &programs::Use { src: r.clone(), access: Access::Read, guess: false },
                args,
                cwd,
                &mut root_files,
            );
        }
        self.run(words, cwd, stdin, Vec::new(), false, Some((&holes, &root_files)));
    }

    /// A command line inside a string (`bash -c`, `eval` in strict mode, `watch`, …).
    fn nested(&mut self, text: &str, cwd: &Cwd) {
        self.nested_program(text, cwd, "an inner command line");
    }

    /// The string literals of interpreter code (`python3 -c '…'`, `awk '…'`, a here-document
    /// fed to an interpreter) name files it may open: in default mode they count where they
    /// name an existing file (or a new one in an existing directory); in strict mode always,
    /// and a literal that parses as a command line counts as commands too (`os.system("…")`).
    fn interpreter_code(&mut self, code: &str, cwd: &Cwd) {
        let strict = self.opts.strict;
        for lit in string_literals(code) {
            let mut files = Vec::new();
            let w = Word::literal(&lit);
            self.push_word_file(&w, Access::Read, !strict, cwd, &mut files);
            self.push_word_file(&w, Access::Write, !strict, cwd, &mut files);
            self.record(SimpleCommand { files, dir: single(cwd), ..Default::default() });
            // A literal is usually not shell code: only what parses counts.
            if strict
                && self.nesting < MAX_NESTING
                && let Ok(program) = syntax::parse(&lit)
            {
                let mut sub = Parsed::default();
                let opts = self.opts;
                let mut inner = Walker::new(&lit, opts, &mut sub, self.nesting + 1);
                inner.program(&program, cwd);
                self.out.commands.extend(sub.commands);
                self.out.has_substitution |= sub.has_substitution;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Files
    // -----------------------------------------------------------------------------------------

    fn push_src(&self, u: &programs::Use, words: &[Word], cwd: &Cwd, out: &mut Vec<FileArg>) {
        match &u.src {
            Src::Arg(k) => {
                if let Some(w) = words.get(*k) {
                    self.push_word_file(w, u.access, u.guess, cwd, out);
                }
            }
            Src::Suffix(k, off) => {
                match words.get(*k).and_then(Word::value).and_then(|v| v.get(*off..).map(str::to_string)) {
                    Some(v) if !v.is_empty() => self.push_path(&v, None, u.access, u.guess, cwd, out),
                    Some(_) => {}
                    None if u.guess => {}
                    None => out.push(FileArg::unknown(
                        words.get(*k).map(|w| w.source.clone()).unwrap_or_default(),
                        u.access,
                        "a file name known only at run time",
                    )),
                }
            }
            Src::Cwd => self.push_path(".", None, u.access, u.guess, cwd, out),
            Src::Computed(p) => self.push_path(p, None, u.access, u.guess, cwd, out),
            Src::Unknown(why) => {
                if !u.guess {
                    out.push(FileArg::unknown(why.to_string(), u.access, why));
                }
            }
        }
    }

    fn push_word_file(&self, w: &Word, access: Access, guess: bool, cwd: &Cwd, out: &mut Vec<FileArg>) {
        if w.process_substitution {
            return; // a pipe, not a file (its command is walked on its own)
        }
        if w.has_brace() {
            if !guess {
                out.push(FileArg::unknown(w.source.clone(), access, "brace expansion makes it several names"));
            }
            return;
        }
        match w.value() {
            Some(v) => {
                let glob = w.has_glob().then(|| w.glob_pattern()).flatten();
                if v.is_empty() {
                    return;
                }
                self.push_path(&v, glob, access, guess, cwd, out);
            }
            None if guess => {}
            None => out.push(FileArg::unknown(w.source.clone(), access, "a file name known only at run time")),
        }
    }

    fn push_path(
        &self,
        path: &str,
        glob: Option<String>,
        access: Access,
        guess: bool,
        cwd: &Cwd,
        out: &mut Vec<FileArg>,
    ) {
        if path.starts_with('/') {
            out.push(FileArg {
                path: Some(path.into()),
                glob,
                dir: Some(String::new()),
                access,
                guess,
                display: path.into(),
            });
            return;
        }
        match cwd {
            Cwd::Known(ds) => {
                for d in ds {
                    out.push(FileArg {
                        path: Some(path.into()),
                        glob: glob.clone(),
                        dir: Some(d.clone()),
                        access,
                        guess,
                        display: join(d, path),
                    });
                }
            }
            Cwd::Unknown if guess => {}
            Cwd::Unknown => out.push(FileArg {
                path: Some(path.into()),
                glob,
                dir: None,
                access,
                guess,
                display: format!("{path} (after a change to a directory known only at run time)"),
            }),
        }
    }

    fn push(
        &mut self,
        words: Vec<Word>,
        forms: Vec<Vec<Tok>>,
        allow: Option<Vec<Tok>>,
        files: Vec<FileArg>,
        cwd: &Cwd,
        stdin: &Stdin,
    ) {
        let text_words: Vec<String> = words.iter().map(Word::display).collect();
        let mut forms = forms;
        forms.dedup();
        self.record(SimpleCommand {
            text: text_words.join(" "),
            words: text_words,
            files,
            forms,
            allow,
            argv: words,
            program: None,
            wrappers: Vec::new(),
            dir: single(cwd),
            stdin: stdin.clone(),
            runs: Vec::new(),
            runs_unknown: Some("the program is known only at run time".into()),
        });
    }
}

/// `NAME=digits` or `NAME=$((…))` (one arithmetic expansion): the value is a number.
fn numeric_assignment(a: &ast::Assignment) -> bool {
    let ast::AssignmentName::VariableName(_) = &a.name else { return false };
    let ast::AssignmentValue::Scalar(w) = &a.value else { return false };
    let v = w.value.as_str();
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        || (v.starts_with("$((") && v.ends_with("))") && !v[3..].contains("$((") && !v.contains('`'))
}

/// Deny/ask form of `words[start..]`: the program reduced to its base name.
fn form(words: &[Word], start: usize) -> Vec<Tok> {
    let Some(first) = words.get(start) else { return Vec::new() };
    let mut t = match first.value() {
        Some(v) => lit_tokens(base_name(&v)),
        None => join_tokens([first]),
    };
    for w in &words[start + 1..] {
        t.push(Tok::Lit(' '));
        w.tokens(&mut t);
    }
    t
}

fn single(cwd: &Cwd) -> Option<String> {
    match cwd {
        Cwd::Known(v) if v.len() == 1 => Some(v[0].clone()),
        _ => None,
    }
}

fn join_first(cwd: &Cwd, path: &str) -> String {
    match cwd {
        Cwd::Known(v) => join(v.first().map(String::as_str).unwrap_or(""), path),
        Cwd::Unknown => path.to_string(),
    }
}

/// Quoted string literals in interpreter code (`'…'`, `"…"`, `` `…` ``).
pub fn string_literals(code: &str) -> Vec<String> {
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

/// The text inside backquotes as bash reads it: a backslash quotes `$`, `` ` `` and `\`.
fn unescape_backquoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('$' | '`' | '\\')) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// `<<-`: leading tabs removed from every line.
fn strip_tabs(s: &str) -> String {
    s.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}
