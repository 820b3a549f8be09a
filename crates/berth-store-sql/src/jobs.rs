//! `JobStore` and `LogStore`, written once for both databases as `impl_job_store!`. What
//! differs is the store's **dialect hook**, a few inherent items each store defines:
//!
//! | hook | SQLite | PostgreSQL |
//! |---|---|---|
//! | `begin_write()` | `BEGIN IMMEDIATE` under the writer lock | `BEGIN` |
//! | `LOCK_ROW` (after a job read in a write) | `` | ` FOR UPDATE` |
//! | `writer()` | the in-process writer lock | nothing |
//! | `lock_idempotency(tx, key)` | nothing (one writer) | a transaction advisory lock |
//! | `wake_in(tx)` / `woke()` | nothing / `Notify` after commit | `pg_notify` in the transaction / nothing |
//! | a module (`queries`) with `claim`, `list_jobs`, `overdue_queued`, `expired_leases`, `count_jobs` | its own SQL | its own SQL |
//! | `JSON_PARAM`, `SKIP_LOCKED` | `$n` / `` | `$n::jsonb` / `FOR UPDATE SKIP LOCKED` |
//!
//! Written once here too: `write_job` (a write with the job read, locked per `LOCK_ROW`) and
//! `write_held`. Every fenced write reads the job inside its transaction: status, result and
//! retry writes check the live lease (`check_fence`); an attempt's own records (its row,
//! output, events) check owner and token (`write_held`); lease renewals and take-overs are
//! themselves the conditional update.

#[macro_export]
macro_rules! impl_job_store {
    ($store:ty, $conn:ty, $tx:ty, $queries:ident) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::ids::{JobId, check_prefix};
            use ::berth_core::status::{JobStatus, Reason};
            use ::berth_core::store::{
                AttemptRecord, AttemptUpdate, ClaimRequest, EventRecord, Fence, JobCount, JobFilter, JobRecord,
                JobStats, JobStore, LogChunk, OutputBatch, LogStore, NewJob, StatusChange, StoreError, StoreResult,
            };
            use ::sqlx::AssertSqlSafe;
            use $crate as rows;
            use $crate::{JOB_COLUMNS, check_fence, db_err, to_json};

            /// Appends an event; the caller holds the job (SQLite's writer lock, PostgreSQL's
            /// row lock) or just inserted it, so sequence numbers cannot collide.
            async fn insert_event(
                tx: &mut $conn,
                id: &JobId,
                kind: &str,
                data: &serde_json::Value,
                at: Timestamp,
            ) -> StoreResult<i64> {
                sqlx::query_scalar($crate::INSERT_EVENT)
                .bind(id.as_str())
                .bind(at.0)
                .bind(kind)
                .bind(to_json(data)?)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)
            }

            impl $store {
                /// The webhook outbox rows of a job that just ended (same transaction as the status).
                pub(crate) async fn enqueue_deliveries(tx: &mut $conn, job: &JobRecord, at: Timestamp) -> StoreResult<()> {
                    for notify in job.spec.notify.iter().filter(|n| n.wants(job.status)) {
                        sqlx::query($crate::INSERT_DELIVERY)
                            .bind(job.id.as_str())
                            .bind(&job.tenant)
                            .bind(&notify.url)
                            .bind(to_json(&$crate::delivery_body(job))?)
                            .bind(at.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    Ok(())
                }

                /// One status change in a transaction of its own (a batch of one).
                pub(crate) async fn set_status_now(&self, id: &JobId, change: StatusChange) -> StoreResult<JobRecord> {
                    let (mut tx, job) = self.write_job(id).await?;
                    Self::check_change(&job, &change)?;
                    let terminal = change.to.is_terminal();
                    let reason = change.reason.as_ref().map(to_json).transpose()?;
                    let row = sqlx::query(AssertSqlSafe($crate::set_status_sql()))
                        .bind(id.as_str())
                        .bind(change.to.as_str())
                        .bind(&reason)
                        .bind(change.exit_code)
                        .bind(change.at.0)
                        .bind(terminal)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let record = rows::job(&row)?;
                    insert_event(&mut tx, id, "status", &$crate::status_event(&change), change.at).await?;
                    if terminal {
                        Self::enqueue_deliveries(&mut tx, &record, change.at).await?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(record)
                }

                /// A write transaction with the job as read in it (row-locked on databases
                /// that lock rows: `LOCK_ROW`).
                pub(crate) async fn write_job(&self, id: &JobId) -> StoreResult<($tx, JobRecord)> {
                    let mut tx = self.begin_write().await?;
                    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{}", Self::LOCK_ROW);
                    let row = sqlx::query(AssertSqlSafe(sql))
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                    Ok((tx, rows::job(&row)?))
                }

                /// A write transaction for an attempt's own records (its row, output, events),
                /// if `fence`'s worker still holds the job by owner and token. A cancel from
                /// another node ends the job but keeps owner and token, so the attempt still
                /// records its true end and last output; a take-over changes the token, and
                /// the old holder records nothing more. (Status and result writes need the
                /// live lease: `check_fence`.)
                async fn write_held(&self, id: &JobId, fence: Option<&Fence>) -> StoreResult<$tx> {
                    let mut tx = self.begin_write().await?;
                    let sql = format!("SELECT owner, lease_token FROM jobs WHERE id = $1{}", Self::LOCK_ROW);
                    let found: Option<(Option<String>, i64)> = sqlx::query_as(AssertSqlSafe(sql))
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let (owner, token) = found.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                    match fence {
                        Some(f) if owner.as_deref() != Some(f.owner.as_str()) || token != f.token => {
                            Err(StoreError::Fenced(id.to_string()))
                        }
                        _ => Ok(tx),
                    }
                }
            }

            /// The job an earlier request with the same idempotency key made, if the requests match.
            async fn idempotent_match(tx: &mut $conn, job: &NewJob) -> StoreResult<Option<JobId>> {
                let Some(idem) = &job.idempotency else { return Ok(None) };
                let found: Option<(String, Option<String>)> =
                    sqlx::query_as("SELECT id, idempotency_fp FROM jobs WHERE tenant = $1 AND idempotency_key = $2")
                        .bind(&job.tenant)
                        .bind(&idem.key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                match found {
                    None => Ok(None),
                    Some((id, fp)) if fp.as_deref() == Some(idem.fingerprint.as_str()) => rows::job_id(&id).map(Some),
                    Some(_) => Err(StoreError::Conflict(format!(
                        "the Idempotency-Key `{}` was already used with a different request body",
                        idem.key
                    ))),
                }
            }

            /// The job a scheduler on any node already made for this schedule's due time.
            async fn scheduled_match(tx: &mut $conn, job: &NewJob) -> StoreResult<Option<JobId>> {
                let Some(due) = job.schedule.as_ref().filter(|d| !d.manual) else { return Ok(None) };
                let found: Option<String> =
                    sqlx::query_scalar("SELECT id FROM jobs WHERE schedule_id = $1 AND scheduled_at = $2")
                        .bind(&due.id)
                        .bind(due.due_at.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?;
                found.map(|id| rows::job_id(&id)).transpose()
            }

            #[async_trait]
            impl JobStore for $store {
                async fn install_id(&self) -> StoreResult<String> {
                    Ok(self.install_id.clone())
                }

                async fn create_job(&self, job: NewJob) -> StoreResult<JobRecord> {
                    let mut tx = self.begin_write().await?;
                    if let Some(idem) = &job.idempotency {
                        // Two submissions with one key at once: the second waits for the first.
                        Self::lock_idempotency(&mut tx, &format!("idem:{}:{}", job.tenant, idem.key)).await?;
                    }
                    if let Some(due) = job.schedule.as_ref().filter(|d| !d.manual) {
                        // Schedulers on two nodes firing one due time: the second waits, then finds it.
                        Self::lock_idempotency(&mut tx, &format!("sched:{}:{}", due.id, due.due_at.0)).await?;
                    }
                    let existing = match idempotent_match(&mut tx, &job).await? {
                        Some(id) => Some(id),
                        None => scheduled_match(&mut tx, &job).await?,
                    };
                    if let Some(existing) = existing {
                        drop(tx);
                        return self.get_job(&existing).await;
                    }
                    let (key, fp) = job.idempotency.as_ref().map(|i| (&i.key, &i.fingerprint)).unzip();
                    let spec = &job.spec;
                    let run_at = spec.run_at_time().unwrap_or(job.created_at).max(job.created_at);
                    let sql = format!(
                        "INSERT INTO jobs (id, spec, status, owner, created_at, tenant, queue, idempotency_key,
                             idempotency_fp, run_at, priority, concurrency_key, concurrency_limit, requires, queue_deadline,
                             stop_grace_ms, schedule_id, scheduled_at)
                         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13{}, $14, $15, $16, $17)",
                        Self::JSON_PARAM
                    );
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(job.id.as_str())
                        .bind(to_json(spec)?)
                        .bind(&job.owner)
                        .bind(job.created_at.0)
                        .bind(&job.tenant)
                        .bind(spec.queue_name())
                        .bind(key)
                        .bind(fp)
                        .bind(run_at.0)
                        .bind(i64::from(spec.priority))
                        .bind(spec.concurrency.as_ref().map(|c| c.key.clone()))
                        .bind(spec.concurrency.as_ref().map(|c| i64::from(c.limit)))
                        .bind(to_json(&spec.requires)?)
                        .bind(spec.queue_deadline(job.created_at, true).map(|t| t.0))
                        .bind(spec.timeouts.stop_grace.0.as_millis() as i64)
                        .bind(job.schedule.as_ref().map(|d| d.id.clone()))
                        .bind(job.schedule.as_ref().filter(|d| !d.manual).map(|d| d.due_at.0))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    for (key, value) in &spec.labels {
                        sqlx::query("INSERT INTO job_labels (job_id, key, value, job_created_at) VALUES ($1, $2, $3, $4)")
                            .bind(job.id.as_str())
                            .bind(key)
                            .bind(value)
                            .bind(job.created_at.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    let queued = serde_json::json!({"status": "queued"});
                    insert_event(&mut tx, &job.id, "status", &queued, job.created_at).await?;
                    let claimable = job.owner.is_none();
                    if claimable {
                        Self::wake_in(&mut tx).await?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    if claimable {
                        self.woke();
                    }
                    self.get_job(&job.id).await
                }

                async fn get_job(&self, id: &JobId) -> StoreResult<JobRecord> {
                    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                    let row = sqlx::query(AssertSqlSafe(sql))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                    rows::job(&row)
                }

                async fn find_job_of(&self, prefix: &str, tenant: Option<&str>) -> StoreResult<JobRecord> {
                    check_prefix(prefix).map_err(StoreError::Conflict)?;
                    // Ids are lowercase hex, so every id starting with `lower` sorts below `lower + "g"`.
                    let lower = prefix.to_ascii_lowercase();
                    let only = if tenant.is_some() { " AND tenant = $3" } else { "" };
                    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id >= $1 AND id < $2{only} LIMIT 2");
                    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(lower.clone()).bind(format!("{lower}g"));
                    if let Some(t) = tenant {
                        query = query.bind(t.to_string());
                    }
                    let found = query.fetch_all(&self.pool).await.map_err(db_err)?;
                    match found.as_slice() {
                        [one] => rows::job(one),
                        [] => Err(StoreError::NotFound(prefix.to_string())),
                        many => Err(StoreError::Ambiguous { prefix: prefix.to_string(), count: many.len() }),
                    }
                }

                async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
                    $queries::list_jobs(&self.pool, filter).await
                }

                async fn set_status(&self, id: &JobId, change: StatusChange) -> StoreResult<JobRecord> {
                    self.queue_status(id, change).await
                }

                async fn start_attempt(
                    &self,
                    id: &JobId,
                    owner: &str,
                    fence: Option<&Fence>,
                    at: Timestamp,
                ) -> StoreResult<AttemptRecord> {
                    let (mut tx, job) = self.write_job(id).await?;
                    check_fence(&job, fence)?;
                    let number: i64 = sqlx::query_scalar(
                        "UPDATE jobs SET attempts = attempts + 1, owner = $2 WHERE id = $1 RETURNING attempts",
                    )
                    .bind(id.as_str())
                    .bind(owner)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    sqlx::query(
                        "INSERT INTO attempts (job_id, number, owner, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id.as_str())
                    .bind(number)
                    .bind(owner)
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    tx.commit().await.map_err(db_err)?;
                    Ok(AttemptRecord {
                        job_id: Some(id.clone()),
                        number: number as u32,
                        owner: Some(owner.to_string()),
                        created_at: Some(at),
                        ..AttemptRecord::default()
                    })
                }

                async fn update_attempt(&self, id: &JobId, number: u32, u: AttemptUpdate) -> StoreResult<()> {
                    let mut tx = self.write_held(id, u.fence.as_ref()).await?;
                    let reason = u.reason.as_ref().map(to_json).transpose()?;
                    let done = sqlx::query(
                        "UPDATE attempts SET container_id = COALESCE($3, container_id),
                             image_digest = COALESCE($4, image_digest), started_at = COALESCE($5, started_at),
                             finished_at = COALESCE($6, finished_at), exit_code = COALESCE($7, exit_code),
                             reason = COALESCE($8, reason), peak_memory = COALESCE($9, peak_memory),
                             cpu_seconds = COALESCE($10, cpu_seconds)
                         WHERE job_id = $1 AND number = $2",
                    )
                    .bind(id.as_str())
                    .bind(i64::from(number))
                    .bind(&u.container_id)
                    .bind(&u.image_digest)
                    .bind(u.started_at.map(|t| t.0))
                    .bind(u.finished_at.map(|t| t.0))
                    .bind(u.exit_code)
                    .bind(&reason)
                    .bind(u.peak_memory.map(|v| v as i64))
                    .bind(u.cpu_seconds)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("{id} attempt {number}")));
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn list_attempts(&self, id: &JobId) -> StoreResult<Vec<AttemptRecord>> {
                    let found = sqlx::query("SELECT * FROM attempts WHERE job_id = $1 ORDER BY number")
                        .bind(id.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    found.iter().map(rows::attempt).collect()
                }

                async fn delete_job(&self, id: &JobId) -> StoreResult<()> {
                    let (mut tx, job) = self.write_job(id).await?;
                    if !job.status.can_remove() {
                        let status = job.status;
                        return Err(StoreError::Conflict(format!(
                            "job {id} is {status}: only finished jobs can be removed"
                        )));
                    }
                    for sql in ["DELETE FROM jobs WHERE id = $1", $crate::DELETE_EVENTS_OF_JOB] {
                        sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await.map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn claim_batch(&self, req: &ClaimRequest, max: u32) -> StoreResult<Vec<JobRecord>> {
                    $queries::claim_batch(self, req, max).await
                }

                async fn renew_lease(&self, id: &JobId, fence: &Fence, until: Timestamp) -> StoreResult<Option<String>> {
                    let _writer = self.writer().await;
                    let renewed: Option<Option<String>> = sqlx::query_scalar(
                        "UPDATE jobs SET lease_expires_at = $4
                         WHERE id = $1 AND owner = $2 AND lease_token = $3 AND status IN ('starting', 'running')
                         RETURNING cancel_by",
                    )
                    .bind(id.as_str())
                    .bind(&fence.owner)
                    .bind(fence.token)
                    .bind(until.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    renewed.ok_or_else(|| StoreError::Fenced(id.to_string()))
                }

                async fn request_cancel(&self, id: &JobId, by: &str, at: Timestamp) -> StoreResult<JobRecord> {
                    let (mut tx, job) = self.write_job(id).await?;
                    if !matches!(job.status, JobStatus::Starting | JobStatus::Running) || job.lease.is_none() {
                        // Rolled back now: a dropped transaction keeps its row lock until its
                        // pooled connection is used again, and claims skip locked rows.
                        tx.rollback().await.map_err(db_err)?;
                        return Err(StoreError::Transition(berth_core::status::TransitionError {
                            from: job.status,
                            to: JobStatus::Cancelled,
                        }));
                    }
                    sqlx::query("UPDATE jobs SET cancel_by = COALESCE(cancel_by, $2) WHERE id = $1")
                        .bind(id.as_str())
                        .bind(by)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    insert_event(&mut tx, id, "cancel_requested", &serde_json::json!({"by": by}), at).await?;
                    tx.commit().await.map_err(db_err)?;
                    self.get_job(id).await
                }

                async fn take_over(
                    &self,
                    id: &JobId,
                    fence: &Fence,
                    owner: &str,
                    until: Timestamp,
                ) -> StoreResult<JobRecord> {
                    let _writer = self.writer().await;
                    let row = sqlx::query(AssertSqlSafe($crate::take_over_sql()))
                        .bind(id.as_str())
                        .bind(&fence.owner)
                        .bind(fence.token)
                        .bind(fence.expired_by.map(|t| t.0))
                        .bind(owner)
                        .bind(until.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::Fenced(id.to_string()))?;
                    rows::job(&row)
                }

                async fn retry_later(
                    &self,
                    id: &JobId,
                    fence: &Fence,
                    reason: &Reason,
                    run_at: Timestamp,
                    at: Timestamp,
                ) -> StoreResult<JobRecord> {
                    let (mut tx, job) = self.write_job(id).await?;
                    check_fence(&job, Some(fence))?;
                    job.status.check_transition(JobStatus::Queued)?;
                    // A cancel asked for since the caller decided wins over the retry.
                    if let Some(by) = &job.cancel_requested {
                        // Rolled back now: a dropped transaction keeps the row locked until its
                        // connection is reused, and the caller's next write is on this row.
                        tx.rollback().await.map_err(db_err)?;
                        return Err(StoreError::Conflict(format!("job {id}: a cancel by {by} is pending; it is not retried")));
                    }
                    sqlx::query(
                        "UPDATE jobs SET status = 'queued', owner = NULL, lease_expires_at = NULL, run_at = $2,
                             started_at = NULL, queue_deadline = $3
                         WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(run_at.0)
                    // The total timeout still runs while the retry waits.
                    .bind(job.spec.queue_deadline(job.created_at, false).map(|t| t.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let data =
                        serde_json::json!({"status": "queued", "retry_after": reason.to_string(), "run_at": run_at.0});
                    insert_event(&mut tx, id, "status", &data, at).await?;
                    Self::wake_in(&mut tx).await?;
                    tx.commit().await.map_err(db_err)?;
                    self.woke();
                    self.get_job(id).await
                }

                async fn overdue_queued(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
                    $queries::overdue_queued(&self.pool, now, limit).await
                }

                async fn expired_leases(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
                    $queries::expired_leases(&self.pool, now, limit).await
                }

                async fn requeue(&self, id: &JobId, at: Timestamp) -> StoreResult<JobRecord> {
                    let (mut tx, job) = self.write_job(id).await?;
                    let status = job.status;
                    if !status.can_retry() {
                        return Err(StoreError::Conflict(format!(
                            "job {id} is {status}: only jobs that ended without success can be retried"
                        )));
                    }
                    sqlx::query(
                        "UPDATE jobs SET status = 'queued', reason = NULL, exit_code = NULL, owner = NULL,
                             started_at = NULL, finished_at = NULL, result = NULL, lease_expires_at = NULL,
                             run_at = $2, queue_deadline = $3, cancel_by = NULL
                         WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(at.0)
                    .bind(job.spec.queue_deadline(job.created_at, false).map(|t| t.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let data = serde_json::json!({"status": "queued", "retry_of": status.as_str()});
                    insert_event(&mut tx, id, "status", &data, at).await?;
                    Self::wake_in(&mut tx).await?;
                    tx.commit().await.map_err(db_err)?;
                    self.woke();
                    self.get_job(id).await
                }

                async fn count_jobs(&self) -> StoreResult<Vec<JobCount>> {
                    $queries::count_jobs(&self.pool).await
                }

                async fn job_stats(&self, tenant: Option<&str>, since: Timestamp) -> StoreResult<JobStats> {
                    let unfinished: Vec<(String, i64)> = sqlx::query_as($crate::stats::UNFINISHED)
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let finished: Vec<(String, i64, i64)> = sqlx::query_as($crate::stats::FINISHED)
                        .bind(since.0)
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    $crate::stats::collect(unfinished, finished)
                }

                async fn prune_finished(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<JobId>> {
                    let mut tx = self.begin_write().await?;
                    let sql = format!(
                        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_at < $1
                                                       ORDER BY finished_at LIMIT $2{})
                         RETURNING id",
                        Self::SKIP_LOCKED
                    );
                    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                        .bind(before.0)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let pruned = ids.iter().map(|i| rows::job_id(i)).collect::<StoreResult<Vec<_>>>()?;
                    if !ids.is_empty() {
                        let sql = format!("DELETE FROM events WHERE job_id IN ({})", Self::BATCH_IDS);
                        sqlx::query(AssertSqlSafe(sql))
                            .bind(Self::ids_param(ids))
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(pruned)
                }

                async fn wait_for_work(&self, max: std::time::Duration) {
                    let _ = tokio::time::timeout(max, self.work.notified()).await;
                }
            }

            #[async_trait]
            impl LogStore for $store {
                async fn write_output(&self, id: &JobId, fence: Option<&Fence>, batch: &OutputBatch) -> StoreResult<()> {
                    let mut tx = self.write_held(id, fence).await?;
                    for seq in &batch.deleted {
                        sqlx::query("DELETE FROM log_chunks WHERE job_id = $1 AND seq = $2")
                            .bind(id.as_str())
                            .bind(seq)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    for c in &batch.chunks {
                        sqlx::query(
                            "INSERT INTO log_chunks (job_id, seq, attempt, stream, at, data)
                             VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (job_id, seq) DO UPDATE SET data = excluded.data, at = excluded.at",
                        )
                        .bind(id.as_str())
                        .bind(c.seq)
                        .bind(i64::from(c.attempt))
                        .bind(c.stream.as_i64())
                        .bind(c.at.0)
                        .bind(&c.data)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    }
                    for (kind, data, at) in &batch.events {
                        insert_event(&mut tx, id, kind, data, *at).await?;
                    }
                    if let Some((attempt, cursor)) = &batch.cursor {
                        sqlx::query("UPDATE attempts SET output_cursor = $1 WHERE job_id = $2 AND number = $3")
                            .bind(to_json(cursor)?)
                            .bind(id.as_str())
                            .bind(i64::from(*attempt))
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    tx.commit().await.map_err(db_err)
                }

                async fn output_cursor(&self, id: &JobId, attempt: u32) -> StoreResult<Option<serde_json::Value>> {
                    let found: Option<Option<String>> =
                        sqlx::query_scalar("SELECT output_cursor FROM attempts WHERE job_id = $1 AND number = $2")
                            .bind(id.as_str())
                            .bind(i64::from(attempt))
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_err)?;
                    found.flatten().map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
                }

                async fn read_logs(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<LogChunk>> {
                    let found = sqlx::query(
                        "SELECT seq, attempt, stream, at, data FROM log_chunks
                         WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(id.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    found.iter().map(rows::log_chunk).collect()
                }

                async fn next_log_seq(&self, id: &JobId) -> StoreResult<i64> {
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), -1) + 1 FROM log_chunks WHERE job_id = $1")
                        .bind(id.as_str())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)
                }

                async fn append_event(
                    &self,
                    id: &JobId,
                    fence: Option<&Fence>,
                    kind: &str,
                    data: serde_json::Value,
                    at: Timestamp,
                ) -> StoreResult<i64> {
                    // Under the job (SQLite's writer lock, PostgreSQL's row lock): seqs never collide.
                    let mut tx = self.write_held(id, fence).await?;
                    let seq = insert_event(&mut tx, id, kind, &data, at).await?;
                    tx.commit().await.map_err(db_err)?;
                    Ok(seq)
                }

                async fn read_events(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<EventRecord>> {
                    let found = sqlx::query(
                        "SELECT seq, at, kind, data FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(id.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    found.iter().map(rows::event).collect()
                }
            }
        };
    };
}
