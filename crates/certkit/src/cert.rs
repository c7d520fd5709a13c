//! One X.509 certificate: its DER and the facts an admin asks about it.

use std::net::IpAddr;

use der::asn1::ObjectIdentifier;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::error::{Error, Result};
use crate::key::{self, KeyKind, PublicKeyId};
use crate::signature::{self, SignatureCheck};
use crate::thumbprint::{Fingerprint, Thumbprint, upper_hex};

/// Extended key usages by their usual short names.
pub(crate) mod eku {
    pub const SERVER_AUTH: &str = "serverAuth";
    pub const CLIENT_AUTH: &str = "clientAuth";
    pub const ANY: &str = "anyExtendedKeyUsage";
}

/// The facts about one certificate, as shown to admins and sent to the console.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// Uppercase hex, as Windows shows it.
    pub serial: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-1, 40 uppercase hex digits: the Windows "Thumbprint".
    pub thumbprint: Thumbprint,
    pub sha256: Fingerprint,
    pub public_key: PublicKeyFacts,
    pub signature_algorithm: String,
    /// `None` when the certificate has no EKU extension, which allows every purpose.
    pub extended_key_usages: Option<Vec<String>>,
    pub key_usages: Vec<String>,
    pub basic_constraints: Option<BasicConstraints>,
    pub self_signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKeyFacts {
    /// "RSA", "ECDSA P-256", "ECDSA P-384", "Ed25519", or the algorithm's name otherwise.
    pub algorithm: String,
    pub bits: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u32>,
}

/// A parsed certificate. Cheap to clone relative to the work of parsing it again.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    facts: CertFacts,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    public: Option<PublicKeyId>,
    signature_oid: ObjectIdentifier,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.facts.subject)
            .field("thumbprint", &self.facts.thumbprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate; bytes after its end are refused.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| Error::malformed("the certificate", e))?;
        if !rest.is_empty() {
            return Err(Error::malformed(
                "the certificate",
                format!("{} unexpected bytes follow it", rest.len()),
            ));
        }
        Self::from_parsed(der, &cert)
    }

    fn from_parsed(der: &[u8], cert: &X509Certificate<'_>) -> Result<Self> {
        let tbs = &cert.tbs_certificate;
        let spki = tbs.public_key();
        let key_algorithm = to_oid(&spki.algorithm.algorithm)?;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .and_then(|o| to_oid(&o).ok());
        let public = PublicKeyId::from_spki(
            &key_algorithm,
            curve.as_ref(),
            &spki.subject_public_key.data,
        );
        let public_key = match &public {
            Some(id) => key_facts(id.kind()),
            None => PublicKeyFacts {
                algorithm: key::algorithm_name(&key_algorithm, curve),
                bits: spki.parsed().map(|k| k.key_size() as u32).unwrap_or(0),
            },
        };

        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut extended_key_usages = None;
        let mut key_usages = Vec::new();
        let mut basic_constraints = None;
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    ip_addresses.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(e) => {
                    let mut names = Vec::new();
                    for (present, name) in [
                        (e.server_auth, eku::SERVER_AUTH),
                        (e.client_auth, eku::CLIENT_AUTH),
                        (e.code_signing, "codeSigning"),
                        (e.email_protection, "emailProtection"),
                        (e.time_stamping, "timeStamping"),
                        (e.ocsp_signing, "OCSPSigning"),
                        (e.any, eku::ANY),
                    ] {
                        if present {
                            names.push(name.to_owned());
                        }
                    }
                    names.extend(e.other.iter().map(|o| o.to_id_string()));
                    extended_key_usages = Some(names);
                }
                ParsedExtension::KeyUsage(ku) => {
                    for (present, name) in [
                        (ku.digital_signature(), "digitalSignature"),
                        (ku.non_repudiation(), "nonRepudiation"),
                        (ku.key_encipherment(), "keyEncipherment"),
                        (ku.data_encipherment(), "dataEncipherment"),
                        (ku.key_agreement(), "keyAgreement"),
                        (ku.key_cert_sign(), "keyCertSign"),
                        (ku.crl_sign(), "cRLSign"),
                        (ku.encipher_only(), "encipherOnly"),
                        (ku.decipher_only(), "decipherOnly"),
                    ] {
                        if present {
                            key_usages.push(name.to_owned());
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => {
                    basic_constraints = Some(BasicConstraints {
                        ca: bc.ca,
                        path_len: bc.path_len_constraint,
                    });
                }
                ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
                }
                _ => {}
            }
        }

        let signature_oid = to_oid(&cert.signature_algorithm.algorithm)?;
        let mut certificate = Certificate {
            der: der.to_vec(),
            facts: CertFacts {
                subject: tbs.subject().to_string(),
                issuer: tbs.issuer().to_string(),
                serial: upper_hex(tbs.raw_serial()),
                dns_names,
                ip_addresses,
                not_before: tbs.validity().not_before.to_datetime(),
                not_after: tbs.validity().not_after.to_datetime(),
                thumbprint: Thumbprint::of(der),
                sha256: Fingerprint::of(der),
                public_key,
                signature_algorithm: signature::algorithm_name(&signature_oid),
                extended_key_usages,
                key_usages,
                basic_constraints,
                self_signed: false,
            },
            subject_der: tbs.subject().as_raw().to_vec(),
            issuer_der: tbs.issuer().as_raw().to_vec(),
            subject_key_id,
            authority_key_id,
            public,
            signature_oid,
        };
        certificate.facts.self_signed = certificate.subject_der == certificate.issuer_der
            && certificate.signed_by(&certificate) == SignatureCheck::Valid;
        Ok(certificate)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn facts(&self) -> &CertFacts {
        &self.facts
    }

    pub fn is_ca(&self) -> bool {
        self.facts.basic_constraints.is_some_and(|bc| bc.ca)
    }

    /// Whether the certificate allows this extended key usage (no EKU extension allows all).
    pub fn allows_eku(&self, name: &str) -> bool {
        match &self.facts.extended_key_usages {
            None => true,
            Some(ekus) => ekus.iter().any(|e| e == name || e == eku::ANY),
        }
    }

    /// Whether `issuer` carries the name this certificate gives as its issuer. Key ids are
    /// left to `key_ids_agree`: a re-keyed CA keeps its name, and that case must surface as
    /// a broken signature, not as a missing certificate.
    pub(crate) fn names_as_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_der == issuer.subject_der
    }

    /// False only when both key identifiers are present and differ.
    pub(crate) fn key_ids_agree(&self, issuer: &Certificate) -> bool {
        match (&self.authority_key_id, &issuer.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// Checks this certificate's signature with `issuer`'s public key.
    pub(crate) fn signed_by(&self, issuer: &Certificate) -> SignatureCheck {
        let Some(key) = &issuer.public else {
            return SignatureCheck::Unsupported(issuer.facts.public_key.algorithm.clone());
        };
        match X509Certificate::from_der(&self.der) {
            Ok((_, parsed)) => signature::verify(
                &self.signature_oid,
                parsed.tbs_certificate.as_ref(),
                &parsed.signature_value.data,
                key,
            ),
            Err(_) => SignatureCheck::Invalid,
        }
    }

    pub(crate) fn public_id(&self) -> Option<&PublicKeyId> {
        self.public.as_ref()
    }

    pub(crate) fn signature_oid(&self) -> &ObjectIdentifier {
        &self.signature_oid
    }
}

pub(crate) fn key_facts(kind: KeyKind) -> PublicKeyFacts {
    let (algorithm, bits) = match kind {
        KeyKind::Rsa { bits } => ("RSA", bits),
        KeyKind::EcP256 => ("ECDSA P-256", 256),
        KeyKind::EcP384 => ("ECDSA P-384", 384),
        KeyKind::Ed25519 => ("Ed25519", 256),
    };
    PublicKeyFacts {
        algorithm: algorithm.to_owned(),
        bits,
    }
}

fn to_oid(oid: &x509_parser::der_parser::oid::Oid<'_>) -> Result<ObjectIdentifier> {
    ObjectIdentifier::from_bytes(oid.as_bytes())
        .map_err(|e| Error::malformed("the certificate", format!("bad object identifier: {e}")))
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}
