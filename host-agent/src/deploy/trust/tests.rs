//! The trust driver for real: the real `update-ca-certificates` on folders of the test's own
//! (never the machine's), a real TLS listener, the executor's journal and rollback.

use certfleet_e2e::listener::serve_tls;
use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_proto::TrustVerdict;

use super::*;
use crate::deploy::{Journal, Outcome, Phase, Timing, execute};
use crate::trust::install::tests::{self_signed, target};

struct Client {
    dir: tempfile::TempDir,
    local: std::path::PathBuf,
    bundle: std::path::PathBuf,
    update: Vec<String>,
    journal: Journal,
    ledger: Ledger,
    host: Host,
}

impl Client {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let [certs, local, etc, hooks] = ["certs", "local", "etc", "hooks"].map(|d| {
            let path = dir.path().join(d);
            std::fs::create_dir_all(&path).expect("dir");
            path
        });
        let conf = dir.path().join("ca-certificates.conf");
        std::fs::write(&conf, "").expect("conf");
        // A machine's bundle always holds other roots (and update-ca-certificates keeps the
        // old bundle when no certificate at all is left to build one from).
        std::fs::write(
            local.join("some-public-root.crt"),
            TestCa::new("Some Public Root").pem,
        )
        .expect("another root");
        let update = ["update-ca-certificates", "--fresh", "--certsconf"]
            .iter()
            .map(|s| s.to_string())
            .chain([conf.display().to_string()])
            .chain(["--certsdir".into(), certs.display().to_string()])
            .chain(["--localcertsdir".into(), local.display().to_string()])
            .chain(["--etccertsdir".into(), etc.display().to_string()])
            .chain(["--hooksdir".into(), hooks.display().to_string()])
            .collect();
        let journal = Journal::open(&dir.path().join("journal")).expect("journal");
        let ledger = Ledger::at(dir.path());
        Client {
            local,
            bundle: etc.join("ca-certificates.crt"),
            update,
            journal,
            ledger,
            host: Host::native(),
            dir,
        }
    }

    fn target(&self, endpoint: &str) -> TrustTarget {
        TrustTarget {
            bundle_dir: Some(self.local.clone()),
            update_command: Some(self.update.clone()),
            ca_file: Some(self.bundle.clone()),
            ..target(endpoint, "sage01.example.test")
        }
    }

    async fn run(
        &self,
        target: &TrustTarget,
        change: Change,
        job: &str,
        bundle: Bundle,
    ) -> Outcome {
        let key = change.key(&target.endpoint);
        let driver =
            TrustDriver::find(std::slice::from_ref(target), &key, &self.ledger, &self.host)
                .expect("driver");
        let mut quiet = |_: certfleet_proto::DeployStep, _: &str| {};
        execute(
            &self.host,
            &self.journal,
            job,
            &key,
            &driver,
            &bundle,
            Timing::default(),
            &mut quiet,
        )
        .await
    }

    async fn live(&self, target: &TrustTarget) -> TrustVerdict {
        let anchors = Anchors::for_target(target);
        crate::trust::check(target, &anchors, &self.host, OffsetDateTime::now_utc())
            .await
            .0
            .verdict
    }

    fn crt_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.local)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("certfleet-"))
            .collect();
        names.sort();
        names
    }
}

fn install(pem: &str, sha256: &str) -> Bundle {
    Bundle {
        chain_pem: pem.to_owned(),
        key_pem: Zeroizing::new(String::new()),
        sha256: sha256.to_owned(),
    }
}

fn removal(sha256: &str) -> Bundle {
    install("", sha256)
}

#[tokio::test]
async fn a_client_trusts_a_new_certificate_before_the_server_serves_it_and_loses_only_what_nothing_needs()
 {
    let client = Client::new();
    let (cert, cert_pem, key_pem) = self_signed(&["sage01.example.test"], false);
    let sha = cert.facts().sha256.to_string();
    let address = serve_tls(
        &ServerCert {
            cert_pem: cert_pem.clone(),
            key_pem,
            sha256: sha.clone(),
        },
        "",
    );
    let target = client.target(&address);
    assert_eq!(client.live(&target).await, TrustVerdict::UnknownRoot);

    // Installed through the executor: the bundle rebuilt, the chain judged, the ledger kept.
    let done = client
        .run(
            &target,
            Change::Install,
            "trust-1",
            install(&cert_pem, &sha),
        )
        .await;
    assert_eq!(done.phase, Phase::Committed, "{}", done.detail);
    assert!(done.detail.contains("now trusts"), "{}", done.detail);
    assert_eq!(client.live(&target).await, TrustVerdict::Trusted);
    assert_eq!(client.crt_files().len(), 1);
    let entries = client.ledger.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(matches!(&entries[0].place, Place::File { path } if path.starts_with(&client.local)));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(client.local.join(&client.crt_files()[0]))
            .expect("file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "the machine's TLS clients read it");

    // A second certificate for the host, not served: installed, then removed again — the
    // server still proves trusted without it.
    let (spare, spare_pem, _) = self_signed(&["sage01.example.test"], false);
    let spare_sha = spare.facts().sha256.to_string();
    let done = client
        .run(
            &target,
            Change::Install,
            "trust-2",
            install(&spare_pem, &spare_sha),
        )
        .await;
    assert_eq!(done.phase, Phase::Committed, "{}", done.detail);
    assert_eq!(client.crt_files().len(), 2);
    let done = client
        .run(&target, Change::Remove, "untrust-2", removal(&spare_sha))
        .await;
    assert_eq!(done.phase, Phase::Committed, "{}", done.detail);
    assert!(done.detail.contains("still trusts"), "{}", done.detail);
    assert_eq!(client.crt_files().len(), 1);
    assert_eq!(client.ledger.entries().len(), 1);

    // Removing what the served certificate needs is proved wrong and put back.
    let done = client
        .run(&target, Change::Remove, "untrust-1", removal(&sha))
        .await;
    assert_eq!(done.phase, Phase::RolledBack, "{}", done.detail);
    assert!(done.detail.contains("would not trust"), "{}", done.detail);
    assert_eq!(client.live(&target).await, TrustVerdict::Trusted);
    assert_eq!(client.crt_files().len(), 1, "the file is back");
    assert_eq!(client.ledger.entries().len(), 1, "and still certfleet's");

    // What certfleet did not install is not its to remove.
    let (other, _, _) = self_signed(&["sage01.example.test"], false);
    let done = client
        .run(
            &target,
            Change::Remove,
            "untrust-3",
            removal(&other.facts().sha256.to_string()),
        )
        .await;
    assert_eq!(done.phase, Phase::Committed, "{}", done.detail);
    assert!(done.detail.contains("not certfleet's"), "{}", done.detail);
    assert_eq!(client.crt_files().len(), 1, "nothing else taken out");
    assert_eq!(client.live(&target).await, TrustVerdict::Trusted);
    drop(client.dir);
}

#[tokio::test]
async fn a_refused_or_unproved_install_leaves_the_trust_store_as_it_was() {
    let client = Client::new();
    let (cert, cert_pem, _) = self_signed(&["sage01.example.test"], false);
    let sha = cert.facts().sha256.to_string();
    let target = client.target("sage01.example.test:4207");

    // A certificate for another host: refused before anything is written.
    let (foreign, foreign_pem, _) = self_signed(&["www.bank.example"], false);
    let done = client
        .run(
            &target,
            Change::Install,
            "trust-foreign",
            install(&foreign_pem, &foreign.facts().sha256.to_string()),
        )
        .await;
    assert_eq!(done.phase, Phase::Failed, "{}", done.detail);
    assert!(done.detail.contains("www.bank.example"), "{}", done.detail);
    // A CA this machine does not pin: refused.
    let ca = TestCa::new("Some Issuing CA");
    let root = certkit::read(ca.pem.as_bytes(), None)
        .expect("ca")
        .certificates[0]
        .clone();
    let done = client
        .run(
            &target,
            Change::Install,
            "trust-ca",
            install(&ca.pem, &root.facts().sha256.to_string()),
        )
        .await;
    assert_eq!(done.phase, Phase::Failed, "{}", done.detail);
    assert!(done.detail.contains("allowed_issuers"), "{}", done.detail);
    // A sha256 the chain does not hold.
    let done = client
        .run(
            &target,
            Change::Install,
            "trust-missing",
            install(&cert_pem, &"AB".repeat(32)),
        )
        .await;
    assert_eq!(done.phase, Phase::Failed, "{}", done.detail);
    assert!(client.crt_files().is_empty());

    // An update command that does not rebuild the bundle: the chain is not trusted after,
    // so the file goes again.
    let lazy = TrustTarget {
        update_command: Some(vec!["true".into()]),
        ..target.clone()
    };
    let done = client
        .run(
            &lazy,
            Change::Install,
            "trust-lazy",
            install(&cert_pem, &sha),
        )
        .await;
    assert_eq!(done.phase, Phase::RolledBack, "{}", done.detail);
    assert!(done.detail.contains("would not trust"), "{}", done.detail);
    assert!(client.crt_files().is_empty(), "{:?}", client.crt_files());
    assert!(client.ledger.entries().is_empty());

    // An endpoint not in this machine's list has no driver at all.
    let err = TrustDriver::find(
        std::slice::from_ref(&target),
        &Change::Install.key("other.example.test:4207"),
        &client.ledger,
        &client.host,
    )
    .expect_err("not listed");
    assert!(err.to_string().contains("[[trust]] list"), "{err}");
}

#[test]
fn a_trust_reach_allows_only_certfleets_own_files_in_the_bundle_folder() {
    let reach = Reach {
        owned_in: Some("/usr/local/share/ca-certificates".into()),
        ..Reach::default()
    };
    assert!(reach.allows_file(std::path::Path::new(
        "/usr/local/share/ca-certificates/certfleet-0a1b2c3d4e5f6789.crt"
    )));
    for path in [
        "/usr/local/share/ca-certificates/some-public-root.crt",
        "/usr/local/share/ca-certificates/certfleet-../x.crt",
        "/usr/local/share/ca-certificates/sub/certfleet-0a1b.crt",
        "/etc/ssl/certs/certfleet-0a1b.crt",
        "/usr/local/share/ca-certificates/certfleet-.crt",
    ] {
        assert!(!reach.allows_file(std::path::Path::new(path)), "{path}");
    }
    assert!(!reach.allows(&WindowsChange::Untrust {
        thumbprint: "AB".repeat(20)
    }));
    let windows = Reach {
        root_store: true,
        ..Reach::default()
    };
    assert!(windows.allows(&WindowsChange::Untrust {
        thumbprint: "AB".repeat(20)
    }));
    assert!(!windows.allows(&WindowsChange::Import {
        thumbprint: "AB".repeat(20)
    }));
}
