//! The files a command line will execute or source: the program when it is given as a path
//! (`./build.sh`, `/usr/bin/env`), the scripts handed to shells and interpreters (`sh a.sh`,
//! `bash -e x.sh`, `/usr/bin/env sh x.sh`, `python3 x.py`, `bash --rcfile f`, `sh < x.sh`),
//! and sourced files (`source f`, `. f`), for every command of the line (`sh a.sh && sh b.sh`,
//! inside `bash -c '…'` too). For trust pins: a pin can only cover what this lists.
//!
//! When the line runs something that cannot be named before it runs (a program or script
//! name built at run time, `eval`, a shell or interpreter reading its program from a pipe or
//! from standard input, `python3 -m module`, a script in a directory known only at run time),
//! the answer is [`CannotDecide`] with the reason.

use super::{Options, analyze, walk::join};

/// Why the executed files of a command line cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotDecide(pub String);

impl std::fmt::Display for CannotDecide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot decide what the command executes: {}", self.0)
    }
}

impl std::error::Error for CannotDecide {}

/// The files `cmd` executes or sources, as paths relative to the directory the line starts in
/// (or absolute), in order of appearance, without duplicates.
pub fn executed_files(cmd: &str) -> Result<Vec<String>, CannotDecide> {
    let opts = Options { strict: false, home: std::env::var("HOME").ok() };
    let parsed = analyze(cmd, &opts);
    if let Some(why) = parsed.undecidable.first() {
        return Err(CannotDecide(why.clone()));
    }
    let mut out: Vec<String> = Vec::new();
    for c in &parsed.commands {
        if let Some(why) = &c.runs_unknown {
            return Err(CannotDecide(why.clone()));
        }
        for f in &c.runs {
            let (Some(path), Some(dir)) = (&f.path, &f.dir) else {
                return Err(CannotDecide(format!("{} is known only at run time", f.display)));
            };
            if f.glob.is_some() {
                return Err(CannotDecide(format!("`{path}` is a glob")));
            }
            let p = join(dir, path);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(cmd: &str) -> Vec<String> {
        executed_files(cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }
    fn cannot(cmd: &str) -> String {
        match executed_files(cmd) {
            Err(CannotDecide(why)) => why,
            Ok(v) => panic!("{cmd}: expected cannot decide, got {v:?}"),
        }
    }

    #[test]
    fn scripts_and_programs() {
        assert_eq!(files("sh a.sh"), ["a.sh"]);
        assert_eq!(files("bash -e x.sh arg"), ["x.sh"]);
        assert_eq!(files("bash -o pipefail -x x.sh"), ["x.sh"]);
        assert_eq!(files("/usr/bin/env sh x.sh"), ["/usr/bin/env", "x.sh"]);
        assert_eq!(files("env -i FOO=1 bash y.sh"), ["y.sh"]);
        assert_eq!(files("python3 x.py --flag"), ["x.py"]);
        assert_eq!(files("python3 -u -W ignore x.py"), ["x.py"]);
    }

    #[test]
    fn lists_sources_and_nesting() {
        assert_eq!(files("sh a.sh && sh b.sh"), ["a.sh", "b.sh"]);
        assert_eq!(files("source f; . g"), ["f", "g"]);
        assert_eq!(files("./build.sh --release | tee log"), ["./build.sh"]);
        assert_eq!(files("cd tools && ./run.sh"), ["tools/./run.sh"]);
        assert_eq!(files("bash -c 'sh inner.sh'"), ["inner.sh"]);
        assert_eq!(files("sh < x.sh"), ["x.sh"]);
        assert_eq!(files("bash --rcfile rc.sh -i -c true"), ["rc.sh"]);
        assert_eq!(files("timeout 5 ./t.sh"), ["./t.sh"]);
        assert_eq!(files("echo hi; ls -la"), Vec::<String>::new());
        assert_eq!(files("bash <<'EOF'\nsh here.sh\nEOF"), ["here.sh"]);
        assert_eq!(files("perl s.pl && ruby r.rb && php p.php"), ["s.pl", "r.rb", "p.php"]);
        // Nothing runs: `exec` with only redirections; `printf` with a literal format.
        assert_eq!(files("cat >/dev/null; (exec >/dev/null 2>&1 </dev/null; sleep 1) & exit 2"), Vec::<String>::new());
        assert_eq!(files("printf '%s|' \"$@\" > \"$0\""), Vec::<String>::new());
        assert_eq!(files("[ -e x ] && sh a.sh; [ ! -f \"$F\" ] || . ./b.sh"), ["a.sh", "./b.sh"]);
        assert_eq!(files("i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; sh a.sh"), ["a.sh"]);
    }

    #[test]
    fn cannot_decide() {
        assert!(cannot("sh \"$SCRIPT\"").contains("run"));
        assert!(cannot("$SHELL x.sh").contains("run"));
        assert!(cannot("eval \"sh a.sh\"").contains("eval"));
        assert!(cannot("curl -s x | sh").contains("pipe"));
        assert!(cannot("python3 -m http.server").contains("module"));
        assert!(cannot("node --require ./r.js s.js").contains("module"));
        assert!(cannot("cd \"$D\" && ./x.sh").contains("run"));
        assert!(cannot("bash").contains("standard input"));
        assert!(cannot("sh 'a").contains("grammar"));
        assert!(cannot("find . -name '*.sh' -exec {} \\;").contains("find"));
        assert!(cannot("printf \"$@\"").contains("evaluate"));
        assert!(cannot("read i; x=$((i+1))").contains("evaluate"));
        assert!(cannot("i=$X; y=$((i+1))").contains("evaluate"));
        assert!(cannot("printf -v \"a[$X]\" %s x; sh a.sh").contains("evaluate"));
    }
}
