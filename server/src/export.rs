//! What the web UI needs besides pages: server-sent events for live updates, and the CSV
//! export of the certificates table. Both authenticate with the session cookie.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use certfleet_store::Role;
use certfleet_web::model::CertQuery;
use futures_util::Stream;

use crate::auth;
use crate::state::AppState;

pub(crate) async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<certfleet_store::UserRow> {
    let token = auth::cookie_token(headers)?;
    let id = state.sessions.verify(&token)?;
    let user = state.store.user_by_id(id).await.ok()??;
    (!user.disabled && !user.must_change_password).then_some(user)
}

/// `GET /ui/events`: one `data:` line per live event.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session_user(&state, &headers).await.is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let receiver = state.events.subscribe();
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
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CertQuery>,
) -> Response {
    let Some(user) = session_user(&state, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if user.role < Role::Viewer {
        return StatusCode::FORBIDDEN.into_response();
    }
    let now = state.now_secs();
    let mut filter = match crate::ui::certificate_filter(&query, now, 500) {
        Ok(f) => f,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    filter.after = None;
    let mut csv = String::from(
        "status,subject,names,not_after,days_left,issuer,thumbprint,sha256,endpoints,errors,warnings\r\n",
    );
    // Bounded: a spreadsheet is not the place for more than this.
    for _ in 0..200 {
        let page = match state.store.certificates(&filter).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!("CSV export failed: {e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        for row in &page.items {
            let item = crate::ui::cert_item(row, now);
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
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
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
