//! What the HTTP Server API's configuration does, as Windows documents it, stated once and
//! run against the fake in CI and — ignored by default — against the real HTTP Server API
//! on a scratch port of a Windows machine (as an administrator):
//!
//! ```text
//! set CERTFLEET_CONTRACT_PORT=48207
//! cargo test -p certfleet-winhost --test http_contract -- --ignored
//! ```
//!
//! The real run imports a throw-away certificate into LocalMachine\My and removes it, and
//! binds and reserves only the scratch port, removing both.

use std::net::SocketAddr;
use std::sync::Arc;

use certfleet_certkit::{self as certkit, Thumbprint};
use certfleet_winhost::fake::{FakeHttpConfig, FakeStores};
use certfleet_winhost::{
    BindingKey, CertStores, Code, HttpConfig, SslBinding, Store, UrlAcl, httpsys,
};

const SAGE_APP_ID: &str = "{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}";

/// A self-signed certificate with its key, as a PFX, and its thumbprint.
fn pfx(password: &str) -> (Vec<u8>, Thumbprint) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["contract.certfleet.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let chain = [certkit::Certificate::from_der(cert.der()).unwrap()];
    let key = certkit::PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap();
    let bytes = certkit::write::pfx(
        &key,
        &chain,
        password,
        certkit::write::PfxEncryption::TripleDes,
    )
    .unwrap();
    (bytes, Thumbprint::of(cert.der()))
}

/// The documented behaviour, on `port` (nothing else may be bound or reserved there).
fn contract(http: &dyn HttpConfig, stores: &dyn CertStores, port: u16) {
    let key = BindingKey::IpPort(SocketAddr::from(([0, 0, 0, 0], port)));
    let (bytes, leaf) = pfx("contract-pw");
    let binding = SslBinding::new(key.clone(), leaf, SAGE_APP_ID);

    // A missing record: queried, None; deleted, 2.
    assert_eq!(http.ssl_binding(&key).unwrap(), None);
    assert_eq!(
        http.delete_ssl_binding(&key).unwrap_err().code(),
        Some(Code::FILE_NOT_FOUND)
    );
    // A certificate that is not in My: 1312, as `netsh http add sslcert` reports it.
    assert_eq!(
        http.add_ssl_binding(&binding).unwrap_err().code(),
        Some(Code::NO_SUCH_LOGON_SESSION)
    );
    stores.import_pfx(&bytes, "contract-pw").unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        http.add_ssl_binding(&binding).unwrap();
        // Adding an existing key: 183.
        assert_eq!(
            http.add_ssl_binding(&binding).unwrap_err().code(),
            Some(Code::ALREADY_EXISTS)
        );
        let read = http.ssl_binding(&key).unwrap().expect("bound");
        assert_eq!(read.thumbprint, leaf);
        assert!(read.app_id.eq_ignore_ascii_case(SAGE_APP_ID), "{read:?}");
        // Enumeration (which ends on 259 inside) lists it.
        assert!(http.ssl_bindings().unwrap().iter().any(|b| b.key == key));
        // An appid that is not a braced GUID: 87.
        let bad_app = SslBinding::new(
            BindingKey::IpPort(SocketAddr::from(([127, 0, 0, 1], port))),
            leaf,
            "A86AD080",
        );
        assert_eq!(
            http.add_ssl_binding(&bad_app).unwrap_err().code(),
            Some(Code::INVALID_PARAMETER)
        );
        // Replacing (delete, then add with every field) keeps the port bound.
        let previous = httpsys::replace_ssl_binding(http, &binding).unwrap();
        assert_eq!(previous.map(|b| b.thumbprint), Some(leaf));
        http.delete_ssl_binding(&key).unwrap();
        assert_eq!(http.ssl_binding(&key).unwrap(), None);

        let url = format!("https://+:{port}/");
        let acl = UrlAcl {
            url: url.clone(),
            sddl: httpsys::EVERYONE_MAY_LISTEN.into(),
        };
        assert_eq!(http.url_acl(&url).unwrap(), None);
        http.add_url_acl(&acl).unwrap();
        assert_eq!(
            http.add_url_acl(&acl).unwrap_err().code(),
            Some(Code::ALREADY_EXISTS)
        );
        assert!(http.url_acl(&url).unwrap().is_some());
        http.delete_url_acl(&url).unwrap();
        assert_eq!(
            http.delete_url_acl(&url).unwrap_err().code(),
            Some(Code::FILE_NOT_FOUND)
        );
        // A prefix without its trailing slash: 87.
        let no_slash = UrlAcl {
            url: format!("https://+:{port}"),
            sddl: httpsys::EVERYONE_MAY_LISTEN.into(),
        };
        assert_eq!(
            http.add_url_acl(&no_slash).unwrap_err().code(),
            Some(Code::INVALID_PARAMETER)
        );
    }));
    // Whatever happened, the scratch state goes.
    let _ = http.delete_ssl_binding(&key);
    let _ = http.delete_url_acl(&format!("https://+:{port}/"));
    let _ = stores.remove(Store::My, &leaf);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn the_fake_http_sys_keeps_the_contract() {
    let stores = Arc::new(FakeStores::new());
    let http = FakeHttpConfig::new(stores.clone());
    contract(&http, &*stores, 4207);
}

#[cfg(windows)]
#[test]
#[ignore = "changes the machine's HTTP.sys configuration: run as an administrator on a scratch Windows machine"]
fn the_real_http_sys_keeps_the_contract() {
    let port = std::env::var("CERTFLEET_CONTRACT_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(48207);
    contract(
        &certfleet_winhost::windows::HttpSysConfig,
        &certfleet_winhost::windows::SystemStores,
        port,
    );
}
