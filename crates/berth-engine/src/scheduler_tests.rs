//! The scheduler's step on a held clock over a real SQLite store: one job per due time
//! across schedulers, each overlap policy with jobs still active, each missed-run policy
//! after an outage, pauses after failures and refusals, and the schedule operations.

use std::sync::Arc;
use std::time::Duration;

use berth_core::clock::{Clock, FixedClock, Timestamp};
use berth_core::fake_backend::{FakeBackend, Script};
use berth_core::schedule::{ScheduleConfig, ScheduleRecord, ScheduleState};
use berth_core::status::{JobStatus, Reason};
use berth_core::store::{JobFilter, JobRecord, StatusChange, Store};
use berth_store_sqlite::SqliteStore;

use crate::Runner;
use crate::paths::DataPaths;
use crate::scheduler::{Scheduler, StepReport};

/// 2026-12-01T10:00:00Z, a minute boundary.
const T0: i64 = 1_796_119_200_000;
const MINUTE: i64 = 60_000;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    runner: Runner,
    a: Scheduler,
    b: Scheduler,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let clock = Arc::new(FixedClock::at(T0 + 1_000));
    let backend = Arc::new(FakeBackend::new(Script::default()));
    let runner =
        Runner::builder(store, backend, DataPaths::new(dir.path())).clock(clock.clone()).build().await.unwrap();
    let (a, b) = (Scheduler::new(runner.clone(), "node-a"), Scheduler::new(runner.clone(), "node-b"));
    // Both schedulers are alive from the start: nothing after now counts as missed.
    assert!(a.beat().await.unwrap().is_some(), "the first beat ever records the time before it as an outage");
    assert_eq!(b.beat().await.unwrap(), None);
    Fixture { _dir: dir, clock, runner, a, b }
}

fn config(extra: serde_json::Value) -> ScheduleConfig {
    let mut doc = serde_json::json!({"name": "every-minute", "cron": "* * * * *", "spec": {"image": "busybox"}});
    crate::schedule_ops::merge(&mut doc, &extra);
    serde_json::from_value(doc).unwrap()
}

impl Fixture {
    async fn schedule(&self, extra: serde_json::Value) -> ScheduleRecord {
        self.runner.create_schedule("t", config(extra), "user:test").await.unwrap()
    }
    /// Moves the clock to `m` minutes (plus 200 ms) past T0 with scheduler `a` stepping
    /// every 5 s on the way, as a live one does; returns the last step's report.
    async fn at_minute(&self, m: i64) -> StepReport {
        let target = T0 + m * MINUTE + 200;
        while self.clock.now().0 + 5_000 < target {
            self.clock.advance(5_000);
            assert_eq!(self.a.beat().await.unwrap(), None);
            self.a.step().await.unwrap();
        }
        self.clock.0.store(target, std::sync::atomic::Ordering::SeqCst);
        self.a.beat().await.unwrap();
        self.a.step().await.unwrap()
    }
    async fn jobs(&self, s: &ScheduleRecord) -> Vec<JobRecord> {
        let filter = JobFilter { schedule: Some(s.id.clone()), ..JobFilter::default() };
        let mut jobs = self.runner.store.list_jobs(&filter).await.unwrap();
        jobs.reverse();
        jobs
    }
    async fn due_minutes(&self, s: &ScheduleRecord) -> Vec<i64> {
        let mut due: Vec<i64> =
            self.jobs(s).await.iter().map(|j| (j.schedule.as_ref().unwrap().due_at.0 - T0) / MINUTE).collect();
        due.sort_unstable();
        due
    }
    async fn end(&self, job: &JobRecord, code: i64) {
        let reason = if code == 0 { Reason::Exited { code: 0 } } else { Reason::Exited { code } };
        let end = StatusChange::end(reason, Some(code), self.clock.now());
        self.runner.store.set_status(&job.id, end).await.unwrap();
    }
    async fn reload(&self, s: &ScheduleRecord) -> ScheduleRecord {
        self.runner.store.get_schedule(&s.id).await.unwrap()
    }
}

#[tokio::test]
async fn each_due_time_makes_one_job_however_many_schedulers_step() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"overlap": "allow"})).await;
    assert_eq!(s.next_due_at, Some(Timestamp(T0 + MINUTE)));
    let first = f.at_minute(1).await;
    f.b.beat().await.unwrap();
    let second = f.b.step().await.unwrap();
    assert_eq!(first.created.len(), 1);
    assert_eq!(second.created.len(), 0, "node b made a second job for the same due time");
    assert_eq!(first.lags, [Duration::from_millis(200)]);
    f.at_minute(3).await;
    assert_eq!(f.due_minutes(&s).await, [1, 2, 3]);
    let job = &f.jobs(&s).await[0];
    assert_eq!(job.spec.env.get("BERTH_SCHEDULED_AT").map(String::as_str), Some("2026-12-01T10:01:00.000Z"));
    assert_eq!(job.spec.labels.get("berth.schedule").map(String::as_str), Some("every-minute"));
    assert_eq!(job.spec.labels.get("berth.schedule-id"), Some(&s.id));
    assert_eq!(f.reload(&s).await.next_due_at, Some(Timestamp(T0 + 4 * MINUTE)));
}

#[tokio::test]
async fn skip_leaves_out_due_times_while_a_job_is_active_and_allow_does_not() {
    let f = fixture().await;
    let skip = f.schedule(serde_json::json!({"name": "skip"})).await;
    let allow = f.schedule(serde_json::json!({"name": "allow", "overlap": "allow"})).await;
    f.at_minute(1).await;
    let report = f.at_minute(2).await;
    assert_eq!(report.skipped, 1);
    assert_eq!(f.due_minutes(&skip).await, [1]);
    assert_eq!(f.due_minutes(&allow).await, [1, 2]);
    f.end(&f.jobs(&skip).await[0], 0).await;
    f.at_minute(3).await;
    assert_eq!(f.due_minutes(&skip).await, [1, 3]);
}

#[tokio::test]
async fn queue_one_keeps_one_due_time_waiting_and_starts_it_when_the_job_ends() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"overlap": "queue-one"})).await;
    f.at_minute(1).await;
    f.at_minute(2).await;
    let third = f.at_minute(3).await;
    assert_eq!(third.skipped, 1, "a second waiting due time is skipped");
    assert_eq!(f.reload(&s).await.waiting_due_at, Some(Timestamp(T0 + 2 * MINUTE)));
    assert_eq!(f.due_minutes(&s).await, [1]);
    f.end(&f.jobs(&s).await[0], 0).await;
    f.clock.advance(5_000);
    f.b.beat().await.unwrap();
    let started = f.b.step().await.unwrap();
    assert_eq!(started.created.len(), 1, "the waiting due time started when the job ended");
    assert_eq!(f.due_minutes(&s).await, [1, 2]);
    assert_eq!(f.reload(&s).await.waiting_due_at, None);
}

#[tokio::test]
async fn cancel_previous_cancels_the_active_job_then_starts_the_new_one() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"overlap": "cancel-previous"})).await;
    f.at_minute(1).await;
    f.at_minute(2).await;
    let jobs = f.jobs(&s).await;
    assert_eq!(f.due_minutes(&s).await, [1, 2]);
    assert_eq!(jobs[0].status, JobStatus::Cancelled);
    assert_eq!(jobs[0].reason, Some(Reason::Cancelled { by: "schedule:cancel-previous".into() }));
    assert_eq!(jobs[1].status, JobStatus::Queued);
}

async fn after_outage(missed: serde_json::Value) -> Vec<i64> {
    let f = fixture().await;
    let s = f.schedule(missed).await;
    f.at_minute(1).await;
    // Every scheduler is down from 10:01:00.2 to 10:06:30.2; the first one back steps.
    f.clock.0.store(T0 + 6 * MINUTE + 30_200, std::sync::atomic::Ordering::SeqCst);
    let outage = f.b.beat().await.unwrap().expect("the beat after the gap records an outage");
    assert_eq!(outage.from, Timestamp(T0 + MINUTE + 200));
    let report = f.b.step().await.unwrap();
    // Node a comes back too, with the old cursor in mind: the recorded outage binds it.
    f.a.beat().await.unwrap();
    assert_eq!(f.a.step().await.unwrap().created.len(), 0, "a second node ran missed due times");
    let made = f.due_minutes(&s).await;
    assert_eq!(report.missed as usize + made.len() - 1, 5, "10:02 to 10:06 were missed: {report:?}");
    assert_eq!(f.reload(&s).await.next_due_at, Some(Timestamp(T0 + 7 * MINUTE)));
    made
}

#[tokio::test]
async fn each_missed_run_policy_after_an_outage() {
    assert_eq!(after_outage(serde_json::json!({"missed": "skip", "overlap": "allow"})).await, [1]);
    assert_eq!(after_outage(serde_json::json!({"missed": "run-once", "overlap": "allow"})).await, [1, 6]);
    let catch_up = serde_json::json!({"missed": "catch-up", "catch_up_max": 3, "overlap": "allow"});
    assert_eq!(after_outage(catch_up).await, [1, 4, 5, 6]);
    let windowed = serde_json::json!({"missed": "catch-up", "catch_up_window": "3m", "overlap": "allow"});
    assert_eq!(after_outage(windowed).await, [1, 4, 5, 6]);
}

#[tokio::test]
async fn failures_in_a_row_pause_the_schedule_until_resumed() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"pause_after_failures": 2, "overlap": "allow"})).await;
    f.at_minute(1).await;
    f.end(&f.jobs(&s).await[0], 3).await;
    f.at_minute(2).await;
    f.end(&f.jobs(&s).await[1], 4).await;
    let report = f.at_minute(3).await;
    assert_eq!(report.paused, std::slice::from_ref(&s.id));
    let paused = f.reload(&s).await;
    assert_eq!(paused.state(), ScheduleState::Paused);
    let why = paused.paused.clone().unwrap();
    assert!(why.reason.starts_with("2 jobs in a row failed"), "{}", why.reason);
    assert!(why.reason.ends_with("exited(4))"), "{}", why.reason);
    assert_eq!(f.due_minutes(&s).await, [1, 2]);
    f.at_minute(5).await;
    assert_eq!(f.due_minutes(&s).await, [1, 2], "a paused schedule made a job");
    let resumed = f.runner.resume_schedule(&paused).await.unwrap();
    assert_eq!(resumed.next_due_at, Some(Timestamp(T0 + 6 * MINUTE)), "due times while paused are skipped");
    f.at_minute(6).await;
    assert_eq!(f.due_minutes(&s).await, [1, 2, 6], "failures are counted afresh after a resume");
}

#[tokio::test]
async fn a_template_the_policy_now_refuses_pauses_the_schedule_with_the_reason() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({})).await;
    f.runner.store.ensure_tenant("t", Timestamp(1)).await.unwrap();
    let only_ours = serde_json::json!({"images": {"allow": ["registry.example/*"]}});
    f.runner.store.set_tenant_policy("t", Some(&only_ours)).await.unwrap();
    let report = f.at_minute(1).await;
    assert_eq!((report.created.len(), report.paused.clone()), (0, vec![s.id.clone()]));
    let reason = f.reload(&s).await.paused.unwrap().reason;
    assert!(reason.starts_with("its job spec is refused: ") && reason.contains("image"), "{reason}");
}

#[tokio::test]
async fn trigger_change_and_end_at() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"cron": "0 3 * * *", "timezone": "Europe/Berlin", "overlap": "allow"})).await;
    assert_eq!(s.next_due_at.map(|t| t.rfc3339()).as_deref(), Some("2026-12-02T02:00:00.000Z"));
    let job = f.runner.trigger_schedule(&s).await.unwrap();
    assert_eq!(job.spec.labels.get("berth.trigger").map(String::as_str), Some("manual"));
    assert_eq!(job.schedule.as_ref().map(|r| r.due_at), Some(f.clock.now()));
    f.end(&job, 0).await;

    let bad = f.runner.change_schedule(&s, &serde_json::json!({"cron": "0 3 * *"})).await.expect_err("refused");
    assert!(bad.to_string().contains("cron: 5 fields"), "{bad}");
    assert_eq!(f.reload(&s).await, s, "a refused change changed the schedule");
    let bad_spec =
        f.runner.change_schedule(&s, &serde_json::json!({"spec": {"image": ""}})).await.expect_err("refused");
    assert!(bad_spec.to_string().contains("spec.image"), "{bad_spec}");

    let changed = f
        .runner
        .change_schedule(&s, &serde_json::json!({"cron": "*/5 * * * *", "end_at": "2026-12-01T10:10:00Z"}))
        .await
        .unwrap();
    assert_eq!(changed.next_due_at, Some(Timestamp(T0 + 5 * MINUTE)));
    f.at_minute(10).await;
    let ended = f.reload(&s).await;
    assert_eq!(ended.state(), ScheduleState::Ended);
    assert_eq!(f.due_minutes(&s).await.len(), 3, "the trigger, 10:05 and 10:10");
}

#[tokio::test]
async fn a_scheduler_whose_heartbeat_is_not_recorded_does_not_step() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({})).await;
    f.clock.0.store(T0 + MINUTE + 200, std::sync::atomic::Ordering::SeqCst);
    let report = f.a.step().await.unwrap();
    assert!(report.created.is_empty() && report.errors[0].starts_with("not stepping"), "{report:?}");
    assert_eq!(f.reload(&s).await.next_due_at, Some(Timestamp(T0 + MINUTE)), "the cursor moved without a heartbeat");
}

#[tokio::test]
async fn a_refused_template_waiting_under_queue_one_pauses_instead_of_wedging() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"overlap": "queue-one"})).await;
    f.at_minute(1).await;
    f.at_minute(2).await;
    assert!(f.reload(&s).await.waiting_due_at.is_some());
    f.end(&f.jobs(&s).await[0], 0).await;
    f.runner.store.ensure_tenant("t", Timestamp(1)).await.unwrap();
    let only_ours = serde_json::json!({"images": {"allow": ["registry.example/*"]}});
    f.runner.store.set_tenant_policy("t", Some(&only_ours)).await.unwrap();
    f.at_minute(3).await;
    let paused = f.reload(&s).await.paused.expect("paused, not retried every step");
    assert!(paused.reason.starts_with("its job spec is refused"), "{}", paused.reason);
}

#[tokio::test]
async fn a_manual_trigger_is_its_own_job_and_counts_as_active() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({"overlap": "skip"})).await;
    f.clock.0.store(T0 + MINUTE, std::sync::atomic::Ordering::SeqCst);
    let manual = f.runner.trigger_schedule(&s).await.unwrap();
    assert_eq!(manual.schedule.as_ref().map(|r| (r.manual, r.due_at)), Some((true, Timestamp(T0 + MINUTE))));
    // Triggered at the very millisecond of a due time, the due time still gets its own decision.
    let report = f.at_minute(1).await;
    assert_eq!((report.created.len(), report.skipped), (0, 1), "skip: the manual job is active");
    let again = f.runner.trigger_schedule(&s).await.unwrap();
    assert_ne!(again.id, manual.id);
}

#[tokio::test]
async fn a_pause_and_a_change_at_once_keep_both() {
    let f = fixture().await;
    let s = f.schedule(serde_json::json!({})).await;
    let paused = f.runner.pause_schedule(&s, "user:a", "maintenance").await.unwrap();
    // A change made from the record read before the pause keeps the pause.
    let changed = f.runner.change_schedule(&s, &serde_json::json!({"spec": {"image": "busybox:2"}})).await.unwrap();
    assert_eq!(changed.paused.as_ref().map(|p| p.reason.as_str()), Some("maintenance"));
    let stored = f.reload(&s).await;
    assert_eq!((stored.config.spec.image.as_str(), stored.state()), ("busybox:2", ScheduleState::Paused));
    assert_eq!(stored.version, paused.version + 1);
}
