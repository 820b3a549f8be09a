//! The `berth` command: parses flags, resolves configuration, runs one command, and maps
//! failures to exit code 125 (like `docker run`) with a message that says what to do.

mod cli;
mod client;
mod commands;
mod config;
mod docker_flags;
mod jobs;
mod live;
#[cfg(feature = "ecs")]
mod queue_metric;
mod run_flags;
mod template;
mod terminal;
mod tty;
mod ui;
mod verb_flags;
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
    verb_flags::check(&cli.command)?;
    // Nothing to open for these: no config, no store.
    match &cli.command {
        Command::Completion(args) => return commands::shell::completion(args),
        Command::Man(args) => return commands::shell::man(args),
        Command::Version => return commands::shell::version(),
        _ => {}
    }
    let config = config::resolve(cli)?;
    match &cli.command {
        Command::Run(args) => match &config.server {
            Some(server) => commands::remote::run(&config, server, args).await,
            None => commands::run::run(&config, args).await,
        },
        Command::Ps(args) => commands::ps::run(&config, args).await,
        Command::Logs(args) => commands::logs::run(&config, args).await,
        Command::Inspect(args) => commands::inspect::run(&config, args).await,
        Command::Wait(args) => commands::wait::run(&config, args).await,
        Command::Rm(args) => commands::rm::run(&config, args).await,
        Command::Gc(args) => commands::gc::run(&config, args).await,
        Command::Server(args) => commands::server::run(&config, args).await,
        Command::Worker(args) => commands::worker::run(&config, args).await,
        Command::Workers(args) => commands::workers::run(&config, args).await,
        Command::Queue(c) => commands::workers::queue(&config, c).await,
        Command::Token(c) => commands::token::token(&config, c).await,
        Command::Tenant(c) => commands::token::tenant(&config, c).await,
        Command::Policy(c) => commands::policy::show(&config, c).await,
        Command::Volume(c) => commands::volume::run(&config, c).await,
        Command::Secret(c) => commands::secret::run(&config, c).await,
        Command::Schedule(c) => commands::schedule::run(&config, c).await,
        Command::Cancel(args) => commands::cancel::run(&config, args).await,
        Command::Cp(args) => commands::cp::run(&config, args).await,
        Command::Retry(args) => commands::cancel::retry(&config, args).await,
        Command::Exec(args) => commands::exec::run(&config, args).await,
        Command::Attach(args) => commands::attach::run(&config, args).await,
        // Answered above, before any config is read.
        Command::Completion(_) | Command::Man(_) | Command::Version => Ok(0),
    }
}
