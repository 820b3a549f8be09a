//! `berth run`: submit a job and run it in this process, streaming its output, forwarding
//! stdin with `-i`, cancelling on Ctrl-C/SIGTERM, and exiting with the job's exit code.

use std::sync::Arc;

use berth_core::backend::StdinSource;
use berth_core::status::Reason;
use berth_engine::attempt::AttemptIo;
use berth_engine::cancel::Cancel;
use futures::StreamExt;

use crate::cli::RunArgs;
use crate::config::{Config, env_var};
use crate::terminal::{PullBars, TerminalObserver};
use crate::{run_flags, tty, ui, wiring};

pub async fn run(config: &Config, args: &RunArgs) -> anyhow::Result<i32> {
    if args.detach {
        anyhow::bail!(
            "-d/--detach needs a berth server to keep the job running after this command ends: start `berth server` and set --server/BERTH_SERVER, or run without -d"
        );
    }
    let spec = run_flags::spec_from_args(args, &env_var)?;
    run_flags::check_terminal(args)?;
    let local = wiring::open_and_sweep(config).await?;
    let runner = local.runner()?;
    let job = runner.submit(spec).await?;
    if ui::stderr_is_tty() {
        ui::note(&format!("job {} (berth logs {0} · berth inspect {0})", job.id.short()));
    }
    let cancel = Cancel::new();
    tokio::spawn(cancel_on_signals(cancel.clone()));
    let stdin = if args.tty {
        // No server: the job runs in this process, so there is nothing to detach from and
        // the detach keys go to the job like any others.
        StdinSource::Terminal { input: tty::input(args.wants_stdin(), None), stdin: args.wants_stdin() }
    } else if args.wants_stdin() {
        let reader = tokio_util::io::ReaderStream::new(tokio::io::stdin());
        StdinSource::Stream(reader.boxed())
    } else {
        job.spec.stdin.as_ref().map_or(StdinSource::None, |s| StdinSource::Bytes(s.to_bytes()))
    };
    let pull: Arc<dyn berth_core::backend::PullObserver> =
        if args.docker.quiet { Arc::new(berth_core::backend::NoProgress) } else { Arc::new(PullBars::new()) };
    let io = AttemptIo { observer: Arc::new(TerminalObserver::new(args.tty)), pull, stdin };
    let done = runner.run_attempt(&job, io, &cancel).await;
    // The terminal is itself again before anything else is printed.
    let _ = tty::RawMode::restore();
    let done = done?;
    match &done.reason {
        Some(Reason::Exited { .. }) | None => {}
        Some(Reason::Infra { message, .. }) => {
            ui::error(&format!("job {} {}: {message}", done.id.short(), done.status))
        }
        Some(reason) => ui::note(&format!("job {} {}: {reason}", done.id.short(), done.status)),
    }
    Ok(ui::exit_code(&done))
}

/// First Ctrl-C (or SIGTERM) cancels: the container gets its stop signal and grace. A second
/// says what is happening; a third exits at once and leaves the container to the orphan
/// sweep of the next `berth` command (it is labelled with this dead process as owner).
async fn cancel_on_signals(cancel: Cancel) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    let mut presses = 0;
    loop {
        let by = tokio::select! {
            _ = int.recv() => "user",
            _ = term.recv() => "signal",
        };
        presses += 1;
        // A signal from outside (raw mode sends Ctrl-C to the job as a key): the terminal
        // is itself again before berth says anything.
        let _ = tty::RawMode::restore();
        match presses {
            1 => cancel.cancel(by),
            2 => ui::note("stopping the container (it has its stop grace to exit); press Ctrl-C again to quit now"),
            _ => {
                ui::warn("quitting without waiting; the next berth command removes the container");
                std::process::exit(130);
            }
        }
    }
}
