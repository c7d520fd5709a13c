//! The alert settings (admins): the SMTP relay, who is told, thresholds, the digest time, a
//! test email that shows the server's answer, and the latest emails with their state.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};

use crate::api::{SaveAlertSettings, SendTestEmail, get_alert_settings};
use crate::components::{Empty, ErrorNotice, date_time};
use crate::model::{AlertPage, OutboxItem};

#[component]
pub fn AlertSettings() -> impl IntoView {
    let save = FormAction::<SaveAlertSettings>::new();
    let test = FormAction::<SendTestEmail>::new();
    // Reload the form only after a successful save: a refused one keeps what was typed.
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let page = Resource::new(move || saved.get(), |_| get_alert_settings());
    view! {
        <h1>"Alerts"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    Ok(p) => view! { <SettingsForm page=p save=save test=test/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SettingsForm(
    page: AlertPage,
    save: FormAction<SaveAlertSettings>,
    test: FormAction<SendTestEmail>,
) -> impl IntoView {
    let f = page.form;
    let security = f.security.clone();
    let state = match (page.enabled, page.saved_on_page) {
        (false, _) => "Alerts are off: set an SMTP server and at least one recipient.",
        (true, true) => "Alerts are on, with the settings saved on this page.",
        (true, false) => "Alerts are on, with the settings from the configuration file.",
    };
    let password_hint = if page.password_set {
        "A password is stored; leave empty to keep it."
    } else {
        "No password stored."
    };
    view! {
        <p class="notice" id="alerts-state">{state}</p>
        <section class="panel">
            <h2>"Email settings"</h2>
            <PostForm action=save attr:id="alert-settings" attr:class="settings">
                <fieldset>
                    <legend>"SMTP server"</legend>
                    <label>"Host" <input type="text" name="settings[smtp_host]" value=f.smtp_host placeholder="smtp.example.com"/></label>
                    <label>"Port" <input type="text" inputmode="numeric" name="settings[smtp_port]" value=f.smtp_port/></label>
                    <label>"Security"
                        <select name="settings[security]">
                            {[("starttls", "STARTTLS (port 587)"), ("tls", "TLS (port 465)"), ("none", "None (local relay only)")]
                                .into_iter()
                                .map(|(v, l)| view! { <option value=v selected=security == v>{l}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>"User name (empty: no login)" <input type="text" name="settings[username]" value=f.username autocomplete="off"/></label>
                    <label>"Password" <input type="password" name="password" autocomplete="new-password" placeholder=password_hint/></label>
                    <label>"Sender" <input type="text" name="settings[from]" value=f.from/></label>
                </fieldset>
                <fieldset>
                    <legend>"Who is told"</legend>
                    <label>"Recipients of every alert (one per line)"
                        <textarea name="settings[recipients]" rows="3">{f.recipients}</textarea>
                    </label>
                    <label>"Also per host group (one group per line: group: address, address)"
                        <textarea name="settings[group_recipients]" rows="3" placeholder="esync: esync-team@example.com">{f.group_recipients}</textarea>
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"When"</legend>
                    <label>"Thresholds (days before expiry)" <input type="text" name="settings[thresholds]" value=f.thresholds/></label>
                    <label>"Daily digest at (HH:MM UTC, or off)" <input type="text" name="settings[digest_at]" value=f.digest_at/></label>
                    <label>"Agent offline after (minutes)" <input type="text" inputmode="numeric" name="settings[offline_after_minutes]" value=f.offline_after_minutes/></label>
                    <label>"Console address in links" <input type="text" name="settings[base_url]" value=f.base_url placeholder="https://certfleet.example.com:8443"/></label>
                </fieldset>
                <button type="submit">"Save"</button>
            </PostForm>
            {move || save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="notice" id="alert-settings-saved">"Saved."</p> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </section>
        <section class="panel">
            <h2>"Send a test email"</h2>
            <p class="muted">"Uses the saved settings."</p>
            <PostForm action=test attr:class="filters" attr:id="test-email">
                <label>"To" <input type="email" name="to" required/></label>
                <button type="submit">"Send test email"</button>
            </PostForm>
            {move || test.value().get().map(|r| match r {
                Ok(answer) => view! { <p class="notice" id="test-email-answer">"The server answered: "<code>{answer}</code></p> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </section>
        <h2>"Latest emails"</h2>
        <Outbox items=page.outbox/>
    }
}

#[component]
fn Outbox(items: Vec<OutboxItem>) -> impl IntoView {
    if items.is_empty() {
        return view! { <Empty><p>"No alert emails yet."</p></Empty> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table id="outbox">
                <thead><tr><th>"Queued"</th><th class="wide">"Subject"</th><th>"To"</th><th>"State"</th></tr></thead>
                <tbody>
                    {items.into_iter().map(|m| {
                        let state = match (m.sent_at, &m.last_error) {
                            (Some(at), _) => format!("sent {}", date_time(at)),
                            (None, Some(e)) => format!("waiting to retry ({} tries): {e}", m.attempts),
                            (None, None) => "queued".into(),
                        };
                        view! {
                            <tr>
                                <td>{date_time(m.created_at)}</td>
                                <td class="wide">{m.subject}</td>
                                <td>{m.recipients.join(", ")}</td>
                                <td>{state}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
