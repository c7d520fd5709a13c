//! TLS for both listeners: the API's plain server config, the gateway's config that asks
//! for agent certificates and refuses revoked ones during the handshake, and the accept
//! loop that hands each connection's verified peer to axum.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::idle::{Activity, Watched};
use crate::pki::{Pki, agent_id_of, crypto_provider, serial_and_expiry_of};

/// Agents whose certificates are refused at the handshake. Shared with the API, which adds
/// to it when an admin revokes an agent.
#[derive(Debug, Clone, Default)]
pub struct RevocationList(Arc<RwLock<HashSet<String>>>);

impl RevocationList {
    pub fn new(ids: impl IntoIterator<Item = String>) -> Self {
        RevocationList(Arc::new(RwLock::new(ids.into_iter().collect())))
    }

    pub fn revoke(&self, id: &str) {
        if let Ok(mut set) = self.0.write() {
            set.insert(id.to_owned());
        }
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        // A poisoned lock refuses everyone rather than admitting a revoked agent.
        self.0.read().map(|set| set.contains(id)).unwrap_or(true)
    }
}

/// The verified agent behind a gateway connection; absent when the client sent no
/// certificate (allowed only for enrolment).
#[derive(Debug, Clone)]
pub struct PeerAgent(pub Option<String>);

/// The serial (uppercase hex) and expiry of the client certificate behind a gateway
/// connection, for the check of which of an agent's certificates it is.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    pub serial: String,
    pub not_after: i64,
}

#[derive(Debug)]
struct RevocationAwareVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: RevocationList,
}

impl ClientCertVerifier for RevocationAwareVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Enrolment happens before the agent has a certificate; the WebSocket route
        // refuses connections without one.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let id = agent_id_of(end_entity).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))?;
        if self.revoked.is_revoked(&id) {
            tracing::warn!(agent = %id, "refused a revoked agent at the handshake");
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

pub fn api_config(pki: &Pki) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(pki.server_chain(), pki.server_key())
        .context("the console's TLS certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub fn gateway_config(pki: &Pki, revoked: RevocationList) -> Result<Arc<ServerConfig>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der().to_vec()))
        .context("the agent CA cannot be a trust root")?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
        .allow_unauthenticated()
        .build()
        .context("cannot build the agent certificate verifier")?;
    let verifier = Arc::new(RevocationAwareVerifier { inner, revoked });
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain(), pki.server_key())
        .context("the console's TLS certificate and key do not fit together")?;
    // WebSockets upgrade over HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How long a client has for its TLS handshake, and then for each request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections still in their handshake at once; beyond, new ones wait in the listen
/// queue (they are not refused), so a flood of slow clients cannot crowd agents out.
const UNFINISHED_AT_ONCE: usize = 1024;

/// Connections the kernel completes and holds for `accept` (capped by `net.core.somaxconn`,
/// 4,096 on current Linux). Tokio's `TcpListener::bind` asks for 1,024: when 10,000 agents
/// come back after a restart and the handshakes in progress are at their limit, the queue
/// overflows, the kernel drops their SYNs and each client retries after 1, 2, 4, 8 s… (TCP's
/// own backoff), so the last agents were back after 30 s instead of 10 (swarm bench).
const LISTEN_BACKLOG: u32 = 8192;

/// Binds a listener on `address` (the config key `setting`, for the error) with room for a
/// reconnect storm in its accept queue.
pub fn listen(address: SocketAddr, setting: &str) -> Result<TcpListener> {
    bind_listener(address)
        .with_context(|| format!("cannot listen on {address} ({setting}): is the port taken?"))
}

fn bind_listener(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted console rebinds at once, even with
    // connections of the last run still in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts TLS connections until `shutdown` turns true, serving `app` on each. The verified
/// agent identity (if any) is put into each request's extensions as `PeerAgent`.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    idle_limit: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let unfinished = Arc::new(tokio::sync::Semaphore::new(UNFINISHED_AT_ONCE));
    loop {
        let permit = tokio::select! {
            permit = unfinished.clone().acquire_owned() => permit?,
            _ = shutdown.changed() => return Ok(()),
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(acceptor, tcp, remote, app, idle_limit, permit).await;
        });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    idle_limit: Option<Duration>,
    unfinished: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
    drop(unfinished);
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%remote, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let peer = PeerAgent(leaf.and_then(|leaf| agent_id_of(leaf)));
    let certificate = leaf
        .and_then(|leaf| serial_and_expiry_of(leaf))
        .map(|(serial, not_after)| PeerCertificate { serial, not_after });
    let activity = Activity::new();
    let watched = activity.clone();
    let service = tower::service_fn(
        move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(peer.clone());
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(remote));
            let mut app = app.clone();
            let busy = watched.busy();
            async move {
                let response = app.call(request.map(axum::body::Body::new)).await;
                drop(busy);
                response
            }
        },
    );
    let mut builder = Builder::new(TokioExecutor::new());
    // Headers sent slowly, or never finished, close the connection.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection_with_upgrades(
        TokioIo::new(Watched::new(tls, activity.clone())),
        TowerToHyperService::new(service),
    );
    let idle = async {
        match idle_limit {
            Some(limit) => activity.idle_for(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        ended = connection => if let Err(e) = ended {
            tracing::debug!(%remote, "connection ended: {e}");
        },
        () = idle => tracing::debug!(%remote, "idle connection closed"),
    }
}
