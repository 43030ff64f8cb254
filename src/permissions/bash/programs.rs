//! What known programs do with their words: which words are wrappers around another program
//! (`timeout 5 curl …`), which name files read or written (`sort -o FILE`, `uniq IN OUT`,
//! `dd of=FILE`, `tee`, `cp -r`, `tar -C DIR -c .`), which are shell command strings
//! (`bash -c '…'`, `watch '…'`, `flock -c '…'`) and which are scripts or code run by a
//! shell or an interpreter.
//!
//! The tables err on the side of more files: a value that might be a file name is treated as
//! one (reading `5` in `head -n 5 .env` does no harm), an option value that names a file is
//! never skipped. Anything a table cannot place (a run-time word where an option could be,
//! `env -S`, an unknown option of a wrapper, a program that runs a command it builds itself)
//! is reported as undecidable.

use super::words::{Piece, Word, base_name};

/// How a command uses a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads it (a directory: lists it).
    Read,
    /// Creates, changes or removes it.
    Write,
    /// Reads everything below it; `follow`: through the symlinks it finds.
    ReadTree { follow: bool },
    /// Changes or creates anything below it.
    WriteTree { follow: bool },
}

impl Access {
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadTree { .. })
    }
    pub fn tree(self, follow: bool) -> Access {
        match self {
            Access::Read | Access::ReadTree { .. } => Access::ReadTree { follow },
            Access::Write | Access::WriteTree { .. } => Access::WriteTree { follow },
        }
    }
}

/// Where a file name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Src {
    /// The whole argument at this index.
    Arg(usize),
    /// The static argument at this index from this byte on (`of=FILE`, `--output=FILE`).
    Suffix(usize, usize),
    /// The current directory (`grep -r x` with no file, `tar x`).
    Cwd,
    /// A path computed from the words (`ln -s TARGET LINK`: TARGET relative to LINK's directory).
    Computed(String),
    /// Not known before the command runs (input from `xargs`, a list file, …).
    Unknown(&'static str),
}

/// One file use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub src: Src,
    pub access: Access,
    /// A guess (an unknown program's argument): checked only against files that exist.
    pub guess: bool,
}

fn used(src: Src, access: Access) -> Use {
    Use { src, access, guess: false }
}

/// A program started by another one (`find -exec PROG ARGS {} ;`, `xargs PROG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// Indices of the program and its arguments.
    pub argv: Vec<usize>,
    /// `{}` arguments stand for files below these roots (find).
    pub roots: Vec<Src>,
    /// More arguments are appended at run time (xargs).
    pub appended: bool,
    /// Words equal to this are replaced at run time (xargs -I).
    pub replace: Option<String>,
}

/// What a program does with its arguments.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub uses: Vec<Use>,
    /// Symbolic links it creates (their paths).
    pub links: Vec<Src>,
    /// Arguments that are shell command lines (`sh -c '…'`, `watch '…'`).
    pub shell_strings: Vec<usize>,
    /// Shell scripts read from a file and run (`sh x.sh`, `source f`).
    pub scripts: Vec<Src>,
    /// The program reads a shell script from standard input (`sh`, `bash -s`).
    pub script_from_stdin: bool,
    /// Interpreter code given inline (`python3 -c CODE`, `awk 'PROGRAM'`), for strict mode.
    pub code: Vec<usize>,
    pub execs: Vec<Exec>,
    pub undecidable: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Option scanning
// ---------------------------------------------------------------------------------------------

/// Where an option's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    Next(usize),
    Attached(usize, usize),
}

impl Val {
    pub fn src(self) -> Src {
        match self {
            Val::Next(i) => Src::Arg(i),
            Val::Attached(i, off) => Src::Suffix(i, off),
        }
    }
    pub fn index(self) -> usize {
        match self {
            Val::Next(i) | Val::Attached(i, _) => i,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Opt {
    /// `x` for `-x`, `--name` for long options (as written, before any `=`).
    pub name: String,
    pub value: Option<Val>,
}

/// The result of a getopt-style scan.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub opts: Vec<Opt>,
    pub operands: Vec<usize>,
    /// A run-time word sits where an option could be: what it is cannot be known.
    pub dynamic: bool,
}

impl Scan {
    pub fn has(&self, names: &[&str]) -> bool {
        self.opts.iter().any(|o| names.contains(&o.name.as_str()))
    }
    pub fn values<'a>(&'a self, names: &'a [&'a str]) -> impl Iterator<Item = Val> + 'a {
        self.opts.iter().filter(move |o| names.contains(&o.name.as_str())).filter_map(|o| o.value)
    }
}

/// Scans options: `short_val` lists the short options that take a value, `long_val` the long
/// ones (a unique prefix counts, as GNU getopt allows). `first_operand_stops`: options end at
/// the first operand (POSIX order, and every wrapper).
pub fn scan(args: &[Word], short_val: &str, long_val: &[&str], first_operand_stops: bool) -> Scan {
    let mut s = Scan::default();
    let mut i = 0;
    let mut done = false;
    while i < args.len() {
        let w = &args[i];
        let text = match w.pieces.first() {
            Some(Piece::Lit { text, .. }) => text.clone(),
            _ => String::new(),
        };
        if done || !w.may_be_option() || text == "-" {
            s.operands.push(i);
            if first_operand_stops {
                done = true;
            }
            i += 1;
            continue;
        }
        if !w.is_static() && !text.starts_with("--") && text.len() <= 1 {
            // `$opts`, `-$x`: could be any option, or an operand.
            s.dynamic = true;
            s.operands.push(i);
            i += 1;
            continue;
        }
        let value = w.value().unwrap_or(text.clone());
        if value == "--" {
            done = true;
            i += 1;
            continue;
        }
        if let Some(long) = value.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, _)) => (n, Some(2 + n.len() + 1)),
                None => (long, None),
            };
            let takes = !name.is_empty() && long_val.iter().any(|l| l.starts_with(name));
            let value = match attached {
                Some(off) => Some(Val::Attached(i, off)),
                None if takes && i + 1 < args.len() => {
                    i += 1;
                    Some(Val::Next(i))
                }
                None => None,
            };
            let full = long_val.iter().find(|l| l.starts_with(name)).map_or(name, |l| l);
            s.opts.push(Opt { name: format!("--{full}"), value });
            if !w.is_static() {
                s.dynamic = true;
            }
            i += 1;
            continue;
        }
        // A short cluster: `-abc`, `-fFILE`, `-f FILE`.
        let chars: Vec<(usize, char)> = value.char_indices().skip(1).collect();
        let mut k = 0;
        while k < chars.len() {
            let (off, c) = chars[k];
            if short_val.contains(c) {
                let rest = off + c.len_utf8();
                let v = if rest < value.len() {
                    Some(Val::Attached(i, rest))
                } else if i + 1 < args.len() {
                    i += 1;
                    Some(Val::Next(i))
                } else {
                    None
                };
                s.opts.push(Opt { name: c.to_string(), value: v });
                break;
            }
            s.opts.push(Opt { name: c.to_string(), value: None });
            k += 1;
        }
        if !w.is_static() {
            s.dynamic = true;
        }
        i += 1;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Wrappers
// ---------------------------------------------------------------------------------------------

/// A command's wrapper layers and the program they run.
#[derive(Debug, Clone, Default)]
pub struct Unwrapped {
    /// Index of each wrapper word (outermost first).
    pub layers: Vec<usize>,
    /// Index of the program run; `None`: the wrappers run nothing (`env`, `command -v x`).
    pub program: Option<usize>,
    /// Indices of words run as one shell command line (`watch 'a; b'`, `flock -c '…'`).
    pub shell_string: Vec<usize>,
    /// The wrappers change directory (`env -C DIR`): the program's directory.
    pub chdir: Option<Src>,
    /// A wrapper changes the user (sudo, doas, su, …): never allowed by a rule.
    pub privileged: bool,
    /// A wrapper sets variables that change what runs (`env PATH=…`, `env LD_PRELOAD=…`).
    pub dangerous_env: bool,
    /// Files named by wrapper options (`time -o FILE`, `xargs -a FILE`, `flock FILE`).
    pub uses: Vec<Use>,
    /// xargs: arguments are appended at run time; `-I R` replaces `R`.
    pub appended: bool,
    pub replace: Option<String>,
    /// The wrappers run nothing (`command -v x`, `sudo -l`, `taskset -p PID`).
    pub runs_nothing: bool,
    pub undecidable: Option<String>,
}

/// Wrappers whose option syntax we model: (name, short options with a value, long options with
/// a value, operands before the program).
const WRAPPERS: &[(&str, &str, &[&str], usize)] = &[
    ("timeout", "sk", &["signal", "kill-after"], 1),
    ("nice", "n", &["adjustment"], 0),
    ("nohup", "", &[], 0),
    ("time", "fo", &["format", "output"], 0),
    ("command", "", &[], 0),
    ("builtin", "", &[], 0),
    ("exec", "a", &[], 0),
    ("env", "uCS", &["unset", "chdir", "split-string"], 0),
    ("stdbuf", "ioe", &["input", "output", "error"], 0),
    (
        "xargs",
        "IiadEeLlnPs",
        &[
            "replace",
            "arg-file",
            "delimiter",
            "eof",
            "max-lines",
            "max-args",
            "max-procs",
            "max-chars",
            "process-slot-var",
        ],
        0,
    ),
    ("ionice", "cnpt", &["class", "classdata", "pid", "pgid", "uid"], 0),
    ("setsid", "", &[], 0),
    ("chronic", "", &[], 0),
    ("coproc", "", &[], 0),
    ("eatmydata", "", &[], 0),
    ("nocache", "", &[], 0),
    ("catchsegv", "", &[], 0),
    ("unbuffer", "", &[], 0),
    ("taskset", "", &[], 1),
    ("chrt", "T", &["sched-runtime", "sched-deadline", "sched-period"], 1),
    ("flock", "wEc", &["timeout", "wait", "conflict-exit-code", "command"], 1),
    ("watch", "ndq", &["interval", "differences", "equexit"], 0),
    ("script", "cIOBTE", &["command", "log-in", "log-out", "log-io", "log-timing", "echo", "logging-format"], 0),
    (
        "sudo",
        "ugCDhprtTUc",
        &[
            "user",
            "group",
            "close-from",
            "chdir",
            "host",
            "prompt",
            "role",
            "type",
            "command-timeout",
            "other-user",
            "chroot",
        ],
        0,
    ),
    ("doas", "uC", &[], 0),
    ("pkexec", "", &["user"], 0),
    ("su", "cgGsw", &["command", "group", "supp-group", "shell", "whitelist-environment", "session-command"], 0),
    ("runuser", "cgGsuw", &["command", "group", "supp-group", "shell", "user", "whitelist-environment"], 0),
    ("busybox", "", &[], 0),
];

/// Programs that run a command we do not model: their commands cannot be decided.
const OPAQUE: &[&str] = &[
    "strace",
    "ltrace",
    "valgrind",
    "gdb",
    "lldb",
    "perf",
    "unshare",
    "nsenter",
    "chroot",
    "setpriv",
    "firejail",
    "bwrap",
    "systemd-run",
    "fakeroot",
    "faketime",
    "proxychains",
    "proxychains4",
    "torsocks",
    "tsocks",
    "rlwrap",
    "expect",
    "tmux",
    "screen",
    "at",
    "batch",
    "parallel",
    "dbus-run-session",
    "dbus-launch",
    "xvfb-run",
    "numactl",
    "prlimit",
    "cgexec",
    "caffeinate",
    "sg",
    "newgrp",
    "trickle",
    "entr",
    "sem",
    "cpulimit",
    "daemonize",
    "start-stop-daemon",
    "ssh-agent",
    "sshpass",
    "with-contenv",
    "s6-setuidgid",
    "chpst",
    "setarch",
    "linux32",
    "linux64",
    "nvim",
];

const PRIVILEGED: &[&str] = &["sudo", "doas", "pkexec", "su", "runuser"];

/// Variables that change which program runs or what it loads: set on a command line, the
/// command is never allowed by a rule.
pub fn dangerous_variable(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "IFS",
        "CDPATH",
        "GLOBIGNORE",
        "HOME",
        "PWD",
        "OLDPWD",
        "PROMPT_COMMAND",
        "EDITOR",
        "VISUAL",
        "BROWSER",
        "PAGER",
        "SHELL",
        "TERMINAL",
        "LESSOPEN",
        "LESSCLOSE",
        "HISTFILE",
        "INPUTRC",
        "ZDOTDIR",
        "TMPDIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
    ];
    const PREFIX: &[&str] =
        &["LD_", "DYLD_", "GIT_", "BASH_FUNC_", "PYTHON", "PERL", "RUBY", "NODE_", "NPM_CONFIG_", "GCONV_", "MALLOC_"];
    const SUFFIX: &[&str] = &[
        "_COMMAND", "_PROGRAM", "_OPTIONS", "_OPTS", "PAGER", "EDITOR", "_SHELL", "_ASKPASS", "PATH", "_HOOK", "_HOOKS",
    ];
    EXACT.contains(&name)
        || PREFIX.iter().any(|p| name.starts_with(p))
        || SUFFIX.iter().any(|s| name.ends_with(s))
        || name.starts_with("BASH_")
}

fn assignment_name(w: &Word) -> Option<String> {
    let v = match w.pieces.first() {
        Some(Piece::Lit { text, quoted: false }) => text,
        _ => return None,
    };
    let (k, _) = v.split_once('=')?;
    let ok = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| k.to_string())
}

/// Finds the program behind the wrappers of `words` (`words[start]` is the first word).
pub fn unwrap(words: &[Word]) -> Unwrapped {
    let mut u = Unwrapped::default();
    let mut i = 0;
    loop {
        let Some(w) = words.get(i) else {
            u.program = None;
            return u;
        };
        let Some(value) = w.value() else {
            u.program = Some(i);
            return u;
        };
        let name = base_name(&value);
        if OPAQUE.contains(&name) {
            u.layers.push(i);
            u.undecidable = Some(format!("`{name}` runs a command in a way the permission rules do not model"));
            u.program = None;
            return u;
        }
        let Some((_, short_val, long_val, operands_before)) = WRAPPERS.iter().find(|(n, ..)| *n == name) else {
            u.program = Some(i);
            return u;
        };
        u.layers.push(i);
        if PRIVILEGED.contains(&name) {
            u.privileged = true;
        }
        let rest = &words[i + 1..];
        // Options end at the first operand for every wrapper (their programs take their own).
        let s = scan(rest, short_val, long_val, true);
        let base = i + 1;
        if s.dynamic {
            u.undecidable = Some(format!("a run-time word among `{name}`'s options could be the program it runs"));
            u.program = None;
            return u;
        }
        if let Some(why) = wrapper_options(name, &s, rest, base, &mut u) {
            u.undecidable = Some(why);
            u.program = None;
            return u;
        }
        if u.runs_nothing || !u.shell_string.is_empty() {
            u.program = None;
            return u;
        }
        let mut ops = s.operands.iter().map(|&k| k + base);
        // env: leading NAME=VALUE operands are assignments.
        let mut first = ops.next();
        if name == "env" {
            while let Some(k) = first {
                match assignment_name(&words[k]) {
                    Some(var) => {
                        u.dangerous_env |= dangerous_variable(&var);
                        first = ops.next();
                    }
                    None => break,
                }
            }
        }
        for _ in 0..*operands_before {
            if name == "flock"
                && let Some(k) = first
            {
                u.uses.push(used(Src::Arg(k), Access::Write));
            }
            first = ops.next();
        }
        if name == "watch" && !s.has(&["x", "--exec"]) {
            // watch runs its arguments joined by spaces through `sh -c`.
            u.shell_string = first.into_iter().chain(ops).collect();
            u.program = None;
            return u;
        }
        match first {
            Some(k) => {
                if name == "xargs" {
                    u.appended = true;
                }
                i = k;
            }
            None => {
                // `xargs` alone runs `echo`; `env`, `nice`, `timeout` alone run nothing.
                u.program = None;
                if name == "su" || name == "runuser" || name == "sudo" && s.has(&["s", "i", "--shell", "--login"]) {
                    u.undecidable = Some(format!("`{name}` starts an interactive shell"));
                }
                return u;
            }
        }
    }
}

/// Per-wrapper options; returns why the command cannot be decided, if so.
fn wrapper_options(name: &str, s: &Scan, rest: &[Word], base: usize, u: &mut Unwrapped) -> Option<String> {
    let static_value = |v: Val| -> Option<String> {
        let w = &rest[v.index()];
        let text = w.value()?;
        Some(match v {
            Val::Next(_) => text,
            Val::Attached(_, off) => text.get(off..)?.to_string(),
        })
    };
    let shift = |v: Val| match v {
        Val::Next(k) => Val::Next(k + base),
        Val::Attached(k, off) => Val::Attached(k + base, off),
    };
    match name {
        "env" => {
            if s.has(&["S", "--split-string"]) {
                return Some("`env -S` splits a string into a command at run time".into());
            }
            if let Some(v) = s.values(&["C", "--chdir"]).last() {
                u.chdir = Some(shift(v).src());
            }
            if s.opts.iter().any(|o| {
                !["i", "0", "u", "C", "v", "--ignore-environment", "--null", "--unset", "--chdir", "--debug"]
                    .contains(&o.name.as_str())
                    && !o.name.starts_with("--")
            }) {
                return Some("`env` with an option the permission rules do not model".into());
            }
            None
        }
        "time" => {
            for v in s.values(&["o", "--output"]) {
                u.uses.push(used(shift(v).src(), Access::Write));
            }
            None
        }
        "command" => {
            // `command -v x` prints where x is; it runs nothing.
            u.runs_nothing |= s.has(&["v", "V"]);
            None
        }
        "xargs" => {
            for v in s.values(&["a", "--arg-file"]) {
                u.uses.push(used(shift(v).src(), Access::Read));
            }
            let rep: Vec<Val> = s.values(&["I", "i", "--replace"]).collect();
            if let Some(v) = rep.last() {
                u.replace = Some(static_value(*v).unwrap_or_else(|| "{}".into()));
            } else if s.has(&["i", "--replace"]) {
                u.replace = Some("{}".into());
            }
            None
        }
        "ionice" | "taskset" | "chrt" if s.has(&["p", "--pid", "--pgid", "--uid"]) => {
            u.runs_nothing = true;
            None
        }
        "flock" => {
            if let Some(v) = s.values(&["c", "--command"]).last() {
                u.shell_string = vec![shift(v).index()];
            }
            None
        }
        "script" => {
            if let Some(v) = s.values(&["c", "--command"]).last() {
                u.shell_string = vec![shift(v).index()];
                // The typescript file (first operand) is written.
                if let Some(&k) = s.operands.first() {
                    u.uses.push(used(Src::Arg(k + base), Access::Write));
                }
                return None;
            }
            Some("`script` without `-c` starts an interactive shell".into())
        }
        "su" | "runuser" => {
            if let Some(v) = s.values(&["c", "--command", "--session-command"]).last() {
                u.shell_string = vec![shift(v).index()];
                return None;
            }
            if name == "runuser" && s.has(&["u", "--user"]) {
                return None; // runuser -u USER CMD ARGS
            }
            Some(format!("`{name}` without `-c` starts a shell"))
        }
        "sudo" => {
            if s.has(&["D", "--chdir", "R", "--chroot"]) {
                u.chdir = Some(Src::Unknown("sudo changes directory"));
            }
            if s.has(&["e", "--edit"]) {
                return Some("`sudo -e` edits files as another user".into());
            }
            if s.has(&[
                "l",
                "--list",
                "v",
                "--validate",
                "k",
                "K",
                "--reset-timestamp",
                "--remove-timestamp",
                "V",
                "--version",
                "h",
                "--help",
            ]) && s.operands.is_empty()
            {
                u.runs_nothing = true;
                return None;
            }
            if s.has(&["s", "i", "--shell", "--login"]) && !s.operands.is_empty() {
                return Some("`sudo -s`/`-i` runs its command through a shell".into());
            }
            None
        }
        "doas" => {
            u.runs_nothing |= s.has(&["C"]);
            if s.has(&["s"]) {
                return Some("`doas -s` starts a shell".into());
            }
            None
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Shells and interpreters
// ---------------------------------------------------------------------------------------------

/// Shells whose `-c` strings are read with the bash grammar.
pub const BASH_LIKE: &[&str] = &["bash", "sh", "dash", "ash", "ksh", "mksh", "rbash", "posh", "yash"];
/// Other shells: their command strings cannot be decided.
pub const OTHER_SHELLS: &[&str] = &["zsh", "fish", "csh", "tcsh", "nu", "elvish", "xonsh", "pwsh", "rc", "es"];
/// Interpreters: (name, options whose value is inline code, options with another value).
pub const INTERPRETERS: &[(&str, &str, &str)] = &[
    ("python", "c", "mWXQ"),
    ("perl", "eE", "MmIlCx0dDV"),
    ("ruby", "e", "rIEKCFx0"),
    ("node", "ep", "r"),
    ("nodejs", "ep", "r"),
    ("php", "rBRE", "fcdz"),
    ("lua", "e", "l"),
    ("luajit", "e", "lj"),
    ("tclsh", "", ""),
    ("wish", "", ""),
    ("Rscript", "e", ""),
    ("deno", "", ""),
    ("bun", "e", ""),
    ("awk", "", "vFf"),
    ("gawk", "", "vFfiEl"),
    ("mawk", "", "vFf"),
    ("nawk", "", "vFf"),
    ("busybox-awk", "", "vFf"),
    ("osascript", "e", ""),
    ("powershell", "c", ""),
    ("java", "", "cpD"),
    ("jshell", "", ""),
];

/// The interpreter table entry for a program name (`python3.12` is `python`).
pub fn interpreter(prog: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    INTERPRETERS.iter().find(|(n, ..)| {
        prog == *n
            || prog.strip_prefix(n).is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    })
}

/// How a shell is invoked.
#[derive(Debug, Clone, Default)]
pub struct ShellCall {
    /// `-c STRING`: the argument holding the command line.
    pub command_string: Option<usize>,
    /// The script file operand.
    pub script: Option<usize>,
    /// Reads its script from standard input (`-s`, or no operand).
    pub stdin: bool,
    /// Files sourced at start-up (`--rcfile F`, `--init-file F`).
    pub rcfiles: Vec<usize>,
    pub dynamic: bool,
}

pub fn shell_call(args: &[Word]) -> ShellCall {
    let s = scan(args, "oO", &["rcfile", "init-file"], true);
    let mut c = ShellCall { dynamic: s.dynamic, ..Default::default() };
    c.rcfiles = s.values(&["--rcfile", "--init-file"]).map(Val::index).collect();
    let mut ops = s.operands.iter().copied();
    if s.has(&["c"]) {
        c.command_string = ops.next();
    } else if s.has(&["s"]) {
        c.stdin = true;
    } else {
        match ops.next() {
            Some(k) if args[k].value().as_deref() == Some("-") => c.stdin = true,
            Some(k) => c.script = Some(k),
            None => c.stdin = true,
        }
    }
    c
}

/// An interpreter call: inline code and the script it runs.
#[derive(Debug, Clone, Default)]
pub struct InterpreterCall {
    pub code: Vec<usize>,
    pub script: Option<usize>,
    /// Runs a module or package found at run time (`python3 -m x`, `node -r x`).
    pub module: Option<usize>,
    pub stdin: bool,
    pub dynamic: bool,
}

pub fn interpreter_call(name: &str, args: &[Word]) -> InterpreterCall {
    let Some((n, code_opts, val_opts)) = interpreter(name) else { return InterpreterCall::default() };
    let all_val: String = format!("{code_opts}{val_opts}");
    let long: &[&str] = match *n {
        "node" | "nodejs" => &["eval", "print", "require", "import", "loader", "experimental-loader", "input-type"],
        "deno" | "bun" => &["eval", "config", "import-map", "cwd"],
        _ => &[],
    };
    let s = scan(args, &all_val, long, true);
    let mut c = InterpreterCall { dynamic: s.dynamic, ..Default::default() };
    for o in &s.opts {
        let Some(v) = o.value else { continue };
        let is_code = (o.name.len() == 1 && code_opts.contains(o.name.as_str()))
            || matches!(o.name.as_str(), "--eval" | "--print");
        if is_code {
            c.code.push(v.index());
        } else if matches!(
            (*n, o.name.as_str()),
            ("python", "m")
                | ("node" | "nodejs", "r" | "--require" | "--import" | "--loader" | "--experimental-loader")
                | ("ruby", "r")
                | ("perl", "M" | "m")
        ) {
            c.module = Some(v.index());
        } else if matches!(
            (*n, o.name.as_str()),
            ("php", "f") | ("awk" | "gawk" | "mawk" | "nawk" | "busybox-awk", "f")
        ) {
            c.script = Some(v.index());
        }
    }
    let mut ops = s.operands.iter().copied();
    let is_awk = n.contains("awk");
    if is_awk {
        if c.script.is_none()
            && let Some(k) = ops.next()
        {
            c.code.push(k);
        }
        return c;
    }
    if (*n == "deno" || *n == "bun")
        && let Some(k) = ops.next()
    {
        // `deno run x.ts`, `bun run x.ts`, `bun x.ts`, `deno eval CODE`.
        match args[k].value().as_deref() {
            Some("run") | Some("test") => {
                c.script = ops.next();
            }
            Some("eval") | Some("e") => c.code.extend(ops.next()),
            _ if *n == "bun" => c.script = Some(k),
            _ => c.module = Some(k),
        }
        return c;
    }
    if c.code.is_empty() && c.module.is_none() && c.script.is_none() {
        match ops.next() {
            Some(k) if args[k].value().as_deref() == Some("-") => c.stdin = true,
            Some(k) => c.script = Some(k),
            None => c.stdin = true,
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Files by program
// ---------------------------------------------------------------------------------------------

/// Programs that read their file operands (options with a value listed so that a value is not
/// mistaken for the program's file, and a file is never mistaken for a value).
const READERS: &[(&str, &str)] = &[
    ("cat", ""),
    ("tac", "s"),
    ("nl", "bdfhilnsvw"),
    ("head", "nc"),
    ("tail", "ncs"),
    ("less", "bhjkoOpPtTxyz"),
    ("more", "n"),
    ("most", ""),
    ("wc", ""),
    ("cut", "bcdf"),
    ("paste", "d"),
    ("column", "cstoNRHWEd"),
    ("fold", "w"),
    ("fmt", "wgp"),
    ("pr", "hlwoNSseEiW"),
    ("expand", "t"),
    ("unexpand", "t"),
    ("rev", ""),
    ("tsort", ""),
    ("iconv", "ft"),
    ("zcat", ""),
    ("bzcat", ""),
    ("xzcat", ""),
    ("lzcat", ""),
    ("zstdcat", ""),
    ("zless", ""),
    ("zmore", ""),
    ("look", "t"),
    ("bat", "lpmHrd"),
    ("batcat", "lpmHrd"),
    ("view", ""),
    ("od", "AjNSstw"),
    ("hexdump", "enNs"),
    ("hd", "enNs"),
    ("strings", "nteo"),
    ("base64", "w"),
    ("base32", "w"),
    ("basenc", "w"),
    ("file", "mfeFP"),
    ("md5sum", ""),
    ("sha1sum", ""),
    ("sha224sum", ""),
    ("sha256sum", ""),
    ("sha384sum", ""),
    ("sha512sum", ""),
    ("b2sum", "l"),
    ("cksum", "al"),
    ("sum", ""),
    ("cmp", "inl"),
    ("comm", ""),
    ("join", "aejot12"),
    ("diff", "CUFIxXLSWD"),
    ("sdiff", "oIw"),
    ("diff3", "L"),
    ("source", ""),
    (".", ""),
    ("xxd", "cgloOnsC"),
    ("split", "abCdelnt"),
    ("csplit", "fbn"),
    ("pv", "LNsiBSrRtpeaIW"),
    ("exiftool", ""),
    ("pdftotext", "fl"),
    ("lp", "dn"),
    ("lpr", "P#"),
    ("open", "a"),
    ("xdg-open", ""),
    ("scp", "cFiJloPS"),
    ("mail", "sacb"),
    ("mutt", "sacb"),
    ("gpg", "ro"),
    ("age", "rRio"),
];

/// Programs that read their operands after a leading pattern/script operand, unless the
/// pattern came from an option: (name, options giving the pattern inline, options giving it
/// in a file, other options with a value).
const PATTERN_FIRST: &[(&str, &str, &str, &str)] = &[
    ("grep", "e", "f", "mABCdDm"),
    ("egrep", "e", "f", "mABCdD"),
    ("fgrep", "e", "f", "mABCdD"),
    ("rgrep", "e", "f", "mABCdD"),
    ("zgrep", "e", "f", "mABC"),
    ("rg", "e", "f", "gtTmABCjMdErM"),
    ("ag", "", "p", "ABCGmg"),
    ("ack", "", "", "ABCm"),
    ("jq", "", "f", "L"),
    ("gojq", "", "f", "L"),
    ("yq", "", "", "opI"),
    ("sed", "e", "f", "l"),
];

/// Programs that change their operands.
const WRITERS: &[(&str, &str)] = &[
    ("touch", "dt"),
    ("rm", ""),
    ("rmdir", ""),
    ("unlink", ""),
    ("shred", "nsu"),
    ("truncate", "s"),
    ("mkdir", "mZ"),
    ("mkfifo", "mZ"),
    ("mknod", "mZ"),
    ("tee", ""),
    ("chattr", "pv"),
    ("setfacl", "mMxX"),
    ("gzip", "S"),
    ("gunzip", "S"),
    ("bzip2", ""),
    ("bunzip2", ""),
    ("xz", "STF"),
    ("unxz", ""),
    ("lzma", ""),
    ("zstd", "o"),
    ("unzstd", "o"),
    ("lz4", ""),
    ("brotli", "o"),
    ("dos2unix", ""),
    ("unix2dos", ""),
    ("sponge", ""),
];

/// Editors: read and write their operands.
const EDITORS: &[&str] = &[
    "vi",
    "vim",
    "nvi",
    "nano",
    "emacs",
    "emacsclient",
    "ed",
    "ex",
    "code",
    "codium",
    "subl",
    "micro",
    "pico",
    "joe",
    "kak",
    "hx",
    "helix",
    "mcedit",
    "gedit",
    "kate",
    "jed",
    "mg",
    "zile",
];

/// Programs that neither read nor write the files their arguments name (at most their names
/// or metadata).
const NO_FILES: &[&str] = &[
    "echo", "printf", "true", "false", ":", "test", "[", "pwd", "sleep", "date", "seq", "yes", "expr", "basename",
    "dirname", "realpath", "readlink", "id", "whoami", "groups", "uname", "hostname", "which", "whereis", "type",
    "hash", "kill", "pkill", "pgrep", "wait", "jobs", "fg", "bg", "disown", "exit", "return", "break", "continue",
    "shift", "set", "shopt", "umask", "ulimit", "getopts", "read", "let", "printenv", "tput", "clear", "reset",
    "history", "ls", "dir", "vdir", "tree", "du", "df", "stat", "lsof", "ps", "top", "free", "uptime", "nproc", "tty",
    "stty", "logname", "users", "who", "w", "cal", "factor", "numfmt", "tr", "true", "env", "cd", "pushd", "popd",
    "dirs", "mktemp", "getconf", "locale", "man", "info", "help", "apropos", "whatis", "sync", "nproc", "arch", "bc",
    "dc", "units", "ping", "nslookup", "dig", "host",
];

/// Options with which a program runs a command line it is given (`ssh -o ProxyCommand=…`,
/// `git -c core.pager=…`, `vim -c '!…'`): what runs cannot be decided.
fn runs_command_from_arguments(prog: &str, args: &[Word]) -> Option<String> {
    let vals: Vec<String> = args.iter().map(|w| w.value().unwrap_or_else(|| w.source.clone())).collect();
    let lower: Vec<String> = vals.iter().map(|v| v.to_ascii_lowercase()).collect();
    let any = |f: &dyn Fn(&str) -> bool| lower.iter().any(|v| f(v));
    let why = match prog {
        "ssh" | "scp" | "sftp" | "autossh" => {
            any(&|v| v.contains("proxycommand") || v.contains("localcommand") || v.contains("knownhostscommand"))
                .then_some("an ssh option that runs a local command")
        }
        "git" => any(&|v| {
            [
                "core.pager",
                "core.sshcommand",
                "core.editor",
                "core.fsmonitor",
                "core.hookspath",
                "core.askpass",
                "diff.external",
                "credential.helper",
                "sequence.editor",
                "gpg.program",
                "pager.",
                "alias.",
                "filter.",
                "uploadpack.",
                "receivepack.",
                "--upload-pack",
                "--receive-pack",
                "--exec=",
                "ext::",
                "--config-env",
                "difftool.",
                "mergetool.",
                "remote.",
                "url.",
            ]
            .iter()
            .any(|k| v.contains(k))
        })
        .then_some("a git option or URL that runs a command"),
        "vi" | "vim" | "nvim" | "ex" | "view" | "gvim" => {
            any(&|v| v.contains('!') || v.contains("system(") || v.contains(":sh") || v.starts_with("+"))
                .then_some("an editor command that runs a shell command")
        }
        "less" | "more" | "most" => {
            any(&|v| v.starts_with('+') && v.contains('!')).then_some("a pager command that runs a shell command")
        }
        "man" => any(&|v| v == "-p" || v.starts_with("--pager") || v.starts_with("-h") || v == "--html")
            .then_some("man runs a pager or browser named in its arguments"),
        "npm" | "pnpm" | "yarn" | "npx" | "bunx" => any(&|v| {
            v == "exec" || v == "x" || v == "dlx" || v.starts_with("--script-shell") || v.starts_with("--shell")
        })
        .then_some("runs a package's command"),
        _ => None,
    };
    why.map(|w| format!("`{prog}`: {w}"))
}

/// What `prog` (a base name) does with `args` (the words after it).
pub fn effects(prog: &str, args: &[Word]) -> Effects {
    let mut e = effects_of(prog, args);
    if e.undecidable.is_none() {
        e.undecidable = runs_command_from_arguments(prog, args);
    }
    e
}

fn effects_of(prog: &str, args: &[Word]) -> Effects {
    let mut e = Effects::default();
    let operands_read = |e: &mut Effects, s: &Scan| {
        for &k in &s.operands {
            e.uses.push(used(Src::Arg(k), Access::Read));
        }
    };
    // Long `--opt=VALUE` values of readers may name files (`--files0-from=F`).
    let long_values_read = |e: &mut Effects, s: &Scan| {
        for o in &s.opts {
            if o.name.starts_with("--")
                && let Some(v @ Val::Attached(..)) = o.value
            {
                e.uses.push(used(v.src(), Access::Read));
            }
        }
    };
    if let Some((_, vals)) = READERS.iter().find(|(n, _)| *n == prog) {
        let s = scan(args, vals, &["files0-from", "output", "to"], false);
        dynamic_operands(&mut e, &s, args, Access::Read);
        operands_read(&mut e, &s);
        long_values_read(&mut e, &s);
        match prog {
            "source" | "." => {
                // `source FILE ARGS…`: only the first operand is the script.
                e.uses.clear();
                if let Some(&k) = s.operands.first() {
                    e.uses.push(used(Src::Arg(k), Access::Read));
                    e.scripts.push(Src::Arg(k));
                } else {
                    e.undecidable = Some(format!("`{prog}` without a file"));
                }
            }
            "xxd" => {
                // `xxd IN OUT`, `xxd -r IN OUT`: the second operand is written.
                if let Some(&k) = s.operands.get(1) {
                    e.uses.push(used(Src::Arg(k), Access::Write));
                }
            }
            "split" | "csplit" => {
                if let Some(&k) = s.operands.get(1) {
                    e.uses.push(used(Src::Arg(k), Access::Write));
                }
            }
            "diff" | "diff3" | "sdiff" if s.has(&["r", "--recursive"]) => {
                for &k in &s.operands {
                    e.uses.push(used(Src::Arg(k), Access::ReadTree { follow: true }));
                }
            }
            "iconv" | "sdiff" | "gpg" | "age" => {
                for v in s.values(&["o", "--output", "--to"]) {
                    e.uses.push(used(v.src(), Access::Write));
                }
            }
            "scp" => scp_like(&mut e, &s, args, s.has(&["r"])),
            _ => {}
        }
        return e;
    }
    if let Some((_, inline, in_file, vals)) = PATTERN_FIRST.iter().find(|(n, ..)| *n == prog) {
        let long: &[&str] = match prog {
            "rg" => &[
                "regexp",
                "file",
                "glob",
                "iglob",
                "type",
                "type-not",
                "type-add",
                "max-count",
                "after-context",
                "before-context",
                "context",
                "threads",
                "max-columns",
                "max-depth",
                "encoding",
                "replace",
                "ignore-file",
                "pre",
                "pre-glob",
                "sort",
                "sortr",
                "color",
                "colors",
                "context-separator",
                "field-context-separator",
                "field-match-separator",
                "path-separator",
                "dfa-size-limit",
                "regex-size-limit",
                "max-filesize",
                "engine",
                "hostname-bin",
                "hyperlink-format",
            ],
            "jq" | "gojq" => &["arg", "argjson", "slurpfile", "rawfile", "indent", "from-file", "args", "jsonargs"],
            "sed" => &["expression", "file", "line-length"],
            _ => &[
                "regexp",
                "file",
                "max-count",
                "after-context",
                "before-context",
                "context",
                "directories",
                "devices",
                "include",
                "exclude",
                "exclude-dir",
                "exclude-from",
                "label",
                "binary-files",
                "color",
                "colour",
            ],
        };
        let all = format!("{inline}{in_file}{vals}");
        let s = scan(args, &all, long, false);
        let from_opt = s.opts.iter().any(|o| {
            (o.name.len() == 1 && (inline.contains(o.name.as_str()) || in_file.contains(o.name.as_str())))
                || matches!(o.name.as_str(), "--regexp" | "--file" | "--expression" | "--from-file")
        });
        for o in &s.opts {
            let file_opt = (o.name.len() == 1 && in_file.contains(o.name.as_str()))
                || matches!(o.name.as_str(), "--file" | "--from-file" | "--exclude-from" | "--ignore-file");
            if file_opt && let Some(v) = o.value {
                e.uses.push(used(v.src(), Access::Read));
            }
        }
        if prog == "jq" || prog == "gojq" {
            // `--slurpfile NAME FILE`, `--rawfile NAME FILE`: the file is the word after NAME.
            for o in &s.opts {
                if matches!(o.name.as_str(), "--slurpfile" | "--rawfile")
                    && let Some(v) = o.value
                {
                    e.uses.push(used(Src::Arg(v.index() + 1), Access::Read));
                }
            }
        }
        if prog == "rg" && s.has(&["--pre"]) {
            e.undecidable = Some("`rg --pre` runs a program named at run time on every file".into());
        }
        let mut operands = s.operands.clone();
        let list_files = prog == "rg" && s.has(&["--files", "--type-list"]);
        let pattern = if from_opt || list_files || operands.is_empty() { None } else { Some(operands.remove(0)) };
        if prog == "sed" {
            let script = if from_opt {
                s.values(&["e", "--expression"]).map(Val::index).collect()
            } else {
                pattern.into_iter().collect::<Vec<_>>()
            };
            sed_scripts(&mut e, args, &script);
        }
        let recursive = match prog {
            "rg" | "ag" | "ack" | "rgrep" => true,
            "grep" | "egrep" | "fgrep" | "zgrep" => {
                s.has(&["r", "R", "--recursive", "--dereference-recursive"])
                    || s.opts.iter().any(|o| {
                        matches!(o.name.as_str(), "d" | "--directories")
                            && o.value.is_some_and(|v| {
                                value_of(args, v).as_deref() != Some("skip")
                                    && value_of(args, v).as_deref() != Some("read")
                            })
                    })
            }
            _ => false,
        };
        let follow = match prog {
            "rg" => s.has(&["L", "--follow"]),
            "grep" | "egrep" | "fgrep" | "rgrep" => s.has(&["R", "--dereference-recursive"]),
            "ag" => s.has(&["f", "--follow"]),
            _ => false,
        };
        let access = if recursive { Access::ReadTree { follow } } else { Access::Read };
        if s.dynamic {
            // A run-time option could have been the pattern option: the pattern could be a file.
            if let Some(p) = pattern {
                e.uses.push(used(Src::Arg(p), access));
            }
        }
        dynamic_operands(&mut e, &s, args, access);
        for &k in &operands {
            e.uses.push(used(Src::Arg(k), access));
        }
        if recursive && operands.is_empty() {
            e.uses.push(used(Src::Cwd, access));
        }
        if prog == "sed" && s.has(&["i", "--in-place"]) {
            for &k in &operands {
                e.uses.push(used(Src::Arg(k), Access::Write));
            }
        }
        if prog == "yq" && s.has(&["i", "--inplace"]) {
            for &k in &operands {
                e.uses.push(used(Src::Arg(k), Access::Write));
            }
        }
        return e;
    }
    if let Some((_, vals)) = WRITERS.iter().find(|(n, _)| *n == prog) {
        let s = scan(args, vals, &["reference", "size", "suffix"], false);
        dynamic_operands(&mut e, &s, args, Access::Write);
        let recursive = s.has(&["r", "R", "--recursive"]);
        for &k in &s.operands {
            let a = if recursive && prog == "rm" { Access::WriteTree { follow: false } } else { Access::Write };
            e.uses.push(used(Src::Arg(k), a));
            if matches!(
                prog,
                "gzip"
                    | "gunzip"
                    | "bzip2"
                    | "bunzip2"
                    | "xz"
                    | "unxz"
                    | "lzma"
                    | "zstd"
                    | "lz4"
                    | "brotli"
                    | "sponge"
                    | "dos2unix"
                    | "unix2dos"
            ) {
                e.uses.push(used(Src::Arg(k), Access::Read));
            }
        }
        for v in s.values(&["r", "--reference"]) {
            e.uses.push(used(v.src(), Access::Read));
        }
        if prog == "zstd" || prog == "brotli" {
            for v in s.values(&["o"]) {
                e.uses.push(used(v.src(), Access::Write));
            }
        }
        return e;
    }
    if EDITORS.contains(&prog) {
        let s = scan(args, "", &[], false);
        dynamic_operands(&mut e, &s, args, Access::Write);
        for &k in &s.operands {
            // `+12` line numbers and `-c cmd` commands are harmless as extra files.
            e.uses.push(used(Src::Arg(k), Access::Read));
            e.uses.push(used(Src::Arg(k), Access::Write));
        }
        return e;
    }
    match prog {
        "sort" | "shuf" | "uniq" => {
            let vals = match prog {
                "sort" => "kotTS",
                "shuf" => "inoe",
                _ => "fsw",
            };
            let s = scan(
                args,
                vals,
                &[
                    "output",
                    "key",
                    "field-separator",
                    "temporary-directory",
                    "buffer-size",
                    "files0-from",
                    "random-source",
                    "compress-program",
                    "head-count",
                    "input-range",
                    "skip-fields",
                    "skip-chars",
                    "check-chars",
                    "parallel",
                    "batch-size",
                ],
                false,
            );
            dynamic_operands(&mut e, &s, args, Access::Read);
            for v in s.values(&["o", "--output"]) {
                e.uses.push(used(v.src(), Access::Write));
            }
            for v in s.values(&["--files0-from", "--random-source"]) {
                e.uses.push(used(v.src(), Access::Read));
            }
            if s.has(&["--compress-program"]) {
                e.undecidable = Some("`sort --compress-program` runs a program".into());
            }
            if prog == "uniq" {
                // `uniq [IN [OUT]]`.
                if let Some(&k) = s.operands.first() {
                    e.uses.push(used(Src::Arg(k), Access::Read));
                }
                if let Some(&k) = s.operands.get(1) {
                    e.uses.push(used(Src::Arg(k), Access::Write));
                }
                if s.dynamic {
                    for &k in &s.operands {
                        e.uses.push(used(Src::Arg(k), Access::Write));
                    }
                }
            } else {
                operands_read(&mut e, &s);
            }
        }
        "dd" => {
            for (k, w) in args.iter().enumerate() {
                let v = w.value();
                match v.as_deref() {
                    Some(t) if t.starts_with("if=") => e.uses.push(used(Src::Suffix(k, 3), Access::Read)),
                    Some(t) if t.starts_with("of=") => e.uses.push(used(Src::Suffix(k, 3), Access::Write)),
                    None if w.source.contains("if=") => {
                        e.uses.push(used(Src::Unknown("a run-time dd operand"), Access::Read))
                    }
                    None if w.source.contains("of=") => {
                        e.uses.push(used(Src::Unknown("a run-time dd operand"), Access::Write))
                    }
                    None => {
                        e.uses.push(used(Src::Unknown("a run-time dd operand"), Access::Read));
                        e.uses.push(used(Src::Unknown("a run-time dd operand"), Access::Write));
                    }
                    _ => {}
                }
            }
        }
        "cp" | "mv" | "install" | "ln" | "link" | "rsync" => copy_like(&mut e, prog, args),
        "chmod" | "chown" | "chgrp" => {
            let s = scan(args, "", &["reference", "from"], false);
            dynamic_operands(&mut e, &s, args, Access::Write);
            let recursive = s.has(&["R", "--recursive"]);
            let mut ops = s.operands.iter();
            // The mode/owner operand, unless --reference gives it.
            if !s.has(&["--reference"]) {
                ops.next();
            }
            for &k in ops {
                let a = if recursive { Access::WriteTree { follow: s.has(&["L"]) } } else { Access::Write };
                e.uses.push(used(Src::Arg(k), a));
            }
        }
        "tar" | "bsdtar" | "gtar" => tar(&mut e, args),
        "zip" => {
            let s = scan(args, "bnitxDIO", &["temp-path", "exclude", "include"], false);
            dynamic_operands(&mut e, &s, args, Access::Read);
            let mut ops = s.operands.iter();
            if let Some(&k) = ops.next() {
                e.uses.push(used(Src::Arg(k), Access::Write));
                e.uses.push(used(Src::Arg(k), Access::Read));
            }
            let a = if s.has(&["r", "R", "--recurse-paths"]) {
                Access::ReadTree { follow: !s.has(&["y"]) }
            } else {
                Access::Read
            };
            for &k in ops {
                e.uses.push(used(Src::Arg(k), a));
            }
            if s.has(&["@"]) {
                e.uses.push(used(Src::Unknown("file names read from standard input"), Access::Read));
            }
        }
        "unzip" | "7z" | "7za" | "unrar" | "cabextract" => {
            let s = scan(args, "dxp", &[], false);
            dynamic_operands(&mut e, &s, args, Access::Read);
            if let Some(&k) = s.operands.first() {
                e.uses.push(used(Src::Arg(k), Access::Read));
            }
            let list = s.has(&["l", "t", "v", "Z", "z"])
                || args.first().and_then(Word::value).is_some_and(|v| v == "l" || v == "t");
            if !list {
                match s.values(&["d"]).last() {
                    Some(v) => e.uses.push(used(v.src(), Access::WriteTree { follow: true })),
                    None => e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true })),
                }
            }
        }
        "cpio" => {
            let s = scan(args, "EFHIMORs", &["file", "pattern-file", "directory"], false);
            if s.has(&["i", "--extract", "p", "--pass-through"]) {
                e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true }));
            }
            if s.has(&["o", "--create", "p", "--pass-through"]) {
                e.uses.push(used(Src::Unknown("file names read from standard input"), Access::Read));
            }
            for v in s.values(&["F", "O", "--file"]) {
                e.uses.push(used(v.src(), Access::Write));
            }
            for v in s.values(&["I", "E", "--pattern-file"]) {
                e.uses.push(used(v.src(), Access::Read));
            }
            for &k in &s.operands {
                e.uses.push(used(Src::Arg(k), Access::WriteTree { follow: true }));
            }
        }
        "patch" => {
            let s = scan(
                args,
                "BdDFgiopruVYz",
                &["input", "output", "directory", "reject-file", "strip", "backup-if-mismatch"],
                false,
            );
            for v in s.values(&["i", "--input"]) {
                e.uses.push(used(v.src(), Access::Read));
            }
            for v in s.values(&["o", "--output", "r", "--reject-file"]) {
                e.uses.push(used(v.src(), Access::Write));
            }
            match s.operands.first() {
                Some(&k) => e.uses.push(used(Src::Arg(k), Access::Write)),
                None => match s.values(&["d", "--directory"]).last() {
                    Some(v) => e.uses.push(used(v.src(), Access::WriteTree { follow: true })),
                    None => e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true })),
                },
            }
            if let Some(&k) = s.operands.get(1) {
                e.uses.push(used(Src::Arg(k), Access::Read));
            }
        }
        "find" => find(&mut e, args),
        "curl" => {
            let s = scan(
                args,
                "oKdTFHeEruxXAbcDmyYzw",
                &[
                    "output",
                    "config",
                    "data",
                    "data-binary",
                    "data-ascii",
                    "data-raw",
                    "data-urlencode",
                    "upload-file",
                    "form",
                    "cookie",
                    "cookie-jar",
                    "dump-header",
                    "cert",
                    "key",
                    "cacert",
                    "netrc-file",
                    "trace",
                    "trace-ascii",
                    "stderr",
                    "output-dir",
                    "json",
                    "write-out",
                    "url-query",
                    "header",
                    "proxy",
                    "user",
                    "request",
                    "referer",
                    "user-agent",
                    "max-time",
                    "connect-timeout",
                    "retry",
                    "range",
                    "continue-at",
                ],
                false,
            );
            for o in &s.opts {
                let Some(v) = o.value else { continue };
                match o.name.as_str() {
                    "o" | "--output" | "c" | "--cookie-jar" | "D" | "--dump-header" | "--trace" | "--trace-ascii"
                    | "--stderr" => e.uses.push(used(v.src(), Access::Write)),
                    "--output-dir" => e.uses.push(used(v.src(), Access::WriteTree { follow: true })),
                    "K" | "--config" | "T" | "--upload-file" | "E" | "--cert" | "--key" | "--cacert"
                    | "--netrc-file" => e.uses.push(used(v.src(), Access::Read)),
                    "d" | "--data" | "--data-binary" | "--data-ascii" | "--data-urlencode" | "F" | "--form" | "b"
                    | "--cookie" | "--json" | "H" | "--header" | "--url-query" => {
                        // `@FILE` (also `name=@FILE`, `name@FILE`, `<FILE` in forms) reads FILE.
                        if let Some(t) = value_of(args, v) {
                            if let Some(p) = t.find(['@', '<']) {
                                let off = match v {
                                    Val::Attached(_, o) => o,
                                    Val::Next(_) => 0,
                                };
                                e.uses.push(used(Src::Suffix(v.index(), off + p + 1), Access::Read));
                            }
                        } else {
                            e.uses.push(used(Src::Unknown("a run-time curl data argument"), Access::Read));
                        }
                    }
                    _ => {}
                }
            }
            if s.has(&["O", "--remote-name", "--remote-name-all", "J"]) {
                e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true }));
            }
        }
        "wget" => {
            let s = scan(
                args,
                "OoaiPeUTtwQlABDIX",
                &[
                    "output-document",
                    "output-file",
                    "append-output",
                    "input-file",
                    "directory-prefix",
                    "post-file",
                    "body-file",
                    "load-cookies",
                    "save-cookies",
                    "certificate",
                    "private-key",
                    "ca-certificate",
                    "config",
                    "execute",
                ],
                false,
            );
            let mut explicit_out = false;
            for o in &s.opts {
                let Some(v) = o.value else { continue };
                match o.name.as_str() {
                    "O" | "--output-document" | "o" | "--output-file" | "a" | "--append-output" | "--save-cookies" => {
                        explicit_out |= matches!(o.name.as_str(), "O" | "--output-document");
                        e.uses.push(used(v.src(), Access::Write))
                    }
                    "P" | "--directory-prefix" => e.uses.push(used(v.src(), Access::WriteTree { follow: true })),
                    "i" | "--input-file" | "--post-file" | "--body-file" | "--load-cookies" | "--certificate"
                    | "--private-key" | "--ca-certificate" | "--config" => e.uses.push(used(v.src(), Access::Read)),
                    _ => {}
                }
            }
            if !explicit_out && !s.has(&["P", "--directory-prefix"]) {
                e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true }));
            }
        }
        "openssl" => {
            for (k, w) in args.iter().enumerate() {
                match w.value().as_deref() {
                    Some(
                        "-in" | "-inkey" | "-key" | "-CAfile" | "-cert" | "-kfile" | "-signkey" | "-infiles"
                        | "-config",
                    ) => e.uses.push(used(Src::Arg(k + 1), Access::Read)),
                    Some("-out") => e.uses.push(used(Src::Arg(k + 1), Access::Write)),
                    Some(t) if t.starts_with("file:") => e.uses.push(used(Src::Suffix(k, 5), Access::Read)),
                    Some("-pass" | "-passin" | "-passout") => {
                        if let Some(t) = args.get(k + 1).and_then(Word::value)
                            && t.starts_with("file:")
                        {
                            e.uses.push(used(Src::Suffix(k + 1, 5), Access::Read));
                        }
                    }
                    _ => {}
                }
            }
        }
        "ssh" | "sftp" => {
            let s = scan(args, "BbcDEeFIiJLlmOoPpQRSWw", &[], true);
            for v in s.values(&["i", "F"]) {
                e.uses.push(used(v.src(), Access::Read));
            }
            for v in s.values(&["E"]) {
                e.uses.push(used(v.src(), Access::Write));
            }
        }
        _ => {
            if let Some(c) = BASH_LIKE.iter().chain(OTHER_SHELLS).find(|s| **s == prog) {
                let call = shell_call(args);
                if call.dynamic {
                    e.undecidable = Some(format!("a run-time word among `{c}`'s options"));
                }
                if let Some(k) = call.command_string {
                    if BASH_LIKE.contains(c) {
                        e.shell_strings.push(k);
                    } else {
                        e.undecidable =
                            Some(format!("`{c} -c` runs a command in a language the permission rules do not read"));
                    }
                }
                if let Some(k) = call.script {
                    e.uses.push(used(Src::Arg(k), Access::Read));
                    e.scripts.push(Src::Arg(k));
                }
                for k in call.rcfiles {
                    e.uses.push(used(Src::Arg(k), Access::Read));
                    e.scripts.push(Src::Arg(k));
                }
                e.script_from_stdin = call.stdin;
                return e;
            }
            if interpreter(prog).is_some() {
                let call = interpreter_call(prog, args);
                e.code = call.code;
                if let Some(k) = call.script {
                    e.uses.push(used(Src::Arg(k), Access::Read));
                }
                // Every other operand might be a file the code reads or writes.
                let s = scan(args, "", &[], false);
                for &k in &s.operands {
                    if Some(k) != call.script && !e.code.contains(&k) {
                        e.uses.push(Use { src: Src::Arg(k), access: Access::Read, guess: true });
                        e.uses.push(Use { src: Src::Arg(k), access: Access::Write, guess: true });
                    }
                }
                return e;
            }
            if NO_FILES.contains(&prog) {
                return e;
            }
            // An unknown program: an argument naming an existing protected file is assumed to
            // be read and written (`git diff .env`, `./tool secrets/key`).
            for (k, w) in args.iter().enumerate() {
                if w.is_static() {
                    let src = match w
                        .value()
                        .and_then(|v| v.strip_prefix("--").and_then(|l| l.split_once('=')).map(|(n, _)| n.len() + 3))
                    {
                        Some(off) => Src::Suffix(k, off),
                        None => Src::Arg(k),
                    };
                    e.uses.push(Use { src: src.clone(), access: Access::Read, guess: true });
                    e.uses.push(Use { src, access: Access::Write, guess: true });
                }
            }
        }
    }
    e
}

/// The static text of an option value.
pub fn value_of(args: &[Word], v: Val) -> Option<String> {
    let t = args.get(v.index())?.value()?;
    match v {
        Val::Next(_) => Some(t),
        Val::Attached(_, off) => t.get(off..).map(str::to_string),
    }
}

/// Run-time words where options could be: every operand might also be anything else.
fn dynamic_operands(e: &mut Effects, s: &Scan, args: &[Word], access: Access) {
    if s.dynamic {
        for (k, w) in args.iter().enumerate() {
            if !w.is_static() {
                e.uses.push(used(Src::Arg(k), access));
                e.uses.push(used(Src::Arg(k), access.tree(true)));
            }
        }
    }
}

fn scp_like(e: &mut Effects, s: &Scan, args: &[Word], recursive: bool) {
    // Remote operands (`host:path`) are not local files.
    let local = |k: usize| args[k].value().is_none_or(|v| !v.contains(':') || v.starts_with('/') || v.starts_with('.'));
    let ops: Vec<usize> = s.operands.iter().copied().filter(|&k| local(k)).collect();
    e.uses.retain(|u| !matches!(u.src, Src::Arg(k) if !local(k)));
    if let Some((&dest, srcs)) = ops.split_last() {
        let follow = true;
        for &k in srcs {
            e.uses.push(used(Src::Arg(k), if recursive { Access::ReadTree { follow } } else { Access::Read }));
        }
        e.uses.push(used(Src::Arg(dest), if recursive { Access::WriteTree { follow } } else { Access::Write }));
    }
}

fn copy_like(e: &mut Effects, prog: &str, args: &[Word]) {
    let (short, long): (&str, &[&str]) = match prog {
        "install" => {
            ("tSmogZ", &["target-directory", "suffix", "mode", "owner", "group", "context", "backup", "strip-program"])
        }
        "rsync" => (
            "efTB",
            &[
                "rsh",
                "rsync-path",
                "exclude",
                "include",
                "exclude-from",
                "include-from",
                "files-from",
                "filter",
                "temp-dir",
                "backup-dir",
                "suffix",
                "log-file",
                "password-file",
                "chmod",
                "chown",
                "timeout",
                "bwlimit",
                "compare-dest",
                "copy-dest",
                "link-dest",
                "partial-dir",
                "max-size",
                "min-size",
                "block-size",
                "checksum-choice",
                "compress-choice",
                "out-format",
                "info",
                "debug",
                "port",
                "sockopts",
                "write-batch",
                "read-batch",
                "only-write-batch",
                "usermap",
                "groupmap",
                "iconv",
                "outbuf",
                "protocol",
                "modify-window",
                "max-delete",
                "max-alloc",
                "stop-after",
                "stop-at",
                "contimeout",
                "address",
            ],
        ),
        _ => (
            "tS",
            &[
                "target-directory",
                "suffix",
                "backup",
                "reflink",
                "sparse",
                "preserve",
                "no-preserve",
                "context",
                "update",
            ],
        ),
    };
    let s = scan(args, short, long, false);
    dynamic_operands(e, &s, args, Access::Read);
    dynamic_operands(e, &s, args, Access::Write);
    if prog == "rsync" {
        if s.has(&["e", "--rsh", "--rsync-path"]) {
            e.undecidable = Some("`rsync -e`/`--rsync-path` runs a program".into());
        }
        for v in s.values(&["--exclude-from", "--include-from", "--files-from", "--password-file", "--read-batch"]) {
            e.uses.push(used(v.src(), Access::Read));
        }
        for v in s.values(&["--log-file", "--write-batch", "--only-write-batch"]) {
            e.uses.push(used(v.src(), Access::Write));
        }
        let recursive = s.has(&["r", "a", "--recursive", "--archive"]);
        let follow = s.has(&["L", "--copy-links", "k", "K"]);
        let mut tmp = Effects::default();
        scp_like(&mut tmp, &s, args, recursive);
        for mut u in tmp.uses {
            if let Access::ReadTree { .. } = u.access {
                u.access = Access::ReadTree { follow };
            }
            e.uses.push(u);
        }
        return;
    }
    let recursive = s.has(&["r", "R", "a", "--recursive", "--archive"]) && prog != "ln";
    let follow = s.has(&["L", "--dereference", "H"]);
    let symbolic = prog == "ln" && s.has(&["s", "--symbolic"]) || prog == "cp" && s.has(&["s", "--symbolic-link"]);
    let target_dir: Option<Val> = s.values(&["t", "--target-directory"]).last();
    let (srcs, dest): (Vec<usize>, Option<Src>) = match target_dir {
        Some(v) => (s.operands.clone(), Some(v.src())),
        None if prog == "ln" && s.operands.len() == 1 => (s.operands.clone(), Some(Src::Cwd)),
        None if prog == "install" && s.has(&["d", "--directory"]) => (Vec::new(), None),
        None => match s.operands.split_last() {
            Some((&d, rest)) => (rest.to_vec(), Some(Src::Arg(d))),
            None => (Vec::new(), None),
        },
    };
    if prog == "install" && s.has(&["d", "--directory"]) {
        for &k in &s.operands {
            e.uses.push(used(Src::Arg(k), Access::Write));
        }
        return;
    }
    for &k in &srcs {
        let src = if symbolic {
            link_target(args, k, dest.as_ref(), srcs.len() > 1 || target_dir.is_some())
        } else {
            Src::Arg(k)
        };
        e.uses.push(used(src.clone(), if recursive { Access::ReadTree { follow } } else { Access::Read }));
        if prog == "mv" || prog == "ln" || prog == "link" {
            // mv removes its sources; a link to a file is a second way to write it.
            e.uses.push(used(
                src,
                if recursive || prog == "mv" { Access::WriteTree { follow: false } } else { Access::Write },
            ));
        }
    }
    if let Some(d) = dest {
        e.uses.push(used(d.clone(), if recursive { Access::WriteTree { follow: true } } else { Access::Write }));
        if symbolic {
            e.links.push(d.clone());
            // `ln -s T DIR/`: the link is DIR/basename(T).
            for &k in &srcs {
                if let (Some(t), Src::Arg(dk)) = (args[k].value(), &d)
                    && let Some(dv) = args[*dk].value()
                {
                    e.links.push(Src::Computed(format!(
                        "{}/{}",
                        dv.trim_end_matches('/'),
                        base_name(t.trim_end_matches('/'))
                    )));
                }
            }
        }
    }
}

/// `ln -s TARGET LINK`: a relative TARGET is relative to LINK's directory.
fn link_target(args: &[Word], k: usize, dest: Option<&Src>, dest_is_dir: bool) -> Src {
    let Some(t) = args[k].value() else { return Src::Unknown("a run-time symlink target") };
    if t.starts_with('/') {
        return Src::Arg(k);
    }
    let dir = match dest {
        Some(Src::Arg(d)) => match args[*d].value() {
            Some(dv) if dest_is_dir || dv.ends_with('/') => dv.trim_end_matches('/').to_string(),
            Some(dv) => match dv.rfind('/') {
                Some(i) => dv[..i].to_string(),
                None => ".".to_string(),
            },
            None => return Src::Unknown("a run-time symlink path"),
        },
        Some(Src::Cwd) | None => ".".to_string(),
        Some(Src::Suffix(d, off)) => match args[*d].value().and_then(|v| v.get(*off..).map(str::to_string)) {
            Some(dv) => dv,
            None => return Src::Unknown("a run-time symlink directory"),
        },
        Some(_) => return Src::Unknown("a run-time symlink directory"),
    };
    // The link may also be a directory that exists (`ln -s t existing_dir` puts it inside):
    // both readings are checked by the caller through the plain argument too.
    Src::Computed(format!("{dir}/{t}"))
}

fn tar(e: &mut Effects, args: &[Word]) {
    // Old style: `tar czf out.tgz dir` (first word is a cluster of letters without `-`).
    let mut words: Vec<Word> = args.to_vec();
    if let Some(first) = words.first().and_then(Word::value)
        && !first.starts_with('-')
        && !first.is_empty()
        && first.chars().all(|c| c.is_ascii_alphabetic())
    {
        words[0] = Word::literal(&format!("-{first}"));
    }
    let s = scan(
        &words,
        "fCTXbgHIKLNV",
        &[
            "file",
            "directory",
            "files-from",
            "exclude-from",
            "blocking-factor",
            "listed-incremental",
            "format",
            "use-compress-program",
            "to-command",
            "info-script",
            "new-volume-script",
            "exclude",
            "transform",
            "xform",
            "owner",
            "group",
            "mode",
            "mtime",
            "newer",
            "after-date",
            "label",
            "tape-length",
            "volno-file",
            "rsh-command",
            "checkpoint-action",
            "index-file",
        ],
        false,
    );
    if s.has(&[
        "I",
        "--use-compress-program",
        "--to-command",
        "--info-script",
        "--new-volume-script",
        "F",
        "--rsh-command",
        "--checkpoint-action",
    ]) {
        e.undecidable = Some("`tar` with an option that runs a program".into());
    }
    let create = s.has(&["c", "r", "u", "A", "--create", "--append", "--update", "--catenate", "--concatenate"]);
    let extract = s.has(&["x", "--extract", "--get"]);
    let follow = s.has(&["h", "--dereference"]);
    for v in s.values(&["f", "--file"]) {
        e.uses.push(used(v.src(), if create { Access::Write } else { Access::Read }));
    }
    for v in s.values(&["T", "X", "--files-from", "--exclude-from"]) {
        e.uses.push(used(v.src(), Access::Read));
    }
    if s.has(&["T", "--files-from"]) && create {
        e.uses.push(used(Src::Unknown("file names listed in a file"), Access::ReadTree { follow }));
    }
    // `-C DIR` changes directory for what follows; operands after it are relative to DIR.
    let chdirs: Vec<Val> = s.values(&["C", "--directory"]).collect();
    if create {
        for &k in &s.operands {
            match chdirs.last() {
                None => e.uses.push(used(Src::Arg(k), Access::ReadTree { follow })),
                Some(v) => match (value_of(&words, *v), words[k].value()) {
                    (Some(d), Some(p)) if !p.starts_with('/') => {
                        e.uses.push(used(Src::Computed(format!("{d}/{p}")), Access::ReadTree { follow }));
                        e.uses.push(used(Src::Arg(k), Access::ReadTree { follow }));
                    }
                    (_, Some(_)) => e.uses.push(used(Src::Arg(k), Access::ReadTree { follow })),
                    _ => e.uses.push(used(Src::Unknown("a run-time tar directory"), Access::ReadTree { follow })),
                },
            }
        }
        for v in &chdirs {
            e.uses.push(used(v.src(), Access::ReadTree { follow }));
        }
    }
    if extract {
        match chdirs.last() {
            Some(v) => e.uses.push(used(v.src(), Access::WriteTree { follow: true })),
            None => e.uses.push(used(Src::Cwd, Access::WriteTree { follow: true })),
        }
    }
    // Indices were computed on `words`, which has the same length as `args`.
}

fn find(e: &mut Effects, args: &[Word]) {
    let mut i = 0;
    // Leading options: -H -L -P -D opts -Olevel.
    let mut follow = false;
    while let Some(v) = args.get(i).and_then(Word::value) {
        match v.as_str() {
            "-H" | "-P" => i += 1,
            "-L" => {
                follow = true;
                i += 1
            }
            "-D" => i += 2,
            _ if v.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    let mut roots = Vec::new();
    while let Some(w) = args.get(i) {
        let expr_start = w.value().is_some_and(|v| v.starts_with('-') || v == "(" || v == "!" || v == ",");
        if expr_start {
            break;
        }
        if !w.is_static() {
            roots.push(Src::Arg(i));
            i += 1;
            continue;
        }
        roots.push(Src::Arg(i));
        i += 1;
    }
    if roots.is_empty() {
        roots.push(Src::Cwd);
    }
    let _ = follow;
    while i < args.len() {
        let v = args[i].value();
        match v.as_deref() {
            Some("-exec" | "-execdir" | "-ok" | "-okdir") => {
                let start = i + 1;
                let mut end = start;
                while end < args.len() && !matches!(args[end].value().as_deref(), Some(";") | Some("+")) {
                    end += 1;
                }
                e.execs.push(Exec {
                    argv: (start..end).collect(),
                    roots: roots.clone(),
                    appended: false,
                    replace: Some("{}".into()),
                });
                i = end + 1;
            }
            Some("-delete") => {
                for r in &roots {
                    e.uses.push(used(r.clone(), Access::WriteTree { follow: false }));
                }
                i += 1;
            }
            Some("-fprint" | "-fprint0" | "-fls" | "-fprintf") => {
                e.uses.push(used(Src::Arg(i + 1), Access::Write));
                i += 2;
            }
            Some("-files0-from") => {
                e.uses.push(used(Src::Arg(i + 1), Access::Read));
                e.uses.push(used(Src::Unknown("file names read from a list"), Access::Read));
                i += 2;
            }
            None if !args[i].is_static() => {
                // `-$X` could be -exec or -delete.
                if args[i].may_be_option() {
                    e.undecidable = Some("a run-time word in `find`'s expression".into());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// sed scripts: `r`/`R` read files, `w`/`W` (and `s///w`) write them, `e` (and `s///e`) run
/// commands. A script that cannot be read is undecidable.
fn sed_scripts(e: &mut Effects, args: &[Word], scripts: &[usize]) {
    for &k in scripts {
        let Some(script) = args.get(k).and_then(Word::value) else {
            e.undecidable = Some("a run-time sed script".into());
            continue;
        };
        match sed_files(&script) {
            Some(files) => {
                for (access, file) in files {
                    match access {
                        Some(a) => e.uses.push(used(Src::Computed(file), a)),
                        None => e.undecidable = Some(format!("the sed script runs a command (`{file}`)")),
                    }
                }
            }
            None => e.undecidable = Some("a sed script the permission rules cannot read".into()),
        }
    }
}

/// The files a sed script reads/writes, and its commands (`None` access = executes). `None`
/// when the script cannot be read.
pub fn sed_files(script: &str) -> Option<Vec<(Option<Access>, String)>> {
    let b: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let to_eol = |i: &mut usize| -> String {
        let start = *i;
        while *i < b.len() && b[*i] != '\n' {
            *i += 1;
        }
        b[start..*i].iter().collect::<String>().trim().to_string()
    };
    // Skips a delimited regex starting at b[i] (the delimiter); returns the index after it.
    let skip_delim = |i: usize, delim: char| -> Option<usize> {
        let mut j = i;
        while j < b.len() {
            if b[j] == '\\' {
                j += 2;
                continue;
            }
            if b[j] == delim {
                return Some(j + 1);
            }
            if b[j] == '\n' {
                return None;
            }
            j += 1;
        }
        None
    };
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' | ';' | '{' | '}' | '!' | ',' | '$' | '~' | '+' => i += 1,
            '0'..='9' => i += 1,
            '/' => i = skip_delim(i + 1, '/')?,
            '\\' => {
                let d = *b.get(i + 1)?;
                i = skip_delim(i + 2, d)?;
            }
            'I' | 'M' => i += 1, // address flags
            's' | 'y' => {
                let d = *b.get(i + 1)?;
                if d == '\n' || d == '\\' {
                    return None;
                }
                let j = skip_delim(i + 2, d)?;
                i = skip_delim(j, d)?;
                if c == 's' {
                    // Flags: g p i I m M e NUMBER w FILE.
                    while i < b.len() && !matches!(b[i], ';' | '\n' | '}') {
                        match b[i] {
                            'w' => {
                                i += 1;
                                out.push((Some(Access::Write), to_eol(&mut i)));
                            }
                            'e' => {
                                out.push((None, "s///e".into()));
                                i += 1;
                            }
                            _ => i += 1,
                        }
                    }
                }
            }
            'r' | 'R' | 'w' | 'W' => {
                i += 1;
                let f = to_eol(&mut i);
                out.push((Some(if c == 'r' || c == 'R' { Access::Read } else { Access::Write }), f));
            }
            'e' => {
                i += 1;
                out.push((None, to_eol(&mut i)));
            }
            'a' | 'i' | 'c' => {
                i += 1;
                // Text to the end of the line (continued by `\` at line end).
                while i < b.len() {
                    if b[i] == '\\' && b.get(i + 1) == Some(&'\n') {
                        i += 2;
                        continue;
                    }
                    if b[i] == '\n' {
                        break;
                    }
                    i += 1;
                }
            }
            'b' | 't' | 'T' | ':' => {
                i += 1;
                while i < b.len() && !matches!(b[i], ';' | '\n') {
                    i += 1;
                }
            }
            'q' | 'Q' | 'l' | 'L' => {
                i += 1;
            }
            '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z' | 'F' => i += 1,
            '#' => {
                to_eol(&mut i);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<Word> {
        s.iter()
            .map(|t| Word {
                pieces: vec![Piece::Lit { text: t.to_string(), quoted: false }],
                source: t.to_string(),
                process_substitution: false,
            })
            .collect()
    }

    #[test]
    fn wrappers() {
        let w = words(&["timeout", "-s", "KILL", "5", "nice", "-n", "3", "curl", "x"]);
        let u = unwrap(&w);
        assert_eq!(u.program, Some(7));
        assert_eq!(u.layers, vec![0, 4]);
        assert!(unwrap(&words(&["env", "-S", "curl x"])).undecidable.is_some());
        assert!(unwrap(&words(&["strace", "-f", "curl"])).undecidable.is_some());
        let u = unwrap(&words(&["env", "PATH=/tmp", "ls"]));
        assert!(u.dangerous_env && u.program == Some(2));
        let u = unwrap(&words(&["watch", "-n", "1", "curl", "x"]));
        assert_eq!(u.shell_string, vec![3, 4]);
        assert_eq!(unwrap(&words(&["sudo", "-u", "root", "curl"])).program, Some(3));
    }

    #[test]
    fn file_options() {
        let e = effects("sort", &words(&["-o", "out", "in"]));
        assert!(e.uses.contains(&used(Src::Arg(1), Access::Write)));
        assert!(e.uses.contains(&used(Src::Arg(2), Access::Read)));
        let e = effects("sort", &words(&["--output=out", "in"]));
        assert!(e.uses.contains(&used(Src::Suffix(0, 9), Access::Write)));
        let e = effects("uniq", &words(&["in", "out"]));
        assert!(e.uses.contains(&used(Src::Arg(1), Access::Write)));
        let e = effects("grep", &words(&["-rn", "x"]));
        assert!(e.uses.contains(&used(Src::Cwd, Access::ReadTree { follow: false })));
        let e = effects("tar", &words(&["czf", "out.tgz", "dir"]));
        assert!(e.uses.contains(&used(Src::Arg(1), Access::Write)));
        assert!(e.uses.contains(&used(Src::Arg(2), Access::ReadTree { follow: false })));
    }

    #[test]
    fn sed() {
        assert_eq!(sed_files("s/a/b/g").unwrap(), vec![]);
        assert_eq!(sed_files("1r .env").unwrap(), vec![(Some(Access::Read), ".env".to_string())]);
        assert_eq!(sed_files("/x/w out").unwrap(), vec![(Some(Access::Write), "out".to_string())]);
        assert_eq!(sed_files("s/a/b/w out").unwrap(), vec![(Some(Access::Write), "out".to_string())]);
        assert_eq!(sed_files("1e curl x").unwrap()[0].0, None);
        assert!(sed_files("s/a/b").is_none());
    }
}
