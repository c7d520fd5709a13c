//! `certfleet-agent scan` of a Sage 300 Connector installation, as an admin runs it: the
//! real binary on an `.exe.config` as the connector's installer writes it (BOM, CRLF).

use std::process::Command;

#[test]
fn scan_json_shows_the_service_uri_and_findings_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("Sage300IntegrationService.exe.config");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <!-- keep -->\r\n  \
          <appSettings>\r\n    <add key=\"ServiceUri\" value=\"https://sage01.example.test:4300\" />\r\n  \
          </appSettings>\r\n</configuration>\r\n",
    );
    std::fs::write(&config, &bytes).expect("write");
    let agent_toml = dir.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!("[[sage300]]\nconfig = '{}'\n", config.display()),
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
        .args(["scan", "--json", "--config"])
        .arg(&agent_toml)
        .output()
        .expect("agent runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let endpoint = json["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["kind"] == "sage300")
        .expect("a sage300 endpoint");
    assert_eq!(endpoint["key"], "sage300:4300");
    assert_eq!(endpoint["name"], "sage01.example.test");
    assert_eq!(endpoint["address"], "sage01.example.test:4300");
    let findings = endpoint["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["code"] == "sage_installation"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("https://sage01.example.test:4300"))),
        "{findings:?}"
    );
    // Linux has no HTTP.sys: said, and no "no binding" inferred from it.
    assert!(
        endpoint["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("could not be read")),
        "{endpoint}"
    );
    assert!(!findings.iter().any(|f| f["code"] == "sage_no_binding"));
    assert_eq!(std::fs::read(&config).expect("read"), bytes, "untouched");
}
