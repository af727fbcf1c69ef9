//! `identities`, `identity` and the Pebble aliases `add-identities`,
//! `update-identities`, `remove-identities` (cli.md §3.10).
//!
//! Files use the seed format of api.md §8, read with vigil-proto's parser,
//! so the CLI and `vigild --identities` accept exactly the same files.
//! `identities add-basic` hashes the password here with sha512-crypt (the
//! `sha-crypt` crate, a fresh random salt): the plain password never leaves
//! the client.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _};

use argh::{ArgsInfo, FromArgs};
use sha_crypt::{PasswordHasher as _, ShaCrypt};
use vigil_proto::api::identities::{
    self as wire, BasicIdentity, CertIdentity, LocalIdentity, parse_seed,
};
use vigil_proto::api::{Access, IdentitiesAction, IdentitiesRequest, IdentityMap};

use super::{Context, Failure, Outcome, print, print_formatted};
use crate::args::UsageError;
use crate::client::Request;
use crate::format::{Format, to_yaml};
use crate::json::Node;
use crate::table::Table;

/// List identities, or add, update or remove them with a subcommand.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "identities")]
pub struct Identities {
    /// output format of the list: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    #[argh(subcommand)]
    command: Option<Manage>,
}

/// What `identities` can do besides listing.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum Manage {
    /// `add --from FILE`
    Add(AddFrom),
    /// `update --from FILE [--replace]`
    Update(UpdateFrom),
    /// `remove NAME...`
    Remove(RemoveNames),
    /// `add-local NAME --uid UID`
    AddLocal(AddLocal),
    /// `add-basic NAME`
    AddBasic(AddBasic),
    /// `add-cert NAME --cert-file PEM`
    AddCert(AddCert),
}

impl Identities {
    pub fn run(self, context: &Context) -> Outcome {
        match self.command {
            None => list(context, self.format.as_deref()),
            Some(Manage::Add(add)) => from_file(context, IdentitiesAction::Add, &add.from),
            Some(Manage::Update(update)) => update.run(context),
            Some(Manage::Remove(remove)) => remove_names(context, remove.names),
            Some(Manage::AddLocal(add)) => add.run(context),
            Some(Manage::AddBasic(add)) => add.run(context),
            Some(Manage::AddCert(add)) => add.run(context),
        }
    }
}

fn list(context: &Context, format: Option<&str>) -> Outcome {
    let format = Format::parse(format, true)?;
    let reply = context.client.send(&Request::get("/v1/identities"))?;
    if print_formatted(format, &reply)? {
        return Ok(());
    }
    let identities: IdentityMap = reply.sync()?;
    if identities.is_empty() {
        eprintln!("No identities.");
        return Ok(());
    }
    let mut table = Table::new(&["Name", "Access", "Types"]);
    for (name, identity) in &identities {
        table.push(vec![
            name.clone(),
            identity.access.clone(),
            identity.types().join(","),
        ]);
    }
    print(&table.render())
}

/// Show one identity as YAML.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "identity")]
pub struct ShowIdentity {
    /// output format: yaml (default) or json
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the identity's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

impl ShowIdentity {
    pub fn run(self, context: &Context) -> Outcome {
        let format = match Format::parse(self.format.as_deref(), true)? {
            Format::Text => Format::Yaml,
            format => format,
        };
        let reply = context.client.send(&Request::get("/v1/identities"))?;
        let all = reply.raw_result()?;
        let Some(identity) = all.get(&self.name) else {
            return Err(Failure::Error(format!(
                "cannot find identity \"{}\"",
                self.name
            )));
        };
        print(&format.render(identity).unwrap_or_else(|| to_yaml(identity)))
    }
}

/// Add identities from a YAML file (seed format).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add")]
pub struct AddFrom {
    /// the file of identities, or "-" for standard input
    #[argh(option, arg_name = "FILE")]
    from: String,
}

/// Update identities from a YAML file; with --replace, create or replace
/// them (null values delete).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "update")]
pub struct UpdateFrom {
    /// the file of identities, or "-" for standard input
    #[argh(option, arg_name = "FILE")]
    from: String,

    /// replace semantics: create missing identities, delete null ones
    #[argh(switch)]
    replace: bool,
}

impl UpdateFrom {
    fn run(self, context: &Context) -> Outcome {
        let action = match self.replace {
            true => IdentitiesAction::Replace,
            false => IdentitiesAction::Update,
        };
        from_file(context, action, &self.from)
    }
}

/// Remove identities by name.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "remove")]
pub struct RemoveNames {
    /// the identities to remove
    #[argh(positional, arg_name = "NAME")]
    names: Vec<String>,
}

/// Add a local identity: callers on the Unix socket with this uid.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add-local")]
pub struct AddLocal {
    /// the peer user id
    #[argh(option, arg_name = "UID")]
    uid: u32,

    /// untrusted, metrics, read (default), write or admin
    #[argh(option, arg_name = "LEVEL")]
    access: Option<String>,

    /// the identity's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

impl AddLocal {
    fn run(self, context: &Context) -> Outcome {
        let identity = wire::Identity {
            access: access(self.access)?,
            local: Some(LocalIdentity {
                user_id: Some(self.uid),
            }),
            ..wire::Identity::default()
        };
        add_one(context, self.name, identity)
    }
}

/// Add a basic-auth identity; the password is hashed here (sha512-crypt).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add-basic")]
pub struct AddBasic {
    /// untrusted, metrics, read (default), write or admin
    #[argh(option, arg_name = "LEVEL")]
    access: Option<String>,

    /// read the password from one line of standard input instead of a
    /// terminal prompt
    #[argh(switch)]
    password_stdin: bool,

    /// the identity's name, which is the user name of basic auth
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

impl AddBasic {
    fn run(self, context: &Context) -> Outcome {
        let access = access(self.access)?;
        let password = match self.password_stdin {
            true => read_stdin_line()?,
            false => prompt_twice()?,
        };
        if password.is_empty() {
            return Err(Failure::Error("the password must not be empty".to_owned()));
        }
        let identity = wire::Identity {
            access,
            basic: Some(BasicIdentity {
                password: hash(&password)?,
            }),
            ..wire::Identity::default()
        };
        add_one(context, self.name, identity)
    }
}

/// Add a certificate identity from a PEM file.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add-cert")]
pub struct AddCert {
    /// the client certificate (PEM)
    #[argh(option, arg_name = "PEM")]
    cert_file: String,

    /// untrusted, metrics, read (default), write or admin
    #[argh(option, arg_name = "LEVEL")]
    access: Option<String>,

    /// the identity's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

impl AddCert {
    fn run(self, context: &Context) -> Outcome {
        let pem = std::fs::read_to_string(&self.cert_file).map_err(|error| {
            Failure::Error(format!("cannot read \"{}\": {error}", self.cert_file))
        })?;
        let identity = wire::Identity {
            access: access(self.access)?,
            cert: Some(CertIdentity { pem }),
            ..wire::Identity::default()
        };
        add_one(context, self.name, identity)
    }
}

/// Pebble's `add-identities --from FILE`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add-identities")]
pub struct AddIdentities {
    /// the file of identities, or "-" for standard input
    #[argh(option, arg_name = "FILE")]
    from: String,
}

impl AddIdentities {
    pub fn run(self, context: &Context) -> Outcome {
        from_file(context, IdentitiesAction::Add, &self.from)
    }
}

/// Pebble's `update-identities --from FILE [--replace]`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "update-identities")]
pub struct UpdateIdentities {
    /// the file of identities, or "-" for standard input
    #[argh(option, arg_name = "FILE")]
    from: String,

    /// replace semantics: create missing identities, delete null ones
    #[argh(switch)]
    replace: bool,
}

impl UpdateIdentities {
    pub fn run(self, context: &Context) -> Outcome {
        UpdateFrom {
            from: self.from,
            replace: self.replace,
        }
        .run(context)
    }
}

/// Pebble's `remove-identities --from FILE`: removes every name the file
/// lists.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "remove-identities")]
pub struct RemoveIdentities {
    /// the file of identities, or "-" for standard input
    #[argh(option, arg_name = "FILE")]
    from: String,
}

impl RemoveIdentities {
    pub fn run(self, context: &Context) -> Outcome {
        let names = read_file(&self.from)?.identities.into_keys().collect();
        remove_names(context, names)
    }
}

fn access(level: Option<String>) -> Result<String, Failure> {
    let level = level.unwrap_or_else(|| Access::Read.as_str().to_owned());
    match level.parse::<Access>() {
        Ok(access) => Ok(access.as_str().to_owned()),
        Err(_) => Err(UsageError::InvalidValue {
            option: "--access".to_owned(),
            value: level,
            expected: "untrusted, metrics, read, write or admin",
        }
        .into()),
    }
}

fn read_file(file: &str) -> Result<IdentitiesRequest, Failure> {
    let mut text = String::new();
    let read = match file {
        "-" => std::io::stdin().read_to_string(&mut text).map(|_| ()),
        _ => std::fs::read_to_string(file).map(|read| text = read),
    };
    read.map_err(|error| Failure::Error(format!("cannot read \"{file}\": {error}")))?;
    parse_seed(&text).map_err(|error| Failure::Error(format!("\"{file}\": {error}")))
}

fn from_file(context: &Context, action: IdentitiesAction, file: &str) -> Outcome {
    let identities = read_file(file)?.identities;
    let count = identities.len();
    post(context, action, identities)?;
    let verb = match action {
        IdentitiesAction::Add => "Added",
        IdentitiesAction::Update | IdentitiesAction::Replace => "Updated",
        IdentitiesAction::Remove => "Removed",
    };
    let noun = if count == 1 { "identity" } else { "identities" };
    print(&format!("{verb} {count} {noun}.\n"))
}

fn remove_names(context: &Context, names: Vec<String>) -> Outcome {
    if names.is_empty() {
        return Err(UsageError::MissingArgument("NAME").into());
    }
    let list = names.join(", ");
    let identities = names.into_iter().map(|name| (name, None)).collect();
    post(context, IdentitiesAction::Remove, identities)?;
    print(&format!("Removed identities: {list}\n"))
}

fn add_one(context: &Context, name: String, identity: wire::Identity) -> Outcome {
    let message = format!("Added identity \"{name}\".\n");
    post(
        context,
        IdentitiesAction::Add,
        BTreeMap::from([(name, Some(identity))]),
    )?;
    print(&message)
}

fn post(
    context: &Context,
    action: IdentitiesAction,
    identities: BTreeMap<String, Option<wire::Identity>>,
) -> Outcome {
    let body = IdentitiesRequest {
        action: action.as_str().to_owned(),
        identities,
    };
    let reply = context
        .client
        .send(&Request::post("/v1/identities", &body))?;
    // Success is a sync reply without a result; errors come back as Err.
    reply.envelope::<Node>()?;
    Ok(())
}

/// A sha512-crypt hash of `password` with a random 12-byte salt and the
/// default 5,000 rounds.
fn hash(password: &str) -> Result<String, Failure> {
    let mut salt = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut salt))
        .map_err(|error| Failure::Error(format!("cannot read /dev/urandom: {error}")))?;
    ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.as_str().to_owned())
        .map_err(|error| Failure::Error(format!("cannot hash the password: {error}")))
}

fn read_stdin_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| Failure::Error(format!("cannot read the password: {error}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Reads the password twice from the terminal, without echo.
fn prompt_twice() -> Result<String, Failure> {
    let first = prompt("Password: ")?;
    let second = prompt("Repeat password: ")?;
    if first != second {
        return Err(Failure::Error("the passwords do not match".to_owned()));
    }
    Ok(first)
}

fn prompt(label: &str) -> Result<String, Failure> {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    let fail = |error: std::io::Error| {
        Failure::Error(format!(
            "cannot read the password from the terminal ({error}); use --password-stdin"
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(fail)?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid value, and tcgetattr only writes
    // into the struct we pass for an fd we own.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: sets attributes of our own terminal fd from a valid struct.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut writer = &tty;
    let _ = writer.write_all(label.as_bytes());
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the attributes read above on the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    let _ = writer.write_all(b"\n");
    read.map_err(fail)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use sha_crypt::PasswordVerifier as _;

    use super::*;

    #[test]
    fn hashes_are_sha512_crypt_and_verify() {
        let hashed = hash("hunter2").unwrap();
        assert!(hashed.starts_with("$6$"), "{hashed}");
        assert!(
            ShaCrypt::SHA512
                .verify_password(b"hunter2", hashed.as_str())
                .is_ok()
        );
        assert_ne!(hash("hunter2").unwrap(), hashed, "salts differ");
    }

    #[test]
    fn access_defaults_to_read() {
        assert_eq!(access(None).unwrap(), "read");
        assert_eq!(access(Some("admin".into())).unwrap(), "admin");
        assert!(access(Some("root".into())).is_err());
    }
}
