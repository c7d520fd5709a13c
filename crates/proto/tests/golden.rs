//! Golden frames: one of every message type, encoded, compared byte for byte with the frame
//! an agent already deployed sends or expects (`tests/golden/*.json`). A typed field that
//! serialises differently from the word it replaced fails here. `GOLDEN_WRITE=1` rewrites
//! the files, for a deliberate protocol change only.

use certfleet_proto::*;

fn finding() -> Finding {
    Finding {
        code: "expires_soon".into(),
        severity: certfleet_proto::Severity::Warning,
        message: "expires in 12 days".into(),
        certificate: Some("AB".repeat(32)),
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        endpoints: vec![Endpoint {
            key: "apache:C:/eSync/Apache24/conf/extra/httpd-ssl.conf:443".into(),
            kind: EndpointKind::Apache,
            name: "esync.example.test".into(),
            address: Some("127.0.0.1:443".into()),
            config_path: Some("C:/eSync/Apache24/conf/extra/httpd-ssl.conf".into()),
            configured_sha256: Some("AB".repeat(32)),
            served_sha256: None,
            errors: vec!["the port did not answer".into()],
            findings: vec![finding()],
        }],
        certificates: vec![CertificateInfo {
            sha256: "AB".repeat(32),
            thumbprint: "CD".repeat(20),
            subject: "CN=esync.example.test".into(),
            issuer: "CN=Example CA".into(),
            serial: "0a1b".into(),
            dns_names: vec!["esync.example.test".into()],
            ip_addresses: vec!["10.0.0.5".into()],
            not_before: 1_790_000_000,
            not_after: 1_800_000_000,
            key_algorithm: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "sha256WithRSAEncryption".into(),
            self_signed: false,
            der_base64: "MIIB".into(),
        }],
        trust: Vec::new(),
    }
}

fn agent_messages() -> Vec<(&'static str, AgentMessage)> {
    vec![
        (
            "hello",
            AgentMessage::Hello(Hello {
                agent_version: "0.1.0".into(),
                protocol: 1,
                hostname: "sage01".into(),
                fqdn: "sage01.example.test".into(),
                os: "windows".into(),
                arch: "x86_64".into(),
                groups: vec!["sage".into(), "prod".into()],
            }),
        ),
        (
            "inventory",
            AgentMessage::Inventory(Inventory::of(snapshot())),
        ),
        (
            "heartbeat",
            AgentMessage::Heartbeat(Heartbeat { uptime_secs: 3600 }),
        ),
        (
            "job_progress",
            AgentMessage::JobProgress(JobProgress {
                job_id: "rollout-1-target-2".into(),
                step: DeployStep::Restart,
                detail: "restarting eSync Apache Web Server".into(),
            }),
        ),
        (
            "job_result_committed",
            AgentMessage::JobResult(JobResult {
                job_id: "rollout-1-target-2".into(),
                ok: true,
                detail: "verified on 127.0.0.1:443".into(),
                outcome: Some(DeployOutcome::Committed),
                csr_pem: None,
            }),
        ),
        (
            "job_result_rolled_back",
            AgentMessage::JobResult(JobResult {
                job_id: "rollout-1-target-3".into(),
                ok: false,
                detail: "the port serves the old certificate again".into(),
                outcome: Some(DeployOutcome::RolledBack),
                csr_pem: None,
            }),
        ),
        (
            "job_result_plain",
            AgentMessage::JobResult(JobResult {
                job_id: "rescan-1".into(),
                ok: true,
                detail: "inventory sent".into(),
                outcome: None,
                csr_pem: None,
            }),
        ),
        (
            "job_result_csr",
            AgentMessage::JobResult(JobResult {
                job_id: "key-00000000-0000-4000-8000-000000000002".into(),
                ok: true,
                detail: "a new ecdsa_p256 key is kept pending for sage300:4207".into(),
                outcome: None,
                csr_pem: Some(
                    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
                        .into(),
                ),
            }),
        ),
        (
            "renew_request",
            AgentMessage::RenewRequest(RenewRequest {
                csr_pem:
                    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
                        .into(),
            }),
        ),
    ]
}

fn console_messages() -> Vec<(&'static str, ConsoleMessage)> {
    let job = |job_id: &str, action: JobAction| {
        ConsoleMessage::Job(Job {
            job_id: job_id.into(),
            action,
        })
    };
    vec![
        (
            "welcome",
            ConsoleMessage::Welcome(Welcome {
                agent_id: "00000000-0000-4000-8000-000000000001".into(),
                heartbeat_secs: 30,
                heartbeat_ms: None,
                server_time: 1_795_000_000,
            }),
        ),
        (
            "welcome_fast",
            ConsoleMessage::Welcome(Welcome {
                agent_id: "00000000-0000-4000-8000-000000000001".into(),
                heartbeat_secs: 1,
                heartbeat_ms: Some(20),
                server_time: 1_795_000_000,
            }),
        ),
        ("job_rescan", job("rescan-1", JobAction::Rescan)),
        (
            "job_deploy",
            job(
                "rollout-1-target-2",
                JobAction::Deploy {
                    endpoint: "apache:/etc/apache2/sites-enabled/esync.conf:443".into(),
                    chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                        .into(),
                    key_pem: Some(Secret::new(
                        "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n".into(),
                    )),
                    sha256: "AB".repeat(32),
                    pending_key: None,
                },
            ),
        ),
        (
            "job_deploy_pending_key",
            job(
                "rollout-2-target-1",
                JobAction::Deploy {
                    endpoint: "apache:/etc/apache2/sites-enabled/esync.conf:443".into(),
                    chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                        .into(),
                    key_pem: None,
                    sha256: "AB".repeat(32),
                    pending_key: Some("key-00000000-0000-4000-8000-000000000002".into()),
                },
            ),
        ),
        (
            "job_serve_challenge",
            job(
                "challenge-1",
                JobAction::ServeChallenge {
                    endpoint: "apache:/etc/apache2/sites-enabled/esync.conf:443".into(),
                    token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA".into(),
                    key_authorization:
                        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
                            .into(),
                },
            ),
        ),
        (
            "job_end_challenge",
            job(
                "challenge-1-end",
                JobAction::EndChallenge {
                    token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA".into(),
                },
            ),
        ),
        (
            "job_key_request",
            job(
                "key-00000000-0000-4000-8000-000000000002",
                JobAction::KeyRequest {
                    endpoint: "sage300:4207".into(),
                    key_type: KeyType::Rsa2048,
                    names: vec!["sage01.example.test".into()],
                },
            ),
        ),
        (
            "job_preflight",
            job(
                "preflight-1",
                JobAction::Preflight {
                    endpoint: "pem:/etc/ssl/files.pem".into(),
                    chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                        .into(),
                    sha256: "AB".repeat(32),
                },
            ),
        ),
        (
            "job_trust",
            job(
                "rollout-1-target-3",
                JobAction::Trust {
                    endpoint: "sage01.example.test:4207".into(),
                    chain_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                        .into(),
                    sha256: "AB".repeat(32),
                },
            ),
        ),
        (
            "job_untrust",
            job(
                "rollout-1-target-4",
                JobAction::Untrust {
                    endpoint: "sage01.example.test:4207".into(),
                    sha256: "AB".repeat(32),
                },
            ),
        ),
        (
            "trust_list",
            ConsoleMessage::TrustList(TrustList {
                endpoints: vec![AttachedEndpoint {
                    endpoint: "sage01.example.test:4207".into(),
                    server_name: "sage01.example.test".into(),
                }],
            }),
        ),
        (
            "ack",
            ConsoleMessage::Ack(Ack {
                of: "f0".into(),
                hash: Some("0f".repeat(32)),
            }),
        ),
        (
            "error",
            ConsoleMessage::Error(ErrorBody {
                of: Some("f0".into()),
                code: ErrorCode::FrameTooLarge,
                message: "the frame is over 1 MiB".into(),
            }),
        ),
        (
            "renewed",
            ConsoleMessage::Renewed(Renewed {
                certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                    .into(),
            }),
        ),
    ]
}

fn golden(name: &str, frame: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        std::fs::write(&path, format!("{frame}\n")).expect("write golden");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GOLDEN_WRITE=1 writes it)", path.display()));
    assert_eq!(
        frame,
        want.trim_end(),
        "{name}: the frame changed on the wire"
    );
}

#[test]
fn every_agent_message_is_the_frame_deployed_consoles_read() {
    let messages = agent_messages();
    let kinds: std::collections::BTreeSet<&str> = messages
        .iter()
        .map(|(_, m)| {
            serde_json::from_str::<serde_json::Value>(&encode("f1", m)).expect("json")["type"]
                .as_str()
                .map(|t| {
                    AgentMessage::ACCEPTED
                        .iter()
                        .find(|a| **a == t)
                        .copied()
                        .expect("accepted")
                })
                .expect("type")
        })
        .collect();
    assert_eq!(
        kinds.len(),
        AgentMessage::ACCEPTED.len(),
        "a message type has no golden frame"
    );
    for (name, message) in messages {
        let frame = encode("f1", &message);
        golden(&format!("agent_{name}"), &frame);
        assert_eq!(
            decode_from_agent(&frame),
            Ok(("f1".into(), message)),
            "{name}"
        );
    }
}

#[test]
fn every_console_message_is_the_frame_deployed_agents_read() {
    let messages = console_messages();
    let kinds: std::collections::BTreeSet<String> = messages
        .iter()
        .map(|(_, m)| {
            serde_json::from_str::<serde_json::Value>(&encode("f1", m)).expect("json")["type"]
                .as_str()
                .expect("type")
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds.len(),
        ConsoleMessage::ACCEPTED.len(),
        "a message type has no golden frame"
    );
    for (name, message) in messages {
        let frame = encode("f1", &message);
        golden(&format!("console_{name}"), &frame);
        assert_eq!(
            decode_from_console(&frame),
            Ok(("f1".into(), message)),
            "{name}"
        );
    }
}
