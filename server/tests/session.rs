//! The gateway's session logic driven through channels (no sockets): hello first, inventory
//! acknowledged with its hash, certificate renewal over the established channel, and a
//! revoked agent dropped.

use std::time::Duration;

use certfleet_proto::{
    AgentMessage, ConsoleMessage, Heartbeat, Hello, Inventory, RenewRequest, Snapshot,
    decode_from_console, encode,
};
use certfleet_server::config::{Config, Overrides};
use certfleet_server::gateway::{Incoming, Peer, run_session};
use certfleet_store::NewAgent;
use tokio::sync::mpsc;

struct Harness {
    _dir: tempfile::TempDir,
    _prepared: certfleet_server::Prepared,
    state: certfleet_server::state::AppState,
}

async fn harness() -> Harness {
    certfleet_server::install_crypto_provider();
    let dir = tempfile::tempdir().expect("dir");
    let overrides = Overrides {
        data_dir: Some(dir.path().join("data")),
        ..Overrides::default()
    };
    let config = Config::load(None, Vec::new(), &overrides).expect("config");
    let prepared = certfleet_server::prepare(config).await.expect("prepare");
    let state = prepared.state.clone();
    Harness {
        _dir: dir,
        _prepared: prepared,
        state,
    }
}

const AGENT: &str = "6f1c9b52-3a3e-4e41-9b3a-0c9d2b7f1e11";

async fn enrolled(h: &Harness) {
    h.state
        .store
        .create_token(&certfleet_store::NewToken {
            id: "t1".into(),
            secret_sha256: "x".into(),
            host_hint: None,
            created_by: "test".into(),
            created_at: 0,
            expires_at: i64::MAX,
        })
        .await
        .expect("token");
    h.state
        .store
        .enroll_agent(
            "t1",
            "x",
            1,
            &NewAgent {
                id: AGENT,
                cert_serial: "01",
                cert_not_after: 2,
            },
        )
        .await
        .expect("enrol");
}

/// The agent, connected with its newest certificate.
fn newest() -> Peer {
    Peer {
        agent_id: AGENT.into(),
        may_renew: true,
    }
}

/// A session for `peer` that has said hello and been welcomed: its input and output.
async fn greeted(h: &Harness, peer: Peer) -> (mpsc::Sender<Incoming>, mpsc::Receiver<String>) {
    let (in_tx, in_rx) = mpsc::channel(32);
    let (out_tx, mut out_rx) = mpsc::channel(32);
    tokio::spawn(run_session(
        h.state.gateway(),
        peer,
        tokio_stream(in_rx),
        out_tx,
    ));
    in_tx.send(frame(hello())).await.expect("send");
    assert!(matches!(
        next(&mut out_rx).await,
        ConsoleMessage::Welcome(_)
    ));
    (in_tx, out_rx)
}

fn frame(message: AgentMessage) -> Incoming {
    Incoming::Text(encode("f1", &message))
}

fn hello() -> AgentMessage {
    AgentMessage::Hello(Hello {
        agent_version: "test".into(),
        protocol: 1,
        hostname: "h".into(),
        fqdn: "h.example.test".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec![],
    })
}

/// The next frame, past the (empty) trust list that follows every welcome.
async fn next(rx: &mut mpsc::Receiver<String>) -> ConsoleMessage {
    loop {
        match next_frame(rx).await {
            ConsoleMessage::TrustList(list) if list.endpoints.is_empty() => continue,
            other => return other,
        }
    }
}

async fn next_frame(rx: &mut mpsc::Receiver<String>) -> ConsoleMessage {
    let text = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an answer in time")
        .expect("channel open");
    decode_from_console(&text).expect("valid frame").1
}

#[tokio::test]
async fn inventory_is_acknowledged_with_the_stored_hash() {
    let h = harness().await;
    enrolled(&h).await;
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(8);
    let session = tokio::spawn(run_session(
        h.state.gateway(),
        newest(),
        tokio_stream(in_rx),
        out_tx,
    ));
    in_tx.send(frame(hello())).await.expect("send");
    assert!(
        matches!(next_frame(&mut out_rx).await, ConsoleMessage::Welcome(w) if w.agent_id == AGENT)
    );
    // The servers the console says this host must trust: none here, said so (it clears a
    // list the agent kept from before).
    assert!(
        matches!(next_frame(&mut out_rx).await, ConsoleMessage::TrustList(l) if l.endpoints.is_empty())
    );
    let inventory = Inventory::of(Snapshot::default());
    let hash = inventory.hash.clone();
    in_tx
        .send(frame(AgentMessage::Inventory(inventory)))
        .await
        .expect("send");
    match next(&mut out_rx).await {
        ConsoleMessage::Ack(ack) => assert_eq!(ack.hash, Some(hash)),
        other => panic!("expected an ack, got {other:?}"),
    }
    in_tx
        .send(frame(AgentMessage::Heartbeat(Heartbeat { uptime_secs: 5 })))
        .await
        .expect("send");
    drop(in_tx);
    session.await.expect("session ends when the stream does");
    assert!(!h.state.registry.is_connected(AGENT));
}

#[tokio::test]
async fn the_agent_certificate_is_renewed_over_the_channel() {
    let h = harness().await;
    enrolled(&h).await;
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(8);
    tokio::spawn(run_session(
        h.state.gateway(),
        newest(),
        tokio_stream(in_rx),
        out_tx,
    ));
    in_tx.send(frame(hello())).await.expect("send");
    next(&mut out_rx).await;

    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    // The agent asks for another identity; the console must ignore that.
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:certfleet:agent:00000000-0000-4000-8000-000000000000"
            .try_into()
            .expect("uri"),
    )];
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    in_tx
        .send(frame(AgentMessage::RenewRequest(RenewRequest {
            csr_pem: csr,
        })))
        .await
        .expect("send");
    let renewed = match next(&mut out_rx).await {
        ConsoleMessage::Renewed(r) => r,
        other => panic!("expected renewed, got {other:?}"),
    };
    let der = pem::parse(&renewed.certificate_pem)
        .expect("pem")
        .into_contents();
    assert_eq!(
        certfleet_server::pki::agent_id_of(&der).as_deref(),
        Some(AGENT)
    );
    let agent = h.state.store.agent(AGENT).await.expect("q").expect("agent");
    assert_ne!(agent.cert_serial, "01", "the new serial is recorded");
    assert!(agent.cert_not_after > 2);

    // A damaged CSR is refused with a reason, and the session goes on.
    in_tx
        .send(frame(AgentMessage::RenewRequest(RenewRequest {
            csr_pem: "garbage".into(),
        })))
        .await
        .expect("send");
    match next(&mut out_rx).await {
        ConsoleMessage::Error(e) => assert_eq!(e.code.as_str(), "csr_invalid"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_that_is_not_the_newest_cannot_renew_itself() {
    let h = harness().await;
    enrolled(&h).await;
    let previous = Peer {
        agent_id: AGENT.into(),
        may_renew: false,
    };
    let (in_tx, mut out_rx) = greeted(&h, previous).await;
    let key = rcgen::KeyPair::generate().expect("key");
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    in_tx
        .send(frame(AgentMessage::RenewRequest(RenewRequest {
            csr_pem: csr,
        })))
        .await
        .expect("send");
    match next(&mut out_rx).await {
        ConsoleMessage::Error(e) => assert_eq!(e.code, certfleet_proto::ErrorCode::CertificateOld),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let agent = h.state.store.agent(AGENT).await.expect("q").expect("agent");
    assert_eq!(agent.cert_serial, "01", "nothing was issued");
}

#[tokio::test]
async fn a_revoked_agent_is_dropped_at_once() {
    let h = harness().await;
    enrolled(&h).await;
    let (in_tx, in_rx) = mpsc::channel(8);
    let (out_tx, mut out_rx) = mpsc::channel(8);
    let session = tokio::spawn(run_session(
        h.state.gateway(),
        newest(),
        tokio_stream(in_rx),
        out_tx,
    ));
    in_tx.send(frame(hello())).await.expect("send");
    next(&mut out_rx).await;
    assert!(h.state.registry.disconnect(AGENT));
    match next(&mut out_rx).await {
        ConsoleMessage::Error(e) => assert_eq!(e.code.as_str(), "disconnected"),
        other => panic!("expected the disconnect notice, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(1), session)
        .await
        .expect("the session ends within a second")
        .expect("join");
    drop(in_tx);
}

/// An inventory of one endpoint named `n`: each `n` a different inventory.
fn numbered(n: usize) -> Inventory {
    Inventory::of(Snapshot {
        endpoints: vec![certfleet_proto::Endpoint {
            key: format!("pem:{n}"),
            kind: certfleet_proto::EndpointKind::Pem,
            name: format!("site{n}"),
            address: None,
            config_path: None,
            configured_sha256: None,
            served_sha256: None,
            errors: vec![],
            findings: vec![],
        }],
        certificates: vec![],
        trust: Vec::new(),
    })
}

#[tokio::test]
async fn inventories_over_the_rate_wait_and_only_the_newest_is_stored() {
    let h = harness().await;
    enrolled(&h).await;
    let (in_tx, mut out_rx) = greeted(&h, newest()).await;
    // A burst of ten is taken at once.
    for n in 0..10 {
        let inventory = numbered(n);
        let hash = inventory.hash.clone();
        in_tx
            .send(frame(AgentMessage::Inventory(inventory)))
            .await
            .expect("send");
        match next(&mut out_rx).await {
            ConsoleMessage::Ack(ack) => assert_eq!(ack.hash, Some(hash)),
            other => panic!("inventory {n}: expected an ack, got {other:?}"),
        }
    }
    // Two more at once: neither is refused (that would lose it), the older is superseded,
    // and the newer is stored when the rate allows.
    let (older, newer) = (numbered(10), numbered(11));
    let newer_hash = newer.hash.clone();
    for inventory in [older, newer] {
        in_tx
            .send(frame(AgentMessage::Inventory(inventory)))
            .await
            .expect("send");
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(1), out_rx.recv())
            .await
            .is_err(),
        "an inventory over the rate is answered only when it is stored"
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), out_rx.recv())
        .await
        .expect("stored within the refill time")
        .expect("open");
    match decode_from_console(&answer).expect("frame").1 {
        ConsoleMessage::Ack(ack) => assert_eq!(ack.hash, Some(newer_hash)),
        other => panic!("expected the newest inventory's ack, got {other:?}"),
    }
    let stored: Vec<String> = h
        .state
        .store
        .endpoints(None, None)
        .await
        .expect("endpoints")
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(stored, vec!["pem:11".to_owned()]);
}

/// A receiver as a stream of frames.
fn tokio_stream(
    rx: mpsc::Receiver<Incoming>,
) -> impl futures_util::Stream<Item = Incoming> + Unpin {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
