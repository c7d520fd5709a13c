//! Deploying a renewed certificate to one endpoint of this host: journal, preflight, stage,
//! apply, configuration test, restart, verify on the live port, then commit — or put the
//! previous files back, restart, and verify that the old certificate is served again.
//!
//! Drivers (`apache`, `pem`; later Windows HTTP.sys and trust stores) only check the host
//! and produce a [`Plan`]; this module carries every plan out the same way, so the journal
//! and the rollback are written once.

pub mod apache;
mod error;
pub mod fault;
mod files;
pub mod jobs;
pub mod journal;
mod managed;
pub mod pem;
mod plan;
pub mod sage300;
pub mod trust;
pub mod windows_changes;

use std::time::Duration;

use certfleet_certkit::{self as certkit, Fingerprint, HostName, Purpose};
use certfleet_proto::DeployStep;
use certfleet_winhost::Host;
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub use error::{Error, Result};
pub use journal::{Before, FileRecord, Journal, Phase, Record};
pub use plan::{
    CommandLine, Exposure, FileWrite, Plan, Probe, Reach, Restart, VerifyAt, reservation_url,
};
pub use windows_changes::{WindowsBefore, WindowsChange, WindowsRecord};

/// The renewed certificate as the console sends it.
pub struct Bundle {
    /// Leaf first, then its issuers.
    pub chain_pem: String,
    /// Unencrypted PKCS#8: Apache on Windows cannot prompt for a pass phrase.
    pub key_pem: Zeroizing<String>,
    /// The leaf's SHA-256, uppercase hex: what the live port must serve afterwards.
    pub sha256: String,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// The leaf alone, and the issuers alone, as PEM (for separate chain files).
    pub fn split_chain(&self) -> Result<(String, String)> {
        let material = certkit::read(self.chain_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
        let (leaf, rest) = material
            .certificates
            .split_first()
            .ok_or_else(|| Error::Bundle("the console sent no certificate".into()))?;
        Ok((
            certkit::write::pem_chain(std::slice::from_ref(leaf)),
            certkit::write::pem_chain(rest),
        ))
    }

    /// certkit's verdict on the bundle for this host: errors refuse the deployment.
    pub fn judge(&self, host: Option<&str>, purpose: Purpose, now: OffsetDateTime) -> Result<()> {
        let mut material = certkit::read(self.chain_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
        // A dry-run preflight comes without the key (the console checked it at upload).
        if !self.key_pem.is_empty() {
            material.merge(
                certkit::read(self.key_pem.as_bytes(), None)
                    .map_err(|e| Error::Bundle(format!("the key sent by the console: {e}")))?,
            );
        }
        let leaf = material
            .certificates
            .first()
            .ok_or_else(|| Error::Bundle("the console sent no certificate".into()))?;
        if leaf.facts().sha256.to_string() != self.sha256 {
            return Err(Error::Bundle(
                "the console's bundle does not hold the certificate it names".into(),
            ));
        }
        let host = host.and_then(|h| HostName::parse(h).ok());
        let misfits: Vec<_> = certkit::misfits(&material, host, purpose, now)
            .into_iter()
            .map(|f| (f.code, f.message))
            .collect();
        if misfits.is_empty() {
            Ok(())
        } else {
            Err(Error::Misfit { misfits })
        }
    }
}

impl Bundle {
    /// With a non-empty `allowed` list, some CA certificate of the chain (above the leaf,
    /// or a self-signed leaf itself) must be one of them.
    pub fn check_issuers(&self, allowed: &[String]) -> Result<()> {
        if allowed.is_empty() {
            return Ok(());
        }
        // Checked when the configuration loaded; an entry that does not parse matches nothing.
        let allowed: Vec<Fingerprint> = allowed
            .iter()
            .filter_map(|a| Fingerprint::parse(a).ok())
            .collect();
        let material = certkit::read(self.chain_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
        let leaf = material
            .certificates
            .first()
            .ok_or_else(|| Error::Bundle("the console sent no certificate".into()))?;
        let cas: Vec<&certkit::Certificate> = if leaf.facts().self_signed {
            vec![leaf]
        } else {
            material.certificates.iter().skip(1).collect()
        };
        if cas.iter().any(|c| allowed.contains(&c.facts().sha256)) {
            return Ok(());
        }
        let chain = if cas.is_empty() {
            "no CA certificate at all".to_owned()
        } else {
            cas.iter()
                .map(|c| format!("{} {}", c.facts().subject, c.facts().sha256))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::IssuerNotAllowed { chain })
    }
}

/// A kind of endpoint this agent can deploy to.
pub trait Driver: Send + Sync {
    /// Checks against this host before anything changes (names, purpose, key, port).
    /// `Err` says why nothing will be done.
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        now: OffsetDateTime,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
    /// What the deployment writes and runs.
    fn plan(&self, bundle: &Bundle) -> Result<Plan>;
    /// Every file and change a deployment to this endpoint may make, and its commands, from
    /// the configuration alone (recovery after a crash uses this, not the journal).
    fn reach(&self) -> Result<Reach>;
    /// Told once the deployment is verified, before it is committed (a client's ledger of
    /// the certificates certfleet made it trust); `Err` rolls the deployment back.
    fn verified(&self, _record: &Record) -> Result<()> {
        Ok(())
    }
}

/// Refuses when a folder the endpoint's files live in can be changed by other users.
pub fn check_folders(reach: &Reach) -> Result<()> {
    reach
        .files
        .iter()
        .try_for_each(|f| files::check_folder(f))?;
    match &reach.owned_in {
        Some(dir) => files::check_folder(&dir.join("certfleet-0.crt")),
        None => Ok(()),
    }
}

/// How long the live port has to show the expected certificate after a restart, and how
/// long a configuration test or restart may run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub verify_for: Duration,
    pub poll_every: Duration,
    pub commands: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            verify_for: Duration::from_secs(30),
            poll_every: Duration::from_millis(500),
            commands: Duration::from_secs(120),
        }
    }
}

impl Timing {
    /// The default, with the configuration's `command_timeout_secs`.
    pub fn of(config: &crate::config::AgentConfig) -> Timing {
        Timing {
            commands: Duration::from_secs(config.command_timeout_secs),
            ..Timing::default()
        }
    }
}

/// Where a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub phase: Phase,
    pub detail: String,
}

impl Outcome {
    #[cfg(test)]
    pub fn committed(&self) -> bool {
        self.phase == Phase::Committed
    }

    fn of(record: &Record) -> Self {
        Outcome {
            phase: record.phase,
            detail: record.detail.clone(),
        }
    }
}

/// Steps as they happen, for the console's live progress.
pub type Progress<'a> = &'a mut (dyn FnMut(DeployStep, &str) + Send);

/// Deploys `bundle` to `endpoint` with `driver`. A job id seen before answers with its
/// journaled outcome and changes nothing.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    host: &Host,
    journal: &Journal,
    job_id: &str,
    endpoint: &str,
    driver: &dyn Driver,
    bundle: &Bundle,
    timing: Timing,
    progress: Progress<'_>,
) -> Outcome {
    if let Err(e) = Journal::check_id(job_id) {
        return Outcome {
            phase: Phase::Failed,
            detail: e.to_string(),
        };
    }
    if let Some(done) = journal.load(job_id) {
        return Outcome {
            phase: done.phase,
            detail: format!(
                "this job was already handled (replay); its result: {}",
                done.detail
            ),
        };
    }
    let mut record = Record {
        job_id: job_id.to_owned(),
        endpoint: endpoint.to_owned(),
        new_sha256: bundle.sha256.clone(),
        old_sha256: None,
        phase: Phase::Preflight,
        files: Vec::new(),
        windows: Vec::new(),
        restarted: false,
        detail: String::new(),
        reported: false,
    };
    if let Err(e) = journal.save(&record) {
        return Outcome {
            phase: Phase::Failed,
            detail: e.to_string(),
        };
    }
    fault::pause(fault::Point::AfterJournal).await;
    progress(DeployStep::Preflight, endpoint);
    let plan = match driver
        .preflight(bundle, OffsetDateTime::now_utc())
        .await
        .and_then(|()| driver.plan(bundle))
        .and_then(|plan| check_folders(&plan.reach).map(|()| plan))
    {
        Ok(plan) => plan,
        Err(e) => return fail(journal, &mut record, e.to_string()),
    };
    if let Some(why) = plan.reach.overstepped_by(&plan) {
        let detail = format!(
            "refused: the plan for {endpoint} leaves what its configuration allows ({why}); \
             nothing was changed. This is a certfleet bug: please report it"
        );
        return fail(journal, &mut record, detail);
    }
    let reach = &plan.reach;
    let undo = Undo {
        host,
        journal,
        reach,
        timing,
    };
    record.old_sha256 = plan.old_sha256.clone();
    record.windows = plan
        .windows
        .iter()
        .map(|change| WindowsRecord {
            change: change.clone(),
            before: WindowsBefore::NotReached,
        })
        .collect();

    // Stage: new contents beside each target; the live files are untouched.
    progress(DeployStep::Stage, &format!("{} files", plan.files.len()));
    for write in &plan.files {
        let staged = files::staged_path(&write.path);
        if let Err(e) = files::stage(&write.path, &write.contents, write.exposure) {
            cleanup_staged(&plan);
            return fail(
                journal,
                &mut record,
                format!(
                    "cannot write {}: {e}; nothing was changed",
                    staged.display()
                ),
            );
        }
        if let (Exposure::Private, Some(readers)) = (write.exposure, &plan.private_readers)
            && let Err(e) = files::restrict(&staged, readers)
        {
            cleanup_staged(&plan);
            return fail(journal, &mut record, format!("{e}; nothing was changed"));
        }
        record.files.push(FileRecord {
            path: write.path.clone(),
            before: Before::NotReached,
        });
    }
    record
        .files
        .extend(plan.removes.iter().map(|path| FileRecord {
            path: path.clone(),
            before: Before::NotReached,
        }));
    record.phase = Phase::Staged;
    if let Err(e) = journal.save(&record) {
        cleanup_staged(&plan);
        return fail(journal, &mut record, e.to_string());
    }
    fault::pause(fault::Point::AfterStage).await;

    // Apply: keep a copy of each live file, then rename the staged one over it. The journal
    // names the copy before the rename, so a crash in between can always be undone.
    progress(DeployStep::Apply, endpoint);
    record.phase = Phase::Applying;
    let backups = journal.backup_dir(job_id);
    if let Err(e) = std::fs::create_dir_all(&backups) {
        cleanup_staged(&plan);
        return fail(
            journal,
            &mut record,
            format!("cannot create {}: {e}", backups.display()),
        );
    }
    for i in 0..record.files.len() {
        let path = record.files[i].path.clone();
        record.files[i].before = if path.exists() {
            let copy = backups.join(i.to_string());
            if let Err(e) = files::keep_copy(&path, &copy) {
                let detail = format!("cannot keep a copy of {}: {e}", path.display());
                return undo.roll_back(&mut record, detail, progress).await;
            }
            Before::Copy(copy)
        } else {
            Before::Absent
        };
        if let Err(e) = journal.save(&record) {
            return undo.roll_back(&mut record, e.to_string(), progress).await;
        }
        let changed = if i < plan.files.len() {
            files::promote(&path)
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        if let Err(e) = changed {
            let action = if i < plan.files.len() {
                "replace"
            } else {
                "remove"
            };
            let detail = format!("cannot {action} {}: {e}", path.display());
            return undo.roll_back(&mut record, detail, progress).await;
        }
    }
    record.phase = Phase::Applied;
    if let Err(e) = journal.save(&record) {
        return undo.roll_back(&mut record, e.to_string(), progress).await;
    }
    fault::pause(fault::Point::AfterReplace).await;

    // Windows changes: what was there is journaled before each one is made.
    for i in 0..record.windows.len() {
        match windows_changes::before(host, &record.windows[i].change) {
            Ok(before) => record.windows[i].before = before,
            Err(e) => {
                return undo.roll_back(&mut record, e.to_string(), progress).await;
            }
        }
        if let Err(e) = journal.save(&record) {
            return undo.roll_back(&mut record, e.to_string(), progress).await;
        }
        if let Err(e) = windows_changes::apply(host, bundle, &record.windows[i]) {
            return undo.roll_back(&mut record, e.to_string(), progress).await;
        }
    }

    // Configuration test before any restart: a failure leaves the running server alone.
    let log_size = reach.error_log.as_deref().map(files::size_of);
    if let Some(check) = &reach.check {
        progress(DeployStep::Check, &check.to_string());
        if let Err(e) = check.run(timing.commands).await {
            let detail = format!("the configuration test failed, nothing was restarted: {e}");
            return undo.roll_back(&mut record, detail, progress).await;
        }
    }
    if let Some(restart) = &reach.restart {
        progress(DeployStep::Restart, &restart.to_string());
        record.restarted = true;
        if let Err(e) = journal.save(&record) {
            return undo.roll_back(&mut record, e.to_string(), progress).await;
        }
        if let Err(e) = restart.run(&host.services, timing.commands).await {
            let detail = format!("{e}{}", log_tail(reach, log_size));
            return undo.roll_back(&mut record, detail, progress).await;
        }
        fault::pause(fault::Point::AfterRestart).await;
    }

    if let Some(at) = &reach.verify {
        progress(DeployStep::Verify, &at.address);
        fault::pause(fault::Point::DuringVerify).await;
        if let Err(e) = wait_for_leaf(at, &record.new_sha256, timing).await {
            let detail = format!(
                "after the restart the live port did not serve the new certificate: {e}{}",
                log_tail(reach, log_size)
            );
            return undo.roll_back(&mut record, detail, progress).await;
        }
        record.phase = Phase::Verified;
        record.detail = format!("{} serves the new certificate", at.address);
        if let Err(e) = journal.save(&record) {
            return undo.roll_back(&mut record, e.to_string(), progress).await;
        }
    } else if plan.probe.is_none() {
        record.detail = "files replaced; no live port to verify".into();
    }
    if let Some(probe) = &plan.probe {
        progress(DeployStep::Verify, &probe.describe());
        match probe.run().await {
            Ok(proved) => {
                record.detail = if reach.verify.is_some() {
                    format!("{}; {proved}", record.detail)
                } else {
                    proved
                };
                record.phase = Phase::Verified;
                if let Err(e) = journal.save(&record) {
                    return undo.roll_back(&mut record, e.to_string(), progress).await;
                }
            }
            Err(why) => return undo.roll_back(&mut record, why, progress).await,
        }
    }
    if let Err(e) = driver.verified(&record) {
        return undo.roll_back(&mut record, e.to_string(), progress).await;
    }
    fault::pause(fault::Point::AfterVerify).await;
    commit(journal, &mut record);
    progress(DeployStep::Committed, &record.detail);
    Outcome::of(&record)
}

fn log_tail(reach: &Reach, from: Option<u64>) -> String {
    match (&reach.error_log, from) {
        (Some(log), Some(from)) => {
            let lines = files::log_since(log, from, 4096);
            if lines.is_empty() {
                String::new()
            } else {
                format!("\n{}:\n{lines}", log.display())
            }
        }
        _ => String::new(),
    }
}

fn cleanup_staged(plan: &Plan) {
    for write in &plan.files {
        let _ = std::fs::remove_file(files::staged_path(&write.path));
    }
}

fn fail(journal: &Journal, record: &mut Record, detail: String) -> Outcome {
    record.phase = Phase::Failed;
    record.detail = detail;
    let _ = journal.save(record);
    Outcome::of(record)
}

fn commit(journal: &Journal, record: &mut Record) {
    record.phase = Phase::Committed;
    let _ = journal.save(record);
    // The copies hold the old private key: not kept once the new one is verified.
    let _ = std::fs::remove_dir_all(journal.backup_dir(&record.job_id));
}

/// What a rollback needs besides the record: where, and the endpoint's reach.
struct Undo<'a> {
    host: &'a Host,
    journal: &'a Journal,
    reach: &'a Reach,
    timing: Timing,
}

impl Undo<'_> {
    /// Puts every replaced file back, restarts when the new files were restarted with, and
    /// verifies the old certificate is served again.
    async fn roll_back(
        &self,
        record: &mut Record,
        reason: String,
        progress: Progress<'_>,
    ) -> Outcome {
        let Undo {
            host,
            journal,
            reach,
            timing,
        } = *self;
        progress(DeployStep::Rollback, &reason);
        record.phase = Phase::RollingBack;
        record.detail = reason;
        let _ = journal.save(record);
        let mut problems = Vec::new();
        // Windows changes first, newest first: a binding goes back before its certificate
        // could leave the store.
        for change in record.windows.iter().rev() {
            if let Err(e) = windows_changes::undo(host, change) {
                problems.push(e);
            }
        }
        for file in &record.files {
            let _ = std::fs::remove_file(files::staged_path(&file.path));
            let restored = match &file.before {
                Before::NotReached => Ok(()),
                Before::Absent if file.path.exists() => std::fs::remove_file(&file.path),
                Before::Absent => Ok(()),
                Before::Copy(copy) => files::restore(copy, &file.path),
            };
            if let Err(e) = restored {
                problems.push(format!("cannot restore {}: {e}", file.path.display()));
            }
        }
        if record.restarted
            && let Some(restart) = &reach.restart
            && let Err(e) = restart.run(&host.services, timing.commands).await
        {
            problems.push(format!("restarting with the old files failed too: {e}"));
        }
        if record.restarted
            && let Some(at) = &reach.verify
        {
            match &record.old_sha256 {
                Some(old) => match wait_for_leaf(at, old, timing).await {
                    Ok(()) => record.detail.push_str(&format!(
                        "\nrolled back: {} serves the old certificate again",
                        at.address
                    )),
                    Err(e) => {
                        problems.push(format!("the old certificate is not served again: {e}"))
                    }
                },
                None => {
                    match crate::inventory::served_leaf(&at.address, at.server_name.as_deref())
                        .await
                    {
                        Ok(_) => record
                            .detail
                            .push_str(&format!("\nrolled back: {} answers again", at.address)),
                        Err(e) => problems.push(format!(
                            "the port does not answer after the rollback: {e:#}"
                        )),
                    }
                }
            }
        } else {
            record
                .detail
                .push_str("\nrolled back: the previous files are in place");
        }
        if !problems.is_empty() {
            record.detail.push_str(&format!(
                "\nTHE ROLLBACK NEEDS A PERSON: {}",
                problems.join("; ")
            ));
        }
        record.phase = Phase::RolledBack;
        let _ = journal.save(record);
        let _ = std::fs::remove_dir_all(journal.backup_dir(&record.job_id));
        Outcome::of(record)
    }
}

/// Waits until the port serves `sha256` to clients that send the server name, and (when
/// the plan asks) to clients that do not.
async fn wait_for_leaf(at: &VerifyAt, sha256: &str, timing: Timing) -> Result<()> {
    wait_for_one(&at.address, at.server_name.as_deref(), sha256, timing).await?;
    if let Some(without) = &at.without_sni {
        wait_for_one(without, None, sha256, timing)
            .await
            .map_err(|e| Error::NotServed(format!("without SNI: {e}")))?;
    }
    Ok(())
}

async fn wait_for_one(
    address: &str,
    server_name: Option<&str>,
    sha256: &str,
    timing: Timing,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timing.verify_for;
    loop {
        let last = match crate::inventory::served_leaf(address, server_name).await {
            Ok(der) => {
                let served = Fingerprint::of(&der).to_string();
                if served == sha256 {
                    return Ok(());
                }
                format!("{address} serves {served}")
            }
            Err(e) => format!("{e:#}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::NotServed(format!(
                "{last} (expected {sha256}, waited {:?})",
                timing.verify_for
            )));
        }
        tokio::time::sleep(timing.poll_every).await;
    }
}

/// The leaf a configuration file names, by SHA-256 (`None` when unreadable or absent).
pub fn configured_leaf(path: &std::path::Path) -> Option<String> {
    let bytes = Zeroizing::new(std::fs::read(path).ok()?);
    let material = certkit::read(&bytes, None).ok()?;
    Some(material.certificates.first()?.facts().sha256.to_string())
}

/// Refuses when the port is held by another program: something answers there, but it does
/// not serve the certificate this endpoint's configuration names (nor the new one). Returns
/// what the port serves now, which a rollback is verified against.
pub async fn check_port(
    at: &VerifyAt,
    configured: Option<&str>,
    new: &str,
    unknown_is_ours: bool,
) -> Result<Option<String>> {
    let der = match crate::inventory::served_leaf(&at.address, at.server_name.as_deref()).await {
        Ok(der) => der,
        // Not running: nothing to collide with; the restart will start it.
        Err(crate::inventory::ProbeError::Refused { .. }) => return Ok(None),
        Err(e) => {
            return Err(Error::PortTaken {
                address: at.address.clone(),
                why: format!("{e}; free it or change the endpoint's port"),
            });
        }
    };
    let served = Fingerprint::of(&der).to_string();
    if Some(served.as_str()) == configured
        || served == new
        || (configured.is_none() && unknown_is_ours)
    {
        Ok(Some(served))
    } else {
        Err(Error::PortTaken {
            address: at.address.clone(),
            why: format!(
                "it serves a certificate ({served}) that this endpoint's configuration does not \
                 name; stop that program or change the port"
            ),
        })
    }
}

/// Finishes every job a crash or reboot interrupted: one that had verified commits, one
/// that had not yet touched a live file is marked failed, any other rolls back. What runs
/// and which files are touched come from `reach_of` (the endpoint's reach in the current
/// configuration); a record naming a file or change outside it, or an endpoint the
/// configuration no longer has, is set aside and nothing of it is done.
pub async fn recover(
    host: &Host,
    journal: &Journal,
    reach_of: &(dyn Fn(&str) -> Result<Reach> + Sync),
    timing: Timing,
) -> Vec<Record> {
    let mut finished = Vec::new();
    for mut record in journal.all() {
        if record.phase.is_final() {
            continue;
        }
        let reach = match reach_of(&record.endpoint).map(|reach| admit(&record, reach)) {
            Ok(Ok(reach)) => reach,
            Ok(Err(why)) | Err(Error::NotConfigured(why)) => {
                journal.set_aside(&record, &why);
                continue;
            }
            Err(e) => {
                let why = format!("the agent cannot read {} now: {e}", record.endpoint);
                journal.set_aside(&record, &why);
                continue;
            }
        };
        let mut quiet = |_: DeployStep, _: &str| {};
        match record.phase {
            Phase::Verified => commit(journal, &mut record),
            Phase::Preflight | Phase::Staged => {
                for file in &record.files {
                    let _ = std::fs::remove_file(files::staged_path(&file.path));
                }
                fail(
                    journal,
                    &mut record,
                    "the agent stopped before it changed anything; nothing was changed".into(),
                );
            }
            _ => {
                // Whatever the server loaded since (a reboot reads the files anew), a
                // restart with the restored files makes the running state match them.
                record.restarted = record.files.iter().any(|f| f.before != Before::NotReached)
                    || record
                        .windows
                        .iter()
                        .any(|w| w.before != WindowsBefore::NotReached);
                let reason = format!(
                    "the agent stopped mid-deployment (during {:?}); the previous files were \
                     put back at its next start",
                    record.phase
                );
                let undo = Undo {
                    host,
                    journal,
                    reach: &reach,
                    timing,
                };
                undo.roll_back(&mut record, reason, &mut quiet).await;
            }
        }
        tracing::warn!(job = %record.job_id, phase = ?record.phase, "finished an interrupted deployment");
        finished.push(record);
    }
    finished
}

/// The reach a record may be recovered within, or why it may not: every file and Windows
/// change it names must be one the endpoint's configuration allows.
fn admit(record: &Record, reach: Reach) -> std::result::Result<Reach, String> {
    let outside = |what: String| {
        format!(
            "it names {what}, which a deployment to {} (as configured now) never touches",
            record.endpoint
        )
    };
    if let Some(file) = record.files.iter().find(|f| !reach.allows_file(&f.path)) {
        return Err(outside(format!("the file {}", file.path.display())));
    }
    if let Some(change) = record.windows.iter().find(|w| !reach.allows(&w.change)) {
        return Err(outside(format!("the Windows change {:?}", change.change)));
    }
    Ok(reach)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod sage300_faults;
#[cfg(test)]
mod sage300_tests;
#[cfg(test)]
mod windows_tests;
