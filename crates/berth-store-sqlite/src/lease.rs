//! Claims, leases and status changes on SQLite. Every write here runs inside the one write
//! transaction (`BEGIN IMMEDIATE`), so reading the lease and then writing is atomic: a claim
//! cannot race another claim, and a fenced write sees the lease as it is.

use berth_core::JobStatus;
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::status::Reason;
use berth_core::store::{ClaimRequest, Fence, JobRecord, JobStore, StatusChange, StoreError, StoreResult};

use sqlx::AssertSqlSafe;

use crate::jobs::{current_status, enqueue_deliveries, insert_event};
use crate::rows::to_json;
use crate::{SqliteStore, WriteTx, db_err, listing};

/// Fails with `Fenced` unless the job's lease is still `fence`'s (no fence: no check).
/// Fails with `Fenced` unless the job's lease is still `fence`'s (no fence: no check); the
/// rule is `berth_store_sql::check_fence`, applied to the job as read in this transaction.
pub(crate) async fn check_fence(tx: &mut WriteTx, id: &JobId, fence: Option<&Fence>) -> StoreResult<()> {
    if fence.is_none() {
        return Ok(());
    }
    berth_store_sql::check_fence(&read_job(tx, id).await?, fence)
}

pub(crate) async fn set_status(store: &SqliteStore, id: &JobId, change: StatusChange) -> StoreResult<JobRecord> {
    let mut tx = store.write().await?;
    let job = read_job(&mut tx, id).await?;
    berth_store_sql::check_fence(&job, change.fence.as_ref())?;
    job.status.check_transition(change.to)?;
    let terminal = change.to.is_terminal();
    let reason = change.reason.as_ref().map(to_json).transpose()?;
    let row = sqlx::query(AssertSqlSafe(berth_store_sql::set_status_sql()))
        .bind(id.as_str())
        .bind(change.to.as_str())
        .bind(&reason)
        .bind(change.exit_code)
        .bind(change.at.0)
        .bind(terminal)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let record = crate::rows::job(&row)?;
    insert_event(&mut tx, id, "status", &berth_store_sql::status_event(&change), change.at).await?;
    if terminal {
        enqueue_deliveries(&mut tx, &record, change.at).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(record)
}

/// The job as it is inside the write transaction.
pub(crate) async fn read_job(tx: &mut WriteTx, id: &JobId) -> StoreResult<JobRecord> {
    let sql = format!("SELECT {} FROM jobs WHERE id = $1", crate::rows::JOB_COLUMNS);
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    crate::rows::job(&row)
}

pub(crate) async fn claim(store: &SqliteStore, req: &ClaimRequest) -> StoreResult<Option<JobRecord>> {
    let mut tx = store.write().await?;
    let Some(id) = listing::next_claimable(&mut tx, req).await? else {
        return Ok(None);
    };
    let until = req.at.0 + req.lease.as_millis() as i64;
    let sql = format!(
        "UPDATE jobs SET status = 'starting', owner = $2, lease_token = lease_token + 1, lease_expires_at = $3
         WHERE id = $1 RETURNING {}",
        crate::rows::JOB_COLUMNS
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.as_str())
        .bind(&req.worker)
        .bind(until)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let record = crate::rows::job(&row)?;
    let data = serde_json::json!({"status": "starting", "worker": req.worker});
    insert_event(&mut tx, &id, "status", &data, req.at).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(record))
}

pub(crate) async fn renew(store: &SqliteStore, id: &JobId, fence: &Fence, until: Timestamp) -> StoreResult<()> {
    let _writer = store.writer().await;
    let done = sqlx::query(
        "UPDATE jobs SET lease_expires_at = $4
         WHERE id = $1 AND owner = $2 AND lease_token = $3 AND status IN ('starting', 'running')",
    )
    .bind(id.as_str())
    .bind(&fence.owner)
    .bind(fence.token)
    .bind(until.0)
    .execute(&store.pool)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Fenced(id.to_string()));
    }
    Ok(())
}

pub(crate) async fn take_over(
    store: &SqliteStore,
    id: &JobId,
    fence: &Fence,
    owner: &str,
    until: Timestamp,
) -> StoreResult<JobRecord> {
    let _writer = store.writer().await;
    let row = sqlx::query(AssertSqlSafe(berth_store_sql::take_over_sql()))
        .bind(id.as_str())
        .bind(&fence.owner)
        .bind(fence.token)
        .bind(fence.expired_by.map(|t| t.0))
        .bind(owner)
        .bind(until.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::Fenced(id.to_string()))?;
    crate::rows::job(&row)
}

pub(crate) async fn retry_later(
    store: &SqliteStore,
    id: &JobId,
    fence: &Fence,
    reason: &Reason,
    run_at: Timestamp,
    at: Timestamp,
) -> StoreResult<JobRecord> {
    let mut tx = store.write().await?;
    check_fence(&mut tx, id, Some(fence)).await?;
    current_status(&mut tx, id).await?.check_transition(JobStatus::Queued)?;
    sqlx::query(
        "UPDATE jobs SET status = 'queued', owner = NULL, lease_expires_at = NULL, run_at = $2, started_at = NULL,
             queue_deadline = NULL
         WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(run_at.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let data = serde_json::json!({"status": "queued", "retry_after": reason.to_string(), "run_at": run_at.0});
    insert_event(&mut tx, id, "status", &data, at).await?;
    tx.commit().await.map_err(db_err)?;
    store.work.notify_waiters();
    store.get_job(id).await
}

pub(crate) async fn requeue(store: &SqliteStore, id: &JobId, at: Timestamp) -> StoreResult<JobRecord> {
    let mut tx = store.write().await?;
    let status = current_status(&mut tx, id).await?;
    if !status.can_retry() {
        return Err(StoreError::Conflict(format!(
            "job {id} is {status}: only jobs that ended without success can be retried"
        )));
    }
    sqlx::query(
        "UPDATE jobs SET status = 'queued', reason = NULL, exit_code = NULL, owner = NULL, started_at = NULL,
             finished_at = NULL, result = NULL, lease_expires_at = NULL, run_at = $2, queue_deadline = NULL
         WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(at.0)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let data = serde_json::json!({"status": "queued", "retry_of": status.as_str()});
    insert_event(&mut tx, id, "status", &data, at).await?;
    tx.commit().await.map_err(db_err)?;
    store.work.notify_waiters();
    store.get_job(id).await
}
