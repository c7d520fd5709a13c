//! The issuing CA as the dashboard shows it: its certificate, and the client machines that
//! are served certificates it issued, each with whether it trusts them.

use std::collections::HashSet;

use certfleet_proto::RenewalSource;
use certfleet_store::TrustRow;
use serde::Serialize;

use super::{Console, Error};
use crate::issuing_ca::{CERTIFICATE_SETTING, permitted_of};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct IssuingCaView {
    pub subject: String,
    pub issuer: String,
    pub sha256: String,
    pub not_after: i64,
    /// The DNS names its constraints permit.
    pub permitted: Vec<String>,
    /// Signed by an enterprise CA (`certfleet-server issuing-ca install`), not its own root.
    pub subordinate: bool,
    /// The clients' checks of servers that serve a certificate it issued.
    pub clients: Vec<TrustRow>,
}

/// The issuing CA, once it exists.
pub async fn view(console: &Console) -> Result<Option<IssuingCaView>, Error> {
    let Some(json) = console.store.setting(CERTIFICATE_SETTING).await? else {
        return Ok(None);
    };
    let pem: String = serde_json::from_str(&json)
        .map_err(|e| Error::internal(format!("the issuing CA's certificate setting: {e}")))?;
    let material = certfleet_certkit::read(pem.as_bytes(), None)
        .map_err(|e| Error::internal(format!("the issuing CA's certificate: {e}")))?;
    let Some(cert) = material.certificates.first() else {
        return Ok(None);
    };
    let facts = cert.facts();
    let issued: HashSet<String> = console
        .store
        .renewal_shas(RenewalSource::InternalCa)
        .await?
        .into_iter()
        .collect();
    let clients = console
        .store
        .all_trust_checks()
        .await?
        .into_iter()
        .filter(|t| t.chain.first().is_some_and(|leaf| issued.contains(leaf)))
        .collect();
    Ok(Some(IssuingCaView {
        subject: facts.subject.clone(),
        issuer: facts.issuer.clone(),
        sha256: facts.sha256.to_string(),
        not_after: facts.not_after.unix_timestamp(),
        permitted: permitted_of(cert.der()),
        subordinate: !facts.self_signed,
        clients,
    }))
}
