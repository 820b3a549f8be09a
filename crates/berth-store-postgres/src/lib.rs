//! berth's store for many machines: the `Store` seam on PostgreSQL, shared by every `berth
//! server` and `berth worker` of an install. Claims use `FOR UPDATE SKIP LOCKED` (so workers
//! never wait on each other's rows), running limits are re-checked under per-key advisory
//! locks, and a `LISTEN berth_work` connection wakes idle workers when a job is queued.

mod lease;
mod listing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use berth_core::store::{StoreError, StoreResult};
use berth_store_sql as rows;
use berth_store_sql::db_err;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;

/// Schema migrations, applied in order; `meta.schema_version` holds how many ran.
const MIGRATIONS: [&str; 12] = [
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_deadlines.sql"),
    include_str!("../migrations/0003_artifact_data.sql"),
    include_str!("../migrations/0004_policy_secrets.sql"),
    include_str!("../migrations/0005_volume_use.sql"),
    include_str!("../migrations/0006_schedules.sql"),
    include_str!("../migrations/0007_schedule_outages.sql"),
    include_str!("../migrations/0008_private_images.sql"),
    include_str!("../migrations/0009_output_cursor.sql"),
    include_str!("../migrations/0010_worker_backend.sql"),
    include_str!("../migrations/0011_job_labels.sql"),
    include_str!("../migrations/0012_events_without_fk.sql"),
];
/// The channel `NOTIFY` wakes workers on.
const CHANNEL: &str = "berth_work";
/// Status batches written at once (of the pool's 16 connections): PostgreSQL commits in
/// parallel, so one batch is written while another waits for its commit. Two, not more:
/// fewer, bigger batches cost the database less per change (the queue bench, 4 workers of
/// 64 slots: 8.4–9.4k jobs/s with 2, 7.3–8.3k with 4, 5.6–6.7k with 8; docs/benchmarks.md).
const STATUS_WRITERS: usize = 2;
/// Serializes migrations across processes starting at once.
const MIGRATION_LOCK: i64 = 0x6265_7274_6801;

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    install_id: String,
    work: Arc<Notify>,
    _listener: Arc<Listener>,
    /// Status changes waiting for the next group commit.
    statuses: berth_store_sql::StatusQueue,
}

/// The LISTEN task; stops with the last clone of the store.
#[derive(Debug)]
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host/db`) and brings the schema up to date.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad_url(url, sqlx::Error::Configuration("the scheme must be postgres://".into())));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| bad_url(url, e))?;
        PgStore::open_with(options).await
    }

    /// Like `open`, with every table in `schema` (created if missing): the tests use one
    /// schema per case.
    pub async fn open_in_schema(url: &str, schema: &str) -> StoreResult<PgStore> {
        let admin = PgPoolOptions::new().max_connections(1).connect(url).await.map_err(|e| unreachable(url, e))?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.replace('"', ""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&admin).await.map_err(db_err)?;
        admin.close().await;
        let options = PgConnectOptions::from_str(url).map_err(|e| bad_url(url, e))?.options([("search_path", schema)]);
        PgStore::open_with(options).await
    }

    async fn open_with(options: PgConnectOptions) -> StoreResult<PgStore> {
        let shown = format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| unreachable(&shown, e))?;
        migrate(&pool).await?;
        let install_id = ensure_install_id(&pool).await?;
        let work = Arc::new(Notify::new());
        let listener = Listener(tokio::spawn(listen(pool.clone(), work.clone())));
        Ok(PgStore {
            pool,
            install_id,
            work,
            _listener: Arc::new(listener),
            statuses: berth_store_sql::status_queue(STATUS_WRITERS),
        })
    }
}

impl PgStore {
    /// PostgreSQL handles concurrent writers itself: there is no in-process lock to hold
    /// (the shared trait implementations take one on SQLite).
    pub(crate) async fn writer(&self) {}

    // The dialect hook of berth-store-sql's shared implementations (see its `jobs.rs`).
    const JSON_PARAM: &'static str = "::jsonb";
    /// After a job read inside a write: lock the row for the rest of the transaction.
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    /// A batch's ids, from the `text[]` in `$1`. Arrays, not one JSON document: the planner
    /// knows how many rows an array holds, and walks `jobs`' primary key for them; from a
    /// JSON function it expects 100 rows and scans the whole table (1 ms a statement at
    /// 5,000 jobs, and growing with them).
    const BATCH_IDS: &'static str = "SELECT unnest($1::text[])";
    /// A batch's status changes, one `jsonb` object each in `$1` (`batched.rs` in berth-store-sql).
    const STATUS_ROWS: &'static str = "(SELECT r ->> 'v_id' AS v_id, r ->> 'v_status' AS v_status,
             r ->> 'v_reason' AS v_reason, (r ->> 'v_exit')::bigint AS v_exit, (r ->> 'v_at')::bigint AS v_at,
             (r ->> 'v_terminal')::boolean AS v_terminal, r ->> 'v_owner' AS v_owner, (r ->> 'v_token')::bigint AS v_token,
             (r ->> 'v_expired_by')::bigint AS v_expired_by, r ->> 'v_from' AS v_from, r ->> 'v_allowed' AS v_allowed
             FROM unnest($1::text[]::jsonb[]) AS r) AS v";
    /// A batch's events, one `jsonb` object each in `$1`.
    const EVENT_ROWS: &'static str = "(SELECT r ->> 'e_id' AS e_id, (r ->> 'e_at')::bigint AS e_at,
             r ->> 'e_kind' AS e_kind, r ->> 'e_data' AS e_data FROM unnest($1::text[]::jsonb[]) AS r) AS e";

    /// The parameter `BATCH_IDS` reads.
    fn ids_param(ids: Vec<String>) -> Vec<String> {
        ids
    }

    /// The parameter `STATUS_ROWS` and `EVENT_ROWS` read: each row's JSON text.
    fn rows_param(rows: Vec<serde_json::Value>) -> Vec<String> {
        rows.iter().map(ToString::to_string).collect()
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await.map_err(db_err)
    }

    /// Two submissions with one idempotency key at once: the second waits for the first.
    async fn lock_idempotency(tx: &mut sqlx::PgConnection, key: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// `NOTIFY berth_work` with the transaction: idle workers on every node wake.
    async fn wake_in(tx: &mut sqlx::PgConnection) -> StoreResult<()> {
        lease::wake(tx).await
    }

    /// The LISTEN task wakes local waiters when the notification arrives.
    fn woke(&self) {}
}

fn bad_url(url: &str, e: sqlx::Error) -> StoreError {
    let shown = url.split('@').next_back().unwrap_or(url);
    StoreError::Unavailable(format!(
        "`{shown}` is not a PostgreSQL URL ({e}): expected postgres://user:password@host:5432/db"
    ))
}

fn unreachable(shown: &str, e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to PostgreSQL at {shown}: {e}"))
}

/// Wakes local waiters on every `NOTIFY berth_work`; reconnects (and wakes everyone, since
/// a notification may have been missed) whenever the connection drops.
async fn listen(pool: PgPool, work: Arc<Notify>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut l) => {
                if l.listen(CHANNEL).await.is_ok() {
                    work.notify_waiters();
                    while l.recv().await.is_ok() {
                        work.notify_waiters();
                    }
                }
                tracing::warn!("the PostgreSQL LISTEN connection dropped; reconnecting");
            }
            Err(e) => tracing::warn!("cannot LISTEN on PostgreSQL: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(db_err)?;
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('meta') IS NOT NULL").fetch_one(&mut *tx).await.map_err(db_err)?;
    let version: i64 = if exists {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        v.and_then(|v| v.parse().ok()).unwrap_or(0)
    } else {
        0
    };
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, newer than this berth knows ({known}): upgrade berth"
        )));
    }
    for sql in MIGRATIONS.iter().skip(version as usize) {
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db_err)?;
    }
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(known.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

async fn ensure_install_id(pool: &PgPool) -> StoreResult<String> {
    let fresh = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    sqlx::query("INSERT INTO meta (key, value) VALUES ('install_id', $1) ON CONFLICT (key) DO NOTHING")
        .bind(&fresh)
        .execute(pool)
        .await
        .map_err(db_err)?;
    sqlx::query_scalar("SELECT value FROM meta WHERE key = 'install_id'").fetch_one(pool).await.map_err(db_err)
}

// Tenants, tokens, audit, deliveries, the container ledger, the worker registry, results
// and artifacts: the
// same SQL on both databases, written once in berth-store-sql.
berth_store_sql::impl_access_store!(PgStore);
berth_store_sql::impl_container_ledger!(PgStore);
berth_store_sql::impl_worker_store!(PgStore);
berth_store_sql::impl_output_store!(PgStore);
berth_store_sql::impl_secret_store!(PgStore);
berth_store_sql::impl_volume_use!(PgStore);
berth_store_sql::impl_image_pulls!(PgStore);
berth_store_sql::impl_schedule_store!(PgStore);
berth_store_sql::impl_job_store!(PgStore, sqlx::PgConnection, sqlx::Transaction<'static, sqlx::Postgres>, listing);
berth_store_sql::impl_batched_writes!(PgStore, sqlx::PgConnection);

#[cfg(test)]
mod tests;
