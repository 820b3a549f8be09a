//! `berth logs [-f] [--tail N] [-t] [--since T] [--until T]`: a job's stored output, stdout
//! to stdout and stderr (and berth's truncation marker) to stderr, in the order it was
//! written. `-f` follows until the job ends. Times are those the output was stored at (a
//! chunk's, so lines stored together share one). The same in both modes (`jobs::Jobs`).

use std::io::Write;

use berth_core::clock::{Clock, SystemClock, Timestamp};
use berth_core::store::LogStream;

use crate::cli::LogsArgs;
use crate::client::Followed;
use crate::config::Config;
use crate::jobs::{self, Piece};
use crate::ui;

pub async fn run(config: &Config, args: &LogsArgs) -> anyhow::Result<i32> {
    let now = SystemClock.now().0;
    let since = args.since.as_deref().map(|t| when(t, now)).transpose().map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let until = args.until.as_deref().map(|t| when(t, now)).transpose().map_err(|e| anyhow::anyhow!("--until: {e}"))?;
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
    all.retain(|p| since.is_none_or(|s| p.at >= s) && until.is_none_or(|u| p.at < u));
    let (first, offset) = args.tail.map_or((0, 0), |n| tail_start(&all, n));
    let mut line_start = true;
    for (i, p) in all.iter().enumerate().skip(first) {
        let data = &p.data[if i == first { offset } else { 0 }..];
        if args.timestamps {
            write(p.stream, &stamped(data, p.at, &mut line_start));
        } else {
            write(p.stream, data);
        }
    }
    if args.follow {
        let mut print = print_followed;
        let follow = jobs.follow(&id, after, &mut print);
        match until.map(|u| u - SystemClock.now().0) {
            // As docker logs -f --until: follow until then (a time already past follows nothing).
            Some(left) if left <= 0 => {}
            Some(left) => {
                let _ = tokio::time::timeout(std::time::Duration::from_millis(left as u64), follow).await;
            }
            None => {
                follow.await?;
            }
        }
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

/// A time as `docker logs --since` takes it: RFC 3339, Unix seconds (with a fraction), or a
/// duration before `now` (`10m`, `1h30m`); in milliseconds since the epoch.
fn when(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok((secs * 1000.0) as i64);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        let since_epoch = t.duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
        return Ok(since_epoch.as_millis() as i64);
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(now - ago.as_millis() as i64),
        Err(_) => Err(format!("`{text}` is not a time: use RFC 3339 (2026-12-02T10:00:00Z), Unix seconds, or 10m")),
    }
}

/// `data` with the time `at` before each line that starts in it (`line_start`: whether the
/// previous piece ended a line).
fn stamped(data: &[u8], at: i64, line_start: &mut bool) -> Vec<u8> {
    let stamp = format!("{} ", Timestamp(at).rfc3339());
    let mut out = Vec::with_capacity(data.len() + stamp.len());
    for &b in data {
        if std::mem::take(line_start) {
            out.extend_from_slice(stamp.as_bytes());
        }
        out.push(b);
        *line_start = b == b'\n';
    }
    out
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
        let chunk = |(i, p): (usize, &&str)| Piece {
            seq: i as i64,
            stream: LogStream::Stdout,
            at: 0,
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
    fn times_as_docker_takes_them_and_lines_stamped_once() {
        let now = 1_800_000_000_000;
        assert_eq!(when("10m", now), Ok(now - 600_000));
        assert_eq!(when("1700000000.5", now), Ok(1_700_000_000_500));
        assert_eq!(when("2026-12-02T10:00:00Z", now), Ok(1_796_205_600_000));
        assert!(when("yesterday", now).unwrap_err().contains("RFC 3339"));
        let mut start = true;
        let a = stamped(b"a\nb", 0, &mut start);
        let b = stamped(b"c\n", 1000, &mut start);
        let text = String::from_utf8([a, b].concat()).unwrap();
        assert_eq!(text, "1970-01-01T00:00:00.000Z a\n1970-01-01T00:00:00.000Z bc\n");
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
