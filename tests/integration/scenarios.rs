//! Scenario folders: `tests/fixtures/scenarios/<name>/` hold settings per scope, an event and
//! the expected outcome; each runs through the real `hookhost` binary. A new case is a new
//! folder. Format (see tests/fixtures/scenarios/README.md):
//!
//! - settings: `managed.json`, `managed.d/*.json`, `cli.json`, `local.json`, `project.json`,
//!   `user.json` (any subset);
//! - `event.json`: the event on stdin;
//! - `expect.json`: `command` (default `dispatch`), `exit`, `stdout_json` (subset match; the
//!   string `"<absent>"` means the key must not exist), `stdout_empty`, `stdout_contains`,
//!   `stderr_contains`, `stderr_empty`, `files_exist`, `files_absent`, `file_equals_event`,
//!   `file_lines` (path → line count), `absent_after` (`{"ms": N, "paths": [...]}`),
//!   `files_exist_within` (`{"ms": N, "paths": [...]}`: written by something that outlives
//!   dispatch, at the latest after N ms),
//!   `trust_project` (default true: the project is trusted with `hookhost trust` before the
//!   command runs; false leaves it untrusted);
//! - `{{SCENARIO}}` (this folder), `{{TMP}}` (a fresh temp dir per run) and `{{PROJECT}}` (the
//!   project dir) are substituted in every settings file, the event and the expectations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::support::Env;

fn scenarios_dir() -> PathBuf {
    super::support::repo().join("tests/fixtures/scenarios")
}

fn subst(text: &str, scenario: &Path, env: &Env) -> String {
    text.replace("{{SCENARIO}}", &scenario.to_string_lossy())
        .replace("{{TMP}}", &env.path().join("t").to_string_lossy())
        .replace("{{PROJECT}}", &env.project().to_string_lossy())
}

/// `actual` contains everything in `expected`.
fn subset(expected: &Value, actual: Option<&Value>, at: &str, errs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(s), None) if s == "<absent>" => {}
        (Value::String(s), Some(a)) if s == "<absent>" => errs.push(format!("{at}: expected absent, found {a}")),
        (Value::String(s), Some(Value::String(a))) if s.starts_with("<contains>") => {
            let needle = &s["<contains>".len()..];
            if !a.contains(needle) {
                errs.push(format!("{at}: {a:?} does not contain {needle:?}"));
            }
        }
        (Value::Object(e), Some(Value::Object(a))) => {
            for (k, v) in e {
                subset(v, a.get(k), &format!("{at}/{k}"), errs);
            }
        }
        (e, Some(a)) if e == a => {}
        (e, a) => {
            errs.push(format!("{at}: expected {e}, found {}", a.map_or("nothing".to_string(), |a| a.to_string())))
        }
    }
}

fn run_one(dir: &Path) -> Result<(), String> {
    let env = Env::new();
    std::fs::create_dir_all(env.path().join("t")).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok().map(|t| subst(&t, dir, &env));
    for scope in ["managed", "cli", "local", "project", "user"] {
        if let Some(t) = read(&format!("{scope}.json")) {
            env.write(scope, &t);
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("managed.d")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let t = subst(&std::fs::read_to_string(e.path()).unwrap(), dir, &env);
            env.write(&format!("managed.d/{name}"), &t);
        }
    }
    let expect: Value =
        serde_json::from_str(&read("expect.json").ok_or("no expect.json")?).map_err(|e| format!("expect.json: {e}"))?;
    env.trust_project.set(expect.get("trust_project") != Some(&Value::Bool(false)));
    let event = read("event.json").unwrap_or_default();
    let command = expect.get("command").and_then(Value::as_str).unwrap_or("dispatch");
    let out = env.run(&[command], event.as_bytes());
    let mut errs = Vec::new();
    let strs = |k: &str| -> Vec<String> {
        expect
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    if let Some(code) = expect.get("exit").and_then(Value::as_i64)
        && out.code as i64 != code
    {
        errs.push(format!("exit: expected {code}, got {}", out.code));
    }
    if let Some(e) = expect.get("stdout_json") {
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(a) => subset(e, Some(&a), "stdout", &mut errs),
            Err(_) => errs.push(format!("stdout is not JSON: {:?}", out.stdout)),
        }
    }
    if expect.get("stdout_empty") == Some(&Value::Bool(true)) && !out.stdout.is_empty() {
        errs.push(format!("stdout should be empty: {:?}", out.stdout));
    }
    if expect.get("stderr_empty") == Some(&Value::Bool(true)) && !out.stderr.is_empty() {
        errs.push(format!("stderr should be empty: {:?}", out.stderr));
    }
    for s in strs("stdout_contains") {
        if !out.stdout.contains(&s) {
            errs.push(format!("stdout does not contain {s:?}"));
        }
    }
    for s in strs("stderr_contains") {
        if !out.stderr.contains(&s) {
            errs.push(format!("stderr does not contain {s:?}"));
        }
    }
    for p in strs("files_exist") {
        if !Path::new(&p).exists() {
            errs.push(format!("{p} should exist"));
        }
    }
    for p in strs("files_absent") {
        if Path::new(&p).exists() {
            errs.push(format!("{p} should not exist"));
        }
    }
    for p in strs("file_equals_event") {
        match std::fs::read(&p) {
            Ok(b) if b == event.as_bytes() => {}
            Ok(_) => errs.push(format!("{p} differs from the event")),
            Err(e) => errs.push(format!("{p}: {e}")),
        }
    }
    if let Some(Value::Object(m)) = expect.get("file_lines") {
        for (p, n) in m {
            let got = std::fs::read_to_string(p).map(|t| t.lines().count()).unwrap_or(0);
            if Some(got as u64) != n.as_u64() {
                errs.push(format!("{p}: expected {n} lines, found {got}"));
            }
        }
    }
    if let Some(a) = expect.get("files_exist_within") {
        // Files written by something that outlives dispatch (a detached async hook): they
        // must appear, at the latest after `ms`.
        let deadline =
            std::time::Instant::now() + Duration::from_millis(a.get("ms").and_then(Value::as_u64).unwrap_or(0));
        for p in a.get("paths").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            while !Path::new(p).exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !Path::new(p).exists() {
                errs.push(format!("{p} did not appear"));
            }
        }
    }
    if let Some(a) = expect.get("absent_after") {
        std::thread::sleep(Duration::from_millis(a.get("ms").and_then(Value::as_u64).unwrap_or(0)));
        for p in a.get("paths").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if Path::new(p).exists() {
                errs.push(format!("{p} appeared after dispatch returned: a process survived"));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n  stdout: {}\n  stderr: {}", errs.join("\n  "), out.stdout.trim_end(), out.stderr.trim_end()))
    }
}

#[test]
fn scenario_folders() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("tests/fixtures/scenarios")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 25, "expected at least 25 scenarios, found {}", dirs.len());
    let only = std::env::var("SCENARIO").ok();
    let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| only.as_deref().is_none_or(|o| d.ends_with(o))).collect();
    // Run in a few threads: several scenarios wait on timeouts.
    let results: Vec<(String, Result<(), String>)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<PathBuf>> = (0..4).map(|i| dirs.iter().skip(i).step_by(4).cloned().collect()).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|d| (d.file_name().unwrap().to_string_lossy().into_owned(), run_one(d)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<String> =
        results.iter().filter_map(|(n, r)| r.as_ref().err().map(|e| format!("scenario {n}:\n  {e}"))).collect();
    println!("{} scenarios run, {} failed", results.len(), failed.len());
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
