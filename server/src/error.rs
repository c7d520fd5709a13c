//! The one error type at the HTTP edge. It says what the client did wrong, or that the
//! console failed; internal details go to the log, never into the response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("log in first: this needs a session cookie or a Bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// A body larger than the route accepts.
    #[error("{0}")]
    TooLarge(String),
    /// A body that is not `application/json`.
    #[error("{0}")]
    NotJson(String),
    /// JSON whose fields are not what the route takes (a missing field, a wrong type, one
    /// it does not know).
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many failed logins from here: try again in {0} s")]
    TooMany(i64),
    #[error("the console failed; the details are in its log")]
    Internal(#[source] anyhow::Error),
}

/// What kind of refusal it is: a client branches on this, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    BadRequest,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyAttempts,
    Internal,
}

/// Every error the API answers: `{"error": {"code", "message"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What failed and what to do.
    pub message: String,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            ApiError::NotJson(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            ApiError::Unprocessable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Unprocessable)
            }
            ApiError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyAttempts),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!("request failed: {e:#}");
        }
        let (status, code) = self.status_and_code();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooMany(secs) = self
            && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<crate::console::Error> for ApiError {
    fn from(e: crate::console::Error) -> Self {
        use crate::console::{Error, Refusal};
        match e {
            Error::Unauthenticated => ApiError::Unauthorized,
            Error::Forbidden(Refusal::OneTimePassword) => ApiError::Forbidden(
                "change the one-time password first (POST /api/v1/password)".into(),
            ),
            Error::Forbidden(refusal) => ApiError::Forbidden(refusal.to_string()),
            Error::NotFound { what } => ApiError::NotFound(what),
            Error::Invalid(message) => ApiError::BadRequest(message),
            Error::Conflict(message) => ApiError::Conflict(message),
            Error::TooManyAttempts { retry_after_secs } => ApiError::TooMany(retry_after_secs),
            Error::Internal(e) => ApiError::Internal(anyhow::anyhow!(e)),
        }
    }
}
