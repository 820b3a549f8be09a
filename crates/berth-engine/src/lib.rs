//! berth's engine: turns a stored job into a finished one over any `Store` and `Backend`.
//! It owns the attempt lifecycle (pull, create, start, supervise, collect, remove), the log
//! recorder with its cap, and the orphan sweep. It never names a concrete store or backend.

pub mod attempt;
pub mod breaker;
pub mod cancel;
mod claims;
mod images;
pub mod ops;
mod outage;
pub mod outputs;
pub mod owner;
pub mod paths;
pub mod reaper;
pub mod recorder;
mod resume;
pub mod schedule_ops;
pub mod scheduler;
mod secrets;
mod slots;
pub mod submit;
pub mod sweep;
pub mod telemetry;
pub mod worker;

#[cfg(test)]
mod scheduler_tests;
#[cfg(test)]
mod worker_tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::backend::Backend;
use berth_core::clock::Clock;
use berth_core::defaults::Defaults;
use berth_core::policy::Policy;
use berth_core::store::Store;
use berth_core::vault::SecretKeys;

/// Everything needed to run jobs in this process. Made with `Runner::builder`; read through
/// its accessors (the fields are the engine's own).
#[derive(Clone)]
pub struct Runner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) install_id: String,
    /// This process's owner token (see `owner`), or the worker id once a `Worker` runs it.
    pub(crate) owner: String,
    pub(crate) paths: paths::DataPaths,
    pub(crate) defaults: Defaults,
    pub(crate) policy: Policy,
    /// Opens the tenants' secrets; `None`: jobs with secrets are refused.
    pub(crate) keys: Option<Arc<dyn SecretKeys>>,
    /// This process's environment when it started: where `pass_env` takes its values.
    pub(crate) host_env: Arc<BTreeMap<String, String>>,
    /// Counts engine failures of this runner's attempts (see `breaker`).
    pub(crate) breaker: Arc<breaker::Breaker>,
}

/// Builds a `Runner`: the store, the backend and the data dir are required; the clock, the
/// owner token, defaults, policy and breaker have defaults.
pub struct RunnerBuilder {
    runner: Runner,
    install_id: Option<String>,
}

impl Runner {
    pub fn builder(store: Arc<dyn Store>, backend: Arc<dyn Backend>, paths: paths::DataPaths) -> RunnerBuilder {
        let runner = Runner {
            store,
            backend,
            clock: Arc::new(berth_core::clock::SystemClock),
            install_id: String::new(),
            owner: owner::current(),
            paths,
            defaults: Defaults::default(),
            policy: Policy::default(),
            keys: None,
            host_env: Arc::default(),
            breaker: Arc::default(),
        };
        RunnerBuilder { runner, install_id: None }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// The store's installation id: it labels every container this install makes.
    pub fn install_id(&self) -> &str {
        &self.install_id
    }
    pub fn owner(&self) -> &str {
        &self.owner
    }
    pub fn paths(&self) -> &paths::DataPaths {
        &self.paths
    }
    pub fn breaker(&self) -> &Arc<breaker::Breaker> {
        &self.breaker
    }
    /// Seals and opens secrets, if this node has a key.
    pub fn secret_keys(&self) -> Option<&Arc<dyn SecretKeys>> {
        self.keys.as_ref()
    }
    /// The policy every tenant's override is laid over (see `policy_for`).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl RunnerBuilder {
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> RunnerBuilder {
        self.runner.clock = clock;
        self
    }
    /// Known already (saves asking the store).
    pub fn install_id(mut self, id: impl Into<String>) -> RunnerBuilder {
        self.install_id = Some(id.into());
        self
    }
    pub fn owner(mut self, owner: impl Into<String>) -> RunnerBuilder {
        self.runner.owner = owner.into();
        self
    }
    pub fn defaults(mut self, defaults: Defaults) -> RunnerBuilder {
        self.runner.defaults = defaults;
        self
    }
    pub fn policy(mut self, policy: Policy) -> RunnerBuilder {
        self.runner.policy = policy;
        self
    }
    pub fn secret_keys(mut self, keys: Arc<dyn SecretKeys>) -> RunnerBuilder {
        self.runner.keys = Some(keys);
        self
    }
    /// The environment `pass_env` policies read (the CLI passes its own at start).
    pub fn host_env(mut self, env: BTreeMap<String, String>) -> RunnerBuilder {
        self.runner.host_env = Arc::new(env);
        self
    }
    pub fn breaker(mut self, breaker: Arc<breaker::Breaker>) -> RunnerBuilder {
        self.runner.breaker = breaker;
        self
    }
    /// The runner, with the install id read from the store unless it was given.
    pub async fn build(self) -> berth_core::store::StoreResult<Runner> {
        let mut runner = self.runner;
        runner.install_id = match self.install_id {
            Some(id) => id,
            None => runner.store.install_id().await?,
        };
        Ok(runner)
    }
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("install_id", &self.install_id).field("owner", &self.owner).finish()
    }
}
