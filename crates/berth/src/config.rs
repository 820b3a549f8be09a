//! Configuration, parsed once: global flags, `BERTH_*` variables (through clap) and the
//! config file, resolved into one `Config`. This is the only module that reads the process
//! environment.

use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_core::defaults::Defaults;
use berth_core::policy::Policy;
use serde::Deserialize;

use crate::cli::Cli;

/// The config file's shape (`config.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL; `--store`/`BERTH_STORE` win over it.
    store: Option<String>,
    #[serde(default)]
    defaults: Defaults,
    /// The local CLI's policy: rules laid over `Policy::local()`.
    policy: Option<toml::Table>,
    #[serde(default)]
    node: NodeSettings,
    /// Where the key that seals secrets is (64 hex characters); `BERTH_SECRET_KEY_FILE` wins.
    secret_key_file: Option<PathBuf>,
    #[serde(default)]
    backends: Backends,
}

/// `[backends.<name>]`: each backend's own settings, read by the backend when it is made
/// (kept as tables so a build without the backend still reads the file).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backends {
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
    pub kubernetes: Option<toml::Table>,
    #[cfg_attr(not(feature = "ecs"), allow(dead_code))]
    pub ecs: Option<toml::Table>,
}

/// `[node]` in the config file: how `berth server` and `berth worker` run; their flags win.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// `docker` or `process`.
    pub backend: Option<String>,
    /// Worker slots (`--slots`, `--workers`).
    pub slots: Option<usize>,
    pub queues: Option<Vec<String>>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    pub lease: Option<String>,
    pub shutdown_grace: Option<String>,
    pub retention: Option<String>,
    pub gc_interval: Option<String>,
    /// The policy file of `berth server` and `berth worker` (`--policy`).
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub defaults: Defaults,
    pub policy: Policy,
    pub server: Option<String>,
    pub token: Option<String>,
    /// The shared store's URL; `None` for the embedded store in `data_dir`.
    pub store: Option<String>,
    /// `[node]` of the config file (flags are resolved over it in `commands::node`).
    pub node: NodeSettings,
    /// `BERTH_DOCKER_TRANSFER` (`bind` or `archive`), read when a Docker backend is made.
    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub docker_transfer: Option<String>,
    /// `BERTH_SECRET_KEY` (hex), else the key file: `BERTH_SECRET_KEY_FILE` or
    /// `secret_key_file` in the config file.
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    /// The environment at start, for `pass_env` policies.
    pub environment: std::collections::BTreeMap<String, String>,
    /// `DOCKER_HOST`: bind mounts only for the local socket.
    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub docker_host: Option<String>,
    #[cfg_attr(not(any(feature = "kubernetes", feature = "ecs")), allow(dead_code))]
    pub backends: Backends,
    /// `BERTH_KUBERNETES_URL`: an API server without TLS or auth (the test fake, `kubectl
    /// proxy`), over the kubeconfig or in-cluster account.
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
    pub kubernetes_url: Option<String>,
}

impl Config {
    /// Whether the Docker engine gets an attempt's files through its archive API (any
    /// engine) rather than bind-mounted staging directories (only an engine on this host).
    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub fn docker_archive(&self) -> anyhow::Result<bool> {
        match self.docker_transfer.as_deref().filter(|t| !t.is_empty()) {
            Some("archive") => Ok(true),
            Some("bind") => Ok(false),
            None => Ok(self.docker_host.as_deref().is_some_and(|h| !h.is_empty() && !h.starts_with("unix://"))),
            Some(other) => anyhow::bail!("BERTH_DOCKER_TRANSFER: `{other}` is not `bind` or `archive`"),
        }
    }
}

pub fn resolve(cli: &Cli) -> anyhow::Result<Config> {
    let file = match &cli.config {
        Some(path) => read(path)?,
        None => match default_config_path() {
            Some(path) if path.exists() => read(&path)?,
            _ => FileConfig::default(),
        },
    };
    let data_dir = cli
        .data_dir
        .clone()
        .or(file.data_dir)
        .or_else(default_data_dir)
        .context("cannot tell where to keep data: set --data-dir or BERTH_DATA_DIR")?;
    Ok(Config {
        data_dir,
        defaults: file.defaults,
        policy: local_policy(file.policy)?,
        server: cli.server.clone(),
        token: cli.token.clone(),
        store: cli.store.clone().or(file.store).filter(|s| !s.is_empty()),
        node: file.node,
        docker_transfer: env_var("BERTH_DOCKER_TRANSFER"),
        docker_host: env_var("DOCKER_HOST"),
        backends: file.backends,
        kubernetes_url: env_var("BERTH_KUBERNETES_URL").filter(|u| !u.is_empty()),
        secret_key: env_var("BERTH_SECRET_KEY").filter(|k| !k.trim().is_empty()),
        secret_key_file: env_var("BERTH_SECRET_KEY_FILE")
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .or(file.secret_key_file),
        environment: std::env::vars().collect(),
    })
}

fn local_policy(table: Option<toml::Table>) -> anyhow::Result<Policy> {
    let Some(table) = table else { return Ok(Policy::local()) };
    let patch = serde_json::to_value(table).context("reading [policy] in the config file")?;
    Policy::local().patched(&patch, "the local policy").map_err(|e| anyhow::anyhow!("[policy] in the config file: {e}"))
}

fn read(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config {} is invalid", path.display()))
}

fn default_config_path() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("berth/config.toml"))
}

fn default_data_dir() -> Option<PathBuf> {
    xdg("XDG_DATA_HOME", ".local/share").map(|d| d.join("berth"))
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    env_var(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env_var("HOME").map(|h| Path::new(&h).join(fallback)))
}

/// One variable of this process's environment (for `-e KEY` and env files).
pub fn env_var(key: &str) -> Option<String> {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the environment
    std::env::var(key).ok()
}
