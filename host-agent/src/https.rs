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

/// One request on a fresh connection; returns status and body.
pub async fn request(
    url: &ServerUrl,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
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
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .map_err(|_| anyhow!("the console did not answer within 30 s"))?
        .context("the request failed")?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the answer failed")?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
