//! `berth gc [--dry-run]`: run the orphan sweep on demand and report what it did.

use crate::cli::GcArgs;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &GcArgs) -> anyhow::Result<i32> {
    let local = wiring::open(config).await?;
    let report = local.runner()?.sweep(args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if report.errors.is_empty() { 0 } else { 1 });
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for name in &report.removed {
        println!("{verb} container {name}");
    }
    for id in &report.lost {
        println!("job {} recorded as lost (worker_lost)", id.short());
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    println!("{} removed, {} kept (owner alive), {} jobs lost", report.removed.len(), report.kept, report.lost.len());
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}
