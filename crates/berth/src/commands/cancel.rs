//! `berth cancel` and `berth retry`, in both modes (`jobs::Jobs`): a queued job ends at once,
//! one a worker holds is stopped by that worker's next heartbeat; without a server, a job a
//! local `berth run` runs can only be stopped by that process (Ctrl-C), and a retry needs a
//! server or worker to run it.

use crate::cli::IdArgs;
use crate::config::Config;
use crate::jobs;

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let job = jobs::open(config).await?.cancel(&args.id).await?;
    println!("{}", job.id);
    Ok(0)
}

pub async fn retry(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let job = jobs::open(config).await?.retry(&args.id).await?;
    println!("{}", job.id);
    Ok(0)
}
