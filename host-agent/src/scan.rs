//! `certfleet-agent scan`: what the agent would report to the console — every endpoint, its
//! certificate, where it came from (file, store, live port) and its findings — without a
//! console. Strictly read-only: it reads configuration files, the certificate stores and
//! live ports, and writes nothing, so it is safe to run first on a production server.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use certfleet_proto::{Endpoint, Snapshot, TrustCheck};
use certfleet_winhost::Host;
use time::OffsetDateTime;

use crate::config::AgentConfig;
use crate::inventory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent configuration (default: agent.toml in the data folder).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the agent keeps its files (to find agent.toml).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON (the inventory as the console receives it).
    #[arg(long)]
    pub json: bool,
}

/// Exit status when the scan could not run (clap also uses 2 for usage errors).
const COULD_NOT_RUN: u8 = 2;

/// Whether any endpoint has an error finding or could not be read, or a server this
/// machine must trust is not trusted.
fn has_errors(snapshot: &Snapshot) -> bool {
    snapshot.endpoints.iter().any(|e| {
        !e.errors.is_empty()
            || e.findings
                .iter()
                .any(|f| f.severity == certfleet_proto::Severity::Error)
    }) || snapshot.trust.iter().any(|t| !t.verdict.is_trusted())
}

pub fn run(args: &Args, host: &Host) -> ExitCode {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::identity::default_data_dir);
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| dir.join("agent.toml"));
    let config = match AgentConfig::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("certfleet-agent: {e:#}");
            return ExitCode::from(COULD_NOT_RUN);
        }
    };
    let snapshot = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let attached = crate::trust::attached::load(&dir, &config.trust);
            rt.block_on(inventory::collect_with(
                &config,
                &attached,
                host,
                OffsetDateTime::now_utc(),
            ))
        }
        Err(e) => {
            eprintln!("certfleet-agent: cannot start the async runtime: {e}");
            return ExitCode::from(COULD_NOT_RUN);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&snapshot) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("certfleet-agent: cannot encode the inventory: {e}");
                return ExitCode::from(COULD_NOT_RUN);
            }
        }
    } else {
        print!("{}", render(&snapshot));
    }
    if has_errors(&snapshot) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    if snapshot.endpoints.is_empty() && snapshot.trust.is_empty() {
        out.push_str("nothing to report: add [[apache]], [[pem]], [[trust]] (or, on Windows, a certificate in LocalMachine\\My) to the configuration\n");
    }
    for endpoint in &snapshot.endpoints {
        render_endpoint(&mut out, snapshot, endpoint);
    }
    for check in &snapshot.trust {
        render_trust(&mut out, snapshot, check);
    }
    out
}

fn render_trust(out: &mut String, snapshot: &Snapshot, t: &TrustCheck) {
    let _ = writeln!(out, "{} (must be trusted here)", t.endpoint);
    let _ = writeln!(out, "  name:       {}", t.server_name);
    let _ = writeln!(out, "  judged by:  {}", t.store);
    for (i, sha) in t.chain.iter().enumerate() {
        let label = if i == 0 { "served" } else { "  then" };
        match snapshot.certificates.iter().find(|c| &c.sha256 == sha) {
            Some(c) => {
                let _ = writeln!(out, "  {label:<11} \"{}\" from \"{}\"", c.subject, c.issuer);
            }
            None => {
                let _ = writeln!(out, "  {label:<11} SHA-256 {sha}");
            }
        }
    }
    let _ = writeln!(out, "  verdict:    {}: {}", t.verdict.label(), t.reason);
    out.push('\n');
}

fn render_endpoint(out: &mut String, snapshot: &Snapshot, e: &Endpoint) {
    let _ = writeln!(out, "{} ({})", e.name, e.kind);
    let _ = writeln!(out, "  key:        {}", e.key);
    if let Some(from) = &e.config_path {
        let _ = writeln!(out, "  from:       {from}");
    }
    if let Some(address) = &e.address {
        let _ = writeln!(out, "  live port:  {address}");
    }
    for (label, sha) in [
        ("configured", &e.configured_sha256),
        ("served", &e.served_sha256),
    ] {
        let Some(sha) = sha else { continue };
        match snapshot.certificates.iter().find(|c| &c.sha256 == sha) {
            Some(c) => {
                let until = OffsetDateTime::from_unix_timestamp(c.not_after)
                    .map(|t| t.date().to_string())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {label:<11} \"{}\" until {until}, thumbprint {}",
                    c.subject, c.thumbprint
                );
            }
            None => {
                let _ = writeln!(out, "  {label:<11} SHA-256 {sha}");
            }
        }
    }
    for error in &e.errors {
        let _ = writeln!(out, "  could not read: {error}");
    }
    for f in &e.findings {
        let _ = writeln!(out, "  {} {}: {}", f.severity, f.code, f.message);
    }
    out.push('\n');
}
