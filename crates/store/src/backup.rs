//! A consistent copy of a database file, for backups.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::{Error, Result};

/// Copies the database at `path` into the new file `to` with `VACUUM INTO`: one read
/// transaction, so the copy is the database as it was at one moment, even while a console
/// writes to it. The connection is its own and read-only, so neither a running console's
/// write connection nor its data-folder lock is in the way; `to` must not exist.
pub async fn copy_database(path: &Path, to: &Path) -> Result<()> {
    let target = to.to_str().ok_or_else(|| Error::Open {
        path: to.display().to_string(),
        detail: "the backup's path is not valid UTF-8; choose another".into(),
    })?;
    let mut conn = SqliteConnectOptions::from_str("sqlite://")
        .map_err(Error::from)?
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| Error::open(path, e))?;
    sqlx::query!("VACUUM INTO ?", target)
        .execute(&mut conn)
        .await
        .map_err(|e| Error::open(path, e))?;
    drop(conn);
    Ok(())
}
