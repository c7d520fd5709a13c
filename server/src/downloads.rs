//! The agent binaries the console hands out, so the Agents page can show exact install
//! commands: `certfleet-agent` (Linux) and `certfleet-agent.exe` (Windows), looked up next to
//! the console's own executable (or in `downloads_dir`). The commands carry each file's
//! SHA-256 and check it, because the host does not trust the console's CA yet.

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::config::Config;

pub const LINUX: &str = "certfleet-agent";
pub const WINDOWS: &str = "certfleet-agent.exe";

/// One downloadable file and its fingerprint.
#[derive(Debug, Clone)]
pub struct Download {
    pub path: PathBuf,
    pub sha256: String,
}

fn folder(config: &Config) -> PathBuf {
    config.downloads_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
            .unwrap_or_default()
    })
}

/// The file, if it is there, hashed once per console run.
pub fn find(config: &Config, name: &str) -> Option<Download> {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, Option<String>>>> =
        OnceLock::new();
    let path = folder(config).join(name);
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let sha = cache
        .entry(path.clone())
        .or_insert_with(|| {
            std::fs::read(&path)
                .ok()
                .map(|bytes| hex::encode(Sha256::digest(bytes)))
        })
        .clone()?;
    Some(Download { path, sha256: sha })
}

/// `GET /download/{file}`: the agent binaries (public software; the commands check hashes).
pub async fn serve(
    State(config): State<std::sync::Arc<Config>>,
    Path(file): Path<String>,
) -> Response {
    if file != LINUX && file != WINDOWS {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(download) = find(&config, &file) else {
        return (
            StatusCode::NOT_FOUND,
            "this console has no agent binary to hand out; copy certfleet-agent to the host yourself",
        )
            .into_response();
    };
    match tokio::fs::read(&download.path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Install commands for the binaries this console has, for a console reachable at `ui_url`.
pub fn install_commands(config: &Config, ui_url: &str) -> (Option<String>, Option<String>) {
    let linux = find(config, LINUX).map(|d| {
        format!(
            "curl -fsSLk {ui_url}/download/{LINUX} -o /tmp/{LINUX} && echo '{}  /tmp/{LINUX}' | sha256sum -c - && sudo install -m 0755 /tmp/{LINUX} /usr/local/bin/{LINUX}",
            d.sha256
        )
    });
    let windows = find(config, WINDOWS).map(|d| {
        format!(
            r#"New-Item -ItemType Directory -Force "$env:ProgramFiles\certfleet" | Out-Null; Invoke-WebRequest -SkipCertificateCheck {ui_url}/download/{WINDOWS} -OutFile "$env:ProgramFiles\certfleet\{WINDOWS}"; if ((Get-FileHash "$env:ProgramFiles\certfleet\{WINDOWS}").Hash -ne '{}') {{ throw 'certfleet-agent.exe does not match its hash' }}"#,
            d.sha256.to_uppercase()
        )
    });
    (linux, windows)
}
