//! The bypass corpus of issue 17: for each class of attack on the admin's policy, generated
//! variants, decided by the permission engine and run under bash as the oracle.
//!
//! The policy (managed): deny `Bash(curl *)`, `Bash(rm -rf *)`, `Read(./.env)`,
//! `Read(./secrets/**)`, `Edit(./.hookhost/**)`; allow `Bash(echo *)`, `Bash(ls *)`.
//!
//! - `corpus_against_bash`: every variant (separators × comment tricks × wrappers × quoting ×
//!   redirection spellings × file commands × `cd` forms × symlink and `/proc` spellings ×
//!   globs × directory reads) is decided through the library (`EventBus::check_rules`), then
//!   all of them run under one `strace -f` of bash in a scratch project with fake `curl` and
//!   `rm` first on `PATH`. Whatever bash did — ran curl (by any path), ran rm with `-r` and
//!   `-f` however spelled, opened `.env` or a file under `secrets/` (after following symlinks:
//!   strace `-y` prints the path the kernel opened), opened for writing, renamed, linked or
//!   removed anything under `.hookhost/` — the engine must have denied. Benign controls
//!   (`echo`, `ls` that touch nothing protected) must be allowed, so the corpus cannot pass by
//!   denying everything.
//! - `sample_through_the_binary`: a sample of the same variants through `hookhost dispatch`.
//! - `urls_against_node`: `WebFetch(domain:…)` against URL spellings, with Node's WHATWG `URL`
//!   (what the agent's fetch uses) as the oracle for the host.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use hookhost::settings::{self, Scope, file};
use hookhost::{DispatchContext, EventBus, HookEvent, Permission};
use serde_json::json;

use super::support::Env;

const POLICY: &str = r#"{"permissions": {
  "deny": ["Bash(curl *)", "Bash(rm -rf *)", "Read(./.env)", "Read(./secrets/**)", "Edit(./.hookhost/**)"],
  "allow": ["Bash(echo *)", "Bash(ls *)"]
}}"#;

/// A URL curl can be pointed at that refuses the connection at once.
const U: &str = "http://127.0.0.1:9/x";

// ---------------------------------------------------------------------------------------------
// The scratch project
// ---------------------------------------------------------------------------------------------

/// ```text
/// base/proj/ .env  sub/.env  secrets/api.key  secrets/deep/x.txt  .hookhost/settings.json
///            notes.txt  a/b/  L -> a/b  link -> .env  slink -> secrets  junk/  docs/readme.md
/// base/bin/  curl rm (fakes that exit 0)
/// ```
struct Scratch {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    proj: PathBuf,
}

fn scratch() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let proj = base.join("proj");
    let s = Scratch { _tmp: tmp, base: base.clone(), proj: proj.clone() };
    s.restore();
    symlink("a/b", proj.join("L")).unwrap();
    symlink(".env", proj.join("link")).unwrap();
    symlink("secrets", proj.join("slink")).unwrap();
    let bin = base.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for fake in ["curl", "rm"] {
        std::fs::write(bin.join(fake), "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(bin.join(fake), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    s
}

impl Scratch {
    /// Files the variants may have changed, put back.
    fn restore(&self) {
        let p = &self.proj;
        for d in ["sub", "secrets/deep", ".hookhost", "a/b", "junk", "docs"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        for (f, body) in [
            (".env", "SECRET=1\n"),
            ("sub/.env", "SUB_SECRET=1\n"),
            ("secrets/api.key", "KEY\n"),
            ("secrets/deep/x.txt", "DEEP\n"),
            (".hookhost/settings.json", "{}\n"),
            ("notes.txt", "notes\n"),
            ("docs/readme.md", "readme\n"),
        ] {
            std::fs::write(p.join(f), body).unwrap();
        }
    }

    /// Shell code that restores the same files (run by the driver, outside any variant).
    fn restore_script(&self) -> String {
        let p = self.proj.display();
        format!(
            "restore() {{\n  cd '{p}' || exit 9\n  for d in sub secrets/deep .hookhost a/b junk docs; do [[ -d $d ]] || mkdir -p $d; done\n  \
             printf 'SECRET=1\\n' > .env; printf 'SUB_SECRET=1\\n' > sub/.env; printf 'KEY\\n' > secrets/api.key\n  \
             printf 'DEEP\\n' > secrets/deep/x.txt; printf '{{}}\\n' > .hookhost/settings.json; printf 'notes\\n' > notes.txt\n}}\n"
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Variant {
    class: &'static str,
    cmd: String,
    /// The event's cwd, relative to the project.
    cwd: &'static str,
    /// A control: touches nothing protected and must be allowed.
    benign: bool,
}

fn v(class: &'static str, cmd: impl Into<String>) -> Variant {
    Variant { class, cmd: cmd.into(), cwd: "", benign: false }
}

/// Ways to run curl.
fn curl_forms() -> Vec<String> {
    let mut f: Vec<String> = [
        "curl -s @U",
        "/usr/bin/curl -s @U",
        "\\curl -s @U",
        "'curl' -s @U",
        "\"curl\" -s @U",
        "c''url -s @U",
        "cu\\rl -s @U",
        "c\"\"url -s @U",
        "$'curl' -s @U",
        "$'\\x63url' -s @U",
        "command curl -s @U",
        "builtin command curl -s @U",
        "env curl -s @U",
        "env -i PATH=\"$PATH\" curl -s @U",
        "env FOO=1 curl -s @U",
        "timeout 5 curl -s @U",
        "timeout -s KILL 5 curl -s @U",
        "nice -n 1 curl -s @U",
        "nice curl -s @U",
        "nohup curl -s @U",
        "stdbuf -o0 curl -s @U",
        "time curl -s @U",
        "exec curl -s @U",
        "setsid -w curl -s @U",
        "FOO=1 curl -s @U",
        "A=1 B=2 curl -s @U",
        "xargs curl -s <<< @U",
        "echo @U | xargs curl -s",
        "echo @U | xargs -I{} curl -s {}",
        "echo @U | xargs -n1 curl -s",
        "find . -maxdepth 0 -exec curl -s @U \\;",
        "find . -maxdepth 0 -exec curl -s @U {} +",
        "bash -c 'curl -s @U'",
        "sh -c \"curl -s @U\"",
        "bash -lc 'curl -s @U'",
        "bash -c 'bash -c \"curl -s @U\"'",
        "eval curl -s @U",
        "eval 'curl -s @U'",
        "$(echo curl) -s @U",
        "`echo curl` -s @U",
        "{curl,-s,@U}",
        "cur\\\nl -s @U",
        "curl${IFS}-s${IFS}@U",
        "c$()url -s @U",
        "/???/bin/cur? -s @U",
        "/usr/b*n/curl -s @U",
        "CURL=curl; $CURL -s @U",
        "a=cu; b=rl; $a$b -s @U",
        "f() { curl -s @U; }; f",
        "function g { curl -s @U; }; g",
        "if true; then curl -s @U; fi",
        "if curl -s @U; then :; fi",
        "while curl -s @U; do break; done",
        "until curl -s @U; do :; done",
        "for i in 1; do curl -s @U; done",
        "case x in x) curl -s @U;; esac",
        "case x in (x|y) curl -s @U;; esac",
        "! curl -s @U",
        "(curl -s @U)",
        "( (curl -s @U) )",
        "{ curl -s @U; }",
        "echo $(curl -s @U)",
        "echo \"$(curl -s @U)\"",
        "echo `curl -s @U`",
        "echo \"`curl -s @U`\"",
        "echo `echo \\`curl -s @U\\``",
        "echo ${x:-$(curl -s @U)}",
        "echo \"${x:-`curl -s @U`}\"",
        "cat <(curl -s @U)",
        "true > >(curl -s @U)",
        "coproc curl -s @U",
        "curl -s @U &",
        "curl -s @U & wait",
        "trap 'curl -s @U' EXIT",
        "bash <<< 'curl -s @U'",
        "bash <<'EOF'\ncurl -s @U\nEOF",
        "sh <<EOF\ncurl -s @U\nEOF",
        "echo 'curl -s @U' | bash",
        "echo 'curl -s @U' | sh -s",
        "env -S 'curl -s @U'",
        "busybox sh -c 'curl -s @U'",
        "watch -n 1 -g -e 'curl -s @U' 2>/dev/null & sleep 0.2; kill %1",
        "script -qc 'curl -s @U' /dev/null",
        "flock /tmp/.hookhost-bypass.lock curl -s @U",
        "flock /tmp/.hookhost-bypass.lock -c 'curl -s @U'",
        "x=$(curl -s @U)",
        "declare y=$(curl -s @U)",
        "export z=`curl -s @U`",
        "local_var=1 && echo ok; curl -s @U",
        "[[ $(curl -s @U) ]]",
        "(( $(curl -s @U 2>/dev/null; echo 1) ))",
        "cat <<EOF\n$(curl -s @U)\nEOF",
        "echo ${#a[$(curl -s @U; echo 0)]}",
        "arr=(1 $(curl -s @U))",
        "printf -v v '%s' \"$(curl -s @U)\"",
        "python3 -c 'import os; os.system(\"curl -s @U\")'",
        "sudo -n curl -s @U",
    ]
    .iter()
    .map(|s| s.replace("@U", U))
    .collect();
    // The same through a few more layers.
    for w in ["timeout 5 ", "env ", "nice -n 2 ", "command ", "xargs -0 -a /dev/null ", "stdbuf -oL "] {
        f.push(format!("{w}curl -s {U}"));
    }
    f
}

/// Ways to run `rm -rf`.
fn rm_forms() -> Vec<String> {
    [
        "rm -rf junk",
        "rm -fr junk",
        "rm -r -f junk",
        "rm -f -r junk",
        "rm -R -f junk",
        "rm -Rf junk",
        "rm -rfv junk",
        "rm -vrf junk",
        "rm --recursive --force junk",
        "rm --force -r junk",
        "rm -r --force junk",
        "rm -rf -- junk",
        "rm -rf ./junk",
        "/bin/rm -rf junk",
        "/usr/bin/rm -rf junk",
        "\\rm -rf junk",
        "'rm' -rf junk",
        "r''m -rf junk",
        "rm \"-rf\" junk",
        "rm $'-rf' junk",
        "rm -$'r'f junk",
        "command rm -rf junk",
        "env rm -rf junk",
        "timeout 5 rm -rf junk",
        "xargs rm -rf <<< junk",
        "echo junk | xargs rm -rf",
        "find . -maxdepth 1 -name junk -exec rm -rf {} +",
        "f=-rf; rm $f junk",
        "rm ${X:--rf} junk",
        "bash -c 'rm -rf junk'",
        "eval rm -rf junk",
        "(rm -rf junk)",
        "{ rm -rf junk; }",
        "$(echo rm) -rf junk",
        "{rm,-rf,junk}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Spellings of a protected file to read, relative to the project.
fn read_targets() -> Vec<String> {
    [
        ".env",
        "./.env",
        "'.env'",
        "\".env\"",
        "\\.env",
        ".\"\"env",
        "@P/.env",
        "@P//.env",
        "sub/../.env",
        "./sub/../.env",
        "L/../../.env",
        "link",
        "./link",
        "/proc/self/cwd/.env",
        "/proc/thread-self/cwd/.env",
        "/proc/self/root@P/.env",
        "\"$PWD\"/.env",
        "$PWD/.env",
        "~+/.env",
        ".e[n]v",
        ".en?",
        ".e*",
        ".[e]nv",
        ".{e,}nv",
        "{.env,notes.txt}",
        "sub/.env",
        "./sub/.env",
        "*/.env",
        "secrets/api.key",
        "./secrets/api.key",
        "slink/api.key",
        "secrets/deep/x.txt",
        "s*/api.key",
        "secret?/api.key",
        "secrets/*",
        "secrets/../secrets/api.key",
        "L/../../secrets/api.key",
        "@P/secrets/api.key",
        "/proc/self/cwd/secrets/api.key",
        "$(echo .env)",
        "\"$(echo secrets)\"/api.key",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Commands that read FILE.
fn readers() -> Vec<&'static str> {
    vec![
        "cat @F",
        "cat<@F",
        "cat <@F",
        "cat 0<@F",
        "cat <>@F",
        "head -n1 @F",
        "tail -n 1 @F",
        "grep . @F",
        "grep -e S @F",
        "sed -n p @F",
        "awk 1 @F",
        "cut -c1 @F",
        "sort @F",
        "uniq @F",
        "wc -c @F",
        "base64 @F",
        "od -c @F",
        "nl @F",
        "tac @F",
        "strings @F",
        "md5sum @F",
        "diff @F notes.txt",
        "cmp @F notes.txt",
        "dd if=@F of=/dev/null status=none",
        "cp @F junk/copy",
        "tee junk/t < @F",
        "while read l; do :; done < @F",
        "echo \"$(<@F)\"",
        "read l < @F",
        "mapfile a < @F",
        "source @F",
        ". @F",
        "exec 3<@F; cat <&3",
        "cat /dev/fd/3 3<@F",
        "xargs cat <<< @F",
        "ls && cat @F",
        "echo hi; cat @F",
        "false || cat @F",
        "cat @F | wc -l",
        "echo hi # '\ncat @F # '",
        "echo hi # \"\ncat @F",
        "echo hi #`\ncat @F",
        "echo hi#x; cat @F",
        "python3 -c 'print(open(\"@F\").read())'",
        "perl -ne print @F",
        "sh -c 'cat @F'",
    ]
}

/// Spellings of a protected file to write.
fn write_targets() -> Vec<String> {
    [
        ".hookhost/settings.json",
        "./.hookhost/settings.json",
        ".hookhost//settings.json",
        ".hookhost/./settings.json",
        "sub/../.hookhost/settings.json",
        "L/../../.hookhost/settings.json",
        "@P/.hookhost/settings.json",
        "/proc/self/cwd/.hookhost/settings.json",
        "'.hookhost/settings.json'",
        "\".hookhost\"/settings.json",
        ".hookhost/settings.jso[n]",
        ".hookhost/*.json",
        ".h*/settings.json",
        ".hookhost/new.json",
        "\"$PWD/.hookhost/settings.json\"",
        ".hookhost/{settings,x}.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Commands that write FILE.
fn writers() -> Vec<&'static str> {
    vec![
        "echo pwned > @F",
        "echo pwned>@F",
        "echo pwned >>@F",
        "echo pwned >|@F",
        "echo pwned &>@F",
        "echo pwned &>>@F",
        "echo pwned >&@F",
        "echo pwned 1>@F",
        "echo pwned 2>@F",
        "echo pwned 1<>@F",
        ": > @F",
        "> @F",
        "exec 3>@F",
        "printf x | tee @F",
        "tee -a @F <<< x",
        "cp notes.txt @F",
        "cat notes.txt > @F",
        "dd of=@F status=none <<< x",
        "sort -o @F notes.txt",
        "sort notes.txt -o @F",
        "sort --output=@F notes.txt",
        "uniq notes.txt @F",
        "sed -i s/a/b/ @F",
        "touch @F",
        "truncate -s0 @F",
        "ls > @F",
        "echo hi # '\necho pwned > @F # '",
        "true && echo pwned > @F",
        "echo pwned | (cat > @F)",
        "{ echo pwned; } > @F",
        "python3 -c 'open(\"@F\", \"w\").write(\"x\")'",
    ]
}

/// Changing directory first, then the protected file by a relative name.
fn cd_forms() -> Vec<String> {
    [
        "cd secrets && cat api.key",
        "cd secrets; cat api.key",
        "cd secrets || exit; cat api.key",
        "cd ./secrets && cat ./api.key",
        "cd slink && cat api.key",
        "cd -P slink && cat api.key",
        "cd L/../.. && cat .env",
        "cd sub && cat ../.env",
        "cd sub; cat .env",
        "cd a/b && cat ../../.env",
        "pushd secrets >/dev/null && cat api.key",
        "pushd secrets; cat api.key; popd",
        "cd secrets && true | cat api.key",
        "cd secrets && cat api.key | wc -c",
        "{ cd secrets; cat api.key; }",
        "(cd secrets && cat api.key)",
        "cd \"$(echo secrets)\" && cat api.key",
        "cd $(printf secrets) && cat api.key",
        "d=secrets; cd $d && cat api.key",
        "cd @P/secrets && cat api.key",
        "cd /proc/self/cwd/secrets && cat api.key",
        "cd .hookhost && echo pwned > settings.json",
        "cd .hookhost; echo pwned >settings.json",
        "cd .hookhost && tee settings.json <<< x",
        "pushd .hookhost && echo pwned > settings.json",
        "cd sub && echo pwned > ../.hookhost/settings.json",
        "(cd .hookhost && echo pwned > settings.json)",
        "cd .hookhost && cp ../notes.txt settings.json",
        "cd secrets && for f in *; do cat \"$f\"; done",
        "cd secrets && cat *",
        "env -C secrets cat api.key",
        "cd secrets && bash -c 'cat api.key'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Reading a directory that holds protected files.
fn tree_forms() -> Vec<String> {
    [
        "grep -r SECRET .",
        "grep -rn SECRET",
        "grep -R KEY .",
        "grep -rl x secrets",
        "grep -r --include='*.key' KEY .",
        "rg KEY",
        "rg -uu SECRET",
        "rg --hidden SECRET .",
        "tar cf junk/x.tar .",
        "tar -C secrets -cf junk/y.tar .",
        "tar czf junk/z.tgz secrets",
        "cp -r secrets junk/c",
        "cp -a . junk/all 2>/dev/null",
        "find . -name .env -exec cat {} +",
        "find . -type f -exec cat {} \\;",
        "find secrets -type f | xargs cat",
        "diff -r secrets docs",
        "head -c1 secrets/*",
        "cat secrets/*/*",
        "grep -r x docs/../secrets",
        "cp -rL slink junk/s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Separators a benign command can be joined with.
const SEPS: &[&str] = &["; ", " && ", " || ", " | ", " |& ", " & ", "\n", ";\n"];

fn corpus(p: &Path) -> Vec<Variant> {
    let pd = p.display().to_string();
    let subst = |s: &str| s.replace("@P", &pd);
    let mut out = Vec::new();
    for c in curl_forms() {
        out.push(v("curl", c.clone()));
    }
    // Separators, before and after, and the comment trick.
    for (i, c) in ["curl -s @U", "/usr/bin/curl -s @U", "env curl -s @U", "command curl -s @U"].iter().enumerate() {
        let c = c.replace("@U", U);
        for s in SEPS {
            let before = if s.contains("||") { "false" } else { "echo hi" };
            out.push(v("separators", format!("{before}{s}{c}")));
            out.push(v("separators", format!("{c}{s}ls >/dev/null")));
        }
        for q in ["'", "\"", "`", "$(", "{", "\\"] {
            out.push(v("comments", format!("echo hi # {q}\n{c} # {q}")));
            out.push(v("comments", format!("ls #{q}\n{c}")));
        }
        if i == 0 {
            out.push(v("comments", format!("echo hi#; {c}")));
            out.push(v("comments", format!(": '\n' ; {c}")));
        }
    }
    for c in rm_forms() {
        out.push(v("rm", c.clone()));
        out.push(v("rm", format!("echo hi && {c}")));
    }
    for t in read_targets() {
        let t = subst(&t);
        for r in readers() {
            // Every target with a few readers, every reader with a few targets.
            let common = matches!(t.as_str(), ".env" | "L/../../.env" | "secrets/api.key" | ".e[n]v" | "link");
            let core =
                matches!(r, "cat @F" | "cat<@F" | "head -n1 @F" | "grep . @F" | "cp @F junk/copy" | "echo \"$(<@F)\"");
            if common || core {
                out.push(v("reads", r.replace("@F", &t)));
            }
        }
    }
    for t in write_targets() {
        let t = subst(&t);
        for w in writers() {
            let common = matches!(
                t.as_str(),
                ".hookhost/settings.json" | "L/../../.hookhost/settings.json" | ".hookhost/settings.jso[n]"
            );
            let core = matches!(
                w,
                "echo pwned > @F"
                    | "echo pwned>@F"
                    | "echo pwned >&@F"
                    | "tee -a @F <<< x"
                    | "sort -o @F notes.txt"
                    | "cp notes.txt @F"
            );
            if common || core {
                out.push(v("writes", w.replace("@F", &t)));
            }
        }
    }
    for c in cd_forms() {
        out.push(v("cd", subst(&c)));
    }
    for c in tree_forms() {
        out.push(v("directory reads", c));
    }
    // From a subdirectory: `./` rules cannot be escaped by moving cwd.
    for c in [
        "cat ../.env",
        "cat ../secrets/api.key",
        "cat .env",
        "echo pwned > ../.hookhost/settings.json",
        "grep -r SECRET ..",
        "cat ../link",
    ] {
        out.push(Variant { class: "cwd moved", cmd: c.into(), cwd: "sub", benign: false });
    }
    // Symlinks made by the line itself.
    for c in [
        "ln -s .env x && cat x",
        "ln -s secrets s2; cat s2/api.key",
        "ln -sf ../.env sub/up && cat sub/up",
        "ln -s a/b M && cat M/../../.env",
        "ln .env hard && cat hard",
        "ln -s .hookhost h && echo pwned > h/settings.json",
        "cp -s @P/.env junk/l && cat junk/l",
    ] {
        out.push(v("symlinks", subst(c)));
    }
    // Controls: nothing protected is touched; the policy allows them.
    for c in [
        "echo hi",
        "ls -la",
        "echo 'curl x'",
        "echo \"cat .env\"",
        "ls secrets",
        "echo hi # curl x",
        "ls; echo done",
        "echo .env",
        "ls -la | ls",
        "echo 'a && curl x'",
        "ls docs && echo ok",
        "echo \"$HOME\"",
        "echo rm -rf junk",
        "ls -la # '\necho ok",
    ] {
        out.push(Variant { class: "controls", cmd: c.into(), cwd: "", benign: true });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

fn bus(managed: &str, base: &Path) -> EventBus {
    let f = file::parse(managed, &base.join("managed-settings.json"), Scope::Managed).expect("policy parses");
    EventBus::new(settings::resolve(vec![f]))
}

fn decide(bus: &EventBus, proj: &Path, tool: &str, input: serde_json::Value, cwd: &Path) -> Option<Permission> {
    let event = json!({
        "session_id": "s1", "cwd": cwd, "hook_event_name": "PreToolUse", "permission_mode": "default",
        "tool_name": tool, "tool_input": input, "tool_use_id": "t"
    });
    let event = HookEvent::parse(event.to_string().as_bytes()).unwrap();
    let ctx = DispatchContext { project_dir: Some(proj.to_path_buf()), user_dir: None };
    bus.check_rules(&event, &ctx).map(|h| h.permission)
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

/// What bash did for one variant.
#[derive(Debug, Default, Clone)]
struct Seen {
    violations: Vec<String>,
}

/// Runs every variant under one `strace -f` and returns what each did.
fn oracle(s: &Scratch, variants: &[Variant]) -> Vec<Seen> {
    let vdir = s.base.join("variants");
    std::fs::create_dir_all(&vdir).unwrap();
    let mut driver = String::from("#!/bin/bash\n");
    driver.push_str(&s.restore_script());
    for (i, var) in variants.iter().enumerate() {
        std::fs::write(vdir.join(i.to_string()), &var.cmd).unwrap();
        let dir = s.proj.join(var.cwd);
        let _ = writeln!(
            driver,
            "restore; IFS= read -r -d '' c < '{}/{i}'; cd '{}' && ( ulimit -t 5; exec -a ORACLE_{i} /bin/bash -c \"$c\" ) </dev/null >/dev/null 2>&1",
            vdir.display(),
            dir.display()
        );
    }
    let dpath = s.base.join("driver.sh");
    std::fs::write(&dpath, driver).unwrap();
    let log = s.base.join("strace.log");
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", s.base.join("bin").display());
    let status = Command::new("timeout")
        .args(["300", "strace", "--seccomp-bpf", "-f", "-qq", "-y", "-s", "4096", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=execve,open,openat,openat2,creat,truncate,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,clone,clone3,fork,vfork",
            "/bin/bash",
        ])
        .arg(&dpath)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &s.base)
        .status()
        .expect("strace runs (install it: apt-get install strace)");
    assert!(status.success() || status.code() == Some(1), "driver failed: {status:?}");
    parse_trace(&std::fs::read_to_string(&log).unwrap(), &s.proj, variants.len())
}

/// The pid at the start of a line, and the rest.
fn split_pid(line: &str) -> Option<(u32, &str)> {
    let (pid, rest) = line.split_once(' ')?;
    Some((pid.parse().ok()?, rest.trim_start()))
}

/// The return value of a syscall line (`= 3</path>` → (3, Some(path))).
fn ret(rest: &str) -> Option<(i64, Option<&str>)> {
    let r = rest.rsplit_once(") = ")?.1;
    let (num, tail) = r.split_at(r.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(r.len()));
    let n: i64 = num.parse().ok()?;
    let path = tail.strip_prefix('<').and_then(|t| t.split_once('>')).map(|(p, _)| p);
    Some((n, path))
}

/// The strings of a syscall's argument list, in order (C escapes decoded roughly).
fn strings(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut s = String::new();
            while let Some(d) = chars.next() {
                match d {
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(e) => s.push(e),
                        None => {}
                    },
                    '"' => break,
                    _ => s.push(d),
                }
            }
            out.push(s);
        }
    }
    out
}

fn parse_trace(log: &str, proj: &Path, n: usize) -> Vec<Seen> {
    let p = proj.display().to_string();
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut marker: HashMap<u32, usize> = HashMap::new();
    for line in log.lines() {
        let Some((pid, rest)) = split_pid(line) else { continue };
        let fork = [
            "clone(",
            "clone3(",
            "fork(",
            "vfork(",
            "<... clone resumed>",
            "<... clone3 resumed>",
            "<... fork resumed>",
            "<... vfork resumed>",
        ];
        if fork.iter().any(|f| rest.starts_with(f))
            && let Some((child, _)) = ret(rest)
            && child > 0
        {
            parent.insert(child as u32, pid);
        }
        if rest.starts_with("execve(")
            && let Some(argv0) = rest.split_once("[\"").and_then(|(_, a)| a.split_once('"')).map(|(a, _)| a)
            && let Some(i) = argv0.strip_prefix("ORACLE_").and_then(|x| x.parse::<usize>().ok())
        {
            marker.insert(pid, i);
        }
    }
    let owner = |mut pid: u32| -> Option<usize> {
        for _ in 0..10_000 {
            if let Some(i) = marker.get(&pid) {
                return Some(*i);
            }
            pid = *parent.get(&pid)?;
        }
        None
    };
    let protected_read = |path: &str| {
        path.starts_with(&format!("{p}/")) && (path.ends_with("/.env") || path.starts_with(&format!("{p}/secrets/")))
    };
    let hookhost = |path: &str| path.starts_with(&format!("{p}/.hookhost/")) || path == format!("{p}/.hookhost");
    let mut seen = vec![Seen::default(); n];
    for line in log.lines() {
        let Some((pid, rest)) = split_pid(line) else { continue };
        let Some(i) = owner(pid) else { continue };
        let Some((r, fdpath)) = ret(rest) else { continue };
        if r < 0 {
            continue;
        }
        let name = rest.split('(').next().unwrap_or("");
        let what = match name {
            "execve" => {
                let s = strings(rest);
                let prog = s.first().map(|x| x.rsplit('/').next().unwrap_or(x).to_string()).unwrap_or_default();
                let argv = &s[1.min(s.len())..];
                match prog.as_str() {
                    "curl" => Some(format!("ran curl: {}", s[0])),
                    "rm" => {
                        let mut flags = String::new();
                        for a in argv.iter().skip(1) {
                            if a == "--" {
                                break;
                            }
                            match a.as_str() {
                                "--recursive" => flags.push('r'),
                                "--force" => flags.push('f'),
                                x if x.starts_with('-') && !x.starts_with("--") => {
                                    flags.push_str(&x[1..].replace('R', "r"))
                                }
                                _ => {}
                            }
                        }
                        (flags.contains('r') && flags.contains('f')).then(|| format!("ran rm -rf: {argv:?}"))
                    }
                    _ => None,
                }
            }
            "open" | "openat" | "openat2" | "creat" => {
                let path = fdpath.unwrap_or("");
                let write = name == "creat"
                    || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"].iter().any(|f| rest.contains(f));
                if write && hookhost(path) {
                    Some(format!("wrote {path}"))
                } else if !write && protected_read(path) || write && protected_read(path) && rest.contains("O_RDWR") {
                    Some(format!("read {path}"))
                } else {
                    None
                }
            }
            "truncate" | "unlink" | "unlinkat" | "rename" | "renameat" | "renameat2" | "link" | "linkat"
            | "symlink" | "symlinkat" => {
                // Relative names: joined with the directory strace printed for the dirfd.
                let dir = rest.split_once('<').and_then(|(_, t)| t.split_once('>')).map(|(d, _)| d.to_string());
                let names = strings(rest);
                names
                    .iter()
                    .map(|n| {
                        if n.starts_with('/') { n.clone() } else { format!("{}/{n}", dir.clone().unwrap_or_default()) }
                    })
                    .find(|n| hookhost(n) || n.contains("/.hookhost/"))
                    .map(|n| format!("{name} {n}"))
            }
            _ => None,
        };
        if let Some(w) = what {
            seen[i].violations.push(w);
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn corpus_against_bash() {
    let s = scratch();
    let variants = corpus(&s.proj);
    let bus = bus(POLICY, &s.base);
    let start = std::time::Instant::now();
    let debug = std::env::var_os("BYPASS_DEBUG").is_some();
    let decisions: Vec<Option<Permission>> = variants
        .iter()
        .map(|v| {
            let t = std::time::Instant::now();
            let d = decide(&bus, &s.proj, "Bash", json!({"command": v.cmd}), &s.proj.join(v.cwd));
            if debug {
                eprintln!("{:?} {:?} {d:?}", t.elapsed(), v.cmd);
            }
            d
        })
        .collect();
    let engine_time = start.elapsed();
    let start = std::time::Instant::now();
    let seen = oracle(&s, &variants);
    let oracle_time = start.elapsed();
    s.restore();

    let mut failures = Vec::new();
    let mut per_class: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for ((var, got), seen) in variants.iter().zip(&decisions).zip(&seen) {
        let e = per_class.entry(var.class).or_default();
        e.0 += 1;
        if !seen.violations.is_empty() {
            e.1 += 1;
            if *got != Some(Permission::Deny) {
                failures.push(format!(
                    "  [{}] {:?} (cwd {:?}): bash {:?}; the engine said {:?}",
                    var.class, var.cmd, var.cwd, seen.violations, got
                ));
            }
        }
        if *got == Some(Permission::Deny) {
            e.2 += 1;
        }
        if var.benign {
            if !seen.violations.is_empty() {
                failures.push(format!("  control {:?} touched something protected: {:?}", var.cmd, seen.violations));
            }
            if *got != Some(Permission::Allow) {
                failures.push(format!("  control {:?} should be allowed, the engine said {:?}", var.cmd, got));
            }
        }
    }
    eprintln!(
        "bypass corpus: {} variants ({} where bash violated the policy), engine {engine_time:?}, oracle {oracle_time:?}",
        variants.len(),
        seen.iter().filter(|s| !s.violations.is_empty()).count()
    );
    for (c, (n, viol, denied)) in &per_class {
        eprintln!("  {c:<16} {n:>4} variants, {viol:>4} violations under bash, {denied:>4} denied");
    }
    // The corpus must exercise the oracle: most non-control variants do violate.
    let violating = seen.iter().filter(|s| !s.violations.is_empty()).count();
    assert!(variants.len() >= 500, "only {} variants", variants.len());
    assert!(violating * 2 >= variants.len(), "only {violating} of {} variants violate under bash", variants.len());
    assert!(failures.is_empty(), "{} bypasses:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn sample_through_the_binary() {
    let env = Env::new();
    env.write("managed", POLICY);
    let p = env.project();
    for d in ["sub", "secrets", "a/b", "junk", ".hookhost"] {
        std::fs::create_dir_all(p.join(d)).unwrap();
    }
    std::fs::write(p.join(".env"), "SECRET=1\n").unwrap();
    std::fs::write(p.join("secrets/api.key"), "KEY\n").unwrap();
    std::fs::write(p.join("notes.txt"), "notes\n").unwrap();
    std::fs::write(p.join(".hookhost/settings.json"), "{}\n").unwrap();
    symlink("a/b", p.join("L")).unwrap();
    let p = p.canonicalize().unwrap();
    let denied = [
        "echo hi # '\ncurl -s x # '".to_string(),
        "echo pwned>.hookhost/settings.json".into(),
        "cat<.env".into(),
        "sort -o .hookhost/settings.json notes.txt".into(),
        "uniq notes.txt .hookhost/settings.json".into(),
        "dd if=.env of=/dev/null".into(),
        "cd secrets && cat api.key".into(),
        "cd .hookhost; echo x > settings.json".into(),
        "cat L/../../.env".into(),
        "cat /proc/self/cwd/.env".into(),
        "cat .e[n]v".into(),
        "{curl,-s,x}".into(),
        "/???/bin/cur? -s x".into(),
        "env -S 'curl x'".into(),
        "grep -r SECRET .".into(),
        "find . -name .env -exec cat {} +".into(),
        "rm -r -f junk".into(),
        "tee .hookhost/settings.json <<< x".into(),
        format!("cat {}/.env", p.display()),
        "echo hi && ls | ls | ls\ncurl -s x && ls".into(),
    ];
    for cmd in &denied {
        let mut e: serde_json::Value = serde_json::from_slice(&super::support::bash_event(cmd)).unwrap();
        e["cwd"] = json!(p);
        let out = env.dispatch(&serde_json::to_vec(&e).unwrap());
        assert_eq!(out.code, 0, "{cmd:?}: {out:?}");
        let v = out.json();
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{cmd:?} must be denied: {v}");
    }
    for cmd in ["echo hi", "ls -la", "echo 'curl x'", "ls secrets"] {
        let mut e: serde_json::Value = serde_json::from_slice(&super::support::bash_event(cmd)).unwrap();
        e["cwd"] = json!(p);
        let out = env.dispatch(&serde_json::to_vec(&e).unwrap());
        let v = out.json();
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow", "{cmd:?} must be allowed: {v}");
    }
}

/// Path tools (Read, Edit, Write, Grep, Glob, LS) against the same policy: kernel-true paths,
/// `/proc` forms, `./` rules from a subdirectory, directory reads.
#[test]
fn path_tools() {
    let s = scratch();
    let p = &s.proj;
    let bus = bus(POLICY, &s.base);
    let pd = p.display().to_string();
    let d = |tool: &str, input: serde_json::Value, cwd: &str| decide(&bus, p, tool, input, &p.join(cwd));
    let mut failures = Vec::new();
    let mut n = 0;
    let reads = [
        "@P/.env",
        "@P/sub/.env",
        "@P/L/../../.env",
        "@P/L/../../secrets/api.key",
        "@P/link",
        "@P/slink/api.key",
        "@P/sub/../.env",
        "/proc/self/cwd/.env",
        "/proc/thread-self/cwd/secrets/api.key",
        "/proc/self/root@P/.env",
        "@P//secrets///api.key",
        "@P/./secrets/./deep/x.txt",
        ".env",
        "L/../../.env",
        "sub/../secrets/api.key",
    ];
    // From `sub`, relative names are relative to it (`.env` is sub/.env, denied by `./.env`).
    let from_sub = ["../.env", "../secrets/api.key", "../L/../../.env", ".env", "../link"];
    for (cwd, list) in [("", &reads[..]), ("sub", &reads[..]), ("sub", &from_sub[..])] {
        for r in list {
            if cwd == "sub" && !r.starts_with('@') && !r.starts_with('/') && list.len() == reads.len() {
                continue; // project-relative spellings only from the project
            }
            let path = r.replace("@P", &pd);
            for (tool, key) in [("Read", "file_path"), ("NotebookRead", "notebook_path")] {
                n += 1;
                let got = d(tool, json!({ key: path }), cwd);
                // Relative forms are relative to the cwd: from `sub`, `.env` is sub/.env (also denied).
                if got != Some(Permission::Deny) {
                    failures.push(format!("{tool} {path} (cwd {cwd:?}): {got:?}"));
                }
            }
        }
    }
    let writes = [
        "@P/.hookhost/settings.json",
        "@P/L/../../.hookhost/settings.json",
        "@P/.hookhost/new.json",
        "/proc/self/cwd/.hookhost/x",
        "@P/sub/../.hookhost/settings.json",
    ];
    for cwd in ["", "sub"] {
        for w in writes {
            let path = w.replace("@P", &pd);
            for (tool, input) in [
                ("Write", json!({"file_path": path, "content": "x"})),
                ("Edit", json!({"file_path": path, "old_string": "a", "new_string": "b"})),
                ("MultiEdit", json!({"file_path": path, "edits": []})),
            ] {
                n += 1;
                let got = d(tool, input, cwd);
                if got != Some(Permission::Deny) {
                    failures.push(format!("{tool} {path} (cwd {cwd:?}): {got:?}"));
                }
            }
        }
    }
    // Directory reads by the search tools.
    for (tool, input) in [
        ("Grep", json!({"pattern": "SECRET", "path": pd})),
        ("Grep", json!({"pattern": "SECRET"})),
        ("Grep", json!({"pattern": "SECRET", "path": pd, "glob": ".env"})),
        ("Grep", json!({"pattern": "KEY", "path": format!("{pd}/secrets")})),
        ("Grep", json!({"pattern": "x", "path": format!("{pd}/L/../..")})),
        ("Glob", json!({"pattern": ".env", "path": pd})),
        ("Glob", json!({"pattern": "**/.env"})),
        ("Glob", json!({"pattern": "secrets/*"})),
        ("LS", json!({"path": pd})),
        ("LS", json!({"path": format!("{pd}/secrets")})),
    ] {
        n += 1;
        let got = d(tool, input.clone(), "");
        if got != Some(Permission::Deny) {
            failures.push(format!("{tool} {input}: {got:?}"));
        }
    }
    // Nothing protected: no opinion (the policy allows only Bash commands).
    for (tool, input) in [
        ("Read", json!({"file_path": format!("{pd}/notes.txt")})),
        ("Grep", json!({"pattern": "x", "path": format!("{pd}/docs")})),
        ("Grep", json!({"pattern": "x", "path": pd, "glob": "*.md"})),
        ("Glob", json!({"pattern": "**/*.md", "path": pd})),
        ("Write", json!({"file_path": format!("{pd}/docs/new.md"), "content": "x"})),
    ] {
        n += 1;
        let got = d(tool, input.clone(), "");
        if got.is_some() {
            failures.push(format!("{tool} {input} should have no opinion: {got:?}"));
        }
    }
    eprintln!("path tools: {n} calls");
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
}

/// `WebFetch(domain:…)` against URL spellings; Node's WHATWG `URL` (the agent's fetch) says
/// which host each one reaches.
#[test]
fn urls_against_node() {
    let hosts = [
        "evil.example",
        "EVIL.example",
        "Evil.Example.",
        "evil%2Eexample",
        "evil%2eexample",
        "evil.example:443",
        "evil.example:",
        "user@evil.example",
        "user:pw@evil.example",
        "allowed.example@evil.example",
        "evil.example\\@allowed.example",
        "evil.example%5C@allowed.example",
        "evil.example#@allowed.example",
        "evil.example?@allowed.example",
        "evil.example/@allowed.example",
        "ev\til.example",
        "evil\n.example",
        "evil\u{3002}example",
        "evil\u{FF0E}example",
        "\u{FF45}vil.example",
        "sub.evil.example",
        "a.b.evil.example",
        "xn--vil-8na.example",
        "évil.example",
        "0x7f.1",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "0x7f000001",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "allowed.example",
        "ALLOWED.example",
        "allowed.example:8443",
        "u@allowed.example",
        "allowed.example.evil.example",
        "evil.example.allowed.example",
        "allowedexample",
        "evil..example",
        "[evil.example]",
        "evil example",
        "%65vil.example",
    ];
    let mut urls = Vec::new();
    for h in hosts {
        for pre in
            ["https://", "http://", "HTTPS://", "https:", "https:/", "https:\\\\", " https://", "https:///", "//"]
        {
            urls.push(format!("{pre}{h}/path"));
        }
    }
    urls.push("not a url".into());
    urls.push("mailto:x@evil.example".into());
    urls.push("file:///etc/passwd".into());
    urls.push(String::new());
    let script = r#"
        let input = ''; process.stdin.on('data', d => input += d); process.stdin.on('end', () => {
          const out = JSON.parse(input).map(u => { try { const x = new URL(u); return x.hostname; } catch (e) { return null; } });
          process.stdout.write(JSON.stringify(out));
        });"#;
    let mut child = Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (install it: apt-get install nodejs)");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(serde_json::to_string(&urls).unwrap().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node failed");
    let node: Vec<Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(node.len(), urls.len());

    let s = scratch();
    let policy = r#"{"permissions": {"deny": ["WebFetch(domain:evil.example)", "WebFetch(domain:127.0.0.1)"], "allow": ["WebFetch(domain:allowed.example)"]}}"#;
    let bus = bus(policy, &s.base);
    let mut failures = Vec::new();
    let (mut denied, mut allowed) = (0, 0);
    for (u, h) in urls.iter().zip(&node) {
        let got = decide(&bus, &s.proj, "WebFetch", json!({"url": u, "prompt": "x"}), &s.proj);
        let h = h.as_deref().map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        let evil = |h: &str| h == "evil.example" || h.ends_with(".evil.example");
        let loopback = |h: &str| matches!(h, "127.0.0.1" | "[::ffff:7f00:1]" | "[::ffff:127.0.0.1]");
        let want = match h.as_deref() {
            None | Some("") => "deny",
            Some(h) if evil(h) || loopback(h) => "deny",
            Some(h) if h == "allowed.example" || h.ends_with(".allowed.example") => "allow",
            Some(_) => "not allow",
        };
        let ok = match want {
            "deny" => got == Some(Permission::Deny),
            "allow" => got == Some(Permission::Allow),
            _ => got != Some(Permission::Allow),
        };
        denied += usize::from(got == Some(Permission::Deny));
        allowed += usize::from(got == Some(Permission::Allow));
        if !ok {
            failures.push(format!("  {u:?}: node reaches {h:?}, want {want}, the engine said {got:?}"));
        }
    }
    eprintln!("urls: {} spellings ({denied} denied, {allowed} allowed)", urls.len());
    assert!(allowed > 0 && denied > 0);
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
}
