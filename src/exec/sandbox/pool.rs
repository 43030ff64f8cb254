//! The warm pool of a long-lived host (the daemon, or an agent embedding the library): sandbox
//! runs prepared ahead, and torn down after, off the decision path.
//!
//! Preparing a run's sandbox (temporary `HOME`, three cgroup leaves with their limits, a
//! Landlock ruleset of ~150 rules) costs about half a millisecond, and applying it in the child
//! as much again: joining a cgroup takes the kernel's global threadgroup lock for writing, which
//! waits for an RCU grace period (milliseconds) unless cgroup2 is mounted with `favordynmods`,
//! and attaching the seccomp filter JIT-compiles it. A host that keeps running does all of it
//! on a worker thread instead. After a hook takes a prepared run, the worker prepares the next
//! one for the same hook and starts its process too: a stub, `/bin/sh` inside every layer of
//! the run's sandbox, blocked reading fd 3 (`STUB`). The next event writes one byte there and
//! the stub execs the hook: the decision path pays one exec, not a fork of the host plus the
//! sandbox. After a hook is done, its process group and cgroups are killed at once (as always),
//! and the worker waits for the leaves to empty and removes them and the temporary directory.
//!
//! Promises: a pooled run is exactly what `prepare` would build for the same settings (same
//! function, same report, same child-side steps); a stub is used only for the very process it
//! was started for (program, arguments, working directory and environment are the pool key);
//! a run is never older than `MAX_IDLE` nor built on host path grants that have since been
//! reopened (`probe::static_grants`) or on another file than the hook's program or script is
//! now (replaced, or its mode changed); each is used once. There is no process-wide pool: a
//! pool is a value (`SandboxPool`) its owner (a `Host` built with `sandbox_pool(true)`) hands
//! to the runs it prepares; nothing is pooled for a run prepared without one. Dropping the last
//! handle tears every pooled run down (stubs killed) and waits for every deferred teardown, so
//! a host that stops cleanly leaves no process, cgroup leaf or temporary directory behind.

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Launch, Leaves, RunInfo, SandboxSpec, Staged};

/// A pooled run unused for this long is torn down instead.
const MAX_IDLE: Duration = Duration::from_secs(60);
/// How long the worker lets a queued job wait (see `work`).
const SETTLE: Duration = Duration::from_millis(2);
/// Hook settings a pool keeps runs for at once.
const MAX_KEYS: usize = 64;
/// How often an idle pool sweeps what hookhost processes that are gone left behind, and how
/// long one sweep may take (`orphans`).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
const SWEEP_BUDGET: Duration = Duration::from_millis(200);

/// What a pooled run was prepared for: everything `stage` reads, and the process to start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    spec: SandboxSpec,
    timeout: Duration,
    project_dir: Option<PathBuf>,
    host_env: Vec<(OsString, OsString)>,
    launch: Option<(OsString, Vec<OsString>, PathBuf)>,
}

impl Key {
    pub(super) fn new(spec: &SandboxSpec, run: &RunInfo<'_>, host_env: &[(OsString, OsString)]) -> Key {
        Key {
            spec: spec.clone(),
            timeout: run.timeout,
            project_dir: run.project_dir.map(PathBuf::from),
            host_env: host_env.to_vec(),
            launch: run.launch.map(|l| (l.program.to_os_string(), l.args.to_vec(), l.cwd.to_path_buf())),
        }
    }

    fn run_info(&self) -> RunInfo<'_> {
        RunInfo {
            timeout: self.timeout,
            project_dir: self.project_dir.as_deref(),
            launch: self.launch.as_ref().map(|(program, args, cwd)| Launch { program, args, cwd }),
        }
    }
}

/// The stub's script: wait for the go-ahead on fd 3, then become the hook. When `read` fails
/// (the pool dropped the stub: the pipe closed), it exits without running anything.
const STUB: &str = r#"read -r _ <&3 || exit 125; exec 3<&-; exec "$@""#;

/// A hook process started ahead (see the module doc).
pub(super) struct Stub {
    child: tokio::process::Child,
    go: OwnedFd,
    program: OsString,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Stub {
    pub(super) fn is_for(&self, program: &OsStr, args: &[OsString], cwd: &Path, env: &[(OsString, OsString)]) -> bool {
        self.program == program && self.args == args && self.cwd == cwd && self.env == env
    }

    /// Tells the stub to exec the hook; its process is the hook's from here on.
    pub(super) fn go(self) -> std::io::Result<tokio::process::Child> {
        let mut child = self.child;
        if let Ok(Some(status)) = child.try_wait() {
            return Err(std::io::Error::other(format!("the process started ahead for this hook exited ({status})")));
        }
        nix::unistd::write(&self.go, b"\n").map_err(std::io::Error::from)?;
        Ok(child)
    }
}

/// Starts the hook process of `staged` ahead, inside its sandbox (the plan is used up).
fn start_stub(staged: &mut Staged, key: &Key, handle: &tokio::runtime::Handle) -> Result<(), String> {
    let Some((program, args, cwd)) = &key.launch else { return Ok(()) };
    let env = super::hook_env(&key.spec, &key.host_env, staged.temp.path());
    // A program that cannot be found is left to the ordinary spawn, which reports it.
    if !resolvable(program, &env) {
        return Err(format!("{} not found", program.to_string_lossy()));
    }
    let mut plan = staged.child.take().ok_or("the sandbox plan was already used")?;
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    plan.go = Some(go_read.as_raw_fd());
    // Started ahead: its v2 migration is off the decision path, and no proxy stands between
    // the pool and the hook process.
    plan.migrate = true;
    let stub_args: Vec<OsString> = ["-c", STUB, "hookhost-stub"].into_iter().map(OsString::from).collect();
    let mut cmd = super::piped_command(OsStr::new("/bin/sh"), stub_args.iter().chain([program]).chain(args), &env, cwd);
    super::install_plan(&mut cmd, plan);
    let child = {
        let _runtime = handle.enter();
        cmd.spawn().map_err(|e| format!("cannot start the stub: {e}"))?
    };
    drop(go_read);
    staged.stub =
        Some(Stub { child, go: go_write, program: program.clone(), args: args.clone(), cwd: cwd.clone(), env });
    Ok(())
}

/// Whether `program` names an executable file, directly or through the environment's `PATH`.
fn resolvable(program: &OsStr, env: &[(OsString, OsString)]) -> bool {
    let executable = |p: &Path| p.is_file() && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok();
    if program.as_bytes().contains(&b'/') {
        return executable(Path::new(program));
    }
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).unwrap_or_default();
    std::env::split_paths(&path).any(|d| executable(&d.join(program)))
}

/// What is left of a run: removed by the worker, which then prepares the next run for the
/// same key, if any.
pub(super) struct Remains {
    pub stub: Option<Stub>,
    pub leaves: Option<Leaves>,
    pub temp: Option<super::orphans::RunDir>,
    pub refill: Option<Key>,
}

impl Remains {
    fn remove(self) {
        if let Some(l) = &self.leaves {
            l.kill_all();
        }
        // Killed above (it is in the leaves); dropping it reaps it.
        drop(self.stub);
        if let Some(l) = &self.leaves {
            l.remove();
        }
        drop(self.temp);
    }
}

enum Job {
    Reap(Box<Remains>),
    Flush(SyncSender<()>),
}

#[derive(Default)]
struct State {
    ready: HashMap<Key, Vec<Staged>>,
}

/// What the pool's worker shares with its handles: the prepared runs, and the runtime stubs
/// are started in (their exit is awaited there: the one `SandboxPool::start` ran in).
struct Shared {
    /// `None` once the pool is shut down (a refill finishing after that tears its run down).
    state: Mutex<Option<State>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Option<State>> {
        lock(&self.state)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One warm pool, owned by whoever started it (a `Host`): a cheap handle (`Arc` inside) that
/// the runs it prepares keep until they are torn down. There is no process-wide pool: two
/// hosts in one process have a pool each, or none. Dropping the last handle stops the pool's
/// worker thread (after it has run every deferred teardown) and tears down every run it
/// prepared ahead (stubs killed and reaped, cgroup leaves and temporary directories removed).
#[derive(Clone)]
pub struct SandboxPool {
    inner: Arc<Owner>,
}

impl std::fmt::Debug for SandboxPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ready = self.inner.shared.state().as_ref().map_or(0, |s| s.ready.values().map(Vec::len).sum::<usize>());
        f.debug_struct("SandboxPool").field("ready", &ready).finish_non_exhaustive()
    }
}

/// The last handle's part: the worker, stopped and joined on drop.
struct Owner {
    shared: Arc<Shared>,
    worker: Mutex<Option<(Sender<Job>, JoinHandle<()>)>>,
    /// The worker thread's kernel thread id (tests watch it end).
    #[cfg_attr(not(test), allow(dead_code))]
    worker_tid: Option<i32>,
}

impl SandboxPool {
    /// Starts a pool (its worker thread) and kills and removes what hookhost processes no
    /// longer alive left behind (`orphans`; again every minute while the pool is idle). Called
    /// inside a tokio runtime, hook processes are started ahead too (in that runtime); outside
    /// one, only their sandboxes are. When the worker thread cannot be started, runs are
    /// prepared inline (the pool is off).
    pub fn start() -> SandboxPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(Some(State::default())),
            runtime: tokio::runtime::Handle::try_current().ok(),
        });
        super::orphans::sweep_if_due(SWEEP_INTERVAL, SWEEP_BUDGET);
        let (tx, rx) = std::sync::mpsc::channel();
        let (tid_tx, tid_rx) = std::sync::mpsc::sync_channel(1);
        let for_worker = shared.clone();
        let spawned = std::thread::Builder::new().name("hookhost-sandbox-pool".into()).spawn(move || {
            let _ = tid_tx.send(nix::unistd::gettid().as_raw());
            work(rx, &for_worker)
        });
        let (worker, worker_tid) = match spawned {
            Ok(handle) => (Some((tx, handle)), tid_rx.recv().ok()),
            Err(e) => {
                tracing::warn!(error = %e, "sandbox: cannot start the warm pool's thread; runs are prepared inline");
                *shared.state() = None;
                (None, None)
            }
        };
        SandboxPool { inner: Arc::new(Owner { shared, worker: Mutex::new(worker), worker_tid }) }
    }

    /// Prepares a sandboxed run of a hook with `spec` like `sandbox::prepare`, using a run this
    /// pool prepared ahead for the same settings when one is ready; the run's teardown is
    /// deferred to this pool's worker, which then prepares the next run of the hook.
    pub fn prepare(
        &self,
        spec: &SandboxSpec,
        run: &RunInfo<'_>,
        host_env: &[(OsString, OsString)],
    ) -> Result<super::Prepared, super::Refusal> {
        super::prepare_inner(spec, run, host_env, true, Some(self))
    }

    /// A handle that does not keep the pool alive (what a settings revision's runner holds: the
    /// pool ends with its owner, not with the last revision).
    pub fn downgrade(&self) -> WeakSandboxPool {
        WeakSandboxPool(Arc::downgrade(&self.inner))
    }

    /// Whether this pool has its worker (else runs are prepared and torn down inline).
    fn running(&self) -> bool {
        lock(&self.inner.worker).is_some()
    }

    fn send(&self, job: Job) -> Result<(), Box<Job>> {
        match lock(&self.inner.worker).as_ref() {
            Some((tx, _)) => tx.send(job).map_err(|e| Box::new(e.0)),
            None => Err(Box::new(job)),
        }
    }

    /// The key a run of `spec` is pooled under, when this pool is running.
    pub(super) fn key(&self, spec: &SandboxSpec, run: &RunInfo<'_>, host_env: &[(OsString, OsString)]) -> Option<Key> {
        self.running().then(|| Key::new(spec, run, host_env))
    }

    /// A prepared run for `key`, if one is ready and still valid. The next one is asked for
    /// when this run is torn down (`Remains::refill`): preparing it forks this process, and a
    /// fork stalls every thread of the process that faults a page meanwhile, the one running
    /// the hook included.
    pub(super) fn take(&self, key: &Key) -> Option<Staged> {
        let generation = super::probe::static_grants().generation;
        let mut stale = Vec::new();
        let found = {
            let mut state = self.inner.shared.state();
            let state = state.as_mut()?;
            let mut found = None;
            if let Some(list) = state.ready.get_mut(key) {
                while let Some(mut s) = list.pop() {
                    let alive = s.stub.as_mut().is_none_or(|st| matches!(st.child.try_wait(), Ok(None)));
                    // Built on the host grants and the hook's own files as they are now.
                    let fresh = s.grants_generation.is_none_or(|g| g == generation)
                        && super::grants::identities(&s.exec_files.0) == s.exec_files.1;
                    if alive && fresh && s.created.elapsed() < MAX_IDLE {
                        found = Some(s);
                        break;
                    }
                    stale.push(s);
                }
            }
            found
        };
        for s in stale {
            self.reap(s.into_remains());
        }
        found
    }

    /// Removes what is left of a run on the worker (here when the worker is gone).
    pub(super) fn reap(&self, r: Remains) {
        if let Err(job) = self.send(Job::Reap(Box::new(r)))
            && let Job::Reap(r) = *job
        {
            r.remove();
        }
    }

    /// The kernel thread id of this pool's worker thread.
    #[cfg(test)]
    pub(crate) fn worker_tid(&self) -> Option<i32> {
        self.inner.worker_tid
    }

    /// What the runs this pool holds ready occupy: cgroup leaves, temporary directories and
    /// the pids of processes started ahead.
    #[cfg(test)]
    pub(crate) fn ready_resources(&self) -> (Vec<PathBuf>, Vec<i32>) {
        let state = self.inner.shared.state();
        let mut paths = Vec::new();
        let mut pids = Vec::new();
        for s in state.iter().flat_map(|s| s.ready.values()).flatten() {
            paths.extend(s.leaves.dirs().cloned());
            paths.push(s.temp.path().to_path_buf());
            pids.extend(s.stub.as_ref().and_then(|st| st.child.id()).map(|p| p as i32));
        }
        (paths, pids)
    }
}

/// A [`SandboxPool`] that may have ended (see [`SandboxPool::downgrade`]).
#[derive(Clone, Debug, Default)]
pub struct WeakSandboxPool(std::sync::Weak<Owner>);

impl WeakSandboxPool {
    /// The pool, while its owner keeps it.
    pub fn upgrade(&self) -> Option<SandboxPool> {
        self.0.upgrade().map(|inner| SandboxPool { inner })
    }
}

/// Removes what is left of a run: on `pool`'s worker, or here without a pool.
pub(super) fn reap(pool: Option<&SandboxPool>, r: Remains) {
    match pool {
        Some(p) => p.reap(r),
        None => r.remove(),
    }
}

impl Drop for Owner {
    /// The last handle is gone: waits for the worker's queue (deferred teardowns included),
    /// stops and joins the worker, then tears down every pooled run.
    fn drop(&mut self) {
        let worker = lock(&self.worker).take();
        if let Some((tx, handle)) = worker {
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            if tx.send(Job::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
            drop(tx);
            let _ = handle.join();
        }
        let state = self.shared.state().take();
        for s in state.into_iter().flat_map(|s| s.ready.into_values()).flatten() {
            s.into_remains().remove();
        }
    }
}

/// The worker: each job waits `SETTLE` after it was queued, so that the event that queued it
/// (its fold, audit and answer) is not competing with it for a core; idle, it expires old runs.
fn work(rx: Receiver<Job>, shared: &Shared) {
    let mut queue: VecDeque<(Instant, Remains)> = VecDeque::new();
    let run = |r: Remains| {
        let mut r = r;
        let key = r.refill.take();
        r.remove();
        if let Some(key) = key {
            refill(shared, key);
        }
    };
    loop {
        let wait = match queue.front() {
            Some((at, _)) => (*at + SETTLE).saturating_duration_since(Instant::now()),
            None => Duration::from_secs(5),
        };
        match rx.recv_timeout(wait) {
            Ok(Job::Reap(r)) => queue.push_back((Instant::now(), *r)),
            // Only the last handle flushes, on its way out: nothing is prepared again.
            Ok(Job::Flush(done)) => {
                queue.drain(..).for_each(|(_, r)| Remains { refill: None, ..r }.remove());
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) if queue.is_empty() => expire(shared),
            Err(RecvTimeoutError::Timeout) => {
                while queue.front().is_some_and(|(at, _)| at.elapsed() >= SETTLE) {
                    if let Some((_, r)) = queue.pop_front() {
                        run(r);
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                queue.drain(..).for_each(|(_, r)| Remains { refill: None, ..r }.remove());
                return;
            }
        }
    }
}

fn refill(shared: &Shared, key: Key) {
    let have = shared.state().as_ref().map(|s| s.ready.get(&key).map_or(0, Vec::len));
    let staged = match have {
        Some(0) => super::stage(&key.spec, &key.run_info()).ok(),
        _ => None,
    };
    let staged = match (staged, shared.runtime.clone()) {
        (Some(mut s), Some(handle)) if key.launch.is_some() => match start_stub(&mut s, &key, &handle) {
            Ok(()) => Some(s),
            Err(e) => {
                // The sandbox alone is still worth keeping, unless the stub used its plan.
                tracing::debug!(error = %e, "sandbox pool: no process started ahead");
                if s.child.is_some() {
                    Some(s)
                } else {
                    s.into_remains().remove();
                    None
                }
            }
        },
        (s, _) => s,
    };
    let mut state = shared.state();
    let Some(state) = state.as_mut() else {
        drop(state);
        if let Some(s) = staged {
            s.into_remains().remove();
        }
        return;
    };
    let Some(s) = staged else { return };
    if !state.ready.contains_key(&key) && state.ready.len() >= MAX_KEYS {
        // Make room: drop the key whose run is oldest.
        let oldest = state
            .ready
            .iter()
            .filter_map(|(k, v)| v.iter().map(|s| s.created).min().map(|t| (t, k.clone())))
            .min_by_key(|(t, _)| *t)
            .map(|(_, k)| k);
        if let Some(k) = oldest
            && let Some(list) = state.ready.remove(&k)
        {
            for s in list {
                s.into_remains().remove();
            }
        }
    }
    state.ready.entry(key).or_default().push(s);
}

/// Tears down pooled runs idle for longer than `MAX_IDLE`, and keeps the host path grants
/// fresh, so that the next event does not reopen them on its way.
fn expire(shared: &Shared) {
    let _ = super::probe::static_grants();
    super::orphans::sweep_if_due(SWEEP_INTERVAL, SWEEP_BUDGET);
    let old: Vec<Staged> = {
        let mut state = shared.state();
        let Some(state) = state.as_mut() else { return };
        let mut old = Vec::new();
        for list in state.ready.values_mut() {
            let (keep, drop): (Vec<_>, Vec<_>) = list.drain(..).partition(|s| s.created.elapsed() < MAX_IDLE);
            *list = keep;
            old.extend(drop);
        }
        state.ready.retain(|_, v| !v.is_empty());
        old
    };
    for s in old {
        s.into_remains().remove();
    }
}
