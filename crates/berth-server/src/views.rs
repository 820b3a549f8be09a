//! What the API returns: stable JSON views of store records (timestamps are Unix epoch
//! milliseconds), each with an OpenAPI schema. Secrets in specs are redacted here.

use std::collections::BTreeMap;

use berth_core::JobSpec;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{Artifact, AttemptRecord, ContainerRow, EventRecord, JobRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    pub status: JobStatus,
    /// Why the job ended (terminal jobs only).
    pub reason: Option<Reason>,
    /// The reason in short form, e.g. `exited(3)` or `timed_out(run)`.
    pub reason_text: Option<String>,
    pub exit_code: Option<i64>,
    pub attempts: u32,
    pub queue: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The JSON document the job wrote to its result file.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The spec as submitted, with registry passwords replaced by `***`.
    pub spec: JobSpec,
    /// Who asked to cancel it while it runs: the worker running it is stopping it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_requested: Option<String>,
    /// The schedule that made it (`GET /v1/schedules/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The due time it was made for (Unix epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<i64>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> JobView {
        JobView {
            id: j.id.to_string(),
            tenant: j.tenant,
            name: j.spec.name.clone(),
            status: j.status,
            reason_text: j.reason.as_ref().map(ToString::to_string),
            reason: j.reason,
            exit_code: j.exit_code,
            attempts: j.attempts,
            queue: j.spec.queue_name().to_string(),
            image: j.spec.image.clone(),
            labels: j.spec.labels.clone(),
            created_at: j.created_at.0,
            started_at: j.started_at.map(|t| t.0),
            finished_at: j.finished_at.map(|t| t.0),
            result: j.result,
            spec: j.spec.redacted(),
            cancel_requested: j.cancel_requested,
            schedule_id: j.schedule.as_ref().map(|s| s.id.clone()),
            scheduled_at: j.schedule.map(|s| s.due_at.0),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub number: u32,
    pub worker: Option<String>,
    pub container_id: Option<String>,
    pub image_digest: Option<String>,
    pub created_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub reason: Option<Reason>,
    pub peak_memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> AttemptView {
        AttemptView {
            number: a.number,
            worker: a.owner,
            container_id: a.container_id,
            image_digest: a.image_digest,
            created_at: a.created_at.map(|t| t.0),
            started_at: a.started_at.map(|t| t.0),
            finished_at: a.finished_at.map(|t| t.0),
            exit_code: a.exit_code,
            reason: a.reason,
            peak_memory_bytes: a.peak_memory,
            cpu_seconds: a.cpu_seconds,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobView,
    pub attempt_list: Vec<AttemptView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    pub attempt: u32,
    /// Path inside the attempt's output directory; URL-encode `/` as `%2F` to download it.
    pub name: String,
    pub size: u64,
}

impl From<Artifact> for ArtifactView {
    fn from(a: Artifact) -> ArtifactView {
        ArtifactView { attempt: a.attempt, name: a.name, size: a.size }
    }
}

/// One recorded event of a job (`status`, `stopping`, `warning`, `reattached`, the job's own
/// `{"berth": ...}` lines by their kind, ...).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<EventRecord> for EventView {
    fn from(e: EventRecord) -> EventView {
        EventView { seq: e.seq, at: e.at.0, kind: e.kind, data: e.data }
    }
}

/// One container (or other unit) of a job, as the engine's ledger recorded its life.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContainerView {
    pub name: String,
    pub container_id: Option<String>,
    pub attempt: u32,
    pub backend: String,
    /// Milliseconds since the Unix epoch, for each phase it reached.
    pub planned_at: i64,
    pub created_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub removed_at: Option<i64>,
}

impl From<ContainerRow> for ContainerView {
    fn from(c: ContainerRow) -> ContainerView {
        ContainerView {
            name: c.name,
            container_id: c.container_id,
            attempt: c.attempt,
            backend: c.backend,
            planned_at: c.planned_at.0,
            created_at: c.created_at.map(|t| t.0),
            started_at: c.started_at.map(|t| t.0),
            finished_at: c.finished_at.map(|t| t.0),
            removed_at: c.removed_at.map(|t| t.0),
        }
    }
}

/// The body of `POST /v1/jobs/{id}/exec`.
pub use berth_core::backend::ExecCommand as ExecRequest;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExecResponse {
    pub exit_code: i64,
    /// UTF-8 (lossy) output, at most 1 MiB per stream.
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    pub id: String,
    pub host: String,
    pub version: String,
    pub slots: u32,
    /// Attempts it runs now.
    pub busy: u32,
    pub queues: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// `running`, `draining` or `stopped`; `lost` when its heartbeat is older than 15 s.
    pub state: String,
    /// Its engine's circuit breaker: `closed`, `open` or `half_open`.
    pub breaker: String,
    /// The backend it runs attempts on (`docker`, `process`, `kubernetes`, `ecs`): with
    /// `--backend auto`, the one it chose.
    pub backend: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

/// A worker whose heartbeat is older than this is shown as `lost`.
pub const WORKER_LOST_AFTER_MS: i64 = 15_000;

impl WorkerView {
    pub fn new(w: berth_core::store::WorkerRecord, now: berth_core::clock::Timestamp) -> WorkerView {
        let lost = w.state != "stopped" && now.0 - w.heartbeat_at.0 > WORKER_LOST_AFTER_MS;
        WorkerView {
            id: w.id,
            host: w.host,
            version: w.version,
            slots: w.slots,
            busy: w.running,
            queues: w.queues,
            tags: w.tags,
            state: if lost { "lost".into() } else { w.state },
            breaker: w.breaker,
            backend: w.backend,
            started_at: w.started_at.0,
            heartbeat_at: w.heartbeat_at.0,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, String>,
}
