//! Where a renewal's certificate comes from, once its host has sent the request for the key
//! it keeps: the issuing CA signs it, or an ACME CA issues it after the names are proven
//! (the host answers HTTP-01 itself; DNS-01 goes through the console's hook).

use std::time::Duration;

use certfleet_proto::{ConsoleMessage, Job, JobAction, JobResult, RenewalSource};
use certfleet_store::IssuanceRow;
use tokio::sync::OnceCell;

use super::Console;
use crate::acme::{self, AcmeError, Challenge, Prover};
use crate::issuing_ca::{Issued, IssuingCa};
use crate::policy::Policy;

/// How long a host has to start answering a challenge.
const CHALLENGE_WITHIN: Duration = Duration::from_secs(30);

/// The issuing CA and the ACME account, each opened once per pass and only when needed.
#[derive(Default)]
pub(super) struct Sources {
    ca: OnceCell<IssuingCa>,
    acme: OnceCell<instant_acme::Account>,
}

impl Sources {
    /// The ACME account of the configured directory (made at its first use), within the
    /// order timeout.
    pub(super) async fn acme_account(
        &self,
        console: &Console,
    ) -> Result<&instant_acme::Account, String> {
        let config = &console.config.acme;
        tokio::time::timeout(
            Duration::from_secs(config.order_timeout_secs),
            self.acme
                .get_or_try_init(|| acme::account(&console.store, &console.kek, config)),
        )
        .await
        .map_err(|_| {
            format!(
                "the ACME server at {} did not answer within {} s (order_timeout_secs)",
                config.directory_url(),
                config.order_timeout_secs
            )
        })?
        .map_err(|e| e.to_string())
    }
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

/// Why an agent gave no answer to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoAnswer {
    /// It is not connected.
    Offline,
    /// Its connection's queue is full or closing.
    Busy,
    /// It did not answer in time.
    Late,
}

impl NoAnswer {
    /// What an admin reads, `within` being how long the agent had.
    pub(super) fn describe(self, within: Duration) -> String {
        match self {
            NoAnswer::Offline => "the agent is offline".into(),
            NoAnswer::Busy => "the agent's connection is busy or gone; try again".into(),
            NoAnswer::Late => format!("no answer within {} s", within.as_secs()),
        }
    }
}

/// Sends `action` to an agent as job `job_id` and waits for its result, at most `within`.
pub(super) async fn ask(
    console: &Console,
    agent_id: &str,
    job_id: &str,
    action: JobAction,
    within: Duration,
) -> Result<JobResult, NoAnswer> {
    if !console.registry.is_connected(agent_id) {
        return Err(NoAnswer::Offline);
    }
    let answer = console.pending_checks.expect(job_id, agent_id);
    let frame = certfleet_proto::encode(
        &uuid::Uuid::new_v4().to_string(),
        &ConsoleMessage::Job(Job {
            job_id: job_id.to_owned(),
            action,
        }),
    );
    if !console.registry.try_send(agent_id, frame) {
        console.pending_checks.forget(job_id);
        return Err(NoAnswer::Busy);
    }
    match tokio::time::timeout(within, answer).await {
        Ok(Ok(result)) => Ok(result),
        _ => {
            console.pending_checks.forget(job_id);
            Err(NoAnswer::Late)
        }
    }
}

/// Why no certificate was obtained, and when the CA allows trying again if it said.
#[derive(Debug)]
pub(super) struct NotObtained {
    pub reason: String,
    pub retry_at: Option<i64>,
}

impl From<String> for NotObtained {
    fn from(reason: String) -> Self {
        Self {
            reason,
            retry_at: None,
        }
    }
}

impl From<AcmeError> for NotObtained {
    fn from(e: AcmeError) -> Self {
        Self {
            retry_at: e.retry_at(),
            reason: e.to_string(),
        }
    }
}

/// The certificate for `row` over the host's request `csr`, or why there is none.
pub(super) async fn certificate(
    console: &Console,
    sources: &Sources,
    row: &IssuanceRow,
    policy: &Policy,
    csr: &str,
) -> Result<Issued, NotObtained> {
    match row.source {
        RenewalSource::InternalCa => {
            let domains = console.config.renewals.all_domains();
            let ca = sources
                .ca
                .get_or_try_init(|| {
                    IssuingCa::load_or_create(&console.store, &console.kek, &domains, console.now())
                })
                .await
                .map_err(|e| e.to_string())?;
            // The purposes follow what the endpoint is, as its host reports it now.
            let kind = console
                .store
                .endpoint_uses_on(Some(row.host_id))
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|u| u.endpoint_key == row.endpoint_key)
                .map(|u| u.kind)
                .ok_or_else(|| {
                    format!(
                        "{} no longer reports the endpoint {}",
                        row.hostname, row.endpoint_key
                    )
                })?;
            let purposes = policy.purposes_for(kind);
            ca.issue(
                csr,
                &row.names,
                &purposes,
                policy.validity_days,
                console.now(),
            )
            .map_err(|e| NotObtained::from(e.to_string()))
        }
        RenewalSource::Acme => {
            let config = &console.config.acme;
            let within = Duration::from_secs(config.order_timeout_secs);
            let late = |what: &str| {
                format!(
                    "the ACME server at {} did not {what} within {} s (order_timeout_secs)",
                    config.directory_url(),
                    config.order_timeout_secs
                )
            };
            let account = sources.acme_account(console).await?;
            let order = async {
                match policy.challenge {
                    Challenge::Http01 => {
                        let prover = HostProver { console, row };
                        acme::order(account, config, policy.challenge, &prover, &row.names, csr)
                            .await
                    }
                    Challenge::Dns01 => {
                        let prover = acme::DnsHook { config };
                        acme::order(account, config, policy.challenge, &prover, &row.names, csr)
                            .await
                    }
                }
            };
            let chain = tokio::time::timeout(within * 2, order)
                .await
                .map_err(|_| late("issue the certificate"))??;
            Ok(Issued {
                chain_pem: chain,
                // A public CA's root is the client's own; none is kept with the renewal.
                ca_pem: String::new(),
            })
        }
        RenewalSource::Upload => {
            Err(String::from("this endpoint's policy leaves renewals to uploads").into())
        }
    }
}

/// HTTP-01 answered by the host that asked for the certificate, on its challenge listener.
struct HostProver<'a> {
    console: &'a Console,
    row: &'a IssuanceRow,
}

impl Prover for HostProver<'_> {
    fn present<'a>(
        &'a self,
        name: &'a str,
        token: &'a str,
        key_authorization: &'a str,
        _dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AcmeError>> {
        Box::pin(async move {
            let job_id = format!("challenge-{}", uuid::Uuid::new_v4());
            let action = JobAction::ServeChallenge {
                endpoint: self.row.endpoint_key.clone(),
                token: token.to_owned(),
                key_authorization: key_authorization.to_owned(),
            };
            match ask(
                self.console,
                &self.row.agent_id,
                &job_id,
                action,
                CHALLENGE_WITHIN,
            )
            .await
            {
                Ok(result) if result.ok => Ok(()),
                Ok(result) => Err(AcmeError::Other(format!(
                    "{} could not answer the HTTP-01 challenge for {name}: {}",
                    self.row.hostname, result.detail
                ))),
                Err(why) => Err(AcmeError::Other(format!(
                    "{} did not answer the HTTP-01 challenge for {name} ({}); \
                     it is tried again later",
                    self.row.hostname,
                    why.describe(CHALLENGE_WITHIN)
                ))),
            }
        })
    }

    fn cleanup<'a>(
        &'a self,
        _name: &'a str,
        token: &'a str,
        _dns_value: &'a str,
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            let frame = certfleet_proto::encode(
                &uuid::Uuid::new_v4().to_string(),
                &ConsoleMessage::Job(Job {
                    job_id: format!("challenge-end-{}", uuid::Uuid::new_v4()),
                    action: JobAction::EndChallenge {
                        token: token.to_owned(),
                    },
                }),
            );
            let _ = self.console.registry.try_send(&self.row.agent_id, frame);
        })
    }
}
