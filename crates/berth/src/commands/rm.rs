//! `berth rm`: remove finished jobs with their logs, events and output files.

use crate::cli::RmArgs;
use crate::config::Config;
use crate::{jobs, ui};

pub async fn run(config: &Config, args: &RmArgs) -> anyhow::Result<i32> {
    let jobs = jobs::open(config).await?;
    let mut code = 0;
    for id in &args.ids {
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
