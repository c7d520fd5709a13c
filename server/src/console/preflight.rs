//! The plan's verdict from the hosts themselves, before anything runs: each proposed
//! endpoint's agent runs the preflight a deployment would start with (names and purpose
//! against that host, the port not taken by another program) and changes nothing.

use certfleet_store::AuditAction;
use std::time::Duration;

use certfleet_proto::JobAction;
use serde::Serialize;

use super::Console;
use super::Error;
use super::obtain::ask;

/// How long a host has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// What a host said of its preflight.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub enum Verdict {
    #[serde(rename = "passed")]
    Passed,
    #[serde(rename = "refused")]
    Refused,
    #[serde(rename = "no answer")]
    NoAnswer,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Refused => "refused",
            Verdict::NoAnswer => "no answer",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HostVerdict {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub verdict: Verdict,
    pub detail: String,
}

/// Asks every agent of the proposed endpoints for its preflight, all at once.
pub async fn check(
    console: &Console,
    actor: &str,
    renewal_id: i64,
) -> Result<Vec<HostVerdict>, Error> {
    let renewal = console.store.renewal(renewal_id).await?;
    let proposals = super::rollout_plan::plan(console, renewal_id).await?;
    let uses = console.store.endpoint_uses().await?;
    let asked = proposals
        .into_iter()
        .filter(|p| p.proposed && p.problems.is_empty())
        .filter_map(|p| {
            let agent_id = uses
                .iter()
                .find(|u| u.host_id == p.host_id)
                .map(|u| u.agent_id.clone())?;
            let action = JobAction::Preflight {
                endpoint: p.endpoint_key.clone(),
                chain_pem: renewal.chain_pem.clone(),
                sha256: renewal.sha256.clone(),
            };
            Some(async move {
                let job_id = format!("preflight-{}", uuid::Uuid::new_v4());
                let (verdict, detail) =
                    match ask(console, &agent_id, &job_id, action, ANSWER_WITHIN).await {
                        Ok(result) if result.ok => (Verdict::Passed, result.detail),
                        Ok(result) => (Verdict::Refused, result.detail),
                        Err(why) => (Verdict::NoAnswer, why.describe(ANSWER_WITHIN)),
                    };
                HostVerdict {
                    host_id: p.host_id,
                    hostname: p.hostname,
                    endpoint_key: p.endpoint_key,
                    endpoint_name: p.endpoint_name,
                    verdict,
                    detail,
                }
            })
        });
    let mut verdicts = futures_util::future::join_all(asked).await;
    verdicts.sort_by(|a, b| (&a.hostname, &a.endpoint_key).cmp(&(&b.hostname, &b.endpoint_key)));
    let count = |v: Verdict| verdicts.iter().filter(|h| h.verdict == v).count();
    console
        .store
        .audit(
            console.now_secs(),
            actor,
            AuditAction::RenewalPreflight,
            Some(&format!("renewal #{renewal_id}")),
            Some(&format!(
                "{} passed, {} refused, {} without answer",
                count(Verdict::Passed),
                count(Verdict::Refused),
                count(Verdict::NoAnswer)
            )),
        )
        .await?;
    Ok(verdicts)
}
