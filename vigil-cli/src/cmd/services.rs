//! `services`, `start`, `stop`, `restart`, `autostart` and `replan`
//! (cli.md §3.1, §3.2).
//!
//! The actions post `{"action": ..., "services": [...]}` to `/v1/services`
//! and wait for the change (cli.md §2.2): success prints nothing, a failed
//! change prints its `err` and exits with 1, `--no-wait` prints the change
//! id, and Ctrl-C leaves the change running and exits with 130.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{ChangeId, ServiceAction, ServiceInfo, ServicesRequest};

use super::{Context, Failure, Outcome, print, print_formatted};
use crate::args::UsageError;
use crate::client::{Error, Request};
use crate::format::Format;
use crate::table::Table;
use crate::time::Times;
use crate::wait;

/// Exit code when Ctrl-C stops the waiting (cli.md §2.4).
const EXIT_INTERRUPTED: u8 = 130;

/// Show the services of the plan and their state.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "services")]
pub struct Services {
    /// show times as RFC 3339 instead of relative to now
    #[argh(switch)]
    abs_time: bool,

    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the services to show (default: all)
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl Services {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let mut request = Request::get("/v1/services");
        if !self.services.is_empty() {
            request = request.query("names", self.services.join(","));
        }
        let reply = context.client.send(&request)?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        let services: Vec<ServiceInfo> = reply.sync()?;
        if services.is_empty() {
            eprintln!(
                "{}",
                match self.services.is_empty() {
                    true => "Plan has no services.",
                    false => "No matching services.",
                }
            );
            return Ok(());
        }
        print(&services_table(&services, &context.times(self.abs_time)))
    }
}

/// The `services` table: `Service  Startup  Current  Since`.
fn services_table(services: &[ServiceInfo], times: &Times<'_>) -> String {
    let mut table = Table::new(&["Service", "Startup", "Current", "Since"]);
    for service in services {
        table.push(vec![
            service.name.clone(),
            wire_name(&service.startup),
            wire_name(&service.current),
            times.format_optional(service.current_since),
        ]);
    }
    table.render()
}

/// A wire enum's name, as the API spells it (`enabled`, `backoff`).
pub(super) fn wire_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "-".to_owned(),
    }
}

/// Start services, and the services they require, and wait until they run.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "start")]
pub struct Start {
    /// print the change id and return at once
    #[argh(switch)]
    no_wait: bool,

    /// the services to start
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl Start {
    pub fn run(self, context: &mut Context) -> Outcome {
        act(context, ServiceAction::Start, self.services, self.no_wait)
    }
}

/// Stop services, and the services that depend on them, and wait.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "stop")]
pub struct Stop {
    /// print the change id and return at once
    #[argh(switch)]
    no_wait: bool,

    /// the services to stop
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl Stop {
    pub fn run(self, context: &mut Context) -> Outcome {
        act(context, ServiceAction::Stop, self.services, self.no_wait)
    }
}

/// Stop services, then start them again, and wait.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "restart")]
pub struct Restart {
    /// print the change id and return at once
    #[argh(switch)]
    no_wait: bool,

    /// the services to restart
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl Restart {
    pub fn run(self, context: &mut Context) -> Outcome {
        act(context, ServiceAction::Restart, self.services, self.no_wait)
    }
}

/// Start every service whose startup is enabled, and wait.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "autostart")]
pub struct Autostart {
    /// print the change id and return at once
    #[argh(switch)]
    no_wait: bool,
}

impl Autostart {
    pub fn run(self, context: &mut Context) -> Outcome {
        act(context, ServiceAction::Autostart, Vec::new(), self.no_wait)
    }
}

/// Re-read the layers, restart what changed and start enabled services.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "replan")]
pub struct Replan {
    /// print the change id and return at once
    #[argh(switch)]
    no_wait: bool,
}

impl Replan {
    pub fn run(self, context: &mut Context) -> Outcome {
        act(context, ServiceAction::Replan, Vec::new(), self.no_wait)
    }
}

/// Posts `action` for `services`, then waits for its change.
fn act(
    context: &mut Context,
    action: ServiceAction,
    services: Vec<String>,
    no_wait: bool,
) -> Outcome {
    if action.needs_services() && services.is_empty() {
        return Err(UsageError::MissingArgument("SERVICE").into());
    }
    let body = ServicesRequest::new(action, services);
    let change = context
        .client
        .change(&Request::post("/v1/services", &body))?;
    finish(context, change, no_wait)
}

/// Waits for `change` as cli.md §2.2 says, or prints its id with `no_wait`.
pub fn finish(context: &mut Context, change: ChangeId, no_wait: bool) -> Outcome {
    if no_wait {
        return print(&format!("{change}\n"));
    }
    context.catch_interrupts()?;
    match wait::wait_ready(&context.client, change, wait::POLL_INTERVAL) {
        Ok(ready) => wait::outcome(&ready).map_err(Failure::Error),
        Err(Error::Interrupted) => {
            eprintln!("Change {change} continues in the background; see \"vigil tasks {change}\".");
            Err(Failure::Exit(EXIT_INTERRUPTED))
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use vigil_proto::api::{ServiceStartup, ServiceStatus, Timestamp, UtcOffset};

    use super::*;
    use crate::time::{FixedZone, ZoneAt};

    #[test]
    fn table_matches_the_spec() {
        let now = UNIX_EPOCH + Duration::from_secs(1_740_824_130); // 2025-03-01T10:15:30Z
        let services = [
            ServiceInfo {
                name: "db".into(),
                startup: ServiceStartup::Enabled,
                current: ServiceStatus::Active,
                current_since: Some(Timestamp::parse("2025-03-01T11:00:01.5+01:00").unwrap()),
            },
            ServiceInfo {
                name: "web".into(),
                startup: ServiceStartup::Disabled,
                current: ServiceStatus::Inactive,
                current_since: None,
            },
        ];
        let utc = FixedZone(ZoneAt {
            offset: UtcOffset::UTC,
            name: "UTC".into(),
        });
        assert_eq!(
            services_table(&services, &Times::new(now, &utc, false)),
            "Service  Startup   Current   Since\n\
             db       enabled   active    today at 10:00 UTC\n\
             web      disabled  inactive  -\n"
        );
        assert_eq!(
            services_table(&services[..1], &Times::new(now, &utc, true)),
            "Service  Startup  Current  Since\n\
             db       enabled  active   2025-03-01T11:00:01+01:00\n"
        );
    }
}
