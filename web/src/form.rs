//! Forms posted to server functions by the browser itself. Leptos's `ActionForm` compiles,
//! for every server function, its own submit handler, query-string parser and request
//! future (≈ 8 KiB of wasm each); here one handler posts any form's fields as they are
//! (`application/x-www-form-urlencoded`, exactly what the form sends without JavaScript)
//! and keeps the reply's text, which each form reads as its own type.

use std::marker::PhantomData;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::de::DeserializeOwned;

use crate::model::UiError;

/// What a form's submissions have brought back so far; the same for every server function.
#[derive(Debug, Clone, Copy)]
pub struct Submissions {
    url: &'static str,
    reply: RwSignal<Option<Result<String, UiError>>>,
    version: RwSignal<usize>,
    pending: RwSignal<bool>,
}

/// A form's action: server function `S`, whose reply the page reads.
#[derive(Debug)]
pub struct FormAction<S> {
    submissions: Submissions,
    server_fn: PhantomData<fn() -> S>,
}

impl<S> Clone for FormAction<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for FormAction<S> {}

impl<S> FormAction<S>
where
    S: ServerFn,
    S::Output: DeserializeOwned + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self {
            submissions: Submissions {
                url: S::url(),
                reply: RwSignal::new(None),
                version: RwSignal::new(0),
                pending: RwSignal::new(false),
            },
            server_fn: PhantomData,
        }
    }

    /// The last reply, once a submission has finished.
    pub fn value(&self) -> Signal<Option<Result<S::Output, UiError>>> {
        let reply = self.submissions.reply;
        Signal::derive(move || {
            reply.with(|r| {
                r.as_ref().map(|r| match r {
                    Ok(text) => serde_json::from_str(text).map_err(|e| {
                        UiError::Transport(format!("the console's reply could not be read: {e}"))
                    }),
                    Err(e) => Err(e.clone()),
                })
            })
        })
    }

    /// How many submissions have finished (resources re-fetch on it).
    pub fn version(&self) -> RwSignal<usize> {
        self.submissions.version
    }

    /// Whether a submission is on its way.
    pub fn pending(&self) -> RwSignal<bool> {
        self.submissions.pending
    }
}

impl<S> From<FormAction<S>> for Submissions {
    fn from(action: FormAction<S>) -> Self {
        action.submissions
    }
}

/// A `<form method="post">` to the action's server function; with JavaScript the browser
/// posts it in the background and the page shows the reply.
#[component]
pub fn PostForm(#[prop(into)] action: Submissions, children: Children) -> impl IntoView {
    view! {
        <form method="post" action=action.url on:submit=move |ev| submit(ev, action)>
            {children()}
        </form>
    }
}

#[cfg(not(feature = "hydrate"))]
fn submit(_: leptos::ev::SubmitEvent, _: Submissions) {}

#[cfg(feature = "hydrate")]
fn submit(ev: leptos::ev::SubmitEvent, action: Submissions) {
    use wasm_bindgen::JsCast;
    if ev.default_prevented() {
        return;
    }
    let Some(form) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
    else {
        return;
    };
    ev.prevent_default();
    let body = form_body(&form, ev.submitter());
    action.pending.set(true);
    leptos::task::spawn_local(async move {
        let reply = match body {
            Ok(body) => post(action.url, body).await,
            Err(e) => Err(e),
        };
        action.reply.set(Some(reply));
        action.version.update(|n| *n += 1);
        action.pending.set(false);
    });
}

/// The form's fields (and the pressed button's name and value), URL-encoded.
#[cfg(feature = "hydrate")]
fn form_body(
    form: &web_sys::HtmlFormElement,
    submitter: Option<web_sys::HtmlElement>,
) -> Result<String, UiError> {
    let unreadable = |_| UiError::Transport("the form's fields could not be read".into());
    let data = web_sys::FormData::new_with_form(form).map_err(unreadable)?;
    if let Some(button) = submitter
        && let Some(name) = button.get_attribute("name")
    {
        let value = button.get_attribute("value").unwrap_or_default();
        data.append_with_str(&name, &value).map_err(unreadable)?;
    }
    let params =
        web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).map_err(unreadable)?;
    Ok(params.to_string().into())
}

/// Posts the body and returns the reply's text; an error status carries a `UiError`.
#[cfg(feature = "hydrate")]
async fn post(url: &str, body: String) -> Result<String, UiError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let unreachable = |_| UiError::Transport("the console could not be reached; try again".into());
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers
        .set("Content-Type", "application/x-www-form-urlencoded")
        .map_err(unreachable)?;
    headers
        .set("Accept", "application/json")
        .map_err(unreachable)?;
    init.set_headers(&headers);
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str_and_init(url, &init))
        .await
        .map_err(unreachable)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?
        .as_string()
        .unwrap_or_default();
    if (400..=599).contains(&response.status()) {
        return Err(serde_json::from_str(&text).unwrap_or_else(|_| {
            UiError::Transport(format!("the console answered {}", response.status()))
        }));
    }
    Ok(text)
}
