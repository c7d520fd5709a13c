//! A small HTTPS JSON client for the console's API (and raw agent connections), trusting
//! only the console's CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// TLS config trusting `ca_pem`, optionally presenting a client certificate.
pub fn tls_config(
    ca_pem: &str,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pem::parse(ca_pem)?.into_contents()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub async fn tls_connect(
    address: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(config).connect(name, tcp).await?)
}

/// The API as a client of it sees it.
pub struct Api {
    address: SocketAddr,
    config: Arc<ClientConfig>,
    pub token: Option<String>,
    runtime: tokio::runtime::Runtime,
}

/// A response: status, headers we care about, JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub set_cookie: Option<String>,
    pub body: Value,
    /// The body as text (a page's HTML; `body` is `Null` then).
    pub text: String,
}

impl Api {
    pub fn new(address: SocketAddr, ca_pem: &str) -> Result<Self> {
        Ok(Api {
            address,
            config: tls_config(ca_pem, None)?,
            token: None,
            runtime: runtime(),
        })
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let address = self.address;
        let config = self.config.clone();
        let token = self.token.clone();
        self.runtime.block_on(async move {
            let tls = tls_connect(address, config).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(connection);
            let mut builder = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", format!("localhost:{}", address.port()));
            if let Some(token) = &token {
                builder = builder.header("authorization", format!("Bearer {token}"));
            }
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let bytes = match &body {
                Some(b) => {
                    builder = builder.header("content-type", "application/json");
                    serde_json::to_vec(b)?
                }
                None => Vec::new(),
            };
            let response = tokio::time::timeout(
                Duration::from_secs(20),
                sender.send_request(builder.body(Full::new(Bytes::from(bytes)))?),
            )
            .await
            .map_err(|_| anyhow!("no answer from the API"))??;
            let status = response.status().as_u16();
            let set_cookie = response
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.into_body().collect().await?.to_bytes();
            Ok(Reply {
                status,
                set_cookie,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                text: String::from_utf8_lossy(&body).into_owned(),
            })
        })
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        self.request("GET", path, None, &[])
    }

    /// A dashboard page as the logged-in user's browser gets it (server-rendered HTML).
    pub fn page(&self, path: &str) -> Result<Reply> {
        let cookie = format!("certfleet_session={}", self.token.as_deref().unwrap_or(""));
        self.request("GET", path, None, &[("cookie", &cookie)])
    }

    /// A value from `/metrics`: the first sample whose name ends with `name`.
    pub fn metric(&self, name: &str) -> Result<f64> {
        let reply = self.get("/metrics")?;
        reply
            .text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (metric, value) = l.split_once(' ')?;
                metric.ends_with(name).then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| anyhow!("no metric {name} in {}", reply.text))
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Reply> {
        self.request("POST", path, Some(body), &[])
    }

    /// Logs in; on a first login with a one-time password, sets `new_password`.
    pub fn login(&mut self, user: &str, password: &str, new_password: &str) -> Result<()> {
        let reply = self.post(
            "/api/v1/login",
            serde_json::json!({ "username": user, "password": password }),
        )?;
        if reply.status != 200 {
            anyhow::bail!("login failed: {} {}", reply.status, reply.body);
        }
        self.token = reply.body["token"].as_str().map(str::to_owned);
        if reply.body["must_change_password"] == Value::Bool(true) {
            let changed = self.post(
                "/api/v1/password",
                serde_json::json!({ "current": password, "new": new_password }),
            )?;
            anyhow::ensure!(changed.status == 200, "password change failed: {changed:?}");
            // The change ends every earlier session; the answer carries the new one.
            self.token = changed.body["token"].as_str().map(str::to_owned);
        }
        Ok(())
    }

    /// A logged-in admin on a console's first start.
    pub fn admin(console: &crate::Console) -> Result<Self> {
        let mut api = Api::new(console.api, &console.ca_pem()?)?;
        let password = console
            .first_password
            .clone()
            .context("the console printed no one-time password")?;
        api.login("admin", &password, "a-long-new-password-for-tests")?;
        Ok(api)
    }
}

/// What a TLS port serves, as an independent client sees it: a handshake that verifies the
/// chain against `ca_pem` for `server_name`, then the leaf's SHA-256 (uppercase hex).
pub fn served_sha256(address: SocketAddr, server_name: &str, ca_pem: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    let config = tls_config(ca_pem, None)?;
    let name = ServerName::try_from(server_name.to_owned())?;
    runtime().block_on(async {
        let tcp = TcpStream::connect(address).await?;
        let tls = tokio::time::timeout(
            Duration::from_secs(5),
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .context("the TLS handshake timed out")??;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| anyhow!("no certificate served"))?;
        Ok(hex::encode_upper(Sha256::digest(leaf)))
    })
}

impl Api {
    /// Uploads `cert` with its key and `ca`'s chain as a renewal (PEM); its id.
    pub fn upload_renewal(
        &self,
        ca: &crate::pki::TestCa,
        cert: &crate::pki::ServerCert,
    ) -> Result<i64> {
        let reply = self.post(
            "/api/v1/renewals",
            serde_json::json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem, "chain_pem": ca.pem}),
        )?;
        anyhow::ensure!(reply.status == 201, "upload: {}", reply.body);
        Ok(reply.body["id"].as_i64().unwrap_or_default())
    }

    /// The rollout `id` once its state is one of `states`, within `secs`.
    pub fn wait_for_rollout(&self, id: i64, states: &[&str], secs: u64) -> Result<Value> {
        crate::wait_for("the rollout to end", Duration::from_secs(secs), || {
            let body = self.get(&format!("/api/v1/rollouts/{id}")).ok()?.body;
            states
                .contains(&body["state"].as_str().unwrap_or(""))
                .then_some(body)
        })
    }
}
