//! Deploy jobs from the console: each runs in its own task (heartbeats go on meanwhile),
//! one at a time on this host (two restarts of one Apache must not interleave), and its
//! result waits in the journal until a connection has carried it to the console.

use std::sync::Arc;

use certfleet_proto::{AgentMessage, DeployOutcome, DeployStep, JobProgress, JobResult};
use certfleet_winhost::Host;
use tokio::sync::{Mutex, mpsc};

use super::{
    Bundle, Driver, Error, Journal, Phase, Reach, Record, Timing, apache, check_folders, execute,
    pem, sage300, trust,
};
use crate::config::AgentConfig;
use crate::pending_keys::PendingKeys;
use crate::trust::install::Ledger;

/// The driver for an endpoint of this host, by its inventory key (or a trust change's
/// journal key, `trust:HOST:PORT` / `untrust:HOST:PORT`).
pub fn driver_for(
    config: &AgentConfig,
    host: &Host,
    ledger: &Ledger,
    endpoint: &str,
) -> Result<Box<dyn Driver>, Error> {
    if trust::Change::of_key(endpoint).is_some() {
        return Ok(Box::new(trust::TrustDriver::find(
            &config.trust,
            endpoint,
            ledger,
            host,
        )?));
    }
    if let Some(name) = endpoint.strip_prefix("pem:") {
        let target = config.pem.iter().find(|t| t.name == name).ok_or_else(|| {
            Error::NotConfigured(format!(
                "no [[pem]] target named {name:?} in the agent's configuration"
            ))
        })?;
        return Ok(Box::new(pem::PemDriver {
            target: target.clone(),
        }));
    }
    if endpoint.starts_with("apache:") {
        let mut last = Error::NotConfigured(format!(
            "no [[apache]] target in the agent's configuration has {endpoint:?}"
        ));
        for target in &config.apache {
            match apache::ApacheDriver::find(target, endpoint) {
                Ok(driver) => return Ok(Box::new(driver.with_service_account(host))),
                Err(e) => last = e,
            }
        }
        return Err(last);
    }
    if endpoint.starts_with("sage300:") {
        return Ok(Box::new(sage300::Sage300Driver::find(
            config, host, endpoint,
        )?));
    }
    Err(Error::NotConfigured(format!(
        "this agent cannot deploy to {endpoint:?}: no driver for that kind of endpoint"
    )))
}

/// The reach of an endpoint of this host in `config`, for recovery after a crash.
pub fn reach_for(
    config: &AgentConfig,
    host: &Host,
    ledger: &Ledger,
    endpoint: &str,
) -> Result<Reach, Error> {
    driver_for(config, host, ledger, endpoint)?.reach()
}

pub fn result_of(record: &Record) -> JobResult {
    let outcome = match record.phase {
        Phase::Committed => DeployOutcome::Committed,
        Phase::Failed => DeployOutcome::Failed,
        _ => DeployOutcome::RolledBack,
    };
    JobResult {
        job_id: record.job_id.clone(),
        ok: outcome == DeployOutcome::Committed,
        detail: record.detail.clone(),
        outcome: Some(outcome),
        csr_pem: None,
    }
}

/// The record of a job that ended without (or before) its journal entry.
fn ended(job_id: &str, endpoint: &str, bundle: &Bundle, phase: Phase, detail: String) -> Record {
    Record {
        job_id: job_id.to_owned(),
        endpoint: endpoint.to_owned(),
        new_sha256: bundle.sha256.clone(),
        old_sha256: None,
        phase,
        files: Vec::new(),
        windows: Vec::new(),
        restarted: false,
        detail,
        reported: false,
    }
}

#[derive(Clone)]
pub struct Deployments {
    journal: Journal,
    config: Arc<AgentConfig>,
    one_at_a_time: Arc<Mutex<()>>,
    out: mpsc::Sender<AgentMessage>,
    timing: Timing,
    host: Host,
    ledger: Ledger,
    pending_keys: PendingKeys,
    challenges: crate::acme_http::Challenges,
    /// Challenge files written for Apache to serve, by token, removed when it ends.
    challenge_files: Arc<std::sync::Mutex<std::collections::HashMap<String, std::path::PathBuf>>>,
}

impl std::fmt::Debug for Deployments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployments")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl Deployments {
    pub fn new(
        journal: Journal,
        config: Arc<AgentConfig>,
        out: mpsc::Sender<AgentMessage>,
        host: Host,
        ledger: Ledger,
        pending_keys: PendingKeys,
    ) -> Self {
        Deployments {
            timing: Timing::of(&config),
            host,
            ledger,
            pending_keys,
            challenges: crate::acme_http::Challenges::default(),
            challenge_files: Arc::default(),
            journal,
            config,
            one_at_a_time: Arc::new(Mutex::new(())),
            out,
        }
    }

    /// The host's platform layer the deployments use.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Makes (or finds, when asked again) the key kept pending for a certificate the console
    /// will issue, and answers with its certificate request only. An endpoint this agent
    /// cannot deploy to gets no key.
    pub fn key_request(
        &self,
        job_id: String,
        endpoint: String,
        key_type: certfleet_proto::KeyType,
        names: Vec<String>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let made = match driver_for(&this.config, &this.host, &this.ledger, &endpoint) {
                Ok(_) => {
                    let keys = this.pending_keys.clone();
                    let (id, endpoint) = (job_id.clone(), endpoint.clone());
                    // An RSA key takes a while to find: off the connection's threads.
                    tokio::task::spawn_blocking(move || {
                        keys.request(&id, &endpoint, key_type, &names)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        Err(crate::pending_keys::Error::Csr(format!(
                            "the key maker stopped: {e}"
                        )))
                    })
                    .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            let result = match made {
                Ok(csr) => JobResult {
                    job_id,
                    ok: true,
                    detail: format!("a new {key_type} key is kept pending for {endpoint}"),
                    outcome: None,
                    csr_pem: Some(csr),
                },
                Err(detail) => {
                    tracing::warn!(job = %job_id, "key request refused: {detail}");
                    JobResult::answer(job_id, false, detail)
                }
            };
            let _ = this.out.send(AgentMessage::JobResult(result)).await;
        });
    }

    /// Answers an ACME HTTP-01 challenge for one of this host's endpoints; the result says
    /// whether it is served.
    pub fn serve_challenge(
        &self,
        job_id: String,
        endpoint: String,
        token: String,
        key_authorization: String,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let listen = this
                .config
                .acme_http_listen
                .unwrap_or(crate::acme_http::DEFAULT_LISTEN);
            let served = match driver_for(&this.config, &this.host, &this.ledger, &endpoint) {
                Ok(_) => match this
                    .challenges
                    .serve(listen, &token, &key_authorization)
                    .await
                {
                    Err(crate::acme_http::Error::Listen { source, .. })
                        if source.kind() == std::io::ErrorKind::AddrInUse
                            && endpoint.starts_with("apache:") =>
                    {
                        this.serve_through_apache(&endpoint, &token, &key_authorization)
                            .await
                    }
                    other => other
                        .map(|address| format!("answering the challenge on {address}"))
                        .map_err(|e| e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let (ok, detail) = match served {
                Ok(detail) => (true, detail),
                Err(e) => (false, e),
            };
            let _ = this
                .out
                .send(AgentMessage::JobResult(JobResult::answer(
                    job_id, ok, detail,
                )))
                .await;
        });
    }

    pub fn end_challenge(&self, token: &str) {
        self.challenges.end(token);
        let file = self
            .challenge_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
        if let Some(file) = file {
            let _ = std::fs::remove_file(file);
        }
    }

    /// HTTP-01 through the Apache that holds port 80 (the agent's own listener could not
    /// bind it): one at a time with deployments, as it may restart Apache.
    async fn serve_through_apache(
        &self,
        endpoint: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<String, String> {
        let _turn = self.one_at_a_time.lock().await;
        let mut last = format!("no [[apache]] target has {endpoint:?}");
        for target in &self.config.apache {
            let driver = match apache::ApacheDriver::find(target, endpoint) {
                Ok(driver) => driver.with_service_account(&self.host),
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            return match driver
                .serve_challenge(&self.host, token, key_authorization, self.timing.commands)
                .await
            {
                Ok(file) => {
                    self.challenge_files
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(token.to_owned(), file.clone());
                    Ok(format!(
                        "port 80 is Apache's: it answers the challenge from {}",
                        file.display()
                    ))
                }
                Err(e) => Err(format!(
                    "port 80 is taken and Apache could not be made to answer the challenge: \
                     {e}; use dns-01 for this host's group"
                )),
            };
        }
        Err(last)
    }

    /// Starts a deployment in the background; progress and the result go out through the
    /// session that is connected at the time. With `pending_key`, the key is the one kept
    /// on this host for that request, removed once the deployment is committed.
    pub fn start(
        &self,
        job_id: String,
        endpoint: String,
        mut bundle: Bundle,
        pending_key: Option<String>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let _turn = this.one_at_a_time.lock().await;
            let paired = match &pending_key {
                Some(id) => this.pending_keys.key(id).map(|key| bundle.key_pem = key),
                None => Ok(()),
            };
            let out = this.out.clone();
            let id = job_id.clone();
            let mut progress = move |step: DeployStep, detail: &str| {
                // Progress is best effort: dropped when no session drains it.
                let _ = out.try_send(AgentMessage::JobProgress(JobProgress {
                    job_id: id.clone(),
                    step,
                    detail: detail.to_owned(),
                }));
            };
            let driver = paired
                .map_err(|e| Error::NotConfigured(e.to_string()))
                .and_then(|()| driver_for(&this.config, &this.host, &this.ledger, &endpoint));
            let outcome = match driver {
                Ok(driver) => {
                    execute(
                        &this.host,
                        &this.journal,
                        &job_id,
                        &endpoint,
                        driver.as_ref(),
                        &bundle,
                        this.timing,
                        &mut progress,
                    )
                    .await
                }
                Err(e) => {
                    let detail = e.to_string();
                    tracing::warn!(job = %job_id, "{detail}");
                    // Journaled like any other end, so a repeat of the job id gets this
                    // answer even after a restart.
                    let record = ended(&job_id, &endpoint, &bundle, Phase::Failed, detail);
                    if Journal::check_id(&job_id).is_ok() {
                        let _ = this.journal.save(&record);
                    }
                    let _ = this
                        .out
                        .send(AgentMessage::JobResult(result_of(&record)))
                        .await;
                    return;
                }
            };
            tracing::info!(job = %job_id, phase = ?outcome.phase, "deployment ended: {}", outcome.detail);
            if let Some(id) = pending_key.filter(|_| outcome.phase == Phase::Committed) {
                // The key now lives where the deployment put it.
                this.pending_keys.remove(&id);
            }
            // The journal's record when it could be written; else (a full disk, say) the
            // outcome itself, or the console would wait for an answer that never comes.
            let record = this.journal.load(&job_id).unwrap_or_else(|| {
                ended(&job_id, &endpoint, &bundle, outcome.phase, outcome.detail)
            });
            let _ = this
                .out
                .send(AgentMessage::JobResult(result_of(&record)))
                .await;
        });
    }

    /// A dry run: the driver's preflight only, nothing staged or changed.
    pub fn check(&self, job_id: String, endpoint: String, bundle: Bundle) {
        let this = self.clone();
        tokio::spawn(async move {
            let verdict = match driver_for(&this.config, &this.host, &this.ledger, &endpoint) {
                Ok(driver) => driver
                    .preflight(&bundle, time::OffsetDateTime::now_utc())
                    .await
                    .and_then(|()| check_folders(&driver.reach()?)),
                Err(e) => Err(e),
            };
            let (ok, detail) = match verdict {
                Ok(()) => (
                    true,
                    "preflight passed: nothing stands in the way".to_owned(),
                ),
                Err(e) => (false, e.to_string()),
            };
            let _ = this
                .out
                .send(AgentMessage::JobResult(JobResult::answer(
                    job_id, ok, detail,
                )))
                .await;
        });
    }

    /// Results the console may not have yet (after a reconnect or a restart).
    pub fn unreported(&self) -> Vec<JobResult> {
        self.journal
            .all()
            .iter()
            .filter(|r| r.phase.is_final() && !r.reported)
            .map(result_of)
            .collect()
    }

    pub fn mark_reported(&self, job_id: &str) {
        self.journal.mark_reported(job_id);
    }

    /// A job id this host already has in its journal: its result when it ended, or
    /// `Err` with a progress note while it still runs. A deployment never runs twice.
    pub fn known(&self, job_id: &str) -> Option<Result<JobResult, JobProgress>> {
        let record = self.journal.load(job_id)?;
        Some(if record.phase.is_final() {
            Ok(result_of(&record))
        } else {
            Err(JobProgress {
                job_id: job_id.to_owned(),
                step: DeployStep::Running,
                detail: "this deployment is still running".into(),
            })
        })
    }
}
