//! `berth worker`: claims and runs queued jobs from a shared store on this machine's engine,
//! without an API; registers itself (see `berth workers`) and drains on SIGTERM.

use berth_engine::worker::Worker;
use tokio_util::sync::CancellationToken;

use crate::cli::WorkerArgs;
use crate::commands::node::{Stop, backend, shutdown_signal, worker_config};
use crate::commands::policy::node_policy;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &WorkerArgs) -> anyhow::Result<i32> {
    let settings = worker_config(config, &args.node, "worker", args.slots)?;
    let slots = settings.slots;
    if slots == 0 {
        anyhow::bail!("--slots (or node.slots) must be at least 1 (a worker without slots does nothing)");
    }
    let local =
        wiring::open_node(config, backend(config, &args.node)?, node_policy(config, args.node.policy.as_deref())?)
            .await?;
    let runner = local.runner?;
    if config.store.is_none() {
        ui::warn(
            "no --store: this worker shares only the embedded store in its data dir (use PostgreSQL for many machines)",
        );
    }
    ui::note(&format!("berth worker {} with {slots} slot(s) on queue(s) {}", settings.id, settings.queues.join(", ")));
    let shutdown = CancellationToken::new();
    let worker = Worker::new(runner, settings, shutdown.clone());
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run().await }
    });
    match shutdown_signal().await {
        Stop::Drain => shutdown.cancel(),
        Stop::Handover => worker.handover(),
    }
    running.await?;
    ui::note("berth worker stopped");
    Ok(0)
}
