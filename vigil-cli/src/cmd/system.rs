//! `system-info` and `version` (cli.md §3.11).

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::SystemInfo as Info;
use vigil_proto::api::time::Precision;

use super::{Context, Outcome, print, print_formatted};
use crate::client::{Error, Request};
use crate::format::Format;
use crate::table::Table;

/// Show vigild's version, boot id, start time and listen addresses.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "system-info")]
pub struct SystemInfo {
    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,
}

impl SystemInfo {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let reply = context.client.send(&Request::get("/v1/system-info"))?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        print(&info_text(&reply.sync()?))
    }
}

/// The text form: one `key: value` line each, the addresses only when set.
fn info_text(info: &Info) -> String {
    let mut out = format!(
        "version: {}\nboot-id: {}\nstart-time: {}\n",
        info.version,
        info.boot_id,
        info.start_time.format(Precision::Seconds)
    );
    if let Some(address) = &info.http_address {
        out.push_str(&format!("http-address: {address}\n"));
    }
    if let Some(address) = &info.https_address {
        out.push_str(&format!("https-address: {address}\n"));
    }
    out
}

/// Show the versions of vigil and of the vigild it talks to.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "version")]
pub struct Version {}

impl Version {
    pub fn run(self, context: &Context) -> Outcome {
        let server = match context
            .client
            .sync::<Info>(&Request::get("/v1/system-info"))
        {
            Ok(info) => info.version,
            Err(Error::Connect { .. }) => "(not running)".to_owned(),
            // vigild answered, but not with its version: nothing to show.
            Err(_) => "-".to_owned(),
        };
        print(&versions_text(env!("CARGO_PKG_VERSION"), &server))
    }
}

fn versions_text(client: &str, server: &str) -> String {
    let mut table = Table::new(&["client", client]);
    table.push(vec!["server".to_owned(), server.to_owned()]);
    table.render()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn system_info_text() {
        let info: Info = serde_json::from_value(json!({
            "boot-id": "0c6d1d5e-3f4a-4b8e-9d2c-5b1f7a8e9c01", "http-address": ":4000",
            "version": "1.0.0", "start-time": "2025-03-01T10:00:00.123456789+01:00"
        }))
        .unwrap();
        assert_eq!(
            info_text(&info),
            "version: 1.0.0\n\
             boot-id: 0c6d1d5e-3f4a-4b8e-9d2c-5b1f7a8e9c01\n\
             start-time: 2025-03-01T10:00:00+01:00\n\
             http-address: :4000\n"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(
            versions_text("0.1.0", "(not running)"),
            "client  0.1.0\nserver  (not running)\n"
        );
    }
}
