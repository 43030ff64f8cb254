//! `hookhost test`: hook authors' tests. A test file names the settings that configure the hooks
//! under test (wasm or command, exactly as they would be installed) and a list of cases, each an
//! event and the expected result; every case is dispatched through the real `EventBus` and
//! checked, and one PASS/FAIL line is printed per case, like `opa test`.
//!
//! Test file (JSON; paths are relative to the file):
//!
//! ```json
//! {
//!   "settings": "settings.json",
//!   "rewritePaths": {"/usr/local/lib/hookhost/hooks": "../target/wasm32-wasip2/release"},
//!   "cases": [
//!     {"name": "rm -rf is denied", "event": "../../events/02-bash-rm-rf.json",
//!      "expect": {"decision": "deny", "reasonContains": "rm -rf"}},
//!     {"name": "ls is fine",
//!      "event": {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}},
//!      "expect": {"decision": "none"}}
//!   ]
//! }
//! ```
//!
//! `settings` is a file or an inline object, loaded at managed scope (in place of this machine's
//! managed files, except for their sandbox floor: `sandbox.floor` and `sandbox.forbidOff` of
//! this machine's managed settings hold for the hooks under test as in `dispatch`, see
//! `crate::floor`); `rewritePaths` replaces a
//! path prefix written in the settings by a directory (so installed paths can point at a build);
//! `projectDir` (optional) is the project directory (default: the event's `cwd`). `expect` may
//! hold `decision` (`deny`, `defer`, `ask`, `allow`, `block`, `stop` or `none`), `reasonContains`,
//! `updatedInput` (the exact object), `exitCode` (what `hookhost dispatch` would exit with),
//! `output` (the JSON it would print, `null` for nothing) and `hooksRun`; every key given must
//! hold, and at least one must be given (an empty `expect` is an error: it would pass whatever
//! the hooks do). A case may name the `agent` that sends its event (`codex`, `gemini`,
//! `copilot`, `qwen`, `cursor`; `agentEvent` for Copilot's camelCase payloads): the event is
//! mapped as `hookhost dispatch --agent` maps it, `decision` is the canonical one and
//! `exitCode`/`output` the agent's wire answer. A file that is not a test file is an error at
//! its file:line:column.
//!
//! Promises: exit 0 when every case passed, 2 when any failed, 1 when a test file could not be
//! used (and nothing failed), or when this machine's managed settings cannot be read (no hook is
//! run without their sandbox floor). Never builds anything and never writes anything but the
//! precompile cache: a wasm hook whose component does not exist makes its test file unusable,
//! with an error that names the component and the `build.sh` beside the test file that builds it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::bus::{DispatchContext, EventBus};
use crate::decision::{HookResult, first_line, truncate_chars};
use crate::event::HookEvent;
use crate::hook::Handler;
use crate::settings::{Scope, file, resolve};

/// The file name `hookhost test DIR` looks for in DIR and its subdirectories.
pub const TEST_FILE: &str = "tests.json";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestFile {
    settings: Value,
    #[serde(default)]
    rewrite_paths: Map<String, Value>,
    #[serde(default)]
    project_dir: Option<PathBuf>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    event: Value,
    /// The agent that sends `event` (`claude` by default): the event is mapped as
    /// `hookhost dispatch --agent` maps it, and `exitCode`/`output` are that agent's answer.
    #[serde(default)]
    agent: Option<String>,
    /// The agent's event name when its payload has none (`--agent-event`).
    #[serde(default, rename = "agentEvent")]
    agent_event: Option<String>,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expect {
    decision: Option<String>,
    reason_contains: Option<String>,
    updated_input: Option<Value>,
    exit_code: Option<u8>,
    /// The JSON the agent is sent on stdout (`null`: nothing).
    output: Option<Value>,
    hooks_run: Option<usize>,
}

const DECISIONS: &[&str] = &["deny", "defer", "ask", "allow", "block", "stop", "none"];

/// Totals of one `hookhost test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

impl Summary {
    /// The exit code: 2 if a case failed, 1 if a file could not be used, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.failed > 0 {
            2
        } else if self.errors > 0 {
            1
        } else {
            0
        }
    }
}

/// The test files named by `paths`: files as given; for a directory, its `tests.json` and those
/// of its direct subdirectories.
pub fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::iter::once(p.join(TEST_FILE))
            .chain(
                std::fs::read_dir(p)
                    .map(|d| d.flatten().map(|e| e.path().join(TEST_FILE)).collect::<Vec<_>>())
                    .unwrap_or_default(),
            )
            .filter(|f| f.is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            // Reported as an error by `run_file`.
            out.push(p.join(TEST_FILE));
        }
        out.extend(found);
    }
    out
}

/// Runs every test file and prints the report to `out`.
pub fn run(paths: &[PathBuf], out: &mut dyn std::io::Write) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let floor = crate::floor::machine_sandbox().map_err(std::io::Error::other)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| std::io::Error::other(format!("cannot start the runtime: {e}")))?;
    for path in collect(paths) {
        writeln!(out, "{}", path.display())?;
        match run_file(&path, &rt, &floor, out) {
            Ok((passed, failed)) => {
                summary.passed += passed;
                summary.failed += failed;
            }
            Err(e) => {
                summary.errors += 1;
                writeln!(out, "  ERROR {e}")?;
            }
        }
    }
    let total = summary.passed + summary.failed;
    writeln!(out, "{}", "-".repeat(80))?;
    writeln!(out, "PASS: {}/{total}", summary.passed)?;
    if summary.failed > 0 {
        writeln!(out, "FAIL: {}/{total}", summary.failed)?;
    }
    if summary.errors > 0 {
        writeln!(out, "ERROR: {} test file(s) could not be used", summary.errors)?;
    }
    Ok(summary)
}

fn run_file(
    path: &Path,
    rt: &tokio::runtime::Runtime,
    floor: &crate::exec::sandbox::ManagedSandbox,
    out: &mut dyn std::io::Write,
) -> Result<(usize, usize), String> {
    let text = read_text(path)?;
    let t = parse_test_file(&text, path)?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let abs = |p: &Path| {
        let joined = base.join(p);
        std::fs::canonicalize(&joined).unwrap_or(joined)
    };
    let (mut settings_text, settings_path) = match &t.settings {
        Value::String(f) => {
            let p = abs(Path::new(f));
            (read_text(&p).map_err(|e| format!("settings {e}"))?, p)
        }
        v @ Value::Object(_) => (v.to_string(), path.to_path_buf()),
        _ => return Err("`settings` must be a file name or an object".into()),
    };
    for (from, to) in &t.rewrite_paths {
        let to = to.as_str().ok_or_else(|| format!("rewritePaths.{from} must be a string"))?;
        settings_text = settings_text.replace(from.as_str(), &abs(Path::new(to)).to_string_lossy());
    }
    let parsed = file::parse(&settings_text, &settings_path, Scope::Managed).map_err(|e| e.to_string())?;
    let settings = resolve(vec![parsed]);
    check_components(&settings, &base)?;
    // `hookhost test` is not the event path: every component is compiled first with the
    // precompile budget (as `check` does), so a case's deadline measures the hook and not a first
    // compile (a Python or JavaScript guest takes seconds). A component that cannot be loaded
    // is left to the cases, which report the failure.
    let host = crate::Host::tools();
    let bus = host.what_if_bus(settings, floor);
    let _ = host.preload_wasm(&bus.settings().hooks, &crate::exec::RunContext::default());
    let (mut passed, mut failed) = (0, 0);
    for case in &t.cases {
        let started = Instant::now();
        let verdict = run_case(case, &bus, &t, &abs, rt);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match verdict {
            Ok(got) => {
                passed += 1;
                writeln!(out, "  PASS  {} ({got}, {ms:.1} ms)", case.name).map_err(|e| e.to_string())?;
            }
            Err(why) => {
                failed += 1;
                writeln!(out, "  FAIL  {}: {why}", case.name).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok((passed, failed))
}

/// Every wasm hook's component exists (a placeholder such as `${CLAUDE_PROJECT_DIR}` is left to
/// the run); else an error that says how to build it. Nothing is built here.
fn check_components(settings: &crate::settings::Settings, base: &Path) -> Result<(), String> {
    for hook in &settings.hooks {
        let Handler::Wasm(w) = &hook.handler else { continue };
        if w.component.exists() || w.component.to_string_lossy().contains("${") {
            continue;
        }
        let build = base.join("build.sh");
        let how = if build.is_file() {
            format!("run {} first (it builds the component and prints its path)", build.display())
        } else {
            crate::lint::build_hint(&w.component, Some(base)).unwrap_or_else(|| "build it first".into())
        };
        return Err(format!(
            "wasm component {} does not exist: {how}; `hookhost test` builds nothing",
            w.component.display()
        ));
    }
    Ok(())
}

/// Parses a test file; every error is located at file:line:column. A case whose `expect` is
/// empty is an error: it would pass whatever the hooks do.
fn parse_test_file(text: &str, path: &Path) -> Result<TestFile, String> {
    use crate::settings::locate::{Seg, locate};
    let t: TestFile = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.rfind(" at line ").map_or(msg.clone(), |i| msg[..i].to_string());
        format!("{}:{}:{}: not a hookhost test file: {msg}", path.display(), e.line().max(1), e.column().max(1))
    })?;
    for (i, case) in t.cases.iter().enumerate() {
        let e = &case.expect;
        if e.decision.is_none()
            && e.reason_contains.is_none()
            && e.updated_input.is_none()
            && e.exit_code.is_none()
            && e.hooks_run.is_none()
            && e.output.is_none()
        {
            let (line, col) =
                locate(text, &[Seg::Key("cases".into()), Seg::Index(i), Seg::Key("expect".into())], false);
            return Err(format!(
                "{}:{line}:{col}: case {:?}: `expect` is empty, so it would pass whatever the hooks do; give at least \
                 `decision` (deny, defer, ask, allow, block, stop or none)",
                path.display(),
                case.name
            ));
        }
    }
    if t.cases.is_empty() {
        let (line, col) = locate(text, &[Seg::Key("cases".into())], false);
        return Err(format!("{}:{line}:{col}: no cases: a test file tests nothing without them", path.display()));
    }
    Ok(t)
}

/// A test, settings or event file: a bounded regular file (`crate::readfile`), UTF-8.
fn read_text(path: &Path) -> Result<String, String> {
    let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::Follow, file::MAX_SETTINGS_BYTES);
    let bytes = crate::readfile::read(path, &opts).map_err(|e| format!("cannot read {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
}

/// Runs one case; `Ok` with a short description of what happened, `Err` with what differed.
fn run_case(
    case: &Case,
    bus: &EventBus,
    t: &TestFile,
    abs: &dyn Fn(&Path) -> PathBuf,
    rt: &tokio::runtime::Runtime,
) -> Result<String, String> {
    let bytes = match &case.event {
        Value::String(f) => {
            let p = abs(Path::new(f));
            read_text(&p).map_err(|e| format!("event {e}"))?.into_bytes()
        }
        v @ Value::Object(_) => v.to_string().into_bytes(),
        _ => return Err("`event` must be a file name or an object".into()),
    };
    let agent = match case.agent.as_deref() {
        None => crate::agents::Agent::Claude,
        Some(a) => crate::agents::Agent::parse(a).ok_or_else(|| format!("unknown agent {a:?}"))?,
    };
    let inbound = agent.accept(&bytes, case.agent_event.as_deref()).map_err(|e| format!("{}: {e}", agent.name()))?;
    let event = HookEvent::parse(&inbound.canonical).map_err(|e| format!("invalid event: {e}"))?;
    let ctx = DispatchContext {
        project_dir: t.project_dir.as_deref().map(abs).or_else(|| event.cwd().map(PathBuf::from)),
        user_dir: None,
    };
    let outcome = rt.block_on(bus.dispatch(&event, &ctx));
    let v = &outcome.verdict;
    let response = inbound.render(&outcome.render(&event));
    let e = &case.expect;
    let mut diffs = Vec::new();
    if let Some(want) = &e.decision {
        if !DECISIONS.contains(&want.as_str()) {
            return Err(format!("expect.decision must be one of {}, got {want:?}", DECISIONS.join(", ")));
        }
        if v.label() != want {
            diffs.push(format!("expected decision {want}, got {}", v.label()));
        }
    }
    if let Some(want) = &e.reason_contains
        && !v.reason.as_deref().unwrap_or("").contains(want.as_str())
    {
        diffs.push(format!("expected the reason to contain {want:?}, got {:?}", v.reason.as_deref().unwrap_or("")));
    }
    if let Some(want) = &e.updated_input
        && v.updated_input.as_ref() != Some(want)
    {
        diffs.push(format!(
            "expected updatedInput {want}, got {}",
            v.updated_input.as_ref().map_or("none".to_string(), Value::to_string)
        ));
    }
    if let Some(want) = e.exit_code
        && response.exit_code != want
    {
        diffs.push(format!("expected exit code {want}, got {}", response.exit_code));
    }
    if let Some(want) = &e.output {
        let got = match response.stdout.trim() {
            "" => Value::Null,
            s => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string())),
        };
        if &got != want {
            diffs.push(format!("expected output {want}, got {got}"));
        }
    }
    if let Some(want) = e.hooks_run
        && outcome.runs.len() != want
    {
        diffs.push(format!("expected {want} hook(s) to run, got {}", outcome.runs.len()));
    }
    if diffs.is_empty() {
        let mut got = v.label().to_string();
        if let Some(r) = &v.reason {
            got.push_str(&format!(": {}", truncate_chars(&first_line(r), 60)));
        }
        return Ok(got);
    }
    // Say what each hook did: the usual cause is a hook that failed rather than decided.
    for r in &outcome.runs {
        if let HookResult::Failed(f) = &r.report.result {
            diffs.push(format!("{} failed ({}): {}", r.hook.label(), f.kind.as_str(), f.message));
        }
    }
    if outcome.runs.is_empty() {
        diffs.push("no hook ran for this event".into());
    }
    Err(diffs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_hook_cases_pass_and_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let test = serde_json::json!({
            "settings": {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "command", "command": "echo 'no rm' >&2; exit 2"}]}]}},
            "cases": [
                {"name": "denied", "event": {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "rm"}},
                 "expect": {"decision": "deny", "reasonContains": "no rm", "exitCode": 0, "hooksRun": 1}},
                {"name": "wrong", "event": {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}},
                 "expect": {"decision": "none"}},
                {"name": "other tool", "event": {"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {}},
                 "expect": {"decision": "none", "hooksRun": 0}}
            ]
        });
        let f = tmp.path().join("tests.json");
        std::fs::write(&f, test.to_string()).unwrap();
        let mut out = Vec::new();
        let s = run(&[tmp.path().to_path_buf()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(s, Summary { passed: 2, failed: 1, errors: 0 }, "{text}");
        assert_eq!(s.exit_code(), 2);
        assert!(
            text.contains("PASS  denied") && text.contains("FAIL  wrong: expected decision none, got deny"),
            "{text}"
        );

        std::fs::write(&f, "{\"cases\": []}").unwrap();
        let s = run(&[f], &mut Vec::new()).unwrap();
        assert_eq!((s.errors, s.exit_code()), (1, 1));
    }

    #[test]
    fn a_missing_component_says_to_run_build_sh() {
        let tmp = tempfile::tempdir().unwrap();
        let test = serde_json::json!({
            "settings": {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "wasm", "component": "/usr/local/lib/hookhost/hooks/x.wasm"}]}]}},
            "rewritePaths": {"/usr/local/lib/hookhost/hooks": "build"},
            "cases": [{"name": "denied", "event": {"hook_event_name": "PreToolUse", "tool_name": "Bash",
                       "tool_input": {"command": "rm"}}, "expect": {"decision": "deny"}}]
        });
        std::fs::write(tmp.path().join("tests.json"), test.to_string()).unwrap();
        let mut out = Vec::new();
        let s = run(&[tmp.path().to_path_buf()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!((s, s.exit_code()), (Summary { passed: 0, failed: 0, errors: 1 }, 1), "{text}");
        assert!(
            text.contains(
                "x.wasm does not exist: build the hook's crate with `cargo build --release --target wasm32-wasip2`"
            ),
            "{text}"
        );
        std::fs::write(tmp.path().join("build.sh"), "#!/bin/sh\n").unwrap();
        let mut out = Vec::new();
        run(&[tmp.path().to_path_buf()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!("run {}/build.sh first", tmp.path().display())), "{text}");
        assert!(!tmp.path().join("build").exists(), "hookhost test built something");
    }
}
