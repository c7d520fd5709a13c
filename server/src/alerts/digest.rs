//! The daily digest: every threshold crossing waiting, grouped by urgency, one email per
//! set of recipients.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use certfleet_store::{ExpiringUse, NewEmail};

use super::Alerts;
use super::render::{self, Line, RENEW};
use super::settings::AlertSettings;
use super::{DAY, email_row};

/// Today's digest: every threshold crossing waiting, grouped by urgency, one email per set
/// of recipients. Items whose certificate is no longer used there are dropped.
pub(super) async fn send_digest(
    alerts: &Alerts,
    settings: &AlertSettings,
    now: i64,
    base: &str,
    horizon: i64,
) -> Result<()> {
    let store = &alerts.store;
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
            ..email_row(render::email(
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

fn endpoint_label(use_: &ExpiringUse) -> String {
    match &use_.address {
        Some(address) => format!("{} ({address})", use_.endpoint_name),
        None => use_.endpoint_name.clone(),
    }
}

pub(super) fn certificate_name(use_: &ExpiringUse) -> String {
    use_.names
        .first()
        .cloned()
        .unwrap_or_else(|| use_.subject.clone())
}

pub(super) fn expiry_line(use_: &ExpiringUse, now: i64) -> Line {
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
