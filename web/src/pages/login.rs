//! Login, and the first-admin flow: a one-time password must be changed before anything else.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_router::components::Redirect;

use crate::api::{ChangePassword as ChangePasswordFn, Login as LoginFn};
use crate::app::Session;
use crate::components::ErrorNotice;

/// A full page load, so the new session cookie is used from the first request on.
#[allow(unused_variables)]
fn reload_at(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let action = FormAction::<LoginFn>::new();
    let session = expect_context::<Session>().0;
    Effect::new(move |_| {
        if let Some(Ok(viewer)) = action.value().get() {
            reload_at(if viewer.must_change_password {
                "/password"
            } else {
                "/"
            });
        }
    });
    view! {
        <main>
            // Already logged in (e.g. after a form post without JavaScript): go on.
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    session.await.map(|v| {
                        let to = if v.must_change_password { "/password" } else { "/" };
                        view! { <Redirect path=to/> }
                    })
                })}
            </Suspense>
            <PostForm action=action attr:class="login panel" attr:id="login-form">
                <h1>"Log in to certfleet"</h1>
                {move || action.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
                <label>"User name" <input type="text" name="username" autocomplete="username" required/></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit">"Log in"</button>
                <p class="muted">"First start? The one-time password of the admin was printed by certfleet-server."</p>
            </PostForm>
        </main>
    }
}

#[component]
pub fn ChangePassword() -> impl IntoView {
    let action = FormAction::<ChangePasswordFn>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            reload_at("/");
        }
    });
    view! {
        <PostForm action=action attr:class="login panel" attr:id="password-form">
            <h1>"Choose your password"</h1>
            <p class="muted">"Replace the one-time password with one of your own (12 characters or more)."</p>
            {move || action.value().get().and_then(Result::err).map(|e| view! { <ErrorNotice error=e/> })}
            <label>"Current password" <input type="password" name="current" autocomplete="current-password" required/></label>
            <label>"New password" <input type="password" name="new" autocomplete="new-password" minlength="12" required/></label>
            <button type="submit">"Save"</button>
        </PostForm>
    }
}
