//! The process backend driven by the real engine over a real SQLite store: output, exit
//! codes, environment, stdin, results, and timeouts that stop the whole process group.

use std::sync::Arc;

use berth_core::JobSpec;
use berth_core::backend::{NoProgress, StdinSource};
use berth_core::quantity::DurationSpec;
use berth_core::store::JobRecord;
use berth_engine::Runner;
use berth_engine::attempt::{AttemptIo, AttemptObserver};
use berth_engine::cancel::Cancel;
use berth_engine::paths::DataPaths;
use berth_store_sqlite::SqliteStore;

use crate::ProcessBackend;

struct Quiet;
impl AttemptObserver for Quiet {}

async fn run(spec: JobSpec, stdin: StdinSource) -> (tempfile::TempDir, Runner, JobRecord) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let backend = Arc::new(ProcessBackend::new(dir.path().join("staging")));
    let runner = Runner::builder(store, backend, DataPaths::new(dir.path())).build().await.unwrap();
    let job = runner.submit(spec).await.unwrap();
    let io = AttemptIo { observer: Arc::new(Quiet), pull: Arc::new(NoProgress), stdin };
    let done = runner.run_attempt(&job, io, &Cancel::new()).await.unwrap();
    (dir, runner, done)
}

fn sh(script: &str) -> JobSpec {
    let mut spec = JobSpec::new("ignored");
    spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    spec
}

async fn output(runner: &Runner, job: &JobRecord) -> String {
    let chunks = runner.store().read_logs(&job.id, -1, 1000).await.unwrap();
    chunks.iter().map(|c| String::from_utf8_lossy(&c.data).to_string()).collect()
}

#[tokio::test]
async fn runs_a_command_with_env_stdin_and_a_result() {
    let mut spec = sh("read line; echo \"got $line $GREETING $BERTH_ATTEMPT\"; echo oops >&2; \
                       echo '{\"n\": 7}' > \"$BERTH_OUTPUT_DIR/result.json\"; exit 3");
    spec.env.insert("GREETING".into(), "hello".into());
    let (_d, runner, job) = run(spec, StdinSource::Bytes(b"input\n".to_vec())).await;
    assert_eq!((job.status.as_str(), job.exit_code), ("failed", Some(3)));
    let text = output(&runner, &job).await;
    assert!(text.contains("got input hello 1") && text.contains("oops"), "{text}");
    assert_eq!(job.result, Some(serde_json::json!({"n": 7})));
    assert!(runner.backend().list_units(runner.install_id()).await.unwrap().is_empty(), "unit removed");
}

#[tokio::test]
async fn a_timeout_stops_the_whole_process_group() {
    let marker = "sleep 4242.5";
    let mut spec = sh(&format!("{marker} & {marker}"));
    spec.timeouts.run = DurationSpec(std::time::Duration::from_millis(300));
    spec.timeouts.stop_grace = DurationSpec(std::time::Duration::from_millis(200));
    let (_d, _runner, job) = run(spec, StdinSource::None).await;
    assert_eq!(job.reason.map(|r| r.to_string()).as_deref(), Some("timed_out(run)"));
    let left = std::process::Command::new("pgrep").args(["-f", marker]).output().unwrap();
    assert!(left.stdout.is_empty(), "left running: {}", String::from_utf8_lossy(&left.stdout));
}

#[tokio::test]
async fn a_spec_without_a_command_is_an_error_not_a_crash() {
    let (_d, _runner, job) = run(JobSpec::new("busybox"), StdinSource::None).await;
    assert_eq!(job.status.as_str(), "error");
    let reason = job.reason.map(|r| r.to_string()).unwrap_or_default();
    assert_eq!(reason, "infra(create_failed)");
}

#[tokio::test]
async fn children_of_a_dead_worker_are_killed_by_the_next_one() {
    use berth_core::backend::{AttemptPlan, Backend};
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let marker = format!("sleep 4242.{}", std::process::id());
    let marker = marker.as_str();
    let first = ProcessBackend::new(&staging);
    let plan = AttemptPlan {
        job_id: berth_core::ids::JobId::generate(),
        attempt: 1,
        spec: sh(&format!("{marker} & {marker}")),
        name: "berth-dead-1".into(),
        install_id: "inst".into(),
        owner: "dead-worker".into(),
        tenant: "local".into(),
        berth_env: Default::default(),
        stdin: false,
        secrets: Vec::new(),
    };
    let unit = first.create(&plan).await.unwrap();
    drop(first.start(&unit, StdinSource::None).await.unwrap());
    std::mem::forget(first); // SIGKILLed: it never cleans up
    let running = || {
        let out = std::process::Command::new("pgrep").args(["-f", marker]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(running() >= 2, "the job's group runs on after its worker");
    let next = ProcessBackend::new(&staging);
    let left = next.list_units("inst").await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    next.remove(&left[0].handle).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(running(), 0, "the whole group was killed");
    assert!(next.list_units("inst").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_field_this_backend_cannot_honour_is_refused_at_submit_and_again_at_the_attempt() {
    use berth_core::fake_backend::{FakeBackend, Script};
    use berth_core::status::Reason;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    let backend = Arc::new(ProcessBackend::new(dir.path().join("staging")));
    let local = berth_core::policy::Policy::local();
    let process =
        Runner::builder(store.clone(), backend, DataPaths::new(dir.path())).policy(local.clone()).build().await;
    let process = process.unwrap();
    let mut spec = sh("true");
    spec.ports = vec!["8080:80".into()];
    let err = process.submit(spec.clone()).await.unwrap_err().to_string();
    assert!(err.contains("ports: the process backend cannot publish ports"), "{err}");
    assert!(
        process.store().list_jobs(&Default::default()).await.unwrap().is_empty(),
        "refused before anything is recorded"
    );
    // A node whose backend can publish ports accepts it; a process worker claims it anyway.
    let fake = Arc::new(FakeBackend::new(Script::default()));
    let api = Runner::builder(store.clone(), fake, DataPaths::new(dir.path())).policy(local).build().await.unwrap();
    let (job, _) = api.enqueue(spec, "t", None).await.unwrap();
    let io = AttemptIo { observer: Arc::new(Quiet), pull: Arc::new(NoProgress), stdin: StdinSource::None };
    let done = process.run_attempt(&job, io, &Cancel::new()).await.unwrap();
    match &done.reason {
        Some(Reason::Infra { message, .. }) => assert!(message.contains("ports: the process backend"), "{message}"),
        other => panic!("expected an infra ending naming the field, got {other:?}"),
    }
    assert!(process.backend().list_units(process.install_id()).await.unwrap().is_empty(), "nothing was started");
}
