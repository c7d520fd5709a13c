//! The in-process harness the API tests share: a prepared console in a temporary data
//! folder, requests through the router, and logged-in users of each role.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use certfleet_server::config::{Config, Overrides};
use certfleet_store::Role;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use certfleet_proto::{CertificateInfo, Endpoint, Finding, Hello, Inventory, Snapshot};
use certfleet_store::{NewAgent, NewToken, Store};

pub struct Harness {
    pub _dir: tempfile::TempDir,
    /// Holds the data folder's lock for the test's duration.
    pub _prepared: certfleet_server::Prepared,
    pub state: certfleet_server::state::AppState,
    pub admin_password: String,
}

pub async fn harness() -> Harness {
    certfleet_server::install_crypto_provider();
    let dir = tempfile::tempdir().expect("dir");
    let overrides = Overrides {
        data_dir: Some(dir.path().join("data")),
        ..Overrides::default()
    };
    let config = Config::load(None, Vec::new(), &overrides).expect("config");
    let prepared = certfleet_server::prepare(config).await.expect("prepare");
    let admin_password = prepared.first_admin_password.clone().expect("first start");
    let state = prepared.state.clone();
    Harness {
        _dir: dir,
        _prepared: prepared,
        state,
        admin_password,
    }
}

pub async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (content_type, body) = match body {
        Some(b) => (Some("application/json"), b.to_string()),
        None => (None, String::new()),
    };
    call_raw(h, method, path, token, content_type, &body).await
}

/// `call` with the body and its Content-Type as given (none when `None`): for bodies that
/// are not JSON.
pub async fn call_raw(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = certfleet_server::api::router(h.state.clone())
        .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn login(h: &Harness, user: &str, password: &str) -> String {
    let (status, body) = call(
        h,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": user, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

pub async fn admin(h: &Harness) -> String {
    let token = login(h, "admin", &h.admin_password).await;
    let (status, body) = call(
        h,
        "POST",
        "/api/v1/password",
        Some(&token),
        Some(json!({"current": h.admin_password, "new": "a-long-admin-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The change ended the one-time password's session; this is the new one.
    body["token"].as_str().expect("a new token").to_owned()
}

pub async fn user_with_role(h: &Harness, name: &str, role: Role) -> String {
    let hash = certfleet_server::auth::hash_password("a-long-user-password").expect("hash");
    h.state
        .store
        .create_user(name, &hash, role, false, 0)
        .await
        .expect("user");
    login(h, name, "a-long-user-password").await
}

/// An enrolled agent with a host in `groups`; returns (agent id, host id).
pub async fn host(store: &Store, name: &str, groups: &[&str], seen: i64) -> (String, i64) {
    let agent = format!(
        "00000000-0000-4000-8000-{:012}",
        name.len() * 1000 + name.bytes().map(usize::from).sum::<usize>()
    );
    store
        .create_token(&NewToken {
            id: name.into(),
            secret_sha256: "x".into(),
            host_hint: None,
            created_by: "t".into(),
            created_at: 0,
            expires_at: i64::MAX,
        })
        .await
        .expect("token");
    store
        .enroll_agent(
            name,
            "x",
            1,
            &NewAgent {
                id: &agent,
                cert_serial: "1",
                cert_not_after: i64::MAX,
            },
        )
        .await
        .expect("enrol");
    let hello = Hello {
        agent_version: "t".into(),
        protocol: 1,
        hostname: name.into(),
        fqdn: format!("{name}.example.test"),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    let host = store.upsert_host(&agent, &hello, seen).await.expect("host");
    (agent, host)
}

pub async fn inventory(
    store: &Store,
    agent: &str,
    host: i64,
    certs: &[(&str, i64)],
    findings: Vec<Finding>,
) {
    let snapshot = Snapshot {
        endpoints: certs
            .iter()
            .enumerate()
            .map(|(i, (name, _))| Endpoint {
                key: format!("pem:{name}"),
                kind: certfleet_proto::EndpointKind::Apache,
                name: (*name).into(),
                address: Some(format!("127.0.0.1:{}", 8443 + i)),
                config_path: None,
                configured_sha256: Some(format!("{name:0>64}").to_uppercase()),
                served_sha256: Some(format!("{name:0>64}").to_uppercase()),
                errors: vec![],
                findings: if i == 0 { findings.clone() } else { vec![] },
            })
            .collect(),
        certificates: certs
            .iter()
            .map(|(name, not_after)| CertificateInfo {
                sha256: format!("{name:0>64}").to_uppercase(),
                thumbprint: "T".into(),
                subject: format!("CN={name}"),
                issuer: "CN=CA".into(),
                serial: "1".into(),
                dns_names: vec![(*name).into()],
                ip_addresses: vec![],
                not_before: 0,
                not_after: *not_after,
                key_algorithm: "RSA".into(),
                key_bits: 2048,
                signature_algorithm: "sha256WithRSAEncryption".into(),
                self_signed: false,
                der_base64: "AA==".into(),
            })
            .collect(),
        trust: Vec::new(),
    };
    store
        .ingest_inventory(agent, host, &Inventory::of(snapshot), 0)
        .await
        .expect("ingest");
}

/// Uploads `cert` (PEM, with the CA as its chain) as a renewal through the API.
pub async fn upload(
    h: &Harness,
    token: &str,
    ca: &certfleet_e2e::pki::TestCa,
    cert: &certfleet_e2e::pki::ServerCert,
) -> (StatusCode, Value) {
    call(
        h,
        "POST",
        "/api/v1/renewals",
        Some(token),
        Some(
            json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem, "chain_pem": ca.pem}),
        ),
    )
    .await
}
