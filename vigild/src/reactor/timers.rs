//! One timerfd armed to the earliest deadline of everything on the loop.
//!
//! The owners of deadlines (the supervisor, connections, log flushing) keep
//! their own tables; the reactor takes the minimum after each turn and arms
//! this one timer to it. A wake-up that finds nothing due is harmless: every
//! owner treats a spurious timeout as a no-op.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

/// The loop's one timer.
#[derive(Debug)]
pub struct Timer {
    fd: TimerFd,
    armed: Option<Instant>,
}

impl Timer {
    /// A disarmed monotonic timer, non-blocking and close-on-exec.
    pub fn new() -> nix::Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Timer { fd, armed: None })
    }

    /// The fd to register for readability.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_fd().as_raw_fd()
    }

    /// Arms the timer to `deadline` (disarms it for `None`). `now` is the
    /// current instant; a deadline already past fires at once. Re-arming to
    /// the same deadline is skipped.
    pub fn arm(&mut self, deadline: Option<Instant>, now: Instant) -> nix::Result<()> {
        if deadline == self.armed {
            return Ok(());
        }
        self.armed = deadline;
        match deadline {
            None => self.fd.unset(),
            Some(deadline) => {
                // A zero it_value disarms a timerfd, so a due deadline is
                // armed one nanosecond ahead instead.
                let delay = deadline
                    .saturating_duration_since(now)
                    .max(Duration::from_nanos(1));
                self.fd.set(
                    Expiration::OneShot(TimeSpec::from_duration(delay)),
                    TimerSetTimeFlags::empty(),
                )
            }
        }
    }

    /// Consumes the expiration after a wake-up.
    pub fn drain(&mut self) {
        let mut buffer = [0u8; 8];
        // EAGAIN means a spurious wake-up; nothing to consume.
        let _ = nix::unistd::read(&self.fd, &mut buffer);
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_at_the_deadline() {
        let mut timer = Timer::new().unwrap();
        let now = Instant::now();
        timer
            .arm(Some(now + Duration::from_millis(20)), now)
            .unwrap();
        let ready = |timer: &Timer, wait: u16| {
            let mut fds = [nix::poll::PollFd::new(
                timer.fd.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            nix::poll::poll(&mut fds, wait).unwrap()
        };
        assert_eq!(ready(&timer, 0), 0, "fired early");
        assert_eq!(ready(&timer, 1000), 1, "did not fire");
        assert!(now.elapsed() >= Duration::from_millis(20));
        timer.drain();
        assert_eq!(ready(&timer, 0), 0, "fired twice");
    }

    #[test]
    fn a_past_deadline_fires_at_once() {
        let mut timer = Timer::new().unwrap();
        let now = Instant::now();
        timer.arm(Some(now - Duration::from_secs(1)), now).unwrap();
        let mut fds = [nix::poll::PollFd::new(
            timer.fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        assert_eq!(nix::poll::poll(&mut fds, 1000u16).unwrap(), 1);
    }
}
