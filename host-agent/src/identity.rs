//! The agent's identity in its data folder: its private key (never leaves the host, owner
//! only), its client certificate, the console's CA, and which console and id it has.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const STATE: &str = "agent.json";
const KEY: &str = "agent.key";
const CERT: &str = "agent.crt";
const CA: &str = "console-ca.crt";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    agent_id: String,
    server: String,
}

/// Where the agent keeps its files when not told otherwise.
pub fn default_data_dir() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        PathBuf::from(base).join("certfleet")
    } else {
        PathBuf::from("/var/lib/certfleet-agent")
    }
}

pub struct Identity {
    pub dir: PathBuf,
    pub agent_id: String,
    pub server: String,
    pub ca_der: Vec<u8>,
    cert_pem: String,
    key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("agent_id", &self.agent_id)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn pem_der(text: &str, what: &str) -> Result<Vec<u8>> {
    Ok(pem::parse(text)
        .with_context(|| format!("the {what} is not PEM"))?
        .into_contents())
}

impl Identity {
    pub fn exists(dir: &Path) -> bool {
        dir.join(STATE).exists()
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).with_context(|| {
                format!(
                    "cannot read {}: is this agent enrolled? (`certfleet-agent enroll`)",
                    dir.join(name).display()
                )
            })
        };
        crate::private::check(dir, &dir.join(KEY))?;
        let state: State = serde_json::from_str(&read(STATE)?)
            .with_context(|| format!("{} is damaged; enrol again", dir.join(STATE).display()))?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            agent_id: state.agent_id,
            server: state.server,
            ca_der: pem_der(&read(CA)?, "console CA")?,
            cert_pem: read(CERT)?,
            key_pem: Zeroizing::new(read(KEY)?),
        })
    }

    /// Writes a fresh identity after enrolment.
    pub fn save_new(
        dir: &Path,
        agent_id: &str,
        server: &str,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        crate::private::protect_dir(dir)?;
        write_private(&dir.join(KEY), key_pem.as_bytes())?;
        write_public(&dir.join(CERT), cert_pem.as_bytes())?;
        write_public(&dir.join(CA), ca_pem.as_bytes())?;
        let state = State {
            agent_id: agent_id.to_owned(),
            server: server.to_owned(),
        };
        write_public(
            &dir.join(STATE),
            serde_json::to_string_pretty(&state)?.as_bytes(),
        )?;
        Self::load(dir)
    }

    /// Replaces key and certificate after a renewal, key first so a crash in between
    /// leaves a key that matches a certificate the console will still issue again.
    pub fn replace_certificate(&mut self, cert_pem: &str, key_pem: &str) -> Result<()> {
        write_private(&self.dir.join(KEY), key_pem.as_bytes())?;
        write_public(&self.dir.join(CERT), cert_pem.as_bytes())?;
        self.cert_pem = cert_pem.to_owned();
        self.key_pem = Zeroizing::new(key_pem.to_owned());
        Ok(())
    }

    pub fn client_auth(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let cert = pem_der(&self.cert_pem, "agent certificate")?;
        let key = pem_der(&self.key_pem, "agent key")?;
        Ok((
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        ))
    }

    /// (not_before, not_after) of the agent certificate, Unix seconds.
    pub fn certificate_validity(&self) -> Result<(i64, i64)> {
        let material = certfleet_certkit::read(self.cert_pem.as_bytes(), None)
            .context("the agent certificate is unreadable")?;
        let Some(cert) = material.certificates.first() else {
            bail!("the agent certificate file holds no certificate");
        };
        let facts = cert.facts();
        Ok((
            facts.not_before.unix_timestamp(),
            facts.not_after.unix_timestamp(),
        ))
    }
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Owner-only on Unix; on Windows the file inherits the data folder's explicit DACL (SYSTEM
/// and Administrators only, set by `private::protect_dir`). Atomic and durable.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(certfleet_files::replace_owner_only(path, bytes)?)
}
