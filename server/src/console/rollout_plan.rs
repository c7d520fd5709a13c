//! The rollout use cases' logic: the plan (which endpoints a renewal renews, and what the
//! console can already tell about each), creating a rollout with its waves, and pausing,
//! resuming or cancelling one. The scheduler in `rollout` drives them from there.

use certfleet_store::AuditAction;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use certfleet_certkit::Purpose;
use certfleet_store::EndpointKind;

use certfleet_store::{
    EndpointUse, NewRollout, NewTarget, RenewalRow, RolloutRow, RolloutState, TargetAction,
    TargetRow, TargetState,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Console;
use super::Error;
use super::trust_first::{self, ClientTrust, TrustNeed};

/// An agent driver deploys to endpoints of this kind.
pub(super) fn deployable(kind: EndpointKind) -> bool {
    purpose_of(kind).is_some()
}

/// What certkit judges an endpoint kind's renewal for; `None`: no agent driver deploys it.
fn purpose_of(kind: EndpointKind) -> Option<Purpose> {
    match kind {
        EndpointKind::Apache => Some(Purpose::Apache),
        EndpointKind::Pem => Some(Purpose::Pem),
        // The connector's set-up asks for Client Authentication: judged as the agent will.
        EndpointKind::Sage300 => Some(Purpose::Sage300),
        EndpointKind::Store | EndpointKind::Other => None,
    }
}

/// One endpoint the renewal could go to, with the console's verdict before anything runs.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Proposal {
    pub host_id: i64,
    pub hostname: String,
    pub groups: Vec<String>,
    pub online: bool,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub kind: EndpointKind,
    /// `host:port` the endpoint is reached at, when known.
    pub address: Option<String>,
    pub current_sha256: String,
    pub current_not_after: i64,
    /// Proposed because it uses a certificate of the same subject and names.
    pub proposed: bool,
    /// A Sage 300 connector here still listens on http: this rollout is its first https,
    /// after which each BPA Platform connection to it is switched by hand.
    pub first_https: bool,
    /// The host that served this endpoint's names first, when that is another host and no
    /// operator has accepted this endpoint yet: an agent's claim to serve a name another
    /// host serves is not trusted with a key until someone accepts it.
    pub contested_by: Option<String>,
    /// Why it cannot take the renewal; empty when it can.
    pub problems: Vec<String>,
    /// Worth knowing, not blocking (e.g. the agent is offline now).
    pub notes: Vec<String>,
    /// The client machines that must trust this endpoint, and what the renewal asks of
    /// each: those that must first trust its certificate get a trust step before the switch.
    pub clients: Vec<ClientTrust>,
}

fn same_names(use_: &EndpointUse, renewal: &RenewalRow) -> bool {
    let lower = |v: &[String]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|n| n.to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    let old = lower(&use_.dns_names);
    let new = lower(&renewal.dns_names);
    if use_.subject == renewal.subject && old == new {
        return true;
    }
    !old.is_empty() && old.iter().all(|n| new.contains(n))
}

/// The name an endpoint is reached by, when it is a DNS name to check.
fn endpoint_host(use_: &EndpointUse) -> Option<&str> {
    let name = use_.endpoint_name.as_str();
    certfleet_store::is_dns_like(name).then_some(name)
}

/// Endpoints whose names another host served first, and that no operator accepted: the
/// owning host's name, by (host id, endpoint key).
pub(super) async fn contested(
    console: &Console,
    uses: &[EndpointUse],
) -> Result<HashMap<(i64, String), String>, Error> {
    let mut names: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
    for use_ in uses {
        names
            .entry((use_.host_id, use_.endpoint_key.clone()))
            .or_default()
            .extend(certfleet_store::claimed_names(
                &use_.endpoint_name,
                &use_.dns_names,
            ));
    }
    let all: Vec<String> = names
        .values()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (owners, accepted) = tokio::try_join!(
        console.store.name_owners(&all),
        console.store.accepted_endpoints()
    )?;
    let mut out = HashMap::new();
    for (endpoint, names) in names {
        if accepted.contains(&endpoint) {
            continue;
        }
        if let Some(owner) = names
            .iter()
            .filter_map(|n| owners.get(n))
            .find(|o| o.host_id != endpoint.0)
        {
            out.insert(endpoint, owner.hostname.clone());
        }
    }
    Ok(out)
}

fn covers(names: &[String], host: &str) -> bool {
    names
        .iter()
        .any(|pattern| certfleet_certkit::dns_name_matches(pattern, host))
}

/// Every endpoint the renewal could renew: the proposed ones (same subject and names, or
/// names the renewal covers) first, then the rest an admin may add.
pub async fn plan(console: &Console, renewal_id: i64) -> Result<Vec<Proposal>, Error> {
    plan_on(console, renewal_id, None).await
}

/// The plan, for the endpoints of one host only when `host` is given (a renewal whose key
/// one host keeps goes nowhere else, and a fleet-wide plan per renewal would cost the
/// whole fleet each time).
async fn plan_on(
    console: &Console,
    renewal_id: i64,
    host: Option<i64>,
) -> Result<Vec<Proposal>, Error> {
    let renewal = console.store.renewal(renewal_id).await?;
    let material = certfleet_certkit::read(renewal.chain_pem.as_bytes(), None).ok();
    // What clients must trust may be the root the upload came with, above the chain.
    let mut new_chain = material
        .as_ref()
        .map(|m| m.certificates.clone())
        .unwrap_or_default();
    if let Ok(root) = certfleet_certkit::read(renewal.root_pem.as_bytes(), None) {
        new_chain.extend(root.certificates);
    }
    let now = console.now();
    // certkit's verdict for a host name and kind, the same the agent's preflight reaches;
    // many endpoints share one, so each is judged once.
    let mut verdicts: HashMap<(Option<String>, Purpose), Vec<String>> = HashMap::new();
    let mut misfits = |host: Option<&str>, purpose: Purpose| -> Vec<String> {
        verdicts
            .entry((host.map(str::to_owned), purpose))
            .or_insert_with(|| {
                let Some(material) = &material else {
                    return vec!["the renewal's chain is unreadable: upload it again".into()];
                };
                let host = host.and_then(|h| certfleet_certkit::HostName::parse(h).ok());
                certfleet_certkit::misfits(material, host, purpose, now)
                    .iter()
                    .map(|f| format!("{}: {}", f.code, f.message))
                    .collect()
            })
            .clone()
    };
    let mut proposals: BTreeMap<(bool, String, String), Proposal> = BTreeMap::new();
    let uses = console.store.endpoint_uses_on(host).await?;
    let contested = contested(console, &uses).await?;
    // An endpoint already on the renewal (configured or served) is done.
    let done: std::collections::HashSet<(i64, &str)> = uses
        .iter()
        .filter(|u| u.sha256 == renewal.sha256)
        .map(|u| (u.host_id, u.endpoint_key.as_str()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for use_ in uses.iter().cloned() {
        if done.contains(&(use_.host_id, use_.endpoint_key.as_str()))
            || !seen.insert((use_.host_id, use_.endpoint_key.clone()))
        {
            continue;
        }
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        match purpose_of(use_.kind) {
            Some(purpose) => problems.extend(misfits(endpoint_host(&use_), purpose)),
            None => problems.push(format!(
                "certfleet cannot deploy to {} endpoints yet",
                use_.kind
            )),
        }
        if renewal
            .key_agent_id
            .as_ref()
            .is_some_and(|keeper| *keeper != use_.agent_id)
        {
            problems.push(
                "this renewal's key was made on another host and never left it: renew this \
                 endpoint on its own (Renew now)"
                    .into(),
            );
        }
        if use_.sha256.is_empty() {
            notes.push("no certificate yet: the rollout creates the site".into());
        } else if renewal.not_after <= use_.not_after {
            notes.push("the renewal does not expire later than the current certificate".into());
        }
        let contested_by = contested
            .get(&(use_.host_id, use_.endpoint_key.clone()))
            .cloned();
        if let Some(owner) = &contested_by {
            notes.push(format!(
                "new: {owner} served these names first; accept this endpoint to include it"
            ));
        }
        let online = console.registry.is_connected(&use_.agent_id);
        if !online {
            notes.push("the agent is offline: it gets its step when it returns".into());
        }
        let clients = trust_first::clients(
            console,
            &use_.endpoint_name,
            use_.address.as_deref(),
            &new_chain,
        )
        .await?;
        notes.extend(client_notes(&clients));
        if use_.http_only {
            notes.push(FIRST_HTTPS_STEP.into());
        }
        // A site without a certificate yet (a new managed site) is proposed by its name.
        // Only where a driver can deploy: a store endpoint (the same certificate seen in
        // LocalMachine\My) is listed, not proposed.
        let proposed = purpose_of(use_.kind).is_some()
            && if use_.sha256.is_empty() {
                endpoint_host(&use_).is_some_and(|h| covers(&renewal.dns_names, h))
            } else {
                same_names(&use_, &renewal)
            };
        proposals.insert(
            (!proposed, use_.hostname.clone(), use_.endpoint_key.clone()),
            Proposal {
                host_id: use_.host_id,
                hostname: use_.hostname,
                groups: use_.groups,
                online,
                endpoint_key: use_.endpoint_key,
                endpoint_name: use_.endpoint_name,
                kind: use_.kind,
                address: use_.address,
                current_sha256: use_.sha256,
                current_not_after: use_.not_after,
                proposed,
                first_https: use_.http_only,
                contested_by,
                problems,
                notes,
                clients,
            },
        );
    }
    Ok(proposals.into_values().collect())
}

/// What stays manual after a connector's first https, on the BPA Platform side.
const FIRST_HTTPS_STEP: &str = "first https for this connector: afterwards, in BPA Platform, \
     switch each connector connection to this server to https and re-select its company \
     database (certfleet cannot do this step)";

/// What the plan says about an endpoint's clients: who gets a trust step first, who may
/// not trust the renewal and why.
fn client_notes(clients: &[ClientTrust]) -> Vec<String> {
    let mut notes = Vec::new();
    let first: Vec<&ClientTrust> = clients
        .iter()
        .filter(|c| matches!(c.need, TrustNeed::Install { .. }))
        .collect();
    if !first.is_empty() {
        let names: Vec<String> = first
            .iter()
            .map(|c| {
                if c.online {
                    c.hostname.clone()
                } else {
                    format!("{} (offline now)", c.hostname)
                }
            })
            .collect();
        notes.push(format!(
            "{} of {} client machines would not trust the renewal: the rollout first makes              them trust it ({}), then switches the server",
            first.len(),
            clients.len(),
            names.join(", ")
        ));
    }
    for c in clients {
        if let TrustNeed::Unknown { reason } = &c.need {
            notes.push(format!(
                "{} may not trust the renewal: {reason}",
                c.hostname
            ));
        }
    }
    notes
}

/// The trust steps the chosen endpoints need: one per client host and endpoint it must
/// trust (several server endpoints may share it).
fn trust_targets(chosen: &[&Proposal]) -> Vec<NewTarget> {
    let mut out: BTreeMap<(i64, String), NewTarget> = BTreeMap::new();
    for p in chosen {
        for c in &p.clients {
            if let TrustNeed::Install { sha256, .. } = &c.need {
                let replaces = c.old_anchor.clone().filter(|old| old != sha256);
                out.entry((c.host_id, c.endpoint.clone()))
                    .or_insert_with(|| NewTarget {
                        host_id: c.host_id,
                        endpoint_key: c.endpoint.clone(),
                        endpoint_name: format!("trusts {} first", c.endpoint),
                        wave: 0,
                        action: TargetAction::Trust,
                        trust_sha256: Some(sha256.clone()),
                        first_https: false,
                        replaces_sha256: replaces,
                    });
            }
        }
    }
    out.into_values().collect()
}

/// What an operator asks for.
#[derive(Debug, Clone, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    pub renewal_id: i64,
    /// `host_id` + `endpoint_key` of each target; default: every proposed endpoint
    /// without problems whose names no other host served first (or that was accepted).
    #[serde(default)]
    pub targets: Option<Vec<TargetChoice>>,
    /// RFC 3339 with its offset (`2026-12-05T02:00:00+01:00`); absent: now.
    #[serde(default)]
    pub start_at: Option<String>,
    /// With `targets` absent: only hosts in one of these groups.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// The canary host; default the host the console has known longest (a console fact,
    /// not an agent's claim such as its name).
    #[serde(default)]
    pub canary_host_id: Option<i64>,
    /// Hosts per wave after the canary (default 1), or a share of the rest.
    #[serde(default)]
    pub wave_hosts: Option<i64>,
    #[serde(default)]
    pub wave_percent: Option<i64>,
    /// Stop after this many failed or rolled-back endpoints (default 1: the first).
    #[serde(default)]
    pub max_failures: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetChoice {
    pub host_id: i64,
    pub endpoint_key: String,
}

/// Wave numbers per host: the canary alone in wave 0, then `per_wave` hosts per wave.
fn waves(hosts: &[i64], canary: i64, per_wave: usize) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    out.insert(canary, 0);
    let rest: Vec<i64> = hosts.iter().copied().filter(|h| *h != canary).collect();
    for (i, chunk) in rest.chunks(per_wave.max(1)).enumerate() {
        for host in chunk {
            out.insert(*host, i as i64 + 1);
        }
    }
    out
}

fn parse_start(text: Option<&str>, now: OffsetDateTime) -> Result<(i64, String), Error> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok((now.unix_timestamp(), "UTC".into()));
    };
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        Error::Invalid(format!(
            "start_at {text:?} is not a date and time with its offset, like \
             2026-12-05T02:00:00+01:00"
        ))
    })?;
    if at < now - time::Duration::minutes(5) {
        return Err(Error::Invalid(format!(
            "start_at {text} is in the past: pick a later time, or leave it out to start now"
        )));
    }
    let offset = at.offset();
    let zone = if offset.is_utc() {
        "UTC".to_owned()
    } else {
        let (h, m, _) = offset.as_hms();
        format!("UTC{:+03}:{:02}", h, m.abs())
    };
    Ok((at.unix_timestamp(), zone))
}

/// Creates a rollout (scheduled; the scheduler starts it at its time), audited.
pub async fn create(
    console: &Console,
    actor: &str,
    request: &RolloutRequest,
) -> Result<RolloutRow, Error> {
    create_on(console, actor, request, None).await
}

/// [`create`], planned over one host's endpoints only when `host` is given.
pub(super) async fn create_on(
    console: &Console,
    actor: &str,
    request: &RolloutRequest,
    host: Option<i64>,
) -> Result<RolloutRow, Error> {
    let now = console.now();
    let proposals = plan_on(console, request.renewal_id, host).await?;
    let chosen: Vec<&Proposal> = match &request.targets {
        None => proposals
            .iter()
            .filter(|p| p.proposed && p.problems.is_empty() && p.contested_by.is_none())
            .filter(|p| {
                request
                    .groups
                    .as_ref()
                    .is_none_or(|gs| gs.iter().any(|g| p.groups.contains(g)))
            })
            .collect(),
        Some(choices) => {
            let mut chosen = Vec::new();
            for choice in choices {
                let p = proposals
                    .iter()
                    .find(|p| p.host_id == choice.host_id && p.endpoint_key == choice.endpoint_key)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "host {} has no endpoint {:?} that could take this renewal",
                            choice.host_id, choice.endpoint_key
                        ))
                    })?;
                if let Some(owner) = &p.contested_by {
                    return Err(Error::Invalid(format!(
                        "{} on {} claims names {owner} served first: accept the endpoint \
                         (the plan's Accept, or POST /api/v1/hosts/{}/endpoints/accept) \
                         before a renewal goes to it",
                        p.endpoint_name, p.hostname, p.host_id
                    )));
                }
                if let Some(problem) = p.problems.first() {
                    return Err(Error::Invalid(format!(
                        "{} on {}: {problem}",
                        p.endpoint_name, p.hostname
                    )));
                }
                chosen.push(p);
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(Error::Invalid(
            "no endpoint to renew: none uses a certificate with this renewal's names; pick \
             the endpoints yourself (targets)"
                .into(),
        ));
    }
    let (start_at, time_zone) = parse_start(request.start_at.as_deref(), now)?;
    let max_failures = request.max_failures.unwrap_or(1);
    if max_failures < 1 {
        return Err(Error::Invalid(
            "max_failures must be at least 1 (1 stops at the first failure)".into(),
        ));
    }
    let mut hosts: Vec<(String, i64)> = chosen
        .iter()
        .map(|p| (p.hostname.clone(), p.host_id))
        .collect();
    hosts.sort();
    hosts.dedup();
    let host_ids: Vec<i64> = hosts.iter().map(|(_, id)| *id).collect();
    let canary = match request.canary_host_id {
        Some(id) if host_ids.contains(&id) => id,
        Some(id) => {
            return Err(Error::Invalid(format!(
                "the canary host {id} is not among the rollout's hosts"
            )));
        }
        // Host ids grow as hosts first say hello: the lowest is the one known longest.
        None => host_ids.iter().copied().min().unwrap_or_default(),
    };
    let per_wave = match (request.wave_hosts, request.wave_percent) {
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(
                "give wave_hosts or wave_percent, not both".into(),
            ));
        }
        (Some(n), None) if n >= 1 => n as usize,
        (None, Some(p)) if (1..=100).contains(&p) => {
            ((host_ids.len() - 1) * p as usize).div_ceil(100).max(1)
        }
        (None, None) => 1,
        _ => {
            return Err(Error::Invalid(
                "wave_hosts must be at least 1, wave_percent between 1 and 100".into(),
            ));
        }
    };
    let wave_of = waves(&host_ids, canary, per_wave);
    // Clients that would not trust the renewal are made to trust it in a wave of their own,
    // before any server switches.
    let mut targets = trust_targets(&chosen);
    let first = i64::from(!targets.is_empty());
    targets.extend(chosen.iter().map(|p| NewTarget {
        host_id: p.host_id,
        endpoint_key: p.endpoint_key.clone(),
        endpoint_name: p.endpoint_name.clone(),
        wave: first + wave_of.get(&p.host_id).copied().unwrap_or(0),
        action: TargetAction::Deploy,
        trust_sha256: None,
        first_https: p.first_https,
        replaces_sha256: None,
    }));
    let trust_steps = targets.len() - chosen.len();
    let id = console
        .store
        .create_rollout(&NewRollout {
            renewal_id: request.renewal_id,
            start_at,
            time_zone: &time_zone,
            wave_hosts: request.wave_hosts,
            wave_percent: request.wave_percent,
            max_failures,
            created_by: actor,
            created_at: now.unix_timestamp(),
            targets,
        })
        .await?;
    console
        .store
        .audit(
            now.unix_timestamp(),
            actor,
            AuditAction::RolloutCreated,
            Some(&format!("rollout #{id}")),
            Some(&format!(
                "renewal #{}, {} endpoints on {} hosts{}, starts {}",
                request.renewal_id,
                chosen.len(),
                host_ids.len(),
                if trust_steps > 0 {
                    format!(", after {trust_steps} client trust steps")
                } else {
                    String::new()
                },
                if start_at <= now.unix_timestamp() {
                    "now".to_owned()
                } else {
                    request.start_at.clone().unwrap_or_default()
                }
            )),
        )
        .await?;
    console.rollout_wake.notify_one();
    Ok(console.store.rollout(id).await?)
}

/// After a rollout that put trust first: a new rollout whose steps take out of each client
/// the old anchor it trusted the server by, where certfleet had installed it (the agent
/// refuses anything else, and puts an entry back when the server is not trusted without it).
/// A separate, later step, never part of the switch.
pub async fn cleanup(console: &Console, actor: &str, id: i64) -> Result<RolloutRow, Error> {
    let rollout = console.store.rollout(id).await?;
    if rollout.state != RolloutState::Succeeded {
        return Err(Error::Conflict(format!(
            "rollout #{id} is {}: old trust entries are taken out only after a rollout \
             succeeded",
            rollout.state
        )));
    }
    let targets: Vec<NewTarget> = console
        .store
        .rollout_targets(id)
        .await?
        .into_iter()
        .filter(|t| t.action == TargetAction::Trust && t.state == TargetState::Verified)
        .filter_map(|t| {
            let old = t.replaces_sha256?;
            Some(NewTarget {
                host_id: t.host_id,
                endpoint_name: format!(
                    "no longer trusts {} by {}",
                    t.endpoint_key,
                    &old[..16.min(old.len())]
                ),
                endpoint_key: t.endpoint_key,
                wave: 0,
                action: TargetAction::Untrust,
                trust_sha256: Some(old),
                first_https: false,
                replaces_sha256: None,
            })
        })
        .collect();
    if targets.is_empty() {
        return Err(Error::Invalid(format!(
            "rollout #{id} made no client trust a new certificate in place of one the console \
             knows: there is nothing to take out"
        )));
    }
    let now = console.now().unix_timestamp();
    let count = targets.len();
    let new_id = console
        .store
        .create_rollout(&NewRollout {
            renewal_id: rollout.renewal_id,
            start_at: now,
            time_zone: "UTC",
            wave_hosts: None,
            wave_percent: None,
            // Every client is tried: one whose entry is not certfleet's says so and fails
            // alone.
            max_failures: count as i64 + 1,
            created_by: actor,
            created_at: now,
            targets,
        })
        .await?;
    console
        .store
        .audit(
            now,
            actor,
            AuditAction::RolloutCreated,
            Some(&format!("rollout #{new_id}")),
            Some(&format!(
                "trust cleanup after rollout #{id}: {count} client trust entries to take out"
            )),
        )
        .await?;
    console.rollout_wake.notify_one();
    Ok(console.store.rollout(new_id).await?)
}

/// A rollout with its targets, for the API and the UI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolloutView {
    #[serde(flatten)]
    pub rollout: RolloutRow,
    pub targets: Vec<TargetRow>,
}

pub async fn view(console: &Console, id: i64) -> Result<RolloutView, Error> {
    Ok(RolloutView {
        rollout: console.store.rollout(id).await?,
        targets: console.store.rollout_targets(id).await?,
    })
}

/// What an operator can do to a running or scheduled rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Cancel => "cancel",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        [Control::Pause, Control::Resume, Control::Cancel]
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown action {text:?}: use pause, resume or cancel"
                ))
            })
    }

    fn audit_action(self) -> AuditAction {
        match self {
            Control::Pause => AuditAction::RolloutPaused,
            Control::Resume => AuditAction::RolloutResumed,
            Control::Cancel => AuditAction::RolloutCancelled,
        }
    }

    fn done(self) -> &'static str {
        match self {
            Control::Pause => "paused",
            Control::Resume => "resumed",
            Control::Cancel => RolloutState::Cancelled.as_str(),
        }
    }
}

/// Pause, resume or cancel. Targets already sent finish (an agent never stops half-way);
/// cancelling marks the pending ones cancelled.
pub async fn control(
    console: &Console,
    actor: &str,
    id: i64,
    action: Control,
) -> Result<RolloutRow, Error> {
    let now = console.now_secs();
    use RolloutState::{Cancelled, Paused, Running, Scheduled};
    let (from, to): (&[RolloutState], RolloutState) = match action {
        Control::Pause => (&[Scheduled, Running], Paused),
        // One paused before its start time waits for it again.
        Control::Resume if console.store.rollout(id).await?.start_at > now => {
            (&[Paused], Scheduled)
        }
        Control::Resume => (&[Paused], Running),
        Control::Cancel => (&[Scheduled, Running, Paused], Cancelled),
    };
    let done = action.done();
    let detail = format!("{done} by {actor}");
    if !console
        .store
        .set_rollout_state(id, from, to, Some(&detail), now)
        .await?
    {
        let current = console.store.rollout(id).await?;
        return Err(Error::Conflict(format!(
            "rollout #{id} is {}: it cannot be {done}",
            current.state
        )));
    }
    if to == Cancelled {
        for target in console.store.rollout_targets(id).await? {
            console
                .store
                .set_target_state(
                    target.id,
                    &[TargetState::Pending],
                    TargetState::Cancelled,
                    None,
                    &detail,
                    now,
                )
                .await?;
        }
    }
    console
        .store
        .audit(
            now,
            actor,
            action.audit_action(),
            Some(&format!("rollout #{id}")),
            None,
        )
        .await?;
    console.publish(crate::events::LiveEvent::RolloutChanged { rollout_id: id });
    console.rollout_wake.notify_one();
    Ok(console.store.rollout(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_goes_alone_then_waves_of_the_rest() {
        let w = waves(&[1, 2, 3, 4, 5], 3, 2);
        assert_eq!(w[&3], 0);
        assert_eq!((w[&1], w[&2], w[&4], w[&5]), (1, 1, 2, 2));
    }

    #[test]
    fn a_start_time_needs_its_offset_and_the_future() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("t");
        assert_eq!(parse_start(None, now).expect("now").0, now.unix_timestamp());
        let (at, zone) = parse_start(Some("2027-02-01T02:00:00+01:00"), now).expect("future");
        assert_eq!(zone, "UTC+01:00");
        assert_eq!(at, 1_801_443_600);
        assert!(parse_start(Some("2027-02-01 02:00"), now).is_err());
        assert!(parse_start(Some("2020-01-01T00:00:00Z"), now).is_err());
    }
}
