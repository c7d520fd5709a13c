//! Renewals: upload a renewed certificate (a PFX with its password, or PEM texts) and see
//! the uploads and the rollouts. The upload is a plain multipart form to the console, so it
//! works without JavaScript; a refusal comes back with the reason.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::issuing_ca::IssuingCa;
use crate::api::{
    AddWindow, DeleteWindow, RenewNow, get_renewal_schedule, get_renewals, get_windows,
};
use crate::components::{Empty, ErrorNotice, date, date_time};
use crate::live::tick;
use crate::model::{
    RenewalItem, RenewalSchedule, RolloutItem, RolloutState, ScheduleItem, TargetState,
};

/// How a state reads at a glance; always with its icon and words, never colour alone.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Ok,
    Bad,
    Busy,
    Wait,
    /// Ended without doing anything (cancelled, skipped).
    Muted,
}

pub fn badge(tone: Tone, text: String) -> AnyView {
    let (icon, class) = match tone {
        Tone::Ok => ("✔", "ok"),
        Tone::Bad => ("✖", "bad"),
        Tone::Busy => ("⟳", "busy"),
        Tone::Wait => ("⏸", "wait"),
        Tone::Muted => ("–", "muted"),
    };
    view! { <span class=format!("rstate {class}")><span aria-hidden="true">{icon}" "</span>{text}</span> }
        .into_any()
}

pub fn rollout_state(state: RolloutState) -> AnyView {
    let tone = match state {
        RolloutState::Succeeded => Tone::Ok,
        RolloutState::Failed => Tone::Bad,
        RolloutState::Cancelled => Tone::Muted,
        RolloutState::Running => Tone::Busy,
        RolloutState::Paused | RolloutState::Scheduled => Tone::Wait,
    };
    badge(tone, state.label())
}

pub fn target_state(state: TargetState) -> AnyView {
    let tone = match state {
        TargetState::Verified => Tone::Ok,
        TargetState::Failed | TargetState::RolledBack => Tone::Bad,
        TargetState::Sent | TargetState::Preflighted | TargetState::Applied => Tone::Busy,
        TargetState::Pending => Tone::Wait,
        TargetState::Skipped | TargetState::Cancelled => Tone::Muted,
    };
    badge(tone, state.label())
}

#[component]
pub fn Renewals() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.get().get("error").filter(|e| !e.is_empty());
    let data = Resource::new(tick, |_| get_renewals());
    view! {
        <h1>"Renewals"</h1>
        <section class="panel">
            <h2>"Upload a renewed certificate"</h2>
            <p class="muted">"A PFX with its password, or the PEM certificate and key (and chain). It is checked first; nothing is kept when it is refused. The private key is stored encrypted and never shown again."</p>
            {move || error().map(|e| view! { <p class="error" role="alert" id="upload-error">{e}</p> })}
            <form method="post" action="/ui/renewals/upload" enctype="multipart/form-data" id="upload-form" class="settings">
                <fieldset>
                    <legend>"PFX / PKCS#12"</legend>
                    <label>"File" <input type="file" name="pfx" accept=".pfx,.p12"/></label>
                    <label>"Password (of the PFX, or of an encrypted PEM key)" <input type="password" name="password" autocomplete="off"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Or PEM"</legend>
                    <label>"Certificate" <textarea name="certificate_pem" rows="4" placeholder="-----BEGIN CERTIFICATE-----"></textarea></label>
                    <label>"Private key" <textarea name="key_pem" rows="4" placeholder="-----BEGIN PRIVATE KEY-----"></textarea></label>
                    <label>"Chain (intermediates)" <textarea name="chain_pem" rows="4"></textarea></label>
                </fieldset>
                <button type="submit">"Upload and check"</button>
            </form>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok((renewals, rollouts)) => view! {
                        <h2>"Uploaded"</h2>
                        <RenewalList renewals/>
                        <h2>"Rollouts"</h2>
                        <RolloutList rollouts/>
                    }.into_any(),
                }
            })}
        </Suspense>
        <Schedule/>
        <Windows/>
    }
}

/// Endpoints whose host group has a renewal policy (`[[renewals.policy]]`): the console
/// renews them by itself when due — the key made on the host — or now, on an operator's word.
#[component]
fn Schedule() -> impl IntoView {
    let renew = FormAction::<RenewNow>::new();
    let data = Resource::new(
        move || (tick(), renew.version().get()),
        |_| get_renewal_schedule(),
    );
    view! {
        <h2>"Renewed by policy"</h2>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(RenewalSchedule { rows, issuing_ca, .. }) if rows.is_empty() => view! {
                        <Empty><p>"No host group has a renewal policy: add a [[renewals.policy]] to the console's configuration (README, \"Renewals without uploads\") and its endpoints are renewed here, with no upload."</p></Empty>
                        {issuing_ca.map(|ca| view! { <IssuingCa ca/> })}
                    }.into_any(),
                    Ok(RenewalSchedule { rows, can_renew, issuing_ca }) => view! {
                        <div class="table-wrap">
                            <table id="schedule">
                                <thead><tr><th class="wide">"Endpoint"</th><th>"Policy"</th><th>"Expires"</th><th>"Renews"</th><th>"Last renewal"</th><th></th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| schedule_row(r, can_renew, renew)).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        {issuing_ca.map(|ca| view! { <IssuingCa ca/> })}
                    }.into_any(),
                }
            })}
        </Suspense>
        {move || renew.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
    }
}

fn schedule_row(r: ScheduleItem, can_renew: bool, renew: FormAction<RenewNow>) -> impl IntoView {
    let last = match r.last_state.as_deref() {
        None => view! { <span class="muted">"none yet"</span> }.into_any(),
        Some(state) => {
            let tone = match state {
                "verified" => Tone::Ok,
                "failed" => Tone::Bad,
                _ => Tone::Busy,
            };
            view! {
                <span title=r.last_detail.clone()>{badge(tone, state.to_owned())}</span>
                {r.last_rollout_id.map(|id| view! { " " <A href=format!("/rollouts/{id}")>{format!("rollout #{id}")}</A> })}
            }
            .into_any()
        }
    };
    view! {
        <tr>
            <td class="wide"><A href=format!("/hosts/{}", r.host_id)>{format!("{} · {}", r.hostname, r.endpoint_name)}</A></td>
            <td>{format!("{} ({})", r.group, r.source)}</td>
            <td>{date(r.not_after)}</td>
            <td>{date_time(r.renews_at)}</td>
            <td>{last}</td>
            <td>{can_renew.then(|| view! {
                <PostForm action=renew attr:class="inline">
                    <input type="hidden" name="host_id" value=r.host_id/>
                    <input type="hidden" name="endpoint_key" value=r.endpoint_key.clone()/>
                    <button type="submit">"Renew now"</button>
                </PostForm>
            })}</td>
        </tr>
    }
}

#[component]
fn RenewalList(renewals: Vec<RenewalItem>) -> impl IntoView {
    if renewals.is_empty() {
        return view! { <Empty><p>"No renewals yet — upload the renewed certificate above."</p></Empty> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table id="renewals">
                <thead><tr><th class="wide">"Certificate"</th><th>"Names"</th><th>"Expires"</th><th>"Uploaded"</th></tr></thead>
                <tbody>
                    {renewals.into_iter().map(|r| view! {
                        <tr>
                            <td class="wide"><A href=format!("/renewals/{}", r.id)>{r.subject.clone()}</A></td>
                            <td>{r.dns_names.join(", ")}</td>
                            <td>{date(r.not_after)}</td>
                            <td>{format!("{} by {}", date_time(r.uploaded_at), r.uploaded_by)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn RolloutList(rollouts: Vec<RolloutItem>) -> impl IntoView {
    if rollouts.is_empty() {
        return view! { <Empty><p>"No rollouts yet — open a renewal to roll it out."</p></Empty> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="rollouts">
                <thead><tr><th>"Rollout"</th><th class="wide">"Certificate"</th><th>"State"</th><th class="num">"Verified"</th><th>"Started by"</th></tr></thead>
                <tbody>
                    {rollouts.into_iter().map(|r| view! {
                        <tr>
                            <td><A href=format!("/rollouts/{}", r.id)>{format!("#{}", r.id)}</A></td>
                            <td class="wide">{r.subject.clone()}</td>
                            <td>{rollout_state(r.state)}</td>
                            <td class="num">{format!("{}/{}", r.verified, r.targets)}</td>
                            <td>{format!("{}, {}", r.created_by, date_time(r.created_at))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Maintenance windows per host group: rollouts change a host only inside one of its
/// groups' windows (a host whose groups have none may be changed any time).
#[component]
pub fn Windows() -> impl IntoView {
    let add = FormAction::<AddWindow>::new();
    let delete = FormAction::<DeleteWindow>::new();
    let data = Resource::new(
        move || (add.version().get(), delete.version().get()),
        |_| get_windows(),
    );
    view! {
        <h2>"Maintenance windows"</h2>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok((windows, can_edit)) => view! {
                        {if windows.is_empty() {
                            view! { <Empty><p>"No windows: rollouts may change any host at any time."</p></Empty> }.into_any()
                        } else {
                            view! {
                                <div class="table-wrap">
                                    <table id="windows">
                                        <thead><tr><th>"Group"</th><th>"Days"</th><th>"From"</th><th>"To"</th><th>"UTC offset"</th><th></th></tr></thead>
                                        <tbody>
                                            {windows.into_iter().map(|w| view! {
                                                <tr>
                                                    <td>{w.group_name.clone()}</td>
                                                    <td>{w.weekdays.clone()}</td>
                                                    <td>{w.start.clone()}</td>
                                                    <td>{w.end.clone()}</td>
                                                    <td>{if w.utc_offset.is_empty() { "UTC".to_owned() } else { w.utc_offset.clone() }}</td>
                                                    <td>{can_edit.then(|| view! {
                                                        <PostForm action=delete attr:class="inline">
                                                            <input type="hidden" name="id" value=w.id/>
                                                            <button type="submit">"Remove"</button>
                                                        </PostForm>
                                                    })}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }}
                        {can_edit.then(|| view! {
                            <PostForm action=add attr:class="filters" attr:id="window-form">
                                <label>"Group" <input type="text" name="window[group_name]" placeholder="esync" required/></label>
                                <label>"Days" <input type="text" name="window[weekdays]" placeholder="sat,sun" required/></label>
                                <label>"From" <input type="text" name="window[start]" placeholder="22:00" required/></label>
                                <label>"To" <input type="text" name="window[end]" placeholder="02:00" required/></label>
                                <label>"UTC offset" <input type="text" name="window[utc_offset]" placeholder="+01:00"/></label>
                                <button type="submit">"Add window"</button>
                            </PostForm>
                        })}
                    }.into_any(),
                }
            })}
        </Suspense>
        {move || add.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
    }
}
