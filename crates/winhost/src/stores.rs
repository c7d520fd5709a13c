//! The LocalMachine certificate stores (CryptoAPI system stores), as the agent uses them:
//! list, find by thumbprint, import a PFX with its key into the machine key set, add a
//! certificate, remove one.

use std::fmt;

use certfleet_certkit::Thumbprint;

use crate::Result;

/// A LocalMachine system store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// `My`: "Personal", where a server's certificate with its key lives.
    My,
    /// `Root`: "Trusted Root Certification Authorities".
    Root,
    /// `CA`: "Intermediate Certification Authorities".
    Ca,
    /// `WebHosting`: where IIS (and some HTTP.sys bindings) keep server certificates.
    WebHosting,
}

impl Store {
    /// The stores the inventory lists.
    pub const ALL: [Store; 3] = [Store::My, Store::Root, Store::Ca];

    /// The system store's name, as `certutil -store` and HTTP.sys take it.
    pub fn system_name(self) -> &'static str {
        match self {
            Store::My => "MY",
            Store::Root => "Root",
            Store::Ca => "CA",
            Store::WebHosting => "WebHosting",
        }
    }

    /// Accepts the names admins type: `my`, `personal`, `root`, `ca`, any case.
    pub fn parse(name: &str) -> Option<Store> {
        match name.to_ascii_lowercase().as_str() {
            "my" | "personal" => Some(Store::My),
            "root" | "trusted root" => Some(Store::Root),
            "ca" | "intermediate" => Some(Store::Ca),
            "webhosting" | "web hosting" => Some(Store::WebHosting),
            _ => None,
        }
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalMachine\\{}", self.system_name())
    }
}

/// Whether a private key can actually be used (signing needs it), as far as Windows says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    Yes,
    /// The key's container is gone or unreadable.
    No(crate::Code),
    /// Windows gave an answer that says neither (Wine answers so for every key).
    Unknown(crate::Code),
}

/// A certificate's link to a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateKey {
    /// No key is associated (`CERT_KEY_PROV_INFO_PROP_ID` is absent).
    None,
    /// A key container is named for it; whether it opens is `usable`.
    Associated { usable: Usable },
}

impl PrivateKey {
    pub fn associated(self) -> bool {
        matches!(self, PrivateKey::Associated { .. })
    }
}

/// One certificate in a store.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    pub store: Store,
    pub thumbprint: Thumbprint,
    pub der: Vec<u8>,
    pub private_key: PrivateKey,
}

impl fmt::Debug for StoredCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCertificate")
            .field("store", &self.store)
            .field("thumbprint", &self.thumbprint)
            .field("private_key", &self.private_key)
            .finish_non_exhaustive()
    }
}

/// What an import put where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The certificate with the key, now in `My`.
    pub leaf: Thumbprint,
    /// Issuers now in `CA`.
    pub intermediates: Vec<Thumbprint>,
    /// Self-signed issuers the PFX carried, not imported: trusting a root is its own
    /// decision (the `trust` driver's), never a side effect of an import.
    pub roots_skipped: Vec<Thumbprint>,
}

/// The LocalMachine stores. All calls need an administrator (the agent's service account).
pub trait CertStores: Send + Sync {
    fn list(&self, store: Store) -> Result<Vec<StoredCertificate>>;

    fn find(&self, store: Store, thumbprint: &Thumbprint) -> Result<Option<StoredCertificate>> {
        Ok(self
            .list(store)?
            .into_iter()
            .find(|c| c.thumbprint == *thumbprint))
    }

    /// Imports a PFX: the certificate that has the key into `My` with the key in the
    /// machine key set, its issuers into `CA` (self-signed ones are skipped). A certificate
    /// already there is replaced. A wrong password is [`crate::Error::WrongPassword`].
    fn import_pfx(&self, pfx: &[u8], password: &str) -> Result<Imported>;

    /// Adds a DER certificate (no key) to `store`, replacing the same one.
    fn add(&self, store: Store, der: &[u8]) -> Result<Thumbprint>;

    /// Removes the certificate; `false` when it was not there.
    fn remove(&self, store: Store, thumbprint: &Thumbprint) -> Result<bool>;
}

/// Reads a PFX and finds the certificate its key belongs to (by the key itself, not by the
/// PFX's labels): the material and the leaf's index. A wrong password is
/// [`crate::Error::WrongPassword`]; undecodable input gets the code Windows gives it.
pub(crate) fn read_pfx(
    pfx: &[u8],
    password: &str,
    what: &str,
) -> Result<(certfleet_certkit::Material, usize)> {
    use crate::{Code, Error};
    let material = match certfleet_certkit::read(pfx, Some(password)) {
        Ok(m) => m,
        Err(certfleet_certkit::Error::WrongPassword { .. }) => {
            return Err(Error::WrongPassword { what: what.into() });
        }
        Err(_) => {
            return Err(Error::os(
                what,
                "PFXImportCertStore",
                Code::CRYPT_E_BAD_ENCODE,
            ));
        }
    };
    let key = material.keys.first().ok_or_else(|| Error::Invalid {
        what: what.into(),
        detail:
            "the PFX holds no private key: export it again with \"Yes, export the private key\""
                .into(),
    })?;
    let leaf = material
        .certificates
        .iter()
        .position(|c| key.matches(c))
        .ok_or_else(|| Error::Invalid {
            what: what.into(),
            detail: "the PFX's key belongs to none of its certificates: export it again".into(),
        })?;
    Ok((material, leaf))
}
