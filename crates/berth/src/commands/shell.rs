//! `berth completion SHELL` (a completion script on stdout), `berth man DIR` (a man page for
//! berth and each command, generated from the same clap definitions as `--help`) and
//! `berth version` (the version and the commit it was built from).

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, ManArgs};

/// `berth 0.1.0 (commit 1a2b3c4d5e6f)`.
pub fn version_line() -> String {
    format!("berth {} (commit {})", env!("CARGO_PKG_VERSION"), env!("BERTH_COMMIT"))
}

pub fn version() -> anyhow::Result<i32> {
    println!("{}", version_line());
    Ok(0)
}

pub fn completion(args: &CompletionArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(0)
}

/// Writes `berth.1` and `berth-<command>.1` (nested: `berth-schedule-add.1`) into the directory.
pub fn man(args: &ManArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let n = write_pages(Cli::command(), "berth", &args.dir)?;
    eprintln!("wrote {n} man page(s) to {}", args.dir.display());
    Ok(0)
}

fn write_pages(cmd: clap::Command, name: &str, dir: &Path) -> anyhow::Result<usize> {
    let cmd = cmd.name(name.to_string()).version(env!("CARGO_PKG_VERSION"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        n += write_pages(sub.clone(), &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(n)
}
