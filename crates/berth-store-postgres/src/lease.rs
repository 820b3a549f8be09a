//! Claims on PostgreSQL. A claim picks its rows with `FOR UPDATE SKIP LOCKED`, in rounds
//! (`berth_store_sql::claim_round`); when a job has running limits (tenant, queue,
//! concurrency key) the claim also takes per-key advisory locks and re-counts, so two nodes
//! cannot both take the last free place, and the next round counts again. Everything else
//! about jobs is `berth_store_sql::impl_job_store!`.

use berth_core::ids::JobId;
use berth_core::store::{ClaimRequest, JobRecord, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::rows::{self, to_json};
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

/// Wakes idle workers everywhere when the transaction commits.
pub(crate) async fn wake(tx: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *tx).await.map_err(db_err)?;
    Ok(())
}

pub(crate) async fn claim_batch(store: &PgStore, req: &ClaimRequest, max: u32) -> StoreResult<Vec<JobRecord>> {
    let max = max as usize;
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let mut claimed = Vec::new();
    // A limited candidate can lose its place to another node between the pick and the
    // re-count; then the round ends without it, and at most 8 rounds lose one. Once this
    // transaction holds advisory locks, a lock it cannot take at once ends the batch.
    let (mut lost, mut holding) = (0, false);
    while claimed.len() < max && lost < 8 {
        let found = candidates(&mut tx, req, max - claimed.len()).await?;
        let limited: Vec<bool> = found.iter().map(|c| c.keys.is_some()).collect();
        let mut ids: Vec<String> = Vec::new();
        let mut busy = false;
        for c in found.iter().take(berth_store_sql::claim_round(&limited)) {
            if let Some(keys) = &c.keys {
                let still = recount(&mut tx, &rows::job_id(&c.id)?, keys, !holding).await?;
                busy = !still && holding;
                holding = true;
                if !still {
                    lost += 1;
                    break;
                }
            }
            ids.push(c.id.clone());
        }
        if !ids.is_empty() {
            claimed.extend(PgStore::start_claimed(&mut tx, &ids, req).await?);
        }
        if busy || found.is_empty() || (ids.len() == found.len() && limited.last() == Some(&false)) {
            break; // another claim holds a limit's lock, or there is no more
        }
    }
    if claimed.is_empty() {
        tx.rollback().await.map_err(db_err)?;
    } else {
        tx.commit().await.map_err(db_err)?;
    }
    Ok(claimed)
}

/// A claimable job, and the advisory-lock keys of the running limits that apply to it.
struct Candidate {
    id: String,
    keys: Option<Vec<String>>,
}

/// Up to `max` claimable jobs across the worker's queues, best first: one indexed, locking
/// walk per queue (`jobs_claim` is in claim order, so each stops after `max` matches).
async fn candidates(tx: &mut PgConnection, req: &ClaimRequest, max: usize) -> StoreResult<Vec<Candidate>> {
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
         LIMIT $4 FOR UPDATE OF j SKIP LOCKED"
    );
    let tags = to_json(&req.tags)?;
    let mut found: Vec<Found> = Vec::new();
    for queue in &req.queues {
        let more: Vec<Found> = sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(req.at.0)
            .bind(queue)
            .bind(&tags)
            .bind(max as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        found.extend(more);
    }
    found.sort_by(|a, b| order(a).cmp(&order(b)));
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found
        .into_iter()
        .take(max)
        .map(|(id, t, q, k, ..)| {
            let keys: Vec<String> = [t, q, k].into_iter().flatten().collect();
            Candidate { id, keys: (!keys.is_empty()).then_some(keys) }
        })
        .collect())
}

/// A candidate with its claim-order columns.
type Found = (String, Option<String>, Option<String>, Option<String>, i64, i64, i64);

/// Highest priority first, then earliest due, then oldest.
fn order(f: &Found) -> (i64, i64, i64, &str) {
    (-f.4, f.5, f.6, &f.0)
}

/// Takes the limits' advisory locks (in a fixed order) and counts again: true if the job is
/// still under every limit. The transaction's first limited job waits for its locks; later
/// ones (`wait` false) only try, and a lock another claim holds ends the batch (`false`):
/// a transaction that holds locks never waits for more, so claims on two nodes taking each
/// other's keys in different orders cannot deadlock.
async fn recount(tx: &mut PgConnection, id: &JobId, keys: &[String], wait: bool) -> StoreResult<bool> {
    for key in keys {
        if wait {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        } else {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            if !got {
                return Ok(false);
            }
        }
    }
    let sql = format!("SELECT EXISTS (SELECT 1 FROM jobs j WHERE j.id = $1 AND {UNDER_LIMITS})");
    sqlx::query_scalar(AssertSqlSafe(sql)).bind(id.as_str()).fetch_one(&mut *tx).await.map_err(db_err)
}
