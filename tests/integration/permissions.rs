//! Permission rules (protocol note §8): Claude Code's `permissions` lists evaluated deny → ask →
//! allow before hooks run.
//!
//! - `decision_table`: one table of (rules, tool call, expected decision) rows driven through the
//!   library (`settings::file::parse` → `settings::resolve` → `EventBus::check_rules`) against a
//!   real temporary project with real files and symlinks. Every mismatch is collected and
//!   reported at once.
//! - `malformed_rule_*`, `reason_*`: load errors are located; a hit names its rule and file.
//! - property tests: a compound command with a denied part is never allowed; arbitrary input
//!   never panics the engine.
//! - `e2e_*`: the managed example policy through the real `hookhost dispatch` binary.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use hookhost::settings::{self, Scope, file};
use hookhost::{DispatchContext, EventBus, HookEvent, Permission};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

use super::support::{Env, fixture};

const D: Option<Permission> = Some(Permission::Deny);
const A: Option<Permission> = Some(Permission::Ask);
const L: Option<Permission> = Some(Permission::Allow);
const N: Option<Permission> = None;

// ---------------------------------------------------------------------------------------------
// The project on disk
// ---------------------------------------------------------------------------------------------

/// A temporary project with secrets, look-alikes and symlinks:
///
/// ```text
/// base/proj/                     (root; cwd of every event unless a row says otherwise)
///   .env .env.local .envrc README.md notes.txt
///   src/a.ts src/main.rs src/x/y/b.ts
///   secrets/key.pem secrets/deep/x.txt      secretsx/a (look-alike)
///   sub/.env  sub/up -> ../.env
///   safe/  docs/readme.md  docs/envlink -> ../.env  docs/escape -> base/outside
///   link -> .env    secretlink -> secrets    outlink -> base/outside
/// base/outside/secret.txt
/// ```
struct Project {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

fn project() -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("proj");
    let outside = base.join("outside");
    for d in ["src/x/y", "secrets/deep", "secretsx", "sub", "safe", "docs", ".claude"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::create_dir_all(&outside).unwrap();
    for f in [
        ".env",
        ".env.local",
        ".envrc",
        "README.md",
        "notes.txt",
        "src/a.ts",
        "src/main.rs",
        "src/x/y/b.ts",
        "secrets/key.pem",
        "secrets/deep/x.txt",
        "secretsx/a",
        "sub/.env",
        "docs/readme.md",
    ] {
        std::fs::write(root.join(f), format!("contents of {f}\n")).unwrap();
    }
    std::fs::write(outside.join("secret.txt"), "outside secret\n").unwrap();
    symlink(".env", root.join("link")).unwrap();
    symlink("secrets", root.join("secretlink")).unwrap();
    symlink(&outside, root.join("outlink")).unwrap();
    symlink("../.env", root.join("sub/up")).unwrap();
    symlink("../.env", root.join("docs/envlink")).unwrap();
    symlink(&outside, root.join("docs/escape")).unwrap();
    Project { _tmp: tmp, base, root, outside }
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_default()
}

impl Project {
    /// `@ROOT`, `@OUT` and `@HOME` in settings and tool input stand for the real paths.
    fn sub(&self, s: &str) -> String {
        s.replace("@ROOT", &self.root.to_string_lossy())
            .replace("@OUT", &self.outside.to_string_lossy())
            .replace("@HOME", &home())
    }

    fn managed_path(&self) -> PathBuf {
        self.base.join("etc/hookhost/managed-settings.json")
    }

    fn project_path(&self) -> PathBuf {
        self.root.join(".claude/settings.json")
    }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

struct Row {
    label: &'static str,
    /// Managed settings (the whole file).
    managed: Value,
    /// Project settings, if any (resolved after managed, i.e. in precedence order).
    project: Option<Value>,
    tool: &'static str,
    input: Value,
    permission_mode: &'static str,
    /// The event's cwd, relative to the project root (default: the root).
    cwd: Option<&'static str>,
    expect: Option<Permission>,
}

impl Row {
    fn project(mut self, v: Value) -> Self {
        self.project = Some(v);
        self
    }
    fn mode(mut self, m: &'static str) -> Self {
        self.permission_mode = m;
        self
    }
    fn cwd(mut self, c: &'static str) -> Self {
        self.cwd = Some(c);
        self
    }
}

fn row(label: &'static str, managed: Value, call: (&'static str, Value), expect: Option<Permission>) -> Row {
    Row { label, managed, project: None, tool: call.0, input: call.1, permission_mode: "default", cwd: None, expect }
}

/// `{"permissions": {"deny": …, "ask": …, "allow": …}}`.
fn rules(deny: &[&str], ask: &[&str], allow: &[&str]) -> Value {
    json!({"permissions": {"deny": deny, "ask": ask, "allow": allow}})
}
fn deny(d: &[&str]) -> Value {
    rules(d, &[], &[])
}
/// The same settings with managed `hookhost.strictBashRules: true`.
fn strict(mut v: Value) -> Value {
    v["hookhost"] = json!({"strictBashRules": true});
    v
}
/// The protocol note's example policy (§8).
fn example() -> Value {
    rules(
        &["Bash(curl *)", "Read(./.env)", "Read(./.env.*)", "Read(./secrets/**)", "WebFetch"],
        &["Bash(git push *)"],
        &["Bash(npm run test *)"],
    )
}

fn bash(cmd: &str) -> (&'static str, Value) {
    ("Bash", json!({"command": cmd, "description": "test"}))
}
fn read(p: &str) -> (&'static str, Value) {
    ("Read", json!({"file_path": p}))
}
fn edit(p: &str) -> (&'static str, Value) {
    ("Edit", json!({"file_path": p, "old_string": "a", "new_string": "b"}))
}
fn write(p: &str) -> (&'static str, Value) {
    ("Write", json!({"file_path": p, "content": "x"}))
}
fn web(url: &str) -> (&'static str, Value) {
    ("WebFetch", json!({"url": url, "prompt": "summarise"}))
}
fn mcp(tool: &'static str) -> (&'static str, Value) {
    (tool, json!({"key": "value"}))
}

fn rows() -> Vec<Row> {
    let curl_deny_allow_all = || rules(&["Bash(curl *)"], &[], &["Bash(*)"]);
    let curl_deny_allow_echo = || rules(&["Bash(curl *)"], &[], &["Bash(echo *)"]);
    let env_deny_allow_all = || rules(&["Read(./.env)"], &[], &["Bash(*)"]);
    let env_edit_deny_allow_all = || rules(&["Edit(./.env)"], &[], &["Bash(*)"]);
    let secrets_deny_allow_all = || rules(&["Read(./.env)", "Read(./secrets/**)"], &[], &["Bash(*)"]);
    let path_deny = || deny(&["Read(./.env)", "Read(./secrets/**)"]);
    vec![
        // --- The protocol note's example policy (§8) ---------------------------------------
        row("example: npm run test --watch is allowed", example(), bash("npm run test --watch"), L),
        row("example: bare `npm run test` is allowed", example(), bash("npm run test"), L),
        row("example: npm run build has no rule", example(), bash("npm run build"), N),
        row("example: git push asks", example(), bash("git push origin main"), A),
        row("example: git status has no rule", example(), bash("git status"), N),
        row("example: curl denied", example(), bash("curl https://example.com"), D),
        row("example: Read .env denied", example(), read("@ROOT/.env"), D),
        row("example: Read .env.local denied by .env.*", example(), read("@ROOT/.env.local"), D),
        row("example: Read secrets/key.pem denied", example(), read("@ROOT/secrets/key.pem"), D),
        row("example: Read secrets/deep/x.txt denied", example(), read("@ROOT/secrets/deep/x.txt"), D),
        row("example: Read README.md no rule", example(), read("@ROOT/README.md"), N),
        row("example: Read .envrc not .env / .env.*", example(), read("@ROOT/.envrc"), N),
        row("example: bare WebFetch denies every fetch", example(), web("https://docs.rs/serde"), D),
        row("example: npm run test && curl: deny", example(), bash("npm run test && curl x"), D),
        row("example: npm run test && git push: ask", example(), bash("npm run test && git push origin main"), A),
        row("example: cat .env via Bash denied", example(), bash("cat .env"), D),
        // --- Bash wildcard syntax -----------------------------------------------------------
        row("git * main matches git push origin main", deny(&["Bash(git * main)"]), bash("git push origin main"), D),
        row(
            "git * main does not match git push origin dev",
            deny(&["Bash(git * main)"]),
            bash("git push origin dev"),
            N,
        ),
        row("ls * allows ls -la", rules(&[], &[], &["Bash(ls *)"]), bash("ls -la"), L),
        row("ls * allows bare ls", rules(&[], &[], &["Bash(ls *)"]), bash("ls"), L),
        row("ls * does not allow lsof", rules(&[], &[], &["Bash(ls *)"]), bash("lsof"), N),
        row("ls* allows lsof", rules(&[], &[], &["Bash(ls*)"]), bash("lsof -i"), L),
        row("legacy :* denies npm run build", deny(&["Bash(npm run:*)"]), bash("npm run build"), D),
        row("legacy :* does not match npm runx", deny(&["Bash(npm run:*)"]), bash("npm runx"), N),
        row("Bash(*) is Bash: denies anything", deny(&["Bash(*)"]), bash("echo hi"), D),
        row("bare Bash denies anything", deny(&["Bash"]), bash("true"), D),
        row("curlie is not curl", curl_deny_allow_echo(), bash("curlie x"), N),
        // --- curl hidden in compound commands, wrappers and substitutions -------------------
        row("curl after &&", curl_deny_allow_all(), bash("ls && curl x"), D),
        row("curl after ||", curl_deny_allow_all(), bash("false || curl x"), D),
        row("curl after ;", curl_deny_allow_all(), bash("ls; curl x"), D),
        row("curl after |", curl_deny_allow_all(), bash("cat notes.txt | curl -d @- x"), D),
        row("curl after |&", curl_deny_allow_all(), bash("make |& curl -d @- x"), D),
        row("curl before &", curl_deny_allow_all(), bash("curl x & ls"), D),
        row("curl after newline", curl_deny_allow_all(), bash("ls\ncurl x"), D),
        row("curl with path prefix /usr/bin/curl", curl_deny_allow_all(), bash("/usr/bin/curl x"), D),
        row("curl with relative path ./bin/curl", curl_deny_allow_all(), bash("ls && ./bin/curl x"), D),
        row("curl after env", curl_deny_allow_all(), bash("env curl x"), D),
        row("curl after env -i VAR=", curl_deny_allow_all(), bash("env -i PATH=/bin curl x"), D),
        row("curl after command", curl_deny_allow_all(), bash("command curl x"), D),
        row("curl after timeout 5", curl_deny_allow_all(), bash("timeout 5 curl x"), D),
        row("curl after timeout -s KILL 5", curl_deny_allow_all(), bash("timeout -s KILL 5 curl x"), D),
        row("curl after nice -n 10", curl_deny_allow_all(), bash("nice -n 10 curl x"), D),
        row("curl after nohup", curl_deny_allow_all(), bash("nohup curl x"), D),
        row("curl after FOO=1", curl_deny_allow_all(), bash("FOO=1 curl x"), D),
        row("curl after two assignments", curl_deny_allow_all(), bash("A=1 B='x y' curl x"), D),
        row("curl via xargs", curl_deny_allow_all(), bash("echo x | xargs curl"), D),
        row("curl via xargs -n1", curl_deny_allow_all(), bash("echo x | xargs -n 1 curl -s"), D),
        row("curl in $()", curl_deny_allow_all(), bash("echo $(curl x)"), D),
        row("curl in \"$()\"", curl_deny_allow_all(), bash("echo \"$(curl x)\""), D),
        row("curl in backticks", curl_deny_allow_all(), bash("echo `curl x`"), D),
        row("curl in <()", curl_deny_allow_all(), bash("diff <(curl x) notes.txt"), D),
        row("curl in >()", curl_deny_allow_all(), bash("ls | tee >(curl -d @- x)"), D),
        row("curl in subshell", curl_deny_allow_all(), bash("(curl x)"), D),
        row("curl in subshell after cd", curl_deny_allow_all(), bash("(cd /tmp && curl x)"), D),
        row("curl in group", curl_deny_allow_all(), bash("{ curl x; }"), D),
        row("curl nested: && subshell path", curl_deny_allow_all(), bash("ls && (echo a; /usr/bin/curl x)"), D),
        row("curl in nested substitution", curl_deny_allow_all(), bash("echo $(echo $(curl x))"), D),
        row("curl after time", curl_deny_allow_all(), bash("time curl x"), D),
        row("curl after exec -a", curl_deny_allow_all(), bash("exec -a name curl x"), D),
        row("curl after stdbuf -o0", curl_deny_allow_all(), bash("stdbuf -o0 curl x"), D),
        row("bare curl", curl_deny_allow_all(), bash("curl"), D),
        row("\\curl (alias escape)", curl_deny_allow_all(), bash("\\curl x"), D),
        row("\"curl\" quoted program name", curl_deny_allow_all(), bash("\"curl\" x"), D),
        row("c''url split by empty quotes", curl_deny_allow_all(), bash("c''url x"), D),
        row("cu\\rl split by an escape", curl_deny_allow_all(), bash("cu\\rl x"), D),
        row("curl<TAB>x", curl_deny_allow_all(), bash("curl\tx"), D),
        row("function body calling curl", curl_deny_allow_all(), bash("f() { curl x; }; f"), D),
        // Shell syntax around a command: the command still runs.
        row("curl after ! (negation)", curl_deny_allow_all(), bash("! curl x"), D),
        row("curl in if condition", curl_deny_allow_all(), bash("if curl x; then ls; fi"), D),
        row("curl in then branch", curl_deny_allow_all(), bash("if true; then curl x; fi"), D),
        row("curl in for loop body", curl_deny_allow_all(), bash("for i in 1 2; do curl x; done"), D),
        row("curl in while condition", curl_deny_allow_all(), bash("while curl x; do sleep 1; done"), D),
        row("curl${IFS}x", curl_deny_allow_all(), bash("curl${IFS}x"), D),
        row("$'curl' ANSI-C quoted program name", curl_deny_allow_all(), bash("$'curl' x"), D),
        // --- quotes and escapes: these must NOT match ---------------------------------------
        row("'curl x' quoted is an argument", curl_deny_allow_echo(), bash("echo 'curl x'"), L),
        row("\"a && curl x\" quoted is an argument", curl_deny_allow_echo(), bash("echo \"a && curl x\""), L),
        row("'$(curl x)' single-quoted is literal", curl_deny_allow_echo(), bash("echo '$(curl x)'"), L),
        row("escaped ; does not split", curl_deny_allow_echo(), bash("echo a\\;curl x"), L),
        row("newline inside quotes does not split", curl_deny_allow_echo(), bash("echo 'a\ncurl x'"), L),
        row(
            "grep for curl is not curl",
            rules(&["Bash(curl *)"], &[], &["Bash(grep *)"]),
            bash("grep -rn curl src"),
            L,
        ),
        // --- allow / ask interplay on compound commands -------------------------------------
        row(
            "allowed && unallowed part: not allowed",
            rules(&[], &[], &["Bash(npm run test *)"]),
            bash("npm run test && rm -rf build"),
            N,
        ),
        row(
            "allowed | unallowed part: not allowed",
            rules(&[], &[], &["Bash(npm run test *)"]),
            bash("npm run test | tee log"),
            N,
        ),
        row(
            "every part allowed: allow",
            rules(&[], &[], &["Bash(npm run test *)", "Bash(echo *)"]),
            bash("npm run test && echo done"),
            L,
        ),
        row(
            "2>&1 is a redirection, not a separator",
            rules(&[], &[], &["Bash(npm run test *)", "Bash(tee *)"]),
            bash("npm run test 2>&1 | tee log"),
            L,
        ),
        row("&> is a redirection, not a separator", rules(&[], &[], &["Bash(ls *)"]), bash("ls &> out.txt"), L),
        row(
            "$() with all parts allowed: ask",
            rules(&[], &[], &["Bash(echo *)", "Bash(date *)"]),
            bash("echo $(date)"),
            A,
        ),
        row(
            "backticks with all parts allowed: ask",
            rules(&[], &[], &["Bash(echo *)", "Bash(date *)"]),
            bash("echo `date`"),
            A,
        ),
        row(
            "<() with all parts allowed: ask",
            rules(&[], &[], &["Bash(diff *)", "Bash(ls *)"]),
            bash("diff <(ls a) <(ls b)"),
            A,
        ),
        row("substitution under Bash(*): ask", rules(&[], &[], &["Bash(*)"]), bash("echo $(whoami)"), A),
        row(
            "ask on one part asks",
            rules(&[], &["Bash(git push *)"], &["Bash(git *)"]),
            bash("git add . && git push origin main"),
            A,
        ),
        row("deny beats allow", rules(&["Bash(rm *)"], &[], &["Bash(*)"]), bash("rm -rf x"), D),
        row("allow without deny", rules(&["Bash(rm *)"], &[], &["Bash(*)"]), bash("ls"), L),
        row("deny beats ask", rules(&["Bash(curl *)"], &["Bash(curl *)"], &[]), bash("curl x"), D),
        row("ask beats allow", rules(&[], &["Bash(git push *)"], &["Bash(git push *)"]), bash("git push"), A),
        row(
            "specificity irrelevant: broad deny beats exact allow",
            rules(&["Bash(git *)"], &[], &["Bash(git status)"]),
            bash("git status"),
            D,
        ),
        row("unparsable (open quote) is not allowed", rules(&[], &[], &["Bash(*)"]), bash("echo 'unbalanced"), A),
        row("unparsable (open $() is not allowed", rules(&[], &[], &["Bash(*)"]), bash("echo $(date"), A),
        row("unparsable with denied text: deny", curl_deny_allow_all(), bash("curl 'x"), D),
        row("unparsable substitution with curl: deny", curl_deny_allow_all(), bash("echo $(curl x"), D),
        // --- redirections into protected paths ---------------------------------------------
        row("> .env under Edit(./.env)", env_edit_deny_allow_all(), bash("echo x > .env"), D),
        row(">> .env under Edit(./.env)", env_edit_deny_allow_all(), bash("echo x >> .env"), D),
        row("2> .env under Edit(./.env)", env_edit_deny_allow_all(), bash("make 2> .env"), D),
        row("tee .env under Edit(./.env)", env_edit_deny_allow_all(), bash("echo x | tee .env"), D),
        row("cp onto .env under Edit(./.env)", env_edit_deny_allow_all(), bash("cp notes.txt .env"), D),
        row("touch .env under Edit(./.env)", env_edit_deny_allow_all(), bash("touch .env"), D),
        row("sed -i .env under Edit(./.env)", env_edit_deny_allow_all(), bash("sed -i s/a/b/ .env"), D),
        row("cat .env is fine under Edit(./.env) only", env_edit_deny_allow_all(), bash("cat .env"), L),
        row("mv .env away under Edit(./.env)", env_edit_deny_allow_all(), bash("mv .env /tmp/x"), D),
        row("rm .env under Edit(./.env)", env_edit_deny_allow_all(), bash("rm -f .env"), D),
        row("chmod .env under Edit(./.env)", env_edit_deny_allow_all(), bash("chmod 600 .env"), D),
        row("truncate .env under Edit(./.env)", env_edit_deny_allow_all(), bash("truncate -s 0 .env"), D),
        row("> sub/../.env under Edit(./.env)", env_edit_deny_allow_all(), bash("echo x > ./sub/../.env"), D),
        row("> link (symlink to .env) under Edit(./.env)", env_edit_deny_allow_all(), bash("echo x > link"), D),
        row(
            "> secretlink/new under Edit(./secrets/**)",
            rules(&["Edit(./secrets/**)"], &[], &["Bash(*)"]),
            bash("echo k > secretlink/new.txt"),
            D,
        ),
        row(
            "> secrets/x under Write(./secrets/**)",
            rules(&["Write(./secrets/**)"], &[], &["Bash(*)"]),
            bash("echo k > secrets/new.txt"),
            D,
        ),
        row("< .env under Read(./.env)", env_deny_allow_all(), bash("wc -l < .env"), D),
        // --- Read path rules bind Bash file commands ----------------------------------------
        row("cat .env", env_deny_allow_all(), bash("cat .env"), D),
        row("cat ./.env", env_deny_allow_all(), bash("cat ./.env"), D),
        row("cat absolute .env", env_deny_allow_all(), bash("cat @ROOT/.env"), D),
        row("grep x .env", env_deny_allow_all(), bash("grep x .env"), D),
        row("grep -e x .env", env_deny_allow_all(), bash("grep -n -e x .env"), D),
        row("tail -n 5 .env", env_deny_allow_all(), bash("tail -n 5 .env"), D),
        row("head .env", env_deny_allow_all(), bash("head .env"), D),
        row("cp .env out", env_deny_allow_all(), bash("cp .env /tmp/x"), D),
        row("sed -n 1p .env", env_deny_allow_all(), bash("sed -n 1p .env"), D),
        row("cat sub/.env", env_deny_allow_all(), bash("cat sub/.env"), D),
        row("cat safe/../.env", env_deny_allow_all(), bash("cat safe/../.env"), D),
        row("cat link (symlink to .env)", env_deny_allow_all(), bash("cat link"), D),
        row("cat .env after &&", env_deny_allow_all(), bash("ls && cat .env"), D),
        row("cat .env in $()", env_deny_allow_all(), bash("echo $(cat .env)"), D),
        row("xargs cat .env", env_deny_allow_all(), bash("echo | xargs cat .env"), D),
        row("cat .envrc is not .env", env_deny_allow_all(), bash("cat .envrc"), L),
        row("cat .env.local is not .env", env_deny_allow_all(), bash("cat .env.local"), L),
        row("grep .env notes.txt: .env is the pattern", env_deny_allow_all(), bash("grep .env notes.txt"), L),
        row("echo .env does not read it", env_deny_allow_all(), bash("echo .env"), L),
        row("cat -- .env", env_deny_allow_all(), bash("cat -- .env"), D),
        row("cat -n .env 2>/dev/null", env_deny_allow_all(), bash("cat -n .env 2>/dev/null"), D),
        row("cat 0<.env", env_deny_allow_all(), bash("cat 0<.env"), D),
        row("head -c 100 .env", env_deny_allow_all(), bash("head -c 100 .env"), D),
        row("source .env", env_deny_allow_all(), bash("source .env"), D),
        row(". .env", env_deny_allow_all(), bash(". .env"), D),
        row("awk '{print}' .env", env_deny_allow_all(), bash("awk '{print}' .env"), D),
        row("jq . .env", env_deny_allow_all(), bash("jq . .env"), D),
        row("sort .env", env_deny_allow_all(), bash("sort .env"), D),
        row("base64 .env", env_deny_allow_all(), bash("base64 .env"), D),
        row("diff .env notes.txt", env_deny_allow_all(), bash("diff .env notes.txt"), D),
        row("vim .env", env_deny_allow_all(), bash("vim .env"), D),
        row("dd if=.env", env_deny_allow_all(), bash("dd if=.env of=/tmp/x"), D),
        row("grep -f patterns .env", env_deny_allow_all(), bash("grep -f patterns .env"), D),
        row(
            "cat \"$(echo .env)\": a run-time file name under a Read deny",
            env_deny_allow_all(),
            bash("cat \"$(echo .env)\""),
            D,
        ),
        row(
            "cat \"$(echo notes.txt)\": substitution asks",
            rules(&["Bash(curl *)"], &[], &["Bash(*)"]),
            bash("cat \"$(echo notes.txt)\""),
            A,
        ),
        row("cat .en* glob may name .env", env_deny_allow_all(), bash("cat .en*"), D),
        row("grep -r in secrets/ dir", secrets_deny_allow_all(), bash("grep -r KEY secrets/"), D),
        row("cat secrets/key.pem", secrets_deny_allow_all(), bash("cat secrets/key.pem"), D),
        row("cat secretlink/key.pem (symlinked dir)", secrets_deny_allow_all(), bash("cat secretlink/key.pem"), D),
        row("cat secretsx/a look-alike", secrets_deny_allow_all(), bash("cat secretsx/a"), L),
        row(
            "cat outlink/secret.txt under //outside",
            rules(&["Read(/@OUT/**)"], &[], &["Bash(*)"]),
            bash("cat outlink/secret.txt"),
            D,
        ),
        // --- default mode lets interpreter code and bash -c through; strict closes them -----
        row(
            "default: python3 -c open(.env): a literal naming an existing protected file",
            env_deny_allow_all(),
            bash("python3 -c 'open(\".env\").read()'"),
            D,
        ),
        row(
            "default: python3 -c os.system(cat .env) passes (strict reads it)",
            env_deny_allow_all(),
            bash("python3 -c 'import os; os.system(\"cat .env\")'"),
            L,
        ),
        row("default: bash -c 'cat .env' is read too", env_deny_allow_all(), bash("bash -c 'cat .env'"), D),
        row("default: bash -c 'cat notes.txt' allowed", env_deny_allow_all(), bash("bash -c 'cat notes.txt'"), L),
        row(
            "strict: python3 -c open(.env) denied",
            strict(env_deny_allow_all()),
            bash("python3 -c 'open(\".env\").read()'"),
            D,
        ),
        row("strict: bash -c 'cat .env' denied", strict(env_deny_allow_all()), bash("bash -c 'cat .env'"), D),
        row(
            "strict: sh -c \"ls && cat .env\" denied",
            strict(env_deny_allow_all()),
            bash("sh -c \"ls && cat .env\""),
            D,
        ),
        row(
            "strict: perl -e open .env denied",
            strict(env_deny_allow_all()),
            bash("perl -e 'open(F, \".env\"); print <F>'"),
            D,
        ),
        row(
            "strict: node -e readFileSync secrets denied",
            strict(secrets_deny_allow_all()),
            bash("node -e 'require(\"fs\").readFileSync(\"secrets/key.pem\")'"),
            D,
        ),
        row("strict: sudo cat .env denied", strict(env_deny_allow_all()), bash("sudo cat .env"), D),
        row("strict: bash -c 'curl x' denied", strict(curl_deny_allow_all()), bash("bash -c 'curl x'"), D),
        row("strict: sudo -u root curl denied", strict(curl_deny_allow_all()), bash("sudo -u root curl x"), D),
        row("strict: eval curl denied", strict(curl_deny_allow_all()), bash("eval 'curl x'"), D),
        row(
            "strict: python os.system(curl) denied",
            strict(curl_deny_allow_all()),
            bash("python3 -c 'import os; os.system(\"curl x\")'"),
            D,
        ),
        row(
            "strict: harmless python one-liner allowed",
            strict(env_deny_allow_all()),
            bash("python3 -c 'print(1)'"),
            L,
        ),
        row("strict: harmless bash -c allowed", strict(curl_deny_allow_all()), bash("bash -c 'ls -la'"), L),
        row(
            "strictBashRules in project settings is ignored",
            deny(&["Read(./.env)"]),
            bash("python3 -c 'import os; os.system(\"cat .env\")'"),
            N,
        )
        .project(json!({"hookhost": {"strictBashRules": true}})),
        // --- Read/Edit/Write path rules on the file tools -----------------------------------
        row("Read safe/../.env", path_deny(), read("@ROOT/safe/../.env"), D),
        row("Read sub/../secrets/key.pem", path_deny(), read("@ROOT/sub/../secrets/key.pem"), D),
        row("Read relative sub/../.env", path_deny(), read("sub/../.env"), D),
        row("Read link -> .env", path_deny(), read("@ROOT/link"), D),
        row("Read sub/up -> ../.env", path_deny(), read("@ROOT/sub/up"), D),
        row("Read secretlink/key.pem (symlinked dir)", path_deny(), read("@ROOT/secretlink/key.pem"), D),
        row("Read secretlink/deep/x.txt (symlinked dir)", path_deny(), read("@ROOT/secretlink/deep/x.txt"), D),
        row("Read secretsx/a is not secrets/**", path_deny(), read("@ROOT/secretsx/a"), N),
        row("Read .env.local is not ./.env", path_deny(), read("@ROOT/.env.local"), N),
        row(
            "Read outlink/secret.txt under //outside/**",
            deny(&["Read(/@OUT/**)"]),
            read("@ROOT/outlink/secret.txt"),
            D,
        ),
        row(
            "Read outside via ../ under //outside/**",
            deny(&["Read(/@OUT/**)"]),
            read("@ROOT/../outside/secret.txt"),
            D,
        ),
        row("Grep in secrets denied", path_deny(), ("Grep", json!({"pattern": "KEY", "path": "@ROOT/secrets"})), D),
        row(
            "Grep in secrets/deep denied",
            path_deny(),
            ("Grep", json!({"pattern": "KEY", "path": "@ROOT/secrets/deep"})),
            D,
        ),
        row("Grep in .env denied", path_deny(), ("Grep", json!({"pattern": "KEY", "path": "@ROOT/.env"})), D),
        row(
            "Glob in secretlink denied",
            path_deny(),
            ("Glob", json!({"pattern": "**/*.pem", "path": "@ROOT/secretlink"})),
            D,
        ),
        row("Grep in src allowed-by-nothing", path_deny(), ("Grep", json!({"pattern": "KEY", "path": "@ROOT/src"})), N),
        row(
            "allow docs/**: docs/../.env is not allowed",
            rules(&[], &[], &["Read(./docs/**)"]),
            read("@ROOT/docs/../.env"),
            N,
        ),
        row(
            "allow docs/**: docs/readme.md allowed",
            rules(&[], &[], &["Read(./docs/**)"]),
            read("@ROOT/docs/readme.md"),
            L,
        ),
        row(
            "deny .env beats allow docs/** via docs/envlink",
            rules(&["Read(./.env)"], &[], &["Read(./docs/**)"]),
            read("@ROOT/docs/envlink"),
            D,
        ),
        row(
            "allow docs/**: symlink out of the root is not allowed",
            rules(&[], &[], &["Read(./docs/**)"]),
            read("@ROOT/docs/escape/secret.txt"),
            N,
        ),
        row("Edit /src/**/*.ts: src/a.ts", deny(&["Edit(/src/**/*.ts)"]), edit("@ROOT/src/a.ts"), D),
        row("Edit /src/**/*.ts: src/x/y/b.ts", deny(&["Edit(/src/**/*.ts)"]), edit("@ROOT/src/x/y/b.ts"), D),
        row("Edit /src/**/*.ts: src/main.rs", deny(&["Edit(/src/**/*.ts)"]), edit("@ROOT/src/main.rs"), N),
        row("Edit rule binds Write", deny(&["Edit(/src/**/*.ts)"]), write("@ROOT/src/new.ts"), D),
        row("Edit rule binds sed -i via Bash", deny(&["Edit(/src/**/*.ts)"]), bash("sed -i s/a/b/ src/x/y/b.ts"), D),
        row("Edit /src/*.ts: * is one segment", deny(&["Edit(/src/*.ts)"]), edit("@ROOT/src/x/y/b.ts"), N),
        row(
            "Write through symlinked dir, new file",
            deny(&["Edit(./secrets/**)"]),
            write("@ROOT/secretlink/new.txt"),
            D,
        ),
        row("//abs: Read(//etc/passwd)", deny(&["Read(//etc/passwd)"]), read("/etc/passwd"), D),
        row("//abs does not match project-relative", deny(&["Read(//notes.txt)"]), read("@ROOT/notes.txt"), N),
        row("/path is project-relative", deny(&["Read(/notes.txt)"]), read("@ROOT/notes.txt"), D),
        row("/path is not filesystem-absolute", deny(&["Read(/notes.txt)"]), read("/notes.txt"), N),
        row("/path from a subdirectory cwd", deny(&["Read(/.env)"]), read("@ROOT/.env"), D).cwd("sub"),
        row("./path is cwd-relative: sub/.env", deny(&["Read(./.env)"]), read("@ROOT/sub/.env"), D).cwd("sub"),
        row("./path also anchors at the project: root/.env from sub", deny(&["Read(./.env)"]), read("@ROOT/.env"), D)
            .cwd("sub"),
        row("~/path under home", deny(&["Read(~/.ssh/**)"]), read("@HOME/.ssh/id_rsa"), D),
        row("~/path with ~ in the target", deny(&["Read(~/.ssh/**)"]), read("~/.ssh/id_rsa"), D),
        row("bare name at any depth", deny(&["Read(.env)"]), read("@ROOT/sub/.env"), D),
        row("bare glob *.pem at any depth", deny(&["Read(*.pem)"]), read("@ROOT/secrets/key.pem"), D),
        row("Read rule does not bind Edit", deny(&["Read(./.env)"]), edit("@ROOT/.env"), N),
        // --- WebFetch ------------------------------------------------------------------------
        row("domain: exact host", deny(&["WebFetch(domain:example.com)"]), web("https://example.com/x"), D),
        row("domain: subdomain", deny(&["WebFetch(domain:example.com)"]), web("https://api.example.com/v1"), D),
        row("domain: with port", deny(&["WebFetch(domain:example.com)"]), web("https://example.com:8443/"), D),
        row("domain: upper case host", deny(&["WebFetch(domain:example.com)"]), web("https://EXAMPLE.com/"), D),
        row(
            "domain: userinfo before host",
            deny(&["WebFetch(domain:example.com)"]),
            web("https://user@example.com/"),
            D,
        ),
        row(
            "domain: suffix trick example.com.evil.io",
            deny(&["WebFetch(domain:example.com)"]),
            web("https://example.com.evil.io/"),
            N,
        ),
        row("domain: evilexample.com", deny(&["WebFetch(domain:example.com)"]), web("https://evilexample.com/"), N),
        row(
            "domain: example.com@evil.io is evil.io",
            deny(&["WebFetch(domain:example.com)"]),
            web("https://example.com@evil.io/"),
            N,
        ),
        row("domain allow: docs.rs", rules(&[], &[], &["WebFetch(domain:docs.rs)"]), web("https://docs.rs/tokio"), L),
        row(
            "domain allow: docs.rs.evil.io not allowed",
            rules(&[], &[], &["WebFetch(domain:docs.rs)"]),
            web("https://docs.rs.evil.io/"),
            N,
        ),
        row(
            "domain deny beats domain allow",
            rules(&["WebFetch(domain:evil.io)"], &[], &["WebFetch"]),
            web("https://a.evil.io/"),
            D,
        ),
        row(
            "WebFetch rule does not bind Bash curl",
            deny(&["WebFetch(domain:example.com)"]),
            bash("curl https://example.com"),
            N,
        ),
        // --- MCP -----------------------------------------------------------------------------
        row("mcp__memory covers mcp__memory__create", deny(&["mcp__memory"]), mcp("mcp__memory__create"), D),
        row("mcp__memory covers mcp__memory__read_graph", deny(&["mcp__memory"]), mcp("mcp__memory__read_graph"), D),
        row("mcp__memory does not cover mcp__memoryx__create", deny(&["mcp__memory"]), mcp("mcp__memoryx__create"), N),
        row("mcp__memory__create exact", deny(&["mcp__memory__create"]), mcp("mcp__memory__create"), D),
        row("mcp__memory__create does not cover delete", deny(&["mcp__memory__create"]), mcp("mcp__memory__delete"), N),
        row("mcp__memory__* wildcard", deny(&["mcp__memory__*"]), mcp("mcp__memory__delete"), D),
        row("mcp__github allow", rules(&[], &[], &["mcp__github"]), mcp("mcp__github__create_issue"), L),
        row(
            "mcp__github ask beats allow",
            rules(&[], &["mcp__github__merge_pr"], &["mcp__github"]),
            mcp("mcp__github__merge_pr"),
            A,
        ),
        // --- scopes: pooled rules, allowManagedPermissionRulesOnly ---------------------------
        row("pooled: project deny beats managed allow", rules(&[], &[], &["Bash(*)"]), bash("rm -rf x"), D)
            .project(deny(&["Bash(rm *)"])),
        row("pooled: project allow applies", deny(&["Bash(curl *)"]), bash("ls"), L).project(rules(
            &[],
            &[],
            &["Bash(ls *)"],
        )),
        row(
            "managed-only: project allow ignored",
            json!({"permissions": {"deny": ["Bash(curl *)"]}, "allowManagedPermissionRulesOnly": true}),
            bash("ls"),
            N,
        )
        .project(rules(&[], &[], &["Bash(*)"])),
        row(
            "managed-only: managed deny still applies",
            json!({"permissions": {"deny": ["Bash(curl *)"]}, "allowManagedPermissionRulesOnly": true}),
            bash("curl x"),
            D,
        )
        .project(rules(&[], &[], &["Bash(*)"])),
        row(
            "managed-only: project deny ignored",
            json!({"permissions": {"allow": ["Bash(*)"]}, "allowManagedPermissionRulesOnly": true}),
            bash("rm -rf x"),
            L,
        )
        .project(deny(&["Bash(rm *)"])),
        row("allowManagedPermissionRulesOnly in project is ignored", json!({}), bash("ls"), L)
            .project(json!({"permissions": {"allow": ["Bash(*)"]}, "allowManagedPermissionRulesOnly": true})),
        // --- disableBypassPermissionsMode ----------------------------------------------------
        row(
            "bypassPermissions disabled: Read denied",
            json!({"permissions": {"disableBypassPermissionsMode": "disable"}}),
            read("@ROOT/notes.txt"),
            D,
        )
        .mode("bypassPermissions"),
        row(
            "bypassPermissions disabled: allowed Bash denied",
            json!({"permissions": {"allow": ["Bash(*)"], "disableBypassPermissionsMode": "disable"}}),
            bash("ls"),
            D,
        )
        .mode("bypassPermissions"),
        row(
            "bypass disabled, default mode: no opinion",
            json!({"permissions": {"disableBypassPermissionsMode": "disable"}}),
            read("@ROOT/notes.txt"),
            N,
        ),
        row(
            "bypass disabled, acceptEdits mode: no opinion",
            json!({"permissions": {"disableBypassPermissionsMode": "disable"}}),
            read("@ROOT/notes.txt"),
            N,
        )
        .mode("acceptEdits"),
        row("bypassPermissions without the option: rules as usual", rules(&[], &[], &["Bash(*)"]), bash("ls"), L)
            .mode("bypassPermissions"),
    ]
}

fn decide(p: &Project, r: &Row) -> Result<Option<Permission>, String> {
    let managed = file::parse(&p.sub(&r.managed.to_string()), &p.managed_path(), Scope::Managed)
        .map_err(|e| format!("managed settings: {e}"))?;
    let mut files = vec![managed];
    if let Some(pj) = &r.project {
        files.push(
            file::parse(&p.sub(&pj.to_string()), &p.project_path(), Scope::Project)
                .map_err(|e| format!("project settings: {e}"))?,
        );
    }
    let bus = EventBus::new(settings::resolve(files));
    let cwd = r.cwd.map(|c| p.root.join(c)).unwrap_or_else(|| p.root.clone());
    let event = json!({
        "session_id": "s1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": cwd,
        "permission_mode": r.permission_mode,
        "hook_event_name": "PreToolUse",
        "tool_name": r.tool,
        "tool_input": r.input,
        "tool_use_id": "toolu_1",
    });
    let event = HookEvent::parse(p.sub(&event.to_string()).as_bytes()).map_err(|e| format!("event: {e}"))?;
    let ctx = DispatchContext { project_dir: Some(p.root.clone()), user_dir: None };
    Ok(bus.check_rules(&event, &ctx).map(|h| h.permission))
}

fn show(p: Option<Permission>) -> &'static str {
    p.map_or("none", Permission::as_str)
}

#[test]
fn decision_table() {
    let p = project();
    let rows = rows();
    assert!(rows.len() >= 90, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for r in &rows {
        match decide(&p, r) {
            Ok(got) if got == r.expect => {}
            Ok(got) => failures.push(format!(
                "  {}: expected {}, got {}  [{} {}]",
                r.label,
                show(r.expect),
                show(got),
                r.tool,
                p.sub(&r.input.to_string())
            )),
            Err(e) => failures.push(format!("  {}: setup error: {e}", r.label)),
        }
    }
    eprintln!("permission decision table: {} rows, {} mismatches", rows.len(), failures.len());
    assert!(failures.is_empty(), "{} of {} rows disagree:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Load errors and reasons
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_rule_is_a_located_load_error() {
    let path = Path::new("/etc/hookhost/managed-settings.json");
    let text = "{\n  \"permissions\": {\n    \"deny\": [\"Bash(curl *)\",\n             \"Bash(git\"]\n  }\n}\n";
    let e = file::parse(text, path, Scope::Managed).expect_err("`Bash(git` must not load");
    assert_eq!(e.location.path, path);
    assert_eq!((e.location.line, e.location.column), (4, 14), "{e}");
    assert!(e.to_string().contains("Bash(git"), "{e}");
    for bad in ["Bash()", "Ba sh", "WebFetch(domain:)", "Read(./x"] {
        let t = json!({"permissions": {"allow": [bad]}}).to_string();
        assert!(file::parse(&t, path, Scope::Project).is_err(), "{bad} should be a load error");
    }
}

#[test]
fn reason_names_the_first_matching_rule_and_its_file() {
    let p = project();
    let text =
        "{\"permissions\": {\n  \"deny\": [\"Bash(curl *)\", \"Bash(curl x*)\"],\n  \"allow\": [\"Bash(*)\"]\n}}";
    let f = file::parse(text, &p.managed_path(), Scope::Managed).unwrap();
    let bus = EventBus::new(settings::resolve(vec![f]));
    let event = json!({
        "session_id": "s1", "cwd": p.root, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "ls && curl x"}, "tool_use_id": "t"
    });
    let event = HookEvent::parse(event.to_string().as_bytes()).unwrap();
    let ctx = DispatchContext { project_dir: Some(p.root.clone()), user_dir: None };
    let hit = bus.check_rules(&event, &ctx).expect("a deny");
    assert_eq!(hit.permission, Permission::Deny);
    assert_eq!(hit.rule.as_ref().map(|l| l.rule.text.as_str()), Some("Bash(curl *)"), "first deny wins");
    assert!(hit.reason.contains("Bash(curl *)"), "{}", hit.reason);
    assert!(hit.reason.contains(&p.managed_path().display().to_string()), "{}", hit.reason);
    assert!(hit.reason.contains(":2:"), "reason should carry the rule's line: {}", hit.reason);
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const BENIGN: &[&str] = &[
    "ls -la",
    "echo hi",
    "git status",
    "npm run test",
    "cat README.md",
    "pwd",
    "grep -n curl src/main.rs",
    "wc -l notes.txt",
    "echo 'a && b'",
    "echo \"x; y | z\"",
    "echo 'curl x'",
    "true",
    "make -j2",
    "FOO=1 cargo build",
    "date",
];

const DENIED: &[&str] = &[
    "curl http://x",
    "/usr/bin/curl x",
    "env curl x",
    "command curl x",
    "timeout 5 curl x",
    "FOO=1 curl x",
    "echo $(curl x)",
    "ls \"$(curl x)\"",
    "cat `curl x`",
    "diff <(curl x) notes.txt",
    "(curl x)",
    "(cd /tmp && curl -s x)",
    "{ curl x; }",
    "echo x | xargs curl",
    "! curl x",
    "if curl x; then ls; fi",
    "while curl x; do sleep 1; done",
    "for i in 1 2; do curl x; done",
    "curl${IFS}x",
    "$'curl' x",
    "eval curl x",
];

const SEPS: &[&str] = &[" && ", " || ", "; ", " | ", " |& ", " & ", "\n", ";"];

fn bash_bus(allow: &[&str], strict_bash: bool) -> EventBus {
    let mut v = rules(&["Bash(curl *)"], &[], allow);
    if strict_bash {
        v = strict(v);
    }
    let f = file::parse(&v.to_string(), Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed).unwrap();
    EventBus::new(settings::resolve(vec![f]))
}

fn bash_decision(bus: &EventBus, cmd: &str) -> Option<Permission> {
    let event = json!({
        "session_id": "s1", "cwd": "/tmp/hookhost-prop", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": cmd}, "tool_use_id": "t"
    });
    let event = HookEvent::parse(event.to_string().as_bytes()).unwrap();
    let ctx = DispatchContext { project_dir: Some(PathBuf::from("/tmp/hookhost-prop")), user_dir: None };
    bus.check_rules(&event, &ctx).map(|h| h.permission)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// (benign part indices, separator indices, optional (denied form, insert position)).
fn compound() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Option<(usize, usize)>)> {
    (
        prop::collection::vec(0..BENIGN.len(), 1..=6),
        prop::collection::vec(0..SEPS.len(), 7),
        prop::option::weighted(0.7, (0..DENIED.len(), 0..=6usize)),
    )
}

fn build(benign: &[usize], seps: &[usize], denied: Option<(usize, usize)>) -> String {
    let mut parts: Vec<&str> = benign.iter().map(|&i| BENIGN[i]).collect();
    if let Some((d, pos)) = denied {
        parts.insert(pos.min(parts.len()), DENIED[d]);
    }
    let mut cmd = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            cmd.push_str(SEPS[seps[i - 1]]);
        }
        cmd.push_str(part);
    }
    cmd
}

proptest! {
    #![proptest_config(config(512))]

    /// A compound command with a part matching a deny rule is denied, whatever the allow rules;
    /// without one, broad allows allow it (no false positives from quotes).
    #[test]
    fn denied_part_is_never_allowed((benign, seps, denied) in compound(), strict_bash in any::<bool>()) {
        let cmd = build(&benign, &seps, denied);
        for allow in [&["Bash(*)"][..], &["Bash(ls *)", "Bash(echo *)", "Bash(git *)", "Bash(npm *)", "Bash(cat *)",
            "Bash(pwd)", "Bash(grep *)", "Bash(wc *)", "Bash(true)", "Bash(make *)", "Bash(cargo *)", "Bash(date)",
            "Bash(cd *)", "Bash(diff *)", "Bash(env *)", "Bash(timeout *)", "Bash(command *)", "Bash(xargs *)"][..]] {
            let bus = bash_bus(allow, strict_bash);
            let got = bash_decision(&bus, &cmd);
            if denied.is_some() {
                prop_assert_eq!(got, D, "command {:?} under allow {:?} (strict {})", cmd, allow, strict_bash);
            } else {
                prop_assert_eq!(got, L, "command {:?} under allow {:?} (strict {})", cmd, allow, strict_bash);
            }
        }
    }

    /// Arbitrary text never panics the engine, as a command or as a path.
    #[test]
    fn arbitrary_input_never_panics(
        s in prop_oneof![any::<String>(), "[a-z .&|;()$`'\"<>{}\\\\\n*/~=-]{0,80}"],
        strict_bash in any::<bool>(),
    ) {
        let mut v = rules(
            &["Bash(curl *)", "Read(./.env)", "Read(./secrets/**)", "Edit(/src/**)", "WebFetch(domain:evil.io)", "mcp__x"],
            &["Bash(git push *)"],
            &["Bash(*)", "Read(~/**)", "WebFetch"],
        );
        if strict_bash {
            v = strict(v);
        }
        v["permissions"]["disableBypassPermissionsMode"] = json!("disable");
        let f = file::parse(&v.to_string(), Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed).unwrap();
        let bus = EventBus::new(settings::resolve(vec![f]));
        let ctx = DispatchContext { project_dir: Some(PathBuf::from("/tmp/hookhost-prop")), user_dir: None };
        for (tool, input) in [
            ("Bash", json!({"command": s})),
            ("Read", json!({"file_path": s})),
            ("Edit", json!({"file_path": s})),
            ("Grep", json!({"pattern": "x", "path": s})),
            ("WebFetch", json!({"url": s})),
            ("mcp__x__y", json!({"q": s})),
        ] {
            let event = json!({
                "session_id": "s1", "cwd": "/tmp/hookhost-prop", "hook_event_name": "PreToolUse",
                "tool_name": tool, "tool_input": input, "tool_use_id": "t"
            });
            let event = HookEvent::parse(event.to_string().as_bytes()).unwrap();
            let _ = bus.check_rules(&event, &ctx);
        }
        // The rule text itself, if it parses, must not panic either.
        let t = json!({"permissions": {"deny": [format!("Bash({s})"), format!("Read({s})")]}}).to_string();
        if let Ok(f) = file::parse(&t, Path::new("/x.json"), Scope::Managed) {
            let bus = EventBus::new(settings::resolve(vec![f]));
            let _ = bash_decision(&bus, "cat .env && curl x");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end through the binary
// ---------------------------------------------------------------------------------------------

const MANAGED_EXAMPLE: &str = r#"{"permissions": {"deny": ["Bash(curl *)", "Read(./.env)", "Read(./.env.*)", "Read(./secrets/**)"]}, "allowManagedPermissionRulesOnly": true}"#;

fn e2e_env() -> Env {
    let env = Env::new();
    env.write("managed", MANAGED_EXAMPLE);
    let p = env.project();
    std::fs::create_dir_all(p.join("secrets")).unwrap();
    for f in [".env", "notes.txt", "secrets/key.pem"] {
        std::fs::write(p.join(f), "x\n").unwrap();
    }
    env
}

/// A 2.1.328 fixture moved into the test project, with `tool_input` fields replaced.
fn adapted(env: &Env, name: &str, input: &[(&str, String)]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture(name)).unwrap();
    v["cwd"] = json!(env.project());
    for (k, val) in input {
        v["tool_input"][*k] = json!(val);
    }
    serde_json::to_vec(&v).unwrap()
}

fn assert_denied_by(env: &Env, out: &super::support::Output, rule: &str) {
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    let spec = &v["hookSpecificOutput"];
    assert_eq!(spec["hookEventName"], "PreToolUse", "{v}");
    assert_eq!(spec["permissionDecision"], "deny", "{v}");
    let reason = spec["permissionDecisionReason"].as_str().unwrap_or_default();
    assert!(reason.contains(rule), "reason should name {rule}: {reason}");
    let managed = env.scope_path("managed").display().to_string();
    assert!(reason.contains(&managed), "reason should name {managed}: {reason}");
}

#[test]
fn e2e_read_of_env_is_denied_with_rule_and_file() {
    let env = e2e_env();
    let path = env.project().join(".env").display().to_string();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Read.json", &[("file_path", path)]));
    assert_denied_by(&env, &out, "Read(./.env)");
}

#[test]
fn e2e_read_through_symlink_and_dotdot_is_denied() {
    let env = e2e_env();
    symlink("secrets", env.project().join("s")).unwrap();
    let via_link = env.project().join("s/key.pem").display().to_string();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Read.json", &[("file_path", via_link)]));
    assert_denied_by(&env, &out, "Read(./secrets/**)");
    let dotdot = env.project().join("secrets/../.env").display().to_string();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Read.json", &[("file_path", dotdot)]));
    assert_denied_by(&env, &out, "Read(./.env)");
}

#[test]
fn e2e_curl_after_and_is_denied() {
    let env = e2e_env();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "curl x && ls".into())]));
    assert_denied_by(&env, &out, "Bash(curl *)");
    let out =
        env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "ls && (env /usr/bin/curl x)".into())]));
    assert_denied_by(&env, &out, "Bash(curl *)");
}

#[test]
fn e2e_cat_env_via_bash_is_denied() {
    let env = e2e_env();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "ls && cat sub/../.env".into())]));
    assert_denied_by(&env, &out, "Read(./.env)");
}

#[test]
fn e2e_harmless_calls_get_no_output() {
    let env = e2e_env();
    // A project rule is ignored under allowManagedPermissionRulesOnly.
    env.write("project", r#"{"permissions": {"deny": ["Read(./notes.txt)", "Bash(ls *)"]}}"#);
    let path = env.project().join("notes.txt").display().to_string();
    let out = env.dispatch(&adapted(&env, "PreToolUse-Read.json", &[("file_path", path)]));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "ls -la && echo 'curl x'".into())]));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
}

#[test]
fn e2e_rule_allow_does_not_stop_a_hook_deny_and_ask_is_an_ask() {
    let env = Env::new();
    let deny_hook = r#"cat >/dev/null; printf '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"hook says no"}}'"#;
    env.write(
        "managed",
        &json!({
            "permissions": {"allow": ["Bash(*)"], "ask": ["Bash(git push *)"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": deny_hook, "if": "Bash(rm *)"}]}]}
        })
        .to_string(),
    );
    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "rm -rf build".into())]));
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny", "{v}");
    assert!(v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap_or("").contains("hook says no"), "{v}");

    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "git push origin main".into())]));
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "ask", "{v}");
    assert!(
        v["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap_or("").contains("Bash(git push *)"),
        "{v}"
    );

    let out = env.dispatch(&adapted(&env, "PreToolUse-Bash.json", &[("command", "ls".into())]));
    let v = out.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "allow", "{v}");
}

#[test]
fn e2e_bypass_permissions_mode_disabled() {
    let env = Env::new();
    env.write("managed", r#"{"permissions": {"disableBypassPermissionsMode": "disable"}}"#);
    let mut v: Value = serde_json::from_slice(&fixture("PreToolUse-Read.json")).unwrap();
    v["cwd"] = json!(env.project());
    v["tool_input"]["file_path"] = json!(env.project().join("notes.txt"));
    v["permission_mode"] = json!("bypassPermissions");
    let out = env.dispatch(&serde_json::to_vec(&v).unwrap());
    let j = out.json();
    assert_eq!(j["hookSpecificOutput"]["permissionDecision"], "deny", "{j}");
    let reason = j["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap_or("");
    assert!(reason.contains("bypassPermissions") && reason.contains("disableBypassPermissionsMode"), "{reason}");
    v["permission_mode"] = json!("default");
    let out = env.dispatch(&serde_json::to_vec(&v).unwrap());
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// Hostile sizes (issue 17 §9): every event ≤ 1 MiB is decided; times are printed, not asserted
// (the criterion bench `permissions` measures them).
// ---------------------------------------------------------------------------------------------

#[path = "../../benches/support/permission_cases.rs"]
mod permission_cases;

fn worst_bus(strict_bash: bool) -> EventBus {
    let mut v: Value = serde_json::from_str(permission_cases::POLICY).unwrap();
    if strict_bash {
        v["hookhost"] = json!({"strictBashRules": true});
    }
    let f = file::parse(&v.to_string(), Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed).unwrap();
    EventBus::new(settings::resolve(vec![f]))
}

fn worst_event(tool: &str, input: &Value, cwd: &Path) -> HookEvent {
    let event = json!({
        "session_id": "s", "cwd": cwd, "hook_event_name": "PreToolUse",
        "tool_name": tool, "tool_input": input, "tool_use_id": "t"
    });
    HookEvent::parse(event.to_string().as_bytes()).unwrap()
}

#[test]
fn worst_cases_are_decided() {
    let p = project();
    let ctx = DispatchContext { project_dir: Some(p.root.clone()), user_dir: None };
    for strict_bash in [false, true] {
        let bus = worst_bus(strict_bash);
        for (name, tool, input) in permission_cases::cases() {
            let event = worst_event(tool, &input, &p.root);
            let t = std::time::Instant::now();
            let hit = bus.check_rules(&event, &ctx);
            eprintln!(
                "worst case {name} (strict {strict_bash}): {:?} in {:?}",
                hit.as_ref().map(|h| h.permission),
                t.elapsed()
            );
            // Whatever the size, a Bash line with deny rules in force is never allowed unless
            // it is a plain allowed command.
            if tool == "Bash" && !name.contains("echo") {
                assert_ne!(hit.map(|h| h.permission), Some(Permission::Allow), "{name}");
            }
        }
    }
}

/// Fragments that stress the reader: every kind of construct, and hostile spellings.
const HOSTILE: &[&str] = &[
    "a ",
    "$(",
    ")",
    "`",
    "'",
    "\"",
    "\\",
    "\n",
    "; ",
    "&& ",
    "| ",
    "{ ",
    "} ",
    "( ",
    ") ",
    "<<EOF\n",
    "EOF\n",
    "$((1+",
    "${x:-",
    "}",
    "[[ ",
    "]] ",
    "case x in ",
    "esac ",
    "if ",
    "fi ",
    "for i in ",
    "do ",
    "done ",
    "cat .env ",
    "curl x ",
    "cd secrets ",
    "/usr/bin/* ",
    ".e[n]v ",
    "{a,b} ",
    "~/",
    "$HOME/",
    "L/../../",
    "/proc/self/cwd/",
    "2>&1 ",
    ">&f ",
    "<> ",
    "<<< x ",
    "# ' ",
    "é ",
    "\u{f24df} ",
    "{\u{f24df}",
    "$'\\x63'",
    "eval ",
    "bash -c ",
    "find . -exec ",
    "xargs ",
    "grep -r x ",
    "sort -o f ",
    "tee ",
    "dd of=",
];

fn hostile_text() -> impl Strategy<Value = String> {
    // Up to 1 MiB: a few fragments, each repeated many times.
    prop::collection::vec((0..HOSTILE.len(), 1usize..40_000), 1..6).prop_map(|parts| {
        let mut s = String::new();
        for (i, n) in parts {
            let f = HOSTILE[i];
            let n = n.min((1 << 20) / f.len().max(1));
            s.push_str(&f.repeat(n));
            if s.len() >= 1 << 20 {
                s.truncate(s.floor_char_boundary(1 << 20));
                break;
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(config(12))]

    /// Hostile events up to 1 MiB, for every tool the rules read, are decided without a panic;
    /// a Bash line is never allowed unless every command is an allowed `echo`/`ls`.
    #[test]
    fn hostile_events_up_to_1_mib_are_decided(s in hostile_text(), strict_bash in any::<bool>()) {
        let p = project();
        let ctx = DispatchContext { project_dir: Some(p.root.clone()), user_dir: None };
        let bus = worst_bus(strict_bash);
        for (tool, input) in [
            ("Bash", json!({"command": s})),
            ("Read", json!({"file_path": s})),
            ("Write", json!({"file_path": s, "content": "x"})),
            ("Grep", json!({"pattern": "x", "path": s, "glob": s})),
            ("Glob", json!({"pattern": s})),
            ("WebFetch", json!({"url": s})),
        ] {
            let event = worst_event(tool, &input, &p.root);
            let hit = bus.check_rules(&event, &ctx);
            if tool == "Bash" && hit.as_ref().is_some_and(|h| h.permission == Permission::Allow) {
                prop_assert!(!s.contains("curl") && !s.contains(".env"), "allowed: {:?}", &s[..s.len().min(200)]);
            }
        }
    }
}
