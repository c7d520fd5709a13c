//! What the web UI needs besides pages: server-sent events for live updates, and the CSV
//! export of the certificates table. Both authenticate with the session cookie.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use certfleet_web::model::CertQuery;
use futures_util::Stream;

use super::convert;
use crate::auth;
use crate::console::{self, Caller, Console, Viewer};

/// The caller behind the session cookie, proven a viewer (not mid one-time password).
pub(super) async fn session_caller(console: &Console, headers: &HeaderMap) -> Option<Caller> {
    let token = auth::cookie_token(headers)?;
    let caller = console.authenticate(&token).await.ok()?;
    caller.may::<Viewer>().then_some(caller)
}

/// `GET /ui/events`: one `data:` line per live event.
pub async fn events(
    State(events): State<crate::events::Events>,
    State(console): State<Console>,
    headers: HeaderMap,
) -> Response {
    if session_caller(&console, &headers).await.is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let receiver = events.subscribe();
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> = Box::pin(
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        return Some((Ok(Event::default().data(data)), receiver));
                    }
                    // A slow page missed some: it refreshes on the next one anyway.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }),
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One CSV field: quoted, and defused when a spreadsheet would take it for a formula.
fn field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// `GET /ui/export/certificates.csv?<the table's filters>`: every matching certificate.
pub async fn certificates_csv(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<CertQuery>,
) -> Response {
    let Some(caller) = session_caller(&console, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(who) = caller.can::<Viewer>() else {
        return StatusCode::FORBIDDEN.into_response();
    };
    // Bounded: a spreadsheet is not the place for more than this.
    let page = match console
        .all_certificates(who, &convert::cert_query(&query), 100_000)
        .await
    {
        Ok(page) => page,
        Err(console::Error::Invalid(message)) => {
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
        Err(e) => {
            tracing::error!("CSV export failed: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut csv = String::from(
        "status,subject,names,not_after,days_left,issuer,thumbprint,sha256,endpoints,errors,warnings\r\n",
    );
    for row in &page.items {
        let item = convert::cert_item(row, page.now);
        let not_after = time::OffsetDateTime::from_unix_timestamp(item.not_after)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let cells = [
            item.status.label().to_owned(),
            item.subject,
            item.names.join(" "),
            not_after,
            item.days_left.to_string(),
            item.issuer,
            item.thumbprint,
            item.sha256,
            item.endpoints.to_string(),
            item.errors.to_string(),
            item.warnings.to_string(),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"certificates.csv\"",
            ),
        ],
        csv,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("CN=a, O=\"b\""), "\"CN=a, O=\"\"b\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(field("-1"), "\"'-1\"");
    }
}
