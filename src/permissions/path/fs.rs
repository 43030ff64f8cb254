//! The file-system work of one permission decision, bounded and cached: path resolutions,
//! directory listings, shell glob expansion and directory walks. Each is done once per distinct
//! input within a decision, and all of them draw on one budget; when the budget runs out the
//! operation answers [`Exceeded`], which callers treat as hitting every deny or ask rule that
//! could apply (fail closed), never as an allow.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::intersect::shell_match;
use super::resolve::{self, Resolution, View};

/// Directory entries read in one decision (listings, expansions and walks together).
pub const MAX_ENTRIES: usize = 200_000;
/// Distinct paths resolved in one decision.
pub const MAX_RESOLUTIONS: usize = 20_000;
/// Paths one glob may expand to.
pub const MAX_EXPANSIONS: usize = 4_096;
/// Deepest directory walk.
pub const MAX_WALK_DEPTH: usize = 64;

/// The budget ran out: the operation's answer is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub kind: Kind,
}

/// One decision's file-system work.
#[derive(Debug)]
pub struct Fs {
    entries_left: usize,
    resolutions_left: usize,
    dirs: HashMap<PathBuf, Rc<Vec<Entry>>>,
    resolved: HashMap<(PathBuf, PathBuf), Resolution>,
    expansions: HashMap<String, Result<Rc<Vec<PathBuf>>, Exceeded>>,
    /// Symbolic links the command line creates.
    pub pending: Vec<PathBuf>,
}

impl Default for Fs {
    fn default() -> Self {
        Fs::new()
    }
}

impl Fs {
    pub fn new() -> Fs {
        Fs {
            entries_left: MAX_ENTRIES,
            resolutions_left: MAX_RESOLUTIONS,
            dirs: HashMap::new(),
            resolved: HashMap::new(),
            expansions: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Resolves an absolute path for a process whose directory is `cwd` (see [`resolve`]).
    pub fn resolve(&mut self, path: &Path, cwd: &Path) -> Resolution {
        let key = (path.to_path_buf(), cwd.to_path_buf());
        if let Some(r) = self.resolved.get(&key) {
            return r.clone();
        }
        if self.resolutions_left == 0 {
            return Resolution::Unknown(format!("more than {MAX_RESOLUTIONS} distinct paths in one call"));
        }
        self.resolutions_left -= 1;
        let r = resolve::resolve(path, View { cwd, pending: &self.pending });
        self.resolved.insert(key, r.clone());
        r
    }

    /// A directory's entries (none if it cannot be read).
    pub fn read_dir(&mut self, dir: &Path) -> Result<Rc<Vec<Entry>>, Exceeded> {
        if let Some(v) = self.dirs.get(dir) {
            return Ok(v.clone());
        }
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if self.entries_left == 0 {
                    return Err(Exceeded(format!("more than {MAX_ENTRIES} directory entries to look at")));
                }
                self.entries_left -= 1;
                let kind = match e.file_type() {
                    Ok(t) if t.is_symlink() => Kind::Symlink,
                    Ok(t) if t.is_dir() => Kind::Dir,
                    _ => Kind::File,
                };
                v.push(Entry { name: e.file_name(), kind });
            }
        }
        let v = Rc::new(v);
        self.dirs.insert(dir.to_path_buf(), v.clone());
        Ok(v)
    }

    /// Expands an absolute shell glob against the file system, as bash would (a name starting
    /// with `.` only by a pattern starting with `.`; `**` is `*`). Nothing matching: empty.
    pub fn expand(&mut self, pattern: &str) -> Result<Rc<Vec<PathBuf>>, Exceeded> {
        if let Some(r) = self.expansions.get(pattern) {
            return r.clone();
        }
        let r = self.expand_uncached(pattern).map(Rc::new);
        self.expansions.insert(pattern.to_string(), r.clone());
        r
    }

    fn expand_uncached(&mut self, pattern: &str) -> Result<Vec<PathBuf>, Exceeded> {
        let mut current = vec![PathBuf::from("/")];
        for seg in split_segments(pattern) {
            if seg.is_empty() {
                continue;
            }
            let mut next = Vec::new();
            if !has_glob(&seg) {
                let lit = unescape(&seg);
                for c in &current {
                    next.push(c.join(&lit));
                }
            } else {
                for c in &current {
                    let entries = self.read_dir(c)?;
                    // Matching counts against the same budget as listing.
                    if self.entries_left < entries.len() {
                        return Err(Exceeded(format!("more than {MAX_ENTRIES} directory entries to look at")));
                    }
                    self.entries_left -= entries.len();
                    for e in entries.iter() {
                        let name = e.name.to_string_lossy();
                        if shell_match(&seg, &name) {
                            next.push(c.join(&e.name));
                            if next.len() > MAX_EXPANSIONS {
                                return Err(Exceeded(format!(
                                    "the glob `{pattern}` names more than {MAX_EXPANSIONS} files"
                                )));
                            }
                        }
                    }
                }
            }
            current = next;
            if current.is_empty() {
                break;
            }
        }
        // Only names that exist count (a glob matching nothing stays a literal name).
        current.retain(|p| std::fs::symlink_metadata(p).is_ok());
        Ok(current)
    }

    /// Visits every entry below `root` (a resolved directory), without following symbolic
    /// links, descending only into directories `descend` accepts, until `visit` returns true
    /// (then `Ok(true)`). Nothing is kept: memory stays flat however large the tree; every
    /// entry read counts against the decision's budget.
    pub fn visit(
        &mut self,
        root: &Path,
        descend: &dyn Fn(&Path) -> bool,
        visit: &mut dyn FnMut(&Path, Kind) -> bool,
    ) -> Result<bool, Exceeded> {
        let mut stack = vec![(root.to_path_buf(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            if depth > MAX_WALK_DEPTH {
                return Err(Exceeded(format!(
                    "directories nest deeper than {MAX_WALK_DEPTH} levels below {}",
                    root.display()
                )));
            }
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                if self.entries_left == 0 {
                    return Err(Exceeded(format!("more than {MAX_ENTRIES} directory entries to look at")));
                }
                self.entries_left -= 1;
                let kind = match e.file_type() {
                    Ok(t) if t.is_symlink() => Kind::Symlink,
                    Ok(t) if t.is_dir() => Kind::Dir,
                    _ => Kind::File,
                };
                let p = dir.join(e.file_name());
                if visit(&p, kind) {
                    return Ok(true);
                }
                if kind == Kind::Dir && descend(&p) {
                    stack.push((p, depth + 1));
                }
            }
        }
        Ok(false)
    }
}

/// Splits a glob on `/` (an escaped `\/` is still a separator for the shell).
fn split_segments(p: &str) -> Vec<String> {
    p.split('/').map(str::to_string).collect()
}

fn has_glob(seg: &str) -> bool {
    let mut esc = false;
    for c in seg.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape(seg: &str) -> String {
    let mut s = String::new();
    let mut esc = false;
    for c in seg.chars() {
        if c == '\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_is_bounded_and_cached() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        for i in 0..50 {
            std::fs::write(base.join(format!("f{i}")), "").unwrap();
        }
        std::fs::write(base.join(".env"), "").unwrap();
        let mut fs = Fs::new();
        let all = fs.expand(&format!("{}/*", base.display())).unwrap();
        assert_eq!(all.len(), 50, "`*` skips dot files");
        let env = fs.expand(&format!("{}/.e[n]v", base.display())).unwrap();
        assert_eq!(env.as_slice(), [base.join(".env")]);
        let mut fs = Fs { entries_left: 10, ..Fs::new() };
        assert!(fs.expand(&format!("{}/*", base.display())).is_err());
    }
}
