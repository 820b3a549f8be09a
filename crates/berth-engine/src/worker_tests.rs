//! Workers over a real SQLite store and the fake backend: the circuit breaker keeps jobs
//! queued while the engine is down, and limits hold while several workers claim.

use std::sync::Arc;
use std::time::Duration;

use berth_core::JobSpec;
use berth_core::backend::{BackendError, ExitInfo};
use berth_core::clock::{Clock, SystemClock};
use berth_core::defaults::Defaults;
use berth_core::fake_backend::{FakeBackend, Script};
use berth_core::policy::Policy;
use berth_core::store::{JobFilter, Store};
use berth_store_sqlite::SqliteStore;
use tokio_util::sync::CancellationToken;

use crate::Runner;
use crate::breaker::{Breaker, BreakerState};
use crate::paths::DataPaths;
use crate::worker::{Worker, WorkerConfig};

async fn runner(dir: &tempfile::TempDir, store: Arc<dyn Store>, script: Script) -> Runner {
    Runner {
        store: store.clone(),
        backend: Arc::new(FakeBackend::new(script)),
        clock: Arc::new(SystemClock),
        install_id: store.install_id().await.unwrap(),
        owner: crate::owner::current(),
        paths: DataPaths::new(dir.path()),
        defaults: Defaults::default(),
        policy: Policy::default(),
        keys: None,
        host_env: Default::default(),
        breaker: Arc::new(Breaker::new(3, Duration::from_secs(3600))),
    }
}

fn config(id: &str, slots: usize) -> WorkerConfig {
    WorkerConfig { id: id.into(), slots, shutdown_grace: Duration::from_secs(1), ..WorkerConfig::default() }
}

async fn statuses(store: &Arc<dyn Store>) -> Vec<String> {
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    jobs.iter().map(|j| j.status.to_string()).collect()
}

#[tokio::test]
async fn an_unreachable_engine_opens_the_circuit_and_jobs_stay_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let down = Script { fail_create: Some(BackendError::Unavailable("dockerd is gone".into())), ..Script::default() };
    let shutdown = CancellationToken::new();
    let worker = Worker::new(runner(&dir, store.clone(), down).await, config("w1", 1), shutdown.clone());
    for _ in 0..5 {
        worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap();
    }
    let running = tokio::spawn({
        let w = worker.clone();
        async move { w.run().await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while worker.breaker.state() != BreakerState::Open {
        assert!(std::time::Instant::now() < deadline, "the circuit never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the worker time to claim more if it (wrongly) still did.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts: u32 = store.list_jobs(&JobFilter::default()).await.unwrap().iter().map(|j| j.attempts).sum();
    assert_eq!(attempts, 3, "claiming stopped after the third failure");
    assert!(statuses(&store).await.iter().all(|s| s == "queued"), "{:?}", statuses(&store).await);
    // The registry shows it at the next heartbeat (every 2 s).
    while store.list_workers().await.unwrap().first().map(|w| w.breaker.clone()).as_deref() != Some("open") {
        assert!(std::time::Instant::now() < deadline, "the registry never showed the open circuit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_concurrency_key_holds_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    // Each job runs until its container is stopped, so running jobs stay running.
    let forever = Script { exit: None, exit_on_stop: ExitInfo::default(), ..Script::default() };
    let shutdown = CancellationToken::new();
    let a = Worker::new(runner(&dir, store.clone(), forever.clone()).await, config("a", 3), shutdown.clone());
    let b = Worker::new(runner(&dir, store.clone(), forever).await, config("b", 3), shutdown.clone());
    for key in ["c1", "c1", "c1", "c2"] {
        let mut spec = JobSpec::new("busybox");
        spec.concurrency = Some(berth_core::retry::Concurrency { key: key.into(), limit: 1 });
        a.runner.enqueue(spec, "t", None).await.unwrap();
    }
    let tasks = [a.clone(), b.clone()].map(|w| tokio::spawn(async move { w.run().await }));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut s = statuses(&store).await;
    s.sort();
    assert_eq!(s, ["queued", "queued", "running", "running"], "one c1 and the c2 run, two c1 wait");
    assert_eq!(a.busy() + b.busy(), 2);
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap();
    }
}

/// A worker over a clock that only moves when told to: ticks and steps run without sleeping.
async fn fixed(dir: &tempfile::TempDir, clock: Arc<berth_core::clock::FixedClock>) -> (Arc<dyn Store>, Worker) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let mut r = runner(dir, store.clone(), Script { exit: Some(ExitInfo::default()), ..Script::default() }).await;
    r.clock = clock as Arc<dyn Clock>;
    let config = WorkerConfig { lease: Duration::from_secs(6), ..config("w1", 1) };
    (store, Worker::new(r, config, CancellationToken::new()))
}

#[tokio::test]
async fn a_vanished_workers_lease_is_reaped_on_the_first_tick_after_its_grace_and_stop_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(berth_core::clock::FixedClock::at(1_000_000));
    let (store, worker) = fixed(&dir, clock.clone()).await;
    let job = worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap().0;
    let req = berth_core::store::ClaimRequest {
        worker: "ghost".into(),
        queues: vec!["default".into()],
        tags: Default::default(),
        lease: Duration::from_secs(6),
        at: clock.now(),
    };
    assert_eq!(store.claim(&req).await.unwrap().map(|j| j.id), Some(job.id.clone()));
    clock.advance(6_000);
    assert_eq!(worker.tick(true).await.reaped, 0, "expired, but not for longer than the grace");
    clock.advance(2_001);
    assert_eq!(worker.tick(true).await.reaped, 0, "its worker may still be stopping it (10 s stop grace)");
    clock.advance(10_000);
    let tick = worker.tick(true).await;
    assert_eq!((tick.reaped, tick.timed_out), (1, 0));
    // It never started an attempt, so its retry policy gives it another go.
    let back = store.get_job(&job.id).await.unwrap();
    assert_eq!((back.status.as_str(), &back.lease, back.attempts), ("queued", &None, 0), "{back:?}");
    let events = store.read_events(&job.id, 0, 100).await.unwrap();
    assert!(events.iter().any(|e| e.data["retry_after"] == "worker_lost"), "{events:?}");
    assert_eq!(worker.tick(true).await.reaped, 0, "settled once");
}

#[tokio::test]
async fn ticks_end_overdue_queued_jobs_and_sweep_on_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(berth_core::clock::FixedClock::at(1_000_000));
    let (store, worker) = fixed(&dir, clock.clone()).await;
    let mut spec = JobSpec::new("busybox");
    spec.timeouts.queue = Some(berth_core::quantity::DurationSpec(Duration::from_secs(5)));
    let job = worker.runner.enqueue(spec, "t", None).await.unwrap().0;
    clock.advance(4_999);
    assert_eq!(worker.tick(false).await, crate::reaper::JanitorTick::default());
    clock.advance(1);
    assert_eq!(worker.tick(false).await.timed_out, 1);
    assert_eq!(store.get_job(&job.id).await.unwrap().status.as_str(), "timed_out");
    clock.advance(60_000);
    assert!(worker.tick(false).await.swept, "the sweep runs once gc_interval passed");
    assert!(!worker.tick(false).await.swept);
}

#[tokio::test]
async fn each_step_claims_and_runs_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(berth_core::clock::FixedClock::at(1_000_000));
    let (store, worker) = fixed(&dir, clock.clone()).await;
    let a = worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap().0;
    clock.advance(1);
    let b = worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap().0;
    assert_eq!(worker.step().await, crate::worker::SlotStep::Ran(a.id.clone()));
    assert_eq!(store.get_job(&a.id).await.unwrap().status.as_str(), "succeeded");
    assert_eq!(store.get_job(&b.id).await.unwrap().status.as_str(), "queued", "one job per step");
    assert_eq!(worker.step().await, crate::worker::SlotStep::Ran(b.id));
    assert_eq!(worker.step().await, crate::worker::SlotStep::Idle);
}

#[tokio::test]
async fn a_heartbeat_renews_the_lease_until_another_node_takes_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(berth_core::clock::FixedClock::at(1_000_000));
    let (store, worker) = fixed(&dir, clock.clone()).await;
    worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap();
    let req = berth_core::store::ClaimRequest {
        worker: "w1".into(),
        queues: vec!["default".into()],
        tags: Default::default(),
        lease: Duration::from_secs(6),
        at: clock.now(),
    };
    let job = store.claim(&req).await.unwrap().unwrap();
    let lease = job.lease.clone().unwrap();
    clock.advance(2_000);
    let renewed = worker.beat(&job.id, &lease.fence(), lease.expires_at).await;
    assert_eq!(renewed, crate::worker::Beat::Renewed(berth_core::clock::Timestamp(1_008_000)));
    // A cancel asked on another node reaches the holder with its next renewal.
    store.request_cancel(&job.id, "token:x", clock.now()).await.unwrap();
    let asked = worker.beat(&job.id, &lease.fence(), berth_core::clock::Timestamp(1_008_000)).await;
    let want = crate::worker::Beat::CancelRequested(berth_core::clock::Timestamp(1_008_000), "token:x".into());
    assert_eq!(asked, want);
    clock.advance(9_000);
    let expired = berth_core::store::Fence { expired_by: Some(clock.now()), ..lease.fence() };
    store.take_over(&job.id, &expired, "reaper", berth_core::clock::Timestamp(1_020_000)).await.unwrap();
    let lost = worker.beat(&job.id, &lease.fence(), berth_core::clock::Timestamp(1_008_000)).await;
    assert_eq!(lost, crate::worker::Beat::Lost, "a take-over fences the old holder's heartbeat off");
}

/// Polls until `statuses` (sorted) are `want`, for at most 20 s.
async fn until_statuses(store: &Arc<dyn Store>, want: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut s = statuses(store).await;
        s.sort();
        if s == want || std::time::Instant::now() > deadline {
            assert_eq!(s, want);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_worker_keeps_its_slots_full_and_never_runs_more() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let forever = Script { exit: None, exit_on_stop: ExitInfo::default(), ..Script::default() };
    let shutdown = CancellationToken::new();
    let worker = Worker::new(runner(&dir, store.clone(), forever).await, config("w", 4), shutdown.clone());
    for _ in 0..7 {
        worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap();
    }
    let task = tokio::spawn({
        let w = worker.clone();
        async move { w.run().await }
    });
    until_statuses(&store, &["queued", "queued", "queued", "running", "running", "running", "running"]).await;
    assert_eq!(worker.busy(), 4);
    // A job that ends frees its slot, and the next claim takes exactly one more.
    let running = JobFilter { statuses: vec![berth_core::JobStatus::Running], ..JobFilter::default() };
    let first = store.list_jobs(&running).await.unwrap().remove(0);
    assert!(worker.cancel_running(&first.id, "test"));
    until_statuses(&store, &["cancelled", "queued", "queued", "running", "running", "running", "running"]).await;
    assert_eq!(worker.busy(), 4);
    shutdown.cancel();
    task.await.unwrap();
}

/// A backend whose units exit at once and whose removals wait until the guard is dropped:
/// jobs that ended but whose end is not recorded yet.
async fn removal_held() -> (Script, futures::lock::OwnedMutexGuard<()>) {
    let gate = Arc::new(futures::lock::Mutex::new(()));
    let held = gate.clone().lock_owned().await;
    (Script { exit: Some(ExitInfo::default()), remove_gate: Some(gate), ..Script::default() }, held)
}

#[tokio::test]
async fn a_slot_is_free_again_when_its_unit_ends_not_when_its_end_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let (script, held) = removal_held().await;
    let shutdown = CancellationToken::new();
    let worker = Worker::new(runner(&dir, store.clone(), script).await, config("w", 1), shutdown.clone());
    for _ in 0..3 {
        worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap();
    }
    let task = tokio::spawn({
        let w = worker.clone();
        async move { w.run().await }
    });
    // One slot: the first job's container ended and waits to be removed, and the second one
    // already started in its slot; the third waits (at most one finishing beside each slot).
    until_statuses(&store, &["queued", "running", "running"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    until_statuses(&store, &["queued", "running", "running"]).await;
    assert_eq!(worker.busy(), 0, "both units ended: they only wait to be removed");
    drop(held);
    until_statuses(&store, &["succeeded", "succeeded", "succeeded"]).await;
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_finishing_job_still_counts_toward_its_tenants_running_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    store.ensure_tenant("t", SystemClock.now()).await.unwrap();
    store.set_tenant_limit("t", Some(1)).await.unwrap();
    let (script, held) = removal_held().await;
    let shutdown = CancellationToken::new();
    let worker = Worker::new(runner(&dir, store.clone(), script).await, config("w", 2), shutdown.clone());
    for _ in 0..2 {
        worker.runner.enqueue(JobSpec::new("busybox"), "t", None).await.unwrap();
    }
    let task = tokio::spawn({
        let w = worker.clone();
        async move { w.run().await }
    });
    // The first job's unit ended and gave its slot back, but its end is not recorded: the
    // tenant still has one running job, so the second waits although slots are free.
    until_statuses(&store, &["queued", "running"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(worker.busy(), 0, "no unit runs: the first only waits to be removed");
    until_statuses(&store, &["queued", "running"]).await;
    drop(held);
    until_statuses(&store, &["succeeded", "succeeded"]).await;
    shutdown.cancel();
    task.await.unwrap();
}
