//! Change detection for settings files: which files of which scopes differ from the accepted
//! versions, each as a parsed candidate, and a file-system watcher that says when to look.
//!
//! Owns: `FileVersion` (one accepted file: scope, path, bytes, hash, parsed form), `scan` (the
//! changes between the accepted versions and the disk), and `Watcher` (inotify through the
//! `notify` crate on every settings directory of every scope, re-armed when a directory appears).
//!
//! Promises: a file that cannot be read or parsed (invalid JSON, a half-written file, a schema
//! error) is reported as `Change::Invalid` with file:line:column and never as a new version; a
//! rename-over and a delete are changes like an edit; `scan` never reads a file twice for one
//! change, so the parsed candidate is exactly the bytes that were hashed. It does not decide
//! whether a change applies: that is the gate's job (`crate::live`), since settings never call the
//! bus.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::{self, SettingsFile};
use super::{Locations, Scope};
use crate::error::{Location, SettingsError};

/// One accepted version of one settings file.
#[derive(Debug, Clone)]
pub struct FileVersion {
    pub scope: Scope,
    pub path: PathBuf,
    /// The exact bytes that were parsed (UTF-8 JSON).
    pub bytes: Arc<[u8]>,
    pub sha256: String,
    pub parsed: Arc<SettingsFile>,
}

impl FileVersion {
    /// Parses `bytes` read from `path`.
    pub fn parse(scope: Scope, path: &Path, bytes: Vec<u8>) -> Result<FileVersion, SettingsError> {
        let parsed = file::parse_bytes(&bytes, path, scope)?;
        Ok(FileVersion {
            scope,
            path: path.to_path_buf(),
            sha256: parsed.sha256.clone(),
            bytes: bytes.into(),
            parsed: Arc::new(parsed),
        })
    }
}

/// What happened to one settings file.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new or changed file with a valid new version.
    Updated { previous: Option<FileVersion>, new: FileVersion },
    /// The file is gone.
    Deleted { previous: FileVersion },
    /// The file changed but its new content cannot be used: the accepted version stays.
    /// `sha256` is the hash of the unusable content (`None` when it could not be read).
    Invalid { scope: Scope, path: PathBuf, error: SettingsError, sha256: Option<String> },
}

impl Change {
    pub fn path(&self) -> &Path {
        match self {
            Change::Updated { new, .. } => &new.path,
            Change::Deleted { previous } => &previous.path,
            Change::Invalid { path, .. } => path,
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Change::Updated { new, .. } => new.scope,
            Change::Deleted { previous } => previous.scope,
            Change::Invalid { scope, .. } => *scope,
        }
    }

    /// `created`, `modified`, `deleted` or `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Updated { previous: None, .. } => "created",
            Change::Updated { .. } => "modified",
            Change::Deleted { .. } => "deleted",
            Change::Invalid { .. } => "invalid",
        }
    }
}

/// What reading one candidate file gave.
#[derive(Debug, Clone)]
pub enum Disk {
    Missing,
    Bytes(Vec<u8>),
    /// Unusable as a file: unreadable, not a regular file, a link where none may be, too large.
    Error(SettingsError),
}

/// Reads one candidate file the way every settings file is read (`file::read_bytes`): anything
/// but a bounded regular file (a directory, a FIFO, a device, a link where none may be) is an
/// error naming the file, never a version and never a silent deletion.
pub fn read_disk(loc: &Locations, path: &Path, scope: Scope) -> Disk {
    match file::read_bytes(path, scope, &loc.links(scope)) {
        Ok(Some(b)) => Disk::Bytes(b),
        Ok(None) => Disk::Missing,
        Err(e) => Disk::Error(e),
    }
}

use crate::digest::sha256_hex;

/// The current versions of every settings file of `loc`, in precedence order, and the files
/// that could not be used (the unit tests' starting point).
#[cfg(test)]
fn read_all(loc: &Locations) -> (Vec<FileVersion>, Vec<SettingsError>) {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for (scope, path, required) in loc.candidates_or_fixed(&mut errors) {
        match read_disk(loc, &path, scope) {
            Disk::Missing if required => errors.push(SettingsError {
                location: Location { path, line: 1, column: 1 },
                message: "file not found".into(),
                managed: scope == Scope::Managed,
            }),
            Disk::Missing => {}
            Disk::Error(e) => errors.push(e),
            Disk::Bytes(b) => match FileVersion::parse(scope, &path, b) {
                Ok(v) => files.push(v),
                Err(e) => errors.push(e),
            },
        }
    }
    (files, errors)
}

/// The changes between `accepted` and the files on disk, in precedence order (managed first).
/// Unchanged files are not reported. A file whose hash equals the accepted one is unchanged even
/// if it was rewritten.
pub fn scan(loc: &Locations, accepted: &[FileVersion]) -> Vec<Change> {
    let mut errors = Vec::new();
    let cands = loc.candidates_or_fixed(&mut errors);
    let mut out: Vec<Change> = errors
        .into_iter()
        .map(|error| Change::Invalid { scope: Scope::Managed, path: error.location.path.clone(), error, sha256: None })
        .collect();
    let listed: BTreeSet<&Path> = cands.iter().map(|(_, p, _)| p.as_path()).collect();
    let find = |p: &Path| accepted.iter().find(|v| v.path == p);
    for (scope, path, required) in &cands {
        let previous = find(path);
        match read_disk(loc, path, *scope) {
            Disk::Missing => match previous {
                Some(prev) => out.push(Change::Deleted { previous: prev.clone() }),
                None if *required => out.push(Change::Invalid {
                    scope: *scope,
                    path: path.clone(),
                    sha256: None,
                    error: SettingsError {
                        location: Location { path: path.clone(), line: 1, column: 1 },
                        message: "file not found".into(),
                        managed: *scope == Scope::Managed,
                    },
                }),
                None => {}
            },
            Disk::Error(error) => out.push(Change::Invalid { scope: *scope, path: path.clone(), error, sha256: None }),
            Disk::Bytes(b) => {
                let sha = sha256_hex(&b);
                if previous.is_some_and(|p| p.sha256 == sha) {
                    continue;
                }
                match FileVersion::parse(*scope, path, b) {
                    Ok(new) => out.push(Change::Updated { previous: previous.cloned(), new }),
                    Err(error) => {
                        out.push(Change::Invalid { scope: *scope, path: path.clone(), error, sha256: Some(sha) })
                    }
                }
            }
        }
    }
    // Accepted files that are no longer candidates (a removed drop-in).
    for prev in accepted.iter().filter(|v| !listed.contains(v.path.as_path())) {
        out.push(Change::Deleted { previous: prev.clone() });
    }
    out
}

/// Puts `files` in precedence order: the order `loc` lists candidates in, then any others (in
/// their current order).
pub fn order(loc: &Locations, files: &mut [FileVersion]) {
    let mut errors = Vec::new();
    let cands = loc.candidates_or_fixed(&mut errors);
    let rank = |p: &Path| cands.iter().position(|(_, c, _)| c == p).unwrap_or(usize::MAX);
    files.sort_by_key(|f| (rank(&f.path), std::cmp::Reverse(f.scope)));
}

/// The directories to watch for `loc`: every directory that holds a settings file, plus the
/// parent of each (so that creating `.hookhost/` or `managed-settings.d/` is seen).
pub fn watched_dirs(loc: &Locations) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![loc.managed_dir.clone(), loc.managed_dropin_dir()];
    let files = [loc.cli_file.clone(), loc.local_file(), loc.project_file(), loc.user_file.clone()];
    for f in files.into_iter().flatten() {
        if let Some(d) = f.parent() {
            dirs.push(d.to_path_buf());
            if let Some(p) = d.parent() {
                dirs.push(p.to_path_buf());
            }
        }
    }
    let mut seen = BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Watches the settings directories of one `Locations` and calls `wake` after any change to
/// something in them. Directories that do not exist yet are watched through their parent and
/// armed by `rearm` once they appear.
pub struct Watcher {
    inner: notify::RecommendedWatcher,
    dirs: Vec<PathBuf>,
    armed: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("dirs", &self.dirs).field("armed", &self.armed).finish()
    }
}

impl Watcher {
    /// Starts watching. `wake` runs on the watcher's thread and must be cheap (send on a channel).
    pub fn new(loc: &Locations, wake: impl Fn() + Send + 'static) -> notify::Result<Watcher> {
        let dirs = watched_dirs(loc);
        let relevant: BTreeSet<PathBuf> = dirs.iter().cloned().collect();
        let inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                // Only react to entries of settings directories (the project root holds much
                // else, written all the time by the agent).
                let hit =
                    ev.paths.iter().any(|p| relevant.contains(p) || p.parent().is_some_and(|d| relevant.contains(d)));
                if hit && !matches!(ev.kind, notify::EventKind::Access(_)) {
                    wake();
                }
            }
            // An overflowed queue means events were lost: look at everything again.
            Err(_) => wake(),
        })?;
        let mut w = Watcher { inner, dirs, armed: BTreeSet::new() };
        w.rearm();
        Ok(w)
    }

    /// Arms the watch on every directory that exists and is not armed yet; forgets directories
    /// that disappeared (they are armed again when they come back). Returns how many are armed.
    pub fn rearm(&mut self) -> usize {
        use notify::Watcher as _;
        self.armed.retain(|d| d.is_dir());
        for d in &self.dirs {
            if !self.armed.contains(d) && d.is_dir() && self.inner.watch(d, notify::RecursiveMode::NonRecursive).is_ok()
            {
                self.armed.insert(d.clone());
            }
        }
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(root: &Path) -> Locations {
        Locations {
            managed_dir: root.join("managed"),
            user_file: Some(root.join("xdg/hookhost/settings.json")),
            project_dir: Some(root.join("project")),
            cli_file: None,
            state_dir: None,
        }
    }

    #[test]
    fn scan_reports_created_modified_deleted_and_invalid() {
        let t = tempfile::tempdir().unwrap();
        let l = loc(t.path());
        std::fs::create_dir_all(t.path().join("project/.hookhost")).unwrap();
        let proj = t.path().join("project/.hookhost/settings.json");
        assert!(scan(&l, &[]).is_empty());
        std::fs::write(&proj, r#"{"permissions": {"deny": ["Bash(rm:*)"]}}"#).unwrap();
        let c = scan(&l, &[]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind(), "created");
        let Change::Updated { new, .. } = &c[0] else { panic!() };
        let accepted = vec![new.clone()];
        assert!(scan(&l, &accepted).is_empty(), "an unchanged file is no change");
        std::fs::write(&proj, r#"{"permissions": {"deny": ["#).unwrap();
        let c = scan(&l, &accepted);
        assert_eq!(c[0].kind(), "invalid");
        let Change::Invalid { error, .. } = &c[0] else { panic!() };
        assert!(error.to_string().contains("settings.json:1:"), "{error}");
        std::fs::remove_file(&proj).unwrap();
        assert_eq!(scan(&l, &accepted)[0].kind(), "deleted");
    }

    #[test]
    fn removed_dropin_is_a_deletion_and_order_follows_precedence() {
        let t = tempfile::tempdir().unwrap();
        let l = loc(t.path());
        std::fs::create_dir_all(t.path().join("managed/managed-settings.d")).unwrap();
        std::fs::create_dir_all(t.path().join("xdg/hookhost")).unwrap();
        std::fs::write(t.path().join("managed/managed-settings.d/10-a.json"), "{}").unwrap();
        std::fs::write(t.path().join("xdg/hookhost/settings.json"), "{}").unwrap();
        let (mut files, errors) = read_all(&l);
        assert!(errors.is_empty());
        files.reverse();
        order(&l, &mut files);
        assert_eq!(files[0].scope, Scope::Managed);
        assert_eq!(files[1].scope, Scope::User);
        std::fs::remove_file(t.path().join("managed/managed-settings.d/10-a.json")).unwrap();
        let c = scan(&l, &files);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind(), "deleted");
        assert_eq!(c[0].scope(), Scope::Managed);
    }
}
