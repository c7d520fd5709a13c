//! ACME for public names (`[acme]`): one account per directory URL, its credentials sealed
//! under the key-encryption key in the settings; an order for the host's request (the key
//! stays on the host), its authorisations answered by the host (HTTP-01) or by the DNS hook
//! on the console (DNS-01), and the chain the CA issues. instant-acme over ring.

use std::path::PathBuf;
use std::time::Duration;

use certfleet_store::Store;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use serde::Deserialize;
use sha2::Digest;

use crate::secrets::Kek;

/// `[acme]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// `letsencrypt`, `letsencrypt-staging`, or the directory URL of any ACME CA.
    pub directory: String,
    /// An extra CA certificate (PEM) the ACME server's own HTTPS is checked against (a
    /// private ACME server); absent: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `mailto:` addresses for the account.
    pub contact: Vec<String>,
    /// External account binding, where the CA asks for one.
    pub eab_kid: Option<String>,
    /// The EAB HMAC key, base64url as the CA gives it.
    pub eab_hmac_key: Option<String>,
    /// DNS-01: the command run as `HOOK present NAME VALUE` and `HOOK cleanup NAME VALUE`
    /// (exit status 0 for success).
    pub dns_hook: Vec<String>,
    pub hook_timeout_secs: u64,
    /// How long to wait after `present` before asking the CA to look.
    pub dns_propagation_secs: u64,
    /// How long an order may take from its challenges to the certificate.
    pub order_timeout_secs: u64,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory: "letsencrypt-staging".into(),
            ca_file: None,
            contact: Vec::new(),
            eab_kid: None,
            eab_hmac_key: None,
            dns_hook: Vec::new(),
            hook_timeout_secs: 60,
            dns_propagation_secs: 30,
            order_timeout_secs: 300,
        }
    }
}

/// How a policy's names are proven to the ACME CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Challenge {
    /// The host answers on port 80 (`acme_http_listen` in agent.toml).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// The console's `dns_hook` sets a TXT record.
    #[serde(rename = "dns-01")]
    Dns01,
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the ACME CA refused: {0}")]
    Refused(String),
    #[error("the ACME CA limits requests now ({detail}); certfleet tries again {}", retry_text(*.retry_at))]
    RateLimited {
        detail: String,
        /// The time the CA named for trying again (Unix seconds), when it named one.
        retry_at: Option<i64>,
    },
    #[error("the ACME server at {url} cannot be reached or read: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the DNS hook failed: {0}")]
    Hook(String),
    #[error("the ACME order did not become ready: {0}")]
    NotReady(String),
    #[error("{0}")]
    Other(String),
}

impl AcmeConfig {
    pub fn check(&self) -> Result<(), String> {
        let url = self.directory_url();
        if !url.starts_with("https://") {
            return Err(format!(
                "directory {:?} must be letsencrypt, letsencrypt-staging or an https:// URL",
                self.directory
            ));
        }
        if self.eab_kid.is_some() != self.eab_hmac_key.is_some() {
            return Err("eab_kid and eab_hmac_key go together".into());
        }
        if !(1..=3600).contains(&self.hook_timeout_secs) {
            return Err("hook_timeout_secs must be between 1 and 3600".into());
        }
        Ok(())
    }

    pub fn directory_url(&self) -> String {
        match self.directory.as_str() {
            "letsencrypt" => instant_acme::LetsEncrypt::Production.url().to_owned(),
            "letsencrypt-staging" => instant_acme::LetsEncrypt::Staging.url().to_owned(),
            url => url.to_owned(),
        }
    }
}

/// Where the sealed ACME accounts are kept: one setting per directory URL.
pub const ACCOUNT_SETTING_PREFIX: &str = "acme.account.";

/// The setting that keeps the sealed account of a directory.
fn account_setting(url: &str) -> String {
    format!(
        "{ACCOUNT_SETTING_PREFIX}{}",
        hex::encode(&sha2::Sha256::digest(url.as_bytes())[..8])
    )
}

fn problem(e: instant_acme::Error, url: &str) -> AcmeError {
    match e {
        instant_acme::Error::Api(p) => {
            let kind = p.r#type.clone().unwrap_or_default();
            let detail = p.detail.clone().unwrap_or_else(|| kind.clone());
            if kind.ends_with(":rateLimited") {
                let retry_at = retry_after_in(&detail);
                AcmeError::RateLimited { detail, retry_at }
            } else {
                AcmeError::Refused(format!("{detail} ({kind})"))
            }
        }
        other => AcmeError::Unreachable {
            url: url.to_owned(),
            detail: other.to_string(),
        },
    }
}

impl AcmeError {
    /// The time the CA asked certfleet not to try again before, if it named one.
    pub fn retry_at(&self) -> Option<i64> {
        match self {
            AcmeError::RateLimited { retry_at, .. } => *retry_at,
            _ => None,
        }
    }
}

fn retry_text(retry_at: Option<i64>) -> String {
    let named = retry_at
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    match named {
        Some(at) => format!("after {at}, the time it named"),
        None => "later (retry_after_secs)".into(),
    }
}

/// The time a rate-limited CA names in its problem's words: Let's Encrypt writes "retry
/// after 2026-12-05 01:02:03 UTC". Its Retry-After header would say the same, but
/// instant-acme's `Problem` does not carry the headers, so the detail is all there is.
fn retry_after_in(detail: &str) -> Option<i64> {
    const MARK: &str = "retry after ";
    let at = detail.to_ascii_lowercase().find(MARK)? + MARK.len();
    let text = detail.get(at..at + 19)?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    Some(
        time::PrimitiveDateTime::parse(text, format)
            .ok()?
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The account for the configured directory: the stored one, or a new one stored now.
pub async fn account(store: &Store, kek: &Kek, config: &AcmeConfig) -> Result<Account, AcmeError> {
    let url = config.directory_url();
    let builder = || {
        match &config.ca_file {
            Some(path) => Account::builder_with_root(path),
            None => Account::builder(),
        }
        .map_err(|e| problem(e, &url))
    };
    let setting = account_setting(&url);
    let other = |e: &dyn std::fmt::Display| AcmeError::Other(e.to_string());
    if let Some(json) = store.setting(&setting).await.map_err(|e| other(&e))? {
        let sealed: String = serde_json::from_str(&json).map_err(|e| other(&e))?;
        let plain = kek.open(&sealed).map_err(|e| other(&e))?;
        let credentials: AccountCredentials =
            serde_json::from_slice(&plain).map_err(|e| other(&e))?;
        return builder()?
            .from_credentials(credentials)
            .await
            .map_err(|e| problem(e, &url));
    }
    let contact: Vec<&str> = config.contact.iter().map(String::as_str).collect();
    let eab = match (&config.eab_kid, &config.eab_hmac_key) {
        (Some(kid), Some(key)) => {
            use base64::Engine;
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key.trim_end_matches('='))
                .map_err(|_| AcmeError::Other("eab_hmac_key is not base64url".into()))?;
            Some(ExternalAccountKey::new(kid.clone(), &key))
        }
        _ => None,
    };
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            url.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(|e| problem(e, &url))?;
    let json = serde_json::to_vec(&credentials).map_err(|e| other(&e))?;
    let sealed = kek.seal(&json).map_err(|e| other(&e))?;
    store
        .set_setting(
            &setting,
            &serde_json::to_string(&sealed).unwrap_or_default(),
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .await
        .map_err(|e| other(&e))?;
    tracing::info!(directory = %url, "created an ACME account");
    Ok(account)
}

/// What proves a name: given each challenge, it makes the answer available (the host's
/// listener, or the DNS hook) and, afterwards, takes it away.
pub trait Prover: Send + Sync {
    fn present<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        key_authorization: &'a str,
        dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AcmeError>>;

    fn cleanup<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, ()>;
}

/// One order for `names` over the host's request `csr_pem`: the chain, leaf first.
pub async fn order(
    account: &Account,
    config: &AcmeConfig,
    challenge: Challenge,
    prover: &dyn Prover,
    names: &[String],
    csr_pem: &str,
) -> Result<String, AcmeError> {
    let url = config.directory_url();
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| problem(e, &url))?;
    let kind = match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::Dns01 => ChallengeType::Dns01,
    };
    let mut presented: Vec<(String, String, String)> = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| problem(e, &url))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Refused(format!(
                        "an authorisation is {other:?}; it cannot be completed"
                    )));
                }
            }
            let mut handle = authz.challenge(kind.clone()).ok_or_else(|| {
                AcmeError::Refused(format!(
                    "the CA offers no {challenge:?} challenge for this name; pick the other \
                     challenge in the policy"
                ))
            })?;
            let name = handle.identifier().to_string();
            let key_authorization = handle.key_authorization();
            let dns_value = key_authorization.dns_value();
            let token = handle.token.clone();
            prover
                .present(&name, &token, key_authorization.as_str(), &dns_value)
                .await?;
            presented.push((name, token, dns_value));
            handle.set_ready().await.map_err(|e| problem(e, &url))?;
        }
        let retries =
            RetryPolicy::default().timeout(Duration::from_secs(config.order_timeout_secs));
        let status = order.poll_ready(&retries).await.map_err(|e| match e {
            instant_acme::Error::Api(p) => AcmeError::NotReady(
                p.detail
                    .clone()
                    .unwrap_or_else(|| p.r#type.clone().unwrap_or_default()),
            ),
            other => problem(other, &url),
        })?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::NotReady(format!(
                "the order is {status:?}: a challenge failed (see the CA's reason on the order)"
            )));
        }
        let der = pem::parse(csr_pem)
            .map_err(|e| AcmeError::Other(format!("the host's request is not PEM: {e}")))?
            .into_contents();
        order
            .finalize_csr(&der)
            .await
            .map_err(|e| problem(e, &url))?;
        order
            .poll_certificate(&retries)
            .await
            .map_err(|e| problem(e, &url))
    }
    .await;
    for (name, token, dns_value) in &presented {
        prover.cleanup(name, token, dns_value).await;
    }
    result
}

/// What the CA says about renewing one of its certificates (ACME Renewal Information).
#[derive(Debug, Clone, PartialEq)]
pub enum Ari {
    /// The directory offers no renewal information, or the certificate cannot be named
    /// to it (no Authority Key Identifier).
    Unsupported,
    /// Renew within this window (Unix seconds); ask again after `recheck_secs`.
    Window {
        start: i64,
        end: i64,
        recheck_secs: i64,
    },
}

/// The CA's renewal window for `leaf_der`, where its directory offers ARI.
pub async fn renewal_info(account: &Account, leaf_der: &[u8]) -> Result<Ari, AcmeError> {
    let der = rustls_pki_types::CertificateDer::from(leaf_der);
    let Ok(id) = instant_acme::CertificateIdentifier::try_from(&der) else {
        return Ok(Ari::Unsupported);
    };
    match account.renewal_info(&id).await {
        Ok((info, retry)) => Ok(window_of(&info, retry)),
        Err(instant_acme::Error::Unsupported(_)) => Ok(Ari::Unsupported),
        Err(e) => Err(problem(e, "the ACME directory's renewalInfo")),
    }
}

fn window_of(info: &instant_acme::RenewalInfo, retry: Duration) -> Ari {
    Ari::Window {
        start: info.suggested_window.start.unix_timestamp(),
        end: info.suggested_window.end.unix_timestamp(),
        // RFC 9773: ask again no sooner than Retry-After; at least hourly, at most daily.
        recheck_secs: (retry.as_secs() as i64).clamp(3600, 86_400),
    }
}

/// When to renew by a CA's window: a time spread uniformly across it, the same for one
/// certificate at every pass (`sha256` picks it), or now once the window has passed
/// (RFC 9773 §4.2).
pub fn ari_renew_at(start: i64, end: i64, now: i64, sha256: &str) -> i64 {
    if end <= now {
        return now;
    }
    let start = start.min(end);
    let spread = u64::from_str_radix(sha256.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    let fraction = spread as f64 / f64::from(u32::MAX);
    start + ((end - start) as f64 * fraction.clamp(0.0, 1.0)) as i64
}

/// DNS-01 through the configured hook command.
#[derive(Debug)]
pub struct DnsHook<'a> {
    pub config: &'a AcmeConfig,
}

impl DnsHook<'_> {
    async fn run(&self, verb: &str, name: &str, value: &str) -> Result<(), AcmeError> {
        let Some((program, args)) = self.config.dns_hook.split_first() else {
            return Err(AcmeError::Hook(
                "no [acme] dns_hook is configured for dns-01".into(),
            ));
        };
        let record = format!("_acme-challenge.{}", name.trim_start_matches("*."));
        let child = tokio::process::Command::new(program)
            .args(args)
            .args([verb, &record, value])
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(self.config.hook_timeout_secs), child).await
        {
            Err(_) => Err(AcmeError::Hook(format!(
                "{program} {verb} did not end within {} s",
                self.config.hook_timeout_secs
            ))),
            Ok(Err(e)) => Err(AcmeError::Hook(format!("cannot run {program}: {e}"))),
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => Err(AcmeError::Hook(format!(
                "{program} {verb} {record} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }
}

impl Prover for DnsHook<'_> {
    fn present<'a>(
        &'a self,
        name: &'a str,
        _token: &'a str,
        _key_authorization: &'a str,
        dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AcmeError>> {
        Box::pin(async move {
            self.run("present", name, dns_value).await?;
            tokio::time::sleep(Duration::from_secs(self.config.dns_propagation_secs)).await;
            Ok(())
        })
    }

    fn cleanup<'a>(
        &'a self,
        name: &'a str,
        _token: &'a str,
        dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.run("cleanup", name, dns_value).await {
                tracing::warn!("{e}");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_problem(kind: &str, detail: &str) -> instant_acme::Error {
        instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({
                "type": kind, "detail": detail, "status": 429
            }))
            .expect("problem"),
        )
    }

    #[test]
    fn a_rate_limit_keeps_the_time_the_ca_named() {
        let e = problem(
            api_problem(
                "urn:ietf:params:acme:error:rateLimited",
                "too many certificates (5) already issued for this exact set of identifiers \
                 in the last 168h0m0s, retry after 2026-12-05 01:02:03 UTC: see \
                 https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
            ),
            "https://acme.test/dir",
        );
        assert_eq!(e.retry_at(), Some(1_796_432_523));
        let text = e.to_string();
        assert!(text.contains("limits requests"), "{text}");
        assert!(text.contains("after 2026-12-05T01:02:03Z"), "{text}");

        // No time named: the console's own retry_after_secs, said so.
        let e = problem(
            api_problem("urn:ietf:params:acme:error:rateLimited", "slow down"),
            "https://acme.test/dir",
        );
        assert_eq!(e.retry_at(), None);
        assert!(e.to_string().contains("retry_after_secs"), "{e}");

        // A time in another problem is not a rate limit.
        let e = problem(
            api_problem(
                "urn:ietf:params:acme:error:rejectedIdentifier",
                "retry after 2026-12-05 01:02:03 UTC",
            ),
            "https://acme.test/dir",
        );
        assert_eq!(e.retry_at(), None);
        // A cut-off time names none.
        assert_eq!(retry_after_in("retry after 2026-12-05 01:0"), None);
    }

    #[test]
    fn presets_and_urls_and_eab_halves() {
        let mut c = AcmeConfig::default();
        assert!(c.directory_url().contains("staging"));
        c.directory = "letsencrypt".into();
        assert_eq!(
            c.directory_url(),
            "https://acme-v02.api.letsencrypt.org/directory"
        );
        c.directory = "http://plain.example/dir".into();
        assert!(c.check().is_err());
        c.directory = "https://127.0.0.1:14000/dir".into();
        c.check().expect("a URL");
        c.eab_kid = Some("kid".into());
        assert!(c.check().expect_err("half").contains("eab"));
        assert_ne!(
            account_setting("https://a/dir"),
            account_setting("https://b/dir")
        );
    }

    #[test]
    fn the_cas_renewal_window_is_read_and_a_time_within_it_chosen_once_per_certificate() {
        // The RFC 9773 example answer, as a CA's renewalInfo resource sends it.
        let info: instant_acme::RenewalInfo = serde_json::from_str(
            r#"{"suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
                "explanationURL": "https://acme.example.com/docs/ari"}"#,
        )
        .expect("renewal info");
        let Ari::Window {
            start,
            end,
            recheck_secs,
        } = window_of(&info, Duration::from_secs(21_600))
        else {
            panic!("a window");
        };
        assert_eq!((start, end), (1_735_790_400, 1_735_876_800));
        assert_eq!(recheck_secs, 21_600);
        assert_eq!(
            window_of(&info, Duration::from_secs(5)),
            Ari::Window {
                start,
                end,
                recheck_secs: 3600
            },
            "asked again at most hourly"
        );
        let before = start - 86_400;
        let a = ari_renew_at(start, end, before, "00000000AB");
        let b = ari_renew_at(start, end, before, "FFFFFFFFAB");
        let c = ari_renew_at(start, end, before, "80000000AB");
        assert_eq!(a, start, "the lowest hash renews at the window's start");
        assert_eq!(b, end, "the highest at its end");
        assert!(a < c && c < b, "{a} {c} {b}");
        assert_eq!(
            c,
            ari_renew_at(start, end, before + 3600, "80000000AB"),
            "stable"
        );
        // A window already over (the CA wants it replaced now, e.g. before a revocation).
        assert_eq!(ari_renew_at(start, end, end + 10, "FFFFFFFF"), end + 10);
    }

    #[tokio::test]
    async fn the_dns_hook_gets_its_verb_record_and_value_and_a_failure_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("calls");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\n[ \"$1\" = present ] || exit 3\n",
                log.display()
            ),
        )
        .expect("script");
        let config = AcmeConfig {
            dns_hook: vec!["/bin/sh".into(), script.display().to_string()],
            dns_propagation_secs: 0,
            ..AcmeConfig::default()
        };
        let hook = DnsHook { config: &config };
        hook.present("*.example.test", "t", "k", "VALUE")
            .await
            .expect("present");
        let err = hook
            .run("cleanup", "example.test", "VALUE")
            .await
            .expect_err("exit 3");
        assert!(err.to_string().contains("exited with"), "{err}");
        let calls = std::fs::read_to_string(&log).expect("log");
        assert_eq!(
            calls,
            "present _acme-challenge.example.test VALUE\ncleanup _acme-challenge.example.test VALUE\n"
        );
        let slow = AcmeConfig {
            dns_hook: vec!["/bin/sh".into(), "-c".into(), "sleep 5".into()],
            hook_timeout_secs: 1,
            ..AcmeConfig::default()
        };
        let err = DnsHook { config: &slow }
            .run("present", "a.example.test", "v")
            .await
            .expect_err("timeout");
        assert!(err.to_string().contains("did not end within 1 s"), "{err}");
    }
}
