//! The trust check: the endpoint's served chain judged by webpki (rustls's verifier, the
//! same rules a TLS client applies) against the roots of this machine's trust store.

use std::path::PathBuf;
use std::sync::Arc;

use certfleet_certkit::{self as certkit, Certificate};
use certfleet_proto::{CertificateInfo, Revocation, TrustCheck, TrustOrigin, TrustVerdict};
use certfleet_winhost::{Code, Host, RevocationCheck, Store};
use rustls::CertificateError;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;

use crate::config::{TrustRevocation, TrustTarget};

/// The roots a chain is judged against.
#[derive(Debug, Clone)]
pub enum Anchors {
    /// A PEM bundle (Linux: the system's, or the target's `ca_file`).
    Bundle(PathBuf),
    /// The machine's LocalMachine\Root store (Windows).
    Store,
}

impl Anchors {
    /// Where a target's chain is judged on this platform.
    pub fn for_target(target: &TrustTarget) -> Anchors {
        if cfg!(windows) && target.ca_file.is_none() {
            Anchors::Store
        } else {
            Anchors::Bundle(target.ca_file())
        }
    }

    fn describe(&self) -> String {
        match self {
            Anchors::Bundle(path) => path.display().to_string(),
            Anchors::Store => Store::Root.to_string(),
        }
    }

    /// The roots, or why they cannot be read.
    fn roots(&self, host: &Host) -> Result<rustls::RootCertStore, String> {
        let ders: Vec<Vec<u8>> = match self {
            Anchors::Bundle(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read the trust bundle {}: {e}", path.display()))?;
                certkit::read(&bytes, None)
                    .map_err(|e| format!("the trust bundle {} is unreadable: {e}", path.display()))?
                    .certificates
                    .iter()
                    .map(|c| c.der().to_vec())
                    .collect()
            }
            Anchors::Store => host
                .stores
                .list(Store::Root)
                .map_err(|e| format!("cannot read {}: {e}", Store::Root))?
                .into_iter()
                .map(|c| c.der)
                .collect(),
        };
        let mut roots = rustls::RootCertStore::empty();
        // A root webpki cannot use (an old encoding) only means it anchors nothing.
        let _ = roots.add_parsable_certificates(ders.into_iter().map(CertificateDer::from));
        Ok(roots)
    }
}

/// Checks every configured endpoint, adding the certificates they serve to `certificates`.
pub async fn check_all(
    targets: &[TrustTarget],
    host: &Host,
    now: OffsetDateTime,
    certificates: &mut Vec<CertificateInfo>,
) -> Vec<TrustCheck> {
    let mut checks = Vec::new();
    for target in targets {
        let (check, served) = check(target, &Anchors::for_target(target), host, now).await;
        for cert in served {
            if !certificates.iter().any(|c| c.sha256 == cert.sha256) {
                certificates.push(cert);
            }
        }
        checks.push(check);
    }
    checks
}

/// One endpoint's check, and the certificates it served.
pub async fn check(
    target: &TrustTarget,
    anchors: &Anchors,
    host: &Host,
    now: OffsetDateTime,
) -> (TrustCheck, Vec<CertificateInfo>) {
    let server_name = target.server_name();
    let mut result = TrustCheck {
        endpoint: target.endpoint.clone(),
        server_name: server_name.clone(),
        origin: TrustOrigin::Config,
        verdict: TrustVerdict::Unreachable,
        reason: String::new(),
        chain: Vec::new(),
        store: anchors.describe(),
        revocation: match (anchors, target.revocation) {
            (Anchors::Bundle(_), _) => Revocation::NotChecked,
            (Anchors::Store, TrustRevocation::CacheOnly) => Revocation::CacheOnly,
            (Anchors::Store, TrustRevocation::Online) => Revocation::Online,
        },
    };
    let served = match crate::inventory::served_chain(&target.endpoint, Some(&server_name)).await {
        Ok(chain) => chain,
        Err(e) => {
            result.reason = format!(
                "the check could not be made: {e}; is the server up, and can this machine \
                 reach it?"
            );
            return (result, Vec::new());
        }
    };
    let parsed: Vec<Certificate> = served
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect();
    result.chain = parsed
        .iter()
        .map(|c| c.facts().sha256.to_string())
        .collect();
    let infos = parsed.iter().map(CertificateInfo::of).collect();
    let (verdict, reason) = judge_parsed(target, anchors, host, &served, &parsed, now);
    result.verdict = verdict;
    result.reason = reason;
    (result, infos)
}

/// What `target`'s clients would make of a server that served `chain` (DER, leaf first),
/// judged against `anchors` now: how a client proves it trusts a server's new certificate
/// before the server switches to it.
pub fn judge_chain(
    target: &TrustTarget,
    anchors: &Anchors,
    host: &Host,
    chain: &[Vec<u8>],
    now: OffsetDateTime,
) -> (TrustVerdict, String) {
    if chain.is_empty() {
        return (TrustVerdict::InvalidChain, "no certificate to judge".into());
    }
    let parsed: Vec<Certificate> = chain
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect();
    judge_parsed(target, anchors, host, chain, &parsed, now)
}

fn judge_parsed(
    target: &TrustTarget,
    anchors: &Anchors,
    host: &Host,
    served: &[Vec<u8>],
    parsed: &[Certificate],
    now: OffsetDateTime,
) -> (TrustVerdict, String) {
    let server_name = target.server_name();
    if let Anchors::Store = anchors {
        let revocation = match target.revocation {
            TrustRevocation::CacheOnly => RevocationCheck::CacheOnly,
            TrustRevocation::Online => RevocationCheck::Online,
        };
        match host.chains.verify(served, &server_name, revocation) {
            Ok(verdict) => return machine_verdict(verdict.error, parsed, &server_name, now),
            // Where the machine has no chain engine of its own, webpki judges against the
            // store's roots.
            Err(certfleet_winhost::Error::Unsupported { .. }) => {}
            Err(e) => return (TrustVerdict::InvalidChain, e.to_string()),
        }
    }
    match anchors.roots(host) {
        Ok(roots) => judge(
            served,
            parsed,
            &server_name,
            roots,
            &anchors.describe(),
            now,
        ),
        Err(why) => (TrustVerdict::UnknownRoot, why),
    }
}

/// The Windows chain engine's SSL-policy status in the words an admin acts on.
fn machine_verdict(
    error: Option<Code>,
    parsed: &[Certificate],
    server_name: &str,
    now: OffsetDateTime,
) -> (TrustVerdict, String) {
    let store = Store::Root;
    let Some(code) = error else {
        return (
            TrustVerdict::Trusted,
            format!(
                "the machine's chain engine builds the chain to a root in {store}; the \
                 certificate names {server_name} and allows Server Authentication"
            ),
        );
    };
    let top = parsed.last().map(|c| c.facts());
    let leaf = parsed.first().map(|c| c.facts());
    let said = format!("the machine's chain engine says {code}");
    match code {
        Code::CERT_E_UNTRUSTEDROOT | Code::CERT_E_CHAINING | Code::CERT_E_UNTRUSTEDTESTROOT => (
            TrustVerdict::UnknownRoot,
            format!(
                "{said}: the served chain ends at \"{}\", issued by \"{}\", and no root in \
                 {store} closes it; this machine's clients will refuse the connection. Trust \
                 the server's certificate (self-signed) or the root of its issuing CA here",
                top.map_or("?", |t| t.subject.as_str()),
                top.map_or("?", |t| t.issuer.as_str())
            ),
        ),
        Code::CERT_E_CN_NO_MATCH => (
            TrustVerdict::NameMismatch,
            format!(
                "{said}: the certificate does not name {server_name}, the name clients \
                 connect by: renew it with that name, or set server_name to the name they use"
            ),
        ),
        Code::CERT_E_EXPIRED | Code::CERT_E_VALIDITYPERIODNESTING => {
            match leaf.filter(|l| l.not_before > now) {
                Some(l) => (
                    TrustVerdict::NotYetValid,
                    format!(
                        "{said}: the certificate is valid only from {}: check the clocks of \
                         this machine and of the CA",
                        l.not_before
                    ),
                ),
                None => (
                    TrustVerdict::Expired,
                    format!("{said}: a certificate of the chain has expired: renew it"),
                ),
            }
        }
        Code::CERT_E_WRONG_USAGE => (
            TrustVerdict::NoServerAuth,
            format!(
                "{said}: the certificate does not allow Server Authentication, which TLS \
                 clients require: issue it with Server Authentication (Sage 300 also asks for \
                 Client Authentication)"
            ),
        ),
        Code::CERT_E_REVOKED | Code::CRYPT_E_REVOKED => (
            TrustVerdict::Revoked,
            format!("{said}: a certificate of the chain is revoked: replace it"),
        ),
        Code::CRYPT_E_REVOCATION_OFFLINE
        | Code::CRYPT_E_NO_REVOCATION_CHECK
        | Code::CERT_E_REVOCATION_FAILURE => (
            TrustVerdict::RevocationUnknown,
            format!(
                "{said}: revocation was to be checked online and its status could not be \
                 fetched: let this machine reach the CA's CRL or OCSP address, or set \
                 revocation = \"cache_only\""
            ),
        ),
        _ => (
            TrustVerdict::InvalidChain,
            format!("{said}: the served chain is not valid"),
        ),
    }
}

/// webpki's verdict on the served chain, in the words an admin acts on.
fn judge(
    served: &[Vec<u8>],
    parsed: &[Certificate],
    server_name: &str,
    roots: rustls::RootCertStore,
    store: &str,
    now: OffsetDateTime,
) -> (TrustVerdict, String) {
    // Only the leaf itself: when it does not parse, the first that did is another certificate.
    let Some(leaf) = parsed.first().filter(|c| c.der() == served[0].as_slice()) else {
        return (
            TrustVerdict::InvalidChain,
            "the served certificate cannot be read".into(),
        );
    };
    let facts = leaf.facts();
    let name = match ServerName::try_from(server_name.to_owned()) {
        Ok(name) => name,
        Err(_) => {
            return (
                TrustVerdict::NameMismatch,
                format!("{server_name:?} is not a name a TLS client can check"),
            );
        }
    };
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        crate::tls::provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(rustls::client::VerifierBuilderError::NoRootAnchors) => {
            return (
                TrustVerdict::UnknownRoot,
                format!("{store} holds no root certificate at all: nothing is trusted"),
            );
        }
        Err(e) => return (TrustVerdict::UnknownRoot, format!("{store}: {e}")),
    };
    let end = CertificateDer::from(served[0].as_slice());
    let intermediates: Vec<CertificateDer<'_>> = served[1..]
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap_or(0),
    ));
    let error = match verifier.verify_server_cert(&end, &intermediates, &name, &[], at) {
        Ok(_) => {
            return (
                TrustVerdict::Trusted,
                format!(
                    "the chain leads to a root in {store}, the certificate names {server_name} \
                     and allows Server Authentication"
                ),
            );
        }
        Err(rustls::Error::InvalidCertificate(e)) => e,
        Err(e) => return (TrustVerdict::InvalidChain, e.to_string()),
    };
    let top = parsed.last().unwrap_or(leaf).facts();
    match error {
        CertificateError::UnknownIssuer => (
            TrustVerdict::UnknownRoot,
            format!(
                "the served chain ends at \"{}\", issued by \"{}\", and no root in {store} closes \
                 it: this machine's clients will refuse the connection. Trust the server's \
                 certificate (self-signed) or the root of its issuing CA on this machine",
                top.subject, top.issuer
            ),
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
            TrustVerdict::NameMismatch,
            format!(
                "the certificate names {} but clients connect by {server_name}: renew it with \
                 that name, or set server_name to the name clients use",
                names_of(leaf)
            ),
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
            TrustVerdict::Expired,
            format!(
                "a certificate of the chain has expired (the leaf's end: {}): renew it",
                facts.not_after
            ),
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
            TrustVerdict::NotYetValid,
            format!(
                "a certificate of the chain is not valid yet (the leaf's start: {}): check the \
                 clocks of this machine and of the CA",
                facts.not_before
            ),
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => (
            TrustVerdict::NoServerAuth,
            format!(
                "the certificate allows only {} and leaves out Server Authentication, which TLS \
                 clients require: issue it with Server Authentication (Sage 300 also asks for \
                 Client Authentication)",
                facts
                    .extended_key_usages
                    .clone()
                    .unwrap_or_default()
                    .join(", ")
            ),
        ),
        CertificateError::Revoked => (
            TrustVerdict::Revoked,
            "a certificate of the chain is revoked: replace it".into(),
        ),
        other => (
            TrustVerdict::InvalidChain,
            format!("the served chain is not valid: {other}"),
        ),
    }
}

fn names_of(leaf: &Certificate) -> String {
    let facts = leaf.facts();
    let mut names: Vec<String> = facts.dns_names.clone();
    names.extend(facts.ip_addresses.iter().map(|ip| ip.to_string()));
    if names.is_empty() {
        "no DNS name or address".into()
    } else {
        names.join(", ")
    }
}

#[cfg(all(test, unix))]
mod tests {
    use certfleet_e2e::listener::serve_tls;
    use certfleet_e2e::pki::TestCa;
    use certfleet_winhost::CertStores;

    use super::*;
    use crate::trust::install::tests::target;

    /// The Windows path (LocalMachine\Root through the chain engine) on the fake machine,
    /// whose engine answers with the SSL policy's codes.
    #[tokio::test]
    async fn the_machines_chain_engine_judges_against_its_root_store() {
        let ca = TestCa::new("Example Internal Root");
        let cert = ca.connector(&["sage01.example.test"], 397);
        let address = serve_tls(&cert, "");
        let (host, stores, _) = Host::fake();
        let sage = target(&address, "sage01.example.test");
        let now = OffsetDateTime::now_utc();

        let (check, _) = super::check(&sage, &Anchors::Store, &host, now).await;
        assert_eq!(check.verdict, TrustVerdict::UnknownRoot, "{check:?}");
        assert!(check.reason.contains("0x800B0109"), "{}", check.reason);
        assert!(
            check.reason.contains("Example Internal Root"),
            "{}",
            check.reason
        );
        assert_eq!(check.revocation, Revocation::CacheOnly);

        let root = certkit::read(ca.pem.as_bytes(), None)
            .expect("ca")
            .certificates[0]
            .clone();
        stores.add(Store::Root, root.der()).expect("trust the root");
        let (check, _) = super::check(&sage, &Anchors::Store, &host, now).await;
        assert_eq!(check.verdict, TrustVerdict::Trusted, "{check:?}");

        let other_name = target(&address, "other.example.test");
        let (check, _) = super::check(&other_name, &Anchors::Store, &host, now).await;
        assert_eq!(check.verdict, TrustVerdict::NameMismatch, "{check:?}");
        assert!(check.reason.contains("0x800B010F"), "{}", check.reason);

        // Online revocation that cannot be fetched is its own verdict, not "revoked".
        let online = TrustTarget {
            revocation: TrustRevocation::Online,
            ..sage.clone()
        };
        let (check, _) = super::check(&online, &Anchors::Store, &host, now).await;
        assert_eq!(check.verdict, TrustVerdict::RevocationUnknown, "{check:?}");
        assert_eq!(check.revocation, Revocation::Online);
    }
}
