//! Why a deployment (or its dry run) did not go ahead. Each variant names the part that
//! refused, so callers decide by kind; the message says what to do and becomes the job's
//! detail for the console.

use std::path::PathBuf;

use certfleet_certkit::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The console's job id cannot name a journal file.
    #[error("refused: the job id {0:?} is not 1-128 letters, digits, - or _")]
    JobId(String),
    /// The journal could not be written: no step goes ahead unrecorded.
    #[error(
        "cannot write the deployment journal in {}: {source}{}; nothing more was changed",
        dir.display(), when_full(source)
    )]
    Journal {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// What the console sent cannot be read, or is not the certificate it names.
    #[error("{0}")]
    Bundle(String),
    /// certkit says the bundle does not fit this endpoint (names, purpose, key, dates).
    #[error("preflight refused: {}", misfits.iter().map(|(code, message)| format!("{code}: {message}")).collect::<Vec<_>>().join("; "))]
    Misfit { misfits: Vec<(Code, String)> },
    /// The chain comes from none of the CAs the target's `allowed_issuers` names.
    #[error(
        "refused: this target accepts certificates only from the CAs its allowed_issuers \
         names, and the chain sent holds none of them ({chain}); issue the certificate from \
         one of those CAs, or add this CA to allowed_issuers on the host"
    )]
    IssuerNotAllowed { chain: String },
    /// The agent's configuration has no such endpoint, or no driver for its kind.
    #[error("{0}")]
    NotConfigured(String),
    /// The endpoint is configured on this host in a way certfleet cannot deploy to.
    #[error("{0}")]
    Endpoint(String),
    /// Another program answers on the endpoint's port.
    #[error("the port {address} is taken by another program: {why}")]
    PortTaken { address: String, why: String },
    /// A file could not be read, written or created.
    #[error("cannot {action} {}: {source}{}", path.display(), when_full(source))]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A folder the deployment would write in can be changed by other users.
    #[error(
        "refused: {} can be changed by other users ({why}), who could swap or read what \
         certfleet writes to {} before the server loads it; make it writable by root (or the \
         agent's user) alone, e.g. `chmod go-w {}`, or configure a path in a private folder; \
         nothing was changed",
        folder.display(), file.display(), folder.display()
    )]
    UnsafeFolder {
        folder: PathBuf,
        file: PathBuf,
        why: String,
    },
    /// The private key files could not be limited to the service's account.
    #[error("cannot limit who reads {}: {why}", path.display())]
    Acl { path: PathBuf, why: String },
    /// A configured command (configuration test, restart) failed or could not run.
    #[error("{0}")]
    Command(String),
    /// A Windows service did not restart.
    #[error("{0}")]
    Service(String),
    /// A Windows configuration change (store, URL reservation, SSL binding) failed.
    #[error("{0}")]
    Windows(String),
    /// The live port did not serve the expected certificate in time.
    #[error("{0}")]
    NotServed(String),
}

/// What to do when the reason is a full disk (the usual one on a small system drive).
fn when_full(source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::StorageFull {
        " (the disk is full: free space on it, then roll out again)"
    } else {
        ""
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
