//! Renewal policies (`[renewals]`, `[[renewals.policy]]` per host group): where an
//! endpoint's next certificate comes from, its key type, lifetime, purposes and the domains
//! it may name, and when it is due. Pure: the console's renewal use cases decide with it.

use certfleet_proto::{EndpointKind, KeyType, RenewalSource};
use serde::Deserialize;

const DAY: i64 = 86_400;

/// `[renewals]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenewalsConfig {
    /// How often the console looks for endpoints that are due.
    pub check_secs: u64,
    /// After a renewal failed, the same endpoint is tried again this much later.
    pub retry_after_secs: u64,
    pub policy: Vec<Policy>,
}

impl Default for RenewalsConfig {
    fn default() -> Self {
        RenewalsConfig {
            check_secs: 300,
            retry_after_secs: 6 * 3600,
            policy: Vec::new(),
        }
    }
}

/// A certificate's purposes (extended key usages) a target needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Server,
    Client,
}

/// `[[renewals.policy]]`: how the endpoints of one host group are renewed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The host group (an agent's `groups`, or a label set in the UI).
    pub group: String,
    /// `internal_ca` or `acme` (the `[acme]` directory); `upload` (the default) leaves
    /// renewals to people.
    #[serde(default = "upload")]
    pub source: RenewalSource,
    #[serde(default = "ecdsa")]
    pub key_type: KeyType,
    /// The new certificate's lifetime (the internal CA's; an ACME CA picks its own).
    #[serde(default = "days_397")]
    pub validity_days: i64,
    /// Renew this many days before expiry; absent: when two thirds of the life has passed.
    #[serde(default)]
    pub renew_before_days: Option<i64>,
    /// Absent: by the endpoint's kind (Sage 300: server and client, else server).
    #[serde(default)]
    pub purposes: Option<Vec<Purpose>>,
    /// The domains its certificates may name (a name is allowed when it is one of these or
    /// below one); the internal CA is constrained to them.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// For `acme`: `http-01` (the host answers on port 80; the default) or `dns-01` (the
    /// console's `[acme] dns_hook`).
    #[serde(default)]
    pub challenge: crate::acme::Challenge,
}

fn upload() -> RenewalSource {
    RenewalSource::Upload
}

fn ecdsa() -> KeyType {
    KeyType::EcdsaP256
}

fn days_397() -> i64 {
    397
}

impl RenewalsConfig {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.check_secs) {
            return Err("check_secs must be between 1 and 86400".into());
        }
        for (i, p) in self.policy.iter().enumerate() {
            let at = format!("[[renewals.policy]] #{} (group {:?})", i + 1, p.group);
            if p.group.trim().is_empty() {
                return Err(format!("{at}: group must name a host group"));
            }
            if self.policy[..i].iter().any(|q| q.group == p.group) {
                return Err(format!("{at}: a host group has one policy; merge the two"));
            }
            if !(1..=397).contains(&p.validity_days) {
                return Err(format!(
                    "{at}: validity_days must be between 1 and 397 (what browsers accept)"
                ));
            }
            if let Some(before) = p.renew_before_days
                && !(1..p.validity_days).contains(&before)
            {
                return Err(format!(
                    "{at}: renew_before_days must be at least 1 and less than validity_days"
                ));
            }
            if p.source != RenewalSource::Upload && p.allowed_domains.is_empty() {
                return Err(format!(
                    "{at}: allowed_domains must list the domains its certificates may name, \
                     e.g. [\"mydomain.local\"]"
                ));
            }
            for domain in &p.allowed_domains {
                if certfleet_certkit::HostName::parse(domain).is_err() || domain.contains('*') {
                    return Err(format!(
                        "{at}: {domain:?} in allowed_domains is not a DNS domain"
                    ));
                }
            }
            if p.purposes.as_ref().is_some_and(Vec::is_empty) {
                return Err(format!(
                    "{at}: purposes must name at least one of \"server\", \"client\""
                ));
            }
        }
        Ok(())
    }

    /// Whether any policy renews by itself (not by upload): without one, nothing is
    /// scheduled and no endpoint needs reading to say so.
    pub fn any_renews_by_itself(&self) -> bool {
        self.policy
            .iter()
            .any(|p| p.source != RenewalSource::Upload)
    }

    /// The policy of the first of `groups` that has one which renews by itself.
    pub fn for_groups(&self, groups: &[String]) -> Option<&Policy> {
        self.policy
            .iter()
            .filter(|p| p.source != RenewalSource::Upload)
            .find(|p| groups.contains(&p.group))
    }

    /// Every domain any policy allows: what the issuing CA is constrained to.
    pub fn all_domains(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .policy
            .iter()
            .filter(|p| p.source == RenewalSource::InternalCa)
            .flat_map(|p| p.allowed_domains.iter().map(|d| d.to_ascii_lowercase()))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

impl Policy {
    /// When a certificate valid from `not_before` to `not_after` is due for renewal.
    pub fn renews_at(&self, not_before: i64, not_after: i64) -> i64 {
        match self.renew_before_days {
            Some(days) => not_after - days * DAY,
            None => not_before + (not_after - not_before) * 2 / 3,
        }
    }

    pub fn purposes_for(&self, kind: EndpointKind) -> Vec<Purpose> {
        match (&self.purposes, kind) {
            (Some(p), _) => p.clone(),
            // The connector's set-up asks for Client Authentication too.
            (None, EndpointKind::Sage300) => vec![Purpose::Server, Purpose::Client],
            (None, _) => vec![Purpose::Server],
        }
    }

    /// The name outside the allowed domains, if any.
    pub fn outside<'a>(&self, names: &'a [String]) -> Option<&'a String> {
        names.iter().find(|n| !within(n, &self.allowed_domains))
    }
}

/// `name` is one of `domains` or below one (compared without case).
pub fn within(name: &str, domains: &[String]) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let name = name.strip_prefix("*.").unwrap_or(&name);
    domains.iter().any(|d| {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        name == d || name.ends_with(&format!(".{d}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml_text: &str) -> RenewalsConfig {
        toml::from_str(toml_text).expect("policy")
    }

    #[test]
    fn due_at_two_thirds_of_the_life_or_days_before_expiry() {
        let config = policy(
            "[[policy]]\ngroup = \"sage\"\nsource = \"internal_ca\"\nallowed_domains = [\"mydomain.local\"]",
        );
        config.check().expect("valid");
        let p = &config.policy[0];
        assert_eq!(p.renews_at(0, 90 * DAY), 60 * DAY);
        let before = RenewalsConfig {
            policy: vec![Policy {
                renew_before_days: Some(30),
                ..p.clone()
            }],
            ..config.clone()
        };
        assert_eq!(before.policy[0].renews_at(0, 397 * DAY), 367 * DAY);
        assert_eq!(p.key_type, KeyType::EcdsaP256);
        assert_eq!(
            p.purposes_for(EndpointKind::Sage300),
            vec![Purpose::Server, Purpose::Client]
        );
        assert_eq!(p.purposes_for(EndpointKind::Apache), vec![Purpose::Server]);
    }

    #[test]
    fn only_a_policy_that_is_not_by_upload_renews_by_itself() {
        assert!(!policy("").any_renews_by_itself());
        let upload = policy("[[policy]]\ngroup = \"esync\"\nsource = \"upload\"");
        assert!(!upload.any_renews_by_itself());
        assert!(upload.for_groups(&["esync".into()]).is_none());
        let internal = policy(
            "[[policy]]\ngroup = \"sage\"\nsource = \"internal_ca\"\nallowed_domains = [\"mydomain.local\"]",
        );
        assert!(internal.any_renews_by_itself());
    }

    #[test]
    fn names_outside_the_allowed_domains_are_found() {
        let domains = vec!["mydomain.local".to_owned()];
        assert!(within("sage-300-2017.mydomain.local", &domains));
        assert!(within("MyDomain.Local.", &domains));
        assert!(within("*.mydomain.local", &domains));
        assert!(!within("evilmydomain.local", &domains));
        assert!(!within("mydomain.local.evil.com", &domains));
        assert!(!within("example.com", &domains));
    }

    #[test]
    fn a_policy_that_would_issue_for_any_name_or_forever_is_refused() {
        let bad = [
            (
                "[[policy]]\ngroup = \"a\"\nsource = \"internal_ca\"",
                "allowed_domains",
            ),
            (
                "[[policy]]\ngroup = \"a\"\nsource = \"internal_ca\"\nallowed_domains = [\"x.local\"]\nvalidity_days = 800",
                "validity_days",
            ),
            (
                "[[policy]]\ngroup = \"a\"\nsource = \"internal_ca\"\nallowed_domains = [\"x.local\"]\nrenew_before_days = 400",
                "renew_before_days",
            ),
            (
                "[[policy]]\ngroup = \"a\"\nsource = \"internal_ca\"\nallowed_domains = [\"*.x\"]",
                "not a DNS domain",
            ),
            (
                "[[policy]]\ngroup = \"a\"\nsource = \"upload\"\n[[policy]]\ngroup = \"a\"",
                "one policy",
            ),
        ];
        for (text, needle) in bad {
            let err = policy(text).check().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
        let unknown =
            toml::from_str::<RenewalsConfig>("[[policy]]\ngroup = \"a\"\nsource = \"letsencrypt\"");
        assert!(unknown.is_err(), "an unknown source is refused");
    }
}
