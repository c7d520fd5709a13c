//! `certfleet-agent scan` on a client machine with `[[trust]]` tables, as an admin runs it:
//! the real binary against real TLS listeners, judged against a bundle of the test's own.

use std::path::Path;
use std::process::Command;

use certfleet_e2e::listener::serve_tls as listener;
use certfleet_e2e::pki::TestCa;

fn scan(dir: &Path, toml: &str) -> (i32, serde_json::Value, String) {
    let agent_toml = dir.join("agent.toml");
    std::fs::write(&agent_toml, toml).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
        .args(["scan", "--json", "--config"])
        .arg(&agent_toml)
        .output()
        .expect("agent runs");
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let text = Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
        .args(["scan", "--config"])
        .arg(&agent_toml)
        .output()
        .expect("agent runs");
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&text.stdout).into_owned(),
    )
}

fn verdicts(json: &serde_json::Value) -> Vec<(String, String, String)> {
    json["trust"]
        .as_array()
        .expect("trust checks")
        .iter()
        .map(|t| {
            (
                t["endpoint"].as_str().unwrap_or_default().to_owned(),
                t["verdict"].as_str().unwrap_or_default().to_owned(),
                t["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The check of `endpoint` for `name` in a scan's JSON.
fn check_of(json: &serde_json::Value, endpoint: &str, name: &str) -> serde_json::Value {
    json["trust"]
        .as_array()
        .expect("trust checks")
        .iter()
        .find(|t| t["endpoint"] == endpoint && t["server_name"] == name)
        .unwrap_or_else(|| panic!("no check of {endpoint} for {name}: {json}"))
        .clone()
}

#[test]
fn a_client_reports_an_untrusted_server_with_its_reason_and_trusts_it_once_its_ca_is_in_the_bundle()
{
    let dir = tempfile::tempdir().expect("dir");
    let internal = TestCa::new("Example Internal Root");
    let sage = internal.connector(&["sage01.example.test"], 397);
    let sage_at = listener(&sage, "");
    // Issued for Client Authentication alone: TLS clients refuse it as a server.
    let client_only = internal.issue(
        &["bpa.example.test"],
        90,
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
    );
    let client_only_at = listener(&client_only, "");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_at = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, TestCa::new("Some Public Root").pem).expect("bundle");
    let toml = format!(
        "[[trust]]\nendpoint = \"{sage_at}\"\nserver_name = \"sage01.example.test\"\nca_file = '{b}'\n\
         [[trust]]\nendpoint = \"{sage_at}\"\nserver_name = \"sage-300-2017.example.test\"\nca_file = '{b}'\n\
         [[trust]]\nendpoint = \"{client_only_at}\"\nserver_name = \"bpa.example.test\"\nca_file = '{b}'\n\
         [[trust]]\nendpoint = \"{closed_at}\"\nserver_name = \"gone.example.test\"\nca_file = '{b}'\n",
        b = bundle.display()
    );

    let (code, json, text) = scan(dir.path(), &toml);
    assert_eq!(code, 1, "an untrusted server fails the scan: {text}");
    let found = verdicts(&json);
    assert_eq!(found.len(), 4, "{found:?}");
    let of = |endpoint: &str, name: &str| check_of(&json, endpoint, name);
    let sage_check = of(&sage_at, "sage01.example.test");
    assert_eq!(sage_check["verdict"], "unknown_root", "{sage_check}");
    let reason = sage_check["reason"].as_str().expect("reason");
    assert!(
        reason.contains("Example Internal Root") && reason.contains(&bundle.display().to_string()),
        "the reason names the missing root and the bundle: {reason}"
    );
    assert_eq!(sage_check["chain"][0], sage.sha256);
    assert!(
        json["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .any(|c| c["sha256"] == sage.sha256),
        "the served certificate's facts travel with the check"
    );
    assert_eq!(
        of(&closed_at, "gone.example.test")["verdict"],
        "unreachable"
    );
    assert!(
        text.contains("unknown root") && text.contains(&sage_at),
        "{text}"
    );

    // The internal root in the bundle: trusted; the other name and the purpose still not.
    std::fs::write(
        &bundle,
        format!("{}{}", TestCa::new("Some Public Root").pem, internal.pem),
    )
    .expect("bundle");
    let (code, json, text) = scan(dir.path(), &toml);
    assert_eq!(code, 1, "{text}");
    let of = |endpoint: &str, name: &str| check_of(&json, endpoint, name);
    assert_eq!(of(&sage_at, "sage01.example.test")["verdict"], "trusted");
    let other_name = of(&sage_at, "sage-300-2017.example.test");
    assert_eq!(other_name["verdict"], "name_mismatch", "{other_name}");
    assert!(
        other_name["reason"]
            .as_str()
            .is_some_and(|r| r.contains("sage01.example.test")),
        "{other_name}"
    );
    let purpose = of(&client_only_at, "bpa.example.test");
    assert_eq!(purpose["verdict"], "no_server_auth", "{purpose}");

    // Only the trusted one configured: the scan passes.
    let only = format!(
        "[[trust]]\nendpoint = \"{sage_at}\"\nserver_name = \"sage01.example.test\"\nca_file = '{}'\n",
        bundle.display()
    );
    let (code, json, text) = scan(dir.path(), &only);
    assert_eq!(code, 0, "{text}");
    assert_eq!(verdicts(&json)[0].1, "trusted");
    assert!(text.contains("trusted"), "{text}");
}
