//! PEM files with any number of blocks: certificates and keys in every armour OpenSSL,
//! Windows and Java write, including the legacy `Proc-Type: 4,ENCRYPTED` keys.

use super::{Format, Material, ReadNote, encrypted};
use crate::cert::Certificate;
use crate::error::{Error, Result};
use crate::key::PrivateKey;

pub(super) fn read(text: &str, password: Option<&str>) -> Result<Material> {
    let blocks = pem::parse_many(text).map_err(|e| Error::malformed("a PEM block", problem(&e)))?;
    check_complete(text, blocks.len())?;

    let mut material = Material {
        formats: vec![Format::Pem],
        ..Material::default()
    };
    let mut ignored = Vec::new();
    for block in &blocks {
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" => {
                material
                    .certificates
                    .push(Certificate::from_der(block.contents())?);
            }
            "TRUSTED CERTIFICATE" => {
                // OpenSSL appends its trust settings after the certificate; keep only the
                // certificate itself.
                let der = leading_sequence(block.contents())?;
                material.certificates.push(Certificate::from_der(der)?);
            }
            "PRIVATE KEY" => material
                .keys
                .push(PrivateKey::from_pkcs8_der(block.contents())?),
            "ENCRYPTED PRIVATE KEY" => {
                let plain = encrypted::decrypt_pkcs8(block.contents(), password)?;
                material.keys.push(PrivateKey::from_pkcs8_der(&plain)?);
                note(&mut material, ReadNote::KeyWasEncrypted);
            }
            label @ ("RSA PRIVATE KEY" | "EC PRIVATE KEY") => {
                let legacy_encrypted = block
                    .headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.contains("ENCRYPTED"));
                let plain;
                let der = if legacy_encrypted {
                    let dek_info = block.headers().get("DEK-Info").ok_or_else(|| {
                        Error::malformed("the encrypted key", "its DEK-Info header is missing")
                    })?;
                    plain = encrypted::decrypt_legacy_pem(dek_info, block.contents(), password)?;
                    note(&mut material, ReadNote::KeyWasEncrypted);
                    plain.as_slice()
                } else {
                    block.contents()
                };
                let key = if label == "RSA PRIVATE KEY" {
                    PrivateKey::from_pkcs1_der(der)
                } else {
                    PrivateKey::from_sec1_der(der)
                };
                // A wrong legacy pass phrase passes the padding check 1 time in 256 and
                // yields garbage: that is a wrong password, not a damaged key.
                material.keys.push(key.map_err(|e| match e {
                    Error::Malformed { .. } if legacy_encrypted => Error::WrongPassword {
                        what: "the private key",
                    },
                    other => other,
                })?);
            }
            "DSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
                return Err(Error::UnsupportedKey {
                    algorithm: block.tag().trim_end_matches(" PRIVATE KEY").to_owned(),
                });
            }
            "PKCS7" | "CMS" => return Err(Error::Pkcs7NotSupported),
            // Written by `openssl ecparam -genkey` before the key; harmless.
            "EC PARAMETERS" => {}
            other => ignored.push(other.to_owned()),
        }
    }
    if material.certificates.is_empty() && material.keys.is_empty() {
        return Err(nothing_useful(&ignored));
    }
    Ok(material)
}

fn note(material: &mut Material, note: ReadNote) {
    if !material.notes.contains(&note) {
        material.notes.push(note);
    }
}

fn leading_sequence(der: &[u8]) -> Result<&[u8]> {
    use der::{Decode, Header, Reader, SliceReader};
    let mut reader = SliceReader::new(der).map_err(|e| Error::malformed("the certificate", e))?;
    let header = Header::decode(&mut reader).map_err(|e| Error::malformed("the certificate", e))?;
    let end = (header.length() + reader.position())
        .and_then(usize::try_from)
        .map_err(|e| Error::malformed("the certificate", e))?;
    der.get(..end)
        .ok_or_else(|| Error::malformed("the certificate", "it is cut short"))
}

/// A PEM label as RFC 7468 writes one (short, printable), the only kind a message quotes:
/// what the PEM parser takes for a label can run on over lines, into a password pasted below.
fn quotable(label: &str) -> Option<&str> {
    const MAX_LABEL: usize = 64;
    (label.len() <= MAX_LABEL && label.bytes().all(|b| (0x20..=0x7e).contains(&b))).then_some(label)
}

/// The PEM parser's complaint in our words. Its own text quotes the labels and headers it
/// read, whatever they held (found by fuzzing the upload form: a BEGIN line whose label ran
/// on into the password field was repeated whole in "mismatching BEGIN … and END … tags").
fn problem(error: &pem::PemError) -> String {
    use pem::PemError;
    match error {
        PemError::MismatchedTags(begin, end) => match (quotable(begin), quotable(end)) {
            (Some(begin), Some(end)) => {
                format!("its BEGIN {begin} line is closed by an END {end} line")
            }
            _ => {
                "a BEGIN line is closed by an END line of another kind, or a line is broken".into()
            }
        },
        PemError::MalformedFraming => "its BEGIN and END lines are malformed".into(),
        PemError::MissingBeginTag => "an END line has no BEGIN line".into(),
        PemError::MissingEndTag => "a BEGIN line has no END line".into(),
        PemError::MissingData => "a block holds no data".into(),
        PemError::InvalidData(_) => "a block's base64 is damaged".into(),
        PemError::InvalidHeader(_) => "a block's header lines are damaged".into(),
        PemError::NotUtf8(_) => "it is not text".into(),
    }
}

/// Every BEGIN line must have found its END line; otherwise the file was cut short. A
/// label is read from its own line only, and only as RFC 7468 writes one (short, printable):
/// the message quotes it, and must not quote whatever followed a broken BEGIN line (a
/// password pasted below, say — found by fuzzing the upload form).
fn check_complete(text: &str, parsed: usize) -> Result<()> {
    let begins: Vec<&str> = text
        .match_indices("-----BEGIN ")
        .filter_map(|(at, _)| {
            let rest = &text[at + "-----BEGIN ".len()..];
            let line = rest.split(['\r', '\n']).next().unwrap_or_default();
            quotable(&line[..line.find("-----")?])
        })
        .collect();
    if begins.len() <= parsed {
        return Ok(());
    }
    let unmatched = begins
        .iter()
        .find(|label| !text.contains(&format!("-----END {label}-----")))
        .or(begins.last())
        .copied()
        .unwrap_or("CERTIFICATE");
    Err(Error::TruncatedPem {
        label: unmatched.to_owned(),
    })
}

fn nothing_useful(labels: &[String]) -> Error {
    let hint = if labels
        .iter()
        .any(|l| l == "CERTIFICATE REQUEST" || l == "NEW CERTIFICATE REQUEST")
    {
        "it is a certificate signing request (CSR), not a certificate; send it to the CA and \
         use the certificate that comes back"
            .to_owned()
    } else if labels.iter().any(|l| l == "PUBLIC KEY") {
        "it holds only a public key, not a certificate or a private key".to_owned()
    } else {
        let quoted: Vec<&str> = labels
            .iter()
            .map(|l| quotable(l).unwrap_or("a block with an unreadable label"))
            .collect();
        format!(
            "its PEM blocks ({}) hold no certificate or private key",
            quoted.join(", ")
        )
    };
    Error::NotRecognised { detail: hint }
}
