//! `certfleet-agent inspect` as a user runs it: the real binary on the committed fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "crates",
        "certkit",
        "tests",
        "fixtures",
        name,
    ]
    .iter()
    .collect()
}

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
        .args(args)
        .env_remove("CERTFLEET_TEST_PASSWORD")
        .output()
        .expect("agent runs")
}

fn agent_with_env(args: &[&str], var: &str, value: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
        .args(args)
        .env(var, value)
        .output()
        .expect("agent runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn leaf_thumbprint() -> String {
    let pem = std::fs::read(fixture("leaf.pem")).expect("leaf");
    let m = certfleet_certkit::read(&pem, None).expect("leaf reads");
    m.certificates[0].facts().thumbprint.to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_legacy_windows_pfx_with_the_right_password_shows_its_thumbprint() {
    let dir = tempdir();
    let password_file = dir.path().join("pfx.pass");
    std::fs::write(&password_file, "Legacy-Pa55\r\n").expect("write password");
    let pfx = fixture("windows-legacy.pfx");
    let out = agent(&[
        "inspect",
        path(&pfx),
        "--password-file",
        path(&password_file),
        "--host",
        "sage.example.test",
        "--purpose",
        "sage300",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&leaf_thumbprint()), "{stdout}");
    assert!(stdout.contains("No findings."), "{stdout}");
    assert!(stdout.contains("belongs to the certificate"), "{stdout}");
    assert!(
        !stdout.contains("Legacy-Pa55"),
        "the password is never printed"
    );
}

#[test]
fn a_wrong_password_says_so_and_exits_2() {
    let pfx = fixture("windows-legacy.pfx");
    let out = agent_with_env(
        &[
            "inspect",
            path(&pfx),
            "--password-env",
            "CERTFLEET_TEST_PASSWORD",
        ],
        "CERTFLEET_TEST_PASSWORD",
        "guess",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrong password"), "{stderr}");
    assert!(!stderr.contains("guess"), "the password is never printed");
}

#[test]
fn a_protected_pfx_without_a_password_asks_for_one() {
    let out = agent(&["inspect", path(&fixture("modern.pfx"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--password-file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_key_that_does_not_match_exits_1() {
    let out = agent(&[
        "inspect",
        path(&fixture("leaf.pem")),
        "--key",
        path(&fixture("other-key.pem")),
        "--chain",
        path(&fixture("chain.pem")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("key_mismatch"), "{stdout}");
    assert!(stdout.contains("does NOT belong"), "{stdout}");
}

#[test]
fn a_host_the_certificate_does_not_cover_exits_1() {
    let out = agent(&[
        "inspect",
        path(&fixture("leaf.pem")),
        "--host",
        "esync.example.test",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("name_not_covered"));
}

#[test]
fn json_output_carries_facts_and_findings() {
    let out = agent(&[
        "inspect",
        path(&fixture("leaf.pem")),
        "--key",
        path(&fixture("other-key.pem")),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["certificates"][0]["thumbprint"], leaf_thumbprint());
    assert_eq!(json["findings"][0]["code"], "key_mismatch");
    assert_eq!(json["keys"][0]["matches_leaf"], false);
}

#[test]
fn json_errors_are_json_too() {
    let out = agent(&["inspect", path(&fixture("modern.pfx")), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["error"]["code"], "password_required");
}

#[test]
fn unreadable_inputs_exit_2_with_the_reason() {
    let dir = tempdir();
    let truncated = dir.path().join("cut.pem");
    let pem = std::fs::read_to_string(fixture("leaf.pem")).expect("leaf");
    std::fs::write(&truncated, &pem[..pem.len() / 2]).expect("write");
    let missing = dir.path().join("missing.pem");
    for (file, expect) in [(&truncated, "truncated"), (&missing, "cannot read")] {
        let out = agent(&["inspect", path(file)]);
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        assert!(text(&out.stderr).contains(expect), "{}", text(&out.stderr));
    }
    let out = agent(&[
        "inspect",
        path(&fixture("modern.pfx")),
        "--password-env",
        "CERTFLEET_UNSET_VAR",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("CERTFLEET_UNSET_VAR"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn there_is_no_way_to_pass_a_password_as_an_argument() {
    let out = agent(&[
        "inspect",
        path(&fixture("modern.pfx")),
        "--password",
        "Legacy-Pa55",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unexpected argument"),
        "{}",
        text(&out.stderr)
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
