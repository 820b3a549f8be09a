//! Job queries with many shapes on PostgreSQL: the filtered, paged listing, expired leases
//! and the counts behind the metrics. User text only ever reaches SQL as bound parameters.

use berth_core::clock::Timestamp;
use berth_core::store::{JobCount, JobFilter, JobRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, PgPool, Postgres, QueryBuilder};

use crate::db_err;
use crate::rows::{self, JOB_COLUMNS};

/// The claim is a query with many shapes too; it lives with the lease code.
pub(crate) use crate::lease::claim_batch;

/// Newest first (`created_at`, then id), as `JobStore::list_jobs` promises.
pub(crate) async fn list_jobs(pool: &PgPool, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    // A label filter drives the query from its index, newest first: flat however many
    // jobs the store holds, and however few have the label.
    let (from, created, id) = match f.labels.first() {
        Some(_) => ("job_labels l JOIN jobs ON jobs.id = l.job_id", "l.job_created_at", "l.job_id"),
        None => ("jobs", "created_at", "id"),
    };
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {JOB_COLUMNS} FROM {from} WHERE 1 = 1"));
    if let Some((key, value)) = f.labels.first() {
        q.push(" AND l.key = ").push_bind(key.clone());
        if let Some(v) = value {
            q.push(" AND l.value = ").push_bind(v.clone());
        }
    }
    if !f.statuses.is_empty() {
        let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
        q.push(" AND status = ANY(").push_bind(statuses).push(")");
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
        q.push(" AND spec::jsonb ->> 'image' = ").push_bind(image.clone());
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
        q.push(format!(" AND ({created}, {id}) < (")).push_bind(c.created_at.0);
        q.push(", ").push_bind(c.id.as_str().to_string()).push(")");
    }
    q.push(format!(" ORDER BY {created} DESC, {id} DESC LIMIT ")).push_bind(f.limit.map(i64::from));
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

pub(crate) async fn overdue_queued(pool: &PgPool, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' AND queue_deadline IS NOT NULL
           AND queue_deadline <= $1 ORDER BY queue_deadline LIMIT $2"
    );
    let found =
        sqlx::query(AssertSqlSafe(sql)).bind(now.0).bind(i64::from(limit)).fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

pub(crate) async fn expired_leases(pool: &PgPool, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
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

pub(crate) async fn count_jobs(pool: &PgPool) -> StoreResult<Vec<JobCount>> {
    let found: Vec<(String, String, i64)> = sqlx::query_as(UNFINISHED_COUNTS).fetch_all(pool).await.map_err(db_err)?;
    found
        .into_iter()
        .map(|(queue, status, n)| {
            Ok(JobCount { queue, status: status.parse().map_err(StoreError::Corrupt)?, count: n as u64 })
        })
        .collect()
}
