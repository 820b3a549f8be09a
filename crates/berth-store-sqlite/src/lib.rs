//! berth's embedded store: SQLite in WAL mode, one file in the data dir. Implements the
//! `Store` seam from berth-core. Every write that reads before it writes takes the write
//! lock up front (`BEGIN IMMEDIATE`), so concurrent `berth` processes serialize cleanly.
//!
//! Durability trade-off: `synchronous=NORMAL` under WAL survives any process crash (the
//! promise berth makes); an OS crash may lose the last few commits.

mod lease;
mod listing;

pub(crate) use berth_store_sql as rows;
pub(crate) use berth_store_sql::db_err;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use berth_core::store::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::OwnedMutexGuard;

/// Schema migrations, applied in order; `PRAGMA user_version` holds how many ran.
const MIGRATIONS: [&str; 13] = [
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_server.sql"),
    include_str!("../migrations/0003_leases.sql"),
    include_str!("../migrations/0004_deadlines.sql"),
    include_str!("../migrations/0005_artifact_data.sql"),
    include_str!("../migrations/0006_policy_secrets.sql"),
    include_str!("../migrations/0007_volume_use.sql"),
    include_str!("../migrations/0008_schedules.sql"),
    include_str!("../migrations/0009_schedule_outages.sql"),
    include_str!("../migrations/0010_private_images.sql"),
    include_str!("../migrations/0011_output_cursor.sql"),
    include_str!("../migrations/0012_worker_backend.sql"),
    include_str!("../migrations/0013_job_labels.sql"),
];

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    install_id: String,
    /// One writer at a time in this process. SQLite allows one anyway; queueing here instead
    /// of in SQLite's busy handler (which sleeps 1, 2, 5, 10, ... ms between tries) keeps
    /// concurrent workers from losing milliseconds to each other on every write.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Woken when a job becomes claimable in this process (other processes are found by
    /// the workers' slow poll).
    work: Arc<tokio::sync::Notify>,
    /// Status changes waiting for the next group commit.
    statuses: berth_store_sql::StatusQueue,
}

/// A write transaction (`BEGIN IMMEDIATE`) holding this process's writer lock.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _writer: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db_err)?
            .filename(path)
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // A connection to a local file cannot go stale: no ping (a round trip to its
        // worker thread) before every use.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        enable_wal(&pool).await?;
        migrate(&pool).await?;
        let install_id = ensure_install_id(&pool).await?;
        Ok(SqliteStore {
            pool,
            install_id,
            writer: Arc::default(),
            work: Arc::default(),
            statuses: berth_store_sql::status_queue(1),
        })
    }

    pub(crate) async fn write(&self) -> StoreResult<WriteTx> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        Ok(WriteTx { tx, _writer: writer })
    }

    // The dialect hook of berth-store-sql's shared implementations (see its `jobs.rs`).
    const JSON_PARAM: &'static str = "";
    /// After a job read inside a write: lock the row for the rest of the transaction.
    const LOCK_ROW: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    /// A batch's ids, from the JSON array in `$1`.
    const BATCH_IDS: &'static str = "SELECT value FROM json_each($1)";
    /// A batch's status changes, from the JSON array in `$1` (`batched.rs`).
    const STATUS_ROWS: &'static str = "(SELECT value ->> 'v_id' AS v_id, value ->> 'v_status' AS v_status,
             value ->> 'v_reason' AS v_reason, value ->> 'v_exit' AS v_exit, value ->> 'v_at' AS v_at,
             value ->> 'v_terminal' AS v_terminal, value ->> 'v_owner' AS v_owner, value ->> 'v_token' AS v_token,
             value ->> 'v_expired_by' AS v_expired_by, value ->> 'v_from' AS v_from,
             value ->> 'v_allowed' AS v_allowed FROM json_each($1))";
    /// A batch's events, from the JSON array in `$1`.
    const EVENT_ROWS: &'static str = "(SELECT value ->> 'e_id' AS e_id, value ->> 'e_at' AS e_at,
             value ->> 'e_kind' AS e_kind, value ->> 'e_data' AS e_data FROM json_each($1))";

    /// The parameter `BATCH_IDS` reads: a JSON array.
    fn ids_param(ids: Vec<String>) -> String {
        serde_json::Value::from(ids).to_string()
    }

    /// The parameter `STATUS_ROWS` and `EVENT_ROWS` read: a JSON array of objects.
    fn rows_param(rows: Vec<serde_json::Value>) -> String {
        serde_json::Value::Array(rows).to_string()
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx> {
        self.write().await
    }

    /// One writer: two submissions with one key cannot interleave anyway.
    async fn lock_idempotency(_tx: &mut SqliteConnection, _key: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn wake_in(_tx: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    /// Wakes this process's idle worker slots (a submission made the queue longer).
    fn woke(&self) {
        self.work.notify_waiters();
    }

    /// The writer lock, for single-statement writes outside `write()`.
    pub(crate) async fn writer(&self) -> OwnedMutexGuard<()> {
        self.writer.clone().lock_owned().await
    }
}

/// WAL is a property of the database file, so it is set once, not per connection: switching
/// needs an exclusive lock that `busy_timeout` cannot wait for (sqlx PR #1930), which made
/// concurrent `berth` processes fail with "database is locked". Retried while others hold it.
async fn enable_wal(pool: &SqlitePool) -> StoreResult<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.map_err(db_err)?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match sqlx::query("PRAGMA journal_mode = WAL").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("locked") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(db_err(e)),
        }
    }
}

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await.map_err(db_err)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, newer than this berth knows ({known}): upgrade berth"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db_err)?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        let pragma = format!("PRAGMA user_version = {}", i + 1);
        sqlx::raw_sql(sqlx::AssertSqlSafe(pragma)).execute(&mut *tx).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

async fn ensure_install_id(pool: &SqlitePool) -> StoreResult<String> {
    let fresh = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('install_id', $1)")
        .bind(&fresh)
        .execute(pool)
        .await
        .map_err(db_err)?;
    sqlx::query_scalar("SELECT value FROM meta WHERE key = 'install_id'").fetch_one(pool).await.map_err(db_err)
}

// Tenants, tokens, audit, deliveries, the container ledger, the worker registry, results
// and artifacts: the
// same SQL on both databases, written once in berth-store-sql.
berth_store_sql::impl_access_store!(SqliteStore);
berth_store_sql::impl_container_ledger!(SqliteStore);
berth_store_sql::impl_worker_store!(SqliteStore);
berth_store_sql::impl_output_store!(SqliteStore);
berth_store_sql::impl_secret_store!(SqliteStore);
berth_store_sql::impl_volume_use!(SqliteStore);
berth_store_sql::impl_image_pulls!(SqliteStore);
berth_store_sql::impl_schedule_store!(SqliteStore);
berth_store_sql::impl_job_store!(SqliteStore, SqliteConnection, WriteTx, listing);
berth_store_sql::impl_batched_writes!(SqliteStore, SqliteConnection);

#[cfg(test)]
mod tests;
