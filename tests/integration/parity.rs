//! Hook output parity with Claude Code (issue 17.8): hookhost reads a hook's stdout with the
//! meaning JavaScript gives it (`trim()`, then `JSON.parse`: a byte order mark is skipped, a
//! duplicated key takes its last value), so a hook's deny is never lost to a parser difference.
//!
//! The oracle is the real `node` on this machine: a generated corpus of outputs (decisions ×
//! duplicated keys at every level × escapes × big numbers, lone surrogates and deep nesting ×
//! leading and trailing white space, byte order marks and garbage) is read by `node` and by
//! `hookhost::decision::interpret`; hookhost's answer must equal node's meaning or be a deny
//! (fail closed), never "no opinion" or "allow" where node reads a rejection. Without `node` the
//! differential test is skipped with a printed reason. A few cases also go through the real
//! binary with real hooks.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{Env, bash_event, hook_settings};

fn node() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("node").arg("--version").output().ok()?;
    out.status.success().then(|| std::path::PathBuf::from("node"))
}

/// What `node` makes of one output: Claude Code's reading (trim, a leading `{`, `JSON.parse`,
/// the fields' schema) reduced to the permission and `continue`.
const NODE_MEANING: &str = r#"
const fs = require('fs');
const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const RANK = { allow: 0, ask: 1, defer: 2, deny: 3 };
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const out = cases.map((b64) => {
  const s = Buffer.from(b64, 'base64').toString('utf8').trim();
  if (!s.startsWith('{')) return { kind: 'text' };
  let v;
  try { v = JSON.parse(s); } catch (e) { return { kind: 'invalid' }; }
  let p = null;
  if (has(v, 'hookSpecificOutput')) {
    const h = v.hookSpecificOutput;
    if (h === null) { /* no hookSpecificOutput */ } else if (typeof h !== 'object' || Array.isArray(h)) return { kind: 'invalid' };
    else {
    if (has(h, 'hookEventName') && h.hookEventName !== 'PreToolUse') return { kind: 'invalid' };
    if (has(h, 'permissionDecision')) {
      if (typeof h.permissionDecision !== 'string' || !has(RANK, h.permissionDecision)) return { kind: 'invalid' };
      p = h.permissionDecision;
    }
    }
  }
  let l = null;
  // A null field is an absent one (hookhost's schema reads it so; neither decides anything).
  if (has(v, 'decision') && v.decision !== null) {
    if (v.decision === 'block') l = 'deny';
    else if (v.decision === 'approve') l = 'allow';
    else return { kind: 'invalid' };
  }
  if (has(v, 'continue') && v.continue !== null && typeof v.continue !== 'boolean') return { kind: 'invalid' };
  let m = p;
  if (l !== null && (m === null || RANK[l] > RANK[m])) m = l;
  return { kind: 'json', permission: m, stop: v.continue === false };
});
process.stdout.write(JSON.stringify(out));
"#;

/// The bodies: every decision form, and every way of giving a key twice.
fn bases() -> Vec<String> {
    let mut v = Vec::new();
    let hso = |inner: &str| format!(r#"{{"hookSpecificOutput":{{{inner}}}}}"#);
    for p in ["allow", "deny", "ask", "defer"] {
        v.push(hso(&format!(r#""hookEventName":"PreToolUse","permissionDecision":"{p}""#)));
        v.push(hso(&format!(r#""permissionDecision":"{p}","permissionDecisionReason":"r""#)));
    }
    for d in ["approve", "block"] {
        v.push(format!(r#"{{"decision":"{d}","reason":"r"}}"#));
    }
    for a in ["approve", "block"] {
        for b in ["approve", "block"] {
            v.push(format!(r#"{{"decision":"{a}","decision":"{b}"}}"#));
            v.push(format!(r#"{{"decision":"{a}","reason":"x","decision":"{b}"}}"#));
        }
    }
    for a in ["allow", "deny", "ask"] {
        for b in ["allow", "deny", "ask"] {
            v.push(hso(&format!(r#""permissionDecision":"{a}","permissionDecision":"{b}""#)));
            v.push(format!(
                r#"{{"hookSpecificOutput":{{"permissionDecision":"{a}"}},"hookSpecificOutput":{{"permissionDecision":"{b}"}}}}"#
            ));
            v.push(format!(
                r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"{a}"}},"decision":"approve","hookSpecificOutput":{{"permissionDecision":"{b}"}}}}"#
            ));
        }
    }
    v.push(r#"{"hookSpecificOutput":{"permissionDecision":"deny"},"hookSpecificOutput":{}}"#.into());
    v.push(r#"{"hookSpecificOutput":{},"hookSpecificOutput":{"permissionDecision":"deny"}}"#.into());
    v.push(r#"{"hookSpecificOutput":{"permissionDecision":"deny"},"hookSpecificOutput":null}"#.into());
    v.push(
        r#"{"hookSpecificOutput":{"hookEventName":"PostToolUse","hookEventName":"PreToolUse","permissionDecision":"deny"}}"#
            .into(),
    );
    v.push(
        r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","hookEventName":"PostToolUse","permissionDecision":"deny"}}"#
            .into(),
    );
    v.push(r#"{"decision":"approve","hookSpecificOutput":{"permissionDecision":"deny"}}"#.into());
    v.push(r#"{"decision":"block","hookSpecificOutput":{"permissionDecision":"allow"}}"#.into());
    v.push(r#"{"continue":true,"continue":false}"#.into());
    v.push(r#"{"continue":false,"continue":true}"#.into());
    v.push(r#"{"continue":false,"decision":"approve"}"#.into());
    v.push(r#"{"decision":"Block"}"#.into());
    v.push(r#"{"decision":"block","decision":null}"#.into());
    v.push("{}".into());
    v
}

/// Extra members inserted into an object: numbers beyond f64, lone surrogates, deep nesting,
/// escapes, keys that are special in JavaScript.
fn extras() -> Vec<String> {
    let nest = |n: usize| format!(r#""d":{}1{}"#, "[".repeat(n), "]".repeat(n));
    vec![
        r#""n":1e400"#.into(),
        r#""n":-1e400"#.into(),
        r#""n":1e-400"#.into(),
        r#""n":123456789012345678901234567890"#.into(),
        r#""n":-0"#.into(),
        r#""n":1.0E+2"#.into(),
        r#""s":"\ud800""#.into(),
        r#""s":"\udc00""#.into(),
        r#""s":"\ud800\u0041""#.into(),
        r#""s":"\ud83d\ude00""#.into(),
        r#""s":"\u0000""#.into(),
        r#""s":"é\/\"\\""#.into(),
        nest(50),
        nest(127),
        nest(200),
        nest(2000),
        r#""__proto__":{"decision":"block"}"#.into(),
        r#""constructor":{"decision":"approve"}"#.into(),
        r#""d\u0065cision":"block""#.into(),
        r#""decision":"bl\u006fck""#.into(),
        r#""x":[],"x":{}"#.into(),
    ]
}

const PREFIXES: &[&str] = &[
    "",
    "\u{feff}",
    "\u{feff}\u{feff}",
    " \t\r\n",
    "\u{a0}",
    "\u{2028}",
    "\u{3000}",
    "\u{b}\u{c}",
    "\u{85}",
    "\u{180e}",
    "\u{200b}",
    "x",
    "\u{feff}x",
];
const SUFFIXES: &[&str] = &["", "\n", "\u{feff}", " \u{a0}\u{2029}", " x", ",", "}", "\u{85}", "\n{}", "\u{0}"];

/// Puts `extra` into the first object of `body`: at its start, or at its end.
fn insert(body: &str, extra: &str, at_end: bool) -> String {
    if at_end {
        let i = body.rfind('}').unwrap_or(body.len());
        let sep = if body[..i].trim_end().ends_with('{') { "" } else { "," };
        format!("{}{sep}{extra}{}", &body[..i], &body[i..])
    } else {
        let sep = if body[1..].trim_start().starts_with('}') { "" } else { "," };
        format!("{{{extra}{sep}{}", &body[1..])
    }
}

/// The generated corpus, as bytes (a few with invalid UTF-8).
fn corpus() -> Vec<Vec<u8>> {
    let mut out: Vec<String> = Vec::new();
    let bases = bases();
    let extras = extras();
    for b in &bases {
        out.push(b.clone());
        for p in PREFIXES {
            out.push(format!("{p}{b}"));
        }
        for s in SUFFIXES {
            out.push(format!("{b}{s}"));
        }
        for e in &extras {
            out.push(insert(b, e, false));
            out.push(insert(b, e, true));
        }
        // Token separators: JSON white space, and white space JSON does not allow.
        for sep in [" , ", ",\n\t", ",\u{a0}", ",\u{feff}", ", \r\n "] {
            out.push(b.replace(',', sep).replace(':', &sep.replace(',', ":")));
        }
        // Escaped keys and values.
        out.push(b.replace("\"permissionDecision\"", "\"permissionDecisio\\u006e\""));
        out.push(b.replace("\"deny\"", "\"\\u0064eny\"").replace("\"block\"", "\"\\u0062lock\""));
        out.push(b.replace("\"deny\"", "\"\\u0044eny\""));
    }
    // Combinations, with a fixed seed (xorshift).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for _ in 0..3000 {
        let b = &bases[next(bases.len())];
        let e = &extras[next(extras.len())];
        let body = insert(b, e, next(2) == 1);
        out.push(format!("{}{body}{}", PREFIXES[next(PREFIXES.len())], SUFFIXES[next(SUFFIXES.len())]));
    }
    let mut bytes: Vec<Vec<u8>> = out.into_iter().map(String::into_bytes).collect();
    bytes.push(b"{\"decision\":\"block\",\"s\":\"\xff\xfe\"}".to_vec());
    bytes.push(b"\xef\xbb\xbf{\"decision\":\"block\"}".to_vec());
    bytes.push(b"\xff{\"decision\":\"block\"}".to_vec());
    bytes.push(b"{\"decision\":\"block\"}\xff".to_vec());
    bytes.push(b"\xed\xa0\x80{\"decision\":\"block\"}".to_vec());
    bytes
}

fn pre_tool_use() -> hookhost::HookEvent {
    hookhost::HookEvent::parse(&bash_event("ls")).unwrap()
}

#[test]
fn parity_differential_against_node_json_parse() {
    let Some(node) = node() else {
        eprintln!(
            "SKIPPED parity_differential_against_node_json_parse: `node` is not installed (apt-get install nodejs)"
        );
        return;
    };
    let cases = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("cases.json");
    let script = tmp.path().join("meaning.js");
    let b64: Vec<String> = cases.iter().map(|c| base64::engine::general_purpose::STANDARD.encode(c)).collect();
    std::fs::write(&input, serde_json::to_vec(&b64).unwrap()).unwrap();
    std::fs::write(&script, NODE_MEANING).unwrap();
    let out = std::process::Command::new(node).arg(&script).arg(&input).output().unwrap();
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    let meanings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meanings.len(), cases.len());

    let event = pre_tool_use();
    let mut failures = Vec::new();
    let (mut denies, mut fail_closed, mut texts, mut invalids) = (0, 0, 0, 0);
    for (case, node) in cases.iter().zip(&meanings) {
        use hookhost::decision::{ExitKind, interpret};
        let ours = interpret(&event, ExitKind::Code(0), case, b"");
        let (perm, stop, failed, unreadable) = match &ours {
            hookhost::HookResult::Decided(d) => (
                d.permission.map(|p| p.as_str().to_string()),
                d.stop,
                false,
                d.reason.as_deref().is_some_and(|r| r.contains("cannot read this hook's JSON")),
            ),
            hookhost::HookResult::Failed(_) => (None, false, true, false),
        };
        let ok = match node["kind"].as_str().unwrap() {
            "text" => {
                texts += 1;
                !failed && perm.is_none() && !stop
            }
            // JSON.parse (or the schema) rejects it: a failure (its failure policy applies) or
            // a deny, never a decision that lets the call through.
            "invalid" => {
                invalids += 1;
                failed || (perm.as_deref() == Some("deny") && unreadable)
            }
            _ => {
                let want = node["permission"].as_str().map(str::to_string);
                let want_stop = node["stop"].as_bool().unwrap();
                if want.as_deref() == Some("deny") {
                    denies += 1;
                }
                if unreadable {
                    fail_closed += 1;
                }
                (!failed && perm == want && stop == want_stop) || (unreadable && perm.as_deref() == Some("deny"))
            }
        };
        if !ok {
            failures.push(format!("{:?}\n    node: {node}\n    ours: {ours:?}", String::from_utf8_lossy(case)));
        }
    }
    eprintln!(
        "parity corpus: {} outputs ({denies} node denies, {texts} text, {invalids} invalid, {fail_closed} read as a \
         fail-closed deny by hookhost)",
        cases.len()
    );
    assert!(cases.len() > 5000, "corpus too small: {}", cases.len());
    assert!(denies > 500 && texts > 100 && invalids > 100, "corpus does not cover every class");
    assert!(failures.is_empty(), "{} of {} outputs differ from node:\n{}", failures.len(), cases.len(), {
        failures.truncate(20);
        failures.join("\n")
    });
}

/// The issue's examples through the real binary, with real hooks.
#[test]
fn parity_duplicate_keys_and_bom_through_the_binary() {
    let outputs = [
        (r#"{"decision":"approve","decision":"block"}"#, "deny"),
        (r#"{"hookSpecificOutput":{"permissionDecision":"allow","permissionDecision":"deny"}}"#, "deny"),
        ("\u{feff}{\"decision\":\"block\",\"reason\":\"bom\"}", "deny"),
        (r#"{"decision":"approve","big":1e400}"#, "deny"),
        (
            r#"{"hookSpecificOutput":{"permissionDecision":"deny"},"hookSpecificOutput":{"permissionDecision":"ask"}}"#,
            "ask",
        ),
    ];
    for (printed, want) in outputs {
        let env = Env::new();
        let out_file = env.path().join("out.json");
        std::fs::write(&out_file, printed).unwrap();
        env.write(
            "managed",
            &hook_settings(
                "PreToolUse",
                "Bash",
                json!([{"type": "command", "command": format!("cat >/dev/null; cat {}", out_file.display())}]),
            ),
        );
        let out = env.dispatch(&bash_event("ls"));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], want, "{printed}: {out:?}");
    }
}
