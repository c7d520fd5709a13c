//! Renewals without uploads, for real: a console whose `[[renewals.policy]]` renews the
//! `esync` group from its own issuing CA, a Debian apache2 on loopback watched by a real
//! agent. Nobody clicks: the endpoint is past its renewal point, the console asks the host
//! for a request for a key the host makes and keeps, signs it, rolls it out, and the port is
//! checked with an independent TLS client trusting only the issuing CA.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::Value;

const NAME: &str = "esync.example.test";

fn policy(domains: &str) -> String {
    format!(
        "[{{group = \"esync\", source = \"internal_ca\", validity_days = 90, \
         renew_before_days = 30, allowed_domains = [{domains}]}}]"
    )
}

fn issuances(api: &Api) -> Vec<Value> {
    api.get("/api/v1/renewals/issued")
        .ok()
        .and_then(|r| r.body.as_array().cloned())
        .unwrap_or_default()
}

/// A real Apache for `name` serving `cert`, and a real agent watching it (answering HTTP-01
/// on `http_port` when given), its data folder under `dir`.
fn site(
    console: &Console,
    dir: &std::path::Path,
    ca: &TestCa,
    cert: &certfleet_e2e::pki::ServerCert,
    name: &str,
    http_port: Option<u16>,
) -> anyhow::Result<(Apache, Agent)> {
    site_on(console, dir, ca, cert, name, http_port, Port80::Agent)
}

/// Who holds the HTTP-01 port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port80 {
    /// Free: the agent listens on it.
    Agent,
    /// Apache's (as on an eSync server): the agent makes Apache answer.
    Apache,
}

fn site_on(
    console: &Console,
    dir: &std::path::Path,
    ca: &TestCa,
    cert: &certfleet_e2e::pki::ServerCert,
    name: &str,
    http_port: Option<u16>,
    port80: Port80,
) -> anyhow::Result<(Apache, Agent)> {
    let apache_http = http_port.filter(|_| port80 == Port80::Apache);
    let apache = Apache::start_with_http(
        &dir.join("apache"),
        free_port()?,
        apache_http,
        name,
        cert,
        &ca.pem,
    )?;
    let mut config = apache.agent_config(None);
    if let Some(port) = http_port {
        // Where pebble looks (port 80 of the name in production).
        config = format!("acme_http_listen = \"127.0.0.1:{port}\"\n{config}");
    }
    let agent = Agent::start(console, &dir.join("agent"), &config)?;
    Ok((apache, agent))
}

/// The first renewal that ended (verified or failed), or the logs when none did.
fn ended(api: &Api, console: &Console, agent: &Agent, secs: u64) -> anyhow::Result<Value> {
    wait_for("a renewal to end", Duration::from_secs(secs), || {
        issuances(api)
            .into_iter()
            .find(|i| i["state"] == "verified" || i["state"] == "failed")
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}: {:?}\nconsole log:\n{}\nagent log:\n{}",
            issuances(api),
            console.log_text(),
            agent.log_text()
        )
    })
}

#[test]
fn an_endpoint_past_its_renewal_point_is_renewed_by_the_internal_ca_with_no_click()
-> anyhow::Result<()> {
    if !Apache::available() {
        eprintln!("skipped: apache2 is not installed");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Old CA");
    // 20 days left, the policy renews 30 days before expiry: due now.
    let old = ca.server(&[NAME], 20);
    let policy = policy("\"example.test\"");
    let console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "1"),
            ("CERTFLEET_RENEWALS__POLICY", &policy),
        ],
    )?;
    let api = Api::admin(&console)?;
    let (mut apache, agent) = site(&console, temp.path(), &ca, &old, NAME, None)?;
    let agent_dir = temp.path().join("agent");
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], apache.port));
    let done = ended(&api, &console, &agent, 120)?;
    assert_eq!(done["state"], "verified", "{done}\n{}", console.log_text());
    assert_eq!(done["started_by"], "renewal scheduler", "{done}");
    assert_eq!(done["names"], serde_json::json!([NAME]), "{done}");

    // What the port serves is the issued certificate, trusted through the issuing CA only.
    let renewal = api
        .get(&format!("/api/v1/renewals/{}", done["renewal_id"]))?
        .body;
    assert_eq!(renewal["source"], "internal_ca", "{renewal}");
    assert_eq!(renewal["key_agent_id"], agent.id()?, "{renewal}");
    let issuing_ca = renewal["root_pem"].as_str().unwrap_or_default().to_owned();
    assert!(issuing_ca.contains("BEGIN CERTIFICATE"), "{renewal}");
    let served = served_sha256(address, NAME, &issuing_ca)?;
    assert_eq!(Some(served.as_str()), renewal["sha256"].as_str());
    assert!(
        served_sha256(address, NAME, &ca.pem).is_err(),
        "the old CA no longer vouches for what the port serves"
    );

    // The key never left the host: the console's answers and its database hold none, the
    // agent's pending copy is gone once deployed, and the deployed key is the host's own.
    let text = renewal.to_string();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let pending: Vec<_> = std::fs::read_dir(agent_dir.join("pending-keys"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(pending.is_empty(), "pending keys left: {pending:?}");
    let deployed_key = std::fs::read_to_string(apache.key_path())?;
    let key_der = pem::parse(&deployed_key)?.into_contents();
    let data = temp.path().join("console/data");
    for entry in std::fs::read_dir(&data)?.flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !bytes
                .windows(key_der.len())
                .any(|w| w == key_der.as_slice()),
            "{} holds the host's private key",
            entry.path().display()
        );
    }

    // Renewed, the endpoint is not due again: no second renewal starts.
    std::thread::sleep(Duration::from_secs(4));
    let all = issuances(&api);
    assert_eq!(all.len(), 1, "{all:?}");
    let schedule = api.get("/api/v1/renewals/schedule")?.body;
    let row = &schedule[0];
    assert_eq!(row["current_sha256"], renewal["sha256"], "{schedule}");
    assert!(
        row["renews_at"].as_i64().unwrap_or_default()
            > time::OffsetDateTime::now_utc().unix_timestamp(),
        "{schedule}"
    );
    // The Renewals page shows it, server-rendered, with the last renewal's state.
    let page = api.page("/renewals")?;
    assert_eq!(page.status, 200);
    let table = page
        .text
        .split("id=\"schedule\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        table.contains(NAME) && table.contains("internal CA"),
        "{}",
        page.text
    );
    assert!(
        table.contains("verified") && table.contains("Renew now"),
        "{table}"
    );
    let overview = api.page("/")?;
    let next = overview
        .text
        .split("id=\"next-renewals\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        next.contains(NAME),
        "the overview's next renewals: {}",
        overview.text
    );

    // The issuing CA, and which clients trust what it issued: a client machine that checks
    // the server against a bundle without it, then with it.
    let bundle = temp.path().join("client-bundle.pem");
    std::fs::write(&bundle, &ca.pem)?;
    let client_config = format!(
        "rescan_secs = 2\n[[trust]]\nendpoint = \"127.0.0.1:{}\"\nserver_name = \"{NAME}\"\nca_file = '{}'\n",
        apache.port,
        bundle.display()
    );
    let _client = Agent::start(&console, &temp.path().join("client"), &client_config)?;
    let verdict = |trusted: bool| {
        wait_for(
            "the client's check of the renewed server",
            Duration::from_secs(40),
            || {
                let view = api.get("/api/v1/renewals/issuing-ca").ok()?.body;
                let clients = view["clients"].as_array()?;
                (clients.len() == 1 && (clients[0]["verdict"] == "trusted") == trusted)
                    .then(|| view.clone())
            },
        )
    };
    let view = verdict(false)?;
    assert!(
        view["subject"]
            .as_str()
            .is_some_and(|s| s.contains("certfleet issuing CA")),
        "{view}"
    );
    assert_eq!(view["subordinate"], false, "{view}");
    assert_eq!(
        view["permitted"],
        serde_json::json!(["example.test"]),
        "{view}"
    );
    assert_eq!(view["clients"][0]["chain"][0], renewal["sha256"], "{view}");
    std::fs::write(&bundle, format!("{}{issuing_ca}", ca.pem))?;
    verdict(true)?;
    let page = api.page("/renewals")?;
    let section = page
        .text
        .split("id=\"issuing-ca\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        section.contains("certfleet issuing CA") && section.contains("trusted"),
        "{}",
        page.text
    );
    apache.stop();
    Ok(())
}

fn endpoint_count(api: &Api) -> usize {
    api.get("/api/v1/hosts")
        .ok()
        .and_then(|r| r.body.as_array().cloned())
        .map(|hosts| hosts.len())
        .unwrap_or_default()
}

#[test]
fn names_outside_the_policy_or_claimed_by_another_host_get_nothing_issued_and_are_mailed()
-> anyhow::Result<()> {
    if !Apache::available() {
        eprintln!("skipped: apache2 is not installed");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Old CA");
    let smtp_port = free_port()?;
    let smtp = certfleet_e2e::smtp::SmtpListener::start(temp.path(), smtp_port)?;
    let smtp_port = smtp_port.to_string();
    let policy = policy("\"example.test\"");
    let console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "1"),
            ("CERTFLEET_RENEWALS__POLICY", &policy),
            ("CERTFLEET_ALERTS__SMTP__HOST", "127.0.0.1"),
            ("CERTFLEET_ALERTS__SMTP__PORT", &smtp_port),
            ("CERTFLEET_ALERTS__SMTP__SECURITY", "none"),
            ("CERTFLEET_ALERTS__SMTP__FROM", "certfleet@example.test"),
            ("CERTFLEET_ALERTS__RECIPIENTS", r#"["ops@example.test"]"#),
            ("CERTFLEET_ALERTS__DIGEST_AT", "off"),
            ("CERTFLEET_ALERTS__SEND_SECS", "1"),
        ],
    )?;
    let api = Api::admin(&console)?;
    // The first host to serve esync.example.test owns the name; a second host that claims
    // it later, and a host whose name is outside the policy's domains, are both due.
    let first_cert = ca.server(&[NAME], 20);
    let (mut first, _a1) = site(
        &console,
        &temp.path().join("1"),
        &ca,
        &first_cert,
        NAME,
        None,
    )?;
    wait_for("the first host", Duration::from_secs(30), || {
        (endpoint_count(&api) == 1).then_some(())
    })?;
    let second_cert = ca.server(&[NAME], 20);
    let (mut second, _a2) = site(
        &console,
        &temp.path().join("2"),
        &ca,
        &second_cert,
        NAME,
        None,
    )?;
    let outside_name = "files.other.test";
    let outside_cert = ca.server(&[outside_name], 20);
    let (mut outside, _a3) = site(
        &console,
        &temp.path().join("3"),
        &ca,
        &outside_cert,
        outside_name,
        None,
    )?;

    let ended = wait_for("three renewals to end", Duration::from_secs(120), || {
        let all = issuances(&api);
        (all.len() == 3
            && all
                .iter()
                .all(|i| i["state"] == "verified" || i["state"] == "failed"))
        .then_some(all)
    })
    .map_err(|e| anyhow::anyhow!("{e}: {:?}\n{}", issuances(&api), console.log_text()))?;
    let by_state = |state: &str| -> Vec<String> {
        ended
            .iter()
            .filter(|i| i["state"] == state)
            .map(|i| i["detail"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(by_state("verified").len(), 1, "{ended:?}");
    let failed = by_state("failed");
    assert_eq!(failed.len(), 2, "{ended:?}");
    assert!(
        failed
            .iter()
            .any(|d| d.contains("served these names first")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|d| d.contains(outside_name) && d.contains("allowed_domains")),
        "{failed:?}"
    );
    // Nothing was issued for them: each still serves its old certificate.
    let served = |apache: &Apache| {
        served_sha256(
            std::net::SocketAddr::from(([127, 0, 0, 1], apache.port)),
            if apache.port == outside.port {
                outside_name
            } else {
                NAME
            },
            &ca.pem,
        )
    };
    assert_eq!(served(&second)?, second_cert.sha256);
    assert_eq!(served(&outside)?, outside_cert.sha256);
    assert!(
        served(&first).is_err(),
        "the first host was renewed by the issuing CA"
    );

    // Each refusal is mailed once, and not retried before retry_after_secs.
    let mails = wait_for("two renewal emails", Duration::from_secs(60), || {
        let m: Vec<String> = smtp
            .messages()
            .into_iter()
            .filter(|m| certfleet_e2e::smtp::subject(m).contains("renewal of"))
            .collect();
        (m.len() >= 2).then_some(m)
    })?;
    assert_eq!(mails.len(), 2, "{mails:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        issuances(&api).len(),
        3,
        "a refused renewal was started again"
    );
    first.stop();
    second.stop();
    outside.stop();
    Ok(())
}

/// One eSync Apache renewed over ACME by pebble, with the policy's `challenge`; the DNS hook
/// when it is dns-01.
fn renewed_over_acme(challenge: &str, port80: Port80) -> anyhow::Result<()> {
    use certfleet_e2e::pebble::Pebble;
    if !Apache::available() || !Pebble::available() {
        eprintln!("skipped: apache2 or pebble is not installed");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let http_port = free_port()?;
    let pebble = Pebble::start(&temp.path().join("pebble"), http_port)?;
    let ca = TestCa::new("Old CA");
    let old = ca.server(&[NAME], 20);
    let policy = format!(
        "[{{group = \"esync\", source = \"acme\", challenge = \"{challenge}\", \
         renew_before_days = 30, allowed_domains = [\"example.test\"]}}]"
    );
    let ca_file = pebble.ca_file.display().to_string();
    let hook = pebble.dns_hook(temp.path())?;
    let hook_toml = format!(
        "[{}]",
        hook.iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "1"),
            ("CERTFLEET_RENEWALS__POLICY", &policy),
            ("CERTFLEET_ACME__DIRECTORY", &pebble.directory),
            ("CERTFLEET_ACME__CA_FILE", &ca_file),
            ("CERTFLEET_ACME__CONTACT", r#"["mailto:ops@example.test"]"#),
            ("CERTFLEET_ACME__DNS_HOOK", &hook_toml),
            ("CERTFLEET_ACME__DNS_PROPAGATION_SECS", "0"),
        ],
    )?;
    let api = Api::admin(&console)?;
    let (mut apache, agent) = site_on(
        &console,
        temp.path(),
        &ca,
        &old,
        NAME,
        Some(http_port),
        port80,
    )?;
    let agent_dir = temp.path().join("agent");
    let done = ended(&api, &console, &agent, 180)?;
    assert_eq!(done["state"], "verified", "{done}\n{}", console.log_text());
    let renewal = api
        .get(&format!("/api/v1/renewals/{}", done["renewal_id"]))?
        .body;
    assert_eq!(renewal["source"], "acme", "{renewal}");
    assert!(
        renewal["issuer"]
            .as_str()
            .unwrap_or_default()
            .contains("Pebble"),
        "{renewal}"
    );
    // Verified on the wire against pebble's root of this run, and nothing else.
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], apache.port));
    let served = served_sha256(address, NAME, &pebble.root_pem()?)?;
    assert_eq!(Some(served.as_str()), renewal["sha256"].as_str());
    let pending: Vec<_> = std::fs::read_dir(agent_dir.join("pending-keys"))?
        .flatten()
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
    let hook_calls =
        std::fs::read_to_string(temp.path().join("dns-hook.py.calls")).unwrap_or_default();
    if challenge == "dns-01" {
        let record = format!("_acme-challenge.{NAME}");
        assert_eq!(
            hook_calls,
            format!("present {record}\ncleanup {record}\n"),
            "the hook set the record and took it away"
        );
    } else if port80 == Port80::Apache {
        assert!(
            hook_calls.is_empty(),
            "http-01 ran the DNS hook: {hook_calls}"
        );
        // Apache answered through the alias, which stays; the token's file is gone.
        let config = std::fs::read_to_string(apache.config_path())?;
        assert!(
            config.contains("Alias /.well-known/acme-challenge/"),
            "{config}"
        );
        let challenges = apache
            .config_path()
            .with_file_name("conf/certfleet/acme-challenge");
        let left: Vec<_> = std::fs::read_dir(&challenges)?.flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(
            agent.log_text().contains("added the ACME challenge alias"),
            "{}",
            agent.log_text()
        );
    } else {
        assert!(
            hook_calls.is_empty(),
            "http-01 ran the DNS hook: {hook_calls}"
        );
        // The challenge listener closed once the order was done.
        wait_for(
            "the challenge listener to close",
            Duration::from_secs(10),
            || {
                std::net::TcpStream::connect(("127.0.0.1", http_port))
                    .is_err()
                    .then_some(())
            },
        )?;
    }
    apache.stop();
    Ok(())
}

#[test]
fn an_endpoint_past_its_renewal_point_is_renewed_over_acme_with_http_01_answered_by_its_agent()
-> anyhow::Result<()> {
    renewed_over_acme("http-01", Port80::Agent)
}

#[test]
fn an_endpoint_whose_port_80_is_apaches_is_renewed_over_acme_with_http_01_through_an_alias()
-> anyhow::Result<()> {
    renewed_over_acme("http-01", Port80::Apache)
}

#[test]
fn an_endpoint_past_its_renewal_point_is_renewed_over_acme_with_dns_01_through_the_hook()
-> anyhow::Result<()> {
    renewed_over_acme("dns-01", Port80::Agent)
}

/// A TCP port that accepts and never answers: an ACME server that hangs.
fn black_hole() -> anyhow::Result<(std::net::TcpListener, u16)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

#[test]
fn a_console_and_agent_killed_between_the_request_and_the_certificate_reuse_the_kept_key()
-> anyhow::Result<()> {
    use certfleet_e2e::pebble::Pebble;
    if !Apache::available() || !Pebble::available() {
        eprintln!("skipped: apache2 or pebble is not installed");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let http_port = free_port()?;
    let pebble = Pebble::start(&temp.path().join("pebble"), http_port)?;
    let (_hole, hole_port) = black_hole()?;
    let ca = TestCa::new("Old CA");
    let old = ca.server(&[NAME], 20);
    let policy = "[{group = \"esync\", source = \"acme\", renew_before_days = 30, \
                  allowed_domains = [\"example.test\"]}]";
    let ca_file = pebble.ca_file.display().to_string();
    let hanging = format!("https://127.0.0.1:{hole_port}/dir");
    let mut console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "1"),
            ("CERTFLEET_RENEWALS__POLICY", policy),
            ("CERTFLEET_ACME__DIRECTORY", &hanging),
            ("CERTFLEET_ACME__CA_FILE", &ca_file),
        ],
    )?;
    let api = Api::admin(&console)?;
    let (mut apache, mut agent) = site(&console, temp.path(), &ca, &old, NAME, Some(http_port))?;
    let agent_dir = temp.path().join("agent");

    // The host made and kept its key and sent its request; the CA hangs. Both die here.
    let pending = agent_dir.join("pending-keys");
    let kept = wait_for("the host's pending key", Duration::from_secs(60), || {
        let entry = std::fs::read_dir(&pending)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".key"))?;
        Some((
            entry.file_name(),
            std::fs::read_to_string(entry.path()).ok()?,
        ))
    })?;
    let requested = issuances(&api);
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert_eq!(requested[0]["state"], "requested", "{requested:?}");
    console.kill();
    agent.kill();

    // Back, with a CA that answers: the same renewal goes on under the same request, and the
    // key the host deploys is the one it kept; nothing else was made.
    let agent = Agent::run(&agent_dir)?;
    console.restart_with_env(&[("CERTFLEET_ACME__DIRECTORY", &pebble.directory)])?;
    let done = ended(&api, &console, &agent, 180)?;
    assert_eq!(done["state"], "verified", "{done}\n{}", console.log_text());
    assert_eq!(done["request_id"], requested[0]["request_id"], "{done}");
    assert_eq!(issuances(&api).len(), 1);
    let deployed = std::fs::read_to_string(apache.key_path())?;
    assert_eq!(
        pem::parse(&deployed)?.contents(),
        pem::parse(&kept.1)?.contents(),
        "the deployed key is the one kept before the crash ({:?})",
        kept.0
    );
    assert_eq!(
        std::fs::read_dir(&pending)?.count(),
        0,
        "the pending copy is gone"
    );
    apache.stop();
    Ok(())
}
