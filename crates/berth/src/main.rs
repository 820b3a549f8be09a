//! The `berth` command: parses flags, resolves configuration, runs one command, and maps
//! failures to exit code 125 (like `docker run`) with a message that says what to do.

mod cli;
mod commands;
mod config;
mod run_flags;
mod terminal;
mod ui;
mod wiring;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            ui::error(&format!("cannot start the async runtime: {e}"));
            std::process::exit(125);
        }
    };
    let code = match runtime.block_on(dispatch(&cli)) {
        Ok(code) => code,
        Err(e) => {
            ui::error(&format!("{e:#}"));
            125
        }
    };
    // Exit at once: a blocking read of stdin (`-i`) must not hold the process open.
    std::process::exit(code);
}

async fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let config = config::resolve(cli)?;
    if config.server.is_some() {
        anyhow::bail!(
            "--server/BERTH_SERVER: talking to a berth server is not available yet; unset it to use the embedded store"
        );
    }
    match &cli.command {
        Command::Run(args) => commands::run::run(&config, args).await,
        Command::Ps(args) => commands::ps::run(&config, args).await,
        Command::Logs(args) => commands::logs::run(&config, args).await,
        Command::Inspect(args) => commands::inspect::run(&config, args).await,
        Command::Wait(args) => commands::wait::run(&config, args).await,
        Command::Rm(args) => commands::rm::run(&config, args).await,
        Command::Gc(args) => commands::gc::run(&config, args).await,
    }
}
