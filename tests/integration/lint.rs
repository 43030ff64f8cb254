//! `hookhost check` as an admin's linter (issue 25 item 1): a typo is never `ok`.
//!
//! The corpus: every key, event, `hookhost.*` key, `permissions` key and tool name hookhost
//! knows, each with every one-edit misspelling of a kind a hand makes (a letter dropped, doubled,
//! swapped with its neighbour, replaced, or its case flipped), written where it would be used
//! (top-level keys, `hooks` events, `failClosed`, permission rules, `if`, exact matchers), one
//! per line: the linter must make each an error at its line with a "did you mean" (the whole
//! corpus in-process, in files of 150 variants; one variant of every name through the real
//! `hookhost check`, which must exit 1 and never print `ok`). The correct names are the control:
//! they pass.

use serde_json::json;

use super::support::{Env, hook_settings};
use hookhost::event::KNOWN_EVENTS;
use hookhost::lint::{
    CLAUDE_CODE_KEYS, HOOKHOST_KEYS, HOOKHOST_OBJECT_KEYS, KNOWN_TOOLS, PERMISSION_KEYS, Severity, lint_text,
};
use hookhost::settings::Scope;

/// One-edit variants of `w` that are not in `known`.
fn misspellings(w: &str, known: &[&str]) -> Vec<String> {
    let c: Vec<char> = w.chars().collect();
    let mut out = std::collections::BTreeSet::new();
    for i in 0..c.len() {
        // dropped
        out.insert(c[..i].iter().chain(&c[i + 1..]).collect::<String>());
        // doubled
        out.insert(c[..=i].iter().chain(&c[i..]).collect::<String>());
        // case flipped
        let mut f = c.clone();
        f[i] = if f[i].is_ascii_uppercase() { f[i].to_ascii_lowercase() } else { f[i].to_ascii_uppercase() };
        out.insert(f.into_iter().collect());
        // replaced
        let mut r = c.clone();
        r[i] = if r[i] == 'x' { 'q' } else { 'x' };
        out.insert(r.into_iter().collect());
        // swapped with the next one
        if i + 1 < c.len() {
            let mut s = c.clone();
            s.swap(i, i + 1);
            out.insert(s.into_iter().collect());
        }
    }
    out.into_iter().filter(|v| !v.is_empty() && v != w && !known.contains(&v.as_str())).collect()
}

/// `check` over `text` as the managed file: (exit code, stdout, stderr).
fn check(text: &str) -> (i32, String, String) {
    let env = Env::new();
    env.write("managed", text);
    let out = env.run(&["check"], b"");
    (out.code, out.stdout, out.stderr)
}

/// Asserts that the linter fails each variant with a located suggestion (line = index + 2):
/// in-process over the whole corpus (in chunks: `check` output is per file), and through the
/// real `hookhost check` binary for one variant of every name.
fn assert_all_named(label: &str, build: &dyn Fn(&[String]) -> String, variants: &[String]) -> usize {
    for chunk in variants.chunks(150) {
        let text = build(chunk);
        let path = std::path::Path::new("/etc/hookhost/managed-settings.json");
        let findings = lint_text(&text, path, Scope::Managed, None);
        for (i, v) in chunk.iter().enumerate() {
            let line = i + 2;
            let hit = findings.iter().any(|f| {
                f.severity == Severity::Error
                    && f.location.line == line
                    && f.message.contains(v.as_str())
                    && f.message.contains("did you mean")
            });
            assert!(hit, "{label}: variant {v:?} (line {line}) not an error with a suggestion: {findings:#?}");
        }
    }
    // Through the binary: the first variant of each name (variants are grouped by name).
    let mut sample: Vec<String> = Vec::new();
    let mut last_base = String::new();
    for v in variants {
        let base: String = v.chars().take(2).collect::<String>().to_lowercase();
        if base != last_base {
            sample.push(v.clone());
            last_base = base;
        }
    }
    let sample: Vec<String> = sample.into_iter().take(150).collect();
    let (code, stdout, stderr) = check(&build(&sample));
    assert_eq!(code, 1, "{label}: a misspelling passed check:\n{stdout}\n{stderr}");
    assert!(!stdout.lines().any(|l| l.trim() == "ok"), "{label}: `ok` printed: {stdout}");
    for (i, v) in sample.iter().enumerate() {
        let line = i + 2;
        let hit = stderr.lines().any(|l| {
            l.contains(&format!("managed-settings.json:{line}:"))
                && l.contains(v.as_str())
                && l.contains("did you mean")
        });
        assert!(hit, "{label}: variant {v:?} (line {line}) not reported by check with a suggestion:\n{stderr}");
    }
    variants.len()
}

/// Each variant once (two names can share a misspelling).
fn unique(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

fn lines(entries: &[String], open: &str, close: &str) -> String {
    format!("{open}\n{}\n{close}", entries.join(",\n"))
}

#[test]
fn lint_every_one_edit_misspelling_fails_check() {
    let mut total = 0;
    let keys: Vec<&str> = HOOKHOST_KEYS.iter().chain(CLAUDE_CODE_KEYS).copied().filter(|k| *k != "$schema").collect();

    // Top-level keys.
    let vs: Vec<String> = keys.iter().flat_map(|k| misspellings(k, &keys)).collect();
    let vs = unique(vs);
    let build =
        |vs: &[String]| lines(&vs.iter().map(|v| format!("  {}: true", json!(v))).collect::<Vec<_>>(), "{", "}");
    total += assert_all_named("top-level keys", &build, &vs);

    // `hookhost.*` keys.
    let vs: Vec<String> = HOOKHOST_OBJECT_KEYS.iter().flat_map(|k| misspellings(k, HOOKHOST_OBJECT_KEYS)).collect();
    let vs = unique(vs);
    let build = |vs: &[String]| {
        lines(&vs.iter().map(|v| format!("  {}: true", json!(v))).collect::<Vec<_>>(), "{\"hookhost\": {", "}}")
    };
    total += assert_all_named("hookhost keys", &build, &vs);

    // `permissions` keys.
    let vs: Vec<String> = PERMISSION_KEYS.iter().flat_map(|k| misspellings(k, PERMISSION_KEYS)).collect();
    let vs = unique(vs);
    let build = |vs: &[String]| {
        lines(&vs.iter().map(|v| format!("  {}: []", json!(v))).collect::<Vec<_>>(), "{\"permissions\": {", "}}")
    };
    total += assert_all_named("permissions keys", &build, &vs);

    // Events in `hooks`.
    let vs: Vec<String> = KNOWN_EVENTS.iter().flat_map(|e| misspellings(e, KNOWN_EVENTS)).collect();
    let vs = unique(vs);
    let hook = r#"[{"hooks": [{"type": "command", "command": "true"}]}]"#;
    let build = |vs: &[String]| {
        lines(&vs.iter().map(|v| format!("  {}: {hook}", json!(v))).collect::<Vec<_>>(), "{\"hooks\": {", "}}")
    };
    total += assert_all_named("events", &build, &vs);

    // Events in `failClosed`.
    let build = |vs: &[String]| {
        lines(&vs.iter().map(|v| format!("  {}", json!(v))).collect::<Vec<_>>(), "{\"failClosed\": [", "]}")
    };
    total += assert_all_named("failClosed", &build, &vs);

    // Tool names: rules (deny, ask, allow), `if`, exact matchers. Characters a rule cannot hold
    // are not produced by these edits, so each variant is a well-formed rule naming no tool.
    let tools: Vec<String> = KNOWN_TOOLS.iter().flat_map(|t| misspellings(t, KNOWN_TOOLS)).collect();
    let tools = unique(tools);
    for list in ["deny", "ask", "allow"] {
        let build = |vs: &[String]| {
            lines(
                &vs.iter().map(|t| format!("  {}", json!(format!("{t}(curl *)")))).collect::<Vec<_>>(),
                &format!("{{\"permissions\": {{\"{list}\": ["),
                "]}}",
            )
        };
        total += assert_all_named(list, &build, &tools);
    }
    let build = |tools: &[String]| {
        lines(
            &tools
                .iter()
                .map(|t| {
                    format!("  {{\"type\": \"command\", \"command\": \"true\", \"if\": {}}}", json!(format!("{t}(x)")))
                })
                .collect::<Vec<_>>(),
            "{\"hooks\": {\"PreToolUse\": [{\"hooks\": [",
            "]}]}}",
        )
    };
    total += assert_all_named("if", &build, &tools);
    let build = |tools: &[String]| {
        lines(
            &tools
                .iter()
                .map(|t| {
                    format!(
                        "  {{\"matcher\": {}, \"hooks\": [{{\"type\": \"command\", \"command\": \"true\"}}]}}",
                        json!(t)
                    )
                })
                .collect::<Vec<_>>(),
            "{\"hooks\": {\"PreToolUse\": [",
            "]}}",
        )
    };
    total += assert_all_named("matchers", &build, &tools);
    eprintln!("{total} one-edit misspellings, each a located error with a suggestion");
    assert!(total > 2000, "corpus too small: {total}");
}

#[test]
fn lint_the_correct_names_pass() {
    let text = json!({
        "$schema": "x",
        "hooks": {"PreToolUse": [{"matcher": KNOWN_TOOLS.join("|"), "hooks": [{"type": "command", "command": "true", "if": "Bash(git *)"}]}]},
        "permissions": {"deny": KNOWN_TOOLS.iter().map(|t| format!("{t}(curl *)")).collect::<Vec<_>>(), "ask": [], "allow": [],
                        "defaultMode": "default", "additionalDirectories": []},
        "failClosed": KNOWN_EVENTS,
        "hookhost": {"strictBashRules": true, "maxHooksPerEvent": 10},
        "allowManagedHooksOnly": true,
        "allowManagedPermissionRulesOnly": true,
        "disableAllHooks": false,
        "model": "opus"
    })
    .to_string();
    let (code, stdout, stderr) = check(&text);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("\nok\n"), "{stdout}");
    assert!(stdout.contains("`model` is Claude Code's and is not used by hookhost"), "a warning: {stdout}");
    // The same file under --strict, and under managed hookhost.strictCheck: the warning fails.
    let env = Env::new();
    env.write("managed", &text);
    let out = env.run(&["check", "--strict"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("`model`") && out.stderr.contains("[warning, --strict]"), "{out:?}");
    env.write("managed.d/90-strict.json", &json!({"hookhost": {"strictCheck": true}}).to_string());
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "managed strictCheck makes check strict: {out:?}");
    assert!(!out.stdout.lines().any(|l| l.trim() == "ok"), "{out:?}");
}

#[test]
fn lint_every_problem_of_every_file_in_one_run() {
    let env = Env::new();
    let m = env.write(
        "managed",
        "{\n  \"permisions\": {\"deny\": [\"Bash(curl *)\"]},\n  \"allowManagedHookOnly\": true,\n  \"permissions\": {\"deny\": [\"bash(curl *)\", \"Read(./.env\"]}\n}\n",
    );
    let u = env.write(
        "user",
        "{\n  \"hooks\": {\n    \"PreToolUs\": [{\"matcher\": \"Bash\", \"hooks\": [{\"type\": \"command\", \"command\": \"true\"}]}],\n    \"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"true\", \"timout\": 5}]}]\n  }\n}\n",
    );
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    let (m, u) = (m.display().to_string(), u.display().to_string());
    for want in [
        format!("{m}:2:3: unknown key `permisions` is ignored; did you mean `permissions`?"),
        format!("{m}:3:3: unknown key `allowManagedHookOnly` is ignored; did you mean `allowManagedHooksOnly`?"),
        format!("{m}:4:28: `permissions.deny` rule \"bash(curl *)\" names tool `bash`"),
        format!("{m}:4:44: rule \"Read(./.env\" has `(` without a closing `)`"),
        format!("{u}:3:5: `PreToolUs` is not a Claude Code event: its hooks never run; did you mean `PreToolUse`?"),
        format!("{u}:4:64: unknown field `timout`"),
        "dispatch fails closed (exit 2, every event) while this managed file is invalid".to_string(),
    ] {
        assert!(out.stderr.contains(&want), "missing {want:?}:\n{}", out.stderr);
    }
    // The policy as dispatch applies it is indeed weaker: the managed file is invalid, so dispatch blocks.
    let ev = super::support::bash_event("curl http://x");
    assert_eq!(env.dispatch(&ev).code, 2);
}

#[test]
fn lint_missing_scripts_and_components_are_errors_never_ok() {
    let env = Env::new();
    let garbage = env.path().join("broken.wasm");
    std::fs::write(&garbage, b"not a component").unwrap();
    env.write(
        "managed",
        &hook_settings(
            "PreToolUse",
            "Bash",
            json!([
                {"type": "command", "command": env.path().join("nope/guard.sh").to_str().unwrap()},
                {"type": "command", "command": "bash ./.hookhost/missing.sh"},
                {"type": "command", "command": "no-such-program-hookhost --x"},
                {"type": "wasm", "component": garbage.to_str().unwrap()},
                {"type": "wasm", "component": "/nonexistent/hook/target/wasm32-wasip2/release/x.wasm"}
            ]),
        ),
    );
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("FAILED (load)"), "{}", out.stdout);
    assert!(!out.stdout.lines().any(|l| l.trim() == "ok"), "FAILED (load) followed by ok: {}", out.stdout);
    for want in [
        "nope/guard.sh does not exist: it fails every time it fires (exit 127)",
        "/.hookhost/missing.sh does not exist",
        "the program `no-such-program-hookhost` is not on PATH",
        "broken.wasm does not load",
        "build it with `cd /nonexistent/hook && cargo build --release --target wasm32-wasip2`",
    ] {
        assert!(out.stderr.contains(want), "missing {want:?}: {}", out.stderr);
    }
    // The effect check names: dispatch runs the script and it fails (exit 127, fail-open).
    let out = env.dispatch(&super::support::bash_event("ls"));
    assert_ne!(out.code, 2, "{out:?}");
}

#[test]
fn lint_an_invalid_user_file_says_whether_its_last_good_version_applies() {
    let env = Env::new();
    env.write("user", &json!({"permissions": {"deny": ["Bash(curl *)"]}}).to_string());
    // First sight: recorded as the last known good version.
    assert_eq!(env.dispatch(&super::support::bash_event("ls")).code, 0);
    let u = env.write("user", "{\"permissions\": {\"deny\": [\"Bash(curl *\"]}}");
    let out = env.run(&["check"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("dispatch keeps this file's last known good version in force"), "{out:?}");
    let out = env.dispatch(&super::support::bash_event("curl http://x"));
    assert_eq!(out.json()["hookSpecificOutput"]["permissionDecision"], "deny", "the last good version: {out:?}");
    // A user file never accepted: skipped.
    let env = Env::new();
    env.write("user", "{\"permissions\": {\"deny\": [\"Bash(curl *\"]}}");
    let out = env.run(&["check"], b"");
    assert!(out.stderr.contains("dispatch skips this file (no accepted version of it)"), "{out:?}");
    let _ = u;
}
