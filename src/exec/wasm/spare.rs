//! Spare instances: for a runtime with the pooling allocator (the daemon), a fresh instance of
//! each recently used component is made ahead of its event on a background thread, and a used
//! instance is dropped there after its event, so that neither instantiation nor tear-down sits
//! on the decision path. A Python component's instantiation is ~0.5 ms (thousands of imports
//! and table entries wired up), its tear-down resets megabytes of memory.
//!
//! Promises:
//! - An instance is handed out at most once and only if it never ran a call: every event still
//!   gets a fresh `Store` and instance, exactly as without spares (instances are never reset or
//!   reused). Instantiation runs only the component's own start-up code, which runs for every
//!   instance anyway.
//! - A spare is bound to what its `Store` was built with: the component (sha256), its engine
//!   (fuel or not) and its memory limit. The label, deadline and fuel of the event's run are set
//!   when it is handed out (the deadline is set again at the call).
//! - At most [`MAX_SPARES`] spares are kept (one per component, the least recently refilled
//!   dropped first); a spare that failed to instantiate is simply not there (the event then
//!   instantiates inline and reports the failure itself).
//!
//! Does not: decide anything or see an event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use super::{LoadedComponent, WasmInstance, WasmRun, lock};

/// Spares kept at once (one per component, memory limit and engine).
pub const MAX_SPARES: usize = 16;

/// What a spare is interchangeable with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sha256: String,
    fuel: bool,
    memory_mb: Option<u64>,
}

impl Key {
    fn of(loaded: &LoadedComponent, run: &WasmRun) -> Self {
        Key { sha256: loaded.sha256.clone(), fuel: loaded.fuel, memory_mb: run.memory_mb }
    }
}

enum Job {
    /// Make a spare for this component and run, unless there is one.
    Refill(LoadedComponent, WasmRun),
    /// Drop a used instance.
    Retire(Box<WasmInstance>),
}

/// The ready spares, by key, each with the refill count at which it was made (for eviction).
type Ready = Arc<Mutex<HashMap<Key, (u64, WasmInstance)>>>;

/// The spare instances of one runtime, and their background thread.
pub(super) struct Spares {
    jobs: Mutex<Sender<Job>>,
    ready: Ready,
    /// Events that got a spare.
    served: AtomicU64,
}

impl Spares {
    /// Starts the background thread (it ends when the `Spares` is dropped).
    pub(super) fn start() -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let ready: Ready = Arc::default();
        let r = ready.clone();
        std::thread::Builder::new().name("hookhost-wasm-spare".into()).spawn(move || worker(&rx, &r))?;
        Ok(Spares { jobs: Mutex::new(tx), ready, served: AtomicU64::new(0) })
    }

    /// A never-used instance of `loaded` for `run`, if one is ready; a new one is made in the
    /// background either way.
    pub(super) fn take(&self, loaded: &LoadedComponent, run: &WasmRun) -> Option<WasmInstance> {
        let key = Key::of(loaded, run);
        let spare = lock(&self.ready).remove(&key).map(|(_, i)| i);
        self.send(Job::Refill(loaded.clone(), run.clone()));
        let mut instance = spare?;
        self.served.fetch_add(1, Ordering::Relaxed);
        instance.rebind(run);
        Some(instance)
    }

    /// Drops a used instance off the caller's thread.
    pub(super) fn retire(&self, instance: WasmInstance) {
        self.send(Job::Retire(Box::new(instance)));
    }

    /// Spares ready now.
    pub(super) fn ready(&self) -> usize {
        lock(&self.ready).len()
    }

    /// Events that got a spare so far.
    pub(super) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Drops every spare (their components may have changed).
    pub(super) fn clear(&self) {
        lock(&self.ready).clear();
    }

    fn send(&self, job: Job) {
        // The worker only stops when `self` is dropped; if it died, the job (and an instance it
        // holds) is dropped here instead.
        let _ = lock(&self.jobs).send(job);
    }
}

fn worker(jobs: &Receiver<Job>, ready: &Ready) {
    let mut made: u64 = 0;
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Retire(instance) => drop(instance),
            Job::Refill(loaded, run) => {
                let key = Key::of(&loaded, &run);
                if lock(ready).contains_key(&key) {
                    continue;
                }
                let instance = match loaded.instantiate(&run) {
                    Ok(i) => i,
                    Err(f) => {
                        tracing::debug!(hook = %run.label, "no spare instance: {}", f.message);
                        continue;
                    }
                };
                made += 1;
                let evicted = {
                    let mut map = lock(ready);
                    let evicted = if map.len() >= MAX_SPARES && !map.contains_key(&key) {
                        let oldest = map.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone());
                        oldest.and_then(|k| map.remove(&k))
                    } else {
                        None
                    };
                    // Another refill of the same key cannot have raced this one (one worker).
                    map.insert(key, (made, instance));
                    evicted
                };
                drop(evicted);
            }
        }
    }
}
