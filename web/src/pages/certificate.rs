//! One certificate: its facts, thumbprints to copy as clean hex, where it is used, and what
//! is wrong there.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::get_certificate;
use crate::components::{CertBadge, Copyable, ErrorNotice, date_time, days_text, spaced};
use crate::live::tick;
use crate::model::CertDetail;
use crate::pages::hosts::EndpointTable;

#[component]
pub fn Certificate() -> impl IntoView {
    let params = use_params_map();
    let sha = move || params.get().get("sha256").unwrap_or_default();
    let data = Resource::new(move || (tick(), sha()), |(_, sha)| get_certificate(sha));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(detail) => view! { <Body detail/> }.into_any(),
                    Err(e) => view! { <h1>"Certificate"</h1><ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Body(detail: CertDetail) -> impl IntoView {
    let item = detail.item.clone();
    let title = item.names.first().cloned().unwrap_or(item.subject.clone());
    view! {
        <h1 id="certificate-title">{title}</h1>
        <div class="panel">
            <dl class="facts">
                <dt>"Status"</dt><dd><CertBadge status=item.status/></dd>
                <dt>"Subject"</dt><dd>{item.subject.clone()}</dd>
                <dt>"Names"</dt><dd>{item.names.join(", ")}{(!detail.ip_addresses.is_empty()).then(|| format!(", {}", detail.ip_addresses.join(", ")))}</dd>
                <dt>"Issuer"</dt><dd>{item.issuer.clone()}{detail.self_signed.then_some(" (self-signed)")}</dd>
                <dt>"Valid from"</dt><dd>{date_time(item.not_before)}</dd>
                <dt>"Valid until"</dt><dd id="days-left">{date_time(item.not_after)} " · " {days_text(item.days_left)}</dd>
                <dt>"Thumbprint (SHA-1)"</dt>
                <dd id="thumbprint"><Copyable shown=spaced(&item.thumbprint) copy=item.thumbprint.clone() label="thumbprint"/></dd>
                <dt>"SHA-256"</dt>
                <dd><Copyable shown=spaced(&item.sha256) copy=item.sha256.clone() label="SHA-256 fingerprint"/></dd>
                <dt>"Serial"</dt><dd class="mono">{detail.serial.clone()}</dd>
                <dt>"Key"</dt><dd>{detail.key.clone()}</dd>
                <dt>"Signature"</dt><dd>{detail.signature_algorithm.clone()}</dd>
            </dl>
        </div>
        <h2>"Chain"</h2>
        <div class="panel">
            <p>{item.subject.clone()}</p>
            <p class="muted">"issued by "{item.issuer.clone()}</p>
            <p class="muted">"Links that are missing or broken on an endpoint show as findings below."</p>
        </div>
        <h2>"Where it is used"</h2>
        <EndpointTable endpoints=detail.endpoints.clone() certificates=vec![item]/>
        <details>
            <summary>"Certificate (PEM, public)"</summary>
            <pre class="command">{detail.pem}</pre>
        </details>
        <p><A href="/certificates">"All certificates"</A></p>
    }
}
