//! CryptoAPI's chain engine for the local machine, and the SSL policy on its chain.

use std::ptr::{null, null_mut};

use windows_sys::Win32::Security::Cryptography::{
    AUTHTYPE_SERVER, CERT_CHAIN_CONTEXT, CERT_CHAIN_PARA,
    CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS, CERT_CHAIN_POLICY_PARA, CERT_CHAIN_POLICY_SSL,
    CERT_CHAIN_POLICY_STATUS, CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY,
    CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT, CERT_CONTEXT, CERT_STORE_ADD_ALWAYS,
    CERT_STORE_PROV_MEMORY, CertAddEncodedCertificateToStore, CertCloseStore,
    CertCreateCertificateContext, CertFreeCertificateChain, CertFreeCertificateContext,
    CertGetCertificateChain, CertOpenStore, CertVerifyCertificateChainPolicy, HCERTCHAINENGINE,
    HCERTSTORE, HTTPSPolicyCallbackData, PKCS_7_ASN_ENCODING, USAGE_MATCH_TYPE_AND,
    X509_ASN_ENCODING, szOID_PKIX_KP_SERVER_AUTH,
};

use windows_sys::Win32::Security::Cryptography::{
    CERT_TRUST_IS_NOT_SIGNATURE_VALID, CERT_TRUST_IS_NOT_TIME_VALID,
    CERT_TRUST_IS_NOT_VALID_FOR_USAGE, CERT_TRUST_IS_OFFLINE_REVOCATION,
    CERT_TRUST_IS_PARTIAL_CHAIN, CERT_TRUST_IS_REVOKED, CERT_TRUST_IS_UNTRUSTED_ROOT,
    CERT_TRUST_REVOCATION_STATUS_UNKNOWN,
};

use super::wide::{last_error, wide};
use crate::chains::{ChainEngine, ChainVerdict, RevocationCheck};
use crate::{Code, Error, Result};

const ENCODING: u32 = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;
/// `HCCE_LOCAL_MACHINE`: the engine whose roots are LocalMachine\Root (services' view).
const LOCAL_MACHINE_ENGINE: HCERTCHAINENGINE = 1usize as HCERTCHAINENGINE;

/// The local machine's chain engine, as Schannel uses it for a service's connections.
#[derive(Debug, Default, Clone, Copy)]
pub struct MachineChains;

/// What the calls hand out, freed on drop.
struct Held {
    store: HCERTSTORE,
    leaf: *const CERT_CONTEXT,
    chain: *const CERT_CHAIN_CONTEXT,
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: each handle is null or came from its create/open call here, freed once.
        unsafe {
            if !self.chain.is_null() {
                CertFreeCertificateChain(self.chain);
            }
            if !self.leaf.is_null() {
                CertFreeCertificateContext(self.leaf);
            }
            if !self.store.is_null() {
                CertCloseStore(self.store, 0);
            }
        }
    }
}

impl ChainEngine for MachineChains {
    fn verify(
        &self,
        chain: &[Vec<u8>],
        server_name: &str,
        revocation: RevocationCheck,
    ) -> Result<ChainVerdict> {
        let (leaf, rest) = chain.split_first().ok_or_else(|| Error::Invalid {
            what: "judging a chain".into(),
            detail: "no certificate".into(),
        })?;
        let mut held = Held {
            store: null_mut(),
            leaf: null(),
            chain: null(),
        };
        // SAFETY: a memory store takes no parameter.
        held.store = unsafe { CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, null()) };
        if held.store.is_null() {
            return Err(last_error("opening a memory store", "CertOpenStore"));
        }
        for der in rest {
            // SAFETY: `der` is a live buffer of its length; no context is asked for back.
            let added = unsafe {
                CertAddEncodedCertificateToStore(
                    held.store,
                    ENCODING,
                    der.as_ptr(),
                    der.len() as u32,
                    CERT_STORE_ADD_ALWAYS,
                    null_mut(),
                )
            };
            if added == 0 {
                return Err(last_error(
                    "reading an intermediate of the served chain",
                    "CertAddEncodedCertificateToStore",
                ));
            }
        }
        // SAFETY: `leaf` is a live buffer of its length; the context is freed by `held`.
        held.leaf =
            unsafe { CertCreateCertificateContext(ENCODING, leaf.as_ptr(), leaf.len() as u32) };
        if held.leaf.is_null() {
            return Err(last_error(
                "reading the served certificate",
                "CertCreateCertificateContext",
            ));
        }
        let mut usage = [szOID_PKIX_KP_SERVER_AUTH.cast_mut()];
        let mut para = CERT_CHAIN_PARA {
            cbSize: size_of::<CERT_CHAIN_PARA>() as u32,
            ..Default::default()
        };
        para.RequestedUsage.dwType = USAGE_MATCH_TYPE_AND;
        para.RequestedUsage.Usage.cUsageIdentifier = 1;
        para.RequestedUsage.Usage.rgpszUsageIdentifier = usage.as_mut_ptr();
        let flags = match revocation {
            RevocationCheck::CacheOnly => {
                CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT
                    | CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY
            }
            RevocationCheck::Online => CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT,
        };
        let mut chain_ctx: *mut CERT_CHAIN_CONTEXT = null_mut();
        // SAFETY: every pointer is live for the call (`usage` outlives `para`); a null time
        // means now; the chain context is freed by `held`.
        let built = unsafe {
            CertGetCertificateChain(
                LOCAL_MACHINE_ENGINE,
                held.leaf,
                null(),
                held.store,
                &para,
                flags,
                null(),
                &mut chain_ctx,
            )
        };
        held.chain = chain_ctx;
        if built == 0 {
            return Err(last_error("building the chain", "CertGetCertificateChain"));
        }
        let mut name = wide(server_name);
        let mut ssl = HTTPSPolicyCallbackData {
            dwAuthType: AUTHTYPE_SERVER,
            pwszServerName: name.as_mut_ptr(),
            ..Default::default()
        };
        ssl.Anonymous.cbSize = size_of::<HTTPSPolicyCallbackData>() as u32;
        let policy = CERT_CHAIN_POLICY_PARA {
            cbSize: size_of::<CERT_CHAIN_POLICY_PARA>() as u32,
            // Cache-only: a status the cache does not hold is not a failure.
            dwFlags: match revocation {
                RevocationCheck::CacheOnly => CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS,
                RevocationCheck::Online => 0,
            },
            pvExtraPolicyPara: (&raw mut ssl).cast(),
        };
        let mut status = CERT_CHAIN_POLICY_STATUS {
            cbSize: size_of::<CERT_CHAIN_POLICY_STATUS>() as u32,
            ..Default::default()
        };
        // SAFETY: the chain context is valid; `ssl` and `name` outlive the call.
        let checked = unsafe {
            CertVerifyCertificateChainPolicy(
                CERT_CHAIN_POLICY_SSL,
                held.chain,
                &policy,
                &mut status,
            )
        };
        if checked == 0 {
            return Err(last_error(
                "checking the chain against the SSL policy",
                "CertVerifyCertificateChainPolicy",
            ));
        }
        // Cache-only: a revocation status the cache lacks is no failure. Windows' policy
        // honours the ignore flags; Wine's answers CERT_E_REVOCATION_FAILURE regardless
        // (measured), so then the chain's own status decides, its revocation bits aside.
        let unknown_only = revocation == RevocationCheck::CacheOnly
            && Code(status.dwError) == Code::CERT_E_REVOCATION_FAILURE;
        if status.dwError != 0 && !unknown_only {
            return Ok(ChainVerdict {
                error: Some(Code(status.dwError)),
            });
        }
        // SAFETY: the chain context is valid until `held` drops.
        let trust = unsafe { (*held.chain).TrustStatus.dwErrorStatus };
        Ok(ChainVerdict {
            error: status_of_chain(trust, revocation),
        })
    }
}

/// The chain's own trust status as the SSL policy's code. Windows' policy reports these
/// itself; Wine's passes a chain that stops at an unknown issuer (measured: see the README's
/// Windows section), so the chain's status is read as well.
fn status_of_chain(trust: u32, revocation: RevocationCheck) -> Option<Code> {
    let mut codes = vec![
        (
            CERT_TRUST_IS_NOT_SIGNATURE_VALID,
            Code::TRUST_E_CERT_SIGNATURE,
        ),
        (CERT_TRUST_IS_PARTIAL_CHAIN, Code::CERT_E_CHAINING),
        (CERT_TRUST_IS_UNTRUSTED_ROOT, Code::CERT_E_UNTRUSTEDROOT),
        (CERT_TRUST_IS_REVOKED, Code::CRYPT_E_REVOKED),
        (CERT_TRUST_IS_NOT_TIME_VALID, Code::CERT_E_EXPIRED),
        (CERT_TRUST_IS_NOT_VALID_FOR_USAGE, Code::CERT_E_WRONG_USAGE),
    ];
    if revocation == RevocationCheck::Online {
        codes.push((
            CERT_TRUST_REVOCATION_STATUS_UNKNOWN | CERT_TRUST_IS_OFFLINE_REVOCATION,
            Code::CRYPT_E_REVOCATION_OFFLINE,
        ));
    }
    codes
        .into_iter()
        .find(|(flag, _)| trust & flag != 0)
        .map(|(_, code)| code)
}
