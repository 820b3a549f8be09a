//! Writes of many jobs in one transaction, written once for both databases as
//! `impl_batched_writes!`: a batch of status changes (what `set_status` queues through the
//! store's `GroupCommit`) and the claimed jobs of one `claim_batch`. Each is a fixed number
//! of statements whatever the batch size: the rows travel as one parameter (`ids_param`,
//! `rows_param`), unpacked by the dialect's row sources (see the hook table in `jobs.rs`):
//!
//! | hook | SQLite | PostgreSQL |
//! |---|---|---|
//! | `BATCH_IDS` | `json_each($1)` of a JSON array | `unnest($1::text[])` |
//! | `STATUS_ROWS`, `EVENT_ROWS` | `json_each($1)` with `->>` | `unnest($1::jsonb[])` with `->>` |
//!
//! PostgreSQL gets arrays because its planner knows an array's length: it walks `jobs`'
//! primary key for a batch, where from a JSON function (assumed 100 rows) it scanned the table.
//!
//! Every check a single write makes (fence, `only_from`, the lifecycle) is made for each
//! change on the job as read, locked, in the batch's transaction; a change that fails its
//! check fails alone and writes nothing. If the database fails, every change of the batch
//! gets the error, as a single change would (it may or may not have committed).

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::status::JobStatus;
use berth_core::store::{JobRecord, StatusChange, StoreError, StoreResult};

use crate::{JOB_COLUMNS, to_json};

/// A status change as one row of `STATUS_ROWS` (keys named as its columns), with what the
/// job must be for it to be written: the fence's lease, `from`, and the statuses the
/// lifecycle lets become `to` (`v_allowed`, `,a,b,`).
pub fn status_row(id: &JobId, change: &StatusChange) -> StoreResult<serde_json::Value> {
    let allowed: String =
        JobStatus::ALL.iter().filter(|s| s.can_transition_to(change.to)).map(|s| format!("{s},")).collect();
    let fence = change.fence.as_ref();
    Ok(serde_json::json!({
        "v_id": id.as_str(),
        "v_status": change.to.as_str(),
        "v_reason": change.reason.as_ref().map(to_json).transpose()?,
        "v_exit": change.exit_code,
        "v_at": change.at.0,
        "v_terminal": change.to.is_terminal(),
        "v_owner": fence.map(|f| f.owner.as_str()),
        "v_token": fence.map(|f| f.token),
        "v_expired_by": fence.and_then(|f| f.expired_by).map(|t| t.0),
        "v_from": change.from.map(JobStatus::as_str),
        "v_allowed": format!(",{allowed}"),
    }))
}

/// An event as one row of `EVENT_ROWS` (its `data` stored as JSON text).
pub fn event_row(id: &str, kind: &str, data: &serde_json::Value, at: Timestamp) -> serde_json::Value {
    serde_json::json!({"e_id": id, "e_at": at.0, "e_kind": kind, "e_data": data.to_string()})
}

/// The status update of a batch; `$1` holds the rows. It writes what `set_status_sql` writes
/// for a single change, only where the job passes what `check_change` checks (the fence's
/// lease, `from`, the lifecycle) as the update finds it, and returns the records it wrote.
/// (A conditional update, not a locked read then an update: one statement fewer, and no row
/// lock taken before it.)
pub fn batch_status_sql(rows: &str) -> String {
    format!(
        "UPDATE jobs SET status = v_status, reason = COALESCE(v_reason, reason), exit_code = COALESCE(v_exit, exit_code),
             started_at = CASE WHEN v_status = 'running' THEN v_at ELSE started_at END,
             finished_at = CASE WHEN v_terminal THEN v_at ELSE finished_at END,
             lease_expires_at = CASE WHEN v_terminal THEN NULL ELSE lease_expires_at END
         FROM {rows}
         WHERE id = v_id
           AND (v_owner IS NULL OR (owner = v_owner AND lease_token = v_token AND lease_expires_at IS NOT NULL
                                    AND (v_expired_by IS NULL OR lease_expires_at < v_expired_by)))
           AND (v_from IS NULL OR status = v_from)
           AND v_allowed LIKE '%,' || status || ',%'
         RETURNING {JOB_COLUMNS}"
    )
}

/// Appends one event to each job of a batch (each job at most once); `$1` holds the rows.
pub fn batch_events_sql(rows: &str) -> String {
    format!(
        "INSERT INTO events (job_id, seq, at, kind, data)
         SELECT e_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = e_id), e_at, e_kind, e_data
         FROM {rows}"
    )
}

/// The error each change of a failed batch gets (`StoreError` is not `Clone`).
pub fn batch_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The key of a status change in the group commit: its job. Two changes to one job are
/// never written at once; the second is checked against what the first wrote.
pub fn job_key(op: &(JobId, StatusChange)) -> String {
    op.0.to_string()
}

/// The group commit of status changes each store keeps.
pub type StatusQueue = crate::group::GroupCommit<(JobId, StatusChange), JobRecord>;

/// A store's status queue, writing up to `writers` batches at once.
pub fn status_queue(writers: usize) -> StatusQueue {
    crate::group::GroupCommit::new(job_key, writers)
}

/// How many of a claim's candidates (in claim order, each with whether a running limit
/// applies to it) one round may take: every unlimited one up to and including the first
/// limited one. Unlimited jobs count toward no limit, so the first limited candidate was
/// checked against the counts that still hold; after it, counts must be taken again.
pub fn claim_round(limited: &[bool]) -> usize {
    limited.iter().position(|l| *l).map_or(limited.len(), |first| first + 1)
}

#[macro_export]
macro_rules! impl_batched_writes {
    ($store:ty, $conn:ty) => {
        const _: () = {
            use ::berth_core::ids::JobId;
            use ::berth_core::store::{ClaimRequest, JobRecord, StatusChange, StoreError, StoreResult};
            use ::sqlx::AssertSqlSafe;
            use $crate as rows;
            use $crate::{check_fence, db_err};

            impl $store {
                /// `set_status` through the group commit: waits for the batch that took it.
                pub(crate) async fn queue_status(&self, id: &JobId, change: StatusChange) -> StoreResult<JobRecord> {
                    let store = self.clone();
                    let write = move |ops| {
                        let store = store.clone();
                        async move { store.write_statuses(ops).await }
                    };
                    self.statuses.submit((id.clone(), change), write).await
                }

                /// One batch of status changes, in one transaction (a batch of one in the
                /// single-change transaction). When the database fails, every change of the
                /// batch gets that error: it may or may not have committed, as for one.
                async fn write_statuses(&self, ops: Vec<(JobId, StatusChange)>) -> Vec<StoreResult<JobRecord>> {
                    if let [(id, change)] = &ops[..] {
                        return vec![self.set_status_now(id, change.clone()).await];
                    }
                    match self.try_statuses(&ops).await {
                        Ok(done) => done,
                        Err(e) => ops.iter().map(|_| Err(rows::batch_error(&e))).collect(),
                    }
                }

                /// The batch in one transaction; `Err` only when the database failed. One
                /// conditional update writes every change its job allows and returns the
                /// records; then their events and webhooks; a change it refused is read
                /// again to say why.
                async fn try_statuses(
                    &self,
                    ops: &[(JobId, StatusChange)],
                ) -> StoreResult<Vec<StoreResult<JobRecord>>> {
                    let mut tx = self.begin_write().await?;
                    let updates =
                        ops.iter().map(|(id, change)| rows::status_row(id, change)).collect::<StoreResult<_>>()?;
                    let written = sqlx::query(AssertSqlSafe(rows::batch_status_sql(Self::STATUS_ROWS)))
                        .bind(Self::rows_param(updates))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let mut records: std::collections::HashMap<String, JobRecord> = written
                        .iter()
                        .map(|r| rows::job(r).map(|j| (j.id.to_string(), j)))
                        .collect::<StoreResult<_>>()?;
                    let events: Vec<serde_json::Value> = ops
                        .iter()
                        .filter(|(id, _)| records.contains_key(id.as_str()))
                        .map(|(id, c)| rows::event_row(id.as_str(), "status", &rows::status_event(c), c.at))
                        .collect();
                    if !events.is_empty() {
                        sqlx::query(AssertSqlSafe(rows::batch_events_sql(Self::EVENT_ROWS)))
                            .bind(Self::rows_param(events))
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    for (id, change) in ops.iter().filter(|(_, c)| c.to.is_terminal()) {
                        if let Some(job) = records.get(id.as_str()) {
                            Self::enqueue_deliveries(&mut tx, job, change.at).await?;
                        }
                    }
                    let mut outcomes = Vec::with_capacity(ops.len());
                    for (id, change) in ops {
                        outcomes.push(match records.remove(id.as_str()) {
                            Some(job) => Ok(job),
                            None => Err(Self::refusal(&mut tx, id, change).await?),
                        });
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(outcomes)
                }

                /// Why the batch's update left `id` alone: the job, read again, fails
                /// `check_change`; or it changed between the update and this read (another
                /// node's write, PostgreSQL only): a conflict, like a lost race.
                async fn refusal(tx: &mut $conn, id: &JobId, change: &StatusChange) -> StoreResult<StoreError> {
                    let sql = format!("SELECT {} FROM jobs WHERE id = $1", rows::JOB_COLUMNS);
                    let found = sqlx::query(AssertSqlSafe(sql))
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let Some(row) = found else { return Ok(StoreError::NotFound(id.to_string())) };
                    let job = rows::job(&row)?;
                    Ok(match Self::check_change(&job, change) {
                        Err(e) => e,
                        Ok(()) => StoreError::Conflict(format!(
                            "job {id} changed while its status was written; it is now {}",
                            job.status
                        )),
                    })
                }

                /// Whether `change` may be written on `job` as read in the write's transaction.
                pub(crate) fn check_change(job: &JobRecord, change: &StatusChange) -> StoreResult<()> {
                    check_fence(job, change.fence.as_ref())?;
                    if let Some(from) = change.from.filter(|f| *f != job.status) {
                        return Err(StoreError::Conflict(format!(
                            "job {} is {}, no longer {from}",
                            job.id, job.status
                        )));
                    }
                    job.status.check_transition(change.to)?;
                    Ok(())
                }

                /// Makes `ids` (queued, chosen by a claim in this transaction) `starting` under
                /// fresh leases of `req`'s worker, with their `status` events; the records
                /// come back in `ids`' order.
                pub(crate) async fn start_claimed(
                    tx: &mut $conn,
                    ids: &[String],
                    req: &ClaimRequest,
                ) -> StoreResult<Vec<JobRecord>> {
                    let until = req.at.0 + req.lease.as_millis() as i64;
                    let sql = format!(
                        "UPDATE jobs SET status = 'starting', owner = $2, lease_token = lease_token + 1,
                             lease_expires_at = $3
                         WHERE id IN ({}) RETURNING {}",
                        Self::BATCH_IDS,
                        rows::JOB_COLUMNS
                    );
                    let changed = sqlx::query(AssertSqlSafe(sql))
                        .bind(Self::ids_param(ids.to_vec()))
                        .bind(&req.worker)
                        .bind(until)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let mut records: std::collections::HashMap<String, JobRecord> = changed
                        .iter()
                        .map(|r| rows::job(r).map(|j| (j.id.to_string(), j)))
                        .collect::<StoreResult<_>>()?;
                    let data = serde_json::json!({"status": "starting", "worker": req.worker});
                    let events: Vec<serde_json::Value> =
                        ids.iter().map(|id| rows::event_row(id, "status", &data, req.at)).collect();
                    sqlx::query(AssertSqlSafe(rows::batch_events_sql(Self::EVENT_ROWS)))
                        .bind(Self::rows_param(events))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    ids.iter().map(|id| records.remove(id).ok_or_else(|| StoreError::NotFound(id.clone()))).collect()
                }
            }
        };
    };
}
