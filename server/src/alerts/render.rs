//! The emails' words: a subject that gives the count and the most urgent days left, and a
//! body (plain text and HTML) listing host, endpoint, certificate, expiry and days left, the
//! fix, and links into the console. ASCII only, so every mail system shows it as written.

use time::OffsetDateTime;

/// One line of an email.
#[derive(Debug, Clone)]
pub struct Line {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint: String,
    /// The certificate's first name (or subject), and its SHA-256 for the link.
    pub certificate: Option<(String, String)>,
    pub not_after: Option<i64>,
    pub days_left: Option<i64>,
    /// What to do.
    pub fix: String,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn date(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

pub fn days_phrase(days: i64) -> String {
    match days {
        d if d < 0 => format!("expired {} day{} ago", -d, if d == -1 { "" } else { "s" }),
        0 => "expires today".into(),
        1 => "1 day left".into(),
        d => format!("{d} days left"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

fn text_line(base: &str, line: &Line) -> String {
    let mut out = format!("- {} / {}", ascii(&line.hostname), ascii(&line.endpoint));
    if let Some((name, _)) = &line.certificate {
        out.push_str(&format!(": {}", ascii(name)));
    }
    if let (Some(t), Some(d)) = (line.not_after, line.days_left) {
        out.push_str(&format!(", expires {} ({})", date(t), days_phrase(d)));
    }
    out.push_str(&format!("\n  What to do: {}\n", ascii(&line.fix)));
    if let Some((_, sha)) = &line.certificate {
        out.push_str(&format!("  Certificate: {base}/certificates/{sha}\n"));
    }
    out.push_str(&format!("  Host: {base}/hosts/{}\n", line.host_id));
    out
}

fn html_row(base: &str, line: &Line) -> String {
    let certificate = match &line.certificate {
        Some((name, sha)) => format!(
            "<a href=\"{}/certificates/{}\">{}</a>",
            escape(base),
            escape(sha),
            escape(name)
        ),
        None => String::new(),
    };
    let expiry = match (line.not_after, line.days_left) {
        (Some(t), Some(d)) => format!("{} ({})", date(t), days_phrase(d)),
        _ => String::new(),
    };
    format!(
        "<tr><td><a href=\"{}/hosts/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(base),
        line.host_id,
        escape(&line.hostname),
        escape(&line.endpoint),
        certificate,
        escape(&expiry),
        escape(&line.fix)
    )
}

const HEAD: &str = "<tr><th align=\"left\">Host</th><th align=\"left\">Endpoint</th><th align=\"left\">Certificate</th><th align=\"left\">Expires</th><th align=\"left\">What to do</th></tr>";

/// An email of `sections` (title, lines), most urgent first.
pub fn email(
    base: &str,
    subject: String,
    intro: &str,
    sections: &[(String, Vec<Line>)],
) -> Rendered {
    let mut text = format!("{}\n\n", ascii(intro));
    let mut html = format!(
        "<html><body style=\"font-family: sans-serif\"><p>{}</p>",
        escape(intro)
    );
    for (title, lines) in sections.iter().filter(|(_, lines)| !lines.is_empty()) {
        if !title.is_empty() {
            text.push_str(&format!("{}\n", ascii(title)));
            html.push_str(&format!("<h3>{}</h3>", escape(title)));
        }
        html.push_str(&format!(
            "<table cellpadding=\"4\" border=\"1\" style=\"border-collapse: collapse\">{HEAD}"
        ));
        for line in lines {
            text.push_str(&text_line(base, line));
            html.push_str(&html_row(base, line));
        }
        text.push('\n');
        html.push_str("</table>");
    }
    text.push_str(&format!("Open the console: {base}/\n-- certfleet\n"));
    html.push_str(&format!(
        "<p><a href=\"{}/\">Open the console</a></p></body></html>",
        escape(base)
    ));
    Rendered {
        subject: ascii(&subject),
        text,
        html,
    }
}

/// "3 certificates expiring, soonest: 2 days left".
pub fn expiry_subject(count: usize, soonest_days: i64) -> String {
    let noun = if count == 1 {
        "certificate"
    } else {
        "certificates"
    };
    if soonest_days < 0 {
        format!(
            "[certfleet] {count} {noun} expired or expiring, the worst {}",
            days_phrase(soonest_days)
        )
    } else {
        format!(
            "[certfleet] {count} {noun} expiring, soonest: {}",
            days_phrase(soonest_days)
        )
    }
}

/// The fix for an expiring certificate.
pub const RENEW: &str =
    "Renew it: get the renewed certificate and roll it out to every endpoint that uses it";

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line {
        Line {
            host_id: 7,
            hostname: "esync01".into(),
            endpoint: "esync.example.com (127.0.0.1:443)".into(),
            certificate: Some(("esync.example.com".into(), "AB".into())),
            not_after: Some(1_800_000_000),
            days_left: Some(12),
            fix: RENEW.into(),
        }
    }

    #[test]
    fn bodies_carry_the_facts_and_the_links() {
        let r = email(
            "https://console.example.com:8443",
            expiry_subject(1, 12),
            "One certificate is getting close to its expiry.",
            &[("Within 14 days".into(), vec![line()])],
        );
        assert_eq!(
            r.subject,
            "[certfleet] 1 certificate expiring, soonest: 12 days left"
        );
        for needle in [
            "esync01",
            "esync.example.com",
            "2027-01-15",
            "12 days left",
            "Renew it",
            "https://console.example.com:8443/certificates/AB",
            "/hosts/7",
        ] {
            assert!(r.text.contains(needle), "text lacks {needle}: {}", r.text);
            assert!(r.html.contains(needle), "html lacks {needle}");
        }
        assert!(r.text.is_ascii());
    }

    #[test]
    fn html_is_escaped() {
        let mut l = line();
        l.endpoint = "<script>alert(1)</script>".into();
        let r = email("https://c", "s".into(), "i", &[("t".into(), vec![l])]);
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn subjects_name_the_count_and_the_worst() {
        assert_eq!(
            expiry_subject(3, 2),
            "[certfleet] 3 certificates expiring, soonest: 2 days left"
        );
        assert!(expiry_subject(1, -1).contains("expired 1 day ago"));
    }
}
