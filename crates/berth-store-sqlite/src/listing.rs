//! Job queries with many shapes: the filtered, paged listing, the claim query and the counts
//! behind the metrics. User text only ever reaches SQL as bound parameters.

use berth_core::clock::Timestamp;
use berth_core::store::{ClaimRequest, JobCount, JobFilter, JobRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite, SqlitePool};

use crate::rows::{self, JOB_COLUMNS};
use crate::{WriteTx, db_err};

/// The claim is a query with many shapes too; it lives with the lease code.
pub(crate) use crate::lease::claim_batch;

/// Newest first (`created_at`, then id), as `JobStore::list_jobs` promises.
pub(crate) async fn list_jobs(pool: &SqlitePool, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    // A label filter drives the query from its index, newest first: flat however many
    // jobs the store holds, and however few have the label.
    let (from, created, id) = match f.labels.first() {
        Some((_, Some(_))) => (
            "job_labels l INDEXED BY job_labels_by_value JOIN jobs ON jobs.id = l.job_id",
            "l.job_created_at",
            "l.job_id",
        ),
        Some((_, None)) => (
            "job_labels l INDEXED BY job_labels_by_key JOIN jobs ON jobs.id = l.job_id",
            "l.job_created_at",
            "l.job_id",
        ),
        None => ("jobs", "created_at", "id"),
    };
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLUMNS} FROM {from} WHERE 1 = 1"));
    if let Some((key, value)) = f.labels.first() {
        q.push(" AND l.key = ").push_bind(key.clone());
        if let Some(v) = value {
            q.push(" AND l.value = ").push_bind(v.clone());
        }
    }
    if !f.statuses.is_empty() {
        q.push(" AND status IN (");
        let mut list = q.separated(", ");
        for s in &f.statuses {
            list.push_bind(s.as_str());
        }
        q.push(")");
    }
    if let Some(t) = &f.tenant {
        q.push(" AND tenant = ").push_bind(t.clone());
    }
    if let Some(owner) = &f.owner {
        q.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(queue) = &f.queue {
        q.push(" AND queue = ").push_bind(queue.clone());
    }
    if let Some(schedule) = &f.schedule {
        q.push(" AND schedule_id = ").push_bind(schedule.clone());
    }
    if let Some(image) = &f.image {
        q.push(" AND json_extract(spec, '$.image') = ").push_bind(image.clone());
    }
    for (key, value) in f.labels.iter().skip(1) {
        q.push(" AND EXISTS (SELECT 1 FROM job_labels m WHERE m.job_id = jobs.id AND m.key = ").push_bind(key.clone());
        if let Some(v) = value {
            q.push(" AND m.value = ").push_bind(v.clone());
        }
        q.push(")");
    }
    if let Some(since) = f.since {
        q.push(format!(" AND {created} >= ")).push_bind(since.0);
    }
    if let Some(c) = &f.before {
        q.push(format!(" AND ({created} < ")).push_bind(c.created_at.0);
        q.push(format!(" OR ({created} = ")).push_bind(c.created_at.0);
        q.push(format!(" AND {id} < ")).push_bind(c.id.as_str().to_string()).push("))");
    }
    q.push(format!(" ORDER BY {created} DESC, {id} DESC LIMIT ")).push_bind(f.limit.map_or(-1, i64::from));
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

/// The claim query for one queue: due, unowned, tags satisfied, and every running limit
/// (tenant, queue, concurrency key) below its maximum, in claim order, at most `$4`, each
/// with whether a limit applies to it. It walks the `jobs_claim` index in that order and
/// stops after `$4` matches. Safe to count because the caller holds SQLite's one write lock.
const CLAIMABLE_IN_QUEUE: &str = "
SELECT j.id, j.priority, j.run_at, j.created_at,
       EXISTS (SELECT 1 FROM tenants t WHERE t.name = j.tenant AND t.max_running IS NOT NULL)
       OR EXISTS (SELECT 1 FROM queue_limits q WHERE q.name = j.queue)
       OR j.concurrency_key IS NOT NULL
FROM jobs j INDEXED BY jobs_claim
WHERE j.status = 'queued' AND j.queue = $2 AND j.owner IS NULL AND j.run_at <= $1
  AND (j.queue_deadline IS NULL OR j.queue_deadline > $1)
  AND NOT EXISTS (SELECT 1 FROM json_each(j.requires) r
                  WHERE r.value IS NOT (SELECT w.value FROM json_each($3) w WHERE w.key = r.key))
  AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.name = j.tenant AND t.max_running IS NOT NULL
                  AND t.max_running <= (SELECT COUNT(*) FROM jobs r
                                        WHERE r.tenant = j.tenant AND r.status IN ('starting', 'running')))
  AND NOT EXISTS (SELECT 1 FROM queue_limits q WHERE q.name = j.queue
                  AND q.max_running <= (SELECT COUNT(*) FROM jobs r
                                        WHERE r.queue = j.queue AND r.status IN ('starting', 'running')))
  AND (j.concurrency_key IS NULL
       OR j.concurrency_limit > (SELECT COUNT(*) FROM jobs r WHERE r.tenant = j.tenant
                                 AND r.concurrency_key = j.concurrency_key AND r.status IN ('starting', 'running')))
ORDER BY j.priority DESC, j.run_at, j.created_at, j.id LIMIT $4";

/// A claimable job: id, priority, run_at, created_at, and whether a running limit applies.
type Claimable = (String, i64, i64, i64, bool);

/// Up to `max` claimable jobs across the worker's queues, best first (one indexed walk per
/// queue), each with whether a running limit applies to it.
pub(crate) async fn claimable(tx: &mut WriteTx, req: &ClaimRequest, max: usize) -> StoreResult<Vec<(String, bool)>> {
    let tags = crate::rows::to_json(&req.tags)?;
    let mut found: Vec<Claimable> = Vec::new();
    for queue in &req.queues {
        let more: Vec<Claimable> = sqlx::query_as(CLAIMABLE_IN_QUEUE)
            .bind(req.at.0)
            .bind(queue)
            .bind(&tags)
            .bind(max as i64)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
        found.extend(more);
    }
    found.sort_by(|a, b| claim_order(a).cmp(&claim_order(b)));
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found.into_iter().take(max).map(|(id, .., limited)| (id, limited)).collect())
}

/// Highest priority first, then earliest due, then oldest.
fn claim_order((id, priority, run_at, created_at, _): &Claimable) -> (i64, i64, i64, &str) {
    (-priority, *run_at, *created_at, id)
}

pub(crate) async fn overdue_queued(pool: &SqlitePool, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' AND queue_deadline IS NOT NULL
           AND queue_deadline <= $1 ORDER BY queue_deadline LIMIT $2"
    );
    let found =
        sqlx::query(AssertSqlSafe(sql)).bind(now.0).bind(i64::from(limit)).fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

pub(crate) async fn expired_leases(pool: &SqlitePool, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE lease_expires_at + stop_grace_ms < $1 AND status IN ('starting', 'running')
         ORDER BY lease_expires_at + stop_grace_ms LIMIT $2"
    );
    let found =
        sqlx::query(AssertSqlSafe(sql)).bind(now.0).bind(i64::from(limit)).fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

/// Only the unfinished: a range of the status index, the same cost at a million jobs.
const UNFINISHED_COUNTS: &str = "SELECT queue, status, COUNT(*) FROM jobs
    WHERE status IN ('queued', 'starting', 'running') GROUP BY queue, status ORDER BY queue, status";

pub(crate) async fn count_jobs(pool: &SqlitePool) -> StoreResult<Vec<JobCount>> {
    let found: Vec<(String, String, i64)> = sqlx::query_as(UNFINISHED_COUNTS).fetch_all(pool).await.map_err(db_err)?;
    found
        .into_iter()
        .map(|(queue, status, n)| {
            Ok(JobCount { queue, status: status.parse().map_err(StoreError::Corrupt)?, count: n as u64 })
        })
        .collect()
}
