//! Changes through the core (api.md §7): the updates it reports, the
//! history bound and expiry.

use vigil_proto::api::{ChangeSelect, ChangeStatus};

use super::super::Effect;
use super::super::harness::{Harness, secs};
use super::WEB;
use crate::changes::MAX_READY_AGE;

/// The change updates among `effects`, as `(id number, status, ready)`.
fn updates(effects: &[Effect]) -> Vec<(u64, ChangeStatus, bool)> {
    let mut out: Vec<(u64, ChangeStatus, bool)> = Vec::new();
    for effect in effects {
        match effect {
            Effect::ChangeUpdated { change, status } => {
                out.push((change.number(), *status, false));
            }
            Effect::ChangeReady(change) => {
                let last = out.last_mut().expect("ready follows an update");
                assert_eq!(last.0, change.number(), "ready right after its update");
                last.2 = true;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn each_input_reports_the_status_it_left_a_change_in() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    // Do then Doing within one input: only Doing is reported.
    assert_eq!(updates(&h.take()), [(1, ChangeStatus::Doing, false)]);
    h.advance(secs(1));
    assert_eq!(updates(&h.take()), [(1, ChangeStatus::Done, true)]);
    h.start(&["web"]);
    assert_eq!(updates(&h.take()), [(2, ChangeStatus::Done, true)]);
}

#[test]
fn the_history_keeps_the_newest_ready_changes_and_every_running_one() {
    let mut h = Harness::with_options(WEB, |o| o.change_limit = 3);
    let first = h.start(&["web"]); // stays Doing for 1 s
    let ids: Vec<_> = (0..5).map(|_| h.start(&["web"])).collect();
    let kept: Vec<_> = h
        .sup
        .changes(ChangeSelect::All, None)
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(kept, [first, ids[3], ids[4]]);
    assert_eq!(h.sup.changes(ChangeSelect::InProgress, None).len(), 1);
}

#[test]
fn ready_changes_expire_after_seven_days_without_polling() {
    let mut h = Harness::new(WEB);
    let id = h.start(&["web"]);
    h.advance(secs(1));
    h.advance(secs(30)); // past the backoff-reset timer
    let ready_at = h.now().monotonic - secs(30);
    assert_eq!(h.sup.next_deadline(), Some(ready_at + MAX_READY_AGE));
    assert!(h.advance_to_next_deadline());
    assert!(h.sup.change(id).is_none());
    assert_eq!(h.sup.next_deadline(), None);
}
