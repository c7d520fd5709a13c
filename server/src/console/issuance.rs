//! Renewals the console obtains by itself, by the host groups' policies: find the endpoints
//! that are due, ask each host for a request for a key it makes and keeps, have the issuing
//! CA sign it, and roll the certificate out to that one endpoint through the ordinary
//! rollout (verified on the wire, or the old certificate put back). Each renewal is a row
//! that moves forward only (`certfleet_store::IssuanceState`), so a restart resumes it and
//! a pass never starts one twice; a failure at any step is mailed and leaves the old
//! certificate serving.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use certfleet_proto::{IssuanceState, JobAction, RenewalSource};
use certfleet_store::{AuditAction, EndpointUse, IssuanceRow, NewIssuance, NewRenewal};
use futures_util::StreamExt;
use serde::Serialize;

use super::obtain;
use super::rollout_plan::{self, RolloutRequest, TargetChoice};
use super::{Console, Error};
use crate::policy::Policy;

/// How long a host has to make its key and answer (an RSA key takes seconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// Renewals moved on at once in one pass.
const AT_ONCE: usize = 32;
/// Who starts the renewals no person asked for, in the audit log.
pub const SCHEDULER: &str = "renewal scheduler";

/// An endpoint under a policy, with when it renews and how its last renewal went.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ScheduledRenewal {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub group: String,
    pub source: RenewalSource,
    pub current_sha256: String,
    pub not_after: i64,
    /// When the policy says it is due (Unix seconds); in the past: due now.
    pub renews_at: i64,
    /// The newest renewal of this endpoint, when it had one.
    pub last: Option<IssuanceRow>,
}

/// The endpoints a policy renews, one row each (the certificate its configuration names,
/// else the one it serves).
fn under_policy<'a>(
    console: &'a Console,
    uses: &'a [EndpointUse],
) -> Vec<(&'a EndpointUse, &'a Policy)> {
    let mut best: HashMap<(i64, &str), &EndpointUse> = HashMap::new();
    for u in uses.iter().filter(|u| !u.sha256.is_empty()) {
        best.entry((u.host_id, u.endpoint_key.as_str()))
            .and_modify(|b| {
                if u.configured && !b.configured {
                    *b = u;
                }
            })
            .or_insert(u);
    }
    let mut out: Vec<(&EndpointUse, &Policy)> = best
        .into_values()
        .filter(|u| rollout_plan::deployable(u.kind))
        .filter_map(|u| {
            console
                .config
                .renewals
                .for_groups(&u.groups)
                .map(|p| (u, p))
        })
        .collect();
    out.sort_by(|a, b| (&a.0.hostname, &a.0.endpoint_key).cmp(&(&b.0.hostname, &b.0.endpoint_key)));
    out
}

/// What will renew when.
pub async fn schedule(console: &Console) -> Result<Vec<ScheduledRenewal>, Error> {
    // The overview asks at every refresh; reading every endpoint (105,096 in the swarm
    // bench) to find none under a policy made its p50 2.3 s instead of 15 ms.
    if !console.config.renewals.any_renews_by_itself() {
        return Ok(Vec::new());
    }
    let uses = console.store.endpoint_uses().await?;
    let latest: HashMap<(i64, String), IssuanceRow> = console
        .store
        .latest_issuances()
        .await?
        .into_iter()
        .map(|i| ((i.host_id, i.endpoint_key.clone()), i))
        .collect();
    let retry_after = console.config.renewals.retry_after_secs as i64;
    Ok(under_policy(console, &uses)
        .into_iter()
        .map(|(u, p)| {
            let last = latest.get(&(u.host_id, u.endpoint_key.clone())).cloned();
            let mut renews_at = p.renews_at(u.not_before, u.not_after);
            renews_at = console
                .ari
                .known(&u.sha256)
                .map_or(renews_at, |ari| ari.min(renews_at));
            // A failure of this very certificate waits for its retry time.
            if let Some(failed) = last
                .as_ref()
                .filter(|l| l.state == IssuanceState::Failed && l.old_sha256 == u.sha256)
            {
                renews_at = renews_at.max(retry_of(failed, retry_after));
            }
            ScheduledRenewal {
                host_id: u.host_id,
                hostname: u.hostname.clone(),
                endpoint_key: u.endpoint_key.clone(),
                endpoint_name: u.endpoint_name.clone(),
                group: p.group.clone(),
                source: p.source,
                current_sha256: u.sha256.clone(),
                not_after: u.not_after,
                renews_at,
                last,
            }
        })
        .collect())
}

/// When a failed renewal may start again.
fn retry_of(failed: &IssuanceRow, retry_after: i64) -> i64 {
    failed.retry_at.unwrap_or(failed.updated_at + retry_after)
}

/// The names the next certificate carries: the endpoint's own name first, then the names
/// of the certificate it uses today.
fn names_of(u: &EndpointUse) -> Vec<String> {
    let mut names = Vec::new();
    if certfleet_store::is_dns_like(&u.endpoint_name) {
        names.push(u.endpoint_name.to_ascii_lowercase());
    }
    for n in certfleet_store::claimed_names(&u.endpoint_name, &u.dns_names) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// Starts the renewal of one endpoint; `Conflict` when one is under way already.
async fn begin(
    console: &Console,
    actor: &str,
    u: &EndpointUse,
    policy: &Policy,
    contested_by: Option<&String>,
) -> Result<IssuanceRow, Error> {
    let names = names_of(u);
    let now = console.now_secs();
    let request_id = format!("key-{}", uuid::Uuid::new_v4());
    let Some(id) = console
        .store
        .start_issuance(&NewIssuance {
            host_id: u.host_id,
            endpoint_key: &u.endpoint_key,
            source: policy.source,
            key_type: policy.key_type,
            names: &names,
            request_id: &request_id,
            old_sha256: &u.sha256,
            started_by: actor,
            now,
        })
        .await?
    else {
        return Err(Error::Conflict(format!(
            "a renewal of {} on {} is already under way",
            u.endpoint_name, u.hostname
        )));
    };
    console
        .store
        .audit(
            now,
            actor,
            AuditAction::RenewalStarted,
            Some(&format!("renewal of {} on {}", u.endpoint_key, u.hostname)),
            Some(&format!(
                "{} for {} ({} key)",
                policy.source,
                names.join(", "),
                policy.key_type
            )),
        )
        .await?;
    // Refusals the console can tell before any host or CA is asked.
    let refusal = if names.is_empty() {
        Some("the endpoint has no DNS name to put in a certificate".to_owned())
    } else if let Some(name) = policy.outside(&names) {
        Some(format!(
            "{name} is outside the allowed_domains of the {:?} policy ({}): nothing was \
             requested; add the domain to the policy or renew this endpoint by upload",
            policy.group,
            policy.allowed_domains.join(", ")
        ))
    } else {
        contested_by.map(|owner| {
            format!(
                "{owner} served these names first and no operator accepted this endpoint: \
                 nothing is issued for a name another host serves until someone accepts it"
            )
        })
    };
    let row = console.store.issuance(id).await?;
    if let Some(reason) = refusal {
        fail(console, &row, &reason).await?;
        return Ok(console.store.issuance(id).await?);
    }
    Ok(row)
}

/// Ends a renewal as failed, mailed once; the old certificate stays in place.
async fn fail(console: &Console, row: &IssuanceRow, reason: &str) -> Result<(), Error> {
    fail_until(console, row, reason, None).await
}

/// `fail`, not tried again before `retry_after_secs` nor before the time the CA named.
async fn fail_until(
    console: &Console,
    row: &IssuanceRow,
    reason: &str,
    ca_retry_at: Option<i64>,
) -> Result<(), Error> {
    let now = console.now_secs();
    let ours = now + console.config.renewals.retry_after_secs as i64;
    let retry_at = ca_retry_at.map_or(ours, |ca| ca.max(ours));
    if !console
        .store
        .fail_issuance(row.id, reason, retry_at, now)
        .await?
    {
        return Ok(());
    }
    tracing::warn!(host = %row.hostname, endpoint = %row.endpoint_key, "renewal failed: {reason}");
    console
        .store
        .audit(
            now,
            SCHEDULER,
            AuditAction::RenewalFailed,
            Some(&format!(
                "renewal of {} on {}",
                row.endpoint_key, row.hostname
            )),
            Some(reason),
        )
        .await?;
    let groups = console
        .store
        .host_groups(row.host_id)
        .await
        .unwrap_or_default();
    crate::alerts::renewal_problem(
        &console.alerts,
        &crate::alerts::RenewalProblem {
            issuance_id: row.id,
            host_id: row.host_id,
            hostname: &row.hostname,
            groups: &groups,
            endpoint: &row.endpoint_key,
            detail: reason,
        },
    )
    .await
    .map_err(Error::internal)?;
    Ok(())
}

/// Asks the host for the request of the key it keeps for `row`; `None` when it is offline
/// or does not answer in time (the next pass asks again, under the same id).
async fn ask_for_request(console: &Console, row: &IssuanceRow) -> Option<Result<String, String>> {
    let action = JobAction::KeyRequest {
        endpoint: row.endpoint_key.clone(),
        key_type: row.key_type,
        names: row.names.clone(),
    };
    let result = obtain::ask(
        console,
        &row.agent_id,
        &row.request_id,
        action,
        ANSWER_WITHIN,
    )
    .await
    .ok()?;
    Some(match (result.ok, result.csr_pem) {
        (true, Some(csr)) => Ok(csr),
        (true, None) => Err("the host answered without a certificate request".into()),
        (false, _) => Err(format!("the host refused to make a key: {}", result.detail)),
    })
}

/// The policy that holds for a renewal's endpoint now (its groups may have changed).
fn policy_for<'a>(console: &'a Console, groups: &[String]) -> Option<&'a Policy> {
    console.config.renewals.for_groups(groups)
}

/// Moves one renewal on as far as it can go now.
async fn advance(console: &Console, sources: &obtain::Sources, row: IssuanceRow) {
    if let Err(e) = step(console, sources, &row).await {
        tracing::error!(renewal = row.id, "a renewal could not move on: {e}");
    }
}

async fn step(
    console: &Console,
    sources: &obtain::Sources,
    row: &IssuanceRow,
) -> Result<(), Error> {
    match row.state {
        IssuanceState::Requested => {
            let groups = console.store.host_groups(row.host_id).await?;
            let Some(policy) = policy_for(console, &groups) else {
                return fail(
                    console,
                    row,
                    "the host is no longer in a group whose policy renews it",
                )
                .await;
            };
            let csr = match ask_for_request(console, row).await {
                None => return Ok(()),
                Some(Err(reason)) => return fail(console, row, &reason).await,
                Some(Ok(csr)) => csr,
            };
            match obtain::certificate(console, sources, row, policy, &csr).await {
                Ok(issued) => record(console, row, &issued).await,
                Err(not) => fail_until(console, row, &not.reason, not.retry_at).await,
            }
        }
        IssuanceState::Issued => {
            let Some(renewal_id) = row.renewal_id else {
                return fail(console, row, "the issued certificate was not kept").await;
            };
            let rollout_id = match console.store.rollout_of_renewal(renewal_id).await? {
                Some(id) => id,
                None => {
                    let request = RolloutRequest {
                        renewal_id,
                        targets: Some(vec![TargetChoice {
                            host_id: row.host_id,
                            endpoint_key: row.endpoint_key.clone(),
                        }]),
                        ..RolloutRequest::default()
                    };
                    match rollout_plan::create_on(
                        console,
                        &row.started_by,
                        &request,
                        Some(row.host_id),
                    )
                    .await
                    {
                        Ok(rollout) => rollout.id,
                        Err(Error::Invalid(reason) | Error::Conflict(reason)) => {
                            return fail(console, row, &reason).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            console
                .store
                .set_issuance(
                    row.id,
                    &[IssuanceState::Issued],
                    IssuanceState::RollingOut,
                    None,
                    Some(rollout_id),
                    &format!("rollout #{rollout_id} deploys it"),
                    console.now_secs(),
                )
                .await?;
            Ok(())
        }
        IssuanceState::RollingOut => {
            let Some(rollout_id) = row.rollout_id else {
                return fail(console, row, "its rollout was not kept").await;
            };
            let rollout = console.store.rollout(rollout_id).await?;
            match rollout.state {
                certfleet_store::RolloutState::Succeeded => {
                    let now = console.now_secs();
                    if console
                        .store
                        .set_issuance(
                            row.id,
                            &[IssuanceState::RollingOut],
                            IssuanceState::Verified,
                            None,
                            None,
                            &format!("rollout #{rollout_id} verified it on the live port"),
                            now,
                        )
                        .await?
                    {
                        console
                            .store
                            .audit(
                                now,
                                SCHEDULER,
                                AuditAction::RenewalVerified,
                                Some(&format!(
                                    "renewal of {} on {}",
                                    row.endpoint_key, row.hostname
                                )),
                                Some(&format!("rollout #{rollout_id}")),
                            )
                            .await?;
                    }
                    Ok(())
                }
                certfleet_store::RolloutState::Failed
                | certfleet_store::RolloutState::Cancelled => {
                    let reason = format!(
                        "rollout #{rollout_id} {}: {}",
                        rollout.state.label(),
                        if rollout.detail.is_empty() {
                            "see the rollout's page for each step"
                        } else {
                            &rollout.detail
                        }
                    );
                    fail(console, row, &reason).await
                }
                _ => Ok(()),
            }
        }
        IssuanceState::Verified | IssuanceState::Failed => Ok(()),
    }
}

/// Keeps the issued certificate as a renewal whose key stays on its host.
async fn record(
    console: &Console,
    row: &IssuanceRow,
    issued: &crate::issuing_ca::Issued,
) -> Result<(), Error> {
    let material = certfleet_certkit::read(issued.chain_pem.as_bytes(), None)
        .map_err(|e| Error::internal(format!("the issued certificate is unreadable: {e}")))?;
    let leaf = material
        .certificates
        .first()
        .ok_or_else(|| Error::internal("the issuing CA returned no certificate"))?
        .facts()
        .clone();
    let columns = super::renewal_columns::LeafColumns::of(&leaf);
    let sha256 = columns.sha256();
    let by = format!("{} ({})", row.started_by, row.source);
    let renewal_id = console
        .store
        .record_issued(
            row.id,
            &NewRenewal {
                source: row.source,
                key_agent_id: Some(&row.agent_id),
                pending_key: Some(&row.request_id),
                chain_pem: &issued.chain_pem,
                root_pem: &issued.ca_pem,
                uploaded_by: &by,
                uploaded_at: console.now_secs(),
                ..columns.renewal()
            },
            &format!("issued {sha256}"),
            console.now_secs(),
        )
        .await?;
    if let Some(renewal_id) = renewal_id {
        tracing::info!(host = %row.hostname, endpoint = %row.endpoint_key, renewal = renewal_id, "certificate issued for a key kept on the host");
        // On to the rollout in the same pass.
        let row = console.store.issuance(row.id).await?;
        Box::pin(step(console, &obtain::Sources::default(), &row)).await?;
    }
    Ok(())
}

/// One pass of the renewal scheduler: starts the renewals that are due and moves every
/// renewal under way on. Returns how many it started.
pub async fn pass(console: &Console) -> Result<usize, Error> {
    let now = console.now_secs();
    let uses = console.store.endpoint_uses().await?;
    let contested = rollout_plan::contested(console, &uses).await?;
    let latest: HashMap<(i64, String), IssuanceRow> = console
        .store
        .latest_issuances()
        .await?
        .into_iter()
        .map(|i| ((i.host_id, i.endpoint_key.clone()), i))
        .collect();
    let retry_after = console.config.renewals.retry_after_secs as i64;
    let sources = obtain::Sources::default();
    let mut started = 0;
    let mut seen = BTreeSet::new();
    for (u, policy) in under_policy(console, &uses) {
        if !seen.insert((u.host_id, u.endpoint_key.clone())) {
            continue;
        }
        let mut renews_at = policy.renews_at(u.not_before, u.not_after);
        if policy.source == RenewalSource::Acme && renews_at > now {
            renews_at = super::ari::renew_at(console, &sources, u, renews_at, now).await;
        }
        if renews_at > now {
            continue;
        }
        match latest.get(&(u.host_id, u.endpoint_key.clone())) {
            Some(last) if IssuanceState::ACTIVE.contains(&last.state) => continue,
            // Verified for this very certificate and the inventory has not caught up.
            Some(last) if last.state == IssuanceState::Verified && last.old_sha256 == u.sha256 => {
                continue;
            }
            Some(last)
                if last.state == IssuanceState::Failed
                    && last.old_sha256 == u.sha256
                    && now < retry_of(last, retry_after) =>
            {
                continue;
            }
            _ => {}
        }
        let contested_by = contested.get(&(u.host_id, u.endpoint_key.clone()));
        match begin(console, SCHEDULER, u, policy, contested_by).await {
            Ok(_) => started += 1,
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let active = console.store.active_issuances().await?;
    futures_util::stream::iter(active)
        .for_each_concurrent(AT_ONCE, |row| advance(console, &sources, row))
        .await;
    Ok(started)
}

/// "Renew now" on one endpoint: the same renewal as the scheduler's, started at once.
pub async fn renew_now(
    console: &Console,
    actor: &str,
    host_id: i64,
    endpoint_key: &str,
) -> Result<IssuanceRow, Error> {
    let uses = console.store.endpoint_uses().await?;
    let Some((u, policy)) = under_policy(console, &uses)
        .into_iter()
        .find(|(u, _)| u.host_id == host_id && u.endpoint_key == endpoint_key)
    else {
        return Err(Error::Invalid(format!(
            "host {host_id} has no endpoint {endpoint_key:?} under a renewal policy: add a \
             [[renewals.policy]] for one of its groups, or upload a renewal"
        )));
    };
    let contested = rollout_plan::contested(console, &uses).await?;
    let row = begin(
        console,
        actor,
        u,
        policy,
        contested.get(&(u.host_id, u.endpoint_key.clone())),
    )
    .await?;
    console.renewal_wake.notify_one();
    Ok(row)
}
