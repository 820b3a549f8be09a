//! `berth run` against a berth server (`--server`/`BERTH_SERVER`): the same flags and output
//! as the embedded mode, over the HTTP API. (Every other job verb is written once, over
//! `jobs::Jobs`.)

use berth_core::status::Reason;

use std::sync::Arc;

use berth_core::store::JobRecord;
use futures::StreamExt;

use crate::cli::RunArgs;
use crate::client::{Client, record};
use crate::commands::attach;
use crate::config::{Config, env_var};
use crate::jobs::Jobs;
use crate::{jobs, live, run_flags, ui};

/// `berth run` through a server: submit, then follow the output until the job ends (Ctrl-C
/// cancels it unless `--no-cancel`).
pub async fn run(config: &Config, server: &str, args: &RunArgs) -> anyhow::Result<i32> {
    let client = Client::new(server, config.token.clone())?;
    submit_and_follow(&client, args).await
}

async fn submit_and_follow(client: &Client, args: &RunArgs) -> anyhow::Result<i32> {
    let mut spec = run_flags::spec_from_args(args, &env_var)?;
    if !args.detach {
        run_flags::check_terminal(args)?;
    }
    let keys = run_flags::detach_keys(args.detach_keys.as_deref())?;
    // Live input reaches the job through an attach, so its stdin is kept open for one.
    spec.interactive |= args.wants_stdin();
    let job = client.submit(&spec).await?;
    if args.detach {
        println!("{}", job.id);
        return Ok(0);
    }
    if ui::stderr_is_tty() && !args.tty {
        ui::note(&format!("job {} (berth logs {0} · berth inspect {0})", job.id.get(..12).unwrap_or(&job.id)));
    }
    let id = job.id.clone();
    let watched = watch(client, args, record(job)?, keys);
    tokio::pin!(watched);
    tokio::select! {
        code = &mut watched => code,
        _ = tokio::signal::ctrl_c() => {
            // A SIGINT from outside a raw session: the terminal is itself again first.
            let _ = crate::tty::RawMode::restore();
            if args.no_cancel {
                ui::note(&format!("left job {id} running (--no-cancel)"));
                return Ok(0);
            }
            ui::note("cancelling the job (Ctrl-C again to stop waiting)");
            client.cancel(&id).await?;
            tokio::select! {
                code = &mut watched => code,
                _ = tokio::signal::ctrl_c() => Ok(130),
            }
        }
    }
}

/// The job until it ends: a terminal session with `-t` (once it runs), else its stored
/// output followed (with `-i`, this process's stdin forwarded beside it); its exit code.
async fn watch(client: &Client, args: &RunArgs, job: JobRecord, keys: Vec<u8>) -> anyhow::Result<i32> {
    let jobs = jobs::remote(client.clone());
    if args.tty {
        let waiting = attach::started(jobs.as_ref(), &job);
        tokio::pin!(waiting);
        let started = match tokio::time::timeout(std::time::Duration::from_secs(1), &mut waiting).await {
            Ok(started) => started?,
            Err(_) => {
                ui::note(&format!("job {} is queued: waiting for a worker (Ctrl-C cancels it)", job.id.short()));
                waiting.await?
            }
        };
        if !started.status.is_terminal() {
            let session = attach::Session { tty: true, stdin: args.wants_stdin(), keys, replay: true };
            // None: it ended before the session began; its stored output says what it did.
            if let Some(code) = session.run(jobs.as_ref(), &started).await? {
                return Ok(code);
            }
        }
    }
    let _forwarder = args.wants_stdin().then(|| AbortOnDrop(tokio::spawn(forward_stdin(jobs, job.clone()))));
    let done = client.follow(job.id.as_str(), crate::commands::logs::print_followed).await?;
    match &done.reason {
        Some(Reason::Exited { .. }) | None => {}
        Some(reason) => ui::note(&format!("job {} {}: {reason}", done.id.short(), done.status)),
    }
    Ok(ui::exit_code(&done))
}

/// `-i` without a TTY: this process's stdin, to its end, into the job once it runs (its
/// output is followed from the store, exactly as stored).
async fn forward_stdin(jobs: Arc<dyn Jobs>, job: JobRecord) {
    let Ok(job) = attach::started(jobs.as_ref(), &job).await else { return };
    if job.status.is_terminal() {
        return;
    }
    let (io, _) = live::terminal_io(false, true, Vec::new());
    match jobs.attach(job.id.as_str(), io, false).await {
        // The session's output is the job's, shown by the follower: only drain it.
        Ok(mut output) => while let Some(Ok(_)) = output.next().await {},
        Err(e) => {
            let ended = jobs.detail(job.id.as_str()).await.is_ok_and(|d| d.job.status.is_terminal());
            if !ended {
                ui::warn(&format!("stdin could not be forwarded to job {}: {e:#}", job.id.short()));
            }
        }
    }
}

/// Aborts the stdin forwarder when the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
