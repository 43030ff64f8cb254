//! The child side of a sandboxed run: the steps between `fork` and `exec`, in the hook's own
//! process.
//!
//! Promises: `ChildPlan::apply` makes raw syscalls only, on data the parent prepared; it does not
//! allocate, lock or log (the process is a forked copy of a multi-threaded one). Any failing
//! step aborts the spawn with its errno, which the runner reports: a hook never runs with a
//! layer its plan asked for missing.
//!
//! Cgroups without a migration on the decision path (issue 23): moving a process into a cgroup
//! through `cgroup.procs` write-locks the kernel's global threadgroup rwsem, which waits for an
//! RCU grace period (8–20 ms on a stock kernel, where cgroup2 `favordynmods` is off). So:
//! - a v1 leaf (pids, memory on a hybrid machine) is joined by writing `0` to its `tasks`: the
//!   forked child is single-threaded, and moving the calling thread alone takes no global lock;
//! - the v2 leaf is never joined by migration: the child starts the hook process *in* it with
//!   `clone3(CLONE_INTO_CGROUP)` (on x86_64 sharing this process's memory until the hook
//!   execs, as `vfork` does: no second copy of the host's page tables) and stays as its proxy
//!   until it ends, then exits the same way (its code, or the same signal). The hook starts a
//!   session of its own (it is the session leader, as without a proxy); the proxy holds no
//!   descriptor, passes the signals a runner sends (`TERM`, `INT`, `HUP`, `QUIT`, `USR1`,
//!   `USR2`) on to the hook's process group, blocks the others, and dies with the host (the hook
//!   dies with it: its death signal is set against the proxy). Where `clone3` cannot do it (an
//!   old kernel), the child migrates itself through `cgroup.procs` as before.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use seccompiler::BpfProgram;

/// How the child gets its network namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum NetPlan {
    /// The host's network (`network: "host"`, or the layer is off).
    #[default]
    Host,
    /// `setns` into the process's shared empty namespace (this fd).
    Join(RawFd),
    /// A new empty namespace of its own (`unshare`).
    Unshare,
}

/// Data for `pre_exec`: owned, plain, allocation-free to use. The default plan only starts a
/// new session (mode `off`).
#[derive(Default)]
pub(super) struct ChildPlan {
    pub sandboxed: bool,
    /// The run's v2 leaf: its directory (for `CLONE_INTO_CGROUP`) and its `cgroup.procs` (the
    /// fallback).
    pub cgroup_v2: Option<(OwnedFd, std::ffi::CString)>,
    /// The `tasks` files of the run's v1 leaves, joined by writing `0` (this thread).
    pub cgroup_v1_tasks: Vec<std::ffi::CString>,
    /// Join the v2 leaf by migration, with no proxy: for a process started ahead (the warm
    /// pool's stub), where the migration is off the decision path and the process handed over
    /// must be the hook itself.
    pub migrate: bool,
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t)>,
    pub net: NetPlan,
    pub drop_caps: bool,
    pub cap_last_cap: u32,
    pub landlock: Option<OwnedFd>,
    pub seccomp: Option<&'static BpfProgram>,
    /// A process started ahead (the warm pool's stub): this pipe end becomes its fd 3, where it
    /// waits for the word to exec the hook.
    pub go: Option<RawFd>,
    /// The host's pid: a child whose parent is already gone when it asks to die with it does
    /// not run (0: not checked).
    pub parent: libc::pid_t,
}

/// The fd a stub reads its go-ahead from.
pub(super) const GO_FD: RawFd = 3;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const libc::c_void,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each set and locked; KEEP_CAPS locked off.
const SECUREBITS: libc::c_ulong = 0b1110_1111;

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Writes `pid` in decimal to the open file `fd` without allocating.
pub(super) fn write_pid(fd: libc::c_int, pid: libc::pid_t) -> bool {
    let mut buf = [0u8; 16];
    let mut n = pid as u64;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = buf.len() - i;
    // SAFETY: writes `len` initialised bytes from our stack buffer to an fd we opened.
    unsafe { libc::write(fd, buf[i..].as_ptr().cast(), len) == len as isize }
}

/// Moves the calling process into a cgroup by writing `0` to its `cgroup.procs` or `tasks` file.
/// Raw syscalls only, no allocation (it runs in a forked child).
fn join_cgroup(file: &std::ffi::CStr) -> std::io::Result<()> {
    // SAFETY: `open` of a NUL-terminated path we own, `write_pid` on the descriptor it returned,
    // and `close` of that descriptor; nothing allocates or takes a lock.
    unsafe {
        let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(errno());
        }
        let ok = write_pid(fd, 0);
        libc::close(fd);
        if !ok {
            return Err(errno());
        }
    }
    Ok(())
}

/// Drops every capability of the calling process for good: the bounding set, the ambient set,
/// securebits set and locked, `capset` zero. Raw syscalls only, no allocation (it runs in a forked
/// child too). Needs `CAP_SETPCAP` (root) for the bounding set and securebits.
pub(super) fn drop_capabilities(cap_last_cap: u32) -> std::io::Result<()> {
    // SAFETY (whole function): plain prctl/capset syscalls on values and a stack buffer owned
    // here; nothing allocates or takes a lock.
    unsafe {
        for cap in 0..=cap_last_cap {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(errno());
            }
        }
        if libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(errno());
        }
        if libc::prctl(libc::PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0 {
            return Err(errno());
        }
        let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
        if libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) != 0 {
            return Err(errno());
        }
    }
    Ok(())
}

impl ChildPlan {
    /// Runs in the forked child before exec. Raw syscalls only; no allocation.
    pub(super) fn apply(&self) -> std::io::Result<()> {
        // SAFETY (whole function): every call below is a plain syscall on data owned by `self`,
        // which lives in the parent's address space copy (or, for the shared network
        // namespace fd, in a process-lifetime static); nothing allocates or takes a lock.
        unsafe {
            // 1. New session: no controlling terminal, own process group (before the v2 leaf,
            //    so a hook started there by a proxy is in this process's group).
            if libc::setsid() < 0 {
                return Err(errno());
            }
            // 2. Die with the host: SIGKILL when the thread that forked this process ends (a
            //    host killed outright ends them all; the runner forks from threads that outlive
            //    the run, see `command::spawn`). What the hook forks does not inherit it: the
            //    next host sweeps those (`orphans`). A host that died before this point is
            //    caught by the parent check.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(errno());
            }
            if self.parent != 0 && libc::getppid() != self.parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            // 3. cgroup join: the v2 leaf by starting the hook there (this process stays as its
            //    proxy and never returns from `start_in_cgroup`), else by migration; the v1
            //    leaves by moving this (single) thread.
            if let Some((dir, procs)) = &self.cgroup_v2 {
                let me = libc::getpid();
                if !self.migrate && start_in_cgroup(dir.as_raw_fd()) {
                    // The hook process: a session of its own, and it dies with the proxy
                    // (which dies with the host); the death signal is not inherited across
                    // clone, so set it again.
                    if libc::setsid() < 0 {
                        return Err(errno());
                    }
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                        return Err(errno());
                    }
                    if libc::getppid() != me {
                        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                    }
                } else {
                    join_cgroup(procs)?;
                }
            }
            for path in &self.cgroup_v1_tasks {
                join_cgroup(path)?;
            }
            if !self.sandboxed {
                return Ok(());
            }
            // 4. rlimits.
            for &(res, soft, hard) in &self.rlimits {
                let l = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                if libc::setrlimit(res, &l) != 0 {
                    return Err(errno());
                }
            }
            // 5. umask, and no inherited descriptors beyond 0–2.
            libc::umask(0o077);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                return Err(errno());
            }
            // 5b. A stub's go-ahead pipe, the one descriptor kept across exec.
            if let Some(fd) = self.go {
                let ok = if fd == GO_FD {
                    libc::fcntl(GO_FD, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(fd, GO_FD) == GO_FD
                };
                if !ok {
                    return Err(errno());
                }
            }
            // 6. Empty network namespace (needs CAP_SYS_ADMIN: before the capability drop).
            match self.net {
                NetPlan::Host => {}
                NetPlan::Join(fd) => {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(errno());
                    }
                }
                NetPlan::Unshare => {
                    if libc::unshare(libc::CLONE_NEWNET) != 0 {
                        return Err(errno());
                    }
                }
            }
            // 7. no_new_privs.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(errno());
            }
            // 8. Capabilities: bounding set, ambient set, securebits (needs CAP_SETPCAP), capset 0.
            if self.drop_caps {
                drop_capabilities(self.cap_last_cap)?;
            }
            // 9. Landlock.
            if let Some(fd) = &self.landlock
                && libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0u32) != 0
            {
                return Err(errno());
            }
            // 10. seccomp, last (it denies some of the calls above).
            if let Some(prog) = self.seccomp {
                let fprog = SockFprog { len: prog.len() as libc::c_ushort, filter: prog.as_ptr().cast() };
                if libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &fprog as *const SockFprog,
                ) != 0
                {
                    return Err(errno());
                }
            }
        }
        Ok(())
    }
}

/// `clone3`'s argument (`struct clone_args`, version 2: with `cgroup`).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts the hook process in the cgroup `dir` with `clone3(CLONE_INTO_CGROUP)`. Returns true
/// in the new process (the hook: it goes on with the plan); false when `clone3` could not do it
/// (nothing was started: the caller migrates instead). In this process, when the hook process
/// was started, it never returns: it becomes the proxy (see the module documentation).
///
/// On x86_64 the hook process shares this one's memory until it execs (`CLONE_VM |
/// CLONE_VFORK`, as `vfork`), so the clone copies no page tables: this process is a forked
/// copy of the host, and copying its address space again cost about 1 ms per sandboxed run in
/// one-shot `dispatch` and about 5 ms in a large process. This process stays suspended until the
/// hook process execs or exits, then goes straight into the proxy from the clone's own
/// instructions: it never returns through the frames the hook process used meanwhile.
fn start_in_cgroup(dir: RawFd) -> bool {
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    const SHARE: u64 = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    #[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
    const SHARE: u64 = 0;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP | SHARE,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: dir as u64,
    };
    let pid = clone3(&args);
    if pid == 0 {
        return true;
    }
    if pid < 0 {
        return false;
    }
    proxy(pid as libc::pid_t)
}

/// `clone3(args)` sharing this process's memory with the new one (`CLONE_VM | CLONE_VFORK` in
/// `args`): in the new process it returns 0, on failure the negated errno; in this process,
/// once the new one has exec'd or exited, it does not return but calls [`proxy_entry`] with
/// the new process's pid.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
fn clone3(args: &CloneArgs) -> i64 {
    let ret: i64;
    // SAFETY: the raw `clone3` system call. The new process runs on this stack while this one
    // is suspended (CLONE_VFORK): it returns from here and goes on through the plan to `exec`,
    // using only raw system calls on data prepared before the fork (the module's promise), so
    // this process's heap and locks are as it left them. This process resumes only after the
    // new one has exec'd or exited, and never returns through the frames the new one used: the
    // instructions right after the `syscall` call `proxy_entry` (which never returns) with the
    // pid, on a stack pointer aligned for a call (no `nostack`). In the new process, and on
    // failure, only `rax` (the result), `rcx` and `r11` (the `syscall` instruction's) change.
    // What keeps this sound: the proxy reads nothing written before the clone that the new
    // process may have changed meanwhile (its stack above this frame, `environ`, errno): from
    // here it uses fresh stack frames, constants, `HOOK` (which it sets first) and errno only
    // after its own calls. `proxy` must stay that way.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jle 2f",
            "mov edi, eax",
            "call {proxy}",
            "ud2",
            "2:",
            proxy = sym proxy_entry,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// `clone3(args)` as a fork (no shared memory): 0 in the new process, -1 on failure, the new
/// process's pid here (the caller becomes the proxy).
#[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
fn clone3(args: &CloneArgs) -> i64 {
    // SAFETY: clone3 without CLONE_VM is a fork: the new process gets a copy of this
    // single-threaded address space and returns here with 0; `args` outlives the call.
    unsafe { libc::syscall(libc::SYS_clone3, args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) }
}

/// The proxy's entry from [`clone3`]'s instructions (the C calling convention).
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
extern "C" fn proxy_entry(pid: libc::pid_t) -> ! {
    proxy(pid)
}

/// The signals the proxy passes on to the hook's process group.
const FORWARDED: [libc::c_int; 6] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// The hook process a proxy stands for (its process group id: the hook leads its session).
static HOOK: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let hook = HOOK.load(std::sync::atomic::Ordering::Relaxed);
    if hook > 0 {
        // SAFETY: kill is async-signal-safe; the group is the hook's (it cannot be reused
        // while the hook, our child, is not reaped).
        unsafe {
            libc::kill(-hook, sig);
        }
    }
}

/// The proxy: waits for the hook process `pid` and ends as it ended. The signals a runner sends
/// are passed on to the hook's process group and the rest blocked; every descriptor is closed
/// (the hook's pipes and the spawn's error pipe are the hook's alone: the spawn reports success
/// when the hook execs, or the hook's own error).
fn proxy(pid: libc::pid_t) -> ! {
    // SAFETY (whole function): plain syscalls on stack data; nothing allocates or locks.
    unsafe {
        HOOK.store(pid, std::sync::atomic::Ordering::Relaxed);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let mut passed: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut passed);
        for sig in FORWARDED {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = forward as *const () as libc::sighandler_t;
            libc::sigfillset(&mut act.sa_mask);
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &act, std::ptr::null_mut());
            libc::sigaddset(&mut passed, sig);
        }
        libc::sigprocmask(libc::SIG_UNBLOCK, &passed, std::ptr::null_mut());
        let mut info: libc::siginfo_t = std::mem::zeroed();
        // Wait without reaping, stop passing signals on, then reap: the hook's group id is
        // never signalled after it could be reused.
        for flags in [libc::WEXITED | libc::WNOWAIT, libc::WEXITED] {
            loop {
                if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) == 0 {
                    break;
                }
                if *libc::__errno_location() != libc::EINTR {
                    libc::_exit(126);
                }
            }
            HOOK.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let status = info.si_status();
        match info.si_code {
            libc::CLD_EXITED => libc::_exit(status),
            _ => {
                // Killed by a signal: end by the same one.
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(status, &act, std::ptr::null_mut());
                let mut one: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut one);
                libc::sigaddset(&mut one, status);
                libc::sigprocmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
                libc::kill(libc::getpid(), status);
                libc::_exit(128 + status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_digits() {
        let mut fds = [0; 2];
        // SAFETY: a pipe for the test.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(write_pid(fds[1], 4_194_304));
        let mut buf = [0u8; 16];
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 16) };
        assert_eq!(&buf[..n as usize], b"4194304");
        // SAFETY: closing our fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
