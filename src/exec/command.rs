//! Runs one process the way a command hook must run: event on stdin only, stdout and stderr
//! read concurrently into caps, its own process group, a deadline, and the whole group killed
//! on timeout and after exit.
//!
//! Promises: never blocks past `timeout + grace + drain`; never reads more than the caps (a
//! process that writes more is killed and reported, its output never parsed); leaves no process
//! of its group behind; forks from a thread that outlives the run (a hook dies with the thread
//! that forked it, `sandbox::child`); never interpolates event data into a command line. Knows
//! nothing of settings or decisions.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::sandbox::Prepared;
use crate::decision::ExitKind;

/// stdout cap: over it the hook fails with `OutputTooLarge`.
pub const STDOUT_CAP: usize = 1024 * 1024;
/// stderr cap.
pub const STDERR_CAP: usize = 256 * 1024;
/// Time between SIGTERM and SIGKILL on timeout.
pub const KILL_GRACE: Duration = Duration::from_secs(1);
/// How long to wait for pipes to close once the group is dead.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub stdin: Arc<[u8]>,
    pub timeout: Duration,
    pub stdout_cap: usize,
    pub stderr_cap: usize,
    pub grace: Duration,
}

/// How it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutcome {
    pub exit: ExitKind,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    /// Which stream went over its cap, if any.
    pub overflow: Option<&'static str>,
    /// The pipes stayed open after the group was killed: a process escaped the group.
    pub drain_timed_out: bool,
    pub pid: i32,
}

#[derive(Clone, Copy)]
struct Group(i32);

struct GroupGuard(Option<Group>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.signal(Signal::SIGKILL);
        }
    }
}

impl Group {
    fn signal(self, sig: Signal) {
        // ESRCH (group already gone) is the normal case after exit.
        let _ = killpg(Pid::from_raw(self.0), sig);
    }
}

/// Runs the process inside `sandbox` (which also gives it its own session and process group).
/// `Err` only when it could not be started (including a sandbox layer failing in the child).
pub async fn run(spec: &ProcessSpec, sandbox: &mut Prepared) -> std::io::Result<ProcessOutcome> {
    // The warm pool may have started this very process ahead, inside its sandbox.
    let started = match sandbox.start_ready(&spec.program, &spec.args, &spec.cwd) {
        Some(started) => started,
        None => {
            let mut cmd = super::sandbox::piped_command(&spec.program, spec.args.iter(), &spec.env, &spec.cwd);
            match sandbox.install(&mut cmd) {
                Ok(()) => spawn(cmd).await,
                Err(e) => Err(e),
            }
        }
    };
    let mut child = match started {
        Ok(c) => c,
        Err(e) => {
            sandbox.teardown();
            return Err(e);
        }
    };
    sandbox.started();
    let pid =
        child.id().map(|p| p as i32).ok_or_else(|| std::io::Error::other("child exited before its pid was read"))?;
    let group = Group(pid);
    // If this future is dropped before the end (cancelled dispatch), the group dies with it.
    let mut guard = GroupGuard(Some(group));

    let mut stdin = child.stdin.take();
    let data = spec.stdin.clone();
    let writer = tokio::spawn(async move {
        if let Some(w) = stdin.as_mut() {
            // EPIPE means the hook did not read its input: not a failure.
            let _ = w.write_all(&data).await;
            let _ = w.shutdown().await;
        }
        drop(stdin);
    });
    let overflow_out = Arc::new(AtomicBool::new(false));
    let overflow_err = Arc::new(AtomicBool::new(false));
    let out_task = tokio::spawn(read_capped(child.stdout.take(), spec.stdout_cap, group, overflow_out.clone()));
    let err_task = tokio::spawn(read_capped(child.stderr.take(), spec.stderr_cap, group, overflow_err.clone()));

    // Wait for exit without reaping (WNOWAIT): while the zombie exists its pid, and so the
    // group id, cannot be reused, so the group kill below cannot hit an unrelated process.
    let mut exited = tokio::task::spawn_blocking(move || {
        let _ = waitid(Id::Pid(Pid::from_raw(pid)), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT);
    });
    let mut timed_out = false;
    if tokio::time::timeout(spec.timeout, &mut exited).await.is_err() {
        timed_out = true;
        group.signal(Signal::SIGTERM);
        if tokio::time::timeout(spec.grace, &mut exited).await.is_err() {
            group.signal(Signal::SIGKILL);
            sandbox.kill_all();
            let _ = exited.await;
        }
    }
    // Whatever is left of the group, and of the run's cgroups, dies with the hook.
    group.signal(Signal::SIGKILL);
    sandbox.kill_all();
    let status = child.wait().await?;
    guard.0 = None; // reaped: the pid (and group id) may be reused from here on
    let exit = {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => ExitKind::Code(c),
            (None, Some(s)) => ExitKind::Signal(s),
            (None, None) => ExitKind::Code(-1),
        }
    };
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { (out_task.await, err_task.await) }).await;
    writer.abort();
    sandbox.teardown();
    let (stdout, stderr, drain_timed_out) = match drained {
        Ok((Ok(o), Ok(e))) => (o, e, false),
        Ok(_) => (Vec::new(), Vec::new(), false),
        Err(_) => (Vec::new(), Vec::new(), true),
    };
    let overflow = if overflow_out.load(Ordering::Relaxed) {
        Some("stdout")
    } else if overflow_err.load(Ordering::Relaxed) {
        Some("stderr")
    } else {
        None
    };
    Ok(ProcessOutcome { exit, stdout, stderr, timed_out, overflow, drain_timed_out, pid })
}

/// Starts `cmd` from a thread that outlives the run. A hook dies with the thread that forked it
/// (`PR_SET_PDEATHSIG`, see `sandbox::child`), and a multi-threaded runtime's worker can end
/// while the runtime lives (after `block_in_place` it may be handed to the blocking pool, which
/// lets idle threads go), which would kill a hook mid-run: there the fork happens on one
/// process-wide spawner thread, which never ends. On a current-thread runtime (one-shot
/// `dispatch`) the thread driving the run forks, and it outlives the run.
async fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    use std::sync::OnceLock;
    use std::sync::mpsc::Sender;
    type Job = (
        tokio::process::Command,
        tokio::runtime::Handle,
        tokio::sync::oneshot::Sender<std::io::Result<tokio::process::Child>>,
    );
    static SPAWNER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let handle = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => h,
        _ => return cmd.spawn(),
    };
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("hookhost-spawner".into())
            .spawn(move || {
                for (mut cmd, handle, reply) in rx {
                    let _runtime = handle.enter();
                    // A dropped reply (the run was cancelled) drops the child: killed on drop.
                    let _ = reply.send(cmd.spawn());
                }
            })
            .map_err(
                |e| tracing::warn!(error = %e, "cannot start the spawner thread; hooks are forked by runtime workers"),
            )
            .ok()
            .map(|_| tx)
    });
    let Some(tx) = spawner else { return cmd.spawn() };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if let Err(job) = tx.send((cmd, handle, reply)) {
        let (mut cmd, _, _) = job.0;
        return cmd.spawn();
    }
    answer.await.unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone")))
}

async fn read_capped<R: AsyncRead + Unpin>(
    r: Option<R>,
    cap: usize,
    group: Group,
    overflow: Arc<AtomicBool>,
) -> Vec<u8> {
    let Some(mut r) = r else { return Vec::new() };
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => {
                if buf.len() + n > cap {
                    // Over the cap: stop reading, drop the pipe, kill the writer.
                    overflow.store(true, Ordering::Relaxed);
                    group.signal(Signal::SIGKILL);
                    return buf;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}
