//! `berth attach [--no-stdin] [--detach-keys KEYS] JOB`: this terminal on a running job's
//! console (its shell, for a `-it` job), through a server or on the local engine, until the
//! job ends (exit with its code) or the detach keys are typed (the job runs on). Also the
//! second half of `berth run -i`/`-it` through a server.

use std::time::Duration;

use berth_core::JobStatus;
use berth_core::store::JobRecord;

use crate::cli::AttachArgs;
use crate::client::record;
use crate::config::Config;
use crate::jobs::{self, Jobs};
use crate::live::{self, SessionEnd};
use crate::{run_flags, tty, ui};

/// How often a job is read while waiting for it to start or to be recorded as ended.
const POLL: Duration = Duration::from_millis(100);
/// How long a refused attach waits to see the job recorded as ended.
const END_WAIT: Duration = Duration::from_secs(10);

pub async fn run(config: &Config, args: &AttachArgs) -> anyhow::Result<i32> {
    let keys = run_flags::detach_keys(args.detach_keys.as_deref())?;
    let jobs = jobs::open(config).await?;
    let job = record(jobs.detail(&args.id).await?.job)?;
    if job.status != JobStatus::Running {
        anyhow::bail!("job {} is {}: attach needs a running job (berth logs {0} shows its output)", job.id, job.status);
    }
    let stdin = !args.no_stdin && job.spec.interactive;
    let session = Session { tty: job.spec.tty, stdin, keys, replay: false };
    if session.tty && stdin && !tty::stdin_is_tty() {
        anyhow::bail!("the input device is not a TTY: use --no-stdin to watch job {} without typing", job.id);
    }
    match session.run(jobs.as_ref(), &job).await? {
        Some(code) => Ok(code),
        None => {
            let done = ended(jobs.as_ref(), &job).await?;
            ui::note(&format!("job {} ended before the attach: {} (berth logs {0})", job.id.short(), done.status));
            Ok(ui::exit_code(&done))
        }
    }
}

/// One live session with a job's console, shown in this terminal.
pub struct Session {
    pub tty: bool,
    /// Forward this terminal's input.
    pub stdin: bool,
    pub keys: Vec<u8>,
    /// Show what the job printed before the session began (a new `run -it`).
    pub replay: bool,
}

impl Session {
    /// Runs the session; returns the job's exit code, or 0 after a detach; `None` when the
    /// job ended before the session could begin.
    pub async fn run(self, jobs: &dyn Jobs, job: &JobRecord) -> anyhow::Result<Option<i32>> {
        let (live, detached) = live::terminal_io(self.tty, self.stdin, self.keys);
        let output = match jobs.attach(job.id.as_str(), live, self.replay).await {
            Ok(output) => output,
            Err(e) => {
                let _ = tty::RawMode::restore();
                // A job that ends as the attach begins is refused (not running, or its
                // container is gone): that is its end, not a failure.
                let ended = tokio::time::timeout(END_WAIT, ended(jobs, job)).await;
                return if ended.is_ok_and(|e| e.is_ok()) { Ok(None) } else { Err(e) };
            }
        };
        match live::show_here(output, detached).await? {
            SessionEnd::Detached => {
                ui::note(&format!(
                    "detached from job {}: it runs on (berth attach {0} · berth logs -f {0})",
                    job.id.short()
                ));
                Ok(Some(0))
            }
            SessionEnd::Closed | SessionEnd::Exit(_) => Ok(Some(ui::exit_code(&ended(jobs, job).await?))),
        }
    }
}

/// The job once its end is recorded (its console closes a moment before that).
pub async fn ended(jobs: &dyn Jobs, job: &JobRecord) -> anyhow::Result<JobRecord> {
    loop {
        let now = record(jobs.detail(job.id.as_str()).await?.job)?;
        if now.status.is_terminal() {
            return Ok(now);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The job once a worker has started it (or it ended without running).
pub async fn started(jobs: &dyn Jobs, job: &JobRecord) -> anyhow::Result<JobRecord> {
    loop {
        let now = record(jobs.detail(job.id.as_str()).await?.job)?;
        if now.status == JobStatus::Running || now.status.is_terminal() {
            return Ok(now);
        }
        tokio::time::sleep(POLL).await;
    }
}
