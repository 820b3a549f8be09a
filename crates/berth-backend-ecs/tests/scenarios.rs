//! Scripted scenarios for every ending the ECS backend normalizes and the API faults it must
//! ride out, through the engine and a SQLite store, against the fake ECS API (tasks on the
//! real Docker engine): a Spot interruption (infra, retried), a task that vanished
//! (node_lost), an image that cannot be pulled, RunTask throttled and out of capacity (the
//! job stays queued), a task MISSING right after RunTask, a service outage mid-job, log
//! events that show up late, and one task definition per shape. Each case ends with every
//! task stopped and nothing left on the engine.

#![allow(clippy::unwrap_used)] // a failed call fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_backend_conformance::{Harness, Watch};
use berth_backend_ecs::EcsBackend;
use berth_core::backend::{Backend, StdinSource};
use berth_core::quantity::DurationSpec;
use berth_core::spec::JobSpec;
use berth_core::status::JobStatus;
use berth_core::store::{JobRecord, LogStream};
use berth_ecs_fake::FakeEcs;
use berth_engine::cancel::Cancel;

struct Case {
    fake: Arc<FakeEcs>,
    h: Harness,
}

async fn case() -> Case {
    case_with(common::settings()).await
}

async fn case_with(settings: berth_backend_ecs::Settings) -> Case {
    let fake = Arc::new(FakeEcs::start().await.expect("the fake starts (is dockerd running?)"));
    let url = fake.url();
    let connect = || EcsBackend::connect(settings.clone(), Some(&url));
    let backend: Arc<dyn Backend> = Arc::new(connect().await.unwrap());
    let next: Arc<dyn Backend> = Arc::new(connect().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(backend, next, common::IMAGE, dir).await;
    Case { fake, h }
}

impl Case {
    /// Runs the job's next attempt in the background.
    fn spawn(&self, job: &JobRecord) -> tokio::task::JoinHandle<JobRecord> {
        let (runner, job) = (self.h.runner.clone(), job.clone());
        tokio::spawn(async move {
            let io = berth_engine::attempt::AttemptIo {
                observer: Arc::new(Watch::default()),
                pull: Arc::new(berth_core::backend::NoProgress),
                stdin: StdinSource::None,
            };
            runner.run_attempt(&job, io, &Cancel::new()).await.unwrap()
        })
    }

    /// The ARN of the job's task once its job container runs.
    async fn running_task(&self, job: &JobRecord) -> String {
        for _ in 0..300 {
            let found = self.fake.tasks().into_iter().find(|t| {
                let tags = t["tags"].as_array().cloned().unwrap_or_default();
                tags.iter().any(|tag| tag["key"] == "berth.job" && tag["value"] == job.id.to_string())
                    && t["containers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["name"] == "main" && c["lastStatus"] == "RUNNING")
            });
            if let Some(t) = found {
                return t["taskArn"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the job's task never ran: {:?}", self.fake.tasks());
    }

    async fn attempt_reasons(&self, job: &JobRecord) -> Vec<String> {
        let attempts = self.h.runner.store().list_attempts(&job.id).await.unwrap();
        attempts.iter().map(|a| a.reason.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    fn calls(&self, op: &str) -> usize {
        self.fake.requests().iter().filter(|r| *r == op).count()
    }

    async fn done(self) {
        self.h.assert_clean().await;
        let left = self.fake.containers_left(Duration::from_secs(60)).await;
        assert!(left.is_empty(), "containers left on the engine: {left:?}");
    }
}

/// The job's reason, with the message of an infrastructure failure.
fn reason(job: &JobRecord) -> String {
    match &job.reason {
        Some(r @ berth_core::status::Reason::Infra { message, .. }) => format!("{r}: {message}"),
        Some(r) => r.to_string(),
        None => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_interruption_ends_the_attempt_as_evicted_and_the_job_retries() {
    let c = case().await;
    let mut spec = c.h.sh("if [ \"$BERTH_ATTEMPT\" = 1 ]; then echo up; sleep 60; fi; echo second");
    spec.retries.max_attempts = 2;
    spec.retries.delay = DurationSpec(Duration::from_millis(10));
    spec.timeouts.stop_grace = DurationSpec::secs(1);
    let job = c.h.runner.submit(spec).await.unwrap();
    let first = c.spawn(&job);
    let task = c.running_task(&job).await;
    c.fake.interrupt(&task);
    let after = first.await.unwrap();
    let reasons = c.attempt_reasons(&job).await;
    assert_eq!((after.status, after.attempts), (JobStatus::Succeeded, 2), "a Spot interruption retries: {reasons:?}");
    assert_eq!(reasons, ["infra(evicted)", "exited(0)"]);
    assert_eq!(c.h.text(&after, LogStream::Stdout).await, "up\nsecond\n");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_vanished_ends_as_node_lost_not_a_hang() {
    let c = case().await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 60")).await.unwrap();
    let run = c.spawn(&job);
    let task = c.running_task(&job).await;
    c.fake.vanish(&task);
    let ended = tokio::time::timeout(Duration::from_secs(30), run).await.expect("no hang").unwrap();
    assert_eq!(ended.status, JobStatus::Error);
    let why = reason(&ended);
    assert!(why.starts_with("infra(node_lost") && why.contains("not in DescribeTasks"), "{why}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_ends_as_pull_failed_with_ecs_reason() {
    let c = case().await;
    let job = c.h.run(JobSpec::new("berth-test/not-there:1"), StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Error);
    let why = reason(&job);
    assert!(why.starts_with("infra(pull_failed") && why.contains("CannotPullContainerError"), "{why}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_or_full_run_task_is_tried_again_not_failed() {
    let c = case().await;
    c.fake.faults(|f| {
        f.throttle = Some(("RunTask".into(), 1));
        f.no_capacity = 1;
    });
    let job = c.h.runner.submit(c.h.sh("echo ran")).await.unwrap();
    // Neither refusal fails the job: the engine tries again (the breaker counts both).
    let done = c.spawn(&job).await.unwrap();
    assert_eq!((done.status, c.h.text(&done, LogStream::Stdout).await.as_str()), (JobStatus::Succeeded, "ran\n"));
    assert_eq!(c.calls("RunTask"), 3, "one SDK attempt per try (the backend's own retry is the engine's)");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_missing_right_after_run_task_is_waited_for() {
    let c = case().await;
    c.fake.faults(|f| f.missing_for = Some(Duration::from_millis(1500)));
    let job = c.h.run(c.h.sh("echo seen; exit 2"), StdinSource::None).await;
    assert_eq!((reason(&job).as_str(), c.h.text(&job, LogStream::Stdout).await.as_str()), ("exited(2)", "seen\n"));
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_outage_mid_job_is_ridden_out() {
    let c = case().await;
    let job =
        c.h.runner
            .submit(c.h.sh("i=0; while [ $i -lt 30 ]; do echo line-$i; i=$((i+1)); sleep 0.1; done"))
            .await
            .unwrap();
    let run = c.spawn(&job);
    c.running_task(&job).await;
    c.fake.faults(|f| f.outage_until = Some(std::time::Instant::now() + Duration::from_secs(2)));
    let ended = run.await.unwrap();
    assert_eq!(ended.status, JobStatus::Succeeded, "{}", reason(&ended));
    let want: String = (0..30).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(c.h.text(&ended, LogStream::Stdout).await, want, "no line lost or repeated");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_events_that_show_up_late_are_still_read() {
    let c = case().await;
    c.fake.faults(|f| f.log_lag = Duration::from_millis(400));
    let job = c.h.run(c.h.sh("echo one; echo two; echo three"), StdinSource::None).await;
    assert_eq!(c.h.text(&job, LogStream::Stdout).await, "one\ntwo\nthree\n");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_one_shape_share_a_task_definition_and_their_commands_are_overrides() {
    let c = case().await;
    for word in ["first", "second"] {
        let job = c.h.run(c.h.sh(&format!("echo {word}")), StdinSource::None).await;
        assert_eq!(c.h.text(&job, LogStream::Stdout).await, format!("{word}\n"));
    }
    let mut bigger = c.h.sh("echo third");
    bigger.resources.memory = Some(berth_core::quantity::ByteSize::mib(1024));
    c.h.run(bigger, StdinSource::None).await;
    assert_eq!(c.calls("RegisterTaskDefinition"), 2, "one per shape: {:?}", c.fake.requests());
    assert_eq!(c.fake.active_definitions().len(), 2);
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_as_another_user_writes_outputs_only_it_can_read() {
    let c = case().await;
    let mut spec = c.h.sh("umask 077; echo '{\"uid\": '$(id -u)'}' > \"$BERTH_OUTPUT_DIR/result.json\"");
    spec.user = Some("1000:1000".into());
    let job = c.h.run(spec, StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{}", reason(&job));
    assert_eq!(job.result, Some(serde_json::json!({"uid": 1000})), "a 0600 file of uid 1000 is collected");
    c.done().await;
}

/// The secret's value goes to Secrets Manager and nowhere else: not in RunTask, DescribeTasks
/// or the task definition; after the job its secret is deleted and its own definition
/// deregistered, while jobs without secrets keep sharing theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_sent_only_to_secrets_manager_and_deleted_after_the_job() {
    let c = case().await;
    let value = "only-in-secrets-manager";
    c.h.put_secret("db", value.as_bytes()).await;
    let mut spec = c.h.sh("[ \"$DB\" = \"$(cat /run/secrets/db)\" ] && echo same");
    spec.secrets = vec![
        berth_core::spec::SecretRef { name: "db".into(), env: Some("DB".into()), file: None },
        berth_core::spec::SecretRef { name: "db".into(), env: None, file: Some("/run/secrets/db".into()) },
    ];
    let job = c.h.run(spec, StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{}", reason(&job));
    assert_eq!(c.h.text(&job, LogStream::Stdout).await, "same\n");
    let bodies = c.fake.request_bodies();
    let carrying: Vec<&String> = bodies.iter().filter(|b| b.contains(value)).collect();
    assert!(
        carrying.len() == 1 && carrying[0].starts_with("secretsmanager.CreateSecret "),
        "only CreateSecret carries the value: {carrying:?}"
    );
    assert!(!serde_json::to_string(&c.fake.tasks()).unwrap().contains(value), "DescribeTasks shows it");
    assert_eq!(c.fake.secrets(), Vec::<String>::new(), "the attempt's secret is deleted");
    assert_eq!(c.fake.active_definitions().len(), 0, "its own definition is deregistered");
    c.h.run(c.h.sh("true"), StdinSource::None).await;
    assert_eq!(c.fake.active_definitions().len(), 1, "a job without secrets uses the shared one");
    c.done().await;
}

/// A worker that died between CreateSecret and RunTask left a secret with no task: the
/// next one lists it as the attempt's unit and its removal deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_left_without_its_task_is_listed_and_removed() {
    let c = case().await;
    let clients = berth_backend_ecs::aws::clients(None, Some(&c.fake.url())).await;
    let install = c.h.runner.install_id().to_string();
    let plan = berth_core::backend::AttemptPlan {
        job_id: berth_core::ids::JobId::generate(),
        attempt: 1,
        spec: JobSpec::new(common::IMAGE),
        name: "berth-0123456789ab-1".into(),
        install_id: install.clone(),
        owner: "gone-worker:1".into(),
        tenant: "local".into(),
        berth_env: Default::default(),
        stdin: false,
        secrets: vec![berth_core::backend::SecretInput {
            env: Some("X".into()),
            file: None,
            value: berth_core::vault::SecretValue(b"left-behind".to_vec()),
        }],
    };
    berth_backend_ecs::secrets::create(&clients, &plan).await.unwrap();
    let units = c.h.next.list_units(&install).await.unwrap();
    assert_eq!(units.len(), 1, "{units:?}");
    assert_eq!((units[0].handle.name.as_str(), units[0].attempt), ("berth-0123456789ab-1", Some(1)));
    c.h.next.remove(&units[0].handle).await.unwrap();
    assert_eq!(c.fake.secrets(), Vec::<String>::new());
    c.done().await;
}

/// With `efs_file_system`, a named volume is an EFS access point made on first use: what one
/// job writes there the next reads; `berth volume ls/rm` list and delete it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_volume_is_an_efs_access_point_that_outlives_the_task() {
    let settings = berth_backend_ecs::Settings { efs_file_system: Some("fs-0fake".into()), ..common::settings() };
    let c = case_with(settings).await;
    let with_cache = |script: &str| {
        let mut spec = c.h.sh(script);
        spec.mounts =
            vec![berth_core::spec::Mount::Volume { source: "cache".into(), target: "/cache".into(), read_only: false }];
        spec
    };
    let wrote = c.h.run(with_cache("echo kept > /cache/x"), StdinSource::None).await;
    assert_eq!(wrote.status, JobStatus::Succeeded, "{}", reason(&wrote));
    let read = c.h.run(with_cache("cat /cache/x"), StdinSource::None).await;
    assert_eq!(c.h.text(&read, LogStream::Stdout).await, "kept\n", "{}", reason(&read));
    assert_eq!(c.calls("CreateAccessPoint"), 1, "made once: {:?}", c.fake.requests());
    let install = c.h.runner.install_id().to_string();
    let backend = c.h.runner.backend();
    let listed = backend.list_volumes(&install, None).await.unwrap();
    assert_eq!(listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["cache"], "{listed:?}");
    assert_eq!(c.fake.active_definitions().len(), 1, "the volume is part of the shared shape");
    backend.remove_volume(&install, "local", "cache").await.unwrap();
    assert_eq!(c.fake.access_points(), Vec::<String>::new());
    let gone = backend.remove_volume(&install, "local", "cache").await;
    assert!(matches!(gone, Err(berth_core::backend::BackendError::Gone(_))), "{gone:?}");
    c.done().await;
}
