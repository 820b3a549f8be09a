//! Writes of many jobs in one transaction, written once for both databases as
//! `impl_batched_writes!`: a batch of status changes (what `set_status` queues through the
//! store's `GroupCommit`) and the claimed jobs of one `claim_batch`. Each is a fixed number
//! of statements whatever the batch size: the rows travel as one JSON parameter, unpacked by
//! the dialect's row sources (see the hook table in `jobs.rs`):
//!
//! | hook | SQLite | PostgreSQL |
//! |---|---|---|
//! | `JSON_IDS` | `json_each($1)` values | `jsonb_array_elements_text($1)` |
//! | `STATUS_ROWS`, `EVENT_ROWS` | `json_each($1)` with `->>` | `jsonb_to_recordset($1)` |
//!
//! Every check a single write makes (fence, `only_from`, the lifecycle) is made for each
//! change on the job as read, locked, in the batch's transaction; a change that fails its
//! check fails alone and writes nothing. If the database fails, every change of the batch
//! gets the error, as a single change would (it may or may not have committed).

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::store::{JobRecord, StatusChange, StoreError, StoreResult};

use crate::to_json;

/// A status change as one row of `STATUS_ROWS` (keys named as its columns:
/// `jsonb_to_recordset` matches them by name).
pub fn status_row(job: &JobRecord, change: &StatusChange) -> StoreResult<serde_json::Value> {
    Ok(serde_json::json!({
        "v_id": job.id.as_str(),
        "v_status": change.to.as_str(),
        "v_reason": change.reason.as_ref().map(to_json).transpose()?,
        "v_exit": change.exit_code,
        "v_at": change.at.0,
        "v_terminal": change.to.is_terminal(),
    }))
}

/// An event as one row of `EVENT_ROWS` (its `data` stored as JSON text).
pub fn event_row(id: &str, kind: &str, data: &serde_json::Value, at: Timestamp) -> serde_json::Value {
    serde_json::json!({"e_id": id, "e_at": at.0, "e_kind": kind, "e_data": data.to_string()})
}

/// The status update of a batch; `$1` holds the rows. What it writes is what
/// `apply_status` computes (and `set_status_sql` writes for a single change).
pub fn batch_status_sql(rows: &str) -> String {
    format!(
        "UPDATE jobs SET status = v_status, reason = COALESCE(v_reason, reason), exit_code = COALESCE(v_exit, exit_code),
             started_at = CASE WHEN v_status = 'running' THEN v_at ELSE started_at END,
             finished_at = CASE WHEN v_terminal THEN v_at ELSE finished_at END,
             lease_expires_at = CASE WHEN v_terminal THEN NULL ELSE lease_expires_at END
         FROM {rows} WHERE id = v_id"
    )
}

/// `job` (as read, locked, in the write's transaction) after `change`: the record the
/// status update leaves, without reading it back.
pub fn apply_status(job: &JobRecord, change: &StatusChange) -> JobRecord {
    let mut after = job.clone();
    let terminal = change.to.is_terminal();
    after.status = change.to;
    after.reason = change.reason.clone().or(after.reason);
    after.exit_code = change.exit_code.or(after.exit_code);
    if change.to == berth_core::status::JobStatus::Running {
        after.started_at = Some(change.at);
    }
    if terminal {
        after.finished_at = Some(change.at);
        after.lease = None;
    }
    after
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

                /// The batch in one transaction; `Err` only when the database failed.
                async fn try_statuses(
                    &self,
                    ops: &[(JobId, StatusChange)],
                ) -> StoreResult<Vec<StoreResult<JobRecord>>> {
                    let mut tx = self.begin_write().await?;
                    let ids = serde_json::json!(ops.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>());
                    let sql = format!(
                        "SELECT {} FROM jobs WHERE id IN ({}) ORDER BY id{}",
                        rows::JOB_COLUMNS,
                        Self::JSON_IDS,
                        Self::LOCK_ROW
                    );
                    let found = sqlx::query(AssertSqlSafe(sql))
                        .bind(ids.to_string())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let jobs: std::collections::HashMap<String, JobRecord> = found
                        .iter()
                        .map(|r| rows::job(r).map(|j| (j.id.to_string(), j)))
                        .collect::<StoreResult<_>>()?;
                    let mut outcomes: Vec<StoreResult<()>> = Vec::with_capacity(ops.len());
                    let (mut updates, mut events) = (Vec::new(), Vec::new());
                    let mut records = std::collections::HashMap::new();
                    for (id, change) in ops {
                        let checked = jobs
                            .get(id.as_str())
                            .ok_or_else(|| StoreError::NotFound(id.to_string()))
                            .and_then(|job| Self::check_change(job, change).map(|()| job));
                        if let Ok(job) = &checked {
                            updates.push(rows::status_row(job, change)?);
                            events.push(rows::event_row(id.as_str(), "status", &rows::status_event(change), change.at));
                            records.insert(id.to_string(), rows::apply_status(job, change));
                        }
                        outcomes.push(checked.map(|_| ()));
                    }
                    if !updates.is_empty() {
                        sqlx::query(AssertSqlSafe(rows::batch_status_sql(Self::STATUS_ROWS)))
                            .bind(serde_json::Value::Array(updates).to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        sqlx::query(AssertSqlSafe(rows::batch_events_sql(Self::EVENT_ROWS)))
                            .bind(serde_json::Value::Array(events).to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        for (id, change) in ops.iter().filter(|(_, c)| c.to.is_terminal()) {
                            if let Some(job) = records.get(id.as_str()) {
                                Self::enqueue_deliveries(&mut tx, job, change.at).await?;
                            }
                        }
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(ops
                        .iter()
                        .zip(outcomes)
                        .map(|((id, _), outcome)| {
                            outcome?;
                            records.remove(id.as_str()).ok_or_else(|| StoreError::NotFound(id.to_string()))
                        })
                        .collect())
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
                        Self::JSON_IDS,
                        rows::JOB_COLUMNS
                    );
                    let changed = sqlx::query(AssertSqlSafe(sql))
                        .bind(serde_json::json!(ids).to_string())
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
                        .bind(serde_json::Value::Array(events).to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    ids.iter().map(|id| records.remove(id).ok_or_else(|| StoreError::NotFound(id.clone()))).collect()
                }
            }
        };
    };
}
