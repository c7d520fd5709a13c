//! The JSON API driven in-process (`Router` + `oneshot`): roles are enforced on the server,
//! every documented route exists, and nothing but a valid session gets in.

mod support;

use axum::http::StatusCode;
use certfleet_store::Role;
use serde_json::json;
use support::{admin, call, harness, login, user_with_role};

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let h = harness().await;
    let token = login(&h, "admin", &h.admin_password).await;
    let (status, body) = call(&h, "GET", "/api/v1/summary", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("one-time password")
    );
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/password",
        Some(&token),
        Some(json!({"current": h.admin_password, "new": "short"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/password",
        Some(&token),
        Some(json!({"current": "wrong", "new": "a-long-admin-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/password",
        Some(&token),
        Some(json!({"current": h.admin_password, "new": "a-long-admin-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The password change ended the session it was made in; the answer carries a new one.
    let (status, _) = call(&h, "GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session is over");
    let token = body["token"].as_str().expect("new token").to_owned();
    let (status, _) = call(&h, "GET", "/api/v1/summary", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    // The one-time password no longer works.
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": "admin", "password": h.admin_password})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn roles_are_enforced_by_the_server() {
    let h = harness().await;
    let admin = admin(&h).await;
    let viewer = user_with_role(&h, "vera", Role::Viewer).await;
    let operator = user_with_role(&h, "otto", Role::Operator).await;
    for token in [&viewer, &operator] {
        let (status, _) = call(&h, "GET", "/api/v1/certificates", Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
        for (method, path) in [
            ("POST", "/api/v1/tokens"),
            ("GET", "/api/v1/tokens"),
            ("POST", "/api/v1/agents/x/revoke"),
            ("GET", "/api/v1/audit"),
            ("GET", "/api/v1/alerts/outbox"),
        ] {
            let (status, body) = call(&h, method, path, Some(token), Some(json!({}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("admin role")
            );
        }
    }
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"expires_hours": 2, "host": "sage01"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["token"].as_str().unwrap_or("").starts_with("cf1."));
    let (_, audit) = call(&h, "GET", "/api/v1/audit", Some(&admin), None).await;
    assert!(
        audit
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["action"] == "token.created" && r["actor"] == "admin")
    );
}

#[tokio::test]
async fn only_valid_sessions_get_in() {
    let h = harness().await;
    let (status, _) = call(&h, "GET", "/api/v1/summary", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for forged in [
        "garbage",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiYXVkIjoiY2VydGZsZWV0LWFwaSIsImtpbmQiOiJzZXNzaW9uIn0.",
        "cf1.abcdefgh.ssssssssssssssssssssssssssssssss.n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",
    ] {
        let (status, _) = call(&h, "GET", "/api/v1/summary", Some(forged), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    }
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": "nobody", "password": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["message"], "wrong user name or password");
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let h = harness().await;
    let token = admin(&h).await;
    for route in certfleet_server::api::DOCUMENTED_PATHS {
        let (method, path) = route.split_once(' ').expect("METHOD path");
        let path = path.replace("{id}", "1").replace("{sha256}", "AB");
        let (status, body) = call(&h, method, &path, Some(&token), Some(json!({}))).await;
        // A served route answers a missing item with our JSON error; an unrouted path gets
        // axum's empty 404.
        assert!(
            status != StatusCode::NOT_FOUND || body["error"]["code"] == "not_found",
            "{route}: {status}"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
    }
    let (status, spec) = call(&h, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["openapi"], "3.1.0");
}

#[tokio::test]
async fn certificate_queries_check_their_parameters() {
    let h = harness().await;
    let token = admin(&h).await;
    let (status, body) = call(
        &h,
        "GET",
        "/api/v1/certificates?status=fine",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("expired, expiring")
    );
    let (status, _) = call(
        &h,
        "GET",
        "/api/v1/certificates?after=nonsense",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(
        &h,
        "GET",
        "/api/v1/certificates?q=%E2%80%8Ea1%20b2",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The metrics map the fleet: a logged-in user or the scraper's token, nobody else.
    let (status, _) = call(&h, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&h, "GET", "/metrics", Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&h, "GET", "/metrics", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_scraper_reads_the_metrics_with_the_metrics_token_only() {
    certfleet_server::install_crypto_provider();
    let dir = tempfile::tempdir().expect("dir");
    let overrides = certfleet_server::config::Overrides {
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let config = certfleet_server::config::Config::load(
        None,
        vec![(
            "CERTFLEET_METRICS__TOKEN".to_string(),
            "scrape-me-0123456789".to_string(),
        )],
        &overrides,
    )
    .expect("config");
    let prepared = certfleet_server::prepare(config).await.expect("prepare");
    let router = || certfleet_server::api::router(prepared.state.clone());
    let get = |bearer: &str| {
        axum::http::Request::builder()
            .uri("/metrics")
            .header("host", "localhost")
            .header("authorization", format!("Bearer {bearer}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    use tower::ServiceExt;
    let ok = router()
        .oneshot(get("scrape-me-0123456789"))
        .await
        .expect("r");
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = router()
        .oneshot(get("scrape-me-012345678X"))
        .await
        .expect("r");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_ends_at_logout_and_every_other_one_at_a_password_change() {
    let h = harness().await;
    let admin = admin(&h).await;
    let laptop = user_with_role(&h, "olivia", Role::Operator).await;
    let phone = login(&h, "olivia", "a-long-user-password").await;
    for token in [&laptop, &phone] {
        assert_eq!(
            call(&h, "GET", "/api/v1/me", Some(token), None).await.0,
            StatusCode::OK
        );
    }
    // A password change on the laptop: the phone's session is over, the laptop's new one works.
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/password",
        Some(&laptop),
        Some(json!({"current": "a-long-user-password", "new": "an-even-longer-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let laptop = body["token"].as_str().expect("token").to_owned();
    assert_eq!(
        call(&h, "GET", "/api/v1/me", Some(&phone), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&h, "GET", "/api/v1/me", Some(&laptop), None).await.0,
        StatusCode::OK
    );
    // Logout ends it, everywhere, and a stolen copy of the token with it.
    let stolen = laptop.clone();
    let (status, _) = call(&h, "POST", "/api/v1/logout", Some(&laptop), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&h, "GET", "/api/v1/me", Some(&stolen), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The admin's own session was never touched.
    assert_eq!(
        call(&h, "GET", "/api/v1/me", Some(&admin), None).await.0,
        StatusCode::OK
    );
}
