//! Private keys as certkit holds them (PKCS#8 DER, wiped on drop, never printed) and the
//! public-key identity used to tell whether a key belongs to a certificate.

use std::fmt;

use der::{Decode, Encode, asn1::OctetStringRef};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfoRef};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub(crate) mod oid {
    use pkcs8::ObjectIdentifier;
    pub const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    pub const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    pub const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
    pub const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
    pub const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
    pub const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
}

/// The key algorithms certfleet deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum KeyKind {
    Rsa { bits: u32 },
    EcP256,
    EcP384,
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyKind::EcP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcP384 => f.write_str("ECDSA P-384"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// What identifies a public key, in a form that compares equal however it was encoded
/// (leading zeros, compressed EC points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKeyId {
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519([u8; 32]),
}

impl PublicKeyId {
    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            PublicKeyId::Rsa { modulus, .. } => KeyKind::Rsa {
                bits: bit_length(modulus),
            },
            PublicKeyId::EcP256(_) => KeyKind::EcP256,
            PublicKeyId::EcP384(_) => KeyKind::EcP384,
            PublicKeyId::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// From a certificate's SubjectPublicKeyInfo parts; `None` for algorithms certfleet does
    /// not deploy (they are still described, just never matched).
    pub(crate) fn from_spki(
        algorithm: &ObjectIdentifier,
        curve: Option<&ObjectIdentifier>,
        key_bits: &[u8],
    ) -> Option<Self> {
        if *algorithm == oid::RSA {
            let key = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(key_bits).ok()?;
            Some(PublicKeyId::Rsa {
                modulus: strip_zeros(key.modulus.as_bytes()),
                exponent: strip_zeros(key.public_exponent.as_bytes()),
            })
        } else if *algorithm == oid::EC {
            match curve? {
                c if *c == oid::P256 => {
                    let point = p256::PublicKey::from_sec1_bytes(key_bits).ok()?;
                    Some(PublicKeyId::EcP256(point.to_sec1_bytes().to_vec()))
                }
                c if *c == oid::P384 => {
                    let point = p384::PublicKey::from_sec1_bytes(key_bits).ok()?;
                    Some(PublicKeyId::EcP384(point.to_sec1_bytes().to_vec()))
                }
                _ => None,
            }
        } else if *algorithm == oid::ED25519 {
            Some(PublicKeyId::Ed25519(key_bits.try_into().ok()?))
        } else {
            None
        }
    }
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn bit_length(big_endian: &[u8]) -> u32 {
    let stripped = strip_zeros(big_endian);
    match stripped.first() {
        None => 0,
        Some(top) => (stripped.len() as u32 - 1) * 8 + (8 - top.leading_zeros()),
    }
}

/// A private key. Held as PKCS#8 DER and wiped from memory on drop; `Debug` shows only its
/// kind, so a key cannot reach a log by accident.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKeyId,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.kind())
    }
}

impl PrivateKey {
    /// From an unencrypted PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = PrivateKeyInfoRef::from_der(der)
            .map_err(|e| Error::malformed("the private key (PKCS#8)", e))?;
        let algorithm = info.algorithm.oid;
        let secret = info.private_key.as_bytes();
        let public = if algorithm == oid::RSA {
            let key = pkcs1::RsaPrivateKey::<der::asn1::UintRef<'_>>::from_der(secret)
                .map_err(|e| Error::malformed("the RSA private key", e))?;
            PublicKeyId::Rsa {
                modulus: strip_zeros(key.modulus.as_bytes()),
                exponent: strip_zeros(key.public_exponent.as_bytes()),
            }
        } else if algorithm == oid::EC {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| Error::malformed("the EC private key's curve", e))?;
            ec_public_from_pkcs8(der, &curve)?
        } else if algorithm == oid::ED25519 {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map_err(|e| Error::malformed("the Ed25519 private key", e))?;
            PublicKeyId::Ed25519(key.verifying_key().to_bytes())
        } else {
            return Err(Error::UnsupportedKey {
                algorithm: algorithm_name(&algorithm, info.algorithm.parameters_oid().ok()),
            });
        };
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    /// From a PKCS#1 `RSAPrivateKey` (PEM label `RSA PRIVATE KEY`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        pkcs1::RsaPrivateKey::<der::asn1::UintRef<'_>>::from_der(der)
            .map_err(|e| Error::malformed("the RSA private key (PKCS#1)", e))?;
        let info = PrivateKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: oid::RSA,
                parameters: Some(der::asn1::AnyRef::NULL),
            },
            private_key: OctetStringRef::new(der)
                .map_err(|e| Error::malformed("the RSA private key (PKCS#1)", e))?,
            public_key: None,
        };
        let pkcs8 = Zeroizing::new(
            info.to_der()
                .map_err(|e| Error::malformed("the RSA private key (PKCS#1)", e))?,
        );
        Self::from_pkcs8_der(&pkcs8)
    }

    /// From a SEC1 `ECPrivateKey` (PEM label `EC PRIVATE KEY`).
    pub fn from_sec1_der(der: &[u8]) -> Result<Self> {
        let parsed = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| Error::malformed("the EC private key (SEC1)", e))?;
        let curve = parsed.parameters.and_then(|p| p.named_curve());
        let pkcs8 = match curve {
            Some(c) if c == oid::P256 => {
                use p256::pkcs8::EncodePrivateKey;
                let key = p256::SecretKey::from_sec1_der(der)
                    .map_err(|e| Error::malformed("the EC P-256 private key", e))?;
                key.to_pkcs8_der()
                    .map_err(|e| Error::malformed("the EC P-256 private key", e))?
            }
            Some(c) if c == oid::P384 => {
                use p384::pkcs8::EncodePrivateKey;
                let key = p384::SecretKey::from_sec1_der(der)
                    .map_err(|e| Error::malformed("the EC P-384 private key", e))?;
                key.to_pkcs8_der()
                    .map_err(|e| Error::malformed("the EC P-384 private key", e))?
            }
            Some(other) => {
                return Err(Error::UnsupportedKey {
                    algorithm: algorithm_name(&oid::EC, Some(other)),
                });
            }
            None => {
                return Err(Error::malformed(
                    "the EC private key (SEC1)",
                    "it does not name its curve",
                ));
            }
        };
        Self::from_pkcs8_der(pkcs8.as_bytes())
    }

    pub fn kind(&self) -> KeyKind {
        self.public.kind()
    }

    /// The unencrypted PKCS#8 DER. Handle with care: this is the secret.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub(crate) fn public_id(&self) -> &PublicKeyId {
        &self.public
    }

    /// Whether this is the private key of `cert`'s public key.
    pub fn matches(&self, cert: &crate::Certificate) -> bool {
        cert.public_id() == Some(&self.public)
    }
}

fn ec_public_from_pkcs8(der: &[u8], curve: &ObjectIdentifier) -> Result<PublicKeyId> {
    if *curve == oid::P256 {
        use p256::pkcs8::DecodePrivateKey;
        let key = p256::SecretKey::from_pkcs8_der(der)
            .map_err(|e| Error::malformed("the EC P-256 private key", e))?;
        Ok(PublicKeyId::EcP256(
            key.public_key().to_sec1_bytes().to_vec(),
        ))
    } else if *curve == oid::P384 {
        use p384::pkcs8::DecodePrivateKey;
        let key = p384::SecretKey::from_pkcs8_der(der)
            .map_err(|e| Error::malformed("the EC P-384 private key", e))?;
        Ok(PublicKeyId::EcP384(
            key.public_key().to_sec1_bytes().to_vec(),
        ))
    } else {
        Err(Error::UnsupportedKey {
            algorithm: algorithm_name(&oid::EC, Some(*curve)),
        })
    }
}

/// A readable name for a key algorithm, for messages about keys certfleet does not handle.
pub(crate) fn algorithm_name(
    algorithm: &ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
) -> String {
    match (*algorithm, curve) {
        (a, Some(c)) if a == oid::EC && c == oid::P521 => "ECDSA P-521".into(),
        (a, Some(c)) if a == oid::EC => format!("EC on curve {c}"),
        (a, _) if a == oid::RSA_PSS => "RSA-PSS".into(),
        (a, _) if a == oid::ED448 => "Ed448".into(),
        (a, _) if a == oid::DSA => "DSA".into(),
        (a, _) => format!("OID {a}"),
    }
}
