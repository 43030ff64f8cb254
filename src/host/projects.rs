//! The live revisions a long-running host keeps (`watch`: the daemon, or an embedder that asks
//! for it): one per project of the host's own uid (project dir, `--settings` file; at most
//! `max_projects`), plus one managed-only revision for foreign peers, each with its own watcher;
//! and bringing a revision whose server-managed part went stale (an approval decision, an
//! expiry) up to date before an event is decided on it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::exec::sandbox::SandboxPool;
use crate::exec::wasm::WasmRuntime;
use crate::live::{Live, LiveHandle, LiveOptions, Revision};
use crate::settings::Locations;

/// A live revision's key: a project of the host's own uid (project dir, `--settings` file),
/// or the managed-only revision every foreign peer gets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Project(Option<PathBuf>, Option<PathBuf>),
    ManagedOnly,
}

/// The live revisions of one host.
pub(crate) struct Projects {
    max_projects: usize,
    /// One cell per project: the map's lock is held only to find or add the cell, so a
    /// project's first load (which may run ConfigChange hooks) never holds up the others.
    cells: std::sync::Mutex<HashMap<Key, Arc<tokio::sync::OnceCell<LiveHandle>>>>,
    session_id: String,
    /// Stops every watcher.
    stop_tx: watch::Sender<bool>,
    /// New server-managed payloads (the poller's), and the wake-up to reassemble the server part.
    server_wake: watch::Sender<Option<PathBuf>>,
    /// Told the directory of each project met for the first time (the agent config guard's).
    new_projects: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<PathBuf>>>,
}

impl std::fmt::Debug for Projects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projects").field("max_projects", &self.max_projects).finish_non_exhaustive()
    }
}

impl Projects {
    pub fn new(max_projects: usize, session_id: String) -> Projects {
        let (stop_tx, _) = watch::channel(false);
        let (server_wake, _) = watch::channel(None);
        Projects {
            max_projects,
            cells: std::sync::Mutex::new(HashMap::new()),
            session_id,
            stop_tx,
            server_wake,
            new_projects: std::sync::Mutex::new(None),
        }
    }

    /// From now on, the directory of every project met for the first time is sent here (one
    /// listener: a later call replaces the earlier one).
    pub fn watch_new_projects(&self) -> tokio::sync::mpsc::UnboundedReceiver<PathBuf> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.new_projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
        rx
    }

    /// The sender a server-managed settings poller reports new payloads on.
    pub fn server_sender(&self) -> watch::Sender<Option<PathBuf>> {
        self.server_wake.clone()
    }

    /// Stops every watcher (in-flight events finish on the revisions they hold).
    pub fn stop(&self) {
        let _ = self.stop_tx.send(true);
    }

    /// The settings revisions in force, one per loaded project (for the metrics).
    pub fn revisions(&self) -> Vec<String> {
        self.lock().values().filter_map(|c| c.get()).map(|h| h.current().settings().revision.clone()).collect()
    }

    /// How many projects are served (the managed-only revision not counted).
    pub fn count(&self) -> usize {
        self.lock().keys().filter(|k| **k != Key::ManagedOnly).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<tokio::sync::OnceCell<LiveHandle>>>> {
        self.cells.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live revision of a project of the host's own uid at `loc`.
    pub async fn project(
        &self,
        loc: Locations,
        wasm: Option<WasmRuntime>,
        pool: Option<SandboxPool>,
    ) -> Result<LiveHandle, String> {
        let key = Key::Project(loc.project_dir.clone(), loc.cli_file.clone());
        self.live(key, loc, wasm, pool).await
    }

    /// The managed-only revision foreign peers get: server-managed and endpoint-managed scopes,
    /// no user, project, local or command-line file, no rollback.
    pub async fn managed_only(
        &self,
        mut loc: Locations,
        wasm: Option<WasmRuntime>,
        pool: Option<SandboxPool>,
    ) -> Result<LiveHandle, String> {
        loc.user_file = None;
        loc.project_dir = None;
        loc.cli_file = None;
        self.live(Key::ManagedOnly, loc, wasm, pool).await
    }

    async fn live(
        &self,
        key: Key,
        loc: Locations,
        wasm: Option<WasmRuntime>,
        pool: Option<SandboxPool>,
    ) -> Result<LiveHandle, String> {
        let managed_only = key == Key::ManagedOnly;
        let cell = {
            let mut cells = self.lock();
            if let Some(c) = cells.get(&key) {
                c.clone()
            } else {
                let served = cells.keys().filter(|k| **k != Key::ManagedOnly).count();
                if !managed_only && served >= self.max_projects {
                    return Err(format!(
                        "this daemon already serves {served} projects (its limit); run another daemon or dispatch in-process"
                    ));
                }
                let c = Arc::new(tokio::sync::OnceCell::new());
                if let Key::Project(Some(dir), _) = &key
                    && let Some(tx) =
                        self.new_projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
                {
                    let _ = tx.send(dir.clone());
                }
                cells.insert(key, c.clone());
                c
            }
        };
        let handle = cell
            .get_or_init(|| async {
                let options = LiveOptions {
                    wasm,
                    sandbox_pool: pool.as_ref().map(SandboxPool::downgrade),
                    session_id: Some(self.session_id.clone()),
                    no_persist: false,
                    server_changes: Some(self.server_wake.subscribe()),
                    // Rollback reads and writes the files an event names, with the host's rights.
                    no_rollback: managed_only,
                };
                let (live, reports) = Live::open(loc, options).await;
                for r in &reports {
                    tracing::info!(file = %r.path.display(), result = r.result.label(), "settings changed while no daemon watched");
                }
                let handle = live.handle();
                live.spawn_watch(self.stop_tx.subscribe());
                handle
            })
            .await;
        Ok(handle.clone())
    }

    /// The revision to decide an event on: the current one, or, when its server-managed part no
    /// longer matches the approval records or the clock (`ServerState::stale`: `hookhost
    /// reject` ran, or the payload expired), the reassembled one: every project's live settings
    /// are woken to reassemble it, and this waits, bounded, until this one did, so the event is
    /// decided as one-shot dispatch would decide it. `Err`: it did not happen in time.
    pub async fn current(&self, live: &LiveHandle) -> Result<Arc<Revision>, String> {
        const WAIT: Duration = Duration::from_secs(10);
        let rev = live.current();
        if !rev.settings().server.as_ref().is_some_and(|s| s.stale()) {
            return Ok(rev);
        }
        let path = rev.settings().server.as_ref().and_then(|s| s.payload_path.clone());
        self.server_wake.send_replace(Some(path.unwrap_or_default()));
        let start = std::time::Instant::now();
        loop {
            let rev = live.current();
            if !rev.settings().server.as_ref().is_some_and(|s| s.stale()) {
                return Ok(rev);
            }
            if start.elapsed() > WAIT {
                return Err(format!(
                    "the server-managed settings changed (an approval decision or an expiry) and were not reassembled within {}s",
                    WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
