//! The console's internal PKI: the agent CA (ECDSA P-256, created once), the console's own
//! TLS certificate (issued by that CA at every start, for the configured names), and the
//! signing of agents' client certificates.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::datadir::{DataDir, write_private};

/// The URI prefix of an agent's identity in its certificate's SAN.
pub const AGENT_URN_PREFIX: &str = "urn:certfleet:agent:";

const CA_CERT: &str = "agent-ca.crt";
const CA_KEY: &str = "agent-ca.key";
const SERVER_DAYS: i64 = 397;

/// What an agent gets back for its CSR.
#[derive(Debug, Clone)]
pub struct IssuedAgentCert {
    pub pem: String,
    pub serial: String,
    pub not_after: i64,
}

pub struct Pki {
    ca_der: Vec<u8>,
    ca_pem: String,
    ca_key: KeyPair,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
    pin: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// The CA pin carried in enrolment tokens (defined with the token format in proto).
pub use certfleet_proto::ca_pin as pin_of;

/// A random positive 127-bit serial, for every certificate the console signs.
pub(crate) fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("random source failed: {e}"))?;
    bytes[0] &= 0x7F; // positive
    Ok(SerialNumber::from_slice(&bytes))
}

impl Pki {
    /// Loads the agent CA from the data folder, or creates it at the first start, then
    /// issues the console's TLS certificate for `names` (plus localhost).
    pub fn load_or_create(dir: &DataDir, names: &[String], now: OffsetDateTime) -> Result<Self> {
        let (ca_pem, ca_key) = match (
            std::fs::read_to_string(dir.path(CA_CERT)),
            std::fs::read_to_string(dir.path(CA_KEY)),
        ) {
            (Ok(cert), Ok(key)) => (
                cert,
                KeyPair::from_pem(&key).with_context(|| {
                    format!(
                        "{} is damaged; restore it from a backup",
                        dir.path(CA_KEY).display()
                    )
                })?,
            ),
            (Err(_), Err(_)) => create_ca(dir, now)?,
            _ => bail!(
                "only one of {CA_CERT} and {CA_KEY} exists in {}: restore both from a backup \
                 (agents trust this CA; a new one means enrolling every agent again)",
                dir.path("").display()
            ),
        };
        let ca_der = pem::parse(&ca_pem)
            .with_context(|| format!("{} is not PEM", dir.path(CA_CERT).display()))?
            .into_contents();
        let mut pki = Pki {
            pin: pin_of(&ca_der),
            ca_der,
            ca_pem,
            ca_key,
            server_chain: Vec::new(),
            server_key: Vec::new(),
        };
        pki.issue_server_certificate(dir, names, now)?;
        Ok(pki)
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>> {
        Issuer::from_ca_cert_der(&CertificateDer::from(self.ca_der.as_slice()), &self.ca_key)
            .context("the agent CA certificate cannot be used for signing")
    }

    fn issue_server_certificate(
        &mut self,
        dir: &DataDir,
        names: &[String],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        for name in names {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = all
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| anyhow!("{n:?} is not a valid host name for `names`")),
            })
            .collect::<Result<_>>()?;
        params
            .distinguished_name
            .push(DnType::CommonName, all.last().cloned().unwrap_or_default());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(SERVER_DAYS);
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().context("cannot generate the console's TLS key")?;
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .context("cannot issue the console's TLS certificate")?;
        write_private(&dir.path("console-tls.key"), key.serialize_pem().as_bytes())?;
        std::fs::write(dir.path("console-tls.crt"), cert.pem())
            .context("cannot write console-tls.crt")?;
        self.server_chain = vec![
            cert.der().clone(),
            CertificateDer::from(self.ca_der.clone()),
        ];
        self.server_key = key.serialize_der();
        Ok(())
    }

    pub fn pin(&self) -> &str {
        &self.pin
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        self.server_chain.clone()
    }

    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()))
    }

    /// Signs an agent's CSR. Only the CSR's public key is used: the identity, purposes and
    /// lifetime are the console's choice, never the requester's.
    pub fn sign_agent_csr(
        &self,
        csr_pem: &str,
        agent_id: &str,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<IssuedAgentCert, CsrError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
            rcgen::Error::InvalidCertificationRequestSignature => CsrError::BadSignature,
            other => CsrError::Unreadable(other.to_string()),
        })?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("certfleet agent {agent_id}"));
        params.distinguished_name = name;
        let urn = format!("{AGENT_URN_PREFIX}{agent_id}");
        params.subject_alt_names =
            vec![SanType::URI(urn.as_str().try_into().map_err(|_| {
                CsrError::Unreadable("agent id is not ASCII".into())
            })?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = now - Duration::minutes(5);
        let not_after = now + Duration::days(i64::from(days));
        params.not_after = not_after;
        let serial = random_serial().map_err(|e| CsrError::Internal(e.to_string()))?;
        let serial_hex = hex::encode_upper(serial.to_bytes());
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        let issuer = self
            .issuer()
            .map_err(|e| CsrError::Internal(e.to_string()))?;
        let cert = params
            .signed_by(&csr.public_key, &issuer)
            .map_err(|e| CsrError::Internal(e.to_string()))?;
        Ok(IssuedAgentCert {
            pem: cert.pem(),
            serial: serial_hex,
            not_after: not_after.unix_timestamp(),
        })
    }
}

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("the certificate request is not readable: {0}")]
    Unreadable(String),
    #[error("the certificate request's signature does not verify: it was damaged or forged")]
    BadSignature,
    #[error("the console could not sign: {0}")]
    Internal(String),
}

fn create_ca(dir: &DataDir, now: OffsetDateTime) -> Result<(String, KeyPair)> {
    let key = KeyPair::generate().context("cannot generate the agent CA key")?;
    let mut params = CertificateParams::default();
    let host = hostname();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "certfleet");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("certfleet agent CA ({host})"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(3650);
    params.serial_number = Some(random_serial()?);
    let cert = params
        .self_signed(&key)
        .context("cannot create the agent CA certificate")?;
    write_private(&dir.path(CA_KEY), key.serialize_pem().as_bytes())?;
    std::fs::write(dir.path(CA_CERT), cert.pem()).context("cannot write the agent CA")?;
    Ok((cert.pem(), key))
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "console".into())
}

/// The agent id named in a client certificate's SAN, if it is one of ours.
pub fn agent_id_of(cert_der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::URI(uri) => uri
            .strip_prefix(AGENT_URN_PREFIX)
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .map(str::to_owned),
        _ => None,
    })
}

/// A client certificate's serial (uppercase hex) and expiry (Unix seconds).
pub fn serial_and_expiry_of(cert_der: &[u8]) -> Option<(String, i64)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some((
        hex::encode_upper(cert.raw_serial()),
        cert.validity().not_after.timestamp(),
    ))
}

/// The provider every TLS config here uses: ring (no C toolchain beyond what ring needs).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
