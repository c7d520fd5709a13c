//! Simulated agents for the benches: enrolment over HTTPS with a token and a CSR, and a
//! mutually authenticated WebSocket to the gateway, as the real agent does them.

use std::net::SocketAddr;

use anyhow::{Result, bail};
use certfleet_proto::{EnrollRequest, EnrollResponse, EnrollmentToken};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Console;
use crate::api::{tls_config, tls_connect};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A real certificate for `names`, as an inventory lists it: the console reads every DER it
/// is sent and refuses one that is not the certificate it is listed as. Signed with `key`
/// (one key for many certificates keeps a swarm's set-up to signing alone); `serial` makes
/// each one distinct.
pub fn listed_certificate(
    key: &rcgen::KeyPair,
    names: &[String],
    serial: u64,
    not_after: time::OffsetDateTime,
) -> Result<certfleet_proto::CertificateInfo> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.serial_number = Some(rcgen::SerialNumber::from(serial.to_be_bytes().to_vec()));
    params.not_before = not_after - time::Duration::days(365);
    params.not_after = not_after;
    let cert = params.self_signed(key)?;
    let read = certfleet_certkit::Certificate::from_der(cert.der())
        .map_err(|e| anyhow::anyhow!("rcgen made an unreadable certificate: {e}"))?;
    Ok(certfleet_proto::CertificateInfo::of(&read))
}

pub struct Enrolled {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
}

pub async fn enroll(console: &Console, ca: &str, token: &str) -> Result<Enrolled> {
    let token = EnrollmentToken::parse(token).map_err(anyhow::Error::msg)?;
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let body = serde_json::to_vec(&EnrollRequest {
        token_id: token.id,
        token_secret: token.secret,
        csr_pem: csr,
        hostname: "swarm".into(),
    })?;
    let tls = tls_connect(console.gateway, tls_config(ca, None)?).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::post("/agent/v1/enroll")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("enrolment refused: {}", String::from_utf8_lossy(&bytes));
    }
    let answer: EnrollResponse = serde_json::from_slice(&bytes)?;
    Ok(Enrolled {
        chain: vec![CertificateDer::from(
            pem::parse(answer.certificate_pem)?.into_contents(),
        )],
        key: key.serialize_der(),
    })
}

/// The agent's WebSocket to the gateway, authenticated by its client certificate.
pub async fn connect(gateway: SocketAddr, ca: &str, identity: Enrolled) -> Result<Socket> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key));
    let tls = tls_connect(gateway, tls_config(ca, Some((identity.chain, key)))?).await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        format!("wss://localhost:{}/agent/v1", gateway.port()),
        tls,
        Some(config),
    )
    .await?;
    Ok(ws)
}
