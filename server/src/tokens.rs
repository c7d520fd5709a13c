//! Creating enrolment tokens, for the CLI and the API alike.

use anyhow::{Context, Result};
use base64::Engine;
use certfleet_proto::EnrollmentToken;
use certfleet_store::AuditAction;
use certfleet_store::{NewToken, Store};

use crate::gateway::secret_hash;

fn random_text(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).context("the system's random source failed")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// How long an enrolment token may be valid: a token is for the enrolment at hand, not to
/// be kept.
pub const HOURS: std::ops::RangeInclusive<u64> = 1..=24 * 30;

/// `hours` as a token's lifetime, or what to ask for instead (the API and the CLI alike).
pub fn lifetime(hours: u64) -> std::result::Result<u64, String> {
    if HOURS.contains(&hours) {
        Ok(hours)
    } else {
        Err(format!(
            "a token lasts from {} to {} hours (30 days), not {hours}: ask for a lifetime in that range",
            HOURS.start(),
            HOURS.end()
        ))
    }
}

/// Creates a single-use token valid for `hours` (refused outside `HOURS`), records it, and
/// audits who made it.
pub async fn create(
    store: &Store,
    ca_pin: &str,
    created_by: &str,
    hours: u64,
    host_hint: Option<&str>,
    now: i64,
) -> Result<(EnrollmentToken, i64)> {
    let token = EnrollmentToken {
        // Lower-case letters and digits only, so it reads well in logs and lists.
        id: random_text(6)?
            .to_ascii_lowercase()
            .replace(['-', '_'], "x"),
        secret: random_text(24)?,
        ca_pin: ca_pin.to_owned(),
    };
    let hours = lifetime(hours).map_err(anyhow::Error::msg)?;
    let expires_at = now + (hours as i64) * 3600;
    store
        .create_token(&NewToken {
            id: token.id.clone(),
            secret_sha256: secret_hash(&token.secret),
            host_hint: host_hint.map(str::to_owned),
            created_by: created_by.to_owned(),
            created_at: now,
            expires_at,
        })
        .await
        .context("cannot record the token")?;
    store
        .audit(
            now,
            created_by,
            AuditAction::TokenCreated,
            Some(&token.id),
            host_hint,
        )
        .await
        .context("cannot audit the token")?;
    Ok((token, expires_at))
}

/// The commands an admin runs on the host to enrol it.
pub fn enrol_commands(gateway_url: &str, token: &EnrollmentToken) -> (String, String) {
    (
        // Piped in, so the token never shows in the host's process list.
        format!(
            "echo '{token}' | sudo certfleet-agent enroll --server {gateway_url} --token-file -"
        ),
        format!(
            r#"'{token}' | & "C:\Program Files\certfleet\certfleet-agent.exe" enroll --server {gateway_url} --token-file -"#
        ),
    )
}
