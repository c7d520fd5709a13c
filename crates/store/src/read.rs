//! The read side for the API and the dashboard: summary counts, hosts, endpoints,
//! certificates with filters and keyset pagination.

use certfleet_proto::{EndpointKind, Severity};
use serde::Serialize;

use crate::{Result, Store};

/// A certificate expiring within this many seconds counts as "expiring".
pub const EXPIRING_SECS: i64 = 30 * 86_400;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Summary {
    /// Certificates in use by at least one endpoint.
    pub certificates: i64,
    pub expired: i64,
    pub expiring_7_days: i64,
    pub expiring_30_days: i64,
    pub healthy: i64,
    /// With at least one error finding on an endpoint that uses them.
    pub misconfigured: i64,
    pub agents: i64,
    pub agents_online: i64,
    pub agents_revoked: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostRow {
    pub id: i64,
    pub agent_id: String,
    pub hostname: String,
    pub fqdn: String,
    pub os: String,
    pub arch: String,
    pub groups: Vec<String>,
    pub agent_version: Option<String>,
    pub last_seen_at: Option<i64>,
    pub revoked: bool,
    pub endpoints: i64,
    pub errors: i64,
    pub warnings: i64,
    /// The soonest expiry among the certificates its endpoints use.
    pub next_expiry: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingRow {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointRow {
    pub id: i64,
    pub host_id: i64,
    pub hostname: String,
    pub key: String,
    pub kind: EndpointKind,
    pub name: String,
    pub address: Option<String>,
    pub config_path: Option<String>,
    pub configured_sha256: Option<String>,
    pub served_sha256: Option<String>,
    pub errors: Vec<String>,
    pub updated_at: i64,
    pub findings: Vec<FindingRow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateRow {
    pub sha256: String,
    pub thumbprint: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub key_algorithm: String,
    pub key_bits: i64,
    pub signature_algorithm: String,
    pub self_signed: bool,
    pub endpoints: i64,
    pub errors: i64,
    pub warnings: i64,
}

pub(crate) fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) struct RawCert {
    pub(crate) sha256: String,
    pub(crate) thumbprint: String,
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) serial: String,
    pub(crate) dns_names_json: String,
    pub(crate) ip_addresses_json: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) key_algorithm: String,
    pub(crate) key_bits: i64,
    pub(crate) signature_algorithm: String,
    pub(crate) self_signed: i64,
    pub(crate) endpoints: i64,
    pub(crate) errors: i64,
    pub(crate) warnings: i64,
}

impl From<RawCert> for CertificateRow {
    fn from(r: RawCert) -> Self {
        CertificateRow {
            dns_names: json_list(&r.dns_names_json),
            ip_addresses: json_list(&r.ip_addresses_json),
            sha256: r.sha256,
            thumbprint: r.thumbprint,
            subject: r.subject,
            issuer: r.issuer,
            serial: r.serial,
            not_before: r.not_before,
            not_after: r.not_after,
            key_algorithm: r.key_algorithm,
            key_bits: r.key_bits,
            signature_algorithm: r.signature_algorithm,
            self_signed: r.self_signed != 0,
            endpoints: r.endpoints,
            errors: r.errors,
            warnings: r.warnings,
        }
    }
}

impl Store {
    pub async fn summary(&self, now: i64, offline_after_secs: i64) -> Result<Summary> {
        let expiring = now + EXPIRING_SECS;
        let week = now + 7 * 86_400;
        // Whole days come from `expiry_days`; the one day a boundary falls into is counted
        // exactly from the certificates themselves (a small index range).
        let day_start = |t: i64| t.div_euclid(86_400) * 86_400;
        let (now_day, week_day, month_day) = (day_start(now), day_start(week), day_start(expiring));
        let certs = sqlx::query!(
            r#"SELECT
                 (SELECT COALESCE(SUM(in_use), 0) FROM expiry_days) AS "total!: i64",
                 (SELECT COALESCE(SUM(broken), 0) FROM expiry_days) AS "broken!: i64",
                 (SELECT COALESCE(SUM(in_use), 0) FROM expiry_days WHERE day < ?4 / 86400)
                   + (SELECT COUNT(*) FROM certificates
                      WHERE endpoint_count > 0 AND not_after >= ?4 AND not_after < ?1) AS "before_now!: i64",
                 (SELECT COALESCE(SUM(in_use), 0) FROM expiry_days WHERE day < ?5 / 86400)
                   + (SELECT COUNT(*) FROM certificates
                      WHERE endpoint_count > 0 AND not_after >= ?5 AND not_after < ?2) AS "before_week!: i64",
                 (SELECT COALESCE(SUM(in_use), 0) FROM expiry_days WHERE day < ?6 / 86400)
                   + (SELECT COUNT(*) FROM certificates
                      WHERE endpoint_count > 0 AND not_after >= ?6 AND not_after < ?3) AS "before_month!: i64",
                 (SELECT COALESCE(SUM(broken), 0) FROM expiry_days WHERE day < ?6 / 86400)
                   + (SELECT COUNT(*) FROM certificates
                      WHERE endpoint_count > 0 AND error_count > 0
                        AND not_after >= ?6 AND not_after < ?3) AS "broken_before_month!: i64""#,
            now,
            week,
            expiring,
            now_day,
            week_day,
            month_day
        )
        .fetch_one(&self.pool)
        .await?;
        let seen_after = now - offline_after_secs;
        let agents = sqlx::query!(
            r#"SELECT COUNT(*) AS "total!: i64",
                      COALESCE(SUM(revoked_at IS NULL AND last_seen_at >= ?), 0) AS "online!: i64",
                      COALESCE(SUM(revoked_at IS NOT NULL), 0) AS "revoked!: i64"
               FROM agents"#,
            seen_after
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Summary {
            certificates: certs.total,
            expired: certs.before_now,
            expiring_7_days: certs.before_week - certs.before_now,
            expiring_30_days: certs.before_month - certs.before_now,
            // Healthy: in use, 30 days or more left, no error finding.
            healthy: (certs.total - certs.before_month)
                - (certs.broken - certs.broken_before_month),
            misconfigured: certs.broken,
            agents: agents.total,
            agents_online: agents.online,
            agents_revoked: agents.revoked,
        })
    }

    pub async fn hosts(&self) -> Result<Vec<HostRow>> {
        let rows = sqlx::query!(
            r#"SELECT h.id AS "id!", h.agent_id, h.hostname, h.fqdn, h.os, h.arch, h.groups_json,
                      a.agent_version, a.last_seen_at, a.revoked_at,
                      (SELECT COUNT(*) FROM endpoints e WHERE e.host_id = h.id) AS "endpoints!: i64",
                      (SELECT COUNT(*) FROM findings f JOIN endpoints e ON e.id = f.endpoint_id
                        WHERE e.host_id = h.id AND f.severity = 'error') AS "errors!: i64",
                      (SELECT COUNT(*) FROM findings f JOIN endpoints e ON e.id = f.endpoint_id
                        WHERE e.host_id = h.id AND f.severity = 'warning') AS "warnings!: i64",
                      (SELECT MIN(c.not_after) FROM endpoints e JOIN certificates c
                         ON c.sha256 = e.configured_sha256 OR c.sha256 = e.served_sha256
                        WHERE e.host_id = h.id) AS "next_expiry: i64"
               FROM hosts h JOIN agents a ON a.id = h.agent_id
               ORDER BY h.hostname, h.id"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| HostRow {
                id: r.id,
                agent_id: r.agent_id,
                hostname: r.hostname,
                fqdn: r.fqdn,
                os: r.os,
                arch: r.arch,
                groups: json_list(&r.groups_json),
                agent_version: r.agent_version,
                last_seen_at: r.last_seen_at,
                revoked: r.revoked_at.is_some(),
                endpoints: r.endpoints,
                errors: r.errors,
                warnings: r.warnings,
                next_expiry: r.next_expiry,
            })
            .collect())
    }

    pub async fn host(&self, id: i64) -> Result<Option<HostRow>> {
        Ok(self.hosts().await?.into_iter().find(|h| h.id == id))
    }

    /// Endpoints of one host, or the endpoints that use one certificate.
    pub async fn endpoints(
        &self,
        host_id: Option<i64>,
        certificate: Option<&str>,
    ) -> Result<Vec<EndpointRow>> {
        let rows = sqlx::query!(
            r#"SELECT e.id AS "id!", e.host_id, h.hostname, e.key, e.kind, e.name, e.address,
                      e.config_path, e.configured_sha256, e.served_sha256, e.errors_json, e.updated_at
               FROM endpoints e JOIN hosts h ON h.id = e.host_id
               WHERE (?1 IS NULL OR e.host_id = ?1)
                 AND (?2 IS NULL OR e.configured_sha256 = ?2 OR e.served_sha256 = ?2)
               ORDER BY h.hostname, e.key"#,
            host_id,
            certificate
        )
        .fetch_all(&self.pool)
        .await?;
        let mut endpoints = Vec::with_capacity(rows.len());
        for r in rows {
            let findings = sqlx::query_as!(
                FindingRow,
                r#"SELECT code, severity AS "severity: Severity", message, certificate FROM findings
                 WHERE endpoint_id = ? ORDER BY CASE severity WHEN 'error' THEN 0
                 WHEN 'warning' THEN 1 ELSE 2 END, id"#,
                r.id
            )
            .fetch_all(&self.pool)
            .await?;
            endpoints.push(EndpointRow {
                id: r.id,
                host_id: r.host_id,
                hostname: r.hostname,
                key: r.key,
                kind: EndpointKind::parse(&r.kind).unwrap_or(EndpointKind::Other),
                name: r.name,
                address: r.address,
                config_path: r.config_path,
                configured_sha256: r.configured_sha256,
                served_sha256: r.served_sha256,
                errors: json_list(&r.errors_json),
                updated_at: r.updated_at,
                findings,
            });
        }
        Ok(endpoints)
    }

    /// The DER of a certificate (public material).
    pub async fn certificate_der(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar!("SELECT der FROM certificate_ders WHERE sha256 = ?", sha256)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
