//! The console's issuing CA for internal names: separate from the agent CA, created on first
//! use, name-constrained to the domains the renewal policies allow, its key sealed under the
//! key-encryption key in the database like every other secret. It signs only the public key
//! of a host's request: names, purposes and lifetime are the console's choice.

use certfleet_store::Store;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::policy::{Purpose, within};
use crate::secrets::Kek;

/// The settings that hold it: the certificate (PEM, public) and the sealed key.
pub const CERTIFICATE_SETTING: &str = "issuing_ca.certificate";
pub const KEY_SETTING: &str = "issuing_ca.key";
/// For a sub-CA of an enterprise PKI: its issuers (PEM, up to the root where given).
pub const CHAIN_SETTING: &str = "issuing_ca.chain";

const CA_DAYS: i64 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the host's certificate request is not readable: {0}")]
    Unreadable(String),
    #[error("the host's certificate request's signature does not verify: damaged or forged")]
    BadSignature,
    #[error(
        "{name} is outside the domains the issuing CA may sign for ({allowed}): it was created \
         for the policies' allowed_domains at its first use; issue this one by upload"
    )]
    OutsideConstraints { name: String, allowed: String },
    #[error("{0:?} is not a DNS name or IP address a certificate can carry")]
    BadName(String),
    #[error("the sub-CA certificate is not installed: {0}")]
    NotInstallable(String),
    #[error("no names to issue for")]
    NoNames,
    #[error("the issuing CA is unusable: {0}")]
    Internal(String),
}

/// What the CA issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The leaf, then the CAs a server sends with it (none for certfleet's own root; the
    /// sub-CA and its intermediates under an enterprise PKI).
    pub chain_pem: String,
    /// The root clients must trust (empty when they trust it by other means).
    pub ca_pem: String,
}

pub struct IssuingCa {
    cert_der: Vec<u8>,
    cert_pem: String,
    key: KeyPair,
    permitted: Vec<String>,
    /// What servers send after the leaf.
    sent_pem: String,
    /// What clients must trust.
    root_pem: String,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("permitted", &self.permitted)
            .finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> IssueError {
    IssueError::Internal(e.to_string())
}

/// The issuing CA's name and powers, whether it signs itself or an enterprise CA signs it:
/// a CA that may sign only leaves (path length 0).
pub(crate) fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "certfleet");
    params
        .distinguished_name
        .push(DnType::CommonName, "certfleet issuing CA (internal names)");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl IssuingCa {
    /// The CA kept in the database, or a new one constrained to `domains`, stored now.
    pub async fn load_or_create(
        store: &Store,
        kek: &Kek,
        domains: &[String],
        now: OffsetDateTime,
    ) -> Result<Self, IssueError> {
        let cert = store.setting(CERTIFICATE_SETTING).await.map_err(internal)?;
        let key = store.setting(KEY_SETTING).await.map_err(internal)?;
        if let (Some(cert), Some(key)) = (cert, key) {
            let cert_pem: String = serde_json::from_str(&cert).map_err(internal)?;
            let sealed: String = serde_json::from_str(&key).map_err(internal)?;
            let der = kek.open(&sealed).map_err(internal)?;
            let key = KeyPair::try_from(der.as_slice()).map_err(internal)?;
            let chain_pem: String = match store.setting(CHAIN_SETTING).await.map_err(internal)? {
                Some(json) => serde_json::from_str(&json).map_err(internal)?,
                None => String::new(),
            };
            return Self::from_parts(cert_pem, key, &chain_pem, domains);
        }
        if domains.is_empty() {
            return Err(IssueError::Internal(
                "no internal_ca policy lists allowed_domains to constrain the CA to".into(),
            ));
        }
        let ca = Self::create(domains, now)?;
        let sealed = kek.seal(&ca.key.serialize_der()).map_err(internal)?;
        let secs = now.unix_timestamp();
        // The key first: a certificate setting without its key would be read as damaged.
        store
            .set_setting(
                KEY_SETTING,
                &serde_json::to_string(&sealed).unwrap_or_default(),
                secs,
            )
            .await
            .map_err(internal)?;
        store
            .set_setting(
                CERTIFICATE_SETTING,
                &serde_json::to_string(&ca.cert_pem).unwrap_or_default(),
                secs,
            )
            .await
            .map_err(internal)?;
        tracing::info!(domains = ?domains, "created the issuing CA for internal names");
        Ok(ca)
    }

    fn create(domains: &[String], now: OffsetDateTime) -> Result<Self, IssueError> {
        let key = KeyPair::generate().map_err(internal)?;
        let mut params = ca_params();
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: domains
                .iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(CA_DAYS);
        params.serial_number = Some(crate::pki::random_serial().map_err(internal)?);
        let cert = params.self_signed(&key).map_err(internal)?;
        Self::from_parts(cert.pem(), key, "", domains)
    }

    /// The CA from its certificate and key; `chain_pem` holds a sub-CA's issuers, and
    /// `domains` stand for the name constraints an enterprise CA did not set.
    fn from_parts(
        cert_pem: String,
        key: KeyPair,
        chain_pem: &str,
        domains: &[String],
    ) -> Result<Self, IssueError> {
        let own = certfleet_certkit::read(cert_pem.as_bytes(), None).map_err(internal)?;
        let own = own
            .certificates
            .first()
            .ok_or_else(|| internal("the issuing CA's certificate is empty"))?;
        let cert_der = own.der().to_vec();
        let mut permitted = permitted_of(&cert_der);
        if permitted.is_empty() {
            permitted = domains.to_vec();
        }
        let (sent_pem, root_pem) = if own.facts().self_signed {
            (String::new(), cert_pem.clone())
        } else {
            let issuers = if chain_pem.trim().is_empty() {
                Vec::new()
            } else {
                certfleet_certkit::read(chain_pem.as_bytes(), None)
                    .map_err(internal)?
                    .certificates
            };
            let (roots, between): (Vec<_>, Vec<_>) =
                issuers.into_iter().partition(|c| c.facts().self_signed);
            let mut sent = cert_pem.clone();
            sent.push_str(&certfleet_certkit::write::pem_chain(&between));
            (sent, certfleet_certkit::write::pem_chain(&roots))
        };
        Ok(IssuingCa {
            cert_der,
            cert_pem,
            key,
            permitted,
            sent_pem,
            root_pem,
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The domains it may sign for.
    pub fn permitted(&self) -> &[String] {
        &self.permitted
    }

    /// A certificate for `names` over the public key of `csr_pem`, valid `days`.
    pub fn issue(
        &self,
        csr_pem: &str,
        names: &[String],
        purposes: &[Purpose],
        days: i64,
        now: OffsetDateTime,
    ) -> Result<Issued, IssueError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
            rcgen::Error::InvalidCertificationRequestSignature => IssueError::BadSignature,
            other => IssueError::Unreadable(other.to_string()),
        })?;
        let first = names.first().ok_or(IssueError::NoNames)?;
        let mut params = CertificateParams::default();
        for name in names {
            if let Ok(ip) = name.parse::<std::net::IpAddr>() {
                // Name constraints here are DNS only: an address is not ours to vouch for.
                return Err(IssueError::OutsideConstraints {
                    name: ip.to_string(),
                    allowed: self.permitted.join(", "),
                });
            }
            if !within(name, &self.permitted) {
                return Err(IssueError::OutsideConstraints {
                    name: name.clone(),
                    allowed: self.permitted.join(", "),
                });
            }
            let dns = name
                .as_str()
                .try_into()
                .map_err(|_| IssueError::BadName(name.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(dns));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, first.clone());
        params.is_ca = IsCa::ExplicitNoCa;
        params.extended_key_usages = purposes
            .iter()
            .map(|p| match p {
                Purpose::Server => ExtendedKeyUsagePurpose::ServerAuth,
                Purpose::Client => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if csr.public_key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
            // TLS 1.2's RSA key exchange, which older Windows clients still use.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(days);
        params.serial_number = Some(crate::pki::random_serial().map_err(internal)?);
        params.use_authority_key_identifier_extension = true;
        let issuer =
            Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), &self.key)
                .map_err(internal)?;
        let cert = params
            .signed_by(&csr.public_key, &issuer)
            .map_err(internal)?;
        let mut chain_pem = cert.pem();
        chain_pem.push_str(&self.sent_pem);
        Ok(Issued {
            chain_pem,
            ca_pem: self.root_pem.clone(),
        })
    }
}

/// The DNS names a CA certificate's name constraints permit.
pub(crate) fn permitted_of(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    cert.extensions()
        .iter()
        .filter_map(|ext| match ext.parsed_extension() {
            ParsedExtension::NameConstraints(nc) => nc.permitted_subtrees.as_ref(),
            _ => None,
        })
        .flatten()
        .filter_map(|subtree| match &subtree.base {
            GeneralName::DNSName(name) => Some((*name).to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(names: &[&str]) -> String {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem")
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn it_issues_inside_its_domains_with_the_consoles_purposes_and_refuses_outside() {
        let now = OffsetDateTime::now_utc();
        let ca = IssuingCa::create(&names(&["mydomain.local"]), now).expect("ca");
        assert_eq!(ca.permitted(), ["mydomain.local".to_owned()]);
        // The request asks for other names: only its key is used.
        let issued = ca
            .issue(
                &csr(&["evil.example.com"]),
                &names(&["sage-300-2017.mydomain.local"]),
                &[Purpose::Server, Purpose::Client],
                397,
                now,
            )
            .expect("issued");
        let material =
            certfleet_certkit::read(issued.chain_pem.as_bytes(), None).expect("readable");
        let leaf = &material.certificates[0];
        assert_eq!(
            leaf.facts().dns_names,
            names(&["sage-300-2017.mydomain.local"])
        );
        assert!(
            leaf.facts().issuer.contains("certfleet issuing CA"),
            "{}",
            leaf.facts().issuer
        );
        let mut with_root = material.clone();
        with_root.merge(certfleet_certkit::read(issued.ca_pem.as_bytes(), None).expect("ca"));
        let host = certfleet_certkit::HostName::parse("sage-300-2017.mydomain.local").ok();
        let misfits =
            certfleet_certkit::misfits(&with_root, host, certfleet_certkit::Purpose::Sage300, now);
        assert!(
            misfits
                .iter()
                .all(|f| f.code.to_string() == "key_missing" || f.code.to_string() == "no_key"),
            "{misfits:?}"
        );
        for outside in ["example.com", "mydomain.local.evil.com", "10.0.0.5"] {
            let refused = ca.issue(
                &csr(&["x"]),
                &names(&[outside]),
                &[Purpose::Server],
                30,
                now,
            );
            assert!(
                matches!(refused, Err(IssueError::OutsideConstraints { .. })),
                "{outside}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_damaged_or_forged_request_is_refused() {
        let now = OffsetDateTime::now_utc();
        let ca = IssuingCa::create(&names(&["mydomain.local"]), now).expect("ca");
        let good = csr(&["a.mydomain.local"]);
        let der = pem::parse(&good).expect("pem").into_contents();
        let mut forged = der.clone();
        let last = forged.len() - 3;
        forged[last] ^= 0x55;
        let forged = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", forged));
        let refused = ca.issue(&forged, &names(&["a.mydomain.local"]), &[], 30, now);
        assert!(
            matches!(
                refused,
                Err(IssueError::BadSignature | IssueError::Unreadable(_))
            ),
            "{refused:?}"
        );
        let cut = &good[..good.len() / 2];
        assert!(matches!(
            ca.issue(cut, &names(&["a.mydomain.local"]), &[], 30, now),
            Err(IssueError::Unreadable(_))
        ));
    }
}
