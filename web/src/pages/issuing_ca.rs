//! The issuing CA on the Renewals page: what it is, what it may sign for, and which client
//! machines trust the certificates it issued (their own agents' checks).

use leptos::prelude::*;
use leptos_router::components::A;

use super::renewals::{Tone, badge};
use crate::components::{date, date_time};
use crate::model::IssuingCaItem;

/// Shown under the renewal schedule once the issuing CA exists.
#[component]
pub fn IssuingCa(ca: IssuingCaItem) -> impl IntoView {
    let kind = if ca.subordinate {
        format!("a sub-CA of {}", ca.issuer)
    } else {
        "certfleet's own root".to_owned()
    };
    let untrusted = ca.clients.iter().filter(|c| !c.trusted).count();
    view! {
        <h2>"Issuing CA"</h2>
        <section class="panel" id="issuing-ca">
            <p>
                <strong>{ca.subject.clone()}</strong> " — " {kind} ", valid until " {date(ca.not_after)}
                ", for " {ca.permitted.join(", ")}
            </p>
            <p class="muted"><code style="word-break: break-all">{ca.sha256.clone()}</code></p>
            {if ca.clients.is_empty() {
                view! { <p class="muted">"No client machine checks a server it issued for yet: attach the client group to the endpoint, or add [[trust]] to the clients' agent.toml."</p> }.into_any()
            } else {
                view! {
                    <p>{format!("{} client checks, {untrusted} not trusted", ca.clients.len())}</p>
                    <div class="table-wrap">
                        <table id="ca-clients">
                            <thead><tr><th>"Client"</th><th>"Server"</th><th>"Verdict"</th><th>"Since"</th></tr></thead>
                            <tbody>
                                {ca.clients.into_iter().map(|c| view! {
                                    <tr>
                                        <td><A href=format!("/hosts/{}", c.host_id)>{c.hostname}</A></td>
                                        <td>{c.server}</td>
                                        <td title=c.reason>{badge(if c.trusted { Tone::Ok } else { Tone::Bad }, c.verdict)}</td>
                                        <td>{date_time(c.since)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
