//! The rollout planner and scheduler in-process, with the console's clock moved by the
//! test: a scheduled rollout starts at its time, an agent offline past its grace is
//! skipped, pause / resume / cancel hold, and only operators steer rollouts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::StatusCode;
use certfleet_e2e::pki::TestCa;
use certfleet_server::console::{Control, Operator, Viewer};
use certfleet_server::rollout::scheduler;
use certfleet_store::Role;
use serde_json::json;
use support::{admin, call, harness, user_with_role};
use time::OffsetDateTime;

/// Two days from now: the renewal made by the test is valid by then.
fn t0() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp() + 2 * 86_400
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .expect("t")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

#[tokio::test]
async fn a_scheduled_rollout_starts_at_its_time_and_an_absent_agent_is_skipped() {
    let mut h = harness().await;
    let clock = Arc::new(AtomicI64::new(t0()));
    let c = clock.clone();
    h.state.clock = certfleet_server::clock::Clock::new(move || {
        OffsetDateTime::from_unix_timestamp(c.load(Ordering::SeqCst)).expect("time")
    });
    let token = admin(&h).await;
    let console = h.state.console();
    let caller = console.authenticate(&token).await.expect("admin");
    let store = h.state.store.clone();
    let (agent, host) = support::host(&store, "esync01", &["esync"], t0()).await;
    support::inventory(
        &store,
        &agent,
        host,
        &[("esync.example.test", t0() + 86_400)],
        vec![],
    )
    .await;
    let (other_agent, other_host) = support::host(&store, "web01", &["web"], t0()).await;
    support::inventory(
        &store,
        &other_agent,
        other_host,
        &[("www.example.test", t0() + 86_400)],
        vec![],
    )
    .await;

    let ca = TestCa::new("Plan CA");
    let cert = ca.server(&["esync.example.test"], 400);
    let (status, renewal) = support::upload(&h, &token, &ca, &cert).await;
    assert_eq!(status, StatusCode::CREATED, "{renewal}");
    let renewal_id = renewal["id"].as_i64().expect("id");

    // The plan proposes the endpoint with the same names; the other is listed, flagged.
    let proposals = console
        .plan(caller.can::<Viewer>().expect("viewer"), renewal_id)
        .await
        .expect("plan");
    let esync = proposals
        .iter()
        .find(|p| p.hostname == "esync01")
        .expect("esync");
    assert!(esync.proposed && esync.problems.is_empty(), "{esync:?}");
    assert!(
        esync.notes.iter().any(|n| n.contains("offline")),
        "{esync:?}"
    );
    let web = proposals
        .iter()
        .find(|p| p.hostname == "web01")
        .expect("web");
    assert!(!web.proposed);
    assert!(
        web.problems.iter().any(|p| p.contains("name_not_covered")),
        "{web:?}"
    );

    // A viewer may read the plan but not roll out.
    let viewer = user_with_role(&h, "vera", Role::Viewer).await;
    let (status, _) = call(
        &h,
        "GET",
        &format!("/api/v1/renewals/{renewal_id}/plan"),
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&viewer),
        Some(json!({"renewal_id": renewal_id})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Choosing an endpoint the renewal does not cover is refused with the reason.
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "targets": [{"host_id": other_host, "endpoint_key": "pem:www.example.test"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("name_not_covered"), "{body}");

    let start = t0() + 3600;
    let (status, created) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "start_at": rfc3339(start)})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().expect("id");
    let state_of = |id: i64| {
        let store = store.clone();
        async move { store.rollout(id).await.expect("rollout").state }
    };

    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    assert_eq!(
        state_of(id).await.as_str(),
        "scheduled",
        "not before its time"
    );
    clock.store(start - 1, Ordering::SeqCst);
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    assert_eq!(state_of(id).await.as_str(), "scheduled");
    clock.store(start, Ordering::SeqCst);
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    assert_eq!(state_of(id).await.as_str(), "running", "starts at its time");

    // Paused, nothing moves even when the agent's grace runs out; resumed, it goes on.
    console
        .control_rollout(
            caller.can::<Operator>().expect("operator"),
            id,
            Control::Pause,
        )
        .await
        .expect("pause");
    clock.store(start + 25 * 3600, Ordering::SeqCst);
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    let targets = store.rollout_targets(id).await.expect("targets");
    assert_eq!(targets[0].state.as_str(), "pending");
    assert!(
        console
            .control_rollout(
                caller.can::<Operator>().expect("operator"),
                id,
                Control::Pause
            )
            .await
            .is_err(),
        "already paused"
    );
    console
        .control_rollout(
            caller.can::<Operator>().expect("operator"),
            id,
            Control::Resume,
        )
        .await
        .expect("resume");
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    let targets = store.rollout_targets(id).await.expect("targets");
    assert_eq!(targets[0].state.as_str(), "skipped", "{targets:?}");
    assert!(targets[0].detail.contains("offline"), "{targets:?}");
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    let done = store.rollout(id).await.expect("rollout");
    assert_eq!(
        done.state.as_str(),
        "failed",
        "nothing renewed is not a success: {done:?}"
    );
    assert!(done.detail.contains("1 skipped"), "{done:?}");

    // Paused before its start time and resumed, a rollout waits for that time again.
    let (_, created) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "start_at": rfc3339(start + 40 * 3600)})),
    )
    .await;
    let later = created["id"].as_i64().expect("id");
    console
        .control_rollout(
            caller.can::<Operator>().expect("operator"),
            later,
            Control::Pause,
        )
        .await
        .expect("pause");
    console
        .control_rollout(
            caller.can::<Operator>().expect("operator"),
            later,
            Control::Resume,
        )
        .await
        .expect("resume");
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    assert_eq!(state_of(later).await.as_str(), "scheduled");
    console
        .control_rollout(
            caller.can::<Operator>().expect("operator"),
            later,
            Control::Cancel,
        )
        .await
        .expect("cancel");

    // A cancelled rollout never starts.
    let (_, created) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "start_at": rfc3339(start + 30 * 3600)})),
    )
    .await;
    let second = created["id"].as_i64().expect("id");
    let (status, _) = call(
        &h,
        "POST",
        &format!("/api/v1/rollouts/{second}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    clock.store(start + 31 * 3600, Ordering::SeqCst);
    scheduler::tick(&h.state.rollouts()).await.expect("tick");
    assert_eq!(state_of(second).await.as_str(), "cancelled");
    let targets = store.rollout_targets(second).await.expect("targets");
    assert_eq!(targets[0].state.as_str(), "cancelled");
}

#[tokio::test]
async fn maintenance_windows_are_checked_and_admin_only() {
    let h = harness().await;
    let token = admin(&h).await;
    let operator = user_with_role(&h, "otto", Role::Operator).await;
    let window = json!({"group_name": "esync", "weekdays": "sat,sun", "start_minute": 1320, "end_minute": 120, "utc_offset_minutes": 60});
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/windows",
        Some(&operator),
        Some(window.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&h, "POST", "/api/v1/windows", Some(&token), Some(window)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/windows",
        Some(&token),
        Some(json!({"group_name": "esync", "weekdays": "weekend", "start_minute": 0, "end_minute": 60, "utc_offset_minutes": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("not a weekday"), "{body}");
    let (_, list) = call(&h, "GET", "/api/v1/windows", Some(&operator), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn labels_set_in_the_console_join_the_agents_groups_and_select_rollout_hosts() {
    let h = harness().await;
    let token = admin(&h).await;
    let store = h.state.store.clone();
    let (agent, host) = support::host(&store, "esync02", &["esync"], t0()).await;
    support::inventory(
        &store,
        &agent,
        host,
        &[("esync.example.test", t0() + 86_400)],
        vec![],
    )
    .await;
    let groups = store
        .set_host_labels(host, &["prod".to_owned()])
        .await
        .expect("labels");
    assert_eq!(groups, ["esync", "prod"]);
    // The agent says hello again with other groups: the console's labels stay.
    let hello = certfleet_proto::Hello {
        agent_version: "t".into(),
        protocol: 1,
        hostname: "esync02".into(),
        fqdn: "esync02.example.test".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec!["esync".into(), "eu".into()],
    };
    store
        .upsert_host(&agent, &hello, t0())
        .await
        .expect("hello");
    assert_eq!(
        store.host_groups(host).await.expect("groups"),
        ["esync", "eu", "prod"]
    );
    assert_eq!(store.host_labels(host).await.expect("labels"), ["prod"]);

    let ca = TestCa::new("Labels CA");
    let cert = ca.server(&["esync.example.test"], 400);
    let (_, renewal) = support::upload(&h, &token, &ca, &cert).await;
    let renewal_id = renewal["id"].as_i64().expect("id");
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "groups": ["staging"]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no host in that group: {body}"
    );
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id, "groups": ["prod"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_connectors_first_https_leaves_the_bpa_step_listed_on_its_host_page() {
    let h = harness().await;
    let token = admin(&h).await;
    let console = h.state.console();
    let caller = console.authenticate(&token).await.expect("admin");
    let store = h.state.store.clone();
    let (agent, host) = support::host(&store, "sage01", &["sage"], t0()).await;
    let http_only = certfleet_proto::Finding {
        code: "sage_http_only".into(),
        severity: certfleet_proto::Severity::Info,
        message: "the connector still listens on http".into(),
        certificate: None,
    };
    support::inventory(
        &store,
        &agent,
        host,
        &[("sage01.example.test", t0() + 86_400)],
        vec![http_only],
    )
    .await;
    let ca = TestCa::new("Plan CA");
    let cert = ca.server(&["sage01.example.test"], 400);
    let (status, renewal) = support::upload(&h, &token, &ca, &cert).await;
    assert_eq!(status, StatusCode::CREATED, "{renewal}");
    let renewal_id = renewal["id"].as_i64().expect("id");
    let plan = console
        .plan(caller.can::<Viewer>().expect("viewer"), renewal_id)
        .await
        .expect("plan");
    assert!(plan[0].first_https, "{plan:?}");
    assert!(
        plan[0]
            .notes
            .iter()
            .any(|n| n.contains("re-select its company database")),
        "{plan:?}"
    );
    let (status, created) = call(
        &h,
        "POST",
        "/api/v1/rollouts",
        Some(&token),
        Some(json!({"renewal_id": renewal_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().expect("id");
    let (_, detail) = call(
        &h,
        "GET",
        &format!("/api/v1/hosts/{host}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        detail["manual_steps"],
        json!([]),
        "nothing due before the switch"
    );

    // Once the switch is verified, the host page lists what stays manual.
    let target = store.rollout_targets(id).await.expect("targets")[0].clone();
    assert!(target.first_https);
    store
        .set_target_state(
            target.id,
            &[certfleet_store::TargetState::Pending],
            certfleet_store::TargetState::Verified,
            None,
            "verified",
            t0(),
        )
        .await
        .expect("verified");
    let (_, detail) = call(
        &h,
        "GET",
        &format!("/api/v1/hosts/{host}"),
        Some(&token),
        None,
    )
    .await;
    let steps = detail["manual_steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(steps.len(), 1, "{detail}");
    assert!(
        steps[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("BPA Platform") && t.contains(&format!("rollout #{id}"))),
        "{detail}"
    );
}
