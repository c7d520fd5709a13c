//! The document shell, the layout and the router.

use leptos::prelude::*;

use crate::form::{FormAction, PostForm};
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{SsrMode, path};

use crate::api::{Logout, current_viewer};
use crate::live::{LiveState, provide_live};
use crate::model::{Role, Viewer};
use crate::pages;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// What a page may run and load: scripts only from the console and the inline hydration
/// script that carries this response's nonce (Leptos puts it on every script it writes),
/// the wasm compiled (`'wasm-unsafe-eval'`), styles from the console's stylesheet (and
/// style attributes, which the timeline's bars use; no `<style>` elements), nothing
/// framed, no plugins, forms only to the console.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Sets the page's Content-Security-Policy header with the nonce leptos_axum made for this
/// response (the listener's own header, frame-ancestors only, is then left off).
#[cfg(feature = "ssr")]
fn send_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) =
        axum::http::HeaderValue::from_str(&content_security_policy(&nonce.to_string()))
    {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The user, once known, shared with every page.
#[derive(Debug, Clone, Copy)]
pub struct Session(pub Resource<Option<Viewer>>);

pub fn viewer() -> Option<Viewer> {
    use_context::<Session>().and_then(|s| s.0.get().flatten())
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_live();
    // Effects run only in the browser: this marks the moment the wasm took over the page
    // (the browser tests wait for it; a broken wasm build still serves good-looking HTML).
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let session = Resource::new(|| (), |_| async { current_viewer().await.ok().flatten() });
    provide_context(Session(session));
    // Pages wait for their data before the HTML goes out, so they work without JavaScript.
    let ssr = SsrMode::Async;
    view! {
        <Stylesheet id="certfleet" href="/pkg/certfleet.css"/>
        <Title text="certfleet"/>
        <Router>
            <Routes fallback=|| view! { <main><h1>"Page not found"</h1><A href="/">"Back to the overview"</A></main> }>
                <Route path=path!("/login") view=pages::login::Login ssr=ssr.clone()/>
                <ParentRoute path=path!("") view=Layout ssr=ssr.clone()>
                    <Route path=path!("") view=pages::overview::Overview ssr=ssr.clone()/>
                    <Route path=path!("/password") view=pages::login::ChangePassword ssr=ssr.clone()/>
                    <Route path=path!("/certificates") view=pages::certificates::Certificates ssr=ssr.clone()/>
                    <Route path=path!("/certificates/:sha256") view=pages::certificate::Certificate ssr=ssr.clone()/>
                    <Route path=path!("/hosts") view=pages::hosts::Hosts ssr=ssr.clone()/>
                    <Route path=path!("/hosts/:id") view=pages::hosts::Host ssr=ssr.clone()/>
                    <Route path=path!("/agents") view=pages::agents::Agents ssr=ssr.clone()/>
                    <Route path=path!("/audit") view=pages::admin::Audit ssr=ssr.clone()/>
                    <Route path=path!("/users") view=pages::admin::Users ssr=ssr.clone()/>
                    <Route path=path!("/alerts") view=pages::alerts::AlertSettings ssr=ssr.clone()/>
                    <Route path=path!("/renewals") view=pages::renewals::Renewals ssr=ssr.clone()/>
                    <Route path=path!("/renewals/:id") view=pages::rollouts::Renewal ssr=ssr.clone()/>
                    <Route path=path!("/rollouts/:id") view=pages::rollouts::Rollout ssr=ssr.clone()/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Header, navigation and the page; sends visitors without a session to the login page, and
/// users with a one-time password to change it first.
#[component]
fn Layout() -> impl IntoView {
    let session = expect_context::<Session>().0;
    let location = use_location();
    let logout = FormAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            #[cfg(feature = "hydrate")]
            {
                let _ = window().location().set_href("/login");
            }
        }
    });
    let live = use_context::<LiveState>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let viewer = session.await;
                let path = location.pathname.get();
                match viewer {
                    None => view! { <Redirect path="/login"/> }.into_any(),
                    Some(v) if v.must_change_password && path != "/password" => {
                        view! { <Redirect path="/password"/> }.into_any()
                    }
                    Some(v) => {
                        let admin = v.role >= Role::Admin;
                        view! {
                            <a class="skip" href="#content">"Skip to content"</a>
                            <header class="top">
                                <A href="/" attr:class="brand">"certfleet"</A>
                                <nav aria-label="Main">
                                    <A href="/" exact=true>"Overview"</A>
                                    <A href="/certificates">"Certificates"</A>
                                    <A href="/hosts">"Hosts"</A>
                                    <A href="/renewals">"Renewals"</A>
                                    <A href="/agents">"Agents"</A>
                                    {admin.then(|| view! { <A href="/audit">"Audit log"</A> <A href="/users">"Users"</A> <A href="/alerts">"Alerts"</A> })}
                                </nav>
                                <span class="live" aria-live="polite">
                                    {move || match live.map(|l| l.0.get()) {
                                        Some(true) => "● live",
                                        _ => "",
                                    }}
                                </span>
                                <span class="who">{format!("{} ({})", v.name, v.role.as_str())}</span>
                                <PostForm action=logout>
                                    <button type="submit" class="secondary">"Log out"</button>
                                </PostForm>
                            </header>
                            <main id="content">
                                <Outlet/>
                            </main>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
