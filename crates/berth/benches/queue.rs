//! Queue throughput without containers: jobs/s through `claim` → `running` → `succeeded` on
//! the SQLite and PostgreSQL stores, against a bare one-table SKIP LOCKED (or serialized
//! UPDATE) queue on the same database as the peer. Run by `scripts/bench` (release build):
//! `cargo bench -p berth --bench queue -- JOBS CLAIMERS` with `BERTH_BENCH_PG` set.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a benchmark program, not library code

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::JobSpec;
use berth_core::clock::{Clock, SystemClock};
use berth_core::ids::JobId;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{ClaimRequest, NewJob, StatusChange, Store};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let jobs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let claimers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> =
        Arc::new(berth_store_sqlite::SqliteStore::open(&dir.path().join("q.db")).await.unwrap());
    report("sqlite", &sqlite, jobs, claimers).await;
    let raw = raw_sqlite(&dir.path().join("raw.db"), jobs).await;
    println!("sqlite raw queue: {raw:.0} jobs/s");
    if let Ok(url) = std::env::var("BERTH_BENCH_PG") {
        // Default durability (a commit waits for its WAL flush), then `synchronous_commit=off`
        // (survives any process crash, may lose the last commits on an OS crash: SQLite's
        // `synchronous=NORMAL` trade-off), chosen in the store URL.
        let relaxed = format!("{url}?options=-c%20synchronous_commit%3Doff");
        for (name, url) in [("postgres", url.clone()), ("postgres (synchronous_commit=off)", relaxed)] {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pg: Arc<dyn Store> =
                Arc::new(berth_store_postgres::PgStore::open_in_schema(&url, &schema).await.unwrap());
            report(name, &pg, jobs, claimers).await;
            let raw = raw_pg(&url, jobs, claimers).await;
            println!("{name} raw queue: {raw:.0} jobs/s");
        }
    }
}

async fn report(name: &str, store: &Arc<dyn Store>, jobs: usize, claimers: usize) {
    let began = Instant::now();
    for _ in 0..jobs {
        let job = NewJob::new(JobId::generate(), JobSpec::new("busybox"), None, SystemClock.now());
        store.create_job(job).await.unwrap();
    }
    let submit = jobs as f64 / began.elapsed().as_secs_f64();
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..claimers {
        let store = store.clone();
        tasks.spawn(async move { drain(store, format!("bench-{w}")).await });
    }
    let mut done = 0;
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap();
    }
    assert_eq!(done, jobs, "every job ran once");
    let run = jobs as f64 / began.elapsed().as_secs_f64();
    println!("{name}: submit {submit:.0} jobs/s; claim+start+complete {run:.0} jobs/s ({claimers} claimers)");
}

/// Claims until the queue is empty; each job goes running, then succeeded, fenced.
async fn drain(store: Arc<dyn Store>, worker: String) -> usize {
    let mut n = 0;
    loop {
        let req = ClaimRequest {
            worker: worker.clone(),
            queues: vec!["default".into()],
            tags: Default::default(),
            lease: Duration::from_secs(30),
            at: SystemClock.now(),
        };
        let Some(job) = store.claim(&req).await.unwrap() else { return n };
        let fence = job.lease.as_ref().map(|l| l.fence());
        let running = StatusChange::to(JobStatus::Running, SystemClock.now()).fenced(fence.clone());
        store.set_status(&job.id, running).await.unwrap();
        let end = StatusChange::end(Reason::Exited { code: 0 }, Some(0), SystemClock.now()).fenced(fence);
        store.set_status(&job.id, end).await.unwrap();
        n += 1;
    }
}

/// The peer on SQLite: one table, one serialized UPDATE per claim and one per completion.
async fn raw_sqlite(path: &std::path::Path, jobs: usize) -> f64 {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query("CREATE TABLE q (id INTEGER PRIMARY KEY, state TEXT NOT NULL, owner TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..jobs {
        sqlx::query("INSERT INTO q (state) VALUES ('queued')").execute(&pool).await.unwrap();
    }
    let began = Instant::now();
    let mut done = 0;
    loop {
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE q SET state = 'running', owner = 'w' WHERE id = (SELECT id FROM q WHERE state = 'queued' ORDER BY id LIMIT 1)
             RETURNING id",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        let Some(id) = id else { break };
        sqlx::query("UPDATE q SET state = 'done' WHERE id = $1 AND owner = 'w'").bind(id).execute(&pool).await.unwrap();
        done += 1;
    }
    assert_eq!(done, jobs);
    jobs as f64 / began.elapsed().as_secs_f64()
}

/// The peer on PostgreSQL: one table, `FOR UPDATE SKIP LOCKED` claims, the same claimers.
async fn raw_pg(url: &str, jobs: usize, claimers: usize) -> f64 {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(url).await.unwrap();
    let table = format!("rawq_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, owner TEXT)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&pool).await.unwrap();
    let index = format!("CREATE INDEX ON {table} (state, id)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(index)).execute(&pool).await.unwrap();
    let fill = format!("INSERT INTO {table} (state) SELECT 'queued' FROM generate_series(1, {jobs})");
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill)).execute(&pool).await.unwrap();
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..claimers {
        let (pool, table) = (pool.clone(), table.clone());
        tasks.spawn(async move {
            let claim = format!(
                "UPDATE {table} SET state = 'running', owner = $1 WHERE id = (SELECT id FROM {table}
                 WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
            );
            let finish = format!("UPDATE {table} SET state = 'done' WHERE id = $1 AND owner = $2");
            let owner = format!("w{w}");
            let mut n = 0;
            loop {
                let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(claim.clone()))
                    .bind(&owner)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
                let Some(id) = id else { return n };
                sqlx::query(sqlx::AssertSqlSafe(finish.clone())).bind(id).bind(&owner).execute(&pool).await.unwrap();
                n += 1;
            }
        });
    }
    let mut done = 0;
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap();
    }
    assert_eq!(done, jobs);
    jobs as f64 / began.elapsed().as_secs_f64()
}
