//! Blocking file I/O off the async workers, the one place that decides how: audit appends
//! (`flock` + fsync), rollback snapshots and restores (reads and fsynced writes of up to the
//! rollback cap, 16 MiB by default), last-known-good records, settings reads on the event path.
//!
//! Promises: on a multi-thread runtime (the daemon, an embedder's) the calling worker hands its
//! other tasks to another thread before it blocks (`tokio::task::block_in_place`), so one
//! client's slow disk never stalls other clients' decisions; on a current-thread runtime (one-shot
//! `dispatch`, which serves one event) and outside any runtime it runs inline. Never panics
//! where `block_in_place` would (a current-thread runtime). A leaf: imports nothing of ours.

/// Runs `f`, which may block on the disk, without holding up the runtime's other tasks.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn inline_outside_a_runtime_and_on_a_current_thread_runtime() {
        assert_eq!(blocking(|| 7), 7);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert_eq!(rt.block_on(async { blocking(|| 8) }), 8);
        // From a blocking-pool thread of a multi-thread runtime too.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let v = rt.block_on(async { tokio::task::spawn_blocking(|| blocking(|| 9)).await.unwrap() });
        assert_eq!(v, 9);
    }

    /// With a single worker, a task blocked in `blocking` does not stop another task: the other
    /// one finishes while the first is still blocked (an effect, not a timing bound).
    #[test]
    fn a_blocked_task_does_not_hold_up_the_other_tasks_of_its_worker() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let order = rt.block_on(async move {
            let slow = tokio::spawn(async move {
                // Blocks until the fast task has run: without the hand-off this would deadlock
                // the only worker (the receive would wait forever; bounded here by a timeout).
                blocking(move || rx.recv_timeout(Duration::from_secs(20)).is_ok())
            });
            tokio::task::yield_now().await;
            let fast = tokio::spawn(async move {
                let _ = tx.send(());
                Instant::now()
            });
            let fast_at = fast.await.unwrap();
            (slow.await.unwrap(), fast_at)
        });
        assert!(order.0, "the fast task ran while the slow one was blocked");
    }
}
