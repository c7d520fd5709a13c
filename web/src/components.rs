//! Small pieces shared by the pages: status badges (icon and text, never colour alone), dates,
//! copy buttons, empty states, error notices.

use leptos::prelude::*;

use crate::model::{AgentStatus, CertStatus, Severity, UiError};

/// `YYYY-MM-DD` of a Unix time, UTC (days-from-civil inverse; no clock or time zone needed).
pub fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC`.
pub fn date_time(unix: i64) -> String {
    let seconds = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        date(unix),
        seconds / 3600,
        seconds % 3600 / 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// "12 days left", "expired 3 days ago", "expires today".
pub fn days_text(days_left: i64) -> String {
    match days_left {
        d if d < -1 => format!("expired {} days ago", -d),
        -1 => "expired yesterday".into(),
        0 => "expires today".into(),
        1 => "1 day left".into(),
        d => format!("{d} days left"),
    }
}

#[component]
pub fn CertBadge(status: CertStatus) -> impl IntoView {
    view! { <span class=format!("status {}", status.class())>{status.label()}</span> }
}

#[component]
pub fn AgentBadge(status: AgentStatus) -> impl IntoView {
    let (class, label) = match status {
        AgentStatus::Online => ("online", "Online"),
        AgentStatus::Offline => ("offline", "Offline"),
        AgentStatus::Revoked => ("revoked", "Revoked"),
    };
    view! { <span class=format!("status {class}")>{label}</span> }
}

#[component]
pub fn SeverityBadge(severity: Severity) -> impl IntoView {
    let (class, label) = match severity {
        Severity::Error => ("error", "Error"),
        Severity::Warning => ("warning", "Warning"),
        Severity::Info | Severity::Other => ("info", "Note"),
    };
    view! { <span class=format!("status {class}")>{label}</span> }
}

/// A value shown as-is with a button that copies `copy` (e.g. the clean thumbprint).
#[component]
pub fn Copyable(shown: String, copy: String, #[prop(into)] label: String) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let on_click = move |_| {
        copy_to_clipboard(&copy);
        set_copied.set(true);
    };
    view! {
        <span class="copy">
            <code>{shown}</code>
            <button type="button" class="secondary" aria-label=format!("Copy {label}") on:click=on_click>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </span>
    }
}

/// A command in a box with a copy button.
#[component]
pub fn CommandBox(command: String, #[prop(into)] label: String) -> impl IntoView {
    let copy = command.clone();
    let (copied, set_copied) = signal(false);
    view! {
        <div class="copy">
            <pre class="command">{command}</pre>
            <button type="button" class="secondary" aria-label=format!("Copy the {label} command")
                on:click=move |_| { copy_to_clipboard(&copy); set_copied.set(true); }>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

#[allow(unused_variables)]
fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(text);
    }
}

#[component]
pub fn Empty(children: Children) -> impl IntoView {
    view! { <div class="empty panel">{children()}</div> }
}

/// An error from the console, with the way out when it is a lost session.
#[component]
pub fn ErrorNotice(error: UiError) -> impl IntoView {
    let login = matches!(error, UiError::Unauthorized);
    view! {
        <div class="notice error" role="alert">
            {error.to_string()}
            {login.then(|| view! { " " <a href="/login">"Log in"</a> })}
        </div>
    }
}

/// Groups a thumbprint in pairs for reading; the copy button still copies clean hex.
pub fn spaced(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_719_811), "2026-11-26");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(date(-86_400), "1969-12-31");
    }

    #[test]
    fn days_read_naturally() {
        assert_eq!(days_text(30), "30 days left");
        assert_eq!(days_text(0), "expires today");
        assert_eq!(days_text(-3), "expired 3 days ago");
    }

    #[test]
    fn thumbprints_are_grouped_for_reading() {
        assert_eq!(spaced("A1B2C3"), "A1 B2 C3");
    }
}
