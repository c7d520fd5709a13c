//! HTTP.sys's TLS side, faked for tests: a loopback listener that, at every handshake,
//! serves the certificate the fake bindings select for that client (SNI first, then the
//! address it connected to, then the wildcards) with the key the fake store holds, as
//! HTTP.sys does. So `verify` runs the same code against it as against Windows.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use certfleet_winhost::fake::FakeStores;
use certfleet_winhost::{CertStores, HttpConfig, Store};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use super::discover;

/// A running listener; `freeze` makes it keep serving what it served last (a binding
/// change that does not take, a stale cache), `thaw` lets it follow the bindings again.
#[derive(Debug, Clone)]
pub struct FakeHttpSys {
    pub address: SocketAddr,
    frozen: Arc<Mutex<Option<Arc<CertifiedKey>>>>,
    freeze: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeHttpSys {
    pub fn freeze(&self) {
        self.freeze.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.freeze
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Resolver {
    http: Arc<dyn HttpConfig>,
    stores: Arc<FakeStores>,
    local: SocketAddr,
    last: Arc<Mutex<Option<Arc<CertifiedKey>>>>,
    freeze: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl Resolver {
    fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let all = self.http.ssl_bindings().ok()?;
        let on_port = discover::bindings_on(&all, self.local.port());
        let ip = self.local.ip().to_string();
        let chosen = sni
            .and_then(|name| {
                on_port.iter().copied().find(|b| {
                    matches!(&b.key, certfleet_winhost::BindingKey::Sni { host, .. }
                        if host.eq_ignore_ascii_case(name))
                })
            })
            .or_else(|| {
                let without_sni: Vec<_> = on_port
                    .iter()
                    .copied()
                    .filter(|b| matches!(b.key, certfleet_winhost::BindingKey::IpPort(_)))
                    .collect();
                discover::selected(&without_sni, &ip, self.local.port())
            })?;
        let stored = self.stores.find(Store::My, &chosen.thumbprint).ok()??;
        let key = self.stores.private_key(&chosen.thumbprint)?;
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.to_vec().into());
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
        Some(Arc::new(CertifiedKey::new(
            vec![stored.der.clone().into()],
            signing,
        )))
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if self.freeze.load(std::sync::atomic::Ordering::SeqCst) && last.is_some() {
            return last.clone();
        }
        let chosen = self.select(hello.server_name())?;
        *last = Some(chosen.clone());
        Some(chosen)
    }
}

/// Listens on `listener` until the runtime ends.
pub fn serve(
    listener: TcpListener,
    http: Arc<dyn HttpConfig>,
    stores: Arc<FakeStores>,
) -> FakeHttpSys {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let address = listener.local_addr().expect("bound");
    let handle = FakeHttpSys {
        address,
        frozen: Arc::new(Mutex::new(None)),
        freeze: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let (last, freeze) = (handle.frozen.clone(), handle.freeze.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(local) = tcp.local_addr() else {
                continue;
            };
            let resolver = Resolver {
                http: http.clone(),
                stores: stores.clone(),
                local,
                last: last.clone(),
                freeze: freeze.clone(),
            };
            let config = rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver));
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    handle
}
