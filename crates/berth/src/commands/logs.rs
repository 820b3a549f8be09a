//! `berth logs [-f]`: a job's stored output, stdout to stdout and stderr to stderr, in the
//! order it was written. `-f` follows until the job ends.

use std::io::Write;
use std::time::Duration;

use berth_core::store::{LogStream, Store};

use crate::cli::LogsArgs;
use crate::config::Config;
use crate::wiring;

const POLL: Duration = Duration::from_millis(200);
const PAGE: u32 = 2_000;

pub async fn run(config: &Config, args: &LogsArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let job = local.store.find_job(&args.id).await?;
    let mut after = -1;
    loop {
        let read = print_page(local.store.as_ref(), &job.id, &mut after).await?;
        if read == PAGE {
            continue;
        }
        if !args.follow {
            break;
        }
        // Output is flushed before a job's terminal status is written, so once the status
        // is terminal, one more drain prints everything.
        if local.store.get_job(&job.id).await?.status.is_terminal() {
            while print_page(local.store.as_ref(), &job.id, &mut after).await? > 0 {}
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(0)
}

async fn print_page(store: &dyn Store, id: &berth_core::JobId, after: &mut i64) -> anyhow::Result<u32> {
    let chunks = store.read_logs(id, *after, PAGE).await?;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for c in &chunks {
        // A closed pipe (`| head`) ends the command quietly.
        let written = match c.stream {
            LogStream::Stdout => out.write_all(&c.data),
            LogStream::Stderr | LogStream::Berth => err.write_all(&c.data),
        };
        if written.is_err() {
            std::process::exit(0);
        }
        *after = c.seq;
    }
    let _ = out.flush();
    Ok(chunks.len() as u32)
}
