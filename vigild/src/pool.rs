//! A small fixed pool of worker threads for work that must block (HTTP
//! probes, alert deliveries), so that the reactor never does.
//!
//! Jobs go in through a bounded queue ([`Pool::submit`] fails when it is
//! full instead of blocking); each job's result comes back through a channel,
//! and the pool wakes the reactor with its `mio::Waker`. Threads are started
//! after `main` has blocked the signals read by the signalfd, so they inherit
//! that mask.

use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A job: runs on a worker, returns a result for the reactor.
pub type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// The worker pool; `T` is what jobs return.
pub struct Pool<T> {
    jobs: Option<SyncSender<Job<T>>>,
    results: Receiver<T>,
    workers: Vec<JoinHandle<()>>,
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers.len())
            .finish()
    }
}

/// The queue was full; the job was not taken.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueFull;

impl<T: Send + 'static> Pool<T> {
    /// Starts `threads` workers with a queue of at most `queue` waiting jobs.
    /// `wake` is called after each result is sent (the reactor's
    /// `Waker::wake`).
    pub fn new(threads: usize, queue: usize, wake: impl Fn() + Send + Sync + 'static) -> Pool<T> {
        let (jobs, inbox) = sync_channel::<Job<T>>(queue);
        let inbox = Arc::new(Mutex::new(inbox));
        let (outbox, results) = channel();
        let wake = Arc::new(wake);
        let workers = (0..threads)
            .map(|n| {
                let inbox = Arc::clone(&inbox);
                let outbox: Sender<T> = outbox.clone();
                let wake = Arc::clone(&wake);
                std::thread::Builder::new()
                    .name(format!("vigild-worker-{n}"))
                    .spawn(move || worker(&inbox, &outbox, &*wake))
                    .expect("cannot start a worker thread")
            })
            .collect();
        Pool {
            jobs: Some(jobs),
            results,
            workers,
        }
    }

    /// Queues a job without blocking.
    pub fn submit(&self, job: Job<T>) -> Result<(), QueueFull> {
        let Some(jobs) = &self.jobs else {
            return Err(QueueFull);
        };
        match jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(QueueFull),
        }
    }

    /// Results that are ready, without blocking.
    pub fn results(&self) -> impl Iterator<Item = T> + '_ {
        self.results.try_iter()
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        // Closing the queue ends each worker after its current job.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker<T>(inbox: &Mutex<Receiver<Job<T>>>, outbox: &Sender<T>, wake: &(dyn Fn() + Send + Sync)) {
    loop {
        let job = match inbox.lock() {
            Ok(inbox) => inbox.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        if outbox.send(job()).is_err() {
            return;
        }
        wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn jobs_run_and_wake_the_reactor() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let pool = Pool::new(2, 8, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        for n in 0..5 {
            pool.submit(Box::new(move || n * 10)).unwrap();
        }
        let mut results = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while results.len() < 5 && Instant::now() < deadline {
            results.extend(pool.results());
            std::thread::sleep(Duration::from_millis(1));
        }
        results.sort();
        assert_eq!(results, [0, 10, 20, 30, 40]);
        assert_eq!(wakes.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_blocking() {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let pool: Pool<()> = Pool::new(1, 1, || {});
        let blocker = Arc::clone(&gate);
        // One job runs (blocked on the gate), one waits in the queue...
        pool.submit(Box::new(move || {
            let _ = blocker.lock().unwrap().recv();
        }))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let next = Arc::clone(&gate);
            if pool
                .submit(Box::new(move || {
                    let _ = next.lock().unwrap().recv();
                }))
                .is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline);
        }
        // ...and the next is refused at once.
        assert_eq!(pool.submit(Box::new(|| {})), Err(QueueFull));
        release.send(()).unwrap();
        release.send(()).unwrap();
    }
}
