//! Which of an agent's certificates may connect: the newest the console issued to it, or
//! the one before it (an agent renewed over its connection reconnects with the new one, but
//! may still hold the old one for a moment). An older one — a copy taken from a
//! decommissioned disk, say — is refused before the WebSocket opens. A certificate from the
//! agent CA that is newer than the console's record is the sign of a console restored from
//! an older backup: accepted, and recorded as the newest, so it is accepted once as "newer"
//! and from then on as the newest. Only the newest may renew itself.

/// The presented certificate, compared with the console's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    Newest,
    Previous,
    /// Issued after the record's newest (the console's database is older than the agent).
    Newer,
    Older,
}

/// A serial as hex without leading zero bytes: DER writes the shortest form, the record the
/// issued bytes.
fn normal(serial: &str) -> String {
    let upper = serial.to_ascii_uppercase();
    let mut rest = upper.as_str();
    while rest.len() > 2 && rest.starts_with("00") {
        rest = &rest[2..];
    }
    rest.to_owned()
}

/// Judges a certificate (`serial`, `not_after`) against the newest and previous serials on
/// record and the newest's expiry.
pub fn judge(
    serial: &str,
    not_after: i64,
    newest: &str,
    previous: Option<&str>,
    newest_not_after: i64,
) -> Generation {
    let serial = normal(serial);
    if serial == normal(newest) {
        Generation::Newest
    } else if previous.is_some_and(|p| normal(p) == serial) {
        Generation::Previous
    } else if not_after > newest_not_after {
        Generation::Newer
    } else {
        Generation::Older
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_and_the_one_before_connect_an_older_one_does_not() {
        assert_eq!(
            judge("0A1B", 100, "0A1B", Some("77"), 100),
            Generation::Newest
        );
        assert_eq!(
            judge("77", 50, "0A1B", Some("77"), 100),
            Generation::Previous
        );
        assert_eq!(judge("66", 20, "0A1B", Some("77"), 100), Generation::Older);
        assert_eq!(judge("66", 20, "0A1B", None, 100), Generation::Older);
        // The same expiry is not "newer": a forged serial must not pass as a restore.
        assert_eq!(judge("66", 100, "0A1B", None, 100), Generation::Older);
        assert_eq!(judge("99", 150, "0A1B", Some("77"), 100), Generation::Newer);
    }

    #[test]
    fn serials_compare_without_leading_zero_bytes_or_case() {
        assert_eq!(judge("1b2c", 1, "001B2C", None, 1), Generation::Newest);
        assert_eq!(judge("00", 1, "00", None, 1), Generation::Newest);
    }
}
