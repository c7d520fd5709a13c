use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::httpsys::{BindingKey, HttpConfig, SslBinding, UrlAcl};
use crate::stores::{CertStores, Store};
use crate::{Code, Error, Result};

#[derive(Debug, Default)]
struct State {
    bindings: BTreeMap<BindingKey, SslBinding>,
    acls: BTreeMap<String, UrlAcl>,
    fail_next_add: Option<Code>,
}

/// HTTP.sys's configuration store in memory. It checks a binding's certificate against the
/// stores it is given, as Windows does (error 1312 when it is missing or keyless).
pub struct FakeHttpConfig {
    stores: Arc<dyn CertStores>,
    state: Mutex<State>,
}

impl std::fmt::Debug for FakeHttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttpConfig").finish_non_exhaustive()
    }
}

impl FakeHttpConfig {
    pub fn new(stores: Arc<dyn CertStores>) -> Self {
        FakeHttpConfig {
            stores,
            state: Mutex::new(State::default()),
        }
    }

    /// The next `add_ssl_binding` fails with `code` (a Windows that refuses it).
    pub fn fail_next_add(&self, code: Code) {
        self.lock().fail_next_add = Some(code);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, as HTTP.sys takes an AppId.
fn is_braced_guid(text: &str) -> bool {
    text.starts_with('{') && text.ends_with('}') && crate::httpsys::parse_guid(text).is_some()
}

/// `http://+:4207/`, `https://host:443/path/`: a scheme, a host (`+`, `*` or a name), a port,
/// and a trailing slash, which HTTP.sys requires.
fn is_url_prefix(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let Some((authority, _path)) = rest.split_once('/') else {
        return false;
    };
    url.ends_with('/')
        && authority.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

impl HttpConfig for FakeHttpConfig {
    fn ssl_bindings(&self) -> Result<Vec<SslBinding>> {
        Ok(self.lock().bindings.values().cloned().collect())
    }

    fn ssl_binding(&self, key: &BindingKey) -> Result<Option<SslBinding>> {
        Ok(self.lock().bindings.get(key).cloned())
    }

    fn add_ssl_binding(&self, binding: &SslBinding) -> Result<()> {
        let what = format!("binding a certificate to {}", binding.key);
        let call = "HttpSetServiceConfiguration";
        if let Some(code) = self.lock().fail_next_add.take() {
            return Err(Error::os(what, call, code));
        }
        if !is_braced_guid(&binding.app_id) {
            return Err(Error::os(what, call, Code::INVALID_PARAMETER));
        }
        if self.lock().bindings.contains_key(&binding.key) {
            return Err(Error::os(what, call, Code::ALREADY_EXISTS));
        }
        let usable = Store::parse(&binding.store)
            .map(|store| self.stores.find(store, &binding.thumbprint))
            .transpose()?
            .flatten()
            .is_some_and(|c| c.private_key.associated());
        if !usable {
            return Err(Error::os(what, call, Code::NO_SUCH_LOGON_SESSION));
        }
        self.lock()
            .bindings
            .insert(binding.key.clone(), binding.clone());
        Ok(())
    }

    fn delete_ssl_binding(&self, key: &BindingKey) -> Result<()> {
        match self.lock().bindings.remove(key) {
            Some(_) => Ok(()),
            None => Err(Error::os(
                format!("deleting the binding {key}"),
                "HttpDeleteServiceConfiguration",
                Code::FILE_NOT_FOUND,
            )),
        }
    }

    fn url_acl(&self, url: &str) -> Result<Option<UrlAcl>> {
        Ok(self.lock().acls.get(&url.to_ascii_lowercase()).cloned())
    }

    fn add_url_acl(&self, acl: &UrlAcl) -> Result<()> {
        let what = format!("reserving {}", acl.url);
        let call = "HttpSetServiceConfiguration";
        if !is_url_prefix(&acl.url) || !acl.sddl.starts_with("D:") {
            return Err(Error::os(what, call, Code::INVALID_PARAMETER));
        }
        let mut state = self.lock();
        let key = acl.url.to_ascii_lowercase();
        if state.acls.contains_key(&key) {
            return Err(Error::os(what, call, Code::ALREADY_EXISTS));
        }
        state.acls.insert(key, acl.clone());
        Ok(())
    }

    fn delete_url_acl(&self, url: &str) -> Result<()> {
        match self.lock().acls.remove(&url.to_ascii_lowercase()) {
            Some(_) => Ok(()),
            None => Err(Error::os(
                format!("deleting the reservation {url}"),
                "HttpDeleteServiceConfiguration",
                Code::FILE_NOT_FOUND,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_url_prefixes_are_checked_as_http_sys_does() {
        assert!(is_braced_guid("{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}"));
        assert!(!is_braced_guid("A86AD080-2EC6-44FB-82E4-BB1E409AB93C"));
        assert!(!is_braced_guid("{A86AD080-2EC6-44FB-82E4-BB1E409AB93}"));
        assert!(is_url_prefix("https://+:4207/"));
        assert!(is_url_prefix("http://sage.example.com:80/api/"));
        assert!(!is_url_prefix("https://+:4207"));
        assert!(!is_url_prefix("https://+/"));
        assert!(!is_url_prefix("ftp://+:21/"));
        let guid = crate::httpsys::parse_guid("{a86ad080-2ec6-44fb-82e4-bb1e409ab93c}").unwrap();
        assert_eq!(
            crate::httpsys::format_guid(guid),
            "{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}"
        );
    }
}
