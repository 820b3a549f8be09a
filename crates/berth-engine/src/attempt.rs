//! One attempt of a job, start to finish: pull → create → start → supervise (logs, timeout,
//! cancel) → collect outputs → remove. Whatever happens after create, the container is
//! removed before the attempt returns, and the job ends with exactly one normalized reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::backend::{
    AttemptPlan, BackendError, ExitInfo, OUTPUT_MOUNT, OutputChunk, OutputPicker, OutputStream, PullObserver,
    SecretInput, StdinSource, UnitHandle,
};
use berth_core::ids::JobId;
use berth_core::policy::Policy;
use berth_core::retry::{Decision, History};
use berth_core::spec::JobSpec;
use berth_core::status::{InfraKind, JobStatus, Reason, TimeoutPhase};
use berth_core::store::{
    AttemptUpdate, ContainerEvent, ContainerPhase, Fence, JobRecord, Lease, StatusChange, StoreError, StoreResult,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Runner;
use crate::cancel::Cancel;
use crate::outage::ride_out;
use crate::outputs;
use crate::recorder::{FLUSH_INTERVAL, JobEvent, LogRecorder, Shown};
use crate::telemetry;

/// How long output may keep flowing after the exit before the recorder stops reading
/// (some engines keep the attach stream open after exit: bollard #251).
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How long past the stop grace a stopped unit may take to report its exit.
const STOPPED_EXIT_WAIT: Duration = Duration::from_secs(60);

/// Where a running attempt's output and events are shown (the terminal, an SSE stream, ...).
pub trait AttemptObserver: Send + Sync {
    fn output(&self, _stream: OutputStream, _data: &[u8]) {}
    fn event(&self, _event: &JobEvent) {}
    fn running(&self, _job: &JobRecord) {}
    /// The unit ended (or was stopped): what is left is reading its last output, collecting
    /// its files, removing it and recording the end. A worker frees the slot here.
    fn exited(&self) {}
}

pub struct AttemptIo {
    pub observer: Arc<dyn AttemptObserver>,
    pub pull: Arc<dyn PullObserver>,
    pub stdin: StdinSource,
}

/// What supervising a started container produced, for `finish` to record.
struct Supervised {
    /// Set when berth stopped the container (timeout, cancel): this reason wins.
    stop_reason: Option<Reason>,
    exit: Result<ExitInfo, BackendError>,
    pump: StoreResult<JoinHandle<StoreResult<()>>>,
    stop_pump: CancellationToken,
}

/// A started unit, as `watch` supervises it.
pub(crate) struct Watched {
    pub(crate) output: BoxStream<'static, Result<OutputChunk, BackendError>>,
    pub(crate) exit: futures::future::BoxFuture<'static, Result<ExitInfo, BackendError>>,
    pub(crate) recorder: StoreResult<LogRecorder>,
    pub(crate) observer: Arc<dyn AttemptObserver>,
    pub(crate) limit: (Duration, TimeoutPhase),
}

/// How an attempt ended, before it is written.
pub(crate) struct Ending {
    reason: Reason,
    exit_code: Option<i64>,
    /// The worker let go of the container (a handover): nothing is removed or written.
    detached: bool,
}

impl Ending {
    pub(crate) fn new(reason: Reason, exit_code: Option<i64>) -> Ending {
        Ending { reason, exit_code, detached: false }
    }
    fn infra(kind: InfraKind, message: impl Into<String>) -> Ending {
        Ending::new(Reason::Infra { infra: kind, message: message.into() }, None)
    }
    fn detached() -> Ending {
        Ending { detached: true, ..Ending::new(Reason::WorkerLost, None) }
    }
    pub(crate) fn is_detached(&self) -> bool {
        self.detached
    }
    pub(crate) fn backend(e: &BackendError) -> Ending {
        telemetry::backend_error(e);
        Ending::infra(e.infra_kind(), e.to_string())
    }
    fn store(e: &StoreError) -> Ending {
        Ending::infra(InfraKind::StoreFailed, e.to_string())
    }
}

impl Runner {
    /// Runs the next attempt of a queued (or just claimed, `starting`) job and records how
    /// it ended: a final status, or (if its retry policy says so) back to the queue. A job
    /// claimed with a lease has every write fenced by it; a local job without one retries
    /// in this process.
    pub async fn run_attempt(&self, job: &JobRecord, io: AttemptIo, cancel: &Cancel) -> StoreResult<JobRecord> {
        let mut io = io;
        loop {
            let (record, retry) = self.one_attempt(job, &mut io, cancel).await?;
            let Some(run_at) = retry else { return Ok(record) };
            if record.lease.is_some() || job.lease.is_some() {
                return Ok(record);
            }
            let wait = Duration::from_millis((run_at.0 - self.clock.now().0).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => {
                    let end = cancel.reason();
                    return self.store.set_status(&job.id, StatusChange::end(end, None, self.clock.now())).await;
                }
            }
        }
    }

    /// One attempt; returns the job as recorded and, when it was put back in the queue, when
    /// the next attempt is due.
    async fn one_attempt(
        &self,
        job: &JobRecord,
        io: &mut AttemptIo,
        cancel: &Cancel,
    ) -> StoreResult<(JobRecord, Option<berth_core::clock::Timestamp>)> {
        let id = &job.id;
        let began = Instant::now();
        let fence = job.lease.as_ref().map(Lease::fence);
        // Fresh counters, but the lease as claimed: writes are fenced by the claim's token.
        let job = &JobRecord { lease: job.lease.clone(), ..self.store.get_job(id).await? };
        if job.status == JobStatus::Queued {
            self.store.set_status(id, StatusChange::to(JobStatus::Starting, self.clock.now())).await?;
        }
        let attempt = self.store.start_attempt(id, &self.owner, fence.as_ref(), self.clock.now()).await?;
        let io_now = AttemptIo { observer: io.observer.clone(), pull: io.pull.clone(), stdin: io.stdin.take() };
        let ending = self.drive(job, attempt.number, io_now, cancel).await;
        self.conclude(job, attempt.number, ending, began, cancel).await
    }

    /// Records how attempt `n` ended and what follows it (a retry or the final status), fenced
    /// by the job's lease. A detached attempt writes nothing. A cancel that came while the
    /// container was ending anyway wins over a retry: the attempt keeps its true end, the job
    /// ends `cancelled`. A lost lease is not a cancel: its `worker_lost` goes through the
    /// retry policy like any ending.
    pub(crate) async fn conclude(
        &self,
        job: &JobRecord,
        n: u32,
        ending: Ending,
        began: Instant,
        cancel: &Cancel,
    ) -> StoreResult<(JobRecord, Option<berth_core::clock::Timestamp>)> {
        let id = &job.id;
        if ending.detached {
            return Ok((self.store.get_job(id).await?, None));
        }
        let fence = fence_of(job);
        let now = self.clock.now();
        let update = AttemptUpdate {
            finished_at: Some(now),
            exit_code: ending.exit_code,
            reason: Some(ending.reason.clone()),
            ..AttemptUpdate::default()
        };
        let update = AttemptUpdate { fence: fence_of(job), ..update };
        ride_out("recording the attempt's end", Some(cancel), || self.store.update_attempt(id, n, update.clone()))
            .await?;
        telemetry::attempt_finished(self.backend.name(), ending.reason.status(), began.elapsed());
        self.breaker.record(&ending.reason);
        let cancelled_by = (cancel.is_cancelled() && !cancel.is_lease_lost()).then(|| cancel.by());
        match ride_out("deciding on a retry", Some(cancel), || {
            self.decide(id, ending.reason.clone(), cancelled_by.clone())
        })
        .await?
        {
            Decision::Retry { run_at } => {
                let record = match &fence {
                    Some(f) => {
                        let queued = ride_out("queueing the retry", Some(cancel), || {
                            self.queue_retry(id, f, &ending.reason, run_at, now)
                        });
                        let record = queued.await?;
                        if record.status.is_terminal() {
                            return Ok((record, None)); // the cancel won
                        }
                        record
                    }
                    None => self.store.set_status(id, StatusChange::to(JobStatus::Queued, now)).await?,
                };
                // After the retry is queued (a refused one is not announced), so without the
                // lease it just gave up: the note is about the job, not the attempt's output.
                let note = serde_json::json!({"after": ending.reason.to_string(), "run_at": run_at.0});
                if let Err(e) = self.store.append_event(id, None, "retry", note, self.clock.now()).await {
                    tracing::warn!(job = %id, "event write failed: {e}");
                }
                Ok((record, Some(run_at)))
            }
            Decision::End(reason) => {
                let code = if reason == ending.reason { ending.exit_code } else { None };
                let end = StatusChange::end(reason, code, now).fenced(fence);
                Ok((
                    ride_out("recording the job's end", Some(cancel), || self.store.set_status(id, end.clone()))
                        .await?,
                    None,
                ))
            }
        }
    }

    /// Puts a leased job back in the queue for its next attempt, unless a cancel landed after
    /// the retry was decided (`retry_later` refuses it): then it ends `cancelled`. Returns
    /// the job as recorded either way.
    pub(crate) async fn queue_retry(
        &self,
        id: &JobId,
        fence: &Fence,
        after: &Reason,
        run_at: berth_core::clock::Timestamp,
        now: berth_core::clock::Timestamp,
    ) -> StoreResult<JobRecord> {
        match self.store.retry_later(id, fence, after, run_at, now).await {
            Err(StoreError::Conflict(_)) => {
                let by = self.store.get_job(id).await?.cancel_requested.unwrap_or_else(|| "api".into());
                let end = StatusChange::end(Reason::Cancelled { by }, None, now).fenced(Some(fence.clone()));
                self.store.set_status(id, end).await
            }
            done => done,
        }
    }

    /// Asks the job's retry policy what follows an attempt that ended with `reason`. A cancel
    /// (`cancelled_by` here, or one asked of the worker through the store) wins over a retry.
    pub async fn decide(&self, id: &JobId, reason: Reason, cancelled_by: Option<String>) -> StoreResult<Decision> {
        let job = self.store.get_job(id).await?;
        let attempts = self.store.list_attempts(id).await?;
        let unreachable = attempts
            .iter()
            .filter(|a| matches!(a.reason, Some(Reason::Infra { infra: InfraKind::DaemonUnavailable, .. })))
            .count() as u32;
        let history = History {
            attempts: job.attempts,
            unreachable,
            created_at: job.created_at,
            now: self.clock.now(),
            total: job.spec.timeouts.total.as_ref().map(|t| t.0),
            random: jitter_sample(),
        };
        // The attempt keeps its true end; the job's is the cancel.
        match (job.spec.retries.decide(reason, history), cancelled_by.or(job.cancel_requested)) {
            (Decision::Retry { .. }, Some(by)) => Ok(Decision::End(Reason::Cancelled { by })),
            (d, _) => Ok(d),
        }
    }

    async fn drive(&self, job: &JobRecord, n: u32, io: AttemptIo, cancel: &Cancel) -> Ending {
        let live = io.stdin.is_live();
        let (spec, secrets, policy) = match self.prepare_attempt(job, live).await {
            Ok(prepared) => prepared,
            Err(ending) => return ending,
        };
        let stdin = io.stdin.feeds_stdin();
        let created = match self.create(job, n, &spec, (io.pull.as_ref(), secrets, &policy), stdin, cancel).await {
            Ok(created) => created,
            Err(ending) => return ending,
        };
        let unit = created.unit.clone();
        let ending = self.supervise(job, n, &spec, created, io, cancel).await;
        if !ending.detached {
            self.remove(job, n, &unit).await;
        }
        ending
    }

    /// What may have changed since submit, checked again here: this worker's backend and
    /// the tenant's policy; then the spec as it runs (defaults under the ceilings, volumes
    /// scoped to the tenant) and the job's secrets, opened.
    async fn prepare_attempt(
        &self,
        job: &JobRecord,
        live: bool,
    ) -> Result<(JobSpec, Vec<SecretInput>, Policy), Ending> {
        if let Some(by) = &job.cancel_requested {
            return Err(Ending::new(Reason::Cancelled { by: by.clone() }, None));
        }
        if let Err(errors) = berth_core::capabilities::check_backend(self.backend.as_ref(), &job.spec, live) {
            return Err(Ending::infra(InfraKind::CreateFailed, errors.to_string()));
        }
        match self.missing_runtime(&job.spec).await {
            Ok(None) => {}
            Ok(Some(missing)) => return Err(Ending::infra(InfraKind::CreateFailed, missing.to_string())),
            Err(e) => return Err(Ending::backend(&e)),
        }
        let policy = self.policy_for(&job.tenant).await.map_err(|e| Ending::store(&e))?;
        if let Err(denied) = policy.check_with(&job.spec, &real_path) {
            return Err(Ending::new(Reason::PolicyDenied { message: denied.to_string() }, None));
        }
        let mut spec = policy.effective(&self.defaults, &job.spec);
        berth_core::volumes::scope(&mut spec, &job.tenant);
        for m in &job.spec.mounts {
            if let berth_core::spec::Mount::Volume { source, .. } = m
                && let Err(e) = self.store.touch_volume(&job.tenant, source, self.clock.now()).await
            {
                tracing::warn!(job = %job.id, "recording that volume {source} is in use failed: {e}");
            }
        }
        let secrets = self.open_secrets(&job.spec, &job.tenant, &policy).await;
        let secrets = secrets.map_err(|m| Ending::infra(InfraKind::CreateFailed, format!("secrets: {m}")))?;
        Ok((spec, secrets, policy))
    }

    async fn create(
        &self,
        job: &JobRecord,
        n: u32,
        spec: &JobSpec,
        (pull, secrets, policy): (&dyn PullObserver, Vec<SecretInput>, &Policy),
        stdin: bool,
        cancel: &Cancel,
    ) -> Result<Created, Ending> {
        let cancelled = || Ending::new(cancel.reason(), None);
        let image = tokio::select! {
            r = self.image_for(job, spec, pull) => r.map_err(|e| Ending::backend(&e))?,
            _ = cancel.cancelled() => return Err(cancelled()),
        };
        // Bind sources once more, after a pull that may have taken minutes: the host's paths
        // are looked at as close to create as berth can.
        if let Err(denied) = policy.check_binds(&job.spec, &real_path) {
            return Err(Ending::new(Reason::PolicyDenied { message: denied.to_string() }, None));
        }
        let mut plan = self.plan(job, n, spec, stdin);
        plan.secrets = secrets;
        // The ledger row exists before the engine call: a crash in between leaves a trace.
        self.ledger(job, n, &plan.name, None, ContainerPhase::Planned).await;
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let creating = Instant::now();
        let unit = match self.backend.create(&plan).await {
            Ok(unit) => unit,
            Err(e) => {
                // The engine may have made it before failing to answer: remove by name.
                self.remove(job, n, &UnitHandle { id: String::new(), name: plan.name.clone() }).await;
                return Err(Ending::backend(&e));
            }
        };
        self.ledger(job, n, &unit.name, Some(&unit.id), ContainerPhase::Created).await;
        let update = AttemptUpdate {
            container_id: Some(unit.id.clone()),
            image_digest: image.digest,
            ..AttemptUpdate::default()
        };
        if let Err(e) = self.store.update_attempt(&job.id, n, AttemptUpdate { fence: fence_of(job), ..update }).await {
            self.remove(job, n, &unit).await;
            return Err(Ending::store(&e));
        }
        Ok(Created { unit, creating, secrets: plan.secrets })
    }

    fn plan(&self, job: &JobRecord, n: u32, spec: &JobSpec, stdin: bool) -> AttemptPlan {
        AttemptPlan {
            job_id: job.id.clone(),
            attempt: n,
            spec: spec.clone(),
            name: unit_name(&job.id, n),
            install_id: self.install_id.clone(),
            owner: self.owner.clone(),
            tenant: job.tenant.clone(),
            berth_env: BTreeMap::from([
                ("BERTH_JOB_ID".to_string(), job.id.to_string()),
                ("BERTH_ATTEMPT".to_string(), n.to_string()),
                ("BERTH_OUTPUT_DIR".to_string(), OUTPUT_MOUNT.to_string()),
                ("BERTH_WORKSPACE_DIR".to_string(), spec.workspace_dir.clone()),
            ]),
            stdin,
            secrets: Vec::new(),
        }
    }

    async fn supervise(
        &self,
        job: &JobRecord,
        n: u32,
        spec: &JobSpec,
        created: Created,
        io: AttemptIo,
        cancel: &Cancel,
    ) -> Ending {
        let Created { unit, creating, secrets } = created;
        let unit = &unit;
        let fence = fence_of(job);
        if let Some(ending) = self.cancelled_before_start(job, cancel).await {
            return ending;
        }
        // A start can wait long (a Kubernetes pod for a node or its image): a cancel ends
        // the wait, and the unit is removed like any other.
        let started = tokio::select! {
            started = self.backend.start(unit, io.stdin) => match started {
                Ok(s) => s,
                Err(e) => return Ending::backend(&e),
            },
            _ = cancel.cancelled() => return Ending::new(cancel.reason(), None),
        };
        telemetry::container_started(self.backend.name(), creating.elapsed());
        let now = self.clock.now();
        self.ledger(job, n, &unit.name, Some(&unit.id), ContainerPhase::Started).await;
        let running = self.record_running(job, now, fence, cancel).await;
        let update = AttemptUpdate { started_at: Some(now), ..AttemptUpdate::default() };
        let update = AttemptUpdate { fence: fence_of(job), ..update };
        let begun =
            ride_out("recording the start", Some(cancel), || self.store.update_attempt(&job.id, n, update.clone()))
                .await;
        let recorder = match (running, begun) {
            (Ok(record), Ok(())) => {
                io.observer.running(&record);
                self.recorder(job, n, spec, &secrets).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let limit = self.run_limit(job, spec, None);
        let watched = Watched { output: started.output, exit: started.exit, recorder, observer: io.observer, limit };
        self.watch(job, n, spec, unit, watched, cancel).await
    }

    /// Records that the job runs, riding out a short outage. A try whose commit landed but
    /// whose answer was lost makes the next one a `Transition`: the job is already running
    /// under this lease, which is what was asked.
    async fn record_running(
        &self,
        job: &JobRecord,
        now: berth_core::clock::Timestamp,
        fence: Option<Fence>,
        cancel: &Cancel,
    ) -> StoreResult<JobRecord> {
        let token = fence.as_ref().map(|f| f.token);
        let running = StatusChange::to(JobStatus::Running, now).fenced(fence);
        let recorded =
            ride_out("recording that the job runs", Some(cancel), || self.store.set_status(&job.id, running.clone()));
        match recorded.await {
            Err(StoreError::Transition(e)) => match self.store.get_job(&job.id).await {
                Ok(now) if now.status == JobStatus::Running && now.lease.as_ref().map(|l| l.token) == token => Ok(now),
                _ => Err(StoreError::Transition(e)),
            },
            done => done,
        }
    }

    /// A cancel that came while the unit was made (a pull, a create) wins before anything
    /// runs: this node's, or one another node stored (the heartbeat would carry it only a
    /// third of a lease later).
    async fn cancelled_before_start(&self, job: &JobRecord, cancel: &Cancel) -> Option<Ending> {
        if cancel.is_cancelled() {
            return Some(Ending::new(cancel.reason(), None));
        }
        let asked = self.store.get_job(&job.id).await.ok()?.cancel_requested?;
        Some(Ending::new(Reason::Cancelled { by: asked }, None))
    }

    /// Supervises a started unit until it exits, times out, is cancelled or detached.
    pub(crate) async fn watch(
        &self,
        job: &JobRecord,
        n: u32,
        spec: &JobSpec,
        unit: &UnitHandle,
        w: Watched,
        cancel: &Cancel,
    ) -> Ending {
        let (limit, phase) = w.limit;
        let stop_pump = CancellationToken::new();
        let detach_pump = CancellationToken::new();
        let pumped = (stop_pump.clone(), detach_pump.clone());
        let observer = w.observer.clone();
        let pump = w.recorder.map(|rec| tokio::spawn(pump(w.output, rec, w.observer.clone(), pumped)));
        let mut exit = w.exit;
        let stop_reason = tokio::select! {
            r = &mut exit => {
                observer.exited();
                let done = Supervised { stop_reason: None, exit: r, pump, stop_pump };
                return self.finish(job, n, spec, unit, done).await;
            }
            _ = tokio::time::sleep(limit) => Reason::TimedOut { phase },
            _ = cancel.cancelled() => cancel.reason(),
            _ = cancel.detached() => {
                // Store what was read, and the cursor; the next run of this worker reads on
                // from there (held-back bytes stay held: they are in the cursor).
                detach_pump.cancel();
                stop_pump.cancel();
                let _ = drain(pump, stop_pump).await;
                return Ending::detached();
            }
            // Nothing can be recorded: stop the container rather than run it unrecorded.
            _ = async {}, if pump.is_err() => Reason::Infra { infra: InfraKind::StoreFailed, message: "the store failed while starting".into() },
        };
        self.event(job, "stopping", serde_json::json!({"reason": stop_reason.to_string()})).await;
        let signal = spec.stop_signal.as_deref();
        if let Err(e) = self.backend.stop(unit, signal, spec.timeouts.stop_grace.0).await {
            self.event(job, "warning", serde_json::json!({"message": format!("stopping the container: {e}")})).await;
        }
        // Bounded: an engine that lost the container must not hold the attempt forever.
        let bound = spec.timeouts.stop_grace.0 + STOPPED_EXIT_WAIT;
        let exit = tokio::time::timeout(bound, exit).await.unwrap_or_else(|_| {
            Err(BackendError::Engine(format!("the unit did not exit within {}s of being stopped", bound.as_secs())))
        });
        observer.exited();
        let done = Supervised { stop_reason: Some(stop_reason), exit, pump, stop_pump };
        self.finish(job, n, spec, unit, done).await
    }

    /// The run timeout (less what already ran since `started`, for a reattached unit), or
    /// what is left of the total timeout if that comes first.
    pub(crate) fn run_limit(
        &self,
        job: &JobRecord,
        spec: &JobSpec,
        started: Option<berth_core::clock::Timestamp>,
    ) -> (Duration, TimeoutPhase) {
        let ran = started.map_or(0, |t| (self.clock.now().0 - t.0).max(0) as u64);
        let run = (spec.timeouts.run.0.saturating_sub(Duration::from_millis(ran)), TimeoutPhase::Run);
        let Some(total) = &spec.timeouts.total else { return run };
        let deadline = job.created_at.0 + total.0.as_millis() as i64;
        let left = Duration::from_millis((deadline - self.clock.now().0).max(0) as u64);
        if left < run.0 { (left, TimeoutPhase::Total) } else { run }
    }

    async fn finish(&self, job: &JobRecord, n: u32, spec: &JobSpec, unit: &UnitHandle, done: Supervised) -> Ending {
        let logs = drain(done.pump, done.stop_pump).await;
        self.ledger(job, n, &unit.name, Some(&unit.id), ContainerPhase::Finished).await;
        self.collect(job, n, spec, unit).await;
        let ending = match (done.stop_reason, &done.exit) {
            (Some(reason), Ok(e)) => Ending::new(reason, Some(e.code)),
            (Some(reason), Err(_)) => Ending::new(reason, None),
            (None, Ok(e)) if e.deadline_exceeded => {
                Ending::new(Reason::TimedOut { phase: TimeoutPhase::Run }, Some(e.code))
            }
            (None, Ok(e)) => Ending::new(Reason::from_exit(e.code, e.oom_killed), Some(e.code)),
            (None, Err(e)) => Ending::backend(e),
        };
        if let Ok(e) = &done.exit {
            let update =
                AttemptUpdate { peak_memory: e.peak_memory, cpu_seconds: e.cpu_seconds, ..AttemptUpdate::default() };
            let _ = self.store.update_attempt(&job.id, n, AttemptUpdate { fence: fence_of(job), ..update }).await;
        }
        match logs {
            // Output that could not be stored makes the record untrustworthy: say so.
            Err(e) if matches!(ending.reason.status(), JobStatus::Succeeded) => Ending::store(&e),
            _ => ending,
        }
    }

    /// The attempt's log recorder, masking `secrets` out of what the job prints.
    pub(crate) async fn recorder(
        &self,
        job: &JobRecord,
        n: u32,
        spec: &JobSpec,
        secrets: &[SecretInput],
    ) -> StoreResult<LogRecorder> {
        let next = ride_out("reading the log's end", None, || self.store.next_log_seq(&job.id)).await?;
        let recorder =
            LogRecorder::new(self.store.clone(), self.clock.clone(), job.id.clone(), n, spec.output.log_cap.0, next)
                .events_by(&spec.output.event_key);
        let values: Vec<&[u8]> = secrets.iter().map(|s| s.value.0.as_slice()).collect();
        Ok(recorder.fenced(fence_of(job)).redacting(&values))
    }

    /// Reads what the job left through the backend and stores the result and artifacts
    /// (with their bytes) so that any node serves them.
    pub(crate) async fn collect(&self, job: &JobRecord, n: u32, spec: &JobSpec, unit: &UnitHandle) {
        let limits = &spec.output;
        let collected = match self.backend.collect(unit, OutputPicker::new(limits)).await {
            Ok(entries) => outputs::select(entries, n, limits),
            Err(e) => {
                let message = format!("the job's outputs could not be read: {e}");
                outputs::Collected { warnings: vec![message], ..outputs::Collected::default() }
            }
        };
        for w in &collected.warnings {
            self.event(job, "warning", serde_json::json!({"message": w})).await;
        }
        if (collected.result.is_some() || !collected.artifacts.is_empty())
            && let Err(e) =
                self.store.set_result(&job.id, fence_of(job).as_ref(), collected.result, &collected.artifacts).await
        {
            self.event(job, "warning", serde_json::json!({"message": format!("recording the result: {e}")})).await;
        }
    }

    pub(crate) async fn remove(&self, job: &JobRecord, n: u32, unit: &UnitHandle) {
        let id = (!unit.id.is_empty()).then_some(unit.id.as_str());
        match self.backend.remove(unit).await {
            Ok(()) => self.ledger(job, n, &unit.name, id, ContainerPhase::Removed).await,
            // The unit is gone; only its staged files are left (for the sweep to retry).
            Err(e @ BackendError::Files(_)) => {
                self.ledger(job, n, &unit.name, id, ContainerPhase::Removed).await;
                self.event(job, "warning", serde_json::json!({"message": e.to_string()})).await;
            }
            Err(e) => {
                let message = format!("container {} could not be removed ({e}); `berth gc` will retry", unit.name);
                self.event(job, "warning", serde_json::json!({"message": message})).await;
            }
        }
    }

    async fn ledger(&self, job: &JobRecord, n: u32, name: &str, id: Option<&str>, phase: ContainerPhase) {
        let event = ContainerEvent {
            name: name.to_string(),
            container_id: id.map(str::to_string),
            job_id: job.id.clone(),
            attempt: n,
            backend: self.backend.name().to_string(),
            phase,
            at: self.clock.now(),
        };
        if let Err(e) = self.store.record_container(event).await {
            tracing::warn!(job = %job.id, "container ledger write failed: {e}");
        }
    }

    pub(crate) async fn event(&self, job: &JobRecord, kind: &str, data: serde_json::Value) {
        if let Err(e) = self.store.append_event(&job.id, fence_of(job).as_ref(), kind, data, self.clock.now()).await {
            tracing::warn!(job = %job.id, "event write failed: {e}");
        }
    }
}

/// The fence of a claimed job's writes (none for a local job).
/// A created unit, and what its supervision needs from the preparation.
struct Created {
    unit: UnitHandle,
    creating: Instant,
    secrets: Vec<SecretInput>,
}

/// Where a bind mount's source really is on this node (symlinks followed), if it exists.
fn real_path(source: &str) -> Option<String> {
    std::fs::canonicalize(source).ok().and_then(|p| p.to_str().map(str::to_string))
}

/// The unit of attempt `n` of a job: its container's (or Job's) name, unique per attempt.
pub(crate) fn unit_name(job: &JobId, n: u32) -> String {
    format!("berth-{}-{n}", job.short())
}

fn fence_of(job: &JobRecord) -> Option<Fence> {
    job.lease.as_ref().map(Lease::fence)
}

/// A number in [0, 1) for retry jitter (std's randomly keyed hasher as the random source).
fn jitter_sample() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits % 1_000_000) as f64 / 1_000_000.0
}

/// Waits for the pump to finish on its own (the output stream ends shortly after the exit),
/// then tells it to stop reading; either way it flushes what it has.
async fn drain(pump: StoreResult<JoinHandle<StoreResult<()>>>, stop: CancellationToken) -> StoreResult<()> {
    let mut handle = pump?;
    let joined = match tokio::time::timeout(DRAIN_GRACE, &mut handle).await {
        Ok(j) => j,
        Err(_) => {
            stop.cancel();
            handle.await
        }
    };
    joined.unwrap_or_else(|e| Err(StoreError::Unavailable(format!("log recorder: {e}"))))
}

/// Moves output from the container to the observer and the recorder until the stream ends
/// or `stop` is cancelled, flushing at least every `FLUSH_INTERVAL`. Detached (`stop` with
/// `detach`), it only flushes: what it holds back is the next worker's to finish.
async fn pump(
    mut output: BoxStream<'static, Result<OutputChunk, BackendError>>,
    mut rec: LogRecorder,
    observer: Arc<dyn AttemptObserver>,
    (stop, detach): (CancellationToken, CancellationToken),
) -> StoreResult<()> {
    let mut last_flush = Instant::now();
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(FLUSH_INTERVAL, output.next()) => next,
            _ = stop.cancelled() => break,
        };
        match next {
            Err(_) => {}
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(chunk))) => show(observer.as_ref(), rec.push(chunk.stream, &chunk.data).await?),
        }
        if last_flush.elapsed() >= rec.flush_interval() {
            rec.flush_or_hold().await?;
            last_flush = Instant::now();
        }
    }
    if detach.is_cancelled() {
        return rec.flush().await;
    }
    show(observer.as_ref(), rec.finish().await?);
    Ok(())
}

fn show(observer: &dyn AttemptObserver, shown: Vec<Shown>) {
    for s in shown {
        match s {
            Shown::Log(stream, bytes) => observer.output(stream, &bytes),
            Shown::Event(ev) => observer.event(&ev),
        }
    }
}

#[cfg(test)]
#[path = "attempt_tests.rs"]
mod tests;
