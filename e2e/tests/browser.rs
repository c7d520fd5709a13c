//! The web UI in Debian's headless Chromium against a real console with a real agent watching
//! a real Apache. Screenshots of each main page go to `<target>/screenshots/`.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::Api;
use certfleet_e2e::browser::Browser;
use certfleet_e2e::pki::TestCa;
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
    assert!(commands.contains("--token cf1."), "{commands}");
    assert!(commands.contains("certfleet-agent.exe"), "{commands}");
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
