//! PKCS#12 / PFX files, modern (PBES2 AES-256, SHA-256 MAC) and legacy (RC2-40 or 3DES,
//! SHA-1 MAC) as Windows and OpenSSL 1.x export them, through `p12-keystore`.

use p12_keystore::{Pkcs12Archive, error::Error as P12Error};

use super::{Format, Material};
use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::key::PrivateKey;

const WHAT: &str = "the PFX";

pub(super) fn read(der: &[u8], password: Option<&str>, has_mac: bool) -> Result<Material> {
    let wrong_password = || match password {
        None => Error::PasswordRequired { what: WHAT },
        Some(_) => Error::WrongPassword { what: WHAT },
    };
    super::work_limit::check_iterations(der, WHAT)?;
    let archive = Pkcs12Archive::from_pkcs12(der, password.unwrap_or("")).map_err(|e| match e {
        // The MAC check fails alike for a wrong password and a flipped byte (OpenSSL says the
        // same).
        P12Error::MacError(_) => wrong_password(),
        // Without a MAC, a wrong password shows up only as bad padding or as garbage where
        // the decrypted bags should be.
        P12Error::UnpadError | P12Error::Pkcs5Error(_) => wrong_password(),
        P12Error::DerError(_) | P12Error::InvalidData | P12Error::X509Error(_) if !has_mac => {
            wrong_password()
        }
        P12Error::UnsupportedEncryptionScheme => Error::UnsupportedEncryption {
            what: WHAT,
            algorithm: "a scheme other than PBES2, 3DES or RC2-40".into(),
        },
        P12Error::UnsupportedMacAlgorithm => Error::UnsupportedEncryption {
            what: WHAT,
            algorithm: "an unknown integrity (MAC) algorithm".into(),
        },
        other => Error::malformed(WHAT, other),
    })?;
    let mut material = Material {
        formats: vec![Format::Pkcs12],
        ..Material::default()
    };
    for bag in &archive.certs {
        material
            .certificates
            .push(Certificate::from_der(bag.cert.as_der())?);
    }
    for bag in &archive.keys {
        material
            .keys
            .push(PrivateKey::from_pkcs8_der(bag.key.as_der())?);
    }
    if material.certificates.is_empty() && material.keys.is_empty() {
        return Err(Error::malformed(WHAT, "it holds no certificate and no key"));
    }
    Ok(material)
}
