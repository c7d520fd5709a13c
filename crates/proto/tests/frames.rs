//! The wire format: round trips, the explicit type lists, and every way a frame is refused.

use certfleet_proto::*;

fn hello() -> AgentMessage {
    AgentMessage::Hello(Hello {
        agent_version: "0.1.0".into(),
        protocol: PROTOCOL_VERSION,
        hostname: "sage01".into(),
        fqdn: "sage01.example.test".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec!["sage".into()],
    })
}

#[test]
fn agent_messages_round_trip_in_the_documented_envelope() {
    let text = encode("m1", &hello());
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(value["v"], 1);
    assert_eq!(value["id"], "m1");
    assert_eq!(value["type"], "hello");
    assert_eq!(value["body"]["hostname"], "sage01");
    assert_eq!(decode_from_agent(&text), Ok(("m1".into(), hello())));
}

#[test]
fn console_messages_round_trip() {
    let job = ConsoleMessage::Job(Job {
        job_id: "j1".into(),
        action: JobAction::Rescan,
    });
    let text = encode("c1", &job);
    assert!(text.contains(r#""kind":"rescan""#), "{text}");
    assert_eq!(decode_from_console(&text), Ok(("c1".into(), job)));
}

#[test]
fn a_console_message_is_not_accepted_from_an_agent() {
    // An agent must not be able to send `job` or `welcome` to the console, nor the other
    // way round: each side has its own list.
    let text = encode(
        "x",
        &ConsoleMessage::Ack(Ack {
            of: "m1".into(),
            hash: None,
        }),
    );
    let (id, err) = decode_from_agent(&text).unwrap_err();
    assert_eq!(id.as_deref(), Some("x"));
    assert_eq!(err, DecodeError::UnknownType("ack".into()));
    assert_eq!(err.code().as_str(), "type_unknown");
    let text = encode("y", &hello());
    assert!(matches!(
        decode_from_console(&text),
        Err((_, DecodeError::UnknownType(_)))
    ));
}

#[test]
fn the_lists_are_explicit() {
    assert_eq!(
        AgentMessage::ACCEPTED,
        &[
            "hello",
            "inventory",
            "heartbeat",
            "job_progress",
            "job_result",
            "renew_request"
        ]
    );
    assert_eq!(
        ConsoleMessage::ACCEPTED,
        &["welcome", "job", "ack", "error", "renewed", "trust_list"]
    );
}

#[test]
fn malformed_frames_are_refused_with_a_code() {
    let cases = [
        ("not json", "frame_malformed"),
        (r#"{"v":1,"id":"a","body":{}}"#, "frame_malformed"),
        (
            r#"{"v":2,"id":"a","type":"heartbeat","body":{"uptime_secs":1}}"#,
            "version_unsupported",
        ),
        (
            r#"{"v":1,"id":"a","type":"shutdown","body":{}}"#,
            "type_unknown",
        ),
        (
            r#"{"v":1,"id":"a","type":"heartbeat","body":{"uptime_secs":"x"}}"#,
            "body_invalid",
        ),
        (
            r#"{"v":1,"id":"a","type":"heartbeat","body":{"uptime_secs":1,"extra":true}}"#,
            "body_invalid",
        ),
    ];
    for (text, code) in cases {
        let (_, err) = decode_from_agent(text).unwrap_err();
        assert_eq!(err.code().as_str(), code, "{text}: {err}");
    }
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let text = format!(
        r#"{{"v":1,"id":"a","type":"heartbeat","body":{{"pad":"{}"}}}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    let (id, err) = decode_from_agent(&text).unwrap_err();
    assert_eq!(id, None);
    assert_eq!(err.code().as_str(), "frame_too_large");
}

#[test]
fn a_deploy_job_round_trips_and_its_key_never_prints() {
    let job = ConsoleMessage::Job(Job {
        job_id: "j-1".into(),
        action: JobAction::Deploy {
            endpoint: "apache:*:443:esync.example.com".into(),
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY-----\nMIIsecret".into())),
            sha256: "AB".into(),
            pending_key: None,
        },
    });
    let text = encode("f-1", &job);
    let (_, back) = decode_from_console(&text).expect("decode");
    assert_eq!(back, job);
    let printed = format!("{job:?}");
    assert!(!printed.contains("MIIsecret"), "{printed}");
    assert!(printed.contains("redacted"));
    // A result carries the outcome; an old agent's result without one still reads.
    let result =
        r#"{"v":1,"id":"x","type":"job_result","body":{"job_id":"j","ok":true,"detail":"d"}}"#;
    let (_, message) = decode_from_agent(result).expect("old result");
    assert!(matches!(
        message,
        AgentMessage::JobResult(JobResult { outcome: None, .. })
    ));
}

#[test]
fn a_step_or_code_from_a_newer_peer_is_read_as_other_not_refused() {
    let text = r#"{"v":1,"id":"f9","type":"job_progress","body":{"job_id":"j","step":"warm_up","detail":"d"}}"#;
    match decode_from_agent(text) {
        Ok((_, AgentMessage::JobProgress(p))) => assert_eq!(p.step, DeployStep::Other),
        other => panic!("{other:?}"),
    }
    let text = r#"{"v":1,"id":"f9","type":"error","body":{"of":null,"code":"quota_exceeded","message":"m"}}"#;
    match decode_from_console(text) {
        Ok((_, ConsoleMessage::Error(e))) => assert_eq!(e.code, ErrorCode::Other),
        other => panic!("{other:?}"),
    }
}
