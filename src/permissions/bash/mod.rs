//! Reading a Bash command line the way permission rules need it, with a real shell's parser
//! (brush-parser, see [`syntax`]) instead of a hand-written splitter.
//!
//! [`analyze`] walks the syntax tree into [`SimpleCommand`]s: every command that runs
//! (including those in `$(…)`, `` `…` ``, `<(…)`, `>(…)`, subshells, groups, pipelines, lists,
//! `if`/`while`/`for`/`case` bodies, here-document continuations, and the command strings of
//! `bash -c '…'`/`sh -c`, `su -c`, `watch`, `flock -c`, `script -c`, `find -exec`, `xargs`),
//! each with its wrappers and `VAR=value` prefixes stripped (`timeout`, `nice`, `env`, `sudo`,
//! `xargs`, … — [`programs`] has the table), the program reduced to its base name for deny
//! and ask rules, and the files it reads and writes: arguments of known file commands, option
//! values (`sort -o FILE`, `dd of=FILE`, `tar -C DIR -c .`), redirections glued or not
//! (`echo x>f`, `cat<f`, `>&f`, `&>f`, `>|f`, `3<f`), resolved against the directory that
//! `cd`/`pushd` moved to (`cd DIR && cat FILE`).
//!
//! What the tree shows cannot be decided before the command runs is collected in
//! [`Parsed::undecidable`] (a program name built at run time, brace expansion or a glob in the
//! program, `eval`, `trap`, functions, aliases, `env -S`, unknown wrappers, a shell reading
//! its script from a pipe, arithmetic on variables the line sets, …) or as a [`FileArg`]
//! without a known path. The engine never allows such a line and denies it where deny rules
//! bind Bash.
//!
//! Strict mode (managed `hookhost.strictBashRules`) also reads `eval` and `trap` strings and
//! the string literals of interpreter one-liners (`python3 -c`, `perl -e`, `node -e`, `awk`
//! programs), which count as both file names and command lines.
//!
//! [`exec::executed_files`] lists the files a command line will execute or source.

pub mod exec;
pub mod programs;
pub mod syntax;
mod walk;
pub mod words;

pub use programs::Access;
pub use words::{Piece, Tok, Word};

/// One file a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    /// The file as the shell names it (quotes removed, `~` expanded); `None`: known only at run
    /// time.
    pub path: Option<String>,
    /// The shell glob pattern (quoted characters escaped), when the name has unquoted `*?[`.
    pub glob: Option<String>,
    /// The directory `path` is relative to: "" is the event's cwd; `None`: known only at run
    /// time (after `cd "$X"`).
    pub dir: Option<String>,
    pub access: Access,
    /// An unknown program's argument: it counts only if it names an existing file.
    pub guess: bool,
    /// For reasons: the path as the command line spells it, or why it is unknown.
    pub display: String,
}

impl FileArg {
    pub fn new(path: &str, dir: Option<&str>, access: Access) -> FileArg {
        FileArg {
            path: Some(path.to_string()),
            glob: None,
            dir: Some(dir.unwrap_or("").to_string()),
            access,
            guess: false,
            display: path.to_string(),
        }
    }
    fn unknown(source: String, access: Access, why: &str) -> FileArg {
        FileArg { path: None, glob: None, dir: None, access, guess: false, display: format!("`{source}` ({why})") }
    }
    /// Neither the name nor its directory is known statically.
    pub fn is_unknown(&self) -> bool {
        self.path.is_none() || (self.dir.is_none() && !self.path.as_deref().is_some_and(|p| p.starts_with('/')))
    }
}

/// Where a command's standard input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    #[default]
    Inherited,
    /// From the previous command of a pipeline.
    Pipe,
    /// From a file (`< FILE`; `None`: its name is known only at run time).
    Redirected(Option<String>),
    /// A here-document or here-string (`None`: its text is built at run time).
    Here(Option<String>),
}

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    /// The command that runs, normalised: program base name and its arguments, space-joined
    /// (empty for a redirection-only entry).
    pub text: String,
    pub words: Vec<String>,
    /// The files it reads and writes.
    pub files: Vec<FileArg>,
    /// Every form deny and ask rules are matched against: the command as run (program base
    /// name) and each wrapper layer with its arguments.
    pub forms: Vec<Vec<Tok>>,
    /// The form allow rules must match (the program as written); `None`: never allowed by a
    /// rule (privilege wrappers, `PATH=`/`LD_PRELOAD=`-style variables, undecidable names).
    pub allow: Option<Vec<Tok>>,
    /// The program and its arguments as words.
    pub argv: Vec<Word>,
    /// The program as written (static).
    pub program: Option<String>,
    /// The wrapper programs as written, outermost first.
    pub wrappers: Vec<String>,
    /// The directory it runs in, when it is one known directory.
    pub dir: Option<String>,
    pub stdin: Stdin,
    /// Files it executes or sources (program paths, scripts), for [`exec::executed_files`].
    pub runs: Vec<FileArg>,
    /// Why what it executes cannot be listed.
    pub runs_unknown: Option<String>,
}

impl SimpleCommand {
    /// Static names of the files it reads.
    pub fn reads(&self) -> Vec<String> {
        self.files.iter().filter(|f| f.access.reads()).filter_map(|f| f.path.clone()).collect()
    }
    /// Static names of the files it writes.
    pub fn writes(&self) -> Vec<String> {
        self.files.iter().filter(|f| !f.access.reads()).filter_map(|f| f.path.clone()).collect()
    }
}

/// A read command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub commands: Vec<SimpleCommand>,
    /// The line contains command or process substitution (never auto-allowed).
    pub has_substitution: bool,
    /// Why the line cannot be decided statically (empty: it can).
    pub undecidable: Vec<String>,
    /// Symbolic links the line creates: paths through them are known only at run time.
    pub links: Vec<FileArg>,
    /// The line sets a variable that changes what programs run (`export PATH=…`): no command of
    /// it is allowed by a rule.
    pub env_tampered: bool,
    facts: walk::LineFacts,
    files_seen: usize,
}

impl Parsed {
    pub fn decidable(&self) -> bool {
        self.undecidable.is_empty()
    }
}

/// How a line is read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Managed `hookhost.strictBashRules`.
    pub strict: bool,
    /// The home directory `~` and `$HOME` expand to (unknown: they stay run-time values).
    pub home: Option<String>,
}

/// Stack a line is read with: the parser and the walker recurse once per nesting level, which
/// [`syntax::MAX_NESTING`] and [`walk::MAX_DEPTH`] bound; this leaves a wide margin (tokio's
/// workers have 2 MiB).
const STACK_BYTES: usize = 64 << 20;

/// Stack size for threads that read lines themselves: [`STACK_BYTES`] plus room for what the
/// thread runs before it gets to a line. The daemon's runtime (`hookhost serve`) starts its
/// threads with it, so an event with a Bash rule is read where it is judged instead of being
/// handed to a parser thread and back (two thread wake-ups per event, about 0.06 ms of a round
/// trip on a 2-core VM). Elsewhere (one-shot `dispatch`, an embedder's threads, which judge
/// events on their own stacks) lines go to the parser threads.
pub const THREAD_STACK_BYTES: usize = STACK_BYTES + (4 << 20);

/// Reads a command line (see the module documentation): on this thread when [`STACK_BYTES`]
/// of its stack are left, else on a parser thread (its own large stack). Either way, a fault in
/// the parser (it has panicked on odd input) makes the line undecidable, never a crash.
pub fn analyze(cmd: &str, opts: &Options) -> Parsed {
    let here = || std::panic::catch_unwind(|| read_line(cmd, opts));
    let read = if stacker::remaining_stack().is_some_and(|left| left >= STACK_BYTES) {
        #[cfg(test)]
        READ_HERE.with(|n| n.set(n.get() + 1));
        here()
    } else {
        // No parser thread (resource limits): read it here, the bounds still apply.
        parsers::run(cmd, opts).unwrap_or_else(here)
    };
    read.unwrap_or_else(|_| Parsed {
        undecidable: vec!["the shell parser failed on this command line".into()],
        ..Default::default()
    })
}

#[cfg(test)]
thread_local! {
    /// Lines this thread read itself, without a parser thread (tests).
    static READ_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A line whose reading panics, to test that a fault spoils only its own line.
#[cfg(test)]
const INJECTED_FAULT: &str = "\u{0}hookhost test: the parser faults";

fn read_line(cmd: &str, opts: &Options) -> Parsed {
    #[cfg(test)]
    assert_ne!(cmd, INJECTED_FAULT, "injected parser fault");
    let mut out = Parsed::default();
    match syntax::parse(cmd) {
        Err(why) => out.undecidable.push(why),
        Ok(program) => {
            let mut w = walk::Walker::new(cmd, opts, &mut out, 0);
            w.program(&program, &walk::Cwd::start());
        }
    }
    if out.facts.evaluates && out.facts.assigns {
        out.undecidable.push(
            "arithmetic, subscripts or indirection evaluate variables the line sets (their values can run commands)"
                .into(),
        );
    }
    out
}

/// The threads lines are read on. Starting a thread with a 64 MiB stack for every line, and
/// unmapping that stack after, cost the daemon about 0.28 ms per event on a 2-core VM whenever
/// a Bash rule was in force (the unmap interrupts the other core). A line now goes to an idle
/// parser thread, or a new one when none is idle (so lines are still read in parallel), and
/// the thread waits for the next line afterwards; at most [`MAX_IDLE`] wait.
mod parsers {
    use super::{Options, Parsed, STACK_BYTES, read_line};
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::sync::{Mutex, PoisonError};

    type Answer = std::thread::Result<Parsed>;
    type Job = (String, Options, SyncSender<Answer>);

    /// Parser threads kept waiting for a line.
    const MAX_IDLE: usize = 4;

    /// Parser threads started so far (tests).
    #[cfg(test)]
    pub(super) static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    static IDLE: Mutex<Vec<SyncSender<Job>>> = Mutex::new(Vec::new());

    /// `cmd` read on a parser thread; `None` when no thread could be started.
    pub(super) fn run(cmd: &str, opts: &Options) -> Option<Answer> {
        let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let worker = match idle {
            Some(w) => w,
            None => start()?,
        };
        let (reply, answer) = sync_channel(1);
        // A thread that is gone (it cannot be: each line is read under `catch_unwind`) is a
        // fault of the line, as a panic is; it goes back to the pool only after an answer.
        let gone = || -> Answer { Err(Box::new("the parser thread is gone")) };
        if worker.send((cmd.to_owned(), opts.clone(), reply)).is_err() {
            return Some(gone());
        }
        let Ok(read) = answer.recv() else { return Some(gone()) };
        let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(worker);
        }
        Some(read)
    }

    fn start() -> Option<SyncSender<Job>> {
        let (jobs, rx) = sync_channel::<Job>(1);
        std::thread::Builder::new().name("bash-parse".into()).stack_size(STACK_BYTES).spawn(move || serve(rx)).ok()?;
        #[cfg(test)]
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(jobs)
    }

    /// Reads lines until its sender is dropped (the pool was full when it finished a line).
    fn serve(jobs: Receiver<Job>) {
        for (cmd, opts, reply) in jobs {
            let read = std::panic::catch_unwind(|| read_line(&cmd, &opts));
            let _ = reply.send(read);
        }
    }
}

/// Compatibility entry: the read line, or `None` when it cannot be decided statically.
pub fn parse(cmd: &str, strict: bool) -> Option<Parsed> {
    let opts = Options { strict, home: std::env::var("HOME").ok() };
    let p = analyze(cmd, &opts);
    p.decidable().then_some(p)
}

#[cfg(test)]
mod tests;
