//! The only place that names concrete implementations: the SQLite or PostgreSQL store and
//! the Docker, process or Kubernetes backend, assembled into a `Runner`. Which of them this
//! build has is its cargo features' business (`docker`, `process`, `kubernetes`, `postgres`).

use std::sync::Arc;

use anyhow::Context;
use berth_core::backend::{Backend, BackendError};
use berth_core::policy::Policy;
use berth_core::store::Store;
use berth_core::vault::{LocalKey, SecretKeys};
use berth_engine::Runner;
use berth_engine::paths::DataPaths;
use berth_store_sqlite::SqliteStore;

use crate::config::Config;
use crate::ui;

/// The embedded store, and a runner when the container engine answers.
pub struct Local {
    pub store: Arc<dyn Store>,
    pub paths: DataPaths,
    pub runner: Result<Runner, BackendError>,
    /// Seals and opens secrets (see `secret_keys`).
    pub keys: Option<Arc<dyn SecretKeys>>,
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
    open_node(config, BackendKind::Docker, config.policy.clone()).await
}

/// Which backend runs attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Containers on the local Docker engine.
    Docker,
    /// Plain child processes: no isolation (see docs/backends.md).
    Process,
    /// One Kubernetes Job per attempt (`[backends.kubernetes]` in the config file).
    Kubernetes,
    /// One AWS ECS task per attempt (`[backends.ecs]` in the config file; the AWS chain's
    /// credentials and region, `AWS_ENDPOINT_URL` for an emulator).
    Ecs,
    /// ECS when running inside an ECS task with `[backends.ecs]`, else Docker when an
    /// engine answers, else plain processes (with a warning); chosen at start.
    Auto,
}

impl BackendKind {
    /// Its name, which is also the cargo feature that builds it in.
    pub fn feature(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Process => "process",
            BackendKind::Kubernetes => "kubernetes",
            BackendKind::Ecs => "ecs",
            BackendKind::Auto => "auto",
        }
    }
}

/// Like `open`, with the attempts run by `backend` under `policy`.
pub async fn open_node(config: &Config, backend: BackendKind, policy: Policy) -> anyhow::Result<Local> {
    let paths = DataPaths::new(&config.data_dir);
    paths.create_private().with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match config.store.as_deref() {
        Some(url) => open_postgres(url).await?,
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
    let backend = match backend {
        BackendKind::Auto => choose_auto(config, &staging).await,
        chosen => chosen,
    };
    let backend = make_backend(config, backend, staging).await?;
    let keys = secret_keys(config)?;
    let runner = match backend {
        Ok(backend) => {
            let mut builder = Runner::builder(store.clone(), backend, paths.clone())
                .install_id(install_id)
                .defaults(config.defaults.clone())
                .policy(policy)
                .host_env(config.environment.clone());
            if let Some(k) = &keys {
                builder = builder.secret_keys(k.clone());
            }
            Ok(builder.build().await?)
        }
        Err(e) => Err(e),
    };
    Ok(Local { store, paths, runner, keys })
}

/// The key that seals secrets: `BERTH_SECRET_KEY`, else the key file; with neither, the
/// embedded store keeps one in the data dir (made on first use, mode 0600), while a shared
/// store gets none (every node needs the same key: the operator provides it).
pub fn secret_keys(config: &Config) -> anyhow::Result<Option<Arc<dyn SecretKeys>>> {
    let text = match (&config.secret_key, &config.secret_key_file) {
        (Some(hex), _) => hex.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret key file {} (BERTH_SECRET_KEY_FILE)", path.display()))?,
        (None, None) if config.store.is_some() => return Ok(None),
        (None, None) => {
            let path = config.data_dir.join("secret.key");
            if !path.exists() {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                // Written whole, then linked in: a crash or a second berth never sees half a key.
                let tmp = config.data_dir.join(format!("secret.key.{}", std::process::id()));
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(|e| anyhow::anyhow!("creating the secret key {}: {e}", tmp.display()))?;
                f.write_all(LocalKey::generate_hex().as_bytes())?;
                f.sync_all()?;
                // An error with the key in place: another berth made it first, and its key is the one.
                if let Err(e) = std::fs::hard_link(&tmp, &path)
                    && !path.exists()
                {
                    anyhow::bail!("creating the secret key {}: {e}", path.display());
                }
                let _ = std::fs::remove_file(&tmp);
            }
            std::fs::read_to_string(&path).with_context(|| format!("reading the secret key {}", path.display()))?
        }
    };
    let key = LocalKey::from_hex(&text).map_err(|e| anyhow::anyhow!("the secret key: {e}"))?;
    Ok(Some(Arc::new(key)))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let store = berth_store_postgres::PgStore::open(url).await;
    Ok(Arc::new(store.context("opening the PostgreSQL store (--store/BERTH_STORE)")?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    anyhow::bail!("--store/BERTH_STORE: this berth was built without PostgreSQL (cargo feature `postgres`)")
}

/// What `--backend auto` looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Surroundings {
    /// ECS gave this process its task metadata endpoint (`ECS_CONTAINER_METADATA_URI[_V4]`).
    pub inside_ecs: bool,
    /// The config file has `[backends.ecs]` and this build has the backend.
    pub ecs_ready: bool,
    /// A Docker engine answers (and this build has the backend).
    pub docker_answers: bool,
}

/// `--backend auto`'s rule: ECS inside ECS when it is configured, else Docker when an
/// engine answers, else plain processes; with the reason, and whether it deserves a warning.
pub fn auto_backend(s: Surroundings) -> (BackendKind, String, bool) {
    if s.inside_ecs && s.ecs_ready {
        return (BackendKind::Ecs, "running inside an ECS task, with [backends.ecs]".into(), false);
    }
    if s.docker_answers {
        return (BackendKind::Docker, "a Docker engine answers".into(), false);
    }
    let why = if s.inside_ecs {
        "running inside ECS without [backends.ecs] in the config file, and no Docker engine answers"
    } else {
        "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)"
    };
    let what = format!("{why}: jobs run as plain processes on this host, with NO isolation (docs/backends.md)");
    (BackendKind::Process, what, true)
}

/// Looks around and says what `--backend auto` chose, and why, on stderr.
async fn choose_auto(config: &Config, staging: &std::path::Path) -> BackendKind {
    let env = &config.environment;
    let inside_ecs =
        env.contains_key("ECS_CONTAINER_METADATA_URI_V4") || env.contains_key("ECS_CONTAINER_METADATA_URI");
    let ecs_ready = cfg!(feature = "ecs") && config.backends.ecs.is_some();
    // An engine that does not answer within a few seconds does not count (a DOCKER_HOST
    // over TCP to a host that is down would otherwise hold the start for minutes).
    let probe = make_backend(config, BackendKind::Docker, staging.to_path_buf());
    let docker_answers = !(inside_ecs && ecs_ready)
        && matches!(tokio::time::timeout(std::time::Duration::from_secs(5), probe).await, Ok(Ok(Ok(_))));
    let (kind, why, warn) = auto_backend(Surroundings { inside_ecs, ecs_ready, docker_answers });
    let line = format!("--backend auto chose {}: {why}", kind.feature());
    if warn {
        crate::ui::warn(&line)
    } else {
        crate::ui::note(&line)
    }
    kind
}

/// The backend `kind`, or why it cannot be had: the engine does not answer (a runner-level
/// error: the store stays usable), or this build lacks it (a command-level error).
async fn make_backend(
    config: &Config,
    kind: BackendKind,
    staging: std::path::PathBuf,
) -> anyhow::Result<Result<Arc<dyn Backend>, BackendError>> {
    let _ = (&config, &staging);
    match kind {
        #[cfg(feature = "docker")]
        BackendKind::Docker => {
            use berth_backend_docker::{DockerBackend, Transfer};
            let transfer = if config.docker_archive()? { Transfer::Archive } else { Transfer::Bind(staging) };
            Ok(DockerBackend::connect(transfer).await.map(|b| Arc::new(b) as Arc<dyn Backend>))
        }
        #[cfg(feature = "process")]
        BackendKind::Process => Ok(Ok(Arc::new(berth_backend_process::ProcessBackend::new(staging)))),
        #[cfg(feature = "kubernetes")]
        BackendKind::Kubernetes => {
            use berth_backend_kubernetes::{KubernetesBackend, Settings};
            let table = config.backends.kubernetes.clone().unwrap_or_default();
            let settings: Settings = table.try_into().context("[backends.kubernetes] in the config file")?;
            let url = config.kubernetes_url.as_deref();
            Ok(KubernetesBackend::connect(settings, url).await.map(|b| Arc::new(b) as Arc<dyn Backend>))
        }
        #[cfg(feature = "ecs")]
        BackendKind::Ecs => {
            use berth_backend_ecs::{EcsBackend, Settings};
            let table = config.backends.ecs.clone().unwrap_or_default();
            let settings: Settings = table.try_into().context("[backends.ecs] in the config file")?;
            Ok(EcsBackend::connect(settings, None).await.map(|b| Arc::new(b) as Arc<dyn Backend>))
        }
        // `open_node` resolves it first; a process build without it still says what it lacks.
        #[allow(unreachable_patterns)]
        other => Ok(Err(BackendError::Unsupported(format!(
            "this berth was built without the {0} backend (cargo feature `{0}`)",
            other.feature()
        )))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_ecs_inside_ecs_then_docker_then_processes_loudly() {
        let inside = Surroundings { inside_ecs: true, ecs_ready: true, docker_answers: true };
        assert_eq!(auto_backend(inside).0, BackendKind::Ecs);
        let unconfigured = Surroundings { ecs_ready: false, ..inside };
        assert_eq!(auto_backend(unconfigured).0, BackendKind::Docker);
        let outside = Surroundings { inside_ecs: false, ..inside };
        assert_eq!(auto_backend(outside).0, BackendKind::Docker, "[backends.ecs] alone is not a reason");
        let (kind, why, warn) = auto_backend(Surroundings::default());
        assert_eq!((kind, warn), (BackendKind::Process, true));
        assert!(why.contains("NO isolation"), "{why}");
        let (kind, why, _) = auto_backend(Surroundings { inside_ecs: true, ..Surroundings::default() });
        assert_eq!(kind, BackendKind::Process);
        assert!(why.contains("without [backends.ecs]"), "{why}");
    }
}
