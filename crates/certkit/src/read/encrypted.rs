//! Decrypts private keys stored under a pass phrase: PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2,
//! and the PKCS#12 3DES scheme OpenSSL 1.0 used by default) and the legacy OpenSSL
//! `Proc-Type: 4,ENCRYPTED` armour.

use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use der::{
    Decode, Reader, SliceReader,
    asn1::{AnyRef, ObjectIdentifier, OctetStringRef},
};
use md5::{Digest, Md5};
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfoRef};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const WHAT: &str = "the private key";

const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");

fn need(password: Option<&str>) -> Result<&str> {
    password.ok_or(Error::PasswordRequired { what: WHAT })
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` to the PKCS#8 `PrivateKeyInfo` inside.
pub(super) fn decrypt_pkcs8(der: &[u8], password: Option<&str>) -> Result<Zeroizing<Vec<u8>>> {
    let (algorithm, ciphertext) = split(der)?;
    super::work_limit::check_iterations(der, WHAT)?;
    if algorithm.oid == PBES2 {
        let password = need(password)?;
        let info = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|_| {
            Error::UnsupportedEncryption {
                what: WHAT,
                algorithm: "a PBES2 cipher or key derivation certfleet does not know".into(),
            }
        })?;
        let plain =
            info.decrypt(password).map_err(|e| match e {
                pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm { oid })
                | pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::AlgorithmParametersInvalid {
                    oid,
                }) => Error::UnsupportedEncryption {
                    what: WHAT,
                    algorithm: format!("PBES2 with OID {oid}"),
                },
                // Bad padding, or a plaintext that is not DER: the pass phrase was wrong.
                _ => Error::WrongPassword { what: WHAT },
            })?;
        return Ok(Zeroizing::new(plain.as_bytes().to_vec()));
    }
    if algorithm.oid == PBE_SHA1_3DES {
        let password = need(password)?;
        let params = algorithm
            .parameters
            .ok_or_else(|| Error::malformed(WHAT, "its encryption parameters are missing"))?;
        let (salt, iterations) = pkcs12_pbe_params(params)?;
        return decrypt_pkcs12_3des(password, salt, iterations, ciphertext);
    }
    Err(Error::UnsupportedEncryption {
        what: WHAT,
        algorithm: format!("the scheme with OID {}", algorithm.oid),
    })
}

fn split(der: &[u8]) -> Result<(AlgorithmIdentifierRef<'_>, &[u8])> {
    let outer = AnyRef::from_der(der).map_err(|e| Error::malformed(WHAT, e))?;
    let mut reader = SliceReader::new(outer.value()).map_err(|e| Error::malformed(WHAT, e))?;
    let algorithm: AlgorithmIdentifierRef<'_> =
        reader.decode().map_err(|e| Error::malformed(WHAT, e))?;
    let data: &OctetStringRef = reader.decode().map_err(|e| Error::malformed(WHAT, e))?;
    Ok((algorithm, data.as_bytes()))
}

/// `pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }`
fn pkcs12_pbe_params(params: AnyRef<'_>) -> Result<(&[u8], i32)> {
    let mut reader = SliceReader::new(params.value()).map_err(|e| Error::malformed(WHAT, e))?;
    let salt: &OctetStringRef = reader.decode().map_err(|e| Error::malformed(WHAT, e))?;
    let iterations: u32 = reader.decode().map_err(|e| Error::malformed(WHAT, e))?;
    let iterations = i32::try_from(iterations)
        .map_err(|_| Error::malformed(WHAT, "its iteration count is absurd"))?;
    Ok((salt.as_bytes(), iterations))
}

fn decrypt_pkcs12_3des(
    password: &str,
    salt: &[u8],
    iterations: i32,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
    let derive = |kind, len| {
        derive_key_utf8::<sha1::Sha1>(password, salt, kind, iterations, len)
            .map(Zeroizing::new)
            .map_err(|e| Error::malformed(WHAT, e))
    };
    let key = derive(Pkcs12KeyType::EncryptionKey, 24)?;
    let iv = derive(Pkcs12KeyType::Iv, 8)?;
    let plain = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
        .map_err(|e| Error::malformed(WHAT, e))?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| Error::WrongPassword { what: WHAT })?;
    Ok(Zeroizing::new(plain))
}

/// Decrypts the body of a `Proc-Type: 4,ENCRYPTED` PEM block (OpenSSL's traditional format):
/// the key comes from `EVP_BytesToKey(MD5, salt = IV[..8], one round)`.
pub(super) fn decrypt_legacy_pem(
    dek_info: &str,
    ciphertext: &[u8],
    password: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>> {
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| Error::malformed(WHAT, "its DEK-Info header has no IV"))?;
    let iv = decode_hex(iv_hex.trim())
        .ok_or_else(|| Error::malformed(WHAT, "its DEK-Info IV is not hex"))?;
    let cipher = cipher.trim().to_ascii_uppercase();
    let key_len = match cipher.as_str() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" | "DES-EDE3-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-CBC" => 8,
        other => {
            return Err(Error::UnsupportedEncryption {
                what: WHAT,
                algorithm: other.to_owned(),
            });
        }
    };
    let password = need(password)?;
    if iv.len() < 8 {
        return Err(Error::malformed(WHAT, "its DEK-Info IV is too short"));
    }
    let key = evp_bytes_to_key(password.as_bytes(), &iv[..8], key_len);
    let decrypted = match cipher.as_str() {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, ciphertext),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, ciphertext),
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, ciphertext),
        "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext),
        _ => cbc_decrypt::<des::Des>(&key, &iv, ciphertext),
    };
    decrypted.ok_or(Error::WrongPassword { what: WHAT })
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
    C: cbc::cipher::BlockCipherDecrypt,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .ok()
        .map(Zeroizing::new)
}

fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut previous: Option<Vec<u8>> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(prev) = &previous {
            md5.update(prev);
        }
        md5.update(password);
        md5.update(salt);
        let block = md5.finalize().to_vec();
        key.extend_from_slice(&block);
        previous = Some(block);
    }
    key.truncate(len);
    key
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
