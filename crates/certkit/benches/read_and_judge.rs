//! Reading and judging a PFX with a three-certificate chain (leaf, intermediate, root), the
//! work the agent does for every endpoint before a rollout and the console for every upload.

use std::hint::black_box;
use std::path::PathBuf;

use certfleet_certkit::{HostName, Policy, Purpose, judge, read};
use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;

const PASSWORD: &str = "Legacy-Pa55";

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read(path).expect("fixture")
}

fn policy() -> Policy {
    let mut policy = Policy::new(OffsetDateTime::now_utc());
    policy.host = HostName::parse("sage.example.test").ok();
    policy.purpose = Some(Purpose::Sage300);
    policy
}

fn read_and_judge(c: &mut Criterion) {
    let policy = policy();
    for name in ["modern.pfx", "windows-legacy.pfx"] {
        let bytes = fixture(name);
        c.bench_function(&format!("read+judge {name}"), |b| {
            b.iter(|| {
                let material = read(black_box(&bytes), Some(PASSWORD)).expect("reads");
                let report = judge(&material, &policy);
                assert!(!report.has_errors());
                report
            })
        });
    }
    let material = read(&fixture("modern.pfx"), Some(PASSWORD)).expect("reads");
    c.bench_function("judge only (3-certificate chain)", |b| {
        b.iter(|| judge(black_box(&material), &policy))
    });
}

criterion_group!(benches, read_and_judge);
criterion_main!(benches);
