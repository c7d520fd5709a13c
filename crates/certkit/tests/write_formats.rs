//! What certkit writes reads back as the same material, and is protected as promised.

mod common;

use certfleet_certkit::write::{self, PfxEncryption};
use certfleet_certkit::{Format, read};
use common::*;

#[test]
fn a_pem_chain_round_trips_in_order() {
    let m = read(&fixture("windows-legacy.pfx"), Some(PFX_PASSWORD)).expect("pfx");
    let text = write::pem_chain(&m.certificates);
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    assert!(!text.contains('\r'), "LF line endings for Apache's files");
    let back = read(text.as_bytes(), None).expect("reads back");
    assert_eq!(back.certificates, m.certificates);
}

#[test]
fn the_key_is_written_unencrypted_pkcs8_for_apache() {
    let m = read(&fixture("key-pkcs1-enc-aes.pem"), Some(KEY_PASSWORD)).expect("encrypted key");
    let text = write::pkcs8_pem(&m.keys[0]);
    assert!(
        text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "unencrypted PKCS#8"
    );
    assert!(!text.contains("ENCRYPTED"));
    let back = read(text.as_bytes(), None).expect("no password needed");
    assert_eq!(back.keys[0].pkcs8_der(), m.keys[0].pkcs8_der());
}

#[test]
fn a_pfx_round_trips_with_its_password_in_both_encryptions() {
    let source = read(&fixture("modern.pfx"), Some(PFX_PASSWORD)).expect("pfx");
    let report = judge(&source, |_| {});
    let chain: Vec<_> = report
        .certificates
        .iter()
        .map(|entry| {
            source
                .certificates
                .iter()
                .find(|c| c.facts().thumbprint == entry.facts.thumbprint)
                .expect("chain member")
                .clone()
        })
        .collect();
    for encryption in [PfxEncryption::Aes256, PfxEncryption::TripleDes] {
        let pfx = write::pfx(&source.keys[0], &chain, "n3w-Pa55", encryption).expect("written");
        let back = read(&pfx, Some("n3w-Pa55")).expect("reads back");
        assert_eq!(back.formats, vec![Format::Pkcs12]);
        assert_eq!(
            back.keys[0].pkcs8_der(),
            source.keys[0].pkcs8_der(),
            "{encryption:?}"
        );
        assert_eq!(back.certificates.len(), 3, "{encryption:?}");
        let back_report = judge(&back, |_| {});
        assert!(
            back_report.findings.is_empty(),
            "{:?}",
            back_report.findings
        );
        assert_eq!(
            read(&pfx, Some("wrong")).unwrap_err().code(),
            "password_wrong",
            "{encryption:?}"
        );
    }
}

#[test]
fn a_pfx_needs_a_certificate() {
    let m = read(&fixture("key-pkcs8.pem"), None).expect("key");
    let err = write::pfx(&m.keys[0], &[], "x", PfxEncryption::Aes256).unwrap_err();
    assert_eq!(err.code(), "write_failed");
}

#[test]
fn a_der_cer_is_the_certificate_itself() {
    let m = read(&fixture("leaf.pem"), None).expect("leaf");
    assert_eq!(write::der_cer(&m.certificates[0]), fixture("leaf.cer"));
}
