//! The HTTP Server API's configuration (what `netsh http ... sslcert` and `... urlacl` change):
//! SSL certificate bindings by IP:port or by host name (SNI), and URL reservations.
//! Windows keeps them across reboots; a binding names a certificate in a LocalMachine store
//! by its SHA-1 thumbprint and the application that owns it.

use std::fmt;
use std::net::SocketAddr;

use certfleet_certkit::Thumbprint;

use crate::Result;

/// What a binding is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BindingKey {
    /// `ipport=0.0.0.0:4207` (0.0.0.0 covers IPv4 and IPv6; `[::]` IPv6 only).
    IpPort(SocketAddr),
    /// `hostnameport=sage.example.com:4207` (Windows 8 / Server 2012 and later). For clients
    /// that send SNI it wins over an IP:port binding of the same port.
    Sni { host: String, port: u16 },
}

impl BindingKey {
    pub fn port(&self) -> u16 {
        match self {
            BindingKey::IpPort(addr) => addr.port(),
            BindingKey::Sni { port, .. } => *port,
        }
    }
}

impl fmt::Display for BindingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindingKey::IpPort(addr) => write!(f, "ipport={addr}"),
            BindingKey::Sni { host, port } => write!(f, "hostnameport={host}:{port}"),
        }
    }
}

/// One SSL certificate binding, every field `netsh http show sslcert` shows that a
/// replacement must copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslBinding {
    pub key: BindingKey,
    pub thumbprint: Thumbprint,
    /// The store the certificate is in: `MY` unless told otherwise.
    pub store: String,
    /// The owning application's GUID in braces (the Sage 300 connector's is
    /// `{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}`).
    pub app_id: String,
    /// `HTTP_SERVICE_CONFIG_SSL_PARAM.DefaultFlags` and the client-certificate settings,
    /// carried over untouched when a binding is replaced.
    pub flags: u32,
    /// `DefaultCertCheckMode`: client-certificate revocation checking.
    pub cert_check_mode: u32,
    pub revocation_freshness_secs: u32,
    pub revocation_url_timeout_ms: u32,
    pub ctl_identifier: Option<String>,
    pub ctl_store: Option<String>,
}

impl SslBinding {
    /// A new binding with Windows' defaults, as `netsh http add sslcert` makes it.
    pub fn new(key: BindingKey, thumbprint: Thumbprint, app_id: &str) -> Self {
        SslBinding {
            key,
            thumbprint,
            store: "MY".into(),
            app_id: app_id.to_owned(),
            flags: 0,
            cert_check_mode: 0,
            revocation_freshness_secs: 0,
            revocation_url_timeout_ms: 0,
            ctl_identifier: None,
            ctl_store: None,
        }
    }
}

/// Reads `{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}` (braces optional, any case) as 128 bits.
pub fn parse_guid(text: &str) -> Option<u128> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    let groups: Vec<&str> = inner.split('-').collect();
    let shaped = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    shaped
        .then(|| u128::from_str_radix(&groups.concat(), 16).ok())
        .flatten()
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, uppercase, as `netsh` shows an AppId.
pub fn format_guid(value: u128) -> String {
    let hex = format!("{value:032X}");
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A URL reservation: who may listen on a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlAcl {
    /// `https://+:4207/`
    pub url: String,
    /// `D:(A;;GX;;;WD)`: listen for Everyone (`netsh http add urlacl ... user=EVERYONE`).
    pub sddl: String,
}

/// The SDDL `netsh http add urlacl url=... user=EVERYONE` stores.
pub const EVERYONE_MAY_LISTEN: &str = "D:(A;;GX;;;WD)";

/// The HTTP Server API's configuration store. Errors as Windows returns them: adding a
/// record whose key exists is 183 (`ALREADY_EXISTS`), naming a certificate that is not in
/// the store or has no private key is 1312, deleting or querying a missing record is 2.
pub trait HttpConfig: Send + Sync {
    /// Every SSL binding, IP:port and SNI alike.
    fn ssl_bindings(&self) -> Result<Vec<SslBinding>>;
    /// The binding for `key`; `None` when there is none.
    fn ssl_binding(&self, key: &BindingKey) -> Result<Option<SslBinding>>;
    fn add_ssl_binding(&self, binding: &SslBinding) -> Result<()>;
    fn delete_ssl_binding(&self, key: &BindingKey) -> Result<()>;
    fn url_acl(&self, url: &str) -> Result<Option<UrlAcl>>;
    fn add_url_acl(&self, acl: &UrlAcl) -> Result<()>;
    fn delete_url_acl(&self, url: &str) -> Result<()>;
}

/// Replaces the binding for `new.key` the only way every Windows Server supports (delete,
/// then add with every field given); when the add fails the old record is put back, so the
/// port is never left without its certificate. Returns the binding that was there.
pub fn replace_ssl_binding(
    config: &dyn HttpConfig,
    new: &SslBinding,
) -> Result<Option<SslBinding>> {
    let old = config.ssl_binding(&new.key)?;
    if old.is_some() {
        config.delete_ssl_binding(&new.key)?;
    }
    if let Err(e) = config.add_ssl_binding(new) {
        if let Some(old) = &old {
            // The add's error is the one to report; a failing re-add leaves it no worse.
            let _ = config.add_ssl_binding(old);
        }
        return Err(e);
    }
    Ok(old)
}
