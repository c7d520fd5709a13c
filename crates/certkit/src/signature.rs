//! Checks one certificate's signature with its issuer's public key. Pure Rust (RustCrypto),
//! so keys ring refuses (RSA under 2048 bits) are still checked and reported as weak rather
//! than as broken.

use der::asn1::ObjectIdentifier;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::key::PublicKeyId;

mod oid {
    use der::asn1::ObjectIdentifier;
    pub const MD5_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4");
    pub const SHA1_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
    pub const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    pub const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
    pub const SHA1_ECDSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
    pub const SHA256_ECDSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    pub const SHA384_ECDSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    pub const SHA512_ECDSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
}

/// The outcome of checking one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureCheck {
    Valid,
    Invalid,
    /// certkit cannot check this algorithm; the name says which.
    Unsupported(String),
}

#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

enum Scheme {
    RsaPkcs1(Hash),
    Ecdsa(Hash),
    Ed25519,
}

fn scheme(algorithm: &ObjectIdentifier) -> Option<Scheme> {
    Some(match *algorithm {
        a if a == oid::SHA1_RSA => Scheme::RsaPkcs1(Hash::Sha1),
        a if a == oid::SHA256_RSA => Scheme::RsaPkcs1(Hash::Sha256),
        a if a == oid::SHA384_RSA => Scheme::RsaPkcs1(Hash::Sha384),
        a if a == oid::SHA512_RSA => Scheme::RsaPkcs1(Hash::Sha512),
        a if a == oid::SHA1_ECDSA => Scheme::Ecdsa(Hash::Sha1),
        a if a == oid::SHA256_ECDSA => Scheme::Ecdsa(Hash::Sha256),
        a if a == oid::SHA384_ECDSA => Scheme::Ecdsa(Hash::Sha384),
        a if a == oid::SHA512_ECDSA => Scheme::Ecdsa(Hash::Sha512),
        a if a == oid::ED25519 => Scheme::Ed25519,
        _ => return None,
    })
}

/// Whether the signature algorithm rests on a broken hash (SHA-1, MD5).
pub(crate) fn is_weak(algorithm: &ObjectIdentifier) -> bool {
    [oid::MD5_RSA, oid::SHA1_RSA, oid::SHA1_ECDSA].contains(algorithm)
}

pub(crate) fn algorithm_name(algorithm: &ObjectIdentifier) -> String {
    let name = match *algorithm {
        a if a == oid::MD5_RSA => "md5WithRSAEncryption",
        a if a == oid::SHA1_RSA => "sha1WithRSAEncryption",
        a if a == oid::SHA256_RSA => "sha256WithRSAEncryption",
        a if a == oid::SHA384_RSA => "sha384WithRSAEncryption",
        a if a == oid::SHA512_RSA => "sha512WithRSAEncryption",
        a if a == oid::RSA_PSS => "RSASSA-PSS",
        a if a == oid::SHA1_ECDSA => "ecdsa-with-SHA1",
        a if a == oid::SHA256_ECDSA => "ecdsa-with-SHA256",
        a if a == oid::SHA384_ECDSA => "ecdsa-with-SHA384",
        a if a == oid::SHA512_ECDSA => "ecdsa-with-SHA512",
        a if a == oid::ED25519 => "Ed25519",
        a => return format!("OID {a}"),
    };
    name.to_owned()
}

/// Checks `signature` over `signed` (the DER TBSCertificate) with the issuer's key.
pub(crate) fn verify(
    algorithm: &ObjectIdentifier,
    signed: &[u8],
    signature: &[u8],
    issuer: &PublicKeyId,
) -> SignatureCheck {
    let Some(scheme) = scheme(algorithm) else {
        return SignatureCheck::Unsupported(algorithm_name(algorithm));
    };
    let valid = match (scheme, issuer) {
        (Scheme::RsaPkcs1(hash), PublicKeyId::Rsa { modulus, exponent }) => {
            verify_rsa(hash, signed, signature, modulus, exponent)
        }
        (Scheme::Ecdsa(hash), PublicKeyId::EcP256(point)) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point),
                p256::ecdsa::Signature::from_der(signature),
            ) else {
                return SignatureCheck::Invalid;
            };
            key.verify_prehash(&hash.digest(signed), &sig).is_ok()
        }
        (Scheme::Ecdsa(hash), PublicKeyId::EcP384(point)) => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier;
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return SignatureCheck::Invalid;
            };
            key.verify_prehash(&hash.digest(signed), &sig).is_ok()
        }
        (Scheme::Ed25519, PublicKeyId::Ed25519(bytes)) => {
            use ed25519_dalek::Verifier;
            let (Ok(key), Ok(sig)) = (
                ed25519_dalek::VerifyingKey::from_bytes(bytes),
                ed25519_dalek::Signature::from_slice(signature),
            ) else {
                return SignatureCheck::Invalid;
            };
            key.verify(signed, &sig).is_ok()
        }
        // The algorithm names a different key type than the issuer has.
        _ => false,
    };
    if valid {
        SignatureCheck::Valid
    } else {
        SignatureCheck::Invalid
    }
}

fn verify_rsa(
    hash: Hash,
    signed: &[u8],
    signature: &[u8],
    modulus: &[u8],
    exponent: &[u8],
) -> bool {
    use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey};
    let n = BoxedUint::from_be_slice_vartime(modulus);
    let e = BoxedUint::from_be_slice_vartime(exponent);
    // Small keys are checked too: they are reported as weak, not as broken links.
    let Ok(key) = PublicKey::new_with_size_limits(n, e, 512..=16384) else {
        return false;
    };
    let padding = match hash {
        Hash::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
        Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    };
    key.verify(padding, &hash.digest(signed), signature).is_ok()
}
