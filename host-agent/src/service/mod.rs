//! `certfleet-agent service install | uninstall | start | stop | status`: the agent as a
//! system service — a systemd unit on Linux, a Windows service (with recovery actions, a
//! log file in the data folder and Application event log entries) on Windows.

#[cfg(not(windows))]
mod systemd;
#[cfg(windows)]
mod windows;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// The service's name, on both systems.
pub const NAME: &str = "certfleet-agent";

#[derive(Debug, Clone, clap::Args)]
pub struct Where {
    /// The data folder the service runs with (default: the system's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The agent configuration the service runs with (default: agent.toml in the data folder).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register the agent as a service that starts at boot, and start it.
    Install {
        #[command(flatten)]
        at: Where,
        /// Linux: where the unit file goes (default /etc/systemd/system).
        #[arg(long)]
        unit_dir: Option<PathBuf>,
        /// Linux: write the unit only; do not call systemctl.
        #[arg(long)]
        no_start: bool,
    },
    /// Stop the service and remove it.
    Uninstall {
        #[arg(long)]
        unit_dir: Option<PathBuf>,
        #[arg(long)]
        no_start: bool,
    },
    Start,
    Stop,
    /// The service's state.
    Status,
    /// What the service control manager starts (Windows; not for people).
    #[command(hide = true)]
    Run {
        #[command(flatten)]
        at: Where,
    },
}

pub fn run(command: Command) -> ExitCode {
    #[cfg(not(windows))]
    let result = systemd::run(command);
    #[cfg(windows)]
    let result = windows::run(command);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certfleet-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The arguments `run` gets from the service definition.
fn run_arguments(at: &Where) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(dir) = &at.data_dir {
        args.extend(["--data-dir".to_owned(), dir.display().to_string()]);
    }
    if let Some(config) = &at.config {
        args.extend(["--config".to_owned(), config.display().to_string()]);
    }
    args
}
