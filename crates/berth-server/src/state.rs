//! What every handler shares: the runner (store, backend, clock), how requests are
//! authenticated, the cancel handles of jobs running in this process, and the local pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::clock::Timestamp;
use berth_core::ids::JobId;
use berth_engine::Runner;
use berth_engine::cancel::Cancel;
use tokio::sync::Notify;
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
    /// Local worker slots; 0 makes an API-only server.
    pub workers: usize,
    /// How long running jobs may finish on SIGTERM before they are stopped.
    pub shutdown_grace: Duration,
    /// First webhook retry delay; doubles each time.
    pub webhook_backoff: Duration,
    pub webhook_max_tries: u32,
    /// How often the orphan sweep runs.
    pub gc_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthMode::Tokens,
            workers: 2,
            shutdown_grace: Duration::from_secs(30),
            webhook_backoff: Duration::from_secs(2),
            webhook_max_tries: 8,
            gc_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub runner: Runner,
    pub config: ServerConfig,
    /// Cancel handles of the jobs this process is running.
    pub running: Arc<Mutex<HashMap<JobId, Cancel>>>,
    /// Woken on every submission and retry, so idle workers claim at once.
    pub wake: Arc<Notify>,
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
        let started_at = runner.clock.now();
        AppState {
            runner,
            config,
            running: Arc::default(),
            wake: Arc::new(Notify::new()),
            started_at,
            shutdown: CancellationToken::new(),
        }
    }

    /// Cancels a job running in this process; false when it runs elsewhere or not at all.
    pub fn cancel_running(&self, id: &JobId, by: &str) -> bool {
        let running = self.running.lock().map(|m| m.get(id).cloned()).ok().flatten();
        running.map(|c| c.cancel(by)).is_some()
    }

    pub fn busy(&self) -> usize {
        self.running.lock().map(|m| m.len()).unwrap_or(0)
    }
}
