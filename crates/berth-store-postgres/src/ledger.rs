//! `ContainerLedger` on PostgreSQL: one row per container name, each phase's time filled in as
//! it happens. Rows are keyed by name because the name exists before the engine's id does.

use async_trait::async_trait;
use berth_core::ids::JobId;
use berth_core::store::{ContainerEvent, ContainerLedger, ContainerPhase, ContainerRow, StoreResult};
use sqlx::AssertSqlSafe;

use crate::{PgStore, db_err, rows};

#[async_trait]
impl ContainerLedger for PgStore {
    async fn record_container(&self, e: ContainerEvent) -> StoreResult<()> {
        let sql = berth_store_sql::ledger_upsert(e.phase);
        sqlx::query(AssertSqlSafe(sql))
            .bind(&e.name)
            .bind(&e.container_id)
            .bind(e.job_id.as_str())
            .bind(i64::from(e.attempt))
            .bind(&e.backend)
            .bind(e.at.0)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let action = match e.phase {
            ContainerPhase::Created => "container.create",
            ContainerPhase::Removed => "container.remove",
            _ => return Ok(()),
        };
        sqlx::query(berth_store_sql::LEDGER_AUDIT)
            .bind(e.at.0)
            .bind(e.job_id.as_str())
            .bind(action)
            .bind(&e.name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_containers(&self, id: &JobId) -> StoreResult<Vec<ContainerRow>> {
        let found = sqlx::query("SELECT * FROM containers WHERE job_id = $1 ORDER BY planned_at, name")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(|r| rows::container(r, id)).collect()
    }
}
