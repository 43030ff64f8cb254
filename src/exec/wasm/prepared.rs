//! Prepared instances: in a long-lived process (the daemon), the next event's fresh instance of
//! a hook is made before that event arrives (after the current event's call), and a used
//! instance is dropped after its answer went out, both on one background thread. The event
//! path then pays for the call alone.
//!
//! Owns: at most one spare instance per (component, engine, limits) and the thread that makes
//! and drops them.
//!
//! Promises:
//! - A spare is exactly what the event path would have made: a new `Store` and instance, set up
//!   from the same `WasmRun` limits (memory, fuel, deadline) by the same code
//!   (`LoadedComponent::instantiate`), that has seen no event. It is taken out of the map by
//!   one event and never handed out again; a used instance is only ever dropped. Isolation
//!   between events is the fresh-instance rule, unchanged.
//! - A spare's fuel is what a fresh instance has left after instantiation (the same store, the
//!   same start-up code), and the call's deadline is set when the call starts, as without
//!   spares.
//! - Failures stay on the event path: an instantiation that fails (a trap, a limit, the
//!   deadline, a panic) leaves no spare, so the event instantiates itself and reports it; such
//!   a key is not prepared again for [`RETRY_FAILED`]. If the thread is gone, no event waits
//!   for it.
//! - Never slower than instantiating on the event path by more than a lock: an event whose
//!   spare is still being made waits for it only because it was begun earlier (and only the
//!   first such event waits); otherwise the event instantiates for itself.
//! - Bounded: [`MAX_SPARES`] spares at most (then the oldest goes); a spare of a file's
//!   earlier version is dropped when one of its new version is made, and one untaken for
//!   `WasmOptions::prepared_idle` ([`SPARE_IDLE`] by default) is dropped; at most
//!   [`MAX_QUEUED`] events wait for the thread (beyond, an event drops its own instance and
//!   nothing is made for it); when the runtime goes, the thread makes nothing more, drops what
//!   is queued, and ends.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{LoadedComponent, WasmInstance, WasmRun, lock};

/// At most this many spares are kept (one per distinct hook component and limits); beyond, the
/// oldest goes.
const MAX_SPARES: usize = 64;
/// At most this many events wait for the thread: beyond, an event drops its instance itself and
/// no spare is made for it (the thread is behind; its queue holds used instances' memory).
const MAX_QUEUED: usize = 64;
/// A key whose instantiation failed off the event path is tried again after this long.
const RETRY_FAILED: Duration = Duration::from_secs(60);
/// A spare no event took for this long is dropped (its memory returned); the hook's next event
/// instantiates for itself. (`WasmOptions::prepared_idle`.)
pub const SPARE_IDLE: Duration = Duration::from_secs(600);

/// What makes two runs' fresh instances interchangeable: the same component (by content) in
/// the same engine, with the same limits. The hook's label is not part of it (it is set when
/// the spare is taken).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sha256: String,
    fueled_engine: bool,
    timeout: Duration,
    memory_mb: Option<u64>,
    fuel: Option<u64>,
}

impl Key {
    fn of(loaded: &LoadedComponent, run: &WasmRun) -> Key {
        Key {
            sha256: loaded.sha256.clone(),
            fueled_engine: loaded.fuel,
            timeout: run.timeout,
            memory_mb: run.memory_mb,
            fuel: run.fuel,
        }
    }
}

/// One event done: the run whose next instance to make, and the instance the event used
/// (dropped once the next one is made).
struct Job {
    loaded: LoadedComponent,
    run: WasmRun,
    used: Box<WasmInstance>,
}

/// A spare, and when it was made.
struct Spare {
    instance: WasmInstance,
    made: Instant,
}

#[derive(Default)]
struct Shelf {
    spares: HashMap<Key, Spare>,
    /// Keys whose spare is being made, and those an event is waiting for.
    making: HashSet<Key>,
    awaited: HashSet<Key>,
    /// Keys whose instantiation failed off the event path, and when: not tried again there for
    /// [`RETRY_FAILED`].
    failed: HashMap<Key, Instant>,
    /// Bumped by `clear`: a spare begun before it is not kept.
    generation: u64,
}

/// The shelf and the signal that a spare was finished.
#[derive(Default)]
struct Shared {
    shelf: Mutex<Shelf>,
    finished: Condvar,
    /// Set when the runtime goes: the thread makes nothing more, it only drops.
    closing: AtomicBool,
    /// Set when the thread ends (however it ends): no event waits for it any more.
    gone: AtomicBool,
}

/// The spares and the channel to the thread that makes them.
pub(super) struct Prepared {
    shared: Arc<Shared>,
    jobs: SyncSender<Job>,
    /// Spares handed to events so far.
    used: AtomicU64,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // The queued jobs are still delivered: the thread drops their instances and stops.
        self.shared.closing.store(true, Ordering::SeqCst);
    }
}

impl Prepared {
    /// Starts the thread (`hookhost-wasm-prep`), which drops spares untaken for `idle`; it ends
    /// when this is dropped.
    pub(super) fn start(idle: Duration) -> std::io::Result<Prepared> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = sync_channel(MAX_QUEUED);
        let s = shared.clone();
        std::thread::Builder::new().name("hookhost-wasm-prep".into()).spawn(move || work(&s, &rx, idle))?;
        Ok(Prepared { shared, jobs: tx, used: AtomicU64::new(0) })
    }

    /// The spare for `hook`'s limits (taken: no one else gets it). When that spare is being
    /// made, the first event to ask waits for it, at most `wait`: it was begun before this
    /// event, so it is ready sooner than an instance this event would begin now. The caller sets
    /// the spare's label and what is left of the deadline.
    pub(super) fn take(&self, loaded: &LoadedComponent, hook: &WasmRun, wait: Duration) -> Option<WasmInstance> {
        let key = Key::of(loaded, hook);
        let mut shelf = lock(&self.shared.shelf);
        if !shelf.spares.contains_key(&key) && shelf.making.contains(&key) && shelf.awaited.insert(key.clone()) {
            let until = Instant::now() + wait;
            while shelf.making.contains(&key) && !self.shared.gone.load(Ordering::SeqCst) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                shelf = self.shared.finished.wait_timeout(shelf, left).unwrap_or_else(|e| e.into_inner()).0;
            }
            shelf.awaited.remove(&key);
        }
        let instance = shelf.spares.remove(&key)?.instance;
        drop(shelf);
        self.used.fetch_add(1, Ordering::Relaxed);
        Some(instance)
    }

    /// After an event's call: the next instance for this run is made, and `used` dropped, off
    /// the event path. Not while the call runs: making an instance on the other core while a
    /// call runs slowed the call by as much as it saved (the kernel interrupts the calling core
    /// to keep both cores' view of the process's memory in step).
    pub(super) fn after(&self, used: WasmInstance, loaded: &LoadedComponent, run: &WasmRun) {
        let job = Job { loaded: loaded.clone(), run: run.clone(), used: Box::new(used) };
        // A full queue (the thread is behind) or a thread that is gone: the instance is dropped
        // here and no spare is made for this event.
        let _ = self.jobs.try_send(job);
    }

    /// Drops every spare and forgets failures (the loaded components were forgotten).
    pub(super) fn clear(&self) {
        let mut shelf = lock(&self.shared.shelf);
        let old = std::mem::take(&mut shelf.spares);
        shelf.failed.clear();
        shelf.generation += 1;
        drop(shelf);
        drop(old);
    }

    /// How many spares are ready, and how many events got one so far.
    pub(super) fn counts(&self) -> super::PreparedCounts {
        super::PreparedCounts { ready: lock(&self.shared.shelf).spares.len(), used: self.used.load(Ordering::Relaxed) }
    }
}

fn work(shared: &Shared, jobs: &Receiver<Job>, idle: Duration) {
    /// However the thread ends (its channel closed, or a panic in a drop), no event waits for
    /// it any more and no key stays marked as being made.
    struct Gone<'a>(&'a Shared);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            self.0.gone.store(true, Ordering::SeqCst);
            lock(&self.0.shelf).making.clear();
            self.0.finished.notify_all();
        }
    }
    let _gone = Gone(shared);
    loop {
        let job = match jobs.recv_timeout(idle.min(Duration::from_secs(60))) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        drop(expire(shared, idle));
        let Some(Job { loaded, run, used }) = job else { continue };
        if shared.closing.load(Ordering::SeqCst) {
            drop(used);
            continue;
        }
        let key = Key::of(&loaded, &run);
        let generation = {
            let mut s = lock(&shared.shelf);
            let failed_lately = s.failed.get(&key).is_some_and(|at| at.elapsed() < RETRY_FAILED);
            if s.spares.contains_key(&key) || failed_lately || !s.making.insert(key.clone()) {
                None
            } else {
                Some(s.generation)
            }
        };
        let Some(generation) = generation else {
            drop(used);
            continue;
        };
        // A panic while instantiating is a failure like any other, never a key left marked.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loaded.instantiate(&run)))
            .unwrap_or_else(|_| Err(crate::decision::HookFailure::new(crate::decision::FailureKind::Io, "panicked")));
        let mut s = lock(&shared.shelf);
        s.making.remove(&key);
        let mut dropped = Vec::new();
        match made {
            _ if s.generation != generation => {}
            Ok(instance) => {
                s.failed.remove(&key);
                // Spares of an earlier version of this file are of no use any more.
                let stale: Vec<Key> = s
                    .spares
                    .iter()
                    .filter(|(k, spare)| spare.instance.run.component == run.component && k.sha256 != key.sha256)
                    .map(|(k, _)| k.clone())
                    .collect();
                dropped.extend(stale.iter().filter_map(|k| s.spares.remove(k)));
                if s.spares.len() >= MAX_SPARES
                    && let Some(oldest) = s.spares.iter().min_by_key(|(_, spare)| spare.made).map(|(k, _)| k.clone())
                {
                    dropped.extend(s.spares.remove(&oldest));
                }
                s.spares.insert(key, Spare { instance, made: Instant::now() });
            }
            Err(f) => {
                tracing::debug!(hook = %run.label, "wasm instance not prepared: {}", f.message);
                s.failed.insert(key, Instant::now());
            }
        }
        drop(s);
        shared.finished.notify_all();
        drop(dropped);
        // The used instance goes after the next one is ready: an event right after this one
        // waits for no more than that.
        drop(used);
    }
}

/// Takes the spares no event took within `idle` off the shelf (the caller drops them, unlocked).
fn expire(shared: &Shared, idle: Duration) -> Vec<Spare> {
    let mut s = lock(&shared.shelf);
    let old: Vec<Key> =
        s.spares.iter().filter(|(_, spare)| spare.made.elapsed() >= idle).map(|(k, _)| k.clone()).collect();
    old.iter().filter_map(|k| s.spares.remove(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_what_a_fresh_instance_depends_on() {
        let run = WasmRun {
            label: "[wasm a]".into(),
            component: "/a.wasm".into(),
            sha256: None,
            timeout: Duration::from_secs(5),
            memory_mb: None,
            fuel: None,
        };
        let key = |sha: &str, fueled: bool, run: &WasmRun| Key {
            sha256: sha.into(),
            fueled_engine: fueled,
            timeout: run.timeout,
            memory_mb: run.memory_mb,
            fuel: run.fuel,
        };
        let base = key("aa", false, &run);
        let relabeled = WasmRun { label: "[wasm b]".into(), component: "/b.wasm".into(), ..run.clone() };
        assert_eq!(base, key("aa", false, &relabeled), "label and path are not part of it");
        for other in [
            key("bb", false, &run),
            key("aa", true, &run),
            key("aa", false, &WasmRun { timeout: Duration::from_secs(6), ..run.clone() }),
            key("aa", false, &WasmRun { memory_mb: Some(8), ..run.clone() }),
            key("aa", false, &WasmRun { fuel: Some(1000), ..run.clone() }),
        ] {
            assert_ne!(base, other);
        }
    }
}
