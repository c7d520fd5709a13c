//! Certificates for the test's Apache, made with rcgen: a CA, and server certificates for
//! given names with a chosen validity.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub sha256: String,
}

fn days_from_now(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(days)
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = days_from_now(-1);
        params.not_after = days_from_now(3650);
        let pem = params.self_signed(&key).expect("CA").pem();
        TestCa { params, key, pem }
    }

    /// What signs this CA's certificates (for callers that shape their own).
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// A server certificate for `names`, valid from yesterday for `days` days.
    pub fn server(&self, names: &[&str], days: i64) -> ServerCert {
        self.issue(names, days, vec![ExtendedKeyUsagePurpose::ServerAuth])
    }

    /// A certificate as the Sage 300 connector's set-up asks for: Server and Client
    /// Authentication.
    pub fn connector(&self, names: &[&str], days: i64) -> ServerCert {
        self.issue(
            names,
            days,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// A certificate for `names` with exactly these extended key usages.
    pub fn issue(
        &self,
        names: &[&str],
        days: i64,
        ekus: Vec<ExtendedKeyUsagePurpose>,
    ) -> ServerCert {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("names");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.extended_key_usages = ekus;
        params.not_before = days_from_now(-1);
        params.not_after = days_from_now(days);
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        let sha256 = hex::encode_upper(Sha256::digest(cert.der()));
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            sha256,
        }
    }
}

impl TestCa {
    /// A client certificate naming `uri` in its SAN, signed by this (foreign) CA.
    pub fn client(
        &self,
        uri: &str,
    ) -> (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::URI(uri.try_into().expect("ascii"))];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = days_from_now(-1);
        params.not_after = days_from_now(30);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}
