//! Writes material in the shapes the targets need: a PEM chain and an unencrypted PKCS#8 key
//! (Apache on Windows cannot prompt for a pass phrase), a PFX (what Windows imports), and a
//! DER `.cer` (what client machines import into Trusted Root).

use p12_keystore::{
    EncryptionAlgorithm, KeyStore, KeyStoreEntry, LocalKeyId, MacAlgorithm, PrivateKeyChain,
};
use zeroize::Zeroizing;

use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::key::PrivateKey;

/// Certificates as PEM, in the order given (leaf first for a server's chain file).
pub fn pem_chain(certs: &[Certificate]) -> String {
    let blocks: Vec<pem::Pem> = certs
        .iter()
        .map(|c| pem::Pem::new("CERTIFICATE", c.der().to_vec()))
        .collect();
    pem::encode_many_config(&blocks, pem_config())
}

/// The key as an unencrypted PKCS#8 `PRIVATE KEY` block. The result is secret.
pub fn pkcs8_pem(key: &PrivateKey) -> Zeroizing<String> {
    let block = pem::Pem::new("PRIVATE KEY", key.pkcs8_der().to_vec());
    let text = Zeroizing::new(pem::encode_config(&block, pem_config()));
    // `Pem` holds a copy of the key; wipe it too.
    let mut contents = block.into_contents();
    zeroize::Zeroize::zeroize(&mut contents);
    text
}

fn pem_config() -> pem::EncodeConfig {
    pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)
}

/// A certificate as DER, the `.cer` Windows imports into a certificate store.
pub fn der_cer(cert: &Certificate) -> Vec<u8> {
    cert.der().to_vec()
}

/// How a PFX is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PfxEncryption {
    /// PBES2 AES-256 with a SHA-256 MAC: Windows 10 1709+ / Server 2019+, OpenSSL 1.1+.
    #[default]
    Aes256,
    /// 3DES with a SHA-1 MAC ("TripleDES-SHA1"): for Windows Server 2016 and older, which
    /// cannot import AES-protected PFX files.
    TripleDes,
}

/// A PFX holding the key and its chain (leaf first), protected by `password`.
pub fn pfx(
    key: &PrivateKey,
    chain: &[Certificate],
    password: &str,
    encryption: PfxEncryption,
) -> Result<Vec<u8>> {
    let failed = |detail: String| Error::Write {
        what: "the PFX",
        detail,
    };
    let leaf = chain
        .first()
        .ok_or_else(|| failed("a PFX needs at least the certificate of the key".into()))?;
    let certs = chain
        .iter()
        .map(|c| p12_keystore::Certificate::from_der(c.der()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    let p12_key =
        p12_keystore::PrivateKey::from_der(key.pkcs8_der()).map_err(|e| failed(e.to_string()))?;
    let local_key_id = LocalKeyId(leaf.facts().thumbprint.as_bytes().to_vec());
    let mut store = KeyStore::new();
    let alias = leaf.facts().subject.clone();
    store.add_entry(
        &alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, p12_key, certs)),
    );
    let writer = store.writer(password);
    let writer = match encryption {
        PfxEncryption::Aes256 => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256),
        PfxEncryption::TripleDes => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    writer.write().map_err(|e| failed(e.to_string()))
}
