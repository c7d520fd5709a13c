//! Every certificate in use: filters, search, sorting and pages on the server; the filter form
//! is a plain GET form, so it works without JavaScript too.

use leptos::prelude::*;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

use crate::api::get_certificates;
use crate::components::{CertBadge, Empty, ErrorNotice, date, days_text};
use crate::live::tick;
use crate::model::CertQuery;

fn query_from(map: &leptos_router::params::ParamsMap) -> CertQuery {
    let text = |k: &str| map.get(k).filter(|v| !v.is_empty());
    CertQuery {
        status: text("status"),
        host: text("host"),
        issuer: text("issuer"),
        days: text("days").and_then(|v| v.parse().ok()),
        purpose: text("purpose"),
        q: text("q"),
        clients: text("clients"),
        sort: text("sort"),
        after: text("after"),
    }
}

/// The page's URL for `query` (without the cursor unless given).
fn href(query: &CertQuery, base: &str) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            pairs.push((k.into(), v));
        }
    };
    push("status", query.status.clone());
    push("host", query.host.clone());
    push("issuer", query.issuer.clone());
    push("days", query.days.map(|d| d.to_string()));
    push("purpose", query.purpose.clone());
    push("q", query.q.clone());
    push("clients", query.clients.clone());
    push("sort", query.sort.clone());
    push("after", query.after.clone());
    let encoded: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={}", encode(&v)))
        .collect();
    if encoded.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", encoded.join("&"))
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn Certificates() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| query_from(&params.get()));
    let page = Resource::new(move || (tick(), query.get()), |(_, q)| get_certificates(q));
    view! {
        <h1>"Certificates"</h1>
        <Form method="GET" action="/certificates" attr:class="filters" attr:id="filters">
            <label>"Search"
                <input type="search" name="q" placeholder="name, subject or thumbprint" prop:value=move || query.get().q.unwrap_or_default()/>
            </label>
            <label>"Status"
                <select name="status">
                    {[("", "Any"), ("expired", "Expired"), ("expiring", "Expiring (30 days)"), ("misconfigured", "Misconfigured"), ("healthy", "Healthy")]
                        .into_iter()
                        .map(|(value, label)| view! { <option value=value selected=move || query.get().status.as_deref().unwrap_or("") == value>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"Days left at most"
                <input type="number" name="days" min="0" style="width: 6em" prop:value=move || query.get().days.map(|d| d.to_string()).unwrap_or_default()/>
            </label>
            <label>"Host"
                <input type="text" name="host" placeholder="host name" prop:value=move || query.get().host.unwrap_or_default()/>
            </label>
            <label>"Issuer"
                <input type="text" name="issuer" prop:value=move || query.get().issuer.unwrap_or_default()/>
            </label>
            <label>"Used by"
                <select name="purpose">
                    {[("", "Any"), ("apache", "Apache / eSync"), ("pem", "PEM files"), ("sage300", "Sage 300")]
                        .into_iter()
                        .map(|(value, label)| view! { <option value=value selected=move || query.get().purpose.as_deref().unwrap_or("") == value>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"Clients"
                <select name="clients">
                    {[("", "Any"), ("untrusted", "Some client does not trust it")]
                        .into_iter()
                        .map(|(value, label)| view! { <option value=value selected=move || query.get().clients.as_deref().unwrap_or("") == value>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            <input type="hidden" name="sort" prop:value=move || query.get().sort.unwrap_or_default()/>
            <button type="submit">"Filter"</button>
            <a class="button secondary" href="/certificates">"Clear"</a>
            <a id="csv" href=move || { let mut q = query.get(); q.after = None; href(&q, "/ui/export/certificates.csv") }>"Export CSV"</a>
        </Form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get_untracked();
                match page.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <Empty><p>"No certificate matches. "<A href="/certificates">"Clear the filters"</A>" or "<A href="/agents">"enrol another agent"</A>"."</p></Empty>
                    }.into_any(),
                    Ok(page) => {
                        let sort = q.sort.clone().unwrap_or_else(|| "expiry".into());
                        let sort_link = |key: &str| {
                            let mut next = q.clone();
                            next.after = None;
                            next.sort = Some(if sort == key { format!("-{key}") } else { key.to_owned() });
                            href(&next, "/certificates")
                        };
                        let next_href = page.next.clone().map(|cursor| {
                            let mut next = q.clone();
                            next.after = Some(cursor);
                            href(&next, "/certificates")
                        });
                        let first_href = q.after.is_some().then(|| {
                            let mut first = q.clone();
                            first.after = None;
                            href(&first, "/certificates")
                        });
                        view! {
                            <div class="table-wrap">
                                <table id="certificates">
                                    <thead><tr>
                                        <th>"Status"</th>
                                        <th><a href=sort_link("subject")>"Certificate"</a></th>
                                        <th><a href=sort_link("expiry")>"Expires"</a></th>
                                        <th class="wide">"Issuer"</th>
                                        <th class="num">"Endpoints"</th>
                                        <th class="num">"Findings"</th>
                                    </tr></thead>
                                    <tbody>
                                        {page.items.into_iter().map(|cert| view! {
                                            <tr>
                                                <td><CertBadge status=cert.status/></td>
                                                <td>
                                                    <A href=format!("/certificates/{}", cert.sha256)>{cert.names.first().cloned().unwrap_or(cert.subject.clone())}</A>
                                                    <div class="muted mono">{cert.thumbprint.clone()}</div>
                                                </td>
                                                <td class="days">{date(cert.not_after)}<br/>{days_text(cert.days_left)}</td>
                                                <td class="wide">{cert.issuer}</td>
                                                <td class="num">{cert.endpoints}</td>
                                                <td class="num">{format!("{} errors, {} warnings", cert.errors, cert.warnings)}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <nav class="pager" aria-label="Pages">
                                {first_href.map(|h| view! { <a href=h>"First page"</a> })}
                                {next_href.map(|h| view! { <a href=h id="next-page">"Next page"</a> })}
                            </nav>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_filters_encoded() {
        let q = CertQuery {
            q: Some("a b&c".into()),
            days: Some(7),
            ..CertQuery::default()
        };
        assert_eq!(
            href(&q, "/certificates"),
            "/certificates?days=7&q=a%20b%26c"
        );
        assert_eq!(href(&CertQuery::default(), "/x"), "/x");
    }
}
