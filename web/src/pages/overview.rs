//! The fleet at a glance: counts by status, agents, the next 90 days of expiries, the ten
//! most urgent certificates, and what the renewal policies renew next.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{get_overview, get_renewal_schedule};
use crate::components::{CertBadge, Empty, ErrorNotice, date, date_time, days_text};
use crate::live::tick;
use crate::model::{Overview as Data, RenewalSchedule};

#[component]
pub fn Overview() -> impl IntoView {
    let data = Resource::new(tick, |_| get_overview());
    view! {
        <h1>"Fleet overview"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Body data/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
        <NextRenewals/>
    }
}

/// How many of the soonest renewals the overview lists.
const NEXT: usize = 5;

/// The endpoints the renewal policies renew soonest; nothing without a policy.
#[component]
fn NextRenewals() -> impl IntoView {
    let data = Resource::new(tick, |_| get_renewal_schedule());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(RenewalSchedule { mut rows, .. }) = data.await else { return ().into_any() };
                if rows.is_empty() {
                    return ().into_any();
                }
                rows.sort_by_key(|r| r.renews_at);
                let total = rows.len();
                view! {
                    <h2>"Renews next"</h2>
                    <div class="table-wrap">
                        <table id="next-renewals">
                            <thead><tr><th class="wide">"Endpoint"</th><th>"Renews"</th><th>"From"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().take(NEXT).map(|r| view! {
                                    <tr>
                                        <td class="wide"><A href=format!("/hosts/{}", r.host_id)>{format!("{} · {}", r.hostname, r.endpoint_name)}</A></td>
                                        <td>{date_time(r.renews_at)}</td>
                                        <td>{r.source}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="muted"><A href="/renewals">{format!("All {total} endpoints under a renewal policy")}</A></p>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Body(data: Data) -> impl IntoView {
    let c = data.counts.clone();
    let cards = vec![
        (
            "expired",
            "Expired",
            c.expired,
            "/certificates?status=expired",
            "error",
        ),
        (
            "week",
            "Expire within 7 days",
            c.expiring_7_days,
            "/certificates?days=7",
            "warning",
        ),
        (
            "month",
            "Expire within 30 days",
            c.expiring_30_days,
            "/certificates?status=expiring",
            "warning",
        ),
        (
            "healthy",
            "Healthy",
            c.healthy,
            "/certificates?status=healthy",
            "ok",
        ),
        (
            "misconfigured",
            "Misconfigured",
            c.misconfigured,
            "/certificates?status=misconfigured",
            "error",
        ),
        (
            "online",
            "Agents online",
            c.agents_online,
            "/agents",
            "online",
        ),
        (
            "offline",
            "Agents offline",
            c.agents_offline,
            "/agents",
            "offline",
        ),
    ];
    let max = data.timeline.iter().copied().max().unwrap_or(0).max(1);
    let has_certificates = c.certificates > 0;
    view! {
        <section class="cards" aria-label="Counts">
            {cards
                .into_iter()
                .map(|(id, label, count, href, class)| {
                    view! {
                        <A href=href attr:class="card" attr:id=format!("count-{id}")>
                            <span class="count">{count}</span>
                            <span class=format!("label status {class}")>{label}</span>
                        </A>
                    }
                })
                .collect_view()}
        </section>
        {if has_certificates {
            view! {
                <h2>"Expiries in the next 90 days"</h2>
                <div class="panel">
                    <div class="timeline" role="img" aria-label=format!("{} certificates expire in the next 90 days", data.timeline.iter().sum::<i64>())>
                        {data.timeline.iter().enumerate().map(|(day, n)| {
                            let height = format!("height: {}%", n * 100 / max);
                            view! { <div class="bar" style=height title=format!("in {day} days: {n}")></div> }
                        }).collect_view()}
                    </div>
                    <p class="muted">"Today on the left, 90 days ahead on the right."</p>
                </div>
                <h2>"Most urgent"</h2>
                <div class="table-wrap">
                    <table id="urgent">
                        <thead><tr><th>"Status"</th><th>"Certificate"</th><th>"Expires"</th><th class="wide">"Issuer"</th></tr></thead>
                        <tbody>
                            {data.urgent.into_iter().map(|cert| view! {
                                <tr>
                                    <td><CertBadge status=cert.status/></td>
                                    <td><A href=format!("/certificates/{}", cert.sha256)>{cert.names.first().cloned().unwrap_or(cert.subject.clone())}</A></td>
                                    <td>{date(cert.not_after)} " · " {days_text(cert.days_left)}</td>
                                    <td class="wide">{cert.issuer}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        } else {
            view! {
                <Empty>
                    <p>"No certificates yet — "<A href="/agents">"create an enrolment token"</A>" and enrol an agent on a server."</p>
                </Empty>
            }.into_any()
        }}
    }
}
