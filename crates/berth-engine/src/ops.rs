//! Operations on a job that every front end (the HTTP API, the CLI) calls as they are:
//! cancel, retry, delete, reading an artifact and running a command in a job's unit. Each
//! is written once here; handlers and commands only adapt their input and output.

use std::time::Duration;

use berth_core::backend::{BackendError, ExecCommand, ExecOutput, LiveIo, OutputStreamOf, Started, UnitHandle};
use berth_core::clock::Clock;
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{Artifact, JobRecord, StatusChange, Store, StoreError};

use crate::Runner;
use crate::paths::DataPaths;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    NotFound(String),
    /// The job is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Cancels a job: a queued one ends at once; one this process runs is stopped through
/// `local` (its attempt records the ending); one leased by another worker gets a cancel
/// request, which that worker's next heartbeat reads: it stops the container and records the
/// end itself, after the last output (a dead worker's reaper ends it `cancelled` instead of
/// retrying). A claim can race the cancel, so the job is looked at again a few times.
pub async fn cancel(
    store: &dyn Store,
    clock: &dyn Clock,
    job: &JobRecord,
    by: &str,
    local: &(dyn Fn(&JobRecord) -> bool + Send + Sync),
) -> Result<JobRecord, OpError> {
    for _ in 0..20 {
        let now = store.get_job(&job.id).await?;
        if now.status.is_terminal() {
            return Err(OpError::Conflict(format!("job {} already ended: {}", now.id, now.status)));
        }
        if now.status != JobStatus::Queued && local(&now) {
            // Stored too, so a retry this worker is about to queue sees it (`retry_later`).
            if now.lease.is_some() {
                return Ok(store.request_cancel(&now.id, by, clock.now()).await.unwrap_or(now));
            }
            return Ok(now);
        }
        if now.status == JobStatus::Queued {
            let end = StatusChange::end(Reason::Cancelled { by: by.to_string() }, None, clock.now());
            match store.set_status(&now.id, end.only_from(JobStatus::Queued)).await {
                Ok(done) => return Ok(done),
                // Claimed meanwhile: look again.
                Err(StoreError::Transition(_) | StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if now.lease.is_some() {
            match store.request_cancel(&now.id, by, clock.now()).await {
                Ok(asked) => return Ok(asked),
                Err(StoreError::Transition(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let owner = job.owner.as_deref().unwrap_or("unknown");
    Err(OpError::Conflict(format!(
        "job {} is run by process {owner}, which alone can stop it: press Ctrl-C in its `berth run`",
        job.id
    )))
}

/// Runs a job that ended without success again, as a new attempt.
pub async fn retry(store: &dyn Store, clock: &dyn Clock, job: &JobRecord) -> Result<JobRecord, OpError> {
    Ok(store.requeue(&job.id, clock.now()).await?)
}

/// Removes a finished job with its logs, events, result and artifacts (and the legacy
/// output directory of jobs from before artifacts lived in the store).
pub async fn delete(store: &dyn Store, paths: &DataPaths, job: &JobRecord) -> Result<(), OpError> {
    store.delete_job(&job.id).await?;
    // The job is gone either way: a directory that stays is the sweep's to retry.
    let dir = paths.job_dir(&job.id);
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("job {} removed, but not {}: {e}", job.id, dir.display());
    }
    Ok(())
}

/// An artifact of the latest attempt that has one by that name, with its bytes (from the
/// store, so any node serves it; artifacts of jobs run before berth kept them in the store
/// are read from this node's data dir). Needs no backend.
pub async fn artifact(
    store: &dyn Store,
    paths: &DataPaths,
    job: &JobRecord,
    name: &str,
) -> Result<(Artifact, Vec<u8>), OpError> {
    let list = store.list_artifacts(&job.id).await?;
    let found = list.into_iter().rev().find(|a| a.name == name);
    let a = found.ok_or_else(|| OpError::NotFound(format!("job {} has no artifact `{name}`", job.id)))?;
    if let Some(data) = store.read_artifact(&job.id, a.attempt, &a.name).await? {
        return Ok((a, data));
    }
    // Only names the collector recorded reach the disk: no path from the caller does.
    let legacy = paths.output_dir(&job.id, a.attempt).join(&a.name);
    let data = tokio::fs::read(&legacy)
        .await
        .map_err(|e| OpError::NotFound(format!("artifact `{name}` is recorded but its content is gone: {e}")))?;
    Ok((a, data))
}

impl Runner {
    /// `artifact` over this runner's store and data dir.
    pub async fn artifact(&self, job: &JobRecord, name: &str) -> Result<(Artifact, Vec<u8>), OpError> {
        artifact(self.store.as_ref(), &self.paths, job, name).await
    }

    /// Runs `cmd` in the job's running unit, keeping at most `cap` bytes per stream.
    pub async fn exec(&self, job: &JobRecord, cmd: &ExecCommand, cap: usize) -> Result<ExecOutput, OpError> {
        if !self.backend.capabilities().exec {
            let name = self.backend.name();
            return Err(BackendError::Unsupported(format!("the {name} backend cannot run commands in a job")).into());
        }
        let unit = self.running_unit(job, "exec").await?;
        Ok(self.backend.exec(&unit, cmd, cap).await?)
    }

    /// Runs `cmd` in the job's running unit with live input (`io`).
    pub async fn exec_live(&self, job: &JobRecord, cmd: &ExecCommand, io: LiveIo) -> Result<Started, OpError> {
        self.needs_attach("run live commands in a job")?;
        let unit = self.running_unit(job, "exec").await?;
        Ok(self.backend.exec_live(&unit, cmd, io).await?)
    }

    /// Starts `cmd` in the job's running unit and returns (`berth exec -d`).
    pub async fn exec_detached(&self, job: &JobRecord, cmd: &ExecCommand) -> Result<(), OpError> {
        self.needs_attach("run detached commands in a job")?;
        let unit = self.running_unit(job, "exec").await?;
        Ok(self.backend.exec_detached(&unit, cmd).await?)
    }

    /// Joins the job's running unit: its output, and `io`'s stdin and TTY sizes.
    pub async fn join(&self, job: &JobRecord, io: LiveIo, replay: bool) -> Result<OutputStreamOf, OpError> {
        self.needs_attach("attach to a job")?;
        let unit = self.running_unit(job, "attach").await?;
        Ok(self.backend.join(&unit, io, replay).await?)
    }

    /// Whether the backend has live sessions (`Capabilities::attach`); an error saying it
    /// cannot do `what` otherwise.
    pub fn needs_attach(&self, what: &str) -> Result<(), OpError> {
        if self.backend.capabilities().attach {
            return Ok(());
        }
        Err(BackendError::Unsupported(format!("the {} backend cannot {what}", self.backend.name())).into())
    }

    /// The unit of the job's current attempt; a conflict unless the job runs.
    pub async fn running_unit(&self, job: &JobRecord, verb: &str) -> Result<UnitHandle, OpError> {
        if job.status != JobStatus::Running {
            return Err(OpError::Conflict(format!("job {} is {}: {verb} needs a running job", job.id, job.status)));
        }
        let attempts = self.store.list_attempts(&job.id).await?;
        let last = attempts.last();
        let container = last.and_then(|a| a.container_id.clone());
        let id = container.ok_or_else(|| OpError::Conflict("the job has no container yet".into()))?;
        // Backends that find units by name (a Kubernetes Job) need it as well as the id.
        let name = crate::attempt::unit_name(&job.id, last.map_or(1, |a| a.number));
        Ok(UnitHandle { id, name })
    }
}
