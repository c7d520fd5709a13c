//! The plan's verdict from the hosts themselves, before anything runs: each proposed
//! endpoint's agent runs the preflight a deployment would start with (names and purpose
//! against that host, the port not taken by another program) and changes nothing.

use certfleet_store::AuditAction;
use std::time::Duration;

use certfleet_proto::{ConsoleMessage, Job, JobAction};
use serde::Serialize;

use super::Console;
use super::Error;

/// How long a host has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostVerdict {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    /// `passed`, `refused` or `no answer`.
    pub verdict: String,
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
    let mut waiting = Vec::new();
    let mut verdicts = Vec::new();
    for p in proposals
        .into_iter()
        .filter(|p| p.proposed && p.problems.is_empty())
    {
        let Some(agent_id) = uses
            .iter()
            .find(|u| u.host_id == p.host_id)
            .map(|u| u.agent_id.clone())
        else {
            continue;
        };
        let mut verdict = HostVerdict {
            host_id: p.host_id,
            hostname: p.hostname.clone(),
            endpoint_key: p.endpoint_key.clone(),
            endpoint_name: p.endpoint_name.clone(),
            verdict: "no answer".into(),
            detail: "the agent is offline".into(),
        };
        if !console.registry.is_connected(&agent_id) {
            verdicts.push(verdict);
            continue;
        }
        let job_id = format!("preflight-{}", uuid::Uuid::new_v4());
        let answer = console.pending_checks.expect(&job_id, &agent_id);
        let frame = certfleet_proto::encode(
            &uuid::Uuid::new_v4().to_string(),
            &ConsoleMessage::Job(Job {
                job_id: job_id.clone(),
                action: JobAction::Preflight {
                    endpoint: p.endpoint_key.clone(),
                    chain_pem: renewal.chain_pem.clone(),
                    sha256: renewal.sha256.clone(),
                },
            }),
        );
        if !console.registry.try_send(&agent_id, frame) {
            console.pending_checks.forget(&job_id);
            verdict.detail = "the agent's connection is busy or gone; try again".into();
            verdicts.push(verdict);
            continue;
        }
        waiting.push((verdict, job_id, answer));
    }
    let answers =
        futures_util::future::join_all(waiting.into_iter().map(|(mut verdict, job_id, answer)| {
            let pending = console.pending_checks.clone();
            async move {
                match tokio::time::timeout(ANSWER_WITHIN, answer).await {
                    Ok(Ok(result)) => {
                        verdict.verdict = if result.ok { "passed" } else { "refused" }.into();
                        verdict.detail = result.detail;
                    }
                    _ => {
                        pending.forget(&job_id);
                        verdict.detail = format!("no answer within {} s", ANSWER_WITHIN.as_secs());
                    }
                }
                verdict
            }
        }))
        .await;
    verdicts.extend(answers);
    verdicts.sort_by(|a, b| (&a.hostname, &a.endpoint_key).cmp(&(&b.hostname, &b.endpoint_key)));
    console
        .store
        .audit(
            console.now_secs(),
            actor,
            AuditAction::RenewalPreflight,
            Some(&format!("renewal #{renewal_id}")),
            Some(&format!(
                "{} passed, {} refused, {} without answer",
                verdicts.iter().filter(|v| v.verdict == "passed").count(),
                verdicts.iter().filter(|v| v.verdict == "refused").count(),
                verdicts.iter().filter(|v| v.verdict == "no answer").count()
            )),
        )
        .await?;
    Ok(verdicts)
}
