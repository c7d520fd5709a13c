//! Findings: what is wrong (or worth knowing) about a certificate, with a stable code, a
//! severity, and a message that says what to do.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Deploying this would break the endpoint, or it is broken already.
    Error,
    /// Works today, but is fragile or will break.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// Stable codes: the UI, alert rules and scripts branch on these, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    NoCertificate,
    KeyMismatch,
    KeyMissing,
    KeyExtra,
    NameNotCovered,
    Expired,
    NotYetValid,
    ExpiresSoon,
    EkuMissing,
    ChainIncomplete,
    ChainBadSignature,
    ChainUnverifiable,
    ChainUntrustedRoot,
    ChainOutOfOrder,
    ChainUnrelated,
    WeakRsaKey,
    WeakSignature,
    LeafIsCa,
    SelfSigned,
    PfxWithoutMac,
    KeyStoredDecrypted,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NoCertificate => "no_certificate",
            Code::KeyMismatch => "key_mismatch",
            Code::KeyMissing => "key_missing",
            Code::KeyExtra => "key_extra",
            Code::NameNotCovered => "name_not_covered",
            Code::Expired => "expired",
            Code::NotYetValid => "not_yet_valid",
            Code::ExpiresSoon => "expires_soon",
            Code::EkuMissing => "eku_missing",
            Code::ChainIncomplete => "chain_incomplete",
            Code::ChainBadSignature => "chain_bad_signature",
            Code::ChainUnverifiable => "chain_unverifiable",
            Code::ChainUntrustedRoot => "chain_untrusted_root",
            Code::ChainOutOfOrder => "chain_out_of_order",
            Code::ChainUnrelated => "chain_unrelated",
            Code::WeakRsaKey => "weak_rsa_key",
            Code::WeakSignature => "weak_signature",
            Code::LeafIsCa => "leaf_is_ca",
            Code::SelfSigned => "self_signed",
            Code::PfxWithoutMac => "pfx_without_mac",
            Code::KeyStoredDecrypted => "key_stored_decrypted",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about the material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// What is wrong and what to do, in one or two sentences.
    pub message: String,
    /// The subject of the certificate the finding is about, if it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

impl Finding {
    pub(crate) fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
            certificate: None,
        }
    }

    pub(crate) fn about(mut self, subject: &str) -> Self {
        self.certificate = Some(subject.to_owned());
        self
    }
}
