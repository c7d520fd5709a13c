//! The JSON API driven in-process (`Router` + `oneshot`): roles are enforced on the server,
//! every documented route exists, and nothing but a valid session gets in.

mod support;

use axum::http::StatusCode;
use certfleet_store::Role;
use serde_json::json;
use support::{admin, call, call_raw, harness, login, user_with_role};

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

/// The routes the API has, as `METHOD path`: a route that vanishes from the router and the
/// document together is noticed here.
const ROUTES: &[&str] = &[
    "POST /api/v1/login",
    "POST /api/v1/logout",
    "POST /api/v1/password",
    "GET /api/v1/me",
    "GET /api/v1/summary",
    "GET /api/v1/hosts",
    "GET /api/v1/hosts/{id}",
    "GET /api/v1/certificates",
    "POST /api/v1/hosts/{id}/endpoints/accept",
    "POST /api/v1/hosts/{id}/endpoints/renew",
    "POST /api/v1/hosts/{id}/endpoints/clients",
    "DELETE /api/v1/hosts/{id}/endpoints/clients",
    "GET /api/v1/certificates/{sha256}",
    "GET /api/v1/agents",
    "POST /api/v1/agents/{id}/revoke",
    "GET /api/v1/tokens",
    "POST /api/v1/tokens",
    "GET /api/v1/audit",
    "GET /api/v1/renewals",
    "POST /api/v1/renewals",
    "GET /api/v1/renewals/schedule",
    "GET /api/v1/renewals/issued",
    "GET /api/v1/renewals/issuing-ca",
    "GET /api/v1/renewals/{id}",
    "GET /api/v1/renewals/{id}/plan",
    "POST /api/v1/renewals/{id}/preflight",
    "GET /api/v1/rollouts",
    "POST /api/v1/rollouts",
    "GET /api/v1/rollouts/{id}",
    "POST /api/v1/rollouts/{id}/pause",
    "POST /api/v1/rollouts/{id}/resume",
    "POST /api/v1/rollouts/{id}/cancel",
    "POST /api/v1/rollouts/{id}/cleanup",
    "GET /api/v1/windows",
    "POST /api/v1/windows",
    "DELETE /api/v1/windows/{id}",
    "GET /api/v1/alerts/outbox",
    "GET /api/v1/openapi.json",
    "GET /metrics",
];

#[tokio::test]
async fn the_document_names_exactly_the_served_routes_with_their_schemas() {
    let h = harness().await;
    let token = admin(&h).await;
    let (status, spec) = call(&h, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["openapi"], "3.1.0");
    let mut documented: Vec<String> = Vec::new();
    let mut operation_ids: Vec<String> = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let route = format!("{} {path}", method.to_uppercase());
            // Every answer that carries a body says what it is.
            let responses = op["responses"].as_object().expect("responses");
            let success = responses
                .iter()
                .find(|(code, _)| code.starts_with('2'))
                .unwrap_or_else(|| panic!("{route}: no success response"));
            if success.0 != "204" {
                assert!(
                    success.1["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .is_some_and(|c| c.get("schema").is_some()),
                    "{route}: its answer has no schema"
                );
            }
            let public = op["security"] == json!([{}]);
            // Only logging in and the document itself need no session.
            assert_eq!(
                public,
                ["POST /api/v1/login", "GET /api/v1/openapi.json"].contains(&route.as_str()),
                "{route}: security {}",
                op["security"]
            );
            if !public {
                assert_eq!(
                    responses["401"]["$ref"], "#/components/responses/Error",
                    "{route}"
                );
            }
            if op.get("requestBody").is_some() {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                    "{route}: its body has no schema"
                );
            }
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(
                !id.is_empty() && !operation_ids.contains(&id),
                "{route}: operationId {id:?} missing or used twice"
            );
            operation_ids.push(id);
            documented.push(route);
        }
    }
    documented.sort();
    let mut expected: Vec<String> = ROUTES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(documented, expected);
    assert_eq!(
        spec["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .map(|codes| codes.len()),
        Some(10)
    );

    for route in ROUTES {
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
}

#[tokio::test]
async fn a_request_that_does_not_parse_is_refused_in_the_error_shape() {
    let h = harness().await;
    let token = admin(&h).await;
    let json = Some("application/json");
    for (method, uri, content_type, body, expected, code) in [
        (
            "POST",
            "/api/v1/windows",
            json,
            "{not json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/v1/windows",
            json,
            r#"{"group_name": 5}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "POST",
            "/api/v1/windows",
            Some("text/plain"),
            "{}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/v1/tokens",
            json,
            r#"{"expires_hours": "soon"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "GET",
            "/api/v1/hosts/not-a-number",
            None,
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/audit?limit=many",
            None,
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        let (status, answer) = call_raw(&h, method, uri, Some(&token), content_type, body).await;
        assert_eq!(status, expected, "{method} {uri} {body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {uri} {body}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("refused")),
            "{answer}"
        );
    }
    // No body at all is still a token with the defaults.
    let (status, answer) = call_raw(&h, "POST", "/api/v1/tokens", Some(&token), None, "").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
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
    // Found by schemathesis: days this far out overflowed the console's arithmetic (a panic,
    // the connection dropped); they are refused now, and a hundred years still answers.
    for days in ["-9223372036854775808", "9223372036854775807", "36501"] {
        let path = format!("/api/v1/certificates?days={days}");
        let (status, body) = call(&h, "GET", &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{days}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("`days`")
        );
    }
    let (status, _) = call(
        &h,
        "GET",
        "/api/v1/certificates?days=-36500",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A token's lifetime out of its range is refused, not silently cut to it.
    for hours in [0u64, 721, u64::MAX] {
        let body = json!({ "expires_hours": hours });
        let (status, answer) = call(&h, "POST", "/api/v1/tokens", Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hours}: {answer}");
    }
    let body = json!({ "expires_hours": 720 });
    let (status, _) = call(&h, "POST", "/api/v1/tokens", Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
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
