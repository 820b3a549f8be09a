//! `berth run` against a berth server (`--server`/`BERTH_SERVER`): the same flags and output
//! as the embedded mode, over the HTTP API. (Every other job verb is written once, over
//! `jobs::Jobs`.)

use berth_core::status::Reason;

use crate::cli::RunArgs;
use crate::client::Client;
use crate::config::{Config, env_var};
use crate::{run_flags, ui};

/// `berth run` through a server: submit, then follow the output until the job ends (Ctrl-C
/// cancels it unless `--no-cancel`).
pub async fn run(config: &Config, server: &str, args: &RunArgs) -> anyhow::Result<i32> {
    let client = Client::new(server, config.token.clone())?;
    submit_and_follow(&client, args).await
}

async fn submit_and_follow(client: &Client, args: &RunArgs) -> anyhow::Result<i32> {
    if args.wants_stdin() {
        anyhow::bail!(
            "-i (or -a stdin) needs the embedded mode (stdin is not forwarded over the API yet): put the input in the spec's `stdin`, or unset --server"
        );
    }
    let spec = run_flags::spec_from_args(args, &env_var)?;
    let job = client.submit(&spec).await?;
    if args.detach {
        println!("{}", job.id);
        return Ok(0);
    }
    if ui::stderr_is_tty() {
        ui::note(&format!("job {} (berth logs {0} · berth inspect {0})", job.id.get(..12).unwrap_or(&job.id)));
    }
    let id = job.id.clone();
    let follow = client.follow(&id, crate::commands::logs::print_followed);
    tokio::pin!(follow);
    let done = tokio::select! {
        done = &mut follow => done?,
        _ = tokio::signal::ctrl_c() => {
            if args.no_cancel {
                ui::note(&format!("left job {id} running (--no-cancel)"));
                return Ok(0);
            }
            ui::note("cancelling the job (Ctrl-C again to stop waiting)");
            client.cancel(&id).await?;
            tokio::select! {
                done = &mut follow => done?,
                _ = tokio::signal::ctrl_c() => return Ok(130),
            }
        }
    };
    match &done.reason {
        Some(Reason::Exited { .. }) | None => {}
        Some(reason) => ui::note(&format!("job {} {}: {reason}", done.id.short(), done.status)),
    }
    Ok(ui::exit_code(&done))
}
