//! One sandboxed hook run through the real runner, shared by the `sandbox` and `compare`
//! benches: `sh -c true` with a Claude Code event on stdin.

use std::sync::Arc;
use std::time::Duration;

use hookhost::exec::command::{self, ProcessSpec};
use hookhost::exec::sandbox::{self, Launch, Layer, Mode, Prepared, RunInfo, SandboxPool, SandboxSpec};

const EVENT: &[u8] = include_bytes!("../../tests/fixtures/claude-code-2.1.328/PreToolUse-Bash.json");

/// `sh -c true`, the event on stdin.
pub fn process() -> ProcessSpec {
    ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), "true".into()],
        env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
        cwd: "/".into(),
        stdin: Arc::from(EVENT),
        timeout: Duration::from_secs(10),
        stdout_cap: command::STDOUT_CAP,
        stderr_cap: command::STDERR_CAP,
        grace: command::KILL_GRACE,
    }
}

/// The always-on layers plus `keep` (best effort, every other optional layer disabled).
pub fn only(keep: Option<Layer>) -> SandboxSpec {
    SandboxSpec {
        disable: Layer::optional().into_iter().filter(|l| Some(*l) != keep).collect(),
        ..SandboxSpec::base(Mode::BestEffort)
    }
}

/// One whole run (prepare, spawn, wait, drain, teardown), through `pool` when there is one;
/// panics if the sandbox refuses or the hook fails.
pub async fn run_once(spec: &SandboxSpec, p: &ProcessSpec, pool: Option<&SandboxPool>) {
    let launch = Launch { program: &p.program, args: &p.args, cwd: &p.cwd };
    let info = RunInfo { timeout: p.timeout, project_dir: None, launch: Some(launch) };
    let mut prepared: Prepared = match spec.mode {
        Mode::Off => Prepared::unsandboxed(p.env.clone()),
        _ => match pool {
            Some(pool) => pool.prepare(spec, &info, &p.env),
            None => sandbox::prepare(spec, &info, &p.env),
        }
        .unwrap_or_else(|r| panic!("{}", r.message)),
    };
    let mut p = p.clone();
    p.env = prepared.env.clone();
    let out = command::run(&p, &mut prepared).await.expect("spawn");
    assert_eq!(out.exit, hookhost::decision::ExitKind::Code(0), "{}", String::from_utf8_lossy(&out.stderr));
}
