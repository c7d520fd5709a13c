//! The settings page's form to and from `AlertSettings`: lists as typed text, every parse
//! error naming the field and the expected shape.

use std::collections::BTreeMap;

use certfleet_web::model::{AlertForm, AlertPage};

use crate::alerts::settings::{AlertSettings, Security};
use crate::console::AlertsView;

fn addresses(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn to_form(s: &AlertSettings) -> AlertForm {
    AlertForm {
        smtp_host: s.smtp.host.clone(),
        smtp_port: s.smtp.port.to_string(),
        security: match s.smtp.security {
            Security::Starttls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
        .into(),
        username: s.smtp.username.clone().unwrap_or_default(),
        from: s.smtp.from.clone(),
        base_url: s.base_url.clone().unwrap_or_default(),
        recipients: s.recipients.join("\n"),
        group_recipients: s
            .group_recipients
            .iter()
            .map(|(group, to)| format!("{group}: {}", to.join(", ")))
            .collect::<Vec<_>>()
            .join("\n"),
        thresholds: s
            .thresholds
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        digest_at: s.digest_at.clone(),
        offline_after_minutes: s.offline_after_minutes.to_string(),
    }
}

/// The settings an admin typed, on top of `base` (which keeps what the page does not show:
/// the password file, the CA file, the intervals).
pub fn from_form(form: &AlertForm, base: &AlertSettings) -> Result<AlertSettings, String> {
    let mut s = base.clone();
    s.smtp.host = form.smtp_host.trim().to_owned();
    s.smtp.port = form
        .smtp_port
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            format!(
                "the SMTP port {:?} is not a port number: use 587 (STARTTLS), 465 (TLS) or 25",
                form.smtp_port
            )
        })?;
    s.smtp.security = match form.security.as_str() {
        "starttls" => Security::Starttls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => {
            return Err(format!(
                "{other:?} is not a security mode: starttls, tls or none"
            ));
        }
    };
    let user = form.username.trim();
    s.smtp.username = (!user.is_empty()).then(|| user.to_owned());
    s.smtp.from = form.from.trim().to_owned();
    let base_url = form.base_url.trim().trim_end_matches('/');
    if !base_url.is_empty() && !base_url.starts_with("https://") && !base_url.starts_with("http://")
    {
        return Err(format!(
            "the console address {base_url:?} must start with https:// (it is used in links)"
        ));
    }
    s.base_url = (!base_url.is_empty()).then(|| base_url.to_owned());
    s.recipients = addresses(&form.recipients);
    let mut groups = BTreeMap::new();
    for line in form
        .group_recipients
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (group, to) = line.split_once(':').ok_or_else(|| {
            format!("{line:?}: write a group's recipients as `group: address, address`")
        })?;
        let to = addresses(to);
        if group.trim().is_empty() || to.is_empty() {
            return Err(format!(
                "{line:?}: write a group's recipients as `group: address, address`"
            ));
        }
        groups.insert(group.trim().to_owned(), to);
    }
    s.group_recipients = groups;
    s.thresholds = form
        .thresholds
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| format!("threshold {t:?} is not a number of days: e.g. 30, 14, 7, 1"))
        })
        .collect::<Result<_, _>>()?;
    s.thresholds.sort_unstable_by(|a, b| b.cmp(a));
    s.thresholds.dedup();
    s.digest_at = form.digest_at.trim().to_owned();
    s.offline_after_minutes = form.offline_after_minutes.trim().parse().map_err(|_| {
        format!(
            "the offline time {:?} is not a number of minutes",
            form.offline_after_minutes
        )
    })?;
    s.check()?;
    Ok(s)
}

pub fn page(view: AlertsView) -> AlertPage {
    AlertPage {
        form: to_form(&view.settings),
        password_set: view.password_set,
        saved_on_page: view.saved_on_page,
        enabled: view.settings.enabled(),
        outbox: view
            .outbox
            .into_iter()
            .map(super::convert::outbox_item)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_round_trips_and_names_bad_fields() {
        let mut s = AlertSettings::default();
        s.smtp.host = "smtp.example.com".into();
        s.recipients = vec!["ops@example.com".into(), "oncall@example.com".into()];
        s.group_recipients
            .insert("esync".into(), vec!["esync@example.com".into()]);
        let form = to_form(&s);
        assert_eq!(from_form(&form, &AlertSettings::default()), Ok(s.clone()));

        let bad = |edit: fn(&mut AlertForm), expect: &str| {
            let mut f = form.clone();
            edit(&mut f);
            let err = from_form(&f, &s).unwrap_err();
            assert!(err.contains(expect), "{err}");
        };
        bad(|f| f.smtp_port = "http".into(), "not a port number");
        bad(|f| f.security = "ssl".into(), "not a security mode");
        bad(
            |f| f.group_recipients = "esync esync@example.com".into(),
            "group: address",
        );
        bad(|f| f.thresholds = "30, two".into(), "not a number of days");
        bad(
            |f| f.recipients = "ops-at-example.com".into(),
            "not an email address",
        );
        bad(
            |f| f.base_url = "console.example.com".into(),
            "must start with https://",
        );
        bad(|f| f.digest_at = "8am".into(), "HH:MM");
    }

    #[test]
    fn lists_accept_commas_and_lines() {
        let mut form = to_form(&AlertSettings::default());
        form.recipients = "a@example.com, b@example.com\nc@example.com".into();
        form.thresholds = "7 30,14".into();
        let s = from_form(&form, &AlertSettings::default()).expect("valid");
        assert_eq!(s.recipients.len(), 3);
        assert_eq!(s.thresholds, vec![30, 14, 7]);
    }
}
