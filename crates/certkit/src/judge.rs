//! Judges read material against what a target needs: the host name, the purpose, the date,
//! and a trust bundle. Produces the facts in chain order and every finding.

use serde::Serialize;
use time::OffsetDateTime;

use crate::cert::{CertFacts, Certificate, PublicKeyFacts, eku, key_facts};
use crate::chain::{self, ChainProblem, Link};
use crate::finding::{Code, Finding, Severity};
use crate::hostname::{self, Reference};
use crate::key::KeyKind;
use crate::read::{Format, Material, ReadNote};
use crate::signature;

/// What the certificate is for; decides which extended key usages are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Sage 300 Connector Agent (HTTP.sys): its KB asks for Client Authentication.
    Sage300,
    /// Apache httpd with mod_ssl (eSync).
    Apache,
    /// PEM files for any other TLS server (nginx, haproxy, …).
    Pem,
}

/// What to judge against.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The name clients connect to; checked against the SANs.
    pub host: Option<Reference>,
    pub purpose: Option<Purpose>,
    /// Warn when the certificate expires within this many days.
    pub warn_within_days: i64,
    /// Roots (or a bundle) the chain must reach. Empty: the chain is only checked for
    /// internal consistency and an unreachable root is a warning, not an error.
    pub trust: Vec<Certificate>,
    /// The clock, injectable so tests can travel in time.
    pub now: OffsetDateTime,
}

impl Policy {
    /// No host, no purpose, a 30-day warning, no trust bundle, the current time.
    pub fn new(now: OffsetDateTime) -> Self {
        Policy {
            host: None,
            purpose: None,
            warn_within_days: 30,
            trust: Vec::new(),
            now,
        }
    }
}

/// The role of a certificate in what was supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Leaf,
    Intermediate,
    Root,
    /// From the trust bundle, not from the input.
    TrustAnchor,
    /// Supplied, but not part of the leaf's chain.
    Unrelated,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    pub role: Role,
    #[serde(flatten)]
    pub facts: CertFacts,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    #[serde(flatten)]
    pub key: PublicKeyFacts,
    /// Whether this key belongs to the leaf certificate.
    pub matches_leaf: bool,
}

/// The verdict on some material.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Leaf first, then its issuers in order, then the trust anchor, then unrelated ones.
    pub certificates: Vec<ChainEntry>,
    pub keys: Vec<KeyReport>,
    /// Most severe first.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn leaf(&self) -> Option<&CertFacts> {
        self.certificates
            .iter()
            .find(|c| c.role == Role::Leaf)
            .map(|c| &c.facts)
    }
}

/// Why `material` cannot serve `host` for `purpose` at `now`: the error findings of judging
/// it there (names, intended purpose, the key when it is present, dates). Empty: it fits.
/// The console's plan and the agent's preflight both decide with this, so they agree.
pub fn misfits(
    material: &Material,
    host: Option<Reference>,
    purpose: Purpose,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let mut policy = Policy::new(now);
    policy.purpose = Some(purpose);
    policy.host = host;
    judge(material, &policy)
        .findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

/// Judges `material` against `policy`.
pub fn judge(material: &Material, policy: &Policy) -> Report {
    let mut findings = Vec::new();
    let certs = &material.certificates;

    let Some(leaf) = choose_leaf(material) else {
        findings.push(Finding::new(
            Code::NoCertificate,
            Severity::Error,
            "the input holds a private key but no certificate: supply the certificate too \
             (the key may stay in its own file)",
        ));
        return Report {
            certificates: Vec::new(),
            keys: material
                .keys
                .iter()
                .map(|k| KeyReport {
                    key: key_facts(k.kind()),
                    matches_leaf: false,
                })
                .collect(),
            findings,
        };
    };
    let leaf_cert = &certs[leaf];

    let keys = judge_keys(material, leaf_cert, policy, &mut findings);
    let chain = chain::build(certs, leaf, &policy.trust);
    judge_chain(certs, &chain, policy, material, &mut findings);

    for (position, &index) in chain.ordered.iter().enumerate() {
        judge_validity(&certs[index], position == 0, policy, &mut findings);
        judge_strength(&certs[index], &mut findings);
    }
    judge_leaf(leaf_cert, policy, material, &mut findings);

    findings.sort_by_key(|f| f.severity);

    let mut entries = Vec::new();
    for (position, &index) in chain.ordered.iter().enumerate() {
        let cert = &certs[index];
        let role = if position == 0 {
            Role::Leaf
        } else if cert.facts().self_signed {
            Role::Root
        } else {
            Role::Intermediate
        };
        entries.push(ChainEntry {
            role,
            facts: cert.facts().clone(),
        });
    }
    if let Some(anchor) = chain.anchor {
        entries.push(ChainEntry {
            role: Role::TrustAnchor,
            facts: policy.trust[anchor].facts().clone(),
        });
    }
    for problem in &chain.problems {
        if let ChainProblem::Unrelated { index } = problem {
            entries.push(ChainEntry {
                role: Role::Unrelated,
                facts: certs[*index].facts().clone(),
            });
        }
    }
    Report {
        certificates: entries,
        keys,
        findings,
    }
}

/// The certificate a key belongs to; else the one no other certificate names as its issuer
/// (the bottom of the chain); else the first.
fn choose_leaf(material: &Material) -> Option<usize> {
    let certs = &material.certificates;
    if certs.is_empty() {
        return None;
    }
    for key in &material.keys {
        if let Some(i) = certs
            .iter()
            .position(|c| c.public_id() == Some(key.public_id()))
        {
            return Some(i);
        }
    }
    let issues_another = |i: usize| {
        certs
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.names_as_issuer(&certs[i]))
    };
    (0..certs.len())
        .find(|&i| !certs[i].is_ca() && !issues_another(i))
        .or_else(|| (0..certs.len()).find(|&i| !issues_another(i)))
        .or(Some(0))
}

fn judge_keys(
    material: &Material,
    leaf: &Certificate,
    policy: &Policy,
    findings: &mut Vec<Finding>,
) -> Vec<KeyReport> {
    let subject = &leaf.facts().subject;
    let reports: Vec<KeyReport> = material
        .keys
        .iter()
        .map(|k| KeyReport {
            key: key_facts(k.kind()),
            matches_leaf: leaf.public_id() == Some(k.public_id()),
        })
        .collect();
    let matching = reports.iter().filter(|r| r.matches_leaf).count();
    if !reports.is_empty() && matching == 0 {
        let key = &reports[0].key;
        findings.push(
            Finding::new(
                Code::KeyMismatch,
                Severity::Error,
                format!(
                    "the private key ({} {}) does not belong to this certificate (\"key values \
                     mismatch\"): use the key that was generated with this certificate's \
                     request, or export the certificate again as a PFX with its private key",
                    key.algorithm, key.bits
                ),
            )
            .about(subject),
        );
    } else if matching >= 1 && reports.len() > 1 {
        findings.push(Finding::new(
            Code::KeyExtra,
            Severity::Warning,
            format!(
                "the input holds {} private keys; certfleet uses the one that belongs to the \
                 certificate and ignores the others",
                reports.len()
            ),
        ));
    }
    if reports.is_empty()
        && let Some(purpose) = policy.purpose
    {
        findings.push(
            Finding::new(
                Code::KeyMissing,
                Severity::Warning,
                format!(
                    "no private key was given; deploying for {} needs it: supply the key \
                     file, or a PFX exported with its private key",
                    purpose_name(purpose)
                ),
            )
            .about(subject),
        );
    }
    reports
}

fn judge_chain(
    certs: &[Certificate],
    chain: &chain::Chain,
    policy: &Policy,
    material: &Material,
    findings: &mut Vec<Finding>,
) {
    let subject = |i: usize| certs[i].facts().subject.as_str();
    for problem in &chain.problems {
        let finding = match problem {
            ChainProblem::OutOfOrder => {
                // Inside a PFX the order carries no meaning; in PEM files it does.
                if material.formats.contains(&Format::Pkcs12) {
                    continue;
                }
                Finding::new(
                    Code::ChainOutOfOrder,
                    Severity::Info,
                    "the certificates were not in leaf → intermediate → root order; certfleet \
                     writes them in order",
                )
            }
            ChainProblem::BadSignature { child, issuer } => {
                let issuer_name = match issuer {
                    Link::Supplied(i) => subject(*i),
                    Link::Anchor(i) => policy.trust[*i].facts().subject.as_str(),
                };
                Finding::new(
                    Code::ChainBadSignature,
                    Severity::Error,
                    format!(
                        "the signature of this certificate does not verify with the key of \
                         \"{issuer_name}\", which carries its issuer's name: that issuer \
                         certificate is a different one (renewed or re-keyed); get the \
                         current intermediate from the CA"
                    ),
                )
                .about(subject(*child))
            }
            ChainProblem::Unverifiable { child, algorithm } => Finding::new(
                Code::ChainUnverifiable,
                Severity::Warning,
                format!(
                    "certfleet cannot check signatures made with {algorithm}; the link to its \
                     issuer was matched by name only"
                ),
            )
            .about(subject(*child)),
            ChainProblem::MissingIssuer { last } => {
                let issuer = &certs[*last].facts().issuer;
                if policy.trust.is_empty() {
                    Finding::new(
                        Code::ChainIncomplete,
                        Severity::Warning,
                        format!(
                            "the chain stops here: the issuer \"{issuer}\" was not supplied; \
                             unless it is a root every client already trusts, add the \
                             intermediate certificate"
                        ),
                    )
                } else {
                    Finding::new(
                        Code::ChainIncomplete,
                        Severity::Error,
                        format!(
                            "missing link: no certificate for the issuer \"{issuer}\" in the \
                             chain or the trust bundle; add that intermediate certificate, or \
                             its root to the trust bundle"
                        ),
                    )
                }
                .about(subject(*last))
            }
            ChainProblem::UntrustedRoot { root } => Finding::new(
                Code::ChainUntrustedRoot,
                Severity::Error,
                "the chain ends at this self-signed root, which is not in the trust bundle: \
                 clients that use that bundle will refuse the certificate",
            )
            .about(subject(*root)),
            ChainProblem::Unrelated { index } => Finding::new(
                Code::ChainUnrelated,
                Severity::Warning,
                "this certificate is not part of the leaf's chain; certfleet leaves it out",
            )
            .about(subject(*index)),
        };
        findings.push(finding);
    }
}

fn judge_validity(cert: &Certificate, is_leaf: bool, policy: &Policy, findings: &mut Vec<Finding>) {
    let facts = cert.facts();
    let what = if is_leaf {
        "certificate"
    } else {
        "issuer certificate"
    };
    let date = |t: OffsetDateTime| t.date().to_string();
    if policy.now > facts.not_after {
        let days = (policy.now - facts.not_after).whole_days();
        findings.push(
            Finding::new(
                Code::Expired,
                Severity::Error,
                format!(
                    "this {what} expired on {} ({days} days ago): renew it",
                    date(facts.not_after)
                ),
            )
            .about(&facts.subject),
        );
    } else if policy.now < facts.not_before {
        findings.push(
            Finding::new(
                Code::NotYetValid,
                Severity::Error,
                format!(
                    "this {what} is not valid before {}: check the clock of the machine that \
                     issued it, or wait until then",
                    facts.not_before
                ),
            )
            .about(&facts.subject),
        );
    } else {
        let days_left = (facts.not_after - policy.now).whole_days();
        if days_left < policy.warn_within_days {
            findings.push(
                Finding::new(
                    Code::ExpiresSoon,
                    Severity::Warning,
                    format!(
                        "this {what} expires on {} ({days_left} days left): renew it before then",
                        date(facts.not_after)
                    ),
                )
                .about(&facts.subject),
            );
        }
    }
}

fn judge_strength(cert: &Certificate, findings: &mut Vec<Finding>) {
    let facts = cert.facts();
    if let Some(KeyKind::Rsa { bits }) = cert.public_id().map(|k| k.kind())
        && bits < 2048
    {
        findings.push(
            Finding::new(
                Code::WeakRsaKey,
                Severity::Error,
                format!(
                    "this certificate's RSA key has {bits} bits; current TLS clients and \
                     OpenSSL 3 refuse keys under 2048 bits: issue a new certificate with an \
                     RSA 2048+ or ECDSA P-256 key"
                ),
            )
            .about(&facts.subject),
        );
    }
    // A root's own signature is never checked by clients; everything below it is.
    if !facts.self_signed && signature::is_weak(cert.signature_oid()) {
        findings.push(
            Finding::new(
                Code::WeakSignature,
                Severity::Error,
                format!(
                    "this certificate is signed with {}, which current clients refuse: have \
                     it reissued with SHA-256",
                    facts.signature_algorithm
                ),
            )
            .about(&facts.subject),
        );
    }
}

fn judge_leaf(
    leaf: &Certificate,
    policy: &Policy,
    material: &Material,
    findings: &mut Vec<Finding>,
) {
    let facts = leaf.facts();
    let subject = facts.subject.as_str();
    if let Some(host) = &policy.host
        && !hostname::covers(&facts.dns_names, &facts.ip_addresses, host)
    {
        let names: Vec<String> = facts
            .dns_names
            .iter()
            .cloned()
            .chain(facts.ip_addresses.iter().map(ToString::to_string))
            .collect();
        let host_text = match host {
            Reference::Dns(n) => n.clone(),
            Reference::Ip(ip) => ip.to_string(),
        };
        let covered = if names.is_empty() {
            "it has no Subject Alternative Names at all (clients ignore the CN)".to_owned()
        } else {
            format!("it covers {}", names.join(", "))
        };
        findings.push(
            Finding::new(
                Code::NameNotCovered,
                Severity::Error,
                format!(
                    "the certificate does not cover \"{host_text}\" (Apache AH01909, browser \
                     name mismatch): {covered}; get one issued for the name clients use"
                ),
            )
            .about(subject),
        );
    }

    let required: &[(&str, &str, Severity)] = match policy.purpose {
        Some(Purpose::Sage300) => &[
            (eku::CLIENT_AUTH, "Client Authentication", Severity::Error),
            (eku::SERVER_AUTH, "Server Authentication", Severity::Warning),
        ],
        Some(Purpose::Apache | Purpose::Pem) => {
            &[(eku::SERVER_AUTH, "Server Authentication", Severity::Error)]
        }
        None => &[],
    };
    for (eku_name, label, severity) in required {
        if !leaf.allows_eku(eku_name) {
            let purpose = policy.purpose.map(purpose_name).unwrap_or_default();
            findings.push(
                Finding::new(
                    Code::EkuMissing,
                    *severity,
                    format!(
                        "the certificate lacks the \"{label}\" intended purpose ({eku_name}), \
                         which {purpose} needs: request it with that extended key usage"
                    ),
                )
                .about(subject),
            );
        }
    }

    if leaf.is_ca() {
        findings.push(
            Finding::new(
                Code::LeafIsCa,
                Severity::Warning,
                "this is a CA certificate used as a server certificate; many clients refuse \
                 that: issue a server certificate from the CA instead",
            )
            .about(subject),
        );
    }
    if facts.self_signed {
        let message = match policy.purpose {
            Some(Purpose::Sage300) => {
                "the certificate is self-signed: import its .cer into Trusted Root \
                 Certification Authorities (LocalMachine) on this server and on every BPA \
                 Platform machine that connects to it"
            }
            _ => {
                "the certificate is self-signed: every client must trust it explicitly \
                 (browsers will warn); Internet-facing servers need a publicly trusted one"
            }
        };
        findings.push(Finding::new(Code::SelfSigned, Severity::Info, message).about(subject));
    }

    for note in &material.notes {
        match note {
            ReadNote::PfxWithoutMac => findings.push(Finding::new(
                Code::PfxWithoutMac,
                Severity::Warning,
                "the PFX has no integrity check (MAC), so damage or tampering would go \
                 unnoticed: export it again with a password",
            )),
            ReadNote::KeyWasEncrypted if policy.purpose == Some(Purpose::Apache) => {
                findings.push(Finding::new(
                    Code::KeyStoredDecrypted,
                    Severity::Info,
                    "the private key was encrypted; Apache on Windows cannot prompt for a pass \
                     phrase, so certfleet writes it decrypted, readable only by the service",
                ))
            }
            ReadNote::KeyWasEncrypted => {}
        }
    }
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Sage300 => "the Sage 300 Connector Agent",
        Purpose::Apache => "Apache (eSync)",
        Purpose::Pem => "a TLS server",
    }
}
