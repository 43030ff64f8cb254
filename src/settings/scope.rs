//! Settings scopes, their precedence, and where each scope's files live on disk.
//!
//! `Scope`'s `Ord` is the precedence: `Managed > CommandLine > Local > Project > User`, so every
//! "higher scope wins" rule in hookhost is one comparison.
//!
//! The project directory is canonical (symbolic links resolved, no trailing slash, absolute):
//! every spelling of one project (`--project-dir`, `$CLAUDE_PROJECT_DIR`, the event's `cwd`,
//! `…/proj/`, a symlink to it) names the same project, so records keyed by it (trust, the last
//! known good settings, the daemon's live settings) cannot be dodged by another spelling.
//!
//! Which links a settings file may go through ([`Locations::links`]): managed, command-line and
//! user files may be symbolic links (configuration management and dotfile managers keep them
//! so; the target must still be a regular file); a project's `.hookhost/` files may not contain
//! a link anywhere below the project directory (a repository could point them anywhere).

use std::path::{Path, PathBuf};

pub use crate::vocab::Scope;

/// Default endpoint-managed directory.
pub const DEFAULT_MANAGED_DIR: &str = "/etc/hookhost";

/// The directories and files that hold hookhost's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// Holds `managed-settings.json` and `managed-settings.d/`.
    pub managed_dir: PathBuf,
    /// `$XDG_CONFIG_HOME/hookhost/settings.json`, if a config home is known.
    pub user_file: Option<PathBuf>,
    /// The project root; `.hookhost/settings.json` and `.hookhost/settings.local.json` live here.
    pub project_dir: Option<PathBuf>,
    /// `--settings FILE`.
    pub cli_file: Option<PathBuf>,
    /// hookhost's user state directory (`$XDG_STATE_HOME/hookhost`, else
    /// `~/.local/state/hookhost`): holds the project trust records.
    pub state_dir: Option<PathBuf>,
}

impl Locations {
    /// Locations from the environment: `HOOKHOST_MANAGED_DIR`, `XDG_CONFIG_HOME` (else
    /// `$HOME/.config`), `XDG_STATE_HOME` (else `$HOME/.local/state`), and the project directory
    /// from `project_dir_flag`, else `CLAUDE_PROJECT_DIR`, else `event_cwd`.
    pub fn from_env(cli_file: Option<PathBuf>, project_dir_flag: Option<PathBuf>, event_cwd: Option<&str>) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let managed_dir = var("HOOKHOST_MANAGED_DIR").unwrap_or_else(|| PathBuf::from(DEFAULT_MANAGED_DIR));
        let config_home = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
        let state_home = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local").join("state")));
        let project_dir = project_dir_flag
            .or_else(|| var("CLAUDE_PROJECT_DIR"))
            .or_else(|| event_cwd.filter(|c| !c.is_empty()).map(PathBuf::from))
            .map(|p| canonical_dir(&p));
        Locations {
            managed_dir,
            user_file: config_home.map(|c| c.join("hookhost").join("settings.json")),
            project_dir,
            cli_file,
            state_dir: state_home.map(|s| s.join("hookhost")),
        }
    }

    /// Which symbolic links a settings file of `scope` may go through (module documentation).
    pub fn links(&self, scope: Scope) -> crate::readfile::Links {
        match (scope, &self.project_dir) {
            (Scope::Project | Scope::Local, Some(p)) => crate::readfile::Links::Beneath(p.clone()),
            _ => crate::readfile::Links::Follow,
        }
    }

    pub fn managed_file(&self) -> PathBuf {
        self.managed_dir.join("managed-settings.json")
    }

    pub fn managed_dropin_dir(&self) -> PathBuf {
        self.managed_dir.join("managed-settings.d")
    }

    pub fn project_file(&self) -> Option<PathBuf> {
        self.project_dir.as_ref().map(|p| p.join(".hookhost").join("settings.json"))
    }

    pub fn local_file(&self) -> Option<PathBuf> {
        self.project_dir.as_ref().map(|p| p.join(".hookhost").join("settings.local.json"))
    }

    /// [`Locations::candidates`]; when the drop-in directory cannot be listed, the fixed files
    /// only, with the reason added to `errors` (a managed error: callers fail closed on it).
    pub fn candidates_or_fixed(&self, errors: &mut Vec<crate::error::SettingsError>) -> Vec<(Scope, PathBuf, bool)> {
        match self.candidates() {
            Ok(c) => c,
            Err(e) => {
                errors.push(crate::error::SettingsError {
                    location: crate::error::Location { path: self.managed_dropin_dir(), line: 1, column: 1 },
                    message: format!("cannot list managed drop-ins: {e}"),
                    managed: true,
                });
                self.candidates_without_dropins()
            }
        }
    }

    fn candidates_without_dropins(&self) -> Vec<(Scope, PathBuf, bool)> {
        let mut v = vec![(Scope::Managed, self.managed_file(), false)];
        if let Some(f) = &self.cli_file {
            v.push((Scope::CommandLine, f.clone(), true));
        }
        v.extend(self.local_file().map(|f| (Scope::Local, f, false)));
        v.extend(self.project_file().map(|f| (Scope::Project, f, false)));
        v.extend(self.user_file.clone().map(|f| (Scope::User, f, false)));
        v
    }

    /// Every settings file to consider, highest precedence first; managed drop-ins follow the
    /// base managed file in name order. Files that do not exist are included (the loader skips
    /// them), except drop-ins, which are listed from the directory.
    pub fn candidates(&self) -> std::io::Result<Vec<(Scope, PathBuf, bool)>> {
        let mut out = vec![(Scope::Managed, self.managed_file(), false)];
        for p in list_dropins(&self.managed_dropin_dir())? {
            out.push((Scope::Managed, p, false));
        }
        if let Some(f) = &self.cli_file {
            // The user asked for this file: it must exist.
            out.push((Scope::CommandLine, f.clone(), true));
        }
        if let Some(f) = self.local_file() {
            out.push((Scope::Local, f, false));
        }
        if let Some(f) = self.project_file() {
            out.push((Scope::Project, f, false));
        }
        if let Some(f) = &self.user_file {
            out.push((Scope::User, f.clone(), false));
        }
        Ok(out)
    }
}

/// The canonical spelling of directory `p`: absolute, symbolic links resolved in the longest
/// part of it that exists, and the rest normalised lexically (`.`, `..`, trailing and doubled
/// slashes removed). A directory created later under the same name keeps the same spelling.
pub fn canonical_dir(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    if let Ok(c) = std::fs::canonicalize(&abs) {
        return c;
    }
    let lexical = crate::permissions::path::lexical(&abs);
    let mut rest = Vec::new();
    let mut head = lexical.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(head) {
            let mut out = c;
            out.extend(rest.iter().rev());
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return lexical,
        }
    }
}

/// The canonical spelling of file `p`: its directory canonical ([`canonical_dir`]), its own
/// name kept (a link stays the link, so that the link's own record is the one consulted).
pub fn canonical_file(p: &Path) -> PathBuf {
    match (p.parent(), p.file_name()) {
        (Some(d), Some(n)) if !d.as_os_str().is_empty() => canonical_dir(d).join(n),
        _ => canonical_dir(p),
    }
}

/// `*.json` files of a drop-in directory, sorted by name; hidden files are skipped.
pub fn list_dropins(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let s = name.to_string_lossy();
        if s.ends_with(".json") && !s.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_ord() {
        let mut v = vec![Scope::User, Scope::Managed, Scope::Local, Scope::Project, Scope::CommandLine];
        v.sort();
        v.reverse();
        assert_eq!(v, [Scope::Managed, Scope::CommandLine, Scope::Local, Scope::Project, Scope::User]);
    }

    #[test]
    fn project_dir_spellings_are_one_canonical_path() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("proj");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, t.path().join("alias")).unwrap();
        let canon = std::fs::canonicalize(&real).unwrap();
        for spelling in [
            real.clone(),
            PathBuf::from(format!("{}/", real.display())),
            PathBuf::from(format!("{}//", real.display())),
            real.join("."),
            real.join("sub/.."),
            t.path().join("alias"),
            PathBuf::from(format!("{}/", t.path().join("alias").display())),
        ] {
            let loc = Locations::from_env(None, Some(spelling.clone()), None);
            assert_eq!(loc.project_dir.as_deref(), Some(canon.as_path()), "{}", spelling.display());
            if std::env::var_os("CLAUDE_PROJECT_DIR").is_none() {
                let loc = Locations::from_env(None, None, Some(&spelling.to_string_lossy()));
                assert_eq!(loc.project_dir.as_deref(), Some(canon.as_path()), "cwd {}", spelling.display());
            }
        }
        assert_eq!(canonical_dir(&t.path().join("missing/./x/")), canonical_dir(t.path()).join("missing/x"));
        // Not there yet, below a link: the existing part is resolved, so the spelling does not
        // change when the directory is created.
        let before = canonical_dir(&t.path().join("alias/new/dir"));
        assert_eq!(before, canon.join("new/dir"));
        std::fs::create_dir_all(real.join("new/dir")).unwrap();
        assert_eq!(canonical_dir(&t.path().join("alias/new/dir")), before);
    }

    #[test]
    fn dropins_sorted_by_name() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.json", "a.json", "10-x.json", ".hidden.json", "notes.txt"] {
            std::fs::write(d.path().join(n), "{}").unwrap();
        }
        let names: Vec<_> = list_dropins(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-x.json", "a.json", "b.json"]);
    }
}
