//! The timers of a connection: one slot per kind, the next deadline being
//! the earliest set slot (the shape of quinn-proto's `TimerTable`).
//!
//! Setting a slot replaces its old instant and leaving the state a timer
//! belongs to clears it, so a stale timer cannot fire.

use std::time::Instant;

/// What a connection can be waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// No request has started since the last reply (or since accept).
    Idle,
    /// A request head has started and not finished.
    Head,
    /// A request body is being read and no byte arrived lately.
    Body,
    /// Output is pending and the client took none of it lately.
    WriteStall,
    /// A refused request's connection is discarding input before closing.
    Linger,
}

impl Timer {
    const ALL: [Self; 5] = [
        Self::Idle,
        Self::Head,
        Self::Body,
        Self::WriteStall,
        Self::Linger,
    ];

    fn index(self) -> usize {
        match self {
            Self::Idle => 0,
            Self::Head => 1,
            Self::Body => 2,
            Self::WriteStall => 3,
            Self::Linger => 4,
        }
    }
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable {
    slots: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.slots[timer.index()] = Some(at);
    }

    pub(super) fn clear(&mut self, timer: Timer) {
        self.slots[timer.index()] = None;
    }

    pub(super) fn clear_all(&mut self) {
        self.slots = Default::default();
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.slots[timer.index()].is_some()
    }

    /// The earliest deadline, if any timer is set.
    pub(super) fn next(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }

    /// Clears and returns the first timer that is due at `now`.
    pub(super) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|timer| self.slots[timer.index()].is_some_and(|at| at <= now))?;
        self.clear(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn next_is_the_earliest_and_setting_replaces() {
        let epoch = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Idle, epoch + Duration::from_secs(120));
        table.set(Timer::Head, epoch + Duration::from_secs(30));
        assert_eq!(table.next(), Some(epoch + Duration::from_secs(30)));
        table.set(Timer::Head, epoch + Duration::from_secs(200));
        assert_eq!(table.next(), Some(epoch + Duration::from_secs(120)));
        assert_eq!(table.take_expired(epoch + Duration::from_secs(119)), None);
        assert_eq!(
            table.take_expired(epoch + Duration::from_secs(120)),
            Some(Timer::Idle)
        );
        assert!(!table.is_set(Timer::Idle));
        table.clear_all();
        assert_eq!(table.next(), None);
    }
}
