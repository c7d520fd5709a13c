use std::sync::Arc;

use certfleet_certkit::{self as certkit, Certificate, HostName, Material, Policy};

use super::FakeStores;
use crate::chains::{ChainEngine, ChainVerdict, RevocationCheck};
use crate::stores::{CertStores, Store};
use crate::{Code, Error, Result};

/// A chain engine over the fake LocalMachine\Root, answering with the status codes the SSL
/// policy returns on Windows. certkit checks the links and signatures; revocation is never
/// known here, which the cache-only check does not count against a chain.
#[derive(Debug)]
pub struct FakeChains {
    stores: Arc<FakeStores>,
}

impl FakeChains {
    pub fn new(stores: Arc<FakeStores>) -> Self {
        FakeChains { stores }
    }
}

impl ChainEngine for FakeChains {
    fn verify(
        &self,
        chain: &[Vec<u8>],
        server_name: &str,
        revocation: RevocationCheck,
    ) -> Result<ChainVerdict> {
        let certificates: Vec<Certificate> = chain
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::os(
                    "reading the served chain",
                    "CertCreateCertificateContext",
                    Code::CRYPT_E_ASN1_BADTAG,
                )
            })?;
        let trust = self
            .stores
            .list(Store::Root)?
            .into_iter()
            .filter_map(|c| Certificate::from_der(&c.der).ok())
            .collect();
        let material = Material {
            certificates,
            keys: Vec::new(),
            notes: Vec::new(),
            formats: Vec::new(),
        };
        let policy = Policy {
            host: HostName::parse(server_name).ok(),
            trust,
            ..Policy::new(time::OffsetDateTime::now_utc())
        };
        let codes: Vec<certkit::Code> = certkit::judge(&material, &policy)
            .findings
            .into_iter()
            .map(|f| f.code)
            .collect();
        // In the order the SSL policy reports them: the chain's trust first, then time,
        // usage and the name.
        let error = [
            (
                certkit::Code::ChainBadSignature,
                Code::TRUST_E_CERT_SIGNATURE,
            ),
            (certkit::Code::ChainIncomplete, Code::CERT_E_UNTRUSTEDROOT),
            (
                certkit::Code::ChainUntrustedRoot,
                Code::CERT_E_UNTRUSTEDROOT,
            ),
            (certkit::Code::Expired, Code::CERT_E_EXPIRED),
            (certkit::Code::NotYetValid, Code::CERT_E_EXPIRED),
            (certkit::Code::EkuMissing, Code::CERT_E_WRONG_USAGE),
            (certkit::Code::NameNotCovered, Code::CERT_E_CN_NO_MATCH),
        ]
        .into_iter()
        .find(|(finding, _)| codes.contains(finding))
        .map(|(_, code)| code)
        .or((revocation == RevocationCheck::Online).then_some(Code::CRYPT_E_REVOCATION_OFFLINE));
        Ok(ChainVerdict { error })
    }
}
