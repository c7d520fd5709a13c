//! Does a certificate cover a host name? RFC 6125 rules as browsers and Schannel apply them:
//! DNS names compare case-insensitively in their ASCII (IDNA) form, a wildcard stands for
//! exactly one whole left-most label and never for a public suffix alone, and an IP address
//! matches only an IP SAN.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// A host name or IP address as certfleet compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// Lower-case ASCII (A-label) form, without a trailing dot.
    Dns(String),
    Ip(IpAddr),
}

impl Reference {
    /// Reads what a user typed: `Host.Example.com.`, `bücher.example`, `10.0.0.5`, `[::1]`.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Reference::Ip(ip));
        }
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return Err(bad("it is empty; give the server's fully qualified name"));
        }
        if name.contains('*') {
            return Err(bad(
                "it contains '*'; give the exact name clients connect to, not a wildcard",
            ));
        }
        let not_a_name = || {
            bad(&format!(
                "{name:?} has characters a host name cannot have (letters, digits, '-' and '.' only)"
            ))
        };
        let ascii = idna::domain_to_ascii(name).map_err(|_| not_a_name())?;
        // Underscores are tolerated: Windows machine names sometimes carry them.
        if !ascii
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(not_a_name());
        }
        if ascii.split('.').any(str::is_empty) {
            return Err(bad(&format!(
                "{name:?} has an empty label (two dots in a row)"
            )));
        }
        Ok(Reference::Dns(ascii))
    }
}

fn bad(reason: &str) -> Error {
    Error::BadHostName {
        reason: reason.to_owned(),
    }
}

/// The presented DNS name in comparable form, or `None` if it cannot match anything.
fn presented_ascii(san: &str) -> Option<String> {
    let san = san.strip_suffix('.').unwrap_or(san);
    if san.is_ascii() {
        Some(san.to_ascii_lowercase())
    } else {
        // Not allowed in a dNSName, but some private CAs put U-labels there.
        idna::domain_to_ascii(san).ok()
    }
}

/// Whether one presented DNS name (a SAN) matches the reference name.
pub fn dns_name_matches(presented: &str, reference: &str) -> bool {
    let Some(presented) = presented_ascii(presented) else {
        return false;
    };
    match presented.strip_prefix("*.") {
        None => !presented.contains('*') && presented == reference,
        Some(suffix) => {
            // `*.com` or a partial wildcard like `w*.example.com` never matches.
            if suffix.contains('*') || !suffix.contains('.') {
                return false;
            }
            match reference.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest == suffix,
                None => false,
            }
        }
    }
}

/// Whether a certificate's SANs cover the reference.
pub fn covers(dns_names: &[String], ip_addresses: &[IpAddr], reference: &Reference) -> bool {
    match reference {
        Reference::Dns(name) => dns_names.iter().any(|san| dns_name_matches(san, name)),
        Reference::Ip(ip) => ip_addresses.contains(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dns(s: &str) -> Reference {
        Reference::parse(s).expect("valid host name")
    }

    fn covered(sans: &[&str], host: &str) -> bool {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        covers(&sans, &[], &dns(host))
    }

    #[test]
    fn exact_names_match_case_insensitively_and_ignore_a_trailing_dot() {
        assert!(covered(&["sage.example.com"], "SAGE.Example.COM."));
        assert!(covered(&["Sage.Example.com."], "sage.example.com"));
        assert!(!covered(&["sage.example.com"], "esync.example.com"));
    }

    #[test]
    fn a_wildcard_covers_exactly_one_label() {
        assert!(covered(&["*.example.com"], "sage.example.com"));
        assert!(!covered(&["*.example.com"], "example.com"));
        assert!(!covered(&["*.example.com"], "a.b.example.com"));
    }

    #[test]
    fn bad_wildcards_never_match() {
        assert!(!covered(&["*.com"], "example.com"));
        assert!(!covered(&["s*.example.com"], "sage.example.com"));
        assert!(!covered(&["sage.*.com"], "sage.example.com"));
        assert!(!covered(&["*"], "localhost"));
    }

    #[test]
    fn unicode_host_names_compare_as_a_labels() {
        assert!(covered(&["xn--bcher-kva.example"], "bücher.example"));
        assert!(covered(&["*.xn--bcher-kva.example"], "www.BÜCHER.example"));
    }

    #[test]
    fn ip_addresses_match_only_ip_sans() {
        let ip: IpAddr = "10.0.0.5".parse().expect("ip");
        let reference = Reference::parse("10.0.0.5").expect("ip reference");
        assert!(covers(&[], &[ip], &reference));
        assert!(!covers(&["10.0.0.5".into()], &[], &reference));
        let v6 = Reference::parse("[::1]").expect("bracketed v6");
        assert!(covers(&[], &["::1".parse().expect("ip")], &v6));
    }

    #[test]
    fn nonsense_host_names_are_refused_with_a_reason() {
        for input in ["", "  ", "a..b", "*.example.com", "bad host"] {
            let err = Reference::parse(input).unwrap_err();
            assert_eq!(err.code(), "host_name_invalid", "{input:?}");
        }
    }

    fn label() -> impl Strategy<Value = String> {
        // Starting with a letter keeps all-digit names, which read as IP addresses, out; a
        // hyphen in the third and fourth place marks a (here invalid) IDNA A-label.
        "[a-z]([a-z0-9-]{0,10}[a-z0-9])?".prop_filter("no reserved ?? -- prefix", |l: &String| {
            l.get(2..4) != Some("--")
        })
    }

    proptest! {
        #[test]
        fn a_name_always_covers_itself_in_any_case(labels in prop::collection::vec(label(), 1..5)) {
            let name = labels.join(".");
            let shouted = name.to_uppercase();
            prop_assert!(covered(&[&name], &shouted));
            let dotted = format!("{name}.");
            prop_assert!(covered(&[&shouted], &dotted));
        }

        #[test]
        fn a_wildcard_matches_iff_exactly_one_label_is_added(
            extra in prop::collection::vec(label(), 0..3),
            base in prop::collection::vec(label(), 2..4),
        ) {
            let suffix = base.join(".");
            let host = if extra.is_empty() { suffix.clone() } else { format!("{}.{}", extra.join("."), suffix) };
            prop_assert_eq!(covered(&[&format!("*.{suffix}")], &host), extra.len() == 1);
        }

        #[test]
        fn a_different_name_never_matches(a in label(), b in label(), tld in label()) {
            prop_assume!(a != b);
            let (presented, reference) = (format!("{a}.{tld}"), format!("{b}.{tld}"));
            prop_assert!(!covered(&[&presented], &reference));
        }
    }
}
