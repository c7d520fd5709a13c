//! Who is calling the API: a Bearer token, or the session cookie (then, for a change, only
//! from the console's own pages). The session itself is checked by the console core.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::auth;
use crate::console::{Caller, Console};
use crate::error::ApiError;

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    Console: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (token, via_cookie) = match bearer_token(&parts.headers) {
            Some(token) => (token, false),
            None => (
                auth::cookie_token(&parts.headers).ok_or(ApiError::Unauthorized)?,
                true,
            ),
        };
        let console = Console::from_ref(state);
        // A forged or stale token is refused before the Origin is looked at.
        let caller = console.authenticate(&token).await?;
        if via_cookie
            && !matches!(parts.method, Method::GET | Method::HEAD)
            && !auth::same_origin(parts)
        {
            return Err(ApiError::Forbidden(
                "cross-origin request refused: changes must come from the console's own pages"
                    .into(),
            ));
        }
        Ok(caller)
    }
}
