//! The columns a renewal takes from its leaf certificate, the same whether it was uploaded
//! or issued for a key its host keeps.

use certfleet_certkit::CertFacts;
use certfleet_store::{NewRenewal, RenewalSource};

/// The leaf's facts in the forms the renewal row keeps, worked out once.
pub(super) struct LeafColumns<'a> {
    leaf: &'a CertFacts,
    sha256: String,
    thumbprint: String,
    ips: Vec<String>,
    key_algorithm: String,
}

impl<'a> LeafColumns<'a> {
    pub(super) fn of(leaf: &'a CertFacts) -> Self {
        Self {
            leaf,
            sha256: leaf.sha256.to_string(),
            thumbprint: leaf.thumbprint.to_string(),
            ips: leaf.ip_addresses.iter().map(|ip| ip.to_string()).collect(),
            key_algorithm: format!("{} {}", leaf.public_key.algorithm, leaf.public_key.bits),
        }
    }

    pub(super) fn sha256(&self) -> &str {
        &self.sha256
    }

    /// A renewal of this leaf; the caller sets its source, chain, key and who brought it
    /// (`NewRenewal { chain_pem, .., ..columns.renewal() }`).
    pub(super) fn renewal(&'a self) -> NewRenewal<'a> {
        NewRenewal {
            source: RenewalSource::Upload,
            key_agent_id: None,
            pending_key: None,
            sha256: &self.sha256,
            thumbprint: &self.thumbprint,
            subject: &self.leaf.subject,
            issuer: &self.leaf.issuer,
            dns_names: &self.leaf.dns_names,
            ip_addresses: &self.ips,
            not_before: self.leaf.not_before.unix_timestamp(),
            not_after: self.leaf.not_after.unix_timestamp(),
            key_algorithm: &self.key_algorithm,
            chain_pem: "",
            root_pem: "",
            sealed_key: "",
            warnings: &[],
            uploaded_by: "",
            uploaded_at: 0,
        }
    }
}
