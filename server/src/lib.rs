//! The certfleet console: configuration, data folder, internal PKI, the agent gateway
//! (enrolment and mTLS WebSockets), the JSON API and metrics. `main.rs` is only the CLI.

pub mod acme;
pub mod addresses;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
pub mod connections;
pub mod console;
pub mod datadir;
pub mod downloads;
pub mod error;
pub mod events;
pub mod fuzzing;
pub mod gateway;
pub mod headers;
pub mod housekeeping;
pub mod idle;
pub mod init;
pub mod issuing_ca;
pub mod keys;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod renewals;
pub mod rollout;
pub mod secrets;
pub mod state;
pub mod sub_ca;
pub mod tls;
pub mod tokens;
pub mod trust_lists;
pub mod ui;

use certfleet_store::AuditAction;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use certfleet_store::{Role, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::auth::Sessions;
use crate::config::Config;
use crate::datadir::DataDir;
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::state::AppState;
use crate::tls::RevocationList;

/// Makes ring the process-wide rustls provider (no aws-lc: it would need cmake).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Everything `serve` builds before it listens.
pub struct Prepared {
    pub state: AppState,
    /// The first admin's one-time password, on the first start only.
    pub first_admin_password: Option<String>,
    _data_dir: DataDir,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

/// Opens (or creates) the data folder, database, CA and secrets, and the first admin.
pub async fn prepare(config: Config) -> Result<Prepared> {
    let now = OffsetDateTime::now_utc();
    let data_dir = DataDir::open(&config.data_dir, true)?;
    let store = Store::open(&data_dir.database()).await?;
    let pki = Pki::load_or_create(&data_dir, &config.names, now)?;
    let sessions = Sessions::new(&data_dir.secret("session.key", 32)?);
    // The key-encryption key: CERTFLEET_KEK, else kek.key in the data folder (created now, so
    // a backup of the first start already holds it).
    let kek = keys::load(
        &data_dir,
        &store,
        std::env::var("CERTFLEET_KEK").ok().as_deref(),
        now.unix_timestamp(),
    )
    .await?;
    let first_admin_password =
        bootstrap_admin(&store, &config.admin_username, now.unix_timestamp()).await?;
    let revoked = RevocationList::new(store.revoked_agent_ids().await?);
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        writer: gateway::GatewayWriter::start(store.clone(), metrics.clone())
            .context("cannot start the gateway's writer thread")?,
        store,
        addresses: addresses::Addresses::new(config.clone()),
        config,
        pki: Arc::new(pki),
        sessions,
        kek,
        revoked,
        registry: connections::Registry::default(),
        metrics,
        clock: clock::Clock::system(),
        events: Default::default(),
        rollout_wake: Arc::new(tokio::sync::Notify::new()),
        renewal_wake: Arc::new(tokio::sync::Notify::new()),
        ari: crate::console::AriCache::default(),
        pending_checks: Default::default(),
        logins: Default::default(),
    };
    Ok(Prepared {
        state,
        first_admin_password,
        _data_dir: data_dir,
    })
}

/// Creates the first admin with a one-time password when there are no users at all.
async fn bootstrap_admin(store: &Store, username: &str, now: i64) -> Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password = auth::one_time_password()?;
    let hash = auth::hash_password(&password)?;
    store
        .create_user(username, &hash, Role::Admin, true, now)
        .await
        .context("cannot create the first admin")?;
    store
        .audit(
            now,
            "console",
            AuditAction::UserCreated,
            Some(username),
            Some("first admin"),
        )
        .await?;
    Ok(Some(password))
}

/// What the API listener serves: the JSON API and the dashboard, with the security headers
/// on every answer.
pub fn app(state: &AppState) -> axum::Router {
    api::router(state.clone())
        .merge(ui::router(state.clone()))
        .layer(axum::middleware::map_response(headers::add))
}

/// The addresses actually bound (ports may have been 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub api: SocketAddr,
    pub gateway: SocketAddr,
}

/// Binds both listeners and serves until `shutdown` turns true.
pub async fn serve(
    prepared: Prepared,
    shutdown: watch::Receiver<bool>,
    on_bound: impl FnOnce(Bound),
) -> Result<()> {
    let state = prepared.state.clone();
    let config = state.config.clone();
    let api_listener = tls::listen(config.api_listen, "api_listen")?;
    let gateway_listener = tls::listen(config.gateway_listen, "gateway_listen")?;
    let bound = Bound {
        api: api_listener.local_addr()?,
        gateway: gateway_listener.local_addr()?,
    };
    state.addresses.bound(bound.api, bound.gateway);
    on_bound(bound);
    let shutdown_alerts = shutdown.clone();
    let api = tls::serve(
        api_listener,
        tls::api_config(&state.pki)?,
        app(&state),
        Some(Duration::from_secs(config.api_idle_secs)),
        shutdown.clone(),
    );
    let gateway = tls::serve(
        gateway_listener,
        tls::gateway_config(&state.pki, state.revoked.clone())?,
        gateway::router(state.gateway()),
        // Agents stay connected between heartbeats; their sessions end on their own terms.
        None,
        shutdown,
    );
    let rollouts = rollout::scheduler::run(state.rollouts(), shutdown_alerts.clone());
    let tidy = housekeeping::run(
        state.store.clone(),
        state.clock.clone(),
        shutdown_alerts.clone(),
    );
    let renewals = renewals::run(
        state.console(),
        Duration::from_secs(config.renewals.check_secs),
        state.renewal_wake.clone(),
        shutdown_alerts.clone(),
    );
    let alerts = alerts::run(state.alerts(), shutdown_alerts);
    let (a, g, (), (), (), ()) = tokio::join!(api, gateway, alerts, rollouts, tidy, renewals);
    state.store.close().await;
    drop(prepared);
    a.and(g)
}
