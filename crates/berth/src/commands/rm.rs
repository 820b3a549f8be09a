//! `berth rm`: remove finished jobs with their logs, events and output files; `-f` cancels
//! one that has not ended first and waits for its end (as `docker rm -f` kills first).

use std::time::Duration;

use crate::cli::RmArgs;
use crate::client::record;
use crate::config::Config;
use crate::jobs::Jobs;
use crate::{jobs, ui};

/// How long `rm -f` waits for a cancelled job to end (its stop grace is spent inside this).
const FORCE_WAIT: Duration = Duration::from_secs(120);

pub async fn run(config: &Config, args: &RmArgs) -> anyhow::Result<i32> {
    let jobs = jobs::open(config).await?;
    let mut code = 0;
    for id in &args.ids {
        if args.force
            && let Err(e) = end(jobs.as_ref(), id).await
        {
            ui::error(&format!("{id}: {e:#}"));
            code = 1;
            continue;
        }
        match jobs.delete(id).await {
            Ok(full) => println!("{full}"),
            Err(e) => {
                ui::error(&format!("{id}: {e:#}"));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Cancels the job unless it has ended, and waits until it has.
async fn end(jobs: &dyn Jobs, id: &str) -> anyhow::Result<()> {
    let mut job = record(jobs.detail(id).await?.job)?;
    if job.status.is_terminal() {
        return Ok(());
    }
    jobs.cancel(job.id.as_str()).await?;
    let deadline = tokio::time::Instant::now() + FORCE_WAIT;
    while !job.status.is_terminal() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "cancelled, but not ended within {}s",
            FORCE_WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        job = record(jobs.detail(job.id.as_str()).await?.job)?;
    }
    Ok(())
}
