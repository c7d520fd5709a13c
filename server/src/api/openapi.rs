//! The OpenAPI 3.1 document at `/api/v1/openapi.json`. Written by hand; a test checks that
//! it names exactly the routes the router serves.

use axum::Json;

/// Every documented route, as `METHOD path` (the router's paths, `{param}` style).
pub const PATHS: &[&str] = &[
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

fn op(summary: &str, role: Option<&str>, params: serde_json::Value) -> serde_json::Value {
    let mut op = serde_json::json!({
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": {} } },
            "401": { "$ref": "#/components/responses/Error" },
            "403": { "$ref": "#/components/responses/Error" },
        },
    });
    match role {
        Some(role) => {
            op["description"] = format!("Needs the {role} role.").into();
            op["security"] = serde_json::json!([{ "cookie": [] }, { "bearer": [] }]);
        }
        None => op["security"] = serde_json::json!([]),
    }
    op
}

fn path_param(name: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

fn query_param(name: &str, kind: &str, description: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": kind } })
}

pub fn spec() -> serde_json::Value {
    let none = serde_json::json!([]);
    let cert_params = serde_json::json!([
        query_param(
            "expiring_within",
            "integer",
            "only those expiring within this many days"
        ),
        query_param(
            "status",
            "string",
            "expired, expiring (30 days), healthy or misconfigured"
        ),
        query_param("host", "integer", "host id"),
        query_param(
            "clients",
            "string",
            "untrusted: only those some client machine that must trust them does not"
        ),
        query_param(
            "q",
            "string",
            "search subject, names, thumbprint (pasted forms accepted) or SHA-256"
        ),
        query_param("after", "string", "the `next` value of the previous page"),
        query_param("limit", "integer", "page size, 1-500, default 50"),
    ]);
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {
            "title": "certfleet console API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Log in with POST /api/v1/login; send the returned token as `Authorization: Bearer` or let the browser keep the HttpOnly cookie. Cookie-authenticated changes must carry a same-origin Origin header.",
        },
        "paths": {
            "/api/v1/login": { "post": op("Log in; returns a session token and sets the session cookie", None, none.clone()) },
            "/api/v1/logout": { "post": op("End every session of yours (all devices) and clear the cookie", Some("any"), none.clone()) },
            "/api/v1/password": { "post": op("Change your password (required after a one-time password); every session of yours ends, and the answer carries this device's new token", Some("any"), none.clone()) },
            "/api/v1/me": { "get": op("Who is logged in", Some("any"), none.clone()) },
            "/api/v1/summary": { "get": op("Counts by status; agents online and offline", Some("viewer"), none.clone()) },
            "/api/v1/hosts": { "get": op("Hosts with their endpoint and finding counts", Some("viewer"), none.clone()) },
            "/api/v1/hosts/{id}": { "get": op("One host with its endpoints and findings", Some("viewer"), serde_json::json!([path_param("id")])) },
            "/api/v1/certificates": { "get": op("Certificates in use, soonest expiry first, paginated", Some("viewer"), cert_params) },
            "/api/v1/hosts/{id}/endpoints/clients": {
                "post": op("Attach a client host group to an endpoint: {endpoint_key, group}. Every host in the group must trust it; each is sent its list and checks it (installs nothing for it)", Some("operator"), serde_json::json!([path_param("id")])),
                "delete": op("Detach a client host group from an endpoint: {endpoint_key, group}", Some("operator"), serde_json::json!([path_param("id")]))
            },
            "/api/v1/hosts/{id}/endpoints/accept": { "post": op("Accept an endpoint whose names another host served first: {endpoint_key}. Until then the plan shows it as new and no renewal's key goes to it", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/certificates/{sha256}": { "get": op("One certificate, the endpoints using it, its PEM", Some("viewer"), serde_json::json!([path_param("sha256")])) },
            "/api/v1/agents": { "get": op("Enrolled agents and whether they are online", Some("viewer"), none.clone()) },
            "/api/v1/agents/{id}/revoke": { "post": op("Revoke an agent: refused at connect, dropped if connected", Some("admin"), serde_json::json!([path_param("id")])) },
            "/api/v1/tokens": {
                "get": op("Enrolment tokens", Some("admin"), none.clone()),
                "post": op("Create a single-use enrolment token; returns it with the enrol commands", Some("admin"), none.clone()),
            },
            "/api/v1/alerts/outbox": { "get": op("The latest alert emails and whether they were sent, newest first", Some("admin"), serde_json::json!([query_param("limit", "integer", "1-500")])) },
            "/api/v1/audit": { "get": op("The audit log, newest first", Some("admin"), serde_json::json!([query_param("before", "integer", "id of the last row of the previous page"), query_param("limit", "integer", "1-1000")])) },
            "/api/v1/renewals": {
                "get": op("Uploaded renewed certificates, newest first (never their keys)", Some("viewer"), none.clone()),
                "post": op("Upload a renewed certificate: JSON {pfx_base64, password} or {certificate_pem, key_pem, chain_pem?, key_password?}. Refused with the finding's message (400) when the key does not match, the chain is incomplete, it is expired, or the PFX password is wrong; 409 when already uploaded", Some("operator"), none.clone()),
            },
            "/api/v1/hosts/{id}/endpoints/renew": { "post": op("Renew one endpoint now by its host group's policy: {endpoint_key}. The host makes the key and keeps it; the certificate comes from the policy's source and is rolled out and verified like any rollout. 202 with the renewal; 409 when one is under way", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/renewals/issuing-ca": { "get": op("The issuing CA for internal names (subject, SHA-256, expiry, permitted domains, whether it is an enterprise sub-CA) and every client check of a server serving a certificate it issued, with the client's verdict; 404 before it exists", Some("viewer"), none.clone()) },
            "/api/v1/renewals/schedule": { "get": op("Every endpoint under a renewal policy ([[renewals.policy]]): its group, source, current certificate, when it renews (renews_at) and its last renewal", Some("viewer"), none.clone()) },
            "/api/v1/renewals/issued": { "get": op("The renewals the console obtained itself (internal CA, ACME), newest first: each one's state (requested, issued, rolling_out, verified, failed), rollout and reason", Some("viewer"), none.clone()) },
            "/api/v1/renewals/{id}": { "get": op("One renewal", Some("viewer"), serde_json::json!([path_param("id")])) },
            "/api/v1/renewals/{id}/plan": { "get": op("The endpoints this renewal could renew, proposed ones first, each with the console's verdict (problems block, notes inform)", Some("viewer"), serde_json::json!([path_param("id")])) },
            "/api/v1/renewals/{id}/preflight": { "post": op("Ask each proposed endpoint's agent for the preflight a deployment would start with (names, purpose, the port not taken by another program); nothing changes. Answers within 20 s per host", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/rollouts": {
                "get": op("Rollouts, newest first", Some("viewer"), none.clone()),
                "post": op("Create a rollout: {renewal_id, targets?: [{host_id, endpoint_key}] or groups?: [names], start_at?: RFC 3339 with offset, canary_host_id?, wave_hosts? | wave_percent?, max_failures? (default 1)}. The canary host goes first, then waves; it stops when failures reach max_failures", Some("operator"), none.clone()),
            },
            "/api/v1/rollouts/{id}": { "get": op("A rollout with every target's state, step and reason", Some("viewer"), serde_json::json!([path_param("id")])) },
            "/api/v1/rollouts/{id}/pause": { "post": op("Pause: no new deployments start; running ones finish", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/rollouts/{id}/resume": { "post": op("Resume a paused rollout", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/rollouts/{id}/cancel": { "post": op("Cancel: pending targets are cancelled; running ones finish", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/rollouts/{id}/cleanup": { "post": op("After a succeeded rollout that put trust first: a new rollout taking out of each client the old anchor it trusted the server by, where certfleet installed it", Some("operator"), serde_json::json!([path_param("id")])) },
            "/api/v1/windows": {
                "get": op("Maintenance windows per host group", Some("viewer"), none.clone()),
                "post": op("Add a window: {group_name, weekdays: \"sat,sun\", start_minute, end_minute (may span midnight), utc_offset_minutes}", Some("admin"), none.clone()),
            },
            "/api/v1/windows/{id}": { "delete": op("Remove a window", Some("admin"), serde_json::json!([path_param("id")])) },
            "/api/v1/openapi.json": { "get": op("This document", None, none.clone()) },
            "/metrics": { "get": op("Prometheus metrics (or with the `[metrics] token` as Bearer, for a scraper)", Some("viewer"), none) },
        },
        "components": {
            "securitySchemes": {
                "cookie": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
            },
            "responses": {
                "Error": {
                    "description": "An error: what failed and what to do",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "properties": { "error": { "type": "object", "properties": {
                            "code": { "type": "string" }, "message": { "type": "string" } } } },
                    } } },
                },
            },
        },
    })
}

pub async fn document() -> Json<serde_json::Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_exactly_the_listed_paths() {
        let spec = spec();
        let mut documented: Vec<String> = Vec::new();
        for (path, ops) in spec["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("ops").keys() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        documented.sort();
        let mut listed: Vec<String> = PATHS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(documented, listed);
    }
}
