//! The event loop: one thread, one `mio::Poll`, and everything that wakes
//! it (signals, child exits, deadlines, child output, API connections).
//!
//! Only this module and its children touch file descriptors. It upholds
//! DESIGN.md's invariants 1 (one reaper: [`Reactor::reap`]), 2 (children
//! are spawned here, clean, and registered before the loop turns again) and
//! 3 (nothing blocks but `poll`: every handler drains until `WouldBlock`).
//!
//! Each turn: apply the supervisor's effects, arm the timer to the earliest
//! deadline of anything on the loop, poll, read the one clock, dispatch the
//! events, run the reaper, fire due timeouts. The supervisor treats a
//! spurious timeout as a no-op, so the loop never needs to know which
//! deadline woke it.

mod alerts;
pub mod children;
mod connections;
pub mod listener;
pub mod output;
mod pipes;
mod probes;
pub mod signals;
pub mod tcp;
pub mod timers;
pub mod tls;

use std::collections::HashMap;
use std::os::fd::AsRawFd as _;
use std::time::{Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::Signal;

use crate::api::State;
use crate::config::LogLevel;
use crate::http::Transport;
use crate::log::Logger;
use crate::supervisor::{Effect, Now, Pid};
use children::Launch;
use connections::ApiConnection;
use listener::ApiSocket;
use output::{Stream, Streams};
use pipes::Pipe;
use signals::Signals;
use tcp::TcpApiListener;
use timers::Timer;

const SIGNALS: Token = Token(0);
const TIMER: Token = Token(1);
const LISTENER: Token = Token(2);
const STDOUT: Token = Token(3);
const STDERR: Token = Token(4);
const HTTP_LISTENER: Token = Token(5);
const HTTPS_LISTENER: Token = Token(6);
/// Probe threads report back through this.
const WAKER: Token = Token(7);
/// Tokens from here on are handed out to connections, pidfds and pipes.
const FIRST_DYNAMIC: usize = 16;

/// How long vigild waits at exit for its stdout and stderr to take the
/// lines still buffered.
const FINAL_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// How long queued and in-flight alert deliveries get at exit, in all.
const ALERT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// At most this many API connections are open at once on each listener
/// (api.md §3); further ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// How the daemon's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Exit with this code (supervision.md §13).
    Exit(u8),
    /// `POST /v1/vigild {"action":"restart"}`: the shutdown is done, execute
    /// vigild again (supervision.md §12).
    Restart,
}

/// The one clock function: both clocks, read once per turn.
fn clock() -> Now {
    Now {
        monotonic: Instant::now(),
        wall: SystemTime::now(),
    }
}

/// What a dynamic token stands for.
enum Slot {
    Connection(Box<ApiConnection>),
    /// A child's pidfd: only a wake-up for the reaper.
    Pidfd,
    Pipe(Box<Pipe>),
    /// The merged output of an exec probe.
    ProbeOutput(crate::checks::ProbeId),
}

/// A child that is still ours to reap.
struct Child {
    pidfd: std::os::fd::OwnedFd,
    token: Token,
}

/// The daemon's event loop and everything it owns.
pub struct Reactor {
    poll: Poll,
    signals: Signals,
    timer: Timer,
    socket: ApiSocket,
    /// The plain-HTTP listener (`--http`).
    http: Option<TcpApiListener>,
    /// The HTTPS listener (`--tls-addr`).
    https: Option<TcpApiListener>,
    /// vigild's stdout (service output) and stderr (its own log).
    streams: Streams,
    /// Whether stdout's and stderr's writers are registered for
    /// writability.
    registered: [bool; 2],
    slots: HashMap<Token, Slot>,
    next_token: usize,
    children: HashMap<i32, Child>,
    /// Open connections per listener, indexed by [`listener_index`].
    connections: [usize; 3],
    state: State,
    logger: Logger,
    /// Set by the supervisor's `Exit` effect.
    exit: Option<u8>,
    /// Pipes whose read budget ran out, and log streams that have more to
    /// send than one turn takes: served again next turn, without waiting.
    unfinished: Vec<Token>,
    /// Some log lines were stored this turn: feed the followers.
    new_output: bool,
    /// Log entries framed for the streams, shared between them.
    frames: connections::FrameCache,
    /// Health-check probes in flight.
    probes: probes::Probes,
    /// The checks were stopped for the daemon's shutdown.
    checks_stopped: bool,
    /// Alert deliveries: the queue and its workers.
    delivery: crate::alerts::delivery::Delivery,
    /// The queue limits last given to `delivery`.
    queue_limits: Option<crate::alerts::firing::QueueLimits>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("children", &self.children.len())
            .finish()
    }
}

impl Reactor {
    /// Sets up the loop around a bound socket and the daemon's state.
    pub fn new(socket: ApiSocket, state: State, logger: Logger) -> std::io::Result<Reactor> {
        let poll = Poll::new()?;
        let signals = Signals::new()?;
        let timer = Timer::new()?;
        let waker = std::sync::Arc::new(Waker::new(poll.registry(), WAKER)?);
        let wake = std::sync::Arc::clone(&waker);
        let delivery = crate::alerts::delivery::Delivery::new(Box::new(move || {
            let _ = wake.wake();
        }))?;
        let mut reactor = Reactor {
            poll,
            signals,
            timer,
            socket,
            streams: Streams::standard(),
            registered: [false; 2],
            slots: HashMap::new(),
            next_token: FIRST_DYNAMIC,
            children: HashMap::new(),
            http: None,
            https: None,
            connections: [0; 3],
            state,
            logger,
            exit: None,
            unfinished: Vec::new(),
            new_output: false,
            frames: connections::FrameCache::default(),
            probes: probes::Probes::new(waker),
            checks_stopped: false,
            delivery,
            queue_limits: None,
        };
        let registry = reactor.poll.registry();
        registry.register(
            &mut SourceFd(&reactor.signals.raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        registry.register(
            &mut SourceFd(&reactor.timer.raw_fd()),
            TIMER,
            Interest::READABLE,
        )?;
        registry.register(reactor.socket.listener(), LISTENER, Interest::READABLE)?;
        Ok(reactor)
    }

    /// Adds a TCP listener (plain HTTP or HTTPS, as it was bound) to the
    /// loop; at most one of each.
    pub fn add_listener(&mut self, mut listener: TcpApiListener) -> std::io::Result<()> {
        let (token, slot) = match listener.transport() {
            Transport::Https => (HTTPS_LISTENER, &mut self.https),
            Transport::Http | Transport::Unix => (HTTP_LISTENER, &mut self.http),
        };
        self.poll
            .registry()
            .register(listener.listener(), token, Interest::READABLE)?;
        *slot = Some(listener);
        Ok(())
    }

    /// Runs until the supervisor says to exit; returns how the daemon
    /// ends.
    pub fn run(mut self, hold: bool) -> Ending {
        let mut events = Events::with_capacity(256);
        let mut now = clock();
        // Checks start as soon as their layer is loaded (checks-and-alerts.md
        // §2), whatever `--hold` says about services, and before the
        // autostart (supervision.md §11 steps 6 and 7).
        let checks = self.state.supervisor.plan().checks().clone();
        self.state.checks.update_plan(&checks, now);
        self.state.update_alerts(now);
        self.state.supervisor.boot(now, hold);
        loop {
            self.apply_effects(now);
            if let Some(code) = self.exit {
                let ending = if self.state.restarting {
                    self.info("Restarting: executing vigild again.");
                    Ending::Restart
                } else {
                    Ending::Exit(code)
                };
                self.finish();
                return ending;
            }
            self.feed_followers(now);
            self.arm_timer();
            let timeout = (!self.unfinished.is_empty()).then_some(std::time::Duration::ZERO);
            if let Err(error) = self.poll.poll(&mut events, timeout)
                && error.kind() != std::io::ErrorKind::Interrupted
            {
                self.error(&format!("poll failed: {error}"));
            }
            now = clock();
            for event in events.iter() {
                self.dispatch(event.token(), now);
            }
            for token in std::mem::take(&mut self.unfinished) {
                match self.slots.get(&token) {
                    Some(Slot::Pipe(_)) => self.read_pipe(token, now),
                    Some(Slot::Connection(_)) => self.drive_connection(token, now, false),
                    _ => {}
                }
            }
            // SIGCHLD coalesces and a pidfd wake-up may race with it: a
            // WNOHANG pass every turn costs one system call and misses
            // nothing.
            self.reap(now);
            self.state.supervisor.handle_timeout(now);
            self.state.checks.handle_timeout(now);
            // Alertmanager re-posts stop at shutdown (D19).
            if !self.state.supervisor.is_shutting_down() {
                self.state.alerts.handle_timeout(now);
            }
            self.connection_timeouts(now);
            self.pipe_timeouts(now);
        }
    }

    fn dispatch(&mut self, token: Token, now: Now) {
        match token {
            SIGNALS => self.handle_signals(now),
            TIMER => self.timer.drain(),
            LISTENER => self.accept(Transport::Unix, now),
            HTTP_LISTENER => self.accept(Transport::Http, now),
            HTTPS_LISTENER => self.accept(Transport::Https, now),
            WAKER => {
                self.collect_probe_results(now);
                self.collect_alert_outcomes();
                self.apply_effects(now);
            }
            STDOUT | STDERR => {
                self.streams.flush();
                self.watch_streams();
            }
            token => match self.slots.get(&token) {
                Some(Slot::Connection(_)) => self.drive_connection(token, now, true),
                Some(Slot::Pipe(_)) => self.read_pipe(token, now),
                Some(Slot::ProbeOutput(probe)) => {
                    let probe = *probe;
                    self.read_probe_output(probe, probes::OUTPUT_READ_BUDGET);
                }
                // The reaper runs after every turn anyway.
                Some(Slot::Pidfd) => {}
                // Sporadic events for closed tokens happen (mio docs).
                None => {}
            },
        }
    }

    fn handle_signals(&mut self, now: Now) {
        let mut received = Vec::new();
        self.signals.drain(&mut received);
        for signal in received {
            match signal {
                Signal::SIGCHLD => {} // the reaper runs after every turn
                Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                    if self.state.restarting {
                        // Asked to go away during a restart: the shutdown
                        // under way ends in an exit instead. A second one
                        // skips the grace as usual.
                        self.state.restarting = false;
                        self.info(&format!(
                            "Received {signal}: exiting instead of restarting."
                        ));
                    } else if self.state.supervisor.is_shutting_down() {
                        self.info(&format!("Received {signal} again: killing every service."));
                        self.state.supervisor.kill_all(now);
                    } else {
                        self.info(&format!("Received {signal}: shutting down."));
                        self.state.supervisor.shutdown(0, now);
                    }
                }
                Signal::SIGHUP | Signal::SIGUSR1 | Signal::SIGUSR2 => {
                    if let Ok(signal) = vigil_proto::signal::Signal::parse(signal.as_str()) {
                        self.state.supervisor.handle_signal_forward(signal);
                    }
                }
                _ => {}
            }
        }
    }

    /// **The** reaper: every exited child, peeked first so that what is left
    /// of its process group can still be signalled (the supervisor's
    /// effects for the exit are applied before the leader is reaped), then
    /// reaped and forgotten. Pids nobody owns are orphans.
    fn reap(&mut self, now: Now) {
        while let Some((pid, status)) = children::next_exited() {
            if let Some(probe) = self.probes.exec_probe_of(pid) {
                self.exec_probe_exited(probe, pid, status, now);
                self.apply_effects(now);
            } else if self.children.contains_key(&pid) {
                // Read what the service wrote before it died, so a failed
                // start shows it.
                self.drain_pipes_of(pid, now);
                let status = match status {
                    children::ExitStatus::Exited(code) => {
                        crate::supervisor::ExitStatus::Exited(code as u8)
                    }
                    children::ExitStatus::Signaled(signal) => {
                        crate::supervisor::ExitStatus::Signaled(signal as u8)
                    }
                };
                let logs = &self.state.logs;
                let recent = |service: &str, max: usize| -> Vec<String> {
                    logs.last_lines(service, max)
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                };
                self.state
                    .supervisor
                    .handle_exit(Pid::from_raw(pid), status, now, &recent);
                self.apply_effects(now);
            } else {
                self.debug(&format!("Reaped orphan process {pid} ({status:?})."));
            }
            children::reap(pid);
            if let Some(child) = self.children.remove(&pid) {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&child.pidfd.as_raw_fd()));
                self.slots.remove(&child.token);
            }
        }
    }

    /// Applies what the supervisor and the check scheduler asked for, until
    /// neither has more (a check going down acts on services; a service
    /// action never acts on checks, so this ends), then answers the
    /// refreshes whose probes ended.
    fn apply_effects(&mut self, now: Now) {
        loop {
            if self.state.supervisor.is_shutting_down() && !self.checks_stopped {
                // Shutdown stops every check first (supervision.md §12).
                self.checks_stopped = true;
                self.state.checks.stop_all();
            }
            let checks = self.apply_check_effects(now);
            let supervisor = self.apply_supervisor_effects(now);
            let alerts = self.apply_alert_effects();
            if !checks && !supervisor && !alerts {
                break;
            }
        }
        self.refreshes_done(now);
    }

    fn apply_supervisor_effects(&mut self, now: Now) -> bool {
        let mut any = false;
        while let Some(effect) = self.state.supervisor.poll_effect() {
            any = true;
            match effect {
                Effect::Spawn(request) => {
                    let service = request.service.clone();
                    let result = self.spawn(request, now);
                    self.state.supervisor.handle_spawned(&service, result, now);
                }
                Effect::Signal {
                    service,
                    pid,
                    signal,
                    group,
                } => self.send_signal(&service, pid, signal, group),
                Effect::Log {
                    level,
                    service,
                    message,
                } => {
                    let level = log_level(level);
                    match &service {
                        Some(service) => self.log(level, &message, &[("service", service)]),
                        None => self.log(level, &message, &[]),
                    }
                }
                Effect::ChangeUpdated { .. } => {}
                Effect::ChangeReady(change) => self.change_ready(change, now),
                Effect::ServiceRemoved { service } => {
                    self.state.logs.remove(&service);
                }
                Effect::Exit { code } => self.exit = Some(code),
            }
        }
        any
    }

    fn spawn(
        &mut self,
        request: crate::supervisor::SpawnRequest,
        now: Now,
    ) -> Result<Pid, crate::supervisor::SpawnError> {
        use vigil_proto::plan::LogsForward;
        let launch = Launch {
            argv: request.argv,
            environment: request.environment.into_iter().collect(),
            working_dir: request.working_dir.map(Into::into),
            user: request.user,
            user_id: request.user_id,
            group: request.group,
            group_id: request.group_id,
            capture: request.logs_forward != LogsForward::Passthrough,
            merge_output: false,
        };
        let spawned = children::spawn(&launch).map_err(|error| crate::supervisor::SpawnError {
            kind: if error.not_found {
                crate::supervisor::SpawnErrorKind::NotFound
            } else {
                crate::supervisor::SpawnErrorKind::Other
            },
            message: format!("cannot start service: {}", error.message),
        })?;
        let pid = spawned.pid;
        self.adopt(pid, spawned.pidfd);
        let forward = request.logs_forward == LogsForward::Enabled;
        for (fd, stream) in [
            (spawned.stdout, vigil_proto::api::LogStream::Stdout),
            (spawned.stderr, vigil_proto::api::LogStream::Stderr),
        ] {
            if let Some(fd) = fd {
                let token = self.token();
                let pipe = Pipe::new(
                    fd,
                    request.service.clone(),
                    stream,
                    forward,
                    pid,
                    now.monotonic,
                );
                if self
                    .poll
                    .registry()
                    .register(&mut SourceFd(&pipe.raw_fd()), token, Interest::READABLE)
                    .is_ok()
                {
                    self.slots.insert(token, Slot::Pipe(Box::new(pipe)));
                    // Output written before registration would raise no edge.
                    self.unfinished.push(token);
                }
            }
        }
        Ok(Pid::from_raw(pid))
    }

    /// Keeps a freshly spawned child for the reaper: its pidfd wakes the
    /// loop when it exits, and is the safe way to signal it until then.
    fn adopt(&mut self, pid: i32, pidfd: std::os::fd::OwnedFd) {
        let token = self.token();
        if let Err(error) = self.poll.registry().register(
            &mut SourceFd(&pidfd.as_raw_fd()),
            token,
            Interest::READABLE,
        ) {
            self.error(&format!("cannot watch process {pid}: {error}"));
        }
        self.slots.insert(token, Slot::Pidfd);
        self.children.insert(pid, Child { pidfd, token });
    }

    fn send_signal(
        &mut self,
        service: &str,
        pid: Pid,
        signal: vigil_proto::signal::Signal,
        group: bool,
    ) {
        let Ok(nix_signal) = Signal::try_from(signal.number()) else {
            return;
        };
        let raw = pid.as_raw();
        // The group is signalled only while its leader is unreaped (it is
        // ours and in `children` until the reaper takes it), so the group id
        // cannot have been reused.
        let Some(child) = self.children.get(&raw) else {
            return;
        };
        let result = if group {
            match children::group_signal(raw, nix_signal) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    children::pidfd_signal(&child.pidfd, nix_signal)
                }
                other => other,
            }
        } else {
            children::pidfd_signal(&child.pidfd, nix_signal)
        };
        if let Err(error) = result
            && error.raw_os_error() != Some(libc::ESRCH)
        {
            self.warn(&format!(
                "cannot send {signal} to service \"{service}\" (pid {raw}): {}",
                children::reason(&error)
            ));
        }
    }

    fn token(&mut self) -> Token {
        let token = Token(self.next_token);
        self.next_token += 1;
        token
    }

    fn arm_timer(&mut self) {
        let mut deadline = self.state.supervisor.next_deadline();
        for candidate in [
            self.state.checks.next_deadline(),
            self.state.alerts.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            deadline = Some(deadline.map_or(candidate, |d| d.min(candidate)));
        }
        let mut consider = |candidate: Option<Instant>| {
            if let Some(candidate) = candidate {
                deadline = Some(deadline.map_or(candidate, |d| d.min(candidate)));
            }
        };
        for slot in self.slots.values() {
            match slot {
                Slot::Connection(connection) => consider(connection.deadline()),
                Slot::Pipe(pipe) => consider(pipe.deadline()),
                Slot::Pidfd | Slot::ProbeOutput(_) => {}
            }
        }
        if let Err(error) = self.timer.arm(deadline, Instant::now()) {
            self.error(&format!("cannot arm the timer: {error}"));
        }
    }

    /// Logs `message` on vigild's own log, with extra JSON fields such as
    /// `("service", "web")`, without ever blocking.
    pub fn log(&mut self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        if let Some(line) = self.logger.render(level, clock().wall, message, fields) {
            self.streams.push_log(line.as_bytes());
            self.watch_streams();
        }
    }

    /// Logs at `error`.
    pub fn error(&mut self, message: &str) {
        self.log(LogLevel::Error, message, &[]);
    }

    /// Logs at `warn`.
    pub fn warn(&mut self, message: &str) {
        self.log(LogLevel::Warn, message, &[]);
    }

    /// Logs at `info`.
    pub fn info(&mut self, message: &str) {
        self.log(LogLevel::Info, message, &[]);
    }

    /// Logs at `debug`.
    pub fn debug(&mut self, message: &str) {
        self.log(LogLevel::Debug, message, &[]);
    }

    /// Reports dropped lines, and keeps stdout's and stderr's writers
    /// registered for writability while output waits in them.
    fn watch_streams(&mut self) {
        // The counts are reported once the log has room again, or the
        // warnings would be dropped in turn (stderr may be stdout).
        if self.streams.log_is_idle() {
            let dropped_output = self.streams.take_dropped_output();
            let dropped_log = self.streams.take_dropped_log();
            let warnings = [
                (dropped_output > 0)
                    .then(|| crate::logs::format::dropped_lines_warning(dropped_output)),
                (dropped_log > 0).then(|| {
                    format!("dropped {dropped_log} lines of vigild's log: stderr is not being read")
                }),
            ];
            for warning in warnings.into_iter().flatten() {
                if let Some(line) = self
                    .logger
                    .render(LogLevel::Warn, clock().wall, &warning, &[])
                {
                    self.streams.push_log(line.as_bytes());
                }
            }
        }
        for (index, stream, token) in [(0, Stream::Stdout, STDOUT), (1, Stream::Stderr, STDERR)] {
            let Some((fd, pending)) = self.streams.writer(stream) else {
                continue;
            };
            if pending && !self.registered[index] {
                // A regular file cannot be registered with epoll, but is
                // always writable, so there is nothing to wait for then.
                self.registered[index] = self
                    .poll
                    .registry()
                    .register(&mut SourceFd(&fd), token, Interest::WRITABLE)
                    .is_ok();
            } else if !pending && self.registered[index] {
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                self.registered[index] = false;
            }
        }
    }

    /// The last steps of a shutdown: flush what services wrote, give
    /// stdout and stderr up to [`FINAL_DRAIN`] to take the rest, and let
    /// the socket file go.
    fn finish(&mut self) {
        self.kill_probes();
        // Alerts already queued (a check failure that shut vigild down
        // enqueued its alert first) get up to 5 s in all
        // (checks-and-alerts.md §14).
        let abandoned = self.delivery.shutdown(ALERT_GRACE);
        self.collect_alert_outcomes();
        self.apply_alert_effects();
        if abandoned > 0 {
            self.warn(&format!(
                "abandoned {abandoned} alert deliveries still pending at exit"
            ));
        }
        let now = clock();
        let tokens: Vec<Token> = self.slots.keys().copied().collect();
        for token in tokens {
            if matches!(self.slots.get(&token), Some(Slot::Pipe(_))) {
                self.read_pipe(token, now);
                self.close_pipe(token, now);
            }
        }
        // The last replies (to the POST /v1/vigild that began this, above
        // all) go out if the sockets take them now; nobody waits for them.
        self.flush_connections(now);
        let _ = self.poll.registry().deregister(self.socket.listener());
        for listener in [&mut self.http, &mut self.https].into_iter().flatten() {
            let _ = self.poll.registry().deregister(listener.listener());
        }
        // Nothing is left to supervise: the readers of stdout and stderr
        // get a moment to take the last lines.
        self.streams.drain(FINAL_DRAIN);
    }
}

/// The supervisor's log levels as the daemon log's.
fn log_level(level: crate::supervisor::LogLevel) -> LogLevel {
    match level {
        crate::supervisor::LogLevel::Debug => LogLevel::Debug,
        crate::supervisor::LogLevel::Info => LogLevel::Info,
        crate::supervisor::LogLevel::Warning => LogLevel::Warn,
        crate::supervisor::LogLevel::Error => LogLevel::Error,
    }
}

/// Where a listener's count is in [`Reactor`]'s `connections`.
fn listener_index(transport: Transport) -> usize {
    match transport {
        Transport::Unix => 0,
        Transport::Http => 1,
        Transport::Https => 2,
    }
}
