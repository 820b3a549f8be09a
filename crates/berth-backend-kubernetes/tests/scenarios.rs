//! Scripted scenarios for every ending the Kubernetes backend normalizes, and for the faults
//! of the API server it must ride out, through the engine and a SQLite store, against the
//! fake API server (pods on the real Docker engine): eviction and node loss (infra, retried),
//! an image that cannot be pulled (after the bound), a pod no node takes, a watch answered
//! 410 Gone, a log stream cut mid-job, a pod orphaned by someone's delete, exec. Each case
//! ends with nothing left on the fake and no container on the engine.

#![allow(clippy::unwrap_used)] // a failed call fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_backend_conformance::{Harness, Watch};
use berth_backend_kubernetes::{KubernetesBackend, Settings};
use berth_core::backend::{Backend, StdinSource};
use berth_core::quantity::DurationSpec;
use berth_core::spec::JobSpec;
use berth_core::status::JobStatus;
use berth_core::store::{JobRecord, LogStream};
use berth_engine::cancel::Cancel;
use berth_kube_fake::FakeCluster;

struct Case {
    fake: Arc<FakeCluster>,
    h: Harness,
}

async fn case(settings: Settings) -> Case {
    let fake = Arc::new(FakeCluster::start().await.expect("the fake starts (is dockerd running?)"));
    let url = fake.url();
    let connect = || KubernetesBackend::connect(settings.clone(), Some(&url));
    let backend: Arc<dyn Backend> = Arc::new(connect().await.unwrap());
    let next: Arc<dyn Backend> = Arc::new(connect().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(backend, next, common::IMAGE, dir).await;
    Case { fake, h }
}

impl Case {
    /// Runs the job's next attempt in the background.
    fn spawn(&self, job: &JobRecord) -> tokio::task::JoinHandle<JobRecord> {
        self.spawn_cancellable(job, &Cancel::new())
    }

    fn spawn_cancellable(&self, job: &JobRecord, cancel: &Cancel) -> tokio::task::JoinHandle<JobRecord> {
        let (runner, job, cancel) = (self.h.runner.clone(), job.clone(), cancel.clone());
        tokio::spawn(async move {
            let io = berth_engine::attempt::AttemptIo {
                observer: Arc::new(Watch::default()),
                pull: Arc::new(berth_core::backend::NoProgress),
                stdin: StdinSource::None,
            };
            runner.run_attempt(&job, io, &cancel).await.unwrap()
        })
    }

    /// The name of the job's pod once its container runs.
    async fn running_pod(&self, job: &JobRecord) -> String {
        for _ in 0..300 {
            let found = self.fake.pods().into_iter().find(|p| {
                p["metadata"]["labels"]["berth.job"] == job.id.to_string()
                    && p["status"]["containerStatuses"][0]["state"].get("running").is_some()
            });
            if let Some(p) = found {
                return p["metadata"]["name"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the job's pod never ran: {:?}", self.fake.pods());
    }

    async fn attempt_reasons(&self, job: &JobRecord) -> Vec<String> {
        let attempts = self.h.runner.store().list_attempts(&job.id).await.unwrap();
        attempts.iter().map(|a| a.reason.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    async fn done(self) {
        self.h.assert_clean().await;
        let left = self.fake.containers_left(Duration::from_secs(30)).await;
        assert!(left.is_empty(), "containers left on the engine: {left:?}");
        assert!(self.fake.jobs().is_empty() && self.fake.secrets().is_empty(), "objects left on the fake");
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
async fn an_evicted_pod_ends_its_attempt_as_infra_and_the_job_retries() {
    let c = case(common::settings()).await;
    let mut spec = c.h.sh("if [ \"$BERTH_ATTEMPT\" = 1 ]; then echo up; sleep 60; fi; echo second");
    spec.retries.max_attempts = 2;
    spec.retries.delay = DurationSpec(Duration::from_millis(10));
    let job = c.h.runner.submit(spec).await.unwrap();
    let first = c.spawn(&job);
    let pod = c.running_pod(&job).await;
    c.fake.evict("berth-jobs", &pod).await;
    // The retry runs in the same call (its delay is 10 ms), on a new pod.
    let after = first.await.unwrap();
    let reasons = c.attempt_reasons(&job).await;
    assert_eq!((after.status, after.attempts), (JobStatus::Succeeded, 2), "an eviction retries: {reasons:?}");
    assert_eq!(reasons, ["infra(evicted)", "exited(0)"]);
    assert_eq!(c.h.text(&after, LogStream::Stdout).await, "up\nsecond\n");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_ends_the_attempt_as_infra_node_lost() {
    let c = case(common::settings()).await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 60")).await.unwrap();
    let run = c.spawn(&job);
    let pod = c.running_pod(&job).await;
    c.fake.lose_node("berth-jobs", &pod).await;
    let ended = run.await.unwrap();
    assert_eq!(ended.status, JobStatus::Error);
    assert!(reason(&ended).starts_with("infra(node_lost"), "{ended:?}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_ends_as_pull_failed_after_the_bound() {
    let settings = Settings { pull_timeout: Duration::from_secs(2), ..common::settings() };
    let c = case(settings).await;
    let job = c.h.run(JobSpec::new("berth-test/not-there:1"), StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Error);
    let why = reason(&job);
    assert!(why.starts_with("infra(pull_failed") && why.contains("ImagePullBackOff"), "{why}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_no_node_takes_ends_with_the_schedulers_message_after_the_queue_timeout() {
    let c = case(common::settings()).await;
    c.fake.faults(|f| f.unschedulable = true);
    let mut spec = c.h.sh("true");
    spec.timeouts.queue = Some(DurationSpec::secs(2));
    let job = c.h.run(spec, StdinSource::None).await;
    let why = reason(&job);
    assert!(why.starts_with("infra(start_failed") && why.contains("0/1 nodes are available"), "{why}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_the_wait_for_a_node() {
    let c = case(common::settings()).await;
    c.fake.faults(|f| f.unschedulable = true);
    let job = c.h.runner.submit(c.h.sh("true")).await.unwrap();
    let cancel = Cancel::new();
    let run = c.spawn_cancellable(&job, &cancel);
    while c.fake.pods().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel("a user");
    // The default wait for a node is 10 minutes: the cancel must not sit it out.
    let ended = tokio::time::timeout(Duration::from_secs(20), run).await.expect("the cancel ends the wait").unwrap();
    assert_eq!(reason(&ended), "cancelled(a user)");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_answered_410_gone_lists_again_and_the_ending_is_still_seen() {
    let c = case(common::settings()).await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 2; exit 4")).await.unwrap();
    let run = c.spawn(&job);
    c.running_pod(&job).await;
    c.fake.faults(|f| f.gone_next_watch = true);
    c.fake.end_watches();
    let ended = run.await.unwrap();
    assert_eq!((reason(&ended).as_str(), ended.exit_code), ("exited(4)", Some(4)));
    let requests = c.fake.requests();
    let lists = requests.iter().filter(|r| r.contains("/pods?") && !r.contains("watch=true")).count();
    assert!(lists >= 2, "the watcher listed again after the 410: {requests:#?}");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_stream_cut_mid_job_resumes_without_losing_or_repeating_a_line() {
    let c = case(common::settings()).await;
    c.fake.faults(|f| f.cut_next_log_after = Some(3000));
    let script = "i=0; while [ $i -lt 600 ]; do echo line-$i; i=$((i+1)); done; sleep 1.5; \
                  while [ $i -lt 1200 ]; do echo line-$i; i=$((i+1)); done";
    let job = c.h.run(c.h.sh(script), StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    let want: String = (0..1200).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(c.h.text(&job, LogStream::Stdout).await, want);
    let follows = c.fake.requests().iter().filter(|r| r.contains("/log?") && r.contains("follow=true")).count();
    assert!(follows >= 2, "the cut stream was followed again while the job ran");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_mid_job_is_ridden_out() {
    let c = case(common::settings()).await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 4; echo down; exit 2")).await.unwrap();
    let run = c.spawn(&job);
    c.running_pod(&job).await;
    // Every call fails for 3 s (watches and the log stream are cut too): the job runs on.
    let before = c.fake.requests().len();
    c.fake.faults(|f| f.outage_until = Some(std::time::Instant::now() + Duration::from_secs(3)));
    c.fake.end_watches();
    tokio::time::sleep(Duration::from_millis(2900)).await;
    let refused = c.fake.requests().len() - before;
    let ended = run.await.unwrap();
    assert!(refused >= 2, "the watch and the log were tried again (and refused) during the outage");
    assert_eq!((reason(&ended).as_str(), ended.exit_code), ("exited(2)", Some(2)));
    assert_eq!(c.h.text(&ended, LogStream::Stdout).await, "up\ndown\n");
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_context_picks_the_cluster() {
    let fake = FakeCluster::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\nclusters:\n\
         - name: fake\n  cluster:\n    server: {}\n- name: other\n  cluster:\n    server: http://127.0.0.1:9\n\
         contexts:\n- name: test\n  context:\n    cluster: fake\n    user: nobody\n\
         - name: elsewhere\n  context:\n    cluster: other\n    user: nobody\nusers:\n- name: nobody\n  user: {{}}\n",
        fake.url()
    );
    std::fs::write(&kubeconfig, text).unwrap();
    let settings = |context: &str| Settings {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some(context.into()),
        ..common::settings()
    };
    assert!(KubernetesBackend::connect(settings("test"), None).await.is_ok(), "the named context's cluster answers");
    let err = KubernetesBackend::connect(settings("elsewhere"), None).await.unwrap_err();
    assert!(matches!(err, berth_core::backend::BackendError::Unavailable(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_orphaned_by_someones_delete_is_a_unit_the_sweep_removes() {
    let c = case(common::settings()).await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 60")).await.unwrap();
    let run = c.spawn(&job);
    let pod = c.running_pod(&job).await;
    let client = kube::Client::try_from(kube::Config::new(c.fake.url().parse().unwrap())).unwrap();
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(client, "berth-jobs");
    let unit = format!("berth-{}-1", job.id.short());
    // The API's default for Jobs orphans their pods (kubernetes#20902).
    jobs.delete(&unit, &Default::default()).await.unwrap();
    let units = c.h.next.list_units(c.h.runner.install_id()).await.unwrap();
    let orphan = units.iter().find(|u| u.handle.name == unit).expect("the orphaned pod is still a unit");
    assert_eq!((orphan.job_id.as_ref(), orphan.attempt), (Some(&job.id), Some(1)));
    c.h.next.remove(&orphan.handle).await.unwrap();
    let ended = run.await.unwrap();
    assert_eq!(ended.status, JobStatus::Failed, "{ended:?}");
    assert!(
        c.fake
            .pods()
            .iter()
            .all(|p| p["metadata"]["name"] != pod.as_str() || !p["metadata"]["deletionTimestamp"].is_null())
    );
    c.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_jobs_container_and_the_pod_is_watched_not_polled() {
    let c = case(common::settings()).await;
    let job = c.h.runner.submit(c.h.sh("echo up; sleep 3")).await.unwrap();
    let run = c.spawn(&job);
    c.running_pod(&job).await;
    let units = c.h.runner.backend().list_units(c.h.runner.install_id()).await.unwrap();
    let cmd = ["sh", "-c", "echo \"in $BERTH_JOB_ID\"; echo err >&2; exit 3"].map(String::from);
    let exec = berth_core::backend::ExecCommand::new(&cmd);
    let out = c.h.runner.backend().exec(&units[0].handle, &exec, 1024).await.unwrap();
    assert_eq!(
        (out.exit_code, out.stdout, out.stderr),
        (3, format!("in {}\n", job.id).into_bytes(), b"err\n".to_vec())
    );
    let ended = run.await.unwrap();
    assert_eq!(ended.status, JobStatus::Succeeded);
    let requests = c.fake.requests();
    let gets = requests
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains("/pods/") && !r.contains("/log") && !r.contains("/exec"))
        .count();
    assert!(gets <= 4, "a few reads, not a polling loop, over a 3 s job: {requests:#?}");
    assert!(requests.iter().any(|r| r.contains("watch=true")), "watched");
    c.done().await;
}
