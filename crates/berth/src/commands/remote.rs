//! Every everyday command against a berth server (`--server`/`BERTH_SERVER`): the same
//! flags and output as the embedded mode, over the HTTP API.

use std::io::Write;

use berth_core::status::Reason;

use crate::cli::{Command, ExecArgs, IdArgs, LogsArgs, PsArgs, RunArgs};
use crate::client::{Client, Followed, record};
use crate::config::{Config, env_var};
use crate::{run_flags, ui};

pub async fn dispatch(config: &Config, server: &str, command: &Command) -> anyhow::Result<i32> {
    let client = Client::new(server, config.token.clone())?;
    match command {
        Command::Run(args) => run(&client, args).await,
        Command::Ps(args) => ps(&client, args).await,
        Command::Logs(args) => logs(&client, args).await,
        Command::Inspect(args) => inspect(&client, args).await,
        Command::Wait(args) => wait(&client, args).await,
        Command::Cancel(args) => {
            let job = client.cancel(&args.id).await?;
            println!("{}", job.id);
            Ok(0)
        }
        Command::Retry(args) => {
            let job = client.retry(&args.id).await?;
            println!("{}", job.id);
            Ok(0)
        }
        Command::Rm(args) => {
            for id in &args.ids {
                client.delete(id).await?;
                println!("{id}");
            }
            Ok(0)
        }
        Command::Exec(args) => exec(&client, args).await,
        Command::Cp(args) => crate::commands::cp::run(config, args).await,
        Command::Volume(c) => crate::commands::volume::run(config, c).await,
        Command::Secret(c) => crate::commands::secret::run(config, c).await,
        Command::Schedule(c) => crate::commands::schedule::run(config, c).await,
        Command::Gc(_)
        | Command::Policy(_)
        | Command::Server(_)
        | Command::Worker(_)
        | Command::Workers(_)
        | Command::Queue(_)
        | Command::Token(_)
        | Command::Tenant(_) => {
            anyhow::bail!("this command works on the local data dir: run it without --server/BERTH_SERVER")
        }
    }
}

async fn run(client: &Client, args: &RunArgs) -> anyhow::Result<i32> {
    if args.wants_stdin() {
        anyhow::bail!(
            "-i (or -a stdin) needs the embedded mode (stdin is not forwarded over the API yet): put the input in the spec's `stdin`, or unset --server"
        );
    }
    let spec = run_flags::spec_from_args(args, &env_var)?;
    let job = client.submit(&spec).await?;
    if args.detach {
        println!("{}", job.id);
        return Ok(0);
    }
    if ui::stderr_is_tty() {
        ui::note(&format!("job {} (berth logs {0} · berth inspect {0})", job.id.get(..12).unwrap_or(&job.id)));
    }
    let id = job.id.clone();
    let follow = client.follow(&id, print_followed);
    tokio::pin!(follow);
    let done = tokio::select! {
        done = &mut follow => done?,
        _ = tokio::signal::ctrl_c() => {
            if args.no_cancel {
                ui::note(&format!("left job {id} running (--no-cancel)"));
                return Ok(0);
            }
            ui::note("cancelling the job (Ctrl-C again to stop waiting)");
            client.cancel(&id).await?;
            tokio::select! {
                done = &mut follow => done?,
                _ = tokio::signal::ctrl_c() => return Ok(130),
            }
        }
    };
    match &done.reason {
        Some(Reason::Exited { .. }) | None => {}
        Some(reason) => ui::note(&format!("job {} {}: {reason}", done.id.short(), done.status)),
    }
    Ok(ui::exit_code(&done))
}

fn print_followed(f: Followed) {
    match f {
        Followed::Log { stream, text } if stream == "stderr" => {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(text.as_bytes());
        }
        Followed::Log { text, .. } => {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            let _ = o.flush();
        }
        Followed::Reconnecting(why) => ui::warn(&format!("connection to the server lost ({why}); resuming")),
    }
}

async fn ps(client: &Client, args: &PsArgs) -> anyhow::Result<i32> {
    let wanted = super::ps::Wanted::from_args(args)?;
    let mut query = vec![("limit", wanted.limit.filter(|_| wanted.name.is_none()).unwrap_or(500).to_string())];
    if !wanted.statuses.is_empty() {
        let list: Vec<&str> = wanted.statuses.iter().map(|s| s.as_str()).collect();
        query.push(("status", list.join(",")));
    }
    if !wanted.labels.is_empty() {
        let list: Vec<String> =
            wanted.labels.iter().map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}"))).collect();
        query.push(("label", list.join(",")));
    }
    if let Some(i) = &wanted.image {
        query.push(("image", i.clone()));
    }
    if let Some(q) = &wanted.queue {
        query.push(("queue", q.clone()));
    }
    let mut views = client.list(&query).await?.jobs;
    views.retain(|v| wanted.keeps_name(v.name.as_deref()));
    if let Some(n) = wanted.limit {
        views.truncate(n as usize);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(0);
    }
    let jobs = views.into_iter().map(record).collect::<anyhow::Result<Vec<_>>>()?;
    if args.quiet {
        jobs.iter().for_each(|j| println!("{}", if args.no_trunc { j.id.as_str() } else { j.id.short() }));
    } else {
        println!("{}", super::ps::table(&jobs, args.no_trunc));
    }
    Ok(0)
}

async fn logs(client: &Client, args: &LogsArgs) -> anyhow::Result<i32> {
    if args.follow {
        client.follow(&args.id, print_followed).await?;
        return Ok(0);
    }
    let text = client.logs_text(&args.id).await?;
    let start = match args.tail {
        Some(n) => tail_start(&text, n),
        None => 0,
    };
    std::io::stdout().lock().write_all(&text[start..])?;
    Ok(0)
}

/// Where the last `n` lines of `text` begin.
fn tail_start(text: &[u8], n: usize) -> usize {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter().enumerate().rev().filter(|(_, b)| **b == b'\n').nth(n.saturating_sub(1)).map_or(0, |(i, _)| i + 1)
}

async fn inspect(client: &Client, args: &IdArgs) -> anyhow::Result<i32> {
    let mut doc = client.get_json(&format!("/v1/jobs/{}", args.id)).await?;
    let id = doc["id"].as_str().unwrap_or(&args.id).to_string();
    doc["artifacts"] = client.get_json(&format!("/v1/jobs/{id}/artifacts")).await?;
    doc["deliveries"] = client.get_json(&format!("/v1/jobs/{id}/deliveries")).await?;
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}

async fn wait(client: &Client, args: &IdArgs) -> anyhow::Result<i32> {
    loop {
        let job = record(client.get(&args.id).await?.job)?;
        if job.status.is_terminal() {
            let code = ui::exit_code(&job);
            println!("{code}");
            return Ok(code);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

async fn exec(client: &Client, args: &ExecArgs) -> anyhow::Result<i32> {
    let out = client.exec(&args.id, &args.command).await?;
    std::io::stdout().lock().write_all(out.stdout.as_bytes())?;
    std::io::stderr().lock().write_all(out.stderr.as_bytes())?;
    if out.truncated {
        ui::warn("output was truncated at 1 MiB per stream");
    }
    Ok(i32::try_from(out.exit_code).unwrap_or(125))
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn tail_finds_the_last_lines() {
        assert_eq!(&b"a\nb\nc\n"[tail_start(b"a\nb\nc\n", 2)..], b"b\nc\n");
        assert_eq!(tail_start(b"a\nb\n", 5), 0);
        assert_eq!(&b"a\nb"[tail_start(b"a\nb", 1)..], b"b");
    }
}
