//! The console's trust boundaries towards browsers and network clients, each tried the way
//! an attacker would (THREATS.md names these tests).

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::{admin, harness};
use tower::ServiceExt;

/// `POST /ui/login` as a plain HTML form from `origin`; the `Set-Cookie` it answered.
async fn form_login(h: &support::Harness, origin: &str, password: &str) -> Option<String> {
    let body = format!("username=admin&password={password}");
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/ui/login")
        .header("host", "localhost")
        .header("origin", origin)
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .expect("request");
    let response = certfleet_server::ui::router(h.state.clone())
        .oneshot(request)
        .await
        .expect("response");
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_cross_site_form_cannot_log_the_browser_in() {
    let h = harness().await;
    admin(&h).await;
    let password = "a-long-admin-password";
    let foreign = form_login(&h, "https://evil.example", password).await;
    assert!(
        !foreign
            .as_deref()
            .unwrap_or("")
            .contains("certfleet_session=ey"),
        "a foreign page got a session: {foreign:?}"
    );
    let own = form_login(&h, "https://localhost", password).await;
    assert!(
        own.as_deref()
            .unwrap_or("")
            .contains("certfleet_session=ey"),
        "the console's own login page still works: {own:?}"
    );
}

#[tokio::test]
async fn the_json_login_refuses_a_foreign_origin_but_not_a_script() {
    let h = harness().await;
    admin(&h).await;
    let body = json!({"username": "admin", "password": "a-long-admin-password"});
    let login = |origin: Option<&'static str>| {
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri("/api/v1/login")
            .header("host", "localhost")
            .header("content-type", "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
            .body(axum::body::Body::from(body.to_string()))
            .expect("request")
    };
    let router = || certfleet_server::api::router(h.state.clone());
    let foreign = router()
        .oneshot(login(Some("https://evil.example")))
        .await
        .expect("r");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.headers().get("set-cookie").is_none());
    let own = router()
        .oneshot(login(Some("https://localhost")))
        .await
        .expect("r");
    assert_eq!(own.status(), StatusCode::OK);
    let script = router().oneshot(login(None)).await.expect("r");
    assert_eq!(script.status(), StatusCode::OK);
}

/// `POST /api/v1/login` from `from` (as the TLS accept loop records the peer).
async fn login_from(
    h: &support::Harness,
    from: &str,
    password: &str,
) -> axum::http::Response<axum::body::Body> {
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/login")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"username": "admin", "password": password}).to_string(),
        ))
        .expect("request");
    let peer: std::net::SocketAddr = from.parse().expect("address");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    certfleet_server::api::router(h.state.clone())
        .oneshot(request)
        .await
        .expect("response")
}

#[tokio::test]
async fn the_sixth_wrong_password_in_a_minute_is_answered_429_for_that_address_only() {
    let h = harness().await;
    admin(&h).await;
    let attacker = "203.0.113.9:50000";
    for _ in 0..5 {
        let r = login_from(&h, attacker, "guess").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = login_from(&h, attacker, "guess").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    // Even the right password waits from there, so guessing gains nothing …
    let r = login_from(&h, attacker, "a-long-admin-password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // … but the account is not locked: the admin at their own desk logs in.
    let r = login_from(&h, "198.51.100.7:40000", "a-long-admin-password").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_attackers_long_user_name_is_audited_cut_to_256_bytes() {
    let h = harness().await;
    let name = "é".repeat(5_000);
    let r = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/login")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"username": name, "password": "x"}).to_string(),
        ))
        .expect("request");
    let response = certfleet_server::api::router(h.state.clone())
        .oneshot(r)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let log = h.state.store.audit_log(None, 10).await.expect("audit");
    let failed = log
        .iter()
        .find(|e| e.action == "login.failed")
        .expect("the failure is audited");
    assert!(failed.actor.len() <= 256, "{}", failed.actor.len());
    assert!(failed.actor.starts_with("éé") && failed.actor.ends_with('…'));
}

/// A `POST` of `bytes` to the dashboard's `path`; the status.
async fn post_bytes(h: &support::Harness, path: &str, bytes: usize) -> StatusCode {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "localhost")
        .header("origin", "https://localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", bytes.to_string())
        .body(axum::body::Body::from(vec![b'a'; bytes]))
        .expect("request");
    certfleet_server::ui::router(h.state.clone())
        .oneshot(request)
        .await
        .expect("response")
        .status()
}

#[tokio::test]
async fn oversized_dashboard_requests_are_refused_413_and_the_upload_has_its_own_limit() {
    let h = harness().await;
    // A server function: 1 MiB at most.
    assert_eq!(
        post_bytes(&h, "/ui/login", 2 * 1024 * 1024).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_ne!(
        post_bytes(&h, "/ui/login", 1024).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // The renewal upload: 10 MiB.
    assert_eq!(
        post_bytes(&h, "/ui/renewals/upload", 11 * 1024 * 1024).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_ne!(
        post_bytes(&h, "/ui/renewals/upload", 3 * 1024 * 1024).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn every_answer_forbids_framing_and_keeps_to_https() {
    let h = harness().await;
    for path in ["/login", "/api/v1/me", "/api/v1/openapi.json"] {
        let request = axum::http::Request::builder()
            .uri(path)
            .header("host", "localhost")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = certfleet_server::app(&h.state)
            .oneshot(request)
            .await
            .expect("response");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert!(
            header("strict-transport-security").starts_with("max-age="),
            "{path}"
        );
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
}

/// The page at `path`: its Content-Security-Policy and its HTML.
async fn page(h: &support::Harness, path: &str) -> (String, String) {
    let request = axum::http::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = certfleet_server::app(&h.state)
        .oneshot(request)
        .await
        .expect("response");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    (csp, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn pages_allow_only_their_own_scripts_and_the_hydration_script_with_this_responses_nonce() {
    let h = harness().await;
    let (csp, html) = page(&h, "/login").await;
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp:?}"));
    assert!(nonce.len() >= 16, "{nonce}");
    for part in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(
        !csp.split(';')
            .any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline")),
        "{csp}"
    );
    // Every script the page carries has this response's nonce.
    let tags: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or(""))
        .collect();
    assert!(!tags.is_empty(), "{html}");
    for tag in tags {
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "<script{tag}>");
    }
    // A new response, a new nonce.
    let (again, _) = page(&h, "/login").await;
    assert_ne!(again, csp);
}
