//! Secrets the console stores (the SMTP password today, uploaded private keys later) are
//! sealed with XChaCha20-Poly1305 under the key-encryption key: `kek.key` in the data folder,
//! or `CERTFLEET_KEK` (base64) when the key must not sit next to the database.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(redacted)")
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Kek {
    pub fn new(bytes: &[u8]) -> anyhow::Result<Self> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the key-encryption key must be 32 bytes"))?;
        Ok(Kek(Zeroizing::new(key)))
    }

    /// From `CERTFLEET_KEK` (base64 of 32 bytes).
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = Zeroizing::new(B64.decode(text.trim()).map_err(|_| {
            anyhow::anyhow!(
                "CERTFLEET_KEK is not base64; generate one with `head -c 32 /dev/urandom | base64`"
            )
        })?);
        Self::new(&bytes)
    }

    /// The raw key, for writing `kek.key` during rotation only.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// `base64(nonce ‖ ciphertext)`.
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        let key: &[u8; 32] = &self.0;
        let cipher = XChaCha20Poly1305::new(key.into());
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), plaintext)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let bytes = B64
            .decode(sealed)
            .map_err(|_| anyhow::anyhow!("a sealed secret is damaged"))?;
        if bytes.len() < 24 + 16 {
            anyhow::bail!("a sealed secret is damaged");
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce
            .try_into()
            .map_err(|_| anyhow::anyhow!("a sealed secret is damaged"))?;
        let key: &[u8; 32] = &self.0;
        let cipher = XChaCha20Poly1305::new(key.into());
        cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| {
                anyhow::anyhow!(
                    "a stored secret cannot be opened with this key-encryption key (was kek.key \
                     or CERTFLEET_KEK changed?); enter the secret again"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let kek = Kek::new(&[7u8; 32]).expect("key");
        let sealed = kek.seal(b"smtp password").expect("seal");
        assert!(!sealed.contains("smtp"));
        assert_eq!(&kek.open(&sealed).expect("open")[..], b"smtp password");
        assert_ne!(
            kek.seal(b"smtp password").expect("seal"),
            sealed,
            "fresh nonce each time"
        );
        let other = Kek::new(&[8u8; 32]).expect("key");
        assert!(
            other
                .open(&sealed)
                .unwrap_err()
                .to_string()
                .contains("enter the secret again")
        );
        let mut damaged = sealed.into_bytes();
        let last = damaged.len() - 3;
        damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
        assert!(
            kek.open(&String::from_utf8(damaged).expect("utf8"))
                .is_err()
        );
    }
}
