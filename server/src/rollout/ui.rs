//! The rollout pages' data: renewals, their plans and rollouts in the web UI's model, with
//! the role checks of each action.

use certfleet_store::{RenewalRow, RolloutRow, TargetRow, WindowRow};
use certfleet_web::model::{
    HostCheck, PlanItem, RenewalItem, RenewalPage, Role, RolloutDetail, RolloutForm, RolloutItem,
    TargetItem, UiError, Viewer, WindowItem,
};

use super::{RolloutRequest, TargetChoice};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::{require, store_error};

fn ui_error(e: ApiError) -> UiError {
    match e {
        ApiError::BadRequest(m) | ApiError::Conflict(m) => UiError::BadRequest(m),
        ApiError::Forbidden(m) => UiError::Forbidden(m),
        ApiError::NotFound(what) => UiError::NotFound(what.to_string()),
        ApiError::Unauthorized => UiError::Unauthorized,
        ApiError::Internal(e) => {
            tracing::error!("{e:#}");
            UiError::Internal
        }
    }
}

fn renewal_item(r: RenewalRow) -> RenewalItem {
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

fn rollout_item(r: RolloutRow) -> RolloutItem {
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

fn target_item(t: TargetRow) -> TargetItem {
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

pub async fn renewals(
    state: &AppState,
    viewer: &Viewer,
) -> Result<(Vec<RenewalItem>, Vec<RolloutItem>), UiError> {
    require(viewer, Role::Viewer)?;
    let renewals = state.store.renewals(100).await.map_err(store_error)?;
    let rollouts = state.store.rollouts(50).await.map_err(store_error)?;
    let rollouts = rollouts.into_iter().map(rollout_item).collect();
    Ok((renewals.into_iter().map(renewal_item).collect(), rollouts))
}

pub async fn renewal(state: &AppState, viewer: &Viewer, id: i64) -> Result<RenewalPage, UiError> {
    require(viewer, Role::Viewer)?;
    let renewal = state.store.renewal(id).await.map_err(store_error)?;
    let plan = super::plan(state, id)
        .await
        .map_err(ui_error)?
        .into_iter()
        .map(|p| PlanItem {
            host_id: p.host_id,
            hostname: p.hostname,
            endpoint_key: p.endpoint_key,
            endpoint_name: p.endpoint_name,
            kind: p.kind,
            online: p.online,
            current_sha256: p.current_sha256,
            current_not_after: p.current_not_after,
            proposed: p.proposed,
            problems: p.problems,
            notes: p.notes,
        })
        .collect();
    let rollouts = state
        .store
        .rollouts(200)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|r| r.renewal_id == id)
        .map(rollout_item)
        .collect();
    Ok(RenewalPage {
        renewal: renewal_item(renewal),
        plan,
        rollouts,
        can_roll_out: viewer.role >= Role::Operator && !viewer.must_change_password,
    })
}

fn number(text: &str, field: &str) -> Result<Option<i64>, UiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| UiError::BadRequest(format!("{field}: {text:?} is not a whole number")))
}

pub async fn start(state: &AppState, viewer: &Viewer, form: &RolloutForm) -> Result<i64, UiError> {
    require(viewer, Role::Operator)?;
    let targets = if form.targets.is_empty() {
        return Err(UiError::BadRequest(
            "tick at least one endpoint to renew".into(),
        ));
    } else {
        let mut chosen = Vec::new();
        for t in &form.targets {
            let (host, key) = t
                .split_once('|')
                .ok_or_else(|| UiError::BadRequest(format!("{t:?} is not an endpoint")))?;
            chosen.push(TargetChoice {
                host_id: host
                    .parse()
                    .map_err(|_| UiError::BadRequest(format!("{t:?} is not an endpoint")))?,
                endpoint_key: key.to_owned(),
            });
        }
        chosen
    };
    let start_at = form.start_at.trim();
    // `datetime-local` style input without seconds: accept it with its offset.
    let start_at = if start_at.len() >= 16 && start_at.as_bytes().get(16) != Some(&b':') {
        format!("{}:00{}", &start_at[..16], &start_at[16..])
    } else {
        start_at.to_owned()
    };
    let request = RolloutRequest {
        renewal_id: form.renewal_id,
        targets: Some(targets),
        start_at: Some(start_at).filter(|s| !s.is_empty()),
        groups: None,
        canary_host_id: None,
        wave_hosts: number(&form.wave_hosts, "hosts per wave")?,
        wave_percent: None,
        max_failures: number(&form.max_failures, "stop after failures")?,
    };
    let row = super::create(state, &viewer.name, &request)
        .await
        .map_err(ui_error)?;
    Ok(row.id)
}

pub async fn detail(state: &AppState, viewer: &Viewer, id: i64) -> Result<RolloutDetail, UiError> {
    require(viewer, Role::Viewer)?;
    let row = state.store.rollout(id).await.map_err(store_error)?;
    let renewal = state
        .store
        .renewal(row.renewal_id)
        .await
        .map_err(store_error)?;
    let targets = state.store.rollout_targets(id).await.map_err(store_error)?;
    Ok(RolloutDetail {
        rollout: rollout_item(row),
        renewal: renewal_item(renewal),
        targets: targets.into_iter().map(target_item).collect(),
        can_control: viewer.role >= Role::Operator && !viewer.must_change_password,
    })
}

pub async fn control(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    action: &str,
) -> Result<(), UiError> {
    require(viewer, Role::Operator)?;
    super::control(state, &viewer.name, id, action)
        .await
        .map(|_| ())
        .map_err(ui_error)
}

pub async fn check(state: &AppState, viewer: &Viewer, id: i64) -> Result<Vec<HostCheck>, UiError> {
    require(viewer, Role::Operator)?;
    Ok(super::check::check(state, &viewer.name, id)
        .await
        .map_err(ui_error)?
        .into_iter()
        .map(|v| HostCheck {
            hostname: v.hostname,
            endpoint_name: v.endpoint_name,
            verdict: v.verdict,
            detail: v.detail,
        })
        .collect())
}

fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn minutes(text: &str, field: &str) -> Result<i64, UiError> {
    let bad = || UiError::BadRequest(format!("{field}: {text:?} is not a time like 22:00"));
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 1440 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn offset_minutes(text: &str) -> Result<i64, UiError> {
    let t = text.trim().trim_start_matches("UTC");
    if t.is_empty() || t == "Z" {
        return Ok(0);
    }
    let bad = || UiError::BadRequest(format!("offset {text:?} is not like +01:00 or -05:00"));
    let sign = match t.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(bad()),
    };
    Ok(sign * minutes(&t[1..], "offset").map_err(|_| bad())?)
}

fn window_item(w: WindowRow) -> WindowItem {
    let o = w.utc_offset_minutes;
    WindowItem {
        id: w.id,
        group_name: w.group_name,
        weekdays: w.weekdays,
        start: hhmm(w.start_minute),
        end: hhmm(w.end_minute),
        utc_offset: if o == 0 {
            String::new()
        } else {
            format!("{}{}", if o < 0 { '-' } else { '+' }, hhmm(o.abs()))
        },
    }
}

pub async fn windows(
    state: &AppState,
    viewer: &Viewer,
) -> Result<(Vec<WindowItem>, bool), UiError> {
    require(viewer, Role::Viewer)?;
    let rows = state
        .store
        .maintenance_windows()
        .await
        .map_err(store_error)?;
    Ok((
        rows.into_iter().map(window_item).collect(),
        viewer.role >= Role::Admin && !viewer.must_change_password,
    ))
}

pub async fn add_window(state: &AppState, viewer: &Viewer, w: &WindowItem) -> Result<(), UiError> {
    require(viewer, Role::Admin)?;
    let row = WindowRow {
        id: 0,
        group_name: w.group_name.trim().to_ascii_lowercase(),
        weekdays: w.weekdays.to_ascii_lowercase().replace(' ', ""),
        start_minute: minutes(&w.start, "start")?,
        end_minute: minutes(&w.end, "end")?,
        utc_offset_minutes: offset_minutes(&w.utc_offset)?,
    };
    super::windows::check(&row).map_err(UiError::BadRequest)?;
    let id = state
        .store
        .add_maintenance_window(&row)
        .await
        .map_err(store_error)?;
    state
        .store
        .audit(
            state.now_secs(),
            &viewer.name,
            "window.added",
            Some(&row.group_name),
            Some(&format!(
                "window #{id}: {} {}-{} UTC{}",
                row.weekdays, w.start, w.end, w.utc_offset
            )),
        )
        .await
        .map_err(store_error)
}

pub async fn delete_window(state: &AppState, viewer: &Viewer, id: i64) -> Result<(), UiError> {
    require(viewer, Role::Admin)?;
    if !state
        .store
        .delete_maintenance_window(id)
        .await
        .map_err(store_error)?
    {
        return Err(UiError::NotFound("maintenance window".into()));
    }
    state
        .store
        .audit(
            state.now_secs(),
            &viewer.name,
            "window.deleted",
            Some(&format!("window #{id}")),
            None,
        )
        .await
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_times_and_offsets_read_as_typed() {
        assert_eq!(minutes("22:30", "start").ok(), Some(1350));
        assert_eq!(minutes("24:00", "end").ok(), Some(1440));
        assert!(minutes("25:00", "end").is_err());
        assert!(minutes("10pm", "end").is_err());
        assert_eq!(offset_minutes("+01:00").ok(), Some(60));
        assert_eq!(offset_minutes("UTC-05:30").ok(), Some(-330));
        assert_eq!(offset_minutes("").ok(), Some(0));
        assert!(offset_minutes("CET").is_err());
    }
}
