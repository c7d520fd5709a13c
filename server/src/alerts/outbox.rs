//! The outbox's delivery: every due email tried, failures retried with a growing wait; and
//! the test email, sent at once, rendered like every alert.

use anyhow::Result;
use certfleet_store::NewEmail;

use super::Alerts;
use super::settings::AlertSettings;
use super::{base_url, effective, mailer, password, render};

/// Sends a test email right away (not through the outbox) and returns the server's answer.
pub async fn test_email(alerts: &Alerts, to: &str) -> Result<String, String> {
    let settings = effective(alerts).await;
    let password = password(alerts, &settings).await;
    let key = format!("test:{}:{to}", alerts.now_secs());
    let base = base_url(alerts, &settings);
    // The renderer every alert goes through, so a test shows what alerts will look like.
    let rendered = render::email(
        &base,
        "[certfleet] test email".into(),
        "This is a test email from certfleet. If you can read it, alerts will reach you.",
        &[],
    );
    let to = [to.to_owned()];
    mailer::send(
        &settings.smtp,
        password,
        &mailer::Outgoing {
            message_id: &mailer::message_id(&key),
            to: &to,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
        },
    )
    .await
}

pub(super) fn email_row(rendered: render::Rendered) -> NewEmail {
    NewEmail {
        idempotency_key: String::new(),
        recipients: Vec::new(),
        subject: rendered.subject,
        text_body: rendered.text,
        html_body: rendered.html,
    }
}

/// Tries every email that is due; failures wait longer each time (30 s doubling, at most an
/// hour) and are retried until they go through.
pub async fn send_due(alerts: &Alerts, settings: &AlertSettings, now: i64) -> Result<usize> {
    let due = alerts.store.due_emails(now, 20).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let password = password(alerts, settings).await;
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
                alerts.store.mark_email_sent(email.id, now).await?;
                sent += 1;
            }
            Err(e) => {
                let wait = (30i64 << email.attempts.clamp(0, 7)).min(3600);
                tracing::warn!(email = %email.idempotency_key, attempt = email.attempts + 1, "not sent ({e}); next try in {wait} s");
                alerts
                    .store
                    .mark_email_failed(email.id, &e, now + wait)
                    .await?;
            }
        }
    }
    Ok(sent)
}
