//! `berth cp JOB:NAME DEST`: writes one of a job's artifacts to a file, a directory or
//! stdout, from the store (embedded mode) or the server (client mode).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::CpArgs;
use crate::config::Config;
use crate::jobs;

/// `JOB:NAME` → (job, name).
pub fn source(text: &str) -> anyhow::Result<(&str, &str)> {
    match text.split_once(':') {
        Some((job, name)) if !job.is_empty() && !name.is_empty() => Ok((job, name)),
        _ => anyhow::bail!("`{text}`: expected JOB:NAME, e.g. 3f2a9c:reports/summary.txt (see `berth inspect JOB`)"),
    }
}

pub async fn run(config: &Config, args: &CpArgs) -> anyhow::Result<i32> {
    let (job, name) = source(&args.source)?;
    let data = jobs::open(config).await?.artifact(job, name).await?;
    write(&args.dest, name, &data)?;
    Ok(0)
}

fn write(dest: &str, name: &str, data: &[u8]) -> anyhow::Result<()> {
    if dest == "-" {
        return Ok(std::io::stdout().write_all(data)?);
    }
    let mut path = PathBuf::from(dest);
    if path.is_dir() {
        path.push(Path::new(name).file_name().unwrap_or_default());
    }
    std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))
}
