//! CryptoAPI system stores under LocalMachine.

use std::ptr::{null, null_mut};

use certfleet_certkit::{Certificate, Thumbprint};
use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_FIND_SHA1_HASH, CERT_KEY_PROV_INFO_PROP_ID, CERT_NCRYPT_KEY_SPEC,
    CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES, CERT_STORE_PROV_SYSTEM_W,
    CERT_SYSTEM_STORE_LOCAL_MACHINE, CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
    CRYPT_ACQUIRE_SILENT_FLAG, CRYPT_INTEGER_BLOB, CRYPT_MACHINE_KEYSET,
    CertAddCertificateContextToStore, CertAddEncodedCertificateToStore, CertCloseStore,
    CertDeleteCertificateFromStore, CertEnumCertificatesInStore, CertFindCertificateInStore,
    CertFreeCertificateContext, CertGetCertificateContextProperty,
    CryptAcquireCertificatePrivateKey, CryptReleaseContext, HCERTSTORE, NCryptFreeObject,
    PFXImportCertStore, PFXIsPFXBlob, PFXVerifyPassword, PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
};

use super::wide::{WideSecret, last_code, last_error, wide};
use crate::stores::{CertStores, Imported, PrivateKey, Store, StoredCertificate, Usable};
use crate::{Code, Error, Result};

const ENCODING: u32 = X509_ASN_ENCODING | PKCS_7_ASN_ENCODING;

/// The LocalMachine system stores (`My`, `Root`, `CA`), as `certlm.msc` shows them.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemStores;

/// An open store, closed on drop.
struct StoreHandle(HCERTSTORE);

impl Drop for StoreHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from CertOpenStore / PFXImportCertStore and is closed once.
        unsafe { CertCloseStore(self.0, 0) };
    }
}

fn open(store: Store) -> Result<StoreHandle> {
    let name = wide(store.system_name());
    // SAFETY: `name` is NUL-terminated and outlives the call; the system provider reads
    // pvPara as a wide string when the provider is CERT_STORE_PROV_SYSTEM_W.
    let handle = unsafe {
        windows_sys::Win32::Security::Cryptography::CertOpenStore(
            CERT_STORE_PROV_SYSTEM_W,
            0,
            0,
            CERT_SYSTEM_STORE_LOCAL_MACHINE,
            name.as_ptr().cast(),
        )
    };
    if handle.is_null() {
        Err(last_error(format!("opening {store}"), "CertOpenStore"))
    } else {
        Ok(StoreHandle(handle))
    }
}

/// The certificate's encoded bytes.
///
/// # Safety
/// `ctx` must be a valid certificate context.
unsafe fn der_of(ctx: *const CERT_CONTEXT) -> Vec<u8> {
    // SAFETY: the caller guarantees a valid context, whose pbCertEncoded holds
    // cbCertEncoded bytes for the context's lifetime.
    unsafe {
        std::slice::from_raw_parts((*ctx).pbCertEncoded, (*ctx).cbCertEncoded as usize).to_vec()
    }
}

/// Whether a key is linked (`CERT_KEY_PROV_INFO_PROP_ID`) and whether it opens.
///
/// # Safety
/// `ctx` must be a valid certificate context.
unsafe fn private_key_of(ctx: *const CERT_CONTEXT) -> PrivateKey {
    let mut size = 0u32;
    // SAFETY: a null buffer asks only for the property's size; `size` is a valid out pointer.
    let linked = unsafe {
        CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, null_mut(), &mut size)
    } != 0;
    if !linked {
        return PrivateKey::None;
    }
    let mut handle = 0usize;
    let mut spec = 0u32;
    let mut must_free = 0i32;
    // SAFETY: every out pointer is a valid local; SILENT never shows UI.
    let opened = unsafe {
        CryptAcquireCertificatePrivateKey(
            ctx,
            CRYPT_ACQUIRE_SILENT_FLAG | CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
            null(),
            &mut handle,
            &mut spec,
            &mut must_free,
        )
    } != 0;
    let usable = if opened {
        if must_free != 0 {
            if spec == CERT_NCRYPT_KEY_SPEC {
                // SAFETY: a CNG key handle the call told us to free, freed once.
                unsafe { NCryptFreeObject(handle) };
            } else {
                // SAFETY: a CSP handle the call told us to release, released once.
                unsafe { CryptReleaseContext(handle, 0) };
            }
        }
        Usable::Yes
    } else {
        match last_code() {
            code @ (Code::NTE_BAD_KEYSET | Code::NTE_NO_KEY | Code::CRYPT_E_NO_KEY_PROPERTY) => {
                Usable::No(code)
            }
            code => Usable::Unknown(code),
        }
    };
    PrivateKey::Associated { usable }
}

/// Walks a store's certificates, handing each context to `each` (valid only during the call).
fn for_each(handle: &StoreHandle, mut each: impl FnMut(*const CERT_CONTEXT)) {
    let mut ctx: *const CERT_CONTEXT = null();
    loop {
        // SAFETY: passing the previous context back hands it to CryptoAPI, which frees it and
        // returns the next (or null at the end, having freed the last).
        ctx = unsafe { CertEnumCertificatesInStore(handle.0, ctx) };
        if ctx.is_null() {
            break;
        }
        each(ctx);
    }
}

fn find_in(handle: &StoreHandle, thumbprint: &Thumbprint) -> *const CERT_CONTEXT {
    let mut hash = *thumbprint.as_bytes();
    let blob = CRYPT_INTEGER_BLOB {
        cbData: hash.len() as u32,
        pbData: hash.as_mut_ptr(),
    };
    // SAFETY: `blob` points at 20 live bytes for the call; a null previous context starts
    // the search. The caller frees (or deletes) the returned context.
    unsafe {
        CertFindCertificateInStore(
            handle.0,
            ENCODING,
            0,
            CERT_FIND_SHA1_HASH,
            (&blob as *const CRYPT_INTEGER_BLOB).cast(),
            null(),
        )
    }
}

impl CertStores for SystemStores {
    fn list(&self, store: Store) -> Result<Vec<StoredCertificate>> {
        let handle = open(store)?;
        let mut out = Vec::new();
        for_each(&handle, |ctx| {
            // SAFETY: `for_each` hands out contexts valid for the duration of this closure.
            let (der, private_key) = unsafe { (der_of(ctx), private_key_of(ctx)) };
            out.push(StoredCertificate {
                store,
                thumbprint: Thumbprint::of(&der),
                der,
                private_key,
            });
        });
        Ok(out)
    }

    fn find(&self, store: Store, thumbprint: &Thumbprint) -> Result<Option<StoredCertificate>> {
        let handle = open(store)?;
        let ctx = find_in(&handle, thumbprint);
        if ctx.is_null() {
            return Ok(None);
        }
        // SAFETY: a context just returned by CertFindCertificateInStore, freed right after.
        let found = unsafe {
            let found = StoredCertificate {
                store,
                thumbprint: *thumbprint,
                der: der_of(ctx),
                private_key: private_key_of(ctx),
            };
            CertFreeCertificateContext(ctx);
            found
        };
        Ok(Some(found))
    }

    fn import_pfx(&self, pfx: &[u8], password: &str) -> Result<Imported> {
        let what = "importing the PFX into LocalMachine\\My";
        let blob = CRYPT_INTEGER_BLOB {
            cbData: u32::try_from(pfx.len()).map_err(|_| Error::Invalid {
                what: what.into(),
                detail: "the PFX is larger than 4 GiB".into(),
            })?,
            // CryptoAPI takes a mutable pointer but only reads the blob.
            pbData: pfx.as_ptr().cast_mut(),
        };
        // SAFETY: `blob` points at `pfx`, alive for the call.
        if unsafe { PFXIsPFXBlob(&blob) } == 0 {
            return Err(Error::Invalid {
                what: what.into(),
                detail: "this is not a PFX / PKCS#12 file".into(),
            });
        }
        let secret = WideSecret::new(password);
        // SAFETY: `blob` and the NUL-terminated password live across the call. Only
        // CRYPT_MACHINE_KEYSET: further flags make Wine fail without an error code.
        let temp = unsafe { PFXImportCertStore(&blob, secret.0.as_ptr(), CRYPT_MACHINE_KEYSET) };
        if temp.is_null() {
            let code = last_code();
            // SAFETY: as above; PFXVerifyPassword only reads both.
            let password_ok = unsafe { PFXVerifyPassword(&blob, secret.0.as_ptr(), 0) } != 0;
            return Err(if password_ok {
                Error::os(what, "PFXImportCertStore", code)
            } else {
                Error::WrongPassword { what: what.into() }
            });
        }
        let temp = StoreHandle(temp);
        let mut leaf: Option<(*const CERT_CONTEXT, Thumbprint)> = None;
        let mut others: Vec<Vec<u8>> = Vec::new();
        let mut failure = None;
        let my = open(Store::My)?;
        for_each(&temp, |ctx| {
            // SAFETY: contexts from `for_each` are valid during the closure.
            let (der, key) = unsafe { (der_of(ctx), private_key_of(ctx)) };
            if key.associated() && leaf.is_none() {
                let mut stored = null_mut();
                // SAFETY: both handles are open; the added copy carries the key link and is
                // returned in `stored`, which we keep until the end of the import.
                let ok = unsafe {
                    CertAddCertificateContextToStore(
                        my.0,
                        ctx,
                        CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES,
                        &mut stored,
                    )
                } != 0;
                if ok {
                    leaf = Some((stored.cast_const(), Thumbprint::of(&der)));
                } else {
                    failure = Some(last_error(what, "CertAddCertificateContextToStore"));
                }
            } else {
                others.push(der);
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let Some((stored, leaf)) = leaf else {
            return Err(Error::Invalid {
                what: what.into(),
                detail: "the PFX holds no private key: export it again with \"Yes, export the private key\"".into(),
            });
        };
        // SAFETY: the context CertAddCertificateContextToStore returned, freed once.
        unsafe { CertFreeCertificateContext(stored) };
        let mut imported = Imported {
            leaf,
            intermediates: Vec::new(),
            roots_skipped: Vec::new(),
        };
        for der in others {
            let thumbprint = Thumbprint::of(&der);
            if Certificate::from_der(&der).is_ok_and(|c| c.facts().self_signed) {
                imported.roots_skipped.push(thumbprint);
            } else {
                self.add(Store::Ca, &der)?;
                imported.intermediates.push(thumbprint);
            }
        }
        Ok(imported)
    }

    fn add(&self, store: Store, der: &[u8]) -> Result<Thumbprint> {
        let handle = open(store)?;
        let len = u32::try_from(der.len()).map_err(|_| Error::Invalid {
            what: format!("adding a certificate to {store}"),
            detail: "the certificate is larger than 4 GiB".into(),
        })?;
        // SAFETY: `der` is alive for the call; no context is asked back.
        let ok = unsafe {
            CertAddEncodedCertificateToStore(
                handle.0,
                ENCODING,
                der.as_ptr(),
                len,
                CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES,
                null_mut(),
            )
        } != 0;
        if ok {
            Ok(Thumbprint::of(der))
        } else {
            Err(last_error(
                format!("adding a certificate to {store}"),
                "CertAddEncodedCertificateToStore",
            ))
        }
    }

    fn remove(&self, store: Store, thumbprint: &Thumbprint) -> Result<bool> {
        let handle = open(store)?;
        let ctx = find_in(&handle, thumbprint);
        if ctx.is_null() {
            return Ok(false);
        }
        // SAFETY: a context from CertFindCertificateInStore; the delete frees it, even on
        // failure.
        if unsafe { CertDeleteCertificateFromStore(ctx) } == 0 {
            return Err(last_error(
                format!("removing {thumbprint} from {store}"),
                "CertDeleteCertificateFromStore",
            ));
        }
        Ok(true)
    }
}
