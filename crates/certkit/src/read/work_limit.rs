//! Refuses password-based encryption with absurd iteration counts before any key derivation
//! runs: a PFX claiming two billion PBKDF2 rounds would otherwise hold a core for minutes.
//! Real files use 2,048 (OpenSSL) to 600,000 (OWASP's PBKDF2 advice).

use der::{Reader, SliceReader, Tag, Tagged, asn1::AnyRef};

use crate::error::{Error, Result};

pub(crate) const MAX_ITERATIONS: u64 = 1_000_000;
// PKCS#12 nests its parameters about 16 levels deep.
const MAX_DEPTH: u8 = 32;

/// Fails when any visible iteration count in `der` exceeds [`MAX_ITERATIONS`]. Counts inside
/// encrypted content cannot be seen until it is decrypted; those are bounded by the password
/// holder, who is the one uploading the file.
pub(crate) fn check_iterations(der: &[u8], what: &'static str) -> Result<()> {
    let highest = highest_iteration_count(der, 0);
    if highest > MAX_ITERATIONS {
        return Err(Error::malformed(
            what,
            format!(
                "it asks for {highest} key-derivation rounds, more than certfleet allows \
                 ({MAX_ITERATIONS}); export it again with default settings"
            ),
        ));
    }
    Ok(())
}

/// PBKDF2 parameters, PKCS#12 PBE parameters and PKCS#12 MacData all place the iteration
/// count as an INTEGER right after the salt's OCTET STRING; that pattern is looked for at
/// every level, including DER wrapped in OCTET STRINGs (PKCS#12 nests its safes that way).
fn highest_iteration_count(der: &[u8], depth: u8) -> u64 {
    if depth > MAX_DEPTH {
        return 0;
    }
    let Ok(mut reader) = SliceReader::new(der) else {
        return 0;
    };
    let mut items = Vec::new();
    while !reader.is_finished() {
        match reader.decode::<AnyRef<'_>>() {
            Ok(item) => items.push(item),
            Err(_) => return 0,
        }
    }
    let mut highest = items
        .windows(2)
        .filter(|pair| pair[0].tag() == Tag::OctetString && pair[1].tag() == Tag::Integer)
        .map(|pair| unsigned(pair[1].value()))
        .max()
        .unwrap_or(0);
    for item in &items {
        if item.tag().is_constructed() || item.tag() == Tag::OctetString {
            highest = highest.max(highest_iteration_count(item.value(), depth + 1));
        }
    }
    highest
}

fn unsigned(bytes: &[u8]) -> u64 {
    let significant: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    if significant.len() > 8 {
        return u64::MAX;
    }
    significant
        .iter()
        .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SEQUENCE { OCTET STRING salt, INTEGER iterations }
    fn params(iterations: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x04, 0x02, 0xAA, 0xBB, 0x02, iterations.len() as u8];
        inner.extend_from_slice(iterations);
        let mut der = vec![0x30, inner.len() as u8];
        der.extend(inner);
        der
    }

    #[test]
    fn ordinary_counts_pass_and_absurd_ones_are_refused() {
        assert!(check_iterations(&params(&[0x08, 0x00]), "x").is_ok());
        let err = check_iterations(&params(&[0x7F, 0xFF, 0xFF, 0xFF]), "x").unwrap_err();
        assert!(err.to_string().contains("2147483647"), "{err}");
    }

    #[test]
    fn counts_nested_inside_octet_strings_are_found() {
        let inner = params(&[0x7F, 0xFF, 0xFF, 0xFF]);
        let mut wrapped = vec![0x30, (inner.len() + 2) as u8, 0x04, inner.len() as u8];
        wrapped.extend(inner);
        assert!(check_iterations(&wrapped, "x").is_err());
    }

    #[test]
    fn the_fixture_files_pass() {
        for name in ["modern.pfx", "windows-legacy.pfx", "no-mac.pfx"] {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(path).expect("fixture");
            let highest = highest_iteration_count(&bytes, 0);
            assert!(
                (2048..=MAX_ITERATIONS).contains(&highest),
                "{name}: {highest}"
            );
        }
    }
}
