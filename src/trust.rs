//! Trust: what runs is what was approved.
//!
//! Three mechanisms, all keyed on SHA-256:
//!
//! 1. **Pins.** `sha256` on a hook pins its content. For a `wasm` hook, the component file's
//!    bytes (checked by the WebAssembly runner, `crate::exec::wasm`; the component is found by
//!    `crate::hook::wasm_component_path`, and [`sha256_file`] is the shared hash helper). For a `command` hook, what [`command_target`] names:
//!    every file the command line executes or sources, found by the permission engine's shell
//!    parser (`crate::permissions::bash::exec::executed_files`, after `${CLAUDE_PROJECT_DIR}` /
//!    `$CLAUDE_PROJECT_DIR` are expanded; exec form is read as its shell-quoted words):
//!    scripts given to interpreters (`sh -e x.sh`, `/usr/bin/env sh x.sh`, `python3 -u x.py`),
//!    programs named by a path, `source`/`.` files, and the same inside `bash -c '…'`, lists,
//!    pipelines and `cd DIR && ./x` (relative names resolve against the hook's working
//!    directory, the project directory). System interpreters and runners (`/usr/bin/python3`,
//!    `/usr/bin/env`: root's files in root's directories) are left out.
//!    - one regular file: the pin is that file's SHA-256;
//!    - several files (or one that does not exist): the SHA-256 of the lines
//!      `"<sha256>  <path>\n"` (`absent` for a missing file), i.e. `sha256sum F1 F2 | sha256sum`;
//!    - no file (programs on `PATH`): the **command line**: the bytes of `command` as written
//!      (shell form), or of `command` and each argument, each followed by a NUL byte (exec
//!      form). By hand: `printf '%s' "$command" | sha256sum` or
//!      `printf '%s\0' "$command" "${args[@]}" | sha256sum`;
//!    - a line whose executed files cannot be named before it runs (`sh "$X"`, `eval`, a
//!      script from a pipe, …): **cannot pin**; a pinned or project hook with it never runs.
//!
//!    The runner checks a command hook's pin immediately before it spawns the process (after
//!    the sandbox is prepared) and again after the process exits; a mismatch, or a file that
//!    cannot be read, is a `HookFailure` of kind `Untrusted`: the hook does not run, or its
//!    answer is discarded. **What this does not close:** between the check and the moment the
//!    shell or interpreter opens the file there is a window (microseconds to milliseconds) in
//!    which a process that can write the file can swap it and swap it back before the re-check.
//!    hookhost cannot run "exactly the bytes it hashed" without changing the script's path
//!    (`$0`, `dirname "$0"`), so it does not try; keep pinned scripts where the agent cannot
//!    write (a root-owned directory) when that race matters.
//!
//! 2. **`requirePinnedHooks`** (managed): non-managed hooks without `sha256` are inactive
//!    (settings resolution, `crate::settings::resolve`).
//!
//! 3. **Project trust.** Hooks from a project's `.hookhost/settings.json` and
//!    `.hookhost/settings.local.json` run only after the user ran `hookhost trust` for that
//!    project. It records, in `<state dir>/trusted-projects.json` (the state dir is
//!    `$XDG_STATE_HOME/hookhost`, else `~/.local/state/hookhost`), for every project and local
//!    hook: the hash of its definition (`Hook::definition_sha256`: event, matcher and handler
//!    object as written, without its `sha256`: the content below is what a pin covers, so
//!    `trust` and `pin --write` work in either order) and the hash of its content (the same file or command line a pin
//!    covers; the component for `wasm`). [`apply`] (called by `settings::load`, so every front
//!    end gets it) deactivates a project hook whose definition is not recorded, or whose content
//!    changed since: editing a trusted script behind an unchanged command line revokes trust for
//!    that hook. A trusted hook without its own `sha256` gets the recorded content hash as its
//!    pin, so the run-time check above also catches a script edited after loading.
//!    `hookhost trust` re-records the project's current hooks (replacing the old record);
//!    `hookhost trust --revoke` forgets the project. Managed, command-line and user hooks need
//!    no project trust. Project *permission rules* are not gated by trust.
//!
//! What trust does not protect against: a process running as the user can edit the trust store,
//! the user's own settings, or the pinned files; pins and trust make *changes* visible and
//! refuse them, they are not access control. Managed settings (root-owned) are the boundary:
//! `allowManagedHooksOnly`, `requirePinnedHooks` with pins in managed files, and scripts in
//! root-owned directories.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::decision::{FailureKind, HookFailure};
use crate::hook::{CommandHook, Handler, Hook};
use crate::vocab::Scope;

/// The trust store's file name inside the state directory.
pub const TRUST_FILE: &str = "trusted-projects.json";
/// The largest trust store hookhost reads.
pub const MAX_TRUST_FILE_BYTES: u64 = 16 * 1024 * 1024;
const STORE_VERSION: u32 = 1;

/// Programs whose first argument is the script they run (base names; a version suffix such as
/// `python3.12` or `node22` is allowed).
pub const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "python", "pypy", "node", "nodejs", "deno", "bun",
    "ruby", "perl", "php", "lua", "luajit", "tclsh", "Rscript", "pwsh",
];

/// Errors of the trust store and of writing pins.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a hookhost trust store: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path}: larger than the limit of {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("no user state directory: set XDG_STATE_HOME or HOME")]
    NoStateDir,
    #[error("no project directory: pass --project-dir or set CLAUDE_PROJECT_DIR")]
    NoProjectDir,
    #[error("{path}: cannot write pins: {message}")]
    Pin { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TrustError + '_ {
    move |source| TrustError::Io { path: path.to_path_buf(), source }
}

pub use crate::digest::sha256_hex;

/// The largest file a pin covers (a script, a program or a component).
pub const MAX_PINNED_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Lowercase hex SHA-256 of a file's bytes, read the way hookhost reads every file it decides
/// by (`crate::readfile`): streamed, follows symlinks to a regular file only (a FIFO, a device
/// or `/dev/stdout` is refused, never waited on), at most [`MAX_PINNED_FILE_BYTES`], under a
/// deadline. The error names the path.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::Follow, MAX_PINNED_FILE_BYTES);
    crate::readfile::sha256(path, &opts).map_err(|e| match e {
        crate::readfile::ReadError::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        crate::readfile::ReadError::Io { source, .. } => source,
        e => io::Error::other(e.reason()),
    })
}

/// What a pin covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinTarget {
    /// The one script, program or component file the hook runs.
    File(PathBuf),
    /// Several files the command line executes or sources, in order (absolute paths). The
    /// pin is the SHA-256 of one line per file, `"<sha256 of the file>  <path>\n"` (what
    /// `sha256sum FILE…` prints for ordinary names), with `absent` in place of the hash of a
    /// file that does not exist (so creating it later changes the pin).
    Files(Vec<PathBuf>),
    /// No file: the command line as written (see the module documentation for the bytes).
    CommandLine(Vec<u8>),
    /// The command line runs something the shell parser cannot name before it runs (a
    /// program or script built at run time, `eval`, a script read from a pipe, …): no pin
    /// can cover it, so a pinned or project hook with such a command does not run.
    CannotPin(String),
}

impl PinTarget {
    /// The target's SHA-256.
    pub fn sha256(&self) -> io::Result<String> {
        match self {
            PinTarget::File(p) => sha256_file(p),
            PinTarget::Files(files) => {
                let mut listing = String::new();
                for f in files {
                    let h = match sha256_file(f) {
                        Ok(h) => h,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => "absent".to_string(),
                        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", f.display()))),
                    };
                    listing.push_str(&format!("{h}  {}\n", f.display()));
                }
                Ok(sha256_hex(listing.as_bytes()))
            }
            PinTarget::CommandLine(b) => Ok(sha256_hex(b)),
            PinTarget::CannotPin(why) => Err(io::Error::other(format!("cannot pin: {why}"))),
        }
    }

    /// How reports name the target: `file /x/guard.sh`, `files /x/a.sh, /x/b.sh`, `the
    /// command line` or `nothing (cannot pin: …)`.
    pub fn describe(&self) -> String {
        match self {
            PinTarget::File(p) => format!("file {}", p.display()),
            PinTarget::Files(fs) => {
                format!("files {}", fs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
            }
            PinTarget::CommandLine(_) => "the command line".to_string(),
            PinTarget::CannotPin(why) => format!("nothing (cannot pin: {why})"),
        }
    }
}

use crate::hook::expand_project_dir as expand_project;

/// The working directory a hook runs in (as `exec::command_spec` chooses it).
fn hook_cwd(project_dir: Option<&Path>) -> PathBuf {
    project_dir.filter(|p| p.is_dir()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))
}

/// Whether `program` (a path or a name) is one of [`INTERPRETERS`].
pub fn is_interpreter(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS.contains(&base) || (!stem.is_empty() && INTERPRETERS.contains(&stem))
}

/// Wrappers that only run the file after them; like interpreters, their program file is not
/// what a pin is about when it is system software.
const RUNNERS: &[&str] = &["env", "timeout", "nice", "nohup", "stdbuf", "setsid", "ionice", "chrt", "taskset"];

/// An interpreter's or runner's own program file that only root can change (`/usr/bin/python3`,
/// `/usr/bin/env`): system software, updated by the package manager, not covered by pins.
fn system_runner(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let base = p.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    if !(is_interpreter(&base) || RUNNERS.contains(&base.as_str())) {
        return false;
    }
    // Every component from / down must be root's and not writable by others, or the file is
    // not out of the user's reach (a file that does not exist yet is judged by its directory:
    // only root can create it there).
    let real = match std::fs::canonicalize(p) {
        Ok(r) => r,
        Err(_) => match (p.parent().map(std::fs::canonicalize), p.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => return false,
        },
    };
    real.ancestors().all(|a| match std::fs::metadata(a) {
        Ok(m) => m.uid() == 0 && m.mode() & 0o022 == 0,
        Err(e) => e.kind() == io::ErrorKind::NotFound && a == real,
    })
}

/// The file(s) or command line a command hook's pin covers (module documentation, rule 1):
/// every file the command line executes or sources, as the permission engine's shell parser
/// reads it ([`crate::permissions::bash::exec::executed_files`]), apart from system
/// interpreters and runners.
pub fn command_target(c: &CommandHook, project_dir: Option<&Path>) -> PinTarget {
    let (line, shell_line): (Vec<u8>, String) = match &c.args {
        Some(args) => {
            let mut line = Vec::new();
            for w in std::iter::once(&c.command).chain(args) {
                line.extend_from_slice(w.as_bytes());
                line.push(0);
            }
            let words: Vec<String> =
                std::iter::once(&c.command).chain(args).map(|w| expand_project(w, project_dir)).collect();
            match shlex::try_join(words.iter().map(String::as_str)) {
                Ok(j) => (line, j),
                Err(e) => return PinTarget::CannotPin(format!("an argument cannot be quoted for the shell ({e})")),
            }
        }
        None => (c.command.as_bytes().to_vec(), expand_project(&c.command, project_dir)),
    };
    let cwd = hook_cwd(project_dir);
    let listed = match crate::permissions::bash::exec::executed_files(&shell_line) {
        Ok(v) => v,
        Err(why) => return PinTarget::CannotPin(why.to_string()),
    };
    // (`components` drops the `.` segments: `/p/./x.sh` is reported as `/p/x.sh`.)
    let files: Vec<PathBuf> =
        listed.iter().map(|f| cwd.join(f).components().collect::<PathBuf>()).filter(|p| !system_runner(p)).collect();
    match files.len() {
        0 => PinTarget::CommandLine(line),
        1 if regular_file(&files[0]) => PinTarget::File(files[0].clone()),
        _ => PinTarget::Files(files),
    }
}

fn regular_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file())
}

/// What a hook's pin (and its project-trust content hash) covers; `None` for hook types
/// hookhost does not run.
pub fn hook_target(hook: &Hook, project_dir: Option<&Path>) -> Option<PinTarget> {
    match &hook.handler {
        Handler::Command(c) => Some(command_target(c, project_dir)),
        Handler::Wasm(w) => Some(PinTarget::File(crate::hook::wasm_component_path(hook, w, project_dir))),
        Handler::Unsupported { .. } => None,
    }
}

/// The pin a hook would have now: its target and that target's SHA-256.
pub fn current_pin(hook: &Hook, project_dir: Option<&Path>) -> Result<(PinTarget, String), String> {
    let target = hook_target(hook, project_dir).ok_or_else(|| format!("`{}` hooks cannot be pinned", hook.kind()))?;
    if let PinTarget::CannotPin(why) = &target {
        return Err(why.clone());
    }
    let sum = target.sha256().map_err(|e| format!("cannot read {}: {e}", target.describe()))?;
    Ok((target, sum))
}

/// A pin checked before a run, to be re-checked after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub target: PinTarget,
    pub sha256: String,
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Checks `target` against the pin `expected` (lowercase hex). `Err` is the `Untrusted` failure
/// to report: the hook must not run.
pub fn verify(target: PinTarget, expected: &str) -> Result<Verified, HookFailure> {
    if let PinTarget::CannotPin(why) = &target {
        return Err(HookFailure::new(
            FailureKind::Untrusted,
            format!("its pin cannot cover what it runs ({why}); the hook was not run"),
        ));
    }
    match target.sha256() {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => Ok(Verified { target, sha256: actual }),
        Ok(actual) => Err(HookFailure::new(
            FailureKind::Untrusted,
            format!(
                "{} does not match its sha256 pin (pinned {}…, found {}…); the hook was not run",
                target.describe(),
                short(expected),
                short(&actual)
            ),
        )),
        Err(e) => Err(HookFailure::new(
            FailureKind::Untrusted,
            format!("cannot read {} to check its sha256 pin: {e}; the hook was not run", target.describe()),
        )),
    }
}

/// Re-checks a verified target after the hook ran: `Some` (an `Untrusted` failure) when the
/// content changed while it ran, so its answer must be discarded.
pub fn recheck(v: &Verified) -> Option<HookFailure> {
    match v.target.sha256() {
        Ok(now) if now == v.sha256 => None,
        Ok(now) => Some(HookFailure::new(
            FailureKind::Untrusted,
            format!(
                "{} changed while the hook ran (sha256 {}… → {}…); its answer is discarded",
                v.target.describe(),
                short(&v.sha256),
                short(&now)
            ),
        )),
        Err(e) => Some(HookFailure::new(
            FailureKind::Untrusted,
            format!("{} became unreadable while the hook ran ({e}); its answer is discarded", v.target.describe()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Project trust

/// One trusted hook of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedHook {
    /// `Hook::definition_sha256`.
    pub definition: String,
    /// SHA-256 of its content (file or command line); `None` when it has none or could not be
    /// read when trusted.
    pub content: Option<String>,
    /// What `content` covers, for people reading the store.
    pub target: Option<String>,
    pub label: String,
    pub origin: String,
}

/// The trust record of one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Seconds since the Unix epoch.
    pub trusted_at: u64,
    pub hooks: Vec<TrustedHook>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    projects: BTreeMap<String, ProjectRecord>,
}

/// The user's project trust records.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    file: StoreFile,
}

/// The key of a project in the store: its canonical path (lexical when it cannot be resolved).
pub fn project_key(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| crate::permissions::path::lexical(&std::env::current_dir().unwrap_or_default().join(dir)))
        .to_string_lossy()
        .into_owned()
}

impl TrustStore {
    /// The store's path inside `state_dir`.
    pub fn file_path(state_dir: &Path) -> PathBuf {
        state_dir.join(TRUST_FILE)
    }

    /// Reads the store; a missing file is an empty store. It is read as a bounded regular
    /// file, not through a link (`crate::readfile`).
    pub fn load(state_dir: &Path) -> Result<TrustStore, TrustError> {
        let path = Self::file_path(state_dir);
        let opts = crate::readfile::ReadOptions::new(crate::readfile::Links::NoFollow, MAX_TRUST_FILE_BYTES);
        let bytes = match crate::readfile::read_optional(&path, &opts) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(TrustStore { path, file: StoreFile { version: STORE_VERSION, ..Default::default() } });
            }
            Err(crate::readfile::ReadError::TooLarge { .. }) => {
                return Err(TrustError::TooLarge { path, limit: MAX_TRUST_FILE_BYTES });
            }
            Err(crate::readfile::ReadError::Io { source, .. }) => return Err(io_err(&path)(source)),
            Err(e) => return Err(io_err(&path)(io::Error::other(e.reason()))),
        };
        let file: StoreFile = serde_json::from_slice(&bytes)
            .map_err(|e| TrustError::Corrupt { path: path.clone(), message: e.to_string() })?;
        if file.version != STORE_VERSION {
            return Err(TrustError::Corrupt { path, message: format!("unknown version {}", file.version) });
        }
        Ok(TrustStore { path, file })
    }

    pub fn project(&self, dir: &Path) -> Option<&ProjectRecord> {
        self.file.projects.get(&project_key(dir))
    }

    fn save(&self) -> Result<(), TrustError> {
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| TrustError::Corrupt { path: self.path.clone(), message: e.to_string() })?;
        atomic_file::replace(&self.path, text.as_bytes(), atomic_file::Mode::Exact(0o600), None)
            .map_err(io_err(&self.path))
    }
}

/// Runs `f` on the store with its lock held (created with the state dir, mode 0700, if needed),
/// then saves it.
fn with_store<T>(state_dir: &Path, f: impl FnOnce(&mut TrustStore) -> T) -> Result<T, TrustError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(state_dir).map_err(io_err(state_dir))?;
    let lock_path = state_dir.join(format!("{TRUST_FILE}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    let _held =
        crate::file_lock::FileLock::lock(lock, crate::file_lock::Mode::Exclusive).map_err(io_err(&lock_path))?;
    let mut store = TrustStore::load(state_dir)?;
    let out = f(&mut store);
    store.save()?;
    Ok(out)
}

fn is_project_scope(h: &Hook) -> bool {
    matches!(h.origin.scope, Scope::Project | Scope::Local)
}

/// The content hash project trust records for a hook (`None`: none, or unreadable).
fn trust_content(hook: &Hook, project_dir: Option<&Path>) -> (Option<String>, Option<String>) {
    match hook_target(hook, project_dir) {
        None => (None, None),
        Some(t) => (t.sha256().ok(), Some(t.describe())),
    }
}

/// Records `hooks` (the project and local hooks among them) as the trusted state of
/// `project_dir`, replacing any earlier record. Returns the record.
pub fn trust_project(state_dir: &Path, project_dir: &Path, hooks: &[Arc<Hook>]) -> Result<ProjectRecord, TrustError> {
    let trusted_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let record = ProjectRecord {
        trusted_at,
        hooks: hooks
            .iter()
            .filter(|h| is_project_scope(h))
            .map(|h| {
                let (content, target) = trust_content(h, Some(project_dir));
                TrustedHook {
                    definition: h.definition_sha256.clone(),
                    content,
                    target,
                    label: h.label(),
                    origin: h.origin.to_string(),
                }
            })
            .collect(),
    };
    let key = project_key(project_dir);
    let r = record.clone();
    with_store(state_dir, move |s| {
        s.file.projects.insert(key, r);
    })?;
    Ok(record)
}

/// Forgets `project_dir`; `true` when it was trusted.
pub fn revoke_project(state_dir: &Path, project_dir: &Path) -> Result<bool, TrustError> {
    let key = project_key(project_dir);
    with_store(state_dir, move |s| s.file.projects.remove(&key).is_some())
}

fn trust_command(project_dir: Option<&Path>) -> String {
    match project_dir {
        Some(p) => {
            format!("`hookhost trust --project-dir {}`", shlex::try_quote(&p.to_string_lossy()).unwrap_or_default())
        }
        None => "`hookhost trust`".to_string(),
    }
}

/// Whether a project or local hook may run: `Ok(pin)` (the recorded content hash, to enforce at
/// run time when the hook has no pin of its own) or `Err(reason)`.
pub fn check_project_hook(
    hook: &Hook,
    project_dir: Option<&Path>,
    store: Result<&TrustStore, &str>,
) -> Result<Option<String>, String> {
    let cmd = trust_command(project_dir);
    let where_ = project_dir.map(|p| p.display().to_string()).unwrap_or_else(|| "this project".into());
    let store =
        store.map_err(|e| format!("project hooks run only once trusted, and the trust store cannot be read ({e})"))?;
    let record = project_dir.and_then(|p| store.project(p)).ok_or_else(|| {
        format!(
            "the project {where_} is not trusted: project hooks run only after you review .hookhost/settings*.json and \
             the scripts they run, then run {cmd}"
        )
    })?;
    let mut same_definition = record.hooks.iter().filter(|t| t.definition == hook.definition_sha256).peekable();
    if same_definition.peek().is_none() {
        return Err(format!("this hook is new or was edited since the project was trusted: review it, then run {cmd}"));
    }
    if let Handler::Command(c) = &hook.handler
        && let PinTarget::CannotPin(why) = command_target(c, project_dir)
    {
        return Err(format!(
            "cannot pin: {why}; project hooks run only when every file they execute can be named before they run"
        ));
    }
    let (content, target) = trust_content(hook, project_dir);
    if same_definition.any(|t| t.content == content) {
        return Ok(content);
    }
    Err(format!(
        "trust revoked: {} changed since the project was trusted (the command line did not): review it, then run {cmd}",
        target.unwrap_or_else(|| "its content".into())
    ))
}

/// Deactivates the project and local hooks among `hooks` (into `inactive`) that the user has not trusted (module
/// documentation, 3), with the reason and the command to trust them; gives trusted ones without
/// a `sha256` the recorded content hash as their pin. No-op when there are no such hooks.
pub fn apply(
    hooks: &mut Vec<Arc<Hook>>,
    inactive: &mut Vec<(Arc<Hook>, String)>,
    project_dir: Option<&Path>,
    state_dir: Option<&Path>,
) {
    if !hooks.iter().any(|h| is_project_scope(h)) {
        return;
    }
    let store = match state_dir {
        Some(d) => TrustStore::load(d).map_err(|e| e.to_string()),
        None => Err(TrustError::NoStateDir.to_string()),
    };
    let store_ref = store.as_ref().map_err(String::as_str);
    let mut keep = Vec::with_capacity(hooks.len());
    for hook in std::mem::take(hooks) {
        if !is_project_scope(&hook) {
            keep.push(hook);
            continue;
        }
        match check_project_hook(&hook, project_dir, store_ref) {
            Ok(Some(content)) if hook.sha256.is_none() => {
                let mut h = (*hook).clone();
                h.sha256 = Some(content);
                keep.push(Arc::new(h));
            }
            Ok(_) => keep.push(hook),
            Err(why) => inactive.push((hook, why)),
        }
    }
    *hooks = keep;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::Shell;

    fn cmd(command: &str, args: Option<&[&str]>) -> CommandHook {
        CommandHook {
            command: command.into(),
            args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
            shell: Shell::Sh,
        }
    }

    #[test]
    fn targets() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join(".hookhost")).unwrap();
        std::fs::write(p.join(".hookhost/guard.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(p.join("check.py"), "print()\n").unwrap();
        let f = |c: CommandHook| command_target(&c, Some(p));
        let guard = PinTarget::File(p.join(".hookhost/guard.sh"));
        assert_eq!(f(cmd("\"$CLAUDE_PROJECT_DIR\"/.hookhost/guard.sh --x", None)), guard);
        assert_eq!(f(cmd("${CLAUDE_PROJECT_DIR}/.hookhost/guard.sh", Some(&["a"]))), guard);
        assert_eq!(f(cmd("bash .hookhost/guard.sh", None)), guard);
        assert_eq!(f(cmd("/usr/bin/python3.12", Some(&["check.py"]))), PinTarget::File(p.join("check.py")));
        assert_eq!(f(cmd("./.hookhost/guard.sh", None)), guard);
        // No file: the command line.
        assert_eq!(f(cmd("echo hi", None)), PinTarget::CommandLine(b"echo hi".to_vec()));
        assert_eq!(f(cmd("/bin/sh", Some(&["-c", "x"]))), PinTarget::CommandLine(b"/bin/sh\0-c\0x\0".to_vec()));
        assert_eq!(f(cmd("python3 -u check.py", None)), PinTarget::File(p.join("check.py")));
        assert_eq!(f(cmd("guard.sh", None)), PinTarget::CommandLine(b"guard.sh".to_vec()));
        assert!(matches!(f(cmd("'unbalanced", None)), PinTarget::CannotPin(_)));
        // Everything the line executes (issue 19.5), system interpreters and runners aside.
        std::fs::write(p.join("b.sh"), "exit 0\n").unwrap();
        let both = PinTarget::Files(vec![p.join(".hookhost/guard.sh"), p.join("b.sh")]);
        assert_eq!(f(cmd("sh .hookhost/guard.sh && sh b.sh", None)), both);
        assert_eq!(f(cmd("sh -e .hookhost/guard.sh", None)), guard);
        assert_eq!(f(cmd("/usr/bin/env sh .hookhost/guard.sh", None)), guard);
        assert_eq!(f(cmd("/usr/bin/env", Some(&["sh", "-e", ".hookhost/guard.sh"]))), guard);
        assert_eq!(
            f(cmd("bash -c '. b.sh; sh .hookhost/guard.sh'", None)),
            PinTarget::Files(vec![p.join("b.sh"), p.join(".hookhost/guard.sh")])
        );
        assert!(matches!(f(cmd("sh \"$SCRIPT\"", None)), PinTarget::CannotPin(_)));
        assert!(matches!(f(cmd("curl -s x | sh", None)), PinTarget::CannotPin(_)));
        // A file that is absent still counts: creating it later changes the pin.
        let absent = f(cmd("sh .hookhost/guard.sh; sh later.sh", None));
        let before = absent.sha256().unwrap();
        std::fs::write(p.join("later.sh"), "curl x\n").unwrap();
        assert_ne!(absent.sha256().unwrap(), before);
        // A directory is not a file.
        assert!(f(cmd(&format!("{}/.hookhost", p.display()), None)).sha256().is_err());
        assert!(is_interpreter("/usr/bin/node22") && is_interpreter("python3") && !is_interpreter("cat"));
    }

    #[test]
    fn verify_and_recheck() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("s.sh");
        std::fs::write(&s, "a").unwrap();
        let good = sha256_hex(b"a");
        let v = verify(PinTarget::File(s.clone()), &good.to_uppercase()).unwrap();
        assert!(recheck(&v).is_none());
        std::fs::write(&s, "b").unwrap();
        assert_eq!(recheck(&v).unwrap().kind, FailureKind::Untrusted);
        let e = verify(PinTarget::File(s.clone()), &good).unwrap_err();
        assert_eq!(e.kind, FailureKind::Untrusted);
        assert!(e.message.contains("does not match its sha256 pin"), "{e}");
        let e = verify(PinTarget::File(d.path().join("gone")), &good).unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
        assert_eq!(sha256_file(&s).unwrap(), sha256_hex(b"b"));
    }

    #[test]
    fn project_trust_records_definitions_and_content() {
        let d = tempfile::tempdir().unwrap();
        let (project, state) = (d.path().join("p"), d.path().join("state"));
        std::fs::create_dir_all(project.join(".hookhost")).unwrap();
        std::fs::write(project.join(".hookhost/g.sh"), "exit 0\n").unwrap();
        let text = r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "$CLAUDE_PROJECT_DIR/.hookhost/g.sh"}]}]}}"#;
        let settings = || {
            crate::settings::resolve(vec![
                crate::settings::file::parse(text, &project.join(".hookhost/settings.json"), Scope::Project).unwrap(),
            ])
        };
        let mut s = settings();
        apply(&mut s.hooks, &mut s.inactive, Some(&project), Some(&state));
        assert!(s.hooks.is_empty());
        assert!(s.inactive[0].1.contains("is not trusted"), "{}", s.inactive[0].1);
        assert!(s.inactive[0].1.contains("hookhost trust --project-dir"), "{}", s.inactive[0].1);

        let all = settings().hooks;
        let rec = trust_project(&state, &project, &all).unwrap();
        assert_eq!(rec.hooks.len(), 1);
        let mut s = settings();
        apply(&mut s.hooks, &mut s.inactive, Some(&project), Some(&state));
        assert_eq!(s.hooks.len(), 1);
        assert_eq!(s.hooks[0].sha256.as_deref(), Some(sha256_hex(b"exit 0\n").as_str()), "trusted content is the pin");

        std::fs::write(project.join(".hookhost/g.sh"), "curl evil\n").unwrap();
        let mut s = settings();
        apply(&mut s.hooks, &mut s.inactive, Some(&project), Some(&state));
        assert!(s.hooks.is_empty());
        assert!(s.inactive[0].1.starts_with("trust revoked"), "{}", s.inactive[0].1);

        assert!(revoke_project(&state, &project).unwrap());
        assert!(!revoke_project(&state, &project).unwrap());
    }
}
