//! The only place that names concrete implementations: the SQLite or PostgreSQL store and
//! the Docker or process backend, assembled into a `Runner`.

use std::sync::Arc;

use anyhow::Context;
use berth_backend_docker::{DockerBackend, Transfer};
use berth_backend_process::ProcessBackend;
use berth_core::backend::{Backend, BackendError};
use berth_core::clock::SystemClock;
use berth_core::store::Store;
use berth_engine::Runner;
use berth_engine::paths::DataPaths;
use berth_store_postgres::PgStore;
use berth_store_sqlite::SqliteStore;

use crate::config::Config;
use crate::ui;

/// The embedded store, and a runner when the container engine answers.
pub struct Local {
    pub store: Arc<dyn Store>,
    pub paths: DataPaths,
    pub runner: Result<Runner, BackendError>,
}

impl Local {
    /// The runner, or an error saying what to do about the engine.
    pub fn runner(&self) -> anyhow::Result<&Runner> {
        self.runner.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The configured store (`--store`/`BERTH_STORE`/`store` in the config file, else the
/// embedded one in the data dir), with a Docker runner.
pub async fn open(config: &Config) -> anyhow::Result<Local> {
    open_node(config, BackendKind::Docker).await
}

/// Which backend runs attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Containers on the local Docker engine.
    Docker,
    /// Plain child processes: no isolation (see docs/backends.md).
    Process,
}

/// Like `open`, with the attempts run by `backend`.
pub async fn open_node(config: &Config, backend: BackendKind) -> anyhow::Result<Local> {
    let paths = DataPaths::new(&config.data_dir);
    paths.create_private().with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match config.store.as_deref() {
        Some(url) => Arc::new(PgStore::open(url).await.context("opening the PostgreSQL store (--store/BERTH_STORE)")?),
        None => {
            let db = paths.database();
            let sqlite = SqliteStore::open(&db).await.with_context(|| format!("opening the store at {}", db.display()));
            Arc::new(sqlite?)
        }
    };
    let install_id = store.install_id().await?;
    tracing::debug!("store open");
    // Absolute: it is a bind mount's source.
    let staging = std::path::absolute(config.data_dir.join("staging")).context("resolving the data dir")?;
    let backend: Result<Arc<dyn Backend>, BackendError> = match backend {
        BackendKind::Docker => {
            let transfer = if config.docker_archive()? { Transfer::Archive } else { Transfer::Bind(staging) };
            DockerBackend::connect(transfer).await.map(|b| Arc::new(b) as Arc<dyn Backend>)
        }
        BackendKind::Process => Ok(Arc::new(ProcessBackend::new(staging))),
    };
    let runner = backend.map(|backend| Runner {
        store: store.clone(),
        backend,
        clock: Arc::new(SystemClock),
        install_id,
        owner: berth_engine::owner::current(),
        paths: paths.clone(),
        defaults: config.defaults.clone(),
        policy: config.policy.clone(),
        breaker: Default::default(),
    });
    Ok(Local { store, paths, runner })
}

/// Opens the store and sweeps orphans first, as every command that opens the store does.
/// A sweep that cannot run (engine down) is a warning, not a failure: the store is still
/// readable.
pub async fn open_and_sweep(config: &Config) -> anyhow::Result<Local> {
    let local = open(config).await?;
    tracing::debug!("engine connected");
    match &local.runner {
        Ok(runner) => match runner.sweep(false).await {
            Ok(report) => {
                for name in &report.removed {
                    ui::note(&format!("removed container {name}, left behind by a berth process that died"));
                }
                for e in &report.errors {
                    ui::warn(e);
                }
            }
            Err(e) => ui::warn(&format!("orphan sweep skipped: {e}")),
        },
        Err(e) => ui::warn(&format!("orphan sweep skipped: {e}")),
    }
    tracing::debug!("swept");
    Ok(local)
}
