//! A local user on the host who could write into the journal or a target folder: what they
//! plant is set aside or replaced, never run or written through.

use std::path::Path;

use super::*;

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("600");
    }
}

fn record(job_id: &str, files: Vec<FileRecord>) -> Record {
    Record {
        job_id: job_id.into(),
        endpoint: "pem:www.example.test".into(),
        new_sha256: "AB".into(),
        old_sha256: None,
        phase: Phase::Applied,
        files,
        windows: Vec::new(),
        restarted: true,
        detail: String::new(),
        reported: false,
    }
}

fn quarantined(journal_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(journal_dir.join("quarantine"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_forged_journal_record_is_set_aside_and_nothing_it_names_is_run_or_written() {
    let marks = tempfile::tempdir().expect("dir");
    let configured = marks.path().join("configured-reload-ran");
    let forged = marks.path().join("forged-command-ran");
    let reload = ["touch", configured.to_str().expect("utf-8")];
    let s = pem_setup(&[], &reload).await;
    let journal_dir = s.target.certificate.with_file_name("journal");
    let attacker = marks.path().join("attacker.pem");
    std::fs::write(&attacker, "planted").expect("planted");
    let victim = marks.path().join("victim.conf");
    std::fs::write(&victim, "precious").expect("victim");

    // A file outside the endpoint's configuration, "restored" from a copy in its own folder.
    let backups = s.journal.backup_dir("outside");
    std::fs::create_dir_all(&backups).expect("dir");
    std::fs::write(backups.join("0"), "planted").expect("copy");
    let outside = record(
        "outside",
        vec![FileRecord {
            path: victim.clone(),
            before: Before::Copy(backups.join("0")),
        }],
    );
    s.journal.save(&outside).expect("save");
    // The endpoint's own certificate, "restored" from a copy anywhere else.
    let mut elsewhere = record(
        "elsewhere",
        vec![FileRecord {
            path: s.target.certificate.clone(),
            before: Before::Copy(attacker.clone()),
        }],
    );
    let text = serde_json::to_string(&elsewhere).expect("json");
    private_file(&journal_dir.join("elsewhere.json"), &text);
    // A command in a field no record has.
    elsewhere.job_id = "unknown-field".into();
    elsewhere.files.clear();
    let mut value = serde_json::to_value(&elsewhere).expect("json");
    value["run"] = serde_json::json!(["touch", forged]);
    private_file(&journal_dir.join("unknown-field.json"), &value.to_string());
    // A record under another job's file name.
    elsewhere.job_id = "the-real-one".into();
    let text = serde_json::to_string(&elsewhere).expect("json");
    private_file(&journal_dir.join("renamed.json"), &text);
    // One that other users could have written.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        elsewhere.job_id = "wide".into();
        let path = journal_dir.join("wide.json");
        std::fs::write(&path, serde_json::to_string(&elsewhere).expect("json")).expect("w");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("666");
    }

    let finished = recover(&Host::native(), &s.journal, &s.reach_of(), quick()).await;
    assert!(finished.is_empty(), "nothing was acted on: {finished:?}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
    assert!(!forged.exists() && !configured.exists(), "nothing ran");
    let mut expected = vec![
        "elsewhere.json",
        "outside.json",
        "renamed.json",
        "unknown-field.json",
    ];
    if cfg!(unix) {
        expected.push("wide.json");
    }
    let aside = quarantined(&journal_dir);
    assert_eq!(aside.len(), expected.len(), "{aside:?}");
    for (name, want) in aside.iter().zip(&expected) {
        assert!(name.starts_with(want), "{aside:?}");
    }
    assert!(s.journal.all().is_empty(), "set aside, not read again");
    assert!(s.journal.load("outside").is_none());

    // An honest record with an old journal's commands: what runs is the configuration's.
    std::fs::write(&s.target.certificate, "half-written").expect("torn");
    let backups = s.journal.backup_dir("honest");
    std::fs::create_dir_all(&backups).expect("dir");
    std::fs::write(backups.join("0"), &s.old.cert_pem).expect("copy");
    let honest = record(
        "honest",
        vec![FileRecord {
            path: s.target.certificate.clone(),
            before: Before::Copy(backups.join("0")),
        }],
    );
    let mut value = serde_json::to_value(&honest).expect("json");
    value["restart"] = serde_json::json!(["touch", forged]);
    value["check"] = serde_json::json!(["touch", forged]);
    private_file(&journal_dir.join("honest.json"), &value.to_string());
    let finished = recover(&Host::native(), &s.journal, &s.reach_of(), quick()).await;
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0].phase, Phase::RolledBack, "{:?}", finished[0]);
    assert!(configured.exists(), "the configured reload ran");
    assert!(!forged.exists(), "the journal's commands did not");
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
}

#[tokio::test]
async fn a_link_planted_at_a_staged_name_is_replaced_never_written_through() {
    let s = pem_setup(&[], &["true"]).await;
    let elsewhere = tempfile::tempdir().expect("dir");
    let victim = elsewhere.path().join("shadow");
    std::fs::write(&victim, "precious").expect("victim");
    let key = s.target.key.clone().expect("key");
    for live in [&s.target.certificate, &key] {
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, files::staged_path(live)).expect("link");
        #[cfg(not(unix))]
        let _ = live;
    }
    let new = s.ca.server(&["www.example.test"], 365);
    let driver = pem::PemDriver {
        target: s.target.clone(),
    };
    let outcome = deploy(
        &s.journal,
        "through-a-link",
        "pem:www.example.test",
        &driver,
        &bundle(&s.ca, &new),
        quick(),
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    let address = s.target.address.as_deref().expect("address");
    assert_eq!(served(address).await, new.sha256);
    let meta = std::fs::symlink_metadata(&key).expect("key");
    assert!(meta.file_type().is_file(), "the key is a file of its own");
    assert_eq!(std::fs::read_to_string(&key).expect("key"), new.key_pem);
}

#[cfg(unix)]
#[tokio::test]
async fn a_target_folder_other_users_can_write_is_refused_and_nothing_changes() {
    use std::os::unix::fs::PermissionsExt;
    let s = pem_setup(&[], &["true"]).await;
    let folder = s.target.certificate.parent().expect("folder").to_path_buf();
    let driver = pem::PemDriver {
        target: s.target.clone(),
    };
    let new = s.ca.server(&["www.example.test"], 365);
    // Group-writable counts for a group other than root's: give the folder one, where the
    // test may (as root, as in CI).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&folder, None, Some(65534)).expect("chgrp");
    }
    let gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&folder).expect("meta"));
    for (mode, says) in [(0o777, "every user may write"), (0o770, "the group")] {
        if mode == 0o770 && gid == 0 {
            continue;
        }
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(mode)).expect("mode");
        let err = check_folders(&driver.reach().expect("reach")).expect_err("refused");
        assert!(matches!(err, Error::UnsafeFolder { .. }), "{err:?}");
        let job = format!("wide-{mode:o}");
        let outcome = deploy(
            &s.journal,
            &job,
            "pem:www.example.test",
            &driver,
            &bundle(&s.ca, &new),
            quick(),
        )
        .await;
        assert_eq!(outcome.phase, Phase::Failed, "{outcome:?}");
        assert!(
            outcome.detail.contains(says) && outcome.detail.contains("chmod go-w"),
            "{}",
            outcome.detail
        );
        assert_eq!(
            std::fs::read_to_string(&s.target.certificate).expect("cert"),
            s.old.cert_pem
        );
    }
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).expect("mode");
    let outcome = deploy(
        &s.journal,
        "private-again",
        "pem:www.example.test",
        &driver,
        &bundle(&s.ca, &new),
        quick(),
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
}
