//! `berth server`: the HTTP API, a local worker, webhooks and housekeeping over the embedded
//! store or a shared PostgreSQL, until SIGTERM or Ctrl-C (then a graceful drain).

use berth_server::{AppState, AuthMode, ServerConfig};

use crate::cli::ServerArgs;
use crate::commands::node::{Stop, backend, duration, shutdown_signal, worker_config};
use crate::commands::policy::node_policy;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &ServerArgs) -> anyhow::Result<i32> {
    let settings = worker_config(config, &args.node, "server", args.workers)?;
    let workers = settings.slots;
    let local =
        wiring::open_node(config, backend(config, &args.node)?, node_policy(config, args.node.policy.as_deref())?)
            .await?;
    let runner = local.runner?;
    #[cfg(feature = "ecs")]
    crate::queue_metric::spawn(config, &runner).await?;
    let server_config = ServerConfig {
        auth: if args.insecure_no_auth { AuthMode::Disabled } else { AuthMode::Tokens },
        worker: settings,
        webhook_backoff: duration("--webhook-backoff", &args.webhook_backoff)?,
        scheduler: !args.no_scheduler,
        ..ServerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (pick another with --listen)", args.listen))?;
    let addr = listener.local_addr()?;
    if args.insecure_no_auth {
        ui::warn(
            "AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach this port is an admin. Local development only.",
        );
    }
    let store = if config.store.is_some() { "PostgreSQL".to_string() } else { config.data_dir.display().to_string() };
    ui::note(&format!(
        "berth server on http://{addr} (API /v1, docs /docs, metrics /metrics), {workers} worker slot(s) as {}, store: {store}",
        server_config.worker.id
    ));
    let state = AppState::new(runner, server_config);
    let worker = state.worker.clone();
    let stop = async move {
        if shutdown_signal().await == Stop::Handover {
            worker.handover();
        }
    };
    berth_server::serve(state, listener, stop).await?;
    ui::note("berth server stopped");
    Ok(0)
}
