//! The `Store` seam: durable state for jobs, attempts, outputs, logs, events and the
//! container ledger. SQLite implements it for one machine, PostgreSQL for many.
//! Implementations check every status change against `JobStatus::check_transition` inside
//! the same write.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::JobId;
use crate::spec::JobSpec;
use crate::status::{JobStatus, Reason, TransitionError};

pub use crate::schedule::{ScheduleRef, ScheduleStore};

pub use crate::access::{
    AccessStore, AuditEntry, AuditRecord, Delivery, DeliveryOutcome, DeliveryState, ImagePulls, Outbox, SecretRecord,
    SecretStore, TenantRecord, TokenRecord, VolumeUse,
};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    pub id: JobId,
    pub spec: JobSpec,
    /// Who the job belongs to; tokens of one tenant see only its jobs.
    pub tenant: String,
    pub status: JobStatus,
    pub reason: Option<Reason>,
    pub exit_code: Option<i64>,
    /// Who runs the job now (a local process token, later a worker id).
    pub owner: Option<String>,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub result: Option<serde_json::Value>,
    /// When a queued job becomes claimable (its `run_at`, or a retry's backoff).
    pub run_at: Timestamp,
    /// The claim of the worker running it, while it is `starting` or `running`.
    pub lease: Option<Lease>,
    /// Who asked to cancel it while a worker runs it; that worker stops it and records the end.
    pub cancel_requested: Option<String>,
    /// The schedule that made it, and for which due time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleRef>,
}

/// A worker's time-limited claim on a job. `token` grows with every claim of the job, so a
/// worker that lost its lease (and maybe got it back later) cannot write with an old one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: i64,
    pub expires_at: Timestamp,
}

impl Lease {
    pub fn fence(&self) -> Fence {
        Fence { owner: self.owner.clone(), token: self.token, expired_by: None }
    }
}

/// What a fenced write must still match: the job's lease owner and token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub owner: String,
    pub token: i64,
    /// Set by the reaper: the lease must also have run out before this time, so a worker
    /// that renewed at the last moment keeps its job.
    pub expired_by: Option<Timestamp>,
}

/// What a worker asks for when it claims: its id, the queues it serves, its tags, and how
/// long the lease lasts before it must be renewed.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    pub worker: String,
    pub queues: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub lease: Duration,
    pub at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub spec: JobSpec,
    pub owner: Option<String>,
    pub created_at: Timestamp,
    pub tenant: String,
    /// Set by API submissions that carry an `Idempotency-Key`.
    pub idempotency: Option<Idempotency>,
    /// Set by the scheduler: one job per (schedule, due time); a second is the first again.
    pub schedule: Option<ScheduleRef>,
}

/// The tenant every job belongs to when no token names one (the CLI without a server).
pub const LOCAL_TENANT: &str = "local";

impl NewJob {
    pub fn new(id: JobId, spec: JobSpec, owner: Option<String>, created_at: Timestamp) -> NewJob {
        NewJob { id, spec, owner, created_at, tenant: LOCAL_TENANT.to_string(), idempotency: None, schedule: None }
    }
}

/// An idempotency key and a fingerprint of the request it came with: the same key with the
/// same fingerprint returns the job made first; with another fingerprint it is a conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// A status change; `reason` is required for terminal statuses.
#[derive(Clone, Debug)]
pub struct StatusChange {
    pub to: JobStatus,
    pub reason: Option<Reason>,
    pub exit_code: Option<i64>,
    pub at: Timestamp,
    /// Set by a worker holding a lease: the write happens only if the lease is still its own.
    pub fence: Option<Fence>,
    /// The write happens only if the job is still in this status (else `Conflict`).
    pub from: Option<JobStatus>,
}

impl StatusChange {
    pub fn to(to: JobStatus, at: Timestamp) -> StatusChange {
        StatusChange { to, reason: None, exit_code: None, at, fence: None, from: None }
    }
    pub fn end(reason: Reason, exit_code: Option<i64>, at: Timestamp) -> StatusChange {
        StatusChange { to: reason.status(), reason: Some(reason), exit_code, at, fence: None, from: None }
    }
    pub fn fenced(mut self, fence: Option<Fence>) -> StatusChange {
        self.fence = fence;
        self
    }
    /// Only while the job is `status`: a janitor's write loses to a claim made meanwhile.
    pub fn only_from(mut self, status: JobStatus) -> StatusChange {
        self.from = Some(status);
        self
    }
}

/// A worker as it registered itself; `heartbeat_at` tells whether it is still there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRecord {
    pub id: String,
    pub host: String,
    pub version: String,
    pub slots: u32,
    pub queues: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    /// `running`, `draining` or `stopped`.
    pub state: String,
    /// Attempts it runs now.
    pub running: u32,
    /// Its backend's circuit breaker: `closed`, `open` or `half_open`.
    pub breaker: String,
    /// The backend it runs attempts on (`docker`, `process`, `kubernetes`, `ecs`).
    pub backend: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub job_id: Option<JobId>,
    pub number: u32,
    pub owner: Option<String>,
    pub container_id: Option<String>,
    pub image_digest: Option<String>,
    /// Where a job from before outputs lived in the store kept them (a host path on the
    /// node that ran it); `None` for every attempt since.
    pub output_dir: Option<String>,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i64>,
    pub reason: Option<Reason>,
    pub peak_memory: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

/// Fields to set on an attempt; `None` leaves a field as it is. With a `fence`, the write
/// happens only while the job's lease is still the fence's.
#[derive(Clone, Debug, Default)]
pub struct AttemptUpdate {
    pub fence: Option<Fence>,
    pub container_id: Option<String>,
    pub image_digest: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i64>,
    pub reason: Option<Reason>,
    pub peak_memory: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    pub attempt: u32,
    /// Path relative to the attempt's output directory.
    pub name: String,
    pub size: u64,
}

/// An artifact with its content, as collected after the attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactFile {
    pub artifact: Artifact,
    pub data: bytes::Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Written by berth itself (the truncation marker).
    Berth,
}

impl LogStream {
    pub fn as_i64(self) -> i64 {
        match self {
            LogStream::Stdout => 1,
            LogStream::Stderr => 2,
            LogStream::Berth => 3,
        }
    }
    pub fn from_i64(n: i64) -> Option<LogStream> {
        match n {
            1 => Some(LogStream::Stdout),
            2 => Some(LogStream::Stderr),
            3 => Some(LogStream::Berth),
            _ => None,
        }
    }
}

/// One stored piece of output. `seq` orders a job's chunks across streams and attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    pub seq: i64,
    pub attempt: u32,
    pub stream: LogStream,
    pub at: Timestamp,
    pub data: Vec<u8>,
}

/// What an attempt's log recorder writes at once: so a reattach finds the stored output and
/// the cursor (how far into the unit's output that is) always in step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputBatch {
    /// Stored chunks to delete (they rolled out of the log cap's tail).
    pub deleted: Vec<i64>,
    pub chunks: Vec<LogChunk>,
    /// Events the job printed: kind, data, time.
    pub events: Vec<(String, serde_json::Value, Timestamp)>,
    /// The recorder's state after this batch, stored on attempt `.0` (opaque to the store).
    pub cursor: Option<(u32, serde_json::Value)>,
}

impl OutputBatch {
    /// Just these chunks.
    pub fn chunks(chunks: Vec<LogChunk>) -> OutputBatch {
        OutputBatch { chunks, ..OutputBatch::default() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EventRecord {
    pub seq: i64,
    pub at: Timestamp,
    /// `status` for lifecycle changes; the `"berth"` value for events a job printed.
    pub kind: String,
    pub data: serde_json::Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerPhase {
    /// About to be created: the row exists before the engine call, so a crash in between
    /// still leaves a trace to sweep by name.
    Planned,
    Created,
    Started,
    Finished,
    Removed,
}

/// One container's life, as the ledger records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContainerRow {
    pub name: String,
    pub container_id: Option<String>,
    pub job_id: JobId,
    pub attempt: u32,
    pub backend: String,
    pub planned_at: Timestamp,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub removed_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct ContainerEvent {
    pub name: String,
    pub container_id: Option<String>,
    pub job_id: JobId,
    pub attempt: u32,
    pub backend: String,
    pub phase: ContainerPhase,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only these statuses; empty means all.
    pub statuses: Vec<JobStatus>,
    pub limit: Option<u32>,
    pub tenant: Option<String>,
    pub queue: Option<String>,
    /// The spec's image, exactly.
    pub image: Option<String>,
    /// Each `(key, value)` must match; a `None` value only needs the key.
    pub labels: Vec<(String, Option<String>)>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Strictly older than this job in the listing order (a page cursor).
    pub before: Option<JobCursor>,
    /// Only jobs with this lease owner.
    pub owner: Option<String>,
    /// Only jobs this schedule made.
    pub schedule: Option<String>,
}

/// A position in the newest-first job listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: Timestamp,
    pub id: JobId,
}

/// Jobs counted by queue and status (for metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCount {
    pub queue: String,
    pub status: JobStatus,
    pub count: u64,
}

/// See `Store::job_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    pub unfinished: Vec<(JobStatus, u64)>,
    pub finished: Vec<MinuteCount>,
}

/// Jobs that finished in one minute with one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCount {
    /// The minute's start.
    pub minute: Timestamp,
    pub status: JobStatus,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no job matches `{0}`")]
    NotFound(String),
    #[error("`{prefix}` matches {count} jobs: give more characters of the id")]
    Ambiguous { prefix: String, count: usize },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or failed; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back (a bug or a newer schema).
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// A fenced write whose lease is no longer the writer's: it changed nothing.
    #[error("the lease on job {0} is no longer held by this worker")]
    Fenced(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Jobs and their attempts.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// This installation's id, created with the store; it tags every container berth makes.
    async fn install_id(&self) -> StoreResult<String>;
    async fn create_job(&self, job: NewJob) -> StoreResult<JobRecord>;
    async fn get_job(&self, id: &JobId) -> StoreResult<JobRecord>;
    /// Finds a job by full id or unique prefix.
    /// Asks the worker running a leased job to cancel it: its heartbeat learns of it (see
    /// `renew_lease`), it stops the container and records the end; the first asker is kept.
    /// `Transition` when the job is not starting or running.
    async fn request_cancel(&self, id: &JobId, by: &str, at: Timestamp) -> StoreResult<JobRecord>;
    async fn find_job(&self, prefix: &str) -> StoreResult<JobRecord> {
        self.find_job_of(prefix, None).await
    }
    /// Like `find_job`, among `tenant`'s jobs only (`None`: every tenant's), so a prefix
    /// never matches, or is made ambiguous by, another tenant's job.
    async fn find_job_of(&self, prefix: &str, tenant: Option<&str>) -> StoreResult<JobRecord>;
    /// Newest first.
    async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>>;
    /// Changes a job's status if the lifecycle allows it, and records a `status` event.
    async fn set_status(&self, id: &JobId, change: StatusChange) -> StoreResult<JobRecord>;
    /// Starts attempt `attempts + 1` owned by `owner`; returns it.
    /// `fence`, when given, must still match the job's lease.
    async fn start_attempt(
        &self,
        id: &JobId,
        owner: &str,
        fence: Option<&Fence>,
        at: Timestamp,
    ) -> StoreResult<AttemptRecord>;
    async fn update_attempt(&self, id: &JobId, number: u32, update: AttemptUpdate) -> StoreResult<()>;
    async fn list_attempts(&self, id: &JobId) -> StoreResult<Vec<AttemptRecord>>;
    /// Removes a finished job with its logs, events and ledger rows.
    async fn delete_job(&self, id: &JobId) -> StoreResult<()>;
    /// Takes the due queued job of the request's queues (highest priority, then earliest due)
    /// whose required tags the worker has and whose tenant, queue and concurrency key are
    /// under their running limits: it becomes `starting` with a fresh lease. `None` when
    /// nothing is claimable.
    async fn claim(&self, req: &ClaimRequest) -> StoreResult<Option<JobRecord>> {
        Ok(self.claim_batch(req, 1).await?.pop())
    }
    /// Like `claim`, up to `max` jobs in one transaction (a worker takes as many as it has
    /// free slots), in claim order; the running limits hold across the batch exactly as
    /// across single claims. Empty when nothing is claimable.
    async fn claim_batch(&self, req: &ClaimRequest, max: u32) -> StoreResult<Vec<JobRecord>>;
    /// Extends a lease to `until`, returning who asked to cancel the job, if anyone has;
    /// `Fenced` if it is no longer the caller's.
    async fn renew_lease(&self, id: &JobId, fence: &Fence, until: Timestamp) -> StoreResult<Option<String>>;
    /// Takes a job's lease over for `owner` until `until` (a fresh token), if `fence` still
    /// holds (and, with `expired_by`, the lease ran out before it): the reaper and a worker's
    /// next run do this before they touch an abandoned attempt, so the old holder is fenced
    /// off first. `Fenced` if the lease moved on meanwhile.
    async fn take_over(&self, id: &JobId, fence: &Fence, owner: &str, until: Timestamp) -> StoreResult<JobRecord>;
    /// Ends the current attempt without ending the job: back to `queued`, due at `run_at`,
    /// lease dropped. Fenced like a status change.
    async fn retry_later(
        &self,
        id: &JobId,
        fence: &Fence,
        reason: &Reason,
        run_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<JobRecord>;
    /// Queued jobs whose queue or total timeout passed by `now`, oldest deadline first.
    async fn overdue_queued(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>>;
    /// Unfinished jobs whose lease ran out more than their stop grace before `now` (their
    /// worker may be stopping them until then), the longest-expired first.
    async fn expired_leases(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<JobRecord>>;
    /// Puts a job that ended without success back in the queue for another attempt.
    async fn requeue(&self, id: &JobId, at: Timestamp) -> StoreResult<JobRecord>;
    /// Unfinished jobs (queued, starting, running) by queue and status. The finished are not
    /// counted here (that would read the whole history at every metrics scrape); their
    /// metric is the counter `berth_jobs_finished_total`.
    async fn count_jobs(&self) -> StoreResult<Vec<JobCount>>;
    /// What the web UI's overview shows: unfinished jobs by status, and jobs that finished at
    /// or after `since` by status and minute; one tenant's, or everyone's with `None`. Reads
    /// the status index and the finished-time index, so it costs the window, not the history.
    async fn job_stats(&self, tenant: Option<&str>, since: Timestamp) -> StoreResult<JobStats>;
    /// Deletes finished jobs (with logs, events, artifacts rows) that ended before `before`;
    /// returns their ids so the caller can remove their files.
    async fn prune_finished(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<JobId>>;
    /// Returns when work may have arrived (a job queued or requeued anywhere), or after `max`.
    async fn wait_for_work(&self, max: Duration);
}

/// What jobs gave back: the result document and artifacts with their content, stored so
/// that any node serves them, whichever worker (and backend) ran the attempt.
#[async_trait]
pub trait OutputStore: Send + Sync {
    /// Records the result and the artifacts (with their bytes) of an attempt; fenced.
    async fn set_result(
        &self,
        id: &JobId,
        fence: Option<&Fence>,
        result: Option<serde_json::Value>,
        artifacts: &[ArtifactFile],
    ) -> StoreResult<()>;
    /// Every attempt's artifacts, by attempt then name (without their content).
    async fn list_artifacts(&self, id: &JobId) -> StoreResult<Vec<Artifact>>;
    /// One artifact's content; `None` if there is no such artifact.
    async fn read_artifact(&self, id: &JobId, attempt: u32, name: &str) -> StoreResult<Option<Vec<u8>>>;
}

/// The worker registry and the per-queue limits.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Registers or refreshes a worker (its heartbeat).
    async fn upsert_worker(&self, worker: &WorkerRecord) -> StoreResult<()>;
    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>>;
    /// `None` removes the limit.
    async fn set_queue_limit(&self, queue: &str, max_running: Option<u32>) -> StoreResult<()>;
    async fn queue_limits(&self) -> StoreResult<Vec<(String, u32)>>;
}

/// Output and events, both ordered by a per-job sequence number. Writes carry the writer's
/// lease fence (`None` for a local job): a worker that lost its lease writes nothing more.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Stores one batch of an attempt's output in one transaction, under `fence` (owner and
    /// token): deletions first, then chunks (a chunk whose seq exists replaces it: the
    /// marker), then events, then the attempt's cursor.
    async fn write_output(&self, id: &JobId, fence: Option<&Fence>, batch: &OutputBatch) -> StoreResult<()>;
    /// The cursor the last batch of attempt `attempt` stored, if any.
    async fn output_cursor(&self, id: &JobId, attempt: u32) -> StoreResult<Option<serde_json::Value>>;
    /// Chunks with seq greater than `after`, in order, at most `limit`.
    async fn read_logs(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<LogChunk>>;
    /// One more than the highest seq stored (0 for none).
    async fn next_log_seq(&self, id: &JobId) -> StoreResult<i64>;
    async fn append_event(
        &self,
        id: &JobId,
        fence: Option<&Fence>,
        kind: &str,
        data: serde_json::Value,
        at: Timestamp,
    ) -> StoreResult<i64>;
    async fn read_events(&self, id: &JobId, after: i64, limit: u32) -> StoreResult<Vec<EventRecord>>;
}

/// The container-tracking table: every container's planned/create/start/finish/remove times.
#[async_trait]
pub trait ContainerLedger: Send + Sync {
    async fn record_container(&self, event: ContainerEvent) -> StoreResult<()>;
    async fn list_containers(&self, id: &JobId) -> StoreResult<Vec<ContainerRow>>;
}

/// Everything a runner and the server need from durable state.
pub trait Store:
    JobStore
    + OutputStore
    + LogStore
    + ContainerLedger
    + AccessStore
    + SecretStore
    + VolumeUse
    + ImagePulls
    + Outbox
    + WorkerStore
    + ScheduleStore
{
}
impl<T> Store for T where
    T: JobStore
        + OutputStore
        + LogStore
        + ContainerLedger
        + AccessStore
        + SecretStore
        + VolumeUse
        + ImagePulls
        + Outbox
        + WorkerStore
        + ScheduleStore
{
}
