//! CryptoAPI system stores under LocalMachine.

use std::ptr::{null, null_mut};

use certfleet_certkit::{Certificate, Thumbprint};
use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_FIND_SHA1_HASH, CERT_KEY_PROV_INFO_PROP_ID, CERT_NCRYPT_KEY_SPEC,
    CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES, CERT_STORE_PROV_SYSTEM_REGISTRY_W,
    CERT_STORE_PROV_SYSTEM_W, CERT_SYSTEM_STORE_LOCAL_MACHINE, CRYPT_ACQUIRE_ALLOW_NCRYPT_KEY_FLAG,
    CRYPT_ACQUIRE_SILENT_FLAG, CRYPT_INTEGER_BLOB, CRYPT_MACHINE_KEYSET,
    CertAddCertificateContextToStore, CertAddEncodedCertificateToStore, CertCloseStore,
    CertDeleteCertificateFromStore, CertDuplicateCertificateContext, CertEnumCertificatesInStore,
    CertFindCertificateInStore, CertFreeCertificateContext, CertGetCertificateContextProperty,
    CertSetCertificateContextProperty, CryptAcquireCertificatePrivateKey, CryptReleaseContext,
    HCERTSTORE, NCryptFreeObject, PFXImportCertStore, PFXIsPFXBlob, PFXVerifyPassword,
    PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
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

/// Opens the store to read: the logical system store (every physical store under it, as
/// `certlm.msc` shows them).
fn open(store: Store) -> Result<StoreHandle> {
    open_with(store, CERT_STORE_PROV_SYSTEM_W)
}

/// Opens the store to change: its registry store, where `certutil -addstore` and the MMC
/// write LocalMachine certificates (Wine drops deletions made through the logical store).
fn open_for_change(store: Store) -> Result<StoreHandle> {
    open_with(store, CERT_STORE_PROV_SYSTEM_REGISTRY_W)
}

fn open_with(store: Store, provider: windows_sys::core::PCSTR) -> Result<StoreHandle> {
    let name = wide(store.system_name());
    // SAFETY: `name` is NUL-terminated and outlives the call; both system providers read
    // pvPara as a wide string.
    let handle = unsafe {
        windows_sys::Win32::Security::Cryptography::CertOpenStore(
            provider,
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

/// The thumbprint of the certificate whose public key matches the PFX's private key.
fn leaf_of(pfx: &[u8], password: &str, what: &str) -> Result<Thumbprint> {
    let (material, index) = crate::stores::read_pfx(pfx, password, what)?;
    Ok(material.certificates[index].facts().thumbprint)
}

/// A copy of the certificate's `CRYPT_KEY_PROV_INFO` (8-byte aligned; its pointers point
/// into the copy), or `None` when it has no key link.
///
/// # Safety
/// `ctx` must be a valid certificate context.
unsafe fn key_prov_info(ctx: *const CERT_CONTEXT) -> Option<Vec<u64>> {
    let mut size = 0u32;
    // SAFETY: a null buffer asks only for the size.
    if unsafe {
        CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, null_mut(), &mut size)
    } == 0
    {
        return None;
    }
    let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
    // SAFETY: the buffer holds at least `size` bytes.
    let ok = unsafe {
        CertGetCertificateContextProperty(
            ctx,
            CERT_KEY_PROV_INFO_PROP_ID,
            buffer.as_mut_ptr().cast(),
            &mut size,
        )
    } != 0;
    ok.then_some(buffer)
}

/// Adds the leaf to LocalMachine\My, linking it to the imported key where the import
/// linked the key to another certificate of the PFX.
fn add_with_key(leaf: *const CERT_CONTEXT, key_info: Option<&[u64]>, what: &str) -> Result<()> {
    // SAFETY: `leaf` is a valid context owned by the caller.
    if unsafe { key_prov_info(leaf) }.is_none() {
        let Some(info) = key_info else {
            return Err(Error::Invalid {
                what: what.into(),
                detail:
                    "Windows imported the PFX without its private key: export it again with the key"
                        .into(),
            });
        };
        // SAFETY: `info` is a CRYPT_KEY_PROV_INFO whose pointers point into itself, alive
        // for the call, which copies it onto the context.
        let ok = unsafe {
            CertSetCertificateContextProperty(
                leaf,
                CERT_KEY_PROV_INFO_PROP_ID,
                0,
                info.as_ptr().cast(),
            )
        } != 0;
        if !ok {
            return Err(last_error(what, "CertSetCertificateContextProperty"));
        }
    }
    let my = open_for_change(Store::My)?;
    // SAFETY: both are valid; no context is asked back.
    let ok = unsafe {
        CertAddCertificateContextToStore(
            my.0,
            leaf,
            CERT_STORE_ADD_REPLACE_EXISTING_INHERIT_PROPERTIES,
            null_mut(),
        )
    } != 0;
    if ok {
        Ok(())
    } else {
        Err(last_error(what, "CertAddCertificateContextToStore"))
    }
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

impl SystemStores {
    fn thumbprints(&self, store: Store) -> Result<Vec<Thumbprint>> {
        Ok(self
            .list(store)?
            .into_iter()
            .map(|c| c.thumbprint)
            .collect())
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
        // Which certificate the key belongs to is decided here, by the key itself: CryptoAPI
        // links the key to whichever certificate the PFX's attributes name (Wine links it to
        // the first one), and a mislabelled PFX must not put an issuer into My.
        let leaf = leaf_of(pfx, password, what)?;
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
        // An import leaves exactly the leaf in My and its issuers in CA: anything else that
        // appears there during it (Wine's import has been seen to write the PFX's
        // certificates into the wrong stores) is removed afterwards; on Windows nothing is.
        let before = [self.thumbprints(Store::My)?, self.thumbprints(Store::Ca)?];
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
        let mut leaf_ctx: *const CERT_CONTEXT = null();
        let mut key_info: Option<Vec<u64>> = None;
        let mut others: Vec<Vec<u8>> = Vec::new();
        for_each(&temp, |ctx| {
            // SAFETY: contexts from `for_each` are valid during the closure.
            let der = unsafe { der_of(ctx) };
            if key_info.is_none() {
                // SAFETY: as above.
                key_info = unsafe { key_prov_info(ctx) };
            }
            if Thumbprint::of(&der) == leaf && leaf_ctx.is_null() {
                // SAFETY: keeps our own reference past the enumeration; freed below.
                leaf_ctx = unsafe { CertDuplicateCertificateContext(ctx) };
            } else {
                others.push(der);
            }
        });
        if leaf_ctx.is_null() {
            return Err(Error::Invalid {
                what: what.into(),
                detail: "Windows did not find the key's certificate in the PFX: export it again"
                    .into(),
            });
        }
        let added = add_with_key(leaf_ctx, key_info.as_deref(), what);
        // SAFETY: the duplicate made above, freed once.
        unsafe { CertFreeCertificateContext(leaf_ctx) };
        added?;
        let mut imported = Imported {
            leaf,
            intermediates: Vec::new(),
            roots_skipped: Vec::new(),
        };
        for der in &others {
            let thumbprint = Thumbprint::of(der);
            if Certificate::from_der(der).is_ok_and(|c| c.facts().self_signed) {
                imported.roots_skipped.push(thumbprint);
            } else {
                self.add(Store::Ca, der)?;
                imported.intermediates.push(thumbprint);
            }
        }
        let wanted = [vec![leaf], imported.intermediates.clone()];
        for ((store, was), keep) in [Store::My, Store::Ca].into_iter().zip(before).zip(wanted) {
            for stray in self.thumbprints(store)? {
                if !was.contains(&stray) && !keep.contains(&stray) {
                    self.remove(store, &stray)?;
                }
            }
        }
        Ok(imported)
    }

    fn add(&self, store: Store, der: &[u8]) -> Result<Thumbprint> {
        let handle = open_for_change(store)?;
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
        let handle = open_for_change(store)?;
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
