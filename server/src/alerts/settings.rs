//! What the alerts need to know: the SMTP relay, who gets what, the thresholds and the digest
//! time. Read from the `[alerts]` section of the configuration, overridden by what an admin
//! saved on the settings page. The SMTP password is never shown back and is stored encrypted
//! under the console's key-encryption key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// STARTTLS on the submission port (587): the usual.
    #[default]
    Starttls,
    /// Implicit TLS (SMTPS, 465).
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    /// Only from the config file or environment; the settings page stores it encrypted.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// A file holding the password (first line), instead of `password`.
    pub password_file: Option<PathBuf>,
    pub from: String,
    /// Extra CA certificate (PEM) for a relay with a private certificate.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "redacted"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 587,
            security: Security::Starttls,
            username: None,
            password: None,
            password_file: None,
            from: "certfleet@localhost".into(),
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    pub smtp: SmtpSettings,
    /// The console's address in links (default: https://<first name>:<API port>).
    pub base_url: Option<String>,
    /// Who gets every alert.
    pub recipients: Vec<String>,
    /// Who also gets the alerts of hosts in a group (`esync = ["esync-team@example.com"]`).
    pub group_recipients: BTreeMap<String, Vec<String>>,
    /// Days before expiry at which a certificate alerts, once each.
    pub thresholds: Vec<i64>,
    /// When the daily digest goes out, `HH:MM` in UTC; `off` sends each alert at once.
    pub digest_at: String,
    /// An agent silent this long alerts (minutes).
    pub offline_after_minutes: i64,
    /// How often alert conditions are checked (seconds).
    pub check_secs: u64,
    /// How often the outbox is tried (seconds).
    pub send_secs: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            smtp: SmtpSettings::default(),
            base_url: None,
            recipients: Vec::new(),
            group_recipients: BTreeMap::new(),
            thresholds: vec![30, 14, 7, 1],
            digest_at: "08:00".into(),
            offline_after_minutes: 30,
            check_secs: 60,
            send_secs: 10,
        }
    }
}

impl AlertSettings {
    /// Alerts are on once there is a relay and someone to tell.
    pub fn enabled(&self) -> bool {
        !self.smtp.host.is_empty()
            && (!self.recipients.is_empty() || !self.group_recipients.is_empty())
    }

    /// Minutes after midnight UTC of the digest, or `None` when digests are off.
    pub fn digest_minute(&self) -> Option<i64> {
        let (h, m) = self.digest_at.trim().split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
    }

    /// Everyone who hears about a host in `groups`, without duplicates.
    pub fn recipients_for(&self, groups: &[String]) -> Vec<String> {
        let mut all: Vec<String> = self.recipients.clone();
        for group in groups {
            if let Some(more) = self.group_recipients.get(group) {
                all.extend(more.iter().cloned());
            }
        }
        all.sort();
        all.dedup();
        all
    }

    /// Checks values an admin typed; the message says which field and why.
    pub fn check(&self) -> Result<(), String> {
        if self.thresholds.is_empty() || self.thresholds.iter().any(|t| *t < 0 || *t > 365) {
            return Err("thresholds must be days between 0 and 365, e.g. 30, 14, 7, 1".into());
        }
        if self.digest_at.trim() != "off" && self.digest_minute().is_none() {
            return Err("the digest time must be HH:MM (UTC), or off".into());
        }
        for address in self
            .recipients
            .iter()
            .chain(self.group_recipients.values().flatten())
        {
            if address.parse::<lettre::Address>().is_err() {
                return Err(format!("{address:?} is not an email address"));
            }
        }
        if !self.smtp.host.is_empty() && self.smtp.from.parse::<lettre::Address>().is_err() {
            return Err(format!(
                "the sender {:?} is not an email address",
                self.smtp.from
            ));
        }
        let authenticates = self.smtp.username.as_deref().is_some_and(|u| !u.is_empty());
        if authenticates && self.smtp.security == Security::None && !is_loopback(&self.smtp.host) {
            return Err(format!(
                "SMTP authentication without TLS would send the password in the clear to {}: \
                 choose STARTTLS or TLS, or relay through this machine (localhost)",
                self.smtp.host
            ));
        }
        if self.offline_after_minutes < 1 {
            return Err("offline_after_minutes must be at least 1".into());
        }
        Ok(())
    }
}

/// `localhost`, 127.0.0.0/8 or ::1: a relay on this machine, where plain SMTP stays local.
fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_over_plain_smtp_is_only_for_a_local_relay() {
        let mut s = AlertSettings::default();
        s.smtp.host = "smtp.example.com".into();
        s.smtp.from = "certfleet@example.com".into();
        s.smtp.username = Some("certfleet".into());
        s.smtp.security = Security::None;
        assert!(s.check().unwrap_err().contains("in the clear"));
        for local in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            s.smtp.host = local.into();
            assert_eq!(s.check(), Ok(()), "{local}");
        }
        s.smtp.host = "smtp.example.com".into();
        s.smtp.security = Security::Starttls;
        assert_eq!(s.check(), Ok(()));
        s.smtp.security = Security::None;
        s.smtp.username = None;
        assert_eq!(s.check(), Ok(()), "no password travels");
    }

    #[test]
    fn digest_times_and_recipients() {
        let mut s = AlertSettings::default();
        assert_eq!(s.digest_minute(), Some(8 * 60));
        s.digest_at = "off".into();
        assert_eq!(s.digest_minute(), None);
        s.digest_at = "25:00".into();
        assert!(s.check().is_err());
        s.digest_at = "off".into();
        s.recipients = vec!["ops@example.com".into()];
        s.group_recipients.insert(
            "esync".into(),
            vec!["esync@example.com".into(), "ops@example.com".into()],
        );
        assert_eq!(
            s.recipients_for(&["esync".into()]),
            vec!["esync@example.com", "ops@example.com"]
        );
        assert_eq!(s.recipients_for(&[]), vec!["ops@example.com"]);
        s.recipients.push("not an address".into());
        assert!(s.check().unwrap_err().contains("not an email address"));
    }

    #[test]
    fn the_password_never_serialises_or_prints() {
        let mut s = AlertSettings::default();
        s.smtp.password = Some("hunter2-secret".into());
        assert!(!serde_json::to_string(&s).expect("json").contains("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
