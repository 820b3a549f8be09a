//! A worker: `slots` jobs at a time, claimed from the store under leases and run, plus its
//! housekeeping. Used by `berth worker` and by `berth server`'s local pool alike.
//!
//! - Claims go through `JobStore::claim_batch` (queues, tags, limits), up to the free slots
//!   at once (`claims.rs`); an idle worker sleeps in `wait_for_work`, which a submission
//!   anywhere wakes.
//! - Every running job's lease is renewed every third of its length; a renewal refused
//!   (`Fenced`: reaped, or cancelled elsewhere) or impossible until expiry stops the attempt
//!   here, so a worker that lost its lease stops its container and writes nothing.
//! - The circuit breaker pauses claiming while the engine is unreachable.
//! - SIGTERM (the `shutdown` token) drains: no more claims, running jobs get the grace, then
//!   they are cancelled and recorded as `cancelled(worker-shutdown)`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::backend::{NoProgress, StdinSource};
use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::store::{JobRecord, StoreError, WorkerRecord};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Runner;
use crate::attempt::{AttemptIo, AttemptObserver};
use crate::breaker::Breaker;
use crate::cancel::Cancel;
use crate::slots::{SlotHolder, Slots};

/// Recorded as who cancelled jobs still running when the shutdown grace ran out.
pub const SHUTDOWN_ACTOR: &str = "worker-shutdown";
/// An idle worker looks for work at least this often (due times pass without a wake-up).
pub(crate) const IDLE_POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Stable across restarts (the data dir keeps it): the lease owner and container label.
    pub id: String,
    pub slots: usize,
    pub queues: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    pub shutdown_grace: Duration,
    /// How often the container sweep runs.
    pub gc_interval: Duration,
    /// Finished jobs older than this are deleted with their outputs (`None`: kept).
    pub retention: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: crate::owner::current(),
            slots: 2,
            queues: vec![berth_core::spec::DEFAULT_QUEUE.to_string()],
            tags: BTreeMap::new(),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            gc_interval: Duration::from_secs(60),
            retention: None,
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    pub runner: Runner,
    pub config: Arc<WorkerConfig>,
    /// Cancel handles of the jobs this worker runs.
    pub running: Arc<Mutex<HashMap<JobId, Cancel>>>,
    pub breaker: Arc<Breaker>,
    pub shutdown: CancellationToken,
    pub started_at: Timestamp,
    /// Set by `handover`: shutting down leaves running containers to the next run.
    handing_over: Arc<std::sync::atomic::AtomicBool>,
    /// Attempts resumed from a previous run (they run beside the slots).
    reattached: Arc<Mutex<JoinSet<()>>>,
    /// When the sweep last ran (epoch ms, the runner's clock).
    pub(crate) last_gc: Arc<std::sync::atomic::AtomicI64>,
    /// One permit a slot, held by an attempt until its unit ends (see `claims`).
    pub(crate) slots: Arc<Slots>,
}

/// What one heartbeat did (`Worker::beat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Beat {
    /// The lease now runs out at this time.
    Renewed(Timestamp),
    /// Renewed to this time, and someone asked to cancel the job: stop it (keeping the lease
    /// renewed while the attempt stops and records its end).
    CancelRequested(Timestamp, String),
    /// Not renewed this time (the store failed), but there is time to try again.
    Retry,
    /// Another holder has it (a take-over), or the job ended elsewhere.
    Lost,
    /// Not renewable before it runs out: stop rather than run unleased.
    RunsOut,
}

/// What one claim step of a slot did (`Worker::step`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotStep {
    /// Claimed this job and ran its attempt to its end (or back to the queue).
    Ran(JobId),
    /// Nothing claimable (or the claim failed): wait for work.
    Idle,
    /// The circuit breaker is open: the engine is not answering.
    Paused,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("config", &self.config).finish()
    }
}

struct Quiet;
impl AttemptObserver for Quiet {}

impl Worker {
    /// A worker over `runner`; its attempts are owned by `config.id`.
    pub fn new(mut runner: Runner, config: WorkerConfig, shutdown: CancellationToken) -> Worker {
        runner.owner = config.id.clone();
        let started_at = runner.clock.now();
        let slots = config.slots;
        Worker {
            breaker: runner.breaker.clone(),
            runner,
            config: Arc::new(config),
            running: Arc::default(),
            shutdown,
            started_at,
            handing_over: Arc::default(),
            reattached: Arc::default(),
            last_gc: Arc::new(std::sync::atomic::AtomicI64::new(started_at.0)),
            slots: Arc::new(Slots::new(slots)),
        }
    }

    /// Cancels a job running here; false when it runs elsewhere or not at all.
    pub fn cancel_running(&self, id: &JobId, by: &str) -> bool {
        let running = self.running.lock().map(|m| m.get(id).cloned()).ok().flatten();
        running.map(|c| c.cancel(by)).is_some()
    }

    /// Attempts whose units run now (not those only recording their end).
    pub fn busy(&self) -> usize {
        let all = self.running.lock().map(|m| m.len()).unwrap_or(0);
        all.saturating_sub(self.slots.finishing.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Runs until `shutdown`, then drains. Registers itself when it has slots.
    pub async fn run(&self) {
        self.recover().await;
        let mut tasks = JoinSet::new();
        tasks.spawn(self.clone().janitor());
        if self.config.slots > 0 {
            tasks.spawn(self.clone().register_loop());
        }
        let mut jobs = JoinSet::new();
        if self.config.slots > 0 {
            self.claim_loop(&mut jobs).await;
        }
        self.shutdown.cancelled().await;
        let handover = self.handing_over.load(std::sync::atomic::Ordering::SeqCst);
        if handover {
            self.for_each_running(Cancel::detach);
        }
        self.drain(jobs).await;
        let reattached = self.reattached.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        self.drain(reattached).await;
        while tasks.join_next().await.is_some() {}
        if self.config.slots > 0 {
            self.register(if handover { "restarting" } else { "stopped" }).await;
        }
    }

    fn for_each_running(&self, f: impl Fn(&Cancel)) {
        let running: Vec<Cancel> = self.running.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        running.iter().for_each(f);
    }

    async fn drain(&self, mut slots: JoinSet<()>) {
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = slots.join_next() => if next.is_none() { return },
                _ = &mut grace => break,
            }
        }
        tracing::info!("shutdown grace over: stopping {} running job(s)", self.busy());
        self.for_each_running(|c| c.cancel(SHUTDOWN_ACTOR));
        while slots.join_next().await.is_some() {}
    }

    /// One claim: takes the next claimable job under a lease and runs its attempt to its
    /// end, with heartbeats. Tests call it directly, without the loop.
    pub async fn step(&self) -> SlotStep {
        if !self.breaker_allows().await {
            return SlotStep::Paused;
        }
        match self.claim_up_to(1).await.map(|mut claimed| claimed.pop()) {
            Ok(Some(job)) => {
                let id = job.id.clone();
                self.run_job(job, None).await;
                SlotStep::Ran(id)
            }
            Ok(None) => SlotStep::Idle,
            Err(e) => {
                tracing::warn!("claiming a job failed: {e}");
                SlotStep::Idle
            }
        }
    }

    pub(crate) async fn sleep(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    /// Runs a claimed job; its slot's `permit` is given back when the unit ends.
    pub(crate) async fn run_job(&self, job: JobRecord, permit: Option<tokio::sync::OwnedSemaphorePermit>) {
        self.supervised(job, None, Arc::new(SlotHolder::new(self.slots.clone(), permit))).await
    }

    /// Watches a unit left running by this worker's previous run, in the background.
    pub(crate) fn reattach(&self, job: JobRecord, unit: berth_core::backend::UnitHandle) {
        let worker = self.clone();
        let task = async move { worker.supervised(job, Some(unit), Arc::new(Quiet)).await };
        self.reattached.lock().map(|mut t| t.spawn(task)).ok();
    }

    /// Runs (or, given its unit, resumes) the job's attempt with its cancel handle
    /// registered and its lease renewed.
    async fn supervised(
        &self,
        job: JobRecord,
        unit: Option<berth_core::backend::UnitHandle>,
        observer: Arc<dyn AttemptObserver>,
    ) {
        let cancel = Cancel::new();
        if let Ok(mut m) = self.running.lock() {
            m.insert(job.id.clone(), cancel.clone());
        }
        let heartbeat = tokio::spawn(self.clone().heartbeat(job.clone(), cancel.clone()));
        let stdin = job.spec.stdin.as_ref().map_or(StdinSource::None, |s| StdinSource::Bytes(s.to_bytes()));
        let io = AttemptIo { observer, pull: Arc::new(NoProgress), stdin };
        let done = match &unit {
            Some(unit) => self.runner.resume_attempt(&job, unit, io, &cancel).await,
            None => self.runner.run_attempt(&job, io, &cancel).await,
        };
        match done {
            Ok(_) | Err(StoreError::Fenced(_)) => {}
            Err(e) => tracing::error!(job = %job.id, "recording the attempt failed: {e}"),
        }
        heartbeat.abort();
        if let Ok(mut m) = self.running.lock() {
            m.remove(&job.id);
        }
    }

    /// Hands the running jobs over to the next run of this worker (same id): stops claiming
    /// and lets go of every attempt without stopping its container, then `run` returns. The
    /// next run reattaches to them if it starts before their leases run out.
    pub fn handover(&self) {
        self.handing_over.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shutdown.cancel();
    }

    /// Renews the job's lease until aborted; stops the attempt when the lease is lost or
    /// about to run out without a renewal.
    async fn heartbeat(self, job: JobRecord, cancel: Cancel) {
        let Some(lease) = job.lease else { return };
        let fence = lease.fence();
        let mut expires = lease.expires_at;
        loop {
            tokio::time::sleep(self.config.lease / 3).await;
            match self.beat(&job.id, &fence, expires).await {
                Beat::Renewed(until) => expires = until,
                Beat::CancelRequested(until, by) => {
                    expires = until;
                    cancel.cancel(&by);
                }
                Beat::Retry => {}
                Beat::Lost | Beat::RunsOut => {
                    cancel.lose_lease();
                    return;
                }
            }
        }
    }

    /// One heartbeat of a job's lease that runs out at `expires`: renewed for another lease
    /// from now, or lost (reaped, cancelled elsewhere), or not renewable before it runs out
    /// (the store does not answer); the last two stop the attempt.
    pub async fn beat(&self, id: &JobId, fence: &berth_core::store::Fence, expires: Timestamp) -> Beat {
        let every = self.config.lease / 3;
        let now = self.runner.clock.now();
        let until = Timestamp(now.0 + self.config.lease.as_millis() as i64);
        // A store that does not answer (a cut-off connection) must not hold the beat past
        // the next one: the decision to stop has to come before the lease runs out.
        let renewed = tokio::time::timeout(every, self.runner.store.renew_lease(id, fence, until)).await;
        let renewed = renewed.unwrap_or_else(|_| Err(StoreError::Unavailable(format!("no answer within {every:?}"))));
        match renewed {
            Ok(None) => Beat::Renewed(until),
            Ok(Some(by)) => Beat::CancelRequested(until, by),
            Err(StoreError::Fenced(_)) => {
                tracing::warn!(job = %id, "lease lost (reaped or cancelled elsewhere): stopping the attempt");
                Beat::Lost
            }
            Err(e) if now.0 + every.as_millis() as i64 >= expires.0 => {
                tracing::warn!(job = %id, "lease cannot be renewed ({e}) and runs out: stopping the attempt");
                Beat::RunsOut
            }
            Err(e) => {
                tracing::warn!(job = %id, "renewing the lease failed, will retry: {e}");
                Beat::Retry
            }
        }
    }

    /// Refreshes this worker's row in the registry every couple of seconds.
    async fn register_loop(self) {
        loop {
            let state = if self.shutdown.is_cancelled() { "draining" } else { "running" };
            self.register(state).await;
            if self.shutdown.is_cancelled() && self.busy() == 0 {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = self.shutdown.cancelled(), if !self.shutdown.is_cancelled() => {}
            }
        }
    }

    async fn register(&self, state: &str) {
        let record = WorkerRecord {
            id: self.config.id.clone(),
            host: crate::owner::hostname(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            slots: self.config.slots as u32,
            queues: self.config.queues.clone(),
            tags: self.config.tags.clone(),
            started_at: self.started_at,
            heartbeat_at: self.runner.clock.now(),
            state: state.to_string(),
            running: self.busy() as u32,
            breaker: self.breaker.state().as_str().to_string(),
            backend: self.runner.backend().name().to_string(),
        };
        if let Err(e) = self.runner.store.upsert_worker(&record).await {
            tracing::warn!("worker heartbeat failed: {e}");
        }
    }
}
