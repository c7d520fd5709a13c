//! certfleet-agent: the host agent. `inspect` judges certificate files; `scan` shows what
//! the agent would report; `enroll` joins a console; `run` keeps this host's inventory up to
//! date in it; `service` runs it as a system service; `store` works the Windows stores.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use certfleet_agent::{config, connection, enroll, identity, inspect, scan, service, store};
use certfleet_winhost::Host;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version, about = "The certfleet host agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a certificate's facts and what is wrong with it, before it is deployed.
    ///
    /// Reads PEM, DER and PKCS#12 (.pfx/.p12), telling them apart by content. Exit status:
    /// 0 no error finding, 1 at least one error finding, 2 the input could not be read.
    Inspect(inspect::Args),
    /// Show what the agent would report to the console, changing nothing.
    ///
    /// Every endpoint of the configuration (and, on Windows, LocalMachine\My), its
    /// certificate, where it came from and its findings. Exit status: 0 no error finding,
    /// 1 at least one, 2 the scan could not run.
    Scan(scan::Args),
    /// Join a console with a single-use token (checks the console's CA against the token).
    Enroll {
        /// The console's agent gateway, e.g. https://console.example.com:8444
        #[arg(long)]
        server: String,
        /// A file holding the token from `certfleet-server token create` or the Agents page,
        /// or `-` to read it from standard input. Never on the command line, which other
        /// users of the host can read in the process list.
        #[arg(long)]
        token_file: PathBuf,
        /// Where the agent keeps its key, certificate and configuration.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Connect to the console and keep this host's inventory there up to date.
    Run {
        /// The agent configuration (default: agent.toml in the data folder).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Install, remove, start, stop or query the agent as a system service.
    #[command(subcommand)]
    Service(service::Command),
    /// List or change the LocalMachine certificate stores (Windows).
    #[command(subcommand)]
    Store(store::Command),
}

fn init_logging() {
    certfleet_logging::to_stderr();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    // Two worker threads are plenty for one host's agent.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => return inspect::run(&args),
        Command::Scan(args) => {
            // Diagnostics on stderr (CERTFLEET_LOG); the report stays alone on stdout.
            init_logging();
            return scan::run(&args, &Host::native());
        }
        Command::Service(command) => return service::run(command),
        Command::Store(command) => return store::run(&command, &Host::native()),
        Command::Enroll {
            server,
            token_file,
            data_dir,
        } => {
            init_logging();
            let dir = data_dir.unwrap_or_else(identity::default_data_dir);
            let config = dir.join("agent.toml");
            enroll::read_token(&token_file)
                .and_then(|token| {
                    runtime().and_then(|rt| {
                        rt.block_on(enroll::enroll(&server, &token, &dir, &config))
                    })
                })
                .map(|identity| {
                    println!(
                        "enrolled as agent {} with {}\nconfiguration: {} (add what to watch, then `certfleet-agent run`)",
                        identity.agent_id,
                        identity.server,
                        config.display()
                    );
                })
        }
        Command::Run { config, data_dir } => {
            init_logging();
            let dir = data_dir.unwrap_or_else(identity::default_data_dir);
            let config_path = config.unwrap_or_else(|| dir.join("agent.toml"));
            (|| -> Result<()> {
                let identity = identity::Identity::load(&dir)?;
                let agent_config = config::AgentConfig::load(&config_path)?;
                runtime()?.block_on(connection::run(identity, agent_config, Host::native()))
            })()
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certfleet-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}
