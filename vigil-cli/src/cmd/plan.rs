//! `plan`, `add` and `signal` (cli.md §3.6, §3.8).
//!
//! `plan` prints the YAML that `GET /v1/plan` returns, as it is. `add` sends
//! a layer file to `POST /v1/layers`; problems in it come back from vigild
//! in full and are printed as the error. `signal` completes the signal name
//! with `SIG`, which the API requires.

use std::io::Read as _;

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{LayersRequest, SignalsRequest};

use super::{Context, Failure, Outcome, print};
use crate::args::UsageError;
use crate::client::Request;

/// Show the plan: every layer combined, as YAML.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "plan")]
pub struct ShowPlan {}

impl ShowPlan {
    pub fn run(self, context: &Context) -> Outcome {
        let yaml: String = context
            .client
            .sync(&Request::get("/v1/plan").query("format", "yaml"))?;
        print(&yaml)
    }
}

/// Add a layer to the plan from a YAML file ("-" reads standard input).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add")]
pub struct Add {
    /// merge into the layer with the same label, if there is one
    #[argh(switch)]
    combine: bool,

    /// place a "dir/sub" label after the last layer of "dir"
    #[argh(switch)]
    inner: bool,

    /// the layer's label
    #[argh(positional, arg_name = "LABEL")]
    label: String,

    /// the layer file, or "-" for standard input
    #[argh(positional, arg_name = "FILE")]
    file: String,
}

impl Add {
    pub fn run(self, context: &Context) -> Outcome {
        let (label, file) = (self.label, self.file);
        let layer = read_layer(&file)?;
        let body = LayersRequest {
            action: "add".to_owned(),
            combine: self.combine,
            inner: self.inner,
            label: label.clone(),
            format: "yaml".to_owned(),
            layer,
        };
        context
            .client
            .sync::<bool>(&Request::post("/v1/layers", &body))?;
        print(&format!(
            "Layer \"{label}\" added successfully from \"{file}\"\n"
        ))
    }
}

fn read_layer(file: &str) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|read| text = read)
    };
    read.map(|()| text)
        .map_err(|error| Failure::Error(format!("cannot read layer file \"{file}\": {error}")))
}

/// Send a signal to the main process of services.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "signal")]
pub struct SendSignal {
    /// the signal, such as HUP or SIGHUP
    #[argh(positional, arg_name = "SIGNAL")]
    signal: String,

    /// the services to signal
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl SendSignal {
    pub fn run(self, context: &Context) -> Outcome {
        if self.services.is_empty() {
            return Err(UsageError::MissingArgument("SERVICE").into());
        }
        let body = SignalsRequest {
            signal: full_signal_name(&self.signal),
            services: self.services,
        };
        context
            .client
            .sync::<bool>(&Request::post("/v1/signals", &body))?;
        Ok(())
    }
}

/// `hup`, `HUP` and `SIGHUP` all become `SIGHUP`, the form the API takes.
fn full_signal_name(signal: &str) -> String {
    let upper = signal.to_ascii_uppercase();
    if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_get_their_prefix() {
        assert_eq!(full_signal_name("HUP"), "SIGHUP");
        assert_eq!(full_signal_name("usr1"), "SIGUSR1");
        assert_eq!(full_signal_name("SIGTERM"), "SIGTERM");
    }
}
