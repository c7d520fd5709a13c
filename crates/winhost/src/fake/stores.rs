use std::collections::BTreeMap;
use std::sync::Mutex;

use certfleet_certkit::{Certificate, Thumbprint};
use zeroize::Zeroizing;

use crate::stores::{CertStores, Imported, PrivateKey, Store, StoredCertificate, Usable};
use crate::{Code, Error, Result};

/// LocalMachine stores in memory. Keys imported with a PFX are kept (PKCS#8), so a fake
/// HTTP.sys can serve TLS with what its bindings name.
#[derive(Default)]
pub struct FakeStores {
    stores: Mutex<BTreeMap<Store, Vec<StoredCertificate>>>,
    keys: Mutex<BTreeMap<Thumbprint, Zeroizing<Vec<u8>>>>,
    fail_next_import: Mutex<Option<Code>>,
}

impl std::fmt::Debug for FakeStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStores").finish_non_exhaustive()
    }
}

impl FakeStores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a certificate in place as an earlier import or an admin would have.
    pub fn insert(&self, store: Store, der: &[u8], private_key: PrivateKey) {
        let cert = StoredCertificate {
            store,
            thumbprint: Thumbprint::of(der),
            der: der.to_vec(),
            private_key,
        };
        self.put(cert);
    }

    /// Puts a certificate with its key (PKCS#8 DER) into `My`, as an earlier import did.
    pub fn insert_with_key(&self, der: &[u8], pkcs8: &[u8]) {
        self.keys_lock()
            .insert(Thumbprint::of(der), Zeroizing::new(pkcs8.to_vec()));
        self.insert(
            Store::My,
            der,
            PrivateKey::Associated {
                usable: Usable::Yes,
            },
        );
    }

    /// The next `import_pfx` fails with `code` (a full disk, a policy that refuses it).
    pub fn fail_next_import(&self, code: Code) {
        *self
            .fail_next_import
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(code);
    }

    /// The key of a certificate in `My`, when it came with one.
    pub fn private_key(&self, thumbprint: &Thumbprint) -> Option<Zeroizing<Vec<u8>>> {
        let in_my = self
            .list(Store::My)
            .ok()?
            .iter()
            .any(|c| c.thumbprint == *thumbprint && c.private_key.associated());
        in_my
            .then(|| self.keys_lock().get(thumbprint).cloned())
            .flatten()
    }

    fn keys_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Thumbprint, Zeroizing<Vec<u8>>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, cert: StoredCertificate) {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let list = stores.entry(cert.store).or_default();
        match list.iter_mut().find(|c| c.thumbprint == cert.thumbprint) {
            // CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES: the key link stays.
            Some(old) => {
                let key = if cert.private_key.associated() {
                    cert.private_key
                } else {
                    old.private_key
                };
                *old = StoredCertificate {
                    private_key: key,
                    ..cert
                };
            }
            None => list.push(cert),
        }
    }
}

impl CertStores for FakeStores {
    fn list(&self, store: Store) -> Result<Vec<StoredCertificate>> {
        let stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        Ok(stores.get(&store).cloned().unwrap_or_default())
    }

    fn import_pfx(&self, pfx: &[u8], password: &str) -> Result<Imported> {
        let what = "importing the PFX";
        if let Some(code) = self
            .fail_next_import
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(Error::os(what, "PFXImportCertStore", code));
        }
        let (material, index) = crate::stores::read_pfx(pfx, password, what)?;
        let leaf = &material.certificates[index];
        if let Some(key) = material.keys.first() {
            self.keys_lock().insert(
                leaf.facts().thumbprint,
                Zeroizing::new(key.pkcs8_der().to_vec()),
            );
        }
        let mut imported = Imported {
            leaf: leaf.facts().thumbprint,
            intermediates: Vec::new(),
            roots_skipped: Vec::new(),
        };
        self.put(StoredCertificate {
            store: Store::My,
            thumbprint: leaf.facts().thumbprint,
            der: leaf.der().to_vec(),
            private_key: PrivateKey::Associated {
                usable: Usable::Yes,
            },
        });
        for cert in material.certificates.iter().filter(|c| *c != leaf) {
            issuer(self, cert, &mut imported);
        }
        Ok(imported)
    }

    fn add(&self, store: Store, der: &[u8]) -> Result<Thumbprint> {
        Certificate::from_der(der).map_err(|_| {
            Error::os(
                format!("adding a certificate to {store}"),
                "CertAddEncodedCertificateToStore",
                Code::CRYPT_E_ASN1_BADTAG,
            )
        })?;
        let thumbprint = Thumbprint::of(der);
        self.put(StoredCertificate {
            store,
            thumbprint,
            der: der.to_vec(),
            private_key: PrivateKey::None,
        });
        Ok(thumbprint)
    }

    fn remove(&self, store: Store, thumbprint: &Thumbprint) -> Result<bool> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = stores.get_mut(&store) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|c| c.thumbprint != *thumbprint);
        Ok(list.len() != before)
    }
}

fn issuer(stores: &FakeStores, cert: &Certificate, imported: &mut Imported) {
    let thumbprint = cert.facts().thumbprint;
    if cert.facts().self_signed {
        imported.roots_skipped.push(thumbprint);
        return;
    }
    stores.put(StoredCertificate {
        store: Store::Ca,
        thumbprint,
        der: cert.der().to_vec(),
        private_key: PrivateKey::None,
    });
    imported.intermediates.push(thumbprint);
}
