//! Security headers on every answer of the API listener (the JSON API and the dashboard):
//! no framing by other sites (clickjacking), HTTPS only from now on (HSTS), no referrer
//! leaving the console, no content-type sniffing.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

const HEADERS: &[(HeaderName, &str)] = &[
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// Adds the headers a handler did not set itself.
pub async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
    }
    response
}
