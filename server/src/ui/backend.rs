//! The dashboard's `certfleet_web::backend::Backend` over the console core: each method
//! proves the caller's role, calls one use case and converts the answer to the pages'
//! model. The caller is the one `viewer` authenticated for this request (a backend is made
//! per request), so the pages' `Viewer` data never stands in for a proof.

use std::sync::{Arc, OnceLock};

use axum::http::Method;
use axum::http::request::Parts;
use certfleet_web::backend::Backend;
use certfleet_web::model::*;

use super::convert::{self, error};
use crate::auth::{self, Sessions};
use crate::console::{self, Caller, Console, Control, Edge};

#[derive(Debug)]
pub struct ConsoleBackend {
    console: Console,
    caller: OnceLock<Caller>,
}

impl ConsoleBackend {
    pub fn shared(console: Console) -> certfleet_web::backend::SharedBackend {
        Arc::new(ConsoleBackend {
            console,
            caller: OnceLock::new(),
        })
    }

    /// The caller this request authenticated, when it is the one the page names.
    fn caller(&self, viewer: &Viewer) -> Result<&Caller, UiError> {
        self.caller
            .get()
            .filter(|c| c.id() == viewer.id)
            .ok_or(UiError::Unauthorized)
    }

    fn can<R: console::Level>(&self, viewer: &Viewer) -> Result<console::Can<'_, R>, UiError> {
        self.caller(viewer)?.can::<R>().map_err(error)
    }

    fn may<R: console::Level>(&self, viewer: &Viewer) -> bool {
        self.caller(viewer).is_ok_and(|c| c.may::<R>())
    }
}

use console::{Admin, Operator, Viewer as Read};

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn viewer(&self, parts: &Parts, changing: bool) -> Result<Viewer, UiError> {
        let token = auth::cookie_token(&parts.headers).ok_or(UiError::Unauthorized)?;
        let caller = self.console.authenticate(&token).await.map_err(error)?;
        if (changing || parts.method != Method::GET) && !auth::same_origin(parts) {
            return Err(UiError::Forbidden(
                "Cross-origin request refused: changes must come from the console's own pages."
                    .into(),
            ));
        }
        let viewer = convert::viewer(&caller);
        let _ = self.caller.set(caller);
        Ok(viewer)
    }

    async fn login(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
    ) -> Result<(Viewer, String), UiError> {
        // A cross-site form must not log the browser in (login CSRF): checked before the
        // password is.
        if !auth::same_origin(parts) {
            return Err(UiError::Forbidden(
                "Cross-origin request refused: log in from the console's own login page.".into(),
            ));
        }
        let from = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let done = self
            .console
            .login(Edge::Web, from, username, password)
            .await
            .map_err(error)?;
        let viewer = convert::viewer(&done.caller);
        Ok((viewer, Sessions::cookie(&done.token)))
    }

    async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<String, UiError> {
        let caller = self.caller(viewer)?;
        let token = self
            .console
            .change_password(caller, current, new)
            .await
            .map_err(error)?;
        Ok(Sessions::cookie(&token))
    }

    async fn logout(&self, viewer: &Viewer) -> Result<(), UiError> {
        let caller = self.caller(viewer)?;
        self.console.logout(caller).await.map_err(error)
    }

    async fn overview(&self, viewer: &Viewer) -> Result<Overview, UiError> {
        let o = self
            .console
            .overview(self.can::<Read>(viewer)?)
            .await
            .map_err(error)?;
        let s = o.summary;
        Ok(Overview {
            counts: Counts {
                certificates: s.certificates,
                expired: s.expired,
                expiring_7_days: s.expiring_7_days,
                expiring_30_days: s.expiring_30_days,
                healthy: s.healthy,
                misconfigured: s.misconfigured,
                agents_online: s.agents_online,
                agents_offline: s.agents - s.agents_online - s.agents_revoked,
            },
            timeline: o.timeline,
            urgent: o
                .urgent
                .iter()
                .map(|r| convert::cert_item(r, o.now))
                .collect(),
        })
    }

    async fn certificates(
        &self,
        viewer: &Viewer,
        query: &CertQuery,
        limit: i64,
    ) -> Result<CertPage, UiError> {
        let page = self
            .console
            .certificates(
                self.can::<Read>(viewer)?,
                &convert::cert_query(query),
                limit,
            )
            .await
            .map_err(error)?;
        Ok(CertPage {
            items: page
                .items
                .iter()
                .map(|r| convert::cert_item(r, page.now))
                .collect(),
            next: page.next,
        })
    }

    async fn certificate(&self, viewer: &Viewer, sha256: &str) -> Result<CertDetail, UiError> {
        let d = self
            .console
            .certificate(self.can::<Read>(viewer)?, sha256)
            .await
            .map_err(error)?;
        Ok(CertDetail {
            item: convert::cert_item(&d.row, d.now),
            serial: d.row.serial.clone(),
            ip_addresses: d.row.ip_addresses.clone(),
            key: format!("{} {}", d.row.key_algorithm, d.row.key_bits),
            signature_algorithm: d.row.signature_algorithm.clone(),
            self_signed: d.row.self_signed,
            pem: d.pem,
            endpoints: d
                .endpoints
                .into_iter()
                .map(convert::endpoint_item)
                .collect(),
        })
    }

    async fn hosts(&self, viewer: &Viewer) -> Result<Vec<HostItem>, UiError> {
        let hosts = self
            .console
            .hosts(self.can::<Read>(viewer)?)
            .await
            .map_err(error)?;
        Ok(hosts.into_iter().map(convert::host_item).collect())
    }

    async fn host(&self, viewer: &Viewer, id: i64) -> Result<HostDetail, UiError> {
        let d = self
            .console
            .host(self.can::<Read>(viewer)?, id)
            .await
            .map_err(error)?;
        Ok(HostDetail {
            labels: d.labels,
            can_label: self.may::<Admin>(viewer),
            host: convert::host_item(d.host),
            endpoints: d
                .endpoints
                .into_iter()
                .zip(d.clients)
                .map(|(e, clients)| convert::endpoint_with_clients(e, clients))
                .collect(),
            trust: d.trust.into_iter().map(convert::trust_item).collect(),
            manual_steps: d.manual_steps.into_iter().map(|s| s.text).collect(),
            certificates: d
                .certificates
                .iter()
                .map(|r| convert::cert_item(r, d.now))
                .collect(),
        })
    }

    async fn agents(&self, viewer: &Viewer) -> Result<Vec<AgentItem>, UiError> {
        let agents = self
            .console
            .agents(self.can::<Read>(viewer)?)
            .await
            .map_err(error)?;
        Ok(agents.into_iter().map(convert::agent_item).collect())
    }

    async fn create_token(
        &self,
        viewer: &Viewer,
        hours: u64,
        host: Option<String>,
    ) -> Result<NewToken, UiError> {
        let new = self
            .console
            .create_token(self.can::<Admin>(viewer)?, Some(hours), host.as_deref())
            .await
            .map_err(error)?;
        Ok(NewToken {
            token: new.token.to_string(),
            expires_at: new.expires_at,
            linux: new.enrol_linux,
            windows: new.enrol_windows,
            install_linux: new.install_linux,
            install_windows: new.install_windows,
        })
    }

    async fn revoke_agent(&self, viewer: &Viewer, agent_id: &str) -> Result<(), UiError> {
        self.console
            .revoke_agent(self.can::<Admin>(viewer)?, agent_id)
            .await
            .map(|_| ())
            .map_err(error)
    }

    async fn audit(&self, viewer: &Viewer, before: Option<i64>) -> Result<Vec<AuditItem>, UiError> {
        let rows = self
            .console
            .audit_log(self.can::<Admin>(viewer)?, before, 100)
            .await
            .map_err(error)?;
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
        let users = self
            .console
            .users(self.can::<Admin>(viewer)?)
            .await
            .map_err(error)?;
        Ok(users
            .into_iter()
            .map(|u| UserItem {
                id: u.id,
                username: u.username,
                role: convert::role(u.role),
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
        self.console
            .add_user(
                self.can::<Admin>(viewer)?,
                username,
                convert::console_role(role),
            )
            .await
            .map_err(error)
    }

    async fn set_role(&self, viewer: &Viewer, user_id: i64, role: Role) -> Result<(), UiError> {
        self.console
            .set_role(
                self.can::<Admin>(viewer)?,
                user_id,
                convert::console_role(role),
            )
            .await
            .map_err(error)
    }

    async fn set_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), UiError> {
        self.console
            .set_disabled(self.can::<Admin>(viewer)?, user_id, disabled)
            .await
            .map_err(error)
    }

    async fn check_renewal(&self, viewer: &Viewer, id: i64) -> Result<Vec<HostCheck>, UiError> {
        let verdicts = self
            .console
            .preflight(self.can::<Operator>(viewer)?, id)
            .await
            .map_err(error)?;
        Ok(verdicts
            .into_iter()
            .map(|v| HostCheck {
                hostname: v.hostname,
                endpoint_name: v.endpoint_name,
                verdict: v.verdict.label().to_owned(),
                detail: v.detail,
            })
            .collect())
    }

    async fn windows(&self, viewer: &Viewer) -> Result<(Vec<WindowItem>, bool), UiError> {
        let rows = self
            .console
            .windows(self.can::<Read>(viewer)?)
            .await
            .map_err(error)?;
        Ok((
            rows.into_iter().map(convert::window_item).collect(),
            self.may::<Admin>(viewer),
        ))
    }

    async fn add_window(&self, viewer: &Viewer, window: &WindowItem) -> Result<(), UiError> {
        let who = self.can::<Admin>(viewer)?;
        let row = super::rollout_form::window_row(window)?;
        self.console
            .add_window(who, row)
            .await
            .map(|_| ())
            .map_err(error)
    }

    async fn delete_window(&self, viewer: &Viewer, id: i64) -> Result<(), UiError> {
        self.console
            .delete_window(self.can::<Admin>(viewer)?, id)
            .await
            .map_err(error)
    }

    async fn set_host_labels(
        &self,
        viewer: &Viewer,
        host_id: i64,
        labels: &str,
    ) -> Result<Vec<String>, UiError> {
        self.console
            .set_host_labels(self.can::<Admin>(viewer)?, host_id, labels)
            .await
            .map_err(error)
    }

    async fn accept_endpoint(
        &self,
        viewer: &Viewer,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<(), UiError> {
        self.console
            .accept_endpoint(self.can::<Operator>(viewer)?, host_id, endpoint_key)
            .await
            .map_err(error)
    }

    async fn renewals(
        &self,
        viewer: &Viewer,
    ) -> Result<(Vec<RenewalItem>, Vec<RolloutItem>), UiError> {
        let who = self.can::<Read>(viewer)?;
        let (renewals, rollouts) = tokio::try_join!(
            self.console.renewals(who, 100),
            self.console.rollouts(who, 50)
        )
        .map_err(error)?;
        Ok((
            renewals.into_iter().map(convert::renewal_item).collect(),
            rollouts.into_iter().map(convert::rollout_item).collect(),
        ))
    }

    async fn renewal_schedule(&self, viewer: &Viewer) -> Result<RenewalSchedule, UiError> {
        let who = self.can::<Read>(viewer)?;
        let (rows, issuing_ca) = tokio::try_join!(
            self.console.renewal_schedule(who),
            self.console.issuing_ca(who)
        )
        .map_err(error)?;
        Ok(RenewalSchedule {
            rows: rows.into_iter().map(convert::schedule_item).collect(),
            can_renew: self.may::<Operator>(viewer),
            issuing_ca: issuing_ca.map(convert::issuing_ca_item),
        })
    }

    async fn renew_now(
        &self,
        viewer: &Viewer,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<(), UiError> {
        self.console
            .renew_now(self.can::<Operator>(viewer)?, host_id, endpoint_key)
            .await
            .map(|_| ())
            .map_err(error)
    }

    async fn renewal(&self, viewer: &Viewer, id: i64) -> Result<RenewalPage, UiError> {
        let who = self.can::<Read>(viewer)?;
        let (renewal, plan, rollouts) = tokio::try_join!(
            self.console.renewal(who, id),
            self.console.plan(who, id),
            self.console.rollouts(who, 200)
        )
        .map_err(error)?;
        Ok(RenewalPage {
            renewal: convert::renewal_item(renewal),
            plan: plan.into_iter().map(convert::plan_item).collect(),
            rollouts: rollouts
                .into_iter()
                .filter(|r| r.renewal_id == id)
                .map(convert::rollout_item)
                .collect(),
            can_roll_out: self.may::<Operator>(viewer),
        })
    }

    async fn start_rollout(&self, viewer: &Viewer, form: &RolloutForm) -> Result<i64, UiError> {
        let who = self.can::<Operator>(viewer)?;
        let request = super::rollout_form::rollout_request(form)?;
        let row = self
            .console
            .create_rollout(who, &request)
            .await
            .map_err(error)?;
        Ok(row.id)
    }

    async fn rollout(&self, viewer: &Viewer, id: i64) -> Result<RolloutDetail, UiError> {
        let who = self.can::<Read>(viewer)?;
        let view = self.console.rollout(who, id).await.map_err(error)?;
        let renewal = self
            .console
            .renewal(who, view.rollout.renewal_id)
            .await
            .map_err(error)?;
        Ok(RolloutDetail {
            rollout: convert::rollout_item(view.rollout),
            renewal: convert::renewal_item(renewal),
            targets: view.targets.into_iter().map(convert::target_item).collect(),
            can_control: self.may::<Operator>(viewer),
        })
    }

    async fn control_rollout(&self, viewer: &Viewer, id: i64, action: &str) -> Result<(), UiError> {
        let who = self.can::<Operator>(viewer)?;
        let action = Control::parse(action).map_err(error)?;
        self.console
            .control_rollout(who, id, action)
            .await
            .map(|_| ())
            .map_err(error)
    }

    async fn alert_settings(&self, viewer: &Viewer) -> Result<AlertPage, UiError> {
        let view = self
            .console
            .alerts(self.can::<Admin>(viewer)?)
            .await
            .map_err(error)?;
        Ok(super::alert_form::page(view))
    }

    async fn save_alert_settings(
        &self,
        viewer: &Viewer,
        form: &AlertForm,
        password: Option<String>,
    ) -> Result<(), UiError> {
        let who = self.can::<Admin>(viewer)?;
        let current = self.console.current_alert_settings(who).await;
        let settings = super::alert_form::from_form(form, &current).map_err(UiError::BadRequest)?;
        self.console
            .save_alert_settings(who, &settings, password.map(zeroize::Zeroizing::new))
            .await
            .map_err(error)
    }

    async fn send_test_email(&self, viewer: &Viewer, to: &str) -> Result<String, UiError> {
        self.console
            .send_test_email(self.can::<Admin>(viewer)?, to)
            .await
            .map_err(error)
    }
}
