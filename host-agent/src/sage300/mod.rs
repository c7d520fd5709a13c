//! Sage 300 Connector Agent hosts: the connector listens through HTTP.sys on the port its
//! `ServiceUri` names (4207 by default); HTTPS means a certificate in LocalMachine\My bound
//! to that port with the connector's appid, a URL reservation, `ServiceUri` set to
//! `https://FQDN:PORT`, and a restart of the service. `connector_config` reads and edits the
//! connector's `.exe.config`.

pub mod connector_config;
pub mod discover;
/// Test wiring only: nothing in the agent's configuration selects it.
pub mod fake_listener;

use std::fmt;

pub use connector_config::{ConfigError, ConnectorConfig};

/// The application id the connector's own set-up binds its certificate with.
pub const APP_ID: &str = "{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}";
/// The port the connector's installer chooses.
pub const DEFAULT_PORT: u16 = 4207;
/// The service its installer creates.
pub const DEFAULT_SERVICE: &str = "Sage 300 Connector Agent";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// The connector's `ServiceUri`: where it listens, and the name clients reach it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUri {
    pub scheme: Scheme,
    /// Lowercase; an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
    /// Whatever followed the authority (usually nothing).
    pub path: String,
}

impl ServiceUri {
    pub fn https(host: &str, port: u16) -> Self {
        ServiceUri {
            scheme: Scheme::Https,
            host: host.to_ascii_lowercase(),
            port,
            path: String::new(),
        }
    }

    /// `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: hyper::Uri = text.trim().parse().map_err(|e| format!("{e}"))?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => return Err(format!("the scheme {other:?} is not http or https")),
            None => return Err("it has no http:// or https://".into()),
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let (host, port) = host_and_port(authority)?;
        let port = port.unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| *p != "/" || text.trim().ends_with('/'))
            .unwrap_or_default()
            .to_owned();
        Ok(ServiceUri {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The same address on https (first-time enablement keeps host, port and path).
    pub fn as_https(&self, host: &str) -> Self {
        ServiceUri {
            scheme: Scheme::Https,
            host: host.to_ascii_lowercase(),
            port: self.port,
            path: self.path.clone(),
        }
    }
}

/// The host (lowercase; an IPv6 address without brackets) and the port of an authority, each
/// checked as the connector's .NET `Uri` would: a DNS name or an IPv4 address, or an IPv6
/// address in brackets, then `:digits` or nothing. (hyper's parser alone took
/// `o[fe80::1]:420(7` for a host `o[fe80` on the default port: found by fuzzing.)
fn host_and_port(authority: &str) -> Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it names no host".into());
    }
    if authority.contains('@') {
        return Err("it carries a user name before the host".into());
    }
    let (host, rest) = match authority.strip_prefix('[') {
        Some(inner) => {
            let (v6, rest) = inner
                .split_once(']')
                .ok_or_else(|| format!("the IPv6 address in {authority:?} has no closing ]"))?;
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
            (v6, rest)
        }
        None => match authority.find(':') {
            Some(at) => (&authority[..at], &authority[at..]),
            None => (authority, ""),
        },
    };
    // `+` and `*`: HTTP.sys's strong and weak wildcards.
    let is_name = |h: &str| {
        h == "+"
            || h == "*"
            || !h.is_empty()
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
    };
    if !authority.starts_with('[') && !is_name(host) {
        return Err(format!(
            "the host {host:?} is not a DNS name or an IP address"
        ));
    }
    let port = match rest {
        "" => None,
        _ => {
            let digits = rest.strip_prefix(':').unwrap_or(rest);
            Some(
                digits
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        format!("the port {digits:?} is not a number from 1 to 65535")
                    })?,
            )
        }
    };
    Ok((host.to_ascii_lowercase(), port))
}

impl fmt::Display for ServiceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{host}:{}{}", self.scheme, self.port, self.path)
    }
}
