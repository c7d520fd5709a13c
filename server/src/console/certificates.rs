//! The certificates the fleet uses: the overview's counts, the filtered and sorted list
//! (keyset pages), one certificate with where it is used.

use serde::Deserialize;

use super::{Can, Console, Error, Result, Viewer};
use certfleet_certkit::Thumbprint;
use certfleet_store::{CertSort, CertificateFilter};

use certfleet_store::EndpointRow;
pub use certfleet_store::{CertificateRow, Summary};

/// A certificate's state, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    Expired,
    Misconfigured,
    Expiring,
    Healthy,
}

impl CertificateStatus {
    pub fn of(row: &CertificateRow, now: i64) -> Self {
        if row.not_after < now {
            CertificateStatus::Expired
        } else if row.errors > 0 {
            CertificateStatus::Misconfigured
        } else if row.not_after < now + certfleet_store::EXPIRING_SECS {
            CertificateStatus::Expiring
        } else {
            CertificateStatus::Healthy
        }
    }

    /// The filter's (and the store's) word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Expired => "expired",
            CertificateStatus::Misconfigured => "misconfigured",
            CertificateStatus::Expiring => "expiring",
            CertificateStatus::Healthy => "healthy",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            CertificateStatus::Expired,
            CertificateStatus::Misconfigured,
            CertificateStatus::Expiring,
            CertificateStatus::Healthy,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The certificates list's filters, as both edges receive them (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertificateQuery {
    /// `expired`, `expiring` (30 days), `healthy` or `misconfigured`.
    pub status: Option<String>,
    /// A host's id, or part of its name.
    pub host: Option<String>,
    pub issuer: Option<String>,
    /// Only those with at most this many days left (negative: expired that long ago).
    #[serde(alias = "expiring_within")]
    #[param(minimum = -36_500, maximum = 36_500)]
    pub days: Option<i64>,
    /// Endpoint kind: `apache`, `pem`, `store`.
    pub purpose: Option<String>,
    /// Name, subject or thumbprint (pasted forms are cleaned).
    pub q: Option<String>,
    /// `untrusted`: only certificates some client machine that must trust them does not.
    pub clients: Option<String>,
    /// `expiry` (default), `-expiry`, `subject`.
    pub sort: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// One page of certificates, and the time their days-left were counted from.
#[derive(Debug, Clone)]
pub struct CertificatePage {
    pub items: Vec<CertificateRow>,
    /// Pass back as `after` for the next page; `None` on the last.
    pub next: Option<String>,
    pub now: i64,
}

/// The dashboard's first page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub summary: Summary,
    /// Certificates expiring on each of the next 90 days (index 0 = today).
    pub timeline: Vec<i64>,
    /// The ten most urgent certificates.
    pub urgent: Vec<CertificateRow>,
    pub now: i64,
}

/// One certificate, its DER as PEM, and every endpoint that uses it.
#[derive(Debug, Clone)]
pub struct CertificateDetail {
    pub row: CertificateRow,
    pub pem: String,
    pub endpoints: Vec<EndpointRow>,
    pub now: i64,
}

/// The `days` a query may ask for: far enough for any certificate, near enough that the
/// arithmetic on it cannot overflow.
const DAYS: std::ops::RangeInclusive<i64> = -36_500..=36_500;

impl CertificateQuery {
    fn filter(&self, now: i64, limit: i64) -> Result<CertificateFilter> {
        if let Some(status) = &self.status
            && CertificateStatus::parse(status).is_none()
        {
            return Err(Error::Invalid(format!(
                "status {status:?} is not one of expired, expiring, healthy, misconfigured"
            )));
        }
        let untrusted_by_client = match self.clients.as_deref().unwrap_or("") {
            "" => false,
            "untrusted" => true,
            other => {
                return Err(Error::Invalid(format!(
                    "clients {other:?} is not a filter; use clients=untrusted for the \
                     certificates some client machine does not trust"
                )));
            }
        };
        let sort = match self.sort.as_deref().unwrap_or("expiry") {
            "expiry" | "" => CertSort::ExpiryAsc,
            "-expiry" => CertSort::ExpiryDesc,
            "subject" | "-subject" => CertSort::SubjectAsc,
            other => {
                return Err(Error::Invalid(format!(
                    "sort {other:?} is not one of expiry, -expiry, subject"
                )));
            }
        };
        let after = match &self.after {
            None => None,
            Some(cursor) => Some(
                cursor
                    .rsplit_once(':')
                    .map(|(value, sha)| (value.to_owned(), sha.to_owned()))
                    .ok_or_else(|| {
                        Error::Invalid(
                            "`after` must be the `next` value of the previous page".into(),
                        )
                    })?,
            ),
        };
        // A pasted thumbprint (spaces, colons, invisible marks) searches as its clean form.
        let search = self.q.as_deref().map(|q| match Thumbprint::parse(q) {
            Ok(t) => t.to_string(),
            Err(_) => q.trim().to_owned(),
        });
        if let Some(days) = self.days
            && !DAYS.contains(&days)
        {
            return Err(Error::Invalid(format!(
                "`days` must be from {} to {} (a hundred years either way), not {days}",
                DAYS.start(),
                DAYS.end()
            )));
        }
        Ok(CertificateFilter {
            expires_before: self.days.map(|days| now + (days + 1) * 86_400),
            status: self.status.clone(),
            host_id: self.host.as_deref().and_then(|h| h.trim().parse().ok()),
            host_name: self
                .host
                .clone()
                .filter(|h| !h.trim().is_empty() && h.trim().parse::<i64>().is_err()),
            search,
            issuer: self.issuer.clone().filter(|s| !s.trim().is_empty()),
            kind: self.purpose.clone().filter(|s| !s.is_empty()),
            untrusted_by_client,
            sort,
            after,
            limit,
            now,
        })
    }
}

fn cursor(next: Option<(String, String)>) -> Option<String> {
    next.map(|(value, sha)| format!("{value}:{sha}"))
}

impl Console {
    pub async fn summary(&self, _who: Can<'_, Viewer>) -> Result<Summary> {
        Ok(self
            .store
            .summary(self.now_secs(), self.config.offline_after_secs())
            .await?)
    }

    pub async fn overview(&self, who: Can<'_, Viewer>) -> Result<Overview> {
        let now = self.now_secs();
        let store = &self.store;
        let urgent = CertificateFilter {
            limit: 10,
            now,
            ..CertificateFilter::default()
        };
        // Three independent reads: SQLite's readers run side by side in WAL mode.
        let (summary, timeline, urgent) = tokio::try_join!(
            self.summary(who),
            async { Ok(store.expiry_timeline(now, 90).await?) },
            async { Ok(store.certificates(&urgent).await?) },
        )?;
        Ok(Overview {
            summary,
            timeline,
            urgent: urgent.items,
            now,
        })
    }

    /// One page of the list.
    pub async fn certificates(
        &self,
        _who: Can<'_, Viewer>,
        query: &CertificateQuery,
        limit: i64,
    ) -> Result<CertificatePage> {
        let now = self.now_secs();
        let filter = query.filter(now, limit)?;
        let page = self.store.certificates(&filter).await?;
        Ok(CertificatePage {
            items: page.items,
            next: cursor(page.next),
            now,
        })
    }

    /// Every certificate matching `query` from its first page on, up to `max` (for exports).
    pub async fn all_certificates(
        &self,
        who: Can<'_, Viewer>,
        query: &CertificateQuery,
        max: usize,
    ) -> Result<CertificatePage> {
        let mut query = CertificateQuery {
            after: None,
            ..query.clone()
        };
        let mut all = self.certificates(who, &query, 500).await?;
        while let Some(next) = all.next.take()
            && all.items.len() < max
        {
            query.after = Some(next);
            let page = self.certificates(who, &query, 500).await?;
            all.items.extend(page.items);
            all.next = page.next;
        }
        all.items.truncate(max);
        Ok(all)
    }

    pub async fn certificate(
        &self,
        _who: Can<'_, Viewer>,
        sha256: &str,
    ) -> Result<CertificateDetail> {
        let now = self.now_secs();
        let sha256 = sha256.to_ascii_uppercase();
        let store = &self.store;
        let row = store
            .certificate(&sha256, now)
            .await?
            .ok_or(Error::NotFound {
                what: "certificate",
            })?;
        let (endpoints, der) = tokio::try_join!(
            store.endpoints(None, Some(&sha256)),
            store.certificate_der(&sha256),
        )?;
        Ok(CertificateDetail {
            row,
            pem: pem::encode(&pem::Pem::new("CERTIFICATE", der.unwrap_or_default())),
            endpoints,
            now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_names_what_is_wrong_with_it() {
        let bad_status = CertificateQuery {
            status: Some("fine".into()),
            ..CertificateQuery::default()
        };
        assert!(
            matches!(bad_status.filter(0, 10), Err(Error::Invalid(m)) if m.contains("\"fine\""))
        );
        let bad_sort = CertificateQuery {
            sort: Some("issuer".into()),
            ..CertificateQuery::default()
        };
        assert!(bad_sort.filter(0, 10).is_err());
        let pasted = CertificateQuery {
            q: Some("\u{200e}ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01".into()),
            days: Some(30),
            ..CertificateQuery::default()
        };
        let filter = pasted.filter(1000, 10).expect("filter");
        assert_eq!(
            filter.search.as_deref(),
            Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01")
        );
        assert_eq!(filter.expires_before, Some(1000 + 31 * 86_400));
    }
}
