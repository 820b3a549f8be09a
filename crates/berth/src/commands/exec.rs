//! `berth exec [-e K=V] [--env-file F] [-u USER] [-w DIR] JOB CMD...`: runs a command in a
//! running job's container (no shell, no stdin) and exits with its code; through a server,
//! or on the local engine.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use berth_core::backend::ExecCommand;
use berth_core::spec_load::parse_env_file;

use crate::cli::ExecArgs;
use crate::config::Config;
use crate::{jobs, ui};

pub async fn run(config: &Config, args: &ExecArgs) -> anyhow::Result<i32> {
    let command = command(config, args)?;
    let out = jobs::open(config).await?.exec(&args.id, &command).await?;
    std::io::stdout().lock().write_all(out.stdout.as_bytes())?;
    std::io::stderr().lock().write_all(out.stderr.as_bytes())?;
    if out.truncated {
        ui::warn("output was truncated at 1 MiB per stream");
    }
    Ok(i32::try_from(out.exit_code).unwrap_or(125))
}

/// The command with its `-e`, `--env-file`, `-u` and `-w` (a bare `-e KEY` takes this
/// shell's value, as Docker does; `-e` wins over the files).
fn command(config: &Config, args: &ExecArgs) -> anyhow::Result<ExecCommand> {
    let lookup = |key: &str| config.environment.get(key).cloned();
    let mut env = BTreeMap::new();
    for path in &args.env_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
        let name = path.display().to_string();
        env.extend(parse_env_file(&name, &text, &lookup).map_err(|e| anyhow::anyhow!("--env-file: {}", e.message))?);
    }
    for e in &args.env {
        match e.split_once('=') {
            Some((k, v)) => env.insert(k.to_string(), v.to_string()),
            None => lookup(e).and_then(|v| env.insert(e.clone(), v)),
        };
    }
    let command =
        ExecCommand { command: args.command.clone(), env, user: args.user.clone(), workdir: args.workdir.clone() };
    if let Some(p) = command.problems().into_iter().next() {
        anyhow::bail!("{}: {}", p.field, p.message);
    }
    Ok(command)
}
