//! A served chain judged against the roots the console knows, not only the ones the server
//! host has: a server should send its leaf and intermediates and leave the root out, so an
//! agent that lacks an internal root reports `chain_incomplete` for a correctly deployed
//! chain. The console keeps that warning only where no known root closes the chain — one
//! uploaded with a renewal, or one this endpoint's client machines trust (their checks of
//! it say trusted over a chain through the same certificate) — and names what is missing.

use certfleet_certkit::{self as certkit, Certificate, Code, Material, Policy};
use certfleet_proto::{CertificateInfo, Endpoint, Snapshot};
use certfleet_store::Store;
use time::OffsetDateTime;

const CHAIN_INCOMPLETE: &str = "chain_incomplete";

/// Drops each `chain_incomplete` finding a known root answers, and rewrites the others to
/// name the certificate that is missing.
pub async fn judge_known(
    store: &Store,
    snapshot: &mut Snapshot,
    now: OffsetDateTime,
) -> certfleet_store::Result<()> {
    let has_incomplete = |e: &Endpoint| e.findings.iter().any(|f| f.code == CHAIN_INCOMPLETE);
    if !snapshot.endpoints.iter().any(has_incomplete) {
        return Ok(());
    }
    let roots: Vec<Certificate> = store
        .renewal_roots()
        .await?
        .iter()
        .filter_map(|pem| certkit::read(pem.as_bytes(), None).ok())
        .flat_map(|m| m.certificates)
        .collect();
    let certificates = snapshot.certificates.clone();
    for endpoint in snapshot.endpoints.iter_mut().filter(|e| has_incomplete(e)) {
        let mut kept = Vec::with_capacity(endpoint.findings.len());
        for mut finding in std::mem::take(&mut endpoint.findings) {
            if finding.code != CHAIN_INCOMPLETE {
                kept.push(finding);
                continue;
            }
            let top = finding
                .certificate
                .as_deref()
                .and_then(|subject| certificates.iter().find(|c| c.subject == subject));
            let Some(top) = top else {
                kept.push(finding);
                continue;
            };
            if closed_by_root(top, &roots, now) || trusted_by_clients(store, endpoint, top).await? {
                continue;
            }
            finding.message = format!(
                "the chain stops at \"{}\": no certificate for its issuer \"{}\" was supplied, \
                 and no root certfleet knows closes it (none was uploaded with a renewal, and no \
                 client machine of this endpoint reports trusting it); if \"{}\" is an \
                 intermediate CA, add it to the chain; if it is the root, upload it with the \
                 renewal (or let a client machine check this endpoint) so certfleet knows it",
                top.subject, top.issuer, top.issuer
            );
            kept.push(finding);
        }
        endpoint.findings = kept;
    }
    Ok(())
}

/// Whether one of `roots` is the issuer of `top`, its signature checked by certkit.
fn closed_by_root(top: &CertificateInfo, roots: &[Certificate], now: OffsetDateTime) -> bool {
    let Some(cert) =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &top.der_base64)
            .ok()
            .and_then(|der| Certificate::from_der(&der).ok())
    else {
        return false;
    };
    roots
        .iter()
        .filter(|r| r.facts().subject == top.issuer)
        .any(|root| {
            let material = Material {
                certificates: vec![cert.clone()],
                keys: Vec::new(),
                notes: Vec::new(),
                formats: Vec::new(),
            };
            let policy = Policy {
                trust: vec![root.clone()],
                ..Policy::new(now)
            };
            !certkit::judge(&material, &policy).findings.iter().any(|f| {
                matches!(
                    f.code,
                    Code::ChainIncomplete | Code::ChainBadSignature | Code::ChainUntrustedRoot
                )
            })
        })
}

/// Whether a client machine of this endpoint trusts a chain through `top`.
async fn trusted_by_clients(
    store: &Store,
    endpoint: &Endpoint,
    top: &CertificateInfo,
) -> certfleet_store::Result<bool> {
    let Some((_, port)) = endpoint
        .address
        .as_deref()
        .and_then(certfleet_proto::host_and_port)
    else {
        return Ok(false);
    };
    Ok(store
        .clients_of(&endpoint.name, port)
        .await?
        .iter()
        .any(|c| c.verdict.is_trusted() && c.chain.contains(&top.sha256)))
}

#[cfg(test)]
mod tests {
    use certfleet_e2e::pki::TestCa;

    use super::*;

    fn info(pem: &str) -> CertificateInfo {
        let cert = certkit::read(pem.as_bytes(), None)
            .expect("pem")
            .certificates[0]
            .clone();
        CertificateInfo::of(&cert)
    }

    #[test]
    fn only_the_root_that_signed_the_chain_closes_it() {
        let root = TestCa::new("Example Internal Root");
        // Another root of the same name (a re-keyed one, or a forgery) closes nothing.
        let lookalike = TestCa::new("Example Internal Root");
        let leaf = info(&root.server(&["sage01.example.test"], 30).cert_pem);
        let now = OffsetDateTime::now_utc();
        let read = |pem: &str| {
            certkit::read(pem.as_bytes(), None)
                .expect("pem")
                .certificates
        };
        assert!(closed_by_root(&leaf, &read(&root.pem), now));
        assert!(!closed_by_root(&leaf, &read(&lookalike.pem), now));
        assert!(!closed_by_root(&leaf, &[], now));
    }
}
