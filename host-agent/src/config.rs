//! The agent's configuration file (TOML): what to watch, how often, and its groups. The
//! console URL and identity come from enrolment and live next to it in the data folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Overrides the console URL recorded at enrolment.
    pub server: Option<String>,
    /// How often the configuration and live ports are read again.
    #[serde(default = "default_rescan")]
    pub rescan_secs: u64,
    /// How long a configuration test or restart (a command, or a Windows service's stop and
    /// start) may take before it is stopped and the deployment rolled back.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    /// Labels for the console (`sage`, `esync`, `prod`, …).
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub apache: Vec<ApacheTarget>,
    #[serde(default)]
    pub pem: Vec<PemTarget>,
    #[serde(default)]
    pub sage300: Vec<Sage300Target>,
    /// Servers this machine (a client: BPA Platform, the Connector tool) must trust.
    #[serde(default)]
    pub trust: Vec<TrustTarget>,
    /// Where ACME HTTP-01 challenges are answered while one is under way (default
    /// `0.0.0.0:80`; the CA connects to port 80 of the name).
    #[serde(default)]
    pub acme_http_listen: Option<std::net::SocketAddr>,
}

fn default_rescan() -> u64 {
    300
}

/// The most `command_timeout_secs` may be: an hour.
pub const COMMAND_TIMEOUT_MAX: u64 = 3600;

fn default_command_timeout() -> u64 {
    120
}

/// An Apache httpd whose TLS virtual hosts are inventoried.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApacheTarget {
    /// The main configuration file: `/etc/apache2/apache2.conf`,
    /// `C:\eSync\Apache24\conf\httpd.conf`.
    pub config: PathBuf,
    /// When the file does not set ServerRoot and it is not the folder above `conf/`.
    pub server_root: Option<PathBuf>,
    /// The configuration test run before any restart; default `apache2ctl -t` (Debian) or
    /// `<ServerRoot>\bin\httpd.exe -t -f <config>` (Windows).
    pub config_test: Option<Vec<String>>,
    /// A command that restarts Apache after a deployment; default `apache2ctl graceful`
    /// (Debian), or on Windows restarting `service` through the service control manager.
    pub restart: Option<Vec<String>>,
    /// The Windows service of this Apache, restarted (and waited for) after a deployment;
    /// default "eSync Apache Web Server" on Windows.
    pub service: Option<String>,
    /// Read for the reason when a restart fails; default `/var/log/apache2/error.log` or
    /// `<ServerRoot>\logs\error.log`.
    pub error_log: Option<PathBuf>,
    /// Sites certfleet configures itself, in a marked block of the main configuration file
    /// (the eSync set-up: Listen, mod_ssl and a TLS VirtualHost).
    #[serde(default)]
    pub managed: Vec<ManagedSite>,
    /// Where the managed sites' files go; default `<ServerRoot>/conf/certfleet`.
    pub managed_dir: Option<PathBuf>,
    /// mod_ssl for the managed block; default `modules/mod_ssl.so` (Windows) or Debian's
    /// `/usr/lib/apache2/modules/mod_ssl.so`.
    pub ssl_module: Option<PathBuf>,
    /// SHA-256 fingerprints of the CA certificates this target accepts certificates from
    /// (an intermediate or a root of the chain); empty: any. A console that was taken over
    /// cannot then make this host serve a certificate from another CA.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
}

/// A TLS site in the managed block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManagedSite {
    pub server_name: String,
    #[serde(default = "default_https_port")]
    pub port: u16,
    /// More lines for the VirtualHost (e.g. the application's ProxyPass).
    #[serde(default)]
    pub extra: Vec<String>,
}

fn default_https_port() -> u16 {
    443
}

impl ManagedSite {
    /// The endpoint key the inventory reports it under (the same as the parser's once the
    /// block exists).
    pub fn endpoint_key(&self) -> String {
        format!("apache:*:{}:{}", self.port, self.server_name)
    }
}

/// Certificate files used by some other server (nginx, haproxy, …).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PemTarget {
    pub name: String,
    pub certificate: PathBuf,
    pub key: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    /// `host:port` of the live TLS port serving these files, to probe.
    pub address: Option<String>,
    /// The host name clients use (checked against the certificate); default `name`.
    pub host: Option<String>,
    /// Run after new files are written, before `reload` (e.g. `nginx -t`).
    pub check: Option<Vec<String>>,
    /// Makes the server load the new files (e.g. `systemctl reload nginx`).
    pub reload: Option<Vec<String>>,
    /// SHA-256 fingerprints of the CA certificates this target accepts certificates from
    /// (an intermediate or a root of the chain); empty: any. A console that was taken over
    /// cannot then make this host serve a certificate from another CA.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
}

/// A Sage 300 Connector Agent installation: its `.exe.config` (whose `ServiceUri` says the
/// scheme, host and port) and its Windows service.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sage300Target {
    /// `C:\Program Files (x86)\Sage 300 Connector Agent\Sage300IntegrationService.exe.config`
    pub config: PathBuf,
    /// Restarted after a change; default "Sage 300 Connector Agent".
    pub service: Option<String>,
    /// Where to check what the port serves, when the `ServiceUri` host does not lead back
    /// to this machine from here (default: that host and port).
    pub address: Option<String>,
    /// The name clients reach the connector by, written into `ServiceUri` (default: the
    /// host `ServiceUri` names now; the certificate must name it).
    pub fqdn: Option<String>,
    /// Also put an issuing CA's root into LocalMachine\Root when deploying (a self-signed
    /// certificate always goes there, as the connector's procedure says).
    #[serde(default)]
    pub import_root: bool,
    /// SHA-256 fingerprints of the CA certificates this target accepts certificates from
    /// (an intermediate or a root of the chain); empty: any. A console that was taken over
    /// cannot then make this host serve a certificate from another CA.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
}

/// A server endpoint this client machine must trust: its certificate (self-signed) or its
/// issuing CA goes into the machine's trust store before the server switches to it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustTarget {
    /// `host:port` the machine's clients connect to (`sage01.example.com:4207`).
    pub endpoint: String,
    /// The name the certificate must carry, when clients use another than the host.
    pub server_name: Option<String>,
    /// Linux: where certfleet puts the certificates it installs; default
    /// `/usr/local/share/ca-certificates/` (Debian's folder for local CAs).
    pub bundle_dir: Option<PathBuf>,
    /// Linux: rebuilds the system bundle after a change; default `update-ca-certificates`.
    pub update_command: Option<Vec<String>>,
    /// Linux: the bundle the check judges the served chain against; default the system's
    /// (`/etc/ssl/certs/ca-certificates.crt`).
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprints of CA certificates this machine may be told to trust for the
    /// endpoint; a self-signed certificate naming the endpoint's host needs none.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
    /// Windows: `cache_only` (default: an offline client does not wait on a CRL fetch, and a
    /// status not cached is not a failure) or `online`.
    #[serde(default)]
    pub revocation: TrustRevocation,
}

/// How far a Windows client's check looks at revocation.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrustRevocation {
    #[default]
    CacheOnly,
    Online,
}

/// Debian's and Ubuntu's (and Alpine's) system bundle; Fedora's and RHEL's.
const SYSTEM_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

impl TrustTarget {
    /// The host part of `endpoint`.
    pub fn host(&self) -> &str {
        certfleet_proto::host_and_port(&self.endpoint).map_or(&self.endpoint, |(host, _)| host)
    }

    /// The name checked against the certificate.
    pub fn server_name(&self) -> String {
        self.server_name
            .clone()
            .unwrap_or_else(|| self.host().to_owned())
            .to_ascii_lowercase()
    }

    /// The bundle the check reads: `ca_file`, else the first system bundle that exists.
    pub fn ca_file(&self) -> PathBuf {
        self.ca_file.clone().unwrap_or_else(|| {
            SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .unwrap_or_else(|| PathBuf::from(SYSTEM_BUNDLES[0]))
        })
    }
}

impl Sage300Target {
    pub fn service(&self) -> &str {
        self.service
            .as_deref()
            .unwrap_or(crate::sage300::DEFAULT_SERVICE)
    }
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the agent configuration {}; enrol first, or pass --config",
                path.display()
            )
        })?;
        Self::parse(&text).with_context(|| {
            format!(
                "the agent configuration {} is invalid (half-written? fix it and restart)",
                path.display()
            )
        })
    }

    pub fn parse(text: &str) -> Result<Self> {
        let config: AgentConfig = toml::from_str(text)?;
        if config.rescan_secs < 2 {
            bail!("rescan_secs must be at least 2");
        }
        if !(1..=COMMAND_TIMEOUT_MAX).contains(&config.command_timeout_secs) {
            bail!(
                "command_timeout_secs = {} is out of range: give 1 to {COMMAND_TIMEOUT_MAX} \
                 seconds (the default, 120, suits an Apache restart)",
                config.command_timeout_secs
            );
        }
        for pem in &config.pem {
            if pem.name.trim().is_empty() {
                bail!("every [[pem]] target needs a name");
            }
        }
        for trust in &config.trust {
            if certfleet_proto::host_and_port(&trust.endpoint).is_none() {
                bail!(
                    "[[trust]] endpoint = {:?} is not host:port (e.g. \"sage01.example.com:4207\")",
                    trust.endpoint
                );
            }
        }
        let lists = config
            .apache
            .iter()
            .map(|t| &t.allowed_issuers)
            .chain(config.pem.iter().map(|t| &t.allowed_issuers))
            .chain(config.sage300.iter().map(|t| &t.allowed_issuers))
            .chain(config.trust.iter().map(|t| &t.allowed_issuers));
        for entry in lists.flatten() {
            if let Err(e) = certfleet_certkit::Fingerprint::parse(entry) {
                bail!(
                    "allowed_issuers: {entry:?} is not a SHA-256 fingerprint ({e}; \
                     `certfleet-agent inspect ca.pem` shows it)"
                );
            }
        }
        Ok(config)
    }
}

/// Written by `enroll` when no configuration exists yet.
pub const STARTER: &str = r#"# certfleet agent configuration. Restart the agent after changing it.

# How often configuration files and live ports are read again (seconds).
rescan_secs = 300

# How long a configuration test or a restart may take before it is stopped (and its
# process group killed) and the deployment rolled back (seconds, 1 to 3600).
# command_timeout_secs = 120

# Labels the console can group hosts by.
groups = []

# An Apache httpd (eSync, or any other); its TLS virtual hosts are found by reading the
# configuration and everything it includes.
# [[apache]]
# config = "/etc/apache2/apache2.conf"           # Debian / Ubuntu
# config = 'C:\eSync\Apache24\conf\httpd.conf'    # eSync on Windows
# service = "eSync Apache Web Server"             # Windows: restarted through the SCM
# A TLS site certfleet writes into a marked block of that file (Listen, mod_ssl, VirtualHost):
# [[apache.managed]]
# server_name = "esync.example.com"
# port = 443
# extra = ["ProxyPass / http://127.0.0.1:8080/"]

# A Sage 300 Connector Agent installation (HTTP.sys, port 4207 by default).
# [[sage300]]
# config = 'C:\Program Files (x86)\Sage 300 Connector Agent\Sage300IntegrationService.exe.config'
# service = "Sage 300 Connector Agent"

# Any target may also say which CAs it accepts certificates from (SHA-256 of the CA
# certificate, as `certfleet-agent inspect ca.pem` shows it); others are refused:
# allowed_issuers = ["3F2A...64 hex digits"]

# Certificate files of another server (nginx, haproxy, ...), and its live port.
# [[pem]]
# name = "www.example.com"
# certificate = "/etc/nginx/tls/www.pem"
# key = "/etc/nginx/tls/www.key"
# address = "127.0.0.1:443"
# check = ["nginx", "-t"]                        # run before reload when deploying
# reload = ["systemctl", "reload", "nginx"]

# On a client machine (BPA Platform, the Sage 300 Connector tool): a server it must trust.
# `certfleet-agent scan` shows whether it does, and why not.
# [[trust]]
# endpoint = "sage01.example.com:4207"
# server_name = "sage01.example.com"             # when the certificate names another host
# ca_file = "/etc/ssl/certs/ca-certificates.crt" # Linux: the bundle judged against
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_configuration_parses() {
        let config = AgentConfig::parse(STARTER).expect("starter");
        assert_eq!(config.rescan_secs, 300);
        assert_eq!(config.command_timeout_secs, 120);
        assert!(config.apache.is_empty() && config.pem.is_empty() && config.sage300.is_empty());
        assert!(config.trust.is_empty());
    }

    #[test]
    fn targets_parse() {
        let config = AgentConfig::parse(
            "groups = [\"esync\"]\n[[apache]]\nconfig = 'C:\\eSync\\Apache24\\conf\\httpd.conf'\n[[pem]]\nname = \"www\"\ncertificate = \"/a.pem\"\naddress = \"127.0.0.1:443\"\n",
        )
        .expect("parse");
        assert_eq!(config.apache.len(), 1);
        assert_eq!(config.pem[0].address.as_deref(), Some("127.0.0.1:443"));
        let sage = AgentConfig::parse(
            "[[sage300]]\nconfig = 'C:\\Sage\\Sage300IntegrationService.exe.config'\n[[sage300]]\nconfig = 'D:\\Other\\a.exe.config'\nservice = \"Sage 300 Connector Agent 2\"\n",
        )
        .expect("sage");
        assert_eq!(sage.sage300.len(), 2);
        assert_eq!(sage.sage300[0].service(), "Sage 300 Connector Agent");
        assert_eq!(sage.sage300[1].service(), "Sage 300 Connector Agent 2");
    }

    #[test]
    fn a_half_written_file_is_refused_with_its_name_and_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "rescan_secs = 60\n[[apache]]\nconfig = \"/etc/apa").expect("write");
        let err = AgentConfig::load(&path).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("agent.toml"), "{text}");
        assert!(text.contains("line 3"), "{text}");
    }

    #[test]
    fn a_trust_endpoint_is_host_and_port() {
        let config = AgentConfig::parse(
            "[[trust]]\nendpoint = \"SAGE01.example.test:4207\"\n[[trust]]\nendpoint = \"[::1]:443\"\nserver_name = \"sage01\"\n",
        )
        .expect("parse");
        assert_eq!(config.trust[0].server_name(), "sage01.example.test");
        assert_eq!(config.trust[1].host(), "::1");
        assert_eq!(config.trust[1].server_name(), "sage01");
        for bad in ["sage01", "sage01:https", ":4207", "sage01:0"] {
            let err = AgentConfig::parse(&format!("[[trust]]\nendpoint = \"{bad}\"\n"))
                .expect_err(bad)
                .to_string();
            assert!(err.contains("host:port"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(AgentConfig::parse("rescan = 5\n").is_err());
        assert!(AgentConfig::parse("rescan_secs = 1\n").is_err());
    }

    #[test]
    fn a_command_timeout_out_of_range_is_refused_naming_the_range() {
        assert_eq!(
            AgentConfig::parse("command_timeout_secs = 5\n")
                .expect("5 s")
                .command_timeout_secs,
            5
        );
        for bad in ["0", "3601"] {
            let err = AgentConfig::parse(&format!("command_timeout_secs = {bad}\n"))
                .expect_err(bad)
                .to_string();
            assert!(err.contains("1 to 3600"), "{err}");
        }
    }
}
