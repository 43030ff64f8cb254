//! `hookhost dispatch` (Claude Code's hook backend) and `async-hooks`: read the event, hand it to
//! the warm daemon when one answers (`HOOKHOST_SOCKET`, `hookhost.daemon`), else decide it in
//! this process through one-shot [`crate::Host`], and print the `Response`. Also the detached
//! run of `async` hooks. Policy lives in `host`; this file only chooses the path and renders.

use super::*;

pub(super) fn oneshot_host(
    g: &Global,
    front: crate::host::FrontEnd,
    max_event_bytes: usize,
) -> Result<crate::Host, Response> {
    let mut b = crate::Host::builder()
        .front_end(front)
        .max_event_bytes(max_event_bytes)
        .remote(crate::host::RemoteMode::Startup);
    if let Some(s) = &g.settings {
        b = b.settings_file(s.clone());
    }
    if let Some(p) = &g.project_dir {
        b = b.project_dir(p.clone());
    }
    let g2 = g.clone();
    b = b.detach_with(std::sync::Arc::new(move |event, outcome| detach_async(&g2, event, outcome)));
    b.build().map_err(|e| crate::host::host_error(HostFault::Evaluation, None, e))
}

pub(super) fn emit(r: &Response) -> u8 {
    // A closed pipe on our output is not something we can report anywhere.
    let _ = std::io::stdout().write_all(r.stdout.as_bytes());
    let _ = std::io::stderr().write_all(r.stderr.as_bytes());
    r.exit_code
}

/// `hookhost dispatch`: the agent's payload → the canonical event (`crate::agents`), the
/// canonical event → hookhost's answer (in-process, through the daemon, or as the thin
/// client's fallback), the answer → the agent's wire form. For Claude Code (the default) both
/// ends are the identity.
pub(super) fn dispatch_cmd(g: &Global, a: &DispatchCmd) -> Response {
    crate::fault::test_point("read");
    let input = match read_stdin(a.args.max_event_bytes) {
        Ok(i) => i,
        Err(e) => {
            return crate::host::host_error(
                HostFault::Evaluation,
                None,
                format!("cannot read the event from stdin: {e}"),
            );
        }
    };
    crate::cli::agents::dispatch(
        a.args.agent,
        a.args.agent_event.as_deref(),
        &a.args,
        &input,
        |args, canonical| match (
            crate::daemon::auto::Fallback::from_env(),
            a.socket.as_ref().filter(|s| !s.as_os_str().is_empty()),
        ) {
            (Some(fallback), _) => dispatch_fallback(g, args, canonical, fallback),
            (None, Some(socket)) => dispatch_via_daemon(g, a, args, socket, canonical),
            (None, None) => dispatch(g, args, canonical),
        },
    )
}

/// One-shot `dispatch` of the canonical event `input`.
pub(super) fn dispatch(g: &Global, a: &DispatchArgs, input: &[u8]) -> Response {
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, a.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // The settings are loaded once: managed `hookhost.daemon` is read from the revision the
    // event was prepared under.
    let p = match prepare_oneshot(&host, input) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p.loaded.settings.daemon_mode == crate::daemon::auto::DaemonMode::Required {
        // Managed `hookhost.daemon: "required"`: only a daemon answers, even when `dispatch` is
        // run directly rather than through `hookhost-dispatch`.
        let fallback = crate::daemon::auto::Fallback {
            kind: crate::daemon::auto::FallbackKind::Unavailable,
            cause: "`hookhost dispatch` ran without a daemon".into(),
            socket: None,
        };
        return daemon_required(g, &host, input, &p.loaded.settings, &fallback);
    }
    run_prepared(&host, p, None)
}

/// [`crate::Host::prepare`] from synchronous code: the event parsed, its settings loaded
/// through the gate and admitted; `Err`: the response to give instead.
pub(super) fn prepare_oneshot(host: &crate::Host, input: &[u8]) -> Result<crate::host::Prepared, Response> {
    match host.block_on(host.prepare(input, &crate::host::Target::default())) {
        Ok(r) => r,
        Err(e) => Err(crate::host::host_error(HostFault::Evaluation, None, e)),
    }
}

/// Runs a prepared event from synchronous code.
pub(super) fn run_prepared(host: &crate::Host, p: crate::host::Prepared, note: Option<String>) -> Response {
    match host.block_on(host.run_prepared(p, note)) {
        Ok(r) => r,
        Err(e) => crate::host::host_error(HostFault::Evaluation, None, e),
    }
}

/// What a one-shot `dispatch` hands to its detached `async-hooks` process on stdin.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct AsyncJob {
    v: u32,
    /// The event, exactly as the agent sent it.
    event: String,
    /// The settings revision the hooks were routed under: the detached process runs them only
    /// under the same revision.
    revision: String,
    hooks: Vec<crate::bus::HookRef>,
}

/// Starts the detached process that runs `outcome.detached` (the `async: true` hooks) after
/// this dispatch has answered: `hookhost async-hooks` with the same settings arguments, in its
/// own process group, stdout and stderr on /dev/null (Claude Code waits for neither), the job
/// on its stdin. It is not waited for: it outlives this process, runs the hooks sandboxed and
/// appends one `async_hook` audit record per hook when each finishes.
pub(super) fn detach_async(g: &Global, event: &HookEvent, outcome: &Outcome) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let job = AsyncJob {
        v: 1,
        event: String::from_utf8_lossy(event.raw()).into_owned(),
        revision: outcome.revision.clone(),
        hooks: outcome.detached.iter().map(|h| crate::bus::HookRef::of(h)).collect(),
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the hookhost binary: {e}"))?;
    let mut c = std::process::Command::new(exe);
    if let Some(s) = &g.settings {
        c.arg("--settings").arg(s);
    }
    if let Some(p) = &g.project_dir {
        c.arg("--project-dir").arg(p);
    }
    c.arg("async-hooks")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = c.spawn().map_err(|e| format!("cannot start `hookhost async-hooks`: {e}"))?;
    let bytes = serde_json::to_vec(&job).map_err(|e| e.to_string())?;
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(&bytes).map_err(|e| format!("cannot hand over the job: {e}")),
        None => Err("no pipe to the async-hooks process".to_string()),
    };
    if let Err(e) = written {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    // Not waited for: it outlives this process (re-parented when we exit).
    Ok(child.id())
}

/// `hookhost async-hooks`: runs the job a one-shot dispatch detached (see `detach_async`).
pub(super) fn async_hooks_cmd(g: &Global) -> u8 {
    let input = match read_stdin(crate::daemon::MAX_FRAME.saturating_mul(2)) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "async-hooks: cannot read the job");
            return crate::error::EXIT_ERROR;
        }
    };
    let job: AsyncJob = match serde_json::from_slice(&input) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "async-hooks: invalid job");
            return crate::error::EXIT_ERROR;
        }
    };
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, job.event.len().max(DEFAULT_MAX_EVENT_BYTES)) {
        Ok(h) => h,
        Err(r) => {
            tracing::error!(error = %r.stderr.trim(), "async-hooks: cannot build the host");
            return crate::error::EXIT_ERROR;
        }
    };
    match host.block_on(host.run_detached(job.event.as_bytes(), &job.revision, &job.hooks)) {
        Ok(Ok(())) => crate::error::EXIT_OK,
        Ok(Err(e)) | Err(e) => {
            tracing::error!(error = %e, "async-hooks: not run");
            crate::error::EXIT_ERROR
        }
    }
}

/// `dispatch` as a thin client of the daemon at `socket`; on any daemon failure, the host
/// decides between failing closed and evaluating in-process (the event's failure policy).
pub(super) fn dispatch_via_daemon(
    g: &Global,
    a: &DispatchCmd,
    args: &DispatchArgs,
    socket: &Path,
    input: &[u8],
) -> Response {
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, args.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // An event that does not parse is handled in-process, exactly as without a daemon.
    let parsed = HookEvent::parse_with_limit(input, args.max_event_bytes).ok();
    let (Some(event), Ok(text)) = (parsed, std::str::from_utf8(input)) else {
        return host.dispatch_blocking(input);
    };
    let (project_dir, settings_file) = client_locations(g);
    // A daemon of another uid (root, serving several users) reads none of this user's files:
    // it answers with the managed policy, so the project is not sent (the event's `cwd` selects
    // none there either). An explicit `--settings` is sent, and refused: the failure policy
    // then decides, as for any refusal. The daemon must be this binary (when it is this user's)
    // and answer for this process's settings locations and version (`hookhost_dispatch::ask`).
    crate::fault::note_event_name(event.name());
    // A hook that runs into its timeout is killed at it: the daemon answers just after, so the
    // default wait leaves it room (else the event would be evaluated twice, once in-process).
    let deadline = a.socket_timeout.unwrap_or_else(|| crate::hook::default_timeout(event.name()) + THIN_CLIENT_MARGIN);
    let err = match ask_daemon(socket, text, project_dir.as_deref(), settings_file.as_deref(), deadline) {
        Ok(r) => return r,
        Err(f) => f.message().to_string(),
    };
    tracing::warn!(error = %err, "daemon unavailable");
    match host.block_on(host.dispatch_after_daemon_failure(input, &err)) {
        Ok(r) => r,
        Err(e) => crate::host::host_error(HostFault::Evaluation, None, format!("{err}; {e}")),
    }
}

/// What a client tells the daemon about where it runs: the project directory (`--project-dir`,
/// else `CLAUDE_PROJECT_DIR`) and the `--settings` file, both absolute.
fn client_locations(g: &Global) -> (Option<PathBuf>, Option<PathBuf>) {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let project_dir = g
        .project_dir
        .clone()
        .or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))
        .map(|p| absolute(&p));
    (project_dir, g.settings.as_deref().map(absolute))
}

/// One event to the daemon at `socket` through the thin client's checks (listener uid and
/// binary, identity).
pub(super) fn ask_daemon(
    socket: &Path,
    event: &str,
    project_dir: Option<&Path>,
    settings: Option<&Path>,
    deadline: Duration,
) -> Result<Response, hookhost_dispatch::Failure> {
    let exe = std::env::current_exe().ok();
    let expect = hookhost_dispatch::Identity::from_env();
    let ask =
        hookhost_dispatch::Ask { socket, event, project_dir, settings, expect: &expect, bin: exe.as_deref(), deadline };
    hookhost_dispatch::ask(&ask).map(|a| Response { stdout: a.stdout, stderr: a.stderr, exit_code: a.exit_code })
}

/// `dispatch` handed over by `hookhost-dispatch` (the thin client) after the daemon gave no
/// usable answer (`daemon::auto::Fallback`). The daemon named by `HOOKHOST_SOCKET`, or an
/// automatic daemon that took the event and failed: today's semantics (the event fails closed
/// where managed `failClosed` lists it, naming the cause, else it is evaluated in-process with
/// a note). No automatic daemon: managed `hookhost.daemon` decides (`off`: in-process; `auto`:
/// start one and answer in-process; `required`: start one and ask it, else fail closed).
pub(super) fn dispatch_fallback(
    g: &Global,
    a: &DispatchArgs,
    input: &[u8],
    fallback: crate::daemon::auto::Fallback,
) -> Response {
    use crate::daemon::auto::{DaemonMode, FallbackKind};
    let host = match oneshot_host(g, crate::host::FrontEnd::OneShot, a.max_event_bytes) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // An event that does not parse is answered as without a daemon.
    let Ok(event) = HookEvent::parse_with_limit(input, a.max_event_bytes) else {
        return host.dispatch_blocking(input);
    };
    crate::fault::note_event_name(event.name());
    // The settings are loaded once: managed `hookhost.daemon` is read from the revision the
    // event was prepared under.
    let p = match prepare_oneshot(&host, input) {
        Ok(p) => p,
        Err(mut r) => {
            if fallback.kind != FallbackKind::Unavailable {
                r.stderr = format!("hookhost: {}\n{}", fallback.cause, r.stderr);
            }
            return r;
        }
    };
    let mode = p.loaded.settings.daemon_mode;
    if fallback.kind != FallbackKind::Explicit && mode == DaemonMode::Auto {
        start_auto_daemon(fallback.socket.as_deref());
    }
    match (&fallback.kind, mode) {
        (FallbackKind::Unavailable, DaemonMode::Off | DaemonMode::Auto) => run_prepared(&host, p, None),
        (FallbackKind::Unavailable | FallbackKind::Failed, DaemonMode::Required) => {
            daemon_required(g, &host, input, &p.loaded.settings, &fallback)
        }
        // The daemon took the event and failed: the event's failure policy decides (fail
        // closed naming the cause, else in-process with a note), as `dispatch --socket` does.
        _ => match host.block_on(host.run_after_daemon_failure(p, &fallback.cause)) {
            Ok(r) => r,
            Err(e) => crate::host::host_error(HostFault::Evaluation, None, format!("{}; {e}", fallback.cause)),
        },
    }
}

/// Starts the automatic daemon at `socket` (else this binary's automatic socket), noting a
/// failure in the log only: the event is answered either way.
pub(super) fn start_auto_daemon(socket: Option<&Path>) {
    let Some(socket) = socket.map(Path::to_path_buf).or_else(crate::daemon::auto::auto_socket) else {
        return;
    };
    match crate::daemon::auto::start(&socket) {
        Ok(s) => tracing::debug!(socket = %socket.display(), started = ?s, "automatic daemon"),
        Err(e) => tracing::warn!(error = %e, "cannot start the automatic daemon"),
    }
}

/// Managed `hookhost.daemon: "required"`: the event is answered by the automatic daemon (started
/// if needed, waited for at most `REQUIRED_WAIT`), else it fails closed naming the cause.
pub(super) fn daemon_required(
    g: &Global,
    host: &crate::Host,
    input: &[u8],
    settings: &crate::settings::Settings,
    fallback: &crate::daemon::auto::Fallback,
) -> Response {
    use crate::daemon::auto::{FallbackKind, REQUIRED_WAIT};
    // An event that does not parse is answered (and refused) as without a daemon.
    let Ok(event) = HookEvent::parse_with_limit(input, usize::MAX) else {
        return host.dispatch_blocking(input);
    };
    let name = event.name().to_string();
    let socket = fallback.socket.clone().or_else(crate::daemon::auto::auto_socket);
    let mut cause = fallback.cause.clone();
    start_auto_daemon(socket.as_deref());
    if fallback.kind == FallbackKind::Unavailable
        && let Some(socket) = &socket
        && let Ok(text) = std::str::from_utf8(input)
    {
        let (project_dir, settings_file) = client_locations(g);
        let start = std::time::Instant::now();
        loop {
            let deadline = crate::hook::default_timeout(&name) + THIN_CLIENT_MARGIN;
            match ask_daemon(socket, text, project_dir.as_deref(), settings_file.as_deref(), deadline) {
                Ok(r) => return r,
                Err(hookhost_dispatch::Failure::Unavailable(_)) if start.elapsed() < REQUIRED_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(f) => {
                    cause = f.message().to_string();
                    break;
                }
            }
        }
    }
    let msg =
        format!("managed hookhost.daemon is \"required\" and no daemon answered ({cause}); failing closed for {name}");
    let r = crate::host::host_error(HostFault::Evaluation, Some(true), &msg);
    crate::fault::audit_host_error(&settings.audit, &settings.revision, Some(&name), &msg, r.exit_code);
    r
}
