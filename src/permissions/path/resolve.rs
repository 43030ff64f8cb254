//! Resolving a path the way the kernel does: component by component from `/`, following each
//! symbolic link where it is met, and removing `..` only after the component before it has
//! been resolved (so `L/../x` with `L -> a/b` is `a/x`, not `x`).
//!
//! The `/proc` forms that name *a process's* view are resolved for the process that will use
//! the path, never for hookhost: `/proc/self/cwd` and `/proc/thread-self/cwd` are the
//! command's directory, `…/root` is `/`, `/dev/fd/N`, `/dev/stdin` and `/proc/self/fd/N`
//! name an open descriptor (no file of their own; a file opened onto one is itself a
//! redirection the rules see). Another process's directory or root (`/proc/1234/cwd`), a path
//! through an open directory descriptor (`/dev/fd/3/x`), `..` after a component that does not
//! exist (it could become a symlink), a path through a symlink the same command line creates,
//! and a symlink loop cannot be resolved: they are [`Resolution::Unknown`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The kernel's limit on symbolic links followed in one lookup (`/proc/self/cwd` counts as one).
pub const MAX_LINKS: usize = 40;
/// Most path components looked at in one lookup (links add theirs).
pub const MAX_COMPONENTS: usize = 4096;

/// Identity of an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub is_dir: bool,
}

impl FileId {
    pub fn of(path: &Path) -> Option<FileId> {
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            is_dir: m.is_dir(),
        })
    }
}

/// A resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path with every symlink of its existing prefix followed and `..` applied in order;
    /// components that do not exist are appended as written.
    pub path: PathBuf,
    pub exists: bool,
    pub id: Option<FileId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Path(Resolved),
    /// An open file descriptor of the process (`/dev/fd/1`, `/dev/stdin`): not a file name.
    Fd,
    Unknown(String),
}

/// What the `/proc` self-references mean for the process that will use the path.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The process's working directory (absolute; resolved as part of the path).
    pub cwd: &'a Path,
    /// Symbolic links the command line creates (absolute, parent resolved): a path through one
    /// cannot be resolved before the line runs.
    pub pending: &'a [PathBuf],
}

fn is_pid(s: &std::ffi::OsStr) -> bool {
    let b = s.as_encoded_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn comps(p: &Path) -> impl Iterator<Item = OsString> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// Resolves an absolute `path` (a relative one is taken from `/`).
pub fn resolve(path: &Path, view: View<'_>) -> Resolution {
    let mut queue: VecDeque<OsString> = comps(path).collect();
    let mut cur = PathBuf::from("/");
    let mut missing: Option<PathBuf> = None;
    let mut links = 0usize;
    let mut steps = 0usize;
    while let Some(c) = queue.pop_front() {
        steps += 1;
        if steps > MAX_COMPONENTS || queue.len() > MAX_COMPONENTS {
            return Resolution::Unknown(format!("more than {MAX_COMPONENTS} path components to follow"));
        }
        if c == ".." {
            if let Some(m) = &missing {
                return Resolution::Unknown(format!(
                    "`..` after {}, which does not exist yet (it could become a symlink)",
                    m.display()
                ));
            }
            cur.pop();
            continue;
        }
        if missing.is_none() && cur == Path::new("/proc") && (c == "self" || c == "thread-self" || is_pid(&c)) {
            let own = !is_pid(&c);
            // `/proc/PID/task/TID/…` is the same view as `/proc/PID/…`.
            if queue.front().is_some_and(|n| n == "task") {
                queue.pop_front();
                queue.pop_front();
            }
            match queue.pop_front() {
                // `/proc/self/..` is `/proc` (self is a link to a directory of /proc).
                Some(n) if n == ".." => {}
                Some(n) if n == "cwd" => {
                    if !own {
                        return Resolution::Unknown("another process's working directory (`/proc/PID/cwd`)".into());
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Resolution::Unknown(format!("more than {MAX_LINKS} symbolic links (a loop?)"));
                    }
                    cur = PathBuf::from("/");
                    for (i, d) in comps(view.cwd).enumerate() {
                        queue.insert(i, d);
                    }
                }
                Some(n) if n == "root" => {
                    if !own {
                        return Resolution::Unknown("another process's root (`/proc/PID/root`)".into());
                    }
                    cur = PathBuf::from("/");
                }
                Some(n) if n == "fd" => match (queue.pop_front(), queue.is_empty()) {
                    (Some(_), true) => return Resolution::Fd,
                    (None, _) => {
                        return Resolution::Path(Resolved {
                            path: PathBuf::from("/proc/self/fd"),
                            exists: true,
                            id: None,
                        });
                    }
                    (Some(_), false) => {
                        return Resolution::Unknown(
                            "a path through an open directory descriptor (`/dev/fd/N/…`)".into(),
                        );
                    }
                },
                Some(n) => {
                    // Another entry of the process's own directory (`environ`, `exe`, `maps`):
                    // named as written, never looked up in hookhost's own /proc.
                    let mut p = PathBuf::from("/proc").join(if own { OsString::from("self") } else { c });
                    p.push(n);
                    for rest in queue {
                        p.push(rest);
                    }
                    return Resolution::Path(Resolved { path: p, exists: false, id: None });
                }
                None => {
                    return Resolution::Path(Resolved { path: PathBuf::from("/proc/self"), exists: true, id: None });
                }
            }
            continue;
        }
        let cand = cur.join(&c);
        if missing.is_some() {
            cur = cand;
            continue;
        }
        if view.pending.contains(&cand) {
            return Resolution::Unknown(format!("{} is a symbolic link the same command line creates", cand.display()));
        }
        match std::fs::symlink_metadata(&cand) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Resolution::Unknown(format!("more than {MAX_LINKS} symbolic links (a loop?)"));
                }
                let Ok(target) = std::fs::read_link(&cand) else {
                    return Resolution::Unknown(format!("the symbolic link {} cannot be read", cand.display()));
                };
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                for (i, t) in comps(&target).enumerate() {
                    queue.insert(i, t);
                }
            }
            Ok(_) => cur = cand,
            Err(_) => {
                missing = Some(cand.clone());
                cur = cand;
            }
        }
    }
    let id = if missing.is_none() { FileId::of(&cur) } else { None };
    Resolution::Path(Resolved { exists: missing.is_none(), path: cur, id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn r(p: &Path, cwd: &Path) -> Resolution {
        resolve(p, View { cwd, pending: &[] })
    }
    fn path(x: Resolution) -> PathBuf {
        match x {
            Resolution::Path(p) => p.path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dotdot_after_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::create_dir_all(base.join("secrets")).unwrap();
        std::fs::write(base.join("secrets/api.key"), "k").unwrap();
        symlink("a/b", base.join("L")).unwrap();
        // Lexically L/../../secrets/api.key is outside base; the kernel says base/secrets/api.key.
        let got = path(r(&base.join("L/../../secrets/api.key"), &base));
        assert_eq!(got, base.join("secrets/api.key"));
        let got = path(r(&base.join("L/../x"), &base));
        assert_eq!(got, base.join("a/x"));
        assert!(matches!(r(&base.join("nope/../secrets"), &base), Resolution::Unknown(_)));
        symlink("loop", base.join("loop")).unwrap();
        assert!(matches!(r(&base.join("loop/x"), &base), Resolution::Unknown(_)));
        let pending = [base.join("new")];
        assert!(matches!(resolve(&base.join("new/x"), View { cwd: &base, pending: &pending }), Resolution::Unknown(_)));
    }

    #[test]
    fn proc_forms_are_the_commands_view() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        std::fs::write(base.join(".env"), "x").unwrap();
        assert_eq!(path(r(Path::new("/proc/self/cwd/.env"), &base)), base.join(".env"));
        assert_eq!(path(r(Path::new("/proc/thread-self/cwd/.env"), &base)), base.join(".env"));
        assert_eq!(path(r(Path::new("/proc/self/task/1/cwd/.env"), &base)), base.join(".env"));
        let via_root = format!("/proc/self/root{}", base.join(".env").display());
        assert_eq!(path(r(Path::new(&via_root), Path::new("/"))), base.join(".env"));
        assert_eq!(path(r(Path::new("/proc/self/../self/cwd/.env"), &base)), base.join(".env"));
        assert!(matches!(r(Path::new("/proc/1/cwd/.env"), &base), Resolution::Unknown(_)));
        // A working directory that names itself through /proc loops: bounded, unknown.
        let selfref = Path::new("/proc/self/cwd/x");
        assert!(matches!(r(Path::new("/proc/self/cwd/.env"), selfref), Resolution::Unknown(_)));
        assert!(matches!(r(Path::new("/proc/1/root/etc"), &base), Resolution::Unknown(_)));
        assert_eq!(r(Path::new("/dev/stdin"), &base), Resolution::Fd);
        assert_eq!(r(Path::new("/dev/fd/3"), &base), Resolution::Fd);
        assert!(matches!(r(Path::new("/dev/fd/3/x"), &base), Resolution::Unknown(_)));
        assert_eq!(path(r(Path::new("/proc/self/environ"), &base)), PathBuf::from("/proc/self/environ"));
    }
}
