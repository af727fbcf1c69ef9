//! Backoff between automatic restarts (spec supervision.md §7): the delay
//! sequence, its jitter, and the seeded generator the jitter comes from.
//!
//! The first delay is `backoff-delay`; each next one is the previous times
//! `backoff-factor`, capped at `backoff-limit`. A jitter of 0 to 10 % of the
//! delay is added before the timer is armed, so that services that failed
//! together do not restart in lockstep. vigild never gives up: the delay
//! stays at the limit for as long as the service keeps failing.

use std::time::Duration;

use super::config::BackoffConfig;

/// The jitter is at most the delay divided by this (10 %).
pub const JITTER_DIVISOR: u32 = 10;

/// A service's backoff counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BackoffCounter {
    /// How many restarts in a row this is; 0 after a reset.
    pub(crate) attempt: u32,
    /// The last delay before jitter, the base of the next one.
    pub(crate) delay: Option<Duration>,
}

impl BackoffCounter {
    /// Counts one more restart and returns its delay before jitter.
    pub(crate) fn advance(&mut self, config: &BackoffConfig) -> Duration {
        let delay = next_delay(self.delay, config);
        self.attempt = self.attempt.saturating_add(1);
        self.delay = Some(delay);
        delay
    }

    /// Starts the sequence again at `backoff-delay`.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}

/// The delay that follows `previous` (none for the first restart).
#[must_use]
pub fn next_delay(previous: Option<Duration>, config: &BackoffConfig) -> Duration {
    let Some(previous) = previous else {
        return config.delay.min(config.limit);
    };
    if previous >= config.limit {
        return config.limit;
    }
    // A factor below 1 or not finite cannot come from a validated plan;
    // such a product, like an overflow, is read as "at the limit".
    Duration::try_from_secs_f64(previous.as_secs_f64() * config.factor)
        .map_or(config.limit, |next| next.min(config.limit))
}

/// A small deterministic generator (xorshift64*) for the jitter. Seeded from
/// [`Options::rng_seed`](super::Options::rng_seed), so tests can predict
/// every delay; the quality needed is only "not in lockstep".
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed` (xorshift needs a non-zero state, so 0
    /// is replaced by a fixed odd constant).
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A jitter for `delay`: uniform between zero and a tenth of it.
    pub(crate) fn jitter(&mut self, delay: Duration) -> Duration {
        let max = (delay / JITTER_DIVISOR).as_nanos();
        if max == 0 {
            return Duration::ZERO;
        }
        let nanos = u128::from(self.next_u64()) % (max + 1);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(delay_ms: u64, factor: f64, limit_ms: u64) -> BackoffConfig {
        BackoffConfig {
            delay: Duration::from_millis(delay_ms),
            factor,
            limit: Duration::from_millis(limit_ms),
        }
    }

    #[test]
    fn defaults_give_the_spec_sequence() {
        let config = config(500, 2.0, 30_000);
        let mut counter = BackoffCounter::default();
        let delays: Vec<u64> = (0..9)
            .map(|_| counter.advance(&config).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(counter.attempt, 9);
        counter.reset();
        assert_eq!(counter.advance(&config), Duration::from_millis(500));
    }

    #[test]
    fn fractional_factor_and_zero_delay() {
        let mut counter = BackoffCounter::default();
        let slow = config(1000, 1.5, 3000);
        let delays: Vec<u64> = (0..5)
            .map(|_| counter.advance(&slow).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 1500, 2250, 3000, 3000]);
        let mut counter = BackoffCounter::default();
        let zero = config(0, 2.0, 30_000);
        for _ in 0..5 {
            assert_eq!(counter.advance(&zero), Duration::ZERO);
        }
    }

    #[test]
    fn jitter_stays_within_a_tenth_and_is_seeded() {
        let delay = Duration::from_secs(2);
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut seen_nonzero = false;
        for _ in 0..1000 {
            let jitter = a.jitter(delay);
            assert!(jitter <= Duration::from_millis(200), "{jitter:?}");
            assert_eq!(jitter, b.jitter(delay));
            seen_nonzero |= jitter > Duration::ZERO;
        }
        assert!(seen_nonzero);
        assert_eq!(Rng::new(0).jitter(Duration::ZERO), Duration::ZERO);
    }
}
