//! `berth inspect`: everything recorded about a job, as one JSON document, the same in both
//! modes: the API's job with its attempts (`attempt_list`), artifacts, webhook deliveries,
//! events and containers; `--format` prints fields of it (`template`).

use crate::cli::InspectArgs;
use crate::config::Config;
use crate::jobs;
use crate::template::Template;

pub async fn run(config: &Config, args: &InspectArgs) -> anyhow::Result<i32> {
    let format =
        args.format.as_deref().map(Template::parse).transpose().map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let jobs = jobs::open(config).await?;
    let doc = jobs::inspect(jobs.as_ref(), &args.id).await?;
    match format {
        Some(t) => println!("{}", t.render(&doc)),
        None => println!("{}", serde_json::to_string_pretty(&doc)?),
    }
    Ok(0)
}
