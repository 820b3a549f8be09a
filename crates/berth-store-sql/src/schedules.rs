//! `ScheduleStore`, written once for both stores: schedules with their config as JSON, a
//! cursor that moves by compare-and-set, and each node's scheduler heartbeat.

use berth_core::clock::Timestamp;
use berth_core::schedule::{Pause, ScheduleRecord};
use berth_core::store::{StoreError, StoreResult};

use crate::rows::Cols;

/// The columns every schedule query selects.
pub const SCHEDULE_COLUMNS: &str =
    "id, tenant, config, paused, next_due_at, waiting_due_at, resumed_at, created_at, updated_at";

pub fn schedule(row: &impl Cols) -> StoreResult<ScheduleRecord> {
    let paused: Option<Pause> = row.opt_string("paused")?.map(|t| json(&t, "schedules.paused")).transpose()?;
    Ok(ScheduleRecord {
        id: row.string("id")?,
        tenant: row.string("tenant")?,
        config: json(&row.string("config")?, "schedules.config")?,
        paused,
        next_due_at: row.opt_int("next_due_at")?.map(Timestamp),
        waiting_due_at: row.opt_int("waiting_due_at")?.map(Timestamp),
        resumed_at: Timestamp(row.int("resumed_at")?),
        created_at: Timestamp(row.int("created_at")?),
        updated_at: Timestamp(row.int("updated_at")?),
    })
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[macro_export]
macro_rules! impl_schedule_store {
    ($store:ty) => {
        const _: () = {
            use ::async_trait::async_trait;
            use ::berth_core::clock::Timestamp;
            use ::berth_core::schedule::{ScheduleRecord, ScheduleStore};
            use ::berth_core::store::{StoreError, StoreResult};
            use ::sqlx::AssertSqlSafe;
            use $crate::schedules::{SCHEDULE_COLUMNS, schedule};
            use $crate::{db_err, to_json};

            fn name_taken(e: ::sqlx::Error, s: &ScheduleRecord) -> StoreError {
                match &e {
                    ::sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                        "tenant {} already has a schedule named `{}`: pick another name, or change that one",
                        s.tenant, s.config.name
                    )),
                    _ => db_err(e),
                }
            }

            #[async_trait]
            impl ScheduleStore for $store {
                async fn create_schedule(&self, s: &ScheduleRecord) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query(
                        "INSERT INTO schedules (id, tenant, name, config, paused, next_due_at, waiting_due_at,
                             resumed_at, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $8)",
                    )
                    .bind(&s.id)
                    .bind(&s.tenant)
                    .bind(&s.config.name)
                    .bind(to_json(&s.config)?)
                    .bind(s.paused.as_ref().map(to_json).transpose()?)
                    .bind(s.next_due_at.map(|t| t.0))
                    .bind(s.resumed_at.0)
                    .bind(s.created_at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| name_taken(e, s))?;
                    Ok(())
                }

                async fn get_schedule(&self, id: &str) -> StoreResult<ScheduleRecord> {
                    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
                    let row = sqlx::query(AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or_else(|| StoreError::NotFound(format!("schedule {id}")))?;
                    schedule(&row)
                }

                async fn find_schedule(&self, key: &str, tenant: Option<&str>) -> StoreResult<ScheduleRecord> {
                    let sql = format!(
                        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE (id = $1 OR name = $1)
                           AND ($2 IS NULL OR tenant = $2) ORDER BY id LIMIT 2"
                    );
                    let found = sqlx::query(AssertSqlSafe(sql))
                        .bind(key)
                        .bind(tenant)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    match found.as_slice() {
                        [one] => schedule(one),
                        [] => Err(StoreError::NotFound(format!("no schedule is named or has the id `{key}`"))),
                        _ => Err(StoreError::Conflict(format!(
                            "more than one tenant has a schedule named `{key}`: use its id"
                        ))),
                    }
                }

                async fn list_schedules(&self, tenant: Option<&str>) -> StoreResult<Vec<ScheduleRecord>> {
                    let sql = format!(
                        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE ($1 IS NULL OR tenant = $1) ORDER BY tenant, name"
                    );
                    let rows = sqlx::query(AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await.map_err(db_err)?;
                    rows.iter().map(schedule).collect()
                }

                async fn update_schedule(&self, s: &ScheduleRecord, due: Option<Option<Timestamp>>) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let done = sqlx::query(
                        "UPDATE schedules SET name = $2, config = $3, paused = $4, resumed_at = $5, updated_at = $6,
                             next_due_at = CASE WHEN $7 THEN $8 ELSE next_due_at END,
                             waiting_due_at = CASE WHEN $7 THEN NULL ELSE waiting_due_at END
                         WHERE id = $1",
                    )
                    .bind(&s.id)
                    .bind(&s.config.name)
                    .bind(to_json(&s.config)?)
                    .bind(s.paused.as_ref().map(to_json).transpose()?)
                    .bind(s.resumed_at.0)
                    .bind(s.updated_at.0)
                    .bind(due.is_some())
                    .bind(due.flatten().map(|t| t.0))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| name_taken(e, s))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("schedule {}", s.id)));
                    }
                    Ok(())
                }

                async fn delete_schedule(&self, id: &str) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("DELETE FROM schedules WHERE id = $1")
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn due_schedules(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<ScheduleRecord>> {
                    let sql = format!(
                        "SELECT {SCHEDULE_COLUMNS} FROM schedules
                         WHERE paused IS NULL AND (next_due_at <= $1 OR waiting_due_at IS NOT NULL)
                         ORDER BY next_due_at LIMIT $2"
                    );
                    let rows = sqlx::query(AssertSqlSafe(sql))
                        .bind(now.0)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    rows.iter().map(schedule).collect()
                }

                async fn advance_schedule(&self, id: &str, from: Timestamp, to: Option<Timestamp>) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let done = sqlx::query("UPDATE schedules SET next_due_at = $3 WHERE id = $1 AND next_due_at = $2")
                        .bind(id)
                        .bind(from.0)
                        .bind(to.map(|t| t.0))
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_waiting(&self, id: &str, from: Option<Timestamp>, to: Option<Timestamp>) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let done = sqlx::query(
                        "UPDATE schedules SET waiting_due_at = $3
                         WHERE id = $1 AND COALESCE(waiting_due_at, -1) = COALESCE($2, -1)",
                    )
                    .bind(id)
                    .bind(from.map(|t| t.0))
                    .bind(to.map(|t| t.0))
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn scheduler_beat(&self, node: &str, at: Timestamp) -> StoreResult<Option<Timestamp>> {
                    let _writer = self.writer().await;
                    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(beat_at) FROM scheduler_beats")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    sqlx::query(
                        "INSERT INTO scheduler_beats (node, beat_at) VALUES ($1, $2)
                         ON CONFLICT (node) DO UPDATE SET beat_at = excluded.beat_at",
                    )
                    .bind(node)
                    .bind(at.0)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(last.map(Timestamp))
                }
            }
        };
    };
}
