//! One agent's WebSocket session. The protocol logic is generic over a stream of incoming
//! frames and a bounded outbound queue, so tests drive it with channels; the axum adapter
//! below only translates WebSocket messages.

use certfleet_store::AuditAction;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certfleet_proto::{
    Ack, AgentMessage, ConsoleMessage, DecodeError, ErrorBody, ErrorCode, Inventory,
    MAX_FRAME_BYTES, Renewed, Welcome, decode_from_agent, encode,
};
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;

use super::Gateway;
use super::chains;
use super::claims::{self, InventoryRate};
use super::identity::{self, Generation};
use super::writer::Stopped;
use crate::events::LiveEvent;
use crate::tls::{PeerAgent, PeerCertificate};

/// An agent must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Outbound frames queued per agent before the sender has to wait or give up.
const OUTBOUND_QUEUE: usize = 32;
/// A connection sending this many bad frames in a row is closed.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;

/// What the transport delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// Binary frames are not part of the protocol.
    Binary,
    /// The transport refused a frame as too large.
    TooLarge,
}

/// Who is on the other end of a session: the agent, and whether it connected with its
/// newest certificate (only that one may renew itself).
#[derive(Debug, Clone)]
pub struct Peer {
    pub agent_id: String,
    pub may_renew: bool,
}

/// `GET /agent/v1`: upgrades to a WebSocket for a verified, non-revoked agent presenting
/// its newest certificate or the one before it.
pub async fn upgrade(
    State(gateway): State<Gateway>,
    Extension(peer): Extension<PeerAgent>,
    certificate: Option<Extension<PeerCertificate>>,
    ws: WebSocketUpgrade,
) -> Response {
    let (Some(agent_id), Some(Extension(certificate))) = (peer.0, certificate) else {
        return (
            StatusCode::UNAUTHORIZED,
            "a client certificate from the console's agent CA is required: enrol first",
        )
            .into_response();
    };
    let agent = match gateway.store.agent(&agent_id).await {
        Ok(Some(agent)) if agent.revoked_at.is_none() => agent,
        Ok(Some(_)) => return (StatusCode::FORBIDDEN, "this agent was revoked").into_response(),
        Ok(None) => return (StatusCode::FORBIDDEN, "unknown agent").into_response(),
        Err(e) => {
            tracing::error!("cannot look up agent {agent_id}: {e}");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let may_renew = match accept_certificate(&gateway, &agent, &certificate).await {
        Ok(may_renew) => may_renew,
        Err(refusal) => return refusal,
    };
    let peer = Peer {
        agent_id,
        may_renew,
    };
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Small buffers: an idle agent should cost the console little memory.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| connected(gateway, peer, socket))
}

/// Whether the certificate is one this agent may connect with; true when it may renew.
async fn accept_certificate(
    gateway: &Gateway,
    agent: &certfleet_store::AgentRow,
    certificate: &PeerCertificate,
) -> Result<bool, Response> {
    match identity::judge(
        &certificate.serial,
        certificate.not_after,
        &agent.cert_serial,
        agent.previous_cert_serial.as_deref(),
        agent.cert_not_after,
    ) {
        Generation::Newest => Ok(true),
        Generation::Previous => Ok(false),
        Generation::Newer => {
            // Only the console holds the agent CA's key: a newer certificate was issued by
            // this console before its database was restored from an older backup.
            let recorded = gateway
                .store
                .record_agent_certificate(&agent.id, &certificate.serial, certificate.not_after)
                .await;
            if let Err(e) = recorded {
                tracing::error!("cannot record agent {}'s certificate: {e}", agent.id);
                return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
            }
            tracing::warn!(agent = %agent.id, serial = %certificate.serial, "an agent certificate newer than the record was accepted (was the console restored from a backup?)");
            let _ = gateway
                .store
                .audit(
                    gateway.now_secs(),
                    &format!("agent:{}", agent.id),
                    AuditAction::AgentCertificateAdopted,
                    Some(&agent.id),
                    Some(&certificate.serial),
                )
                .await;
            Ok(true)
        }
        Generation::Older => {
            tracing::warn!(agent = %agent.id, serial = %certificate.serial, "refused an agent certificate older than the one before the newest");
            Err((
                StatusCode::FORBIDDEN,
                "this certificate was replaced: connect with the agent's newest certificate, or \
                 enrol the agent again",
            )
                .into_response())
        }
    }
}

async fn connected(gateway: Gateway, peer: Peer, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<String>(OUTBOUND_QUEUE);
    let metrics = gateway.metrics.clone();
    let writer = tokio::spawn(async move {
        while let Some(frame) = queue.recv().await {
            if sink.send(Message::Text(frame.into())).await.is_err() {
                break;
            }
            metrics.frames_out.inc();
        }
        let _ = sink.close().await;
    });
    let incoming = stream
        .take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| {
            std::future::ready(match m {
                Ok(Message::Text(text)) => Some(Incoming::Text(text.to_string())),
                Ok(Message::Binary(_)) => Some(Incoming::Binary),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => None,
                Err(e) if is_too_large(&e) => Some(Incoming::TooLarge),
                Err(_) => None,
            })
        });
    // A transport error ends the stream: `filter_map` above drops it, and tungstenite
    // yields nothing after an error.
    run_session(gateway, peer, Box::pin(incoming), outbound).await;
    let _ = writer.await;
}

/// A frame over the WebSocket's size limit, told by the transport's own error kind.
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(ws) = err.downcast_ref::<tungstenite::Error>() {
            return matches!(ws, tungstenite::Error::Capacity(_));
        }
        source = err.source();
    }
    false
}

fn error_frame(of: Option<String>, code: ErrorCode, message: impl Into<String>) -> String {
    encode(
        &uuid::Uuid::new_v4().to_string(),
        &ConsoleMessage::Error(ErrorBody {
            of,
            code,
            message: message.into(),
        }),
    )
}

fn frame(message: ConsoleMessage) -> String {
    encode(&uuid::Uuid::new_v4().to_string(), &message)
}

/// Runs the protocol for one connected agent until it disconnects, misbehaves, or is
/// dropped (revoked, or replaced by a newer connection).
pub async fn run_session<S>(
    gateway: Gateway,
    peer: Peer,
    mut incoming: S,
    outbound: mpsc::Sender<String>,
) where
    S: Stream<Item = Incoming> + Unpin,
{
    let Peer {
        agent_id,
        may_renew,
    } = peer;
    let registration = gateway.registry.register(&agent_id, outbound.clone());
    let mut closed = registration.closed.clone();
    gateway.metrics.agents_connected.inc();
    tracing::info!(agent = %agent_id, "agent connected");

    let mut host_id: Option<i64> = None;
    let mut errors_in_a_row = 0u32;
    let mut rate = InventoryRate::new(Instant::now());
    // An inventory over the rate, kept until a token is free (the newest wins).
    let mut deferred: Option<(String, Inventory)> = None;
    let hello_deadline = tokio::time::sleep(HELLO_TIMEOUT);
    tokio::pin!(hello_deadline);
    // An agent heartbeats; one silent this long is gone (a link cut without a reset looks
    // open to TCP for many minutes), and its connection is let go.
    let silence = Duration::from_secs(gateway.config.offline_after_secs().unsigned_abs());
    let mut heard_at = Instant::now();
    // One timer for the session, moved on only when it fires: not one per frame.
    let silent = tokio::time::sleep(silence);
    tokio::pin!(silent);

    loop {
        let next = tokio::select! {
            item = incoming.next() => item,
            _ = closed.changed() => {
                tracing::info!(agent = %agent_id, "dropping the connection (revoked or replaced)");
                let _ = outbound.try_send(error_frame(None, ErrorCode::Disconnected, "the console closed this connection"));
                break;
            }
            () = &mut silent, if host_id.is_some() => {
                let due = heard_at + silence;
                if Instant::now() < due {
                    silent.as_mut().reset(due.into());
                    continue;
                }
                tracing::warn!(agent = %agent_id, "no word from the agent for {} s: letting its connection go", silence.as_secs());
                break;
            }
            _ = &mut hello_deadline, if host_id.is_none() => {
                let _ = outbound.try_send(error_frame(None, ErrorCode::HelloTimeout, "say hello first"));
                break;
            }
            _ = tokio::time::sleep_until(rate.next_at().into()), if deferred.is_some() => {
                if let (Some(host), Some((id, inventory))) = (host_id, deferred.take()) {
                    if rate.take(Instant::now()) {
                        let reply = ingest(&gateway, &agent_id, host, &id, inventory).await;
                        if outbound.send(reply_frame(&id, reply, &gateway, &mut errors_in_a_row)).await.is_err() {
                            break;
                        }
                    } else {
                        deferred = Some((id, inventory));
                    }
                }
                continue;
            }
        };
        let Some(item) = next else { break };
        heard_at = Instant::now();
        gateway.metrics.frames_in.inc();
        let text = match item {
            Incoming::Text(text) => text,
            Incoming::Binary => {
                gateway.metrics.frame_errors.inc();
                let _ = outbound
                    .send(error_frame(
                        None,
                        ErrorCode::FrameBinary,
                        "only JSON text frames are accepted",
                    ))
                    .await;
                errors_in_a_row += 1;
                if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
                continue;
            }
            Incoming::TooLarge => {
                gateway.metrics.frame_errors.inc();
                let _ = outbound
                    .send(error_frame(
                        None,
                        ErrorCode::FrameTooLarge,
                        format!("frames are limited to {MAX_FRAME_BYTES} bytes"),
                    ))
                    .await;
                break;
            }
        };
        let (id, message) = match decode_from_agent(&text) {
            Ok(pair) => pair,
            Err((of, e)) => {
                gateway.metrics.frame_errors.inc();
                let _ = outbound
                    .send(error_frame(of, e.code(), e.to_string()))
                    .await;
                errors_in_a_row += 1;
                if matches!(e, DecodeError::TooLarge { .. })
                    || errors_in_a_row >= MAX_CONSECUTIVE_ERRORS
                {
                    break;
                }
                continue;
            }
        };
        let mut welcomed = false;
        let reply = match (host_id, message) {
            (_, AgentMessage::Hello(hello)) => {
                match gateway
                    .writer
                    .hello(&agent_id, hello, gateway.now_secs())
                    .await
                {
                    Err(Stopped) => Err((
                        ErrorCode::Internal,
                        "the console is shutting down: connect again in a moment".to_owned(),
                    )),
                    Ok(Ok(id)) => {
                        host_id = Some(id);
                        welcomed = true;
                        gateway.publish(LiveEvent::AgentOnline {
                            agent_id: agent_id.clone(),
                        });
                        Ok(ConsoleMessage::Welcome(Welcome {
                            agent_id: agent_id.clone(),
                            heartbeat_secs: gateway.config.heartbeat_secs,
                            heartbeat_ms: gateway.config.heartbeat_ms,
                            server_time: gateway.now_secs(),
                        }))
                    }
                    Ok(Err(e)) => Err((
                        ErrorCode::Internal,
                        format!("could not record the host: {e}"),
                    )),
                }
            }
            (None, _) => Err((
                ErrorCode::HelloFirst,
                "say hello before anything else".to_owned(),
            )),
            (Some(host), AgentMessage::Inventory(inventory)) => {
                if !rate.take(Instant::now()) {
                    tracing::debug!(agent = %agent_id, "inventory over the rate: kept for later");
                    deferred = Some((id, inventory));
                    continue;
                }
                // A newer inventory makes a kept one moot.
                deferred = None;
                ingest(&gateway, &agent_id, host, &id, inventory).await
            }
            (Some(_), AgentMessage::Heartbeat(_)) => {
                if gateway
                    .writer
                    .seen(&agent_id, gateway.now_secs())
                    .await
                    .is_err()
                {
                    tracing::debug!(agent = %agent_id, "heartbeat not recorded: shutting down");
                }
                errors_in_a_row = 0;
                continue;
            }
            (Some(_), AgentMessage::RenewRequest(_)) if !may_renew => Err((
                ErrorCode::CertificateOld,
                "only the agent's newest certificate may renew itself: restart the agent so \
                 it connects with the newest one it was given"
                    .to_owned(),
            )),
            (Some(_), AgentMessage::RenewRequest(request)) => {
                renew(&gateway, &agent_id, &request.csr_pem).await
            }
            (Some(_), AgentMessage::JobProgress(progress)) => {
                tracing::info!(agent = %agent_id, job = %progress.job_id, step = %progress.step, "{}", progress.detail);
                if let Err(e) = gateway.reports.progress(&agent_id, &progress).await {
                    tracing::warn!(agent = %agent_id, "cannot record job progress: {e:#}");
                }
                Ok(ack(&id, None))
            }
            (Some(_), AgentMessage::JobResult(result)) => {
                tracing::info!(agent = %agent_id, job = %result.job_id, ok = result.ok, "{}", result.detail);
                match gateway.reports.result(&agent_id, &result).await {
                    Ok(()) => Ok(ack(&id, None)),
                    Err(e) => {
                        tracing::error!(agent = %agent_id, "cannot record a job result: {e:#}");
                        Err((
                            ErrorCode::Internal,
                            "the console could not record the result; send it again".to_owned(),
                        ))
                    }
                }
            }
        };
        let frame = reply_frame(&id, reply, &gateway, &mut errors_in_a_row);
        if outbound.send(frame).await.is_err() {
            break;
        }
        // After the welcome: the servers the console says this client must trust.
        if let (true, Some(host)) = (welcomed, host_id) {
            match crate::trust_lists::frame_for(&gateway.store, host).await {
                Ok(list) => {
                    if outbound.send(list).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::warn!(agent = %agent_id, "cannot send the trust list: {e}"),
            }
        }
        if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS {
            break;
        }
    }

    gateway
        .registry
        .unregister(&agent_id, registration.generation);
    gateway.publish(LiveEvent::AgentOffline {
        agent_id: agent_id.clone(),
    });
    gateway.metrics.agents_connected.dec();
    tracing::info!(agent = %agent_id, "agent disconnected");
}

/// The answer to frame `id`, counting errors in a row.
fn reply_frame(
    id: &str,
    reply: Result<ConsoleMessage, (ErrorCode, String)>,
    gateway: &Gateway,
    errors_in_a_row: &mut u32,
) -> String {
    match reply {
        Ok(message) => {
            *errors_in_a_row = 0;
            frame(message)
        }
        Err((code, message)) => {
            gateway.metrics.frame_errors.inc();
            *errors_in_a_row += 1;
            error_frame(Some(id.to_owned()), code, message)
        }
    }
}

fn ack(of: &str, hash: Option<String>) -> ConsoleMessage {
    ConsoleMessage::Ack(Ack {
        of: of.to_owned(),
        hash,
    })
}

async fn ingest(
    gateway: &Gateway,
    agent_id: &str,
    host_id: i64,
    frame_id: &str,
    mut inventory: Inventory,
) -> Result<ConsoleMessage, (ErrorCode, String)> {
    if inventory.snapshot.content_hash() != inventory.hash {
        return Err((
            ErrorCode::HashMismatch,
            "the inventory's hash does not match its content".to_owned(),
        ));
    }
    // Sent again unchanged (after a reconnect, or a rescan that found nothing new): the
    // stored snapshot was checked when it was stored; nothing to read or write.
    match gateway.store.inventory_hash(agent_id).await {
        Ok(Some(stored)) if stored == inventory.hash => {
            gateway.metrics.inventories_unchanged.inc();
            return Ok(ack(frame_id, Some(inventory.hash)));
        }
        Ok(_) => {}
        Err(e) => {
            return Err((
                ErrorCode::Internal,
                format!("could not read the stored inventory's hash: {e}"),
            ));
        }
    }
    if let Err(refusal) = claims::check(&mut inventory.snapshot) {
        tracing::warn!(agent = %agent_id, code = %refusal.code, "inventory refused: {}", refusal.message);
        gateway.metrics.inventories_refused.inc();
        return Err((refusal.code, refusal.message));
    }
    if let Err(e) =
        chains::judge_known(&gateway.store, &mut inventory.snapshot, gateway.clock.now()).await
    {
        return Err((
            ErrorCode::Internal,
            format!("could not judge the inventory's chains: {e}"),
        ));
    }
    let started = Instant::now();
    let hash = inventory.hash.clone();
    let stored = gateway
        .writer
        .ingest(agent_id, host_id, inventory, gateway.now_secs())
        .await
        .map_err(|Stopped| {
            (
                ErrorCode::Internal,
                "the console is shutting down: the inventory was not stored; send it again \
                 after reconnecting"
                    .to_owned(),
            )
        })?;
    match stored {
        Ok(outcome) => {
            if outcome.changed {
                rejudge_servers(gateway, &outcome.newly_trusted).await;
                gateway.publish(LiveEvent::InventoryChanged { host_id });
                gateway.metrics.inventories_ingested.inc();
                gateway
                    .metrics
                    .ingest_seconds
                    .observe(started.elapsed().as_secs_f64());
                tracing::info!(
                    agent = %agent_id,
                    endpoints_written = outcome.endpoints_written,
                    endpoints_removed = outcome.endpoints_removed,
                    certificates_added = outcome.certificates_added,
                    "inventory stored"
                );
            }
            Ok(ack(frame_id, Some(hash)))
        }
        Err(certfleet_store::Error::Corrupt(detail)) => Err((ErrorCode::InventoryInvalid, detail)),
        Err(e) => Err((
            ErrorCode::Internal,
            format!("could not store the inventory: {e}"),
        )),
    }
}

/// A client that trusts a server may close the chain the server's own agent called
/// incomplete: those servers are asked for their inventory again, to be judged anew.
async fn rejudge_servers(gateway: &Gateway, newly_trusted: &[(String, u16)]) {
    for (server_name, port) in newly_trusted {
        match gateway
            .store
            .rejudge_incomplete_chains(server_name, *port)
            .await
        {
            Ok(agents) => {
                for agent in agents {
                    let rescan = certfleet_proto::encode(
                        &uuid::Uuid::new_v4().to_string(),
                        &ConsoleMessage::Job(certfleet_proto::Job {
                            job_id: format!("rejudge-{}", uuid::Uuid::new_v4()),
                            action: certfleet_proto::JobAction::Rescan,
                        }),
                    );
                    let _ = gateway.registry.try_send(&agent, rescan);
                }
            }
            Err(e) => tracing::warn!("cannot ask servers to report their chains again: {e}"),
        }
    }
}

async fn renew(
    gateway: &Gateway,
    agent_id: &str,
    csr_pem: &str,
) -> Result<ConsoleMessage, (ErrorCode, String)> {
    let issued = gateway
        .pki
        .sign_agent_csr(
            csr_pem,
            agent_id,
            gateway.config.agent_cert_days,
            gateway.now(),
        )
        .map_err(|e| (ErrorCode::CsrInvalid, e.to_string()))?;
    gateway
        .store
        .record_agent_certificate(agent_id, &issued.serial, issued.not_after)
        .await
        .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
    let _ = gateway
        .store
        .audit(
            gateway.now_secs(),
            &format!("agent:{agent_id}"),
            AuditAction::AgentCertificateRenewed,
            Some(agent_id),
            Some(&issued.serial),
        )
        .await;
    Ok(ConsoleMessage::Renewed(Renewed {
        certificate_pem: issued.pem,
    }))
}
