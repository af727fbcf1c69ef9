//! Alert delivery (checks-and-alerts.md §13, §14): a bounded queue of
//! [`Job`]s, [`WORKERS`] threads that send them with retries, and the
//! [`Outcome`] of each, handed back to the reactor.
//!
//! The reactor never waits here (DESIGN.md invariant 3):
//! [`Delivery::submit`] and [`Delivery::set_limits`] take a short lock and
//! return, and [`Delivery::outcomes`] only drains a channel. After each
//! outcome it sends, a worker calls the wake callback (the reactor's
//! `mio::Waker::wake`), so the loop learns of it as an event. Only
//! [`Delivery::shutdown`] blocks, for at most its grace, after the loop has
//! ended.
//!
//! Rules (§14):
//!
//! - **Bounded queue** (invariant 4). At most `max-queue-depth` jobs wait; a
//!   job submitted to a full queue pushes out the *oldest* waiting one (D26).
//!   A job that waited longer than `max-queue-time` before its first attempt
//!   is dropped when a worker comes to it. Each drop is an outcome with no
//!   attempt and an error that starts with `dropped: `.
//! - **Order.** A worker takes the oldest job whose alert has no job on
//!   another worker: the jobs of one alert go one at a time, in order (a
//!   recovery never overtakes its firing), while different alerts go in
//!   parallel. A job's outcome is sent before the next job of its alert
//!   starts, so outcomes of one alert arrive in order too.
//! - **Retries** (§13). Up to `retry-attempts` attempts; before attempt
//!   *k*+1 the worker waits `retry-backoff[k-1]` (or the last entry), at
//!   least a 429's or 503's `Retry-After` (capped at 60 s). It does not
//!   retry when the job would then have been in the system longer than
//!   `max-queue-time`. The wait is on a condition variable, so that
//!   shutdown can end it.
//! - **Shutdown.** No new jobs are taken; the waiting and the running ones
//!   get the grace in total (an attempt that starts in it has its timeout
//!   cut to what is left), and whatever is unfinished then is abandoned and
//!   counted.
//!
//! Workers are plain threads, started by [`Delivery::new`]: `main` blocks
//! the signals read by the signalfd before that, so they inherit the mask.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use vigil_proto::duration;

use self::attempt::{Request, Verdict};
use super::event::{Job, Outcome};

mod attempt;
#[cfg(test)]
mod tests;

/// How many worker threads send jobs (§14).
pub const WORKERS: usize = 4;

/// `max-queue-depth` when the plan sets none (§14).
pub const DEFAULT_MAX_QUEUE_DEPTH: usize = 256;

/// `max-queue-time` when the plan sets none (§14).
pub const DEFAULT_MAX_QUEUE_TIME: Duration = Duration::from_secs(60);

/// The longest wait a `Retry-After` can ask for (§13): a receiver cannot
/// hold a worker for longer than this per attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The delivery queue and its workers.
///
/// Methods: [`submit`](Delivery::submit) and
/// [`set_limits`](Delivery::set_limits) are inputs,
/// [`outcomes`](Delivery::outcomes) is the output to drain after each wake,
/// and [`shutdown`](Delivery::shutdown) ends it all. Dropping a `Delivery`
/// without a shutdown abandons every job at once, without waiting.
pub struct Delivery {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    outcomes: Receiver<Outcome>,
}

/// What the workers and the owner share.
struct Shared {
    state: Mutex<State>,
    /// Signalled on every change of `state`: a job queued or finished, the
    /// limits changed, shutdown begun or over.
    changed: Condvar,
    outcomes: Sender<Outcome>,
    wake: Box<dyn Fn() + Send + Sync>,
    /// The daemon's environment, for the proxy variables (§13).
    env: Box<dyn Lookup>,
}

/// A way to read an environment variable.
trait Lookup: Fn(&str) -> Option<String> + Send + Sync {}

impl<F: Fn(&str) -> Option<String> + Send + Sync> Lookup for F {}

/// The queue and the bookkeeping around it.
struct State {
    /// Waiting jobs, oldest first.
    queue: VecDeque<Job>,
    /// The alerts that have a job on a worker.
    busy: HashSet<String>,
    /// How many jobs are on a worker.
    in_flight: usize,
    max_depth: usize,
    max_age: Duration,
    /// When shutdown ends, once it has begun.
    closing: Option<Instant>,
    /// The grace is over: workers stop.
    abandon: bool,
    /// Jobs workers gave up on during shutdown.
    abandoned: usize,
}

impl Delivery {
    /// Starts the workers with the default limits. `wake` is called after
    /// each outcome is sent; it must not call back into this `Delivery`.
    /// Proxy variables come from the process environment.
    pub fn new(wake: Box<dyn Fn() + Send + Sync>) -> io::Result<Delivery> {
        Delivery::with_env(wake, |name| std::env::var(name).ok())
    }

    /// [`Delivery::new`] with the environment read through `env`, so that
    /// tests choose the proxy variables.
    pub fn with_env(
        wake: Box<dyn Fn() + Send + Sync>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> io::Result<Delivery> {
        let (sender, outcomes) = channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                busy: HashSet::new(),
                in_flight: 0,
                max_depth: DEFAULT_MAX_QUEUE_DEPTH,
                max_age: DEFAULT_MAX_QUEUE_TIME,
                closing: None,
                abandon: false,
                abandoned: 0,
            }),
            changed: Condvar::new(),
            outcomes: sender,
            wake,
            env: Box::new(env),
        });
        let mut delivery = Delivery {
            shared,
            workers: Vec::with_capacity(WORKERS),
            outcomes,
        };
        for n in 0..WORKERS {
            let shared = Arc::clone(&delivery.shared);
            let worker = thread::Builder::new()
                .name(format!("vigild-alert-{n}"))
                .spawn(move || shared.work())?;
            // On an error, dropping `delivery` stops the ones started.
            delivery.workers.push(worker);
        }
        Ok(delivery)
    }

    /// Queues `job` without blocking. When the queue is full, the oldest
    /// waiting job is dropped to make room and reported as an outcome (D26).
    /// After [`shutdown`](Delivery::shutdown) has begun, `job` itself is
    /// dropped and reported.
    pub fn submit(&self, job: Job) {
        let mut state = self.shared.lock();
        if state.closing.is_some() {
            drop(state);
            self.shared
                .report(dropped(&job, "dropped: vigild is shutting down".into()));
            return;
        }
        let pushed_out = state.make_room(1);
        state.queue.push_back(job);
        let depth = state.max_depth;
        drop(state);
        self.shared.changed.notify_all();
        for job in pushed_out {
            self.shared.report(dropped(&job, queue_full(depth)));
        }
    }

    /// The outcomes that are ready, without blocking.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> {
        self.outcomes.try_iter()
    }

    /// Applies the plan's `max-queue-depth` (at least 1) and
    /// `max-queue-time` to the jobs waiting and to come. A smaller depth
    /// drops the oldest waiting jobs at once, as a full queue does.
    pub fn set_limits(&self, max_depth: usize, max_age: Duration) {
        let mut state = self.shared.lock();
        state.max_depth = max_depth.max(1);
        state.max_age = max_age;
        let pushed_out = state.make_room(0);
        let depth = state.max_depth;
        drop(state);
        self.shared.changed.notify_all();
        for job in pushed_out {
            self.shared.report(dropped(&job, queue_full(depth)));
        }
    }

    /// Stops taking jobs and gives the waiting and running ones up to
    /// `grace` in total; returns how many it abandoned. **Blocks** for up to
    /// `grace`: call it at exit only, after the reactor's loop has ended.
    ///
    /// Outcomes of the jobs that finish in time can still be read from
    /// [`outcomes`](Delivery::outcomes). An attempt cannot be cut short from
    /// outside, so a worker still in one at the end is left to finish it on
    /// its own: its job counts as abandoned, whatever comes of it. (An
    /// attempt that starts during the grace has its timeout cut to what is
    /// left of it, so only one begun before shutdown can outlast it.)
    pub fn shutdown(&mut self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut state = self.shared.lock();
        let deadline = state
            .closing
            .map_or(deadline, |earlier| earlier.min(deadline));
        state.closing = Some(deadline);
        self.shared.changed.notify_all();
        while !state.abandon && !state.idle() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let abandoned = state.abandoned + state.queue.len() + state.in_flight;
        let idle = state.in_flight == 0;
        state.queue.clear();
        state.abandoned = 0;
        state.abandon = true;
        drop(state);
        self.shared.changed.notify_all();
        if idle {
            // Every worker is about to see `abandon` and return.
            for worker in self.workers.drain(..) {
                let _ = worker.join();
            }
        } else {
            // Some are in an attempt; they end with it.
            self.workers.clear();
        }
        abandoned
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing.get_or_insert_with(Instant::now);
        state.abandon = true;
        state.queue.clear();
        drop(state);
        self.shared.changed.notify_all();
        // The workers end by themselves, after any attempt in progress.
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Delivery")
            .field("queued", &state.queue.len())
            .field("in_flight", &state.in_flight)
            .field("max_depth", &state.max_depth)
            .field("max_age", &state.max_age)
            .field("closing", &state.closing.is_some())
            .finish_non_exhaustive()
    }
}

impl State {
    /// No job waits and none is on a worker.
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight == 0
    }

    /// Takes the oldest waiting jobs out until `room` more fit.
    fn make_room(&mut self, room: usize) -> Vec<Job> {
        let mut pushed_out = Vec::new();
        while self.queue.len() + room > self.max_depth {
            match self.queue.pop_front() {
                Some(job) => pushed_out.push(job),
                None => break,
            }
        }
        pushed_out
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left the state as consistent as any step
        // does: carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `outcome` to the reactor and wakes it.
    fn report(&self, outcome: Outcome) {
        // The receiver only goes away with the Delivery: nobody to tell.
        if self.outcomes.send(outcome).is_ok() {
            (self.wake)();
        }
    }

    /// A worker's life: take a job, deliver it, tell, again.
    fn work(&self) {
        while let Some(job) = self.next_job() {
            let outcome = self.deliver(&job);
            // Under the lock, the outcome goes out as the job stops being in
            // flight: shutdown never counts a job that reported as
            // abandoned, and the alert's next job (its outcome too) comes
            // after.
            let mut state = self.lock();
            let sent = match outcome {
                Some(outcome) => self.outcomes.send(outcome).is_ok(),
                None => {
                    state.abandoned += 1;
                    false
                }
            };
            state.busy.remove(&job.alert);
            state.in_flight -= 1;
            drop(state);
            self.changed.notify_all();
            if sent {
                (self.wake)();
            }
        }
    }

    /// Waits for the oldest job whose alert is free, dropping the jobs that
    /// waited too long on the way; `None` when the worker should end.
    fn next_job(&self) -> Option<Job> {
        let mut guard = self.lock();
        loop {
            let state = &mut *guard;
            if state.abandon {
                return None;
            }
            let max_age = state.max_age;
            if state
                .queue
                .iter()
                .any(|job| job.created.elapsed() > max_age)
            {
                for job in std::mem::take(&mut state.queue) {
                    // Full precision: a job is late only past the limit (§16).
                    if job.created.elapsed() > max_age {
                        let message = format!(
                            "dropped: waited longer than {} in the queue",
                            duration::format(max_age)
                        );
                        self.report(dropped(&job, message));
                    } else {
                        state.queue.push_back(job);
                    }
                }
            }
            let free = state
                .queue
                .iter()
                .position(|job| !state.busy.contains(&job.alert));
            if let Some(job) = free.and_then(|index| state.queue.remove(index)) {
                state.busy.insert(job.alert.clone());
                state.in_flight += 1;
                return Some(job);
            }
            if state.closing.is_some() && state.queue.is_empty() {
                return None;
            }
            guard = self
                .changed
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sends `job` with its retries; `None` when shutdown's grace ran out
    /// first.
    fn deliver(&self, job: &Job) -> Option<Outcome> {
        let request = match Request::new(job, &*self.env) {
            Ok(request) => request,
            // Nothing about the job changes between attempts (§14), so a
            // request that cannot be made fails at once (§12).
            Err(error) => return Some(outcome(job, 1, Err(error))),
        };
        let mut attempts = 0;
        loop {
            let timeout = self.attempt_timeout(job.timeout)?;
            attempts += 1;
            let (error, retry_after) = match request.send(timeout) {
                Verdict::Delivered => return Some(outcome(job, attempts, Ok(()))),
                Verdict::Failed(error) => return Some(outcome(job, attempts, Err(error))),
                Verdict::Retry { error, retry_after } => (error, retry_after),
            };
            if self.grace_over() {
                // Perhaps cut short by the end of the grace: no verdict.
                return None;
            }
            if attempts >= job.attempts {
                return Some(outcome(job, attempts, Err(error)));
            }
            let wait = backoff(job, attempts, retry_after);
            if job.created.elapsed() + wait > self.lock().max_age {
                return Some(outcome(job, attempts, Err(error)));
            }
            if !self.sleep(wait) {
                return None;
            }
        }
    }

    /// The timeout of the next attempt: the job's, or what is left of
    /// shutdown's grace when that is less; `None` when nothing is.
    fn attempt_timeout(&self, timeout: Duration) -> Option<Duration> {
        let state = self.lock();
        if state.abandon {
            return None;
        }
        match state.closing {
            None => Some(timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(timeout))
            }
        }
    }

    /// Whether shutdown's grace is over.
    fn grace_over(&self) -> bool {
        let state = self.lock();
        state.abandon
            || state
                .closing
                .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Waits `wait` before a retry; `false` when shutdown's grace ends
    /// first, so that the retry would never run.
    fn sleep(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if state.abandon || state.closing.is_some_and(|deadline| deadline < until) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The wait before attempt `attempts` + 1 (§13): `retry-backoff[k-1]` or the
/// last entry, and at least `retry_after` up to [`MAX_RETRY_AFTER`].
fn backoff(job: &Job, attempts: u32, retry_after: Option<Duration>) -> Duration {
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    let wait = job
        .backoff
        .get(index)
        .or(job.backoff.last())
        .copied()
        .unwrap_or_default();
    match retry_after {
        Some(asked) => wait.max(asked.min(MAX_RETRY_AFTER)),
        None => wait,
    }
}

fn outcome(job: &Job, attempts: u32, result: Result<(), String>) -> Outcome {
    Outcome {
        alert: job.alert.clone(),
        attempts,
        result,
        at: SystemTime::now(),
        repost: job.repost,
    }
}

/// The outcome of a job dropped unsent.
fn dropped(job: &Job, message: String) -> Outcome {
    outcome(job, 0, Err(message))
}

fn queue_full(depth: usize) -> String {
    format!("dropped: the queue is full (max-queue-depth {depth})")
}
