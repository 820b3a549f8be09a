//! `berth exec JOB CMD...`: runs a command in a running job's container (no shell, no
//! stdin) and exits with its code; through a server, or on the local engine.

use std::io::Write;

use crate::cli::ExecArgs;
use crate::config::Config;
use crate::{jobs, ui};

pub async fn run(config: &Config, args: &ExecArgs) -> anyhow::Result<i32> {
    let out = jobs::open(config).await?.exec(&args.id, &args.command).await?;
    std::io::stdout().lock().write_all(out.stdout.as_bytes())?;
    std::io::stderr().lock().write_all(out.stderr.as_bytes())?;
    if out.truncated {
        ui::warn("output was truncated at 1 MiB per stream");
    }
    Ok(i32::try_from(out.exit_code).unwrap_or(125))
}
