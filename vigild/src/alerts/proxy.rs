//! Which proxy an outbound request goes through (checks-and-alerts.md §13):
//! the proxy URL chosen from the alert's `proxy` or the environment, and the
//! `no-proxy` rules that bypass it.
//!
//! Pure: the environment comes in as a lookup function, so that nothing here
//! reads the process environment, touches the network or resolves a name (a
//! CIDR entry matches IP literals only). The HTTP probe (§4.1) chooses its
//! proxy with the same pieces, and its own variables and loopback rule
//! (`checks/probe.rs`).
//!
//! | `no-proxy` entry | Bypasses the proxy when |
//! |---|---|
//! | `*` | always |
//! | `example.com`, `.example.com`, `*.example.com` | the host is `example.com` or ends with `.example.com` |
//! | `10.1.2.3`, `::1`, `[::1]` | the host is that IP literal |
//! | `10.0.0.0/8`, `fd00::/8` | the host is an IP literal inside the range |
//! | any of these followed by `:port` (`[::1]:8080`, `fd00::/8:443`) | the rule holds and the target port is `port` |
//!
//! The list is comma-separated; entries are trimmed and compared without
//! regard to case, and empty entries are ignored. An entry that is none of
//! the above (`10.0.0.0/40`, `host:port:x`) matches nothing. A bare IPv6
//! address takes no port (its colons are its own): write `[::1]:8080`.

use std::net::IpAddr;

/// The variables that name the proxy of an `https` target (§13), in order.
pub const HTTPS_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// The variables that name the proxy of an `http` target (§13), in order.
pub const HTTP_VARIABLES: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// The variables that hold the `no-proxy` list when the alert sets none.
pub const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The scheme of a target URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: a proxy forwards the request (absolute-form).
    Http,
    /// `https://`: a proxy tunnels it with `CONNECT`.
    Https,
}

/// Where a request goes, as far as proxy choice cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The URL's scheme.
    pub scheme: Scheme,
    /// The URL's host: a name, an IPv4 literal or an IPv6 literal with or
    /// without brackets.
    pub host: &'a str,
    /// The port connected to (the scheme's default when the URL has none).
    pub port: u16,
}

/// A proxy URL and where it was found, so that an unusable one can be named
/// (`invalid proxy URL in HTTPS_PROXY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// `proxy` for the alert's own setting, else the variable's name.
    pub source: &'static str,
    /// The URL as written, trimmed; not yet parsed.
    pub url: String,
}

/// The proxy of an alert delivery to `target` (§13), or `None` to go
/// direct: the explicit `proxy` when it is set, else the first non-empty
/// variable of [`HTTPS_VARIABLES`] or [`HTTP_VARIABLES`]; none at all when
/// the `no-proxy` list ([`NoProxy::from_settings`]) covers the target.
/// Empty settings count as not set (§12).
pub fn for_alert(
    target: &Target<'_>,
    proxy: Option<&str>,
    no_proxy: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Chosen> {
    if NoProxy::from_settings(no_proxy, env).matches(target.host, target.port) {
        return None;
    }
    if let Some(url) = non_empty(proxy) {
        return Some(Chosen {
            source: "proxy",
            url: url.to_owned(),
        });
    }
    let names = match target.scheme {
        Scheme::Https => &HTTPS_VARIABLES,
        Scheme::Http => &HTTP_VARIABLES,
    };
    first_set(names, env)
}

/// The first of `names` whose value is not empty (nor only blanks).
pub fn first_set(names: &[&'static str], env: &dyn Fn(&str) -> Option<String>) -> Option<Chosen> {
    names.iter().find_map(|&name| {
        let value = env(name)?;
        let value = value.trim();
        (!value.is_empty()).then(|| Chosen {
            source: name,
            url: value.to_owned(),
        })
    })
}

/// A parsed `no-proxy` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

impl NoProxy {
    /// Parses a comma-separated list; empty and unusable entries are left
    /// out.
    #[must_use]
    pub fn parse(list: &str) -> NoProxy {
        NoProxy {
            entries: list.split(',').filter_map(Entry::parse).collect(),
        }
    }

    /// The list in force: `explicit` (the alert's `no-proxy`) when it is set
    /// and not empty, else the first non-empty of [`NO_PROXY_VARIABLES`].
    #[must_use]
    pub fn from_settings(explicit: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> NoProxy {
        match non_empty(explicit) {
            Some(list) => NoProxy::parse(list),
            None => first_set(&NO_PROXY_VARIABLES, env)
                .map(|chosen| NoProxy::parse(&chosen.url))
                .unwrap_or_default(),
        }
    }

    /// Whether some entry covers `host` at `port`.
    #[must_use]
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = Host::new(host);
        self.entries.iter().any(|entry| entry.covers(&host, port))
    }

    /// The entries, in the list's order.
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// One usable `no-proxy` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it matches.
    pub pattern: Pattern,
    /// With `:port`, the one target port it applies to.
    pub port: Option<u16>,
}

/// What an [`Entry`] matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `*`: every host.
    Any,
    /// A domain, lower case, without its leading `.` or `*.`: the domain
    /// itself and every name under it.
    Domain(String),
    /// An IP literal: that address only.
    Address(IpAddr),
    /// A CIDR range: IP literals inside it. `address` has its host bits
    /// cleared.
    Network {
        /// The first address of the range.
        address: IpAddr,
        /// The prefix length, at most 32 or 128.
        prefix: u8,
    },
}

impl Entry {
    /// Parses one entry (see the module's table); `None` for an empty or
    /// unusable one.
    #[must_use]
    pub fn parse(text: &str) -> Option<Entry> {
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() {
            return None;
        }
        // `[v6]`, `[v6]:port`.
        if let Some(rest) = text.strip_prefix('[') {
            let (address, tail) = rest.split_once(']')?;
            let port = match tail {
                "" => None,
                _ => Some(tail.strip_prefix(':')?.parse().ok()?),
            };
            let pattern = match address.split_once('/') {
                Some((address, prefix)) => network(address, prefix)?,
                None => Pattern::Address(address.parse().ok()?),
            };
            return Some(Entry { pattern, port });
        }
        // `10.0.0.0/8`, `fd00::/8`, either with `:port` after the prefix.
        if let Some((address, rest)) = text.split_once('/') {
            let (prefix, port) = match rest.split_once(':') {
                Some((prefix, port)) => (prefix, Some(port.parse().ok()?)),
                None => (rest, None),
            };
            let pattern = network(address, prefix)?;
            return Some(Entry { pattern, port });
        }
        // A bare IP literal: IPv6 has no room for a port.
        if let Ok(address) = text.parse::<IpAddr>() {
            return Some(Entry {
                pattern: Pattern::Address(address),
                port: None,
            });
        }
        let (pattern, port) = match text.rsplit_once(':') {
            Some((pattern, port)) => (pattern, Some(port.parse().ok()?)),
            None => (text.as_str(), None),
        };
        if pattern == "*" {
            return Some(Entry {
                pattern: Pattern::Any,
                port,
            });
        }
        if let Ok(address) = pattern.parse::<IpAddr>() {
            return Some(Entry {
                pattern: Pattern::Address(address),
                port,
            });
        }
        let domain = pattern
            .strip_prefix("*.")
            .or_else(|| pattern.strip_prefix('.'))
            .unwrap_or(pattern)
            .trim_end_matches('.');
        let usable = !domain.is_empty()
            && !domain
                .chars()
                .any(|c| matches!(c, ':' | '/' | '*' | '[' | ']') || c.is_whitespace());
        usable.then(|| Entry {
            pattern: Pattern::Domain(domain.to_owned()),
            port,
        })
    }

    /// Whether this entry covers `host` at `port`.
    #[must_use]
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.covers(&Host::new(host), port)
    }

    fn covers(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|wanted| wanted != port) {
            return false;
        }
        match &self.pattern {
            Pattern::Any => true,
            Pattern::Domain(domain) => {
                host.name == *domain
                    || host
                        .name
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            Pattern::Address(address) => host.address == Some(*address),
            Pattern::Network { address, prefix } => host
                .address
                .is_some_and(|ip| masked(ip, *prefix) == Some(*address)),
        }
    }
}

/// A target host made ready for matching: lower case, without brackets or
/// a trailing dot, and its address when it is an IP literal.
struct Host {
    name: String,
    address: Option<IpAddr>,
}

impl Host {
    fn new(host: &str) -> Host {
        let name = host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let address = name.parse().ok();
        Host { name, address }
    }
}

/// `address/prefix` as a [`Pattern::Network`]; `None` when either part is
/// not valid for the other.
fn network(address: &str, prefix: &str) -> Option<Pattern> {
    let address: IpAddr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    Some(Pattern::Network {
        address: masked(address, prefix)?,
        prefix,
    })
}

/// `ip` with all but its first `prefix` bits cleared; `None` when the
/// prefix is longer than the address.
fn masked(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(ip) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::from((u32::from(ip) & mask).to_be_bytes()))
        }
        IpAddr::V6(ip) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::from((u128::from(ip) & mask).to_be_bytes()))
        }
        _ => None,
    }
}

/// `value` unless it is unset, empty or only blanks.
fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_lists_read_as_section_13_says() {
        // (list, host, port, bypassed)
        let table: &[(&str, &str, u16, bool)] = &[
            // `*`, alone or in a list, with or without a port.
            ("*", "anything.example", 80, true),
            ("internal, *", "10.1.2.3", 443, true),
            ("*:8080", "anything.example", 8080, true),
            ("*:8080", "anything.example", 80, false),
            // Domains: the name itself and the names under it.
            ("example.com", "example.com", 80, true),
            ("example.com", "api.example.com", 80, true),
            ("example.com", "a.b.example.com", 80, true),
            ("example.com", "badexample.com", 80, false),
            ("example.com", "example.com.evil", 80, false),
            (".example.com", "example.com", 80, true),
            (".example.com", "api.example.com", 80, true),
            ("*.example.com", "a.b.example.com", 80, true),
            ("Example.COM", "API.example.com", 80, true),
            ("example.com", "EXAMPLE.COM.", 80, true),
            // IP literals.
            ("10.1.2.3", "10.1.2.3", 80, true),
            ("10.1.2.3", "10.1.2.4", 80, false),
            ("::1", "::1", 80, true),
            ("::1", "[::1]", 80, true),
            ("[::1]", "[::1]", 80, true),
            ("[::1]", "::1", 80, true),
            ("[fd00::2]", "[FD00:0::2]", 80, true),
            ("::1", "::2", 80, false),
            // CIDR, with no name lookup.
            ("10.0.0.0/8", "10.200.0.1", 80, true),
            ("10.0.0.0/8", "11.0.0.1", 80, false),
            ("10.1.2.3/8", "10.9.9.9", 80, true),
            ("192.168.1.0/24", "192.168.1.254", 80, true),
            ("192.168.1.0/24", "192.168.2.1", 80, false),
            ("0.0.0.0/0", "203.0.113.9", 80, true),
            ("10.0.0.0/8", "ten.example", 80, false),
            ("10.0.0.0/8", "[::ffff:10.0.0.1]", 80, false),
            ("fd00::/8", "[fd12::1]", 80, true),
            ("fd00::/8", "fd12::1", 80, true),
            ("fd00::/8", "[fe80::1]", 80, false),
            ("[fd00::/8]", "[fd12::1]", 80, true),
            ("2001:db8::/32", "[2001:db8:ffff::1]", 80, true),
            ("2001:db8::/32", "[2001:db9::1]", 80, false),
            ("fd00::/8", "10.0.0.1", 80, false),
            // Ports.
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "api.example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("10.1.2.3:443", "10.1.2.3", 443, true),
            ("10.1.2.3:443", "10.1.2.3", 80, false),
            ("[::1]:8080", "[::1]", 8080, true),
            ("[::1]:8080", "[::1]", 80, false),
            ("10.0.0.0/8:443", "10.0.0.1", 443, true),
            ("10.0.0.0/8:443", "10.0.0.1", 80, false),
            ("fd00::/8:443", "[fd00::1]", 443, true),
            ("fd00::/8:443", "[fd00::1]", 80, false),
            // Lists: trimmed, empty entries ignored.
            (" internal , 10.0.0.0/8 ", "api.internal", 80, true),
            (" internal , 10.0.0.0/8 ", "10.9.9.9", 80, true),
            (" internal , 10.0.0.0/8 ", "api.example", 80, false),
            (",, ,", "anything", 80, false),
            ("", "anything", 80, false),
            (",example.com,", "example.com", 80, true),
            // Unusable entries match nothing.
            ("10.0.0.0/33", "10.0.0.1", 80, false),
            ("fd00::/129", "[fd00::1]", 80, false),
            ("example.com:http", "example.com", 80, false),
            ("[::1", "[::1]", 80, false),
            ("a b", "a b", 80, false),
            (".", "example.com", 80, false),
        ];
        for &(list, host, port, bypassed) in table {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                bypassed,
                "no-proxy {list:?}, host {host:?}, port {port}"
            );
        }
    }

    #[test]
    fn entries_parse_into_patterns() {
        assert_eq!(
            Entry::parse(" *.Example.com:8080 "),
            Some(Entry {
                pattern: Pattern::Domain("example.com".into()),
                port: Some(8080),
            })
        );
        assert_eq!(
            Entry::parse("10.1.2.3/8"),
            Some(Entry {
                pattern: Pattern::Network {
                    address: "10.0.0.0".parse().unwrap(),
                    prefix: 8,
                },
                port: None,
            })
        );
        assert_eq!(
            Entry::parse("[::1]"),
            Some(Entry {
                pattern: Pattern::Address("::1".parse().unwrap()),
                port: None,
            })
        );
        assert_eq!(Entry::parse("  "), None);
        assert_eq!(NoProxy::parse("a, ,b,10.0.0.0/99").entries().len(), 2);
    }

    fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    }

    fn chosen(
        url: &str,
        proxy: Option<&str>,
        no_proxy: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Option<(&'static str, String)> {
        let (scheme, rest) = url.split_once("://").unwrap();
        let scheme = match scheme {
            "https" => Scheme::Https,
            _ => Scheme::Http,
        };
        let (host, port) = rest.rsplit_once(':').unwrap();
        let target = Target {
            scheme,
            host,
            port: port.parse().unwrap(),
        };
        for_alert(&target, proxy, no_proxy, &environment(vars))
            .map(|chosen| (chosen.source, chosen.url))
    }

    #[test]
    fn the_proxy_follows_the_scheme_then_all_proxy() {
        let vars = &[
            ("HTTPS_PROXY", "http://tls:1"),
            ("http_proxy", "http://plain:2"),
            ("ALL_PROXY", "http://all:3"),
        ];
        assert_eq!(
            chosen("https://api:443", None, None, vars),
            Some(("HTTPS_PROXY", "http://tls:1".into()))
        );
        assert_eq!(
            chosen("http://api:80", None, None, vars),
            Some(("http_proxy", "http://plain:2".into()))
        );
        // Upper case first; empty values are skipped; ALL_PROXY last.
        let vars = &[
            ("HTTP_PROXY", " "),
            ("http_proxy", ""),
            ("all_proxy", "http://all-lower:4"),
            ("https_proxy", " http://tls-lower:5 "),
        ];
        assert_eq!(
            chosen("http://api:80", None, None, vars),
            Some(("all_proxy", "http://all-lower:4".into()))
        );
        assert_eq!(
            chosen("https://api:443", None, None, vars),
            Some(("https_proxy", "http://tls-lower:5".into()))
        );
        assert_eq!(chosen("http://api:80", None, None, &[]), None);
        // Loopback gets no special treatment for alerts (§13).
        assert_eq!(
            chosen(
                "http://127.0.0.1:80",
                None,
                None,
                &[("ALL_PROXY", "http://p:1")]
            ),
            Some(("ALL_PROXY", "http://p:1".into()))
        );
    }

    #[test]
    fn explicit_settings_come_first_and_empty_ones_do_not_count() {
        let vars = &[("HTTP_PROXY", "http://env:1"), ("NO_PROXY", "env.example")];
        assert_eq!(
            chosen("http://api:80", Some("http://mine:9"), None, vars),
            Some(("proxy", "http://mine:9".into()))
        );
        assert_eq!(
            chosen("http://api:80", Some("  "), None, vars),
            Some(("HTTP_PROXY", "http://env:1".into()))
        );
        // NO_PROXY applies to the explicit proxy too...
        assert_eq!(
            chosen("http://env.example:80", Some("http://mine:9"), None, vars),
            None
        );
        // ...unless the alert's own no-proxy replaces it.
        assert_eq!(
            chosen("http://env.example:80", None, Some("other"), vars),
            Some(("HTTP_PROXY", "http://env:1".into()))
        );
        assert_eq!(chosen("http://other:80", None, Some("other"), vars), None);
        // An empty no-proxy falls back to the environment.
        assert_eq!(chosen("http://env.example:80", None, Some(""), vars), None);
        assert_eq!(
            chosen(
                "http://x:80",
                None,
                None,
                &[("HTTP_PROXY", "http://p:1"), ("no_proxy", "*")]
            ),
            None
        );
    }
}
