//! Runs one resolved hook for one event and returns its `HookResult` with a report.
//!
//! `Runner` dispatches on the handler: command hooks run as processes (`command`), WebAssembly
//! hooks in wasmtime (not in this build yet: they fail with `Unsupported`), and Claude Code hook
//! types hookhost does not implement fail with `Unsupported`. The runner never knows about
//! settings files or the bus: it gets one `Hook`, one event and a context.

pub mod command;
pub mod sandbox;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::decision::{ExitKind, FailureKind, HookFailure, HookResult, interpret};
use crate::event::HookEvent;
use crate::hook::{CommandHook, Handler, Hook, Shell};
use sandbox::{ManagedSandbox, RunInfo, SandboxReport};

/// Host environment variables a command hook inherits; everything else is cleared.
pub const INHERITED_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "TMPDIR"];
/// `PATH` for hooks when the host has none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Per-event facts a hook run needs.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// `CLAUDE_PROJECT_DIR` for the hook, and its working directory when it exists.
    pub project_dir: Option<PathBuf>,
}

/// What happened when one hook ran.
#[derive(Debug, Clone, PartialEq)]
pub struct HookReport {
    pub result: HookResult,
    pub duration: Duration,
    pub exit: Option<ExitKind>,
    /// The first line of stderr, for reports.
    pub stderr_head: Option<String>,
    /// What the sandbox enforced (command hooks).
    pub sandbox: Option<SandboxReport>,
}

/// Runs hooks. One per settings revision; cheap to share.
#[derive(Debug, Default)]
pub struct Runner {
    managed_sandbox: ManagedSandbox,
}

impl Runner {
    /// A runner applying the managed sandbox policy (defaults and floor) to every command hook.
    pub fn new(managed_sandbox: ManagedSandbox) -> Self {
        Runner { managed_sandbox }
    }

    pub async fn run(&self, hook: &Hook, event: &HookEvent, ctx: &RunContext) -> HookReport {
        let start = Instant::now();
        let fail = |kind, m: String| HookResult::Failed(HookFailure::new(kind, m));
        let mut report = HookReport {
            result: fail(FailureKind::Io, String::new()),
            duration: Duration::ZERO,
            exit: None,
            stderr_head: None,
            sandbox: None,
        };
        report.result = match &hook.handler {
            Handler::Command(c) => self.run_command(hook, c, event, ctx, &mut report).await,
            Handler::Wasm(_) => {
                fail(FailureKind::Unsupported, "WebAssembly hooks are not available in this build of hookhost".into())
            }
            Handler::Unsupported { kind } => {
                fail(FailureKind::Unsupported, format!("`{kind}` hooks are not run by hookhost"))
            }
        };
        report.duration = start.elapsed();
        report
    }

    async fn run_command(
        &self,
        hook: &Hook,
        c: &CommandHook,
        event: &HookEvent,
        ctx: &RunContext,
        report: &mut HookReport,
    ) -> HookResult {
        let mut spec = command_spec(hook, c, event, ctx);
        let sandbox_spec = match self.managed_sandbox.resolve(hook.sandbox.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                return HookResult::Failed(HookFailure::new(
                    FailureKind::Sandbox,
                    format!("invalid sandbox settings: {e}"),
                ));
            }
        };
        let run = RunInfo {
            timeout: hook.timeout,
            project_dir: ctx.project_dir.as_deref(),
            script_dirs: script_dirs(c, ctx),
        };
        let mut prepared = match sandbox::prepare(&sandbox_spec, &run, &spec.env) {
            Ok(p) => p,
            Err(refusal) => {
                report.sandbox = Some(refusal.report);
                return HookResult::Failed(HookFailure::new(FailureKind::Sandbox, refusal.message));
            }
        };
        tracing::debug!(hook = %hook.label(), sandbox = %prepared.report.summary(), layers = ?prepared.report.layers, "sandbox: run report");
        report.sandbox = Some(prepared.report.clone());
        spec.env = prepared.env.clone();
        let out = match command::run(&spec, &mut prepared).await {
            Ok(o) => o,
            Err(e) => {
                let what = spec.program.to_string_lossy();
                return HookResult::Failed(HookFailure::new(FailureKind::Spawn, format!("cannot start `{what}`: {e}")));
            }
        };
        report.exit = Some(out.exit);
        report.stderr_head =
            String::from_utf8_lossy(&out.stderr).lines().next().map(|l| crate::decision::truncate_chars(l, 200));
        if out.timed_out {
            HookResult::Failed(HookFailure::new(
                FailureKind::Timeout,
                format!("timed out after {}; process group killed", secs(hook.timeout)),
            ))
        } else if let Some(stream) = out.overflow {
            let cap = if stream == "stdout" { spec.stdout_cap } else { spec.stderr_cap };
            HookResult::Failed(HookFailure::new(
                FailureKind::OutputTooLarge,
                format!("{stream} exceeded {} KiB; hook killed, output not parsed", cap / 1024),
            ))
        } else if out.drain_timed_out {
            HookResult::Failed(HookFailure::new(
                FailureKind::Io,
                "output pipes stayed open after the process group was killed (a process escaped the group)",
            ))
        } else {
            interpret(event, out.exit, &out.stdout, &out.stderr)
        }
    }
}

/// Directories of the program and script a command hook runs (granted read and execute).
fn script_dirs(c: &CommandHook, ctx: &RunContext) -> Vec<PathBuf> {
    let project = ctx.project_dir.as_deref().map(Path::to_string_lossy).unwrap_or_default().into_owned();
    let expand = |s: &str| s.replace("${CLAUDE_PROJECT_DIR}", &project).replace("$CLAUDE_PROJECT_DIR", &project);
    let words: Vec<String> = match &c.args {
        Some(a) => std::iter::once(c.command.clone()).chain(a.iter().cloned()).collect(),
        None => shlex::split(&c.command).unwrap_or_default(),
    };
    words
        .iter()
        .take(2)
        .map(|w| PathBuf::from(expand(w)))
        .filter(|p| p.is_absolute() && p.is_file())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect()
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.3}s", d.as_secs_f64()) }
}

/// Builds the process for a command hook: shell form `sh -c <command>`, or exec form
/// `command args…` with `${CLAUDE_PROJECT_DIR}` substituted (there is no shell to expand it).
pub fn command_spec(hook: &Hook, c: &CommandHook, event: &HookEvent, ctx: &RunContext) -> command::ProcessSpec {
    let project = ctx.project_dir.as_deref().map(Path::to_string_lossy).unwrap_or_default().into_owned();
    let expand = |s: &str| s.replace("${CLAUDE_PROJECT_DIR}", &project).replace("$CLAUDE_PROJECT_DIR", &project);
    let (program, args): (OsString, Vec<OsString>) = match &c.args {
        Some(args) => (expand(&c.command).into(), args.iter().map(|a| expand(a).into()).collect()),
        None => {
            let shell = match c.shell {
                Shell::Sh => "/bin/sh",
                Shell::Bash if Path::new("/bin/bash").exists() => "/bin/bash",
                Shell::Bash => "bash",
            };
            (shell.into(), vec!["-c".into(), c.command.clone().into()])
        }
    };
    let mut env: Vec<(OsString, OsString)> =
        INHERITED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v))).collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if ctx.project_dir.is_some() {
        env.push(("CLAUDE_PROJECT_DIR".into(), project.clone().into()));
    }
    let cwd = ctx.project_dir.clone().filter(|p| p.is_dir()).unwrap_or_else(|| PathBuf::from("/"));
    command::ProcessSpec {
        program,
        args,
        env,
        cwd,
        stdin: event.raw().clone(),
        timeout: hook.timeout,
        stdout_cap: command::STDOUT_CAP,
        stderr_cap: command::STDERR_CAP,
        grace: command::KILL_GRACE,
    }
}
