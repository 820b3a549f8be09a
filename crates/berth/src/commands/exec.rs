//! `berth exec [-i] [-t] [-d] [-e K=V] [--env-file F] [-u USER] [-w DIR] JOB CMD...`: runs a
//! command in a running job's container (no shell) and exits with its code; through a
//! server, or on the local engine. Without -i/-t its output is collected; with them it is
//! live (a TTY, this terminal's input); -d starts it and returns.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use berth_core::backend::ExecCommand;
use berth_core::spec_load::parse_env_file;

use crate::cli::ExecArgs;
use crate::config::Config;
use crate::jobs::Jobs;
use crate::live::{self, SessionEnd};
use crate::{jobs, run_flags, tty, ui};

pub async fn run(config: &Config, args: &ExecArgs) -> anyhow::Result<i32> {
    let command = command(config, args)?;
    let jobs = jobs::open(config).await?;
    if args.detach {
        jobs.exec_detached(&args.id, &command).await?;
        return Ok(0);
    }
    if args.interactive || args.tty {
        return live(jobs.as_ref(), args, &command).await;
    }
    let out = jobs.exec(&args.id, &command).await?;
    std::io::stdout().lock().write_all(out.stdout.as_bytes())?;
    std::io::stderr().lock().write_all(out.stderr.as_bytes())?;
    if out.truncated {
        ui::warn("output was truncated at 1 MiB per stream");
    }
    Ok(i32::try_from(out.exit_code).unwrap_or(125))
}

/// `-i` and/or `-t`: the command's input and output live in this terminal.
async fn live(jobs: &dyn Jobs, args: &ExecArgs, command: &ExecCommand) -> anyhow::Result<i32> {
    let keys = run_flags::detach_keys(args.detach_keys.as_deref())?;
    let (tty, stdin) = (args.tty, args.interactive);
    if tty && stdin && !tty::stdin_is_tty() {
        anyhow::bail!("the input device is not a TTY: drop -t (-i alone forwards piped input)");
    }
    let (io, detached) = live::terminal_io(tty, stdin, keys);
    let output = jobs.exec_live(&args.id, command, io).await?;
    match live::show_here(output, detached).await? {
        SessionEnd::Exit(code) => Ok(i32::try_from(code).unwrap_or(125)),
        SessionEnd::Detached => {
            ui::note("detached: the command runs on in the job");
            Ok(0)
        }
        SessionEnd::Closed => anyhow::bail!("the session ended before the command gave an exit code"),
    }
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
