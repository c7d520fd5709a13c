//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated (utoipa) from the handlers'
//! own paths, parameters and types. The router and the document are built from the same
//! list of handlers (`api::router`), so a route cannot be served undocumented; what every
//! route shares (who may call it, how it refuses) is added here once, by rule.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use crate::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "certfleet console API",
        description = "Log in with POST /api/v1/login; send the returned token as \
            `Authorization: Bearer` or let the browser keep the HttpOnly cookie. \
            Cookie-authenticated changes must carry a same-origin Origin header. Every \
            refusal is `{\"error\": {\"code\", \"message\"}}`: branch on the code."
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

const ERROR: &str = "Error";

/// Adds the security schemes, each operation's security and its documented refusals.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "cookie".into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
            crate::auth::SESSION_COOKIE,
        )))),
    );
    components.security_schemes.insert(
        "bearer".into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build(),
        )),
    );
    components.responses.insert(
        ERROR.into(),
        RefOr::T(
            ResponseBuilder::new()
                .description("Refused: what failed and what to do")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        let methods = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes) in methods {
            if let Some(operation) = operation.as_mut() {
                complete_operation(operation, changes);
            }
        }
    }
}

fn complete_operation(operation: &mut Operation, changes: bool) {
    // An operation anyone may call (logging in, this document) says so itself with
    // `security(())`; every other one needs a session.
    let public = operation.security.is_some();
    let has = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let mut refusals: Vec<&str> = Vec::new();
    if !public {
        operation.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("cookie", Vec::<String>::new()),
        ]);
        // No session, or one that may not: the role, a one-time password not yet changed,
        // a cookie sent from another site.
        refusals.extend(["401", "403"]);
    }
    if has(ParameterIn::Path) {
        refusals.extend(["400", "404"]);
    }
    if has(ParameterIn::Query) {
        refusals.push("400");
    }
    if operation.request_body.is_some() {
        // What a body names may not exist (a renewal, a host group); a login refused is 403.
        refusals.extend(["400", "403", "404", "413", "415", "422"]);
    }
    if changes && !public {
        refusals.push("409");
    }
    for status in refusals {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(ERROR)));
    }
}

/// This document
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "session", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub async fn document(Extension(doc): Extension<Arc<OpenApi>>) -> Json<Arc<OpenApi>> {
    Json(doc)
}
