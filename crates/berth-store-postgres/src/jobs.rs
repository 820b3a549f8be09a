//! `JobStore` on PostgreSQL: jobs and their attempts. Writes that read first lock the job's
//! row (`FOR UPDATE`), so a status check and the write after it cannot interleave with
//! another node's write to the same job.

use async_trait::async_trait;
use berth_core::JobStatus;
use berth_core::clock::Timestamp;
use berth_core::ids::{JobId, check_prefix};
use berth_core::status::Reason;
use berth_core::store::{
    AttemptRecord, AttemptUpdate, ClaimRequest, Fence, JobCount, JobFilter, JobRecord, JobStore, NewJob, StatusChange,
    StoreError, StoreResult,
};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::lease::{check_fence, wake};
use crate::rows::{self, JOB_COLUMNS, to_json};
use crate::{PgStore, db_err, lease, listing};

#[async_trait]
impl JobStore for PgStore {
    async fn install_id(&self) -> StoreResult<String> {
        Ok(self.install_id.clone())
    }

    async fn create_job(&self, job: NewJob) -> StoreResult<JobRecord> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(idem) = &job.idempotency {
            // Two submissions with one key at once: the second waits here for the first.
            let lock = format!("idem:{}:{}", job.tenant, idem.key);
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(lock)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        if let Some(existing) = idempotent_match(&mut tx, &job).await? {
            return self.get_job(&existing).await;
        }
        let (key, fp) = job.idempotency.as_ref().map(|i| (&i.key, &i.fingerprint)).unzip();
        let spec = &job.spec;
        let run_at = spec.run_at_time().unwrap_or(job.created_at).max(job.created_at);
        sqlx::query(
            "INSERT INTO jobs (id, spec, status, owner, created_at, tenant, queue, idempotency_key, idempotency_fp,
                 run_at, priority, concurrency_key, concurrency_limit, requires, queue_deadline)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14)",
        )
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
        .bind(spec.queue_deadline(job.created_at).map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, &job.id, "status", &serde_json::json!({"status": "queued"}), job.created_at).await?;
        if job.owner.is_none() {
            wake(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err)?;
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

    async fn find_job(&self, prefix: &str) -> StoreResult<JobRecord> {
        check_prefix(prefix).map_err(StoreError::Conflict)?;
        let lower = prefix.to_ascii_lowercase();
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id >= $1 AND id < $2 LIMIT 2");
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(&lower)
            .bind(format!("{lower}g"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        match found.as_slice() {
            [one] => rows::job(one),
            [] => Err(StoreError::NotFound(prefix.to_string())),
            many => Err(StoreError::Ambiguous { prefix: prefix.to_string(), count: many.len() }),
        }
    }

    async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        listing::list_jobs(&self.pool, filter).await
    }

    async fn set_status(&self, id: &JobId, change: StatusChange) -> StoreResult<JobRecord> {
        lease::set_status(self, id, change).await
    }

    async fn start_attempt(
        &self,
        id: &JobId,
        owner: &str,
        fence: Option<&Fence>,
        output_dir: Option<String>,
        at: Timestamp,
    ) -> StoreResult<AttemptRecord> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_job(&mut tx, id).await?;
        check_fence(&mut tx, id, fence).await?;
        let number: i64 =
            sqlx::query_scalar("UPDATE jobs SET attempts = attempts + 1, owner = $2 WHERE id = $1 RETURNING attempts")
                .bind(id.as_str())
                .bind(owner)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        sqlx::query("INSERT INTO attempts (job_id, number, owner, output_dir, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_str())
            .bind(number)
            .bind(owner)
            .bind(&output_dir)
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(AttemptRecord {
            job_id: Some(id.clone()),
            number: number as u32,
            owner: Some(owner.to_string()),
            output_dir,
            created_at: Some(at),
            ..AttemptRecord::default()
        })
    }

    async fn update_attempt(&self, id: &JobId, number: u32, u: AttemptUpdate) -> StoreResult<()> {
        let reason = u.reason.as_ref().map(to_json).transpose()?;
        let done = sqlx::query(
            "UPDATE attempts SET container_id = COALESCE($3, container_id), image_digest = COALESCE($4, image_digest),
                 started_at = COALESCE($5, started_at), finished_at = COALESCE($6, finished_at),
                 exit_code = COALESCE($7, exit_code), reason = COALESCE($8, reason),
                 peak_memory = COALESCE($9, peak_memory), cpu_seconds = COALESCE($10, cpu_seconds)
             WHERE job_id = $1 AND number = $2
               AND ($11 IS NULL OR EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND owner = $11 AND lease_token = $12))",
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
        .bind(u.fence.as_ref().map(|f| f.owner.clone()))
        .bind(u.fence.as_ref().map(|f| f.token))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        match (done.rows_affected(), &u.fence) {
            (0, Some(_)) if self.get_job(id).await.is_ok() => Err(StoreError::Fenced(id.to_string())),
            (0, _) => Err(StoreError::NotFound(format!("{id} attempt {number}"))),
            _ => Ok(()),
        }
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let status = lock_job(&mut tx, id).await?;
        if !status.can_remove() {
            return Err(StoreError::Conflict(format!("job {id} is {status}: only finished jobs can be removed")));
        }
        sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn claim(&self, req: &ClaimRequest) -> StoreResult<Option<JobRecord>> {
        lease::claim(self, req).await
    }

    async fn renew_lease(&self, id: &JobId, fence: &Fence, until: Timestamp) -> StoreResult<()> {
        lease::renew(self, id, fence, until).await
    }

    async fn take_over(&self, id: &JobId, fence: &Fence, owner: &str, until: Timestamp) -> StoreResult<JobRecord> {
        lease::take_over(self, id, fence, owner, until).await
    }

    async fn retry_later(
        &self,
        id: &JobId,
        fence: &Fence,
        reason: &Reason,
        run_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<JobRecord> {
        lease::retry_later(self, id, fence, reason, run_at, at).await
    }

    async fn overdue_queued(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
        listing::overdue_queued(&self.pool, now, limit).await
    }

    async fn expired_leases(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>> {
        listing::expired_leases(&self.pool, now, limit).await
    }

    async fn requeue(&self, id: &JobId, at: Timestamp) -> StoreResult<JobRecord> {
        lease::requeue(self, id, at).await
    }

    async fn count_jobs(&self) -> StoreResult<Vec<JobCount>> {
        listing::count_jobs(&self.pool).await
    }

    async fn prune_finished(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_at < $1 ORDER BY finished_at LIMIT $2
                                           FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .bind(before.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        ids.iter().map(|i| rows::job_id(i)).collect()
    }

    async fn wait_for_work(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.work.notified()).await;
    }
}

async fn idempotent_match(tx: &mut PgConnection, job: &NewJob) -> StoreResult<Option<JobId>> {
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

/// Locks the job's row for the rest of the transaction and returns its status.
pub(crate) async fn lock_job(tx: &mut PgConnection, id: &JobId) -> StoreResult<JobStatus> {
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    status.parse().map_err(StoreError::Corrupt)
}

/// Appends an event; the caller holds the job's row lock (or just inserted the job), so
/// sequence numbers cannot collide.
pub(crate) async fn insert_event(
    tx: &mut PgConnection,
    id: &JobId,
    kind: &str,
    data: &serde_json::Value,
    at: Timestamp,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO events (job_id, seq, at, kind, data)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = $1), $2, $3, $4)
         RETURNING seq",
    )
    .bind(id.as_str())
    .bind(at.0)
    .bind(kind)
    .bind(to_json(data)?)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)
}
