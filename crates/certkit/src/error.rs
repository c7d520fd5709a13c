//! Why an input could not be read or written. Each variant names the problem and the fix;
//! `code()` is stable so callers (the UI, alert rules, scripts) can branch on it.

/// What certkit could not do, and what the user should do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("the file is empty: export the certificate again, or pick the right file")]
    Empty,

    #[error(
        "the file is truncated: {what} announces {expected} bytes but only {actual} are there; \
         copy or export the file again (a transfer in text mode or an interrupted download does this)"
    )]
    Truncated {
        what: &'static str,
        expected: usize,
        actual: usize,
    },

    #[error(
        "the PEM block \"{label}\" has no END line: the file is truncated; copy it again, \
         including the \"-----END {label}-----\" line"
    )]
    TruncatedPem { label: String },

    #[error(
        "not a certificate or key: {detail}; certfleet reads PEM (.pem .crt .cer .key), DER \
         (.cer .der) and PKCS#12 (.pfx .p12)"
    )]
    NotRecognised { detail: String },

    #[error("{what} is damaged: {detail}; export it again")]
    Malformed { what: &'static str, detail: String },

    #[error(
        "{what} is password-protected and no password was given: supply the password it \
         was exported with"
    )]
    PasswordRequired { what: &'static str },

    #[error(
        "wrong password for {what} (or the file is damaged): check the password, or export \
         the file again"
    )]
    WrongPassword { what: &'static str },

    #[error(
        "{what} is encrypted with {algorithm}, which certfleet does not read: re-encrypt it, \
         e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc` for a key or `openssl pkcs12 -export` \
         for a PFX"
    )]
    UnsupportedEncryption {
        what: &'static str,
        algorithm: String,
    },

    #[error(
        "the private key is of type {algorithm}, which certfleet does not handle: use RSA \
         (2048 bits or more), ECDSA P-256 / P-384 or Ed25519"
    )]
    UnsupportedKey { algorithm: String },

    #[error(
        "this is a PKCS#7 bundle (.p7b / .p7c), which holds certificates only: export the \
         certificate as \"Base-64 encoded X.509 (.CER)\" or as a PFX with its private key"
    )]
    Pkcs7NotSupported,

    #[error("not a thumbprint: {reason}")]
    BadThumbprint { reason: String },

    #[error("not a host name: {reason}")]
    BadHostName { reason: String },

    #[error("could not write {what}: {detail}")]
    Write { what: &'static str, detail: String },
}

impl Error {
    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Empty => "input_empty",
            Error::Truncated { .. } | Error::TruncatedPem { .. } => "input_truncated",
            Error::NotRecognised { .. } => "input_unrecognised",
            Error::Malformed { .. } => "input_malformed",
            Error::PasswordRequired { .. } => "password_required",
            Error::WrongPassword { .. } => "password_wrong",
            Error::UnsupportedEncryption { .. } => "encryption_unsupported",
            Error::UnsupportedKey { .. } => "key_unsupported",
            Error::Pkcs7NotSupported => "pkcs7_unsupported",
            Error::BadThumbprint { .. } => "thumbprint_invalid",
            Error::BadHostName { .. } => "host_name_invalid",
            Error::Write { .. } => "write_failed",
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

/// certkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
