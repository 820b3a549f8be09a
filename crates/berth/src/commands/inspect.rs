//! `berth inspect`: everything recorded about a job, as one JSON document, the same in both
//! modes: the API's job with its attempts (`attempt_list`), artifacts, webhook deliveries,
//! events and containers.

use crate::cli::IdArgs;
use crate::config::Config;
use crate::jobs;

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let jobs = jobs::open(config).await?;
    let doc = jobs::inspect(jobs.as_ref(), &args.id).await?;
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
