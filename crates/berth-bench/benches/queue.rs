//! Queue throughput without containers: jobs/s through claim → `running` → `succeeded` on the
//! SQLite and PostgreSQL stores, against a bare one-table queue on the same database in the
//! same run (the peer). Run by `scripts/bench` (release build):
//! `cargo bench -p berth-bench --bench queue -- JOBS WORKERS SLOTS [WIDE,...]` with
//! `BERTH_BENCH_PG` set (WIDE: the workers shape again with WIDE slots each, more jobs in flight).
//!
//! Two shapes of berth, both through the real `Store` implementations:
//! - **single**: 8 claimers, each claims one job, makes it `running`, then `succeeded` (the
//!   shape of a worker slot before batched claims);
//! - **workers**: WORKERS workers of SLOTS slots, as `berth worker` runs them: each claims up
//!   to its free slots in one `claim_batch` and runs every job as a task of its own, whose
//!   fenced status changes share group commits.
//!
//! With `BERTH_BENCH_HISTORY=N`, the workers shape runs again on a SQLite store holding N
//! finished jobs (with labels, a log chunk and an event each): claims at a million against a
//! fresh store, in the same run; then again while retention deletes that history as the
//! reaper does (`berth_engine::sweep::prune_finished`, paced), with the claims' p50/p99 (a claim must not stall behind a retention batch).
//!
//! Two peers: the bare queue claiming one row per statement, and claiming ten (the batched
//! floor of research/queue-floors.md), each completion its own statement.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a benchmark program, not library code

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::JobSpec;
use berth_core::clock::{Clock, SystemClock};
use berth_core::ids::JobId;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{ClaimRequest, JobRecord, NewJob, StatusChange, Store};
use tokio::sync::Semaphore;

/// berth-engine's `CLAIM_COOLDOWN` (claims.rs), the same rule: after a claim that filled
/// every free slot, wait this long before the next. (The engine waits only while slots come
/// back within this of each other, which jobs without containers always do.)
const COOLDOWN: Duration = Duration::from_millis(5);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (jobs, workers, slots) = (arg(0, 5000), arg(1, 4), arg(2, 16));
    let dir = tempfile::tempdir().unwrap();
    // WIDE (the fourth argument, e.g. `64,128`): the workers shape again with that many
    // slots each, once per number.
    let wide: Vec<usize> = args.get(3).map_or(Vec::new(), |a| a.split(',').filter_map(|n| n.parse().ok()).collect());
    let shape = Shape { jobs, workers, slots, wide };
    let open = |name: &str| {
        let path = dir.path().join(name);
        async move { Arc::new(berth_store_sqlite::SqliteStore::open(&path).await.unwrap()) as Arc<dyn Store> }
    };
    let mut wide = Vec::new();
    for slots in &shape.wide {
        wide.push(open(&format!("wide-{slots}.db")).await);
    }
    report("sqlite", open("single.db").await, open("workers.db").await, wide, &shape).await;
    if let Some(history) = std::env::var("BERTH_BENCH_HISTORY").ok().and_then(|v| v.parse().ok()) {
        // The same workers on a store that already holds `history` finished jobs (issue 16:
        // claims at a million against a fresh store, same run), then again while retention
        // deletes that history in batches.
        for retention in [false, true] {
            let name = if retention { "history-retention.db" } else { "history.db" };
            let store = open(name).await;
            add_history(&dir.path().join(name), history).await;
            fill(&store, jobs).await;
            claim_times();
            let pruning = retention.then(|| tokio::spawn(prune_all(store.clone())));
            let began = Instant::now();
            let done = drain_all((0..workers).map(|w| worker(store.clone(), format!("bench-{w}"), slots))).await;
            assert_eq!(done, jobs, "every job ran once");
            let rate = jobs as f64 / began.elapsed().as_secs_f64();
            let (p50, p99) = claim_times();
            let pruned = match pruning {
                Some(p) => format!(", while retention deleted {}", p.await.unwrap()),
                None => String::new(),
            };
            println!(
                "sqlite with {history} finished jobs in the store{pruned}: workers {rate:.0} jobs/s ({workers} × {slots} slots); claim p50 {p50:.1} ms, p99 {p99:.1} ms"
            );
        }
    }
    for claim in [1, 10] {
        let raw = raw_sqlite(&dir.path().join(format!("raw{claim}.db")), jobs, claim).await;
        println!("sqlite bare queue, claims of {claim}: {raw:.0} jobs/s");
    }
    let Ok(url) = std::env::var("BERTH_BENCH_PG") else { return };
    // Default durability (a commit waits for its WAL flush), then `synchronous_commit=off`
    // (survives any process crash, may lose the last commits on an OS crash: SQLite's
    // `synchronous=NORMAL` trade-off), chosen in the store URL.
    let relaxed = format!("{url}?options=-c%20synchronous_commit%3Doff");
    for (name, url) in [("postgres", url.clone()), ("postgres (synchronous_commit=off)", relaxed)] {
        let open = |url: String| async move {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            Arc::new(berth_store_postgres::PgStore::open_in_schema(&url, &schema).await.unwrap()) as Arc<dyn Store>
        };
        let mut wide = Vec::new();
        for _ in &shape.wide {
            wide.push(open(url.clone()).await);
        }
        report(name, open(url.clone()).await, open(url.clone()).await, wide, &shape).await;
        for claim in [1, 10] {
            let raw = raw_pg(&url, jobs, 8, claim).await;
            println!("{name} bare queue, claims of {claim}: {raw:.0} jobs/s");
        }
    }
}

struct Shape {
    jobs: usize,
    workers: usize,
    slots: usize,
    /// Slots per worker of wider workers runs (more jobs in flight: bigger batches).
    wide: Vec<usize>,
}

async fn report(name: &str, single: Arc<dyn Store>, workers: Arc<dyn Store>, wide: Vec<Arc<dyn Store>>, shape: &Shape) {
    let submit = fill(&single, shape.jobs).await;
    let began = Instant::now();
    let done = drain_all((0..8).map(|w| one_at_a_time(single.clone(), format!("bench-{w}")))).await;
    assert_eq!(done, shape.jobs, "every job ran once");
    let one = shape.jobs as f64 / began.elapsed().as_secs_f64();
    let batched = workers_run(&workers, shape.jobs, shape.workers, shape.slots).await;
    println!("{name}: submit {submit:.0} jobs/s; claim+start+complete: single {one:.0} jobs/s (8 claimers), {batched}");
    for (store, slots) in wide.iter().zip(&shape.wide) {
        let batched = workers_run(store, shape.jobs, shape.workers, *slots).await;
        println!("{name}, wider: {batched}");
    }
}

/// The workers shape on a fresh `store`: `jobs` jobs through `workers` workers of `slots`
/// slots; says how fast, and the claims' p50 and p99.
async fn workers_run(store: &Arc<dyn Store>, jobs: usize, workers: usize, slots: usize) -> String {
    fill(store, jobs).await;
    claim_times();
    let began = Instant::now();
    let done = drain_all((0..workers).map(|w| worker(store.clone(), format!("bench-{w}"), slots))).await;
    assert_eq!(done, jobs, "every job ran once");
    let rate = jobs as f64 / began.elapsed().as_secs_f64();
    let (p50, p99) = claim_times();
    format!("workers {rate:.0} jobs/s ({workers} × {slots} slots); claim p50 {p50:.1} ms, p99 {p99:.1} ms")
}

/// Submits `jobs` jobs one by one (as the API does); returns jobs/s.
async fn fill(store: &Arc<dyn Store>, jobs: usize) -> f64 {
    let began = Instant::now();
    for _ in 0..jobs {
        let job = NewJob::new(JobId::generate(), JobSpec::new("busybox"), None, SystemClock.now());
        store.create_job(job).await.unwrap();
    }
    jobs as f64 / began.elapsed().as_secs_f64()
}

async fn drain_all(claimers: impl Iterator<Item = impl Future<Output = usize> + Send + 'static>) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for c in claimers {
        tasks.spawn(c);
    }
    let mut done = 0;
    while let Some(n) = tasks.join_next().await {
        done += n.unwrap();
    }
    done
}

fn request(worker: &str) -> ClaimRequest {
    ClaimRequest {
        worker: worker.to_string(),
        queues: vec!["default".into()],
        tags: Default::default(),
        lease: Duration::from_secs(30),
        at: SystemClock.now(),
    }
}

/// Claims one job at a time until the queue is empty, running each in turn.
async fn one_at_a_time(store: Arc<dyn Store>, worker: String) -> usize {
    let mut n = 0;
    while let Some(job) = store.claim(&request(&worker)).await.unwrap() {
        run(&store, job).await;
        n += 1;
    }
    n
}

/// A worker of `slots` slots: claims up to its free slots at once, each job a task.
async fn worker(store: Arc<dyn Store>, name: String, slots: usize) -> usize {
    let free = Arc::new(Semaphore::new(slots));
    let mut running = tokio::task::JoinSet::new();
    let mut n = 0;
    let mut backlog = false;
    loop {
        let first = free.clone().acquire_owned().await.unwrap();
        if backlog {
            // The last claim was full: more jobs wait, so let slots free up together for a
            // moment rather than claim them one at a time (the engine's claim cooldown).
            tokio::time::sleep(COOLDOWN).await;
        }
        let mut permits = vec![first];
        while let Ok(p) = free.clone().try_acquire_owned() {
            permits.push(p);
        }
        while running.try_join_next().is_some() {} // reap the jobs that ended
        let asked = Instant::now();
        let jobs = store.claim_batch(&request(&name), permits.len() as u32).await.unwrap();
        CLAIMS.lock().unwrap().push(asked.elapsed());
        backlog = jobs.len() == permits.len();
        if jobs.is_empty() {
            drop(permits);
            if running.join_next().await.is_none() {
                return n; // nothing runs and nothing is claimable: the queue is empty
            }
            continue;
        }
        n += jobs.len();
        for (job, permit) in jobs.into_iter().zip(permits) {
            let store = store.clone();
            running.spawn(async move {
                run(&store, job).await;
                drop(permit);
            });
        }
    }
}

/// The job's attempt, without a container: `running`, then `succeeded`, fenced.
async fn run(store: &Arc<dyn Store>, job: JobRecord) {
    let fence = job.lease.as_ref().map(|l| l.fence());
    let running = StatusChange::to(JobStatus::Running, SystemClock.now()).fenced(fence.clone());
    store.set_status(&job.id, running).await.unwrap();
    let end = StatusChange::end(Reason::Exited { code: 0 }, Some(0), SystemClock.now()).fenced(fence);
    store.set_status(&job.id, end).await.unwrap();
}

/// How long each `claim_batch` of the workers took.
static CLAIMS: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());

/// The claims' p50 and p99 so far, in ms; starts over.
fn claim_times() -> (f64, f64) {
    let mut all = std::mem::take(&mut *CLAIMS.lock().unwrap());
    all.sort();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    (ms(at(0.5)), ms(at(0.99)))
}

/// Retention as the reaper runs it (paced, in small batches): every job that finished over an
/// hour ago; says how many went, in how long.
async fn prune_all(store: Arc<dyn Store>) -> String {
    let before = berth_core::clock::Timestamp(SystemClock.now().0 - 3_600_000);
    let pace = berth_engine::sweep::RETENTION_PACE;
    let began = Instant::now();
    let n = berth_engine::sweep::prune_finished(store.as_ref(), before, pace, |_| {}).await.unwrap();
    format!("{n} finished jobs in {:.0} s", began.elapsed().as_secs_f64())
}

/// `n` finished jobs, one second apart, with their labels, a log chunk and three events each,
/// put into the SQLite store at `path` by SQL (as scripts/bench_history.py does).
async fn add_history(path: &std::path::Path, n: usize) {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://").unwrap().filename(path);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let now = SystemClock.now().0;
    let spec = "json_object('image','busybox','labels',json_object('team','t'||(i%100)))";
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO jobs (id, spec, tenant, queue, status, reason, exit_code, attempts, created_at, started_at,
                           finished_at, run_at)
         SELECT printf('f%031x', i), {spec}, 'local', 'default', 'succeeded', '{{\"kind\":\"exited\",\"code\":0}}', 0, 1,
                {now} - 86400000 - ({n} - i) * 1000, {now} - 86400000 - ({n} - i) * 1000 + 200,
                {now} - 86400000 - ({n} - i) * 1000 + 400, {now} - 86400000 - ({n} - i) * 1000
         FROM n"
    );
    for statement in [
        sql.as_str(),
        "INSERT INTO job_labels (job_id, key, value, job_created_at)
         SELECT j.id, l.key, l.value, j.created_at FROM jobs j, json_each(j.spec, '$.labels') l",
        "INSERT INTO log_chunks (job_id, seq, attempt, stream, at, data)
         SELECT id, 0, 1, 1, finished_at, CAST('hello from a finished job' AS BLOB) FROM jobs",
        "INSERT INTO events (job_id, seq, at, kind, data) SELECT id, 1, created_at, 'status', '{\"status\":\"succeeded\"}' FROM jobs",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&pool).await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.unwrap();
    pool.close().await;
}

/// The peer on SQLite: one table indexed on its state, claims of `claim` rows (one
/// serialized UPDATE each), one UPDATE per completion.
async fn raw_sqlite(path: &std::path::Path, jobs: usize, claim: usize) -> f64 {
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
    sqlx::query("CREATE INDEX q_state ON q (state, id)").execute(&pool).await.unwrap();
    for _ in 0..jobs {
        sqlx::query("INSERT INTO q (state) VALUES ('queued')").execute(&pool).await.unwrap();
    }
    let began = Instant::now();
    let mut done = 0;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE q SET state = 'running', owner = 'w' WHERE id IN (SELECT id FROM q WHERE state = 'queued' ORDER BY id LIMIT $1)
             RETURNING id",
        )
        .bind(claim as i64)
        .fetch_all(&pool)
        .await
        .unwrap();
        if ids.is_empty() {
            break;
        }
        for id in ids {
            sqlx::query("UPDATE q SET state = 'done' WHERE id = $1 AND owner = 'w'")
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
            done += 1;
        }
    }
    assert_eq!(done, jobs);
    jobs as f64 / began.elapsed().as_secs_f64()
}

/// The peer on PostgreSQL: one table, `FOR UPDATE SKIP LOCKED` claims of `claim` rows by
/// `claimers` claimers, one UPDATE per completion.
async fn raw_pg(url: &str, jobs: usize, claimers: usize, claim: usize) -> f64 {
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
            let claim_sql = format!(
                "UPDATE {table} SET state = 'running', owner = $1 WHERE id IN (SELECT id FROM {table}
                 WHERE state = 'queued' ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id"
            );
            let finish = format!("UPDATE {table} SET state = 'done' WHERE id = $1 AND owner = $2");
            let owner = format!("w{w}");
            let mut n = 0;
            loop {
                let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(claim_sql.clone()))
                    .bind(&owner)
                    .bind(claim as i64)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                if ids.is_empty() {
                    return n;
                }
                for id in ids {
                    sqlx::query(sqlx::AssertSqlSafe(finish.clone()))
                        .bind(id)
                        .bind(&owner)
                        .execute(&pool)
                        .await
                        .unwrap();
                    n += 1;
                }
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
