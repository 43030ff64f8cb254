//! What this machine offers the sandbox, found once per process: the capability probe (Landlock
//! ABI, seccomp, root, network namespaces, the cgroup layout), and the process-wide resources
//! every run shares: one empty network namespace, and the open `O_PATH` descriptors of the
//! host paths every hook may read (system directories, an allow-list of `/etc` entries, a few
//! devices).
//!
//! Promises: nothing here changes the calling thread (the empty network namespace is made on a
//! thread of its own, which then exits); the shared descriptors are close-on-exec and never
//! reach a hook (the child closes everything above fd 2); the path grants follow `/etc`: they
//! are reopened when `/etc` or `/etc/ssl` changes, and at least every `GRANTS_MAX_AGE`, so a
//! replaced file (`ld.so.cache`, `passwd`, `resolv.conf`) is granted as it is now.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use landlock::PathFd;

use super::Layer;

// ---------------------------------------------------------------------------------------------
// Capabilities of this machine, probed once.

/// How cgroups are laid out here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cgroups {
    /// The host's own cgroup directory in the v2 hierarchy (for `cgroup.kill`, and controllers
    /// when delegated).
    pub v2_dir: Option<PathBuf>,
    pub v2_kill: bool,
    pub v2_pids: bool,
    pub v2_memory: bool,
    /// The host's own directory in the v1 `pids` / `memory` hierarchies.
    pub v1_pids: Option<PathBuf>,
    pub v1_memory: Option<PathBuf>,
}

/// What this machine offers.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub landlock_abi: i32,
    pub seccomp: bool,
    pub root: bool,
    pub netns: bool,
    pub cgroups: Cgroups,
    pub cap_last_cap: u32,
    /// Why each unavailable layer is unavailable.
    pub reasons: BTreeMap<Layer, String>,
}

impl Capabilities {
    /// Layers this machine cannot provide, with the reason.
    pub fn missing(&self) -> Vec<(Layer, String)> {
        self.reasons.iter().map(|(l, r)| (*l, r.clone())).collect()
    }

    fn probe() -> Capabilities {
        // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag
        // only queries the ABI version; it touches no memory.
        let abi =
            unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<libc::c_void>(), 0usize, 1u32) }
                as i32;
        let landlock_abi = abi.max(0);
        let seccomp = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
        let root = nix::unistd::geteuid().is_root();
        let cgroups = probe_cgroups();
        let cap_last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        let mut reasons = BTreeMap::new();
        if landlock_abi < 1 {
            reasons.insert(Layer::Landlock, "the kernel does not offer Landlock".to_string());
        }
        if landlock_abi < 4 {
            reasons.insert(Layer::LandlockNet, format!("Landlock ABI {landlock_abi} < 4 has no TCP rules"));
        }
        if landlock_abi < 6 {
            reasons.insert(Layer::LandlockScope, format!("Landlock ABI {landlock_abi} < 6 has no scopes"));
        }
        if !seccomp {
            reasons.insert(Layer::Seccomp, "the kernel does not offer seccomp filters".to_string());
        }
        let netns = root && Path::new("/proc/self/ns/net").exists();
        if !netns {
            reasons.insert(Layer::Netns, "network namespaces need root (CAP_SYS_ADMIN) here".to_string());
        }
        if !root {
            reasons.insert(Layer::Capdrop, "not running as root: nothing to drop".to_string());
        }
        if !(cgroups.v2_pids || cgroups.v1_pids.is_some()) {
            reasons.insert(Layer::CgroupPids, "no writable pids cgroup controller".to_string());
        }
        if !(cgroups.v2_memory || cgroups.v1_memory.is_some()) {
            reasons.insert(Layer::CgroupMemory, "no writable memory cgroup controller".to_string());
        }
        if !cgroups.v2_kill {
            reasons.insert(
                Layer::CgroupKill,
                "no cgroup v2 `cgroup.kill` (kernel < 5.14 or no writable v2 cgroup)".to_string(),
            );
        }
        Capabilities { landlock_abi, seccomp, root, netns, cgroups, cap_last_cap, reasons }
    }
}

/// The machine's capabilities (probed on first use). Process-wide on purpose: a cache of facts
/// about the kernel and its mounts, the same for every `Host`, and never a policy.
pub fn capabilities() -> &'static Capabilities {
    static CAPS: OnceLock<Capabilities> = OnceLock::new();
    CAPS.get_or_init(Capabilities::probe)
}

fn probe_cgroups() -> Cgroups {
    let mut c = Cgroups::default();
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else { return c };
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return c };
    // mountinfo: id parent maj:min root mountpoint opts - fstype source superopts
    let mut v2_mount = None;
    let mut v1_mounts: Vec<(PathBuf, String)> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(mountpoint), Some(fstype), Some(superopts)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
        else {
            continue;
        };
        if fields.get(3) != Some(&"/") {
            continue; // a bind mount of a sub-tree: paths would not line up
        }
        match *fstype {
            "cgroup2" => v2_mount = Some(PathBuf::from(mountpoint)),
            "cgroup" => v1_mounts.push((PathBuf::from(mountpoint), superopts.to_string())),
            _ => {}
        }
    }
    let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            if let Some(m) = &v2_mount {
                let dir = m.join(rel);
                if writable(&dir) {
                    c.v2_kill = dir.join("cgroup.kill").exists()
                        || std::fs::read_dir(&dir).is_ok() && kernel_has_cgroup_kill(m);
                    let sub = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                    c.v2_pids = sub.split_whitespace().any(|s| s == "pids");
                    c.v2_memory = sub.split_whitespace().any(|s| s == "memory");
                    c.v2_dir = Some(dir);
                }
            }
            continue;
        }
        for ctrl in ctrls.split(',') {
            if ctrl != "pids" && ctrl != "memory" {
                continue;
            }
            let Some((m, _)) = v1_mounts.iter().find(|(_, o)| o.split(',').any(|x| x == ctrl)) else { continue };
            let dir = m.join(rel);
            if writable(&dir) {
                if ctrl == "pids" {
                    c.v1_pids = Some(dir);
                } else {
                    c.v1_memory = Some(dir);
                }
            }
        }
    }
    c
}

/// `cgroup.kill` exists in non-root v2 cgroups from Linux 5.14 on (the root cgroup has none, so
/// the kernel version is the cheap test).
fn kernel_has_cgroup_kill(_v2_mount: &Path) -> bool {
    let Ok(u) = nix::sys::utsname::uname() else { return false };
    let release = u.release().to_string_lossy().into_owned();
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter_map(|x| x.parse::<u32>().ok());
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (5, 14)
}

// ---------------------------------------------------------------------------------------------
// The shared empty network namespace.

/// An empty network namespace (only a downed `lo`) for every `network: "none"` run of this
/// process (every `Host` of it: it holds nothing and depends on no policy), made once: creating one per run (`unshare` in the child) costs about 0.4 ms, joining
/// this one (`setns`) about 10 µs. Hooks joined to it cannot create sockets (seccomp) nor
/// reconfigure it (no capabilities); runs without both of those layers get a namespace of their
/// own (see `mod.rs`).
pub(super) fn shared_netns() -> Result<RawFd, String> {
    static NETNS: OnceLock<Result<OwnedFd, String>> = OnceLock::new();
    NETNS
        .get_or_init(|| {
            // A thread of its own: unshare changes the calling thread's namespace, and no host
            // thread may leave the host's network.
            std::thread::Builder::new()
                .name("hookhost-netns".into())
                .spawn(|| {
                    // SAFETY: unshare takes no pointers; it moves this thread (only) into a
                    // new network namespace.
                    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                        return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
                    }
                    std::fs::File::open("/proc/thread-self/ns/net")
                        .map(OwnedFd::from)
                        .map_err(|e| format!("/proc/thread-self/ns/net: {e}"))
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?
                .join()
                .map_err(|_| "the network namespace thread panicked".to_string())?
        })
        .as_ref()
        .map(|fd| fd.as_raw_fd())
        .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------------------------
// Host paths every hook may read, opened once.

/// Host paths a hook may read and execute by default.
const READ_EXEC: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"];
/// The `/etc` entries a hook may read (an allow-list: what the dynamic linker, libc's name
/// service, `sh`, coreutils, Python, Node.js, Perl, jq and git read there; measured under the
/// sandbox, see `tests/integration/sandbox_abuse.rs` case 44). Each is granted only if it
/// exists and is world-readable (a file an admin made `0600` is a secret, whatever its name):
/// files read-only, directories read-only with everything beneath. A trailing `*` matches
/// every top-level name with that prefix. Never: `shadow`, `gshadow`, `sudoers`, `ssh/`,
/// `ssl/private`, `pki/*/private`, `kubernetes/`, `letsencrypt/`, `hookhost/` (policy and its
/// state are no hook's business), `machine-id`, `npmrc`, `pip.conf`, … — everything not listed.
pub(super) const ETC_ALLOW: &[&str] = &[
    // The dynamic linker.
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ld.so.preload",
    // Users and groups, name service, networking names.
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "services",
    "protocols",
    "networks",
    "rpc",
    "hostname",
    // Time, locale, terminals, file types.
    "localtime",
    "timezone",
    "locale.alias",
    "locale.conf",
    "terminfo",
    "mime.types",
    "magic",
    "magic.mime",
    "xattr.conf",
    "selinux/config",
    // What system this is.
    "os-release",
    "lsb-release",
    "debian_version",
    "redhat-release",
    "system-release",
    "alpine-release",
    // The public trust store and TLS configuration (never the private keys beside them).
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates.conf",
    "pki/tls/certs/ca-bundle.crt",
    "pki/tls/certs/ca-bundle.trust.crt",
    "pki/tls/cert.pem",
    "pki/tls/openssl.cnf",
    "pki/ca-trust/extracted",
    "crypto-policies/back-ends",
    "crypto-policies/config",
    "gnutls/config",
    // Program selection and the language runtimes' system configuration.
    "alternatives",
    "python3",
    "python3.*",
    "perl",
    "gitconfig",
    "gitattributes",
];
/// Device files granted read+write, and read only.
const DEV_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
const DEV_R: &[&str] = &["/dev/urandom", "/dev/random"];
/// The grants are reopened at least this often (a symlinked `/etc` entry's target may be
/// replaced without `/etc` changing).
const GRANTS_MAX_AGE: Duration = Duration::from_secs(10);

/// What a static grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grant {
    /// Read and execute beneath (a system directory).
    Read,
    /// Read beneath (an `/etc` directory), without execute.
    ReadTree,
    /// Read the file.
    ReadFile,
    /// Read and write the file (device nodes).
    ReadWriteFile,
}

/// The open host paths, with what each allows.
pub(super) struct StaticGrants {
    /// Everything but `/proc`.
    pub paths: Vec<(PathFd, Grant)>,
    /// `/proc`, granted only to runs whose capabilities are dropped (a uid 0 hook with
    /// capabilities could read the host's `/proc/<pid>/environ`).
    pub proc: Option<PathFd>,
    /// Changes whenever a reopening finds different files (a pooled run prepared with older
    /// grants is discarded); a reopening that finds the same files keeps it.
    pub generation: u64,
    /// Device and inode of every open path, `/proc` last.
    files: Vec<(u64, u64)>,
    key: EtcKey,
    opened: Instant,
}

/// Identity and modification times of `/etc` and `/etc/ssl`: an entry renamed over, created or
/// removed changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EtcKey(Vec<(u64, u64, i64, i64, i64, i64)>);

impl EtcKey {
    fn now() -> EtcKey {
        EtcKey(
            ["/etc", "/etc/ssl"]
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
                        .unwrap_or_default()
                })
                .collect(),
        )
    }
}

/// The current static grants (reopened when `/etc` changed or they are older than
/// `GRANTS_MAX_AGE`; the generation changes only when the files did). Process-wide on purpose:
/// a cache of machine facts (the system paths every sandboxed run may read, the same for every
/// `Host` and every policy); what a policy grants beyond them (`allowRead`, `allowWrite`) is
/// per run.
pub(super) fn static_grants() -> Arc<StaticGrants> {
    static GRANTS: Mutex<Option<Arc<StaticGrants>>> = Mutex::new(None);
    static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let key = EtcKey::now();
    let mut cached = GRANTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = cached.as_ref()
        && g.key == key
        && g.opened.elapsed() < GRANTS_MAX_AGE
    {
        return g.clone();
    }
    let open = |p: &Path| PathFd::new(p).ok();
    let mut paths = Vec::new();
    for p in READ_EXEC {
        paths.extend(open(Path::new(p)).map(|fd| (fd, Grant::Read)));
    }
    paths.extend(etc_grants(Path::new("/etc")).into_iter().map(|(_, fd, grant)| (fd, grant)));
    for p in DEV_R {
        paths.extend(open(Path::new(p)).map(|fd| (fd, Grant::ReadFile)));
    }
    for p in DEV_RW {
        paths.extend(open(Path::new(p)).map(|fd| (fd, Grant::ReadWriteFile)));
    }
    let proc = open(Path::new("/proc"));
    let files: Vec<(u64, u64)> = paths
        .iter()
        .map(|(fd, _)| fd)
        .chain(&proc)
        .map(|fd| nix::sys::stat::fstat(fd).map(|st| (st.st_dev, st.st_ino)).unwrap_or_default())
        .collect();
    let generation = match cached.as_ref() {
        Some(old) if old.files == files => old.generation,
        _ => GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
    };
    let g = Arc::new(StaticGrants { paths, proc, generation, files, key, opened: Instant::now() });
    *cached = Some(g.clone());
    g
}

/// The `/etc` allow-list entries (below `etc`) that exist and are world-readable, opened
/// (after symlinks), each with its grant.
fn etc_grants(etc: &Path) -> Vec<(PathBuf, PathFd, Grant)> {
    let mut names: Option<Vec<String>> = None;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in ETC_ALLOW {
        match entry.strip_suffix('*') {
            Some(prefix) => {
                let names = names.get_or_insert_with(|| {
                    std::fs::read_dir(etc)
                        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                        .unwrap_or_default()
                });
                paths.extend(names.iter().filter(|n| n.starts_with(prefix)).map(|n| etc.join(n)));
            }
            None => paths.push(etc.join(entry)),
        }
    }
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        grant_world_readable(p, 0, &mut out);
    }
    out
}

/// Below a granted `/etc` directory, at most this many entries are looked at, and this deep; a
/// larger or deeper tree is granted piece by piece.
const ETC_TREE_MAX_ENTRIES: usize = 20_000;
const ETC_TREE_MAX_DEPTH: usize = 6;

/// Grants `p` if it is world-readable: a file as [`Grant::ReadFile`]; a directory as
/// [`Grant::ReadTree`] when everything beneath it is world-readable too, else each of its
/// world-readable entries the same way (a Landlock grant covers a whole tree, and a file an admin
/// made private below a listed directory, say `ssl/certs/internal.key` 0600, must not become
/// readable to a hook that runs as its owner).
fn grant_world_readable(p: PathBuf, depth: usize, out: &mut Vec<(PathBuf, PathFd, Grant)>) {
    let Ok(fd) = PathFd::new(&p) else { return };
    let Ok(st) = nix::sys::stat::fstat(&fd) else { return };
    let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let world = if dir { 0o005 } else { 0o004 };
    if st.st_mode & world != world {
        tracing::debug!(path = %p.display(), mode = format!("{:o}", st.st_mode & 0o7777), "sandbox: /etc entry not world-readable; not granted");
        return;
    }
    if !dir {
        out.push((p, fd, Grant::ReadFile));
        return;
    }
    let mut budget = ETC_TREE_MAX_ENTRIES;
    if all_world_readable(&p, 0, &mut budget) {
        out.push((p, fd, Grant::ReadTree));
        return;
    }
    tracing::debug!(path = %p.display(), "sandbox: /etc directory holds private entries; granted entry by entry");
    if depth >= ETC_TREE_MAX_DEPTH {
        return;
    }
    let Ok(rd) = std::fs::read_dir(&p) else { return };
    let mut children: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    children.sort();
    for c in children {
        grant_world_readable(c, depth + 1, out);
    }
}

/// Whether every entry beneath `dir` (not following symbolic links: their targets are granted,
/// or not, on their own) is world-readable, directories world-searchable, within the budget.
fn all_world_readable(dir: &Path, depth: usize, budget: &mut usize) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if depth > ETC_TREE_MAX_DEPTH {
        return false;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    for e in rd {
        let Ok(e) = e else { return false };
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        // The entry's type comes with the directory listing: links cost no `stat`.
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let Ok(m) = e.metadata() else { return false };
        let mode = m.permissions().mode();
        let ft = m.file_type();
        if ft.is_dir() {
            if mode & 0o005 != 0o005 || !all_world_readable(&e.path(), depth + 1, budget) {
                return false;
            }
        } else if mode & 0o004 != 0o004 {
            return false;
        }
    }
    true
}

/// Builds, on threads of their own, what every sandboxed run of this process shares (the
/// empty network namespace, the static grants, the seccomp program), so that a one-shot
/// `dispatch` overlaps that work with its own start-up and the run's preparation instead of
/// doing it on the way to the hook's spawn. A run that needs one of them first simply waits
/// for it. The sweep of what dead hookhost processes left is not part of it: it waits for a
/// hook to have started (`sweep_orphans_soon`).
pub fn warm_up() {
    let caps = capabilities();
    if caps.netns {
        // The slowest (creating a network namespace takes about 0.4 ms): first, alone.
        let _ = std::thread::Builder::new().name("hookhost-warm-netns".into()).spawn(shared_netns);
    }
    let landlock = !caps.reasons.contains_key(&Layer::Landlock);
    let seccomp = !caps.reasons.contains_key(&Layer::Seccomp);
    let _ = std::thread::Builder::new().name("hookhost-warm-grants".into()).spawn(move || {
        if landlock {
            let _ = static_grants();
        }
        if seccomp {
            let _ = super::seccomp::program(super::Network::None);
        }
    });
}

/// Sweeps, on a thread of its own, what hookhost processes killed mid-hook left (their hooks'
/// processes, cgroup leaves and temporary directories): at most once a minute per process.
/// Called once a hook process has started, so that on two cores a one-shot host's sweep
/// (which lists the temporary directory, up to thousands of entries) takes the core the hook
/// leaves idle while it starts, not one the run's preparation and spawn need.
pub(super) fn sweep_orphans_soon() {
    if super::orphans::sweep_due(SWEEP_INTERVAL) {
        let _ = std::thread::Builder::new()
            .name("hookhost-sweep".into())
            .spawn(|| super::orphans::sweep_if_due(SWEEP_INTERVAL, Duration::from_millis(200)));
    }
}

/// How often one process sweeps (`sweep_orphans_soon`).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_is_an_allow_list_of_world_readable_entries() {
        use std::os::unix::fs::PermissionsExt;
        let etc = tempfile::tempdir().unwrap();
        let file = |name: &str, mode: u32| {
            let p = etc.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let dir = |name: &str, mode: u32| {
            let p = etc.path().join(name);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file("passwd", 0o644);
        file("shadow", 0o644); // not listed, whatever its mode
        file("gitconfig", 0o600); // listed, but an admin made it private
        file("hosts", 0o640);
        dir("python3.11", 0o755);
        file("python3.11/sitecustomize.py", 0o644);
        dir("python3.12", 0o700);
        // A listed directory with a private file below: its other entries, one by one.
        file("perl/Config.pm", 0o644);
        file("perl/sub/x.pm", 0o644);
        file("perl/sub/token", 0o600);
        dir("perl/locked", 0o700);
        dir("perl/open", 0o755);
        dir("ssl/certs", 0o755);
        file("ssl/private/k.pem", 0o600);
        file("ssl/openssl.cnf", 0o644);
        dir("kubernetes", 0o755);
        file("kubernetes/admin.conf", 0o644);
        dir("hookhost", 0o755);
        std::os::unix::fs::symlink("/dev/null", etc.path().join("localtime")).unwrap();
        let got: Vec<(String, Grant)> = etc_grants(etc.path())
            .into_iter()
            .map(|(p, _, g)| (p.strip_prefix(etc.path()).unwrap().display().to_string(), g))
            .collect();
        assert_eq!(
            got,
            vec![
                ("localtime".to_string(), Grant::ReadFile),
                ("passwd".to_string(), Grant::ReadFile),
                ("perl/Config.pm".to_string(), Grant::ReadFile),
                ("perl/open".to_string(), Grant::ReadTree),
                ("perl/sub/x.pm".to_string(), Grant::ReadFile),
                ("python3.11".to_string(), Grant::ReadTree),
                ("ssl/certs".to_string(), Grant::ReadTree),
                ("ssl/openssl.cnf".to_string(), Grant::ReadFile),
            ]
        );
    }
}
