//! Live updates: the browser listens to the console's server-sent events (authenticated by
//! the session cookie like everything else) and bumps a counter that pages re-fetch on.

use leptos::prelude::*;

/// Changes whenever the console reports something new; pages read it in their resources.
#[derive(Debug, Clone, Copy)]
pub struct LiveTick(pub ReadSignal<u64>);

/// Whether the live channel is connected (shown in the header).
#[derive(Debug, Clone, Copy)]
pub struct LiveState(pub ReadSignal<bool>);

pub fn provide_live() {
    let (tick, set_tick) = signal(0u64);
    let (connected, set_connected) = signal(false);
    provide_context(LiveTick(tick));
    provide_context(LiveState(connected));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new("/ui/events") else {
            return;
        };
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_: web_sys::MessageEvent| {
                set_tick.update(|n| *n += 1);
            });
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| set_connected.set(true));
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| set_connected.set(false));
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The page lives as long as the app: keep the handlers.
        on_message.forget();
        on_open.forget();
        on_error.forget();
    });
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (set_tick, set_connected);
    }
}

/// The current tick, for resources that should refresh on live events.
pub fn tick() -> u64 {
    use_context::<LiveTick>().map(|t| t.0.get()).unwrap_or(0)
}
