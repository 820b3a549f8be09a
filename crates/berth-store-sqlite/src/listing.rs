//! Job queries with many shapes: the filtered, paged listing, the claim query and the counts
//! behind the metrics. User text only ever reaches SQL as bound parameters.

use berth_core::ids::JobId;
use berth_core::store::{JobCount, JobFilter, JobRecord, StoreError, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::rows::{self, JOB_COLUMNS};
use crate::{WriteTx, db_err};

/// Newest first (`created_at`, then id), as `JobStore::list_jobs` promises.
pub(crate) async fn list_jobs(pool: &SqlitePool, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
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
    if let Some(queue) = &f.queue {
        q.push(" AND queue = ").push_bind(queue.clone());
    }
    if let Some(image) = &f.image {
        q.push(" AND json_extract(spec, '$.image') = ").push_bind(image.clone());
    }
    for (key, value) in &f.labels {
        // json_each avoids building a JSON path out of user text.
        q.push(" AND EXISTS (SELECT 1 FROM json_each(spec, '$.labels') WHERE key = ").push_bind(key.clone());
        if let Some(v) = value {
            q.push(" AND value = ").push_bind(v.clone());
        }
        q.push(")");
    }
    if let Some(since) = f.since {
        q.push(" AND created_at >= ").push_bind(since.0);
    }
    if let Some(c) = &f.before {
        q.push(" AND (created_at < ").push_bind(c.created_at.0);
        q.push(" OR (created_at = ").push_bind(c.created_at.0);
        q.push(" AND id < ").push_bind(c.id.as_str().to_string()).push("))");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(f.limit.map_or(-1, i64::from));
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::job).collect()
}

/// The oldest queued job whose tenant is below its running limit.
pub(crate) async fn next_claimable(tx: &mut WriteTx) -> StoreResult<Option<JobId>> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT j.id FROM jobs j LEFT JOIN tenants t ON t.name = j.tenant
         WHERE j.status = 'queued'
           AND (t.max_running IS NULL OR t.max_running >
                (SELECT COUNT(*) FROM jobs r WHERE r.tenant = j.tenant AND r.status IN ('starting', 'running')))
         ORDER BY j.created_at, j.id LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    id.map(|i| i.parse().map_err(|e: berth_core::ids::BadJobId| StoreError::Corrupt(e.to_string()))).transpose()
}

pub(crate) async fn count_jobs(pool: &SqlitePool) -> StoreResult<Vec<JobCount>> {
    let found: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT queue, status, COUNT(*) FROM jobs GROUP BY queue, status ORDER BY queue, status")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
    found
        .into_iter()
        .map(|(queue, status, n)| {
            Ok(JobCount { queue, status: status.parse().map_err(StoreError::Corrupt)?, count: n as u64 })
        })
        .collect()
}
