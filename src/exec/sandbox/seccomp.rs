//! The seccomp filter of sandboxed hooks: the deny-list of design/sandbox.md §4.2 as one classic
//! BPF program, built once per process and network mode.
//!
//! Attaching a filter is paid at every hook start, in proportion to its length: the kernel
//! JIT-compiles it, and runs it symbolically for every syscall number of every architecture to
//! fill its action cache (`seccomp_cache_prepare`). seccompiler's `SeccompFilter` compiles to a
//! linear chain (two instructions per listed syscall, six or more per argument test; about 280
//! instructions in two filters here, ~180 µs per spawn), so the program is laid out here: a
//! binary search over the listed syscall numbers whose leaves return directly, and argument
//! tests of two or three instructions (about 200 instructions, one filter). The tests'
//! meaning is checked against seccompiler's compilation of the same table (unit tests).
//!
//! Promises: a syscall of another architecture kills the process; every x32 syscall (x86_64's
//! `__X32_SYSCALL_BIT`) is `ENOSYS`; `clone3` is `ENOSYS` (its flags sit behind a pointer, so
//! glibc falls back to `clone`, whose namespace flags are denied); every listed call is `EPERM`
//! (unconditionally, or when one of its argument tests holds); everything else is allowed.
//! `int` arguments are compared on their low 32 bits, as the kernel reads them (a socket family
//! of `0x1_0000_0001` is `AF_UNIX`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{BpfProgram, sock_filter};

use super::Network;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00F3);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
const AUDIT_ARCH: Option<u32> = None;

/// x86_64's x32 ABI: the same audit architecture, syscall numbers with this bit set.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// Above this many listed syscalls a node of the search splits in two.
const LEAF: usize = 4;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA)
}

/// Offsets of an argument's low and high 32-bit words in `struct seccomp_data`.
fn arg_words(arg: u8) -> (u32, u32) {
    let base = 16 + 8 * arg as u32;
    if cfg!(target_endian = "little") { (base, base + 4) } else { (base + 4, base) }
}

/// A test on one argument of a listed syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    /// The argument, an `int` (its low 32 bits), equals the value.
    IntEq(u8, u32),
    /// The argument, an `int`, differs from the value.
    IntNe(u8, u32),
    /// The argument (all 64 bits, a pointer) is not zero.
    NonZero(u8),
    /// The argument's low 32 bits have any of these bits set (flags).
    AnyBit(u8, u32),
}

/// What the filter does with one listed syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listed {
    /// Always fails with this errno.
    Deny(i32),
    /// Fails with `EPERM` when any of the tests holds; allowed otherwise.
    DenyIf(Vec<Test>),
}

/// The filter for `network`, built on first use (then shared by every run of this process, of
/// every `Host`: a constant of the machine's architecture and `network`, not of any policy).
pub(super) fn program(network: Network) -> Result<&'static BpfProgram, String> {
    static NONE: OnceLock<Result<BpfProgram, String>> = OnceLock::new();
    static HOST: OnceLock<Result<BpfProgram, String>> = OnceLock::new();
    let cell = match network {
        Network::None => &NONE,
        Network::Host => &HOST,
    };
    cell.get_or_init(|| compile(&deny_list(network))).as_ref().map_err(Clone::clone)
}

/// `setxattrat(2)` and `removexattrat(2)` (Linux 6.13; same number on every architecture).
const SYS_SETXATTRAT: i64 = 463;
const SYS_REMOVEXATTRAT: i64 = 466;

// The ioctl request constants' type differs between libc targets.
#[allow(clippy::unnecessary_cast)]
fn deny_list(network: Network) -> BTreeMap<u32, Listed> {
    let mut deny: BTreeMap<i64, Listed> = BTreeMap::new();
    for nr in [
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_chroot,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
        libc::SYS_name_to_handle_at,
        libc::SYS_open_by_handle_at,
        libc::SYS_personality,
        libc::SYS_setdomainname,
        libc::SYS_sethostname,
        libc::SYS_quotactl,
        libc::SYS_lookup_dcookie,
        libc::SYS_vhangup,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_ioperm,
        // File metadata, which Landlock does not cover: a capability-less uid 0 still owns
        // most of the system and could chmod (setuid), set xattrs or timestamps on any file
        // it can open.
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchmodat2,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        SYS_SETXATTRAT,
        SYS_REMOVEXATTRAT,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chmod,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_chown,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_lchown,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utime,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_utimes,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_futimesat,
    ] {
        deny.insert(nr, Listed::Deny(libc::EPERM));
    }
    // clone3 hides its flags behind a pointer: ENOSYS, so that libc falls back to clone.
    deny.insert(libc::SYS_clone3, Listed::Deny(libc::ENOSYS));
    // utimensat: only `futimens(fd, NULL)` (what `touch` does on a file it just created) is
    // allowed; a path or explicit times are denied.
    deny.insert(libc::SYS_utimensat, Listed::DenyIf(vec![Test::NonZero(1), Test::NonZero(2)]));
    // Sockets: none at all without network; with network, everything but Unix sockets (a Unix
    // socket reaches host daemons, which Landlock ABI < 9 does not stop).
    let unix = libc::AF_UNIX as u32;
    deny.insert(
        libc::SYS_socket,
        match network {
            Network::None => Listed::Deny(libc::EPERM),
            Network::Host => Listed::DenyIf(vec![Test::IntEq(0, unix)]),
        },
    );
    deny.insert(libc::SYS_socketpair, Listed::DenyIf(vec![Test::IntNe(0, unix)]));
    // clone with namespace flags (all in the low 32 bits of its flags).
    let namespaces = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
    ]
    .iter()
    .fold(0u32, |m, f| m | *f as u32);
    deny.insert(libc::SYS_clone, Listed::DenyIf(vec![Test::AnyBit(0, namespaces)]));
    // TIOCSTI / TIOCLINUX: typing into a terminal (the request is an `unsigned int`).
    deny.insert(
        libc::SYS_ioctl,
        Listed::DenyIf(vec![Test::IntEq(1, libc::TIOCSTI as u32), Test::IntEq(1, libc::TIOCLINUX as u32)]),
    );
    // Syscall numbers are small and non-negative on every architecture.
    deny.into_iter().map(|(nr, l)| (nr as u32, l)).collect()
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// A tiny assembler: forward `ja` jumps to labels, resolved at the end (`ja` has a 32-bit
/// offset; conditional jumps here only ever skip one instruction).
#[derive(Default)]
struct Asm {
    code: Vec<sock_filter>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, usize)>,
}

impl Asm {
    fn push(&mut self, i: sock_filter) {
        self.code.push(i);
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn bind(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }

    fn ja(&mut self, label: usize) {
        self.fixups.push((self.code.len(), label));
        self.push(stmt(JA, 0));
    }

    /// Binary search over `nrs` (sorted, listed in `table`): a leaf returns at once for the
    /// syscalls denied outright, jumps to the block of one with argument tests, and allows
    /// every other number.
    fn search(&mut self, nrs: &[u32], table: &BTreeMap<u32, Listed>, blocks: &BTreeMap<u32, usize>) {
        if nrs.len() <= LEAF {
            return self.leaf(nrs, table, blocks);
        }
        let mid = nrs.len() / 2;
        let upper = self.label();
        self.push(jump(JGE_K, nrs[mid], 0, 1));
        self.ja(upper);
        self.search(&nrs[..mid], table, blocks);
        self.bind(upper);
        self.search(&nrs[mid..], table, blocks);
    }

    /// `jeq nr` for each number (straight to the leaf's own `ret` for an outright denial),
    /// then `ret ALLOW` and one `ret ERRNO` per errno the leaf denies with.
    fn leaf(&mut self, nrs: &[u32], table: &BTreeMap<u32, Listed>, blocks: &BTreeMap<u32, usize>) {
        let mut errnos: Vec<i32> = nrs
            .iter()
            .filter_map(|n| match &table[n] {
                Listed::Deny(e) => Some(*e),
                Listed::DenyIf(_) => None,
            })
            .collect();
        errnos.sort_unstable();
        errnos.dedup();
        let size = |n: &u32| if matches!(table[n], Listed::Deny(_)) { 1 } else { 2 };
        let allow_at = self.code.len() + nrs.iter().map(size).sum::<usize>();
        for n in nrs {
            match &table[n] {
                Listed::Deny(e) => {
                    let ret = allow_at + 1 + errnos.iter().position(|x| x == e).unwrap_or(0);
                    let jt = ret - self.code.len() - 1;
                    self.push(jump(JEQ_K, *n, jt as u8, 0));
                }
                Listed::DenyIf(_) => {
                    self.push(jump(JEQ_K, *n, 0, 1));
                    self.ja(blocks[n]);
                }
            }
        }
        self.push(stmt(RET_K, ALLOW));
        for e in errnos {
            self.push(stmt(RET_K, errno(e)));
        }
    }

    /// The block of a syscall with argument tests: each test jumps to the block's `ret EPERM`
    /// when it holds; past the last, `ret ALLOW`.
    fn tests(&mut self, tests: &[Test]) {
        let size = |t: &Test| if matches!(t, Test::NonZero(_)) { 4 } else { 2 };
        let deny_at = self.code.len() + tests.iter().map(size).sum::<usize>() + 1;
        let to_deny = |at: usize| (deny_at - at - 1) as u8;
        for t in tests {
            match *t {
                Test::IntEq(arg, v) => {
                    self.push(stmt(LD_W_ABS, arg_words(arg).0));
                    self.push(jump(JEQ_K, v, to_deny(self.code.len()), 0));
                }
                Test::IntNe(arg, v) => {
                    self.push(stmt(LD_W_ABS, arg_words(arg).0));
                    self.push(jump(JEQ_K, v, 0, to_deny(self.code.len())));
                }
                Test::NonZero(arg) => {
                    let (lo, hi) = arg_words(arg);
                    self.push(stmt(LD_W_ABS, lo));
                    self.push(jump(JEQ_K, 0, 0, to_deny(self.code.len())));
                    self.push(stmt(LD_W_ABS, hi));
                    self.push(jump(JEQ_K, 0, 0, to_deny(self.code.len())));
                }
                Test::AnyBit(arg, mask) => {
                    self.push(stmt(LD_W_ABS, arg_words(arg).0));
                    self.push(jump(JSET_K, mask, to_deny(self.code.len()), 0));
                }
            }
        }
        self.push(stmt(RET_K, ALLOW));
        self.push(stmt(RET_K, errno(libc::EPERM)));
    }

    fn finish(mut self) -> Result<BpfProgram, String> {
        for (at, label) in self.fixups {
            let to = self.labels[label].ok_or("seccomp: internal error: unbound label")?;
            if to <= at {
                return Err("seccomp: internal error: backward jump".into());
            }
            self.code[at].k = (to - at - 1) as u32;
        }
        if self.code.len() > libc::BPF_MAXINSNS as usize {
            return Err(format!("seccomp: the filter has {} instructions", self.code.len()));
        }
        Ok(self.code)
    }
}

fn compile(table: &BTreeMap<u32, Listed>) -> Result<BpfProgram, String> {
    let arch = AUDIT_ARCH.ok_or_else(|| format!("seccomp: no filter for {}", std::env::consts::ARCH))?;
    let mut a = Asm::default();
    a.push(stmt(LD_W_ABS, ARCH));
    a.push(jump(JEQ_K, arch, 1, 0));
    a.push(stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS));
    a.push(stmt(LD_W_ABS, NR));
    #[cfg(target_arch = "x86_64")]
    {
        a.push(jump(JGE_K, X32_SYSCALL_BIT, 0, 1));
        a.push(stmt(RET_K, errno(libc::ENOSYS)));
    }
    let nrs: Vec<u32> = table.keys().copied().collect();
    let blocks: BTreeMap<u32, usize> =
        table.iter().filter(|(_, l)| matches!(l, Listed::DenyIf(_))).map(|(n, _)| (*n, a.label())).collect();
    a.search(&nrs, table, &blocks);
    for (nr, label) in &blocks {
        a.bind(*label);
        if let Listed::DenyIf(tests) = &table[nr] {
            a.tests(tests);
        }
    }
    a.finish()
}

#[cfg(test)]
// The ioctl request constants' type differs between libc targets.
#[allow(clippy::unnecessary_cast)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
    use std::collections::BTreeMap;

    /// A classic BPF interpreter for the instructions seccomp filters use.
    fn eval(prog: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend(nr.to_ne_bytes());
        data.extend(arch.to_ne_bytes());
        data.extend(0u64.to_ne_bytes()); // instruction pointer
        for a in args {
            data.extend(a.to_ne_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            let class = (i.code & 0x07) as u32;
            match class {
                libc::BPF_LD => {
                    let o = i.k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                libc::BPF_ALU => {
                    assert_eq!(i.code as u32, libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, "{i:?}");
                    acc &= i.k;
                }
                libc::BPF_RET => return i.k,
                libc::BPF_JMP => {
                    let op = (i.code as u32) & 0xf0;
                    if op == libc::BPF_JA {
                        pc += i.k as usize;
                        continue;
                    }
                    let taken = match op {
                        libc::BPF_JEQ => acc == i.k,
                        libc::BPF_JGE => acc >= i.k,
                        libc::BPF_JGT => acc > i.k,
                        libc::BPF_JSET => acc & i.k != 0,
                        _ => panic!("unexpected jump {i:?}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                _ => panic!("unexpected instruction {i:?}"),
            }
        }
    }

    /// The oracle: the same table compiled by seccompiler's linear `SeccompFilter` (one filter
    /// per errno, combined as the kernel combines stacked filters), each test as a rule of its
    /// conditions.
    fn oracle(network: Network) -> Vec<BpfProgram> {
        use seccompiler::{SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as C, SeccompRule};
        let arch: TargetArch = std::env::consts::ARCH.try_into().unwrap();
        let rule = |c: C| SeccompRule::new(vec![c]).unwrap();
        let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
        for (nr, l) in deny_list(network) {
            let (e, rules) = match l {
                Listed::Deny(e) => (e, Vec::new()),
                Listed::DenyIf(tests) => (
                    libc::EPERM,
                    tests
                        .iter()
                        .flat_map(|t| match *t {
                            Test::IntEq(a, v) => vec![rule(C::new(a, Len::Dword, Op::Eq, v as u64).unwrap())],
                            Test::IntNe(a, v) => vec![rule(C::new(a, Len::Dword, Op::Ne, v as u64).unwrap())],
                            Test::NonZero(a) => vec![rule(C::new(a, Len::Qword, Op::Ne, 0).unwrap())],
                            Test::AnyBit(a, mask) => (0..32)
                                .map(|b| 1u64 << b)
                                .filter(|bit| mask as u64 & bit != 0)
                                .map(|bit| rule(C::new(a, Len::Dword, Op::MaskedEq(bit), bit).unwrap()))
                                .collect(),
                        })
                        .collect(),
                ),
            };
            by_errno.entry(e).or_default().insert(nr as i64, rules);
        }
        by_errno
            .into_iter()
            .map(|(e, rules)| {
                SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(e as u32), arch)
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect()
    }

    fn eval_oracle(progs: &[BpfProgram], nr: u32, args: [u64; 6]) -> u32 {
        progs.iter().map(|p| eval(p, nr, AUDIT_ARCH.unwrap(), args)).find(|r| *r != ALLOW).unwrap_or(ALLOW)
    }

    const INTERESTING: [u64; 14] = [
        0,
        1,
        2,
        0x1_0000_0000,
        0x1_0000_0000 | libc::AF_UNIX as u64,
        10,
        libc::CLONE_NEWNET as u64,
        libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64,
        libc::CLONE_VM as u64 | libc::CLONE_VFORK as u64 | libc::SIGCHLD as u64,
        libc::TIOCSTI as u64,
        libc::TIOCLINUX as u64,
        0x1_0000_0000 | libc::TIOCSTI as u64,
        u64::MAX,
        libc::TCGETS as u64,
    ];

    #[test]
    fn known_calls() {
        for network in [Network::None, Network::Host] {
            let p = program(network).unwrap();
            let arch = AUDIT_ARCH.unwrap();
            let run = |nr: i64, args: [u64; 6]| eval(p, nr as u32, arch, args);
            assert_eq!(run(libc::SYS_read, [0; 6]), ALLOW);
            assert_eq!(run(libc::SYS_execve, [0; 6]), ALLOW);
            assert_eq!(run(libc::SYS_ptrace, [0; 6]), errno(libc::EPERM));
            assert_eq!(run(libc::SYS_clone3, [0; 6]), errno(libc::ENOSYS));
            assert_eq!(run(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
            assert_eq!(run(libc::SYS_clone, [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), errno(libc::EPERM));
            assert_eq!(run(libc::SYS_ioctl, [0, libc::TIOCSTI as u64, 0, 0, 0, 0]), errno(libc::EPERM));
            assert_eq!(run(libc::SYS_ioctl, [0, libc::TCGETS as u64, 0, 0, 0, 0]), ALLOW);
            assert_eq!(run(libc::SYS_utimensat, [3, 0, 0, 0, 0, 0]), ALLOW);
            assert_eq!(run(libc::SYS_utimensat, [3, 1, 0, 0, 0, 0]), errno(libc::EPERM));
            let unix = run(libc::SYS_socket, [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]);
            let inet = run(libc::SYS_socket, [libc::AF_INET as u64, 1, 0, 0, 0, 0]);
            assert_eq!(unix, errno(libc::EPERM));
            // The family is an int: high bits do not hide AF_UNIX.
            assert_eq!(
                run(libc::SYS_socket, [0x1_0000_0000 | libc::AF_UNIX as u64, 1, 0, 0, 0, 0]),
                errno(libc::EPERM)
            );
            // A pointer whose low word is zero is still a pointer.
            assert_eq!(run(libc::SYS_utimensat, [3, 0x7f00_0000_0000, 0, 0, 0, 0]), errno(libc::EPERM));
            assert_eq!(inet, if network == Network::None { errno(libc::EPERM) } else { ALLOW });
            // Another architecture (i386's audit value) is killed.
            assert_eq!(eval(p, 1, 0x4000_0003, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
            #[cfg(target_arch = "x86_64")]
            assert_eq!(run(X32_SYSCALL_BIT as i64 + libc::SYS_socket, [2, 1, 0, 0, 0, 0]), errno(libc::ENOSYS));
        }
    }

    #[test]
    fn short_paths() {
        // The point of the layout: a short program (the kernel JIT-compiles it at every hook
        // start) in which any syscall number is decided in a few instructions.
        let p = program(Network::None).unwrap();
        assert!(p.len() <= 220, "{} instructions", p.len());
        let table = deny_list(Network::None);
        let depth = (table.len() as f64 / LEAF as f64).log2().ceil() as usize;
        let worst = 6 + 2 * depth + 2 * LEAF + 1;
        // Instructions executed for a non-listed number: count them with a stepping copy of eval.
        for nr in 0..600u32 {
            let (mut pc, mut steps, mut acc) = (0usize, 0usize, 0u32);
            loop {
                let i = &p[pc];
                pc += 1;
                steps += 1;
                match (i.code & 0x07) as u32 {
                    libc::BPF_LD => acc = if i.k == ARCH { AUDIT_ARCH.unwrap() } else { nr },
                    libc::BPF_RET => break,
                    libc::BPF_JMP if (i.code as u32 & 0xf0) == libc::BPF_JA => pc += i.k as usize,
                    libc::BPF_JMP if (i.code as u32 & 0xf0) == libc::BPF_JEQ => {
                        pc += if acc == i.k { i.jt } else { i.jf } as usize
                    }
                    libc::BPF_JMP if (i.code as u32 & 0xf0) == libc::BPF_JGE => {
                        pc += if acc >= i.k { i.jt } else { i.jf } as usize
                    }
                    _ => break, // an argument rule: past the search
                }
            }
            assert!(steps <= worst, "syscall {nr}: {steps} instructions (at most {worst} expected)");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The search decides exactly what seccompiler's linear filters decide.
        #[test]
        fn same_decisions_as_seccompiler(
            nr in 0u32..600,
            picks in proptest::array::uniform6(0usize..INTERESTING.len() + 1),
            raw in proptest::array::uniform6(any::<u64>()),
            host in any::<bool>(),
        ) {
            let network = if host { Network::Host } else { Network::None };
            let mut args = [0u64; 6];
            for ((a, pick), r) in args.iter_mut().zip(picks).zip(raw) {
                *a = INTERESTING.get(pick).copied().unwrap_or(r);
            }
            let ours = eval(program(network).unwrap(), nr, AUDIT_ARCH.unwrap(), args);
            prop_assert_eq!(ours, eval_oracle(&oracle(network), nr, args), "syscall {} args {:?}", nr, args);
        }
    }
}
