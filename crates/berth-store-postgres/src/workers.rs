//! `WorkerStore` on PostgreSQL: the worker registry (heartbeats) and per-queue running limits.

use async_trait::async_trait;
use berth_core::store::{StoreResult, WorkerRecord, WorkerStore};

use crate::rows::{self, to_json};
use crate::{PgStore, db_err};

#[async_trait]
impl WorkerStore for PgStore {
    async fn upsert_worker(&self, w: &WorkerRecord) -> StoreResult<()> {
        sqlx::query(berth_store_sql::UPSERT_WORKER)
            .bind(&w.id)
            .bind(&w.host)
            .bind(&w.version)
            .bind(i64::from(w.slots))
            .bind(to_json(&w.queues)?)
            .bind(to_json(&w.tags)?)
            .bind(w.started_at.0)
            .bind(w.heartbeat_at.0)
            .bind(&w.state)
            .bind(i64::from(w.running))
            .bind(&w.breaker)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let found = sqlx::query("SELECT * FROM workers ORDER BY id").fetch_all(&self.pool).await.map_err(db_err)?;
        found.iter().map(rows::worker).collect()
    }

    async fn set_queue_limit(&self, queue: &str, max_running: Option<u32>) -> StoreResult<()> {
        let q = match max_running {
            Some(n) => sqlx::query(berth_store_sql::SET_QUEUE_LIMIT).bind(queue).bind(i64::from(n)),
            None => sqlx::query("DELETE FROM queue_limits WHERE name = $1").bind(queue),
        };
        q.execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn queue_limits(&self) -> StoreResult<Vec<(String, u32)>> {
        let found: Vec<(String, i64)> = sqlx::query_as("SELECT name, max_running FROM queue_limits ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(found.into_iter().map(|(n, m)| (n, m as u32)).collect())
    }
}
