//! `berth server`: the HTTP API, a local worker pool, webhooks and the periodic sweep over
//! the embedded store, until SIGTERM or Ctrl-C (then a graceful drain).

use std::time::Duration;

use berth_core::quantity::DurationSpec;
use berth_server::{AppState, AuthMode, ServerConfig};

use crate::cli::ServerArgs;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &ServerArgs) -> anyhow::Result<i32> {
    let local = wiring::open(config).await?;
    let runner = local.runner?;
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let server_config = ServerConfig {
        auth: if args.insecure_no_auth { AuthMode::Disabled } else { AuthMode::Tokens },
        workers,
        shutdown_grace: duration("--shutdown-grace", &args.shutdown_grace)?,
        webhook_backoff: duration("--webhook-backoff", &args.webhook_backoff)?,
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
    ui::note(&format!(
        "berth server on http://{addr} (API /v1, docs /docs, metrics /metrics), {workers} worker slot(s), data in {}",
        config.data_dir.display()
    ));
    berth_server::serve(AppState::new(runner, server_config), listener, shutdown_signal()).await?;
    ui::note("berth server stopped");
    Ok(0)
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    text.parse::<DurationSpec>().map(|d| d.0).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return std::future::pending().await };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ui::note("shutting down: no new jobs are claimed; running jobs get the grace period to finish");
}
