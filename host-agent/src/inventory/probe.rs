//! What a live TLS port really serves: a handshake, then the leaf certificate's DER.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls;

/// Connects to `address` (`host:port`), sending `server_name` as SNI when it is a valid
/// name (Apache picks the virtual host by it), and returns the served leaf's DER.
pub async fn served_leaf(address: &str, server_name: Option<&str>) -> Result<Vec<u8>> {
    let host = address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(address);
    let sni = server_name
        .and_then(|n| ServerName::try_from(n.to_owned()).ok())
        .or_else(|| ServerName::try_from(host.to_owned()).ok())
        .ok_or_else(|| anyhow!("{address:?} has no usable server name"))?;
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address))
        .await
        .map_err(|_| anyhow!("connecting to {address} timed out"))?
        .with_context(|| format!("nothing accepts connections on {address}"))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(5),
        TlsConnector::from(tls::inspecting_config()?).connect(sni, tcp),
    )
    .await
    .map_err(|_| anyhow!("the TLS handshake with {address} timed out"))?
    .with_context(|| format!("{address} does not speak TLS"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| anyhow!("{address} presented no certificate"))?;
    Ok(leaf.to_vec())
}
