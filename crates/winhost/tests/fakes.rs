//! The fakes answer as Windows documents, and the platform-neutral logic over the traits
//! (service waits, binding replacement) holds against them.

use std::sync::Arc;
use std::time::Duration;

use certfleet_certkit::{self as certkit, Thumbprint};
use certfleet_winhost::fake::{Behaviour, FakeHttpConfig, FakeServices, FakeStores};
use certfleet_winhost::{
    BindingKey, CertStores, Code, Error, HttpConfig, ServiceState, Services, SslBinding, Store,
    Wait, httpsys, services,
};

const SAGE_APP_ID: &str = "{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}";

/// A leaf signed by an intermediate signed by a root, as a PFX with the leaf's key.
fn pfx(password: &str) -> (Vec<u8>, Thumbprint, Thumbprint, Thumbprint) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name
        .push(rcgen::DnType::CommonName, "Test Root");
    let root_params = root;
    let root = root_params.self_signed(&root_key).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test Intermediate");
    let root_issuer = rcgen::Issuer::from_params(&root_params, &root_key);
    let ca_params = ca;
    let ca = ca_params.signed_by(&ca_key, &root_issuer).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["sage.example.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &rcgen::Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let chain: Vec<certkit::Certificate> = [leaf.der(), ca.der(), root.der()]
        .iter()
        .map(|d| certkit::Certificate::from_der(d).unwrap())
        .collect();
    let key = certkit::PrivateKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap();
    let bytes = certkit::write::pfx(
        &key,
        &chain,
        password,
        certkit::write::PfxEncryption::TripleDes,
    )
    .unwrap();
    (
        bytes,
        Thumbprint::of(leaf.der()),
        Thumbprint::of(ca.der()),
        Thumbprint::of(root.der()),
    )
}

#[test]
fn a_pfx_import_puts_the_leaf_with_its_key_in_my_and_the_intermediate_in_ca_but_no_root() {
    let stores = FakeStores::new();
    let (bytes, leaf, ca, root) = pfx("Imp0rt!");
    let imported = stores.import_pfx(&bytes, "Imp0rt!").unwrap();
    assert_eq!(imported.leaf, leaf);
    assert_eq!(imported.intermediates, vec![ca]);
    assert_eq!(imported.roots_skipped, vec![root]);
    let found = stores.find(Store::My, &leaf).unwrap().expect("leaf in My");
    assert!(found.private_key.associated());
    assert!(stores.find(Store::Ca, &ca).unwrap().is_some());
    assert!(stores.list(Store::Root).unwrap().is_empty());
    assert!(stores.remove(Store::My, &leaf).unwrap());
    assert!(!stores.remove(Store::My, &leaf).unwrap());
}

#[test]
fn a_wrong_password_is_refused_with_windows_code_and_changes_nothing() {
    let stores = FakeStores::new();
    let (bytes, ..) = pfx("right");
    let err = stores.import_pfx(&bytes, "wrong").unwrap_err();
    assert!(matches!(err, Error::WrongPassword { .. }), "{err}");
    assert_eq!(err.code(), Some(Code::INVALID_PASSWORD));
    assert!(stores.list(Store::My).unwrap().is_empty());
    let err = stores
        .import_pfx(&bytes[..bytes.len() / 2], "right")
        .unwrap_err();
    assert!(
        err.code().is_some(),
        "a truncated PFX fails with a code: {err}"
    );
    assert!(stores.add(Store::Root, b"not a certificate").is_err());
}

fn quick() -> Wait {
    Wait {
        overall: Duration::from_secs(5),
        min_poll: Duration::from_millis(5),
    }
}

#[test]
fn a_restart_waits_through_the_pending_states_to_running() {
    let scm = FakeServices::new();
    scm.install(
        "eSync Apache Web Server",
        "LocalSystem",
        "httpd.exe -k runservice",
        Behaviour::Normal { pending_polls: 3 },
    );
    services::start(&scm, "eSync Apache Web Server", quick()).unwrap();
    assert_eq!(
        scm.status("esync apache web server").unwrap().state,
        ServiceState::Running
    );
    services::restart(&scm, "eSync Apache Web Server", quick()).unwrap();
    assert_eq!(
        scm.status("eSync Apache Web Server").unwrap().state,
        ServiceState::Running
    );
    assert_eq!(scm.requests("eSync Apache Web Server"), (2, 1));
    // Stopping a stopped service, or starting a running one, is not an error.
    services::start(&scm, "eSync Apache Web Server", quick()).unwrap();
    services::stop(&scm, "eSync Apache Web Server", quick()).unwrap();
    services::stop(&scm, "eSync Apache Web Server", quick()).unwrap();
}

#[test]
fn a_stop_waits_for_a_service_that_reports_no_stop_pending() {
    let scm = FakeServices::new();
    scm.install(
        "quiet",
        "LocalSystem",
        "x.exe",
        Behaviour::StopsWithoutPending { polls: 3 },
    );
    services::start(&scm, "quiet", quick()).unwrap();
    services::restart(&scm, "quiet", quick()).unwrap();
    assert_eq!(scm.status("quiet").unwrap().state, ServiceState::Running);
    assert_eq!(scm.requests("quiet"), (2, 1));
}

#[test]
fn a_service_that_stops_or_hangs_while_starting_is_an_error_naming_it_and_its_state() {
    let scm = FakeServices::new();
    scm.install(
        "broken",
        "LocalSystem",
        "x.exe",
        Behaviour::FailsToStart { exit_code: 1 },
    );
    let err = services::start(&scm, "broken", quick()).unwrap_err();
    assert!(
        matches!(err, Error::ServiceFailed { exit_code: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"broken\""), "{err}");

    scm.install("stuck", "LocalSystem", "x.exe", Behaviour::HangsStarting);
    let err = services::start(&scm, "stuck", quick()).unwrap_err();
    match &err {
        Error::ServiceTimeout { state, wanted, .. } => {
            assert_eq!(
                (*state, *wanted),
                (ServiceState::StartPending, ServiceState::Running)
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("starting"), "{err}");

    let err = services::restart(&scm, "no such service", quick()).unwrap_err();
    assert_eq!(err.code(), Some(Code::SERVICE_DOES_NOT_EXIST));
    scm.install(
        "off",
        "LocalSystem",
        "x.exe",
        Behaviour::Normal { pending_polls: 0 },
    );
    scm.disable("off");
    assert_eq!(
        services::start(&scm, "off", quick()).unwrap_err().code(),
        Some(Code::SERVICE_DISABLED)
    );
}

#[test]
fn a_replacement_that_windows_refuses_puts_the_old_binding_back() {
    let stores = Arc::new(FakeStores::new());
    let http = FakeHttpConfig::new(stores.clone());
    let (old_pfx, old, ..) = pfx("pw");
    let (new_pfx, new, ..) = pfx("pw");
    stores.import_pfx(&old_pfx, "pw").unwrap();
    stores.import_pfx(&new_pfx, "pw").unwrap();
    let key = BindingKey::IpPort("0.0.0.0:4207".parse().unwrap());
    let mut first = SslBinding::new(key.clone(), old, SAGE_APP_ID);
    first.flags = 0x2; // carried over by a replacement, never reset
    http.add_ssl_binding(&first).unwrap();

    http.fail_next_add(Code::ACCESS_DENIED);
    let err = httpsys::replace_ssl_binding(
        &http,
        &SslBinding {
            thumbprint: new,
            ..first.clone()
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(Code::ACCESS_DENIED));
    assert_eq!(
        http.ssl_binding(&key).unwrap(),
        Some(first.clone()),
        "the old binding is back"
    );

    let previous = httpsys::replace_ssl_binding(
        &http,
        &SslBinding {
            thumbprint: new,
            ..first.clone()
        },
    )
    .unwrap();
    assert_eq!(previous, Some(first));
    assert_eq!(http.ssl_binding(&key).unwrap().unwrap().thumbprint, new);
}
