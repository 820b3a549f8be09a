//! Flags of Docker's everyday verbs (`ps`, `inspect`, `rm`, `exec`) that berth does
//! not have: each is accepted by the parser (hidden) only to be refused by name with the
//! reason, before anything is read, as `berth run` does with `docker run`'s. The tables in
//! docs/docker-compat.md list them; `scripts/docker-parity` checks both against the
//! installed `docker <verb> --help`.

use clap::Args;

use crate::cli::Command;

const NO_SIZE: &str =
    "a job has no writable layer to measure: berth inspect shows its resource use (peak_memory, cpu_seconds)";
const PRIVILEGED: &str =
    "a command in a job has the job's own privileges: run the job with what it needs (policy decides)";

#[derive(Debug, Default, Args)]
pub struct PsRefused {
    #[arg(short = 's', long, hide = true)]
    pub size: bool,
}

#[derive(Debug, Default, Args)]
pub struct InspectRefused {
    #[arg(short = 's', long, hide = true)]
    pub size: bool,
    #[arg(long = "type", hide = true, value_name = "TYPE")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct RmRefused {
    #[arg(short = 'l', long, hide = true)]
    pub link: bool,
}

#[derive(Debug, Default, Args)]
pub struct ExecRefused {
    #[arg(long, hide = true)]
    pub privileged: bool,
}

/// The first refused flag the command was given, as an error naming it and the reason.
pub fn check(command: &Command) -> anyhow::Result<()> {
    let refused: Option<(&str, &str, &str)> = match command {
        Command::Ps(a) if a.refused.size => Some(("ps", "--size", NO_SIZE)),
        Command::Inspect(a) if a.refused.size => Some(("inspect", "--size", NO_SIZE)),
        Command::Inspect(a) if a.refused.kind.as_deref().is_some_and(|k| k != "job") => {
            Some(("inspect", "--type", "berth inspects jobs only (--type job)"))
        }
        Command::Rm(a) if a.refused.link => Some(("rm", "--link", "legacy Docker links: berth makes none")),
        Command::Exec(a) if a.refused.privileged => Some(("exec", "--privileged", PRIVILEGED)),
        _ => None,
    };
    match refused {
        Some((verb, flag, why)) => anyhow::bail!("{flag}: not supported by berth {verb}: {why}"),
        None => Ok(()),
    }
}
