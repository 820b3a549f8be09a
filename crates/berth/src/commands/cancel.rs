//! `berth cancel` without a server: through the store, like the API (`ops::cancel`). A queued
//! job ends at once, one leased by a worker is stopped by that worker's next heartbeat; a job
//! a local `berth run` runs can only be stopped by that process (Ctrl-C).

use berth_core::clock::SystemClock;

use crate::cli::IdArgs;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let job = local.store.find_job(&args.id).await?;
    let done = berth_engine::ops::cancel(local.store.as_ref(), &SystemClock, &job, "cli", &|_| false).await?;
    println!("{}", done.id);
    Ok(0)
}
