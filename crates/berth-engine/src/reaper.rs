//! A worker's housekeeping: the lease reaper, queue and total timeouts of waiting jobs, the
//! container sweep and retention. Every server and worker runs it; the store's fencing makes
//! running it on many nodes at once safe (one write wins, the others change nothing).

use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::retry::Decision;
use berth_core::status::{JobStatus, Reason, TimeoutPhase};
use berth_core::store::{AttemptUpdate, ContainerEvent, ContainerPhase, Fence, JobFilter, JobRecord, StatusChange};

use crate::worker::Worker;

/// A lease must have run out this long, plus the job's stop grace, before it is reaped: a
/// worker that could not renew it starts stopping its container before expiry, and the stop
/// takes at most the grace, so the container is down before another node retries the job.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// What one janitor tick did (`Worker::tick`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JanitorTick {
    /// Queued jobs that ended `timed_out` (queue or total timeout).
    pub timed_out: usize,
    /// Expired leases this worker took over and retried or ended.
    pub reaped: usize,
    /// Whether the container sweep and retention ran.
    pub swept: bool,
}

impl Worker {
    /// The housekeeping loop: a sweep at start, then a `tick` every second (reaping every
    /// other one) until shutdown. All the work is in `tick`.
    pub(crate) async fn janitor(self) {
        self.sweep().await;
        self.last_gc.store(self.runner.clock.now().0, std::sync::atomic::Ordering::SeqCst);
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.shutdown.cancelled() => return,
            }
            n += 1;
            self.tick(n.is_multiple_of(2)).await;
        }
    }

    /// One round of housekeeping at the runner's clock: queued jobs past their timeouts end;
    /// with `reap`, leases expired for more than `REAP_GRACE` are taken over and their jobs
    /// retried or ended; the sweep and retention run once `gc_interval` has passed since the
    /// last. Tests drive it with a `FixedClock`, without sleeping.
    pub async fn tick(&self, reap: bool) -> JanitorTick {
        let mut done = JanitorTick { timed_out: self.expire_queued().await, ..JanitorTick::default() };
        if reap {
            done.reaped = self.reap().await;
        }
        let now = self.runner.clock.now().0;
        let last = self.last_gc.load(std::sync::atomic::Ordering::SeqCst);
        if now - last >= self.config.gc_interval.as_millis() as i64 {
            self.sweep().await;
            self.prune().await;
            self.last_gc.store(now, std::sync::atomic::Ordering::SeqCst);
            done.swept = true;
        }
        done
    }

    /// Jobs of a previous run of this worker (same id) still marked as running here. Those
    /// whose container is still there (running, or exited meanwhile) under a live lease are
    /// reattached (an upgrade does not kill jobs); the others are stopped and retried or
    /// lost, without waiting for the lease.
    pub(crate) async fn recover(&self) {
        let mine = JobFilter {
            statuses: vec![JobStatus::Starting, JobStatus::Running],
            owner: Some(self.config.id.clone()),
            ..JobFilter::default()
        };
        let Ok(jobs) = self.runner.store.list_jobs(&mine).await else { return };
        // Without the engine's list nothing can be told apart: leave the jobs to their leases
        // (the reaper takes them over at expiry) rather than give up jobs that still run.
        let units = match self.runner.backend.list_units(&self.runner.install_id).await {
            Ok(units) => units,
            Err(e) => {
                tracing::warn!("not recovering this worker's previous jobs now: the backend does not answer ({e})");
                return;
            }
        };
        let now = self.runner.clock.now();
        let reattach = self.runner.backend.capabilities().reattach;
        for job in jobs {
            let live = job.lease.as_ref().is_some_and(|l| l.expires_at > now) && job.status == JobStatus::Running;
            let live = live && reattach;
            let unit = units.iter().find(|u| {
                // An exited container is reattached too: its output and exit code are still
                // there, so the attempt ends with the truth instead of `worker_lost`.
                let started = u.state.started();
                u.job_id.as_ref() == Some(&job.id) && u.attempt == Some(job.attempts) && started
            });
            match unit {
                Some(u) if live => {
                    // A fresh token first: the previous run, if it still writes, is fenced off.
                    let Some(job) = self.take_over(&job, None).await else { continue };
                    tracing::info!(job = %job.id, "reattaching to {} left by this worker's previous run", u.handle.name);
                    self.reattach(job, u.handle.clone());
                }
                _ => {
                    tracing::info!(job = %job.id, "found from a previous run of this worker: stopping it");
                    let _ = self.give_up(&job, None).await;
                }
            }
        }
    }

    /// Expired leases: their worker is gone (or cut off and has stopped). Removes their
    /// containers where this worker's engine can see them, then retries or ends each job;
    /// returns how many it settled.
    async fn reap(&self) -> usize {
        let now = self.runner.clock.now();
        let cutoff = Timestamp(now.0 - REAP_GRACE.as_millis() as i64);
        let Ok(expired) = self.runner.store.expired_leases(cutoff, 100).await else { return 0 };
        let mut reaped = 0;
        for job in expired {
            // The query waited the job's stop grace past expiry; the take-over checks the same.
            let by = Timestamp(cutoff.0 - job.spec.timeouts.stop_grace.0.as_millis() as i64);
            tracing::warn!(job = %job.id, owner = ?job.owner, "lease expired: reaping");
            reaped += usize::from(self.give_up(&job, Some(by)).await);
        }
        reaped
    }

    /// Takes the job's lease over (fencing off whoever held it), removes what is left of its
    /// current attempt, and applies its retry policy with `worker_lost`; true when it did.
    async fn give_up(&self, job: &JobRecord, expired_by: Option<Timestamp>) -> bool {
        let Some(job) = self.take_over(job, expired_by).await else { return false };
        // At most one attempt at a time: no retry until the old container is surely gone
        // from this engine. If the engine does not answer, this lease runs out and a reaper
        // (maybe this one) takes over again later.
        if let Err(e) = self.remove_units_of(&job.id).await {
            tracing::warn!(job = %job.id, "not reaped yet: its container may still run ({e})");
            return false;
        }
        let Some(fence) = job.lease.as_ref().map(|l| l.fence()) else { return false };
        let now = self.runner.clock.now();
        if job.attempts > 0 {
            let update = AttemptUpdate {
                fence: Some(fence.clone()),
                finished_at: Some(now),
                reason: Some(Reason::WorkerLost),
                ..Default::default()
            };
            // Fenced by the lease just taken over: if another node took it meanwhile, this
            // node must not touch the job at all.
            if let Err(e) = self.runner.store.update_attempt(&job.id, job.attempts, update).await {
                tracing::info!(job = %job.id, "not reaped: {e}");
                return false;
            }
        }
        let written = match self.runner.decide(&job.id, Reason::WorkerLost, None).await {
            Ok(Decision::Retry { run_at }) => {
                self.runner.queue_retry(&job.id, &fence, &Reason::WorkerLost, run_at, now).await.map(|_| ())
            }
            Ok(Decision::End(reason)) => {
                let end = StatusChange::end(reason, None, now).fenced(Some(fence));
                self.runner.store.set_status(&job.id, end).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(job = %job.id, "not reaped: {e}");
                false
            }
        }
    }

    /// The job with its lease taken over by this worker, or `None` if the lease moved on
    /// (renewed, or reaped by another node).
    pub(crate) async fn take_over(&self, job: &JobRecord, expired_by: Option<Timestamp>) -> Option<JobRecord> {
        let lease = job.lease.as_ref()?;
        let fence = Fence { expired_by, ..lease.fence() };
        let until = Timestamp(self.runner.clock.now().0 + self.config.lease.as_millis() as i64);
        match self.runner.store.take_over(&job.id, &fence, &self.config.id, until).await {
            Ok(taken) => Some(taken),
            Err(e) => {
                tracing::info!(job = %job.id, "left alone: {e}");
                None
            }
        }
    }

    /// Removes (kills) every container of the job on this worker's engine.
    async fn remove_units_of(&self, id: &JobId) -> Result<(), berth_core::backend::BackendError> {
        let r = &self.runner;
        let units = r.backend.list_units(&r.install_id).await?;
        for unit in units.into_iter().filter(|u| u.job_id.as_ref() == Some(id)) {
            r.backend.remove(&unit.handle).await?;
            let Some(attempt) = unit.attempt else { continue };
            let event = ContainerEvent {
                name: unit.handle.name.clone(),
                container_id: Some(unit.handle.id.clone()),
                job_id: id.clone(),
                attempt,
                backend: r.backend.name().to_string(),
                phase: ContainerPhase::Removed,
                at: r.clock.now(),
            };
            let _ = r.store.record_container(event).await;
        }
        Ok(())
    }

    /// Queued jobs past their queue timeout (or total timeout) end without running; returns
    /// how many.
    async fn expire_queued(&self) -> usize {
        let now = self.runner.clock.now();
        let Ok(queued) = self.runner.store.overdue_queued(now, 200).await else { return 0 };
        let mut ended = 0;
        for job in queued {
            // The store's deadline decided that it is over; this only names which timeout.
            let due = job.spec.due_at(job.created_at).0;
            let queue_over = job.spec.timeouts.queue.as_ref().is_some_and(|d| now.0 - due >= d.0.as_millis() as i64);
            let phase = if job.attempts == 0 && queue_over { TimeoutPhase::Queue } else { TimeoutPhase::Total };
            let end = StatusChange::end(Reason::TimedOut { phase }, None, now).only_from(JobStatus::Queued);
            // Claimed meanwhile: it started in time after all (the write is refused).
            ended += usize::from(self.runner.store.set_status(&job.id, end).await.is_ok());
        }
        ended
    }

    async fn sweep(&self) {
        match self.runner.sweep(false).await {
            Ok(r) if !r.removed.is_empty() || !r.lost.is_empty() => {
                tracing::info!("gc: removed {} container(s), {} job(s) lost", r.removed.len(), r.lost.len())
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("gc failed: {e}"),
        }
        match self.runner.sweep_dirs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("gc: removed {n} output dir(s) of deleted jobs"),
            Err(e) => tracing::warn!("gc of output dirs failed: {e}"),
        }
    }

    /// Retention: deletes finished jobs older than the configured age, with their files.
    async fn prune(&self) {
        let Some(age) = self.config.retention else { return };
        let before = Timestamp(self.runner.clock.now().0 - age.as_millis() as i64);
        match self.runner.prune(before, true).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("retention: deleted {n} finished job(s)"),
            Err(e) => tracing::warn!("retention failed: {e}"),
        }
        match self.runner.prune_volumes(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("retention: removed {n} volume(s) no job used since"),
            Err(e) => tracing::warn!("volume retention failed: {e}"),
        }
    }
}
