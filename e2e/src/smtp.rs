//! A real SMTP server for alert tests: Debian's python3-aiosmtpd writing what it receives
//! into a Maildir, and helpers to read those messages as a person would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub struct SmtpListener {
    child: Child,
    pub maildir: PathBuf,
    pub port: u16,
}

impl SmtpListener {
    /// Listens on 127.0.0.1:`port`, keeping mail under `dir`.
    pub fn start(dir: &Path, port: u16) -> Result<Self> {
        let maildir = dir.join(format!("maildir-{port}"));
        let mut child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start aiosmtpd: install python3-aiosmtpd (scripts/tools.sh does)")?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(SmtpListener {
                    child,
                    maildir,
                    port,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("aiosmtpd did not start listening on port {port}");
    }

    /// Every message received, readable, in arrival order. Python's Maildir names end in
    /// `Q<counter>.<host>`, a per-process counter; the leading seconds do not order
    /// messages within one second.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.split_once('Q')
                .and_then(|(_, rest)| rest.split('.').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(u64::MAX)
        });
        files
            .iter()
            .map(|f| readable(&std::fs::read_to_string(f).unwrap_or_default()))
            .collect()
    }
}

impl Drop for SmtpListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message as a reader sees it: folded headers joined, quoted-printable decoded.
pub fn readable(message: &str) -> String {
    let unfolded = message
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("=\n", "");
    let bytes = unfolded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Subject header of a readable message.
pub fn subject(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_owned()
}

/// The value of header `name` (e.g. `Message-ID`) of a readable message.
pub fn header(message: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}: ");
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
}
