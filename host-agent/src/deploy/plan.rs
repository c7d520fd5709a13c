//! What a driver decides and the executor carries out. A plan is data (paths, commands, an
//! address), so the journal can finish or undo it after a crash without asking the driver
//! again; only the new files' contents live outside it (staged beside their targets).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// One file the deployment writes.
pub struct FileWrite {
    pub path: PathBuf,
    pub contents: Zeroizing<Vec<u8>>,
    /// Certificate, key and chain files are owner-only whatever they were; other files
    /// (a configuration) keep the mode they had. Both keep their owner and group.
    pub private: bool,
}

impl std::fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWrite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A program and its arguments, run without a shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine(pub Vec<String>);

impl std::fmt::Display for CommandLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

impl CommandLine {
    /// Runs it; `Err` carries its exit status and output, trimmed.
    pub async fn run(&self) -> Result<String, String> {
        let Some((program, args)) = self.0.split_first() else {
            return Err("an empty command was configured".into());
        };
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run `{self}`: {e}"))?;
        let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| format!("`{self}` did not finish within {COMMAND_TIMEOUT:?}"))?
            .map_err(|e| format!("`{self}` failed: {e}"))?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let text = text.trim().to_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(format!("`{self}` failed ({}): {text}", output.status))
        }
    }
}

/// Where the live port is checked after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyAt {
    /// `host:port`.
    pub address: String,
    /// Sent as SNI (Apache picks the virtual host by it).
    pub server_name: Option<String>,
}

/// Everything a deployment does, in order: write `files`, run `check` (a configuration
/// test: on failure the files are put back and nothing is restarted), run `restart`, then
/// check that `verify` serves the new certificate.
#[derive(Debug)]
pub struct Plan {
    pub files: Vec<FileWrite>,
    pub check: Option<CommandLine>,
    pub restart: Option<CommandLine>,
    /// Read for new lines when the check or restart fails.
    pub error_log: Option<PathBuf>,
    pub verify: Option<VerifyAt>,
    /// The leaf the endpoint served before, when known: a rollback is verified against it.
    pub old_sha256: Option<String>,
}
