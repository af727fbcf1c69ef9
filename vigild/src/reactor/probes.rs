//! Running health-check probes for the check scheduler
//! (checks-and-alerts.md §3, §4) and applying its effects.
//!
//! - **Exec probes** are children of the loop like services: spawned here,
//!   reaped by the one reaper, their merged output read from a pipe into a
//!   16 KiB tail. Cancelling one sends SIGKILL to its process group, and so
//!   does its exit, so that nothing it started outlives it.
//! - **HTTP and TCP probes** block, so each runs on a thread of its own and
//!   sends its result back through a channel and the loop's `Waker`. A
//!   thread per probe in flight, not a fixed pool: each check has at most
//!   one probe in flight and every probe ends at its timeout, so a hung
//!   target can never queue up behind it the probes of healthy checks. The
//!   number of probe threads is bounded by [`MAX_PROBE_THREADS`].

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Token, Waker};
use nix::sys::signal::Signal;

use super::children::{self, Launch};
use super::{Reactor, Slot};
use crate::alerts::firing::Observation;
use crate::checks::{Effect, ProbeFailure, ProbeId, ProbeSpec, probe};
use crate::config::LogLevel;
use crate::supervisor::Now;

/// The most HTTP and TCP probe threads alive at once. A probe asked for
/// beyond it waits for a thread to end (its check's timeout still runs).
/// Each check has at most one probe in flight, plus a cancelled one
/// finishing its timeout; checks loaded together probe at the same moment,
/// so this binds with more than 64 HTTP or TCP checks.
pub const MAX_PROBE_THREADS: usize = 64;

/// The stack of a probe thread: enough for a rustls handshake and ureq.
const PROBE_STACK: usize = 256 * 1024;

/// How much of an exec probe's output is kept: the last 16 KiB (§4.3).
const OUTPUT_TAIL: usize = 16 * 1024;

/// How much of an exec probe's output is read per wake-up, so that a
/// chatty probe cannot hold the loop.
pub(super) const OUTPUT_READ_BUDGET: usize = 64 * 1024;

/// How many lines of output become a failure's details (§4.3).
const DETAIL_LINES: usize = 5;

/// A result coming back from a probe thread.
type ThreadResult = (ProbeId, Result<(), ProbeFailure>);

/// An HTTP or TCP probe to run on a thread.
type ProbeJob = Box<dyn FnOnce() -> Result<(), ProbeFailure> + Send>;

/// The probes in flight and the way back from their threads.
pub(super) struct Probes {
    running: HashMap<ProbeId, Running>,
    sender: Sender<ThreadResult>,
    results: Receiver<ThreadResult>,
    waker: Arc<Waker>,
    threads: Arc<AtomicUsize>,
    /// Probes waiting for a thread, when [`MAX_PROBE_THREADS`] run.
    waiting: VecDeque<(ProbeId, ProbeJob)>,
    /// Refresh replies to send once the current effects are applied:
    /// probes that finished (with the failure message, if any) or were
    /// cancelled (`None`).
    pub(super) finished: Vec<(String, ProbeId, Option<Option<String>>)>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

/// One probe in flight.
enum Running {
    /// A child process; cancelled ones stay until reaped.
    Exec {
        pid: i32,
        /// The read end of its merged stdout and stderr, until end of file.
        output: Option<(OwnedFd, Token)>,
        tail: VecDeque<u8>,
        /// Its result no longer counts: it was killed by a cancel.
        cancelled: bool,
    },
    /// A thread; its result is matched by id when it arrives.
    Thread,
}

impl Probes {
    pub(super) fn new(waker: Arc<Waker>) -> Probes {
        let (sender, results) = channel();
        Probes {
            running: HashMap::new(),
            sender,
            results,
            waker,
            threads: Arc::new(AtomicUsize::new(0)),
            waiting: VecDeque::new(),
            finished: Vec::new(),
        }
    }

    /// The exec probe that `pid` runs, if any.
    pub(super) fn exec_probe_of(&self, pid: i32) -> Option<ProbeId> {
        self.running.iter().find_map(|(id, running)| match running {
            Running::Exec { pid: p, .. } if *p == pid => Some(*id),
            _ => None,
        })
    }
}

impl Reactor {
    /// Applies the check scheduler's effects, then answers the refreshes
    /// that finished.
    pub(super) fn apply_check_effects(&mut self, now: Now) -> bool {
        let mut any = false;
        while let Some(effect) = self.state.checks.poll_effect() {
            any = true;
            match effect {
                Effect::Probe {
                    check,
                    probe,
                    spec,
                    timeout,
                } => self.start_probe(&check, probe, spec, timeout),
                Effect::Cancel { check, probe } => self.cancel_probe(&check, probe),
                Effect::Finished {
                    check,
                    probe,
                    result,
                } => {
                    // What the probe tells the alerts (§10 step 1). The
                    // scheduler has counted the result already.
                    let observation = match &result {
                        Ok(()) => Observation::Up,
                        Err(failure) if self.state.checks.is_down(&check) => Observation::Down {
                            error: failure.message.clone(),
                        },
                        Err(failure) => {
                            self.state.alerts.note_failure(&check, &failure.message);
                            Observation::Nothing
                        }
                    };
                    self.state.alerts.observe(&check, observation, now);
                    // A timeout cancels the probe and then finishes it:
                    // the refresh is told the result, not the cancel.
                    let outcome = Some(result.err().map(|f| f.message));
                    match self.probes.finished.iter_mut().find(|f| f.1 == probe) {
                        Some(entry) => entry.2 = outcome,
                        None => self.probes.finished.push((check, probe, outcome)),
                    }
                }
                Effect::Opened {
                    check,
                    recovering,
                    probe_kind,
                } => self.state.check_changes.opened(
                    &mut self.state.supervisor,
                    &check,
                    recovering,
                    probe_kind,
                    now,
                ),
                Effect::Closed { check } => {
                    self.state
                        .check_changes
                        .closed(&mut self.state.supervisor, &check, now);
                }
                Effect::TaskLog { check, level, text } => self.state.check_changes.log(
                    &mut self.state.supervisor,
                    &check,
                    level,
                    text,
                    now,
                ),
                Effect::Down { check, failure } => {
                    self.state
                        .check_changes
                        .ended(&mut self.state.supervisor, &check, true, now);
                    self.log(
                        LogLevel::Warn,
                        &format!(
                            "Check {} is down: {}",
                            vigil_proto::api::quote(&check),
                            failure.message
                        ),
                        &[("check", &check)],
                    );
                    self.state.supervisor.handle_check_down(&check, now);
                }
                Effect::Up { check } => {
                    self.state
                        .check_changes
                        .ended(&mut self.state.supervisor, &check, false, now);
                    self.log(
                        LogLevel::Info,
                        &format!("Check {} is up again.", vigil_proto::api::quote(&check)),
                        &[("check", &check)],
                    );
                }
                Effect::Log {
                    level,
                    check,
                    message,
                } => {
                    let level = super::log_level(level);
                    self.log(level, &message, &[("check", &check)]);
                }
            }
        }
        any
    }

    fn start_probe(&mut self, check: &str, probe: ProbeId, spec: ProbeSpec, timeout: Duration) {
        let started = match spec {
            ProbeSpec::Exec(exec) => self.spawn_exec_probe(check, probe, &exec),
            ProbeSpec::Http(http) => {
                self.spawn_probe_thread(probe, move || probe::http(&http, timeout))
            }
            ProbeSpec::Tcp(tcp) => {
                self.spawn_probe_thread(probe, move || probe::tcp(&tcp, timeout))
            }
        };
        if let Err(failure) = started {
            // Reported on the next turn, like any result: a refresh that
            // asked for this probe is not parked yet while its request is
            // being handled.
            self.probes.running.insert(probe, Running::Thread);
            if self.probes.sender.send((probe, Err(failure))).is_ok() {
                let _ = self.probes.waker.wake();
            }
        }
    }

    fn spawn_probe_thread(
        &mut self,
        probe: ProbeId,
        run: impl FnOnce() -> Result<(), ProbeFailure> + Send + 'static,
    ) -> Result<(), ProbeFailure> {
        if self.probes.threads.load(Ordering::SeqCst) >= MAX_PROBE_THREADS {
            // Waits for a thread to end; its check's timeout still runs, so
            // a probe that waits too long fails as a timeout, never as
            // "too many probes".
            self.probes.waiting.push_back((probe, Box::new(run)));
            self.probes.running.insert(probe, Running::Thread);
            return Ok(());
        }
        self.launch_thread(probe, Box::new(run))
    }

    fn launch_thread(&mut self, probe: ProbeId, run: ProbeJob) -> Result<(), ProbeFailure> {
        let threads = Arc::clone(&self.probes.threads);
        threads.fetch_add(1, Ordering::SeqCst);
        let sender = self.probes.sender.clone();
        let waker = Arc::clone(&self.probes.waker);
        // Decremented however the probe ends, and before its result is
        // sent, so that the loop sees the room the moment it sees the
        // result.
        let guard = ThreadCount(Arc::clone(&threads));
        let spawned = std::thread::Builder::new()
            .name("vigild-probe".into())
            .stack_size(PROBE_STACK)
            .spawn(move || {
                let result = run();
                drop(guard);
                if sender.send((probe, result)).is_ok() {
                    let _ = waker.wake();
                }
            });
        match spawned {
            Ok(_) => {
                self.probes.running.insert(probe, Running::Thread);
                Ok(())
            }
            Err(error) => Err(ProbeFailure {
                message: format!(
                    "cannot run probe: {}",
                    vigil_proto::reason::io_reason(&error)
                ),
                details: Vec::new(),
            }),
        }
    }

    fn spawn_exec_probe(
        &mut self,
        check: &str,
        probe: ProbeId,
        exec: &vigil_proto::plan::ExecProbe,
    ) -> Result<(), ProbeFailure> {
        let failure = |message: String| ProbeFailure {
            message,
            details: Vec::new(),
        };
        let request = self
            .state
            .supervisor
            .exec_probe_request(check, exec)
            .map_err(failure)?;
        let launch = Launch {
            argv: request.argv,
            environment: request.environment.into_iter().collect(),
            working_dir: request.working_dir.map(Into::into),
            user: request.user,
            user_id: request.user_id,
            group: request.group,
            group_id: request.group_id,
            capture: true,
            merge_output: true,
        };
        let spawned = children::spawn(&launch)
            .map_err(|error| failure(format!("cannot start command: {}", error.message)))?;
        let pid = spawned.pid;
        self.adopt(pid, spawned.pidfd);
        let output = spawned.stdout.and_then(|fd| {
            let token = self.token();
            self.poll
                .registry()
                .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
                .ok()?;
            self.slots.insert(token, Slot::ProbeOutput(probe));
            Some((fd, token))
        });
        self.probes.running.insert(
            probe,
            Running::Exec {
                pid,
                output,
                tail: VecDeque::new(),
                cancelled: false,
            },
        );
        Ok(())
    }

    fn cancel_probe(&mut self, check: &str, probe: ProbeId) {
        match self.probes.running.get_mut(&probe) {
            Some(Running::Exec { pid, cancelled, .. }) => {
                *cancelled = true;
                let pid = *pid;
                self.kill_probe_group(pid);
            }
            Some(Running::Thread) => {
                // The thread ends at its own timeout; its result is dropped.
                self.probes.running.remove(&probe);
                self.probes.waiting.retain(|(waiting, _)| *waiting != probe);
            }
            None => {}
        }
        self.probes.finished.push((check.to_owned(), probe, None));
    }

    /// SIGKILL to an exec probe's whole process group. The leader is ours
    /// and unreaped (it is in `children` until the reaper takes it), so the
    /// group id cannot have been reused.
    fn kill_probe_group(&mut self, pid: i32) {
        if !self.children.contains_key(&pid) {
            return;
        }
        if let Err(error) = children::group_signal(pid, Signal::SIGKILL)
            && error.raw_os_error() != Some(libc::ESRCH)
        {
            self.warn(&format!(
                "cannot kill probe process group {pid}: {}",
                children::reason(&error)
            ));
        }
    }

    /// Reads an exec probe's output into its tail, until it would block or
    /// `budget` bytes have been read.
    pub(super) fn read_probe_output(&mut self, probe: ProbeId, budget: usize) {
        let Some(Running::Exec { output, tail, .. }) = self.probes.running.get_mut(&probe) else {
            return;
        };
        let Some((fd, _)) = output else {
            return;
        };
        let mut buffer = [0u8; 4096];
        let mut budget = budget;
        let ended = loop {
            if budget == 0 {
                // A probe that writes without pause gets no more of this
                // turn; what it writes next raises another event, and its
                // exit reads the rest.
                break false;
            }
            match nix::unistd::read(&*fd, &mut buffer) {
                Ok(0) => break true,
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    tail.extend(&buffer[..n]);
                    let excess = tail.len().saturating_sub(OUTPUT_TAIL);
                    tail.drain(..excess);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break false,
                Err(_) => break true,
            }
        };
        if ended && let Some((fd, token)) = output.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
            self.slots.remove(&token);
        }
    }

    /// The exec probe `probe`, process `pid`, has exited (peeked, not yet
    /// reaped): kill what is left of its group, read the last of its
    /// output, and report the result unless it was cancelled.
    pub(super) fn exec_probe_exited(
        &mut self,
        probe: ProbeId,
        pid: i32,
        status: children::ExitStatus,
        now: Now,
    ) {
        self.kill_probe_group(pid);
        // Its group is dead: what is left in the pipe is all there will be.
        self.read_probe_output(probe, usize::MAX);
        let Some(Running::Exec {
            output,
            tail,
            cancelled,
            ..
        }) = self.probes.running.remove(&probe)
        else {
            return;
        };
        if let Some((fd, token)) = output {
            // A process of the group that escaped it may hold the pipe
            // open; what it writes later no longer matters.
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
            self.slots.remove(&token);
        }
        if cancelled {
            return;
        }
        let result = match status {
            children::ExitStatus::Exited(0) => Ok(()),
            children::ExitStatus::Exited(code) => Err(format!("exit status {code}")),
            children::ExitStatus::Signaled(signal) => Err(format!(
                "terminated by signal {}",
                Signal::try_from(signal)
                    .map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned())
            )),
        };
        let result = result.map_err(|message| ProbeFailure {
            message,
            details: last_lines(&tail, DETAIL_LINES),
        });
        self.state.checks.handle_result(probe, result, now);
    }

    /// Takes the results that probe threads sent back, and starts the
    /// probes that waited for a thread.
    pub(super) fn collect_probe_results(&mut self, now: Now) {
        while let Ok((probe, result)) = self.probes.results.try_recv() {
            if self.probes.running.remove(&probe).is_some() {
                self.state.checks.handle_result(probe, result, now);
            }
        }
        while self.probes.threads.load(Ordering::SeqCst) < MAX_PROBE_THREADS {
            let Some((probe, run)) = self.probes.waiting.pop_front() else {
                break;
            };
            if let Err(failure) = self.launch_thread(probe, run) {
                self.probes.running.remove(&probe);
                self.state.checks.handle_result(probe, Err(failure), now);
            }
        }
    }

    /// At exit: SIGKILL to every exec probe still running (a refresh may
    /// have started one after the checks stopped), so that none outlives
    /// vigild.
    pub(super) fn kill_probes(&mut self) {
        let pids: Vec<i32> = self
            .probes
            .running
            .values()
            .filter_map(|running| match running {
                Running::Exec { pid, .. } => Some(*pid),
                Running::Thread => None,
            })
            .collect();
        for pid in pids {
            self.kill_probe_group(pid);
        }
    }
}

/// Decrements the live probe thread count when the thread ends, even by a
/// panic.
struct ThreadCount(Arc<AtomicUsize>);

impl Drop for ThreadCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The last `count` non-empty lines of `output`, lossily decoded.
fn last_lines(output: &VecDeque<u8>, count: usize) -> Vec<String> {
    let (front, back) = output.as_slices();
    let mut bytes = Vec::with_capacity(output.len());
    bytes.extend_from_slice(front);
    bytes.extend_from_slice(back);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}
