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
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = certfleet_server::api::router(h.state.clone())
        .oneshot(request.body(body).expect("request"))
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
    let (status, _) = call(
        h,
        "POST",
        "/api/v1/password",
        Some(&token),
        Some(json!({"current": h.admin_password, "new": "a-long-admin-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    token
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
