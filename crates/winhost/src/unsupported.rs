//! What the traits answer on a system that is not Windows: every call fails with
//! [`Error::Unsupported`], so an agent on Linux configured for a Windows target says so
//! instead of pretending.

use certfleet_certkit::Thumbprint;

use crate::chains::{ChainEngine, ChainVerdict, RevocationCheck};
use crate::httpsys::{BindingKey, HttpConfig, SslBinding, UrlAcl};
use crate::services::{ServiceConfig, ServiceStatus, Services};
use crate::stores::{CertStores, Imported, Store, StoredCertificate};
use crate::{Error, Result};

#[derive(Debug, Default, Clone, Copy)]
pub struct NotWindows;

fn no<T>(what: &'static str) -> Result<T> {
    Err(Error::Unsupported { what })
}

const STORES: &str = "the Windows certificate stores";
const SCM: &str = "the Windows service control manager";
const HTTP: &str = "the HTTP.sys configuration";

impl ChainEngine for NotWindows {
    fn verify(&self, _: &[Vec<u8>], _: &str, _: RevocationCheck) -> Result<ChainVerdict> {
        no("the Windows chain engine")
    }
}

impl CertStores for NotWindows {
    fn list(&self, _: Store) -> Result<Vec<StoredCertificate>> {
        no(STORES)
    }
    fn import_pfx(&self, _: &[u8], _: &str) -> Result<Imported> {
        no(STORES)
    }
    fn add(&self, _: Store, _: &[u8]) -> Result<Thumbprint> {
        no(STORES)
    }
    fn remove(&self, _: Store, _: &Thumbprint) -> Result<bool> {
        no(STORES)
    }
}

impl Services for NotWindows {
    fn status(&self, _: &str) -> Result<ServiceStatus> {
        no(SCM)
    }
    fn config(&self, _: &str) -> Result<ServiceConfig> {
        no(SCM)
    }
    fn request_start(&self, _: &str) -> Result<()> {
        no(SCM)
    }
    fn request_stop(&self, _: &str) -> Result<()> {
        no(SCM)
    }
}

impl HttpConfig for NotWindows {
    fn ssl_bindings(&self) -> Result<Vec<SslBinding>> {
        no(HTTP)
    }
    fn ssl_binding(&self, _: &BindingKey) -> Result<Option<SslBinding>> {
        no(HTTP)
    }
    fn add_ssl_binding(&self, _: &SslBinding) -> Result<()> {
        no(HTTP)
    }
    fn delete_ssl_binding(&self, _: &BindingKey) -> Result<()> {
        no(HTTP)
    }
    fn url_acl(&self, _: &str) -> Result<Option<UrlAcl>> {
        no(HTTP)
    }
    fn add_url_acl(&self, _: &UrlAcl) -> Result<()> {
        no(HTTP)
    }
    fn delete_url_acl(&self, _: &str) -> Result<()> {
        no(HTTP)
    }
}
