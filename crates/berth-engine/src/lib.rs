//! berth's engine: turns a stored job into a finished one over any `Store` and `Backend`.
//! It owns the attempt lifecycle (pull, create, start, supervise, collect, remove), the log
//! recorder with its cap, and the orphan sweep. It never names a concrete store or backend.

pub mod attempt;
pub mod breaker;
pub mod cancel;
pub mod ops;
pub mod outputs;
pub mod owner;
pub mod paths;
pub mod reaper;
pub mod recorder;
mod resume;
pub mod submit;
pub mod sweep;
pub mod telemetry;
pub mod worker;

#[cfg(test)]
mod worker_tests;

use std::sync::Arc;

use berth_core::backend::Backend;
use berth_core::clock::Clock;
use berth_core::defaults::Defaults;
use berth_core::policy::Policy;
use berth_core::store::Store;

/// Everything needed to run jobs in this process.
#[derive(Clone)]
pub struct Runner {
    pub store: Arc<dyn Store>,
    pub backend: Arc<dyn Backend>,
    pub clock: Arc<dyn Clock>,
    pub install_id: String,
    /// This process's owner token (see `owner`).
    pub owner: String,
    pub paths: paths::DataPaths,
    pub defaults: Defaults,
    pub policy: Policy,
    /// Counts engine failures of this runner's attempts (see `breaker`).
    pub breaker: Arc<breaker::Breaker>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("install_id", &self.install_id).field("owner", &self.owner).finish()
    }
}
