//! **A fake Kubernetes API server** for berth's tests, since no real one can run on these
//! machines. It speaks, over plain HTTP on 127.0.0.1, the endpoints berth's Kubernetes
//! backend uses: Jobs (create, get, list, watch, merge patch, delete with a propagation
//! policy), Pods (get, list, watch, delete with a grace period, log with follow, timestamps
//! and sinceTime, exec and attach over WebSocket with the v5 channel protocol), Secrets.
//!
//! It is a small Job controller and kubelet too: an unsuspended Job gets one pod, whose
//! init containers and containers run **as containers on the local Docker engine** (emptyDir
//! volumes as Docker volumes, Secret volumes as read-only files), so the backend conformance
//! suite runs real jobs through it. Status JSON follows the API's shapes (phases, container
//! states with exit codes and `OOMKilled`, Job conditions, `DeadlineExceeded`).
//!
//! What it leaves out (see docs/backends.md): scheduling (a pod is bound at once unless
//! `unschedulable` is set), networking between a pod's containers, probes, field validation
//! of objects, RBAC. Faults a test can script: a watch answered with 410 Gone, a log stream
//! cut after some bytes, eviction, node loss, pods that cannot be scheduled.

#![allow(clippy::unwrap_used)] // a test fixture: a poisoned lock fails the test
#![allow(clippy::result_large_err)] // handlers answer errors as responses

mod api;
mod docker;
mod objects;
mod pods;
mod streams;
mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

/// The label on every Docker container and volume the fake makes: its pod.
pub const CONTAINER_LABEL: &str = "berth-kube-fake.pod";
/// ... and which fake made it (tests run side by side, each with its own).
pub const CLUSTER_LABEL: &str = "berth-kube-fake.cluster";

/// One change, as a watch sends it.
#[derive(Clone, Debug)]
pub struct Change {
    /// `jobs` or `pods`.
    pub kind: &'static str,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub action: &'static str,
    pub object: Value,
    pub version: u64,
}

/// Faults a test scripts; each is taken once.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next watch is answered with an ERROR event, code 410 (its version is too old).
    pub gone_next_watch: bool,
    /// The next followed log stream ends after this many bytes, as a cut connection would.
    pub cut_next_log_after: Option<usize>,
    /// New pods stay Pending with `PodScheduled=False, reason=Unschedulable`.
    pub unschedulable: bool,
    /// Every request is answered 500 until then (an API server down; pods go on running).
    pub outage_until: Option<std::time::Instant>,
}

#[derive(Default)]
pub(crate) struct State {
    pub version: u64,
    pub jobs: BTreeMap<(String, String), Value>,
    pub pods: BTreeMap<(String, String), Value>,
    pub secrets: BTreeMap<(String, String), Value>,
    /// Every change so far (a watch from a version replays what followed it).
    pub history: Vec<Change>,
    pub faults: Faults,
    /// Requests served, `METHOD path?query`, for tests that check what the client asked.
    pub requests: Vec<String>,
}

/// The shared state and the Docker client.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub state: Arc<Mutex<State>>,
    pub changes: broadcast::Sender<Change>,
    pub docker: bollard::Docker,
    /// Where Secret volumes are written for the pods' bind mounts.
    pub volumes_dir: Arc<tempfile::TempDir>,
    /// This fake's id, on everything it makes on the engine.
    pub id: String,
    /// Bumped to end every open watch (as an API server restart or a load balancer does).
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
}

impl Cluster {
    /// Stores `object` under `kind` with a new resourceVersion and tells the watches.
    pub fn record(&self, kind: &'static str, action: &'static str, mut object: Value) -> Value {
        let mut state = self.state.lock().unwrap();
        state.version += 1;
        let version = state.version;
        object["metadata"]["resourceVersion"] = Value::String(version.to_string());
        let ns = objects::namespace(&object);
        let key = (ns.clone(), objects::name(&object));
        let map = match kind {
            "jobs" => &mut state.jobs,
            _ => &mut state.pods,
        };
        if action == "DELETED" {
            map.remove(&key);
        } else {
            map.insert(key, object.clone());
        }
        let change = Change { kind, namespace: ns, action, object: object.clone(), version };
        state.history.push(change.clone());
        let _ = self.changes.send(change);
        object
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        let key = (ns.to_string(), name.to_string());
        match kind {
            "jobs" => state.jobs.get(&key).cloned(),
            "secrets" => state.secrets.get(&key).cloned(),
            _ => state.pods.get(&key).cloned(),
        }
    }

    /// Applies `edit` to a stored object and records the change; `None` if it is gone.
    pub fn update(&self, kind: &'static str, ns: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut object = self.get(kind, ns, name)?;
        edit(&mut object);
        Some(self.record(kind, "MODIFIED", object))
    }
}

/// A running fake API server.
pub struct FakeCluster {
    cluster: Cluster,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl FakeCluster {
    /// Serves on a free port of 127.0.0.1, with pods run on the local Docker engine.
    pub async fn start() -> std::io::Result<FakeCluster> {
        let docker = bollard::Docker::connect_with_defaults().map_err(std::io::Error::other)?;
        let (changes, _) = broadcast::channel(4096);
        let cluster = Cluster {
            state: Arc::default(),
            changes,
            docker,
            volumes_dir: Arc::new(tempfile::tempdir()?),
            id: uuid::Uuid::new_v4().simple().to_string(),
            watch_epoch: tokio::sync::watch::channel(0).0,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = api::router(cluster.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeCluster { cluster, addr, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts faults (see `Faults`).
    pub fn faults(&self, edit: impl FnOnce(&mut Faults)) {
        edit(&mut self.cluster.state.lock().unwrap().faults);
    }

    /// Ends every open watch; with `gone_next_watch` the next is answered 410 Gone.
    pub fn end_watches(&self) {
        self.cluster.watch_epoch.send_modify(|e| *e += 1);
    }

    /// The requests served so far.
    pub fn requests(&self) -> Vec<String> {
        self.cluster.state.lock().unwrap().requests.clone()
    }

    /// The stored pods (as JSON), of every namespace.
    pub fn pods(&self) -> Vec<Value> {
        self.cluster.state.lock().unwrap().pods.values().cloned().collect()
    }

    pub fn jobs(&self) -> Vec<Value> {
        self.cluster.state.lock().unwrap().jobs.values().cloned().collect()
    }

    pub fn secrets(&self) -> Vec<Value> {
        self.cluster.state.lock().unwrap().secrets.values().cloned().collect()
    }

    /// The kubelet evicts the pod (node pressure): its containers are killed and it ends
    /// `Failed` with reason `Evicted`.
    pub async fn evict(&self, ns: &str, pod: &str) {
        pods::fail(&self.cluster, ns, pod, "Evicted", "The node was low on resource: memory.").await;
    }

    /// The pod's node is lost: its containers stop and the pod is marked `Failed` by the
    /// node lifecycle controller with reason `NodeLost`... as in the API, after the fact.
    pub async fn lose_node(&self, ns: &str, pod: &str) {
        pods::fail(&self.cluster, ns, pod, "NodeLost", "Node fake-node which was running pod is unresponsive").await;
    }

    /// Waits (up to `within`) until every pod is gone, then says which Docker containers
    /// of the fake are left (none, when every pod was cleaned up).
    pub async fn containers_left(&self, within: std::time::Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        while !self.pods().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        docker::containers_left(&self.cluster.docker, &self.cluster.id).await
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.server.abort();
    }
}
