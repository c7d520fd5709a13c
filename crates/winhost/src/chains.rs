//! The machine's own chain engine: would this machine's TLS clients (Schannel, .NET) accept a
//! server's chain for a name? On Windows that is CryptoAPI's `CertGetCertificateChain` with
//! the local machine's engine (LocalMachine\Root, its CA store, its revocation cache) and the
//! SSL policy of `CertVerifyCertificateChainPolicy`; the answer is the policy's status code.

use crate::{Code, Result};

/// How far the engine checks revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck {
    /// Only what the machine has cached: an offline client does not wait on a CRL fetch
    /// (`CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY`); an unknown status is not a failure.
    CacheOnly,
    /// Fetched when not cached; an unknown status is a failure.
    Online,
}

/// The SSL policy's verdict on a chain: `None` when it passes, else the status code Windows
/// gives (`CERT_E_UNTRUSTEDROOT`, `CERT_E_CN_NO_MATCH`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerdict {
    pub error: Option<Code>,
}

impl Code {
    pub const CERT_E_EXPIRED: Code = Code(0x800B_0101);
    pub const CERT_E_VALIDITYPERIODNESTING: Code = Code(0x800B_0102);
    pub const CERT_E_ROLE: Code = Code(0x800B_0103);
    pub const CERT_E_UNTRUSTEDROOT: Code = Code(0x800B_0109);
    pub const CERT_E_CHAINING: Code = Code(0x800B_010A);
    pub const CERT_E_REVOKED: Code = Code(0x800B_010C);
    pub const CERT_E_REVOCATION_FAILURE: Code = Code(0x800B_010E);
    pub const CERT_E_CN_NO_MATCH: Code = Code(0x800B_010F);
    pub const CERT_E_WRONG_USAGE: Code = Code(0x800B_0110);
    pub const CERT_E_UNTRUSTEDTESTROOT: Code = Code(0x800B_010D);
    pub const TRUST_E_CERT_SIGNATURE: Code = Code(0x8009_6004);
    pub const CRYPT_E_REVOKED: Code = Code(0x8009_2010);
    pub const CRYPT_E_NO_REVOCATION_CHECK: Code = Code(0x8009_2012);
    pub const CRYPT_E_REVOCATION_OFFLINE: Code = Code(0x8009_2013);
}

/// The machine's chain engine.
pub trait ChainEngine: Send + Sync {
    /// Judges `chain` (DER, leaf first, the rest offered as intermediates) for a TLS server
    /// reached as `server_name`, now.
    fn verify(
        &self,
        chain: &[Vec<u8>],
        server_name: &str,
        revocation: RevocationCheck,
    ) -> Result<ChainVerdict>;
}
