//! Simulated agents for the benches: enrolment over HTTPS with a token and a CSR, and a
//! mutually authenticated WebSocket to the gateway, as the real agent does them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

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
    listed(&year_until(names, serial, not_after)?.self_signed(key)?)
}

/// A year's certificate for `names` with `serial`, ending at `not_after`.
fn year_until(
    names: &[String],
    serial: u64,
    not_after: time::OffsetDateTime,
) -> Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.serial_number = Some(rcgen::SerialNumber::from(serial.to_be_bytes().to_vec()));
    params.not_before = not_after - time::Duration::days(365);
    params.not_after = not_after;
    Ok(params)
}

/// The certificate as an agent lists it.
fn listed(cert: &rcgen::Certificate) -> Result<certfleet_proto::CertificateInfo> {
    let read = certfleet_certkit::Certificate::from_der(cert.der())
        .map_err(|e| anyhow::anyhow!("rcgen made an unreadable certificate: {e}"))?;
    Ok(certfleet_proto::CertificateInfo::of(&read))
}

/// A real certificate for `names` issued by `ca`, as an inventory lists it — as most
/// certificates in a fleet are: issued, not self-signed (the console checks a self-signed
/// certificate's own signature when it reads it, an issued one's it does not). `key` is the
/// leaf's key, one for many certificates so a swarm's set-up is signing alone; `serial`
/// makes each one distinct.
pub fn issued_certificate(
    ca: &crate::pki::TestCa,
    key: &rcgen::KeyPair,
    names: &[String],
    serial: u64,
    not_after: time::OffsetDateTime,
) -> Result<certfleet_proto::CertificateInfo> {
    let mut params = year_until(names, serial, not_after)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    params.use_authority_key_identifier_extension = true;
    listed(&params.signed_by(key, &ca.issuer())?)
}

#[derive(Clone)]
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
    upgrade(gateway, tls).await
}

/// The TLS settings of an enrolled agent that trusts `ca`, made once for many connections.
pub fn agent_tls(ca: &str, identity: &Enrolled) -> Result<Arc<rustls::ClientConfig>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone()));
    tls_config(ca, Some((identity.chain.clone(), key)))
}

/// Connects from `source` (one of several loopback addresses, so ten thousand connections
/// do not run out of ephemeral ports) and opens the agent WebSocket.
pub async fn connect_from(
    source: IpAddr,
    gateway: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<Socket> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let tcp = socket.connect(gateway).await?;
    tcp.set_nodelay(true)?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    upgrade(gateway, tls).await
}

async fn upgrade(
    gateway: SocketAddr,
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Result<Socket> {
    // Sized like the real agent's: the default read buffer (128 KiB) would dwarf the rest.
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

/// The loopback source address of simulated agent `index`: 127.0.0.1 to 127.0.0.32.
pub fn source_address(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (index % 32) as u8))
}

/// Raises this process's open-file soft limit to its hard limit (a swarm holds a socket per
/// agent); returns the limit now in force.
pub fn raise_open_files() -> Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit)?;
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// Whether process `pid` still runs, from `/proc/PID/stat` (a zombie nobody reaped has
/// ended).
pub fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.trim().starts_with('Z'))
    })
}

/// A process's resident memory, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS")
}

/// The most resident memory a process has had (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM")
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} for process {pid}"))
}

/// CPU time a process has used so far (user and system), from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are plain.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; the
    // kernel counts in USER_HZ, 100 a second on Linux.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Connections the kernel dropped because a listener's accept queue was full, counted since
/// boot over the whole machine (`TcpExt: ListenOverflows` in `/proc/net/netstat`): a client
/// whose SYN was dropped retries only after TCP's own backoff (1, 2, 4, 8 s…).
pub fn listen_overflows() -> Result<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat")?;
    // Pairs of lines: the field names, then their values.
    let lines: Vec<&str> = netstat.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let at = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows");
        if let Some(value) = at.and_then(|i| values.split_whitespace().nth(i)) {
            return Ok(value.parse()?);
        }
    }
    anyhow::bail!("/proc/net/netstat has no TcpExt ListenOverflows")
}
