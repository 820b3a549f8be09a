//! `ScheduleStore`, written once for both stores: schedules with their config as JSON, a
//! cursor that moves by compare-and-set, and each node's scheduler heartbeat.

use berth_core::clock::Timestamp;
use berth_core::schedule::{Pause, ScheduleRecord};
use berth_core::store::{StoreError, StoreResult};

use crate::rows::Cols;

/// How long heartbeats and ended outages are kept (a month, in ms).
pub const KEEP_MS: i64 = 30 * 86_400_000;

/// The columns every schedule query selects.
pub const SCHEDULE_COLUMNS: &str =
    "id, tenant, config, paused, next_due_at, waiting_due_at, resumed_at, created_at, updated_at, version";

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
        version: row.int("version")?,
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
            use ::berth_core::schedule::plan::Outage;
            use ::berth_core::schedule::{ScheduleRecord, ScheduleStore};
            use ::berth_core::store::{StoreError, StoreResult};
            use ::sqlx::AssertSqlSafe;
            use $crate::schedules::{KEEP_MS, SCHEDULE_COLUMNS, schedule};
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

                async fn update_schedule(&self, s: &ScheduleRecord, due: Option<Option<Timestamp>>) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let done = sqlx::query(
                        "UPDATE schedules SET name = $2, config = $3, paused = $4, resumed_at = $5, updated_at = $6,
                             next_due_at = CASE WHEN $7 THEN $8 ELSE next_due_at END,
                             waiting_due_at = CASE WHEN $7 THEN NULL ELSE waiting_due_at END,
                             version = version + 1
                         WHERE id = $1 AND version = $9",
                    )
                    .bind(&s.id)
                    .bind(&s.config.name)
                    .bind(to_json(&s.config)?)
                    .bind(s.paused.as_ref().map(to_json).transpose()?)
                    .bind(s.resumed_at.0)
                    .bind(s.updated_at.0)
                    .bind(due.is_some())
                    .bind(due.flatten().map(|t| t.0))
                    .bind(s.version)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| name_taken(e, s))?;
                    Ok(done.rows_affected() == 1)
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
                         ORDER BY COALESCE(next_due_at, waiting_due_at) LIMIT $2"
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

                async fn scheduler_beat(
                    &self,
                    node: &str,
                    at: Timestamp,
                    outage_after: std::time::Duration,
                ) -> StoreResult<Option<Outage>> {
                    let _writer = self.writer().await;
                    // A beat from a clock ahead of this one is not evidence that anyone was alive.
                    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(beat_at) FROM scheduler_beats WHERE beat_at <= $1")
                        .bind(at.0)
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
                    let month = at.0.saturating_sub(KEEP_MS);
                    sqlx::query("DELETE FROM scheduler_beats WHERE beat_at < $1").bind(month).execute(&self.pool).await.map_err(db_err)?;
                    sqlx::query("DELETE FROM scheduler_outages WHERE to_at < $1").bind(month).execute(&self.pool).await.map_err(db_err)?;
                    let gap = i64::try_from(outage_after.as_millis()).unwrap_or(i64::MAX);
                    let from = match last {
                        Some(t) if at.0.saturating_sub(t) <= gap => return Ok(None),
                        Some(t) => t,
                        None => 0,
                    };
                    sqlx::query("INSERT INTO scheduler_outages (from_at, to_at) VALUES ($1, $2)")
                        .bind(from)
                        .bind(at.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(Some(Outage { from: Timestamp(from), to: at }))
                }

                async fn outages_after(&self, t: Timestamp) -> StoreResult<Vec<Outage>> {
                    let rows: Vec<(i64, i64)> =
                        sqlx::query_as("SELECT from_at, to_at FROM scheduler_outages WHERE to_at > $1 ORDER BY from_at, to_at")
                            .bind(t.0)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(rows.into_iter().map(|(from, to)| Outage { from: Timestamp(from), to: Timestamp(to) }).collect())
                }
            }
        };
    };
}
