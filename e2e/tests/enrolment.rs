//! Enrolment: a token is single-use, and forged, mistaken or pinned-wrong tokens are
//! refused with a reason.

use certfleet_e2e::{Agent, Console};

fn with_part(token: &str, index: usize, value: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = value.to_owned();
    parts.join(".")
}

#[test]
fn a_token_enrols_one_agent_and_forgeries_are_refused() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let url = console.gateway_url();
    let token = console.create_token()?;

    let forged = with_part(&token, 2, &"x".repeat(32));
    let err = Agent::enroll(&url, &forged, &temp.path().join("forged")).unwrap_err();
    assert!(err.contains("secret is wrong"), "{err}");

    // Another console's pin: the agent stops before sending anything.
    let other_pin = with_part(&token, 3, "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg");
    let err = Agent::enroll(&url, &other_pin, &temp.path().join("pinned")).unwrap_err();
    assert!(err.contains("does not match the token's pin"), "{err}");

    let err = Agent::enroll(
        &url,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        &temp.path().join("jwt"),
    )
    .unwrap_err();
    assert!(err.contains("session token"), "{err}");

    Agent::enroll(&url, &token, &temp.path().join("first")).map_err(anyhow::Error::msg)?;
    let err = Agent::enroll(&url, &token, &temp.path().join("second")).unwrap_err();
    assert!(err.contains("already used"), "{err}");

    // Enrolling the same host twice is refused locally too.
    let again = console.create_token()?;
    let err = Agent::enroll(&url, &again, &temp.path().join("first")).unwrap_err();
    assert!(err.contains("already enrolled"), "{err}");

    // The forged attempt reached the console and is in its audit log; the mis-pinned one
    // never did.
    let api = certfleet_e2e::api::Api::admin(&console)?;
    let audit = api.get("/api/v1/audit")?.body;
    let refused: Vec<&serde_json::Value> = audit
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["action"] == "agent.enrollment_refused")
                .collect()
        })
        .unwrap_or_default();
    let details: Vec<&str> = refused
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert_eq!(details, vec!["token_spent", "token_invalid"], "{audit}");
    Ok(())
}
