//! What a client machine's TLS stack makes of the servers it must trust: one check per
//! endpoint of its `[[trust]]` list (or attached by the console), as its inventory reports it.

use serde::{Deserialize, Serialize};

/// One endpoint this machine must trust, checked as its own TLS clients would check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustCheck {
    /// `host:port`, as configured.
    pub endpoint: String,
    /// The name the certificate must carry (and the one sent as SNI).
    pub server_name: String,
    pub origin: TrustOrigin,
    pub verdict: TrustVerdict,
    /// Why, in words, and what to do about it.
    pub reason: String,
    /// SHA-256 (uppercase hex) of each certificate the endpoint served, leaf first; their
    /// facts are in the snapshot's certificates.
    pub chain: Vec<String>,
    /// The trust store the chain was judged against (`/etc/ssl/certs/ca-certificates.crt`,
    /// `LocalMachine\Root`).
    pub store: String,
    pub revocation: Revocation,
}

words! {
    /// Whether a client machine trusts an endpoint, and if not, the first reason its TLS
    /// stack gives.
    TrustVerdict {
        Trusted = "trusted",
        /// The served chain leads to no root in the machine's trust store.
        UnknownRoot = "unknown_root",
        /// The certificate does not carry the name clients connect by.
        NameMismatch = "name_mismatch",
        Expired = "expired",
        NotYetValid = "not_yet_valid",
        /// The certificate restricts its purposes and leaves out Server Authentication.
        NoServerAuth = "no_server_auth",
        Revoked = "revoked",
        /// A signature or an encoding in the chain is broken.
        InvalidChain = "invalid_chain",
        /// Revocation was to be checked online and its status could not be had.
        RevocationUnknown = "revocation_unknown",
        /// Nothing answered with TLS: the check could not be made.
        Unreachable = "unreachable",
        /// A verdict a newer agent knows and this console does not.
        #[serde(other)]
        Other = "other",
    }
}

words! {
    /// Where a client's trust endpoint comes from.
    TrustOrigin {
        /// The agent's own `[[trust]]` table.
        Config = "config",
        /// A client host group the console attached to a server endpoint.
        Console = "console",
        #[serde(other)]
        Other = "other",
    }
}

words! {
    /// How far revocation was checked.
    Revocation {
        /// Not at all (the Linux bundle carries no revocation lists).
        NotChecked = "not_checked",
        /// Only against what the machine has cached: an offline client does not wait.
        CacheOnly = "cache_only",
        /// Fetched when not cached.
        Online = "online",
        #[serde(other)]
        Other = "other",
    }
}

/// `host:port` as a client connects to it: the host (without IPv6 brackets) and a port other
/// than 0; `None` when either is missing. Both sides read a trust endpoint by this.
pub fn host_and_port(endpoint: &str) -> Option<(&str, u16)> {
    let (host, port) = endpoint.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some((host, port))
}

impl TrustVerdict {
    pub fn is_trusted(self) -> bool {
        self == TrustVerdict::Trusted
    }
}
