//! Realistic inventories: 1 to 20 certificates per host, each a real certificate issued by
//! one CA (the console reads every DER), expiries spread from a month ago to 400 days ahead,
//! one endpoint in twenty with an error finding and one in ten with a warning.

use anyhow::Result;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::swarm::issued_certificate;
use certfleet_proto::{CertificateInfo, Endpoint, Finding, Severity, Snapshot};

/// A small deterministic generator: the same run makes the same fleet.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The shape of one host's inventory: how many certificates, their expiries (days from
/// now) and which finding each endpoint carries.
pub struct HostPlan {
    pub count: usize,
    pub days: Vec<i64>,
    pub findings: Vec<u64>,
}

impl HostPlan {
    pub fn new(agent: usize, max_certificates: usize) -> Self {
        let mut dice = Dice::new(agent as u64 + 1);
        let count = 1 + dice.below(max_certificates as u64) as usize;
        HostPlan {
            count,
            days: (0..count).map(|_| dice.below(430) as i64 - 30).collect(),
            findings: (0..count).map(|_| dice.below(20)).collect(),
        }
    }
}

fn finding(roll: u64) -> Vec<Finding> {
    match roll {
        0 => vec![Finding {
            code: "name_not_covered".into(),
            severity: Severity::Error,
            message: "the certificate does not carry the endpoint's name".into(),
            certificate: None,
        }],
        1 | 2 => vec![Finding {
            code: "weak_signature".into(),
            severity: Severity::Warning,
            message: "the certificate is signed with SHA-1".into(),
            certificate: None,
        }],
        _ => vec![],
    }
}

/// The snapshots of `agent`: its first, then one per later round in which certificate
/// `round - 1` (modulo the count) was renewed — a new certificate under the same name, the
/// others the very same certificates as before.
pub fn snapshots(
    ca: &TestCa,
    leaf_key: &rcgen::KeyPair,
    agent: usize,
    plan: &HostPlan,
    rounds: usize,
    now: i64,
) -> Result<Vec<Snapshot>> {
    let certificate = |i: usize, generation: usize| -> Result<CertificateInfo> {
        let name = format!("site{i}.host{agent}.example.test");
        let days = plan.days[i] + if generation > 0 { 365 } else { 0 };
        let expires = time::OffsetDateTime::from_unix_timestamp(now + days * 86_400)?;
        let serial = (agent as u64) << 24 | (generation as u64) << 8 | i as u64;
        issued_certificate(ca, leaf_key, &[name], serial, expires)
    };
    let certificates = (0..plan.count)
        .map(|i| certificate(i, 0))
        .collect::<Result<Vec<_>>>()?;
    let endpoints = certificates
        .iter()
        .enumerate()
        .map(|(i, cert)| Endpoint {
            key: format!("pem:site{i}"),
            kind: certfleet_proto::EndpointKind::Pem,
            name: cert.dns_names[0].clone(),
            address: Some(format!("127.0.0.1:{}", 8000 + i)),
            config_path: Some(format!("/etc/ssl/site{i}.pem")),
            configured_sha256: Some(cert.sha256.clone()),
            served_sha256: Some(cert.sha256.clone()),
            errors: vec![],
            findings: finding(plan.findings[i]),
        })
        .collect();
    let mut snapshots = vec![Snapshot {
        endpoints,
        certificates,
        trust: Vec::new(),
    }];
    for round in 1..rounds {
        let mut next = snapshots[round - 1].clone();
        let renewed = (round - 1) % plan.count;
        let cert = certificate(renewed, round)?;
        next.endpoints[renewed].configured_sha256 = Some(cert.sha256.clone());
        next.endpoints[renewed].served_sha256 = Some(cert.sha256.clone());
        next.certificates[renewed] = cert;
        snapshots.push(next);
    }
    Ok(snapshots)
}
