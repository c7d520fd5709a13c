//! What a use case answers when it does not succeed. Each edge maps these to its own
//! response (an HTTP status with a JSON body, a page's error); none of them looks at the
//! message text to decide.

/// Why a use case refused or failed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No session, or one that no longer holds (expired, forged, user disabled).
    #[error("log in first: this needs a session cookie or a Bearer token")]
    Unauthenticated,
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(Refusal),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request itself is wrong; the message names the field and the fix.
    #[error("{0}")]
    Invalid(String),
    /// The request is right but the thing is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// Too many wrong passwords for this user from this address: try again later.
    #[error("too many failed logins from here: try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: i64 },
    /// The console failed; the details go to its log, never into a response.
    #[error("the console failed; the details are in its log")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a known caller was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this needs the {needed} role; you are {held}")]
    Role {
        needed: &'static str,
        held: &'static str,
    },
    #[error("change the one-time password first")]
    OneTimePassword,
    #[error("wrong user name or password")]
    WrongPassword,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// An enrolment token that is unknown, spent or expired.
    #[error("{0}")]
    Token(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(e.into())
    }
}

impl From<certfleet_store::Error> for Error {
    fn from(e: certfleet_store::Error) -> Self {
        match e {
            certfleet_store::Error::NotFound { what } => Error::NotFound { what },
            certfleet_store::Error::TokenInvalid
            | certfleet_store::Error::TokenSpent
            | certfleet_store::Error::TokenExpired => {
                Error::Forbidden(Refusal::Token(e.to_string()))
            }
            certfleet_store::Error::Duplicate(message) => Error::Conflict(message),
            other => Error::internal(other),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Internal(e.into())
    }
}
