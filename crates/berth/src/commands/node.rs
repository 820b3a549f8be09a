//! What `berth server` and `berth worker` share: resolving their flags over the config
//! file's `[node]` table and the defaults into one validated `WorkerConfig` (stable id kept
//! in the data dir, backend, slots, queues, tags, lease, grace, retention), and waiting for
//! SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_core::quantity::DurationSpec;
use berth_core::validate::routing_name;
use berth_engine::worker::WorkerConfig;

use crate::cli::NodeArgs;
use crate::config::Config;
use crate::ui;
use crate::wiring::BackendKind;

/// The backend: `--backend`, else `node.backend` in the config file, else Docker.
pub fn backend(config: &Config, args: &NodeArgs) -> anyhow::Result<BackendKind> {
    use clap::ValueEnum;
    match (args.backend, config.node.backend.as_deref()) {
        (Some(kind), _) => Ok(kind),
        (None, Some(name)) => BackendKind::from_str(name, true).map_err(|_| {
            anyhow::anyhow!(
                "node.backend in the config file: `{name}` is not `docker`, `process`, `kubernetes`, `ecs` or `auto`"
            )
        }),
        (None, None) => Ok(BackendKind::Docker),
    }
}

/// The worker settings: each flag, else its `[node]` key in the config file, else the
/// default; `slots` is the flag's (`--slots`, `--workers`). `role` names the id file
/// (`server` and `worker` on one data dir are two workers).
pub fn worker_config(
    config: &Config,
    args: &NodeArgs,
    role: &str,
    slots: Option<usize>,
) -> anyhow::Result<WorkerConfig> {
    let file = &config.node;
    let id = match &args.id {
        Some(id) => {
            routing_name(id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            id.clone()
        }
        None => stable_id(config, role)?,
    };
    let queues = match (&args.queues[..], &file.queues) {
        ([], Some(q)) if q.is_empty() => bail!("node.queues in the config file is empty: name at least one queue"),
        ([], Some(q)) => q.clone(),
        ([], None) => vec![berth_core::spec::DEFAULT_QUEUE.to_string()],
        (flags, _) => flags.to_vec(),
    };
    for q in &queues {
        routing_name(q).map_err(|e| anyhow::anyhow!("--queue (or node.queues): {e}"))?;
    }
    let setting = |flag: &Option<String>, key: &Option<String>, default: &str| {
        flag.clone().or_else(|| key.clone()).unwrap_or_else(|| default.to_string())
    };
    let lease_text = setting(&args.lease, &file.lease, "30s");
    let lease = duration("--lease (or node.lease)", &lease_text)?;
    if lease < Duration::from_secs(3) {
        bail!("--lease (or node.lease): {lease_text} is too short: at least 3s (heartbeats renew it every third)");
    }
    let mut all_tags = file.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
    all_tags.extend(args.tags.iter().cloned());
    let retention = args.retention.clone().or_else(|| file.retention.clone());
    Ok(WorkerConfig {
        id,
        slots: slots.or(file.slots).unwrap_or_else(cpus),
        queues,
        tags: tags(&all_tags)?,
        lease,
        shutdown_grace: duration(
            "--shutdown-grace (or node.shutdown_grace)",
            &setting(&args.shutdown_grace, &file.shutdown_grace, "30s"),
        )?,
        gc_interval: duration(
            "--gc-interval (or node.gc_interval)",
            &setting(&args.gc_interval, &file.gc_interval, "60s"),
        )?,
        retention: retention.as_deref().map(|r| duration("--retention (or node.retention)", r)).transpose()?,
    })
}

/// `KEY=VALUE` tags; a later one (a flag) wins over an earlier one (the config file).
fn tags(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for t in raw {
        let Some((k, v)) = t.split_once('=') else { bail!("--tag `{t}`: expected KEY=VALUE, e.g. region=eu") };
        routing_name(k).and_then(|()| routing_name(v)).map_err(|e| anyhow::anyhow!("--tag `{t}`: {e}"))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `<data dir>/<role>-id`, created once as `<host>-<role>-<8 hex>`.
fn stable_id(config: &Config, role: &str) -> anyhow::Result<String> {
    let paths = berth_engine::paths::DataPaths::new(&config.data_dir);
    paths.create_private().with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let path = config.data_dir.join(format!("{role}-id"));
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_string();
        if routing_name(&id).is_ok() {
            return Ok(id);
        }
    }
    let host: String = berth_engine::owner::hostname()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .take(40)
        .collect();
    let id = format!("{host}-{role}-{}", &berth_core::ids::JobId::generate().as_str()[24..]);
    std::fs::write(&path, &id).with_context(|| format!("saving the worker id in {}", path.display()))?;
    Ok(id)
}

pub fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    text.parse::<DurationSpec>().map(|d| d.0).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How a server or worker was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM or Ctrl-C: stop claiming, let running jobs finish within the grace, then
    /// stop them.
    Drain,
    /// SIGUSR2: hand running jobs over to the next run of this worker (an upgrade): their
    /// containers keep running and the next run reattaches to them.
    Handover,
}

pub async fn shutdown_signal() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut usr2)) = (signal(SignalKind::terminate()), signal(SignalKind::user_defined2())) else {
        return std::future::pending().await;
    };
    let stop = tokio::select! {
        _ = term.recv() => Stop::Drain,
        _ = tokio::signal::ctrl_c() => Stop::Drain,
        _ = usr2.recv() => Stop::Handover,
    };
    match stop {
        Stop::Drain => ui::note("shutting down: no new jobs are claimed; running jobs get the grace period to finish"),
        Stop::Handover => {
            ui::note("handing over: running jobs keep running for the next start of this worker to reattach")
        }
    }
    stop
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config_with(node: crate::config::NodeSettings) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            defaults: Default::default(),
            policy: Default::default(),
            server: None,
            token: None,
            store: None,
            node,
            docker_transfer: None,
            docker_host: None,
            secret_key: None,
            secret_key_file: None,
            environment: Default::default(),
            backends: Default::default(),
            kubernetes_url: None,
        };
        (dir, config)
    }

    #[test]
    fn flags_win_over_the_config_file_which_wins_over_defaults() {
        let file = crate::config::NodeSettings {
            backend: Some("process".into()),
            slots: Some(6),
            queues: Some(vec!["gpu".into()]),
            tags: [("region".to_string(), "eu".to_string())].into(),
            lease: Some("12s".into()),
            retention: Some("7d".into()),
            ..Default::default()
        };
        let (_dir, config) = config_with(file);
        let none = NodeArgs::default();
        let w = worker_config(&config, &none, "worker", None).unwrap();
        assert_eq!((w.slots, w.queues.clone(), w.lease), (6, vec!["gpu".to_string()], Duration::from_secs(12)));
        assert_eq!(w.tags.get("region").map(String::as_str), Some("eu"));
        assert_eq!((w.shutdown_grace, w.retention), (Duration::from_secs(30), Some(Duration::from_secs(7 * 86400))));
        assert_eq!(backend(&config, &none).unwrap(), BackendKind::Process);
        let flags = NodeArgs {
            backend: Some(BackendKind::Docker),
            queues: vec!["default".into()],
            tags: vec!["region=us".into()],
            lease: Some("9s".into()),
            ..NodeArgs::default()
        };
        let w = worker_config(&config, &flags, "worker", Some(2)).unwrap();
        assert_eq!((w.slots, w.queues, w.lease), (2, vec!["default".to_string()], Duration::from_secs(9)));
        assert_eq!(w.tags.get("region").map(String::as_str), Some("us"), "the flag wins");
        assert_eq!(backend(&config, &flags).unwrap(), BackendKind::Docker);
    }

    #[test]
    fn a_fresh_data_dir_is_made_for_the_worker_id() {
        let (dir, mut config) = config_with(crate::config::NodeSettings::default());
        config.data_dir = dir.path().join("never-used");
        let w = worker_config(&config, &NodeArgs::default(), "worker", Some(1)).unwrap();
        assert!(w.id.contains("-worker-"), "{}", w.id);
        let again = worker_config(&config, &NodeArgs::default(), "worker", Some(1)).unwrap();
        assert_eq!(again.id, w.id, "stable across starts");
        let (_dir, config) = config_with(crate::config::NodeSettings { queues: Some(vec![]), ..Default::default() });
        let err = worker_config(&config, &NodeArgs::default(), "worker", None).unwrap_err().to_string();
        assert!(err.contains("node.queues in the config file is empty"), "{err}");
    }

    #[test]
    fn bad_settings_name_where_they_came_from() {
        let (_dir, config) =
            config_with(crate::config::NodeSettings { backend: Some("k8s".into()), ..Default::default() });
        let err = backend(&config, &NodeArgs::default()).unwrap_err().to_string();
        assert!(err.contains("node.backend in the config file: `k8s`"), "{err}");
        let (_dir, config) =
            config_with(crate::config::NodeSettings { lease: Some("1s".into()), ..Default::default() });
        let err = worker_config(&config, &NodeArgs::default(), "worker", None).unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
    }
}
