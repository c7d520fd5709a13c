//! The API against its own OpenAPI document: schemathesis (pinned, in the virtual
//! environment `scripts/tools.sh` makes) drives a running console with an admin's token and
//! generated requests, valid and not. No answer may be a 5xx, every answer must match the
//! document's schema and status codes, and every refusal must be a documented 4xx in the
//! error shape. Excluded are the operations that would end the run's own access (logging
//! out, changing the password, revoking the agent); their own tests are in server/tests.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use certfleet_e2e::api::Api;
use certfleet_e2e::{Agent, Console, wait_for};

/// The schemathesis that `ensure_schemathesis` installed, or `None` (then the test says why
/// and passes) when it is missing and `CI` is not set; with `CI` set, missing fails.
fn schemathesis() -> anyhow::Result<Option<PathBuf>> {
    let path = std::env::var_os("SCHEMATHESIS_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let tools = std::env::var_os("CERTFLEET_TOOLS")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".cache/certfleet-tools"))
                })?;
            Some(tools.join("schemathesis/bin/schemathesis"))
        });
    match path {
        Some(path) if path.exists() => Ok(Some(path)),
        _ => {
            let why = "the schema check needs schemathesis: `source scripts/tools.sh; \
                       ensure_schemathesis` installs it";
            anyhow::ensure!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("skipped: {why}");
            Ok(None)
        }
    }
}

#[test]
fn the_api_answers_as_its_document_says_to_generated_requests() -> anyhow::Result<()> {
    let Some(schemathesis) = schemathesis()? else {
        return Ok(());
    };
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    // Something in every list, so answers with rows are checked too, not only empty ones.
    let config = certfleet_e2e::pem_fixture_config("schema.example.test");
    let _agent = Agent::start(&console, &temp.path().join("agent"), &config)?;
    wait_for("the agent's certificate", Duration::from_secs(30), || {
        let reply = api.get("/api/v1/certificates").ok()?;
        (reply.body["items"].as_array()?.len() == 1).then_some(())
    })?;
    let token = api.token.clone().expect("a session");
    let ca = temp.path().join("console-ca.pem");
    std::fs::write(&ca, console.ca_pem()?)?;

    let out = Command::new(&schemathesis)
        .arg("run")
        .arg(format!("https://{}/api/v1/openapi.json", console.api))
        .arg("--tls-verify")
        .arg(&ca)
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,negative_data_rejection",
        ])
        .args(["--exclude-operation-id", "logout"])
        .args(["--exclude-operation-id", "change_password"])
        .args(["--exclude-operation-id", "revoke_agent"])
        // Bounded: CI gives this test at most five minutes.
        .args([
            "--max-examples",
            "25",
            "--max-time",
            "120",
            "--workers",
            "2",
        ])
        .args(["--seed", "4207", "--no-color"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found answers that break the document:\n{stdout}\n{}\nconsole log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        console.log_text()
    );
    // It really tested every operation but the three left out and the document itself, which
    // schemathesis does not count (a wrong URL or filter would test none and pass).
    let spec = api.get("/api/v1/openapi.json")?.body;
    let operations: usize = spec["paths"]
        .as_object()
        .map(|paths| {
            paths
                .values()
                .filter_map(|item| item.as_object())
                .map(|item| {
                    let methods = ["get", "put", "post", "delete", "patch"];
                    item.keys()
                        .filter(|k| methods.contains(&k.as_str()))
                        .count()
                })
                .sum()
        })
        .unwrap_or(0);
    let tested = format!("Tested: {}", operations - 4);
    assert!(
        stdout.contains(&tested),
        "expected {tested:?} in:\n{stdout}"
    );
    Ok(())
}
