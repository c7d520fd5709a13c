//! certfleet-server: the console. It will wire the agent gateway, scheduler, internal CA,
//! mailer and HTTP routes together; today it only answers `--help` and `--version`.

use clap::Parser;

/// The certfleet console (not yet serving: see README.md, "Status").
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    Cli::parse();
    eprintln!("certfleet-server: the console is not built yet; see README.md, \"Status\".");
    std::process::exit(2);
}
