//! Agents: make an enrolment token and show the exact commands that enrol a host (admins),
//! and every agent with its status; admins can revoke.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::components::A;

use crate::api::{CreateToken, RevokeAgent, get_agents};
use crate::app::viewer;
use crate::components::{AgentBadge, CommandBox, Empty, ErrorNotice, date_time};
use crate::live::tick;
use crate::model::{AgentStatus, Role};

#[component]
pub fn Agents() -> impl IntoView {
    let create = FormAction::<CreateToken>::new();
    let revoke = FormAction::<RevokeAgent>::new();
    let list = Resource::new(move || (tick(), revoke.version().get()), |_| get_agents());
    let is_admin = move || viewer().is_some_and(|v| v.role >= Role::Admin);
    view! {
        <h1>"Agents"</h1>
        <Show when=is_admin>
            <section class="panel" id="enrol">
                <h2>"Enrol a host"</h2>
                <PostForm action=create attr:class="filters" attr:id="token-form">
                    <label>"Valid for (hours)" <input type="number" name="hours" value="24" min="1" max="720" style="width: 6em"/></label>
                    <label>"For host (a note)" <input type="text" name="host" placeholder="sage01.example.com"/></label>
                    <button type="submit">"Create enrolment token"</button>
                </PostForm>
                {move || create.value().get().map(|result| match result {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(token) => view! {
                        <div id="new-token">
                            <p>"Single use, valid until "{date_time(token.expires_at)}". Run this on the host:"</p>
                            <h3>"Linux"</h3>
                            {match token.install_linux.clone() {
                                Some(cmd) => view! { <p class="muted">"1. Install (the command checks the file's SHA-256):"</p><CommandBox command=cmd label="Linux install"/> }.into_any(),
                                None => view! { <p class="muted">"1. Copy the certfleet-agent binary to /usr/local/bin on the host."</p> }.into_any(),
                            }}
                            <p class="muted">"2. Enrol:"</p>
                            <CommandBox command=token.linux.clone() label="Linux"/>
                            <h3>"Windows (PowerShell 7, as administrator)"</h3>
                            {match token.install_windows.clone() {
                                Some(cmd) => view! { <p class="muted">"1. Install (the command checks the file's SHA-256):"</p><CommandBox command=cmd label="Windows install"/> }.into_any(),
                                None => view! { <p class="muted">"1. Copy certfleet-agent.exe to C:\\Program Files\\certfleet on the host."</p> }.into_any(),
                            }}
                            <p class="muted">"2. Enrol:"</p>
                            <CommandBox command=token.windows.clone() label="Windows"/>
                            <p class="muted">"Then add what to watch to agent.toml and start "<code>"certfleet-agent run"</code>"."</p>
                        </div>
                    }.into_any(),
                })}
            </section>
        </Show>
        <h2>"Enrolled agents"</h2>
        {move || revoke.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(agents) if agents.is_empty() => view! {
                        <Empty><p>"No agents yet — create an enrolment token above and run the command on a server."</p></Empty>
                    }.into_any(),
                    Ok(agents) => view! {
                        <div class="table-wrap">
                            <table id="agents">
                                <thead><tr><th>"Host"</th><th>"Status"</th><th>"Last seen"</th><th class="wide">"Version"</th><th></th></tr></thead>
                                <tbody>
                                    {agents.into_iter().map(|a| {
                                        let id = a.id.clone();
                                        let can_revoke = is_admin() && a.status != AgentStatus::Revoked;
                                        view! {
                                            <tr data-agent=a.id.clone()>
                                                <td>
                                                    {match (a.host_id, a.hostname.clone()) {
                                                        (Some(h), Some(name)) => view! { <A href=format!("/hosts/{h}")>{name}</A> }.into_any(),
                                                        _ => view! { <span class="muted">"(not connected yet)"</span> }.into_any(),
                                                    }}
                                                    <div class="muted mono">{a.id.clone()}</div>
                                                </td>
                                                <td class="agent-status"><AgentBadge status=a.status/></td>
                                                <td>{a.last_seen_at.map(date_time).unwrap_or_else(|| "never".into())}</td>
                                                <td class="wide">{a.version.clone().unwrap_or_default()}</td>
                                                <td>
                                                    {can_revoke.then(|| view! {
                                                        <PostForm action=revoke>
                                                            <input type="hidden" name="agent_id" value=id.clone()/>
                                                            <button type="submit" class="danger" aria-label=format!("Revoke agent {id}")>"Revoke"</button>
                                                        </PostForm>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
