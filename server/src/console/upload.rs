//! Renewed certificates. An upload is read and judged by certkit and refused, with the
//! finding's own message, when it could not be deployed; nothing of a refused upload is
//! stored. An accepted one keeps its chain in the clear and its private key sealed under the
//! key-encryption key.

use base64::Engine;
use certfleet_certkit::{Certificate, Code, Material, Policy, PrivateKey, Role, Severity};
use certfleet_store::AuditAction;
use certfleet_store::{NewRenewal, RenewalRow};
use serde::Deserialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Console;
use super::Error;

/// What an admin hands over: a PFX with its password, or PEM texts.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The PFX / PKCS#12 file, base64.
    #[serde(default)]
    pub pfx_base64: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Zeroizing<String>>,
    /// The certificate (it may hold the chain and the key too).
    #[serde(default)]
    pub certificate_pem: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub key_pem: Option<Zeroizing<String>>,
    #[serde(default)]
    pub chain_pem: Option<String>,
    /// For an encrypted PEM key.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    pub key_password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for UploadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadRequest").finish_non_exhaustive()
    }
}

/// An upload that passed: the chain leaf first, the key that matches the leaf, and the
/// warnings worth showing (they do not block).
pub struct Accepted {
    pub chain: Vec<Certificate>,
    /// The root the upload came with: kept for client machines, never deployed.
    pub root: Option<Certificate>,
    pub key: PrivateKey,
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("chain", &self.chain.len())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Findings that block an upload although certkit rates them as warnings without a trust
/// bundle: a missing intermediate breaks clients just the same.
const BLOCKING: &[Code] = &[Code::ChainIncomplete, Code::KeyMissing];

fn empty(text: &Option<impl AsRef<str>>) -> bool {
    text.as_ref().is_none_or(|t| t.as_ref().trim().is_empty())
}

/// Reads and judges an upload. `Err` is the message for the admin.
pub fn check(request: &UploadRequest, now: OffsetDateTime) -> Result<Accepted, String> {
    let material = read(request)?;
    judge(material, now)
}

fn read(request: &UploadRequest) -> Result<Material, String> {
    match (&request.pfx_base64, empty(&request.certificate_pem)) {
        (Some(pfx), true) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(pfx.trim())
                .map_err(|_| {
                    "pfx_base64 is not base64: send the PFX file's bytes base64-encoded".to_owned()
                })?;
            let password = request.password.as_ref().map(|p| p.as_str()).unwrap_or("");
            certfleet_certkit::read(&bytes, Some(password)).map_err(|e| format!("the PFX: {e}"))
        }
        (None, false) => {
            let certificate = request.certificate_pem.as_deref().unwrap_or_default();
            let key_password = request.key_password.as_ref().map(|p| p.as_str());
            let mut material = certfleet_certkit::read(certificate.as_bytes(), key_password)
                .map_err(|e| format!("the certificate: {e}"))?;
            if !empty(&request.key_pem) {
                let key = request
                    .key_pem
                    .as_ref()
                    .map(|k| k.as_bytes())
                    .unwrap_or(&[]);
                material.merge(
                    certfleet_certkit::read(key, key_password)
                        .map_err(|e| format!("the private key: {e}"))?,
                );
            }
            if !empty(&request.chain_pem) {
                let chain = request.chain_pem.as_deref().unwrap_or_default();
                material.merge(
                    certfleet_certkit::read(chain.as_bytes(), None)
                        .map_err(|e| format!("the chain: {e}"))?,
                );
            }
            Ok(material)
        }
        (Some(_), false) => Err(
            "send either a PFX (pfx_base64 + password) or PEM (certificate_pem + key_pem), \
             not both"
                .into(),
        ),
        (None, true) => Err(
            "nothing to upload: send a PFX (pfx_base64 + password) or PEM (certificate_pem + \
             key_pem, optionally chain_pem)"
                .into(),
        ),
    }
}

fn judge(mut material: Material, now: OffsetDateTime) -> Result<Accepted, String> {
    if material.certificates.is_empty() {
        return Err("the upload holds no certificate: add the renewed certificate".into());
    }
    if material.keys.is_empty() {
        return Err(
            "the upload holds no private key: export the PFX with its private key (Windows: \
             \"Yes, export the private key\"), or add the key file"
                .into(),
        );
    }
    let report = certfleet_certkit::judge(&material, &Policy::new(now));
    let blocking: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error || BLOCKING.contains(&f.code))
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    if !blocking.is_empty() {
        return Err(format!(
            "refused, nothing was stored: {}",
            blocking.join("; ")
        ));
    }
    let warnings = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    let Some(key_index) = report.keys.iter().position(|k| k.matches_leaf) else {
        return Err(
            "key_mismatch: no private key in the upload belongs to the certificate: \
                    upload the key that was made with its request"
                .into(),
        );
    };
    let key = material.keys.swap_remove(key_index);
    // Leaf and intermediates, in order; a root is left out (clients have it, and a server
    // sending it only costs bytes).
    let mut chain = Vec::new();
    let mut root = None;
    for entry in &report.certificates {
        let Some(cert) = material
            .certificates
            .iter()
            .find(|c| c.facts().sha256 == entry.facts.sha256)
        else {
            continue;
        };
        match entry.role {
            Role::Leaf | Role::Intermediate => chain.push(cert.clone()),
            Role::Root => root = Some(cert.clone()),
            Role::TrustAnchor | Role::Unrelated => {}
        }
    }
    Ok(Accepted {
        chain,
        root,
        key,
        warnings,
    })
}

/// Checks and stores an upload, audited. The key is sealed before it reaches the store.
pub async fn upload(
    console: &Console,
    actor: &str,
    request: &UploadRequest,
) -> Result<RenewalRow, Error> {
    let now = console.now();
    let accepted = match check(request, now) {
        Ok(accepted) => accepted,
        Err(message) => {
            console
                .store
                .audit(
                    now.unix_timestamp(),
                    actor,
                    AuditAction::RenewalRefused,
                    None,
                    Some(&message),
                )
                .await?;
            return Err(Error::Invalid(message));
        }
    };
    let leaf = accepted.chain[0].facts();
    let sealed_key = console.kek.seal(accepted.key.pkcs8_der())?;
    let chain_pem = certfleet_certkit::write::pem_chain(&accepted.chain);
    let root_pem = certfleet_certkit::write::pem_chain(accepted.root.as_slice());
    let columns = super::renewal_columns::LeafColumns::of(leaf);
    let sha256 = columns.sha256();
    let id = console
        .store
        .insert_renewal(&NewRenewal {
            chain_pem: &chain_pem,
            root_pem: &root_pem,
            sealed_key: &sealed_key,
            warnings: &accepted.warnings,
            uploaded_by: actor,
            uploaded_at: now.unix_timestamp(),
            ..columns.renewal()
        })
        .await?;
    console
        .store
        .audit(
            now.unix_timestamp(),
            actor,
            AuditAction::RenewalUploaded,
            Some(&format!("renewal #{id}")),
            Some(&format!("{} (SHA-256 {sha256})", leaf.subject)),
        )
        .await?;
    Ok(console.store.renewal(id).await?)
}
