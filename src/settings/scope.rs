//! Settings scopes, their precedence, and where each scope's files live on disk.
//!
//! `Scope`'s `Ord` is the precedence: `Managed > CommandLine > Local > Project > User`, so every
//! "higher scope wins" rule in hookhost is one comparison.

use std::path::{Path, PathBuf};

/// Where a setting came from. Ordered by precedence (greater wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    User,
    Project,
    Local,
    CommandLine,
    Managed,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
            Scope::CommandLine => "command line",
            Scope::Managed => "managed",
        }
    }

    /// Claude Code's ConfigChange `source` for a file of this scope.
    pub fn config_source(self) -> &'static str {
        match self {
            Scope::User => "user_settings",
            Scope::Project => "project_settings",
            Scope::Local => "local_settings",
            Scope::CommandLine => "command_line_settings",
            Scope::Managed => "policy_settings",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
            .or_else(|| event_cwd.filter(|c| !c.is_empty()).map(PathBuf::from));
        Locations {
            managed_dir,
            user_file: config_home.map(|c| c.join("hookhost").join("settings.json")),
            project_dir,
            cli_file,
            state_dir: state_home.map(|s| s.join("hookhost")),
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
