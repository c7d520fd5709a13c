//! A certificate's wire facts, stated from its DER by certkit: the agent uses it to describe
//! what it found, the console to check what an agent claims (a claim whose DER does not hash
//! to its SHA-256 is refused; every other fact is taken from the DER, never from the claim).

use base64::Engine;
use certfleet_certkit::Certificate;

use crate::CertificateInfo;

impl CertificateInfo {
    /// The facts of `cert` as the wire carries them.
    pub fn of(cert: &Certificate) -> Self {
        Self::stated(
            cert,
            base64::engine::general_purpose::STANDARD.encode(cert.der()),
        )
    }

    /// The facts of `cert`, whose DER is `der_base64` already.
    fn stated(cert: &Certificate, der_base64: String) -> Self {
        let facts = cert.facts();
        CertificateInfo {
            sha256: facts.sha256.to_string(),
            thumbprint: facts.thumbprint.to_string(),
            subject: facts.subject.clone(),
            issuer: facts.issuer.clone(),
            serial: facts.serial.clone(),
            dns_names: facts.dns_names.clone(),
            ip_addresses: facts.ip_addresses.iter().map(ToString::to_string).collect(),
            not_before: facts.not_before.unix_timestamp(),
            not_after: facts.not_after.unix_timestamp(),
            key_algorithm: facts.public_key.algorithm.clone(),
            key_bits: facts.public_key.bits,
            signature_algorithm: facts.signature_algorithm.clone(),
            self_signed: facts.self_signed,
            der_base64,
        }
    }
}

/// Why a claimed certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("certificate {claimed} is not base64: send the DER as standard base64")]
    NotBase64 { claimed: String },
    #[error("certificate {claimed} is not a readable X.509 certificate: {reason}")]
    Unreadable { claimed: String, reason: String },
    #[error(
        "certificate claimed as SHA-256 {claimed} hashes to {actual}: the facts and the DER \
         must come from the same certificate"
    )]
    HashMismatch { claimed: String, actual: String },
}

/// The facts of the certificate `claim` carries, read from its DER; refused when the DER is
/// not a certificate or is not the one its SHA-256 names.
pub fn checked_certificate(claim: &CertificateInfo) -> Result<CertificateInfo, ClaimError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(&claim.der_base64)
        .map_err(|_| ClaimError::NotBase64 {
            claimed: claim.sha256.clone(),
        })?;
    let cert = Certificate::from_der(&der).map_err(|e| ClaimError::Unreadable {
        claimed: claim.sha256.clone(),
        reason: e.to_string(),
    })?;
    // The claim's base64 is the DER just read: kept, not encoded again.
    let facts = CertificateInfo::stated(&cert, claim.der_base64.clone());
    if facts.sha256 != claim.sha256 {
        return Err(ClaimError::HashMismatch {
            claimed: claim.sha256.clone(),
            actual: facts.sha256,
        });
    }
    Ok(facts)
}
