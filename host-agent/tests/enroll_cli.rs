//! `certfleet-agent enroll` takes its token from a file or standard input, never from the
//! command line (other users of the host can read the process list).

use std::io::Write;
use std::process::{Command, Stdio};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certfleet-agent"))
}

#[test]
fn a_token_on_the_command_line_is_refused() {
    let out = agent()
        .args([
            "enroll",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "cf1.a.b.c",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token"), "{err}");
}

#[test]
fn the_token_is_read_from_standard_input() {
    let dir = tempfile::tempdir().expect("dir");
    // A well-formed token for a console that is not there: the token was read (the error is
    // about the console, not about a missing token).
    let mut child = agent()
        .args([
            "enroll",
            "--server",
            "https://127.0.0.1:1",
            "--token-file",
            "-",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"cf1.abcdefgh.c2VjcmV0.cGlu\n")
        .expect("write");
    let out = child.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("no token"), "{err}");
    let empty = agent()
        .args([
            "enroll",
            "--server",
            "https://127.0.0.1:1",
            "--token-file",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(err.contains("no token in standard input"), "{err}");
}
