//! Claims on PostgreSQL. A claim picks its row with `FOR UPDATE SKIP LOCKED`; when the job
//! has running limits (tenant, queue, concurrency key) the claim also takes per-key advisory
//! locks and re-counts, so two nodes cannot both take the last free place. Everything else
//! about jobs is `berth_store_sql::impl_job_store!`.

use berth_core::ids::JobId;
use berth_core::store::{ClaimRequest, JobRecord, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::rows::{self, JOB_COLUMNS, to_json};
use crate::{CHANNEL, PgStore, db_err};

/// Running limits, as a predicate on the candidate `j`.
const UNDER_LIMITS: &str = "
  NOT EXISTS (SELECT 1 FROM tenants t WHERE t.name = j.tenant AND t.max_running IS NOT NULL
              AND t.max_running <= (SELECT COUNT(*) FROM jobs r
                                    WHERE r.tenant = j.tenant AND r.status IN ('starting', 'running')))
  AND NOT EXISTS (SELECT 1 FROM queue_limits q WHERE q.name = j.queue
                  AND q.max_running <= (SELECT COUNT(*) FROM jobs r
                                        WHERE r.queue = j.queue AND r.status IN ('starting', 'running')))
  AND (j.concurrency_key IS NULL
       OR j.concurrency_limit > (SELECT COUNT(*) FROM jobs r WHERE r.tenant = j.tenant
                                 AND r.concurrency_key = j.concurrency_key AND r.status IN ('starting', 'running')))";

/// A candidate: id, and the advisory-lock keys of the limits that apply to it (if any).
type Candidate = (String, Option<String>, Option<String>, Option<String>);

/// Wakes idle workers everywhere when the transaction commits.
pub(crate) async fn wake(tx: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *tx).await.map_err(db_err)?;
    Ok(())
}

pub(crate) async fn claim(store: &PgStore, req: &ClaimRequest) -> StoreResult<Option<JobRecord>> {
    // A limited candidate can lose its place to another node between the pick and the
    // re-count; then the next candidate is tried.
    for _ in 0..8 {
        let mut tx = store.pool.begin().await.map_err(db_err)?;
        let Some((id, tenant_key, queue_key, concurrency_key)) = candidate(&mut tx, req).await? else {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        };
        let id = rows::job_id(&id)?;
        let keys: Vec<String> = [tenant_key, queue_key, concurrency_key].into_iter().flatten().collect();
        if !keys.is_empty() && !recount(&mut tx, &id, &keys).await? {
            tx.rollback().await.map_err(db_err)?;
            continue;
        }
        let until = req.at.0 + req.lease.as_millis() as i64;
        let sql = format!(
            "UPDATE jobs SET status = 'starting', owner = $2, lease_token = lease_token + 1, lease_expires_at = $3
             WHERE id = $1 RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(&req.worker)
            .bind(until)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let record = rows::job(&row)?;
        let data = serde_json::json!({"status": "starting", "worker": req.worker});
        sqlx::query(berth_store_sql::INSERT_EVENT)
            .bind(id.as_str())
            .bind(req.at.0)
            .bind("status")
            .bind(to_json(&data)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        return Ok(Some(record));
    }
    Ok(None)
}

/// The best claimable job across the worker's queues: one indexed, locking walk per queue
/// (`jobs_claim` is in claim order, so each stops at its first match).
async fn candidate(tx: &mut PgConnection, req: &ClaimRequest) -> StoreResult<Option<Candidate>> {
    let sql = format!(
        "SELECT j.id,
                CASE WHEN EXISTS (SELECT 1 FROM tenants t WHERE t.name = j.tenant AND t.max_running IS NOT NULL)
                     THEN 'tenant:' || j.tenant END,
                CASE WHEN EXISTS (SELECT 1 FROM queue_limits q WHERE q.name = j.queue) THEN 'queue:' || j.queue END,
                CASE WHEN j.concurrency_key IS NOT NULL THEN 'key:' || j.tenant || ':' || j.concurrency_key END,
                j.priority, j.run_at, j.created_at
         FROM jobs j
         WHERE j.status = 'queued' AND j.queue = $2 AND j.owner IS NULL AND j.run_at <= $1
           AND (j.queue_deadline IS NULL OR j.queue_deadline > $1)
           AND j.requires <@ $3::jsonb AND {UNDER_LIMITS}
         ORDER BY j.priority DESC, j.run_at, j.created_at, j.id
         LIMIT 1 FOR UPDATE OF j SKIP LOCKED"
    );
    let tags = to_json(&req.tags)?;
    let mut best: Option<Found> = None;
    for queue in &req.queues {
        let found: Option<Found> = sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(req.at.0)
            .bind(queue)
            .bind(&tags)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        best = match (best, found) {
            (Some(b), Some(f)) => Some(if order(&f) < order(&b) { f } else { b }),
            (b, f) => b.or(f),
        };
    }
    Ok(best.map(|(id, t, q, k, ..)| (id, t, q, k)))
}

/// A candidate with its claim-order columns.
type Found = (String, Option<String>, Option<String>, Option<String>, i64, i64, i64);

/// Highest priority first, then earliest due, then oldest.
fn order(f: &Found) -> (i64, i64, i64, &str) {
    (-f.4, f.5, f.6, &f.0)
}

/// Takes the limits' advisory locks (in a fixed order, so nodes cannot deadlock) and counts
/// again: true if the job is still under every limit.
async fn recount(tx: &mut PgConnection, id: &JobId, keys: &[String]) -> StoreResult<bool> {
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    let sql = format!("SELECT EXISTS (SELECT 1 FROM jobs j WHERE j.id = $1 AND {UNDER_LIMITS})");
    sqlx::query_scalar(AssertSqlSafe(sql)).bind(id.as_str()).fetch_one(&mut *tx).await.map_err(db_err)
}
