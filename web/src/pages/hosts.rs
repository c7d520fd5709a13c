//! Hosts: the list, and one host with its endpoints — what the live port serves versus what
//! the configuration names, each finding with its fix text, and the client machines that
//! must trust each one — and, on a client machine, the servers it must trust.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::{SetHostLabels, get_host, get_hosts};
use crate::components::{Empty, ErrorNotice, SeverityBadge, date, date_time, days_text};
use crate::live::tick;
use crate::model::{CertItem, EndpointItem, HostDetail, HostItem, TrustItem};

fn online(host: &HostItem) -> AnyView {
    let (class, label) = if host.revoked {
        ("revoked", "Revoked")
    } else if host.online {
        ("online", "Online")
    } else {
        ("offline", "Offline")
    };
    view! { <span class=format!("status {class}")>{label}</span> }.into_any()
}

#[component]
pub fn Hosts() -> impl IntoView {
    let data = Resource::new(tick, |_| get_hosts());
    view! {
        <h1>"Hosts"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <Empty><p>"No hosts yet — "<A href="/agents">"create an enrolment token"</A>" and enrol an agent."</p></Empty>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table id="hosts">
                                <thead><tr><th>"Host"</th><th>"Agent"</th><th class="num">"Endpoints"</th><th>"Findings"</th><th>"Next expiry"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|h| {
                                        let status = online(&h);
                                        let link = format!("/hosts/{}", h.id);
                                        view! {
                                        <tr>
                                            <td><A href=link>{h.hostname.clone()}</A><div class="muted">{h.fqdn.clone()}</div></td>
                                            <td>{status}</td>
                                            <td class="num">{h.endpoints}</td>
                                            <td>{format!("{} errors, {} warnings", h.errors, h.warnings)}</td>
                                            <td>{h.next_expiry.map(date).unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn Host() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .get()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let data = Resource::new(move || (tick(), id()), |(_, id)| get_host(id));
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(detail) => view! { <HostBody detail/> }.into_any(),
                    Err(e) => view! { <h1>"Host"</h1><ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn HostBody(detail: HostDetail) -> impl IntoView {
    let h = detail.host.clone();
    view! {
        <h1>{h.hostname.clone()}</h1>
        <div class="panel">
            <dl class="facts">
                <dt>"Agent"</dt><dd id="host-status">{online(&h)}</dd>
                <dt>"Name"</dt><dd>{h.fqdn.clone()}</dd>
                <dt>"System"</dt><dd>{h.os.clone()}</dd>
                <dt>"Agent version"</dt><dd>{h.agent_version.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Last seen"</dt><dd>{h.last_seen_at.map(date_time).unwrap_or_else(|| "never".into())}</dd>
                <dt>"Groups"</dt><dd>{if h.groups.is_empty() { "—".to_owned() } else { h.groups.join(", ") }}</dd>
            </dl>
            {detail.can_label.then(|| view! { <LabelsForm host_id=h.id labels=detail.labels.clone()/> })}
        </div>
        {(!detail.manual_steps.is_empty()).then(|| view! {
            <div class="notice" id="manual-steps">
                <h2>"Left to do by hand"</h2>
                <ul>{detail.manual_steps.into_iter().map(|step| view! { <li>{step}</li> }).collect_view()}</ul>
            </div>
        })}
        <h2>"Endpoints"</h2>
        <EndpointTable endpoints=detail.endpoints certificates=detail.certificates/>
        {(!detail.trust.is_empty()).then(|| view! {
            <h2>"Servers this machine must trust"</h2>
            <TrustTable checks=detail.trust/>
        })}
    }
}

fn verdict_badge(t: &TrustItem) -> AnyView {
    let class = if t.verdict.is_trusted() {
        "status ok"
    } else {
        "status error"
    };
    view! { <span class=class>{t.verdict.label()}</span> }.into_any()
}

/// A client machine's verdicts on the servers it must trust, each with its reason.
#[component]
fn TrustTable(checks: Vec<TrustItem>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="trust" id="trust-checks">
                <thead><tr><th>"Server"</th><th>"Verdict"</th><th>"Why"</th><th>"Since"</th></tr></thead>
                <tbody>
                    {checks.into_iter().map(|t| view! {
                        <tr>
                            <td><strong>{t.server_name.clone()}</strong><div class="mono">{t.endpoint.clone()}</div></td>
                            <td>{verdict_badge(&t)}</td>
                            <td>{t.reason.clone()}<div class="muted mono">{t.store.clone()}</div></td>
                            <td>{date_time(t.since)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Under an endpoint: the client machines that must trust it, and whether they do.
fn clients_list(clients: Vec<TrustItem>) -> Option<AnyView> {
    if clients.is_empty() {
        return None;
    }
    let untrusted = clients.iter().filter(|c| !c.verdict.is_trusted()).count();
    let summary = match untrusted {
        0 => format!(
            "trusted by all {} clients that must trust it",
            clients.len()
        ),
        n => format!("{n} of {} clients that must trust it do not", clients.len()),
    };
    Some(view! {
        <details class="clients">
            <summary>{summary}</summary>
            <ul>
                {clients.into_iter().map(|c| {
                    let badge = verdict_badge(&c);
                    let why = (!c.verdict.is_trusted()).then(|| view! { <div class="muted">{c.reason.clone()}</div> });
                    view! {
                        <li>
                            <A href=format!("/hosts/{}", c.host_id)>{c.hostname.clone()}</A>" "{badge}
                            {why}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </details>
    }.into_any())
}

/// Groups set in the console, next to the agent's own (alert recipients, maintenance
/// windows and rollouts name them).
#[component]
fn LabelsForm(host_id: i64, labels: Vec<String>) -> impl IntoView {
    let save = FormAction::<SetHostLabels>::new();
    view! {
        <PostForm action=save attr:class="filters" attr:id="labels-form">
            <input type="hidden" name="host_id" value=host_id/>
            <label>"Groups set here (comma separated)" <input type="text" name="labels" value=labels.join(", ") placeholder="prod, esync"/></label>
            <button type="submit">"Save groups"</button>
        </PostForm>
        {move || save.value().get().map(|r| match r {
            Ok(groups) => view! { <p class="notice" id="labels-saved">"Groups now: "{groups.join(", ")}</p> }.into_any(),
            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
        })}
    }
}

fn cert_cell(sha: Option<String>, certificates: &[CertItem]) -> AnyView {
    match sha {
        None => view! { <span class="muted">"—"</span> }.into_any(),
        Some(sha) => {
            let known = certificates.iter().find(|c| c.sha256 == sha).cloned();
            let label = known
                .as_ref()
                .map(|c| {
                    format!(
                        "{} · {}",
                        c.names.first().cloned().unwrap_or(c.subject.clone()),
                        days_text(c.days_left)
                    )
                })
                .unwrap_or_else(|| sha.chars().take(16).collect());
            view! { <A href=format!("/certificates/{sha}")>{label}</A> }.into_any()
        }
    }
}

/// Endpoints with configured-versus-served certificates and their findings.
#[component]
pub fn EndpointTable(endpoints: Vec<EndpointItem>, certificates: Vec<CertItem>) -> impl IntoView {
    if endpoints.is_empty() {
        return view! { <Empty><p>"No endpoints reported. Add what to watch to the agent's agent.toml."</p></Empty> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="endpoints">
                <thead><tr><th>"Endpoint"</th><th>"Configured"</th><th>"Served on the live port"</th><th>"Findings"</th></tr></thead>
                <tbody>
                    {endpoints.into_iter().map(|e| {
                        let same = e.served_sha256.is_some() && e.served_sha256 == e.configured_sha256;
                        view! {
                            <tr>
                                <td>
                                    <strong>{e.name.clone()}</strong>
                                    <div class="muted">{format!("{} on ", e.kind)}<A href=format!("/hosts/{}", e.host_id)>{e.hostname.clone()}</A></div>
                                    {e.address.clone().map(|a| view! { <div class="mono">{a}</div> })}
                                    {e.config_path.clone().map(|p| view! { <div class="muted mono">{p}</div> })}
                                    {clients_list(e.clients)}
                                </td>
                                <td>{cert_cell(e.configured_sha256.clone(), &certificates)}</td>
                                <td>
                                    {cert_cell(e.served_sha256.clone(), &certificates)}
                                    {same.then(|| view! { <div class="status ok">"same as configured"</div> })}
                                </td>
                                <td>
                                    <ul class="findings">
                                        {e.findings.into_iter().map(|f| view! {
                                            <li><SeverityBadge severity=f.severity/>" "<code>{f.code.clone()}</code><div>{f.message.clone()}</div></li>
                                        }).collect_view()}
                                        {e.errors.into_iter().map(|err| view! { <li><span class="status error">"Unreadable"</span><div>{err}</div></li> }).collect_view()}
                                    </ul>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
