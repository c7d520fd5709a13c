//! The LocalMachine certificate stores as inventory: every certificate in `My` (where a
//! server's certificate and key live) is an endpoint of kind `store`, judged like any other;
//! `Root` and `CA` certificates are listed with their facts. On a system without the stores
//! (not Windows) nothing is added.

use certfleet_certkit::{self as certkit, Certificate, Policy};
use certfleet_proto::{CertificateInfo, Endpoint, Finding, Severity};
use certfleet_winhost::{CertStores, Error, PrivateKey, Store, Usable};
use time::OffsetDateTime;

use super::finding;

/// The endpoint key of a certificate in a store.
pub fn endpoint_key(store: Store, thumbprint: &certkit::Thumbprint) -> String {
    format!("store:{}:{thumbprint}", store.system_name())
}

pub fn collect(
    stores: &dyn CertStores,
    now: OffsetDateTime,
    endpoints: &mut Vec<Endpoint>,
    certificates: &mut Vec<CertificateInfo>,
) {
    for store in Store::ALL {
        let list = match stores.list(store) {
            Ok(list) => list,
            Err(Error::Unsupported { .. }) => return,
            Err(e) => {
                endpoints.push(Endpoint {
                    key: format!("store:{}", store.system_name()),
                    kind: certfleet_proto::EndpointKind::Store,
                    name: store.to_string(),
                    address: None,
                    config_path: None,
                    configured_sha256: None,
                    served_sha256: None,
                    errors: vec![e.to_string()],
                    findings: Vec::new(),
                });
                continue;
            }
        };
        for stored in list {
            let Ok(cert) = Certificate::from_der(&stored.der) else {
                continue;
            };
            let info = CertificateInfo::of(&cert);
            if store == Store::My {
                endpoints.push(endpoint(store, &cert, stored.private_key, now));
            }
            if !certificates.iter().any(|c| c.sha256 == info.sha256) {
                certificates.push(info);
            }
        }
    }
}

fn endpoint(store: Store, cert: &Certificate, key: PrivateKey, now: OffsetDateTime) -> Endpoint {
    let facts = cert.facts();
    let material = certkit::Material {
        certificates: vec![cert.clone()],
        ..Default::default()
    };
    let report = certkit::judge(&material, &Policy::new(now));
    let mut findings: Vec<Finding> = report
        .findings
        .iter()
        // The key is in the store, not beside the certificate: certkit cannot see it.
        .filter(|f| f.code != certkit::Code::KeyMissing)
        .map(super::reported)
        .collect();
    match key {
        PrivateKey::None => findings.push(finding(
            "store_key_missing",
            Severity::Warning,
            format!(
                "\"{}\" is in {store} without its private key: HTTP.sys cannot bind it (netsh \
                 error 1312); import the PFX with its key",
                facts.subject
            ),
        )),
        PrivateKey::Associated {
            usable: Usable::No(code),
        } => findings.push(finding(
            "store_key_unusable",
            Severity::Error,
            format!(
                "the private key of \"{}\" in {store} does not open (error {code}): import the \
                 PFX again",
                facts.subject
            ),
        )),
        PrivateKey::Associated { .. } => {}
    }
    Endpoint {
        key: endpoint_key(store, &facts.thumbprint),
        kind: certfleet_proto::EndpointKind::Store,
        name: facts
            .dns_names
            .first()
            .cloned()
            .unwrap_or_else(|| facts.subject.clone()),
        address: None,
        config_path: Some(store.to_string()),
        configured_sha256: Some(facts.sha256.to_string()),
        served_sha256: None,
        errors: Vec::new(),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use certfleet_winhost::fake::FakeStores;

    use super::*;

    #[test]
    fn certificates_in_my_become_endpoints_and_a_missing_key_is_a_finding() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["sage.example.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let stores = FakeStores::new();
        stores.insert(Store::My, cert.der(), PrivateKey::None);
        stores.insert(Store::Root, cert.der(), PrivateKey::None);
        let (mut endpoints, mut certificates) = (Vec::new(), Vec::new());
        collect(
            &stores,
            OffsetDateTime::now_utc(),
            &mut endpoints,
            &mut certificates,
        );
        assert_eq!(endpoints.len(), 1, "{endpoints:?}");
        assert_eq!(certificates.len(), 1);
        let e = &endpoints[0];
        assert_eq!(e.kind.as_str(), "store");
        assert_eq!(e.name, "sage.example.test");
        assert!(e.key.starts_with("store:MY:"), "{}", e.key);
        assert!(
            e.findings.iter().any(|f| f.code == "store_key_missing"),
            "{:?}",
            e.findings
        );
        assert!(
            !e.findings.iter().any(|f| f.code == "key_missing"),
            "{:?}",
            e.findings
        );
    }

    #[test]
    fn a_system_without_stores_adds_nothing() {
        let (mut endpoints, mut certificates) = (Vec::new(), Vec::new());
        collect(
            &certfleet_winhost::unsupported::NotWindows,
            OffsetDateTime::now_utc(),
            &mut endpoints,
            &mut certificates,
        );
        assert!(endpoints.is_empty() && certificates.is_empty());
    }
}
