//! What a live TLS port really serves: a handshake, then the leaf certificate's DER.

use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls;

/// Why a port's certificate could not be read; `Refused` means nothing listens there.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{address:?} has no usable server name")]
    NoServerName { address: String },
    #[error("connecting to {address} timed out")]
    ConnectTimeout { address: String },
    #[error("nothing accepts connections on {address}: {source}")]
    Refused {
        address: String,
        source: std::io::Error,
    },
    #[error("the TLS handshake with {address} timed out")]
    HandshakeTimeout { address: String },
    #[error("{address} does not speak TLS: {source}")]
    NotTls {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} presented no certificate")]
    NoCertificate { address: String },
    #[error("the agent's TLS set-up failed: {0:#}")]
    Setup(anyhow::Error),
}

/// Connects to `address` (`host:port`), sending `server_name` as SNI when it is a valid
/// name (Apache picks the virtual host by it), and returns the served leaf's DER.
pub async fn served_leaf(address: &str, server_name: Option<&str>) -> Result<Vec<u8>, ProbeError> {
    let mut chain = served_chain(address, server_name).await?;
    Ok(chain.swap_remove(0))
}

/// Like [`served_leaf`], the whole chain as served: leaf first, never empty.
pub async fn served_chain(
    address: &str,
    server_name: Option<&str>,
) -> Result<Vec<Vec<u8>>, ProbeError> {
    let at = || address.to_owned();
    let host = address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(address);
    let sni = server_name
        .and_then(|n| ServerName::try_from(n.to_owned()).ok())
        .or_else(|| ServerName::try_from(host.to_owned()).ok())
        .ok_or_else(|| ProbeError::NoServerName { address: at() })?;
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
        .await
        .map_err(|_| ProbeError::ConnectTimeout { address: at() })?
        .map_err(|source| ProbeError::Refused {
            address: at(),
            source,
        })?;
    let config = tls::inspecting_config().map_err(ProbeError::Setup)?;
    let tls = tokio::time::timeout(
        Duration::from_secs(5),
        TlsConnector::from(config).connect(sni, tcp),
    )
    .await
    .map_err(|_| ProbeError::HandshakeTimeout { address: at() })?
    .map_err(|source| ProbeError::NotTls {
        address: at(),
        source,
    })?;
    let chain: Vec<Vec<u8>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.to_vec())
        .collect();
    if chain.is_empty() {
        return Err(ProbeError::NoCertificate { address: at() });
    }
    Ok(chain)
}
