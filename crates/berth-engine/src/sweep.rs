//! The orphan sweep: finds containers of this install whose owner is gone (a `berth run`
//! killed with SIGKILL, a crashed host process) and removes them, and records their jobs as
//! `worker_lost`. It runs whenever a `berth` command opens the store, and as `berth gc`.
//!
//! It never touches another install's containers (filtered by label) nor another host's
//! owners (their liveness is unknown here; leases will decide those).

use berth_core::backend::{BackendError, UnitInfo};
use berth_core::ids::JobId;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{AttemptUpdate, ContainerEvent, ContainerPhase, JobFilter, StatusChange, Store, StoreError};
use serde::Serialize;

use crate::Runner;
use crate::owner::{Liveness, liveness};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The engine could not list containers: nothing was swept.
    #[error(transparent)]
    Backend(#[from] berth_core::backend::BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, Serialize)]
pub struct SweepReport {
    /// Containers removed (or, in a dry run, that would be).
    pub removed: Vec<String>,
    /// Jobs recorded as `worker_lost`.
    pub lost: Vec<JobId>,
    /// Containers left alone because their owner is alive or elsewhere.
    pub kept: usize,
    pub errors: Vec<String>,
}

impl Runner {
    pub async fn sweep(&self, dry_run: bool) -> Result<SweepReport, SweepError> {
        let mut report = SweepReport::default();
        let units = self.backend.list_units(&self.install_id).await?;
        for unit in units {
            self.sweep_unit(unit, dry_run, &mut report).await;
        }
        let unfinished = JobFilter {
            statuses: vec![JobStatus::Queued, JobStatus::Starting, JobStatus::Running],
            ..JobFilter::default()
        };
        for job in self.store.list_jobs(&unfinished).await? {
            let dead = job.owner.as_deref().is_some_and(|o| liveness(o) == Liveness::Dead);
            if dead && !report.lost.contains(&job.id) {
                self.mark_lost(&job.id, dry_run, &mut report).await;
            }
        }
        if !dry_run && let Err(e) = self.backend.prune_staged().await {
            report.errors.push(format!("pruning staged files: {e}"));
        }
        Ok(report)
    }

    async fn sweep_unit(&self, unit: UnitInfo, dry_run: bool, report: &mut SweepReport) {
        let owner = unit.owner.as_deref().map_or(Liveness::Dead, liveness);
        let job = match &unit.job_id {
            Some(id) => match self.store.get_job(id).await {
                Ok(job) => Some(job),
                Err(StoreError::NotFound(_)) => None,
                // The store did not answer: nothing is known about the job, so its
                // container is left alone (a live job must not die of a pool timeout).
                Err(e) => {
                    report.errors.push(format!("{} left alone: the store failed ({e})", unit.handle.name));
                    report.kept += 1;
                    return;
                }
            },
            None => None,
        };
        let finished = job.as_ref().is_some_and(|j| j.status.is_terminal());
        let orphan = match owner {
            Liveness::Dead => true,
            // A live owner's container is its business, unless its job already ended (a
            // remove that failed earlier).
            Liveness::Alive => finished,
            // A worker's (leased) container: left over when its job ended, is gone, or has
            // moved on to another attempt. A running job's expired lease is the reaper's
            // (it applies the retry policy).
            Liveness::Unknown => job.as_ref().is_none_or(|j| self.left_over(j, unit.attempt)),
        };
        let leased = owner == Liveness::Unknown;
        if !orphan {
            report.kept += 1;
            return;
        }
        report.removed.push(unit.handle.name.clone());
        // A leased job's status is its worker's and the reaper's to write, never the sweep's.
        let job = job.filter(|j| !j.status.is_terminal() && !leased);
        if dry_run {
            if let Some(j) = job {
                report.lost.push(j.id);
            }
            return;
        }
        if let Err(e) = self.backend.remove(&unit.handle).await {
            report.errors.push(format!("removing {}: {e}", unit.handle.name));
            return;
        }
        crate::telemetry::gc_removed(self.backend.name(), 1);
        if let (Some(id), Some(attempt)) = (unit.job_id.clone(), unit.attempt) {
            let event = ContainerEvent {
                name: unit.handle.name.clone(),
                container_id: Some(unit.handle.id.clone()),
                job_id: id,
                attempt,
                backend: self.backend.name().to_string(),
                phase: ContainerPhase::Removed,
                at: self.clock.now(),
            };
            let _ = self.store.record_container(event).await;
        }
        if let Some(j) = job {
            self.mark_lost(&j.id, false, report).await;
        }
    }

    /// Whether a container of `attempt` has nothing left to do for `job`.
    fn left_over(&self, job: &berth_core::store::JobRecord, attempt: Option<u32>) -> bool {
        job.status.is_terminal() || job.status == JobStatus::Queued || attempt != Some(job.attempts)
    }

    /// Removes job directories whose job is no longer in the store (deleted elsewhere, or
    /// pruned by another node); returns how many. A job created after the listing is
    /// skipped by the store lookup, never removed.
    pub async fn sweep_dirs(&self) -> Result<usize, StoreError> {
        let Ok(entries) = std::fs::read_dir(self.paths.root().join("jobs")) else { return Ok(0) };
        let mut removed = 0;
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<JobId>().ok()) else { continue };
            match self.store.get_job(&id).await {
                Err(StoreError::NotFound(_)) => {
                    if std::fs::remove_dir_all(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Retention: deletes finished jobs that ended before `before`, and their files. With
    /// `paced` (the reaper's background retention), it leaves the store's writer to claims
    /// most of the time; unpaced (`berth gc`), it goes as fast as the store can.
    pub async fn prune(&self, before: berth_core::clock::Timestamp, paced: bool) -> Result<usize, StoreError> {
        let pace = if paced { RETENTION_PACE } else { 0.0 };
        prune_finished(self.store.as_ref(), before, pace, |id| {
            let _ = std::fs::remove_dir_all(self.paths.job_dir(id));
        })
        .await
    }

    /// Removes the named volumes no job mounted since `before` (one a job uses now is kept
    /// for a later round); returns how many went.
    pub async fn prune_volumes(&self, before: berth_core::clock::Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0;
        for (tenant, name) in self.store.stale_volumes(before, 100).await? {
            match self.backend.remove_volume(&self.install_id, &tenant, &name).await {
                Ok(()) => removed += 1,
                // Gone already (removed by hand): nothing left to track.
                Err(BackendError::Gone(_)) => {}
                Err(BackendError::Unsupported(_)) => return Ok(removed),
                Err(e) => {
                    tracing::info!("retention keeps tenant {tenant}'s volume {name} for now: {e}");
                    continue;
                }
            }
            self.store.forget_volume(&tenant, &name).await?;
        }
        Ok(removed)
    }

    async fn mark_lost(&self, id: &JobId, dry_run: bool, report: &mut SweepReport) {
        report.lost.push(id.clone());
        if dry_run {
            return;
        }
        let now = self.clock.now();
        if let Ok(job) = self.store.get_job(id).await
            && job.attempts > 0
        {
            let update =
                AttemptUpdate { finished_at: Some(now), reason: Some(Reason::WorkerLost), ..Default::default() };
            let _ = self.store.update_attempt(id, job.attempts, update).await;
        }
        match self.store.set_status(id, StatusChange::end(Reason::WorkerLost, None, now)).await {
            // Finished meanwhile: its own ending stands.
            Ok(_) | Err(StoreError::Transition(_)) => {}
            Err(e) => report.errors.push(format!("recording {id} as lost: {e}")),
        }
    }
}

/// Retention deletes this many jobs per write: a claim waits behind at most one such batch.
pub const RETENTION_BATCH: u32 = 200;
/// Paced retention rests this many times as long as each batch took: it holds the store's
/// writer at most a quarter of the time, and claims keep most of their pace.
pub const RETENTION_PACE: f64 = 3.0;

/// Deletes the finished jobs that ended before `before`, `RETENTION_BATCH` at a time, calling
/// `each` for every one deleted; after each batch it rests `pace` times as long as the batch
/// took (0: no rest). Returns how many went.
pub async fn prune_finished(
    store: &dyn Store,
    before: berth_core::clock::Timestamp,
    pace: f64,
    mut each: impl FnMut(&JobId),
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let began = std::time::Instant::now();
        let ids = store.prune_finished(before, RETENTION_BATCH).await?;
        ids.iter().for_each(&mut each);
        total += ids.len();
        if ids.len() < RETENTION_BATCH as usize {
            return Ok(total);
        }
        if pace > 0.0 {
            tokio::time::sleep(began.elapsed().mul_f64(pace)).await;
        }
    }
}
