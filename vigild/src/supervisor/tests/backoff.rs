//! Backoff (§7): growth, cap, jitter, reset, zero delay, start during
//! backoff, and never giving up.

use std::time::Duration;

use super::super::harness::{Harness, logs, millis, secs, spawns};
use super::super::service::State;
use super::super::{ExitStatus, LogLevel};

/// The delay of the backoff the service is in, measured from now.
fn backoff_delay(h: &Harness) -> (u32, Duration) {
    match h.state("web") {
        State::Backoff { until, attempt } => (attempt, until - h.now().monotonic),
        other => panic!("not in backoff: {other:?}"),
    }
}

/// Restarts the service from backoff and lets the new process fail at once.
fn fail_again(h: &mut Harness) {
    assert!(h.advance_to_next_deadline());
    assert!(matches!(h.state("web"), State::Running { .. }));
    h.exit("web", ExitStatus::Exited(1));
}

#[test]
fn delays_grow_by_the_factor_up_to_the_limit_with_jitter() {
    let mut h = Harness::new("services:\n  web:\n    command: webd\n");
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    let expected_ms = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
    for (index, base_ms) in expected_ms.into_iter().enumerate() {
        let (attempt, delay) = backoff_delay(&h);
        let base = millis(base_ms);
        assert_eq!(attempt as usize, index + 1);
        assert!(
            delay >= base && delay <= base + base / 10,
            "backoff {attempt}: {delay:?} outside {base:?} + 10 %"
        );
        let text = format!(
            "Service \"web\" on-failure action is \"restart\", waiting ~{} before restart (backoff {attempt})",
            vigil_proto::duration::format(base)
        );
        assert!(logs(&h.take(), LogLevel::Info).contains(&text), "{text}");
        fail_again(&mut h);
    }
}

#[test]
fn the_jitter_is_seeded() {
    let run = |seed: u64| {
        let mut h = Harness::with_options("services:\n  web:\n    command: webd\n", |o| {
            o.rng_seed = seed;
        });
        h.start(&["web"]);
        h.advance(secs(1));
        h.exit("web", ExitStatus::Exited(1));
        (0..5)
            .map(|_| {
                let delay = backoff_delay(&h).1;
                fail_again(&mut h);
                delay
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn a_zero_delay_restarts_at_once() {
    // No hidden floor: `0ms` means now (the issue overrides the spec's
    // 10 ms floor).
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    backoff-delay: 0ms\n    on-success: restart\n",
    );
    h.start(&["web"]);
    h.advance(secs(1));
    for _ in 0..10 {
        h.take();
        h.exit("web", ExitStatus::Exited(0));
        assert_eq!(spawns(&h.take()), ["web"]);
        assert!(matches!(h.state("web"), State::Running { .. }));
    }
    assert_eq!(h.sup.metrics()[0].start_count, 11);
}

#[test]
fn a_stable_run_of_backoff_limit_resets_the_counters() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    backoff-delay: 1s\n    backoff-limit: 10s\n",
    );
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    fail_again(&mut h);
    fail_again(&mut h);
    assert_eq!(backoff_delay(&h).0, 3);
    // Restarted, it runs for 9.9 s: not long enough.
    assert!(h.advance_to_next_deadline());
    h.advance(millis(9900));
    h.exit("web", ExitStatus::Exited(1));
    let (attempt, delay) = backoff_delay(&h);
    assert_eq!(attempt, 4);
    assert!(delay >= secs(8));
    // This time it runs for the full limit: the next delay starts over.
    assert!(h.advance_to_next_deadline());
    h.advance(secs(10));
    assert_eq!(h.sup.services["web"].backoff.attempt, 0);
    h.exit("web", ExitStatus::Exited(1));
    let (attempt, delay) = backoff_delay(&h);
    assert_eq!(attempt, 1);
    assert!(delay < millis(1100));
}

#[test]
fn a_start_during_backoff_cancels_the_timer_and_never_makes_two_processes() {
    let mut h = Harness::new("services:\n  web:\n    command: webd\n    backoff-delay: 5s\n");
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    h.take();
    h.advance(secs(1));
    h.start(&["web"]);
    assert_eq!(spawns(&h.take()), ["web"]);
    let pid = h.pid("web");
    // Past the old backoff deadline: no second spawn.
    h.advance(secs(10));
    assert!(spawns(&h.take()).is_empty());
    assert_eq!(h.pid("web"), pid);
    // The counters were reset by the explicit start.
    h.exit("web", ExitStatus::Exited(1));
    assert_eq!(backoff_delay(&h).0, 1);
}

#[test]
fn it_never_gives_up() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    backoff-delay: 10ms\n    backoff-limit: 100ms\n",
    );
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    for _ in 0..200 {
        fail_again(&mut h);
    }
    let (attempt, delay) = backoff_delay(&h);
    assert_eq!(attempt, 201);
    assert!(delay >= millis(100) && delay <= millis(110));
    assert_eq!(h.sup.metrics()[0].start_count, 201);
}

#[test]
fn run_until_idle_goes_through_every_service_timer() {
    let mut h = Harness::new("services:\n  web:\n    command: webd\n");
    h.start(&["web"]);
    h.run_until_idle();
    assert!(matches!(h.state("web"), State::Running { .. }));
    assert_eq!(h.elapsed, secs(30)); // the backoff-reset timer was last
    h.exit("web", ExitStatus::Exited(1));
    h.run_until_idle();
    assert!(matches!(h.state("web"), State::Running { .. }));
}
