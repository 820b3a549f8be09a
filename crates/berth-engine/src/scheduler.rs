//! The scheduler: each step, every due schedule's plan (`berth_core::schedule::plan`) is
//! carried out — a job per due time under the overlap policy, missed ones counted, then the
//! cursor moved by compare-and-set. Every `berth server` runs one against the shared store;
//! none leads. A due time makes at most one job because the job store keys scheduled jobs
//! by (schedule, due time): a second node firing it gets the first node's job back.
//!
//! A due time is missed only when no scheduler was alive at it: each step records this
//! node's heartbeat and reads when any scheduler was last alive; a gap longer than
//! `OUTAGE_AFTER` is an outage, and the schedule's missed-run policy decides for its due times.

use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::schedule::plan::plan;
use berth_core::schedule::{Overlap, Pause, ScheduleRecord};
use berth_core::spec::JobSpec;
use berth_core::status::JobStatus;
use berth_core::store::{JobFilter, JobRecord, ScheduleRef, StoreError, StoreResult};

use crate::Runner;
use crate::submit::SubmitError;

/// No scheduler step for this long is an outage: the due times in it were missed.
pub const OUTAGE_AFTER: Duration = Duration::from_secs(10);
/// How many due schedules one step takes on.
const BATCH: u32 = 200;
/// Who a schedule's own actions are recorded as (pauses, cancels).
pub const ACTOR: &str = "schedule";

/// What one step did, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepReport {
    /// Jobs made in this step.
    pub created: Vec<JobId>,
    /// How late each of them was made after its due time.
    pub lags: Vec<Duration>,
    /// Due times not run because an earlier job was still active.
    pub skipped: u64,
    /// Due times that passed in an outage and do not run.
    pub missed: u64,
    /// Schedules paused in this step (after failures, or a template now refused).
    pub paused: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Clone)]
pub struct Scheduler {
    runner: Runner,
    node: String,
}

impl Scheduler {
    /// `node` names this scheduler's heartbeat (one per server).
    pub fn new(runner: Runner, node: impl Into<String>) -> Scheduler {
        Scheduler { runner, node: node.into() }
    }

    /// One pass over the due schedules at the runner's clock's now.
    pub async fn step(&self) -> StoreResult<StepReport> {
        let now = self.runner.clock.now();
        let last = self.runner.store.scheduler_beat(&self.node, now).await?;
        let outage_from = match last {
            None => Some(Timestamp(i64::MIN)),
            Some(t) if now.0 - t.0 > OUTAGE_AFTER.as_millis() as i64 => Some(t),
            Some(_) => None,
        };
        let mut report = StepReport::default();
        for s in self.runner.store.due_schedules(now, BATCH).await? {
            if let Err(e) = self.step_one(&s, now, outage_from, &mut report).await {
                report.errors.push(format!("schedule {} ({}): {e}", s.config.name, s.id));
            }
        }
        Ok(report)
    }

    async fn step_one(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        outage_from: Option<Timestamp>,
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        let expr =
            s.config.check().map_err(|e| StoreError::Corrupt(format!("stored config no longer reads: {e:?}")))?;
        let mut waiting = s.waiting_due_at;
        if let Some(w) = waiting
            && self.start_waiting(s, w, now, report).await?
        {
            waiting = None;
        }
        let Some(cursor) = s.next_due_at.filter(|d| *d <= now) else { return Ok(()) };
        let plan = plan(&expr, &s.config, cursor, now, outage_from);
        let mut skipped = 0;
        for due in &plan.run {
            if self.pause_after_failures(s, now, report).await? {
                return Ok(());
            }
            match self.fire(s, *due, now, &mut waiting, report).await {
                Ok(ran) => skipped += u64::from(!ran),
                Err(SubmitError::Invalid(e)) => {
                    return self.pause(s, now, format!("its job spec is refused: {e}"), report).await;
                }
                Err(SubmitError::Denied(d)) => {
                    return self.pause(s, now, format!("its job spec is refused: {d}"), report).await;
                }
                Err(e) => return Err(e),
            }
        }
        // Only the node whose move wins counts what the plan skipped and missed.
        if self.runner.store.advance_schedule(&s.id, cursor, plan.next_due).await? {
            report.skipped += skipped;
            report.missed += plan.missed;
        }
        Ok(())
    }

    /// Applies the overlap policy to one due time; false when it does not run.
    async fn fire(
        &self,
        s: &ScheduleRecord,
        due: Timestamp,
        now: Timestamp,
        waiting: &mut Option<Timestamp>,
        report: &mut StepReport,
    ) -> Result<bool, SubmitError> {
        let earlier = self.active_before(&s.id, due).await?;
        if !earlier.is_empty() {
            match s.config.overlap {
                Overlap::Allow => {}
                Overlap::Skip => return Ok(false),
                Overlap::QueueOne => {
                    let queued = waiting.is_none() && self.runner.store.set_waiting(&s.id, None, Some(due)).await?;
                    if queued {
                        *waiting = Some(due);
                    }
                    return Ok(false);
                }
                Overlap::CancelPrevious => self.cancel_all(&earlier).await,
            }
        }
        self.create(s, due, now, report).await?;
        Ok(true)
    }

    /// `queue-one`: starts the waiting due time once nothing before it is active; true
    /// when it started (or another node started it).
    async fn start_waiting(
        &self,
        s: &ScheduleRecord,
        due: Timestamp,
        now: Timestamp,
        report: &mut StepReport,
    ) -> Result<bool, SubmitError> {
        if !self.active_before(&s.id, due).await?.is_empty() {
            return Ok(false);
        }
        // Made first, cleared second: a crash between leaves it waiting, and the next step
        // finds the job already made.
        self.create(s, due, now, report).await?;
        self.runner.store.set_waiting(&s.id, Some(due), None).await?;
        Ok(true)
    }

    async fn create(
        &self,
        s: &ScheduleRecord,
        due: Timestamp,
        now: Timestamp,
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        let delay = s.config.jitter_for(&s.id, due);
        let start = Timestamp(due.0.saturating_add(delay as i64));
        let name = s.config.name.clone();
        let due_ref = ScheduleRef { id: s.id.clone(), due_at: due };
        let mark = |spec: &mut JobSpec| mark_scheduled(spec, &name, &due_ref, (start > now).then_some(start));
        let (job, created) =
            self.runner.enqueue_scheduled(s.config.spec.clone(), &s.tenant, due_ref.clone(), mark).await?;
        if created {
            report.created.push(job.id);
            report.lags.push(Duration::from_millis((now.0 - due.0).max(0) as u64));
        }
        Ok(())
    }

    /// The schedule's jobs still queued or running that were made for earlier due times.
    async fn active_before(&self, id: &str, due: Timestamp) -> StoreResult<Vec<JobRecord>> {
        let filter = JobFilter {
            statuses: vec![JobStatus::Queued, JobStatus::Starting, JobStatus::Running],
            schedule: Some(id.to_string()),
            ..JobFilter::default()
        };
        let jobs = self.runner.store.list_jobs(&filter).await?;
        Ok(jobs.into_iter().filter(|j| j.schedule.as_ref().is_some_and(|r| r.due_at < due)).collect())
    }

    async fn cancel_all(&self, jobs: &[JobRecord]) {
        for job in jobs {
            let by = format!("{ACTOR}:cancel-previous");
            let not_here = |_: &JobRecord| false;
            if let Err(e) = crate::ops::cancel(&*self.runner.store, &*self.runner.clock, job, &by, &not_here).await {
                tracing::debug!("cancel-previous: job {} did not cancel: {e}", job.id);
            }
        }
    }

    /// Pauses `s` when its last `pause_after_failures` finished jobs since the last resume
    /// all failed (cancelled jobs do not count either way); true when it paused.
    async fn pause_after_failures(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        report: &mut StepReport,
    ) -> StoreResult<bool> {
        let Some(n) = s.config.pause_after_failures else { return Ok(false) };
        let filter = JobFilter {
            statuses: vec![
                JobStatus::Succeeded,
                JobStatus::Failed,
                JobStatus::TimedOut,
                JobStatus::Lost,
                JobStatus::Error,
            ],
            schedule: Some(s.id.clone()),
            since: Some(s.resumed_at),
            limit: Some(n),
            ..JobFilter::default()
        };
        let last = self.runner.store.list_jobs(&filter).await?;
        if last.len() < n as usize || last.iter().any(|j| j.status == JobStatus::Succeeded) {
            return Ok(false);
        }
        let newest = &last[0];
        let why = newest.reason.as_ref().map_or_else(|| newest.status.to_string(), ToString::to_string);
        self.pause(s, now, format!("{n} jobs in a row failed (the last, {}: {why})", newest.id.short()), report)
            .await
            .map_err(|e| match e {
                SubmitError::Store(e) => e,
                other => StoreError::Unavailable(other.to_string()),
            })?;
        Ok(true)
    }

    async fn pause(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        reason: String,
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        tracing::warn!("pausing schedule {} ({}): {reason}", s.config.name, s.id);
        let mut paused = s.clone();
        paused.paused = Some(Pause { at: now, by: ACTOR.to_string(), reason });
        paused.updated_at = now;
        self.runner.store.update_schedule(&paused, None).await?;
        report.paused.push(s.id.clone());
        Ok(())
    }
}

/// What berth adds to a scheduled job: labels (`berth.schedule`, `berth.scheduled-at`), the
/// `BERTH_SCHEDULE` and `BERTH_SCHEDULED_AT` env, and a jittered start.
pub fn mark_scheduled(spec: &mut JobSpec, name: &str, due: &ScheduleRef, start: Option<Timestamp>) {
    let at = due.due_at.rfc3339();
    spec.labels.insert("berth.schedule".into(), name.to_string());
    spec.labels.insert("berth.schedule-id".into(), due.id.clone());
    spec.labels.insert("berth.scheduled-at".into(), at.clone());
    spec.env.insert("BERTH_SCHEDULE".into(), name.to_string());
    spec.env.insert("BERTH_SCHEDULED_AT".into(), at);
    if let Some(start) = start {
        spec.run_at = Some(start.rfc3339());
    }
}
