//! The storage layer: every SQL query of certfleet lives here, typed and checked at compile
//! time against `migrations/` (offline data in `.sqlx/`, so a build needs no database).
//! Used by the server and by web's server functions (ssr only). Times are Unix seconds.

mod agents;
mod alerts;
mod audit;
mod backup;
mod certs;
mod claims;
mod client_groups;
mod error;
mod inventory;
mod issuances;
mod read;
mod renewals;
mod rollouts;
mod tokens;
mod trust;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};

pub use agents::AgentRow;
pub use alerts::{
    AlertAction, DigestItemRow, ErrorFindingRow, ExpiringUse, NewEmail, OfflineAgent, OutboxRow,
};
pub use audit::{AuditAction, AuditRow};
pub use backup::copy_database;
pub use certfleet_proto::{
    EndpointKind, IssuanceState, KeyType, RenewalSource, RolloutState, TargetAction, TargetState,
};
pub use certs::{CertSort, CertificateFilter, CertificatePage};
pub use claims::{NameOwner, claimed_names, is_dns_like};
pub use client_groups::ClientGroupRow;
pub use error::{Error, Result};
pub use inventory::{IngestOutcome, IngestRequest};
pub use issuances::{IssuanceRow, NewIssuance};
pub use read::{CertificateRow, EXPIRING_SECS, EndpointRow, FindingRow, HostRow, Summary};
pub use renewals::{NewRenewal, RenewalRow, SealedPlace};
pub use rollouts::{EndpointUse, NewRollout, NewTarget, RolloutRow, TargetRow, WindowRow};
pub use tokens::{NewAgent, NewToken, TokenRow};
pub use trust::{TrustRow, UntrustedCheck};
pub use users::{Role, UserRow};

/// The console's database. Cheap to clone (pool handles).
///
/// Reads go to a pool of connections; every write goes through one more connection of its
/// own, so writers queue in the process, in order, instead of at SQLite's lock — where a
/// writer that finds the lock taken sleeps in steps of up to 100 ms, and a storm of small
/// writes (heartbeats, hellos) next to the ingest writer left the lock idle most of the
/// time.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writes: SqlitePool,
}

/// The pools' release check: a connection still in a transaction is closed (`Store::open`
/// says why).
fn not_in_transaction(
    conn: &mut sqlx::SqliteConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move { Ok(!conn.is_in_transaction()) })
}

impl Store {
    /// Opens (creating if missing) the SQLite file at `path` in WAL mode and applies every
    /// migration. A file that is not a SQLite database, or is locked by another process, is
    /// refused with an error saying so, and is left untouched.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(Error::from)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // A connection given back still in a transaction is closed, not reused. When SQLite
        // ends a transaction itself (a full disk: SQLITE_FULL rolls it back), sqlx's own
        // ROLLBACK then fails, its count of open transactions stays at one, and every later
        // `begin` on that connection was refused ("non-zero transaction depth") until the
        // console restarted. A connection whose rollback is merely still queued is closed
        // too; that costs one reconnect after a failed write.
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(not_in_transaction)
            // 32 MiB of pages rather than SQLite's 2 MiB: the indexes a certificate is
            // inserted into are keyed by hashes, so each insert lands on a random page; with
            // 100,000 certificates those pages no longer fit the default, and every insert
            // read them back from the file (store bench: 10,300 certificate rows/s with 2 MiB, 12,200
            // with 16 MiB, 13,100 with 64 MiB; BENCHMARKS.md).
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await
            .map_err(|e| Error::open(path, e))?;
        sqlx::migrate!("../../migrations")
            .run(&writes)
            .await
            .map_err(|e| Error::migrate(path, e))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(not_in_transaction)
            .connect_with(options)
            .await
            .map_err(|e| Error::open(path, e))?;
        // An up-to-date database needs no write to migrate; make sure one is possible now
        // rather than at the first agent's inventory.
        let mut conn = writes.acquire().await.map_err(|e| Error::open(path, e))?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::open(path, e))?;
        sqlx::query("ROLLBACK")
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::open(path, e))?;
        drop(conn);
        Ok(Store { pool, writes })
    }

    /// A fresh in-memory database, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(Error::from)?
            .foreign_keys(true);
        // One connection: each in-memory connection would be its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../../migrations")
            .run(&pool)
            .await
            .map_err(|e| Error::migrate(Path::new(":memory:"), e))?;
        Ok(Store {
            writes: pool.clone(),
            pool,
        })
    }

    /// Takes the write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// and then writes fails with SQLITE_BUSY when another writer committed in between,
    /// and the busy timeout does not help with that.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writes.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writes.close().await;
    }
}

/// JSON text of `value`, for a `json_each(?)` parameter: many rows in one statement.
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}
