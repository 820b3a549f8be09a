//! `berth wait`: block until a job ends, print its exit code, and exit with it. On a TTY a
//! spinner shows the job's status while waiting.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::IdArgs;
use crate::client::record;
use crate::config::Config;
use crate::{jobs, ui};

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let jobs = jobs::open(config).await?;
    let mut job = record(jobs.detail(&args.id).await?.job)?;
    let spinner = (!job.status.is_terminal() && ui::stderr_is_tty()).then(|| {
        let s = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} job {msg} ({elapsed})") {
            s.set_style(style);
        }
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    while !job.status.is_terminal() {
        if let Some(s) = &spinner {
            s.set_message(format!("{} {}", job.id.short(), job.status));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        job = record(jobs.detail(job.id.as_str()).await?.job)?;
    }
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let code = ui::exit_code(&job);
    println!("{code}");
    Ok(code)
}
