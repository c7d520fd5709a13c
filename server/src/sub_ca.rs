//! The issuing CA as a subordinate of an enterprise PKI: certfleet makes the sub-CA's key
//! and a certificate request, the enterprise CA signs it (an AD CS "Subordinate
//! Certification Authority" template, with the name constraints its admin sets), and
//! certfleet issues under the signed certificate. Nobody exports an enterprise CA's key, and
//! the sub-CA's key never leaves the console's database, sealed.
//!
//! `certfleet-server issuing-ca request` keeps the key pending and writes the request;
//! `certfleet-server issuing-ca install` takes the signed certificate with its chain, checks
//! it is a CA certificate for the pending key, and makes it the issuing CA.

use certfleet_certkit::Certificate;
use certfleet_store::Store;
use rcgen::KeyPair;
use time::OffsetDateTime;

use crate::issuing_ca::{CERTIFICATE_SETTING, CHAIN_SETTING, IssueError, KEY_SETTING};
use crate::secrets::Kek;

/// The sealed key of a sub-CA whose certificate is not installed yet.
pub const PENDING_KEY_SETTING: &str = "issuing_ca.pending_key";

fn internal(e: impl std::fmt::Display) -> IssueError {
    IssueError::Internal(e.to_string())
}

async fn sealed_setting(
    store: &Store,
    kek: &Kek,
    name: &str,
) -> Result<Option<KeyPair>, IssueError> {
    let Some(json) = store.setting(name).await.map_err(internal)? else {
        return Ok(None);
    };
    let sealed: String = serde_json::from_str(&json).map_err(internal)?;
    let der = kek.open(&sealed).map_err(internal)?;
    Ok(Some(KeyPair::try_from(der.as_slice()).map_err(internal)?))
}

/// The certificate request for the sub-CA (PEM). Asked again, it is made over the same
/// pending key, so a request already sent for signing stays good.
pub async fn request(store: &Store, kek: &Kek, now: i64) -> Result<String, IssueError> {
    let key = match sealed_setting(store, kek, PENDING_KEY_SETTING).await? {
        Some(key) => key,
        None => {
            let key = KeyPair::generate().map_err(internal)?;
            let sealed = kek.seal(&key.serialize_der()).map_err(internal)?;
            store
                .set_setting(
                    PENDING_KEY_SETTING,
                    &serde_json::to_string(&sealed).unwrap_or_default(),
                    now,
                )
                .await
                .map_err(internal)?;
            key
        }
    };
    // What it asks for; the enterprise CA's template decides what it gets (rcgen cannot
    // put name constraints in a request: the enterprise CA adds them).
    let params = crate::issuing_ca::ca_params();
    params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(internal)
}

/// What `install` made the issuing CA.
#[derive(Debug)]
pub struct Installed {
    pub subject: String,
    pub issuer: String,
    pub not_after: OffsetDateTime,
    /// The root clients must trust, when the file held it.
    pub root: Option<String>,
    /// The DNS names its constraints permit; empty when it has none.
    pub permitted: Vec<String>,
}

fn spki_of(cert: &Certificate) -> Option<Vec<u8>> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(cert.der()).ok()?;
    Some(parsed.public_key().raw.to_vec())
}

/// Makes the enterprise-signed certificate in `file` (PEM or DER, with its chain up to the
/// root where the file has it) the issuing CA, with the pending key.
pub async fn install(
    store: &Store,
    kek: &Kek,
    file: &[u8],
    now: OffsetDateTime,
) -> Result<Installed, IssueError> {
    let Some(key) = sealed_setting(store, kek, PENDING_KEY_SETTING).await? else {
        return Err(IssueError::NotInstallable(
            "no sub-CA request is pending: run `certfleet-server issuing-ca request` first, \
             have the enterprise CA sign it, then install what it returns"
                .into(),
        ));
    };
    let material = certfleet_certkit::read(file, None).map_err(|e| {
        IssueError::NotInstallable(format!("{e}: give the signed certificate as PEM or DER"))
    })?;
    let ours = rcgen::PublicKeyData::subject_public_key_info(&key);
    let Some(at) = material
        .certificates
        .iter()
        .position(|c| spki_of(c).as_deref() == Some(ours.as_slice()))
    else {
        return Err(IssueError::NotInstallable(
            "no certificate in the file is for the pending sub-CA key: install the certificate \
             the enterprise CA signed for the request certfleet wrote (a request made again \
             keeps the same key)"
                .into(),
        ));
    };
    let sub_ca = &material.certificates[at];
    let facts = sub_ca.facts();
    if !sub_ca.is_ca() {
        return Err(IssueError::NotInstallable(format!(
            "{} was signed as an end-entity certificate, not a CA: sign the request with a \
             subordinate CA template (AD CS: \"Subordinate Certification Authority\")",
            facts.subject
        )));
    }
    if facts.not_after <= now || facts.not_before > now {
        return Err(IssueError::NotInstallable(format!(
            "{} is not valid now (from {} to {})",
            facts.subject, facts.not_before, facts.not_after
        )));
    }
    // Its issuers in order, up to the root when the file has it.
    let mut chain: Vec<&Certificate> = Vec::new();
    let mut current = sub_ca;
    while !current.facts().self_signed {
        let Some(next) = material
            .certificates
            .iter()
            .find(|c| c.facts().subject == current.facts().issuer && !std::ptr::eq(*c, current))
        else {
            break;
        };
        if chain.iter().any(|c| std::ptr::eq(*c, next)) {
            break;
        }
        chain.push(next);
        current = next;
    }
    let root = chain
        .last()
        .filter(|c| c.facts().self_signed)
        .map(|c| c.facts().subject.clone());
    let chain_pem: String = chain
        .iter()
        .map(|c| certfleet_certkit::write::pem_chain(std::slice::from_ref(*c)))
        .collect();
    let cert_pem = certfleet_certkit::write::pem_chain(std::slice::from_ref(sub_ca));
    let sealed = kek.seal(&key.serialize_der()).map_err(internal)?;
    let secs = now.unix_timestamp();
    let json = |v: &str| serde_json::to_string(v).unwrap_or_default();
    // The key first: a certificate setting without its key would be read as damaged.
    store
        .set_setting(KEY_SETTING, &json(&sealed), secs)
        .await
        .map_err(internal)?;
    store
        .set_setting(CHAIN_SETTING, &json(&chain_pem), secs)
        .await
        .map_err(internal)?;
    store
        .set_setting(CERTIFICATE_SETTING, &json(&cert_pem), secs)
        .await
        .map_err(internal)?;
    store
        .delete_setting(PENDING_KEY_SETTING)
        .await
        .map_err(internal)?;
    Ok(Installed {
        subject: facts.subject.clone(),
        issuer: facts.issuer.clone(),
        not_after: facts.not_after,
        root,
        permitted: crate::issuing_ca::permitted_of(sub_ca.der()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuing_ca::IssuingCa;
    use crate::policy::Purpose;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, GeneralSubtree, IsCa, Issuer, KeyUsagePurpose,
        NameConstraints,
    };
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    struct Enterprise {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn enterprise() -> Enterprise {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "Mydomain Enterprise Root CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("root");
        Enterprise { cert, key }
    }

    /// What the enterprise CA's admin does with certfleet's request.
    fn sign(root: &Enterprise, csr_pem: &str, as_ca: bool) -> String {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).expect("csr");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "certfleet issuing CA (internal names)");
        if as_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.name_constraints = Some(NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName("mydomain.local".into())],
                excluded_subtrees: Vec::new(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(root.cert.der(), &root.key).expect("issuer");
        params
            .signed_by(&csr.public_key, &issuer)
            .expect("signed")
            .pem()
    }

    async fn store() -> (tempfile::TempDir, Store, Kek) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("certfleet.db"))
            .await
            .expect("store");
        (dir, store, Kek::new(&[7; 32]).expect("kek"))
    }

    fn leaf_request() -> String {
        let key = KeyPair::generate().expect("key");
        CertificateParams::new(vec!["x".to_owned()])
            .expect("params")
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem")
    }

    #[tokio::test]
    async fn a_sub_ca_signed_by_an_enterprise_ca_issues_certificates_that_chain_to_its_root() {
        let (_dir, store, kek) = store().await;
        let now = OffsetDateTime::now_utc();
        let root = enterprise();
        let first = request(&store, &kek, 1).await.expect("request");
        // Asked again: the same key, so a request already sent stays good.
        let again = request(&store, &kek, 2).await.expect("request");
        let key_of = |pem: &str| {
            rcgen::CertificateSigningRequestParams::from_pem(pem)
                .expect("csr")
                .public_key
                .der_bytes()
                .to_vec()
        };
        use rcgen::PublicKeyData;
        assert_eq!(key_of(&first), key_of(&again));

        let mut file = sign(&root, &first, true);
        file.push_str(&root.cert.pem());
        let installed = install(&store, &kek, file.as_bytes(), now)
            .await
            .expect("installed");
        assert_eq!(installed.permitted, ["mydomain.local".to_owned()]);
        assert!(
            installed
                .root
                .as_deref()
                .is_some_and(|r| r.contains("Enterprise Root"))
        );
        assert_eq!(
            store.setting(PENDING_KEY_SETTING).await.expect("setting"),
            None
        );

        let ca = IssuingCa::load_or_create(&store, &kek, &["other.test".to_owned()], now)
            .await
            .expect("loaded");
        // The enterprise's constraints, not the policies' domains, bound it.
        assert_eq!(ca.permitted(), ["mydomain.local".to_owned()]);
        let issued = ca
            .issue(
                &leaf_request(),
                &["sage-300-2017.mydomain.local".to_owned()],
                &[Purpose::Server, Purpose::Client],
                397,
                now,
            )
            .expect("issued");
        assert_eq!(
            issued.ca_pem,
            root.cert.pem(),
            "clients are given the enterprise root"
        );

        // A client that trusts only the enterprise root accepts what the server sends.
        let sent: Vec<CertificateDer<'static>> = pem::parse_many(&issued.chain_pem)
            .expect("pem")
            .into_iter()
            .map(|p| CertificateDer::from(p.into_contents()))
            .collect();
        assert_eq!(sent.len(), 2, "the leaf and the sub-CA");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root.cert.der().clone()).expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &sent[0],
                &sent[1..],
                &ServerName::try_from("sage-300-2017.mydomain.local").expect("name"),
                &[],
                UnixTime::now(),
            )
            .expect("the chain verifies to the enterprise root");
    }

    #[tokio::test]
    async fn an_install_that_does_not_fit_the_request_is_refused_and_changes_nothing() {
        let (_dir, store, kek) = store().await;
        let now = OffsetDateTime::now_utc();
        let root = enterprise();
        let refused = install(&store, &kek, root.cert.pem().as_bytes(), now).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("issuing-ca request")),
            "{refused:?}"
        );
        let csr = request(&store, &kek, 1).await.expect("request");

        // Signed as an end-entity certificate.
        let leaf = sign(&root, &csr, false);
        let refused = install(&store, &kek, leaf.as_bytes(), now).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("Subordinate")),
            "{refused:?}"
        );
        // Signed for another key.
        let other = sign(&root, &leaf_request(), true);
        let refused = install(&store, &kek, other.as_bytes(), now).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("pending sub-CA key")),
            "{refused:?}"
        );
        // Cut short.
        let good = sign(&root, &csr, true);
        let refused = install(&store, &kek, &good.as_bytes()[..good.len() / 2], now).await;
        assert!(refused.is_err(), "{refused:?}");

        assert_eq!(
            store
                .setting(crate::issuing_ca::CERTIFICATE_SETTING)
                .await
                .expect("setting"),
            None,
            "nothing installed"
        );
        assert!(
            store
                .setting(PENDING_KEY_SETTING)
                .await
                .expect("setting")
                .is_some()
        );
        // The right one still installs.
        install(&store, &kek, good.as_bytes(), now)
            .await
            .expect("installed");
    }
}
