//! Certificate thumbprints as Windows shows them (SHA-1, 40 uppercase hex digits) and SHA-256
//! fingerprints, and the clean-up of what users paste out of the certificate dialog.

use std::fmt;

use serde::{Serialize, Serializer};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The SHA-1 thumbprint Windows uses to name a certificate (`netsh http add sslcert
/// certhash=…`, `Cert:\LocalMachine\My\…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Thumbprint([u8; 20]);

/// The SHA-256 fingerprint of a certificate's DER: what certfleet compares on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

/// Characters the Windows certificate dialog and rich-text editors carry along invisibly.
/// They are dropped silently because the user cannot see them, let alone remove them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' // zero width space
            | '\u{200C}' // zero width non-joiner
            | '\u{200D}' // zero width joiner
            | '\u{200E}' // left-to-right mark (the classic certhash breaker)
            | '\u{200F}' // right-to-left mark
            | '\u{202A}'
            ..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}' // word joiner
            | '\u{FEFF}' // byte order mark / zero width no-break space
    )
}

/// Separators people type or copy between hex pairs.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == ':' || c == '-'
}

impl Thumbprint {
    /// The thumbprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Thumbprint(Sha1::digest(der).into())
    }

    /// Reads what a user pasted: spaces, colons, dashes, lower case and invisible marks are
    /// accepted; anything else is refused with the reason.
    pub fn parse(input: &str) -> Result<Self> {
        let digits = pasted_hex(input)?;
        match digits.len() {
            40 => Ok(Thumbprint(bytes_of(&digits))),
            64 => Err(Error::BadThumbprint {
                reason: "it has 64 hex digits, which is a SHA-256 fingerprint; Windows names \
                         certificates by the 40-digit SHA-1 Thumbprint field"
                    .into(),
            }),
            n => Err(Error::BadThumbprint {
                reason: format!(
                    "it has {n} hex digits, a thumbprint has 40; copy the whole Thumbprint field"
                ),
            }),
        }
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl Fingerprint {
    /// The SHA-256 fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads a pasted SHA-256 fingerprint the way [`Thumbprint::parse`] reads a thumbprint.
    pub fn parse(input: &str) -> Result<Self> {
        let digits = pasted_hex(input)?;
        match digits.len() {
            64 => Ok(Fingerprint(bytes_of(&digits))),
            40 => Err(Error::BadThumbprint {
                reason: "it has 40 hex digits, which is a SHA-1 thumbprint; give the SHA-256 \
                         fingerprint (64 digits)"
                    .into(),
            }),
            n => Err(Error::BadThumbprint {
                reason: format!("it has {n} hex digits, a SHA-256 fingerprint has 64"),
            }),
        }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The hex digits of what a user pasted, upper case; separators and invisible marks
/// dropped, any other character refused with its position. Empty is refused too.
/// The hex digits of what a user pasted as (part of) a thumbprint or fingerprint, uppercase,
/// with separators and invisible marks dropped; `None` when anything else is in it. For
/// searching by a hash's fragment, where a wrong length is no error.
pub fn pasted_hex_digits(input: &str) -> Option<String> {
    pasted_hex(input).ok()
}

fn pasted_hex(input: &str) -> Result<String> {
    let mut digits = String::with_capacity(64);
    for (position, c) in input.chars().enumerate() {
        if is_invisible(c) || is_separator(c) {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return Err(Error::BadThumbprint {
                reason: format!(
                    "character {} ({:?}, U+{:04X}) is not a hex digit; a thumbprint holds \
                     only 0-9 and A-F (spaces and colons are fine)",
                    position + 1,
                    c,
                    c as u32
                ),
            });
        }
        digits.push(c.to_ascii_uppercase());
    }
    if digits.is_empty() {
        return Err(Error::BadThumbprint {
            reason: "it is empty; copy the Thumbprint field from the certificate's Details tab"
                .into(),
        });
    }
    Ok(digits)
}

/// `N` bytes from `2 N` uppercase hex digits (checked by the caller).
fn bytes_of<const N: usize>(digits: &str) -> [u8; N] {
    let mut bytes = [0u8; N];
    for (i, pair) in digits.as_bytes().chunks_exact(2).enumerate() {
        bytes[i] = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
    }
    bytes
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'A'..=b'F' => digit - b'A' + 10,
        _ => unreachable!("only uppercase hex digits reach here"),
    }
}

pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

macro_rules! hex_display {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&upper_hex(&self.0))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
hex_display!(Thumbprint);
hex_display!(Fingerprint);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CLEAN: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F9001122334";

    #[test]
    fn accepts_what_the_windows_dialog_copies() {
        let pasted = "\u{200E}a1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90 01 12 23 34";
        assert_eq!(Thumbprint::parse(pasted).expect("valid").to_string(), CLEAN);
    }

    #[test]
    fn accepts_colons_and_a_bom() {
        let pasted = "\u{FEFF}A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:01:12:23:34\n";
        assert_eq!(Thumbprint::parse(pasted).expect("valid").to_string(), CLEAN);
    }

    #[test]
    fn refuses_a_non_hex_character_and_names_it() {
        let err = Thumbprint::parse("G1B2C3D4E5F60718293A4B5C6D7E8F9001122334").unwrap_err();
        assert_eq!(err.code(), "thumbprint_invalid");
        assert!(err.to_string().contains("character 1"), "{err}");
    }

    #[test]
    fn refuses_a_sha256_fingerprint_with_a_hint() {
        let err = Thumbprint::parse(&"AB".repeat(32)).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn a_pasted_sha256_fingerprint_reads_like_a_thumbprint() {
        let hex = "3F".repeat(32);
        let pasted = format!(
            "\u{200E}{}",
            hex.to_lowercase()
                .as_bytes()
                .chunks(2)
                .map(|p| std::str::from_utf8(p).unwrap())
                .collect::<Vec<_>>()
                .join(":")
        );
        assert_eq!(Fingerprint::parse(&pasted).unwrap().to_string(), hex);
        assert!(
            Fingerprint::parse(&"AB".repeat(20)).is_err(),
            "a SHA-1 thumbprint"
        );
        assert!(Fingerprint::parse("zz").is_err());
    }

    #[test]
    fn refuses_a_short_one() {
        let err = Thumbprint::parse("A1B2C3").unwrap_err();
        assert!(err.to_string().contains("6 hex digits"), "{err}");
    }

    #[test]
    fn thumbprint_of_der_is_sha1() {
        // SHA-1 of the empty string, a well-known value.
        assert_eq!(
            Thumbprint::of(b"").to_string(),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
    }

    fn noise() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "", " ", ":", "-", "\u{200E}", "\u{200F}", "\u{FEFF}", "\u{200B}", "\t", "\u{2060}",
        ])
        .prop_map(str::to_owned)
    }

    proptest! {
        #[test]
        fn any_decoration_of_a_thumbprint_normalises_to_it(
            bytes in prop::array::uniform20(any::<u8>()),
            lower in any::<bool>(),
            decorations in prop::collection::vec(noise(), 41),
        ) {
            let hex = upper_hex(&bytes);
            let hex = if lower { hex.to_lowercase() } else { hex };
            let mut pasted = String::new();
            for (i, c) in hex.chars().enumerate() {
                pasted.push_str(&decorations[i]);
                pasted.push(c);
            }
            pasted.push_str(&decorations[40]);
            let parsed = Thumbprint::parse(&pasted).expect("decorated thumbprint parses");
            prop_assert_eq!(parsed.as_bytes(), &bytes);
            prop_assert_eq!(parsed.to_string(), upper_hex(&bytes));
        }

        #[test]
        fn output_is_always_forty_uppercase_hex_or_an_error(input in "\\PC{0,60}") {
            match Thumbprint::parse(&input) {
                Ok(t) => {
                    let s = t.to_string();
                    prop_assert_eq!(s.len(), 40);
                    prop_assert!(s.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
                }
                Err(e) => prop_assert_eq!(e.code(), "thumbprint_invalid"),
            }
        }
    }
}
