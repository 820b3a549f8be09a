//! `berth wait`: block until a job ends, print its exit code, and exit with it.

use std::time::Duration;

use crate::cli::IdArgs;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let mut job = local.store.find_job(&args.id).await?;
    while !job.status.is_terminal() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        job = local.store.get_job(&job.id).await?;
    }
    let code = ui::exit_code(&job);
    println!("{code}");
    Ok(code)
}
