//! `certfleet-agent enroll`: joins a console. The console's CA is checked against the pin in
//! the token before anything is sent; the key pair is made here and never leaves the host.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use certfleet_proto::{EnrollRequest, EnrollResponse, EnrollmentToken, HttpError, ca_pin};

use crate::https::{Limits, ServerUrl, request};
use crate::identity::Identity;
use crate::tls;

/// The enrolment token from `path` (`-`: standard input): its first line, trimmed. Passed
/// this way, never as an argument, so it does not show in the host's process list.
pub fn read_token(path: &Path) -> Result<String> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin(), 64 * 1024),
            &mut text,
        )
        .context("cannot read the token from standard input")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?
    };
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        bail!(
            "no token in {}: put the token from the Agents page (or `certfleet-server token \
             create`) on its first line",
            if path == Path::new("-") {
                "standard input".to_owned()
            } else {
                path.display().to_string()
            }
        );
    }
    Ok(token)
}

pub async fn enroll(
    server: &str,
    token: &str,
    data_dir: &Path,
    config_path: &Path,
) -> Result<Identity> {
    let token = EnrollmentToken::parse(token).map_err(|e| anyhow!(e))?;
    if Identity::exists(data_dir) {
        let existing = Identity::load(data_dir)?;
        bail!(
            "this host is already enrolled as agent {} with {}; to enrol it again, remove {} first",
            existing.agent_id,
            existing.server,
            data_dir.display()
        );
    }
    let url = ServerUrl::parse(server)?;

    // 1. The CA, fetched without trusting anyone, then checked against the token's pin.
    let (status, body) = request(
        &url,
        tls::inspecting_config()?,
        "GET",
        "/agent/v1/ca",
        None,
        Limits::UNTRUSTED,
    )
    .await
    .context("cannot fetch the console's CA")?;
    if status != 200 {
        bail!(
            "the console answered {status} when asked for its CA: is {server} a certfleet console's agent gateway?"
        );
    }
    let ca_pem = String::from_utf8(body).context("the console's CA is not text")?;
    let ca_der = pem::parse(&ca_pem)
        .context("the console's CA is not PEM")?
        .into_contents();
    if ca_pin(&ca_der) != token.ca_pin {
        bail!(
            "the console at {server} presents a CA that does not match the token's pin: this is \
             not the console that made the token, or someone is intercepting the connection; \
             nothing was sent"
        );
    }

    // 2. Our own key and a CSR; only the public key leaves the host.
    let key = rcgen::KeyPair::generate().context("cannot generate the agent key")?;
    let hostname = crate::host::hostname();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("certfleet agent on {hostname}"),
    );
    let csr = params
        .serialize_request(&key)
        .context("cannot create the certificate request")?;
    let body = serde_json::to_vec(&EnrollRequest {
        token_id: token.id.clone(),
        token_secret: token.secret.clone(),
        csr_pem: csr.pem().context("cannot encode the certificate request")?,
        hostname: hostname.clone(),
    })?;

    // 3. Enrol over TLS verified against the pinned CA.
    let (status, body) = request(
        &url,
        tls::console_config(&ca_der, None)?,
        "POST",
        "/agent/v1/enroll",
        Some(body),
        Limits::PINNED,
    )
    .await
    .context("enrolment request failed")?;
    if status != 200 {
        let reason = serde_json::from_slice::<HttpError>(&body)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        bail!("the console refused the enrolment: {reason}");
    }
    let response: EnrollResponse =
        serde_json::from_slice(&body).context("the console's answer is not an enrolment")?;
    let identity = Identity::save_new(
        data_dir,
        &response.agent_id,
        server.trim_end_matches('/'),
        &response.ca_pem,
        &response.certificate_pem,
        &key.serialize_pem(),
    )?;
    if !config_path.exists() {
        crate::identity::write_private(config_path, crate::config::STARTER.as_bytes())?;
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_a_file_first_line_trimmed_and_an_empty_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  cf1.abc.def.ghi  \r\nignored\n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "cf1.abc.def.ghi");
        std::fs::write(&file, "\n").unwrap();
        let err = read_token(&file).unwrap_err().to_string();
        assert!(
            err.contains("no token in") && err.contains("first line"),
            "{err}"
        );
        let err = read_token(&dir.path().join("missing")).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read the token file"),
            "{err:#}"
        );
    }
}
