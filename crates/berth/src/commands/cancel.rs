//! `berth cancel` without a server: a queued job ends at once. A running job belongs to the
//! `berth run` (or `berth server`) process that runs it, so it is cancelled there.

use berth_core::clock::{Clock, SystemClock};
use berth_core::status::{JobStatus, Reason};
use berth_core::store::StatusChange;

use crate::cli::IdArgs;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let job = local.store.find_job(&args.id).await?;
    match job.status {
        JobStatus::Queued => {
            let end = StatusChange::end(Reason::Cancelled { by: "cli".into() }, None, SystemClock.now());
            local.store.set_status(&job.id, end).await?;
            println!("{}", job.id);
            Ok(0)
        }
        s if s.is_terminal() => anyhow::bail!("job {} already ended: {s}", job.id),
        s => anyhow::bail!(
            "job {} is {s} in process {}: press Ctrl-C in its `berth run`, or cancel it through the server (--server) that runs it",
            job.id,
            job.owner.as_deref().unwrap_or("unknown")
        ),
    }
}
