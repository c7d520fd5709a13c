//! `certfleet-agent inspect`: prints the facts and findings certkit produces for files on
//! disk. Passwords come from a file or an environment variable, never from the command line,
//! where they would land in shell history and process lists.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use certfleet_certkit::{self as certkit, ChainEntry, Material, Policy, Report, Role, Severity};
use clap::ValueEnum;
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The certificate: PEM, DER, or a PFX / PKCS#12 with its key and chain.
    file: PathBuf,
    /// Read the PFX or key password from this file (its first line).
    #[arg(long, value_name = "F", conflicts_with = "password_env")]
    password_file: Option<PathBuf>,
    /// Read the PFX or key password from this environment variable.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The private key, if it is not inside FILE.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Intermediate certificates, if they are not inside FILE.
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// Roots (or a CA bundle) the chain must reach; without it, an incomplete chain is only
    /// a warning.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// The name clients use to reach the server; checked against the certificate's names.
    #[arg(long, value_name = "FQDN")]
    host: Option<String>,
    /// What the certificate is for: decides the required intended purposes.
    #[arg(long, value_enum)]
    purpose: Option<PurposeArg>,
    /// Warn when the certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    warn_days: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PurposeArg {
    Sage300,
    Apache,
    Pem,
}

impl From<PurposeArg> for certkit::Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::Sage300 => certkit::Purpose::Sage300,
            PurposeArg::Apache => certkit::Purpose::Apache,
            PurposeArg::Pem => certkit::Purpose::Pem,
        }
    }
}

/// Exit status when the input cannot be read (clap also uses 2 for usage errors).
const UNREADABLE: u8 = 2;

pub fn run(args: &Args) -> ExitCode {
    match inspect(args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("certfleet-agent: could not encode the report: {e}");
                        return ExitCode::from(UNREADABLE);
                    }
                }
            } else {
                print!("{}", render(&args.file, &report, OffsetDateTime::now_utc()));
            }
            if report.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            let code = e
                .downcast_ref::<certkit::Error>()
                .map(certkit::Error::code)
                .unwrap_or("input_unreadable");
            let hint = match code {
                "password_required" => " (--password-file F or --password-env VAR)",
                _ => "",
            };
            if args.json {
                let body = serde_json::json!({
                    "error": { "code": code, "message": format!("{e:#}{hint}") }
                });
                println!("{body}");
            } else {
                eprintln!("certfleet-agent: {e:#}{hint}");
            }
            ExitCode::from(UNREADABLE)
        }
    }
}

fn inspect(args: &Args) -> Result<Report> {
    let password = read_password(args)?;
    let password = password.as_ref().map(|p| p.as_str());
    let mut material = read_file(&args.file, password)?;
    if let Some(key) = &args.key {
        material.merge(read_file(key, password)?);
    }
    if let Some(chain) = &args.chain {
        material.merge(read_file(chain, password)?);
    }
    let mut policy = Policy::new(OffsetDateTime::now_utc());
    policy.warn_within_days = args.warn_days;
    policy.purpose = args.purpose.map(Into::into);
    if let Some(host) = &args.host {
        policy.host = Some(certkit::HostName::parse(host).context("--host")?);
    }
    if let Some(trust) = &args.trust {
        policy.trust = read_file(trust, password)?.certificates;
    }
    Ok(certkit::judge(&material, &policy))
}

fn read_file(path: &Path, password: Option<&str>) -> Result<Material> {
    let bytes = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    certkit::read(&bytes, password).with_context(|| format!("{}", path.display()))
}

fn read_password(args: &Args) -> Result<Option<Zeroizing<String>>> {
    if let Some(path) = &args.password_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?,
        );
        // Only the line ending is dropped: spaces may be part of a password.
        let first_line = text.lines().next().unwrap_or("");
        return Ok(Some(Zeroizing::new(first_line.to_owned())));
    }
    if let Some(var) = &args.password_env {
        let value = std::env::var(var).map_err(|_| {
            anyhow!("the environment variable {var} named by --password-env is not set")
        })?;
        return Ok(Some(Zeroizing::new(value)));
    }
    Ok(None)
}

fn render(file: &Path, report: &Report, now: OffsetDateTime) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", file.display());
    for (i, entry) in report.certificates.iter().enumerate() {
        render_certificate(&mut out, i + 1, entry, now);
    }
    for key in &report.keys {
        let _ = writeln!(
            out,
            "\nPrivate key  {} {}, {}",
            key.key.algorithm,
            key.key.bits,
            if key.matches_leaf {
                "belongs to the certificate"
            } else {
                "does NOT belong to the certificate"
            }
        );
    }
    let _ = writeln!(out);
    if report.findings.is_empty() {
        let _ = writeln!(out, "No findings.");
        return out;
    }
    let _ = writeln!(out, "Findings");
    for finding in &report.findings {
        let _ = write!(
            out,
            "  {:<8} {}",
            finding.severity.to_string().to_uppercase(),
            finding.code
        );
        if let Some(subject) = &finding.certificate {
            let _ = write!(out, " [{subject}]");
        }
        let _ = writeln!(out, "\n           {}", finding.message);
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "\n{} error(s), {} warning(s), {} note(s).",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    out
}

fn utc(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.to_string())
}

fn render_certificate(out: &mut String, number: usize, entry: &ChainEntry, now: OffsetDateTime) {
    let facts = &entry.facts;
    let role = match entry.role {
        Role::Leaf => "leaf",
        Role::Intermediate => "intermediate",
        Role::Root => "root",
        Role::TrustAnchor => "trust anchor, from --trust",
        Role::Unrelated => "not part of the chain",
    };
    let names: Vec<String> = facts
        .dns_names
        .iter()
        .map(|n| format!("DNS:{n}"))
        .chain(facts.ip_addresses.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    let days_left = (facts.not_after - now).whole_days();
    let purposes = match &facts.extended_key_usages {
        None => "any (no extended key usage extension)".to_owned(),
        Some(list) => list.join(", "),
    };
    let ca = match facts.basic_constraints {
        Some(bc) if bc.ca => match bc.path_len {
            Some(n) => format!("yes (path length {n})"),
            None => "yes".to_owned(),
        },
        _ => "no".to_owned(),
    };
    let rows = [
        ("Subject", facts.subject.clone()),
        ("Issuer", facts.issuer.clone()),
        ("Serial", facts.serial.clone()),
        (
            "Names",
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(", ")
            },
        ),
        ("Not before", utc(facts.not_before)),
        (
            "Not after",
            format!("{} ({days_left} days left)", utc(facts.not_after)),
        ),
        ("Thumbprint", format!("{} (SHA-1)", facts.thumbprint)),
        ("SHA-256", facts.sha256.to_string()),
        (
            "Key",
            format!("{} {}", facts.public_key.algorithm, facts.public_key.bits),
        ),
        ("Signature", facts.signature_algorithm.clone()),
        ("Purposes", purposes),
        (
            "Key usage",
            if facts.key_usages.is_empty() {
                "(not restricted)".into()
            } else {
                facts.key_usages.join(", ")
            },
        ),
        ("CA", ca),
        (
            "Self-signed",
            if facts.self_signed { "yes" } else { "no" }.into(),
        ),
    ];
    let _ = writeln!(out, "\nCertificate {number} ({role})");
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<12} {value}");
    }
}
