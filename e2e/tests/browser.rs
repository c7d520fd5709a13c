//! The web UI in Debian's headless Chromium against a real console with a real agent watching
//! a real Apache. Screenshots of each main page go to `<target>/screenshots/`.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::Api;
use certfleet_e2e::browser::Browser;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::smtp::{SmtpListener, subject};
use certfleet_e2e::{Agent, Console, free_port, wait_for};

const ADMIN_PASSWORD: &str = "a-long-admin-password";

/// Logs in through the login page; changes a one-time password when asked to.
fn log_in(
    browser: &Browser,
    base: &str,
    user: &str,
    password: &str,
    new_password: &str,
) -> anyhow::Result<()> {
    browser.goto(&format!("{base}/login"))?;
    browser.fill("#login-form input[name=username]", user)?;
    browser.fill("#login-form input[name=password]", password)?;
    browser.click("#login-form button[type=submit]")?;
    wait_for("the page after login", Duration::from_secs(20), || {
        let url = browser.url().ok()?;
        (!url.ends_with("/login")).then_some(url)
    })
    .map_err(|e| {
        let _ = browser.screenshot("login-failed");
        anyhow::anyhow!("{e}: {} at {:?}", browser.page_text(), browser.url())
    })?;
    if browser.url()?.ends_with("/password") {
        browser.fill("#password-form input[name=current]", password)?;
        browser.fill("#password-form input[name=new]", new_password)?;
        browser.click("#password-form button[type=submit]")?;
        wait_for("the overview", Duration::from_secs(20), || {
            let url = browser.url().ok()?;
            (!url.ends_with("/password")).then_some(())
        })?;
    }
    browser.text("#content h1")?;
    Ok(())
}

#[test]
fn an_admin_sees_the_fleet_filters_it_enrols_and_revokes() -> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Test eSync CA");
    let expiring = ca.server(&["esync.example.test"], 20);
    let _apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        "esync.example.test",
        &expiring,
        &ca.pem,
    )?;
    let healthy = ca.server(&["files.example.test"], 200);
    let files = temp.path().join("files");
    std::fs::create_dir_all(&files)?;
    std::fs::write(files.join("cert.pem"), &healthy.cert_pem)?;
    std::fs::write(files.join("key.pem"), &healthy.key_pem)?;

    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let api_check = Api::admin(&console)?;
    let agent = Agent::start(
        &console,
        &temp.path().join("agent"),
        &format!(
            "rescan_secs = 60\n[[apache]]\nconfig = \"{}\"\n[[pem]]\nname = \"files.example.test\"\ncertificate = \"{}\"\nkey = \"{}\"\n",
            _apache.config_path().display(),
            files.join("cert.pem").display(),
            files.join("key.pem").display()
        ),
    )?;
    wait_for("two certificates", Duration::from_secs(30), || {
        let n = api_check.get("/api/v1/certificates").ok()?.body["items"]
            .as_array()?
            .len();
        (n == 2).then_some(())
    })?;

    let browser = Browser::start(1280, 800, true)?;
    // Without a session every page leads to the login page.
    browser.goto(&format!("{base}/certificates"))?;
    wait_for("the login page", Duration::from_secs(20), || {
        browser.url().ok()?.ends_with("/login").then_some(())
    })?;
    browser.screenshot("login")?;
    // Api::admin already changed the one-time password.
    log_in(
        &browser,
        &base,
        "admin",
        "a-long-new-password-for-tests",
        ADMIN_PASSWORD,
    )?;
    browser.wait_hydrated()?;
    browser.wait_text("#count-month .count", "1")?;
    browser.wait_text("#count-healthy .count", "1")?;
    browser.wait_text("#urgent", "esync.example.test")?;
    browser.screenshot("overview")?;

    // The certificates table: both, then only the expiring one.
    browser.goto(&format!("{base}/certificates"))?;
    let table = browser.wait_text("#certificates", "files.example.test")?;
    assert!(table.contains("esync.example.test"), "{table}");
    assert!(
        table.contains("19 days left") || table.contains("20 days left"),
        "{table}"
    );
    browser.select("#filters select[name=status]", "expiring")?;
    browser.click("#filters button[type=submit]")?;
    wait_for("the filtered table", Duration::from_secs(20), || {
        let text = browser.text("#certificates").ok()?;
        (!text.contains("files.example.test") && text.contains("esync.example.test")).then_some(())
    })
    .map_err(|e| {
        let _ = browser.screenshot("filter-failed");
        anyhow::anyhow!("{e}: {} at {:?}", browser.page_text(), browser.url())
    })?;
    assert!(browser.url()?.contains("status=expiring"));
    browser.screenshot("certificates")?;
    // The CSV export follows the filter.
    let csv = browser
        .script("return fetch(document.querySelector('#csv').href).then(r => r.text());")?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csv.starts_with("status,subject,names,not_after"), "{csv}");
    assert!(
        csv.contains("esync.example.test") && !csv.contains("files.example.test"),
        "{csv}"
    );

    // The certificate page.
    browser.click("#certificates a[href^='/certificates/']")?;
    browser.wait_text("#certificate-title", "esync.example.test")?;
    let thumbprint = browser.text("#thumbprint code")?;
    assert_eq!(thumbprint.replace(' ', "").len(), 40, "{thumbprint}");
    browser.wait_text(".endpoints", "apache")?;
    browser.screenshot("certificate")?;

    // Agents: a token with the commands, then revoke the agent and see it go offline.
    browser.goto(&format!("{base}/agents"))?;
    browser.click("#token-form button[type=submit]")?;
    let commands = browser.wait_text("#new-token", "certfleet-agent enroll")?;
    // The token is piped in: it never shows in the host's process list.
    assert!(commands.contains("echo 'cf1."), "{commands}");
    assert!(commands.contains("--token-file -"), "{commands}");
    assert!(commands.contains("certfleet-agent.exe"), "{commands}");
    // The console has the Linux agent next to it (cargo's target folder): an install command
    // that checks the file's hash; the Windows one is not built here.
    assert!(commands.contains("sha256sum -c"), "{commands}");
    assert!(commands.contains("Copy certfleet-agent.exe"), "{commands}");
    let announced = commands
        .split("echo '")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    let served = browser
        .script(
            "return fetch('/download/certfleet-agent').then(r => r.arrayBuffer())
               .then(b => crypto.subtle.digest('SHA-256', b))
               .then(h => Array.from(new Uint8Array(h)).map(x => x.toString(16).padStart(2, '0')).join(''));",
        )?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        served, announced,
        "the served binary has the announced hash"
    );
    browser.screenshot("agents")?;
    let agent_id = agent.id()?;
    browser.click(&format!("tr[data-agent='{agent_id}'] button.danger"))?;
    browser.wait_text(
        &format!("tr[data-agent='{agent_id}'] .agent-status"),
        "Revoked",
    )?;
    browser.screenshot("agents-revoked")?;

    // Hosts and the audit log.
    browser.goto(&format!("{base}/hosts"))?;
    browser.click("#hosts a[href^='/hosts/']")?;
    browser.wait_text("#host-status", "Revoked")?;
    browser.screenshot("host")?;
    browser.goto(&format!("{base}/audit"))?;
    browser.wait_text("#audit", "agent.revoked")?;
    browser.screenshot("audit")?;
    Ok(())
}

#[test]
fn a_viewer_gets_no_admin_actions_and_the_server_refuses_them() -> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let agent = Agent::start(&console, &temp.path().join("agent"), "rescan_secs = 60\n")?;
    let agent_id = agent.id()?;

    // The admin adds a viewer on the Users page and hands over the one-time password.
    let admin = Browser::start(1280, 800, true)?;
    let first = console.first_password.clone().expect("one-time password");
    log_in(&admin, &base, "admin", &first, ADMIN_PASSWORD)?;
    admin.goto(&format!("{base}/users"))?;
    admin.wait_hydrated()?;
    admin.fill("#user-form input[name=username]", "vera")?;
    admin.select("#user-form select[name=role]", "viewer")?;
    admin.click("#user-form button[type=submit]")?;
    let notice = admin.wait_text("#new-user-password", "One-time password")?;
    let vera_first = notice
        .split_whitespace()
        .last()
        .expect("password")
        .to_owned();
    admin.wait_text("#users", "vera")?;
    admin.screenshot("users")?;

    let viewer = Browser::start(1280, 800, true)?;
    log_in(
        &viewer,
        &base,
        "vera",
        &vera_first,
        "a-long-viewer-password",
    )?;
    viewer.goto(&format!("{base}/agents"))?;
    viewer.wait_hydrated()?;
    viewer.wait_text("#agents", &agent_id)?;
    assert!(!viewer.exists("#token-form")?, "no token form for a viewer");
    assert!(
        !viewer.exists("button.danger")?,
        "no revoke button for a viewer"
    );
    let nav = viewer.text("header.top nav")?;
    assert!(!nav.contains("Users") && !nav.contains("Audit"), "{nav}");
    viewer.screenshot("agents-viewer")?;

    // Calling the server functions directly does not help.
    for (path, body) in [
        ("/ui/revoke_agent", format!("agent_id={agent_id}")),
        ("/ui/create_token", "hours=1".to_owned()),
        ("/ui/add_user", "username=mallory&role=admin".to_owned()),
        ("/ui/alert_settings", String::new()),
        ("/ui/test_email", "to=mallory%40example.test".to_owned()),
    ] {
        let js = format!(
            "return fetch('{path}', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: '{body}'}}).then(r => r.text().then(t => r.status + ' ' + t));"
        );
        let answer = viewer.script(&js)?.as_str().unwrap_or_default().to_owned();
        assert!(answer.contains("needs the admin role"), "{path}: {answer}");
    }
    // Nothing happened.
    viewer.goto(&format!("{base}/agents"))?;
    let row = viewer.text(&format!("tr[data-agent='{agent_id}'] .agent-status"))?;
    assert!(row.contains("Online"), "{row}");
    Ok(())
}

#[test]
fn pages_and_forms_work_without_javascript() -> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let browser = Browser::start(1280, 800, false)?;
    let first = console.first_password.clone().expect("one-time password");
    log_in(&browser, &base, "admin", &first, ADMIN_PASSWORD)?;
    assert!(
        browser
            .url()?
            .trim_end_matches('/')
            .ends_with(&console.api.to_string()),
        "{}",
        browser.url()?
    );
    browser.wait_text("#content", "No certificates yet")?;
    // The filter form is a plain GET form.
    browser.goto(&format!("{base}/certificates"))?;
    browser.select("#filters select[name=status]", "expired")?;
    browser.click("#filters button[type=submit]")?;
    wait_for("the filtered URL", Duration::from_secs(20), || {
        browser.url().ok()?.contains("status=expired").then_some(())
    })?;
    browser.wait_text("#content", "No certificate matches")?;
    // So is the token form.
    browser.goto(&format!("{base}/agents"))?;
    browser.click("#token-form button[type=submit]")?;
    wait_for("the agents page again", Duration::from_secs(20), || {
        browser
            .url()
            .ok()?
            .split('?')
            .next()?
            .ends_with("/agents")
            .then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: {} at {:?}", browser.page_text(), browser.url()))?;
    browser.screenshot("no-javascript")?;
    let api = {
        let mut api = Api::new(console.api, &console.ca_pem()?)?;
        api.login("admin", ADMIN_PASSWORD, ADMIN_PASSWORD)?;
        api
    };
    let tokens = api.get("/api/v1/tokens")?.body;
    assert_eq!(
        tokens.as_array().map(Vec::len),
        Some(1),
        "the form created a token: {tokens}"
    );
    Ok(())
}

#[test]
fn an_agent_coming_online_shows_without_a_reload_and_phones_can_read_it() -> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let first = console.first_password.clone().expect("one-time password");
    let browser = Browser::start(1280, 800, true)?;
    log_in(&browser, &base, "admin", &first, ADMIN_PASSWORD)?;
    browser.goto(&format!("{base}/agents"))?;
    browser.wait_hydrated()?;
    browser.wait_text("#content", "No agents yet")?;
    browser.wait_text("header .live", "live")?;
    browser.script("window.__marker = 'same page';")?;

    let agent = Agent::start(&console, &temp.path().join("agent"), "rescan_secs = 60\n")?;
    let id = agent.id()?;
    browser.wait_text(&format!("tr[data-agent='{id}'] .agent-status"), "Online")?;
    assert_eq!(
        browser.script("return window.__marker;")?.as_str(),
        Some("same page"),
        "the page was not reloaded"
    );

    // Keyboard: the first Tab reaches the skip link.
    browser.script("document.activeElement.blur();")?;
    let phone = Browser::start(390, 844, true)?;
    log_in(&phone, &base, "admin", ADMIN_PASSWORD, ADMIN_PASSWORD)?;
    phone.goto(&format!("{base}/agents"))?;
    phone.wait_text(&format!("tr[data-agent='{id}'] .agent-status"), "Online")?;
    let overflow =
        phone.script("return document.documentElement.scrollWidth <= window.innerWidth + 1;")?;
    assert_eq!(
        overflow.as_bool(),
        Some(true),
        "no sideways scrolling at phone width"
    );
    phone.screenshot("agents-phone")?;
    assert!(browser.exists("a.skip[href='#content']")?);
    Ok(())
}

#[test]
fn an_admin_sets_up_alert_email_and_the_test_email_shows_the_answer() -> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let smtp = SmtpListener::start(temp.path(), free_port()?)?;
    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let first = console.first_password.clone().expect("one-time password");
    let browser = Browser::start(1280, 900, true)?;
    log_in(&browser, &base, "admin", &first, ADMIN_PASSWORD)?;
    browser.goto(&format!("{base}/alerts"))?;
    browser.wait_hydrated()?;
    browser.wait_text("#alerts-state", "Alerts are off")?;

    let field = |name: &str| format!("#alert-settings [name='settings[{name}]']");
    browser.fill(&field("smtp_host"), "127.0.0.1")?;
    browser.fill(&field("smtp_port"), "twenty-five")?;
    browser.select(&field("security"), "none")?;
    browser.fill(&field("from"), "certfleet@example.test")?;
    browser.fill(&field("recipients"), "ops@example.test")?;
    browser.fill(&field("group_recipients"), "esync: esync-team@example.test")?;
    browser.fill(&field("digest_at"), "off")?;
    browser.click("#alert-settings button[type=submit]")?;
    let error = browser.wait_text(".notice.error", "not a port number")?;
    assert!(
        error.contains("587"),
        "the message says what to use: {error}"
    );

    browser.fill(&field("smtp_port"), &smtp.port.to_string())?;
    browser.click("#alert-settings button[type=submit]")?;
    browser.wait_text("#alert-settings-saved", "Saved")?;
    browser.wait_text("#alerts-state", "Alerts are on")?;

    browser.fill("#test-email input[name=to]", "admin@example.test")?;
    browser.click("#test-email button[type=submit]")?;
    let answer = browser
        .wait_text("#test-email-answer", "250")
        .map_err(|e| anyhow::anyhow!("{e}: {}", browser.page_text()))?;
    assert!(answer.contains("The server answered"), "{answer}");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(subject(&messages[0]).contains("test email"));
    assert!(messages[0].contains("To: admin@example.test"));
    browser.screenshot("alerts")?;

    // Saved settings come back on a fresh load; the audit log has both actions.
    browser.goto(&format!("{base}/alerts"))?;
    browser.wait_hydrated()?;
    let groups = browser.text(&field("group_recipients"))?;
    assert!(
        groups.contains("esync: esync-team@example.test"),
        "{groups:?}"
    );
    browser.goto(&format!("{base}/audit"))?;
    browser.wait_text("#audit", "alerts.test_email")?;
    browser.wait_text("#audit", "alerts.settings_saved")?;
    Ok(())
}

#[test]
fn an_admin_uploads_a_renewal_reviews_the_plan_rolls_it_out_and_watches_it_verify()
-> anyhow::Result<()> {
    let _turn = certfleet_e2e::browser::serial();
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Test eSync CA");
    let old = ca.server(&["esync.example.test"], 20);
    let apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        "esync.example.test",
        &old,
        &ca.pem,
    )?;
    let console = Console::start(&temp.path().join("console"))?;
    let base = format!("https://{}", console.api);
    let api = Api::admin(&console)?;
    let _agent = Agent::start(
        &console,
        &temp.path().join("agent"),
        &apache.agent_config(None),
    )?;
    wait_for("the host in the inventory", Duration::from_secs(30), || {
        (api.get("/api/v1/hosts").ok()?.body.as_array()?.len() == 1).then_some(())
    })?;

    let browser = Browser::start(1280, 900, true)?;
    log_in(
        &browser,
        &base,
        "admin",
        "a-long-new-password-for-tests",
        ADMIN_PASSWORD,
    )?;
    browser.goto(&format!("{base}/renewals"))?;
    browser.wait_hydrated()?;
    // A key that does not belong to the certificate: refused, with the reason on the page.
    let new = ca.server(&["esync.example.test"], 365);
    let stranger = ca.server(&["esync.example.test"], 365);
    browser.fill("#upload-form textarea[name=certificate_pem]", &new.cert_pem)?;
    browser.fill("#upload-form textarea[name=key_pem]", &stranger.key_pem)?;
    browser.fill("#upload-form textarea[name=chain_pem]", &ca.pem)?;
    browser.click("#upload-form button[type=submit]")?;
    browser.wait_text("#upload-error", "key_mismatch")?;

    browser.fill("#upload-form textarea[name=certificate_pem]", &new.cert_pem)?;
    browser.fill("#upload-form textarea[name=key_pem]", &new.key_pem)?;
    browser.fill("#upload-form textarea[name=chain_pem]", &ca.pem)?;
    browser.click("#upload-form button[type=submit]")?;
    // The renewal's page: the plan proposes the Apache endpoint, ready.
    browser.wait_text("#plan", "ready")?;
    browser.wait_hydrated()?;
    browser.click("#check-form button[type=submit]")?;
    browser.wait_text("#host-checks", "passed")?;
    browser.screenshot("renewal-plan")?;
    browser.click("#roll-out")?;
    let state = browser
        .wait_text("#rollout-state", "succeeded")
        .map_err(|e| anyhow::anyhow!("{e}: {}\n{}", browser.page_text(), console.log_text()))?;
    assert!(state.contains("1 endpoint(s) verified"), "{state}");
    browser.wait_text("#targets", "verified")?;
    browser.screenshot("rollout-done")?;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], apache.port));
    assert_eq!(
        certfleet_e2e::api::served_sha256(address, "esync.example.test", &ca.pem)?,
        new.sha256
    );

    // A maintenance window for a group, and a label on the host that puts it in that group.
    browser.goto(&format!("{base}/renewals"))?;
    browser.wait_hydrated()?;
    browser.fill("#window-form [name='window[group_name]']", "prod")?;
    browser.fill("#window-form [name='window[weekdays]']", "saturday")?;
    browser.fill("#window-form [name='window[start]']", "22:00")?;
    browser.fill("#window-form [name='window[end]']", "02:00")?;
    browser.fill("#window-form [name='window[utc_offset]']", "+01:00")?;
    browser.click("#window-form button[type=submit]")?;
    browser.wait_text(".notice.error", "not a weekday")?;
    browser.fill("#window-form [name='window[weekdays]']", "sat,sun")?;
    browser.click("#window-form button[type=submit]")?;
    browser.wait_text("#windows", "sat,sun")?;
    let host_id = api.get("/api/v1/hosts")?.body[0]["id"]
        .as_i64()
        .unwrap_or_default();
    browser.goto(&format!("{base}/hosts/{host_id}"))?;
    browser.wait_hydrated()?;
    browser.fill("#labels-form input[name=labels]", "prod")?;
    browser.click("#labels-form button[type=submit]")?;
    browser.wait_text("#labels-saved", "esync, prod")?;
    let windows = api.get("/api/v1/windows")?.body;
    assert_eq!(windows[0]["utc_offset_minutes"], 60, "{windows}");
    Ok(())
}
