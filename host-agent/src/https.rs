//! A minimal HTTPS client for enrolment's two requests (the CA, then the CSR). Everything
//! else goes over the WebSocket.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// `https://host[:port]`, the console's agent gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<Self> {
        let rest = text
            .trim()
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("the server URL must start with https:// (got {text:?})"))?;
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                Ok(port) => (h, port),
                Err(_) => bail!("{text:?} has a bad port"),
            },
            _ => (authority, 443),
        };
        if host.is_empty() {
            bail!("{text:?} has no host name");
        }
        Ok(ServerUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }

    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn server_name(&self) -> Result<ServerName<'static>> {
        ServerName::try_from(self.host.clone())
            .map_err(|_| anyhow!("{:?} is not a valid server name", self.host))
    }

    /// Opens a TLS connection to the server.
    pub async fn connect(
        &self,
        config: Arc<ClientConfig>,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(10),
            TcpStream::connect(self.authority()),
        )
        .await
        .map_err(|_| anyhow!("connecting to {} timed out", self.authority()))?
        .with_context(|| format!("cannot connect to {}", self.authority()))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(
            Duration::from_secs(10),
            TlsConnector::from(config).connect(self.server_name()?, tcp),
        )
        .await
        .map_err(|_| anyhow!("the TLS handshake with {} timed out", self.authority()))?
        .with_context(|| format!("TLS with {} failed", self.authority()))?;
        Ok(tls)
    }
}

/// How much of an answer is read, and for how long, before giving up.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub within: Duration,
}

impl Limits {
    /// For the CA fetched before the pin is checked: the peer is not trusted yet, so what
    /// it may make the agent read is small and brief.
    pub const UNTRUSTED: Limits = Limits {
        max_bytes: 64 * 1024,
        within: Duration::from_secs(10),
    };
    /// For the enrolment itself, with the pinned CA.
    pub const PINNED: Limits = Limits {
        max_bytes: 1024 * 1024,
        within: Duration::from_secs(30),
    };
}

/// One request on a fresh connection; returns status and body, the whole answer read
/// within `limits`.
pub async fn request(
    url: &ServerUrl,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    limits: Limits,
) -> Result<(u16, Vec<u8>)> {
    tokio::time::timeout(
        limits.within,
        exchange(url, config, method, path, body, limits),
    )
    .await
    .map_err(|_| {
        anyhow!(
            "the console did not answer within {} s",
            limits.within.as_secs()
        )
    })?
}

async fn exchange(
    url: &ServerUrl,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
    limits: Limits,
) -> Result<(u16, Vec<u8>)> {
    let tls = url.connect(config).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, url.authority());
    if body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .context("cannot build the request")?;
    let response = sender
        .send_request(request)
        .await
        .context("the request failed")?;
    let status = response.status().as_u16();
    let bytes = http_body_util::Limited::new(response.into_body(), limits.max_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                anyhow!(
                    "the console's answer is larger than {} KiB: refused before reading more",
                    limits.max_bytes / 1024
                )
            } else {
                anyhow!("reading the answer failed: {e}")
            }
        })?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS server that answers every request with a 200 header and then `body`, sent in
    /// pieces `pause` apart (a hostile or broken "console").
    async fn hostile(body: Vec<u8>, pieces: usize, pause: Duration) -> ServerUrl {
        use tokio::io::AsyncWriteExt;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, body) = (acceptor.clone(), body.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut request).await;
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                    let _ = tls.write_all(head.as_bytes()).await;
                    for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
                        if tls.write_all(piece).await.is_err() {
                            return;
                        }
                        let _ = tls.flush().await;
                        tokio::time::sleep(pause).await;
                    }
                });
            }
        });
        ServerUrl::parse(&format!("https://localhost:{port}")).unwrap()
    }

    #[tokio::test]
    async fn an_untrusted_peer_cannot_make_the_agent_read_much_or_wait_long() {
        let config = crate::tls::inspecting_config().unwrap();
        let ca = "-----BEGIN CERTIFICATE-----\n".repeat(10);
        let small = hostile(ca.clone().into_bytes(), 1, Duration::ZERO).await;
        let (status, body) = request(
            &small,
            config.clone(),
            "GET",
            "/agent/v1/ca",
            None,
            Limits::UNTRUSTED,
        )
        .await
        .unwrap();
        assert_eq!((status, body.len()), (200, ca.len()));

        let huge = hostile(vec![b'A'; 200 * 1024], 4, Duration::ZERO).await;
        let err = request(
            &huge,
            config.clone(),
            "GET",
            "/agent/v1/ca",
            None,
            Limits::UNTRUSTED,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("larger than 64 KiB"), "{err:#}");

        let slow = hostile(vec![b'A'; 1000], 10, Duration::from_millis(400)).await;
        let brief = Limits {
            max_bytes: 64 * 1024,
            within: Duration::from_secs(1),
        };
        let started = std::time::Instant::now();
        let err = request(&slow, config, "GET", "/agent/v1/ca", None, brief)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("within 1 s"), "{err:#}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "gave up in time"
        );
    }

    #[test]
    fn server_urls() {
        assert_eq!(
            ServerUrl::parse("https://console.example.com:8444/").expect("url"),
            ServerUrl {
                host: "console.example.com".into(),
                port: 8444
            }
        );
        assert_eq!(
            ServerUrl::parse("https://c.example").expect("url").port,
            443
        );
        assert_eq!(
            ServerUrl::parse("https://[::1]:8444").expect("url").host,
            "::1"
        );
        assert!(ServerUrl::parse("http://c.example").is_err());
        assert!(ServerUrl::parse("https://:8444").is_err());
    }
}
