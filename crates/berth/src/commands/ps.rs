//! `berth ps`: jobs as a table, ids, or JSON.

use berth_core::JobStatus;
use berth_core::clock::{Clock, SystemClock, age};
use berth_core::store::{JobFilter, JobRecord};
use comfy_table::{Table, presets};

use crate::cli::PsArgs;
use crate::config::Config;
use crate::{ui, wiring};

pub async fn run(config: &Config, args: &PsArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let statuses = if args.all { Vec::new() } else { vec![JobStatus::Queued, JobStatus::Starting, JobStatus::Running] };
    let jobs = local.store.list_jobs(&JobFilter { statuses, limit: args.last, ..JobFilter::default() }).await?;
    if args.json {
        let redacted: Vec<JobRecord> = jobs.into_iter().map(redact).collect();
        println!("{}", serde_json::to_string_pretty(&redacted)?);
    } else if args.quiet {
        for j in &jobs {
            println!("{}", j.id);
        }
    } else {
        println!("{}", table(&jobs));
    }
    Ok(0)
}

pub fn redact(mut job: JobRecord) -> JobRecord {
    job.spec = job.spec.redacted();
    job
}

pub fn table(jobs: &[JobRecord]) -> Table {
    let now = SystemClock.now();
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(["JOB ID", "IMAGE", "COMMAND", "STATUS", "CREATED", "NAME"]);
    for j in jobs {
        let command = j.spec.cmd().map(|c| c.join(" ")).unwrap_or_default();
        t.add_row([
            j.id.short().to_string(),
            j.spec.image.clone(),
            shorten(&command, 30),
            ui::status_text(j),
            age(now, j.created_at),
            j.spec.name.clone().unwrap_or_default(),
        ]);
    }
    t
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return format!("\"{s}\"");
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("\"{cut}…\"")
}
