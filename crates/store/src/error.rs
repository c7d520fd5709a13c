//! Storage errors, each saying what failed and what to do.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "{path} is not a certfleet database (not SQLite at all); nothing was changed: point \
         the console at another data folder, or move the file away"
    )]
    NotADatabase { path: String },

    #[error(
        "{path} is locked by another process (is another certfleet-server running on the \
         same data folder?); stop it, or use another data folder"
    )]
    Locked { path: String },

    #[error("could not open the database {path}: {detail}")]
    Open { path: String, detail: String },

    #[error(
        "could not bring the database {path} to this version's schema: {detail}; \
         restore a backup, or run the matching certfleet version"
    )]
    Migrate { path: String, detail: String },

    #[error(
        "the database {path} was last used by a newer certfleet-server: its schema has \
         migration {version}, which this one does not know; nothing was changed. Run that \
         version (or a newer one) on it, or restore a backup made with this version"
    )]
    Newer { path: String, version: i64 },

    #[error("the enrolment token is unknown or its secret is wrong: create a new token")]
    TokenInvalid,
    #[error("the enrolment token was already used: create a new token for each agent")]
    TokenSpent,
    #[error("the enrolment token expired: create a new token")]
    TokenExpired,

    /// The thing exists already; the message says which and what to do instead.
    #[error("{0}")]
    Duplicate(String),

    #[error("{what} not found")]
    NotFound { what: &'static str },

    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),

    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SQLite's primary result code (the low byte of the extended code sqlx reports).
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db.code()?.parse::<i64>().ok().map(|c| c & 0xff),
        _ => None,
    }
}

const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOTADB: i64 = 26;

fn classify(path: &Path, e: &sqlx::Error) -> Option<Error> {
    let path = path.display().to_string();
    match sqlite_code(e)? {
        SQLITE_NOTADB => Some(Error::NotADatabase { path }),
        SQLITE_BUSY | SQLITE_LOCKED => Some(Error::Locked { path }),
        _ => None,
    }
}

impl Error {
    pub(crate) fn open(path: &Path, e: sqlx::Error) -> Self {
        classify(path, &e).unwrap_or_else(|| Error::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    pub(crate) fn migrate(path: &Path, e: sqlx::migrate::MigrateError) -> Self {
        // Applied to the file, unknown to this binary: a downgrade (or a backup restored
        // from a newer console). Refused before anything runs.
        if let sqlx::migrate::MigrateError::VersionMissing(version) = e {
            return Error::Newer {
                path: path.display().to_string(),
                version,
            };
        }
        if let sqlx::migrate::MigrateError::Execute(inner) = &e
            && let Some(classified) = classify(path, inner)
        {
            return classified;
        }
        Error::Migrate {
            path: path.display().to_string(),
            detail: e.to_string(),
        }
    }
}
