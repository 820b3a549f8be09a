//! `berth gc [--dry-run] [--older-than AGE]`: run the container sweep (and retention) on
//! demand, on the embedded store or a shared one, and report what it did.

use crate::cli::GcArgs;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &GcArgs) -> anyhow::Result<i32> {
    let local = wiring::open(config).await?;
    let runner = local.runner()?;
    let report = runner.sweep(args.dry_run).await?;
    if let Some(age) = &args.older_than {
        let age = crate::commands::node::duration("--older-than", age)?;
        let before = berth_core::clock::Timestamp(runner.clock().now().0 - age.as_millis() as i64);
        if args.dry_run {
            eprintln!("--older-than is skipped in a dry run");
        } else {
            let pruned = runner.prune(before, false).await?;
            eprintln!("deleted {pruned} finished job(s) older than {}", args.older_than.as_deref().unwrap_or_default());
        }
    }
    if !args.dry_run {
        runner.sweep_dirs().await?;
    }
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
