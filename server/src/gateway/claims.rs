//! What an agent says about its host is a claim: before an inventory is stored, every
//! certificate in it is read from its DER and must hash to the SHA-256 it is listed under
//! (the stored facts are the DER's, not the claim's), and the inventory must keep within
//! per-agent limits, so one agent cannot fill the database or plant facts about a
//! certificate another host serves.

use std::time::{Duration, Instant};

use certfleet_proto::{ErrorCode, Snapshot, checked_certificate};

/// Limits on one agent's inventory. A real host has a few dozen endpoints; these leave room
/// for a big web server and stop a runaway or hostile agent.
pub const MAX_ENDPOINTS: usize = 2_000;
pub const MAX_CERTIFICATES: usize = 2_000;
pub const MAX_FINDINGS_PER_ENDPOINT: usize = 100;
pub const MAX_ERRORS_PER_ENDPOINT: usize = 32;
/// Servers one client machine checks its trust in, and certificates in one served chain.
pub const MAX_TRUST_CHECKS: usize = 500;
pub const MAX_CHAIN: usize = 16;
/// Bytes of any one text field (a key, a name, a path, a message).
pub const MAX_TEXT_BYTES: usize = 4 * 1024;

/// Inventories one agent may have stored at once, and how often one more is allowed: an
/// agent sends one when something changed, so a burst after a deployment fits and a loop
/// that rewrites its inventory every moment is slowed to one every few seconds.
pub const INVENTORY_BURST: u32 = 10;
pub const INVENTORY_REFILL: Duration = Duration::from_secs(6);

/// The rate limit of one session: a token bucket. An inventory over the rate is not
/// refused (that would lose it) but kept, the newest replacing an older one, until a token
/// is free.
#[derive(Debug)]
pub struct InventoryRate {
    tokens: u32,
    refilled: Instant,
}

impl InventoryRate {
    pub fn new(now: Instant) -> Self {
        InventoryRate {
            tokens: INVENTORY_BURST,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        while self.tokens < INVENTORY_BURST && now >= self.refilled + INVENTORY_REFILL {
            self.tokens += 1;
            self.refilled += INVENTORY_REFILL;
        }
        if self.tokens == INVENTORY_BURST {
            self.refilled = now;
        }
    }

    /// True when an inventory may be stored now (and takes the token).
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// When the next token is free.
    pub fn next_at(&self) -> Instant {
        self.refilled + INVENTORY_REFILL
    }
}

/// Why an inventory was refused, for the error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

fn too_large(message: String) -> Refusal {
    Refusal {
        code: ErrorCode::InventoryTooLarge,
        message,
    }
}

fn check_limits(snapshot: &Snapshot) -> Result<(), Refusal> {
    if snapshot.endpoints.len() > MAX_ENDPOINTS {
        return Err(too_large(format!(
            "the inventory lists {} endpoints; the console takes at most {MAX_ENDPOINTS} \
             from one agent: split the host's configuration across agents",
            snapshot.endpoints.len()
        )));
    }
    if snapshot.certificates.len() > MAX_CERTIFICATES {
        return Err(too_large(format!(
            "the inventory lists {} certificates; the console takes at most \
             {MAX_CERTIFICATES} from one agent",
            snapshot.certificates.len()
        )));
    }
    for e in &snapshot.endpoints {
        if e.findings.len() > MAX_FINDINGS_PER_ENDPOINT || e.errors.len() > MAX_ERRORS_PER_ENDPOINT
        {
            return Err(too_large(format!(
                "endpoint {:.200} has {} findings and {} errors; at most \
                 {MAX_FINDINGS_PER_ENDPOINT} and {MAX_ERRORS_PER_ENDPOINT} are taken",
                e.key,
                e.findings.len(),
                e.errors.len()
            )));
        }
        let texts = [&e.key, &e.name]
            .into_iter()
            .chain(e.address.as_ref())
            .chain(e.config_path.as_ref())
            .chain(e.errors.iter())
            .chain(e.findings.iter().flat_map(|f| [&f.code, &f.message]));
        if let Some(long) = texts.into_iter().find(|t| t.len() > MAX_TEXT_BYTES) {
            return Err(too_large(format!(
                "endpoint {:.200} carries a text of {} bytes; at most {MAX_TEXT_BYTES} are taken",
                e.key,
                long.len()
            )));
        }
    }
    if snapshot.trust.len() > MAX_TRUST_CHECKS {
        return Err(too_large(format!(
            "the inventory lists {} trust checks; the console takes at most \
             {MAX_TRUST_CHECKS} from one agent",
            snapshot.trust.len()
        )));
    }
    for t in &snapshot.trust {
        let texts = [&t.endpoint, &t.server_name, &t.reason, &t.store];
        if t.chain.len() > MAX_CHAIN || texts.iter().any(|x| x.len() > MAX_TEXT_BYTES) {
            return Err(too_large(format!(
                "the trust check of {:.200} carries a chain of {} certificates or a text over \
                 {MAX_TEXT_BYTES} bytes; at most {MAX_CHAIN} and {MAX_TEXT_BYTES} are taken",
                t.endpoint,
                t.chain.len()
            )));
        }
    }
    Ok(())
}

/// Checks `snapshot` and replaces each certificate's claimed facts with the facts of its
/// DER. Refused as a whole: storing part of a lying inventory would still store the lie.
pub fn check(snapshot: &mut Snapshot) -> Result<(), Refusal> {
    check_limits(snapshot)?;
    for claim in &mut snapshot.certificates {
        *claim = checked_certificate(claim).map_err(|e| Refusal {
            code: ErrorCode::CertificateInvalid,
            message: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use certfleet_certkit::Certificate;
    use certfleet_proto::{CertificateInfo, Endpoint, EndpointKind};

    fn real_certificate(name: &str) -> CertificateInfo {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("sign");
        CertificateInfo::of(&Certificate::from_der(cert.der()).expect("read"))
    }

    fn endpoint(key: &str) -> Endpoint {
        Endpoint {
            key: key.into(),
            kind: EndpointKind::Pem,
            name: "site".into(),
            address: None,
            config_path: None,
            configured_sha256: None,
            served_sha256: None,
            errors: vec![],
            findings: vec![],
        }
    }

    #[test]
    fn a_burst_is_taken_then_one_inventory_every_few_seconds() {
        let start = Instant::now();
        let mut rate = InventoryRate::new(start);
        for _ in 0..INVENTORY_BURST {
            assert!(rate.take(start));
        }
        assert!(!rate.take(start), "the burst is spent");
        assert_eq!(rate.next_at(), start + INVENTORY_REFILL);
        assert!(!rate.take(start + INVENTORY_REFILL / 2));
        assert!(rate.take(start + INVENTORY_REFILL));
        assert!(!rate.take(start + INVENTORY_REFILL));
        // A long quiet spell fills the bucket again, no further.
        let later = start + INVENTORY_REFILL * 100;
        for _ in 0..INVENTORY_BURST {
            assert!(rate.take(later));
        }
        assert!(!rate.take(later));
    }

    #[test]
    fn a_certificate_listed_under_another_hash_is_refused() {
        let mine = real_certificate("mine.example.test");
        let theirs = real_certificate("theirs.example.test");
        let mut forged = mine.clone();
        forged.sha256 = theirs.sha256.clone();
        let mut snapshot = Snapshot {
            endpoints: vec![],
            certificates: vec![forged],
            trust: Vec::new(),
        };
        let refusal = check(&mut snapshot).expect_err("forged");
        assert_eq!(refusal.code, ErrorCode::CertificateInvalid);
        assert!(
            refusal.message.contains(&theirs.sha256),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn claimed_facts_are_replaced_by_the_der_s_own() {
        let real = real_certificate("real.example.test");
        let mut claim = real.clone();
        claim.dns_names = vec!["bank.example.test".into()];
        claim.not_after += 10 * 365 * 86_400;
        let mut snapshot = Snapshot {
            endpoints: vec![],
            certificates: vec![claim],
            trust: Vec::new(),
        };
        check(&mut snapshot).expect("a real certificate");
        assert_eq!(snapshot.certificates, vec![real]);
    }

    #[test]
    fn a_der_that_is_no_certificate_is_refused() {
        let mut claim = real_certificate("x.example.test");
        claim.der_base64 = "AA==".into();
        let mut snapshot = Snapshot {
            endpoints: vec![],
            certificates: vec![claim.clone()],
            trust: Vec::new(),
        };
        assert_eq!(
            check(&mut snapshot).expect_err("junk").code,
            ErrorCode::CertificateInvalid
        );
        claim.der_base64 = "not base64!".into();
        snapshot.certificates = vec![claim];
        assert_eq!(
            check(&mut snapshot).expect_err("junk").code,
            ErrorCode::CertificateInvalid
        );
    }

    #[test]
    fn inventories_over_the_limits_are_refused_by_name() {
        let mut big = Snapshot {
            endpoints: (0..=MAX_ENDPOINTS)
                .map(|i| endpoint(&format!("e{i}")))
                .collect(),
            certificates: vec![],
            trust: Vec::new(),
        };
        let refusal = check(&mut big).expect_err("too many");
        assert_eq!(refusal.code, ErrorCode::InventoryTooLarge);
        assert!(refusal.message.contains("2000"), "{}", refusal.message);

        let mut long = endpoint("e");
        long.errors = vec!["x".repeat(MAX_TEXT_BYTES + 1)];
        let mut one = Snapshot {
            endpoints: vec![long],
            certificates: vec![],
            trust: Vec::new(),
        };
        assert_eq!(
            check(&mut one).expect_err("long").code,
            ErrorCode::InventoryTooLarge
        );
        let mut fine = Snapshot {
            endpoints: vec![endpoint("e")],
            certificates: vec![],
            trust: Vec::new(),
        };
        check(&mut fine).expect("within the limits");

        // A client machine's trust checks are bounded the same way.
        let trust = |reason: String, chain: usize| certfleet_proto::TrustCheck {
            endpoint: "sage01.example.test:4207".into(),
            server_name: "sage01.example.test".into(),
            origin: certfleet_proto::TrustOrigin::Config,
            verdict: certfleet_proto::TrustVerdict::UnknownRoot,
            reason,
            chain: vec!["AB".into(); chain],
            store: "/etc/ssl/certs/ca-certificates.crt".into(),
            revocation: certfleet_proto::Revocation::NotChecked,
        };
        for bad in [
            vec![trust("x".repeat(MAX_TEXT_BYTES + 1), 1)],
            vec![trust("why".into(), MAX_CHAIN + 1)],
            vec![trust("why".into(), 1); MAX_TRUST_CHECKS + 1],
        ] {
            let mut client = Snapshot {
                trust: bad,
                ..Snapshot::default()
            };
            assert_eq!(
                check(&mut client).expect_err("over").code,
                ErrorCode::InventoryTooLarge
            );
        }
        let mut client = Snapshot {
            trust: vec![trust("why".into(), 2)],
            ..Snapshot::default()
        };
        check(&mut client).expect("within the limits");
    }
}
