//! The config guard for agents without a ConfigChange event (issue 21, item 4): `hookhost serve`
//! watches the config files of every agent hookhost is installed for, turns each change into
//! Claude Code's `ConfigChange` event, decides it like any event, and writes a blocked change
//! back to the file's last accepted content.
//!
//! Which files ([`plan`], at start, and again for each project the daemon meets later): for
//! every agent but Claude Code (which emits ConfigChange itself) that has hookhost registered in
//! any of its files (managed, user, or the project scope of a project the daemon serves), every
//! file of `crate::agents::files::guarded` at managed, user and project scope, with the same path
//! knowledge and overrides as `hookhost install`. Each file's directory is resolved once, when
//! the file is first guarded (the layout the guard trusts).
//!
//! Promises:
//! - **The first accepted content** of a user or project file is what is there when the guard
//!   starts, or when the daemon first meets its project (absent counts: creating it is a
//!   change); after that, only a change no hook
//!   blocked. It is kept in the daemon's memory, and mirrored in the rollback store
//!   (`crate::rollback::settings`) that writes it back; the store is the user's (so the agent's)
//!   to write, and is rewritten from memory before every revert.
//! - **Every change is judged**: a write, a rename over the file (an editor's atomic save), a
//!   deletion, a creation, a burst of writes (each state the guard sees that differs from the
//!   accepted one; a write that lands while the hooks decide is a change of its own). The event
//!   is `crate::event::config_change` (`source`: `policy_settings`, `user_settings` or
//!   `project_settings`; `file_path`) with the `agent` object the adapters add (`name`,
//!   `version`: null, `payload`: null) and a `hookhost` object (`guard`: `"agent"`, `change`,
//!   `scope`, both sha256s, the exact candidate `new_content` up to 1 MiB). It is decided by
//!   the host on the live revision of the file's project ([`Host`] `dispatch_for`), audited
//!   there like any event.
//! - **Blocked** (the answer blocks: exit 2, `decision: "block"` or `continue: false`, so also
//!   a host fault where ConfigChange fails closed): the file is written back (or removed, or
//!   re-created) to its last accepted content through the rollback store and `dirfd` (never
//!   through a symbolic link; atomically). A symbolic link, FIFO or other non-regular entry put
//!   at a guarded path, or a directory on its path replaced by a link, cannot be judged by its
//!   content (what it points to can change unseen): it is reverted whatever the hooks say (the
//!   link itself is removed, never followed). The guard's own write leaves the file at the
//!   accepted content, which is not a change: no loop.
//! - **Managed files are never reverted** (they are the admin's): their changes are reported
//!   (`policy_settings`) and audited, never written.
//! - Every change gets one `agent_config_guard` audit record: agent, file, scope, change,
//!   decision, reason, whether it was reverted and how.
//!
//! Does not: follow a link that was there when a file was first guarded (such a file is reported
//! as unguarded), or guard an agent registered only after the daemon started (until a project
//! that registers it is met, or the daemon restarts).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::agents::Agent;
use crate::agents::files::{self, InstallScope};
use crate::host::{Host, Target};
use crate::rollback::dirfd::{self, Dir, DirError};
use crate::rollback::{RevertAction, RollbackError, SettingsSnapshots};

/// The largest config file judged by content (a larger one is a change that cannot be judged).
const MAX_BYTES: u64 = crate::rollback::DEFAULT_MAX_FILE_BYTES;
/// The largest candidate whose content is put in the event.
const MAX_CONTENT_IN_EVENT: usize = crate::live::MAX_CONTENT_IN_EVENT;
/// How often every file is looked at even without a notification (a missed or unarmed watch).
const POLL: Duration = Duration::from_secs(1);
/// How long a burst of writes may run before the guard looks.
const DEBOUNCE: Duration = Duration::from_millis(5);
/// A changed file that is empty or does not parse as its format (an editor's truncate-then-write
/// caught in between, on a loaded machine) is looked at again this often, for at most
/// `SETTLE_MAX`, before it is judged: judged half-written, it would be blocked and written back
/// over the user's real change. What still does not parse after that is judged as it is. The
/// price: content hookhost cannot parse (which an agent reading JSON with comments might) stays
/// in place up to `SETTLE_MAX` longer before it is judged and, if blocked, written back: kept
/// short, well under the `POLL` a missed notification already costs.
const SETTLE: Duration = Duration::from_millis(10);
const SETTLE_MAX: Duration = Duration::from_millis(200);

/// One file the guard watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedFile {
    pub agent: Agent,
    pub scope: InstallScope,
    pub path: PathBuf,
    /// The project whose live settings decide its changes (user and managed files: the
    /// daemon's first project, if any).
    pub project: Option<PathBuf>,
}

/// What is at a guarded path, read without following a link.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Absent,
    Content(Vec<u8>),
    /// Something that cannot be judged by its content: a symbolic link (the file, or a
    /// directory on its path), not a regular file, too large, unreadable.
    Odd(String),
}

impl Seen {
    fn sha256(&self) -> Option<String> {
        match self {
            Seen::Content(b) => Some(crate::rollback::sha256_hex(b)),
            _ => None,
        }
    }
}

/// `path` with its directory resolved (symbolic links of the layout as it is now; the nearest
/// existing ancestor when the directory does not exist yet).
fn resolved(path: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return path.to_path_buf() };
    let mut tail = Vec::new();
    let mut cur = dir.to_path_buf();
    loop {
        if let Ok(real) = std::fs::canonicalize(&cur) {
            let mut p = real;
            p.extend(tail.iter().rev());
            return p.join(name);
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(n)) => {
                tail.push(n.to_os_string());
                cur = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// The files to guard: see the module doc. `projects`: the projects the daemon serves at start.
pub fn plan(projects: &[PathBuf]) -> Vec<GuardedFile> {
    let anchor = projects.first().cloned();
    let mut out: Vec<GuardedFile> = Vec::new();
    for agent in Agent::ALL {
        if agent == Agent::Claude {
            continue; // Claude Code tells its hooks itself (ConfigChange).
        }
        let mut mine = Vec::new();
        for scope in [InstallScope::Managed, InstallScope::User] {
            for path in files::guarded(agent, scope, Path::new("/")) {
                mine.push(GuardedFile { agent, scope, path, project: anchor.clone() });
            }
        }
        for p in projects {
            for path in files::guarded(agent, InstallScope::Project, p) {
                mine.push(GuardedFile { agent, scope: InstallScope::Project, path, project: Some(p.clone()) });
            }
        }
        let installed = mine.iter().any(|f| {
            crate::readfile::read_optional(
                &f.path,
                &crate::readfile::ReadOptions::new(crate::readfile::Links::Follow, MAX_BYTES),
            )
            .ok()
            .flatten()
            .is_some_and(|b| files::registered(&String::from_utf8_lossy(&b)))
        });
        if installed {
            out.extend(mine);
        }
    }
    let mut seen = BTreeSet::new();
    out.retain_mut(|f| {
        f.path = resolved(&f.path);
        seen.insert(f.path.clone())
    });
    out
}

/// Content that looks caught mid-write: empty, or not parsing as the file's format (`.json`,
/// `.toml`). Only delays the judgement (`SETTLE_MAX`); never decides it.
fn half_written(path: &Path, seen: &Seen) -> bool {
    let Seen::Content(b) = seen else { return false };
    if b.is_empty() {
        return true;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_slice::<serde::de::IgnoredAny>(b).is_err(),
        Some("toml") => std::str::from_utf8(b).map_or(true, |s| s.parse::<toml_edit::DocumentMut>().is_err()),
        _ => false,
    }
}

fn observe(path: &Path) -> Seen {
    let Some((dir, name)) = dirfd::split(path) else { return Seen::Odd("not an absolute path".into()) };
    let d = match Dir::open(dir) {
        Ok(d) => d,
        Err(DirError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Seen::Absent,
        Err(DirError::Symlink) => {
            return Seen::Odd(format!("a directory on its path ({}) is a symbolic link", dir.display()));
        }
        Err(e) => return Seen::Odd(format!("its directory cannot be opened: {e}")),
    };
    match d.read(name, MAX_BYTES) {
        Ok(None) => Seen::Absent,
        Ok(Some(e)) => Seen::Content(e.bytes),
        Err(DirError::Symlink) => Seen::Odd("it is a symbolic link".into()),
        Err(e) => Seen::Odd(format!("it cannot be judged: {e}")),
    }
}

/// Whether hookhost's answer blocks the change (the rendered form of `Verdict::rejects` for a
/// ConfigChange: exit 2 for a block or a closed host fault, `continue: false` for a stop).
fn blocks(r: &crate::host::Response) -> bool {
    if r.exit_code == 2 {
        return true;
    }
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap_or(Value::Null);
    v.get("decision").and_then(Value::as_str) == Some("block")
        || v.get("continue").and_then(Value::as_bool) == Some(false)
}

/// What one change led to.
#[derive(Debug)]
struct Handled {
    decision: &'static str,
    reason: Option<String>,
    reverted: bool,
    action: Option<String>,
    error: Option<String>,
}

/// The guard of one daemon.
pub struct Guard {
    host: Host,
    files: Vec<GuardedFile>,
    /// The accepted state of each guarded file (the last seen state for managed files).
    accepted: BTreeMap<PathBuf, Seen>,
    snapshots: Option<SettingsSnapshots>,
    /// A state whose write-back failed (audited once): not judged again until it changes.
    failed: BTreeMap<PathBuf, Seen>,
    session: String,
    /// The projects the host meets after start.
    new_projects: Option<tokio::sync::mpsc::UnboundedReceiver<PathBuf>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Guard {
    /// Plans the files (see [`plan`]) and takes what is there now as accepted; `None` when no
    /// agent has hookhost installed. Call before serving: a change made after this returns is
    /// judged.
    pub async fn start(host: Host, projects: Vec<PathBuf>) -> Option<Guard> {
        let state = host.guard_state_dir();
        let new_projects = host.guard_new_projects();
        let mut g = Guard {
            host,
            files: Vec::new(),
            accepted: BTreeMap::new(),
            snapshots: state.as_deref().map(SettingsSnapshots::new),
            failed: BTreeMap::new(),
            session: format!("hookhost-guard-{}", std::process::id()),
            new_projects,
        };
        g.adopt(projects).await;
        // Nothing to guard now and no project to come: no guard.
        (!g.files.is_empty() || g.new_projects.is_some()).then_some(g)
    }

    /// Guards the files [`plan`] finds for `projects` that are not guarded yet, taking what is
    /// there now as accepted.
    async fn adopt(&mut self, projects: Vec<PathBuf>) {
        let baseline = tokio::task::spawn_blocking(move || {
            let files = plan(&projects);
            let seen: Vec<Seen> = files.iter().map(|f| observe(&f.path)).collect();
            (files, seen)
        })
        .await;
        let Ok((files, seen)) = baseline else { return };
        for (f, s) in files.into_iter().zip(seen) {
            if self.accepted.contains_key(&f.path) || self.files.iter().any(|g| g.path == f.path) {
                continue;
            }
            if let (Seen::Odd(why), false) = (&s, f.scope == InstallScope::Managed) {
                let msg = format!("not guarded: {why} (the guard judges regular files only)");
                tracing::warn!(agent = f.agent.name(), file = %f.path.display(), "{msg}");
                self.audit(
                    &f,
                    "unguarded",
                    &Handled { decision: "unguarded", reason: Some(msg), reverted: false, action: None, error: None },
                    None,
                    None,
                )
                .await;
                continue;
            }
            if f.scope != InstallScope::Managed {
                self.store(&f.path, &s);
            }
            tracing::info!(agent = f.agent.name(), scope = f.scope.name(), file = %f.path.display(), "agent config guarded");
            self.accepted.insert(f.path.clone(), s);
            self.files.push(f);
        }
    }

    /// The files guarded.
    pub fn files(&self) -> &[GuardedFile] {
        &self.files
    }

    /// Watches until `stop` changes.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let wake = Arc::new(tokio::sync::Notify::new());
        // Only the guarded files and their directories wake the guard (a home or project
        // directory is written all the time); the poll catches anything else. Recomputed when a
        // project met later adds files.
        let relevant: Arc<std::sync::Mutex<BTreeSet<PathBuf>>> = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
        let (w, r) = (wake.clone(), relevant.clone());
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                let set = r.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let hit = ev.paths.iter().any(|p| set.contains(p));
                if hit && !matches!(ev.kind, notify::EventKind::Access(_)) {
                    w.notify_one();
                }
            }
            Err(_) => w.notify_one(),
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "agent config guard: cannot watch; looking every second instead");
                None
            }
        };
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut known = usize::MAX;
        // Each directory watched by its identity: one renamed away and made again (or
        // re-created) is watched again.
        let mut armed: BTreeMap<PathBuf, (u64, u64)> = BTreeMap::new();
        loop {
            if known != self.files.len() {
                known = self.files.len();
                dirs = self
                    .files
                    .iter()
                    .filter_map(|f| f.path.parent())
                    .flat_map(|d| [Some(d.to_path_buf()), d.parent().map(Path::to_path_buf)])
                    .flatten()
                    .collect();
                *relevant.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = self
                    .files
                    .iter()
                    .flat_map(|f| [Some(f.path.clone()), f.path.parent().map(Path::to_path_buf)])
                    .flatten()
                    .collect();
            }
            if let Some(w) = watcher.as_mut() {
                use notify::Watcher as _;
                use std::os::unix::fs::MetadataExt;
                for d in &dirs {
                    let now = std::fs::symlink_metadata(d).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()));
                    if armed.get(d).copied() == now {
                        continue;
                    }
                    if armed.remove(d).is_some() {
                        let _ = w.unwatch(d);
                    }
                    if let Some(id) = now
                        && w.watch(d, notify::RecursiveMode::NonRecursive).is_ok()
                    {
                        armed.insert(d.clone(), id);
                    }
                }
            }
            self.scan().await;
            let project = async {
                match self.new_projects.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => return,
                p = project => match p {
                    Some(p) => self.adopt(vec![p]).await,
                    None => self.new_projects = None,
                },
                _ = wake.notified() => tokio::time::sleep(DEBOUNCE).await,
                _ = tokio::time::sleep(POLL) => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Looks at every file; judges each that differs from its accepted state.
    async fn scan(&mut self) {
        let paths: Vec<PathBuf> = self.files.iter().map(|f| f.path.clone()).collect();
        let Ok(seen) = tokio::task::spawn_blocking(move || paths.iter().map(|p| observe(p)).collect::<Vec<_>>()).await
        else {
            return;
        };
        let mut changed: Vec<(GuardedFile, Seen)> = self
            .files
            .iter()
            .zip(seen)
            .filter(|(f, s)| self.accepted.get(&f.path) != Some(s) && self.failed.get(&f.path) != Some(s))
            .map(|(f, s)| (f.clone(), s))
            .collect();
        let start = std::time::Instant::now();
        while start.elapsed() < SETTLE_MAX && changed.iter().any(|(f, s)| half_written(&f.path, s)) {
            tokio::time::sleep(SETTLE).await;
            let paths: Vec<PathBuf> = changed.iter().map(|(f, _)| f.path.clone()).collect();
            let Ok(again) =
                tokio::task::spawn_blocking(move || paths.iter().map(|p| observe(p)).collect::<Vec<_>>()).await
            else {
                return;
            };
            for ((_, s), now) in changed.iter_mut().zip(again) {
                *s = now;
            }
        }
        for (f, s) in changed {
            if self.accepted.get(&f.path) != Some(&s) && self.failed.get(&f.path) != Some(&s) {
                self.change(&f, s).await;
            }
        }
    }

    fn event(&self, f: &GuardedFile, change: &str, prev: Option<&Seen>, seen: &Seen) -> Option<Vec<u8>> {
        let mut ext = json!({
            "guard": "agent",
            "change": change,
            "scope": f.scope.name(),
            "previous_sha256": prev.and_then(Seen::sha256),
            "new_sha256": seen.sha256(),
        });
        if let Some(ext) = ext.as_object_mut() {
            match seen {
                Seen::Content(b) if b.len() <= MAX_CONTENT_IN_EVENT => {
                    ext.insert("new_content".into(), String::from_utf8_lossy(b).into_owned().into());
                }
                Seen::Content(_) => {
                    ext.insert(
                        "new_content_omitted".into(),
                        format!("larger than {MAX_CONTENT_IN_EVENT} bytes").into(),
                    );
                }
                Seen::Odd(why) => {
                    ext.insert("detail".into(), why.clone().into());
                }
                Seen::Absent => {}
            }
        }
        let e = crate::event::config_change(&self.session, f.project.as_deref(), f.scope.config_source(), &f.path, ext)
            .ok()?;
        let mut fields = e.fields().clone();
        fields.insert("agent".into(), json!({"name": f.agent.name(), "version": null, "payload": null}));
        serde_json::to_vec(&Value::Object(fields)).ok()
    }

    /// One change of `f` to `seen`: decided, then accepted or written back, and audited.
    async fn change(&mut self, f: &GuardedFile, seen: Seen) {
        let prev = self.accepted.get(&f.path).cloned();
        let change = match (&prev, &seen) {
            (_, Seen::Odd(_)) => "replaced",
            (_, Seen::Absent) => "deleted",
            (Some(Seen::Absent) | None, _) => "created",
            _ => "modified",
        };
        let target = Target { project_dir: f.project.clone(), settings: None, foreign: false };
        let response = match self.event(f, change, prev.as_ref(), &seen) {
            Some(ev) => self.host.dispatch_for(&ev, &target).await,
            None => crate::host::Response {
                stdout: String::new(),
                stderr: "hookhost: cannot build the ConfigChange event".into(),
                exit_code: 2,
            },
        };
        let blocked = blocks(&response);
        let reason = (!response.stderr.trim().is_empty()).then(|| response.stderr.trim().to_string());
        let handled = if f.scope == InstallScope::Managed {
            self.accepted.insert(f.path.clone(), seen.clone());
            Handled {
                decision: if blocked { "policy_blocked_ignored" } else { "policy" },
                reason: Some("a managed file is the admin's: its changes are reported, never reverted".into()),
                reverted: false,
                action: None,
                error: None,
            }
        } else if blocked || matches!(seen, Seen::Odd(_)) {
            let decision = if blocked { "blocked" } else { "refused" };
            let reason = if blocked {
                reason
            } else if let Seen::Odd(why) = &seen {
                Some(format!("{why}: a guarded config file is judged by its content, so this is written back"))
            } else {
                None
            };
            let accepted = prev.clone().unwrap_or(Seen::Absent);
            let path = f.path.clone();
            let snapshots = self.snapshots.clone();
            let restored = tokio::task::spawn_blocking(move || restore(snapshots.as_ref(), &path, &accepted)).await;
            match restored {
                Ok(Ok(a)) => Handled {
                    decision,
                    reason,
                    reverted: matches!(a, RevertAction::Restored | RevertAction::Removed),
                    action: Some(a.as_str().into()),
                    error: None,
                },
                Ok(Err(e)) => {
                    Handled { decision, reason, reverted: false, action: Some("error".into()), error: Some(e) }
                }
                Err(e) => Handled {
                    decision,
                    reason,
                    reverted: false,
                    action: Some("error".into()),
                    error: Some(e.to_string()),
                },
            }
        } else {
            self.store(&f.path, &seen);
            self.accepted.insert(f.path.clone(), seen.clone());
            Handled { decision: "allowed", reason: None, reverted: false, action: None, error: None }
        };
        if handled.error.is_some() {
            self.failed.insert(f.path.clone(), seen.clone());
        } else {
            self.failed.remove(&f.path);
        }
        match &handled.error {
            Some(e) => {
                tracing::error!(agent = f.agent.name(), file = %f.path.display(), error = %e, "agent config guard: a blocked change could not be written back")
            }
            None => {
                tracing::info!(agent = f.agent.name(), file = %f.path.display(), change, decision = handled.decision, reverted = handled.reverted, "agent config change")
            }
        }
        self.audit(f, change, &handled, prev.as_ref().and_then(Seen::sha256), seen.sha256()).await;
    }

    /// Records `seen` as the last accepted content in the rollback store.
    fn store(&self, path: &Path, seen: &Seen) {
        let Some(s) = &self.snapshots else { return };
        let r = match seen {
            Seen::Content(b) => s.accept(path, b),
            Seen::Absent => s.accept_absent(path),
            Seen::Odd(_) => return,
        };
        if let Err(e) = r {
            tracing::warn!(file = %path.display(), error = %e, "agent config guard: cannot record the accepted content");
        }
    }

    async fn audit(
        &self,
        f: &GuardedFile,
        change: &str,
        h: &Handled,
        previous_sha256: Option<String>,
        new_sha256: Option<String>,
    ) {
        let target = Target { project_dir: f.project.clone(), settings: None, foreign: false };
        let Some(log) = self.host.guard_audit_log(&target).await else { return };
        let mut m = Map::new();
        m.insert("time".into(), crate::clock::now_rfc3339().into());
        m.insert("kind".into(), "agent_config_guard".into());
        m.insert("host".into(), format!("hookhost {}", env!("CARGO_PKG_VERSION")).into());
        m.insert("agent".into(), json!({"name": f.agent.name()}));
        m.insert("scope".into(), f.scope.name().into());
        m.insert("source".into(), f.scope.config_source().into());
        m.insert("file_path".into(), f.path.to_string_lossy().into_owned().into());
        m.insert("change".into(), change.into());
        m.insert("decision".into(), h.decision.into());
        m.insert("reverted".into(), h.reverted.into());
        if let Some(r) = &h.reason {
            m.insert("reason".into(), r.clone().into());
        }
        if let Some(a) = &h.action {
            m.insert("action".into(), a.clone().into());
        }
        if let Some(e) = &h.error {
            m.insert("error".into(), e.clone().into());
        }
        m.insert("previous_sha256".into(), previous_sha256.map_or(Value::Null, Value::from));
        m.insert("new_sha256".into(), new_sha256.map_or(Value::Null, Value::from));
        if let Err(e) = tokio::task::spawn_blocking(move || log.append(m, true).map(|_| ())).await.unwrap_or(Ok(())) {
            tracing::warn!(error = %e, "audit: cannot record an agent config change");
        }
    }
}

/// Writes `accepted` back at `path` through the rollback store: the store is first made to hold
/// exactly `accepted` (it is the user's to write; the daemon's memory is the authority), a
/// non-regular entry at `path` (a link, a FIFO) is removed first, never followed, and the
/// revert refuses to write through any link.
fn restore(snapshots: Option<&SettingsSnapshots>, path: &Path, accepted: &Seen) -> Result<RevertAction, String> {
    let s = snapshots.ok_or("hookhost has no state directory to restore from")?;
    let Some((dir, name)) = dirfd::split(path) else { return Err("not an absolute path".into()) };
    let mut last = String::new();
    for _ in 0..4 {
        // Never record (or write) through a link put where the file was.
        let dir_id = match Dir::open(dir) {
            Ok(d) => {
                let aside = d
                    .clear_non_regular(name)
                    .map_err(|e| format!("cannot remove what was put at {}: {e}", path.display()))?;
                if let Some(a) = aside {
                    tracing::warn!(file = %path.display(), aside = %a.display(), "agent config guard: a directory put at a config file's path was moved aside");
                }
                d.id().ok()
            }
            Err(DirError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                if matches!(accepted, Seen::Absent) {
                    return Ok(RevertAction::Unchanged);
                }
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot re-create {}: {e}", dir.display()))?;
                continue;
            }
            // The config directory itself swapped for a link (`~/.gemini` → elsewhere): the
            // link is removed (what it points to is left alone) and the directory made again.
            Err(DirError::Symlink) => {
                let Some((up, dname)) = dirfd::split(dir) else { return Err("not an absolute path".into()) };
                let parent = Dir::open(up).map_err(|e| format!("refused: {}: {e}", up.display()))?;
                parent.clear_non_regular(dname).map_err(|e| format!("refused: {}: {e}", dir.display()))?;
                match std::fs::create_dir(dir) {
                    Ok(()) => {
                        let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("cannot re-create {}: {e}", dir.display())),
                }
                last = format!("{} was a symbolic link", dir.display());
                continue;
            }
            Err(e) => return Err(format!("refused: {}: {e}", dir.display())),
        };
        let want = match accepted {
            Seen::Content(b) => Some(crate::rollback::sha256_hex(b)),
            Seen::Absent => None,
            Seen::Odd(_) => return Err("no accepted content".into()),
        };
        // The record must hold exactly the accepted state and name this very path (its
        // directory has no link; the file is not one); else it is written again from memory.
        let good = |rec: &crate::rollback::settings::Accepted| {
            rec.existed == want.is_some()
                && rec.sha256 == want
                && rec.real_path.as_deref() == Some(path)
                && (dir_id.is_none() || rec.dir_id == dir_id)
        };
        if !s.last_accepted(path).ok().flatten().is_some_and(|r| good(&r)) {
            let stored = match accepted {
                Seen::Content(b) => s.accept(path, b),
                _ => s.accept_absent(path),
            };
            stored.map_err(|e| e.to_string())?;
            if !s.last_accepted(path).map_err(|e| e.to_string())?.is_some_and(|r| good(&r)) {
                last = format!("{} resolves elsewhere now", path.display());
                continue;
            }
        }
        match s.revert(path) {
            Ok(r) => return Ok(r.action),
            Err(RollbackError::Refused { why, .. }) => last = why,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("refused: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_written_is_empty_or_unparseable_in_the_files_format() {
        let c = |b: &str| Seen::Content(b.as_bytes().to_vec());
        let json = Path::new("/h/.gemini/settings.json");
        let toml = Path::new("/h/.codex/config.toml");
        assert!(half_written(json, &c("")));
        assert!(half_written(json, &c("{\"hooks\": {\"BeforeTool\": [")));
        assert!(!half_written(json, &c("{\"hooks\": {}}")));
        assert!(half_written(toml, &c("")));
        assert!(half_written(toml, &c("[hooks\nx = ")));
        assert!(!half_written(toml, &c("model = \"o4\"\n")));
        assert!(!half_written(Path::new("/h/x.conf"), &c("{")), "unknown formats are judged at once");
        assert!(!half_written(json, &Seen::Absent) && !half_written(json, &Seen::Odd("link".into())));
    }
}
