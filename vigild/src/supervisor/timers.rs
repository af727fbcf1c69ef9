//! A service's timers: one slot per kind, like quinn-proto's `TimerTable`.
//!
//! Setting a slot replaces what was there, and every state change clears the
//! slots of the state it leaves, so a stale timer cannot fire. The reactor
//! never sees these: it arms its one timerfd to
//! [`Supervisor::next_deadline`](super::Supervisor::next_deadline), the
//! minimum over every table.

use std::time::Instant;

/// What a service can be waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// The 1 s okay delay after a start: a process still alive then is
    /// `running` and its start task is done.
    Okay,
    /// The end of a backoff delay: restart the service.
    Backoff,
    /// A run of `backoff-limit` since the spawn: reset the backoff counters
    /// if the service is still running.
    BackoffReset,
    /// `kill-delay` after the stop signal: send SIGKILL.
    Kill,
    /// 5 s after SIGKILL: fail the stop tasks, the process is stuck.
    Fail,
}

impl TimerKind {
    const ALL: [TimerKind; 5] = [
        TimerKind::Okay,
        TimerKind::Backoff,
        TimerKind::BackoffReset,
        TimerKind::Kill,
        TimerKind::Fail,
    ];

    fn index(self) -> usize {
        match self {
            TimerKind::Okay => 0,
            TimerKind::Backoff => 1,
            TimerKind::BackoffReset => 2,
            TimerKind::Kill => 3,
            TimerKind::Fail => 4,
        }
    }
}

/// One optional deadline per [`TimerKind`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; 5],
}

impl TimerTable {
    /// Arms `kind` for `at`, replacing any earlier deadline of that kind.
    pub(crate) fn set(&mut self, kind: TimerKind, at: Instant) {
        self.slots[kind.index()] = Some(at);
    }

    /// Disarms `kind`.
    pub(crate) fn clear(&mut self, kind: TimerKind) {
        self.slots[kind.index()] = None;
    }

    /// The deadline of `kind`, if armed.
    pub(crate) fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.slots[kind.index()]
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at or before `now`; ties
    /// go in [`TimerKind`] order.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .filter(|kind| self.get(*kind).is_some_and(|at| at <= now))
            .min_by_key(|kind| (self.get(*kind), *kind))?;
        self.clear(kind);
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn setting_replaces_and_expired_timers_pop_earliest_first() {
        let base = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(TimerKind::Kill, base + Duration::from_secs(5));
        table.set(TimerKind::Kill, base + Duration::from_secs(3));
        table.set(TimerKind::BackoffReset, base + Duration::from_secs(1));
        assert_eq!(table.next(), Some(base + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(base), None);
        let later = base + Duration::from_secs(10);
        assert_eq!(table.pop_expired(later), Some(TimerKind::BackoffReset));
        assert_eq!(table.pop_expired(later), Some(TimerKind::Kill));
        assert_eq!(table.pop_expired(later), None);
        assert_eq!(table.next(), None);
    }
}
