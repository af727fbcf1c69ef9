//! The global options that every command shares (cli.md §2.1), resolved
//! against the environment.

use std::net::IpAddr;
use std::path::PathBuf;

use ureq::http::Uri;

use crate::args::UsageError;
use crate::client::{ClientIdentity, Credentials, TlsOptions, Transport};

/// Where vigild listens when nothing else says.
pub const DEFAULT_SOCKET: &str = "/run/vigil/vigild.sock";

/// Every environment variable that the global options read, so that `main`
/// can refuse one that is not UTF-8.
pub const ENVIRONMENT: &[&str] = &[
    "VIGIL_SOCKET",
    "PEBBLE_SOCKET",
    "PEBBLE",
    "VIGIL_URL",
    "VIGIL_INSECURE",
    "VIGIL_CACERT",
    "VIGIL_CLIENT_CERT",
    "VIGIL_CLIENT_KEY",
    "VIGIL_USER",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The global options as written on the command line, before the
/// environment fills the gaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--socket PATH`.
    pub socket: Option<String>,
    /// `--url URL`.
    pub url: Option<String>,
    /// `-k`, `--insecure`.
    pub insecure: bool,
    /// `--cacert FILE`.
    pub cacert: Option<String>,
    /// `--cert FILE`.
    pub cert: Option<String>,
    /// `--key FILE`.
    pub key: Option<String>,
    /// `-u`, `--user USER:PASS`.
    pub user: Option<String>,
}

/// The resolved global options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    /// How to reach vigild: its Unix socket, or `--url`.
    pub transport: Transport,
    /// Basic credentials for every request.
    pub credentials: Option<Credentials>,
}

impl Globals {
    /// Resolves the global options against the environment `env`
    /// (cli.md §2.1). Each flag beats its variable; an empty variable
    /// counts as unset. The socket is the `--socket` flag, then
    /// `VIGIL_SOCKET`, then `PEBBLE_SOCKET`, then `$PEBBLE/.pebble.socket`,
    /// then [`DEFAULT_SOCKET`]; `--url` (or `VIGIL_URL`) replaces it.
    pub fn resolve(flags: Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, UsageError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        let pick = |flag: Option<String>, option: &'static str, variable: &'static str| match flag {
            Some(value) if value.is_empty() => Err(UsageError::InvalidValue {
                option: option.to_owned(),
                value,
                expected: if option == "--url" { "a URL" } else { "a path" },
            }),
            Some(value) => Ok(Some((value, option))),
            None => Ok(var(variable).map(|value| (value, variable))),
        };
        let credentials = match pick(flags.user, "--user", "VIGIL_USER")? {
            Some((value, origin)) => match Credentials::parse(&value) {
                Some(credentials) => Some(credentials),
                None => {
                    return Err(UsageError::InvalidValue {
                        option: origin.to_owned(),
                        value,
                        expected: "USER:PASS",
                    });
                }
            },
            None => None,
        };
        let cert = pick(flags.cert, "--cert", "VIGIL_CLIENT_CERT")?;
        let key = pick(flags.key, "--key", "VIGIL_CLIENT_KEY")?;
        let identity = match (cert, key) {
            (Some((cert, _)), Some((key, _))) => Some(ClientIdentity {
                cert: cert.into(),
                key: key.into(),
            }),
            (Some((_, origin)), None) => {
                return Err(UsageError::Requires {
                    option: origin,
                    needs: "--key (or VIGIL_CLIENT_KEY)",
                });
            }
            (None, Some((_, origin))) => {
                return Err(UsageError::Requires {
                    option: origin,
                    needs: "--cert (or VIGIL_CLIENT_CERT)",
                });
            }
            (None, None) => None,
        };
        let insecure = match flags.insecure {
            true => true,
            false => match env("VIGIL_INSECURE") {
                Some(value) => parse_bool(&value, "VIGIL_INSECURE")?,
                None => false,
            },
        };
        let tls = TlsOptions {
            insecure,
            cacert: pick(flags.cacert, "--cacert", "VIGIL_CACERT")?.map(|(path, _)| path.into()),
            identity,
        };
        let transport = match pick(flags.url, "--url", "VIGIL_URL")? {
            Some((url, origin)) => {
                let (base, uri) = parse_url(url, origin)?;
                Transport::Url {
                    base,
                    tls,
                    proxy: proxy_for(&uri, env),
                }
            }
            None => Transport::Unix {
                socket: socket(flags.socket, &var)?,
            },
        };
        Ok(Self {
            transport,
            credentials,
        })
    }
}

fn socket(
    flag: Option<String>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, UsageError> {
    Ok(match flag {
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
    })
}

/// A switch from the environment, spelt as vigild spells its own.
fn parse_bool(value: &str, origin: &str) -> Result<bool, UsageError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "" => Ok(false),
        _ => Err(UsageError::InvalidValue {
            option: origin.to_owned(),
            value: value.to_owned(),
            expected: "1, true or yes for on; 0, false, no or empty for off",
        }),
    }
}

/// The base URL without its trailing `/`s, and its parsed form: `http://`
/// or `https://`, a host, maybe a path prefix, no query.
fn parse_url(url: String, origin: &str) -> Result<(String, Uri), UsageError> {
    let invalid = |url: String| UsageError::InvalidValue {
        option: origin.to_owned(),
        value: url,
        expected: "an http:// or https:// URL",
    };
    let Ok(uri) = url.parse::<Uri>() else {
        return Err(invalid(url));
    };
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|host| !host.is_empty());
    if !scheme_ok || !host_ok || uri.query().is_some() || url.contains('#') {
        return Err(invalid(url));
    }
    let base = url.trim_end_matches('/').to_owned();
    Ok((base, uri))
}

/// The proxy for `uri` (cli.md §2.1): none for a loopback host or one that
/// `NO_PROXY` names, else `HTTPS_PROXY` for https and `HTTP_PROXY` for http
/// (either in lower case too).
fn proxy_for(uri: &Uri, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let host = uri.host()?.to_ascii_lowercase();
    if is_loopback(&host) {
        return None;
    }
    if let Some(no_proxy) = var("NO_PROXY").or_else(|| var("no_proxy"))
        && no_proxy
            .split(',')
            .any(|entry| no_proxy_matches(entry, &host))
    {
        return None;
    }
    match uri.scheme_str() {
        Some("https") => var("HTTPS_PROXY").or_else(|| var("https_proxy")),
        _ => var("HTTP_PROXY").or_else(|| var("http_proxy")),
    }
}

/// `localhost`, a name under `.localhost`, or a loopback address.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether one `NO_PROXY` entry covers `host`, as curl reads them: `*` is
/// every host; `example.com`, `.example.com` and `*.example.com` cover
/// example.com and the names under it.
fn no_proxy_matches(entry: &str, host: &str) -> bool {
    let entry = entry.trim().to_ascii_lowercase();
    if entry == "*" {
        return true;
    }
    let domain = entry.trim_start_matches('*').trim_start_matches('.');
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.')))
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
        let flags = Flags {
            socket: flag.map(str::to_owned),
            ..Flags::default()
        };
        match Globals::resolve(flags, &env)?.transport {
            Transport::Unix { socket } => Ok(socket),
            transport => panic!("{transport:?}"),
        }
    }

    fn resolve(flags: Flags, vars: &[(&str, &str)]) -> Result<Globals, String> {
        let env = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        Globals::resolve(flags, &env).map_err(|error| error.to_string())
    }

    fn url(url: &str) -> Flags {
        Flags {
            url: Some(url.to_owned()),
            ..Flags::default()
        }
    }

    #[test]
    fn url_replaces_the_socket() {
        let globals = resolve(url("https://example.com:8443/"), &[]).unwrap();
        assert_eq!(
            globals.transport,
            Transport::Url {
                base: "https://example.com:8443".into(),
                tls: TlsOptions::default(),
                proxy: None,
            }
        );
        let globals = resolve(
            Flags::default(),
            &[("VIGIL_URL", "http://h/prefix"), ("VIGIL_SOCKET", "/s")],
        )
        .unwrap();
        assert!(
            matches!(&globals.transport, Transport::Url { base, .. } if base == "http://h/prefix")
        );
        // The flag beats the variable.
        let globals = resolve(url("http://a"), &[("VIGIL_URL", "http://b")]).unwrap();
        assert!(matches!(&globals.transport, Transport::Url { base, .. } if base == "http://a"));
    }

    #[test]
    fn invalid_urls() {
        for bad in [
            "ftp://h",
            "h:80",
            "/path",
            "http://",
            "https://h/?x=1",
            "http://h/#f",
        ] {
            assert_eq!(
                resolve(url(bad), &[]).unwrap_err(),
                format!("invalid value \"{bad}\" for --url (expected an http:// or https:// URL)")
            );
        }
        assert_eq!(
            resolve(Flags::default(), &[("VIGIL_URL", "nope")]).unwrap_err(),
            "invalid value \"nope\" for VIGIL_URL (expected an http:// or https:// URL)"
        );
        assert!(resolve(url(""), &[]).is_err());
    }

    #[test]
    fn tls_options_from_flags_and_environment() {
        let flags = Flags {
            insecure: true,
            cacert: Some("/ca.pem".into()),
            cert: Some("/c.pem".into()),
            key: Some("/k.pem".into()),
            ..url("https://h")
        };
        let Transport::Url { tls, .. } = resolve(flags, &[]).unwrap().transport else {
            panic!()
        };
        let expected = TlsOptions {
            insecure: true,
            cacert: Some("/ca.pem".into()),
            identity: Some(ClientIdentity {
                cert: "/c.pem".into(),
                key: "/k.pem".into(),
            }),
        };
        assert_eq!(tls, expected);
        let vars = [
            ("VIGIL_INSECURE", "yes"),
            ("VIGIL_CACERT", "/ca.pem"),
            ("VIGIL_CLIENT_CERT", "/c.pem"),
            ("VIGIL_CLIENT_KEY", "/k.pem"),
        ];
        let Transport::Url { tls, .. } = resolve(url("https://h"), &vars).unwrap().transport else {
            panic!()
        };
        assert_eq!(tls, expected);
        assert_eq!(
            resolve(url("https://h"), &[("VIGIL_INSECURE", "maybe")]).unwrap_err(),
            "invalid value \"maybe\" for VIGIL_INSECURE (expected 1, true or yes for on; 0, false, no or empty for off)"
        );
    }

    #[test]
    fn cert_and_key_need_each_other() {
        let cert_only = Flags {
            cert: Some("/c.pem".into()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(cert_only, &[]).unwrap_err(),
            "--cert requires --key (or VIGIL_CLIENT_KEY)"
        );
        assert_eq!(
            resolve(Flags::default(), &[("VIGIL_CLIENT_KEY", "/k.pem")]).unwrap_err(),
            "VIGIL_CLIENT_KEY requires --cert (or VIGIL_CLIENT_CERT)"
        );
        let mixed = Flags {
            key: Some("/k.pem".into()),
            ..Flags::default()
        };
        assert!(resolve(mixed, &[("VIGIL_CLIENT_CERT", "/c.pem")]).is_ok());
    }

    #[test]
    fn user_needs_a_colon() {
        let user = |value: &str| Flags {
            user: Some(value.into()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(user("alice"), &[]).unwrap_err(),
            "invalid value \"alice\" for --user (expected USER:PASS)"
        );
        let globals = resolve(user("alice:se:cret"), &[]).unwrap();
        assert_eq!(globals.credentials, Credentials::parse("alice:se:cret"));
        let globals = resolve(Flags::default(), &[("VIGIL_USER", "bob:pw")]).unwrap();
        assert_eq!(globals.credentials, Credentials::parse("bob:pw"));
        assert!(
            resolve(Flags::default(), &[("VIGIL_USER", "bob")])
                .unwrap_err()
                .contains("for VIGIL_USER")
        );
    }

    fn proxy(target: &str, vars: &[(&str, &str)]) -> Option<String> {
        match resolve(url(target), vars).unwrap().transport {
            Transport::Url { proxy, .. } => proxy,
            Transport::Unix { .. } => panic!(),
        }
    }

    #[test]
    fn proxies() {
        let vars = [
            ("HTTPS_PROXY", "http://tls-proxy:3128"),
            ("http_proxy", "http://plain-proxy:3128"),
        ];
        assert_eq!(
            proxy("https://h", &vars).as_deref(),
            Some("http://tls-proxy:3128")
        );
        assert_eq!(
            proxy("http://h", &vars).as_deref(),
            Some("http://plain-proxy:3128")
        );
        // Loopback is never proxied.
        for target in [
            "https://localhost:1",
            "https://127.0.0.1:1",
            "https://127.1.2.3",
            "https://[::1]:1",
            "https://a.localhost",
        ] {
            assert_eq!(proxy(target, &vars), None, "{target}");
        }
        // NO_PROXY, as curl reads it.
        for (no_proxy, host, bypassed) in [
            ("*", "h", true),
            ("example.com", "example.com", true),
            ("example.com", "api.example.com", true),
            (".example.com", "api.example.com", true),
            ("*.example.com", "api.example.com", true),
            ("example.com", "badexample.com", false),
            ("other, h ", "h", true),
            ("", "h", false),
        ] {
            let mut all = vars.to_vec();
            all.push(("NO_PROXY", no_proxy));
            let target = format!("https://{host}");
            assert_eq!(
                proxy(&target, &all).is_none(),
                bypassed,
                "{no_proxy:?} {host}"
            );
        }
        assert_eq!(proxy("https://h", &[]), None);
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
