//! What every handler shares: the runner (store, backend, clock), how requests are
//! authenticated, and the local worker (its slots, the cancel handles of the jobs it runs).

use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_engine::Runner;
use berth_engine::worker::{Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Bearer tokens checked against the store (the default).
    Tokens,
    /// `--insecure-no-auth`: every caller is an admin of the `local` tenant.
    Disabled,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub auth: AuthMode,
    /// The local worker: slots (0 makes an API-only server), queues, lease, grace, gc.
    pub worker: WorkerConfig,
    /// First webhook retry delay; doubles each time.
    pub webhook_backoff: Duration,
    pub webhook_max_tries: u32,
    /// Whether this server runs a scheduler (`--no-scheduler` turns it off).
    pub scheduler: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthMode::Tokens,
            worker: WorkerConfig::default(),
            webhook_backoff: Duration::from_secs(2),
            webhook_max_tries: 8,
            scheduler: true,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub runner: Runner,
    pub config: ServerConfig,
    pub worker: Worker,
    pub started_at: Timestamp,
    /// Cancelled when the server shuts down: workers stop claiming, streams end.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("runner", &self.runner).field("config", &self.config).finish()
    }
}

impl AppState {
    pub fn new(runner: Runner, config: ServerConfig) -> AppState {
        let started_at = runner.clock().now();
        let shutdown = CancellationToken::new();
        let worker = Worker::new(runner, config.worker.clone(), shutdown.clone());
        AppState { runner: worker.runner.clone(), config, worker, started_at, shutdown }
    }

    /// Cancels a job running in this process; false when it runs elsewhere or not at all.
    pub fn cancel_running(&self, id: &JobId, by: &str) -> bool {
        self.worker.cancel_running(id, by)
    }

    pub fn busy(&self) -> usize {
        self.worker.busy()
    }
}
