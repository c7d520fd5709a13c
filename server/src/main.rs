//! certfleet-server: the console's command line. `serve` runs it; `token create` makes an
//! enrolment token for an agent.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use certfleet_server::config::{Config, Overrides};
use certfleet_server::datadir::DataDir;
use clap::{Parser, Subcommand};
use time::OffsetDateTime;

/// mimalloc, not glibc's malloc: with 10,000 agents the console's sessions allocate and free
/// on every worker thread, and glibc kept what they freed in its per-thread arenas — 815 MB
/// taken from the system for 488 MB in use, a third of the console's memory free space it
/// never gave back. With mimalloc: 75.2 → 69.8 KiB per agent (BENCHMARKS.md, the swarm).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about = "The certfleet console")]
struct Cli {
    /// TOML configuration file (see certfleet-server.example.toml).
    #[arg(long, global = true, env = "CERTFLEET_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder (database, CA, secrets).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address of the web UI and JSON API.
    #[arg(long, global = true)]
    api_listen: Option<SocketAddr>,
    /// Address agents connect to.
    #[arg(long, global = true)]
    gateway_listen: Option<SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the console (creates the data folder, CA and first admin on the first start).
    Serve,
    /// The key-encryption key that seals stored private keys and passwords.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The issuing CA for internal names as a subordinate of an enterprise PKI.
    IssuingCa {
        #[command(subcommand)]
        command: IssuingCaCommand,
    },
    /// Enrolment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Write a commented configuration and a systemd unit for running the console as a
    /// service (files already there are left alone), and print the steps that finish it.
    Init {
        /// Where to write the configuration.
        #[arg(long, default_value = "/etc/certfleet/certfleet-server.toml")]
        config_file: PathBuf,
        /// Where to write the systemd unit.
        #[arg(long, default_value = "/etc/systemd/system/certfleet-server.service")]
        unit_file: PathBuf,
        /// A name agents and browsers reach the console by (repeat for more); it goes into
        /// the console's TLS certificate.
        #[arg(long = "name")]
        names: Vec<String>,
    },
    /// Copy the data folder into one backup file, beside a running console (the database as
    /// of one moment, the agent CA and its key, the console's TLS and session keys). The
    /// key-encryption key is not in it: keep it apart, it is needed to restore.
    Backup {
        /// The backup file to write (a new file, owner-only: it holds the agent CA's key).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into a new or empty data folder (then start the console on it).
    Restore {
        /// The backup file written by `certfleet-server backup`.
        #[arg(long)]
        from: PathBuf,
        /// The backed-up console's kek.key, copied into the folder (else set CERTFLEET_KEK
        /// before `serve`).
        #[arg(long)]
        kek_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a single-use enrolment token and print the commands that enrol a host.
    Create {
        /// Lifetime, e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = parse_hours)]
        expires: u64,
        /// The host it is meant for (a note for the token list).
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IssuingCaCommand {
    /// Make the sub-CA's key (kept sealed in the database) and write its certificate
    /// request for the enterprise CA to sign. Run again, it writes a request for the same key.
    Request {
        /// Where to write the request (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make the certificate the enterprise CA signed for that request the issuing CA (PEM or
    /// DER; put the enterprise chain up to its root in the same file so clients are given it).
    Install {
        #[arg(long)]
        cert: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-seal every stored secret under a new key (stop the console first). With the key in
    /// the data folder a new one is generated there; with CERTFLEET_KEK, name the variable
    /// that holds the new key.
    Rotate {
        /// Environment variable holding the new key (base64 of 32 bytes).
        #[arg(long)]
        new_kek_env: Option<String>,
    },
}

/// Hours from `30m` (rounded up), `24h`, `7d`.
fn parse_hours(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m, 24h or 7d"))?;
    let hours = match unit {
        "m" => n.div_ceil(60),
        "h" | "" => n,
        "d" => n.saturating_mul(24),
        _ => return Err(format!("{text:?}: the unit must be m, h or d")),
    };
    certfleet_server::tokens::lifetime(hours)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    certfleet_logging::to_stderr();
    certfleet_server::install_crypto_provider();
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        api_listen: cli.api_listen,
        gateway_listen: cli.gateway_listen,
    };
    let config = Config::load(cli.config.as_deref(), std::env::vars(), &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Token {
            command: TokenCommand::Create { expires, host },
        } => runtime.block_on(create_token(config, expires, host)),
        Command::Keys {
            command: KeysCommand::Rotate { new_kek_env },
        } => runtime.block_on(rotate_keys(config, new_kek_env)),
        Command::IssuingCa { command } => runtime.block_on(issuing_ca(config, command)),
        Command::Init {
            config_file,
            unit_file,
            names,
        } => init(cli.data_dir, &config_file, &unit_file, &names),
        Command::Backup { to } => runtime.block_on(backup(config, to)),
        Command::Restore { from, kek_file } => {
            // Never the default folder by accident: where a console is brought back is said.
            if cli.data_dir.is_none() && cli.config.is_none() {
                anyhow::bail!(
                    "say where to restore: --data-dir DIR (a new or empty folder), or --config \
                     with the data_dir of the console to bring back"
                );
            }
            restore(config, from, kek_file)
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    let prepared = certfleet_server::prepare(config).await?;
    if let Some(password) = &prepared.first_admin_password {
        println!(
            "certfleet-server: first start: user {:?} created with the one-time password {password} (you must change it at the first login)",
            prepared.state.config.admin_username
        );
    }
    let gateway_url = prepared.state.config.gateway_url();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    certfleet_server::serve(prepared, shutdown, |bound| {
        println!("certfleet-server: web UI and API on https://{}", bound.api);
        println!(
            "certfleet-server: agent gateway on https://{} (agents dial {gateway_url})",
            bound.gateway
        );
    })
    .await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn create_token(config: Config, hours: u64, host: Option<String>) -> Result<()> {
    let dir = DataDir::open(&config.data_dir, false)?;
    let ca = std::fs::read(dir.path("agent-ca.crt")).with_context(|| {
        format!(
            "no agent CA in {}: start the console once (`certfleet-server serve`) first",
            config.data_dir.display()
        )
    })?;
    let ca_der = pem::parse(&ca)
        .context("agent-ca.crt is not PEM")?
        .into_contents();
    let store = certfleet_store::Store::open(&dir.database()).await?;
    let (token, expires_at) = certfleet_server::tokens::create(
        &store,
        &certfleet_server::pki::pin_of(&ca_der),
        "cli",
        hours,
        host.as_deref(),
        OffsetDateTime::now_utc().unix_timestamp(),
    )
    .await?;
    let (linux, windows) = certfleet_server::tokens::enrol_commands(&config.gateway_url(), &token);
    let expires = OffsetDateTime::from_unix_timestamp(expires_at)?
        .format(&time::format_description::well_known::Rfc3339)?;
    println!("{token}");
    eprintln!(
        "\nSingle use, valid until {expires}. On the host to enrol, run:\n  Linux:   {linux}\n  Windows: {windows}"
    );
    Ok(())
}

async fn issuing_ca(config: Config, command: IssuingCaCommand) -> Result<()> {
    let dir = DataDir::open(&config.data_dir, false)?;
    let store = certfleet_store::Store::open(&dir.database()).await?;
    let now = OffsetDateTime::now_utc();
    let kek = certfleet_server::keys::load(
        &dir,
        &store,
        std::env::var("CERTFLEET_KEK").ok().as_deref(),
        now.unix_timestamp(),
    )
    .await?;
    match command {
        IssuingCaCommand::Request { out } => {
            let csr = certfleet_server::sub_ca::request(&store, &kek, now.unix_timestamp()).await?;
            std::fs::write(&out, &csr)
                .with_context(|| format!("cannot write the request to {}", out.display()))?;
            store
                .audit(
                    now.unix_timestamp(),
                    "cli",
                    certfleet_store::AuditAction::IssuingCaRequested,
                    None,
                    Some(&out.display().to_string()),
                )
                .await?;
            println!(
                "wrote the sub-CA request to {}. Have the enterprise CA sign it as a subordinate \
                 CA, constrained to the policies' allowed_domains (AD CS: certreq -submit \
                 -attrib \"CertificateTemplate:SubCA\" {}), then run `certfleet-server \
                 issuing-ca install --cert FILE` with the certificate and its chain",
                out.display(),
                out.display()
            );
        }
        IssuingCaCommand::Install { cert } => {
            let bytes =
                std::fs::read(&cert).with_context(|| format!("cannot read {}", cert.display()))?;
            let installed = certfleet_server::sub_ca::install(&store, &kek, &bytes, now).await?;
            store
                .audit(
                    now.unix_timestamp(),
                    "cli",
                    certfleet_store::AuditAction::IssuingCaInstalled,
                    Some(&installed.subject),
                    Some(&format!("issued by {}", installed.issuer)),
                )
                .await?;
            let until = installed
                .not_after
                .format(&time::format_description::well_known::Rfc3339)?;
            println!(
                "the issuing CA is now {} (issued by {}, valid until {until}); renewals from \
                 the next pass are issued under it",
                installed.subject, installed.issuer
            );
            if installed.permitted.is_empty() {
                println!(
                    "it has no name constraints: certfleet still issues only for the policies' \
                     allowed_domains, but ask the enterprise CA's admin to constrain it"
                );
            }
            match installed.root {
                Some(root) => println!("clients are given its root, {root}, before first use"),
                None => println!(
                    "the file held no root: clients must already trust the enterprise root \
                     (by group policy, say)"
                ),
            }
        }
    }
    Ok(())
}

async fn rotate_keys(config: Config, new_kek_env: Option<String>) -> Result<()> {
    // Exclusive: a running console holds the old key in memory and would fail to open
    // what is re-sealed under its feet.
    let dir = DataDir::open(&config.data_dir, true)
        .context("stop the console before rotating its key")?;
    let store = certfleet_store::Store::open(&dir.database()).await?;
    let new_key =
        match &new_kek_env {
            Some(name) => Some(std::env::var(name).with_context(|| {
                format!("the variable {name} (named by --new-kek-env) is not set")
            })?),
            None => None,
        };
    let rotated = certfleet_server::keys::rotate(
        &dir,
        &store,
        std::env::var("CERTFLEET_KEK").ok().as_deref(),
        new_key.as_deref(),
        OffsetDateTime::now_utc().unix_timestamp(),
    )
    .await?;
    store
        .audit(
            OffsetDateTime::now_utc().unix_timestamp(),
            "cli",
            certfleet_store::AuditAction::KeysRotated,
            None,
            Some(&format!("{} secrets re-sealed", rotated.resealed)),
        )
        .await?;
    match rotated.source {
        certfleet_server::keys::Source::DataFolder => println!(
            "re-sealed {} secrets under a new kek.key in {}; back up the data folder now (older \
             backups need the old key)",
            rotated.resealed,
            config.data_dir.display()
        ),
        certfleet_server::keys::Source::Environment => println!(
            "re-sealed {} secrets; set CERTFLEET_KEK to the new key before the next start",
            rotated.resealed
        ),
    }
    Ok(())
}

async fn backup(config: Config, to: PathBuf) -> Result<()> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let made = certfleet_server::backup::backup(&config.data_dir, &to, now).await?;
    println!(
        "backed up {} ({} files, {} bytes) to {}; it holds the agent CA's key: keep it as \
         safe as the data folder. The key-encryption key is not in it (kek.key, or \
         CERTFLEET_KEK): keep that apart, a restore needs it",
        config.data_dir.display(),
        made.files,
        made.bytes,
        to.display()
    );
    Ok(())
}

fn restore(config: Config, from: PathBuf, kek_file: Option<PathBuf>) -> Result<()> {
    let made = certfleet_server::backup::restore(&from, &config.data_dir, kek_file.as_deref())?;
    let next = if kek_file.is_some() {
        "start it with `certfleet-server serve`"
    } else {
        "copy the backed-up console's kek.key into it (or set CERTFLEET_KEK), then start it \
         with `certfleet-server serve`"
    };
    println!(
        "restored {} files ({} bytes) into {}; {next}",
        made.files,
        made.bytes,
        config.data_dir.display()
    );
    Ok(())
}

fn init(
    data_dir: Option<PathBuf>,
    config_file: &std::path::Path,
    unit_file: &std::path::Path,
    names: &[String],
) -> Result<()> {
    use certfleet_server::init;
    // A service's data lives under /var/lib, not in the folder the command ran in.
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("/var/lib/certfleet"));
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (config_file, unit_file, data_dir) = (
        absolute(config_file),
        absolute(unit_file),
        absolute(&data_dir),
    );
    let exe = std::env::current_exe().context("cannot tell where this executable is")?;
    for (path, text) in [
        (&config_file, init::config_text(&data_dir, names)?),
        (&unit_file, init::unit_text(&exe, &config_file, &data_dir)),
    ] {
        if init::write_new(path, &text)? {
            println!("wrote {}", path.display());
        } else {
            println!("left {} as it is (it exists)", path.display());
        }
    }
    println!(
        "\nTo finish, as root:\n  useradd --system --home-dir {dir} --shell /usr/sbin/nologin certfleet\n  \
         install -d -o certfleet -g certfleet -m 700 {dir}\n  systemctl daemon-reload\n  \
         systemctl enable --now certfleet-server\n  journalctl -u certfleet-server   # the \
         admin's one-time password is printed at the first start",
        dir = data_dir.display()
    );
    Ok(())
}
