//! `GET /v1/alerts` (api.md §6.18, a vigil extension).

use vigil_proto::api::{self, AlertInfo, CheckStatusItem, Timestamp};

use super::{Reply, State, ok};
use crate::http::Request;

/// Each alert asked for (all without `names`), sorted by name, with the
/// status of every watched check.
pub(super) fn list(state: &State, request: &Request) -> Reply {
    let statuses: std::collections::BTreeMap<String, &'static str> = state
        .checks
        .checks(None, &[])
        .into_iter()
        .map(|check| (check.name, check.status.as_str()))
        .collect();
    let alerts: Vec<AlertInfo> = state
        .alerts
        .list(&request.query_list("names"))
        .into_iter()
        .map(|alert| AlertInfo {
            check_status: alert
                .on_check
                .iter()
                .map(|check| CheckStatusItem {
                    check: check.clone(),
                    status: statuses.get(check).copied().unwrap_or("unknown").to_owned(),
                })
                .collect(),
            name: alert.name,
            format: alert.format.as_str().to_owned(),
            url: api::alerts::mask_url(&alert.url),
            on_check: alert.on_check,
            fire_count: alert.fire_count,
            last_error_time: alert
                .last_error
                .as_ref()
                .map(|(_, at)| Timestamp::new(*at, state.utc_offset)),
            last_error: alert.last_error.map(|(error, _)| error),
            last_sent_time: alert
                .last_sent
                .map(|at| Timestamp::new(at, state.utc_offset)),
        })
        .collect();
    ok(alerts)
}
