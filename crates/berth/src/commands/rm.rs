//! `berth rm`: remove finished jobs with their logs, events and output files.

use crate::cli::RmArgs;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &RmArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let mut code = 0;
    for id in &args.ids {
        match remove(&local, id).await {
            Ok(full) => println!("{full}"),
            Err(e) => {
                ui::error(&format!("{id}: {e:#}"));
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn remove(local: &wiring::Local, id: &str) -> anyhow::Result<String> {
    let job = local.store.find_job(id).await?;
    if !job.status.can_remove() {
        let owner = job.owner.as_deref().and_then(|o| o.split(':').nth(1)).unwrap_or("?");
        anyhow::bail!(
            "job is {}: it is run by berth process {owner}; stop it there (Ctrl-C, or kill -INT {owner}) and remove it after",
            job.status
        );
    }
    berth_engine::ops::delete(local.store.as_ref(), &local.paths, &job).await?;
    Ok(job.id.to_string())
}
