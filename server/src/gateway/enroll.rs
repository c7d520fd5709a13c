//! `GET /agent/v1/ca` and `POST /agent/v1/enroll`: how an agent joins. The token is checked
//! before the CSR is signed and spent in the same transaction that records the agent.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use certfleet_proto::{EnrollRequest, EnrollResponse, HttpError, HttpErrorBody};
use certfleet_store::AuditAction;
use certfleet_store::NewAgent;
use sha2::{Digest, Sha256};

use super::Gateway;

pub async fn ca(State(gateway): State<Gateway>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        gateway.pki.ca_pem().to_owned(),
    )
        .into_response()
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = HttpError {
        error: HttpErrorBody {
            code: code.into(),
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn enroll(State(gateway): State<Gateway>, body: axum::body::Bytes) -> Response {
    let request: EnrollRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "body_invalid",
                format!("the enrolment request is not valid JSON of the right shape: {e}"),
            );
        }
    };
    let now = gateway.now();
    let hash = secret_hash(&request.token_secret);
    let meant_for = match gateway
        .store
        .check_token(&request.token_id, &hash, now.unix_timestamp())
        .await
    {
        Ok(host) => host,
        Err(e) => return token_refusal(&gateway, &request, e).await,
    };
    if let Some(host) = meant_for.filter(|h| !same_host(h, &request.hostname)) {
        let _ = gateway
            .store
            .audit(
                now.unix_timestamp(),
                &format!("token:{}", request.token_id),
                AuditAction::AgentEnrollmentRefused,
                None,
                Some(&format!(
                    "token_host: made for {host}, used by {}",
                    request.hostname
                )),
            )
            .await;
        // The token stays unspent: the host it was made for can still use it.
        return refuse(
            StatusCode::FORBIDDEN,
            "token_host",
            format!(
                "this token was made for host {host}, and this machine is {}: enrol {host} \
                 with it, or create a token for this host (token create --host {})",
                request.hostname, request.hostname
            ),
        );
    }
    let agent_id = uuid::Uuid::new_v4().to_string();
    let issued = match gateway.pki.sign_agent_csr(
        &request.csr_pem,
        &agent_id,
        gateway.config.agent_cert_days,
        now,
    ) {
        Ok(issued) => issued,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "csr_invalid", e.to_string()),
    };
    let agent = NewAgent {
        id: &agent_id,
        cert_serial: &issued.serial,
        cert_not_after: issued.not_after,
    };
    if let Err(e) = gateway
        .store
        .enroll_agent(&request.token_id, &hash, now.unix_timestamp(), &agent)
        .await
    {
        return token_refusal(&gateway, &request, e).await;
    }
    gateway.metrics.enrollments.inc();
    let _ = gateway
        .store
        .audit(
            now.unix_timestamp(),
            &format!("token:{}", request.token_id),
            AuditAction::AgentEnrolled,
            Some(&agent_id),
            Some(&format!("host {}", request.hostname)),
        )
        .await;
    tracing::info!(agent = %agent_id, host = %request.hostname, "agent enrolled");
    Json(EnrollResponse {
        agent_id,
        certificate_pem: issued.pem,
        ca_pem: gateway.pki.ca_pem().to_owned(),
    })
    .into_response()
}

/// A token made for `meant` fits a machine that calls itself `name`: the same name, or the
/// same first label (a token for `sage01.corp.local` on a machine named `SAGE01`).
fn same_host(meant: &str, name: &str) -> bool {
    let first = |n: &str| n.split('.').next().unwrap_or("").to_ascii_lowercase();
    meant.eq_ignore_ascii_case(name) || (!first(meant).is_empty() && first(meant) == first(name))
}

async fn token_refusal(
    gateway: &Gateway,
    request: &EnrollRequest,
    e: certfleet_store::Error,
) -> Response {
    let code = match e {
        certfleet_store::Error::TokenInvalid => "token_invalid",
        certfleet_store::Error::TokenSpent => "token_spent",
        certfleet_store::Error::TokenExpired => "token_expired",
        other => {
            tracing::error!("enrolment failed: {other}");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "the console could not enrol the agent; see its log",
            );
        }
    };
    let _ = gateway
        .store
        .audit(
            gateway.now_secs(),
            &format!("token:{}", request.token_id),
            AuditAction::AgentEnrollmentRefused,
            None,
            Some(code),
        )
        .await;
    refuse(StatusCode::FORBIDDEN, code, e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_for_a_host_fits_its_short_and_long_names_only() {
        assert!(super::same_host("sage01.corp.local", "SAGE01"));
        assert!(super::same_host("sage01", "sage01.corp.local"));
        assert!(super::same_host("Web1", "web1"));
        assert!(!super::same_host("sage01.corp.local", "sage02"));
        assert!(!super::same_host("sage01", "evil"));
    }
}
