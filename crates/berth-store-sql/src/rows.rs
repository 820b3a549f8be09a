//! Decoding rows into berth-core records. A row that does not decode is `Corrupt`, never a
//! panic. Both stores keep times as epoch milliseconds and JSON as text, so one decoder per
//! record serves both, reading columns through `Cols`.

use berth_core::clock::Timestamp;
use berth_core::ids::{BadJobId, JobId};
use berth_core::store::{
    Artifact, AttemptRecord, AuditRecord, ContainerRow, Delivery, DeliveryState, EventRecord, JobRecord, Lease,
    LogChunk, LogStream, ScheduleRef, StoreError, StoreResult, TenantRecord, TokenRecord, WorkerRecord,
};
use serde::de::DeserializeOwned;
use sqlx::Row;

use crate::db_err;

/// The columns every job query selects, in both stores.
pub const JOB_COLUMNS: &str = "id, spec, tenant, status, reason, exit_code, owner, attempts, created_at, started_at, \
     finished_at, result, run_at, lease_token, lease_expires_at, cancel_by, schedule_id, scheduled_at";

/// Typed column reads, implemented for both databases' rows.
pub trait Cols {
    fn string(&self, c: &str) -> StoreResult<String>;
    fn opt_string(&self, c: &str) -> StoreResult<Option<String>>;
    fn int(&self, c: &str) -> StoreResult<i64>;
    fn opt_int(&self, c: &str) -> StoreResult<Option<i64>>;
    fn opt_float(&self, c: &str) -> StoreResult<Option<f64>>;
    fn flag(&self, c: &str) -> StoreResult<bool>;
    fn bytes(&self, c: &str) -> StoreResult<Vec<u8>>;
}

macro_rules! cols_for {
    ($row:ty) => {
        impl Cols for $row {
            fn string(&self, c: &str) -> StoreResult<String> {
                self.try_get(c).map_err(db_err)
            }
            fn opt_string(&self, c: &str) -> StoreResult<Option<String>> {
                self.try_get(c).map_err(db_err)
            }
            fn int(&self, c: &str) -> StoreResult<i64> {
                self.try_get(c).map_err(db_err)
            }
            fn opt_int(&self, c: &str) -> StoreResult<Option<i64>> {
                self.try_get(c).map_err(db_err)
            }
            fn opt_float(&self, c: &str) -> StoreResult<Option<f64>> {
                self.try_get(c).map_err(db_err)
            }
            fn flag(&self, c: &str) -> StoreResult<bool> {
                self.try_get(c).map_err(db_err)
            }
            fn bytes(&self, c: &str) -> StoreResult<Vec<u8>> {
                self.try_get(c).map_err(db_err)
            }
        }
    };
}

cols_for!(sqlx::sqlite::SqliteRow);
#[cfg(feature = "postgres")]
cols_for!(sqlx::postgres::PgRow);

fn json<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn opt_json<T: DeserializeOwned>(text: Option<String>, what: &str) -> StoreResult<Option<T>> {
    text.map(|t| json(&t, what)).transpose()
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

pub fn job_id(text: &str) -> StoreResult<JobId> {
    text.parse().map_err(|e: BadJobId| StoreError::Corrupt(e.to_string()))
}

pub fn job(row: &impl Cols) -> StoreResult<JobRecord> {
    let owner = row.opt_string("owner")?;
    let lease = match (&owner, row.opt_int("lease_expires_at")?) {
        (Some(o), Some(until)) => {
            Some(Lease { owner: o.clone(), token: row.int("lease_token")?, expires_at: Timestamp(until) })
        }
        _ => None,
    };
    Ok(JobRecord {
        id: job_id(&row.string("id")?)?,
        spec: json(&row.string("spec")?, "jobs.spec")?,
        tenant: row.string("tenant")?,
        status: row.string("status")?.parse().map_err(StoreError::Corrupt)?,
        reason: opt_json(row.opt_string("reason")?, "jobs.reason")?,
        exit_code: row.opt_int("exit_code")?,
        owner,
        attempts: row.int("attempts")? as u32,
        created_at: Timestamp(row.int("created_at")?),
        started_at: ts(row.opt_int("started_at")?),
        finished_at: ts(row.opt_int("finished_at")?),
        result: opt_json(row.opt_string("result")?, "jobs.result")?,
        run_at: Timestamp(row.int("run_at")?),
        lease,
        cancel_requested: row.opt_string("cancel_by")?,
        // A manual trigger's job has no due time: it shows when it was made.
        schedule: match (row.opt_string("schedule_id")?, row.opt_int("scheduled_at")?) {
            (Some(id), Some(at)) => Some(ScheduleRef { id, due_at: Timestamp(at), manual: false }),
            (Some(id), None) => Some(ScheduleRef { id, due_at: Timestamp(row.int("created_at")?), manual: true }),
            _ => None,
        },
    })
}

pub fn attempt(row: &impl Cols) -> StoreResult<AttemptRecord> {
    Ok(AttemptRecord {
        job_id: row.string("job_id")?.parse().ok(),
        number: row.int("number")? as u32,
        owner: row.opt_string("owner")?,
        container_id: row.opt_string("container_id")?,
        image_digest: row.opt_string("image_digest")?,
        output_dir: row.opt_string("output_dir")?,
        created_at: ts(row.opt_int("created_at")?),
        started_at: ts(row.opt_int("started_at")?),
        finished_at: ts(row.opt_int("finished_at")?),
        exit_code: row.opt_int("exit_code")?,
        reason: opt_json(row.opt_string("reason")?, "attempts.reason")?,
        peak_memory: row.opt_int("peak_memory")?.map(|v| v as u64),
        cpu_seconds: row.opt_float("cpu_seconds")?,
    })
}

pub fn log_chunk(row: &impl Cols) -> StoreResult<LogChunk> {
    let stream = row.int("stream")?;
    Ok(LogChunk {
        seq: row.int("seq")?,
        attempt: row.int("attempt")? as u32,
        stream: LogStream::from_i64(stream)
            .ok_or_else(|| StoreError::Corrupt(format!("log_chunks.stream {stream}")))?,
        at: Timestamp(row.int("at")?),
        data: row.bytes("data")?,
    })
}

pub fn event(row: &impl Cols) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        seq: row.int("seq")?,
        at: Timestamp(row.int("at")?),
        kind: row.string("kind")?,
        data: json(&row.string("data")?, "events.data")?,
    })
}

pub fn artifact(row: &impl Cols) -> StoreResult<Artifact> {
    Ok(Artifact { attempt: row.int("attempt")? as u32, name: row.string("name")?, size: row.int("size")? as u64 })
}

pub fn container(row: &impl Cols, job_id: &JobId) -> StoreResult<ContainerRow> {
    let time = |c: &str| -> StoreResult<Option<Timestamp>> { Ok(ts(row.opt_int(c)?)) };
    Ok(ContainerRow {
        name: row.string("name")?,
        container_id: row.opt_string("container_id")?,
        job_id: job_id.clone(),
        attempt: row.int("attempt")? as u32,
        backend: row.string("backend")?,
        planned_at: Timestamp(row.int("planned_at")?),
        created_at: time("created_at")?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
        removed_at: time("removed_at")?,
    })
}

pub fn tenant(row: &impl Cols) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        name: row.string("name")?,
        webhook_secret: row.string("webhook_secret")?,
        max_running: row.opt_int("max_running")?.map(|v| v as u32),
        policy: row.opt_string("policy")?.map(|p| json(&p, "tenants.policy")).transpose()?,
        created_at: Timestamp(row.int("created_at")?),
    })
}

pub fn token(row: &impl Cols) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: row.string("id")?,
        name: row.string("name")?,
        tenant: row.string("tenant")?,
        admin: row.flag("admin")?,
        created_at: Timestamp(row.int("created_at")?),
        revoked_at: ts(row.opt_int("revoked_at")?),
    })
}

pub fn audit(row: &impl Cols) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: row.int("id")?,
        at: Timestamp(row.int("at")?),
        actor: row.string("actor")?,
        tenant: row.opt_string("tenant")?,
        action: row.string("action")?,
        target: row.opt_string("target")?,
        outcome: row.string("outcome")?,
    })
}

pub fn delivery(row: &impl Cols) -> StoreResult<Delivery> {
    let state = row.string("state")?;
    let state = [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
        .into_iter()
        .find(|s| s.as_str() == state)
        .ok_or_else(|| StoreError::Corrupt(format!("deliveries.state {state}")))?;
    Ok(Delivery {
        id: row.int("id")?,
        job_id: job_id(&row.string("job_id")?)?,
        tenant: row.string("tenant")?,
        url: row.string("url")?,
        body: row.string("body")?,
        state,
        tries: row.int("tries")? as u32,
        next_at: Timestamp(row.int("next_at")?),
        last_status: row.opt_int("last_status")?.map(|v| v as u16),
        last_error: row.opt_string("last_error")?,
        created_at: Timestamp(row.int("created_at")?),
        delivered_at: ts(row.opt_int("delivered_at")?),
        claim: row.int("claim")?,
    })
}

pub fn worker(row: &impl Cols) -> StoreResult<WorkerRecord> {
    Ok(WorkerRecord {
        id: row.string("id")?,
        host: row.string("host")?,
        version: row.string("version")?,
        slots: row.int("slots")? as u32,
        queues: json(&row.string("queues")?, "workers.queues")?,
        tags: json(&row.string("tags")?, "workers.tags")?,
        started_at: Timestamp(row.int("started_at")?),
        heartbeat_at: Timestamp(row.int("heartbeat_at")?),
        state: row.string("state")?,
        running: row.int("running")? as u32,
        breaker: row.string("breaker")?,
        backend: row.string("backend")?,
    })
}
