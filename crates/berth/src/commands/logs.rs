//! `berth logs [-f] [--tail N]`: a job's stored output, stdout to stdout and stderr (and
//! berth's truncation marker) to stderr, in the order it was written. `-f` follows until
//! the job ends.

use std::io::Write;
use std::time::Duration;

use berth_core::JobId;
use berth_core::store::{LogChunk, LogStream, Store};

use crate::cli::LogsArgs;
use crate::config::Config;
use crate::wiring;

const POLL: Duration = Duration::from_millis(200);
const PAGE: u32 = 2_000;

pub async fn run(config: &Config, args: &LogsArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let store = local.store.as_ref();
    let job = local.store.find_job(&args.id).await?;
    let mut after = -1;
    if let Some(n) = args.tail {
        // Stored logs are capped, so reading them whole to find the last lines is bounded.
        let mut all = Vec::new();
        loop {
            let page = store.read_logs(&job.id, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        let (chunk, offset) = tail_start(&all, n);
        for (i, c) in all.iter().enumerate().skip(chunk) {
            write(c.stream, &c.data[if i == chunk { offset } else { 0 }..]);
        }
    }
    loop {
        let read = print_page(store, &job.id, &mut after).await?;
        if read == PAGE {
            continue;
        }
        if !args.follow {
            break;
        }
        // Output is flushed before a job's terminal status is written, so once the status
        // is terminal, one more drain prints everything.
        if store.get_job(&job.id).await?.status.is_terminal() {
            while print_page(store, &job.id, &mut after).await? > 0 {}
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(0)
}

async fn print_page(store: &dyn Store, id: &JobId, after: &mut i64) -> anyhow::Result<u32> {
    let chunks = store.read_logs(id, *after, PAGE).await?;
    for c in &chunks {
        write(c.stream, &c.data);
        *after = c.seq;
    }
    Ok(chunks.len() as u32)
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
fn tail_start(chunks: &[LogChunk], n: usize) -> (usize, usize) {
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
    use berth_core::clock::Timestamp;

    use super::*;

    fn chunks(parts: &[&str]) -> Vec<LogChunk> {
        let chunk = |(i, p): (usize, &&str)| LogChunk {
            seq: i as i64,
            attempt: 1,
            stream: LogStream::Stdout,
            at: Timestamp(0),
            data: p.as_bytes().to_vec(),
        };
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
