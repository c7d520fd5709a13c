//! A Sage 300 server renewed end to end on Linux: a real console process; the agent's own
//! code (enrolled by the real binary, then run in this process) on a fake Windows host —
//! fake stores, service manager and HTTP.sys, whose loopback listener serves TLS from its
//! bindings. One click renews the connector's port; a renewal the port does not take is
//! rolled back with the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certfleet_agent::config::AgentConfig;
use certfleet_agent::sage300::fake_listener::{self, FakeHttpSys};
use certfleet_agent::sage300::{APP_ID, ConnectorConfig, DEFAULT_SERVICE};
use certfleet_certkit::Thumbprint;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_e2e::{Agent, Console, wait_for};
use certfleet_winhost::fake::{Behaviour, FakeHttpConfig, FakeMachine, FakeServices};
use certfleet_winhost::{BindingKey, HttpConfig, SslBinding};
use serde_json::{Value, json};

const FQDN: &str = "sage01.example.test";

struct SageServer {
    http: Arc<FakeHttpConfig>,
    listener: FakeHttpSys,
    services: Arc<FakeServices>,
    config: std::path::PathBuf,
    _runtime: tokio::runtime::Runtime,
}

fn der_and_key(cert: &ServerCert) -> (Vec<u8>, Vec<u8>) {
    let mut m = certfleet_certkit::read(cert.cert_pem.as_bytes(), None).expect("cert");
    m.merge(certfleet_certkit::read(cert.key_pem.as_bytes(), None).expect("key"));
    (
        m.certificates[0].der().to_vec(),
        m.keys[0].pkcs8_der().to_vec(),
    )
}

/// A Sage server with `old` bound to its connector's port, and its agent enrolled with
/// `console` and running.
fn sage_server(console: &Console, dir: &std::path::Path, old: &ServerCert) -> SageServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let FakeMachine {
        host,
        stores,
        services,
        http,
        ..
    } = FakeMachine::new();
    // The service manager knows the connector at the configured folder: discovered and
    // configured are one installation.
    services.install(
        DEFAULT_SERVICE,
        "LocalSystem",
        &format!(
            "\"{}\"",
            dir.join("Sage300IntegrationService.exe").display()
        ),
        Behaviour::Normal { pending_polls: 1 },
    );
    let listener = runtime.block_on(async {
        fake_listener::serve(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
            http.clone(),
            stores.clone(),
        )
    });
    let port = listener.address.port();
    let (der, key) = der_and_key(old);
    stores.insert_with_key(&der, &key);
    http.add_ssl_binding(&SslBinding::new(
        BindingKey::IpPort(SocketAddr::from(([0, 0, 0, 0], port))),
        Thumbprint::of(&der),
        APP_ID,
    ))
    .expect("bind the old certificate");
    let config = dir.join("Sage300IntegrationService.exe.config");
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        &config,
        format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  \
             <appSettings>\r\n    <add key=\"ServiceUri\" value=\"https://{FQDN}:{port}\" />\r\n  \
             </appSettings>\r\n</configuration>\r\n"
        ),
    )
    .expect("config");
    let agent_dir = dir.join("agent");
    let token = console.create_token().expect("token");
    Agent::enroll(&console.gateway_url(), &token, &agent_dir).expect("enrol");
    let agent_config = AgentConfig::parse(&format!(
        "rescan_secs = 2\ngroups = [\"sage\"]\n[[sage300]]\nconfig = '{}'\naddress = \
         '127.0.0.1:{port}'\n",
        config.display()
    ))
    .expect("agent.toml");
    let identity = certfleet_agent::identity::Identity::load(&agent_dir).expect("identity");
    runtime.spawn(async move {
        if let Err(e) = certfleet_agent::connection::run(identity, agent_config, host).await {
            eprintln!("the agent stopped: {e:#}");
        }
    });
    SageServer {
        http,
        listener,
        services,
        config,
        _runtime: runtime,
    }
}

fn upload(api: &Api, ca: &TestCa, cert: &ServerCert) -> i64 {
    let reply = api
        .post(
            "/api/v1/renewals",
            json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem, "chain_pem": ca.pem}),
        )
        .expect("upload");
    assert_eq!(reply.status, 201, "upload: {}", reply.body);
    reply.body["id"].as_i64().unwrap_or_default()
}

fn wait_for_rollout(api: &Api, id: i64) -> Value {
    wait_for("the rollout to end", Duration::from_secs(90), || {
        let body = api.get(&format!("/api/v1/rollouts/{id}")).ok()?.body;
        ["succeeded", "failed"]
            .contains(&body["state"].as_str().unwrap_or(""))
            .then_some(body)
    })
    .expect("the rollout ends")
}

/// Waits until the console lists the port's endpoint with `sha256` configured.
fn wait_for_endpoint(api: &Api, sha256: &str) {
    wait_for(
        "the Sage endpoint in the inventory",
        Duration::from_secs(30),
        || {
            let certs = api.get("/api/v1/certificates").ok()?.body;
            certs["items"]
                .as_array()?
                .iter()
                .any(|c| c["sha256"] == sha256)
                .then_some(())
        },
    )
    .expect("inventory");
}

fn sage_target(api: &Api, renewal: i64) -> Value {
    let plan = api
        .get(&format!("/api/v1/renewals/{renewal}/plan"))
        .expect("plan")
        .body;
    let proposed: Vec<Value> = plan
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["proposed"] == true)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(proposed.len(), 1, "{plan}");
    assert_eq!(proposed[0]["kind"], "sage300", "{plan}");
    assert_eq!(proposed[0]["problems"], json!([]), "{plan}");
    proposed[0].clone()
}

#[test]
fn one_click_renews_a_sage_300_connector_and_a_renewal_the_port_does_not_take_is_rolled_back() {
    let temp = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("Sage CA");
    let old = ca.connector(&[FQDN], 20);
    let console = Console::start(&temp.path().join("console")).expect("console");
    let api = Api::admin(&console).expect("admin");
    let sage = sage_server(&console, &temp.path().join("sage"), &old);
    let address = sage.listener.address;
    wait_for_endpoint(&api, &old.sha256);
    assert_eq!(
        served_sha256(address, FQDN, &ca.pem).expect("served"),
        old.sha256
    );

    // One click: upload, the plan proposes the connector's port, roll out.
    let new = ca.connector(&[FQDN], 365);
    let renewal = upload(&api, &ca, &new);
    let target = sage_target(&api, renewal);
    assert_eq!(
        target["endpoint_key"],
        format!("sage300:{}", address.port())
    );
    let (starts, _) = sage.services.requests(DEFAULT_SERVICE);
    let created = api
        .post("/api/v1/rollouts", json!({"renewal_id": renewal}))
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    let done = wait_for_rollout(&api, created.body["id"].as_i64().unwrap_or_default());
    assert_eq!(done["state"], "succeeded", "{done}\n{}", console.log_text());
    assert_eq!(
        served_sha256(address, FQDN, &ca.pem).expect("served"),
        new.sha256
    );
    let bound = sage
        .http
        .ssl_binding(&BindingKey::IpPort(SocketAddr::from((
            [0, 0, 0, 0],
            address.port(),
        ))))
        .expect("read")
        .expect("bound");
    assert_eq!(bound.app_id, APP_ID);
    assert_eq!(
        ConnectorConfig::read(&sage.config)
            .expect("config")
            .service_uri()
            .to_string(),
        format!("https://{FQDN}:{}", address.port())
    );
    assert_eq!(
        sage.services.requests(DEFAULT_SERVICE).0,
        starts + 1,
        "the connector's service was started once, through the service manager"
    );

    // A renewal the port does not take (HTTP.sys keeps serving what it served): rolled back,
    // verified, and the reason is on the rollout.
    sage.listener.freeze();
    let newer = ca.connector(&[FQDN], 400);
    let renewal = upload(&api, &ca, &newer);
    sage_target(&api, renewal);
    let created = api
        .post("/api/v1/rollouts", json!({"renewal_id": renewal}))
        .expect("create");
    let done = wait_for_rollout(&api, created.body["id"].as_i64().unwrap_or_default());
    assert_eq!(done["state"], "failed", "{done}");
    let target = &done["targets"][0];
    assert_eq!(target["state"], "rolled_back", "{done}");
    let reason = target["detail"].as_str().unwrap_or("");
    assert!(
        reason.contains("did not serve the new certificate"),
        "{reason}"
    );
    assert!(
        reason.contains("serves the old certificate again"),
        "{reason}"
    );
    // The same reason on the rollout's page, as the dashboard renders it.
    let id = created.body["id"].as_i64().unwrap_or_default();
    let page = wait_for(
        "the rollout page with the reason",
        Duration::from_secs(20),
        || {
            let page = api.page(&format!("/rollouts/{id}")).ok()?;
            (page.status == 200 && page.text.contains("did not serve the new certificate"))
                .then_some(page)
        },
    )
    .expect("the reason is on the rollout page");
    assert!(page.text.contains("rolled back"), "{}", page.text.len());
    sage.listener.thaw();
    assert_eq!(
        served_sha256(address, FQDN, &ca.pem).expect("served"),
        new.sha256,
        "the previous renewal is what the port serves again"
    );
}
