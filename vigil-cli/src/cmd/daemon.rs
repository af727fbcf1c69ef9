//! `vigild stop|restart` (cli.md §3.12): ask the daemon to stop or to
//! restart itself. The command does not wait for the daemon to go away.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{DaemonAction, DaemonRequest};

use super::{Context, Outcome, print};
use crate::args::UsageError;
use crate::client::Request;

/// Stop or restart vigild: `vigil vigild stop` or `vigil vigild restart`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "vigild")]
pub struct Vigild {
    /// stop or restart
    #[argh(positional, arg_name = "ACTION")]
    action: String,
}

impl Vigild {
    pub fn run(self, context: &Context) -> Outcome {
        let action = match self.action.as_str() {
            "stop" => DaemonAction::Stop,
            "restart" => DaemonAction::Restart,
            _ => {
                return Err(UsageError::InvalidValue {
                    option: "ACTION".to_owned(),
                    value: self.action,
                    expected: "stop or restart",
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
