//! `certfleet-agent store`: the LocalMachine certificate stores, the way the agent sees and
//! changes them — what `certutil -store` and `certutil -importPFX` do, with thumbprints
//! accepted as pasted from the certificate dialog (spaces, the invisible leading mark).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use certfleet_certkit::{Certificate, Thumbprint};
use certfleet_winhost::{Host, PrivateKey, Store, StoredCertificate, Usable};
use clap::Subcommand;
use serde::Serialize;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List a store's certificates (default: all three).
    List {
        /// `my` (Personal), `root` (Trusted Root) or `ca` (Intermediate).
        #[arg(long, value_parser = parse_store)]
        store: Option<Store>,
        #[arg(long)]
        json: bool,
    },
    /// Import a PFX into LocalMachine\My with its key (issuers into CA; roots never).
    Import {
        file: PathBuf,
        /// Read the PFX password from this environment variable (never from the command line).
        #[arg(long, value_name = "VAR")]
        password_env: String,
    },
    /// Add a certificate (PEM or DER, no key) to a store.
    Add {
        file: PathBuf,
        #[arg(long, value_parser = parse_store)]
        store: Store,
    },
    /// Remove a certificate by thumbprint.
    Remove {
        thumbprint: String,
        #[arg(long, value_parser = parse_store)]
        store: Store,
    },
}

fn parse_store(text: &str) -> Result<Store, String> {
    Store::parse(text).ok_or_else(|| format!("{text:?} is not a store: use my, root or ca"))
}

#[derive(Debug, Serialize)]
struct Listed {
    store: String,
    thumbprint: String,
    subject: String,
    dns_names: Vec<String>,
    not_after: String,
    /// `none`, or `associated` (a key container is linked).
    private_key: &'static str,
    /// `yes`, `no` or `unknown` (Windows could not say).
    usable: &'static str,
}

fn listed(c: &StoredCertificate) -> Listed {
    let facts = Certificate::from_der(&c.der)
        .ok()
        .map(|cert| cert.facts().clone());
    let (private_key, usable) = match c.private_key {
        PrivateKey::None => ("none", "no"),
        PrivateKey::Associated { usable } => (
            "associated",
            match usable {
                Usable::Yes => "yes",
                Usable::No(_) => "no",
                Usable::Unknown(_) => "unknown",
            },
        ),
    };
    Listed {
        store: c.store.to_string(),
        thumbprint: c.thumbprint.to_string(),
        subject: facts
            .as_ref()
            .map(|f| f.subject.clone())
            .unwrap_or_default(),
        dns_names: facts
            .as_ref()
            .map(|f| f.dns_names.clone())
            .unwrap_or_default(),
        not_after: facts
            .map(|f| f.not_after.date().to_string())
            .unwrap_or_default(),
        private_key,
        usable,
    }
}

pub fn run(command: &Command, host: &Host) -> ExitCode {
    match execute(command, host) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certfleet-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: &Command, host: &Host) -> Result<()> {
    match command {
        Command::List { store, json } => {
            let mut all = Vec::new();
            for store in store
                .map(|s| vec![s])
                .unwrap_or_else(|| Store::ALL.to_vec())
            {
                all.extend(host.stores.list(store)?.iter().map(listed));
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for c in &all {
                    println!(
                        "{}  {}  until {}  key: {} (usable: {})  \"{}\"",
                        c.store, c.thumbprint, c.not_after, c.private_key, c.usable, c.subject
                    );
                }
            }
        }
        Command::Import { file, password_env } => {
            let password = Zeroizing::new(std::env::var(password_env).map_err(|_| {
                anyhow!(
                    "the environment variable {password_env} is not set: put the PFX password there"
                )
            })?);
            let bytes = Zeroizing::new(
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
            );
            let imported = host.stores.import_pfx(&bytes, &password)?;
            println!("imported {} into {}", imported.leaf, Store::My);
            for t in &imported.intermediates {
                println!("issuer {t} into {}", Store::Ca);
            }
            for t in &imported.roots_skipped {
                println!(
                    "root {t} not imported (trusting a root is a separate step: `store add --store root`)"
                );
            }
        }
        Command::Add { file, store } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let material = certfleet_certkit::read(&bytes, None)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let cert = material
                .certificates
                .first()
                .ok_or_else(|| anyhow!("{} holds no certificate", file.display()))?;
            let thumbprint = host.stores.add(*store, cert.der())?;
            println!("added {thumbprint} to {store}");
        }
        Command::Remove { thumbprint, store } => {
            let thumbprint = Thumbprint::parse(thumbprint)?;
            if host.stores.remove(*store, &thumbprint)? {
                println!("removed {thumbprint} from {store}");
            } else {
                anyhow::bail!("{thumbprint} is not in {store}");
            }
        }
    }
    Ok(())
}
