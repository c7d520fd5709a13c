//! Admin pages: the audit log and the users.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::hooks::use_query_map;

use crate::api::{AddUser, SetDisabled, SetRole, get_audit, get_users};
use crate::components::{Empty, ErrorNotice, date_time};
use crate::live::tick;

#[component]
pub fn Audit() -> impl IntoView {
    let params = use_query_map();
    let before = move || {
        params
            .get()
            .get("before")
            .and_then(|v| v.parse::<i64>().ok())
    };
    let rows = Resource::new(move || (tick(), before()), |(_, before)| get_audit(before));
    view! {
        <h1>"Audit log"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <Empty><p>"Nothing recorded yet."</p></Empty> }.into_any(),
                    Ok(rows) => {
                        let older = rows.last().map(|r| format!("/audit?before={}", r.id));
                        view! {
                            <div class="table-wrap">
                                <table id="audit">
                                    <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th class="wide">"Detail"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|r| view! {
                                            <tr>
                                                <td>{date_time(r.at)}</td>
                                                <td>{r.actor}</td>
                                                <td><code>{r.action}</code></td>
                                                <td class="mono">{r.target.unwrap_or_default()}</td>
                                                <td class="wide">{r.detail.unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <nav class="pager">{older.map(|h| view! { <a href=h>"Older"</a> })}</nav>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn Users() -> impl IntoView {
    let add = FormAction::<AddUser>::new();
    let set_role = FormAction::<SetRole>::new();
    let set_disabled = FormAction::<SetDisabled>::new();
    let list = Resource::new(
        move || {
            (
                add.version().get(),
                set_role.version().get(),
                set_disabled.version().get(),
            )
        },
        |_| get_users(),
    );
    view! {
        <h1>"Users"</h1>
        <section class="panel">
            <h2>"Add a user"</h2>
            <PostForm action=add attr:class="filters" attr:id="user-form">
                <label>"User name" <input type="text" name="username" required/></label>
                <label>"Role"
                    <select name="role">
                        <option value="viewer">"Viewer — reads"</option>
                        <option value="operator">"Operator — also acts on certificates"</option>
                        <option value="admin">"Admin — also agents, tokens, users"</option>
                    </select>
                </label>
                <button type="submit">"Add"</button>
            </PostForm>
            {move || add.value().get().map(|r| match r {
                Ok(password) => view! {
                    <p class="notice" id="new-user-password">"One-time password (shown once; the user must change it at the first login): "<code>{password}</code></p>
                }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </section>
        {move || set_role.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
        {move || set_disabled.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
        <h2>"Everyone"</h2>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(users) => view! {
                        <div class="table-wrap">
                            <table id="users">
                                <thead><tr><th>"User"</th><th>"Role"</th><th>"State"</th><th></th></tr></thead>
                                <tbody>
                                    {users.into_iter().map(|u| {
                                        let id_for_role = u.id.to_string();
                                        let id_for_state = u.id.to_string();
                                        let role = u.role.as_str();
                                        let role_label = format!("Role of {}", u.username);
                                        view! {
                                            <tr>
                                                <td>{u.username.clone()}</td>
                                                <td>
                                                    <PostForm action=set_role attr:class="filters">
                                                        <input type="hidden" name="user_id" value=id_for_role/>
                                                        <select name="role" aria-label=role_label>
                                                            {["viewer", "operator", "admin"].into_iter().map(|r| view! { <option value=r selected=r == role>{r}</option> }).collect_view()}
                                                        </select>
                                                        <button type="submit" class="secondary">"Set role"</button>
                                                    </PostForm>
                                                </td>
                                                <td>{if u.disabled { "disabled" } else if u.must_change_password { "must change password" } else { "active" }}</td>
                                                <td>
                                                    <PostForm action=set_disabled>
                                                        <input type="hidden" name="user_id" value=id_for_state/>
                                                        <input type="hidden" name="disabled" value=(!u.disabled).to_string()/>
                                                        <button type="submit" class="secondary">{if u.disabled { "Enable" } else { "Disable" }}</button>
                                                    </PostForm>
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
