//! Claims on SQLite: the one write transaction (`BEGIN IMMEDIATE`) picks the next claimable
//! job (`listing::next_claimable`, counting running limits exactly: there is one writer) and
//! gives it a fresh lease. Everything else about jobs is `berth_store_sql::impl_job_store!`.

use berth_core::store::{ClaimRequest, JobRecord, StoreResult};
use sqlx::AssertSqlSafe;

use crate::rows::to_json;
use crate::{SqliteStore, db_err, listing};

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
    sqlx::query(berth_store_sql::INSERT_EVENT)
        .bind(id.as_str())
        .bind(req.at.0)
        .bind("status")
        .bind(to_json(&data)?)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(record))
}
