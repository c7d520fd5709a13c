//! Alerts by email: certificates crossing their expiry thresholds (once per certificate,
//! endpoint and threshold; the nearer ones at once, the rest in a daily digest), error
//! findings, agents gone silent. Every email goes through the outbox, written in the same
//! transaction as the alert that causes it, and is sent with retries by `send_due`.

pub mod mailer;
pub mod render;
pub mod settings;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Result;
use certfleet_store::{AlertAction, ErrorFindingRow, ExpiringUse, NewEmail};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::state::AppState;
use render::{Line, RENEW};
use settings::AlertSettings;

const DAY: i64 = 86_400;
pub const SETTINGS: &str = "alerts";
pub const PASSWORD: &str = "alerts.smtp_password";

/// Findings that the expiry alerts already cover.
const EXPIRY_CODES: &[&str] = &["expired", "expires_soon", "not_yet_valid"];

/// The settings in force: what an admin saved, else the configuration file's.
pub async fn effective(state: &AppState) -> AlertSettings {
    match state.store.setting(SETTINGS).await {
        Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::error!(
                "the saved alert settings are unreadable ({e}); using the config file's"
            );
            state.config.alerts.clone()
        }),
        _ => state.config.alerts.clone(),
    }
}

/// The SMTP password: saved (sealed) on the settings page, else from the configuration.
pub async fn password(state: &AppState, settings: &AlertSettings) -> Option<Zeroizing<String>> {
    if let Ok(Some(sealed)) = state.store.setting(PASSWORD).await
        && let Ok(sealed) = serde_json::from_str::<String>(&sealed)
    {
        match state.kek.open(&sealed) {
            Ok(bytes) => return Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => tracing::error!("{e}"),
        }
    }
    if let Some(p) = &settings.smtp.password {
        return Some(Zeroizing::new(p.clone()));
    }
    let path = settings.smtp.password_file.as_ref()?;
    let text = Zeroizing::new(std::fs::read_to_string(path).ok()?);
    Some(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()))
}

/// Saves settings from the settings page; a new password (if given) is sealed.
pub async fn save(
    state: &AppState,
    settings: &AlertSettings,
    new_password: Option<&str>,
) -> Result<(), String> {
    settings.check()?;
    let json = serde_json::to_string(settings).map_err(|e| e.to_string())?;
    let now = state.now_secs();
    state
        .store
        .set_setting(SETTINGS, &json, now)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(password) = new_password.filter(|p| !p.is_empty()) {
        let sealed = state
            .kek
            .seal(password.as_bytes())
            .map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&sealed).map_err(|e| e.to_string())?;
        state
            .store
            .set_setting(PASSWORD, &json, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Sends a test email right away (not through the outbox) and returns the server's answer.
pub async fn test_email(state: &AppState, to: &str) -> Result<String, String> {
    let settings = effective(state).await;
    let password = password(state, &settings).await;
    let key = format!("test:{}:{to}", state.now_secs());
    let base = base_url(state, &settings);
    let text = format!(
        "This is a test email from certfleet.\n\nIf you can read it, alerts will reach you.\nConsole: {base}/\n"
    );
    let html = format!(
        "<p>This is a test email from certfleet.</p><p>If you can read it, alerts will reach you.</p><p><a href=\"{base}/\">Open the console</a></p>"
    );
    let to = [to.to_owned()];
    mailer::send(
        &settings.smtp,
        password,
        &mailer::Outgoing {
            message_id: &mailer::message_id(&key),
            to: &to,
            subject: "[certfleet] test email",
            text: &text,
            html: &html,
        },
    )
    .await
}

fn base_url(state: &AppState, settings: &AlertSettings) -> String {
    settings
        .base_url
        .clone()
        .unwrap_or_else(|| state.ui_url())
        .trim_end_matches('/')
        .to_owned()
}

fn endpoint_label(use_: &ExpiringUse) -> String {
    match &use_.address {
        Some(address) => format!("{} ({address})", use_.endpoint_name),
        None => use_.endpoint_name.clone(),
    }
}

fn certificate_name(use_: &ExpiringUse) -> String {
    use_.names
        .first()
        .cloned()
        .unwrap_or_else(|| use_.subject.clone())
}

fn expiry_line(use_: &ExpiringUse, now: i64) -> Line {
    Line {
        host_id: use_.host_id,
        hostname: use_.hostname.clone(),
        endpoint: endpoint_label(use_),
        certificate: Some((certificate_name(use_), use_.sha256.clone())),
        not_after: Some(use_.not_after),
        days_left: Some((use_.not_after - now).div_euclid(DAY)),
        fix: RENEW.into(),
    }
}

/// Checks every alert condition once at `now`, raising what is new.
pub async fn check(state: &AppState, settings: &AlertSettings, now: i64) -> Result<()> {
    if !settings.enabled() {
        return Ok(());
    }
    let store = &state.store;
    let base = base_url(state, settings);
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
            ..from(render::email(
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
            ..from(render::email(
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

    if let Some(minute) = settings.digest_minute() {
        let today = now.div_euclid(DAY) * DAY;
        if now >= today + minute * 60 {
            send_digest(state, settings, now, &base, horizon).await?;
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
        ..from(render::email(
            base,
            subject,
            intro,
            &[(String::new(), lines)],
        ))
    })
}

fn from(rendered: render::Rendered) -> NewEmail {
    NewEmail {
        idempotency_key: String::new(),
        recipients: Vec::new(),
        subject: rendered.subject,
        text_body: rendered.text,
        html_body: rendered.html,
    }
}

/// Today's digest: every threshold crossing waiting, grouped by urgency, one email per set
/// of recipients. Items whose certificate is no longer used there are dropped.
async fn send_digest(
    state: &AppState,
    settings: &AlertSettings,
    now: i64,
    base: &str,
    horizon: i64,
) -> Result<()> {
    let store = &state.store;
    let items = store.pending_digest_items().await?;
    if items.is_empty() {
        return Ok(());
    }
    let uses: HashMap<(String, i64, String), ExpiringUse> = store
        .expiring_uses(now + horizon * DAY)
        .await?
        .into_iter()
        .map(|u| ((u.sha256.clone(), u.host_id, u.endpoint_key.clone()), u))
        .collect();
    let mut by_recipients: BTreeMap<Vec<String>, Vec<(i64, ExpiringUse)>> = BTreeMap::new();
    let mut gone = Vec::new();
    for item in items {
        match uses.get(&(item.sha256.clone(), item.host_id, item.endpoint.clone())) {
            Some(use_) => {
                let recipients = settings.recipients_for(&use_.groups);
                if recipients.is_empty() {
                    gone.push(item.id);
                } else {
                    by_recipients
                        .entry(recipients)
                        .or_default()
                        .push((item.id, use_.clone()));
                }
            }
            None => gone.push(item.id),
        }
    }
    store.drop_digest_items(&gone, now).await?;
    let date = render_date(now);
    for (recipients, entries) in by_recipients {
        let mut buckets: BTreeMap<i64, Vec<Line>> = BTreeMap::new();
        let mut thresholds = settings.thresholds.clone();
        thresholds.sort_unstable();
        for (_, use_) in &entries {
            let left = use_.not_after - now;
            let bucket = if left <= 0 {
                0
            } else {
                thresholds
                    .iter()
                    .copied()
                    .find(|t| left < t * DAY)
                    .unwrap_or(horizon)
            };
            buckets
                .entry(bucket)
                .or_default()
                .push(expiry_line(use_, now));
        }
        let sections: Vec<(String, Vec<Line>)> = buckets
            .into_iter()
            .map(|(bucket, mut lines)| {
                lines.sort_by_key(|l| l.not_after);
                let title = if bucket == 0 {
                    "Expired".to_owned()
                } else {
                    format!("Within {bucket} days")
                };
                (title, lines)
            })
            .collect();
        let soonest = entries
            .iter()
            .map(|(_, u)| (u.not_after - now).div_euclid(DAY))
            .min()
            .unwrap_or(0);
        let recipients_key = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(recipients.join(",").as_bytes()))[..16].to_owned()
        };
        let email = NewEmail {
            idempotency_key: format!("digest:{date}:{recipients_key}"),
            recipients,
            ..from(render::email(
                base,
                format!(
                    "{} (daily digest)",
                    render::expiry_subject(entries.len(), soonest)
                ),
                "These certificates crossed an expiry threshold since the last digest.",
                &sections,
            ))
        };
        let ids: Vec<i64> = entries.iter().map(|(id, _)| *id).collect();
        store.queue_digest(&email, &ids, now).await?;
    }
    Ok(())
}

fn render_date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// Tries every email that is due; failures wait longer each time (30 s doubling, at most an
/// hour) and are retried until they go through.
pub async fn send_due(state: &AppState, settings: &AlertSettings, now: i64) -> Result<usize> {
    let due = state.store.due_emails(now, 20).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let password = password(state, settings).await;
    let mut sent = 0;
    for email in due {
        let outgoing = mailer::Outgoing {
            message_id: &mailer::message_id(&email.idempotency_key),
            to: &email.recipients,
            subject: &email.subject,
            text: &email.text_body,
            html: &email.html_body,
        };
        match mailer::send(&settings.smtp, password.clone(), &outgoing).await {
            Ok(answer) => {
                tracing::info!(email = %email.idempotency_key, "sent: {answer}");
                state.store.mark_email_sent(email.id, now).await?;
                sent += 1;
            }
            Err(e) => {
                let wait = (30i64 << email.attempts.clamp(0, 7)).min(3600);
                tracing::warn!(email = %email.idempotency_key, attempt = email.attempts + 1, "not sent ({e}); next try in {wait} s");
                state
                    .store
                    .mark_email_failed(email.id, &e, now + wait)
                    .await?;
            }
        }
    }
    Ok(sent)
}

/// The background loop: checks conditions and sends the outbox on their intervals.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut last_check = i64::MIN;
    let mut last_send = i64::MIN;
    loop {
        let settings = effective(&state).await;
        let now = state.now_secs();
        if now.saturating_sub(last_check) >= settings.check_secs as i64 {
            last_check = now;
            if let Err(e) = check(&state, &settings, now).await {
                tracing::error!("checking alerts failed: {e:#}");
            }
        }
        if now.saturating_sub(last_send) >= settings.send_secs as i64 {
            last_send = now;
            if let Err(e) = send_due(&state, &settings, now).await {
                tracing::error!("sending the outbox failed: {e:#}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
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

pub async fn rollout_problem(state: &AppState, problem: &RolloutProblem<'_>) -> Result<()> {
    let settings = effective(state).await;
    let recipients = settings.recipients_for(problem.groups);
    if recipients.is_empty() {
        return Ok(());
    }
    let base = base_url(state, &settings);
    let key = format!("rollout:{}:{}", problem.rollout_id, problem.target_id);
    let line = Line {
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
    };
    let email = NewEmail {
        idempotency_key: key.clone(),
        recipients,
        ..from(render::email(
            &base,
            format!(
                "[certfleet] rollout {}: {} {} on {}",
                problem.rollout_id,
                problem.endpoint,
                problem.outcome.label(),
                problem.hostname
            ),
            "A deployment of a renewed certificate did not go through.",
            &[(String::new(), vec![line])],
        ))
    };
    state
        .store
        .raise_alert(&key, state.now_secs(), AlertAction::Email(&email))
        .await?;
    Ok(())
}
