//! `POST /v1/signals` (spec api.md §6.5): a signal to the main process of
//! each named service, through the supervisor (D28).
//!
//! Pebble's statuses are kept: a missing service list is a 400, and every
//! other failure, a bad signal name included, is a 500 whose message joins
//! the per-service errors with `; `.

use vigil_proto::api::{SignalsRequest, StatusCode};
use vigil_proto::signal::Signal;

use super::{Reply, State, bad_request, decode, error, ok, refuse_during_shutdown};
use crate::http::Request;

/// Sends the signal to each service that is starting or running; the
/// others are reported, and do not stop the signal reaching the rest.
pub(super) fn signals(state: &mut State, request: &Request) -> Reply {
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let body: SignalsRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.services.is_empty() {
        return bad_request("must specify one or more services");
    }
    let Some(signal) = signal_named(&body.signal) else {
        return error(
            StatusCode::InternalServerError,
            format!(
                "invalid signal name {}",
                vigil_proto::api::quote(&body.signal)
            ),
        );
    };
    match state.supervisor.send_signal(&body.services, signal) {
        Ok(()) => ok(true),
        Err(message) => error(StatusCode::InternalServerError, message),
    }
}

/// The signal whose name is exactly `name`, `SIG` prefix and upper case
/// included, as Go's `unix.SignalNum` reads it: the API does not take the
/// short or lower-case forms that layers accept.
fn signal_named(name: &str) -> Option<Signal> {
    Signal::parse(name)
        .ok()
        .filter(|signal| signal.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_upper_case_names_are_signals() {
        assert_eq!(signal_named("SIGHUP"), Some(Signal::HUP));
        assert_eq!(signal_named("SIGUSR1"), Some(Signal::USR1));
        for bad in ["HUP", "sighup", "SIGhup", "1", "", "SIGNOPE"] {
            assert_eq!(signal_named(bad), None, "{bad}");
        }
    }
}
