//! What berth's two SQL stores share: decoding rows into berth-core records (one decoder for
//! both databases, through the small `Cols` trait), mapping sqlx errors, and the conformance
//! suite that every `Store` implementation must pass.

mod batched;
pub mod conformance;
pub mod group;
mod jobs;
mod rows;
pub mod schedules;
mod secrets;
mod shared;
pub mod stats;

pub use batched::*;
pub use rows::*;

use berth_core::store::StoreError;

/// sqlx errors as store errors: undecodable data is `Corrupt`, anything else `Unavailable`.
pub fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Serializes a value for a TEXT column.
pub fn to_json<T: serde::Serialize>(v: &T) -> berth_core::store::StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Registers a worker or refreshes its heartbeat (same text on both databases).
pub const UPSERT_WORKER: &str = "
INSERT INTO workers (id, host, version, slots, queues, tags, started_at, heartbeat_at, state, running, breaker, backend)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, slots = excluded.slots,
    queues = excluded.queues, tags = excluded.tags, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, state = excluded.state, running = excluded.running,
    breaker = excluded.breaker, backend = excluded.backend";

pub const SET_QUEUE_LIMIT: &str = "INSERT INTO queue_limits (name, max_running) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running";

/// The fixed JSON body of a job's terminal-status webhook (every retry signs these bytes).
pub fn delivery_body(job: &berth_core::store::JobRecord) -> serde_json::Value {
    serde_json::json!({
        "event": format!("job.{}", job.status),
        "job": {
            "id": job.id.as_str(),
            "tenant": job.tenant,
            "name": job.spec.name,
            "labels": job.spec.labels,
            "status": job.status,
            "reason": job.reason,
            "reason_text": job.reason.as_ref().map(ToString::to_string),
            "exit_code": job.exit_code,
            "attempts": job.attempts,
            "created_at": job.created_at.0,
            "finished_at": job.finished_at.map(|t| t.0),
        },
    })
}

pub const INSERT_DELIVERY: &str = "INSERT INTO deliveries (job_id, tenant, url, body, state, next_at, created_at)
     VALUES ($1, $2, $3, $4, 'pending', $5, $5)";

/// The ledger write for one phase: inserts the container's row or fills in that phase's
/// time (the first one recorded wins).
pub fn ledger_upsert(phase: berth_core::store::ContainerPhase) -> String {
    use berth_core::store::ContainerPhase;
    let column = match phase {
        ContainerPhase::Planned => "planned_at",
        ContainerPhase::Created => "created_at",
        ContainerPhase::Started => "started_at",
        ContainerPhase::Finished => "finished_at",
        ContainerPhase::Removed => "removed_at",
    };
    let (extra_col, extra_val) =
        if column == "planned_at" { (String::new(), "") } else { (format!(", {column}"), ", $6") };
    // `column` is one of the five constants above.
    format!(
        "INSERT INTO containers (name, container_id, job_id, attempt, backend, planned_at{extra_col})
         VALUES ($1, $2, $3, $4, $5, $6{extra_val})
         ON CONFLICT (name) DO UPDATE SET {column} = COALESCE(containers.{column}, excluded.{column}),
             container_id = COALESCE(excluded.container_id, containers.container_id)"
    )
}

/// The audit row for a container created or removed (actor `berth`, the job's tenant).
pub const LEDGER_AUDIT: &str = "INSERT INTO audit (at, actor, tenant, action, target, outcome)
     VALUES ($1, 'berth', (SELECT tenant FROM jobs WHERE id = $2), $3, $4, 'ok')";

/// Whether a fenced write may go ahead on `job` as read inside the write's transaction: the
/// lease must still be the fence's (owner and token, and expired before `expired_by` when
/// the reaper asks). No fence: no check.
pub fn check_fence(
    job: &berth_core::store::JobRecord,
    fence: Option<&berth_core::store::Fence>,
) -> berth_core::store::StoreResult<()> {
    let Some(fence) = fence else { return Ok(()) };
    let held = job.lease.as_ref().is_some_and(|l| {
        l.owner == fence.owner && l.token == fence.token && fence.expired_by.is_none_or(|by| l.expires_at < by)
    });
    if held { Ok(()) } else { Err(berth_core::store::StoreError::Fenced(job.id.to_string())) }
}

/// The status update shared by both stores; `RETURNING` gives the new record.
pub fn set_status_sql() -> String {
    format!(
        "UPDATE jobs SET status = $2, reason = COALESCE($3, reason), exit_code = COALESCE($4, exit_code),
             started_at = CASE WHEN $2 = 'running' THEN $5 ELSE started_at END,
             finished_at = CASE WHEN $6 THEN $5 ELSE finished_at END,
             lease_expires_at = CASE WHEN $6 THEN NULL ELSE lease_expires_at END
         WHERE id = $1 RETURNING {JOB_COLUMNS}"
    )
}

/// The `status` event of a change.
pub fn status_event(change: &berth_core::store::StatusChange) -> serde_json::Value {
    let mut data = serde_json::json!({"status": change.to.as_str()});
    if let Some(r) = &change.reason {
        data["reason"] = serde_json::json!(r.to_string());
    }
    data
}

/// Takes a lease over (the reaper, or a worker's next run): a new owner and token, if the
/// lease is still the fence's and, when `expired_by` ($4) is set, ran out before it.
pub fn take_over_sql() -> String {
    format!(
        "UPDATE jobs SET owner = $5, lease_token = lease_token + 1, lease_expires_at = $6
         WHERE id = $1 AND owner = $2 AND lease_token = $3 AND status IN ('starting', 'running')
           AND ($4 IS NULL OR lease_expires_at < $4)
         RETURNING {JOB_COLUMNS}"
    )
}

/// A deleted job's events, deleted by hand in the job's transaction: PostgreSQL's `events`
/// has no foreign key to `jobs` (its per-row check cost 6 % of the queue's throughput, and
/// every event is written holding its job, which must exist), so nothing cascades there.
pub const DELETE_EVENTS_OF_JOB: &str = "DELETE FROM events WHERE job_id = $1";

/// Appends a job's next event; run it holding the job (SQLite's writer lock, PostgreSQL's
/// row lock) so sequence numbers cannot collide.
pub const INSERT_EVENT: &str = "INSERT INTO events (job_id, seq, at, kind, data)
     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = $1), $2, $3, $4)
     RETURNING seq";
