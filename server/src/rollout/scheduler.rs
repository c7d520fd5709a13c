//! Drives rollouts from the database, so a console restart resumes each where it was:
//! a scheduled one starts at its time; a running one sends the current wave's deploy jobs
//! to agents that are connected and inside their window, re-sends jobs that went quiet (an
//! agent answers a job id it knows from its journal, so nothing runs twice), moves to the
//! next wave when a wave is done, and stops when failures reach the threshold.

use certfleet_store::AuditAction;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::events::LiveEvent;
use anyhow::Result;
use certfleet_proto::{
    ConsoleMessage, DeployOutcome, DeployStep, Job, JobAction, JobProgress, JobResult, Secret,
};
use certfleet_store::{RolloutRow, RolloutState, TargetAction, TargetRow, TargetState};
use tokio::sync::watch;

use super::Rollouts;

/// A job without news for this long is sent again.
const RESEND_AFTER_SECS: i64 = 30;
/// An agent still offline this long after its wave began is skipped (when its groups have
/// no window that would say so sooner).
const OFFLINE_GRACE_SECS: i64 = 24 * 3600;

const IN_FLIGHT: &[TargetState] = TargetState::IN_FLIGHT;

/// Counted against the rollout's failure limit: a failure on a host, or a client left out
/// of its trust step (it will not trust the server once it switches).
fn counts_as_failure(t: &TargetRow) -> bool {
    t.state.is_failure() || (t.action == TargetAction::Trust && t.state == TargetState::Skipped)
}

/// The deterministic job id of a target: the same on every send, so the agent's journal
/// recognises a repeat.
fn job_id(target: &TargetRow) -> String {
    format!("rollout-{}-target-{}", target.rollout_id, target.id)
}

/// One pass over every active rollout.
pub async fn tick(rollouts: &Rollouts) -> Result<()> {
    let now = rollouts.now();
    let windows = rollouts.store.maintenance_windows().await?;
    for rollout in rollouts.store.active_rollouts().await? {
        if rollout.state == RolloutState::Scheduled {
            if now.unix_timestamp() < rollout.start_at {
                continue;
            }
            if rollouts
                .store
                .set_rollout_state(
                    rollout.id,
                    &[RolloutState::Scheduled],
                    RolloutState::Running,
                    Some("running"),
                    now.unix_timestamp(),
                )
                .await?
            {
                rollouts
                    .store
                    .audit(
                        now.unix_timestamp(),
                        "scheduler",
                        AuditAction::RolloutStarted,
                        Some(&format!("rollout #{}", rollout.id)),
                        None,
                    )
                    .await?;
                publish(rollouts, rollout.id);
            }
        }
        drive(rollouts, &rollout, &windows).await?;
    }
    Ok(())
}

fn publish(rollouts: &Rollouts, rollout_id: i64) {
    rollouts.publish(LiveEvent::RolloutChanged { rollout_id });
}

async fn drive(
    rollouts: &Rollouts,
    rollout: &RolloutRow,
    windows: &[certfleet_store::WindowRow],
) -> Result<()> {
    let now = rollouts.now();
    let secs = now.unix_timestamp();
    let began = std::time::Instant::now();
    let targets = rollouts.store.rollout_targets(rollout.id).await?;
    let read = began.elapsed();
    let mut failures = targets.iter().filter(|t| counts_as_failure(t)).count() as i64;
    let in_flight = targets.iter().any(|t| IN_FLIGHT.contains(&t.state));

    if failures >= rollout.max_failures {
        let reason = format!(
            "stopped: {failures} step(s) failed, were rolled back or left a client that must \
             trust the server out (the limit is {})",
            rollout.max_failures
        );
        for t in targets.iter().filter(|t| t.state == TargetState::Pending) {
            rollouts
                .store
                .set_target_state(
                    t.id,
                    &[TargetState::Pending],
                    TargetState::Cancelled,
                    None,
                    &reason,
                    secs,
                )
                .await?;
        }
        if !in_flight
            && rollouts
                .store
                .set_rollout_state(
                    rollout.id,
                    &[RolloutState::Running],
                    RolloutState::Failed,
                    Some(&reason),
                    secs,
                )
                .await?
        {
            rollouts
                .store
                .audit(
                    secs,
                    "scheduler",
                    AuditAction::RolloutFailed,
                    Some(&format!("rollout #{}", rollout.id)),
                    Some(&reason),
                )
                .await?;
            publish(rollouts, rollout.id);
        }
        return Ok(());
    }

    let Some(wave) = targets
        .iter()
        .filter(|t| !t.state.is_final())
        .map(|t| t.wave)
        .min()
    else {
        // A cleanup rollout has no deployment: its untrust steps are what it did.
        let any_deploy = targets.iter().any(|t| t.action == TargetAction::Deploy);
        let deploys = || {
            targets
                .iter()
                .filter(move |t| !any_deploy || t.action == TargetAction::Deploy)
        };
        let verified = deploys()
            .filter(|t| t.state == TargetState::Verified)
            .count();
        let skipped = deploys()
            .filter(|t| t.state == TargetState::Skipped)
            .count();
        let mut detail = if skipped == 0 {
            format!("{verified} endpoint(s) verified")
        } else {
            format!("{verified} endpoint(s) verified, {skipped} skipped")
        };
        let left_out: Vec<&str> = targets
            .iter()
            .filter(|t| t.action == TargetAction::Trust && t.state != TargetState::Verified)
            .map(|t| t.hostname.as_str())
            .collect();
        if !left_out.is_empty() {
            detail.push_str(&format!(
                "; not yet trusting the new certificate: {}",
                left_out.join(", ")
            ));
        }
        // Nothing renewed at all is not a success, whatever the reason.
        let end = if verified == 0 {
            RolloutState::Failed
        } else {
            RolloutState::Succeeded
        };
        if rollouts
            .store
            .set_rollout_state(
                rollout.id,
                &[RolloutState::Running],
                end,
                Some(&detail),
                secs,
            )
            .await?
        {
            rollouts
                .store
                .audit(
                    secs,
                    "scheduler",
                    if end == RolloutState::Succeeded {
                        AuditAction::RolloutSucceeded
                    } else {
                        AuditAction::RolloutFailed
                    },
                    Some(&format!("rollout #{}", rollout.id)),
                    Some(&detail),
                )
                .await?;
            publish(rollouts, rollout.id);
            // A renewal the console obtained waits on its rollout's end.
            rollouts.renewal_wake.notify_one();
        }
        return Ok(());
    };

    let mut groups_of: HashMap<i64, Vec<String>> = HashMap::new();
    let wave_began = targets
        .iter()
        .filter(|t| t.wave < wave)
        .map(|t| t.updated_at)
        .max()
        .unwrap_or(rollout.started_at.unwrap_or(rollout.start_at));
    let mut to_send: Vec<&TargetRow> = Vec::new();
    let mut changed = false;
    for t in targets.iter().filter(|t| t.wave == wave) {
        let resend = IN_FLIGHT.contains(&t.state) && secs - t.updated_at >= RESEND_AFTER_SECS;
        if t.state != TargetState::Pending && !resend {
            continue;
        }
        let online = rollouts.registry.is_connected(&t.agent_id);
        if t.state == TargetState::Pending {
            // Groups matter only when some group has a window.
            if !windows.is_empty()
                && let std::collections::hash_map::Entry::Vacant(slot) = groups_of.entry(t.host_id)
            {
                slot.insert(rollouts.store.host_groups(t.host_id).await?);
            }
            let groups = groups_of.get(&t.host_id).map(Vec::as_slice).unwrap_or(&[]);
            let closed = super::windows::closed(windows, groups, now);
            if !online {
                // Where a target's step waits for its host, or is skipped, and why.
                let (to, reason) = if t.action == TargetAction::Trust {
                    // A client's trust step does not wait for a day: it is skipped (counted
                    // against the failure limit) or, where that would reach the limit, blocks.
                    if failures + 1 < rollout.max_failures {
                        failures += 1;
                        (
                            TargetState::Skipped,
                            format!(
                                "skipped: the client was offline when its trust step came; it will \
                                 not trust {} once the server switches, until it is back and made to \
                                 trust the new certificate (counted against the failure limit of {})",
                                t.endpoint_key, rollout.max_failures
                            ),
                        )
                    } else {
                        (
                            TargetState::Pending,
                            format!(
                                "waiting: the client is offline, and leaving it out would reach the \
                                 rollout's failure limit ({}); the server switches once it has trusted \
                                 the new certificate",
                                rollout.max_failures
                            ),
                        )
                    }
                } else {
                    let has_window = windows.iter().any(|w| groups.contains(&w.group_name));
                    let reason = if has_window && closed.is_some() {
                        Some(
                            "skipped: the agent was offline for the whole of its maintenance window"
                                .to_owned(),
                        )
                    } else if secs - wave_began >= OFFLINE_GRACE_SECS {
                        Some(format!(
                            "skipped: the agent stayed offline for {} hours after its turn came",
                            OFFLINE_GRACE_SECS / 3600
                        ))
                    } else {
                        None
                    };
                    // Only skip once the window it was waiting for has passed or the grace is
                    // over; until then it gets its step when it returns, and says so.
                    match reason.filter(|_| secs > wave_began) {
                        Some(reason) => (TargetState::Skipped, reason),
                        None => (
                            TargetState::Pending,
                            format!(
                                "waiting: the agent is offline; it gets its step when it connects \
                                 again (skipped if it stays offline for {} hours)",
                                OFFLINE_GRACE_SECS / 3600
                            ),
                        ),
                    }
                };
                if t.detail != reason
                    && rollouts
                        .store
                        .set_target_state(t.id, &[TargetState::Pending], to, None, &reason, secs)
                        .await?
                {
                    changed = true;
                }
                continue;
            }
            if closed.is_some() {
                continue;
            }
        } else if !online {
            continue;
        }
        to_send.push(t);
    }
    if !to_send.is_empty() {
        let renewal = rollouts.store.renewal(rollout.renewal_id).await?;
        // The key is opened only for a deployment: a client's trust step carries none, and
        // a key made on its host stays there (the job names it instead).
        let key_pem = if renewal.pending_key.is_none()
            && to_send.iter().any(|t| t.action == TargetAction::Deploy)
        {
            let sealed = rollouts
                .store
                .renewal_sealed_key(rollout.renewal_id)
                .await?;
            let der = rollouts.kek.open(&sealed)?;
            let key = certfleet_certkit::PrivateKey::from_pkcs8_der(&der)?;
            Some(Secret::new(
                certfleet_certkit::write::pkcs8_pem(&key).to_string(),
            ))
        } else {
            None
        };
        // A renewal whose key one host keeps goes to that host only (the plan offers it to
        // no other; this holds even if a target was written some other way).
        let to_send: Vec<&TargetRow> = to_send
            .into_iter()
            .filter(|t| {
                t.action != TargetAction::Deploy
                    || renewal
                        .key_agent_id
                        .as_ref()
                        .is_none_or(|keeper| *keeper == t.agent_id)
            })
            .collect();
        // Recorded before they are sent, in one transaction: a crash in between re-sends
        // the same job ids.
        let sends: Vec<(i64, String, bool)> = to_send
            .iter()
            .map(|t| (t.id, job_id(t), t.state == TargetState::Pending))
            .collect();
        let prepared = began.elapsed();
        let recorded: HashSet<i64> = rollouts
            .store
            .mark_targets_sent(&sends, secs)
            .await?
            .into_iter()
            .collect();
        let marked = began.elapsed();
        let count = to_send.len();
        for t in to_send {
            if !recorded.contains(&t.id) {
                continue;
            }
            let id = job_id(t);
            let action = match (t.action, &key_pem, &renewal.pending_key) {
                (TargetAction::Deploy, key_pem, pending_key)
                    if key_pem.is_some() || pending_key.is_some() =>
                {
                    JobAction::Deploy {
                        endpoint: t.endpoint_key.clone(),
                        chain_pem: renewal.chain_pem.clone(),
                        key_pem: key_pem.clone(),
                        sha256: renewal.sha256.clone(),
                        pending_key: pending_key.clone(),
                    }
                }
                // With the upload's root: it may be what the client must trust.
                (TargetAction::Trust, _, _) => JobAction::Trust {
                    endpoint: t.endpoint_key.clone(),
                    chain_pem: format!("{}{}", renewal.chain_pem, renewal.root_pem),
                    sha256: t.trust_sha256.clone().unwrap_or_default(),
                },
                (TargetAction::Untrust, _, _) => JobAction::Untrust {
                    endpoint: t.endpoint_key.clone(),
                    sha256: t.trust_sha256.clone().unwrap_or_default(),
                },
                (TargetAction::Deploy, _, _) => continue,
            };
            let frame = certfleet_proto::encode(
                &uuid::Uuid::new_v4().to_string(),
                &ConsoleMessage::Job(Job {
                    job_id: id.clone(),
                    action,
                }),
            );
            if rollouts.registry.try_send(&t.agent_id, frame) {
                tracing::debug!(rollout = rollout.id, job = %id, host = %t.hostname, endpoint = %t.endpoint_key, "deploy job sent");
            }
            changed = true;
        }
        // Where a wave's time goes, for the fan-out bench and for a slow rollout.
        tracing::info!(
            rollout = rollout.id,
            jobs = count,
            targets_read_ms = read.as_millis() as u64,
            prepared_ms = prepared.as_millis() as u64,
            recorded_ms = marked.as_millis() as u64,
            queued_ms = began.elapsed().as_millis() as u64,
            "rollout jobs sent"
        );
    }
    if changed {
        publish(rollouts, rollout.id);
    }
    Ok(())
}

/// Progress from an agent: the target's step and coarse state, live in the UI.
pub(super) async fn on_progress(
    rollouts: &Rollouts,
    agent_id: &str,
    progress: &JobProgress,
) -> Result<()> {
    let Some(target) = rollouts.store.target_by_job(&progress.job_id).await? else {
        return Ok(());
    };
    if target.agent_id != agent_id {
        tracing::warn!(agent = %agent_id, job = %progress.job_id, "progress for another agent's job ignored");
        return Ok(());
    }
    let coarse = match progress.step {
        DeployStep::Stage | DeployStep::Apply => TargetState::Preflighted,
        DeployStep::Check | DeployStep::Restart | DeployStep::Verify | DeployStep::Rollback => {
            TargetState::Applied
        }
        DeployStep::Queued
        | DeployStep::Running
        | DeployStep::Preflight
        | DeployStep::Committed
        | DeployStep::Other => target.state,
    };
    let step = format!("{}: {}", progress.step, progress.detail);
    let step: String = step.chars().take(2000).collect();
    if rollouts
        .store
        .set_target_step(&progress.job_id, coarse, &step, rollouts.now_secs())
        .await?
    {
        publish(rollouts, target.rollout_id);
    }
    Ok(())
}

/// A deployment's result: the target ends verified, rolled back or failed; the scheduler
/// then moves on (or stops). A failure is mailed at once.
pub(super) async fn on_result(
    rollouts: &Rollouts,
    agent_id: &str,
    result: &JobResult,
) -> Result<()> {
    if rollouts.pending_checks.answer(agent_id, result) {
        return Ok(());
    }
    let Some(target) = rollouts.store.target_by_job(&result.job_id).await? else {
        return Ok(());
    };
    if target.agent_id != agent_id {
        tracing::warn!(agent = %agent_id, job = %result.job_id, "a result for another agent's job ignored");
        return Ok(());
    }
    let to = match result.outcome {
        Some(DeployOutcome::Committed) if result.ok => TargetState::Verified,
        Some(DeployOutcome::RolledBack) => TargetState::RolledBack,
        _ => TargetState::Failed,
    };
    let detail: String = result.detail.chars().take(8000).collect();
    let now = rollouts.now_secs();
    if !rollouts
        .store
        .set_target_state(target.id, IN_FLIGHT, to, None, &detail, now)
        .await?
    {
        return Ok(());
    }
    rollouts
        .store
        .audit(
            now,
            &format!("agent:{agent_id}"),
            match to {
                TargetState::Verified => AuditAction::TargetVerified,
                TargetState::RolledBack => AuditAction::TargetRolledBack,
                _ => AuditAction::TargetFailed,
            },
            Some(&format!(
                "rollout #{} {} {}",
                target.rollout_id, target.hostname, target.endpoint_key
            )),
            Some(&detail),
        )
        .await?;
    if to != TargetState::Verified {
        let groups = rollouts
            .store
            .host_groups(target.host_id)
            .await
            .unwrap_or_default();
        crate::alerts::rollout_problem(
            &rollouts.alerts,
            &crate::alerts::RolloutProblem {
                rollout_id: target.rollout_id,
                target_id: target.id,
                host_id: target.host_id,
                hostname: &target.hostname,
                groups: &groups,
                endpoint: &target.endpoint_name,
                outcome: to,
                detail: &detail,
            },
        )
        .await?;
    }
    // The agent rescans after a change; ask for it now so the dashboard shows the new
    // certificate without waiting for the next scan.
    let rescan = certfleet_proto::encode(
        &uuid::Uuid::new_v4().to_string(),
        &ConsoleMessage::Job(Job {
            job_id: format!("{}-rescan", result.job_id),
            action: JobAction::Rescan,
        }),
    );
    let _ = rollouts.registry.try_send(agent_id, rescan);
    publish(rollouts, target.rollout_id);
    rollouts.rollout_wake.notify_one();
    Ok(())
}

/// The scheduler's loop: a pass every second, or at once when woken.
pub async fn run(rollouts: Rollouts, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&rollouts).await {
            tracing::error!("the rollout scheduler failed a pass: {e:#}");
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = rollouts.rollout_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
