//! The global options that every command shares (cli.md §2.1), resolved
//! against the environment.

use std::path::PathBuf;

use crate::args::UsageError;

/// Where vigild listens when nothing else says.
pub const DEFAULT_SOCKET: &str = "/run/vigil/vigild.sock";

/// Every environment variable that the global options read, so that `main`
/// can refuse one that is not UTF-8.
pub const ENVIRONMENT: &[&str] = &["VIGIL_SOCKET", "PEBBLE_SOCKET", "PEBBLE"];

/// The resolved global options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    /// The Unix socket of vigild.
    pub socket: PathBuf,
}

impl Globals {
    /// Resolves the global options: `socket` is the `--socket` flag, which
    /// beats `VIGIL_SOCKET`, then `PEBBLE_SOCKET`, then
    /// `$PEBBLE/.pebble.socket`, then [`DEFAULT_SOCKET`]. An empty variable
    /// counts as unset.
    pub fn resolve(
        socket: Option<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, UsageError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        let socket = match socket {
            Some(path) if path.is_empty() => {
                return Err(UsageError::InvalidValue {
                    option: "--socket".to_owned(),
                    value: path,
                    expected: "a path",
                });
            }
            Some(path) => PathBuf::from(path),
            None => match (var("VIGIL_SOCKET"), var("PEBBLE_SOCKET"), var("PEBBLE")) {
                (Some(path), _, _) | (None, Some(path), _) => PathBuf::from(path),
                (None, None, Some(pebble_dir)) => PathBuf::from(pebble_dir).join(".pebble.socket"),
                (None, None, None) => PathBuf::from(DEFAULT_SOCKET),
            },
        };
        Ok(Self { socket })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(flag: Option<&str>, vars: &[(&str, &str)]) -> Result<PathBuf, UsageError> {
        let env = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        Globals::resolve(flag.map(str::to_owned), &env).map(|globals| globals.socket)
    }

    #[test]
    fn socket_precedence() {
        let all = [
            ("VIGIL_SOCKET", "/vigil.sock"),
            ("PEBBLE_SOCKET", "/pebble.sock"),
            ("PEBBLE", "/pebble"),
        ];
        assert_eq!(socket(Some("/flag.sock"), &all), Ok("/flag.sock".into()));
        assert_eq!(socket(None, &all), Ok("/vigil.sock".into()));
        assert_eq!(socket(None, &all[1..]), Ok("/pebble.sock".into()));
        assert_eq!(socket(None, &all[2..]), Ok("/pebble/.pebble.socket".into()));
        assert_eq!(socket(None, &[]), Ok(DEFAULT_SOCKET.into()));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let vars = [
            ("VIGIL_SOCKET", ""),
            ("PEBBLE_SOCKET", ""),
            ("PEBBLE", "/p"),
        ];
        assert_eq!(socket(None, &vars), Ok("/p/.pebble.socket".into()));
        assert_eq!(socket(None, &[("PEBBLE", "")]), Ok(DEFAULT_SOCKET.into()));
    }

    #[test]
    fn empty_flag_is_an_error() {
        assert_eq!(
            socket(Some(""), &[]).map_err(|error| error.to_string()),
            Err("invalid value \"\" for --socket (expected a path)".to_owned())
        );
    }
}
