//! `vigild stop|restart|status` (cli.md §3.12, and issue 4 for `status`):
//! ask the daemon to stop or to restart itself, or say how it is. Stop and
//! restart do not wait for the daemon to go away.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{
    DaemonAction, DaemonRequest, HealthInfo, ServiceInfo, ServiceStatus, SystemInfo,
};

use super::{Context, Failure, Outcome, print};
use crate::args::UsageError;
use crate::client::{Error, Request};
use crate::time::Times;

/// Stop, restart or describe vigild: `vigil vigild stop|restart|status`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "vigild")]
pub struct Vigild {
    /// stop, restart or status
    #[argh(positional, arg_name = "ACTION")]
    action: String,
}

impl Vigild {
    pub fn run(self, context: &Context) -> Outcome {
        let action = match self.action.as_str() {
            "stop" => DaemonAction::Stop,
            "restart" => DaemonAction::Restart,
            "status" => return status(context),
            _ => {
                return Err(UsageError::InvalidValue {
                    option: "ACTION".to_owned(),
                    value: self.action,
                    expected: "stop, restart or status",
                }
                .into());
            }
        };
        let request = Request::post("/v1/vigild", &DaemonRequest::new(action));
        context.client.send(&request)?.sync::<serde_json::Value>()?;
        print(match action {
            DaemonAction::Stop => "Daemon stop initiated.\n",
            DaemonAction::Restart => "Daemon restart initiated.\n",
        })
    }
}

/// `vigild status`: whether vigild answers, its version and start time, its
/// services by state and its health. Exit 0 when it answers; 1 with
/// `vigild is not running` when nothing listens. The services line needs
/// the read level; a caller without it sees the rest.
fn status(context: &Context) -> Outcome {
    let info = match context
        .client
        .sync::<SystemInfo>(&Request::get("/v1/system-info"))
    {
        Ok(info) => info,
        Err(error @ (Error::Connect { .. } | Error::ConnectUrl { .. })) => {
            return Err(Failure::Error(format!("vigild is not running: {error}")));
        }
        Err(error) => return Err(Failure::Error(error.to_string())),
    };
    let services = context
        .client
        .sync::<Vec<ServiceInfo>>(&Request::get("/v1/services"))
        .ok();
    let health = context
        .client
        .sync::<HealthInfo>(&Request::get("/v1/health"))
        .map_err(|error| Failure::Error(error.to_string()))?;
    print(&status_text(
        &info,
        services.as_deref(),
        health,
        &context.times(false),
    ))
}

fn status_text(
    info: &SystemInfo,
    services: Option<&[ServiceInfo]>,
    health: HealthInfo,
    times: &Times<'_>,
) -> String {
    let mut out = format!(
        "vigild {} is running, started {}.\n",
        info.version,
        times.format(info.start_time)
    );
    if let Some(services) = services {
        let states = [
            (ServiceStatus::Active, "active"),
            (ServiceStatus::Backoff, "backoff"),
            (ServiceStatus::Error, "error"),
            (ServiceStatus::Inactive, "inactive"),
        ];
        let counts: Vec<String> = states
            .iter()
            .filter_map(|(state, word)| {
                let n = services.iter().filter(|s| s.current == *state).count();
                (n > 0).then(|| format!("{n} {word}"))
            })
            .collect();
        let line = if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        };
        out.push_str(&format!("Services: {line}\n"));
    }
    out.push_str(if health.healthy {
        "Health: healthy\n"
    } else {
        "Health: unhealthy\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use vigil_proto::api::{ServiceStartup, Timestamp, UtcOffset};

    use super::*;
    use crate::time::{FixedZone, ZoneAt};

    #[test]
    fn status_counts_services_by_state() {
        let now = UNIX_EPOCH + Duration::from_secs(1_740_823_200);
        let info = SystemInfo {
            boot_id: "b".into(),
            http_address: None,
            https_address: None,
            version: "1.2.3".into(),
            start_time: Timestamp::utc(now - Duration::from_secs(600)),
        };
        let service = |name: &str, current| ServiceInfo {
            name: name.into(),
            startup: ServiceStartup::Enabled,
            current,
            current_since: None,
        };
        let services = [
            service("a", ServiceStatus::Active),
            service("b", ServiceStatus::Inactive),
            service("c", ServiceStatus::Active),
        ];
        let utc = FixedZone(ZoneAt {
            offset: UtcOffset::UTC,
            name: "UTC".into(),
        });
        let times = Times::new(now, &utc, false);
        assert_eq!(
            status_text(
                &info,
                Some(&services),
                HealthInfo { healthy: false },
                &times
            ),
            "vigild 1.2.3 is running, started today at 09:50 UTC.\n\
             Services: 2 active, 1 inactive\n\
             Health: unhealthy\n"
        );
        assert_eq!(
            status_text(&info, None, HealthInfo { healthy: true }, &times),
            "vigild 1.2.3 is running, started today at 09:50 UTC.\nHealth: healthy\n"
        );
    }
}
