//! The child side of a sandboxed run: the steps between `fork` and `exec`, in the hook's own
//! process.
//!
//! Promises: `ChildPlan::apply` makes raw syscalls only, on data the parent prepared; it does not
//! allocate, lock or log (the process is a forked copy of a multi-threaded one). Any failing
//! step aborts the spawn with its errno, which the runner reports: a hook never runs with a
//! layer its plan asked for missing.

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
    pub cgroup_procs: Vec<std::ffi::CString>,
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

impl ChildPlan {
    /// Runs in the forked child before exec. Raw syscalls only; no allocation.
    pub(super) fn apply(&self) -> std::io::Result<()> {
        // SAFETY (whole function): every call below is a plain syscall on data owned by `self`,
        // which lives in the parent's address space copy (or, for the shared network
        // namespace fd, in a process-lifetime static); nothing allocates or takes a lock.
        unsafe {
            // 1. cgroup join.
            let pid = libc::getpid();
            for path in &self.cgroup_procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(errno());
                }
                let ok = write_pid(fd, pid);
                libc::close(fd);
                if !ok {
                    return Err(errno());
                }
            }
            // 2. New session: no controlling terminal, own process group.
            if libc::setsid() < 0 {
                return Err(errno());
            }
            // 3. Die with the host: SIGKILL when the thread that forked this process ends (a
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
                for cap in 0..=self.cap_last_cap {
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
