//! A task from the engine's side: `start` (and `attach`, which is the same from a byte
//! offset) waits for the job's container through the poller, follows its awslogs stream
//! and ends the exit future with the normalized ending; `collect` reads the output
//! helper's framed tar from its own stream once the task has stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use berth_core::backend::{
    BackendError, ExitInfo, OutputChunk, OutputEntry, OutputPicker, OutputStream, Started, UnitHandle,
};
use futures::StreamExt;
use tokio::sync::watch;

use crate::aws::Clients;
use crate::logs::Reader;
use crate::poller::{Poller, Seen};
use crate::settings::Settings;
use crate::status::{self, TaskView};
use crate::translate::{MAIN, OUTPUT_HELPER, STREAM_PREFIX};

/// After main exits, how long its last lines may take to reach CloudWatch.
const LOG_CAP_AFTER_EXIT: Duration = Duration::from_secs(60);
/// Consecutive failed log reads before the output ends with an error.
const LOG_FAILURES: u32 = 30;

#[derive(Clone, Debug)]
pub struct Ctx {
    pub clients: Clients,
    pub settings: Arc<Settings>,
    pub poller: Arc<Poller>,
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn gone(arn: &str) -> BackendError {
    BackendError::NodeLost(format!(
        "task {} is not in DescribeTasks any more (ECS keeps stopped tasks about an hour)",
        task_id(arn)
    ))
}

/// Waits for main to start (or the task to end first); then its output and exit.
pub async fn start(ctx: &Ctx, unit: &UnitHandle, skip: u64) -> Result<Started, BackendError> {
    let mut rx = ctx.poller.watch(&unit.id);
    let deadline = tokio::time::Instant::now() + ctx.settings.start_timeout;
    loop {
        let seen = rx.borrow_and_update().clone();
        match seen {
            Seen::Task(v) if v.main_started() => break,
            Seen::Task(v) if v.stopped() => return Err(status::ending(&v).err().unwrap_or_else(|| gone(&unit.id))),
            Seen::Gone => return Err(gone(&unit.id)),
            _ => {}
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(BackendError::Unavailable("the task poller stopped".into())),
            Err(_) => {
                let why = format!("the job's container did not start within {:?}", ctx.settings.start_timeout);
                return Err(BackendError::Start(why));
            }
        }
    }
    let stream = format!("{STREAM_PREFIX}/{MAIN}/{}", task_id(&unit.id));
    let reader = Reader::new(&ctx.clients, &ctx.settings.log_group, stream);
    let output = follow(reader, rx.clone(), skip, (ctx.settings.poll_interval, ctx.settings.log_settle));
    let arn = unit.id.clone();
    let exit = async move { wait_exit(rx, &arn).await };
    Ok(Started { output: output.boxed(), exit: Box::pin(exit) })
}

async fn wait_exit(mut rx: watch::Receiver<Seen>, arn: &str) -> Result<ExitInfo, BackendError> {
    loop {
        let seen = rx.borrow_and_update().clone();
        match seen {
            Seen::Task(v) if v.main_ended() || v.stopped() => return status::ending(&v),
            Seen::Gone => return Err(gone(arn)),
            _ => {}
        }
        if rx.changed().await.is_err() {
            return Err(BackendError::Unavailable("the task poller stopped".into()));
        }
    }
}

struct Follow {
    reader: Reader,
    rx: watch::Receiver<Seen>,
    skip: u64,
    poll: Duration,
    /// Lines read and not yet handed on.
    pending: std::collections::VecDeque<bytes::Bytes>,
    ended_at: Option<Instant>,
    /// When a read last brought lines.
    last_news: Instant,
    settle: Duration,
    failures: u32,
    done: bool,
}

fn ended(seen: &Seen) -> bool {
    match seen {
        Seen::Task(v) => v.main_ended() || v.stopped(),
        Seen::NotYet => false,
        Seen::Gone => true,
    }
}

/// Main's lines as stdout, `skip` bytes left out; the stream ends once main has ended and
/// reads brought nothing new for `settle` (at most a minute after it ended).
fn follow(
    reader: Reader,
    rx: watch::Receiver<Seen>,
    skip: u64,
    (poll, settle): (Duration, Duration),
) -> impl futures::Stream<Item = Result<OutputChunk, BackendError>> {
    let state = Follow {
        reader,
        rx,
        skip,
        poll,
        pending: Default::default(),
        ended_at: None,
        last_news: Instant::now(),
        settle,
        failures: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        while !s.done {
            // One chunk per line: the log cap's tail keeps whole chunks.
            while let Some(line) = s.pending.pop_front() {
                let cut = (s.skip.min(line.len() as u64)) as usize;
                s.skip -= cut as u64;
                if cut < line.len() {
                    return Some((Ok(OutputChunk { stream: OutputStream::Stdout, data: line.slice(cut..) }), s));
                }
            }
            let was_ended = ended(&s.rx.borrow());
            if was_ended && s.ended_at.is_none() {
                s.ended_at = Some(Instant::now());
            }
            match s.reader.next_page().await {
                Ok((page, at_end)) => {
                    s.failures = 0;
                    if !page.is_empty() {
                        s.last_news = Instant::now();
                        s.pending.extend(page);
                    }
                    if !at_end {
                        continue;
                    }
                }
                Err(BackendError::Unavailable(_)) if s.failures < LOG_FAILURES => {
                    // A failed read says nothing about quiet: wait, and read again.
                    s.failures += 1;
                    tokio::time::sleep(s.poll.min(Duration::from_secs(1)) * s.failures.min(4)).await;
                    continue;
                }
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
            if !s.pending.is_empty() {
                continue;
            }
            if let Some(ended_at) = s.ended_at.filter(|_| was_ended) {
                // CloudWatch shows events seconds late: quiet for `settle` since main ended
                // and since the last lines, or the cap.
                let quiet = ended_at.max(s.last_news).elapsed() >= s.settle;
                if quiet || ended_at.elapsed() > LOG_CAP_AFTER_EXIT {
                    return None;
                }
            }
            tokio::time::sleep(s.poll.min(Duration::from_secs(1))).await;
        }
        None
    })
}

/// The outputs the helper printed: waits for the task to stop, then reads its framed tar.
pub async fn collect(ctx: &Ctx, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
    let view = stopped(ctx, unit).await?;
    let helper = view.container(OUTPUT_HELPER);
    let stopped_by_berth = view.stop_code.as_deref() == Some("UserInitiated");
    match helper.and_then(|h| h.exit_code) {
        Some(0) => {}
        // Stopped before the helper ran (a cancel, a timeout): nothing was kept.
        None if stopped_by_berth => return Ok(Vec::new()),
        None => {
            let why = helper.and_then(|h| h.reason.clone()).unwrap_or_else(|| "it never ran".into());
            return Err(BackendError::Files(format!("the output helper did not run: {why}")));
        }
        Some(code) => return Err(BackendError::Files(format!("the output helper exited {code}"))),
    }
    let stream = format!("{STREAM_PREFIX}/{OUTPUT_HELPER}/{}", task_id(&unit.id));
    let deadline = Instant::now() + LOG_CAP_AFTER_EXIT;
    loop {
        let text = Reader::new(&ctx.clients, &ctx.settings.log_group, stream.clone()).read_all().await?;
        if let Some(tar) = framed(&text)? {
            return berth_core::output_tar::read(&tar[..], picker)
                .map_err(|e| BackendError::Files(format!("reading the outputs' tar: {e}")));
        }
        if Instant::now() > deadline {
            let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(300)..]).into_owned();
            return Err(BackendError::Files(format!("the output helper's log has no end marker; it ends: {tail}")));
        }
        tokio::time::sleep(ctx.settings.poll_interval).await;
    }
}

/// The tar between `BERTH-OUTPUT v1` and `BERTH-OUTPUT END <bytes> <sha256>`, checked
/// against both, or `None` before the end.
fn framed(text: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
    use sha2::Digest;
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines().skip_while(|l| *l != "BERTH-OUTPUT v1").skip(1);
    let mut b64 = String::new();
    let bad = |why: String| BackendError::Files(format!("the outputs did not arrive whole: {why}"));
    for line in lines.by_ref() {
        if let Some(end) = line.strip_prefix("BERTH-OUTPUT END") {
            let mut fields = end.split_whitespace();
            let (size, sum) = (fields.next().and_then(|n| n.parse::<usize>().ok()), fields.next());
            let tar =
                base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|e| bad(e.to_string()))?;
            if size != Some(tar.len()) {
                return Err(bad(format!("{} bytes of {}", tar.len(), end.trim())));
            }
            if sum != Some(hex::encode(sha2::Sha256::digest(&tar)).as_str()) {
                return Err(bad("the sha256 differs".into()));
            }
            return Ok(Some(tar));
        }
        b64.push_str(line.trim());
    }
    Ok(None)
}

/// The task once it has stopped (at most `collect_timeout` from now).
async fn stopped(ctx: &Ctx, unit: &UnitHandle) -> Result<TaskView, BackendError> {
    let mut rx = ctx.poller.watch(&unit.id);
    let deadline = tokio::time::Instant::now() + ctx.settings.collect_timeout;
    loop {
        let seen = rx.borrow_and_update().clone();
        match seen {
            Seen::Task(v) if v.stopped() => return Ok(v),
            Seen::Gone => return Err(BackendError::Files(gone(&unit.id).to_string())),
            _ => {}
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(BackendError::Unavailable("the task poller stopped".into())),
            Err(_) => return Err(BackendError::Files("the task did not stop after its job ended".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_frame_is_found_only_when_whole() {
        assert_eq!(super::framed(b"noise\nBERTH-OUTPUT v1\nYWJj\n").unwrap(), None);
        let sum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let whole = format!("BERTH-OUTPUT v1\nYW\nJj\nBERTH-OUTPUT END 3 {sum}\n");
        assert_eq!(super::framed(whole.as_bytes()).unwrap(), Some(b"abc".to_vec()));
        let short = format!("BERTH-OUTPUT v1\nYW\nBERTH-OUTPUT END 3 {sum}\n");
        assert!(super::framed(short.as_bytes()).is_err(), "a lost line is caught");
    }
}
