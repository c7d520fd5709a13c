//! Reads certificates and keys from bytes, whatever shape they came in. The format is told
//! from the content, never from the file name: users rename `.pfx` to `.cer` and paste PEM
//! into `.txt`.

mod encrypted;
mod pem_blocks;
mod pkcs12;
mod sniff;
mod work_limit;

use serde::Serialize;

use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::key::PrivateKey;

pub(crate) use sniff::{DerKind, sniff};

/// The container the material came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pem,
    Der,
    Pkcs12,
}

/// Things noticed while reading that are not errors but that an admin should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadNote {
    /// The PFX had no integrity MAC: damage or tampering would go unnoticed.
    PfxWithoutMac,
    /// The private key was stored encrypted (and was decrypted with the given pass phrase).
    KeyWasEncrypted,
}

/// Everything read from one or more inputs.
#[derive(Debug, Clone, Default)]
pub struct Material {
    pub certificates: Vec<Certificate>,
    pub keys: Vec<PrivateKey>,
    pub notes: Vec<ReadNote>,
    pub formats: Vec<Format>,
}

impl Material {
    /// Adds what another input held (a separate key or chain file), skipping certificates
    /// already present.
    pub fn merge(&mut self, other: Material) {
        for cert in other.certificates {
            if !self.certificates.contains(&cert) {
                self.certificates.push(cert);
            }
        }
        self.keys.extend(other.keys);
        for note in other.notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        self.formats.extend(other.formats);
    }
}

/// Reads one input. `password` opens a PFX or an encrypted key; without it, a PFX is tried
/// with the empty password (Windows exports allow one) and an encrypted key is refused.
pub fn read(bytes: &[u8], password: Option<&str>) -> Result<Material> {
    if bytes.is_empty() || bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if let Some(text) = as_text(bytes) {
        if text.contains("-----BEGIN ") {
            return pem_blocks::read(&text, password);
        }
        // DER nearly always holds control bytes; readable text is not DER even when it
        // starts with '0' (0x30, the SEQUENCE tag).
        if text.chars().all(|c| !c.is_control() || c.is_whitespace()) {
            return Err(not_pem_text(&text));
        }
    }
    read_der(bytes, password)
}

fn not_pem_text(text: &str) -> Error {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let looks_base64 = lines.iter().map(|l| l.len()).sum::<usize>() >= 40
        && lines.iter().all(|line| {
            line.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        });
    let detail = if looks_base64 {
        "it looks like base64 without the \"-----BEGIN CERTIFICATE-----\" and \"-----END \
         CERTIFICATE-----\" lines; copy the whole block, including those lines"
    } else {
        "it is text without a \"-----BEGIN …-----\" line"
    };
    Error::NotRecognised {
        detail: detail.into(),
    }
}

/// Decodes text, including the UTF-16 that Windows Notepad and PowerShell 5 write.
fn as_text(bytes: &[u8]) -> Option<String> {
    let utf16 = |le: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|p| {
                if le {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        [0xEF, 0xBB, 0xBF, rest @ ..] => std::str::from_utf8(rest).ok().map(str::to_owned),
        _ => std::str::from_utf8(bytes).ok().map(str::to_owned),
    }
}

fn read_der(bytes: &[u8], password: Option<&str>) -> Result<Material> {
    let mut material = Material {
        formats: vec![Format::Der],
        ..Material::default()
    };
    match sniff(bytes)? {
        (DerKind::Certificate, der) => material.certificates.push(Certificate::from_der(der)?),
        (DerKind::Pkcs12 { has_mac }, der) => {
            let mut m = pkcs12::read(der, password, has_mac)?;
            if !has_mac {
                m.notes.push(ReadNote::PfxWithoutMac);
            }
            return Ok(m);
        }
        (DerKind::Pkcs8, der) => material.keys.push(PrivateKey::from_pkcs8_der(der)?),
        (DerKind::EncryptedPkcs8, der) => {
            let plain = encrypted::decrypt_pkcs8(der, password)?;
            material.keys.push(PrivateKey::from_pkcs8_der(&plain)?);
            material.notes.push(ReadNote::KeyWasEncrypted);
        }
        (DerKind::Pkcs1, der) => material.keys.push(PrivateKey::from_pkcs1_der(der)?),
        (DerKind::Sec1, der) => material.keys.push(PrivateKey::from_sec1_der(der)?),
    }
    Ok(material)
}
