//! Keys made on this host for a certificate the console will issue: kept pending in the data
//! folder (owner-only, written durably) between the console's `key_request` and the deploy
//! job that brings the certificate, so the private key never leaves the host. A request
//! asked again under the same job id answers from the kept key; the deploy that commits
//! removes it; keys whose certificate never came are forgotten after [`KEEP_FOR`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use certfleet_proto::KeyType;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::deploy::journal::safe_id;

/// How long a key waits for its certificate before it is forgotten.
pub const KEEP_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the key request id {0:?} is not one the console makes; nothing was kept")]
    Id(String),
    #[error(
        "a key is already kept for request {id} for {was:?}, not {asked:?}: the console reused \
         a request id; nothing was changed"
    )]
    OtherEndpoint {
        id: String,
        was: String,
        asked: String,
    },
    #[error("no key is kept for request {0}: it was used, or forgotten after 30 days; renew again")]
    Missing(String),
    #[error("the kept key of request {id} is damaged ({why}); renew again to make a new one")]
    Damaged { id: String, why: String },
    #[error("cannot make a {0} key: {1}")]
    Generate(KeyType, String),
    #[error("cannot keep the key in {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the certificate request: {0}")]
    Csr(String),
}

/// What is kept beside each key: what it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    endpoint: String,
    key_type: KeyType,
    names: Vec<String>,
}

/// The folder of pending keys.
#[derive(Debug, Clone)]
pub struct PendingKeys {
    dir: PathBuf,
}

impl PendingKeys {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        crate::deploy::journal::create_private_dir(dir)?;
        Ok(PendingKeys {
            dir: dir.to_path_buf(),
        })
    }

    fn key_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.key"))
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The certificate request for `id`: from the key kept for it, or from a new key made
    /// and kept now. The key is on disk before the request leaves.
    pub fn request(
        &self,
        id: &str,
        endpoint: &str,
        key_type: KeyType,
        names: &[String],
    ) -> Result<String, Error> {
        if !safe_id(id) {
            return Err(Error::Id(id.to_owned()));
        }
        let key = match self.meta(id) {
            Some(meta) if meta.endpoint != endpoint => {
                return Err(Error::OtherEndpoint {
                    id: id.to_owned(),
                    was: meta.endpoint,
                    asked: endpoint.to_owned(),
                });
            }
            Some(_) => self.key(id)?,
            None => {
                let key = generate(key_type)?;
                let meta = Meta {
                    endpoint: endpoint.to_owned(),
                    key_type,
                    names: names.to_vec(),
                };
                let json = serde_json::to_vec(&meta).unwrap_or_default();
                // The key first: a request whose description exists always has its key.
                self.write(&self.key_path(id), key.as_bytes())?;
                self.write(&self.meta_path(id), &json)?;
                // A newer request for the endpoint replaces an older one whose certificate
                // never came (that renewal failed or was given up): one key per endpoint.
                for other in self.ids() {
                    if other != id && self.meta(&other).is_some_and(|m| m.endpoint == endpoint) {
                        tracing::info!(endpoint, "discarded the pending key of request {other}");
                        self.remove(&other);
                    }
                }
                key
            }
        };
        csr_of(&key, names)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        certfleet_files::replace_owner_only(path, bytes).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            source: std::io::Error::new(e.io().kind(), e.to_string()),
        })
    }

    fn meta(&self, id: &str) -> Option<Meta> {
        let text = std::fs::read(self.meta_path(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The kept key (PKCS#8 PEM) of request `id`.
    pub fn key(&self, id: &str) -> Result<Zeroizing<String>, Error> {
        if !safe_id(id) {
            return Err(Error::Id(id.to_owned()));
        }
        let text = match std::fs::read_to_string(self.key_path(id)) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing(id.to_owned()));
            }
            Err(e) => {
                return Err(Error::Damaged {
                    id: id.to_owned(),
                    why: e.to_string(),
                });
            }
        };
        certfleet_certkit::read(text.as_bytes(), None)
            .ok()
            .filter(|m| m.keys.len() == 1)
            .ok_or_else(|| Error::Damaged {
                id: id.to_owned(),
                why: "it is not a private key".into(),
            })?;
        Ok(text)
    }

    /// Forgets the key of request `id` (its certificate is deployed, with the key beside it).
    pub fn remove(&self, id: &str) {
        if safe_id(id) {
            let _ = std::fs::remove_file(self.meta_path(id));
            let _ = std::fs::remove_file(self.key_path(id));
        }
    }

    /// The ids of the keys kept now.
    pub fn ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".key").map(str::to_owned)
            })
            .filter(|id| safe_id(id))
            .collect();
        ids.sort();
        ids
    }

    /// Forgets keys older than `age` whose certificate never came; how many.
    pub fn prune(&self, age: Duration) -> usize {
        let mut pruned = 0;
        for id in self.ids() {
            let old = std::fs::metadata(self.key_path(&id))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age);
            if old {
                self.remove(&id);
                pruned += 1;
            }
        }
        pruned
    }
}

/// A new private key, PKCS#8 PEM.
fn generate(key_type: KeyType) -> Result<Zeroizing<String>, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Generate(key_type, e.to_string());
    match key_type {
        KeyType::EcdsaP256 => {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| failed(&e))?;
            Ok(Zeroizing::new(key.serialize_pem()))
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 => {
            use rsa::pkcs8::EncodePrivateKey;
            let bits = if key_type == KeyType::Rsa2048 {
                2048
            } else {
                3072
            };
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| failed(&e))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| failed(&e))?;
            Ok(Zeroizing::new(pem.to_string()))
        }
    }
}

/// A certificate request for `names` signed by `key_pem`.
fn csr_of(key_pem: &str, names: &[String]) -> Result<String, Error> {
    let failed = |e: rcgen::Error| Error::Csr(e.to_string());
    let der = pem::parse(key_pem).map_err(|e| Error::Csr(e.to_string()))?;
    let key = rcgen::KeyPair::try_from(der.contents()).map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.clone());
    }
    params
        .serialize_request(&key)
        .map_err(failed)?
        .pem()
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn names() -> Vec<String> {
        vec!["esync.example.test".into()]
    }

    #[test]
    fn a_request_asked_again_answers_from_the_same_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = PendingKeys::open(&dir.path().join("pending-keys")).expect("open");
        let first = keys
            .request("key-1", "apache:a:443", KeyType::EcdsaP256, &names())
            .expect("first");
        let kept = keys.key("key-1").expect("kept");
        let again = keys
            .request("key-1", "apache:a:443", KeyType::EcdsaP256, &names())
            .expect("again");
        assert_eq!(keys.key("key-1").expect("kept").as_str(), kept.as_str());
        let public = |csr: &str| {
            rcgen::CertificateSigningRequestParams::from_pem(csr)
                .expect("csr")
                .public_key
                .der_bytes()
                .to_vec()
        };
        assert_eq!(public(&first), public(&again));
        assert_eq!(keys.ids(), vec!["key-1".to_owned()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("pending-keys/key-1.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the pending key is readable by others: {mode:o}"
            );
        }
        keys.remove("key-1");
        assert!(matches!(keys.key("key-1"), Err(Error::Missing(_))));
        assert!(keys.ids().is_empty());
    }

    #[test]
    fn a_request_id_reused_for_another_endpoint_or_unsafe_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = PendingKeys::open(dir.path()).expect("open");
        keys.request("key-2", "apache:a:443", KeyType::EcdsaP256, &names())
            .expect("first");
        let other = keys.request("key-2", "pem:b", KeyType::EcdsaP256, &names());
        assert!(
            matches!(other, Err(Error::OtherEndpoint { .. })),
            "{other:?}"
        );
        let hostile = keys.request("../../etc/x", "pem:b", KeyType::EcdsaP256, &names());
        assert!(matches!(hostile, Err(Error::Id(_))), "{hostile:?}");
        std::fs::write(dir.path().join("key-2.key"), "-----BEGIN PRIV").expect("cut");
        assert!(matches!(keys.key("key-2"), Err(Error::Damaged { .. })));
    }

    #[test]
    fn an_rsa_key_is_made_for_hosts_that_need_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = PendingKeys::open(dir.path()).expect("open");
        let csr = keys
            .request("key-3", "sage300:4207", KeyType::Rsa2048, &names())
            .expect("rsa");
        let parsed = rcgen::CertificateSigningRequestParams::from_pem(&csr).expect("csr");
        assert_eq!(
            parsed.public_key.algorithm(),
            &rcgen::PKCS_RSA_SHA256,
            "an RSA 2048 request"
        );
        let key = keys.key("key-3").expect("key");
        let material = certfleet_certkit::read(key.as_bytes(), None).expect("read");
        assert_eq!(
            material.keys[0].kind(),
            certfleet_certkit::KeyKind::Rsa { bits: 2048 }
        );
    }

    #[test]
    fn a_new_request_for_an_endpoint_discards_the_older_pending_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = PendingKeys::open(dir.path()).expect("open");
        keys.request("key-5", "pem:b", KeyType::EcdsaP256, &names())
            .expect("first");
        keys.request("key-6", "pem:other", KeyType::EcdsaP256, &names())
            .expect("other endpoint");
        keys.request("key-7", "pem:b", KeyType::EcdsaP256, &names())
            .expect("again");
        assert_eq!(keys.ids(), vec!["key-6".to_owned(), "key-7".to_owned()]);
    }

    #[test]
    fn keys_whose_certificate_never_came_are_forgotten() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = PendingKeys::open(dir.path()).expect("open");
        keys.request("key-4", "pem:b", KeyType::EcdsaP256, &names())
            .expect("made");
        assert_eq!(keys.prune(Duration::from_secs(3600)), 0);
        assert_eq!(keys.prune(Duration::ZERO), 1);
        assert!(keys.ids().is_empty());
    }
}
