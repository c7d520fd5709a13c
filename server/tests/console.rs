//! The console core's use cases called directly, as both edges call them: each change
//! writes exactly one audit entry (refusals that are audited, too), and a role is proven
//! before a use case can be reached at all.

mod support;

use certfleet_e2e::pki::TestCa;
use certfleet_server::console::{
    Admin, Caller, Console, Control, Edge, Error, Operator, Refusal, RolloutRequest, UploadRequest,
    Viewer, WindowRow,
};
use certfleet_store::Role;
use support::harness;

const PASSWORD: &str = "a-long-user-password";

async fn caller(console: &Console, h: &support::Harness, name: &str, role: Role) -> Caller {
    let hash = certfleet_server::auth::hash_password(PASSWORD).expect("hash");
    h.state
        .store
        .create_user(name, &hash, role, false, 0)
        .await
        .expect("user");
    console
        .login(Edge::Api, None, name, PASSWORD)
        .await
        .expect("login")
        .caller
}

async fn audit_count(h: &support::Harness) -> usize {
    h.state
        .store
        .audit_log(None, 10_000)
        .await
        .expect("audit")
        .len()
}

/// Runs `change` and asserts it wrote exactly one audit entry with `action`.
macro_rules! one_entry {
    ($h:expr, $action:expr, $change:expr) => {{
        let before = audit_count($h).await;
        let result = $change;
        let log = $h.state.store.audit_log(None, 10_000).await.expect("audit");
        assert_eq!(
            log.len(),
            before + 1,
            "{} wrote {} entries",
            $action,
            log.len() - before
        );
        assert_eq!(log[0].action, $action);
        result
    }};
}

#[tokio::test]
async fn every_change_writes_exactly_one_audit_entry() {
    let h = harness().await;
    let console = h.state.console();
    let admin = caller(&console, &h, "ada", Role::Admin).await;
    let operator = caller(&console, &h, "olga", Role::Operator).await;
    let a = admin.can::<Admin>().expect("admin");
    let o = operator.can::<Operator>().expect("operator");

    one_entry!(&h, "login.failed", {
        let refused = console.login(Edge::Web, None, "ada", "wrong").await;
        assert!(matches!(
            refused,
            Err(Error::Forbidden(Refusal::WrongPassword))
        ));
    });
    one_entry!(
        &h,
        "login",
        console
            .login(Edge::Web, None, "ada", PASSWORD)
            .await
            .expect("login")
    );
    one_entry!(
        &h,
        "password.changed",
        console
            .change_password(&operator, PASSWORD, "another-long-password")
            .await
            .expect("change")
    );
    let password = one_entry!(
        &h,
        "user.created",
        console.add_user(a, "vic", Role::Viewer).await.expect("add")
    );
    assert_eq!(password.len(), 20);
    let vic = console
        .users(a)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.username == "vic")
        .expect("vic");
    one_entry!(
        &h,
        "user.role_set",
        console
            .set_role(a, vic.id, Role::Operator)
            .await
            .expect("role")
    );
    one_entry!(
        &h,
        "user.disabled",
        console
            .set_disabled(a, vic.id, true)
            .await
            .expect("disable")
    );
    let token = one_entry!(
        &h,
        "token.created",
        console
            .create_token(a, Some(2), Some("esync01"))
            .await
            .expect("token")
    );
    assert!(token.enrol_linux.contains(&token.token.to_string()));

    let (agent, host) = support::host(&h.state.store, "esync01", &["esync"], 0).await;
    support::inventory(
        &h.state.store,
        &agent,
        host,
        &[("esync.example.test", i64::MAX / 2)],
        vec![],
    )
    .await;
    let groups = one_entry!(
        &h,
        "host.labels_set",
        console
            .set_host_labels(a, host, "Prod, eu")
            .await
            .expect("labels")
    );
    assert!(groups.contains(&"prod".to_owned()), "{groups:?}");

    let window = one_entry!(
        &h,
        "window.added",
        console
            .add_window(
                a,
                WindowRow {
                    id: 0,
                    group_name: "esync".into(),
                    weekdays: "sat,sun".into(),
                    start_minute: 22 * 60,
                    end_minute: 24 * 60,
                    utc_offset_minutes: 60,
                },
            )
            .await
            .expect("window")
    );
    one_entry!(
        &h,
        "window.deleted",
        console.delete_window(a, window.id).await.expect("delete")
    );

    let ca = TestCa::new("Console CA");
    let cert = ca.server(&["esync.example.test"], 400);
    let upload = UploadRequest {
        pfx_base64: None,
        password: None,
        certificate_pem: Some(cert.cert_pem.clone()),
        key_pem: Some(cert.key_pem.clone().into()),
        chain_pem: Some(ca.pem.clone()),
        key_password: None,
    };
    let renewal = one_entry!(
        &h,
        "renewal.uploaded",
        console.upload_renewal(o, &upload).await.expect("upload")
    );
    let truncated = UploadRequest {
        pfx_base64: None,
        password: None,
        certificate_pem: Some(cert.cert_pem[..cert.cert_pem.len() / 2].to_owned()),
        key_pem: None,
        chain_pem: None,
        key_password: None,
    };
    one_entry!(&h, "renewal.refused", {
        assert!(matches!(
            console.upload_renewal(o, &truncated).await,
            Err(Error::Invalid(_))
        ));
    });
    one_entry!(
        &h,
        "renewal.preflight",
        console.preflight(o, renewal.id).await.expect("preflight")
    );
    let rollout = one_entry!(
        &h,
        "rollout.created",
        console
            .create_rollout(
                o,
                &RolloutRequest {
                    renewal_id: renewal.id,
                    ..RolloutRequest::default()
                },
            )
            .await
            .expect("rollout")
    );
    one_entry!(
        &h,
        "rollout.pause",
        console
            .control_rollout(o, rollout.id, Control::Pause)
            .await
            .expect("pause")
    );
    // A second pause is a conflict, and nothing is written.
    let before = audit_count(&h).await;
    assert!(matches!(
        console.control_rollout(o, rollout.id, Control::Pause).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(audit_count(&h).await, before);

    let mut settings = console.current_alert_settings(a).await;
    settings.smtp.host = "127.0.0.1".into();
    settings.smtp.port = 9; // nothing listens: the test email fails, and says so
    settings.smtp.security = certfleet_server::alerts::settings::Security::None;
    settings.recipients = vec!["ops@example.test".into()];
    one_entry!(
        &h,
        "alerts.settings_saved",
        console
            .save_alert_settings(a, &settings, Some("smtp-secret".to_owned().into()))
            .await
            .expect("save")
    );
    one_entry!(&h, "alerts.test_email", {
        assert!(
            console
                .send_test_email(a, "ops@example.test")
                .await
                .is_err()
        );
    });
    let view = console.alerts(a).await.expect("alerts");
    assert!(view.password_set && view.saved_on_page);

    one_entry!(
        &h,
        "agent.revoked",
        console.revoke_agent(a, &agent).await.expect("revoke")
    );
    // Revoking again changes nothing and writes nothing.
    let before = audit_count(&h).await;
    console.revoke_agent(a, &agent).await.expect("again");
    assert_eq!(audit_count(&h).await, before);
}

#[tokio::test]
async fn a_role_is_proven_from_the_session_as_the_store_holds_it_now() {
    let h = harness().await;
    let console = h.state.console();
    let admin = caller(&console, &h, "ada", Role::Admin).await;
    let viewer = caller(&console, &h, "val", Role::Viewer).await;
    assert!(viewer.can::<Viewer>().is_ok());
    assert!(matches!(
        viewer.can::<Operator>(),
        Err(Error::Forbidden(Refusal::Role {
            needed: "operator",
            held: "viewer"
        }))
    ));

    // A token checked again after an admin changed the role carries the new role.
    let token = console
        .login(Edge::Api, None, "val", PASSWORD)
        .await
        .expect("login")
        .token;
    console
        .set_role(
            admin.can::<Admin>().expect("admin"),
            viewer.id(),
            Role::Operator,
        )
        .await
        .expect("promote");
    let again = console.authenticate(&token).await.expect("session");
    assert!(again.can::<Operator>().is_ok());

    // A disabled user's session stops working at once; a forged one never did.
    console
        .set_disabled(admin.can::<Admin>().expect("admin"), viewer.id(), true)
        .await
        .expect("disable");
    assert!(matches!(
        console.authenticate(&token).await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        console
            .authenticate("eyJhbGciOiJIUzI1NiJ9.e30.forged")
            .await,
        Err(Error::Unauthenticated)
    ));

    // The last active admin cannot be demoted or disabled.
    let a = admin.can::<Admin>().expect("admin");
    let first = h
        .state
        .store
        .user_by_name("admin")
        .await
        .expect("read")
        .expect("first admin");
    console
        .set_disabled(a, first.id, true)
        .await
        .expect("one of two");
    assert!(matches!(
        console.set_role(a, admin.id(), Role::Viewer).await,
        Err(Error::Invalid(m)) if m.contains("one active admin")
    ));
}
