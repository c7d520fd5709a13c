//! certfleet-agent: the host agent. Today it inspects certificate files; enrolment, the
//! connection to the console and rollouts come with later issues.

mod inspect;

use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
    }
}
