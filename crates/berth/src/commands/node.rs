//! What `berth server` and `berth worker` share: turning `NodeArgs` into a worker config
//! (stable id kept in the data dir, queues, tags, lease) and waiting for SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_core::quantity::DurationSpec;
use berth_core::validate::routing_name;
use berth_engine::worker::WorkerConfig;

use crate::cli::NodeArgs;
use crate::config::Config;
use crate::ui;

/// The worker settings; `role` names the id file (`server` and `worker` on one data dir
/// are two workers).
pub fn worker_config(config: &Config, args: &NodeArgs, role: &str, slots: usize) -> anyhow::Result<WorkerConfig> {
    let id = match &args.id {
        Some(id) => {
            routing_name(id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            id.clone()
        }
        None => stable_id(config, role)?,
    };
    for q in &args.queues {
        routing_name(q).map_err(|e| anyhow::anyhow!("--queue: {e}"))?;
    }
    let lease = duration("--lease", &args.lease)?;
    if lease < Duration::from_secs(3) {
        bail!("--lease: {} is too short: at least 3s (heartbeats renew it every third)", args.lease);
    }
    Ok(WorkerConfig {
        id,
        slots,
        queues: args.queues.clone(),
        tags: tags(&args.tags)?,
        lease,
        shutdown_grace: duration("--shutdown-grace", &args.shutdown_grace)?,
        gc_interval: duration("--gc-interval", &args.gc_interval)?,
        retention: args.retention.as_deref().map(|r| duration("--retention", r)).transpose()?,
    })
}

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
