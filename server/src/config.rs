//! The console's configuration: one struct, read from a TOML file, then environment
//! variables (`CERTFLEET_` prefix, `__` for nesting), then command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, the CA and the secrets live.
    pub data_dir: PathBuf,
    /// HTTPS for the web UI and the JSON API (browsers are never asked for a certificate).
    pub api_listen: SocketAddr,
    /// HTTPS for agents: enrolment and the mutually authenticated WebSocket.
    pub gateway_listen: SocketAddr,
    /// Extra DNS names or IP addresses for the console's TLS certificate; `localhost` and
    /// `127.0.0.1` are always included.
    pub names: Vec<String>,
    /// The URL agents dial, printed in enrolment instructions. Default:
    /// `https://<first name>:<gateway port>`.
    pub gateway_url: Option<String>,
    /// How often agents send a heartbeat; three missed ones make an agent offline.
    pub heartbeat_secs: u64,
    /// For load tests only: agents are told to beat this many milliseconds apart instead
    /// (10 to 1000), so a benchmark sees a thousand heartbeats in seconds. Whether an agent
    /// is offline is still judged by `heartbeat_secs`.
    pub heartbeat_ms: Option<u64>,
    /// An API connection with no request and no traffic for this long is closed.
    pub api_idle_secs: u64,
    /// Lifetime of an agent's client certificate (renewed at two thirds).
    pub agent_cert_days: u32,
    /// Default lifetime of an enrolment token.
    pub token_hours: u64,
    /// Name of the first admin, created with a one-time password at the first start.
    pub admin_username: String,
    /// The web UI's browser files (`scripts/build-web.sh` output). Default: `site` next to
    /// the executable, else `../site` (cargo's target folder).
    pub site_dir: Option<PathBuf>,
    /// Where the agent binaries the Agents page offers are (`certfleet-agent`,
    /// `certfleet-agent.exe`). Default: next to the console's executable.
    pub downloads_dir: Option<PathBuf>,
    /// Expiry and health alerts by email.
    pub alerts: crate::alerts::settings::AlertSettings,
    /// Who may read `/metrics` besides logged-in users.
    pub metrics: MetricsConfig,
    /// Renewals the console obtains itself, by host group's policy.
    pub renewals: crate::policy::RenewalsConfig,
    /// The ACME CA for policies with `source = "acme"`.
    pub acme: crate::acme::AcmeConfig,
}

/// `[metrics]`: a bearer token for a scraper (Prometheus) that has no console account.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "redacted"))
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("certfleet-data"),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            gateway_listen: SocketAddr::from(([0, 0, 0, 0], 8444)),
            names: Vec::new(),
            gateway_url: None,
            heartbeat_secs: 30,
            heartbeat_ms: None,
            api_idle_secs: 60,
            agent_cert_days: 30,
            token_hours: 24,
            admin_username: "admin".into(),
            site_dir: None,
            downloads_dir: None,
            alerts: crate::alerts::settings::AlertSettings::default(),
            metrics: MetricsConfig::default(),
            renewals: crate::policy::RenewalsConfig::default(),
            acme: crate::acme::AcmeConfig::default(),
        }
    }
}

/// Values given on the command line; they win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub api_listen: Option<SocketAddr>,
    pub gateway_listen: Option<SocketAddr>,
}

const ENV_PREFIX: &str = "CERTFLEET_";
/// Variables with the prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "LOG", "ADMIN_PASSWORD", "KEK"];

impl Config {
    /// File (if any), then `vars` (the process environment in production), then flags.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                text.parse::<toml::Table>().with_context(|| {
                    format!("the config file {} is not valid TOML", path.display())
                })?
            }
            None => toml::Table::new(),
        };
        let env: BTreeMap<String, String> = vars
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).map(|k| (k.to_owned(), v)))
            .filter(|(k, _)| !NOT_SETTINGS.contains(&k.as_str()))
            .collect();
        for (key, value) in env {
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            set(&mut table, &path, env_value(&value))
                .with_context(|| format!("environment variable {ENV_PREFIX}{key}"))?;
        }
        let mut config: Config = toml::Value::Table(table).try_into().map_err(|e| {
            anyhow::anyhow!(
                "the configuration is invalid: {e}; see server/certfleet-server.example.toml"
            )
        })?;
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = overrides.api_listen {
            config.api_listen = addr;
        }
        if let Some(addr) = overrides.gateway_listen {
            config.gateway_listen = addr;
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if self.heartbeat_secs == 0 || self.heartbeat_secs > 3600 {
            bail!("heartbeat_secs must be between 1 and 3600");
        }
        if self
            .heartbeat_ms
            .is_some_and(|ms| !(10..=1000).contains(&ms))
        {
            bail!("heartbeat_ms must be between 10 and 1000 (or unset: heartbeat_secs applies)");
        }
        if self.api_idle_secs == 0 || self.api_idle_secs > 3600 {
            bail!("api_idle_secs must be between 1 and 3600");
        }
        if self.agent_cert_days == 0 || self.agent_cert_days > 397 {
            bail!("agent_cert_days must be between 1 and 397");
        }
        if self.admin_username.trim().is_empty() {
            bail!("admin_username must not be empty");
        }
        self.alerts
            .check()
            .map_err(|e| anyhow::anyhow!("[alerts]: {e}"))?;
        self.renewals
            .check()
            .map_err(|e| anyhow::anyhow!("[renewals]: {e}"))?;
        self.acme
            .check()
            .map_err(|e| anyhow::anyhow!("[acme]: {e}"))?;
        if self.acme.dns_hook.is_empty()
            && self
                .renewals
                .policy
                .iter()
                .any(|p| p.challenge == crate::acme::Challenge::Dns01)
        {
            bail!("[renewals]: a policy uses dns-01 but [acme] dns_hook is not set");
        }
        Ok(())
    }

    /// The URL agents dial.
    pub fn gateway_url(&self) -> String {
        if let Some(url) = &self.gateway_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = self
            .names
            .first()
            .map(String::as_str)
            .unwrap_or("localhost");
        format!("https://{host}:{}", self.gateway_listen.port())
    }

    /// Where the web UI's browser files are.
    pub fn site_dir(&self) -> PathBuf {
        if let Some(dir) = &self.site_dir {
            return dir.clone();
        }
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        [exe_dir.join("site"), exe_dir.join("../site")]
            .into_iter()
            .find(|d| d.join("pkg").is_dir())
            .unwrap_or_else(|| exe_dir.join("site"))
    }

    /// Seconds without a heartbeat after which an agent counts as offline.
    pub fn offline_after_secs(&self) -> i64 {
        3 * self.heartbeat_secs as i64
    }
}

/// Environment values are TOML when they parse as a TOML value (`30`, `true`, `["a"]`),
/// plain strings otherwise (`0.0.0.0:8444`, `/var/lib/certfleet`).
fn env_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<()> {
    match path {
        [] => bail!("empty setting name"),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set(inner, rest, value),
                _ => bail!("{first} is not a table"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_commented_example_parses_and_matches_the_defaults_it_documents() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("certfleet-server.example.toml");
        let config = Config::load(Some(&path), vars(&[]), &Overrides::default()).expect("example");
        assert_eq!(config.heartbeat_secs, 30);
        assert_eq!(config.api_listen, "127.0.0.1:8443".parse().expect("addr"));
        assert_eq!(config.names, vec!["console.example.com".to_string()]);
        let defaults = crate::alerts::settings::AlertSettings::default();
        assert_eq!(config.alerts.thresholds, defaults.thresholds);
        assert_eq!(config.alerts.digest_at, defaults.digest_at);
        assert_eq!(config.alerts.smtp.port, defaults.smtp.port);
        assert_eq!(config.alerts.smtp.security, defaults.smtp.security);
        assert_eq!(
            config.alerts.group_recipients["esync"],
            vec!["esync-team@example.com".to_string()]
        );
        assert!(config.alerts.enabled());
    }

    #[test]
    fn environment_beats_the_file_and_flags_beat_both() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "heartbeat_secs = 10\ndata_dir = \"/from/file\"\n").expect("write");
        let overrides = Overrides {
            data_dir: Some(PathBuf::from("/from/flag")),
            ..Overrides::default()
        };
        let config = Config::load(
            Some(&file),
            vars(&[
                ("CERTFLEET_HEARTBEAT_SECS", "20"),
                ("CERTFLEET_GATEWAY_LISTEN", "127.0.0.1:9000"),
                ("CERTFLEET_NAMES", r#"["a.example", "b.example"]"#),
                ("CERTFLEET_CONFIG", "ignored"),
                ("OTHER", "ignored"),
            ]),
            &overrides,
        )
        .expect("load");
        assert_eq!(config.heartbeat_secs, 20);
        assert_eq!(config.gateway_listen.port(), 9000);
        assert_eq!(config.names.len(), 2);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn unknown_settings_and_bad_values_are_refused_with_the_name() {
        let err = Config::load(
            None,
            vars(&[("CERTFLEET_HEARTBEAT", "5")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("heartbeat"), "{err:#}");
        let err = Config::load(
            None,
            vars(&[("CERTFLEET_HEARTBEAT_SECS", "0")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("heartbeat_secs"), "{err:#}");
    }

    #[test]
    fn a_broken_config_file_says_which_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "heartbeat_secs = \n").expect("write");
        let err = Config::load(Some(&file), vars(&[]), &Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("c.toml"), "{err:#}");
    }
}
