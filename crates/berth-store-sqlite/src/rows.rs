//! Decoding rows into berth-core records. A row that does not decode is `Corrupt`, never a panic.

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::store::{
    Artifact, AttemptRecord, AuditRecord, ContainerRow, Delivery, DeliveryState, EventRecord, JobRecord, LogChunk,
    LogStream, StoreError, StoreResult, TenantRecord, TokenRecord,
};
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db_err;

pub(crate) const JOB_COLUMNS: &str =
    "id, spec, tenant, status, reason, exit_code, owner, attempts, created_at, started_at, finished_at, result";

fn json<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn opt_json<T: DeserializeOwned>(text: Option<String>, what: &str) -> StoreResult<Option<T>> {
    text.map(|t| json(&t, what)).transpose()
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

pub(crate) fn job(row: &SqliteRow) -> StoreResult<JobRecord> {
    let id: String = row.try_get("id").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    Ok(JobRecord {
        id: id.parse().map_err(|e: berth_core::ids::BadJobId| StoreError::Corrupt(e.to_string()))?,
        spec: json(&row.try_get::<String, _>("spec").map_err(db_err)?, "jobs.spec")?,
        tenant: row.try_get("tenant").map_err(db_err)?,
        status: status.parse().map_err(StoreError::Corrupt)?,
        reason: opt_json(row.try_get("reason").map_err(db_err)?, "jobs.reason")?,
        exit_code: row.try_get("exit_code").map_err(db_err)?,
        owner: row.try_get("owner").map_err(db_err)?,
        attempts: row.try_get::<i64, _>("attempts").map_err(db_err)? as u32,
        created_at: Timestamp(row.try_get("created_at").map_err(db_err)?),
        started_at: ts(row.try_get("started_at").map_err(db_err)?),
        finished_at: ts(row.try_get("finished_at").map_err(db_err)?),
        result: opt_json(row.try_get("result").map_err(db_err)?, "jobs.result")?,
    })
}

pub(crate) fn attempt(row: &SqliteRow) -> StoreResult<AttemptRecord> {
    let job_id: String = row.try_get("job_id").map_err(db_err)?;
    Ok(AttemptRecord {
        job_id: job_id.parse().ok(),
        number: row.try_get::<i64, _>("number").map_err(db_err)? as u32,
        owner: row.try_get("owner").map_err(db_err)?,
        container_id: row.try_get("container_id").map_err(db_err)?,
        image_digest: row.try_get("image_digest").map_err(db_err)?,
        output_dir: row.try_get("output_dir").map_err(db_err)?,
        created_at: ts(row.try_get("created_at").map_err(db_err)?),
        started_at: ts(row.try_get("started_at").map_err(db_err)?),
        finished_at: ts(row.try_get("finished_at").map_err(db_err)?),
        exit_code: row.try_get("exit_code").map_err(db_err)?,
        reason: opt_json(row.try_get("reason").map_err(db_err)?, "attempts.reason")?,
        peak_memory: row.try_get::<Option<i64>, _>("peak_memory").map_err(db_err)?.map(|v| v as u64),
        cpu_seconds: row.try_get("cpu_seconds").map_err(db_err)?,
    })
}

pub(crate) fn log_chunk(row: &SqliteRow) -> StoreResult<LogChunk> {
    let stream: i64 = row.try_get("stream").map_err(db_err)?;
    Ok(LogChunk {
        seq: row.try_get("seq").map_err(db_err)?,
        attempt: row.try_get::<i64, _>("attempt").map_err(db_err)? as u32,
        stream: LogStream::from_i64(stream)
            .ok_or_else(|| StoreError::Corrupt(format!("log_chunks.stream {stream}")))?,
        at: Timestamp(row.try_get("at").map_err(db_err)?),
        data: row.try_get("data").map_err(db_err)?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        seq: row.try_get("seq").map_err(db_err)?,
        at: Timestamp(row.try_get("at").map_err(db_err)?),
        kind: row.try_get("kind").map_err(db_err)?,
        data: json(&row.try_get::<String, _>("data").map_err(db_err)?, "events.data")?,
    })
}

pub(crate) fn artifact(row: &SqliteRow) -> StoreResult<Artifact> {
    Ok(Artifact {
        attempt: row.try_get::<i64, _>("attempt").map_err(db_err)? as u32,
        name: row.try_get("name").map_err(db_err)?,
        size: row.try_get::<i64, _>("size").map_err(db_err)? as u64,
    })
}

pub(crate) fn container(row: &SqliteRow, job_id: &JobId) -> StoreResult<ContainerRow> {
    let time = |c: &str| -> StoreResult<Option<Timestamp>> { Ok(ts(row.try_get(c).map_err(db_err)?)) };
    Ok(ContainerRow {
        name: row.try_get("name").map_err(db_err)?,
        container_id: row.try_get("container_id").map_err(db_err)?,
        job_id: job_id.clone(),
        attempt: row.try_get::<i64, _>("attempt").map_err(db_err)? as u32,
        backend: row.try_get("backend").map_err(db_err)?,
        planned_at: Timestamp(row.try_get("planned_at").map_err(db_err)?),
        created_at: time("created_at")?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
        removed_at: time("removed_at")?,
    })
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn tenant(row: &SqliteRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        name: row.try_get("name").map_err(db_err)?,
        webhook_secret: row.try_get("webhook_secret").map_err(db_err)?,
        max_running: row.try_get::<Option<i64>, _>("max_running").map_err(db_err)?.map(|v| v as u32),
        created_at: Timestamp(row.try_get("created_at").map_err(db_err)?),
    })
}

pub(crate) fn token(row: &SqliteRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id").map_err(db_err)?,
        name: row.try_get("name").map_err(db_err)?,
        tenant: row.try_get("tenant").map_err(db_err)?,
        admin: row.try_get("admin").map_err(db_err)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_err)?),
        revoked_at: ts(row.try_get("revoked_at").map_err(db_err)?),
    })
}

pub(crate) fn audit(row: &SqliteRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: row.try_get("id").map_err(db_err)?,
        at: Timestamp(row.try_get("at").map_err(db_err)?),
        actor: row.try_get("actor").map_err(db_err)?,
        tenant: row.try_get("tenant").map_err(db_err)?,
        action: row.try_get("action").map_err(db_err)?,
        target: row.try_get("target").map_err(db_err)?,
        outcome: row.try_get("outcome").map_err(db_err)?,
    })
}

pub(crate) fn delivery(row: &SqliteRow) -> StoreResult<Delivery> {
    let job_id: String = row.try_get("job_id").map_err(db_err)?;
    let state: String = row.try_get("state").map_err(db_err)?;
    let state = [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
        .into_iter()
        .find(|s| s.as_str() == state)
        .ok_or_else(|| StoreError::Corrupt(format!("deliveries.state {state}")))?;
    Ok(Delivery {
        id: row.try_get("id").map_err(db_err)?,
        job_id: job_id.parse().map_err(|e: berth_core::ids::BadJobId| StoreError::Corrupt(e.to_string()))?,
        tenant: row.try_get("tenant").map_err(db_err)?,
        url: row.try_get("url").map_err(db_err)?,
        body: row.try_get("body").map_err(db_err)?,
        state,
        tries: row.try_get::<i64, _>("tries").map_err(db_err)? as u32,
        next_at: Timestamp(row.try_get("next_at").map_err(db_err)?),
        last_status: row.try_get::<Option<i64>, _>("last_status").map_err(db_err)?.map(|v| v as u16),
        last_error: row.try_get("last_error").map_err(db_err)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_err)?),
        delivered_at: ts(row.try_get("delivered_at").map_err(db_err)?),
    })
}
