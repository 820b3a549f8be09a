//! **A fake AWS ECS, CloudWatch Logs and Secrets Manager API** for berth's tests: moto's ECS runs no
//! container, ends every task with exit code 0 and no `stopCode`, and reads only the first
//! container definition, so it cannot show what berth must handle. This fake speaks the
//! awsJson1.1 protocol the AWS SDK uses (`POST /`, `X-Amz-Target`) on 127.0.0.1, for the
//! calls berth makes: task definitions (register with ECS's validation, describe,
//! deregister), clusters, RunTask (launch type or capacity providers, the overrides limit,
//! `clientToken` idempotency), DescribeTasks (≤ 100, `MISSING` failures, TAGS), StopTask,
//! ListTasks, tags, GetLogEvents with forward tokens, and the Secrets Manager calls berth
//! makes (create, delete, list), whose values tasks' `secrets` resolve at container start,
//! and EFS access points (restJson1), each a Docker volume that outlives tasks.
//!
//! It is a small ECS agent too: each task's containers run **as containers on the local
//! Docker engine**, in `dependsOn` order (START, COMPLETE, SUCCESS), sharing one Docker
//! volume per task volume; the task walks ECS's lifecycle (PROVISIONING … STOPPED) and ends
//! as ECS reports it (`EssentialContainerExited`, `UserInitiated`, `TaskFailedToStart` with
//! `CannotPullContainerError`, `SpotInterruption`, `OutOfMemoryError` in a container's
//! reason). Each container's output becomes an awslogs stream `prefix/name/task-id`, one
//! event per line. Faults a test can script are in `Faults`. Not modelled: placement, ENIs,
//! IAM, signatures, networking between a task's containers, ECS Exec.

#![allow(clippy::unwrap_used)] // a test fixture: a poisoned lock fails the test

mod agent;
mod api;
mod docker;
mod efs;
mod logs;
mod secrets;
mod taskdefs;
mod tasks;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The label on every Docker container and volume the fake makes: its task's id.
pub const TASK_LABEL: &str = "berth-ecs-fake.task";
/// ... and which fake made it (tests run side by side, each with its own).
pub const FAKE_LABEL: &str = "berth-ecs-fake.id";
/// The account and region in every ARN.
pub const ARN_PREFIX: &str = "arn:aws:ecs:us-east-1:000000000000";

/// Faults a test scripts. Counted ones are taken once each.
#[derive(Debug)]
pub struct Faults {
    /// The next `n` calls of this operation (e.g. `RunTask`) get `ThrottlingException`.
    pub throttle: Option<(String, u32)>,
    /// Every call is answered 500 until then (the service down; tasks go on running).
    pub outage_until: Option<Instant>,
    /// New tasks are `MISSING` in DescribeTasks for this long after RunTask.
    pub missing_for: Option<Duration>,
    /// The next `n` RunTask calls place nothing: a `failures` entry, with HTTP 200.
    pub no_capacity: u32,
    /// Log events become visible this long after they were written.
    pub log_lag: Duration,
    /// How long a stopped task stays describable (ECS: about an hour).
    pub stopped_retention: Duration,
    /// StopTask deletes the task's tags, as its API reference says.
    pub stop_deletes_tags: bool,
    /// Pause between lifecycle states.
    pub step_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle: None,
            outage_until: None,
            missing_for: None,
            no_capacity: 0,
            log_lag: Duration::ZERO,
            stopped_retention: Duration::from_secs(3600),
            stop_deletes_tags: true,
            step_delay: Duration::from_millis(50),
        }
    }
}

/// One task as the fake keeps it: the JSON DescribeTasks shows, and the agent's controls.
pub(crate) struct Task {
    pub json: Value,
    pub cluster: String,
    pub created: Instant,
    /// Set (with the reason) when the task is to stop; the agent watches it.
    pub stop: tokio::sync::watch::Sender<bool>,
}

/// One log event, and when it becomes visible (see `Faults::log_lag`).
#[derive(Clone, Debug)]
pub(crate) struct LogEvent {
    pub timestamp: i64,
    pub message: String,
    pub ingestion: i64,
    pub visible: Instant,
}

#[derive(Default)]
pub(crate) struct State {
    pub clusters: BTreeSet<String>,
    /// Revisions of each family, oldest first, each with its `tags`.
    pub defs: BTreeMap<String, Vec<(Value, Value)>>,
    pub tasks: BTreeMap<String, Task>,
    /// `(cluster, clientToken)` → the task RunTask made for it.
    pub tokens: HashMap<(String, String), String>,
    pub streams: BTreeMap<(String, String), Vec<LogEvent>>,
    pub faults: Faults,
    /// Operations served, in order (`RunTask`, `GetLogEvents`...).
    pub requests: Vec<String>,
    /// Secrets Manager's secrets.
    pub secrets: Vec<secrets::Secret>,
    /// EFS access points, as DescribeAccessPoints shows them.
    pub access_points: Vec<Value>,
    /// Every request body, for tests that check what was never sent.
    pub bodies: Vec<String>,
}

/// The shared state and the Docker client.
#[derive(Clone)]
pub(crate) struct Fake {
    pub state: Arc<Mutex<State>>,
    pub docker: bollard::Docker,
    /// This fake's id, on everything it makes on the engine.
    pub id: String,
    /// Agents still running (a vanished task's agent goes on cleaning up).
    pub agents: Arc<AtomicUsize>,
}

impl Fake {
    /// Edits the stored JSON of task `arn`, if it is still there.
    pub fn edit(&self, arn: &str, edit: impl FnOnce(&mut Value)) {
        if let Some(t) = self.state.lock().unwrap().tasks.get_mut(arn) {
            edit(&mut t.json);
        }
    }

    pub fn task_json(&self, arn: &str) -> Option<Value> {
        self.state.lock().unwrap().tasks.get(arn).map(|t| t.json.clone())
    }

    pub fn step_delay(&self) -> Duration {
        self.state.lock().unwrap().faults.step_delay
    }
}

/// Now, as ECS writes timestamps: epoch seconds with a fraction.
pub(crate) fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// A running fake.
pub struct FakeEcs {
    fake: Fake,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl FakeEcs {
    /// Serves on a free port of 127.0.0.1, with one cluster, `berth`, and tasks run on the
    /// local Docker engine.
    pub async fn start() -> std::io::Result<FakeEcs> {
        let docker = bollard::Docker::connect_with_defaults().map_err(std::io::Error::other)?;
        let state = State { clusters: BTreeSet::from(["berth".to_string()]), ..State::default() };
        let fake = Fake {
            state: Arc::new(Mutex::new(state)),
            docker,
            id: uuid::Uuid::new_v4().simple().to_string(),
            agents: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = api::router(fake.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeEcs { fake, addr, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts faults (see `Faults`).
    pub fn faults(&self, edit: impl FnOnce(&mut Faults)) {
        edit(&mut self.fake.state.lock().unwrap().faults);
    }

    /// The operations served so far.
    pub fn requests(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().requests.clone()
    }

    /// The messages of every log event in `group`, stream by stream.
    pub fn log_messages(&self, group: &str) -> Vec<String> {
        let state = self.fake.state.lock().unwrap();
        let streams = state.streams.iter().filter(|((g, _), _)| g == group);
        streams.flat_map(|(_, events)| events.iter().map(|e| e.message.clone())).collect()
    }

    /// The ids of the EFS access points.
    pub fn access_points(&self) -> Vec<String> {
        let state = self.fake.state.lock().unwrap();
        state.access_points.iter().filter_map(|p| p["AccessPointId"].as_str().map(String::from)).collect()
    }

    /// The names of the secrets Secrets Manager holds.
    pub fn secrets(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().secrets.iter().map(|s| s.name.clone()).collect()
    }

    /// Every request body so far, with its operation (`secretsmanager.CreateSecret {...}`).
    pub fn request_bodies(&self) -> Vec<String> {
        self.fake.state.lock().unwrap().bodies.clone()
    }

    /// Every task still describable, as DescribeTasks shows it (with its tags).
    pub fn tasks(&self) -> Vec<Value> {
        self.fake.state.lock().unwrap().tasks.values().map(|t| t.json.clone()).collect()
    }

    /// The ACTIVE task definitions (their ARNs).
    pub fn active_definitions(&self) -> Vec<String> {
        let state = self.fake.state.lock().unwrap();
        let defs = state.defs.values().flatten();
        defs.filter(|(d, _)| d["status"] == "ACTIVE")
            .filter_map(|(d, _)| d["taskDefinitionArn"].as_str())
            .map(String::from)
            .collect()
    }

    /// Fargate reclaims the task's capacity: SIGTERM, SIGKILL after `stopTimeout`, and the
    /// task ends `SpotInterruption`.
    pub fn interrupt(&self, task_arn: &str) {
        tasks::stop(&self.fake, task_arn, "SpotInterruption", "Your Spot Task was interrupted.");
    }

    /// The task is gone from DescribeTasks at once (as a stopped task is after about an
    /// hour); its containers are killed and removed.
    pub fn vanish(&self, task_arn: &str) {
        tasks::stop(&self.fake, task_arn, "TerminationNotice", "vanished");
        self.fake.state.lock().unwrap().tasks.remove(task_arn);
    }

    /// Waits (up to `within`) until every task has stopped, then says which Docker
    /// containers and volumes of the fake are left on the engine (none, when every task
    /// was cleaned up).
    pub async fn containers_left(&self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let running = || self.tasks().iter().any(|t| t["lastStatus"] != "STOPPED");
        while (running() || self.fake.agents.load(Ordering::SeqCst) > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        docker::left(&self.fake.docker, &self.fake.id).await
    }
}

impl Drop for FakeEcs {
    fn drop(&mut self) {
        self.server.abort();
    }
}
