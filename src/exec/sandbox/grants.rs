//! The files a hook's own command line executes — its program, and the script it hands to a
//! known interpreter — found from the words of the command, and opened for a Landlock rule that
//! names that one file (never its directory).
//!
//! What is named: the program (the first word, after `exec`, `env` and `NAME=value`
//! assignments) when it is a path, and the script operand of a shell (`sh`, `bash`, `dash`,
//! `zsh`, `ksh`, …), Python, Node.js, Perl or Ruby; a shell's `-c` string is read the same way
//! (that is how the shell form `sh -c "<command>"` is read). Nothing else: a path a hook only
//! passes as data (`cat /root/.ssh/id_rsa`, `python3 x.py /etc/secret`) is never named, and
//! wrappers other than `exec` and `env` (`timeout 5 ./x.sh`, `nice`, `xargs`) and compound
//! commands (`cd d && ./x.sh`) are not followed: such a hook declares its files in
//! `sandbox.allowRead`.
//!
//! Promises: a named file is granted only when the file actually opened (the inode the rule
//! names, after symlinks) is a regular file that is a program (an execute bit: read and
//! execute) or, for a script, looks like one (an execute bit, a `#!` first line, or the
//! interpreter's extension on its real name, when it has only that one: read only). So naming
//! a private key as a "script" (`sh /x/id_rsa`, a symlink `x.sh -> /x/id_rsa`, or a hard link
//! `x.sh` to it) grants nothing. The words are
//! split with `shlex` (no expansion but `$CLAUDE_PROJECT_DIR`): a word the shell would expand
//! differently names a path that does not exist, which grants nothing.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};

/// How deep `sh -c "bash -c '…'"` is followed.
const MAX_DEPTH: usize = 3;

/// Interpreters whose script operand is the hook's own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Interpreter {
    Shell,
    Python,
    Node,
    Perl,
    Ruby,
}

impl Interpreter {
    /// The interpreter a program's file name denotes.
    fn of(program: &str) -> Option<Interpreter> {
        let name = program.rsplit('/').next().unwrap_or(program);
        let versioned = |base: &str| {
            name.strip_prefix(base).is_some_and(|v| v.is_empty() || v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        };
        Some(match name {
            "sh" | "bash" | "dash" | "zsh" | "ksh" | "ksh93" | "mksh" | "ash" | "yash" | "posh" | "rbash" => {
                Interpreter::Shell
            }
            "node" | "nodejs" => Interpreter::Node,
            "ruby" => Interpreter::Ruby,
            _ if versioned("python") || versioned("pypy") => Interpreter::Python,
            _ if versioned("perl") => Interpreter::Perl,
            _ => return None,
        })
    }

    /// File extensions of this interpreter's scripts.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Interpreter::Shell => &["sh", "bash", "zsh", "ksh"],
            Interpreter::Python => &["py"],
            Interpreter::Node => &["js", "mjs", "cjs", "ts", "mts", "cts"],
            Interpreter::Perl => &["pl", "pm"],
            Interpreter::Ruby => &["rb"],
        }
    }
}

/// A file the hook's command line executes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ExecFile {
    /// The program itself (read and execute).
    Program(PathBuf),
    /// The script an interpreter runs (read).
    Script(PathBuf, Interpreter),
}

impl ExecFile {
    pub(super) fn path(&self) -> &Path {
        match self {
            ExecFile::Program(p) | ExecFile::Script(p, _) => p,
        }
    }
}

/// The files `program args…`, started in `cwd`, executes (see the module doc).
pub(super) fn exec_files(program: &OsStr, args: &[OsString], cwd: &Path, project: Option<&Path>) -> Vec<ExecFile> {
    // A word that is not UTF-8 ends the analysis (what follows it would be misread).
    let words: Vec<String> = std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .map_while(|w| w.to_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    analyze(&words, cwd, project, 0, &mut out);
    out.dedup();
    out
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn analyze(words: &[String], cwd: &Path, project: Option<&Path>, depth: usize, out: &mut Vec<ExecFile>) {
    let mut i = 0;
    // Words that run the next one: `exec`, `env` (its value-less options and assignments),
    // assignments.
    while let Some(w) = words.get(i) {
        if w == "exec" || is_assignment(w) {
            i += 1;
        } else if w == "env" || w == "/usr/bin/env" || w == "/bin/env" {
            i += 1;
            while let Some(o) = words.get(i) {
                if o == "-i" || o == "--ignore-environment" || o == "-" || is_assignment(o) {
                    i += 1;
                } else if o.starts_with('-') {
                    return; // `-u NAME`, `-S "…"`, `-C dir`: not followed
                } else {
                    break;
                }
            }
        } else {
            break;
        }
    }
    let Some(program) = words.get(i) else { return };
    let path = |w: &str| {
        let p = PathBuf::from(crate::hook::expand_project_dir(w, project));
        if p.is_absolute() { p } else { cwd.join(p) }
    };
    if program.contains('/') {
        out.push(ExecFile::Program(path(program)));
    }
    let Some(interpreter) = Interpreter::of(program) else { return };
    match operand(interpreter, &words[i + 1..]) {
        Operand::Script(s) => out.push(ExecFile::Script(path(s), interpreter)),
        Operand::Inline(code) if interpreter == Interpreter::Shell && depth < MAX_DEPTH => {
            if let Some(inner) = shlex::split(code) {
                analyze(&inner, cwd, project, depth + 1, out);
            }
        }
        Operand::Inline(_) | Operand::None => {}
    }
}

enum Operand<'a> {
    /// The script file.
    Script(&'a str),
    /// Code given on the command line (`-c`, `-e`).
    Inline(&'a str),
    /// Neither (a module, standard input, nothing).
    None,
}

/// The first operand of `interpreter` after its options: the script, or the inline code.
fn operand(interpreter: Interpreter, args: &[String]) -> Operand<'_> {
    let mut inline = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let a = a.as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if a == "-" {
            return Operand::None; // the script is standard input
        }
        let option = a.len() > 1 && (a.starts_with('-') || (interpreter == Interpreter::Shell && a.starts_with('+')));
        if !option {
            break;
        }
        let long = a.starts_with("--");
        let cluster = &a[1..];
        match interpreter {
            Interpreter::Shell => {
                if long {
                    if a == "--rcfile" || a == "--init-file" {
                        i += 1;
                    }
                } else {
                    if cluster.contains('c') {
                        inline = true;
                    } else if cluster.contains('s') {
                        return Operand::None; // commands from standard input
                    }
                    if cluster.contains('o') || cluster.contains('O') {
                        i += 1; // an option name follows
                    }
                }
            }
            Interpreter::Python => {
                if long {
                    if a == "--check-hash-based-pycs" {
                        i += 1;
                    }
                } else {
                    for (k, ch) in cluster.char_indices() {
                        match ch {
                            'c' | 'm' => return Operand::None, // code or a module: no file
                            'W' | 'X' => {
                                if k + 1 == cluster.len() {
                                    i += 1;
                                }
                                break;
                            }
                            _ => {}
                        }
                    }
                }
            }
            Interpreter::Node => {
                let name = a.split('=').next().unwrap_or(a);
                if matches!(name, "-e" | "--eval" | "-p" | "--print" | "-pe" | "-i" | "--interactive") {
                    return Operand::None;
                }
                let takes_value = matches!(
                    name,
                    "-r" | "--require"
                        | "--import"
                        | "--loader"
                        | "--experimental-loader"
                        | "-C"
                        | "--conditions"
                        | "--input-type"
                        | "--env-file"
                        | "--title"
                );
                if takes_value && !a.contains('=') {
                    i += 1;
                }
            }
            Interpreter::Perl | Interpreter::Ruby => {
                if !long && (cluster.contains('e') || cluster.contains('E')) {
                    return Operand::None;
                }
                if matches!(a, "-I" | "-r" | "-C" | "-x") {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    match args.get(i) {
        Some(op) if inline => Operand::Inline(op),
        Some(op) => Operand::Script(op),
        None => Operand::None,
    }
}

/// What a granted exec file may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rights {
    /// Read and execute (a program).
    ReadExec,
    /// Read (a script).
    Read,
}

/// The file's descriptor (`O_PATH`, after symlinks) and its rights, when the opened file
/// qualifies (see the module doc).
pub(super) fn open_grant(f: &ExecFile) -> Option<(OwnedFd, Rights)> {
    let fd = open(f.path(), OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let st = fstat(&fd).ok()?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return None;
    }
    let executable = st.st_mode & 0o111 != 0;
    match f {
        ExecFile::Program(_) => executable.then_some((fd, Rights::ReadExec)),
        ExecFile::Script(_, interpreter) => {
            let proc_path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            // By its name only when it has no other (a hard link `x.sh` to a key is not a
            // script).
            let extension_fits = || {
                st.st_nlink == 1
                    && std::fs::read_link(&proc_path).ok().is_some_and(|real| {
                        real.extension().and_then(OsStr::to_str).is_some_and(|e| interpreter.extensions().contains(&e))
                    })
            };
            let shebang = || {
                use std::io::Read;
                let mut head = [0u8; 2];
                std::fs::File::open(&proc_path).and_then(|mut r| r.read_exact(&mut head)).is_ok() && &head == b"#!"
            };
            (executable || extension_fits() || shebang()).then_some((fd, Rights::Read))
        }
    }
}

/// Device, inode and mode of a file (`None`: not there).
pub(super) type Identity = Option<(u64, u64, u32)>;

/// The identity of each file now, in order: a pooled run built for other files than these is
/// not used.
pub(super) fn identities(files: &[ExecFile]) -> Vec<Identity> {
    files.iter().map(|f| std::fs::metadata(f.path()).ok().map(|m| (m.dev(), m.ino(), m.mode()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(program: &str, args: &[&str]) -> Vec<ExecFile> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        exec_files(OsStr::new(program), &args, Path::new("/w"), Some(Path::new("/proj")))
    }

    fn shell(command: &str) -> Vec<ExecFile> {
        files("/bin/sh", &["-c", command])
    }

    fn prog(p: &str) -> ExecFile {
        ExecFile::Program(PathBuf::from(p))
    }

    fn script(p: &str, i: Interpreter) -> ExecFile {
        ExecFile::Script(PathBuf::from(p), i)
    }

    #[test]
    fn data_arguments_are_never_named() {
        let sh = prog("/bin/sh");
        for cmd in [
            "cat /root/.ssh/id_rsa",
            "head -c 10 /x/secret",
            "cat < /x/secret",
            "< /x/secret cat",
            "sort -o /x/out /x/secret",
            "grep -r . /x",
            "tail /x/secret.sh",
            "timeout 5 /x/secret",
            "xargs cat /x/secret",
            "cd /x && ./hook.sh",
            "env -S 'sh /x/a.sh'",
            "env -u X /x/a.sh",
            "python3 -c 'print(1)' /x/a.py",
            "python3 -m http.server /x/a.py",
            "python3 -W ignore",
            "node -e 1 /x/a.js",
            "perl -le 'print 1' /x/a.pl",
            "ruby -e 1 /x/a.rb",
            "sh -s /x/a.sh",
            "sh - /x/a.sh",
            "sh -c 'cat /x/secret'",
        ] {
            assert_eq!(shell(cmd), vec![sh.clone()], "{cmd}");
        }
    }

    #[test]
    fn the_program_and_the_interpreters_script() {
        use Interpreter::*;
        let sh = prog("/bin/sh");
        assert_eq!(shell("/x/hook.sh /x/secret"), vec![sh.clone(), prog("/x/hook.sh")]);
        assert_eq!(shell("exec /bin/cat /x/secret"), vec![sh.clone(), prog("/bin/cat")]);
        assert_eq!(shell("./hook.sh arg"), vec![sh.clone(), prog("/w/./hook.sh")]);
        assert_eq!(shell("$CLAUDE_PROJECT_DIR/.hooks/a.sh"), vec![sh.clone(), prog("/proj/.hooks/a.sh")]);
        assert_eq!(shell("python3 /x/script.py /x/secret"), vec![sh.clone(), script("/x/script.py", Python)]);
        assert_eq!(shell("python3.11 -u -W ignore /x/s.py /x/secret"), vec![sh.clone(), script("/x/s.py", Python)]);
        assert_eq!(
            shell("FOO=1 env -i A=b node --require x /x/a.js /x/b.js"),
            vec![sh.clone(), script("/x/a.js", Node)]
        );
        assert_eq!(shell("bash -eu -o pipefail hook.sh /x/s"), vec![sh.clone(), script("/w/hook.sh", Shell)]);
        assert_eq!(shell("perl -w /x/a.pl /x/b"), vec![sh.clone(), script("/x/a.pl", Perl)]);
        assert_eq!(shell("ruby -- /x/a.rb"), vec![sh.clone(), script("/x/a.rb", Ruby)]);
        // The -c string of a shell is read like a command line, to a bounded depth.
        assert_eq!(shell("bash -c \"sh -c '/x/deep.sh /x/secret'\""), vec![sh.clone(), prog("/x/deep.sh")]);
        assert_eq!(shell("sh -c 'sh -c \"sh -c \\\"sh -c /x/too-deep\\\"\"'"), vec![sh.clone()]);
        // Exec form: the program is the command, its arguments as given.
        assert_eq!(files("/x/prog", &["/x/secret"]), vec![prog("/x/prog")]);
        assert_eq!(files("cat", &["/x/secret"]), vec![]);
        assert_eq!(
            files("/usr/bin/python3", &["/x/a.py", "/x/secret"]),
            vec![prog("/usr/bin/python3"), script("/x/a.py", Python)]
        );
        assert_eq!(files("/bin/sh", &["-c", "cat \"$1\"", "sh", "/x/secret"]), vec![sh.clone()]);
        for (name, want) in
            [("python3.12", Some(Python)), ("pythonista", None), ("perl5.36", Some(Perl)), ("shx", None)]
        {
            assert_eq!(Interpreter::of(name), want, "{name}");
        }
    }

    #[test]
    fn only_programs_and_scripts_qualify() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let d = tempfile::tempdir().unwrap();
        let w = |name: &str, body: &str, mode: u32| {
            let p = d.path().join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let key = w("id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600);
        let tool = w("tool", "\x7fELF", 0o755);
        let plain = w("hook.sh", "echo hi\n", 0o644);
        let bang = w("hook", "#!/bin/sh\necho hi\n", 0o644);
        let py = w("x.py", "print(1)\n", 0o600);
        let link = d.path().join("evil.sh");
        symlink(&key, &link).unwrap();
        let grant = |f: ExecFile| open_grant(&f).map(|(_, r)| r);
        use Interpreter::*;
        assert_eq!(grant(ExecFile::Program(key.clone())), None);
        assert_eq!(grant(ExecFile::Script(key.clone(), Shell)), None);
        assert_eq!(grant(ExecFile::Script(key.clone(), Python)), None);
        assert_eq!(grant(ExecFile::Script(link.clone(), Shell)), None, "a symlink's name does not count");
        let hard = d.path().join("hard.sh");
        std::fs::hard_link(&key, &hard).unwrap();
        assert_eq!(grant(ExecFile::Script(hard, Shell)), None, "a hard link's name does not count");
        assert_eq!(grant(ExecFile::Program(tool.clone())), Some(Rights::ReadExec));
        assert_eq!(grant(ExecFile::Script(tool, Perl)), Some(Rights::Read));
        assert_eq!(grant(ExecFile::Program(plain.clone())), None);
        assert_eq!(grant(ExecFile::Script(plain.clone(), Shell)), Some(Rights::Read));
        assert_eq!(grant(ExecFile::Script(plain, Python)), None);
        assert_eq!(grant(ExecFile::Script(bang, Ruby)), Some(Rights::Read));
        assert_eq!(grant(ExecFile::Script(py, Python)), Some(Rights::Read));
        assert_eq!(grant(ExecFile::Program(d.path().to_path_buf())), None, "a directory is never granted");
        assert_eq!(grant(ExecFile::Script(PathBuf::from("/dev/null"), Shell)), None);
    }
}
