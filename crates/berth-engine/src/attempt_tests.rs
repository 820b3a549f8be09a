//! The attempt lifecycle over the recording fake backend: every path ends with one reason,
//! and every created container is removed.

use std::sync::Arc;

use berth_core::JobSpec;
use berth_core::backend::{BackendError, ExitInfo, NoProgress, OutputChunk, OutputStream, StdinSource};
use berth_core::clock::{Clock, SystemClock};
use berth_core::defaults::Defaults;
use berth_core::fake_backend::{FakeBackend, Script};
use berth_core::policy::Policy;
use berth_core::quantity::DurationSpec;
use berth_core::store::{JobRecord, JobStore};
use berth_store_sqlite::SqliteStore;

use super::{AttemptIo, AttemptObserver};
use crate::Runner;
use crate::cancel::Cancel;
use crate::paths::DataPaths;

struct Fixture {
    _dir: tempfile::TempDir,
    runner: Runner,
    fake: Arc<FakeBackend>,
}

async fn fixture(script: Script) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let fake = Arc::new(FakeBackend::new(script));
    let runner = Runner {
        store: store.clone(),
        backend: fake.clone(),
        clock: Arc::new(SystemClock),
        install_id: store.install_id().await.unwrap(),
        owner: crate::owner::current(),
        paths: DataPaths::new(dir.path()),
        defaults: Defaults::default(),
        policy: Policy::default(),
        keys: None,
        host_env: Default::default(),
        breaker: Default::default(),
    };
    Fixture { _dir: dir, runner, fake }
}

/// Cancels the job as soon as it is running.
struct CancelWhenRunning(Cancel);
impl AttemptObserver for CancelWhenRunning {
    fn running(&self, _: &JobRecord) {
        self.0.cancel("api");
    }
}

/// Loses the job's lease (a store outage) as soon as it is running.
struct LoseLeaseWhenRunning(Cancel);
impl AttemptObserver for LoseLeaseWhenRunning {
    fn running(&self, _: &JobRecord) {
        self.0.lose_lease();
    }
}

struct Quiet;
impl AttemptObserver for Quiet {}

async fn run(f: &Fixture, spec: JobSpec, observer: Arc<dyn AttemptObserver>, cancel: &Cancel) -> JobRecord {
    let job = f.runner.submit(spec).await.unwrap();
    let io = AttemptIo { observer, pull: Arc::new(NoProgress), stdin: StdinSource::None };
    f.runner.run_attempt(&job, io, cancel).await.unwrap()
}

/// The calls without the container names (they embed the random job id).
fn calls(f: &Fixture) -> Vec<String> {
    f.fake.calls().iter().map(|c| c.split(" berth-").next().unwrap_or(c).to_string()).collect()
}

fn reason(job: &JobRecord) -> String {
    format!("{}: {}", job.status, job.reason.as_ref().map(ToString::to_string).unwrap_or_default())
}

#[tokio::test]
async fn a_zero_exit_succeeds_stores_output_and_removes_the_container() {
    let output = vec![OutputChunk { stream: OutputStream::Stdout, data: "hi\n".into() }];
    let f = fixture(Script { output, exit: Some(ExitInfo::default()), ..Script::default() }).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!(reason(&job), "succeeded: exited(0)");
    assert_eq!(calls(&f), ["prepare busybox", "create", "start", "remove"]);
    let logs = f.runner.store.read_logs(&job.id, -1, 10).await.unwrap();
    assert_eq!(logs.iter().flat_map(|c| c.data.clone()).collect::<Vec<u8>>(), b"hi\n");
}

#[tokio::test]
async fn a_failed_pull_is_infra_and_creates_nothing() {
    let script = Script { fail_prepare: Some(BackendError::Pull("denied".into())), ..Script::default() };
    let f = fixture(script).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!(reason(&job), "error: infra(pull_failed)");
    assert_eq!(calls(&f), ["prepare busybox"]);
}

#[tokio::test]
async fn a_failed_create_still_removes_by_name() {
    let script = Script { fail_create: Some(BackendError::Create("no space".into())), ..Script::default() };
    let f = fixture(script).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!(reason(&job), "error: infra(create_failed)");
    assert_eq!(calls(&f), ["prepare busybox", "create", "remove"]);
}

#[tokio::test]
async fn a_failed_start_removes_the_created_container() {
    let script = Script { fail_start: Some(BackendError::GpuUnavailable("no driver".into())), ..Script::default() };
    let f = fixture(script).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!(reason(&job), "error: infra(gpu_unavailable)");
    assert_eq!(calls(&f), ["prepare busybox", "create", "start", "remove"]);
}

#[tokio::test]
async fn an_oom_kill_fails_with_its_own_reason() {
    let exit = ExitInfo { code: 137, oom_killed: true, ..ExitInfo::default() };
    let f = fixture(Script { exit: Some(exit), ..Script::default() }).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!((reason(&job), job.exit_code), ("failed: oom_killed".to_string(), Some(137)));
}

#[tokio::test]
async fn a_unit_ended_by_the_backends_own_deadline_is_a_run_timeout() {
    let exit = ExitInfo { code: 137, deadline_exceeded: true, ..ExitInfo::default() };
    let f = fixture(Script { exit: Some(exit), ..Script::default() }).await;
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!((reason(&job), job.exit_code), ("timed_out: timed_out(run)".to_string(), Some(137)));
}

#[tokio::test]
async fn the_run_timeout_stops_with_the_specs_signal_and_grace_then_removes() {
    let exit_on_stop = ExitInfo { code: 130, ..ExitInfo::default() };
    let f = fixture(Script { exit: None, exit_on_stop, ..Script::default() }).await;
    let mut spec = JobSpec::new("busybox");
    spec.timeouts.run = DurationSpec::secs(1);
    spec.timeouts.stop_grace = DurationSpec::secs(3);
    spec.stop_signal = Some("SIGINT".into());
    let job = run(&f, spec, Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!((reason(&job), job.exit_code), ("timed_out: timed_out(run)".to_string(), Some(130)));
    assert_eq!(calls(&f), ["prepare busybox", "create", "start", "stop", "remove"]);
    assert!(f.fake.calls()[3].ends_with(" SIGINT 3s"), "{:?}", f.fake.calls());
}

#[tokio::test]
async fn a_cancel_while_running_stops_and_records_who() {
    let f = fixture(Script { exit: None, ..Script::default() }).await;
    let cancel = Cancel::new();
    let job = run(&f, JobSpec::new("busybox"), Arc::new(CancelWhenRunning(cancel.clone())), &cancel).await;
    assert_eq!(reason(&job), "cancelled: cancelled(api)");
    assert_eq!(calls(&f), ["prepare busybox", "create", "start", "stop", "remove"]);
}

#[tokio::test]
async fn a_lost_lease_stops_the_container_as_worker_lost_not_cancelled() {
    let f = fixture(Script { exit: None, ..Script::default() }).await;
    let cancel = Cancel::new();
    let job = run(&f, JobSpec::new("busybox"), Arc::new(LoseLeaseWhenRunning(cancel.clone())), &cancel).await;
    assert_eq!(reason(&job), "lost: worker_lost");
    assert_eq!(calls(&f), ["prepare busybox", "create", "start", "stop", "remove"]);
}

#[tokio::test]
async fn a_cancel_before_start_creates_nothing() {
    let f = fixture(Script::default()).await;
    let cancel = Cancel::new();
    cancel.cancel("api");
    let job = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &cancel).await;
    assert_eq!(reason(&job), "cancelled: cancelled(api)");
    assert!(!calls(&f).iter().any(|c| c == "create"), "{:?}", calls(&f));
}

#[tokio::test]
async fn a_local_job_retries_in_process_until_its_attempts_are_spent() {
    let exit = ExitInfo { code: 75, ..ExitInfo::default() };
    let f = fixture(Script { exit: Some(exit), ..Script::default() }).await;
    let mut spec = JobSpec::new("busybox");
    spec.retries.max_attempts = 3;
    spec.retries.exit_codes = vec![75];
    spec.retries.delay = DurationSpec(std::time::Duration::from_millis(10));
    let job = run(&f, spec, Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!((reason(&job).as_str(), job.attempts), ("failed: exited(75)", 3));
    let creates = calls(&f).iter().filter(|c| *c == "create").count();
    let removes = calls(&f).iter().filter(|c| *c == "remove").count();
    assert_eq!((creates, removes), (3, 3), "one container per attempt, each removed");
    let events = f.runner.store.read_events(&job.id, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "retry").count(), 2);
}

#[tokio::test]
async fn a_cancel_wins_over_the_retry_of_a_container_that_was_exiting_anyway() {
    // The container exited (75, retryable) and then the cancel arrived, before the ending
    // was recorded: the attempt keeps its true end, the job ends cancelled, no retry.
    let f = fixture(Script::default()).await;
    let mut spec = JobSpec::new("busybox");
    spec.retries.max_attempts = 3;
    spec.retries.exit_codes = vec![75];
    let job = f.runner.submit(spec).await.unwrap();
    let attempt = f.runner.store.start_attempt(&job.id, "me", None, SystemClock.now()).await.unwrap();
    let cancel = Cancel::new();
    cancel.cancel("api");
    let exited = super::Ending::new(berth_core::status::Reason::Exited { code: 75 }, Some(75));
    let (job, retry) =
        f.runner.conclude(&job, attempt.number, exited, std::time::Instant::now(), &cancel).await.unwrap();
    assert_eq!((reason(&job).as_str(), retry), ("cancelled: cancelled(api)", None));
    let attempts = f.runner.store.list_attempts(&job.id).await.unwrap();
    assert_eq!(attempts[0].reason.as_ref().map(ToString::to_string).as_deref(), Some("exited(75)"));
}

#[tokio::test]
async fn retention_deletes_old_finished_jobs_with_their_outputs() {
    let file = |name: &str, data: &[u8]| berth_core::backend::OutputEntry {
        name: name.into(),
        size: data.len() as u64,
        regular: true,
        data: Some(data.to_vec().into()),
    };
    let outputs = vec![file("result.json", b"[1]"), file("a.txt", b"x")];
    let f = fixture(Script { exit: Some(ExitInfo::default()), outputs, ..Script::default() }).await;
    let old = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    let kept = run(&f, JobSpec::new("busybox"), Arc::new(Quiet), &Cancel::new()).await;
    assert_eq!(kept.result, Some(serde_json::json!([1])));
    assert_eq!(f.runner.artifact(&old, "a.txt").await.unwrap().1, b"x", "stored with the job, not on a disk");
    // Directories of jobs from before outputs lived in the store go with their job.
    std::fs::create_dir_all(f.runner.paths.job_dir(&old.id)).unwrap();
    let cutoff = berth_core::clock::Timestamp(kept.finished_at.unwrap().0);
    assert_eq!(f.runner.prune(cutoff, false).await.unwrap(), 1);
    assert!(f.runner.store.get_job(&old.id).await.is_err());
    assert!(f.runner.store.read_artifact(&old.id, 1, "a.txt").await.unwrap().is_none(), "artifacts go too");
    assert!(!f.runner.paths.job_dir(&old.id).exists());
    assert_eq!(f.runner.artifact(&kept, "a.txt").await.unwrap().1, b"x");
    // A job deleted by another process leaves its (legacy) directory for the sweep.
    std::fs::create_dir_all(f.runner.paths.job_dir(&kept.id)).unwrap();
    f.runner.store.delete_job(&kept.id).await.unwrap();
    assert_eq!(f.runner.sweep_dirs().await.unwrap(), 1);
    assert!(!f.runner.paths.job_dir(&kept.id).exists());
}

#[tokio::test]
async fn pass_env_gives_jobs_the_workers_variables_as_secrets_unless_the_spec_names_them() {
    let mut f = fixture(Script::default()).await;
    f.runner.host_env = Arc::new([("API_TOKEN".to_string(), "t0ken-value".to_string())].into());
    let policy = Policy { pass_env: vec!["API_TOKEN".into(), "NOT_SET".into()], ..Policy::default() };
    let given = f.runner.open_secrets(&JobSpec::new("busybox"), "t", &policy).await.unwrap();
    assert_eq!(given.len(), 1, "only variables the worker has");
    assert_eq!((given[0].env.as_deref(), given[0].value.0.as_slice()), (Some("API_TOKEN"), &b"t0ken-value"[..]));
    let mut own = JobSpec::new("busybox");
    own.env.insert("API_TOKEN".into(), "the job's own".into());
    assert!(f.runner.open_secrets(&own, "t", &policy).await.unwrap().is_empty(), "the spec's env wins");
}

/// Asks the job's cancel through the store while the image is pulled, as another node's
/// API would: after the attempt's first look at the job, before its container starts.
struct CancelFromAnotherNode(Arc<SqliteStore>, berth_core::ids::JobId);
impl berth_core::backend::PullObserver for CancelFromAnotherNode {
    fn progress(&self, _: &str, _: &str, _: Option<u64>, _: Option<u64>) {
        let (store, id) = (self.0.clone(), self.1.clone());
        let asked = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(store.request_cancel(&id, "token:other", SystemClock.now()))
        });
        asked.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stored_while_the_container_is_made_wins_before_it_starts() {
    let f = fixture(Script { exit: Some(ExitInfo::default()), ..Script::default() }).await;
    let store = f.runner.store.clone();
    let sqlite = Arc::new(SqliteStore::open(&f._dir.path().join("berth.db")).await.unwrap());
    let new = berth_core::store::NewJob::new(
        berth_core::ids::JobId::generate(),
        JobSpec::new("busybox"),
        None,
        SystemClock.now(),
    );
    let job = store.create_job(new).await.unwrap();
    let request = berth_core::store::ClaimRequest {
        worker: f.runner.owner.clone(),
        queues: vec!["default".into()],
        tags: Default::default(),
        lease: std::time::Duration::from_secs(30),
        at: SystemClock.now(),
    };
    let claimed = store.claim(&request).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    let pull = Arc::new(CancelFromAnotherNode(sqlite, job.id.clone()));
    let io = AttemptIo { observer: Arc::new(Quiet), pull, stdin: StdinSource::None };
    let done = f.runner.run_attempt(&claimed, io, &Cancel::new()).await.unwrap();
    assert_eq!(reason(&done), "cancelled: cancelled(token:other)");
    let made: Vec<String> = calls(&f);
    assert!(made.iter().any(|c| c == "create"), "the container was made: {made:?}");
    assert!(!made.iter().any(|c| c.starts_with("start")), "and never started: {made:?}");
    assert!(made.iter().any(|c| c == "remove"), "then removed: {made:?}");
}

/// A unit a dead worker left, of a job the store may or may not know.
fn left_unit() -> berth_core::backend::UnitInfo {
    berth_core::backend::UnitInfo {
        handle: berth_core::backend::UnitHandle { id: "fake-left".into(), name: "berth-left-1".into() },
        state: berth_core::backend::UnitState::Running,
        job_id: Some(berth_core::ids::JobId::generate()),
        attempt: Some(1),
        owner: None,
    }
}

#[tokio::test]
async fn a_sweep_that_cannot_read_the_store_leaves_every_container_alone() {
    let removed = |f: &Fixture| f.fake.calls().iter().filter(|c| c.starts_with("remove")).count();
    // The control: a unit of a job the store does not have is an orphan, and goes.
    let f = fixture(Script { units: vec![left_unit()], ..Script::default() }).await;
    f.runner.sweep(false).await.unwrap();
    assert_eq!(removed(&f), 1, "{:?}", f.fake.calls());
    // The store fails (here: its jobs table is gone; in life, a restart or a pool timeout):
    // nothing is known about the job, so its container is left alone.
    let f = fixture(Script { units: vec![left_unit()], ..Script::default() }).await;
    let url = format!("sqlite://{}", f._dir.path().join("berth.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE jobs RENAME TO jobs_unreachable").execute(&pool).await.unwrap();
    assert!(f.runner.sweep(false).await.is_err(), "the sweep says the store failed");
    assert_eq!(removed(&f), 0, "a live job must not die of a store error: {:?}", f.fake.calls());
}

#[tokio::test]
async fn a_retry_queued_after_a_cancel_landed_ends_the_job_cancelled() {
    let f = fixture(Script::default()).await;
    let store = f.runner.store.clone();
    let new = berth_core::store::NewJob::new(
        berth_core::ids::JobId::generate(),
        JobSpec::new("busybox"),
        None,
        SystemClock.now(),
    );
    let job = store.create_job(new).await.unwrap();
    let request = berth_core::store::ClaimRequest {
        worker: f.runner.owner.clone(),
        queues: vec!["default".into()],
        tags: Default::default(),
        lease: std::time::Duration::from_secs(30),
        at: SystemClock.now(),
    };
    let fence = store.claim(&request).await.unwrap().unwrap().lease.unwrap().fence();
    // The retry was decided; then another node's cancel landed.
    store.request_cancel(&job.id, "token:other", SystemClock.now()).await.unwrap();
    let exited = berth_core::status::Reason::Exited { code: 75 };
    let now = SystemClock.now();
    let done = f.runner.queue_retry(&job.id, &fence, &exited, now, now).await.unwrap();
    assert_eq!(reason(&done), "cancelled: cancelled(token:other)");
}
