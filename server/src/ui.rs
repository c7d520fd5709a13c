//! The console behind the web UI: `certfleet_web::backend::Backend` over the store, the PKI
//! and the gateway. Every method checks the viewer's role first; the JSON API shares the
//! conversions below, so both speak of certificates the same way.

use std::sync::Arc;

use axum::http::Method;
use axum::http::request::Parts;
use certfleet_certkit::Thumbprint;
use certfleet_store::{
    CertSort, CertificateFilter, CertificateRow, EndpointRow, HostRow, Role as StoreRole,
};
use certfleet_web::backend::Backend;
use certfleet_web::model::*;

use crate::auth::{self, Sessions};
use crate::state::AppState;

#[derive(Debug)]
pub struct ConsoleBackend {
    state: AppState,
}

impl ConsoleBackend {
    pub fn shared(state: AppState) -> certfleet_web::backend::SharedBackend {
        Arc::new(ConsoleBackend { state })
    }
}

fn role_to_ui(role: StoreRole) -> Role {
    match role {
        StoreRole::Viewer => Role::Viewer,
        StoreRole::Operator => Role::Operator,
        StoreRole::Admin => Role::Admin,
    }
}

fn role_to_store(role: Role) -> StoreRole {
    match role {
        Role::Viewer => StoreRole::Viewer,
        Role::Operator => StoreRole::Operator,
        Role::Admin => StoreRole::Admin,
    }
}

fn internal(e: impl std::fmt::Display) -> UiError {
    tracing::error!("web UI request failed: {e}");
    UiError::Internal
}

pub(crate) fn store_error(e: certfleet_store::Error) -> UiError {
    match e {
        certfleet_store::Error::NotFound { what } => UiError::NotFound(what.to_string()),
        other => internal(other),
    }
}

/// The user must hold `role` (and not be in the middle of a one-time password).
pub(crate) fn require(viewer: &Viewer, role: Role) -> Result<(), UiError> {
    if viewer.must_change_password {
        return Err(UiError::Forbidden(
            "Change your one-time password first.".into(),
        ));
    }
    if viewer.role < role {
        return Err(UiError::Forbidden(format!(
            "This needs the {} role; you are {}.",
            role.as_str(),
            viewer.role.as_str()
        )));
    }
    Ok(())
}

/// The certificates filter for a query from the UI or the API.
pub fn certificate_filter(
    query: &CertQuery,
    now: i64,
    limit: i64,
) -> Result<CertificateFilter, String> {
    if let Some(status) = &query.status
        && !["expired", "expiring", "healthy", "misconfigured"].contains(&status.as_str())
    {
        return Err(format!(
            "status {status:?} is not one of expired, expiring, healthy, misconfigured"
        ));
    }
    let sort = match query.sort.as_deref().unwrap_or("expiry") {
        "expiry" | "" => CertSort::ExpiryAsc,
        "-expiry" => CertSort::ExpiryDesc,
        "subject" | "-subject" => CertSort::SubjectAsc,
        other => {
            return Err(format!(
                "sort {other:?} is not one of expiry, -expiry, subject"
            ));
        }
    };
    let after = match &query.after {
        None => None,
        Some(cursor) => Some(
            cursor
                .rsplit_once(':')
                .map(|(value, sha)| (value.to_owned(), sha.to_owned()))
                .ok_or("`after` must be the `next` value of the previous page")?,
        ),
    };
    // A pasted thumbprint (spaces, colons, invisible marks) searches as its clean form.
    let search = query.q.as_deref().map(|q| match Thumbprint::parse(q) {
        Ok(t) => t.to_string(),
        Err(_) => q.trim().to_owned(),
    });
    Ok(CertificateFilter {
        expires_before: query.days.map(|days| now + (days + 1) * 86_400),
        status: query.status.clone(),
        host_id: query.host.as_deref().and_then(|h| h.trim().parse().ok()),
        host_name: query
            .host
            .clone()
            .filter(|h| !h.trim().is_empty() && h.trim().parse::<i64>().is_err()),
        search,
        issuer: query.issuer.clone().filter(|s| !s.trim().is_empty()),
        kind: query.purpose.clone().filter(|s| !s.is_empty()),
        sort,
        after,
        limit,
        now,
    })
}

pub fn cursor(next: Option<(String, String)>) -> Option<String> {
    next.map(|(value, sha)| format!("{value}:{sha}"))
}

pub fn status_of(row: &CertificateRow, now: i64) -> CertStatus {
    if row.not_after < now {
        CertStatus::Expired
    } else if row.errors > 0 {
        CertStatus::Misconfigured
    } else if row.not_after < now + certfleet_store::EXPIRING_SECS {
        CertStatus::Expiring
    } else {
        CertStatus::Healthy
    }
}

pub fn cert_item(row: &CertificateRow, now: i64) -> CertItem {
    CertItem {
        sha256: row.sha256.clone(),
        thumbprint: row.thumbprint.clone(),
        subject: row.subject.clone(),
        issuer: row.issuer.clone(),
        names: row.dns_names.clone(),
        not_before: row.not_before,
        not_after: row.not_after,
        days_left: (row.not_after - now).div_euclid(86_400),
        status: status_of(row, now),
        endpoints: row.endpoints,
        errors: row.errors,
        warnings: row.warnings,
    }
}

fn endpoint_item(e: EndpointRow) -> EndpointItem {
    EndpointItem {
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

impl ConsoleBackend {
    fn host_item(&self, h: HostRow) -> HostItem {
        let fresh = h
            .last_seen_at
            .is_some_and(|t| t >= self.state.now_secs() - self.state.config.offline_after_secs());
        HostItem {
            id: h.id,
            hostname: h.hostname,
            fqdn: h.fqdn,
            os: format!("{} {}", h.os, h.arch),
            groups: h.groups,
            agent_version: h.agent_version,
            last_seen_at: h.last_seen_at,
            online: fresh && !h.revoked,
            revoked: h.revoked,
            endpoints: h.endpoints,
            errors: h.errors,
            warnings: h.warnings,
            next_expiry: h.next_expiry,
        }
    }

    fn audit(&self, actor: &str, action: &str, target: Option<&str>, detail: Option<&str>) {
        let store = self.state.store.clone();
        let (at, actor, action) = (self.state.now_secs(), actor.to_owned(), action.to_owned());
        let (target, detail) = (target.map(str::to_owned), detail.map(str::to_owned));
        tokio::spawn(async move {
            if let Err(e) = store
                .audit(at, &actor, &action, target.as_deref(), detail.as_deref())
                .await
            {
                tracing::error!("cannot write the audit log: {e}");
            }
        });
    }
}

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn viewer(&self, parts: &Parts, changing: bool) -> Result<Viewer, UiError> {
        let token = auth::cookie_token(&parts.headers).ok_or(UiError::Unauthorized)?;
        let user_id = self
            .state
            .sessions
            .verify(&token)
            .ok_or(UiError::Unauthorized)?;
        if (changing || parts.method != Method::GET) && !auth::same_origin(parts) {
            return Err(UiError::Forbidden(
                "Cross-origin request refused: changes must come from the console's own pages."
                    .into(),
            ));
        }
        let user = self
            .state
            .store
            .user_by_id(user_id)
            .await
            .map_err(store_error)?
            .filter(|u| !u.disabled)
            .ok_or(UiError::Unauthorized)?;
        Ok(Viewer {
            id: user.id,
            name: user.username,
            role: role_to_ui(user.role),
            must_change_password: user.must_change_password,
        })
    }

    async fn login(&self, username: &str, password: &str) -> Result<(Viewer, String), UiError> {
        let now = self.state.now_secs();
        let user = self
            .state
            .store
            .user_by_name(username)
            .await
            .map_err(store_error)?;
        let valid = match &user {
            Some(u) if !u.disabled => auth::verify_password(password, &u.password_hash),
            _ => {
                auth::equalise_timing(password);
                false
            }
        };
        let Some(user) = user.filter(|_| valid) else {
            self.audit(username, "login.failed", None, Some("web"));
            return Err(UiError::Forbidden("Wrong user name or password.".into()));
        };
        let token = self
            .state
            .sessions
            .issue(user.id, &user.username, user.role, now)
            .map_err(internal)?;
        self.audit(&user.username, "login", None, Some("web"));
        Ok((
            Viewer {
                id: user.id,
                name: user.username,
                role: role_to_ui(user.role),
                must_change_password: user.must_change_password,
            },
            Sessions::cookie(&token),
        ))
    }

    async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<(), UiError> {
        auth::check_new_password(current, new).map_err(UiError::BadRequest)?;
        let row = self
            .state
            .store
            .user_by_id(viewer.id)
            .await
            .map_err(store_error)?
            .ok_or(UiError::Unauthorized)?;
        if !auth::verify_password(current, &row.password_hash) {
            return Err(UiError::Forbidden("The current password is wrong.".into()));
        }
        let hash = auth::hash_password(new).map_err(internal)?;
        self.state
            .store
            .set_password(viewer.id, &hash, false)
            .await
            .map_err(store_error)?;
        self.audit(&viewer.name, "password.changed", None, Some("web"));
        Ok(())
    }

    async fn overview(&self, viewer: &Viewer) -> Result<Overview, UiError> {
        require(viewer, Role::Viewer)?;
        let now = self.state.now_secs();
        let store = &self.state.store;
        // Three independent reads: SQLite's readers run side by side in WAL mode.
        let urgent_filter = CertificateFilter {
            limit: 10,
            now,
            ..CertificateFilter::default()
        };
        let (summary, timeline, urgent) = tokio::try_join!(
            store.summary(now, self.state.config.offline_after_secs()),
            store.expiry_timeline(now, 90),
            store.certificates(&urgent_filter),
        )
        .map_err(store_error)?;
        Ok(Overview {
            counts: Counts {
                certificates: summary.certificates,
                expired: summary.expired,
                expiring_7_days: summary.expiring_7_days,
                expiring_30_days: summary.expiring_30_days,
                healthy: summary.healthy,
                misconfigured: summary.misconfigured,
                agents_online: summary.agents_online,
                agents_offline: summary.agents - summary.agents_online - summary.agents_revoked,
            },
            timeline,
            urgent: urgent.items.iter().map(|r| cert_item(r, now)).collect(),
        })
    }

    async fn certificates(
        &self,
        viewer: &Viewer,
        query: &CertQuery,
        limit: i64,
    ) -> Result<CertPage, UiError> {
        require(viewer, Role::Viewer)?;
        let now = self.state.now_secs();
        let filter = certificate_filter(query, now, limit).map_err(UiError::BadRequest)?;
        let page = self
            .state
            .store
            .certificates(&filter)
            .await
            .map_err(store_error)?;
        Ok(CertPage {
            items: page.items.iter().map(|r| cert_item(r, now)).collect(),
            next: cursor(page.next),
        })
    }

    async fn certificate(&self, viewer: &Viewer, sha256: &str) -> Result<CertDetail, UiError> {
        require(viewer, Role::Viewer)?;
        let now = self.state.now_secs();
        let sha256 = sha256.to_ascii_uppercase();
        let store = &self.state.store;
        let row = store
            .certificate(&sha256, now)
            .await
            .map_err(store_error)?
            .ok_or_else(|| UiError::NotFound("Certificate".into()))?;
        let endpoints = store
            .endpoints(None, Some(&sha256))
            .await
            .map_err(store_error)?;
        let der = store
            .certificate_der(&sha256)
            .await
            .map_err(store_error)?
            .unwrap_or_default();
        Ok(CertDetail {
            item: cert_item(&row, now),
            serial: row.serial.clone(),
            ip_addresses: row.ip_addresses.clone(),
            key: format!("{} {}", row.key_algorithm, row.key_bits),
            signature_algorithm: row.signature_algorithm.clone(),
            self_signed: row.self_signed,
            pem: pem::encode(&pem::Pem::new("CERTIFICATE", der)),
            endpoints: endpoints.into_iter().map(endpoint_item).collect(),
        })
    }

    async fn hosts(&self, viewer: &Viewer) -> Result<Vec<HostItem>, UiError> {
        require(viewer, Role::Viewer)?;
        let hosts = self.state.store.hosts().await.map_err(store_error)?;
        Ok(hosts.into_iter().map(|h| self.host_item(h)).collect())
    }

    async fn host(&self, viewer: &Viewer, id: i64) -> Result<HostDetail, UiError> {
        require(viewer, Role::Viewer)?;
        let now = self.state.now_secs();
        let store = &self.state.store;
        let host = store
            .host(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| UiError::NotFound("Host".into()))?;
        let endpoints = store.endpoints(Some(id), None).await.map_err(store_error)?;
        let certificates = store
            .certificates(&CertificateFilter {
                host_id: Some(id),
                limit: 500,
                now,
                ..CertificateFilter::default()
            })
            .await
            .map_err(store_error)?;
        let labels = store.host_labels(id).await.map_err(store_error)?;
        Ok(HostDetail {
            labels,
            can_label: viewer.role >= Role::Admin && !viewer.must_change_password,
            host: self.host_item(host),
            endpoints: endpoints.into_iter().map(endpoint_item).collect(),
            certificates: certificates
                .items
                .iter()
                .map(|r| cert_item(r, now))
                .collect(),
        })
    }

    async fn agents(&self, viewer: &Viewer) -> Result<Vec<AgentItem>, UiError> {
        require(viewer, Role::Viewer)?;
        let cutoff = self.state.now_secs() - self.state.config.offline_after_secs();
        let agents = self.state.store.list_agents().await.map_err(store_error)?;
        Ok(agents
            .into_iter()
            .map(|a| AgentItem {
                status: if a.revoked_at.is_some() {
                    AgentStatus::Revoked
                } else if a.last_seen_at.is_some_and(|t| t >= cutoff) {
                    AgentStatus::Online
                } else {
                    AgentStatus::Offline
                },
                id: a.id,
                host_id: a.host_id,
                hostname: a.hostname,
                version: a.agent_version,
                last_seen_at: a.last_seen_at,
                enrolled_at: a.enrolled_at,
            })
            .collect())
    }

    async fn create_token(
        &self,
        viewer: &Viewer,
        hours: u64,
        host: Option<String>,
    ) -> Result<NewToken, UiError> {
        require(viewer, Role::Admin)?;
        let (token, expires_at) = crate::tokens::create(
            &self.state.store,
            self.state.pki.pin(),
            &viewer.name,
            hours,
            host.as_deref(),
            self.state.now_secs(),
        )
        .await
        .map_err(internal)?;
        let (linux, windows) = crate::tokens::enrol_commands(&self.state.gateway_url(), &token);
        let (install_linux, install_windows) =
            crate::downloads::install_commands(&self.state, &self.state.ui_url());
        Ok(NewToken {
            token: token.to_string(),
            expires_at,
            linux,
            windows,
            install_linux,
            install_windows,
        })
    }

    async fn revoke_agent(&self, viewer: &Viewer, agent_id: &str) -> Result<(), UiError> {
        require(viewer, Role::Admin)?;
        crate::gateway::revoke(&self.state, &viewer.name, agent_id)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn audit(&self, viewer: &Viewer, before: Option<i64>) -> Result<Vec<AuditItem>, UiError> {
        require(viewer, Role::Admin)?;
        let rows = self
            .state
            .store
            .audit_log(before, 100)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditItem {
                id: r.id,
                at: r.at,
                actor: r.actor,
                action: r.action,
                target: r.target,
                detail: r.detail,
            })
            .collect())
    }

    async fn users(&self, viewer: &Viewer) -> Result<Vec<UserItem>, UiError> {
        require(viewer, Role::Admin)?;
        let users = self.state.store.list_users().await.map_err(store_error)?;
        Ok(users
            .into_iter()
            .map(|u| UserItem {
                id: u.id,
                username: u.username,
                role: role_to_ui(u.role),
                disabled: u.disabled,
                must_change_password: u.must_change_password,
            })
            .collect())
    }

    async fn add_user(
        &self,
        viewer: &Viewer,
        username: &str,
        role: Role,
    ) -> Result<String, UiError> {
        require(viewer, Role::Admin)?;
        if username.is_empty() || username.len() > 64 || username.chars().any(char::is_whitespace) {
            return Err(UiError::BadRequest(
                "A user name has 1 to 64 characters and no spaces.".into(),
            ));
        }
        if self
            .state
            .store
            .user_by_name(username)
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Err(UiError::BadRequest(format!(
                "There is already a user {username:?}."
            )));
        }
        let password = auth::one_time_password().map_err(internal)?;
        let hash = auth::hash_password(&password).map_err(internal)?;
        self.state
            .store
            .create_user(
                username,
                &hash,
                role_to_store(role),
                true,
                self.state.now_secs(),
            )
            .await
            .map_err(store_error)?;
        self.audit(
            &viewer.name,
            "user.created",
            Some(username),
            Some(role.as_str()),
        );
        Ok(password)
    }

    async fn set_role(&self, viewer: &Viewer, user_id: i64, role: Role) -> Result<(), UiError> {
        require(viewer, Role::Admin)?;
        let store = &self.state.store;
        let user = store
            .user_by_id(user_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| UiError::NotFound("User".into()))?;
        if user.role == StoreRole::Admin
            && role != Role::Admin
            && !user.disabled
            && store.count_active_admins().await.map_err(store_error)? <= 1
        {
            return Err(UiError::BadRequest(
                "At least one active admin must remain.".into(),
            ));
        }
        store
            .set_role(user_id, role_to_store(role))
            .await
            .map_err(store_error)?;
        self.audit(
            &viewer.name,
            "user.role_set",
            Some(&user.username),
            Some(role.as_str()),
        );
        Ok(())
    }

    async fn set_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), UiError> {
        require(viewer, Role::Admin)?;
        let store = &self.state.store;
        let user = store
            .user_by_id(user_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| UiError::NotFound("User".into()))?;
        if disabled
            && user.role == StoreRole::Admin
            && !user.disabled
            && store.count_active_admins().await.map_err(store_error)? <= 1
        {
            return Err(UiError::BadRequest(
                "At least one active admin must remain.".into(),
            ));
        }
        store
            .set_disabled(user_id, disabled)
            .await
            .map_err(store_error)?;
        self.audit(
            &viewer.name,
            if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            },
            Some(&user.username),
            None,
        );
        Ok(())
    }

    async fn check_renewal(&self, viewer: &Viewer, id: i64) -> Result<Vec<HostCheck>, UiError> {
        crate::rollout::ui::check(&self.state, viewer, id).await
    }

    async fn windows(&self, viewer: &Viewer) -> Result<(Vec<WindowItem>, bool), UiError> {
        crate::rollout::ui::windows(&self.state, viewer).await
    }

    async fn add_window(&self, viewer: &Viewer, window: &WindowItem) -> Result<(), UiError> {
        crate::rollout::ui::add_window(&self.state, viewer, window).await
    }

    async fn delete_window(&self, viewer: &Viewer, id: i64) -> Result<(), UiError> {
        crate::rollout::ui::delete_window(&self.state, viewer, id).await
    }

    async fn set_host_labels(
        &self,
        viewer: &Viewer,
        host_id: i64,
        labels: &str,
    ) -> Result<Vec<String>, UiError> {
        require(viewer, Role::Admin)?;
        let mut list: Vec<String> = Vec::new();
        for label in labels
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if label.len() > 64
                || !label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                return Err(UiError::BadRequest(format!(
                    "{label:?} is not a group name: use letters, digits, - _ . (up to 64)"
                )));
            }
            list.push(label.to_ascii_lowercase());
        }
        list.sort();
        list.dedup();
        let groups = self
            .state
            .store
            .set_host_labels(host_id, &list)
            .await
            .map_err(store_error)?;
        self.state
            .store
            .audit(
                self.state.now_secs(),
                &viewer.name,
                "host.labels_set",
                Some(&format!("host #{host_id}")),
                Some(&list.join(", ")),
            )
            .await
            .map_err(store_error)?;
        Ok(groups)
    }

    async fn renewals(
        &self,
        viewer: &Viewer,
    ) -> Result<(Vec<RenewalItem>, Vec<RolloutItem>), UiError> {
        crate::rollout::ui::renewals(&self.state, viewer).await
    }

    async fn renewal(&self, viewer: &Viewer, id: i64) -> Result<RenewalPage, UiError> {
        crate::rollout::ui::renewal(&self.state, viewer, id).await
    }

    async fn start_rollout(&self, viewer: &Viewer, form: &RolloutForm) -> Result<i64, UiError> {
        crate::rollout::ui::start(&self.state, viewer, form).await
    }

    async fn rollout(&self, viewer: &Viewer, id: i64) -> Result<RolloutDetail, UiError> {
        crate::rollout::ui::detail(&self.state, viewer, id).await
    }

    async fn control_rollout(&self, viewer: &Viewer, id: i64, action: &str) -> Result<(), UiError> {
        crate::rollout::ui::control(&self.state, viewer, id, action).await
    }

    async fn alert_settings(&self, viewer: &Viewer) -> Result<AlertPage, UiError> {
        require(viewer, Role::Admin)?;
        crate::alerts::form::page(&self.state)
            .await
            .map_err(store_error)
    }

    async fn save_alert_settings(
        &self,
        viewer: &Viewer,
        form: &AlertForm,
        password: Option<String>,
    ) -> Result<(), UiError> {
        require(viewer, Role::Admin)?;
        let current = crate::alerts::effective(&self.state).await;
        let settings =
            crate::alerts::form::from_form(form, &current).map_err(UiError::BadRequest)?;
        let password = password.map(zeroize::Zeroizing::new);
        crate::alerts::save(
            &self.state,
            &settings,
            password.as_deref().map(String::as_str),
        )
        .await
        .map_err(UiError::BadRequest)?;
        let detail = format!(
            "smtp {}:{}; {} recipients{}",
            settings.smtp.host,
            settings.smtp.port,
            settings.recipients.len(),
            if password.is_some() {
                "; new password"
            } else {
                ""
            }
        );
        self.audit(&viewer.name, "alerts.settings_saved", None, Some(&detail));
        Ok(())
    }

    async fn send_test_email(&self, viewer: &Viewer, to: &str) -> Result<String, UiError> {
        require(viewer, Role::Admin)?;
        let result = crate::alerts::test_email(&self.state, to).await;
        let detail = match &result {
            Ok(answer) => answer.clone(),
            Err(e) => format!("failed: {e}"),
        };
        self.audit(&viewer.name, "alerts.test_email", Some(to), Some(&detail));
        result.map_err(UiError::BadRequest)
    }
}
