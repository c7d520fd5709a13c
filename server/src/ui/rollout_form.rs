//! The rollout pages' forms as typed into requests of the console core: the rollout form
//! (ticked endpoints, a local start time, numbers as text) and a maintenance window
//! (`22:00` times, a `+01:00` offset).

use certfleet_web::model::{RolloutForm, UiError, WindowItem};

use crate::console::{RolloutRequest, TargetChoice, WindowRow};

fn number(text: &str, field: &str) -> Result<Option<i64>, UiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| UiError::BadRequest(format!("{field}: {text:?} is not a whole number")))
}

pub fn rollout_request(form: &RolloutForm) -> Result<RolloutRequest, UiError> {
    if form.targets.is_empty() {
        return Err(UiError::BadRequest(
            "tick at least one endpoint to renew".into(),
        ));
    }
    let mut targets = Vec::new();
    for t in &form.targets {
        let bad = || UiError::BadRequest(format!("{t:?} is not an endpoint"));
        let (host, key) = t.split_once('|').ok_or_else(bad)?;
        targets.push(TargetChoice {
            host_id: host.parse().map_err(|_| bad())?,
            endpoint_key: key.to_owned(),
        });
    }
    let start_at = form.start_at.trim();
    // `datetime-local` style input without seconds: accept it with its offset.
    let start_at = if start_at.len() >= 16 && start_at.as_bytes().get(16) != Some(&b':') {
        format!("{}:00{}", &start_at[..16], &start_at[16..])
    } else {
        start_at.to_owned()
    };
    Ok(RolloutRequest {
        renewal_id: form.renewal_id,
        targets: Some(targets),
        start_at: Some(start_at).filter(|s| !s.is_empty()),
        groups: None,
        canary_host_id: None,
        wave_hosts: number(&form.wave_hosts, "hosts per wave")?,
        wave_percent: None,
        max_failures: number(&form.max_failures, "stop after failures")?,
    })
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

pub fn window_row(w: &WindowItem) -> Result<WindowRow, UiError> {
    Ok(WindowRow {
        id: 0,
        group_name: w.group_name.trim().to_ascii_lowercase(),
        weekdays: w.weekdays.to_ascii_lowercase().replace(' ', ""),
        start_minute: minutes(&w.start, "start")?,
        end_minute: minutes(&w.end, "end")?,
        utc_offset_minutes: offset_minutes(&w.utc_offset)?,
    })
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

    #[test]
    fn a_rollout_form_needs_endpoints_and_whole_numbers() {
        let mut form = RolloutForm {
            renewal_id: 3,
            targets: vec!["7|apache:site".into()],
            start_at: "2027-01-02T03:04+01:00".into(),
            ..RolloutForm::default()
        };
        let request = rollout_request(&form).expect("valid");
        assert_eq!(
            request.start_at.as_deref(),
            Some("2027-01-02T03:04:00+01:00")
        );
        assert_eq!(request.targets.expect("targets")[0].host_id, 7);
        form.wave_hosts = "two".into();
        assert!(rollout_request(&form).is_err());
        form.targets.clear();
        assert!(rollout_request(&form).is_err());
    }
}
