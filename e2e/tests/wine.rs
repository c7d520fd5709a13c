//! The Windows agent for real, under Wine (Debian's wine64): certificate files, Wine's
//! LocalMachine stores (crypt32, backed by its registry), an eSync Apache tree at its real
//! path, and the agent as a service under Wine's service control manager, connected over
//! mTLS to a Linux console, and a Sage 300 connector installation found through the SCM.
//! HTTP.sys keeps no SSL configuration in Wine: the tests say what the agent reports then.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use certfleet_e2e::api::Api;
use certfleet_e2e::wine::{Wine, windows_path};
use certfleet_e2e::{Console, wait_for};
use serde_json::Value;

const PASSWORD: &str = "Legacy-Pa55";
/// The fixtures' leaf, `sage.example.test` (the same in every PFX fixture).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/certkit/tests/fixtures")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn leaf_thumbprint() -> Result<String> {
    use sha1::Digest;
    let der = pem::parse(std::fs::read_to_string(fixture("leaf.pem"))?)?.into_contents();
    Ok(hex::encode_upper(sha1::Sha1::digest(&der)))
}

fn store_list(wine: &Wine) -> Result<Vec<Value>> {
    let out = wine.agent(&["store", "list", "--store", "my", "--json"], &[])?;
    if !out.status.success() {
        bail!("store list failed: {}", text(&out.stderr));
    }
    Ok(serde_json::from_slice::<Vec<Value>>(&out.stdout)?)
}

fn import(wine: &Wine, pfx: &Path, password: &str) -> Result<std::process::Output> {
    wine.agent(
        &[
            "store",
            "import",
            &windows_path(pfx),
            "--password-env",
            "PFX_PASSWORD",
        ],
        &[("PFX_PASSWORD", password)],
    )
}

/// Enrols the Windows agent with `console` into a data folder under `dir`; returns the
/// folder and its Windows path.
fn enroll(wine: &Wine, console: &Console, dir: &Path) -> Result<(PathBuf, String)> {
    let data = dir.join("agent-data");
    let data_win = windows_path(&data);
    let token_file = dir.join("enrol.token");
    std::fs::write(&token_file, console.create_token()?)?;
    let out = wine.agent(
        &[
            "enroll",
            "--server",
            &console.gateway_url(),
            "--token-file",
            &windows_path(&token_file),
            "--data-dir",
            &data_win,
        ],
        &[],
    )?;
    if !out.status.success() {
        bail!("enroll: {}{}", text(&out.stdout), text(&out.stderr));
    }
    Ok((data, data_win))
}

/// An eSync installation as its installer lays it out: `C:\eSync\Apache24`, CRLF line ends,
/// SRVROOT defined, mod_ssl commented out in httpd.conf, the TLS site in an included file.
fn esync_tree(wine: &Wine, name: &str, port: u16, files: &EsyncFiles) -> Result<PathBuf> {
    let root = wine.drive_c("C:\\eSync\\Apache24");
    std::fs::create_dir_all(root.join("conf/extra"))?;
    std::fs::create_dir_all(root.join("conf/ssl"))?;
    let crlf = |s: &str| s.replace('\n', "\r\n");
    std::fs::write(
        root.join("conf/httpd.conf"),
        crlf(
            "Define SRVROOT \"C:/eSync/Apache24\"\nServerRoot \"${SRVROOT}\"\nListen 80\n#LoadModule ssl_module modules/mod_ssl.so\nInclude conf/extra/httpd-ssl.conf\n",
        ),
    )?;
    std::fs::write(
        root.join("conf/extra/httpd-ssl.conf"),
        crlf(&format!(
            "Listen 127.0.0.1:{port}\n<VirtualHost _default_:{port}>\n  ServerName {name}\n  SSLEngine on\n  SSLCertificateFile \"${{SRVROOT}}/conf/ssl/server.crt\"\n  SSLCertificateKeyFile \"${{SRVROOT}}/conf/ssl/server.key\"\n  SSLCertificateChainFile \"${{SRVROOT}}/conf/ssl/chain.crt\"\n</VirtualHost>\n"
        )),
    )?;
    std::fs::write(root.join("conf/ssl/server.crt"), &files.certificate)?;
    std::fs::write(root.join("conf/ssl/server.key"), &files.key)?;
    std::fs::write(root.join("conf/ssl/chain.crt"), &files.chain)?;
    Ok(root)
}

/// The PEM texts the eSync site's files start with.
struct EsyncFiles {
    certificate: String,
    key: String,
    chain: String,
}

#[test]
fn the_windows_agent_reads_pfx_files_works_the_machine_stores_and_scans_an_esync_tree() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let Some(wine) = Wine::prepare(dir.path())? else {
        return Ok(());
    };
    let thumbprint = leaf_thumbprint()?;

    // inspect: the legacy (RC2-40 / 3DES) PFX as Windows exports it.
    let out = wine.agent(
        &[
            "inspect",
            &windows_path(&fixture("windows-legacy.pfx")),
            "--password-env",
            "PFX_PASSWORD",
        ],
        &[("PFX_PASSWORD", PASSWORD)],
    )?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&thumbprint),
        "{}",
        text(&out.stdout)
    );

    // A wrong password: refused, and nothing lands in the store.
    let out = import(&wine, &fixture("modern.pfx"), "not-it")?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("wrong password"),
        "{}",
        text(&out.stderr)
    );
    assert!(store_list(&wine)?.is_empty());

    for pfx in ["windows-legacy.pfx", "modern.pfx"] {
        let out = import(&wine, &fixture(pfx), PASSWORD)?;
        assert!(out.status.success(), "{pfx}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&thumbprint),
            "{}",
            text(&out.stdout)
        );
        let listed = store_list(&wine)?;
        let ours: Vec<&Value> = listed
            .iter()
            .filter(|c| c["thumbprint"] == thumbprint.as_str())
            .collect();
        assert_eq!(ours.len(), 1, "{pfx}: {listed:?}");
        // Wine links the key (CERT_KEY_PROV_INFO_PROP_ID) but cannot open it: association
        // is asserted, usability is what Wine reports.
        assert_eq!(ours[0]["private_key"], "associated", "{pfx}: {listed:?}");
        assert_eq!(
            ours[0]["subject"]
                .as_str()
                .map(|s| s.contains("sage.example.test")),
            Some(true)
        );
        if pfx == "windows-legacy.pfx" {
            let out = wine.agent(&["store", "remove", &thumbprint, "--store", "my"], &[])?;
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(store_list(&wine)?.is_empty(), "removed");
            let out = wine.agent(&["store", "remove", &thumbprint, "--store", "my"], &[])?;
            assert_eq!(out.status.code(), Some(2), "removing it twice is an error");
        }
    }
    // The issuer went to CA; the self-signed root was not trusted on the side.
    let ca = wine.agent(&["store", "list", "--store", "ca", "--json"], &[])?;
    assert!(
        text(&ca.stdout).contains("Fixture Intermediate CA"),
        "{}",
        text(&ca.stdout)
    );

    // scan: the store's certificate and the eSync site, with Windows paths.
    esync_tree(
        &wine,
        "sage.example.test",
        44300,
        &EsyncFiles {
            certificate: std::fs::read_to_string(fixture("leaf.pem"))?,
            key: std::fs::read_to_string(fixture("key-pkcs8.pem"))?,
            chain: std::fs::read_to_string(fixture("chain.pem"))?,
        },
    )?;
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[[apache]]\nconfig = 'C:\\eSync\\Apache24\\conf\\httpd.conf'\n",
    )?;
    let out = wine.agent(&["scan", "--config", &windows_path(&config), "--json"], &[])?;
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let snapshot: Value = serde_json::from_slice(&out.stdout)?;
    let endpoints = snapshot["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let store = endpoints
        .iter()
        .find(|e| e["kind"] == "store")
        .unwrap_or_else(|| panic!("no store endpoint: {snapshot:#}"));
    assert_eq!(store["key"], format!("store:MY:{thumbprint}"));
    let site = endpoints
        .iter()
        .find(|e| e["kind"] == "apache")
        .unwrap_or_else(|| panic!("no eSync site: {snapshot:#}"));
    assert_eq!(site["name"], "sage.example.test", "{site:#}");
    let from = site["config_path"].as_str().unwrap_or_default();
    assert!(
        from.starts_with("C:") && from.ends_with("httpd-ssl.conf"),
        "{from}"
    );
    assert_eq!(
        site["configured_sha256"], store["configured_sha256"],
        "{site:#}"
    );
    // Nothing listens on 44300: the probe fails, which is reported, not fatal.
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

#[test]
fn the_windows_agent_runs_as_a_service_and_its_inventory_reaches_a_linux_console() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Some(wine) = Wine::prepare(dir.path())? else {
        return Ok(());
    };
    let console = Console::start(&dir.path().join("console"))?;
    let (data, data_win) = enroll(&wine, &console, dir.path())?;
    std::fs::write(
        data.join("agent.toml"),
        "rescan_secs = 2\ngroups = [\"sage\"]\n",
    )?;
    let out = import(&wine, &fixture("modern.pfx"), PASSWORD)?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = wine.agent(&["service", "install", "--data-dir", &data_win], &[])?;
    assert!(
        out.status.success(),
        "install: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = wine.agent(&["service", "status"], &[])?;
    assert!(
        text(&out.stdout).contains("running"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Wine's SCM keeps the recovery actions but cannot report them (124, invalid level);
    // Windows lists "10 s, 60 s, 300 s".
    let status = text(&out.stdout);
    assert!(
        status.contains("10 s") || status.contains("with error 124"),
        "recovery actions: {status}"
    );

    let api = Api::admin(&console)?;
    let thumbprint = leaf_thumbprint()?;
    let found = wait_for(
        "the service's inventory in the console",
        Duration::from_secs(60),
        || {
            let items = api.get("/api/v1/certificates").ok()?.body["items"]
                .as_array()?
                .clone();
            items
                .into_iter()
                .find(|c| c["thumbprint"] == thumbprint.as_str())
        },
    );
    let log = std::fs::read_to_string(data.join("agent.log")).unwrap_or_default();
    let found = found
        .map_err(|e| anyhow::anyhow!("{e}\nagent.log:\n{log}\nconsole:\n{}", console.log_text()))?;
    assert!(
        found["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("sage.example.test"),
        "{found:#}"
    );

    let out = wine.agent(&["service", "stop"], &[])?;
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    let out = wine.agent(&["service", "status"], &[])?;
    assert!(
        text(&out.stdout).contains("stopped"),
        "{}",
        text(&out.stdout)
    );
    // Started again after a stop: the waits on the SCM's state transitions that a restart
    // (the eSync Apache's, after a deployment) is made of.
    let out = wine.agent(&["service", "start"], &[])?;
    assert!(out.status.success(), "start again: {}", text(&out.stderr));
    let out = wine.agent(&["service", "status"], &[])?;
    assert!(
        text(&out.stdout).contains("running"),
        "{}",
        text(&out.stdout)
    );
    // Uninstall stops a running service first.
    let out = wine.agent(&["service", "uninstall"], &[])?;
    assert!(out.status.success(), "uninstall: {}", text(&out.stderr));
    let out = wine.agent(&["service", "status"], &[])?;
    assert_eq!(out.status.code(), Some(2), "gone: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("1060"), "{}", text(&out.stderr));
    Ok(())
}

/// Serves, on every connection, whatever certificate and key the eSync tree's files hold
/// now: the Linux stand-in for Apache (Wine runs no Apache), so the agent's verification on
/// the live port sees what its deployment wrote.
fn serve_files(listener: std::net::TcpListener, ssl_dir: PathBuf) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    std::thread::spawn(move || {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let read = || -> Result<rustls::ServerConnection> {
                let mut chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_file_iter(ssl_dir.join("server.crt"))?
                        .collect::<Result<_, _>>()?;
                chain.extend(
                    CertificateDer::pem_file_iter(ssl_dir.join("chain.crt"))?
                        .collect::<Result<Vec<_>, _>>()?,
                );
                let key = PrivateKeyDer::from_pem_file(ssl_dir.join("server.key"))?;
                let config = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)?;
                Ok(rustls::ServerConnection::new(std::sync::Arc::new(config))?)
            };
            if let Ok(mut conn) = read() {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                while conn.is_handshaking() {
                    if conn.complete_io(&mut tcp).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

#[test]
fn a_rollout_to_the_windows_agent_restarts_the_esync_apache_service_through_the_scm() -> Result<()>
{
    const NAME: &str = "esync.example.test";
    const SERVICE: &str = "eSync Apache Web Server";
    let dir = tempfile::tempdir()?;
    let Some(wine) = Wine::prepare(dir.path())? else {
        return Ok(());
    };
    let console = Console::start(&dir.path().join("console"))?;
    let api = Api::admin(&console)?;
    let ca = certfleet_e2e::pki::TestCa::new("Wine CA");
    let old = ca.server(&[NAME], 20);

    // The eSync tree with a TLS site on a port the Linux stand-in serves.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let root = esync_tree(
        &wine,
        NAME,
        port,
        &EsyncFiles {
            certificate: old.cert_pem.clone(),
            key: old.key_pem.clone(),
            chain: ca.pem.clone(),
        },
    )?;
    serve_files(listener, root.join("conf/ssl"));
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    assert_eq!(
        certfleet_e2e::api::served_sha256(address, NAME, &ca.pem)?,
        old.sha256
    );

    // The service the deployment restarts, installed as an installer would.
    let exe = wine.idle_service()?;
    let out = wine.run("sc", &["create", SERVICE, "binPath=", &exe])?;
    assert!(
        out.status.success(),
        "sc create: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = wine.run("sc", &["start", SERVICE])?;
    let starts_file = wine.drive_c("C:\\certfleet-test\\idle-service.starts");
    let starts = || {
        std::fs::read_to_string(&starts_file)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(
        out.status.success(),
        "sc start: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The agent, enrolled, as a service, watching the tree.
    let (data, data_win) = enroll(&wine, &console, dir.path())?;
    std::fs::write(
        data.join("agent.toml"),
        format!(
            "rescan_secs = 2\n\n[[apache]]\nconfig = 'C:\\eSync\\Apache24\\conf\\httpd.conf'\nconfig_test = [\"cmd.exe\", \"/c\", \"exit 0\"]\nservice = \"{SERVICE}\"\n"
        ),
    )?;
    let out = wine.agent(&["service", "install", "--data-dir", &data_win], &[])?;
    assert!(
        out.status.success(),
        "install: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let log = || {
        format!(
            "agent.log:\n{}\nconsole:\n{}",
            std::fs::read_to_string(data.join("agent.log")).unwrap_or_default(),
            console.log_text()
        )
    };
    wait_for(
        "the eSync site in the console",
        Duration::from_secs(60),
        || {
            let items = api.get("/api/v1/certificates").ok()?.body["items"]
                .as_array()?
                .clone();
            items
                .into_iter()
                .find(|c| c["sha256"] == old.sha256.as_str())
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", log()))?;

    // One click: the renewal goes to the Windows host, the files are replaced, the service
    // is restarted through the SCM, the new certificate is verified on the port.
    let new = ca.server(&[NAME], 365);
    let reply = api.post(
        "/api/v1/renewals",
        serde_json::json!({"certificate_pem": new.cert_pem, "key_pem": new.key_pem, "chain_pem": ca.pem}),
    )?;
    assert_eq!(reply.status, 201, "upload: {}", reply.body);
    let renewal = reply.body["id"].as_i64().unwrap_or_default();
    let reply = api.post(
        "/api/v1/rollouts",
        serde_json::json!({"renewal_id": renewal}),
    )?;
    assert_eq!(reply.status, 201, "rollout: {}", reply.body);
    let id = reply.body["id"].as_i64().unwrap_or_default();
    let done = wait_for("the rollout to end", Duration::from_secs(120), || {
        let body = api.get(&format!("/api/v1/rollouts/{id}")).ok()?.body;
        ["succeeded", "failed"]
            .contains(&body["state"].as_str().unwrap_or(""))
            .then_some(body)
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", log()))?;
    assert_eq!(done["state"], "succeeded", "{done:#}\n{}", log());
    assert_eq!(
        certfleet_e2e::api::served_sha256(address, NAME, &ca.pem)?,
        new.sha256
    );
    // Stopped and started again by the agent through the SCM: a second start of the service.
    assert_eq!(starts(), 2, "the service's starts\n{}", log());
    let _ = wine.agent(&["service", "uninstall"], &[])?;
    Ok(())
}

/// The connector's install folder, as its installer names it.
const SAGE_FOLDER: &str = "C:\\Program Files (x86)\\Sage 300 Connector Agent";

#[test]
fn the_windows_agent_finds_a_sage_300_connector_through_the_scm_and_scans_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Some(wine) = Wine::prepare(dir.path())? else {
        return Ok(());
    };
    // The installation at its real path: the connector's executable (the idle service
    // stands in for it) and its .exe.config with BOM and CRLF.
    let folder = wine.drive_c(SAGE_FOLDER);
    std::fs::create_dir_all(&folder)?;
    let idle = wine.idle_service()?;
    std::fs::copy(
        wine.drive_c(&idle),
        folder.join("Sage300IntegrationService.exe"),
    )?;
    let config = folder.join("Sage300IntegrationService.exe.config");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <appSettings>\r\n    \
          <add key=\"ServiceUri\" value=\"https://sage.example.test:4207\" />\r\n  \
          </appSettings>\r\n</configuration>\r\n",
    );
    std::fs::write(&config, &bytes)?;
    // Registered with the SCM as the installer does; agent.toml names no [[sage300]].
    let exe = format!("\"{SAGE_FOLDER}\\Sage300IntegrationService.exe\"");
    let out = wine.run(
        "sc",
        &["create", "Sage 300 Connector Agent", "binPath=", &exe],
    )?;
    assert!(
        out.status.success(),
        "sc create: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The certificate in My that a binding would name.
    let out = import(&wine, &fixture("modern.pfx"), PASSWORD)?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(&agent_toml, "groups = [\"sage\"]\n")?;
    // Wine's services.exe may still be settling right after `sc create`: a scan that does
    // not see the service yet is repeated (twice at most), not taken as the answer.
    let mut attempt = 0;
    let (out, snapshot, endpoints) = loop {
        attempt += 1;
        let out = wine.agent(
            &["scan", "--config", &windows_path(&agent_toml), "--json"],
            &[("CERTFLEET_LOG", "certfleet_agent=debug")],
        )?;
        let snapshot: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| anyhow::anyhow!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))?;
        let endpoints = snapshot["endpoints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if attempt >= 3 || endpoints.iter().any(|e| e["kind"] == "sage300") {
            break (out, snapshot, endpoints);
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let sage = endpoints
        .iter()
        .find(|e| e["kind"] == "sage300")
        .unwrap_or_else(|| {
            let keys: Vec<&Value> = endpoints.iter().map(|e| &e["key"]).collect();
            panic!(
                "no sage300 endpoint among {keys:?}; the agent said: {}",
                text(&out.stderr)
            )
        });
    assert_eq!(sage["key"], "sage300:4207", "{sage}");
    assert_eq!(sage["name"], "sage.example.test", "{sage}");
    let config_path = format!("{SAGE_FOLDER}\\Sage300IntegrationService.exe.config");
    assert!(
        sage["config_path"]
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case(&config_path)),
        "found through the SCM at its real path: {sage}"
    );
    let findings = sage["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().any(|f| f["code"] == "sage_installation"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("https://sage.example.test:4207"))),
        "{sage}"
    );
    // Wine's HTTP Server API keeps no SSL configuration: the query finds nothing, so the
    // agent reports the port unbound (on Windows it would name the binding). Said, not hidden.
    let unbound = findings.iter().any(|f| f["code"] == "sage_no_binding");
    let unreadable = sage["errors"].as_array().is_some_and(|e| {
        e.iter()
            .any(|m| m.as_str().is_some_and(|m| m.contains("HTTP.sys")))
    });
    assert!(unbound || unreadable, "{sage}");
    // The store part: the imported certificate is an endpoint of kind store.
    let thumbprint = leaf_thumbprint()?;
    assert!(
        endpoints
            .iter()
            .any(|e| e["key"] == format!("store:MY:{thumbprint}").as_str()),
        "{snapshot}"
    );
    assert_eq!(std::fs::read(&config)?, bytes, "scan leaves the file alone");
    Ok(())
}

/// The client role under Wine: the trust check through Wine's crypt32 chain engine
/// (`CertGetCertificateChain` + the SSL policy) against its LocalMachine\Root, before and
/// after the server's CA is added there with the agent's own store command, and removed.
#[test]
fn the_windows_agent_judges_a_servers_chain_with_the_machines_chain_engine() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Some(wine) = Wine::prepare(dir.path())? else {
        return Ok(());
    };
    let ca = certfleet_e2e::pki::TestCa::new("Example Wine Root");
    let cert = ca.connector(&["sage01.example.test"], 397);
    let address = certfleet_e2e::listener::serve_tls(&cert, "");
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!("[[trust]]\nendpoint = \"{address}\"\nserver_name = \"sage01.example.test\"\n"),
    )?;
    let scan = |wine: &Wine| -> Result<(Option<i32>, Value)> {
        let out = wine.agent(&["scan", "--config", &windows_path(&config), "--json"], &[])?;
        let snapshot: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| anyhow::anyhow!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))?;
        Ok((out.status.code(), snapshot["trust"][0].clone()))
    };
    let (status, before) = scan(&wine)?;
    assert_eq!(before["verdict"], "unknown_root", "{before:#}");
    assert_eq!(before["store"], "LocalMachine\\Root", "{before:#}");
    assert!(
        before["reason"]
            .as_str()
            .is_some_and(|r| r.contains("0x800B0109") || r.contains("0x800B010A")),
        "the chain engine's own code (CERT_E_UNTRUSTEDROOT, or CERT_E_CHAINING read from the \
         chain's status where Wine's SSL policy passes the chain): {before:#}"
    );
    assert_eq!(status, Some(1), "untrusted: scan fails");

    let root_file = dir.path().join("root.pem");
    std::fs::write(&root_file, &ca.pem)?;
    let out = wine.agent(
        &["store", "add", &windows_path(&root_file), "--store", "root"],
        &[],
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, after) = scan(&wine)?;
    assert_eq!(after["verdict"], "trusted", "{after:#}");
    assert_eq!(after["revocation"], "cache_only", "{after:#}");
    assert_eq!(status, Some(0), "{after:#}");

    let thumbprint = {
        use sha1::Digest;
        let der = pem::parse(&ca.pem)?.into_contents();
        hex::encode_upper(sha1::Sha1::digest(&der))
    };
    let out = wine.agent(&["store", "remove", &thumbprint, "--store", "root"], &[])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, removed) = scan(&wine)?;
    assert_eq!(removed["verdict"], "unknown_root", "{removed:#}");
    Ok(())
}
