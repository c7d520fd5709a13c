//! Talks SMTP through lettre: STARTTLS, implicit TLS, or plain for a local relay, with
//! optional authentication and an extra CA for relays with private certificates.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use super::settings::{Security, SmtpSettings};

/// One email as the outbox holds it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub message_id: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

fn transport(
    smtp: &SmtpSettings,
    password: Option<Zeroizing<String>>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    if smtp.host.is_empty() {
        return Err("no SMTP server is set: fill in the host on the settings page".into());
    }
    let tls = match smtp.security {
        Security::None => None,
        security => {
            let mut params = TlsParameters::builder(smtp.host.clone());
            if let Some(path) = &smtp.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read the SMTP CA file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    format!(
                        "the SMTP CA file {} is not a PEM certificate: {e}",
                        path.display()
                    )
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| format!("cannot set up TLS for {}: {e}", smtp.host))?;
            Some(match security {
                Security::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            })
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    if let (Some(user), Some(password)) = (&smtp.username, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
    }
    Ok(builder.build())
}

fn message(smtp: &SmtpSettings, email: &Outgoing<'_>) -> Result<Message, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|_| format!("the sender {:?} is not an email address", smtp.from))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject)
        .message_id(Some(email.message_id.to_owned()));
    for to in email.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|_| format!("the recipient {to:?} is not an email address"))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.to_owned(),
            email.html.to_owned(),
        ))
        .map_err(|e| format!("cannot build the email: {e}"))
}

/// Sends one email; returns the server's answer, or why it failed.
pub async fn send(
    smtp: &SmtpSettings,
    password: Option<Zeroizing<String>>,
    email: &Outgoing<'_>,
) -> Result<String, String> {
    if email.to.is_empty() {
        return Err("no recipients".into());
    }
    let message = message(smtp, email)?;
    let transport = transport(smtp, password)?;
    let response = transport
        .send(message)
        .await
        .map_err(|e| explain(smtp, &e))?;
    let text: Vec<String> = response.message().map(str::to_owned).collect();
    Ok(format!("{} {}", response.code(), text.join(" ")))
}

/// What went wrong, in words that point at the setting to fix.
fn explain(smtp: &SmtpSettings, e: &lettre::transport::smtp::Error) -> String {
    let at = format!("{}:{}", smtp.host, smtp.port);
    if e.is_permanent() || e.is_transient() {
        let hint = match e.status().map(|c| c.to_string()) {
            Some(code) if code == "535" || code == "530" => ": check the user name and password",
            Some(code) if code.starts_with("55") => ": check the sender and recipient addresses",
            _ => "",
        };
        format!("{at} answered: {e}{hint}")
    } else if e.is_tls() {
        format!(
            "TLS with {at} failed: {e}: check the security mode (STARTTLS on 587, TLS on 465, none only for a local relay) and the CA file"
        )
    } else if e.is_timeout() {
        format!("{at} did not answer in time: {e}: check the host, the port and the firewall")
    } else {
        format!(
            "{at} refused or could not be reached: {e}: check the host, the port, the security mode and the firewall"
        )
    }
}

/// The Message-ID of an outbox email: derived from its idempotency key, so a resend after a
/// crash carries the same id.
pub fn message_id(idempotency_key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "<{}@certfleet>",
        &hex::encode(Sha256::digest(idempotency_key.as_bytes()))[..32]
    )
}
