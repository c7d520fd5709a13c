//! The certificates list: filters, search, three sort orders, keyset pagination. Each
//! order is its own compile-checked query (sqlx takes only literal SQL).

use serde::Serialize;

use crate::read::{CertificateRow, EXPIRING_SECS, RawCert};
use crate::{Result, Store};

/// The order of the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum CertSort {
    /// Soonest expiry first (the index order).
    #[default]
    ExpiryAsc,
    ExpiryDesc,
    SubjectAsc,
}

/// Which certificates to list. All filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only those expiring before this time (Unix seconds).
    pub expires_before: Option<i64>,
    /// `expired`, `expiring`, `healthy` or `misconfigured`.
    pub status: Option<String>,
    pub host_id: Option<i64>,
    /// Substring of the name of a host using the certificate.
    pub host_name: Option<String>,
    /// Substring of subject, names, thumbprint or SHA-256.
    pub search: Option<String>,
    /// Substring of the issuer.
    pub issuer: Option<String>,
    /// Only those used by an endpoint of this kind (`apache`, `pem`, …).
    pub kind: Option<String>,
    /// Only those some client machine was served and does not trust (an unreachable server
    /// aside): the endpoints some client does not trust.
    pub untrusted_by_client: bool,
    pub sort: CertSort,
    /// Keyset cursor from the previous page's `next`.
    pub after: Option<(String, String)>,
    pub limit: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificatePage {
    pub items: Vec<CertificateRow>,
    /// (sort value, sha256) of the last row; pass back as `after`. `None` on the last page.
    pub next: Option<(String, String)>,
}

/// `%text%` with LIKE's wildcards in the user's text matched literally.
fn like(text: Option<&str>) -> Option<String> {
    text.filter(|s| !s.is_empty()).map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// The hex digits of a term that looks like (part of) a thumbprint or SHA-256, uppercase as
/// they are stored, read by certkit as it reads a pasted thumbprint (colons, spaces, dashes
/// and invisible marks dropped). `None` when the term has anything else in it, or fewer
/// than three digits.
fn hash_digits(term: &str) -> Option<String> {
    certfleet_certkit::pasted_hex_digits(term).filter(|digits| digits.len() >= 3)
}

impl Store {
    /// Certificates in use by at least one endpoint, one page at a time.
    pub async fn certificates(&self, filter: &CertificateFilter) -> Result<CertificatePage> {
        // Three characters or more go through the trigram index; shorter ones (rare: a
        // search for "a1") scan with LIKE.
        let term = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let (search, phrase, hex) = match term {
            Some(t) if t.chars().count() >= 3 => (
                None,
                Some(format!("\"{}\"", t.replace('"', "\"\""))),
                hash_digits(t),
            ),
            other => (like(other), None, None),
        };
        let issuer = like(filter.issuer.as_deref());
        let host_name = like(filter.host_name.as_deref());
        let (after_value, after_sha) = match &filter.after {
            Some((value, sha)) => (Some(value.as_str()), Some(sha.as_str())),
            None => (None, None),
        };
        let limit = filter.limit.clamp(1, 500);
        let fetch = limit + 1;
        let expiring = filter.now + EXPIRING_SECS;
        // One query text for every sort order, differing only in the keyset condition and
        // the ORDER BY, each still checked against the schema at compile time.
        macro_rules! certificate_page {
            ($keyset:literal, $order:literal) => {
                sqlx::query_as!(
                    RawCert,
                    r#"SELECT sha256 AS "sha256!", thumbprint, subject, issuer, serial, dns_names_json,
                              ip_addresses_json, not_before, not_after, key_algorithm, key_bits,
                              signature_algorithm, self_signed, endpoints AS "endpoints!: i64",
                              errors AS "errors!: i64", warnings AS "warnings!: i64"
                       FROM (
                           SELECT c.sha256, c.thumbprint, c.subject, c.issuer, c.serial,
                                  c.dns_names_json, c.ip_addresses_json, c.not_before, c.not_after,
                                  c.key_algorithm, c.key_bits, c.signature_algorithm, c.self_signed,
                                  c.endpoint_count AS endpoints, c.error_count AS errors,
                                  c.warning_count AS warnings
                           FROM certificates c
                           WHERE c.endpoint_count > 0
                             AND (?1 IS NULL OR c.not_after < ?1)
                             AND (?2 IS NULL OR EXISTS (SELECT 1 FROM endpoints e WHERE e.host_id = ?2
                                  AND (e.configured_sha256 = c.sha256 OR e.served_sha256 = c.sha256)))
                             AND (?3 IS NULL OR c.subject LIKE ?3 ESCAPE '\' OR c.dns_names_json LIKE ?3 ESCAPE '\'
                                  OR c.thumbprint LIKE ?3 ESCAPE '\' OR c.sha256 LIKE ?3 ESCAPE '\')
                             AND (?13 IS NULL OR c.rowid IN (SELECT rowid FROM certificate_search
                                  WHERE certificate_search MATCH ?13)
                                  OR instr(c.sha256, ?15) > 0 OR instr(c.thumbprint, ?15) > 0)
                             AND (?10 IS NULL OR c.issuer LIKE ?10 ESCAPE '\')
                             AND (?11 IS NULL OR EXISTS (SELECT 1 FROM endpoints e WHERE e.kind = ?11
                                  AND (e.configured_sha256 = c.sha256 OR e.served_sha256 = c.sha256)))
                             AND (?12 IS NULL OR EXISTS (SELECT 1 FROM endpoints e JOIN hosts h ON h.id = e.host_id
                                  WHERE h.hostname LIKE ?12 ESCAPE '\'
                                  AND (e.configured_sha256 = c.sha256 OR e.served_sha256 = c.sha256)))
                             AND (?14 = 0 OR EXISTS (SELECT 1 FROM trust_checks t
                                  WHERE json_extract(t.chain_json, '$[0]') = c.sha256
                                  AND t.verdict NOT IN ('trusted', 'unreachable')))
                             AND "# + $keyset + r#"
                           ORDER BY "# + $order + r#"
                       )
                       WHERE (?6 IS NULL
                              OR (?6 = 'expired' AND not_after < ?7)
                              OR (?6 = 'expiring' AND not_after >= ?7 AND not_after < ?8)
                              OR (?6 = 'misconfigured' AND errors > 0)
                              OR (?6 = 'healthy' AND not_after >= ?8 AND errors = 0))
                       LIMIT ?9"#,
                    filter.expires_before,
                    filter.host_id,
                    search,
                    after_value,
                    after_sha,
                    filter.status,
                    filter.now,
                    expiring,
                    fetch,
                    issuer,
                    filter.kind,
                    host_name,
                    phrase,
                    filter.untrusted_by_client,
                    hex
                )
                .fetch_all(&self.pool)
            };
        }
        let rows = match filter.sort {
            CertSort::ExpiryAsc => {
                certificate_page!(
                    "(?4 IS NULL OR (c.not_after, c.sha256) > (CAST(?4 AS INTEGER), ?5))",
                    "c.not_after, c.sha256"
                )
                .await?
            }
            CertSort::ExpiryDesc => {
                certificate_page!(
                    "(?4 IS NULL OR (c.not_after, c.sha256) < (CAST(?4 AS INTEGER), ?5))",
                    "c.not_after DESC, c.sha256 DESC"
                )
                .await?
            }
            CertSort::SubjectAsc => {
                certificate_page!(
                    "(?4 IS NULL OR (c.subject, c.sha256) > (?4, ?5))",
                    "c.subject, c.sha256"
                )
                .await?
            }
        };
        let mut items: Vec<CertificateRow> = rows.into_iter().map(CertificateRow::from).collect();
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|c| {
                let value = match filter.sort {
                    CertSort::SubjectAsc => c.subject.clone(),
                    CertSort::ExpiryAsc | CertSort::ExpiryDesc => c.not_after.to_string(),
                };
                (value, c.sha256.clone())
            })
        } else {
            None
        };
        Ok(CertificatePage { items, next })
    }

    pub async fn certificate(&self, sha256: &str, now: i64) -> Result<Option<CertificateRow>> {
        let filter = CertificateFilter {
            search: Some(sha256.to_owned()),
            limit: 500,
            now,
            ..CertificateFilter::default()
        };
        Ok(self
            .certificates(&filter)
            .await?
            .items
            .into_iter()
            .find(|c| c.sha256 == sha256))
    }

    /// In-use certificates expiring on each of the next `days` UTC days (index 0 = today).
    pub async fn expiry_timeline(&self, now: i64, days: i64) -> Result<Vec<i64>> {
        let today = now.div_euclid(86_400);
        let end = today + days;
        let rows = sqlx::query!(
            r#"SELECT day AS "day!: i64", in_use AS "count!: i64" FROM expiry_days
               WHERE day >= ?1 AND day < ?2 AND in_use > 0"#,
            today,
            end
        )
        .fetch_all(&self.pool)
        .await?;
        let mut timeline = vec![0; days.max(0) as usize];
        for row in rows {
            if let Some(slot) = usize::try_from(row.day - today)
                .ok()
                .and_then(|d| timeline.get_mut(d))
            {
                *slot = row.count;
            }
        }
        Ok(timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::hash_digits;

    #[test]
    fn hash_digits_keep_hex_and_drop_separators() {
        assert_eq!(hash_digits("ab:cd-ef 01").as_deref(), Some("ABCDEF01"));
        assert_eq!(hash_digits("ABC").as_deref(), Some("ABC"));
        assert_eq!(hash_digits("a:b"), None, "two digits are too few");
        assert_eq!(hash_digits("web01"), None, "w is not a hex digit");
        assert_eq!(hash_digits("ab.cd"), None, "a dot is not a separator");
        assert_eq!(
            hash_digits("\u{200e}ab cd").as_deref(),
            Some("ABCD"),
            "the certificate dialog's invisible mark is dropped"
        );
    }
}
