//! Reading every shape certificates and keys come in, and refusing bad input clearly.

mod common;

use certfleet_certkit::{Error, Format, ReadNote, read};
use common::*;

const LEAF_THUMBPRINT_FROM_PEM: fn() -> String = || {
    let m = read(&fixture("leaf.pem"), None).expect("leaf");
    m.certificates[0].facts().thumbprint.to_string()
};

#[test]
fn every_pfx_variant_reads_with_its_password() {
    for name in [
        "windows-legacy.pfx",
        "windows-3des.pfx",
        "modern.pfx",
        "no-mac.pfx",
    ] {
        let m = read(&fixture(name), Some(PFX_PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.certificates.len(), 3, "{name}: leaf, intermediate, root");
        assert_eq!(m.keys.len(), 1, "{name}");
        assert_eq!(m.formats, vec![Format::Pkcs12]);
        assert!(
            m.certificates
                .iter()
                .any(|c| c.facts().thumbprint.to_string() == LEAF_THUMBPRINT_FROM_PEM()),
            "{name}: the leaf is the same certificate as leaf.pem"
        );
    }
}

#[test]
fn a_pfx_without_mac_is_read_but_noted() {
    let m = read(&fixture("no-mac.pfx"), Some(PFX_PASSWORD)).expect("no-mac");
    assert_eq!(m.notes, vec![ReadNote::PfxWithoutMac]);
    let m = read(&fixture("modern.pfx"), Some(PFX_PASSWORD)).expect("modern");
    assert!(m.notes.is_empty());
}

#[test]
fn an_empty_password_pfx_opens_without_a_password() {
    let m = read(&fixture("empty-password.pfx"), None).expect("empty password");
    assert_eq!(m.keys.len(), 1);
}

#[test]
fn a_wrong_pfx_password_is_its_own_error() {
    for name in ["windows-legacy.pfx", "modern.pfx"] {
        let err = read(&fixture(name), Some("not-it")).unwrap_err();
        assert!(matches!(err, Error::WrongPassword { .. }), "{name}: {err}");
        assert_eq!(err.code(), "password_wrong");
        assert!(err.to_string().contains("wrong password"), "{err}");
    }
}

#[test]
fn a_wrong_password_on_a_pfx_without_mac_is_still_a_wrong_password() {
    let err = read(&fixture("no-mac.pfx"), Some("not-it")).unwrap_err();
    assert_eq!(err.code(), "password_wrong", "{err}");
}

#[test]
fn a_protected_pfx_without_password_asks_for_one() {
    let err = read(&fixture("windows-legacy.pfx"), None).unwrap_err();
    assert_eq!(err.code(), "password_required");
    assert!(err.to_string().contains("supply the password"), "{err}");
}

#[test]
fn a_flipped_byte_in_a_pfx_says_wrong_password_or_damaged() {
    let mut bytes = fixture("modern.pfx");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let err = read(&bytes, Some(PFX_PASSWORD)).unwrap_err();
    assert!(
        matches!(err.code(), "password_wrong" | "input_malformed"),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[test]
fn every_key_shape_reads_and_matches_the_leaf() {
    let plain = ["key-pkcs8.pem", "key-pkcs1.pem", "key-pkcs8.der"];
    let encrypted = [
        "key-pkcs8-enc.pem",
        "key-pkcs8-enc-3des.pem",
        "key-pkcs1-enc-aes.pem",
        "key-pkcs1-enc-des3.pem",
    ];
    let leaf = read(&fixture("leaf.pem"), None).expect("leaf");
    for name in plain.iter().chain(encrypted.iter()) {
        let mut m = leaf.clone();
        let key =
            read(&fixture(name), Some(KEY_PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.keys.len(), 1, "{name}");
        assert_eq!(
            key.notes.contains(&ReadNote::KeyWasEncrypted),
            encrypted.contains(name),
            "{name}"
        );
        m.merge(key);
        let report = judge(&m, |_| {});
        assert!(report.keys[0].matches_leaf, "{name}");
        assert!(!codes(&report).contains(&"key_mismatch"), "{name}");
    }
}

#[test]
fn sec1_ec_keys_read_plain_and_legacy_encrypted() {
    let inter = read(&fixture("intermediate.pem"), None).expect("intermediate");
    for name in ["ec-key-sec1.pem", "ec-key-sec1-enc.pem"] {
        let mut m = inter.clone();
        m.merge(read(&fixture(name), Some(KEY_PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}")));
        let report = judge(&m, |_| {});
        assert!(report.keys[0].matches_leaf, "{name}");
    }
}

#[test]
fn an_encrypted_key_without_pass_phrase_asks_for_it() {
    for name in [
        "key-pkcs8-enc.pem",
        "key-pkcs8-enc-3des.pem",
        "key-pkcs1-enc-aes.pem",
        "ec-key-sec1-enc.pem",
    ] {
        let err = read(&fixture(name), None).unwrap_err();
        assert_eq!(err.code(), "password_required", "{name}: {err}");
        assert!(err.to_string().contains("private key"), "{err}");
    }
}

#[test]
fn a_wrong_key_pass_phrase_is_a_wrong_password() {
    for name in [
        "key-pkcs8-enc.pem",
        "key-pkcs8-enc-3des.pem",
        "key-pkcs1-enc-aes.pem",
        "key-pkcs1-enc-des3.pem",
        "ec-key-sec1-enc.pem",
    ] {
        let err = read(&fixture(name), Some("not-it")).unwrap_err();
        assert_eq!(err.code(), "password_wrong", "{name}: {err}");
    }
}

#[test]
fn a_der_cer_reads_like_its_pem() {
    let der = read(&fixture("leaf.cer"), None).expect("DER");
    let pem = read(&fixture("leaf.pem"), None).expect("PEM");
    assert_eq!(der.formats, vec![Format::Der]);
    assert_eq!(der.certificates, pem.certificates);
}

#[test]
fn pem_with_many_blocks_and_noise_between_them_reads_them_all() {
    let text = format!(
        "subject=CN=sage\nissuer=CN=inter\n{}\nsome comment\n{}{}",
        fixture_text("leaf.pem"),
        fixture_text("chain.pem"),
        fixture_text("key-pkcs8.pem")
    );
    let m = read(text.as_bytes(), None).expect("bundle");
    assert_eq!(m.certificates.len(), 3);
    assert_eq!(m.keys.len(), 1);
}

#[test]
fn crlf_utf8_bom_and_utf16_pem_read() {
    let crlf = fixture_text("leaf.pem").replace('\n', "\r\n");
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(crlf.as_bytes());
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in crlf.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    for (what, bytes) in [("crlf", crlf.into_bytes()), ("bom", bom), ("utf16", utf16)] {
        let m = read(&bytes, None).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(m.certificates.len(), 1, "{what}");
    }
}

#[test]
fn a_truncated_pem_says_truncated_and_names_the_block() {
    let text = fixture_text("leaf.pem");
    let cut = &text[..text.len() / 2];
    let err = read(cut.as_bytes(), None).unwrap_err();
    assert_eq!(err.code(), "input_truncated", "{err}");
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");

    // The second block of a bundle cut short.
    let bundle = format!("{}{}", fixture_text("leaf.pem"), &text[..100]);
    let err = read(bundle.as_bytes(), None).unwrap_err();
    assert_eq!(err.code(), "input_truncated", "{err}");
}

#[test]
fn a_broken_begin_line_is_not_quoted_with_what_follows_it() {
    // Found by fuzzing the upload form: a BEGIN line without its closing dashes made the
    // "label" run on to the next "-----", and the message quoted it, secrets pasted below
    // included.
    let text = "-----BEGIN CERTIabc\nMIIB\npassword: s3cret-pasted-by-mistake\n-----END X-----\n";
    let err = read(text.as_bytes(), None).unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(err.to_string().len() < 400, "{err}");
    // Found by fuzzing again: the PEM parser's own "mismatching BEGIN and END tags" quoted a
    // label that ran on over lines into the password; and a block it parsed whole with such
    // a label was listed by it.
    for text in [
        "-----BEGIN CERTIabc\nMIIB\npassword: s3cret-pasted-by-mistake\n-----END X-----\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "-----BEGIN A\npassword: s3cret-pasted-by-mistake-----\nMAA=\n-----END A\npassword: s3cret-pasted-by-mistake-----\n",
    ] {
        let err = read(text.as_bytes(), None).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
    let mismatched = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END PRIVATE KEY-----\n";
    let err = read(mismatched.as_bytes(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("BEGIN CERTIFICATE line is closed by an END PRIVATE KEY"),
        "{err}"
    );
}

#[test]
fn truncated_der_and_pfx_say_truncated_with_the_sizes() {
    for name in ["leaf.cer", "modern.pfx", "key-pkcs8.der"] {
        let bytes = fixture(name);
        let cut = &bytes[..bytes.len() - 10];
        let err = read(cut, Some(PFX_PASSWORD)).unwrap_err();
        assert_eq!(err.code(), "input_truncated", "{name}: {err}");
        let text = err.to_string();
        assert!(text.contains(&bytes.len().to_string()), "{name}: {text}");
        assert!(text.contains(&cut.len().to_string()), "{name}: {text}");
    }
}

#[test]
fn not_a_certificate_is_refused_with_what_it_is() {
    let cases: [(&str, &[u8], &str); 6] = [
        ("html", b"<html><body>404</body></html>", "text without"),
        ("binary", &[0x89, b'P', b'N', b'G', 0, 1, 2], "not DER"),
        (
            "csr",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
            "signing request",
        ),
        (
            "der of something else",
            &[0x30, 0x03, 0x02, 0x01, 0x05],
            "neither",
        ),
        (
            "text starting with 0",
            b"0 certificates here\n",
            "text without",
        ),
        (
            "base64 without armour",
            b"MIIC7DCCApOgAwIBAgIUGBP6mZRoV7YU1jNKfjTjyDnCflQwCgYIKoZIzj0EAwIw\n",
            "BEGIN CERTIFICATE",
        ),
    ];
    for (what, bytes, hint) in cases {
        let err = read(bytes, None).unwrap_err();
        assert_eq!(err.code(), "input_unrecognised", "{what}: {err}");
        assert!(err.to_string().contains(hint), "{what}: {err}");
    }
}

#[test]
fn empty_input_is_refused() {
    assert_eq!(read(b"", None).unwrap_err(), Error::Empty);
    assert_eq!(read(b" \n\t", None).unwrap_err(), Error::Empty);
}

#[test]
fn pkcs7_bundles_get_an_export_hint() {
    let p7 = b"-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n";
    let err = read(p7, None).unwrap_err();
    assert_eq!(err.code(), "pkcs7_unsupported");
    assert!(err.to_string().contains("Base-64 encoded X.509"), "{err}");
}

#[test]
fn ber_indefinite_length_is_refused_with_a_conversion_hint() {
    let err = read(&[0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00], None).unwrap_err();
    assert_eq!(err.code(), "input_malformed");
    assert!(err.to_string().contains("openssl pkcs12"), "{err}");
}

#[test]
fn a_damaged_certificate_inside_pem_is_malformed_not_a_panic() {
    let mut der = fixture("leaf.cer");
    // The TBSCertificate's SEQUENCE tag becomes an OCTET STRING tag.
    assert_eq!(der[4], 0x30);
    der[4] = 0x04;
    let text = pem::encode(&pem::Pem::new("CERTIFICATE", der));
    let err = read(text.as_bytes(), None).unwrap_err();
    assert_eq!(err.code(), "input_malformed", "{err}");
}

#[test]
fn key_material_never_shows_in_debug_output() {
    let m = read(&fixture("key-pkcs8.pem"), None).expect("key");
    let debug = format!("{m:?}");
    assert!(debug.contains("redacted"), "{debug}");
    let der = m.keys[0].pkcs8_der();
    // No 8-byte window of the secret appears in the output, in any common rendering.
    let hex: String = der[40..48].iter().map(|b| format!("{b}, ")).collect();
    assert!(!debug.contains(hex.trim_end_matches(", ")), "{debug}");
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

#[test]
fn an_absurd_key_derivation_count_is_refused_before_any_work() {
    // EncryptedPrivateKeyInfo, PBES2 / PBKDF2 with 2^31-1 rounds / AES-256-CBC.
    let oid = |bytes: &[u8]| tlv(0x06, bytes);
    let pbkdf2_params = tlv(
        0x30,
        &[tlv(0x04, &[1; 8]), tlv(0x02, &[0x7F, 0xFF, 0xFF, 0xFF])].concat(),
    );
    let kdf = tlv(
        0x30,
        &[
            oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C]),
            pbkdf2_params,
        ]
        .concat(),
    );
    let cipher = tlv(
        0x30,
        &[
            oid(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A]),
            tlv(0x04, &[2; 16]),
        ]
        .concat(),
    );
    let algorithm = tlv(
        0x30,
        &[
            oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]),
            tlv(0x30, &[kdf, cipher].concat()),
        ]
        .concat(),
    );
    let der = tlv(0x30, &[algorithm, tlv(0x04, &[3; 32])].concat());
    let err = read(&der, Some("anything")).unwrap_err();
    assert_eq!(err.code(), "input_malformed", "{err}");
    assert!(err.to_string().contains("2147483647"), "{err}");
}
