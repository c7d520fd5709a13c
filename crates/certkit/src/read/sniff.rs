//! Tells what a DER structure is from its shape, before any parser is trusted with it, so a
//! truncated file says "truncated" and a PKCS#7 file says "PKCS#7" instead of "parse error".

use der::{Decode, Header, Reader, SliceReader, Tag, Tagged, asn1::AnyRef};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerKind {
    Certificate,
    Pkcs12 { has_mac: bool },
    Pkcs8,
    EncryptedPkcs8,
    Pkcs1,
    Sec1,
}

const PKCS7_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];

/// Classifies `bytes` and returns the exact DER slice (trailing zero padding removed).
pub(crate) fn sniff(bytes: &[u8]) -> Result<(DerKind, &[u8])> {
    if bytes.first() != Some(&0x30) {
        return Err(Error::NotRecognised {
            detail: format!(
                "binary data that is not DER (it starts with byte 0x{:02X})",
                bytes.first().copied().unwrap_or(0)
            ),
        });
    }
    if bytes.get(1) == Some(&0x80) {
        return Err(Error::malformed(
            "the file",
            "it uses BER indefinite-length encoding, which certfleet does not read; \
             convert it with `openssl pkcs12 -in FILE -out FILE.pem` and `openssl pkcs12 -export`",
        ));
    }
    let mut reader = SliceReader::new(bytes).map_err(|e| Error::malformed("the file", e))?;
    let header = Header::decode(&mut reader).map_err(|e| outer_error(bytes, e))?;
    let total = (header.length() + reader.position())
        .and_then(usize::try_from)
        .map_err(|e| Error::malformed("the file", e))?;
    if total > bytes.len() {
        return Err(Error::Truncated {
            what: "its DER header",
            expected: total,
            actual: bytes.len(),
        });
    }
    let (der, trailing) = bytes.split_at(total);
    if trailing.iter().any(|b| *b != 0) {
        return Err(Error::malformed(
            "the file",
            format!(
                "{} unexpected bytes follow the DER structure",
                trailing.len()
            ),
        ));
    }

    let children = children(der)?;
    let tags: Vec<Tag> = children.iter().map(AnyRef::tag).collect();
    let int_value = |i: usize| -> Option<&[u8]> {
        children
            .get(i)
            .filter(|c| c.tag() == Tag::Integer)
            .map(|c| c.value())
    };
    let kind = match tags.as_slice() {
        [Tag::ObjectIdentifier, ..] if children[0].value() == PKCS7_SIGNED_DATA => {
            return Err(Error::Pkcs7NotSupported);
        }
        [Tag::Sequence, Tag::Sequence, Tag::BitString] => DerKind::Certificate,
        [Tag::Integer, Tag::Sequence, ..] if int_value(0) == Some(&[3]) => DerKind::Pkcs12 {
            has_mac: children.len() >= 3,
        },
        [Tag::Integer, Tag::Sequence, Tag::OctetString, ..] => DerKind::Pkcs8,
        [Tag::Sequence, Tag::OctetString] => DerKind::EncryptedPkcs8,
        [Tag::Integer, Tag::OctetString, ..] if int_value(0) == Some(&[1]) => DerKind::Sec1,
        ints if ints.len() >= 9 && ints.iter().all(|t| *t == Tag::Integer) => DerKind::Pkcs1,
        _ => {
            return Err(Error::NotRecognised {
                detail: "a DER structure that is neither a certificate, a private key nor a \
                         PKCS#12 file"
                    .into(),
            });
        }
    };
    Ok((kind, der))
}

fn outer_error(bytes: &[u8], e: der::Error) -> Error {
    match e.kind() {
        der::ErrorKind::Incomplete { expected_len, .. } => Error::Truncated {
            what: "its DER header",
            expected: usize::try_from(expected_len).unwrap_or(usize::MAX),
            actual: bytes.len(),
        },
        _ => Error::malformed("the file", e),
    }
}

/// The elements of the outer SEQUENCE.
fn children(der: &[u8]) -> Result<Vec<AnyRef<'_>>> {
    let outer = AnyRef::from_der(der).map_err(|e| Error::malformed("the file", e))?;
    let mut reader =
        SliceReader::new(outer.value()).map_err(|e| Error::malformed("the file", e))?;
    let mut items = Vec::new();
    while !reader.is_finished() {
        // The outer length fitted the file, so an element that overruns it is damage.
        let item: AnyRef<'_> = reader
            .decode()
            .map_err(|e| Error::malformed("the file", e))?;
        items.push(item);
    }
    Ok(items)
}
