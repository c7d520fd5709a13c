//! How the console and the agent log: the level from `CERTFLEET_LOG` (an `EnvFilter`
//! directive, default `info`) for every writer, and the terminal set-up both binaries use
//! (stderr, colours only on a terminal). The agent's Windows service adds its own file
//! writer with the same filter.

use std::io::IsTerminal;

/// The variable that sets the level, e.g. `CERTFLEET_LOG=debug` or
/// `CERTFLEET_LOG=info,certfleet_server::gateway=debug`.
pub const VARIABLE: &str = "CERTFLEET_LOG";

/// The filter every writer uses.
pub fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env(VARIABLE).unwrap_or_else(|_| "info".into())
}

/// Logs to stderr, in colour only when it is a terminal. Once per process.
pub fn to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
