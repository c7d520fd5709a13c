//! Shared test helpers: certificates made on the spot with rcgen, and the committed
//! OpenSSL-made fixtures (see fixtures/make-fixtures.sh).
#![allow(dead_code)]

use std::path::PathBuf;

use certfleet_certkit::{Material, Policy, Report};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};

pub const PFX_PASSWORD: &str = "Legacy-Pa55";
pub const KEY_PASSWORD: &str = "Key-Pa55";

pub fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).expect("fixture is text")
}

/// The fixtures' RSA 2048 key, since ring (behind rcgen) cannot generate RSA keys.
pub fn rsa_key() -> KeyPair {
    KeyPair::from_pem(&fixture_text("key-pkcs8.pem")).expect("fixture RSA key")
}

pub fn other_rsa_key() -> KeyPair {
    KeyPair::from_pem(&fixture_text("other-key.pem")).expect("fixture RSA key")
}

pub fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).expect("key generation")
}

pub fn ec_key() -> KeyPair {
    key(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A certificate and the key it was made with.
pub struct Node {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: Vec<u8>,
}

impl Node {
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn named(cn: &str, mut params: CertificateParams) -> CertificateParams {
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = now() - Duration::days(1);
    params.not_after = now() + Duration::days(365);
    params
}

pub fn ca_params(cn: &str) -> CertificateParams {
    let mut params = named(cn, CertificateParams::default());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A server certificate for `names` (DNS names or IP addresses), Server Authentication only.
pub fn leaf_params(names: &[&str]) -> CertificateParams {
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let params = CertificateParams::new(sans).expect("valid names");
    let mut params = named(names.first().copied().unwrap_or("leaf"), params);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params
}

pub fn self_signed(params: CertificateParams, key: KeyPair) -> Node {
    let der = params.self_signed(&key).expect("self-sign").der().to_vec();
    Node { params, key, der }
}

pub fn issue(issuer: &Node, params: CertificateParams, key: KeyPair) -> Node {
    let signer = Issuer::from_params(&issuer.params, &issuer.key);
    let der = params
        .signed_by(&key, &signer)
        .expect("sign")
        .der()
        .to_vec();
    Node { params, key, der }
}

/// Root (P-256) → intermediate (P-256) → leaf for `names` (P-256).
pub struct Pki {
    pub root: Node,
    pub intermediate: Node,
    pub leaf: Node,
}

pub fn pki(names: &[&str]) -> Pki {
    pki_with(leaf_params(names), ec_key())
}

pub fn pki_with(leaf: CertificateParams, leaf_key: KeyPair) -> Pki {
    let root = self_signed(ca_params("Test Root CA"), ec_key());
    let intermediate = issue(&root, ca_params("Test Intermediate CA"), ec_key());
    let leaf = issue(&intermediate, leaf, leaf_key);
    Pki {
        root,
        intermediate,
        leaf,
    }
}

pub fn read_pem(parts: &[&str]) -> Material {
    certfleet_certkit::read(parts.concat().as_bytes(), None).expect("readable PEM")
}

pub fn judge_at(
    material: &Material,
    now: OffsetDateTime,
    adjust: impl FnOnce(&mut Policy),
) -> Report {
    let mut policy = Policy::new(now);
    adjust(&mut policy);
    certfleet_certkit::judge(material, &policy)
}

pub fn judge(material: &Material, adjust: impl FnOnce(&mut Policy)) -> Report {
    judge_at(material, now(), adjust)
}

pub fn codes(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}
