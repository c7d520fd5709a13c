//! Each finding: one case that triggers it and one that does not.

mod common;

use certfleet_certkit::{HostName, Purpose, Role, Severity, read};
use common::*;
use rcgen::{
    ExtendedKeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
};
use time::Duration;

fn host(name: &str) -> Option<HostName> {
    Some(HostName::parse(name).expect("host name"))
}

fn severity_of(report: &certfleet_certkit::Report, code: &str) -> Option<Severity> {
    report
        .findings
        .iter()
        .find(|f| f.code.as_str() == code)
        .map(|f| f.severity)
}

// --- key match -----------------------------------------------------------------------------

type MakeKey = fn() -> rcgen::KeyPair;

#[test]
fn key_mismatch_for_every_key_type() {
    let algorithms: [(&str, MakeKey, MakeKey); 4] = [
        ("rsa", rsa_key, other_rsa_key),
        (
            "p256",
            || key(&PKCS_ECDSA_P256_SHA256),
            || key(&PKCS_ECDSA_P256_SHA256),
        ),
        (
            "p384",
            || key(&PKCS_ECDSA_P384_SHA384),
            || key(&PKCS_ECDSA_P384_SHA384),
        ),
        ("ed25519", || key(&PKCS_ED25519), || key(&PKCS_ED25519)),
    ];
    for (name, own, other) in algorithms {
        let leaf = self_signed(leaf_params(&["k.example.test"]), own());
        let matching = read_pem(&[&leaf.pem(), &leaf.key_pem()]);
        let report = judge(&matching, |_| {});
        assert!(
            !codes(&report).contains(&"key_mismatch"),
            "{name}: {report:?}"
        );
        assert!(report.keys[0].matches_leaf, "{name}");

        let stranger = other();
        let mismatched = read_pem(&[&leaf.pem(), &stranger.serialize_pem()]);
        let report = judge(&mismatched, |_| {});
        assert_eq!(
            severity_of(&report, "key_mismatch"),
            Some(Severity::Error),
            "{name}"
        );
        assert!(report.has_errors());
    }
}

#[test]
fn a_key_of_another_type_is_a_mismatch_too() {
    let leaf = self_signed(leaf_params(&["k.example.test"]), ec_key());
    let m = read_pem(&[&leaf.pem(), &key(&PKCS_ED25519).serialize_pem()]);
    assert!(codes(&judge(&m, |_| {})).contains(&"key_mismatch"));
}

#[test]
fn key_missing_only_when_a_purpose_needs_it() {
    let pki = pki(&["s.example.test"]);
    let m = read_pem(&[&pki.leaf.pem()]);
    assert!(!codes(&judge(&m, |_| {})).contains(&"key_missing"));
    let report = judge(&m, |p| p.purpose = Some(Purpose::Apache));
    assert_eq!(severity_of(&report, "key_missing"), Some(Severity::Warning));
    let with_key = read_pem(&[&pki.leaf.pem(), &pki.leaf.key_pem()]);
    assert!(
        !codes(&judge(&with_key, |p| p.purpose = Some(Purpose::Apache))).contains(&"key_missing")
    );
}

#[test]
fn extra_keys_are_noted_and_the_matching_one_is_used() {
    let pki = pki(&["s.example.test"]);
    let m = read_pem(&[
        &pki.leaf.pem(),
        &ec_key().serialize_pem(),
        &pki.leaf.key_pem(),
    ]);
    let report = judge(&m, |_| {});
    assert!(codes(&report).contains(&"key_extra"));
    assert!(!codes(&report).contains(&"key_mismatch"));
    let one = read_pem(&[&pki.leaf.pem(), &pki.leaf.key_pem()]);
    assert!(!codes(&judge(&one, |_| {})).contains(&"key_extra"));
}

#[test]
fn a_key_alone_is_no_certificate() {
    let m = read_pem(&[&ec_key().serialize_pem()]);
    let report = judge(&m, |_| {});
    assert_eq!(codes(&report), vec!["no_certificate"]);
    assert!(report.has_errors());
}

#[test]
fn the_key_picks_the_leaf_even_when_it_comes_last() {
    let pki = pki(&["s.example.test"]);
    let m = read_pem(&[
        &pki.root.pem(),
        &pki.intermediate.pem(),
        &pki.leaf.pem(),
        &pki.leaf.key_pem(),
    ]);
    let report = judge(&m, |_| {});
    let leaf = report.leaf().expect("leaf");
    assert!(leaf.dns_names.contains(&"s.example.test".to_string()));
    let roles: Vec<Role> = report.certificates.iter().map(|c| c.role).collect();
    assert_eq!(roles, vec![Role::Leaf, Role::Intermediate, Role::Root]);
}

// --- names ---------------------------------------------------------------------------------

#[test]
fn name_not_covered_names_the_host_and_what_is_covered() {
    let pki = pki(&["sage.example.test", "10.0.0.5"]);
    let m = read_pem(&[&pki.leaf.pem()]);
    let report = judge(&m, |p| p.host = host("esync.example.test"));
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "name_not_covered")
        .expect("finding");
    assert_eq!(finding.severity, Severity::Error);
    assert!(
        finding.message.contains("esync.example.test"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("sage.example.test"),
        "{}",
        finding.message
    );
    assert!(finding.message.contains("AH01909"), "{}", finding.message);

    for covered in ["sage.example.test", "SAGE.example.test.", "10.0.0.5"] {
        let report = judge(&m, |p| p.host = host(covered));
        assert!(!codes(&report).contains(&"name_not_covered"), "{covered}");
    }
    let report = judge(&m, |p| p.host = host("10.0.0.6"));
    assert!(codes(&report).contains(&"name_not_covered"));
}

#[test]
fn a_wildcard_certificate_covers_one_level() {
    let pki = pki(&["*.example.test"]);
    let m = read_pem(&[&pki.leaf.pem()]);
    assert!(
        !codes(&judge(&m, |p| p.host = host("sage.example.test"))).contains(&"name_not_covered")
    );
    assert!(
        codes(&judge(&m, |p| p.host = host("a.sage.example.test"))).contains(&"name_not_covered")
    );
}

// --- dates ---------------------------------------------------------------------------------

#[test]
fn expired_not_yet_valid_and_expiring_soon_follow_the_clock() {
    let pki = pki(&["s.example.test"]);
    let m = read_pem(&[&pki.leaf.pem(), &pki.intermediate.pem(), &pki.root.pem()]);
    let not_after = pki.leaf.params.not_after;
    let not_before = pki.leaf.params.not_before;

    let report = judge_at(&m, not_after - Duration::days(100), |_| {});
    for code in ["expired", "not_yet_valid", "expires_soon"] {
        assert!(!codes(&report).contains(&code), "{code} with 100 days left");
    }

    let report = judge_at(&m, not_after - Duration::days(10), |_| {});
    assert_eq!(
        severity_of(&report, "expires_soon"),
        Some(Severity::Warning)
    );
    assert!(!report.has_errors());
    let message = &report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "expires_soon")
        .expect("f")
        .message;
    assert!(
        message.contains("9 days left") || message.contains("10 days left"),
        "{message}"
    );

    let report = judge_at(&m, not_after - Duration::days(10), |p| {
        p.warn_within_days = 7
    });
    assert!(
        !codes(&report).contains(&"expires_soon"),
        "threshold honoured"
    );

    let report = judge_at(&m, not_after + Duration::days(3), |_| {});
    assert_eq!(severity_of(&report, "expired"), Some(Severity::Error));

    let report = judge_at(&m, not_before - Duration::days(3), |_| {});
    assert_eq!(severity_of(&report, "not_yet_valid"), Some(Severity::Error));
}

#[test]
fn an_expiring_intermediate_is_reported_too() {
    let root = self_signed(ca_params("Root"), ec_key());
    let mut inter_params = ca_params("Short Intermediate");
    inter_params.not_after = now() + Duration::days(5);
    let inter = issue(&root, inter_params, ec_key());
    let leaf = issue(&inter, leaf_params(&["s.example.test"]), ec_key());
    let m = read_pem(&[&leaf.pem(), &inter.pem(), &root.pem()]);
    let report = judge(&m, |_| {});
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "expires_soon")
        .expect("intermediate expiring");
    assert_eq!(
        finding.certificate.as_deref(),
        Some("CN=Short Intermediate")
    );
}

// --- purposes ------------------------------------------------------------------------------

#[test]
fn sage300_needs_client_authentication() {
    let server_only = pki(&["sage.example.test"]);
    let m = read_pem(&[&server_only.leaf.pem()]);
    let report = judge(&m, |p| p.purpose = Some(Purpose::Sage300));
    let eku: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "eku_missing")
        .collect();
    assert_eq!(eku.len(), 1);
    assert_eq!(eku[0].severity, Severity::Error);
    assert!(eku[0].message.contains("Client Authentication"));

    let mut both = leaf_params(&["sage.example.test"]);
    both.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let both = pki_with(both, ec_key());
    let m = read_pem(&[&both.leaf.pem()]);
    assert!(!codes(&judge(&m, |p| p.purpose = Some(Purpose::Sage300))).contains(&"eku_missing"));
}

#[test]
fn sage300_without_server_authentication_is_a_warning() {
    let mut client_only = leaf_params(&["sage.example.test"]);
    client_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let pki = pki_with(client_only, ec_key());
    let m = read_pem(&[&pki.leaf.pem()]);
    let report = judge(&m, |p| p.purpose = Some(Purpose::Sage300));
    assert_eq!(severity_of(&report, "eku_missing"), Some(Severity::Warning));
    // The same certificate cannot serve Apache at all.
    let report = judge(&m, |p| p.purpose = Some(Purpose::Apache));
    assert_eq!(severity_of(&report, "eku_missing"), Some(Severity::Error));
}

#[test]
fn no_eku_extension_allows_every_purpose() {
    let mut any = leaf_params(&["sage.example.test"]);
    any.extended_key_usages.clear();
    let pki = pki_with(any, ec_key());
    let m = read_pem(&[&pki.leaf.pem()]);
    for purpose in [Purpose::Sage300, Purpose::Apache, Purpose::Pem] {
        assert!(!codes(&judge(&m, |p| p.purpose = Some(purpose))).contains(&"eku_missing"));
    }
}

// --- chain ---------------------------------------------------------------------------------

#[test]
fn a_reversed_pem_chain_is_put_in_order() {
    let pki = pki(&["s.example.test"]);
    let reversed = read_pem(&[&pki.root.pem(), &pki.intermediate.pem(), &pki.leaf.pem()]);
    let report = judge(&reversed, |_| {});
    assert_eq!(
        severity_of(&report, "chain_out_of_order"),
        Some(Severity::Info)
    );
    let order: Vec<&str> = report
        .certificates
        .iter()
        .map(|c| c.facts.subject.as_str())
        .collect();
    assert_eq!(
        order,
        vec![
            "CN=s.example.test",
            "CN=Test Intermediate CA",
            "CN=Test Root CA"
        ]
    );

    let ordered = read_pem(&[&pki.leaf.pem(), &pki.intermediate.pem(), &pki.root.pem()]);
    let report = judge(&ordered, |_| {});
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn a_missing_intermediate_is_named() {
    let pki = pki(&["s.example.test"]);
    let leaf_only = read_pem(&[&pki.leaf.pem()]);

    // Without a trust bundle it may be a trusted root: a warning.
    let report = judge(&leaf_only, |_| {});
    assert_eq!(
        severity_of(&report, "chain_incomplete"),
        Some(Severity::Warning)
    );

    // With the root as trust bundle the intermediate is definitely missing: an error
    // that names it.
    let trust = read_pem(&[&pki.root.pem()]).certificates;
    let report = judge(&leaf_only, |p| p.trust = trust.clone());
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "chain_incomplete")
        .expect("finding");
    assert_eq!(finding.severity, Severity::Error);
    assert!(
        finding.message.contains("Test Intermediate CA"),
        "{}",
        finding.message
    );

    // Supplying it closes the chain to the anchor.
    let with_inter = read_pem(&[&pki.leaf.pem(), &pki.intermediate.pem()]);
    let report = judge(&with_inter, |p| p.trust = trust.clone());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        report.certificates.last().map(|c| c.role),
        Some(Role::TrustAnchor)
    );
}

#[test]
fn an_intermediate_with_the_right_name_but_another_key_breaks_the_signature() {
    let pki = pki(&["s.example.test"]);
    // Same subject as the real intermediate, different key: a re-keyed CA.
    let impostor = issue(&pki.root, ca_params("Test Intermediate CA"), ec_key());
    let m = read_pem(&[&pki.leaf.pem(), &impostor.pem(), &pki.root.pem()]);
    let report = judge(&m, |_| {});
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "chain_bad_signature")
        .expect("bad signature");
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.certificate.as_deref(), Some("CN=s.example.test"));
}

#[test]
fn a_chain_to_a_root_outside_the_trust_bundle_is_untrusted() {
    let pki = pki(&["s.example.test"]);
    let other_root = self_signed(ca_params("Some Other Root"), ec_key());
    let m = read_pem(&[&pki.leaf.pem(), &pki.intermediate.pem(), &pki.root.pem()]);
    let trust = read_pem(&[&other_root.pem()]).certificates;
    let report = judge(&m, |p| p.trust = trust);
    assert_eq!(
        severity_of(&report, "chain_untrusted_root"),
        Some(Severity::Error)
    );

    let trust = read_pem(&[&pki.root.pem()]).certificates;
    assert!(!codes(&judge(&m, |p| p.trust = trust)).contains(&"chain_untrusted_root"));
}

#[test]
fn an_unrelated_certificate_is_pointed_out() {
    let pki = pki(&["s.example.test"]);
    let stray = self_signed(ca_params("Stray CA"), ec_key());
    let m = read_pem(&[
        &pki.leaf.pem(),
        &pki.intermediate.pem(),
        &stray.pem(),
        &pki.root.pem(),
    ]);
    let report = judge(&m, |_| {});
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "chain_unrelated")
        .expect("finding");
    assert_eq!(finding.certificate.as_deref(), Some("CN=Stray CA"));
    assert_eq!(
        report.certificates.last().map(|c| c.role),
        Some(Role::Unrelated)
    );
}

#[test]
fn chain_links_across_key_types_verify() {
    // The OpenSSL fixture chain: RSA root -> P-256 intermediate -> RSA leaf.
    let m = read(&fixture("modern.pfx"), Some(PFX_PASSWORD)).expect("pfx");
    let report = judge(&m, |p| {
        p.trust = read_pem(&[&fixture_text("root.pem")]).certificates
    });
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Ed25519 and P-384 links.
    let root = self_signed(ca_params("Ed Root"), key(&PKCS_ED25519));
    let inter = issue(&root, ca_params("P384 Inter"), key(&PKCS_ECDSA_P384_SHA384));
    let leaf = issue(&inter, leaf_params(&["s.example.test"]), rsa_key());
    let m = read_pem(&[&leaf.pem(), &inter.pem(), &root.pem()]);
    let report = judge(&m, |_| {});
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

// --- weak ----------------------------------------------------------------------------------

#[test]
fn rsa_1024_and_sha1_are_weak() {
    let m = read(&fixture("weak-sha1-rsa1024.pem"), None).expect("weak");
    let report = judge(&m, |_| {});
    assert_eq!(severity_of(&report, "weak_rsa_key"), Some(Severity::Error));
    assert_eq!(
        severity_of(&report, "weak_signature"),
        Some(Severity::Error)
    );

    let strong = read(&fixture("leaf.pem"), None).expect("leaf");
    let report = judge(&strong, |_| {});
    assert!(!codes(&report).contains(&"weak_rsa_key"));
    assert!(!codes(&report).contains(&"weak_signature"));
}

// --- leaf shape ----------------------------------------------------------------------------

#[test]
fn a_ca_as_server_certificate_is_a_warning() {
    let pki = pki(&["s.example.test"]);
    let m = read_pem(&[&pki.intermediate.pem(), &pki.intermediate.key_pem()]);
    assert_eq!(
        severity_of(&judge(&m, |_| {}), "leaf_is_ca"),
        Some(Severity::Warning)
    );
    let m = read_pem(&[&pki.leaf.pem()]);
    assert!(!codes(&judge(&m, |_| {})).contains(&"leaf_is_ca"));
}

#[test]
fn self_signed_is_noted_with_the_sage_client_step() {
    let leaf = self_signed(leaf_params(&["sage.example.test"]), ec_key());
    let m = read_pem(&[&leaf.pem()]);
    let report = judge(&m, |p| p.purpose = Some(Purpose::Sage300));
    let finding = report
        .findings
        .iter()
        .find(|f| f.code.as_str() == "self_signed")
        .expect("finding");
    assert_eq!(finding.severity, Severity::Info);
    assert!(
        finding.message.contains("Trusted Root"),
        "{}",
        finding.message
    );
    let issued = pki(&["sage.example.test"]);
    let m = read_pem(&[&issued.leaf.pem()]);
    assert!(!codes(&judge(&m, |_| {})).contains(&"self_signed"));
}

#[test]
fn a_pfx_without_mac_is_a_warning() {
    let m = read(&fixture("no-mac.pfx"), Some(PFX_PASSWORD)).expect("no mac");
    assert_eq!(
        severity_of(&judge(&m, |_| {}), "pfx_without_mac"),
        Some(Severity::Warning)
    );
    let m = read(&fixture("windows-legacy.pfx"), Some(PFX_PASSWORD)).expect("legacy");
    assert!(!codes(&judge(&m, |_| {})).contains(&"pfx_without_mac"));
}

#[test]
fn an_encrypted_key_for_apache_is_noted_as_stored_decrypted() {
    let mut m = read(&fixture("leaf.pem"), None).expect("leaf");
    m.merge(read(&fixture("key-pkcs8-enc.pem"), Some(KEY_PASSWORD)).expect("key"));
    let report = judge(&m, |p| p.purpose = Some(Purpose::Apache));
    assert_eq!(
        severity_of(&report, "key_stored_decrypted"),
        Some(Severity::Info)
    );
    assert!(
        !codes(&judge(&m, |p| p.purpose = Some(Purpose::Pem))).contains(&"key_stored_decrypted")
    );
}

#[test]
fn findings_come_most_severe_first_and_serialise_with_stable_codes() {
    let m = read(&fixture("weak-sha1-rsa1024.pem"), None).expect("weak");
    let report = judge(&m, |p| p.host = host("other.example.test"));
    let severities: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
    let json = serde_json::to_value(&report).expect("json");
    let codes: Vec<&str> = json["findings"]
        .as_array()
        .expect("array")
        .iter()
        .map(|f| f["code"].as_str().expect("code"))
        .collect();
    assert!(codes.contains(&"name_not_covered"), "{codes:?}");
    assert_eq!(json["certificates"][0]["role"], "leaf");
    assert_eq!(
        json["certificates"][0]["thumbprint"].as_str().map(str::len),
        Some(40)
    );
}

// --- fit for an endpoint (the console's plan and the agent's preflight) ------------------

#[test]
fn a_bundle_fits_an_endpoint_only_for_its_names_and_purpose() {
    let pki = pki(&["esync.example.test"]);
    let chain = read_pem(&[&pki.leaf.pem(), &pki.intermediate.pem()]);
    let fit = |material: &certfleet_certkit::Material, name: &str, purpose| {
        certfleet_certkit::misfits(material, host(name), purpose, now())
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fit(&chain, "esync.example.test", Purpose::Apache),
        Vec::<&str>::new()
    );
    assert_eq!(
        fit(&chain, "www.example.test", Purpose::Apache),
        vec!["name_not_covered"]
    );
    // A key that belongs to another certificate is a misfit too (when the key travels).
    let mut with_wrong_key = chain.clone();
    with_wrong_key.merge(read_pem(&[&common::other_rsa_key().serialize_pem()]));
    assert!(fit(&with_wrong_key, "esync.example.test", Purpose::Pem).contains(&"key_mismatch"));

    let mut client_only = leaf_params(&["esync.example.test"]);
    client_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = pki_with(client_only, ec_key());
    let m = read_pem(&[&client.leaf.pem(), &client.intermediate.pem()]);
    assert_eq!(
        fit(&m, "esync.example.test", Purpose::Apache),
        vec!["eku_missing"]
    );
    // Warnings (here: Sage 300 without Server Authentication) do not stop a fit.
    assert_eq!(
        fit(&m, "esync.example.test", Purpose::Sage300),
        Vec::<&str>::new()
    );
}
