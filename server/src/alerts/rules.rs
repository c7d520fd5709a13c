//! The alert rules: certificates crossing their expiry thresholds, error findings, agents
//! gone silent, client machines that do not trust a server they must, and failed or
//! rolled-back deployments; each raised once, with its email (or digest line) written in
//! the same transaction.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use certfleet_store::{AlertAction, ErrorFindingRow, NewEmail};

use super::Alerts;
use super::digest::{certificate_name, expiry_line, send_digest};
use super::render::{self, Line};
use super::settings::AlertSettings;
use super::{DAY, base_url, effective, email_row};

/// Findings that the expiry alerts already cover.
const EXPIRY_CODES: &[&str] = &["expired", "expires_soon", "not_yet_valid"];

/// Checks every alert condition once at `now`, raising what is new.
pub async fn check(alerts: &Alerts, settings: &AlertSettings, now: i64) -> Result<()> {
    if !settings.enabled() {
        return Ok(());
    }
    let store = &alerts.store;
    let base = base_url(alerts, settings);
    let mut thresholds = settings.thresholds.clone();
    thresholds.sort_unstable();
    thresholds.dedup();
    let horizon = thresholds.last().copied().unwrap_or(30);
    let digest = settings.digest_minute().is_some();

    // Expiry thresholds: the nearest crossed one alerts, the farther ones are marked done
    // (a certificate first seen with 5 days left sends one alert, not four).
    for use_ in store.expiring_uses(now + horizon * DAY).await? {
        let recipients = settings.recipients_for(&use_.groups);
        if recipients.is_empty() {
            continue;
        }
        let base_key = format!("{}:{}:{}", use_.sha256, use_.host_id, use_.endpoint_key);
        let line = expiry_line(&use_, now);
        let immediate = |key: String, intro: &str| NewEmail {
            subject: render::expiry_subject(1, line.days_left.unwrap_or(0)),
            recipients: recipients.clone(),
            idempotency_key: key,
            ..email_row(render::email(
                &base,
                String::new(),
                intro,
                &[("".into(), vec![line.clone()])],
            ))
        };
        if use_.not_after <= now {
            let key = format!("expired:{base_key}");
            let mut email = immediate(key.clone(), "A certificate in use has expired.");
            email.subject = format!(
                "[certfleet] certificate expired: {}",
                certificate_name(&use_)
            );
            store
                .raise_alert(&key, now, AlertAction::Email(&email))
                .await?;
            continue;
        }
        let left = use_.not_after - now;
        let crossed: Vec<i64> = thresholds
            .iter()
            .copied()
            .filter(|t| left < t * DAY)
            .collect();
        let Some(&nearest) = crossed.first() else {
            continue;
        };
        let key = format!("expiry:{base_key}:{nearest}");
        let raised = if nearest <= 1 || !digest {
            let email = immediate(key.clone(), "A certificate in use is close to its expiry.");
            store
                .raise_alert(&key, now, AlertAction::Email(&email))
                .await?
        } else {
            store
                .raise_alert(
                    &key,
                    now,
                    AlertAction::Digest {
                        host_id: use_.host_id,
                        sha256: &use_.sha256,
                        endpoint: &use_.endpoint_key,
                        threshold: nearest,
                    },
                )
                .await?
        };
        if raised {
            for farther in &crossed[1..] {
                store
                    .raise_alert(
                        &format!("expiry:{base_key}:{farther}"),
                        now,
                        AlertAction::Silent,
                    )
                    .await?;
            }
        }
    }

    // New error findings, each once while it lasts; a host's new ones in one email.
    let mut present = HashSet::new();
    let mut by_host: BTreeMap<i64, Vec<(String, ErrorFindingRow)>> = BTreeMap::new();
    for finding in store.error_findings().await? {
        if EXPIRY_CODES.contains(&finding.code.as_str()) {
            continue;
        }
        let key = format!(
            "finding:{}:{}:{}",
            finding.host_id, finding.endpoint_key, finding.code
        );
        present.insert(key.clone());
        if !settings.recipients_for(&finding.groups).is_empty() {
            by_host
                .entry(finding.host_id)
                .or_default()
                .push((key, finding));
        }
    }
    for findings in by_host.into_values() {
        let keys: Vec<String> = findings.iter().map(|(k, _)| k.clone()).collect();
        let raised = store.raised_alerts(&keys).await?;
        let fresh: Vec<(String, ErrorFindingRow)> = findings
            .into_iter()
            .filter(|(k, _)| !raised.contains(k))
            .collect();
        if let Some(email) = findings_email(settings, &base, &fresh, now) {
            let keys: Vec<String> = fresh.into_iter().map(|(k, _)| k).collect();
            store.raise_alerts(&keys, now, &email).await?;
        }
    }
    store.clear_alert_keys("finding:", &present).await?;

    // Agents silent for too long, once per silence.
    for agent in store
        .offline_agents(now - settings.offline_after_minutes * 60)
        .await?
    {
        let recipients = settings.recipients_for(&agent.groups);
        if recipients.is_empty() {
            continue;
        }
        let key = format!("offline:{}:{}", agent.agent_id, agent.last_seen_at);
        let minutes = (now - agent.last_seen_at) / 60;
        let line = Line {
            host_id: agent.host_id,
            hostname: agent.hostname.clone(),
            endpoint: "certfleet agent".into(),
            certificate: None,
            not_after: None,
            days_left: None,
            fix: format!(
                "The agent has not been heard from for {minutes} minutes: check that the host is up and that certfleet-agent runs and can reach the console"
            ),
        };
        let email = NewEmail {
            idempotency_key: key.clone(),
            recipients,
            ..email_row(render::email(
                &base,
                format!("[certfleet] agent offline: {}", agent.hostname),
                "An agent stopped reporting.",
                &[("Offline".into(), vec![line])],
            ))
        };
        store
            .raise_alert(&key, now, AlertAction::Email(&email))
            .await?;
    }

    // Client machines that do not trust a server they must, once per verdict while it lasts.
    let mut present = HashSet::new();
    for check in store.untrusted_checks().await? {
        let key = format!(
            "trust:{}:{}:{}:{}",
            check.host_id, check.endpoint, check.server_name, check.verdict
        );
        present.insert(key.clone());
        let recipients = settings.recipients_for(&check.groups);
        if recipients.is_empty() {
            continue;
        }
        let line = Line {
            host_id: check.host_id,
            hostname: check.hostname.clone(),
            endpoint: format!("{} ({})", check.server_name, check.endpoint),
            certificate: None,
            not_after: None,
            days_left: None,
            fix: check.reason.clone(),
        };
        let email = NewEmail {
            // The verdict's start: trust lost again later is its own email.
            idempotency_key: format!("{key}@{}", check.since),
            recipients,
            ..email_row(render::email(
                &base,
                format!(
                    "[certfleet] {} does not trust {}: {}",
                    check.hostname,
                    check.server_name,
                    check.verdict.label()
                ),
                "A client machine does not trust a server it must: its connections to it fail.",
                &[("Not trusted".into(), vec![line])],
            ))
        };
        store
            .raise_alert(&key, now, AlertAction::Email(&email))
            .await?;
    }
    store.clear_alert_keys("trust:", &present).await?;

    if let Some(minute) = settings.digest_minute() {
        let today = now.div_euclid(DAY) * DAY;
        if now >= today + minute * 60 {
            send_digest(alerts, settings, now, &base, horizon).await?;
        }
    }
    Ok(())
}

/// One email for a host's new error findings, with each finding's fix.
fn findings_email(
    settings: &AlertSettings,
    base: &str,
    fresh: &[(String, ErrorFindingRow)],
    now: i64,
) -> Option<NewEmail> {
    let (first_key, first) = fresh.first()?;
    let subject = match fresh {
        [_] => format!(
            "[certfleet] {} on {}: {}",
            first.code, first.hostname, first.endpoint_name
        ),
        _ => {
            let mut codes: Vec<&str> = fresh.iter().map(|(_, f)| f.code.as_str()).collect();
            codes.sort_unstable();
            codes.dedup();
            format!(
                "[certfleet] {} problems on {}: {}",
                fresh.len(),
                first.hostname,
                codes.join(", ")
            )
        }
    };
    let lines: Vec<Line> = fresh
        .iter()
        .map(|(_, f)| Line {
            host_id: f.host_id,
            hostname: f.hostname.clone(),
            endpoint: format!("{} ({})", f.endpoint_name, f.code),
            certificate: None,
            not_after: None,
            days_left: None,
            fix: f.message.clone(),
        })
        .collect();
    let intro = if fresh.len() == 1 {
        "A new problem was found on an endpoint."
    } else {
        "New problems were found on a host's endpoints."
    };
    // A key comes back after a fix; each time it is raised is its own email.
    Some(NewEmail {
        idempotency_key: format!("{first_key}@{now}"),
        recipients: settings.recipients_for(&first.groups),
        ..email_row(render::email(
            base,
            subject,
            intro,
            &[(String::new(), lines)],
        ))
    })
}

/// A failed or rolled-back deployment, mailed at once (once per target).
#[derive(Debug)]
pub struct RolloutProblem<'a> {
    pub rollout_id: i64,
    pub target_id: i64,
    pub host_id: i64,
    pub hostname: &'a str,
    pub groups: &'a [String],
    pub endpoint: &'a str,
    /// "rolled back" or "failed".
    pub outcome: certfleet_store::TargetState,
    pub detail: &'a str,
}

pub async fn rollout_problem(alerts: &Alerts, problem: &RolloutProblem<'_>) -> Result<()> {
    mail_problem(
        alerts,
        &format!("rollout:{}:{}", problem.rollout_id, problem.target_id),
        problem.groups,
        |base| Line {
            host_id: problem.host_id,
            hostname: problem.hostname.to_owned(),
            endpoint: problem.endpoint.to_owned(),
            certificate: None,
            not_after: None,
            days_left: None,
            fix: format!(
                "{}\nSee {base}/rollouts/{} for every step; fix the cause and start a new rollout.",
                problem.detail, problem.rollout_id
            ),
        },
        format!(
            "[certfleet] rollout {}: {} {} on {}",
            problem.rollout_id,
            problem.endpoint,
            problem.outcome.label(),
            problem.hostname
        ),
        "A deployment of a renewed certificate did not go through.",
    )
    .await
}

/// A renewal the console could not obtain (refused by policy, the host or the CA) or whose
/// rollout did not verify, mailed at once (once per renewal).
#[derive(Debug)]
pub struct RenewalProblem<'a> {
    pub issuance_id: i64,
    pub host_id: i64,
    pub hostname: &'a str,
    pub groups: &'a [String],
    pub endpoint: &'a str,
    pub detail: &'a str,
}

pub async fn renewal_problem(alerts: &Alerts, problem: &RenewalProblem<'_>) -> Result<()> {
    mail_problem(
        alerts,
        &format!("renewal:{}", problem.issuance_id),
        problem.groups,
        |base| Line {
            host_id: problem.host_id,
            hostname: problem.hostname.to_owned(),
            endpoint: problem.endpoint.to_owned(),
            certificate: None,
            not_after: None,
            days_left: None,
            fix: format!(
                "{}\nThe certificate in use stays in place. See {base}/hosts/{} for the \
                 endpoint; fix the cause and use Renew now, or wait for the next try.",
                problem.detail, problem.host_id
            ),
        },
        format!(
            "[certfleet] renewal of {} on {} failed",
            problem.endpoint, problem.hostname
        ),
        "certfleet could not renew a certificate by itself.",
    )
    .await
}

/// One email about one problem, raised once under `key`, to the groups' recipients.
async fn mail_problem(
    alerts: &Alerts,
    key: &str,
    groups: &[String],
    line: impl FnOnce(&str) -> Line,
    subject: String,
    intro: &str,
) -> Result<()> {
    let settings = effective(alerts).await;
    let recipients = settings.recipients_for(groups);
    if recipients.is_empty() {
        return Ok(());
    }
    let base = base_url(alerts, &settings);
    let line = line(&base);
    let email = NewEmail {
        idempotency_key: key.to_owned(),
        recipients,
        ..email_row(render::email(
            &base,
            subject,
            intro,
            &[(String::new(), vec![line])],
        ))
    };
    alerts
        .store
        .raise_alert(key, alerts.now_secs(), AlertAction::Email(&email))
        .await?;
    Ok(())
}
