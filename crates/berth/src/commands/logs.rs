//! `berth logs [-f] [--tail N]`: a job's stored output, stdout to stdout and stderr (and
//! berth's truncation marker) to stderr, in the order it was written. `-f` follows until
//! the job ends. The same in both modes (`jobs::Jobs`).

use std::io::Write;

use berth_core::store::LogStream;

use crate::cli::LogsArgs;
use crate::client::Followed;
use crate::config::Config;
use crate::jobs::{self, Piece};
use crate::ui;

pub async fn run(config: &Config, args: &LogsArgs) -> anyhow::Result<i32> {
    let jobs = jobs::open(config).await?;
    let id = jobs.detail(&args.id).await?.job.id;
    // Stored logs are capped, so reading them whole (to find the last lines) is bounded.
    let mut all = Vec::new();
    let mut after = -1;
    loop {
        let page = jobs.output(&id, after).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    let (first, offset) = args.tail.map_or((0, 0), |n| tail_start(&all, n));
    for (i, p) in all.iter().enumerate().skip(first) {
        write(p.stream, &p.data[if i == first { offset } else { 0 }..]);
    }
    if args.follow {
        jobs.follow(&id, after, &mut print_followed).await?;
    }
    Ok(0)
}

/// Prints a followed job's output: stderr to stderr, the rest to stdout.
pub fn print_followed(f: Followed) {
    match f {
        Followed::Log { stream, text } if stream == "stderr" => write(LogStream::Stderr, text.as_bytes()),
        Followed::Log { text, .. } => write(LogStream::Stdout, text.as_bytes()),
        Followed::Reconnecting(why) => ui::warn(&format!("connection to the server lost ({why}); resuming")),
    }
}

fn write(stream: LogStream, data: &[u8]) {
    let written = match stream {
        LogStream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(data).and_then(|()| out.flush())
        }
        LogStream::Stderr | LogStream::Berth => std::io::stderr().lock().write_all(data),
    };
    // A closed pipe (`| head`) ends the command quietly.
    if written.is_err() {
        std::process::exit(0);
    }
}

/// Where the last `n` lines begin: (chunk index, byte offset). A final newline ends the last
/// line rather than starting a new one.
fn tail_start(chunks: &[Piece], n: usize) -> (usize, usize) {
    if n == 0 {
        return (chunks.len(), 0);
    }
    let mut newlines = 0;
    let mut first = true;
    for (ci, c) in chunks.iter().enumerate().rev() {
        for (bi, b) in c.data.iter().enumerate().rev() {
            let is_final = std::mem::take(&mut first);
            if *b == b'\n' && !is_final {
                newlines += 1;
                if newlines == n {
                    return (ci, bi + 1);
                }
            }
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&str]) -> Vec<Piece> {
        let chunk =
            |(i, p): (usize, &&str)| Piece { seq: i as i64, stream: LogStream::Stdout, data: p.as_bytes().to_vec() };
        parts.iter().enumerate().map(chunk).collect()
    }

    fn tail(parts: &[&str], n: usize) -> String {
        let all = chunks(parts);
        let (c, o) = tail_start(&all, n);
        all.iter()
            .enumerate()
            .skip(c)
            .map(|(i, ch)| String::from_utf8_lossy(&ch.data[if i == c { o } else { 0 }..]).into_owned())
            .collect()
    }

    #[test]
    fn tails_count_lines_across_chunks() {
        assert_eq!(tail(&["a\nb", "\nc\n"], 2), "b\nc\n");
        assert_eq!(tail(&["a\nb\n", "c"], 1), "c");
        assert_eq!(tail(&["a\nb\n", "c"], 2), "b\nc");
        assert_eq!(tail(&["a\n"], 5), "a\n");
        assert_eq!(tail(&["a\n", "b\n"], 0), "");
    }
}
