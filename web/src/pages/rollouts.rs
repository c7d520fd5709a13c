//! One renewal (its facts, the plan with each endpoint's verdict, the rollout form) and one
//! rollout (every endpoint's state and step, live; pause, resume, cancel).

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{
    AcceptEndpoint, CheckRenewal, ControlRollout, StartRollout, get_renewal, get_rollout,
};
use crate::components::{Empty, ErrorNotice, date, date_time, spaced};
use crate::live::tick;
use crate::model::{PlanItem, RenewalPage, RolloutDetail, RolloutState};
use crate::pages::renewals::{RolloutList, Tone, badge, rollout_state, target_state};

fn id_param() -> impl Fn() -> i64 + Copy {
    let params = use_params_map();
    move || {
        params
            .get()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    }
}

#[component]
pub fn Renewal() -> impl IntoView {
    let id = id_param();
    let accept = FormAction::<AcceptEndpoint>::new();
    let data = Resource::new(
        move || (tick(), id(), accept.version().get()),
        |(_, id, _)| get_renewal(id),
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <RenewalBody page accept/> }.into_any(),
                    Err(e) => view! { <h1>"Renewal"</h1><ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RenewalBody(page: RenewalPage, accept: FormAction<AcceptEndpoint>) -> impl IntoView {
    let r = page.renewal;
    let start = FormAction::<StartRollout>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = start.value().get() {
            navigate(&format!("/rollouts/{id}"), Default::default());
        }
    });
    let candidates: Vec<PlanItem> = page.plan;
    let any_proposed = candidates
        .iter()
        .any(|p| p.proposed && p.problems.is_empty() && p.contested_by.is_none());
    let contested: Vec<PlanItem> = candidates
        .iter()
        .filter(|p| p.contested_by.is_some())
        .cloned()
        .collect();
    view! {
        <h1>{format!("Renewal: {}", r.subject)}</h1>
        <dl class="facts">
            <dt>"Names"</dt><dd>{r.dns_names.join(", ")}</dd>
            <dt>"Issuer"</dt><dd>{r.issuer.clone()}</dd>
            <dt>"Expires"</dt><dd>{date(r.not_after)}</dd>
            <dt>"SHA-256"</dt><dd><code>{spaced(&r.sha256)}</code></dd>
            <dt>"Uploaded"</dt><dd>{format!("{} by {}", date_time(r.uploaded_at), r.uploaded_by)}</dd>
        </dl>
        {(!r.warnings.is_empty()).then(|| view! {
            <ul class="warnings">{r.warnings.iter().map(|w| view! { <li>"⚠ "{w.clone()}</li> }).collect_view()}</ul>
        })}
        <h2>"Plan"</h2>
        {if candidates.is_empty() {
            view! { <Empty><p>"No endpoint in the inventory uses a certificate this one could replace."</p></Empty> }.into_any()
        } else {
            view! {
                <PostForm action=start attr:id="rollout-form">
                    <input type="hidden" name="form[renewal_id]" value=r.id/>
                    <div class="table-wrap">
                        <table id="plan">
                            <thead><tr><th>"Renew"</th><th>"Host"</th><th class="wide">"Endpoint"</th><th>"Now uses"</th><th>"Preflight"</th></tr></thead>
                            <tbody>
                                {candidates.into_iter().enumerate().map(|(i, p)| {
                                    let value = format!("{}|{}", p.host_id, p.endpoint_key);
                                    let ok = p.problems.is_empty() && p.contested_by.is_none();
                                    let verdict = if ok {
                                        view! { <span class="rstate ok"><span aria-hidden="true">"✔ "</span>"ready"</span> }.into_any()
                                    } else {
                                        view! { <span class="rstate bad"><span aria-hidden="true">"✖ "</span>{p.problems.join("; ")}</span> }.into_any()
                                    };
                                    view! {
                                        <tr>
                                            <td><input type="checkbox" name=format!("form[targets][{i}]") value=value checked=p.proposed && ok disabled=!ok aria-label=format!("renew {} on {}", p.endpoint_name, p.hostname)/></td>
                                            <td><A href=format!("/hosts/{}", p.host_id)>{p.hostname.clone()}</A>{(!p.online).then(|| view! { <div class="muted">"offline"</div> })}</td>
                                            <td class="wide">{p.endpoint_name.clone()}<div class="muted">{p.endpoint_key.clone()}</div></td>
                                            <td><A href=format!("/certificates/{}", p.current_sha256)>{format!("expires {}", date(p.current_not_after))}</A></td>
                                            <td>{verdict}{p.notes.iter().map(|n| view! { <div class="muted">{n.clone()}</div> }).collect_view()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {page.can_roll_out.then(|| view! {
                        <fieldset class="filters">
                            <label>"Start (empty: now; or e.g. 2026-12-05T02:00+01:00)" <input type="text" name="form[start_at]" placeholder="now"/></label>
                            <label>"Hosts per wave after the canary" <input type="text" inputmode="numeric" name="form[wave_hosts]" placeholder="1"/></label>
                            <label>"Stop after failures" <input type="text" inputmode="numeric" name="form[max_failures]" placeholder="1"/></label>
                            <button type="submit" id="roll-out" disabled=!any_proposed>"Roll out"</button>
                        </fieldset>
                    })}
                </PostForm>
            }.into_any()
        }}
        {move || start.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
        {(!contested.is_empty()).then(|| view! { <NewEndpoints renewal_id=r.id items=contested can_accept=page.can_roll_out accept/> })}
        {page.can_roll_out.then(|| view! { <HostChecks renewal_id=r.id/> })}
        <h2>"Rollouts of this renewal"</h2>
        <RolloutList rollouts=page.rollouts/>
    }
}

/// Endpoints whose names another host served first: an agent's claim, not a fact, so none
/// of them gets a renewal's key until an operator accepts it here.
#[component]
fn NewEndpoints(
    renewal_id: i64,
    items: Vec<PlanItem>,
    can_accept: bool,
    accept: FormAction<AcceptEndpoint>,
) -> impl IntoView {
    view! {
        <h2>"New endpoints"</h2>
        <p class="muted">"These hosts claim names another host served first. Accept one only if you know it serves that site; until then no rollout includes it."</p>
        <ul id="new-endpoints">
            {items.into_iter().map(|p| view! {
                <li>
                    {format!("{} on {} (first served by {})", p.endpoint_name, p.hostname, p.contested_by.clone().unwrap_or_default())}
                    {can_accept.then(|| view! {
                        <PostForm action=accept attr:class="inline">
                            <input type="hidden" name="renewal_id" value=renewal_id/>
                            <input type="hidden" name="host_id" value=p.host_id/>
                            <input type="hidden" name="endpoint_key" value=p.endpoint_key.clone()/>
                            <button type="submit">"Accept"</button>
                        </PostForm>
                    })}
                </li>
            }).collect_view()}
        </ul>
        {move || accept.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
    }
}

/// Asks the hosts for their own preflight of the proposed endpoints; nothing changes.
#[component]
fn HostChecks(renewal_id: i64) -> impl IntoView {
    let check = FormAction::<CheckRenewal>::new();
    view! {
        <PostForm action=check attr:class="filters" attr:id="check-form">
            <input type="hidden" name="id" value=renewal_id/>
            <button type="submit">"Check on the hosts"</button>
            <span class="muted">"Each agent runs the preflight (names, purpose, the port) and changes nothing."</span>
        </PostForm>
        {move || check.pending().get().then(|| view! { <p class="muted">"Asking the hosts…"</p> })}
        {move || check.value().get().map(|r| match r {
            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            Ok(list) if list.is_empty() => view! { <p class="muted">"No proposed endpoint to check."</p> }.into_any(),
            Ok(list) => view! {
                <div class="table-wrap">
                    <table id="host-checks">
                        <thead><tr><th>"Host"</th><th>"Endpoint"</th><th>"Verdict"</th><th class="wide">"Detail"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|c| {
                                let tone = match c.verdict.as_str() {
                                    "passed" => Tone::Ok,
                                    "refused" => Tone::Bad,
                                    _ => Tone::Wait,
                                };
                                view! {
                                    <tr>
                                        <td>{c.hostname.clone()}</td>
                                        <td>{c.endpoint_name.clone()}</td>
                                        <td>{badge(tone, c.verdict.clone())}</td>
                                        <td class="wide"><pre class="reason">{c.detail.clone()}</pre></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        })}
    }
}

#[component]
pub fn Rollout() -> impl IntoView {
    let id = id_param();
    let control = FormAction::<ControlRollout>::new();
    let data = Resource::new(
        move || (tick(), id(), control.version().get()),
        |(_, id, _)| get_rollout(id),
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(detail) => view! { <RolloutBody detail control/> }.into_any(),
                    Err(e) => view! { <h1>"Rollout"</h1><ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Suspense>
        {move || control.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
    }
}

#[component]
fn RolloutBody(detail: RolloutDetail, control: FormAction<ControlRollout>) -> impl IntoView {
    let r = detail.rollout;
    let id = r.id;
    let actions: &[(&str, &str)] = match r.state {
        RolloutState::Scheduled | RolloutState::Running => {
            &[("pause", "Pause"), ("cancel", "Cancel")]
        }
        RolloutState::Paused => &[("resume", "Resume"), ("cancel", "Cancel")],
        RolloutState::Succeeded | RolloutState::Failed | RolloutState::Cancelled => &[],
    };
    let when = if r.start_at > r.created_at + 60 {
        format!("starts {} ({})", date_time(r.start_at), r.time_zone)
    } else {
        format!("started {}", date_time(r.start_at))
    };
    view! {
        <h1>{format!("Rollout #{id}")}</h1>
        <p id="rollout-state" class="big">{rollout_state(r.state)}" "<span>{r.detail.clone()}</span></p>
        <p class="muted">
            <A href=format!("/renewals/{}", r.renewal_id)>{detail.renewal.subject.clone()}</A>
            {format!(" · {} · by {} · stops after {} failure(s) · {}/{} verified", when, r.created_by, r.max_failures, r.verified, r.targets)}
        </p>
        {detail.can_control.then(|| actions.iter().map(|(action, label)| view! {
            <PostForm action=control attr:class="inline">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="action" value=*action/>
                <button type="submit" id=format!("rollout-{action}")>{*label}</button>
            </PostForm>
        }).collect_view())}
        <div class="table-wrap">
            <table id="targets">
                <thead><tr><th>"Wave"</th><th>"Host"</th><th class="wide">"Endpoint"</th><th>"State"</th><th class="wide">"Step / reason"</th></tr></thead>
                <tbody>
                    {detail.targets.into_iter().map(|t| {
                        let wave = if t.wave == 0 { "canary".to_owned() } else { t.wave.to_string() };
                        let text = if t.detail.is_empty() || t.detail == "sent to the agent" { t.step.clone() } else { t.detail.clone() };
                        view! {
                            <tr data-state=t.state.as_str()>
                                <td>{wave}</td>
                                <td><A href=format!("/hosts/{}", t.host_id)>{t.hostname.clone()}</A></td>
                                <td class="wide">{t.endpoint_name.clone()}</td>
                                <td>{target_state(t.state)}</td>
                                <td class="wide"><pre class="reason">{text}</pre><div class="muted">{date_time(t.updated_at)}</div></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
