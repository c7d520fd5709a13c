//! The storage layer against real SQLite files.

use certfleet_proto::{CertificateInfo, Endpoint, Finding, Hello, Inventory, Snapshot};
use certfleet_store::{
    CertSort, CertificateFilter, Error, IngestRequest, NewAgent, NewToken, Role, Store,
};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("certfleet.db"))
        .await
        .expect("open");
    (dir, store)
}

fn token(id: &str, expires_at: i64) -> NewToken {
    NewToken {
        id: id.into(),
        secret_sha256: format!("hash-of-{id}"),
        host_hint: None,
        created_by: "admin".into(),
        created_at: NOW,
        expires_at,
    }
}

async fn enrolled(store: &Store, agent: &str) -> i64 {
    store
        .create_token(&token(agent, NOW + DAY))
        .await
        .expect("token");
    store
        .enroll_agent(
            agent,
            &format!("hash-of-{agent}"),
            NOW,
            &NewAgent {
                id: agent,
                cert_serial: "01",
                cert_not_after: NOW + 30 * DAY,
            },
        )
        .await
        .expect("enrol");
    let hello = Hello {
        agent_version: "0.1.0".into(),
        protocol: 1,
        hostname: format!("host-{agent}"),
        fqdn: format!("host-{agent}.example.test"),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec!["esync".into()],
    };
    store.upsert_host(agent, &hello, NOW).await.expect("host")
}

fn cert(sha: &str, not_after: i64) -> CertificateInfo {
    CertificateInfo {
        sha256: sha.into(),
        thumbprint: format!("T{sha}"),
        subject: format!("CN={sha}.example.test"),
        issuer: "CN=Issuer".into(),
        serial: "01".into(),
        dns_names: vec![format!("{sha}.example.test")],
        ip_addresses: vec![],
        not_before: NOW - 100 * DAY,
        not_after,
        key_algorithm: "RSA".into(),
        key_bits: 2048,
        signature_algorithm: "sha256WithRSAEncryption".into(),
        self_signed: false,
        der_base64: "AAEC".into(),
    }
}

/// The SHA-256s of the certificates `filter` lists, in the list's order.
async fn listed_shas(store: &Store, filter: &CertificateFilter) -> Vec<String> {
    store
        .certificates(filter)
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|c| c.sha256)
        .collect()
}

fn endpoint(key: &str, sha: &str, findings: Vec<Finding>) -> Endpoint {
    Endpoint {
        key: key.into(),
        kind: certfleet_proto::EndpointKind::Apache,
        name: format!("{key}.example.test"),
        address: Some("127.0.0.1:443".into()),
        config_path: Some("/etc/apache2/sites-enabled/x.conf".into()),
        configured_sha256: Some(sha.into()),
        served_sha256: Some(sha.into()),
        errors: vec![],
        findings,
    }
}

/// An inventory of one endpoint per `(key, sha)`, each with its own certificate (expiring in
/// a day), no findings.
fn snapshot_of(uses: &[(&str, &str)]) -> Inventory {
    Inventory::of(Snapshot {
        endpoints: uses.iter().map(|(k, s)| endpoint(k, s, vec![])).collect(),
        certificates: uses.iter().map(|(_, s)| cert(s, NOW + DAY)).collect(),
        trust: Vec::new(),
    })
}

fn error_finding() -> Finding {
    Finding {
        code: "name_not_covered".into(),
        severity: certfleet_proto::Severity::Error,
        message: "does not cover".into(),
        certificate: None,
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("certfleet.db");
    let content =
        b"this is my shopping list, not a database, and it is long enough to matter\n".repeat(20);
    std::fs::write(&path, &content).expect("write");
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), content);
}

#[tokio::test]
async fn a_database_from_a_newer_console_is_refused_and_left_alone() {
    let (dir, store) = store().await;
    enrolled(&store, "a1").await;
    store.close().await;
    let path = dir.path().join("certfleet.db");
    // What a newer certfleet-server leaves behind: one more migration applied.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("connect");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99991231000099, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .expect("a migration from the future");
        conn.close().await.expect("close");
    }
    let before = std::fs::read(&path).expect("read");
    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Newer {
                version: 99991231000099,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer certfleet-server"), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "nothing was changed"
    );
}

#[tokio::test]
async fn a_database_locked_by_another_writer_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("certfleet.db");
    let first = Store::open(&path).await.expect("first open");
    // Another process holding the write lock, as a second console would.
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("lock");
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("another certfleet-server"),
        "{err}"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    first.close().await;
}

use sqlx::Connection;

#[tokio::test]
async fn a_token_enrols_exactly_one_agent() {
    let (_dir, store) = store().await;
    store
        .create_token(&token("t1", NOW + DAY))
        .await
        .expect("token");
    let agent = |id| NewAgent {
        id,
        cert_serial: "01",
        cert_not_after: NOW + 30 * DAY,
    };
    assert!(matches!(
        store.enroll_agent("t1", "wrong", NOW, &agent("a0")).await,
        Err(Error::TokenInvalid)
    ));
    store
        .check_token("t1", "hash-of-t1", NOW)
        .await
        .expect("valid");
    store
        .enroll_agent("t1", "hash-of-t1", NOW, &agent("a1"))
        .await
        .expect("first use");
    assert!(matches!(
        store
            .enroll_agent("t1", "hash-of-t1", NOW, &agent("a2"))
            .await,
        Err(Error::TokenSpent)
    ));
    assert!(matches!(
        store.check_token("t1", "hash-of-t1", NOW).await,
        Err(Error::TokenSpent)
    ));
    assert!(
        store.agent("a2").await.expect("query").is_none(),
        "no agent from a spent token"
    );
    let tokens = store.list_tokens().await.expect("list");
    assert_eq!(tokens[0].used_by_agent.as_deref(), Some("a1"));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let (_dir, store) = store().await;
    store
        .create_token(&token("t1", NOW - 1))
        .await
        .expect("token");
    let err = store
        .enroll_agent(
            "t1",
            "hash-of-t1",
            NOW,
            &NewAgent {
                id: "a1",
                cert_serial: "01",
                cert_not_after: NOW,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenExpired), "{err}");
    assert!(matches!(
        store
            .enroll_agent(
                "nope",
                "x",
                NOW,
                &NewAgent {
                    id: "a1",
                    cert_serial: "01",
                    cert_not_after: NOW
                }
            )
            .await,
        Err(Error::TokenInvalid)
    ));
}

#[tokio::test]
async fn ingest_writes_only_what_changed() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let snapshot = Snapshot {
        endpoints: vec![endpoint("one", "AA", vec![]), endpoint("two", "BB", vec![])],
        certificates: vec![cert("AA", NOW + 100 * DAY), cert("BB", NOW + 5 * DAY)],
        trust: Vec::new(),
    };
    let first = store
        .ingest_inventory("a1", host, &Inventory::of(snapshot.clone()), NOW)
        .await
        .expect("ingest");
    assert!(first.changed);
    assert_eq!((first.certificates_added, first.endpoints_written), (2, 2));

    let again = store
        .ingest_inventory("a1", host, &Inventory::of(snapshot.clone()), NOW)
        .await
        .expect("ingest again");
    assert!(!again.changed, "same hash: nothing written");

    // One endpoint changes, one disappears, one certificate is new.
    let changed = Snapshot {
        endpoints: vec![endpoint("one", "CC", vec![error_finding()])],
        certificates: vec![cert("CC", NOW - DAY)],
        trust: Vec::new(),
    };
    let third = store
        .ingest_inventory("a1", host, &Inventory::of(changed), NOW + 1)
        .await
        .expect("ingest change");
    assert_eq!(
        (
            third.certificates_added,
            third.endpoints_written,
            third.endpoints_removed
        ),
        (1, 1, 1)
    );
    let endpoints = store.endpoints(Some(host), None).await.expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].configured_sha256.as_deref(), Some("CC"));
    assert_eq!(endpoints[0].findings[0].code, "name_not_covered");
    // The usage counts follow: AA and BB are no longer used, CC is, with one error.
    let summary = store.summary(NOW + 1, 90).await.expect("summary");
    assert_eq!((summary.certificates, summary.misconfigured), (1, 1));
    let listed = store
        .certificates(&CertificateFilter {
            limit: 10,
            now: NOW,
            ..CertificateFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!((listed.items[0].endpoints, listed.items[0].errors), (1, 1));
}

#[tokio::test]
async fn an_inventory_naming_a_certificate_it_lacks_is_refused_whole() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let broken = Snapshot {
        endpoints: vec![endpoint("one", "ZZ", vec![])],
        certificates: vec![],
        trust: Vec::new(),
    };
    let err = store
        .ingest_inventory("a1", host, &Inventory::of(broken), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(
        store
            .endpoints(Some(host), None)
            .await
            .expect("q")
            .is_empty()
    );
}

#[tokio::test]
async fn summary_and_certificate_filters_agree() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let snapshot = Snapshot {
        endpoints: vec![
            endpoint("expired", "E1", vec![]),
            endpoint("soon", "S1", vec![]),
            endpoint("month", "M1", vec![]),
            endpoint("fine", "F1", vec![]),
            endpoint("broken", "B1", vec![error_finding()]),
        ],
        certificates: vec![
            cert("E1", NOW - DAY),
            cert("S1", NOW + 3 * DAY),
            cert("M1", NOW + 20 * DAY),
            cert("F1", NOW + 200 * DAY),
            cert("B1", NOW + 300 * DAY),
        ],
        trust: Vec::new(),
    };
    store
        .ingest_inventory("a1", host, &Inventory::of(snapshot), NOW)
        .await
        .expect("ingest");
    let summary = store.summary(NOW, 90).await.expect("summary");
    assert_eq!(summary.certificates, 5);
    assert_eq!(summary.expired, 1);
    assert_eq!(summary.expiring_7_days, 1);
    assert_eq!(summary.expiring_30_days, 2);
    assert_eq!(summary.misconfigured, 1);
    assert_eq!(summary.healthy, 1);
    assert_eq!((summary.agents, summary.agents_online), (1, 1));

    let list = |status: Option<&str>, search: Option<&str>, expires_before: Option<i64>| {
        let store = store.clone();
        let filter = CertificateFilter {
            status: status.map(str::to_owned),
            search: search.map(str::to_owned),
            expires_before,
            limit: 50,
            now: NOW,
            ..CertificateFilter::default()
        };
        async move { listed_shas(&store, &filter).await }
    };
    assert_eq!(
        list(None, None, None).await,
        vec!["E1", "S1", "M1", "F1", "B1"]
    );
    assert_eq!(list(Some("expired"), None, None).await, vec!["E1"]);
    assert_eq!(list(Some("expiring"), None, None).await, vec!["S1", "M1"]);
    assert_eq!(list(Some("misconfigured"), None, None).await, vec!["B1"]);
    assert_eq!(list(Some("healthy"), None, None).await, vec!["F1"]);
    assert_eq!(list(None, Some("m1.example"), None).await, vec!["M1"]);
    assert!(
        list(None, Some("%"), None).await.is_empty(),
        "wildcards match literally"
    );

    let by = |filter: CertificateFilter| {
        let store = store.clone();
        async move {
            store
                .certificates(&CertificateFilter {
                    limit: 50,
                    now: NOW,
                    ..filter
                })
                .await
                .expect("list")
                .items
                .len()
        }
    };
    let host = |name: &str| CertificateFilter {
        host_name: Some(name.into()),
        ..CertificateFilter::default()
    };
    assert_eq!(by(host("host-a1")).await, 5);
    assert_eq!(by(host("elsewhere")).await, 0);
    let kind = |k: &str| CertificateFilter {
        kind: Some(k.into()),
        ..CertificateFilter::default()
    };
    assert_eq!(by(kind("apache")).await, 5);
    assert_eq!(by(kind("pem")).await, 0);
    let issuer = CertificateFilter {
        issuer: Some("issuer".into()),
        ..CertificateFilter::default()
    };
    assert_eq!(by(issuer).await, 5);
    let by_subject = store
        .certificates(&CertificateFilter {
            sort: CertSort::SubjectAsc,
            limit: 2,
            now: NOW,
            ..CertificateFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(by_subject.items[0].sha256, "B1", "CN=B1… sorts first");
    assert_eq!(
        by_subject.next.as_ref().map(|(v, _)| v.as_str()),
        Some("CN=E1.example.test")
    );
    assert_eq!(
        list(None, None, Some(NOW + 7 * DAY)).await,
        vec!["E1", "S1"]
    );
}

#[tokio::test]
async fn certificate_pages_follow_the_cursor_without_gaps() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let shas: Vec<String> = (0..25).map(|i| format!("C{i:02}")).collect();
    let snapshot = Snapshot {
        endpoints: shas.iter().map(|s| endpoint(s, s, vec![])).collect(),
        certificates: shas
            .iter()
            .enumerate()
            .map(|(i, s)| cert(s, NOW + (i as i64 % 5) * DAY))
            .collect(),
        trust: Vec::new(),
    };
    store
        .ingest_inventory("a1", host, &Inventory::of(snapshot), NOW)
        .await
        .expect("ingest");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .certificates(&CertificateFilter {
                after: after.clone(),
                limit: 10,
                now: NOW,
                ..CertificateFilter::default()
            })
            .await
            .expect("page");
        seen.extend(page.items.iter().map(|c| c.sha256.clone()));
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    let mut expected = shas.clone();
    expected.sort_by_key(|s| {
        let i: i64 = s[1..].parse().expect("number");
        (i % 5, s.clone())
    });
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn revocation_is_recorded_once() {
    let (_dir, store) = store().await;
    enrolled(&store, "a1").await;
    assert!(store.revoke_agent("a1", NOW).await.expect("revoke"));
    assert!(!store.revoke_agent("a1", NOW).await.expect("again"));
    assert_eq!(
        store.revoked_agent_ids().await.expect("ids"),
        vec!["a1".to_string()]
    );
    assert_eq!(store.summary(NOW, 90).await.expect("s").agents_revoked, 1);
}

#[tokio::test]
async fn users_and_audit() {
    let (_dir, store) = store().await;
    assert_eq!(store.count_users().await.expect("count"), 0);
    let id = store
        .create_user("admin", "$argon2id$x", Role::Admin, true, NOW)
        .await
        .expect("create");
    let user = store.user_by_name("admin").await.expect("q").expect("user");
    assert_eq!(
        (user.id, user.role, user.must_change_password),
        (id, Role::Admin, true)
    );
    store
        .set_password(id, "$argon2id$y", false)
        .await
        .expect("set");
    assert!(
        !store
            .user_by_id(id)
            .await
            .expect("q")
            .expect("user")
            .must_change_password
    );
    store
        .audit(
            NOW,
            "admin",
            certfleet_store::AuditAction::AgentRevoked,
            Some("a1"),
            None,
        )
        .await
        .expect("audit");
    let log = store.audit_log(None, 10).await.expect("log");
    assert_eq!(log[0].action, "agent.revoked");
}

#[tokio::test]
async fn concurrent_enrolments_and_ingests_all_succeed() {
    // Deferred transactions that read, then write, failed with SQLITE_BUSY under this load
    // (found by the swarm benchmark); writes now take the lock up front.
    let (_dir, store) = store().await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("agent-{i}");
            let host = enrolled(&store, &id).await;
            let snapshot = Snapshot {
                endpoints: vec![endpoint("one", &format!("S{i}"), vec![])],
                certificates: vec![cert(&format!("S{i}"), NOW + DAY)],
                trust: Vec::new(),
            };
            store
                .ingest_inventory(&id, host, &Inventory::of(snapshot), NOW)
                .await
                .expect("ingest under contention");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(
        store.summary(NOW, 90).await.expect("summary").certificates,
        24
    );
}

#[tokio::test]
async fn the_summary_matches_a_naive_count_through_many_changes() {
    summary_matches_a_naive_count(false).await;
}

#[tokio::test]
async fn the_summary_matches_a_naive_count_when_hosts_share_transactions() {
    // The hosts share certificates: a batch holds the same new certificate from several
    // snapshots, and counts it once with every use.
    summary_matches_a_naive_count(true).await;
}

async fn summary_matches_a_naive_count(batched: bool) {
    // Expiries around the week and month boundaries, errors here and there, certificates
    // moving between endpoints and disappearing: the per-day tallies must agree with
    // counting the final state directly.
    let (_dir, store) = store().await;
    let mut seed: u64 = 42;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let hosts: Vec<(String, i64)> = {
        let mut v = Vec::new();
        for h in 0..6 {
            let id = format!("agent-{h}");
            v.push((id.clone(), enrolled(&store, &id).await));
        }
        v
    };
    let mut final_state: std::collections::HashMap<String, Vec<(String, i64, bool)>> =
        Default::default();
    let mut added = 0;
    for _round in 0..4 {
        let mut round = Vec::new();
        for (id, host) in &hosts {
            let mut endpoints = Vec::new();
            let mut certificates = Vec::new();
            let mut mine = Vec::new();
            for e in 0..(3 + next(5)) {
                let n = next(40);
                let sha = format!("C{n:03}");
                // Expiry fixed per certificate, spread from 10 days ago to 40 days ahead.
                let not_after = NOW - 10 * DAY + (n as i64) * 30_000;
                let broken = next(4) == 0;
                let findings = if broken {
                    vec![error_finding()]
                } else {
                    vec![]
                };
                endpoints.push(endpoint(&format!("e{e}"), &sha, findings));
                if !certificates
                    .iter()
                    .any(|c: &CertificateInfo| c.sha256 == sha)
                {
                    certificates.push(cert(&sha, not_after));
                }
                mine.push((sha, not_after, broken));
            }
            let inventory = Inventory::of(Snapshot {
                endpoints,
                certificates,
                trust: Vec::new(),
            });
            round.push((id.as_str(), *host, inventory));
            final_state.insert(id.clone(), mine);
        }
        let outcomes = if batched {
            let requests: Vec<IngestRequest<'_>> = round
                .iter()
                .map(|(agent_id, host_id, inventory)| IngestRequest {
                    agent_id,
                    host_id: *host_id,
                    inventory,
                })
                .collect();
            store.ingest_inventories(&requests, NOW).await
        } else {
            let mut outcomes = Vec::new();
            for (id, host, inventory) in &round {
                outcomes.push(store.ingest_inventory(id, *host, inventory, NOW).await);
            }
            outcomes
        };
        for outcome in outcomes {
            added += outcome.expect("ingest").certificates_added;
        }
    }
    // Each certificate counted as added once, however many snapshots listed it.
    let distinct: std::collections::HashSet<String> = final_state
        .values()
        .flatten()
        .map(|(sha, _, _)| sha.clone())
        .collect();
    assert!(added >= distinct.len() as u64);
    assert!(added <= 40, "{added} certificates added of 40 possible");
    // And certificates on either side of each boundary, inside the days the boundaries fall in.
    let edges = [
        ("E1", NOW - 1000, false),
        ("E2", NOW + 1000, false),
        ("E3", NOW + 7 * DAY - 1000, false),
        ("E4", NOW + 7 * DAY + 1000, false),
        ("E5", NOW + 30 * DAY - 1000, true),
        ("E6", NOW + 30 * DAY + 1000, true),
        ("E7", NOW + 30 * DAY + 2000, false),
    ];
    let edge_host = enrolled(&store, "edges").await;
    store
        .ingest_inventory(
            "edges",
            edge_host,
            &Inventory::of(Snapshot {
                endpoints: edges
                    .iter()
                    .map(|(sha, _, broken)| {
                        endpoint(
                            sha,
                            sha,
                            if *broken {
                                vec![error_finding()]
                            } else {
                                vec![]
                            },
                        )
                    })
                    .collect(),
                certificates: edges.iter().map(|(sha, t, _)| cert(sha, *t)).collect(),
                trust: Vec::new(),
            }),
            NOW,
        )
        .await
        .expect("ingest edges");
    final_state.insert(
        "edges".into(),
        edges
            .iter()
            .map(|(sha, t, b)| (sha.to_string(), *t, *b))
            .collect(),
    );
    // Naive: a certificate is in use if any endpoint names it; broken if any of those has an error.
    let mut certs: std::collections::HashMap<String, (i64, bool)> = Default::default();
    for uses in final_state.values() {
        for (sha, not_after, broken) in uses {
            let entry = certs.entry(sha.clone()).or_insert((*not_after, false));
            entry.1 |= *broken;
        }
    }
    let count =
        |f: &dyn Fn(i64, bool) -> bool| certs.values().filter(|(t, b)| f(*t, *b)).count() as i64;
    let summary = store.summary(NOW, 90).await.expect("summary");
    assert_eq!(summary.certificates, certs.len() as i64);
    assert_eq!(summary.expired, count(&|t, _| t < NOW));
    assert_eq!(
        summary.expiring_7_days,
        count(&|t, _| (NOW..NOW + 7 * DAY).contains(&t))
    );
    assert_eq!(
        summary.expiring_30_days,
        count(&|t, _| (NOW..NOW + 30 * DAY).contains(&t))
    );
    assert_eq!(summary.misconfigured, count(&|_, b| b));
    assert_eq!(summary.healthy, count(&|t, b| t >= NOW + 30 * DAY && !b));
    let timeline = store.expiry_timeline(NOW, 90).await.expect("timeline");
    let today = NOW.div_euclid(DAY);
    assert_eq!(
        timeline.iter().sum::<i64>(),
        count(&|t, _| t.div_euclid(DAY) >= today && t.div_euclid(DAY) < today + 90)
    );
}

#[tokio::test]
async fn a_certificate_unused_for_long_enough_is_removed_and_a_used_one_kept() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    store
        .ingest_inventory(
            "a1",
            host,
            &snapshot_of(&[("old", "OLD"), ("kept", "KEPT")]),
            NOW,
        )
        .await
        .expect("ingest");
    // The "old" endpoint goes away at NOW + 10: its certificate is unused from then on.
    store
        .ingest_inventory("a1", host, &snapshot_of(&[("kept", "KEPT")]), NOW + 10)
        .await
        .expect("ingest");
    assert_eq!(
        store
            .remove_unused_certificates(NOW + 10)
            .await
            .expect("tidy"),
        0,
        "not unused for long enough yet"
    );
    assert!(store.certificate_der("OLD").await.expect("q").is_some());
    assert_eq!(
        store
            .remove_unused_certificates(NOW + 11)
            .await
            .expect("tidy"),
        1
    );
    assert!(store.certificate_der("OLD").await.expect("q").is_none());
    assert!(store.certificate("KEPT", NOW).await.expect("q").is_some());
    // Seen again later, it is stored again, and found by search (its old search entry went
    // with it, so the new one is the only one).
    let back = Snapshot {
        endpoints: vec![endpoint("old", "OLD", vec![])],
        certificates: vec![cert("OLD", NOW + DAY)],
        trust: Vec::new(),
    };
    store
        .ingest_inventory("a1", host, &Inventory::of(back), NOW + 20)
        .await
        .expect("ingest");
    assert!(store.certificate("OLD", NOW).await.expect("q").is_some());
}

#[tokio::test]
async fn the_first_host_to_serve_a_name_owns_it_and_an_acceptance_is_kept() {
    let (_dir, store) = store().await;
    let first = enrolled(&store, "a1").await;
    let second = enrolled(&store, "a2").await;
    let snapshot = || Snapshot {
        endpoints: vec![endpoint("site", "SAME", vec![])],
        certificates: vec![cert("SAME", NOW + DAY)],
        trust: Vec::new(),
    };
    for (agent, host) in [("a1", first), ("a2", second)] {
        store
            .ingest_inventory(agent, host, &Inventory::of(snapshot()), NOW)
            .await
            .expect("ingest");
    }
    let owners = store
        .name_owners(&["same.example.test".into(), "site.example.test".into()])
        .await
        .expect("owners");
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert!(owners.values().all(|o| o.host_id == first), "{owners:?}");
    assert!(store.accepted_endpoints().await.expect("q").is_empty());
    assert!(
        store
            .accept_endpoint(second, "site", "op", NOW)
            .await
            .expect("accept")
    );
    assert!(
        !store
            .accept_endpoint(second, "site", "op", NOW)
            .await
            .expect("again"),
        "accepting twice is one acceptance"
    );
    assert!(
        store
            .accepted_endpoints()
            .await
            .expect("q")
            .contains(&(second, "site".to_owned()))
    );
}

fn trust_check(
    name: &str,
    verdict: certfleet_proto::TrustVerdict,
    chain: &[&str],
) -> certfleet_proto::TrustCheck {
    certfleet_proto::TrustCheck {
        endpoint: format!("{name}:4207"),
        server_name: name.into(),
        origin: certfleet_proto::TrustOrigin::Config,
        verdict,
        reason: format!("{verdict} because"),
        chain: chain.iter().map(|s| s.to_string()).collect(),
        store: "/etc/ssl/certs/ca-certificates.crt".into(),
        revocation: certfleet_proto::Revocation::NotChecked,
    }
}

#[tokio::test]
async fn a_clients_trust_checks_are_kept_per_server_with_the_time_of_each_verdict() {
    use certfleet_proto::TrustVerdict;
    let (_dir, store) = store().await;
    let server = enrolled(&store, "sage").await;
    let bpa1 = enrolled(&store, "bpa1").await;
    let bpa2 = enrolled(&store, "bpa2").await;
    // The server's own inventory: an endpoint reached as sage01 on 4207.
    let served = Snapshot {
        endpoints: vec![endpoint("sage300:4207", "AA", vec![])],
        certificates: vec![cert("AA", NOW + 300 * DAY)],
        trust: Vec::new(),
    };
    store
        .ingest_inventory("sage", server, &Inventory::of(served), NOW)
        .await
        .expect("server");
    let untrusted = || {
        let store = store.clone();
        async move {
            let filter = CertificateFilter {
                untrusted_by_client: true,
                limit: 50,
                now: NOW,
                ..CertificateFilter::default()
            };
            let page = store.certificates(&filter).await.expect("list");
            page.items.into_iter().map(|c| c.sha256).collect::<Vec<_>>()
        }
    };
    assert!(untrusted().await.is_empty(), "no client has spoken yet");
    let client = |verdict, extra: &str| Snapshot {
        endpoints: vec![],
        certificates: vec![cert("AA", NOW + 300 * DAY), cert("ROOT", NOW + 900 * DAY)],
        trust: vec![
            trust_check("sage01.example.test", verdict, &["AA", "ROOT"]),
            trust_check(extra, TrustVerdict::Unreachable, &[]),
        ],
    };
    let first = store
        .ingest_inventory(
            "bpa1",
            bpa1,
            &Inventory::of(client(TrustVerdict::Trusted, "x.example.test")),
            NOW,
        )
        .await
        .expect("client 1");
    assert_eq!(
        first.newly_trusted,
        [("sage01.example.test".to_string(), 4207)],
        "a server its client now trusts is judged again"
    );
    assert!(untrusted().await.is_empty(), "the one client trusts it");
    store
        .ingest_inventory(
            "bpa2",
            bpa2,
            &Inventory::of(client(TrustVerdict::UnknownRoot, "y.example.test")),
            NOW,
        )
        .await
        .expect("client 2");
    assert_eq!(
        untrusted().await,
        ["AA"],
        "the certificate a client does not trust"
    );

    // The server endpoint's clients, by the name and port (any case).
    let clients = store
        .clients_of("SAGE01.example.test", 4207)
        .await
        .expect("clients");
    let verdicts: Vec<(String, TrustVerdict)> = clients
        .iter()
        .map(|c| (c.hostname.clone(), c.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("host-bpa1".to_string(), TrustVerdict::Trusted),
            ("host-bpa2".to_string(), TrustVerdict::UnknownRoot)
        ]
    );
    assert_eq!(clients[0].chain, ["AA", "ROOT"]);
    assert!(
        store
            .clients_of("sage01.example.test", 443)
            .await
            .expect("other port")
            .is_empty()
    );
    assert_eq!(store.trust_of_host(bpa1).await.expect("host").len(), 2);

    // A changed inventory with the same verdict keeps its since; a new verdict starts anew.
    let again = store
        .ingest_inventory(
            "bpa1",
            bpa1,
            &Inventory::of(client(TrustVerdict::Trusted, "z.example.test")),
            NOW + DAY,
        )
        .await
        .expect("same verdict");
    assert!(
        again.newly_trusted.is_empty(),
        "trusted over the same chain before"
    );
    let row = |rows: Vec<certfleet_store::TrustRow>| {
        rows.into_iter()
            .find(|r| r.server_name == "sage01.example.test")
            .expect("row")
    };
    assert_eq!(
        row(store.trust_of_host(bpa1).await.expect("host")).since,
        NOW
    );
    store
        .ingest_inventory(
            "bpa1",
            bpa1,
            &Inventory::of(client(TrustVerdict::UnknownRoot, "z.example.test")),
            NOW + 2 * DAY,
        )
        .await
        .expect("lost");
    assert_eq!(
        row(store.trust_of_host(bpa1).await.expect("host")).since,
        NOW + 2 * DAY
    );

    // A chain naming a certificate the inventory does not carry is refused.
    let mut bad = client(TrustVerdict::Trusted, "w.example.test");
    bad.certificates.pop();
    assert!(matches!(
        store
            .ingest_inventory("bpa2", bpa2, &Inventory::of(bad), NOW + 3 * DAY)
            .await,
        Err(Error::Corrupt(_))
    ));
    // The root only a client's chain names stays through the sweep of unused certificates.
    store
        .remove_unused_certificates(NOW + 1000 * DAY)
        .await
        .expect("sweep");
    assert!(store.certificate_der("ROOT").await.expect("der").is_some());
}

fn with_der(sha: &str, der: &[u8]) -> CertificateInfo {
    use base64::Engine;
    CertificateInfo {
        der_base64: base64::engine::general_purpose::STANDARD.encode(der),
        ..cert(sha, NOW + 60 * DAY)
    }
}

#[tokio::test]
async fn a_shared_transaction_stores_each_snapshot_as_if_alone_and_refuses_only_the_bad_one() {
    let (_dir, store) = store().await;
    let a = enrolled(&store, "ba").await;
    let b = enrolled(&store, "bb").await;
    let c = enrolled(&store, "bc").await;
    let of = |endpoints: Vec<Endpoint>, certificates: Vec<CertificateInfo>| {
        Inventory::of(Snapshot {
            endpoints,
            certificates,
            trust: Vec::new(),
        })
    };
    // Each DER its own length, so a wrong offset into the shared blob shows.
    let first = of(
        vec![endpoint("e", "A1", vec![])],
        vec![with_der("A1", &[1; 7]), with_der("A2", &[2; 300])],
    );
    let broken = of(vec![endpoint("e", "MISSING", vec![])], vec![]);
    let third = of(
        vec![endpoint("e", "C1", vec![error_finding()])],
        vec![with_der("C1", &[3; 1500]), with_der("A2", &[2; 300])],
    );
    // The same agent twice: its later snapshot wins.
    let again = of(
        vec![endpoint("e2", "A2", vec![])],
        vec![with_der("A2", &[2; 300])],
    );
    let request = |agent_id, host_id, inventory| IngestRequest {
        agent_id,
        host_id,
        inventory,
    };
    let outcomes = store
        .ingest_inventories(
            &[
                request("ba", a, &first),
                request("bb", b, &broken),
                request("bc", c, &third),
                request("ba", a, &again),
                request("nobody", 999, &first),
            ],
            NOW,
        )
        .await;
    let [first_out, broken_out, third_out, again_out, nobody_out] = &outcomes[..] else {
        panic!("one outcome per request: {outcomes:?}");
    };
    let first_out = first_out.as_ref().expect("first stored");
    assert!(first_out.changed);
    assert_eq!(first_out.certificates_added, 2);
    assert_eq!(first_out.endpoints_written, 1);
    assert!(matches!(broken_out, Err(Error::Corrupt(m)) if m.contains("MISSING")));
    let third_out = third_out.as_ref().expect("third stored");
    assert_eq!(
        third_out.certificates_added, 1,
        "A2 was the first snapshot's"
    );
    let again_out = again_out.as_ref().expect("later snapshot stored");
    assert_eq!(
        (again_out.endpoints_written, again_out.endpoints_removed),
        (1, 1)
    );
    assert!(matches!(nobody_out, Err(Error::NotFound { .. })));

    for (sha, der) in [
        ("A1", vec![1; 7]),
        ("A2", vec![2; 300]),
        ("C1", vec![3; 1500]),
    ] {
        assert_eq!(
            store.certificate_der(sha).await.expect("der").as_deref(),
            Some(&der[..]),
            "{sha}'s DER"
        );
    }
    let endpoints = store.endpoints(Some(a), None).await.expect("endpoints");
    let keys: Vec<&str> = endpoints.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["e2"]);
    let summary = store.summary(NOW, 90).await.expect("summary");
    assert_eq!(
        summary.certificates, 2,
        "A2 (ba) and C1 (bc) are in use; A1 no longer"
    );
    assert_eq!(summary.misconfigured, 1);

    // Sent again unchanged, in one batch: nothing is written.
    let outcomes = store
        .ingest_inventories(
            &[request("ba", a, &again), request("bc", c, &third)],
            NOW + 1,
        )
        .await;
    for outcome in outcomes {
        assert!(!outcome.expect("unchanged").changed);
    }
}

#[tokio::test]
async fn search_finds_a_hash_pasted_with_separators_in_either_case() {
    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let hashed = |sha: &str, thumbprint: &str, name: &str| CertificateInfo {
        thumbprint: thumbprint.into(),
        subject: format!("CN={name}"),
        dns_names: vec![name.into()],
        ..cert(sha, NOW + 90 * DAY)
    };
    let certificates = vec![
        hashed("AB12CD34EF56", "0011223344", "one.example.test"),
        hashed("99887766", "5566CAFE77", "two.example.test"),
        hashed("44332211", "8899AABB", "cafe.example.test"),
    ];
    let snapshot = Snapshot {
        endpoints: certificates
            .iter()
            .map(|c| endpoint(&c.sha256, &c.sha256, vec![]))
            .collect(),
        certificates,
        trust: Vec::new(),
    };
    store
        .ingest_inventory("a1", host, &Inventory::of(snapshot), NOW)
        .await
        .expect("ingest");
    let search = |term: &str| {
        let store = store.clone();
        let filter = CertificateFilter {
            search: Some(term.into()),
            limit: 50,
            now: NOW,
            ..CertificateFilter::default()
        };
        async move {
            let mut found = listed_shas(&store, &filter).await;
            found.sort();
            found
        }
    };
    assert_eq!(
        search("cd:34:ef").await,
        vec!["AB12CD34EF56"],
        "SHA-256, colons, lower case"
    );
    assert_eq!(
        search("22 33 44").await,
        vec!["AB12CD34EF56"],
        "thumbprint, spaces"
    );
    assert_eq!(
        search("cafe").await,
        vec!["44332211", "99887766"],
        "a name and a thumbprint"
    );
    assert_eq!(
        search("two.example").await,
        vec!["99887766"],
        "names still match"
    );
    assert!(search("cafg").await.is_empty(), "not hex, and no such name");
}

#[tokio::test]
async fn a_copy_taken_beside_an_open_store_is_whole_and_its_search_still_matches() {
    let (dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let all = snapshot_of(&[("gone1", "gone1"), ("gone2", "gone2"), ("kept", "kept")]);
    store
        .ingest_inventory("a1", host, &all, NOW)
        .await
        .expect("ingest");
    // The first two go: the one left sits after a gap of row numbers, where a copy that
    // renumbered the rows would part it from its search entry.
    store
        .ingest_inventory("a1", host, &snapshot_of(&[("kept", "kept")]), NOW + 10)
        .await
        .expect("ingest");
    assert_eq!(
        store
            .remove_unused_certificates(NOW + 11)
            .await
            .expect("tidy"),
        2
    );

    // Taken while the store is open (as beside a running console), through its own
    // connection.
    let copy = dir.path().join("copy.db");
    certfleet_store::copy_database(&dir.path().join("certfleet.db"), &copy)
        .await
        .expect("copy");
    assert!(
        certfleet_store::copy_database(&dir.path().join("certfleet.db"), &copy)
            .await
            .is_err(),
        "an existing file is not overwritten"
    );
    let copied = Store::open(&copy).await.expect("open the copy");
    let search = |term: &str| CertificateFilter {
        search: Some(term.into()),
        limit: 50,
        now: NOW,
        ..CertificateFilter::default()
    };
    assert_eq!(
        listed_shas(&copied, &search("kept.example")).await,
        vec!["kept"]
    );
    assert!(listed_shas(&copied, &search("gone1")).await.is_empty());
    assert_eq!(
        copied.certificate_der("kept").await.expect("der"),
        store.certificate_der("kept").await.expect("der")
    );
    assert_eq!(
        copied.hosts().await.expect("hosts").len(),
        store.hosts().await.expect("hosts").len()
    );
}

#[tokio::test]
async fn one_renewal_at_a_time_per_endpoint_and_a_failure_keeps_its_retry_time() {
    use certfleet_proto::{IssuanceState, KeyType, RenewalSource};
    use certfleet_store::NewIssuance;

    let (_dir, store) = store().await;
    let host = enrolled(&store, "a1").await;
    let names = vec!["esync.example.test".to_owned()];
    let new = |request_id: &'static str| NewIssuance {
        host_id: host,
        endpoint_key: "apache:esync",
        source: RenewalSource::Acme,
        key_type: KeyType::EcdsaP256,
        names: &names,
        request_id,
        old_sha256: "old",
        started_by: "scheduler",
        now: NOW,
    };
    let first = store
        .start_issuance(&new("key-1"))
        .await
        .expect("start")
        .expect("the first is started");
    assert_eq!(
        store.start_issuance(&new("key-2")).await.expect("start"),
        None,
        "a second renewal of the endpoint while one is active"
    );

    let retry_at = NOW + 3 * DAY;
    assert!(
        store
            .fail_issuance(first, "rate limited", retry_at, NOW + 10)
            .await
            .expect("fail")
    );
    // Ended once: a second failure (another pass) changes nothing.
    assert!(
        !store
            .fail_issuance(first, "again", NOW + DAY, NOW + 20)
            .await
            .expect("fail")
    );
    let row = store.issuance(first).await.expect("row");
    assert_eq!(row.state, IssuanceState::Failed);
    assert_eq!(row.retry_at, Some(retry_at));
    assert_eq!(row.detail, "rate limited");

    // Ended, the endpoint may renew again.
    assert!(
        store
            .start_issuance(&new("key-3"))
            .await
            .expect("start")
            .is_some()
    );
}
