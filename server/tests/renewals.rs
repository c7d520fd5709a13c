//! Uploading renewed certificates through the API: what passes is stored with its key
//! sealed and never shown; what could not be deployed is refused with the finding's message
//! and nothing is stored. Key rotation re-seals every secret and survives a crash.

mod support;

use axum::http::StatusCode;
use base64::Engine;
use certfleet_e2e::pki::TestCa;
use certfleet_server::datadir::DataDir;
use certfleet_server::keys;
use certfleet_store::{NewRenewal, Role, Store};
use serde_json::{Value, json};
use support::{Harness, admin, call, harness, user_with_role};

async fn renewal_count(h: &Harness) -> usize {
    h.state.store.renewals(100).await.expect("list").len()
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_owned()
}

fn pfx(cert_pem: &str, key_pem: &str, ca_pem: &str, password: &str) -> String {
    let mut material = certfleet_certkit::read(cert_pem.as_bytes(), None).expect("cert");
    material.merge(certfleet_certkit::read(key_pem.as_bytes(), None).expect("key"));
    material.merge(certfleet_certkit::read(ca_pem.as_bytes(), None).expect("ca"));
    let bytes = certfleet_certkit::write::pfx(
        &material.keys[0],
        &material.certificates,
        password,
        certfleet_certkit::write::PfxEncryption::Aes256,
    )
    .expect("pfx");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_good_pem_upload_is_stored_and_its_key_never_shown() {
    let h = harness().await;
    let token = admin(&h).await;
    let ca = TestCa::new("Renewal Test CA");
    let cert = ca.server(&["esync.example.test"], 365);
    let (status, body) = support::upload(&h, &token, &ca, &cert).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["sha256"], cert.sha256.as_str());
    assert_eq!(body["dns_names"], json!(["esync.example.test"]));
    let id = body["id"].as_i64().expect("id");
    for (_, body) in [
        (status, body),
        call(
            &h,
            "GET",
            &format!("/api/v1/renewals/{id}"),
            Some(&token),
            None,
        )
        .await,
        call(&h, "GET", "/api/v1/renewals", Some(&token), None).await,
    ] {
        let text = body.to_string();
        assert!(text.contains(&cert.sha256), "{text}");
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains("sealed"),
            "{text}"
        );
    }
    // The stored key is sealed, and opens to the uploaded key.
    let sealed = h.state.store.renewal_sealed_key(id).await.expect("sealed");
    let opened = h.state.kek.open(&sealed).expect("open");
    let uploaded = certfleet_certkit::read(cert.key_pem.as_bytes(), None).expect("key");
    assert_eq!(&opened[..], uploaded.keys[0].pkcs8_der());
    // The root is left out of the chain the hosts get; the leaf comes first.
    let row = h.state.store.renewal(id).await.expect("row");
    let chain = certfleet_certkit::read(row.chain_pem.as_bytes(), None).expect("chain");
    assert_eq!(chain.certificates.len(), 1);
    assert_eq!(
        chain.certificates[0].facts().sha256.to_string(),
        cert.sha256
    );
    // The same certificate again is a conflict that names the first upload.
    let (status, body) = support::upload(&h, &token, &ca, &cert).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message(&body).contains(&format!("renewal #{id}")), "{body}");
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_reason_and_nothing_is_stored() {
    let h = harness().await;
    let token = admin(&h).await;
    let ca = TestCa::new("Renewal Test CA");
    let cert = ca.server(&["esync.example.test"], 365);
    let other = ca.server(&["esync.example.test"], 365);
    let expired = ca.server(&["esync.example.test"], -1);
    let good_pfx = pfx(&cert.cert_pem, &cert.key_pem, &ca.pem, "Right-Pa55");
    let truncated = {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&good_pfx)
            .expect("b64");
        base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() / 2])
    };
    let cases = [
        (
            json!({"certificate_pem": cert.cert_pem, "key_pem": other.key_pem, "chain_pem": ca.pem}),
            "key_mismatch",
        ),
        (
            json!({"certificate_pem": cert.cert_pem, "chain_pem": ca.pem}),
            "no private key",
        ),
        (
            json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem}),
            "chain_incomplete",
        ),
        (
            json!({"certificate_pem": expired.cert_pem, "key_pem": expired.key_pem, "chain_pem": ca.pem}),
            "expired",
        ),
        (
            json!({"pfx_base64": good_pfx, "password": "wrong"}),
            "wrong password",
        ),
        (
            json!({"pfx_base64": truncated, "password": "Right-Pa55"}),
            "the PFX",
        ),
        (json!({"pfx_base64": "not base64!"}), "not base64"),
        (json!({"certificate_pem": "hello"}), "the certificate"),
        (json!({}), "nothing to upload"),
        (
            json!({"pfx_base64": good_pfx, "certificate_pem": cert.cert_pem}),
            "not both",
        ),
    ];
    for (request, expected) in cases {
        let (status, body) =
            call(&h, "POST", "/api/v1/renewals", Some(&token), Some(request)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}: {body}");
        assert!(
            message(&body).contains(expected),
            "{expected}: {}",
            message(&body)
        );
        assert!(!body.to_string().contains("PRIVATE KEY"));
    }
    assert_eq!(
        renewal_count(&h).await,
        0,
        "nothing of a refused upload is kept"
    );
    let refused = h
        .state
        .store
        .audit_log(None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == "renewal.refused")
        .count();
    assert_eq!(refused, 10);

    // The right password for the same PFX is accepted.
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/renewals",
        Some(&token),
        Some(json!({"pfx_base64": good_pfx, "password": "Right-Pa55"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["sha256"], cert.sha256.as_str());
}

#[tokio::test]
async fn only_operators_and_admins_upload() {
    let h = harness().await;
    let viewer = user_with_role(&h, "vera", Role::Viewer).await;
    let operator = user_with_role(&h, "otto", Role::Operator).await;
    let ca = TestCa::new("Renewal Test CA");
    let cert = ca.server(&["sage.example.test"], 365);
    let request =
        json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem, "chain_pem": ca.pem});
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/renewals",
        Some(&viewer),
        Some(request.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(renewal_count(&h).await, 0);
    let (status, _) = call(&h, "GET", "/api/v1/renewals", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/renewals",
        Some(&operator),
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&h, "POST", "/api/v1/renewals", None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn sealed_renewal(store: &Store, kek: &certfleet_server::secrets::Kek, key: &[u8]) -> i64 {
    store
        .insert_renewal(&NewRenewal {
            source: certfleet_store::RenewalSource::Upload,
            key_agent_id: None,
            pending_key: None,
            sha256: "AB",
            thumbprint: "CD",
            subject: "CN=x",
            issuer: "CN=ca",
            dns_names: &[],
            ip_addresses: &[],
            not_before: 0,
            not_after: 1,
            key_algorithm: "ECDSA P-256",
            chain_pem: "",
            root_pem: "",
            sealed_key: &kek.seal(key).expect("seal"),
            warnings: &[],
            uploaded_by: "test",
            uploaded_at: 0,
        })
        .await
        .expect("insert")
}

#[tokio::test]
async fn key_rotation_reseals_every_secret_and_a_crash_midway_is_finished_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let data = DataDir::open(dir.path(), true).expect("data dir");
    let store = Store::open(&data.database()).await.expect("store");
    let old = keys::load(&data, &store, None, 0)
        .await
        .expect("first load");
    let id = sealed_renewal(&store, &old, b"the private key").await;
    let smtp = serde_json::to_string(&old.seal(b"smtp secret").expect("seal")).expect("json");
    store
        .set_setting(certfleet_server::alerts::PASSWORD, &smtp, 0)
        .await
        .expect("setting");
    // An ACME account (one setting per directory) and the issuing CA's key are sealed too.
    let account = serde_json::to_string(&old.seal(b"acme account").expect("seal")).expect("json");
    store
        .set_setting(
            &format!("{}0123abcd", certfleet_server::acme::ACCOUNT_SETTING_PREFIX),
            &account,
            0,
        )
        .await
        .expect("setting");
    let ca_key = serde_json::to_string(&old.seal(b"ca key").expect("seal")).expect("json");
    store
        .set_setting(certfleet_server::issuing_ca::KEY_SETTING, &ca_key, 0)
        .await
        .expect("setting");
    let old_file = std::fs::read(data.path("kek.key")).expect("kek");

    let rotated = keys::rotate(&data, &store, None, None, 1)
        .await
        .expect("rotate");
    assert_eq!(
        rotated.resealed, 5,
        "renewal key, SMTP password, ACME account, issuing CA key and canary"
    );
    let account = store
        .setting(&format!(
            "{}0123abcd",
            certfleet_server::acme::ACCOUNT_SETTING_PREFIX
        ))
        .await
        .expect("read")
        .expect("kept");
    let account: String = serde_json::from_str(&account).expect("json");
    assert_ne!(std::fs::read(data.path("kek.key")).expect("kek"), old_file);
    assert!(!data.path("kek.key.new").exists());
    let new = keys::load(&data, &store, None, 2).await.expect("load new");
    assert_eq!(&new.open(&account).expect("open")[..], b"acme account");
    let sealed = store.renewal_sealed_key(id).await.expect("sealed");
    assert_eq!(&new.open(&sealed).expect("open")[..], b"the private key");
    assert!(old.open(&sealed).is_err(), "the old key no longer opens it");

    // A crash after the commit but before the rename: the next start finishes it.
    let newer = certfleet_server::secrets::Kek::new(&[9u8; 32]).expect("key");
    std::fs::write(data.path("kek.key.new"), [9u8; 32]).expect("write");
    keys::reseal(&store, &new, &newer, 3).await.expect("reseal");
    let loaded = keys::load(&data, &store, None, 4).await.expect("finishes");
    let sealed = store.renewal_sealed_key(id).await.expect("sealed");
    assert_eq!(&loaded.open(&sealed).expect("open")[..], b"the private key");
    assert_eq!(std::fs::read(data.path("kek.key")).expect("kek"), [9u8; 32]);

    // A wrong key is refused at start with what to do, not at the first rollout.
    let wrong = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
    let error = keys::load(&data, &store, Some(&wrong), 5)
        .await
        .expect_err("wrong key");
    assert!(error.to_string().contains("Restore the key"), "{error}");

    // With the key in the environment, the new one must be named.
    let current = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let error = keys::rotate(&data, &store, Some(&current), None, 6)
        .await
        .expect_err("needs --new-kek-env");
    assert!(error.to_string().contains("--new-kek-env"), "{error}");
    let next = base64::engine::general_purpose::STANDARD.encode([4u8; 32]);
    keys::rotate(&data, &store, Some(&current), Some(&next), 7)
        .await
        .expect("rotate from env");
    assert!(keys::load(&data, &store, Some(&next), 8).await.is_ok());
}

/// A multipart body like a browser sends for the upload form.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "certfleet-test-boundary";
    let mut body = Vec::new();
    for (name, filename, value) in fields {
        body.extend(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/x-pkcs12\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend(*value);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(
    h: &Harness,
    token: &str,
    origin: &str,
    fields: &[(&str, Option<&str>, &[u8])],
) -> (StatusCode, String) {
    use tower::ServiceExt;
    let (content_type, body) = multipart(fields);
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/ui/renewals/upload")
        .header("host", "localhost")
        .header("origin", origin)
        .header(
            "cookie",
            format!("{}={token}", certfleet_server::auth::SESSION_COOKIE),
        )
        .header("content-type", content_type)
        .body(axum::body::Body::from(body))
        .expect("request");
    let response = certfleet_server::ui::router(h.state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (response.status(), location)
}

#[tokio::test]
async fn the_upload_form_takes_a_pfx_file_and_sends_refusals_back_with_the_reason() {
    let h = harness().await;
    let operator = user_with_role(&h, "otto", Role::Operator).await;
    let viewer = user_with_role(&h, "vera", Role::Viewer).await;
    let ca = TestCa::new("Form CA");
    let cert = ca.server(&["esync.example.test"], 365);
    let pfx_b64 = pfx(&cert.cert_pem, &cert.key_pem, &ca.pem, "Form-Pa55");
    let pfx_bytes = base64::engine::general_purpose::STANDARD
        .decode(pfx_b64)
        .expect("b64");
    let file = |password: &'static str| -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
        vec![
            ("pfx", Some("esync.pfx"), pfx_bytes.clone()),
            ("password", None, password.as_bytes().to_vec()),
            ("certificate_pem", None, Vec::new()),
        ]
    };
    let send = |token: String,
                origin: &'static str,
                fields: Vec<(&'static str, Option<&'static str>, Vec<u8>)>| {
        let h = &h;
        async move {
            let borrowed: Vec<(&str, Option<&str>, &[u8])> = fields
                .iter()
                .map(|(n, f, v)| (*n, *f, v.as_slice()))
                .collect();
            post_form(h, &token, origin, &borrowed).await
        }
    };

    let (status, location) = send(operator.clone(), "https://localhost", file("wrong")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/renewals?error="), "{location}");
    assert!(location.contains("wrong+password"), "{location}");
    let (status, location) = send(viewer, "https://localhost", file("Form-Pa55")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.contains("operator"), "{location}");
    let (status, _) = send(operator.clone(), "https://evil.example", file("Form-Pa55")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "cross-origin uploads are refused"
    );
    assert_eq!(renewal_count(&h).await, 0);

    let (status, location) = send(operator, "https://localhost", file("Form-Pa55")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let row = h.state.store.renewals(10).await.expect("list");
    assert_eq!(row.len(), 1);
    assert_eq!(location, format!("/renewals/{}", row[0].id));
    assert_eq!(row[0].sha256, cert.sha256);
}
