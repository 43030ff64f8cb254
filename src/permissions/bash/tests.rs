//! Unit tests of the Bash reader: splitting, normalisation, files, strict mode, what cannot be
//! decided. (The bypass corpus with bash as the oracle is `tests/integration/bypass.rs`.)

use super::*;

fn texts(cmd: &str, strict: bool) -> Vec<String> {
    parse(cmd, strict)
        .unwrap_or_else(|| {
            panic!("{cmd:?} should be decidable: {:?}", analyze(cmd, &Options { strict, home: None }).undecidable)
        })
        .commands
        .into_iter()
        .map(|c| c.text)
        .filter(|t| !t.is_empty())
        .collect()
}

fn undecidable(cmd: &str) -> bool {
    !analyze(cmd, &Options::default()).decidable()
}

fn files(cmd: &str) -> (Vec<String>, Vec<String>) {
    let p = analyze(cmd, &Options::default());
    let reads = p
        .commands
        .iter()
        .flat_map(|c| c.files.iter().filter(|f| f.access.reads()).map(|f| f.display.clone()))
        .collect();
    let writes = p
        .commands
        .iter()
        .flat_map(|c| c.files.iter().filter(|f| !f.access.reads()).map(|f| f.display.clone()))
        .collect();
    (reads, writes)
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
        ["curl x", "wget y", "nc z", "echo $(curl x) `wget y` <(…)"]
    );
    assert_eq!(texts("(cd a && curl x) || { curl y; }", false), ["cd a", "curl x", "curl y"]);
    assert_eq!(texts("a |& b & c\nd", false), ["a", "b", "c", "d"]);
    assert_eq!(texts("make 2>&1 | tee log", false), ["make", "tee log"]);
    assert!(parse("echo 'unbalanced", false).is_none());
    assert!(parse("echo $(unbalanced", false).is_none());
    assert!(parse("a )", false).is_none());
    assert!(parse("curl${IFS}x", false).is_none());
    assert_eq!(texts("$'curl' x", false), ["curl x"], "a static $'…' is read");
    assert!(parse("$'\\x63url' x", false).is_none(), "escapes in $'…' are run-time text");
    assert!(parse("eval curl x", false).is_none());
    assert_eq!(texts("if curl x; then ls; fi", false), ["curl x", "ls"]);
    assert_eq!(texts("for i in 1 2; do curl x; done", false), ["curl x"]);
    assert_eq!(texts("! curl x", false), ["curl x"]);
    assert!(parse("echo $(curl x)", false).unwrap().has_substitution);
}

#[test]
fn comments_end_at_the_newline() {
    assert_eq!(texts("cur\\\nl x", false), ["curl x"], "a line continuation joins words");
    // The hand-written splitter let a quote inside a comment swallow the next line.
    assert_eq!(texts("echo hi # '\ncurl x # '", false), ["echo hi", "curl x"]);
    assert_eq!(texts("echo a#b", false), ["echo a#b"]);
}

#[test]
fn redirections() {
    let (r, w) = files("echo pwned>.hookhost/settings.json; cat<.env; echo >&o1; echo x &>o2 >|o3 2>>o4; exec 3<in3");
    assert!(w.contains(&".hookhost/settings.json".to_string()), "{w:?}");
    for f in ["o1", "o2", "o3", "o4"] {
        assert!(w.contains(&f.to_string()), "{f} in {w:?}");
    }
    assert!(r.contains(&".env".to_string()) && r.contains(&"in3".to_string()), "{r:?}");
    let (r, w) = files("make 2>&1 >&2 3>&- <&0");
    assert!(r.is_empty() && w.is_empty(), "{r:?} {w:?}");
    let (r, w) = files("cat 0<>.env");
    assert!(r.contains(&".env".to_string()) && w.contains(&".env".to_string()), "`<>` reads and writes");
}

#[test]
fn file_commands() {
    let (r, w) = files("cat .env > out.txt; grep -r key secrets/ < in; cp a b; sed -i s/x/y/ f; echo x >> .env");
    for f in [".env", "secrets/", "in", "a", "f"] {
        assert!(r.contains(&f.to_string()), "{f} in {r:?}");
    }
    for f in ["out.txt", "b", "f", ".env"] {
        assert!(w.contains(&f.to_string()), "{f} in {w:?}");
    }
    assert!(!r.contains(&"key".to_string()));
    let (r, w) = files("sort -o out in; uniq a b; dd if=i of=o; tee t1 t2 < /dev/null; sort --output=o2 x");
    for f in ["out", "b", "o", "t1", "t2", "o2"] {
        assert!(w.contains(&f.to_string()), "{f} in {w:?}");
    }
    for f in ["in", "a", "i", "x"] {
        assert!(r.contains(&f.to_string()), "{f} in {r:?}");
    }
}

#[test]
fn cd_moves_relative_files() {
    let has = |cmd: &str, want: &[&str]| {
        let (r, w) = files(cmd);
        for f in want {
            assert!(r.contains(&f.to_string()) || w.contains(&f.to_string()), "{cmd}: {f} in {r:?} {w:?}");
        }
    };
    has("cd sub && cat .env", &["sub/.env"]);
    assert_eq!(files("cd sub && cat .env").0, ["sub/.env"]);
    has("cd /p/.hookhost && echo x > settings.json", &["/p/.hookhost/settings.json"]);
    // `cd` may fail: after `;` the file may be in either place.
    has("cd /p/.hookhost; echo x > settings.json", &["/p/.hookhost/settings.json", "settings.json"]);
    assert_eq!(files("cd sub; cat key").0, ["sub/key", "key"]);
    assert_eq!(files("(cd sub); cat key").0, ["key"], "a subshell's cd does not leak");
    assert_eq!(files("cd sub & cat key").0, ["key"], "nor does a background job's");
    // The grammar reads `a && b | c` as `(a && b) | c`; bash runs c after the cd.
    has("cd secrets && true | cat api.key", &["secrets/api.key"]);
    let p = analyze("cd \"$X\" && cat key", &Options::default());
    assert!(p.commands.iter().flat_map(|c| &c.files).any(|f| f.is_unknown()));
    assert_eq!(files("pushd a >/dev/null && cat b").0, ["a/b"]);
    has("cd a && cd b && cat c", &["a/b/c"]);
    let p = analyze("for d in a b; do cd $d; cat x; done", &Options::default());
    assert!(p.commands.iter().flat_map(|c| &c.files).any(|f| f.is_unknown()), "a loop that changes directory");
}

#[test]
fn undecidable_lines() {
    for c in [
        "{curl,x}",
        "/???/bin/cur? x",
        "$CMD x",
        "\"$(echo curl)\" x",
        "eval curl x",
        "f() { ls; }; f",
        "env -S 'curl x'",
        "strace -f curl x",
        "alias ls=curl; ls",
        "echo curl x | bash",
        "trap 'curl x' EXIT",
        "x='a[$(curl x)]'; echo $((x))",
        "find . -exec {} \\;",
    ] {
        assert!(undecidable(c), "{c:?} should be undecidable");
    }
    for c in ["echo {}", "echo {a,b}", "ls *.rs", "for f in *.rs; do wc -l \"$f\"; done", "cat <<'EOF'\n$(x)\nEOF"] {
        assert!(!undecidable(c), "{c:?} should be decidable: {:?}", analyze(c, &Options::default()).undecidable);
    }
}

#[test]
fn strict_looks_inside() {
    assert!(texts("bash -c 'curl x'", false).contains(&"curl x".to_string()), "default mode reads sh -c strings too");
    assert!(texts("sudo -u root curl x", true).contains(&"curl x".to_string()));
    assert!(texts("sudo -u root curl x", false).contains(&"curl x".to_string()));
    let p = parse("python3 -c 'open(\".env\").read()'", true).unwrap();
    assert!(p.commands.iter().any(|c| c.reads().contains(&".env".to_string())));
    let p = parse("python3 -c 'import os; os.system(\"curl x\")'", true).unwrap();
    assert!(p.commands.iter().any(|c| c.text == "curl x"));
    assert!(texts("eval 'curl x'", true).contains(&"curl x".to_string()));
    assert!(texts("bash <<'EOF'\ncurl x\nEOF", false).contains(&"curl x".to_string()));
    assert!(texts("echo `echo \\`curl x\\``", false).contains(&"curl x".to_string()), "nested backquotes");
    assert!(texts("echo `echo \\$(curl y)`", false).contains(&"curl y".to_string()), "\\$ inside backquotes is $");
}

#[test]
fn find_and_xargs() {
    let p = analyze("find . -name .env -exec cat {} +", &Options::default());
    assert!(
        p.commands
            .iter()
            .flat_map(|c| &c.files)
            .any(|f| f.access == Access::ReadTree { follow: true } && f.path.as_deref() == Some("."))
    );
    let p = analyze("echo .env | xargs cat", &Options::default());
    assert!(p.commands.iter().flat_map(|c| &c.files).any(|f| f.access == Access::Read && f.is_unknown()));
}

#[test]
fn bounded() {
    let long = "a ".repeat(syntax::MAX_COMMAND_BYTES);
    assert!(undecidable(&long));
    let deep = format!("{}x{}", "$(".repeat(400), ")".repeat(400));
    assert!(undecidable(&deep));
}

#[test]
/// Random text (with random code points: the grammar's scanner once crashed on them) never
/// crashes the reader, on a 2 MiB stack as tokio's workers have.
fn random_text_never_crashes() {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz .&|;()$`'\"<>{}\\\n*/~=-".chars().collect();
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let inputs: Vec<String> = (0..3_000)
        .map(|_| {
            let n = (next() % 81) as usize;
            (0..n)
                .map(|_| {
                    if next() % 3 == 0 {
                        char::from_u32((next() % 0x11_0000) as u32).unwrap_or('x')
                    } else {
                        alphabet[(next() % alphabet.len() as u64) as usize]
                    }
                })
                .collect()
        })
        .collect();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for s in inputs {
                let _ = analyze(&s, &Options { strict: true, home: Some("/h".into()) });
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Lines are read on parser threads that wait for the next line (starting one per line cost the
/// daemon about 0.28 ms per event), and a parser fault still spoils only its own line: the
/// faulting line is undecidable, and the thread that caught it reads the next lines correctly.
/// A mutant that starts a thread per line fails the count (about 200 instead of a handful; the
/// bound leaves room for the other tests reading lines at the same time).
#[test]
fn lines_are_read_on_reused_parser_threads_and_a_fault_spoils_only_its_line() {
    use std::sync::atomic::Ordering;
    let opts = Options { strict: true, home: Some("/h".into()) };
    let started = parsers::STARTED.load(Ordering::Relaxed);
    for i in 0..200 {
        if i % 50 == 7 {
            let p = analyze(INJECTED_FAULT, &opts);
            assert_eq!(p.undecidable, vec!["the shell parser failed on this command line".to_string()], "line {i}");
            assert!(p.commands.is_empty());
        }
        let p = analyze("ls -la | grep y && rm -rf /tmp/x", &opts);
        assert!(p.decidable(), "line {i}: {:?}", p.undecidable);
        let texts: Vec<&str> = p.commands.iter().map(|c| c.text.as_str()).filter(|t| !t.is_empty()).collect();
        assert_eq!(texts, ["ls -la", "grep y", "rm -rf /tmp/x"], "line {i}");
    }
    let more = parsers::STARTED.load(Ordering::Relaxed) - started;
    assert!(more < 20, "{more} parser threads started for 204 lines read one after another");
}

/// A thread started with [`THREAD_STACK_BYTES`] (the daemon's runtime threads) reads its lines
/// itself, with no hand-off to a parser thread, and a fault there still spoils only its line:
/// the thread goes on reading the next lines right. The deepest lines the bounds let through
/// are read there too (no stack overflow). A thread with tokio's default 2 MiB hands its lines
/// over. A mutant that always hands over fails the first count; one that reads in place on any
/// thread fails the second.
#[test]
fn a_thread_with_room_for_the_parser_reads_lines_itself() {
    let opts = Options { strict: true, home: Some("/h".into()) };
    let read_here = || READ_HERE.with(std::cell::Cell::get);
    let deepest = [
        format!("{}ls{}", "{ ".repeat(syntax::MAX_NESTING - 1), "; }".repeat(syntax::MAX_NESTING - 1)),
        format!("{}ls{}", "$(".repeat(walk::MAX_NESTING), ")".repeat(walk::MAX_NESTING)),
        format!("{}x{}", "$(".repeat(400), ")".repeat(400)),
    ];
    let o = opts.clone();
    let big = std::thread::Builder::new().stack_size(THREAD_STACK_BYTES).spawn(move || {
        let before = read_here();
        let fault = analyze(INJECTED_FAULT, &o);
        let line = analyze("ls -la | grep y && rm -rf /tmp/x", &o);
        let deep: Vec<Parsed> = deepest.iter().map(|l| analyze(l, &o)).collect();
        (read_here() - before, fault, line, deep)
    });
    let (n, fault, line, deep) = big.unwrap().join().unwrap();
    assert_eq!(n, 5, "every line read on the calling thread");
    assert_eq!(fault.undecidable, vec!["the shell parser failed on this command line".to_string()]);
    assert!(line.decidable(), "{:?}", line.undecidable);
    let texts: Vec<&str> = line.commands.iter().map(|c| c.text.as_str()).filter(|t| !t.is_empty()).collect();
    assert_eq!(texts, ["ls -la", "grep y", "rm -rf /tmp/x"]);
    assert!(deep[0].commands.iter().any(|c| c.text == "ls"), "{:?}", deep[0]);
    assert!(deep[2].undecidable.iter().any(|u| !u.contains("parser failed")), "{:?}", deep[2].undecidable);
    let small = std::thread::Builder::new().stack_size(2 << 20).spawn(move || {
        let before = read_here();
        let line = analyze("ls -la | grep y", &opts);
        (read_here() - before, line.commands.len())
    });
    let (n, commands) = small.unwrap().join().unwrap();
    assert_eq!(n, 0, "a 2 MiB thread hands its line to a parser thread");
    assert_eq!(commands, 2);
}
