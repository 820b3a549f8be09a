//! The scheduler: each step, every due schedule's plan (`berth_core::schedule::plan`) is
//! carried out — a job per due time under the overlap policy, missed ones counted, then the
//! cursor moved by compare-and-set. Every `berth server` runs one against the shared store;
//! none leads. A due time makes at most one job because the job store keys scheduled jobs
//! by (schedule, due time): a second node firing it gets the first node's job back.
//!
//! A due time is missed only when no scheduler was alive at it. Each node's `beat` (on its
//! own timer, so a long step cannot fake a gap) records its heartbeat; the beat that finds
//! no scheduler alive for `OUTAGE_AFTER` records that outage in the store, and every node's
//! every later step plans with the same recorded outages. A node steps only while its own
//! last beat is recent, so it never judges due times in a gap nobody has recorded yet.

use std::sync::Mutex;
use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_core::schedule::plan::{Outage, plan};
use berth_core::schedule::{Overlap, Pause, ScheduleRecord};
use berth_core::spec::JobSpec;
use berth_core::status::JobStatus;
use berth_core::store::{JobFilter, JobRecord, ScheduleRef, StoreError, StoreResult};

use crate::Runner;
use crate::ops::OpError;
use crate::submit::SubmitError;

/// No scheduler heartbeat for this long is an outage: the due times in it were missed.
pub const OUTAGE_AFTER: Duration = Duration::from_secs(10);
/// How often a scheduler records its heartbeat.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
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

/// What the overlap policy did with one due time.
enum Fired {
    Ran,
    /// `queue-one`: it waits for the active job to end.
    Waits,
    Skipped,
}

pub struct Scheduler {
    runner: Runner,
    node: String,
    /// When this node's last heartbeat was recorded.
    last_beat: Mutex<Option<Timestamp>>,
}

impl Scheduler {
    /// `node` names this scheduler's heartbeat (one per server).
    pub fn new(runner: Runner, node: impl Into<String>) -> Scheduler {
        Scheduler { runner, node: node.into(), last_beat: Mutex::new(None) }
    }

    /// Records this node's heartbeat; returns the outage it found and recorded, if any.
    pub async fn beat(&self) -> StoreResult<Option<Outage>> {
        let now = self.runner.clock.now();
        let outage = self.runner.store.scheduler_beat(&self.node, now, OUTAGE_AFTER).await?;
        if let Ok(mut last) = self.last_beat.lock() {
            *last = Some(now);
        }
        Ok(outage)
    }

    /// One pass over the due schedules at the runner's clock's now.
    pub async fn step(&self) -> StoreResult<StepReport> {
        let now = self.runner.clock.now();
        let mut report = StepReport::default();
        let beat = self.last_beat.lock().ok().and_then(|b| *b);
        let fresh = beat.is_some_and(|b| now.0.saturating_sub(b.0) <= OUTAGE_AFTER.as_millis() as i64 / 2);
        if !fresh {
            report.errors.push("not stepping: this scheduler's heartbeat is not being recorded".into());
            return Ok(report);
        }
        let due = self.runner.store.due_schedules(now, BATCH).await?;
        let Some(oldest) = due.iter().filter_map(|s| s.next_due_at.or(s.waiting_due_at)).min() else {
            return Ok(report);
        };
        // An outage that ends in the future was recorded by a node whose clock runs ahead:
        // it says nothing about this node's due times.
        let horizon = now.0.saturating_add(OUTAGE_AFTER.as_millis() as i64);
        let mut outages = self.runner.store.outages_after(Timestamp(oldest.0 - 1)).await?;
        outages.retain(|o| o.to.0 <= horizon);
        for s in due {
            if let Err(e) = self.step_one(&s, now, &outages, &mut report).await {
                report.errors.push(format!("schedule {} ({}): {e}", s.config.name, s.id));
            }
        }
        Ok(report)
    }

    async fn step_one(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        outages: &[Outage],
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        let expr = match s.config.check() {
            Ok(expr) => expr,
            Err(e) => return self.pause(s, now, format!("its stored config no longer reads: {e:?}"), report).await,
        };
        let mut waiting = s.waiting_due_at;
        if let Some(w) = waiting {
            match self.start_waiting(s, w, now, report).await {
                Ok(true) => waiting = None,
                Ok(false) => {}
                Err(e) => return self.pause_if_refused(s, now, e, report).await,
            }
        }
        let Some(cursor) = s.next_due_at.filter(|d| *d <= now) else { return Ok(()) };
        let plan = plan(&expr, &s.config, cursor, now, outages);
        let mut skipped = 0;
        for due in &plan.run {
            if self.pause_after_failures(s, now, report).await? {
                return Ok(());
            }
            match self.fire(s, *due, now, &mut waiting, report).await {
                Ok(Fired::Skipped) => skipped += 1,
                Ok(Fired::Ran | Fired::Waits) => {}
                Err(e) => return self.pause_if_refused(s, now, e, report).await,
            }
        }
        // Only the node whose move wins counts what the plan skipped and missed.
        if self.runner.store.advance_schedule(&s.id, cursor, plan.next_due).await? {
            report.skipped += skipped;
            report.missed += plan.missed;
        }
        Ok(())
    }

    /// A refused template pauses the schedule (it would be refused at every due time); any
    /// other error leaves the cursor where it is, for the next step.
    async fn pause_if_refused(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        e: SubmitError,
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        match e {
            SubmitError::Invalid(e) => self.pause(s, now, format!("its job spec is refused: {e}"), report).await,
            SubmitError::Denied(d) => self.pause(s, now, format!("its job spec is refused: {d}"), report).await,
            e => Err(e),
        }
    }

    /// Applies the overlap policy to one due time.
    async fn fire(
        &self,
        s: &ScheduleRecord,
        due: Timestamp,
        now: Timestamp,
        waiting: &mut Option<Timestamp>,
        report: &mut StepReport,
    ) -> Result<Fired, SubmitError> {
        let earlier = self.active(&s.id, |r| r.manual || r.due_at < due).await?;
        if !earlier.is_empty() {
            match s.config.overlap {
                Overlap::Allow => {}
                Overlap::Skip => return Ok(Fired::Skipped),
                Overlap::QueueOne => {
                    if waiting.is_none() && self.runner.store.set_waiting(&s.id, None, Some(due)).await? {
                        *waiting = Some(due);
                        return Ok(Fired::Waits);
                    }
                    return Ok(Fired::Skipped);
                }
                Overlap::CancelPrevious => self.cancel_all(&earlier).await?,
            }
        }
        self.create(s, due, now, report).await?;
        Ok(Fired::Ran)
    }

    /// `queue-one`: starts the waiting due time once no other job of the schedule is active
    /// (a manual one included); true when it started (or another node started it).
    async fn start_waiting(
        &self,
        s: &ScheduleRecord,
        due: Timestamp,
        now: Timestamp,
        report: &mut StepReport,
    ) -> Result<bool, SubmitError> {
        if !self.active(&s.id, |r| r.manual || r.due_at != due).await?.is_empty() {
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
        let due_ref = ScheduleRef { id: s.id.clone(), due_at: due, manual: false };
        let mark = |spec: &mut JobSpec| mark_scheduled(spec, &name, &due_ref, (start > now).then_some(start));
        let (job, created) =
            self.runner.enqueue_scheduled(s.config.spec.clone(), &s.tenant, due_ref.clone(), mark).await?;
        if created {
            report.created.push(job.id);
            report.lags.push(Duration::from_millis((now.0 - due.0).max(0) as u64));
        }
        Ok(())
    }

    /// The schedule's jobs still queued or running whose reference `pick` selects.
    async fn active(&self, id: &str, pick: impl Fn(&ScheduleRef) -> bool) -> StoreResult<Vec<JobRecord>> {
        let filter = JobFilter {
            statuses: vec![JobStatus::Queued, JobStatus::Starting, JobStatus::Running],
            schedule: Some(id.to_string()),
            ..JobFilter::default()
        };
        let jobs = self.runner.store.list_jobs(&filter).await?;
        Ok(jobs.into_iter().filter(|j| j.schedule.as_ref().is_some_and(&pick)).collect())
    }

    /// Cancels each job; one that ended meanwhile is fine, a store that does not answer is
    /// an error (the due time is tried again, not run beside the old job).
    async fn cancel_all(&self, jobs: &[JobRecord]) -> Result<(), SubmitError> {
        let by = format!("{ACTOR}:cancel-previous");
        let not_here = |_: &JobRecord| false;
        for job in jobs {
            match crate::ops::cancel(&*self.runner.store, &*self.runner.clock, job, &by, &not_here).await {
                Ok(_) | Err(OpError::Conflict(_) | OpError::NotFound(_)) => {}
                Err(OpError::Store(e)) => return Err(e.into()),
                Err(OpError::Backend(e)) => return Err(e.into()),
            }
        }
        Ok(())
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
        let reason = format!("{n} jobs in a row failed (the last, {}: {why})", newest.id.short());
        self.pause(s, now, reason, report).await.map_err(|e| match e {
            SubmitError::Store(e) => e,
            other => StoreError::Unavailable(other.to_string()),
        })?;
        Ok(true)
    }

    /// Pauses `s` as read; if someone wrote it meanwhile, the next step looks again.
    async fn pause(
        &self,
        s: &ScheduleRecord,
        now: Timestamp,
        reason: String,
        report: &mut StepReport,
    ) -> Result<(), SubmitError> {
        let mut paused = s.clone();
        paused.paused = Some(Pause { at: now, by: ACTOR.to_string(), reason: reason.clone() });
        paused.updated_at = now;
        if self.runner.store.update_schedule(&paused, None).await? {
            tracing::warn!("paused schedule {} ({}): {reason}", s.config.name, s.id);
            report.paused.push(s.id.clone());
        }
        Ok(())
    }
}

/// What berth adds to a scheduled job: labels (`berth.schedule`, `berth.schedule-id`,
/// `berth.scheduled-at`), the `BERTH_SCHEDULE` and `BERTH_SCHEDULED_AT` env, and a jittered start.
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
