//! The console core's answers in the dashboard's model (`certfleet_web::model`), and its
//! errors as the pages' `UiError`.

use certfleet_web::model::*;

use crate::console::{self, CertificateStatus};

pub fn error(e: console::Error) -> UiError {
    use console::{Error, Refusal};
    match e {
        Error::Unauthenticated => UiError::Unauthorized,
        Error::Forbidden(Refusal::OneTimePassword) => {
            UiError::Forbidden("Change your one-time password first.".into())
        }
        Error::Forbidden(refusal) => UiError::Forbidden(sentence(&refusal.to_string())),
        Error::NotFound { what } => UiError::NotFound(capital(what)),
        Error::Invalid(message) | Error::Conflict(message) => UiError::BadRequest(message),
        Error::TooManyAttempts { retry_after_secs } => UiError::Forbidden(format!(
            "Too many failed logins from here: try again in {retry_after_secs} seconds."
        )),
        Error::Internal(e) => {
            tracing::error!("web UI request failed: {e}");
            UiError::Internal
        }
    }
}

/// First letter up.
fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A sentence for a page: first letter up, a full stop at the end.
fn sentence(text: &str) -> String {
    let mut out = capital(text);
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

pub fn role(role: console::Role) -> Role {
    match role {
        console::Role::Viewer => Role::Viewer,
        console::Role::Operator => Role::Operator,
        console::Role::Admin => Role::Admin,
    }
}

pub fn console_role(role: Role) -> console::Role {
    match role {
        Role::Viewer => console::Role::Viewer,
        Role::Operator => console::Role::Operator,
        Role::Admin => console::Role::Admin,
    }
}

pub fn viewer(caller: &console::Caller) -> Viewer {
    Viewer {
        id: caller.id(),
        name: caller.name().to_owned(),
        role: role(caller.role()),
        must_change_password: caller.must_change_password(),
    }
}

pub fn cert_status(status: CertificateStatus) -> CertStatus {
    match status {
        CertificateStatus::Expired => CertStatus::Expired,
        CertificateStatus::Misconfigured => CertStatus::Misconfigured,
        CertificateStatus::Expiring => CertStatus::Expiring,
        CertificateStatus::Healthy => CertStatus::Healthy,
    }
}

pub fn cert_item(row: &console::CertificateRow, now: i64) -> CertItem {
    CertItem {
        sha256: row.sha256.clone(),
        thumbprint: row.thumbprint.clone(),
        subject: row.subject.clone(),
        issuer: row.issuer.clone(),
        names: row.dns_names.clone(),
        not_before: row.not_before,
        not_after: row.not_after,
        days_left: (row.not_after - now).div_euclid(86_400),
        status: cert_status(CertificateStatus::of(row, now)),
        endpoints: row.endpoints,
        errors: row.errors,
        warnings: row.warnings,
    }
}

pub fn cert_query(query: &CertQuery) -> console::CertificateQuery {
    console::CertificateQuery {
        status: query.status.clone(),
        host: query.host.clone(),
        issuer: query.issuer.clone(),
        days: query.days,
        purpose: query.purpose.clone(),
        q: query.q.clone(),
        clients: query.clients.clone(),
        sort: query.sort.clone(),
        after: query.after.clone(),
    }
}

pub fn trust_item(t: certfleet_store::TrustRow) -> TrustItem {
    TrustItem {
        host_id: t.host_id,
        hostname: t.hostname,
        endpoint: t.endpoint,
        server_name: t.server_name,
        verdict: t.verdict,
        reason: t.reason,
        store: t.store,
        since: t.since,
    }
}

/// An endpoint with the clients that must trust it.
pub fn endpoint_with_clients(
    e: console::EndpointRow,
    clients: Vec<certfleet_store::TrustRow>,
) -> EndpointItem {
    EndpointItem {
        clients: clients.into_iter().map(trust_item).collect(),
        ..endpoint_item(e)
    }
}

pub fn endpoint_item(e: console::EndpointRow) -> EndpointItem {
    EndpointItem {
        clients: Vec::new(),
        host_id: e.host_id,
        hostname: e.hostname,
        kind: e.kind,
        name: e.name,
        address: e.address,
        config_path: e.config_path,
        configured_sha256: e.configured_sha256,
        served_sha256: e.served_sha256,
        errors: e.errors,
        findings: e
            .findings
            .into_iter()
            .map(|f| FindingItem {
                code: f.code,
                severity: f.severity,
                message: f.message,
                certificate: f.certificate,
            })
            .collect(),
    }
}

pub fn host_item(view: console::HostView) -> HostItem {
    let h = view.host;
    HostItem {
        id: h.id,
        hostname: h.hostname,
        fqdn: h.fqdn,
        os: format!("{} {}", h.os, h.arch),
        groups: h.groups,
        agent_version: h.agent_version,
        last_seen_at: h.last_seen_at,
        online: view.online,
        revoked: h.revoked,
        endpoints: h.endpoints,
        errors: h.errors,
        warnings: h.warnings,
        next_expiry: h.next_expiry,
    }
}

pub fn agent_item(view: console::AgentView) -> AgentItem {
    let status = match view.status() {
        console::AgentStatus::Online => AgentStatus::Online,
        console::AgentStatus::Offline => AgentStatus::Offline,
        console::AgentStatus::Revoked => AgentStatus::Revoked,
    };
    let a = view.agent;
    AgentItem {
        status,
        id: a.id,
        host_id: a.host_id,
        hostname: a.hostname,
        version: a.agent_version,
        last_seen_at: a.last_seen_at,
        enrolled_at: a.enrolled_at,
    }
}

pub fn renewal_item(r: console::RenewalRow) -> RenewalItem {
    RenewalItem {
        id: r.id,
        subject: r.subject,
        dns_names: r.dns_names,
        issuer: r.issuer,
        not_after: r.not_after,
        sha256: r.sha256,
        thumbprint: r.thumbprint,
        warnings: r.warnings,
        uploaded_by: r.uploaded_by,
        uploaded_at: r.uploaded_at,
    }
}

pub fn schedule_item(r: console::ScheduledRenewal) -> ScheduleItem {
    ScheduleItem {
        host_id: r.host_id,
        hostname: r.hostname,
        endpoint_key: r.endpoint_key,
        endpoint_name: r.endpoint_name,
        group: r.group,
        source: match r.source {
            certfleet_store::RenewalSource::InternalCa => "internal CA".into(),
            certfleet_store::RenewalSource::Acme => "ACME".into(),
            certfleet_store::RenewalSource::Upload => "upload".into(),
        },
        not_after: r.not_after,
        renews_at: r.renews_at,
        last_state: r.last.as_ref().map(|l| l.state.label()),
        last_detail: r
            .last
            .as_ref()
            .map(|l| l.detail.clone())
            .unwrap_or_default(),
        last_rollout_id: r.last.and_then(|l| l.rollout_id),
    }
}

pub fn issuing_ca_item(ca: console::IssuingCaView) -> IssuingCaItem {
    IssuingCaItem {
        subject: ca.subject,
        issuer: ca.issuer,
        sha256: ca.sha256,
        not_after: ca.not_after,
        permitted: ca.permitted,
        subordinate: ca.subordinate,
        clients: ca
            .clients
            .into_iter()
            .map(|t| CaClientItem {
                host_id: t.host_id,
                hostname: t.hostname,
                server: format!("{}:{}", t.server_name, t.port),
                verdict: t.verdict.as_str().to_owned(),
                trusted: t.verdict.is_trusted(),
                reason: t.reason,
                since: t.since,
            })
            .collect(),
    }
}

pub fn plan_item(p: console::Proposal) -> PlanItem {
    PlanItem {
        host_id: p.host_id,
        hostname: p.hostname,
        endpoint_key: p.endpoint_key,
        endpoint_name: p.endpoint_name,
        kind: p.kind,
        online: p.online,
        current_sha256: p.current_sha256,
        current_not_after: p.current_not_after,
        proposed: p.proposed,
        contested_by: p.contested_by,
        problems: p.problems,
        notes: p.notes,
    }
}

pub fn rollout_item(r: console::RolloutRow) -> RolloutItem {
    RolloutItem {
        id: r.id,
        renewal_id: r.renewal_id,
        subject: r.subject,
        state: r.state,
        start_at: r.start_at,
        time_zone: r.time_zone,
        max_failures: r.max_failures,
        created_by: r.created_by,
        created_at: r.created_at,
        finished_at: r.finished_at,
        detail: r.detail,
        targets: r.targets,
        verified: r.verified,
    }
}

pub fn target_item(t: console::TargetRow) -> TargetItem {
    TargetItem {
        id: t.id,
        host_id: t.host_id,
        hostname: t.hostname,
        endpoint_name: t.endpoint_name,
        endpoint_key: t.endpoint_key,
        wave: t.wave,
        state: t.state,
        step: t.step,
        detail: t.detail,
        updated_at: t.updated_at,
    }
}

pub fn window_item(w: console::WindowRow) -> WindowItem {
    WindowItem {
        id: w.id,
        group_name: w.group_name,
        weekdays: w.weekdays,
        start: console::hhmm(w.start_minute),
        end: console::hhmm(w.end_minute),
        utc_offset: console::utc_offset(w.utc_offset_minutes),
    }
}

pub fn outbox_item(m: console::OutboxEntry) -> OutboxItem {
    OutboxItem {
        subject: m.subject,
        recipients: m.recipients,
        created_at: m.created_at,
        sent_at: m.sent_at,
        attempts: m.attempts,
        last_error: m.last_error,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(
            super::sentence("this needs the admin role; you are viewer"),
            "This needs the admin role; you are viewer."
        );
        assert_eq!(super::capital("maintenance window"), "Maintenance window");
    }
}
