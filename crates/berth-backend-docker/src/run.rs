//! Starting an attempt: subscribe to OOM/die events, attach (before start, so no output is
//! lost), start, feed stdin and half-close it, sample resource use, and resolve the exit.
//!
//! OOM is trusted from either the `oom` event or `State.OOMKilled` (the flag alone is racy on
//! cgroup v1). Events are subscribed with `since` a moment before start, so a late
//! subscription replays what it missed; the exit waits for the `die` event (bounded) so an
//! `oom` that precedes it is always seen.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::backend::{
    BackendError, ExitInfo, LogPosition, OutputChunk, OutputStream, Started, StdinSource, UnitHandle,
};
use berth_core::clock::{Clock, SystemClock};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, EventsOptionsBuilder, LogsOptionsBuilder, StatsOptionsBuilder,
};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::errors::{engine_error, start_error};
use crate::session;

/// How long the exit waits for the `die` event after `wait` returned.
const DIE_EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long a SIGKILL under a memory limit waits, after `die`, for an `oom` that lost the race.
const LATE_OOM_WAIT: Duration = Duration::from_secs(2);
/// The exit code of a process killed by SIGKILL (128 + 9), as the OOM killer leaves it.
const SIGKILL_EXIT: i64 = 137;
/// The stats stream opens this long after start. Its figures are cumulative (cgroup peak
/// memory, total CPU time), so a late first sample loses nothing, and jobs shorter than this
/// never cost the engine a stats collector (measurable at many short jobs per second).
const STATS_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    oom: bool,
    died: bool,
}

#[derive(Debug, Default)]
struct Usage {
    peak_memory: Option<u64>,
    cpu_nanos: Option<u64>,
}

/// Aborts background tasks when the attempt's exit future completes or is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub(crate) async fn start(docker: &Docker, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
    let with_stdin = stdin.feeds_stdin();
    let (seen_tx, seen_rx) = watch::channel(Seen::default());
    let mut tasks = Tasks(vec![tokio::spawn(watch_events(docker.clone(), unit.id.clone(), seen_tx, events_since()))]);
    let options = AttachContainerOptionsBuilder::new()
        .stdin(with_stdin)
        .stdout(true)
        .stderr(true)
        .stream(true)
        // No log replay: the engine subscribes the attach to the streams before replaying
        // the log file, so a line written during the replay arrived twice (seen in tests).
        // Attaching before start, as `docker run` does, already sees every byte.
        .logs(false)
        .detach_keys(session::ENGINE_DETACH_KEYS)
        .build();
    let attach = docker.attach_container(&unit.id, Some(options)).await.map_err(start_error)?;
    docker.start_container(&unit.id, None).await.map_err(start_error)?;
    if let Some((input, tty)) = stdin.into_input() {
        // A payload or a pipe is half-closed at its end (the program reads EOF); a TTY's
        // attach never is: it is the one that records the output.
        let target = session::Target::Container(unit.id.clone());
        tasks.0.push(tokio::spawn(session::feed(docker.clone(), target, attach.input, input, tty)));
    }
    let usage = Arc::new(Mutex::new(Usage::default()));
    tasks.0.push(tokio::spawn(sample_usage(docker.clone(), unit.id.clone(), usage.clone())));
    let output = session::chunks(attach.output);
    let exit = resolve_exit(docker.clone(), unit.id.clone(), seen_rx, usage, tasks).boxed();
    Ok(Started { output, exit })
}

/// Watches a container an earlier berth process started: its log from the start, less the
/// bytes of each stream in `from` (already consumed: skipped exactly, whatever their
/// timestamps), and the exit.
pub(crate) async fn attach(docker: &Docker, unit: &UnitHandle, from: LogPosition) -> Result<Started, BackendError> {
    let (seen_tx, seen_rx) = watch::channel(Seen::default());
    let mut tasks = Tasks(vec![tokio::spawn(watch_events(docker.clone(), unit.id.clone(), seen_tx, events_since()))]);
    let options = LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).build();
    let usage = Arc::new(Mutex::new(Usage::default()));
    tasks.0.push(tokio::spawn(sample_usage(docker.clone(), unit.id.clone(), usage.clone())));
    let mut skip = from;
    let output = docker
        .logs(&unit.id, Some(options))
        .filter_map(move |item| {
            let chunk = match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    skip_consumed(&mut skip, OutputStream::Stdout, message)
                }
                Ok(LogOutput::StdErr { message }) => skip_consumed(&mut skip, OutputStream::Stderr, message),
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(engine_error(e))),
            };
            futures::future::ready(chunk)
        })
        .boxed();
    let exit = resolve_exit(docker.clone(), unit.id.clone(), seen_rx, usage, tasks).boxed();
    Ok(Started { output, exit })
}

/// What of `data` is past the bytes of `stream` still to skip (and counts them off).
fn skip_consumed(
    skip: &mut LogPosition,
    stream: OutputStream,
    data: bytes::Bytes,
) -> Option<Result<OutputChunk, BackendError>> {
    let left = skip.of(stream);
    let n = (*left).min(data.len() as u64) as usize;
    *left -= n as u64;
    (n < data.len()).then(|| Ok(OutputChunk { stream, data: data.slice(n..) }))
}

async fn resolve_exit(
    docker: Docker,
    id: String,
    mut seen: watch::Receiver<Seen>,
    usage: Arc<Mutex<Usage>>,
    tasks: Tasks,
) -> Result<ExitInfo, BackendError> {
    let code = wait_exit(&docker, &id).await?;
    // A zero exit is `exited(0)` whatever the OOM signals say (a child was killed and the
    // job recovered), so only a failure asks for the flag and waits for the `die` event
    // (and any `oom` before it).
    let mut flagged = false;
    if code != 0 {
        let found = docker.inspect_container(&id, None).await.ok();
        let limited = found.as_ref().and_then(|c| c.host_config.as_ref()?.memory).is_some_and(|m| m > 0);
        flagged = found.and_then(|c| c.state?.oom_killed).unwrap_or(false);
        if !flagged {
            let _ = tokio::time::timeout(DIE_EVENT_WAIT, seen.wait_for(|s| s.died)).await;
        }
        // The engine's OOM and exit notices race (the kernel's notice can land after the
        // exit): a SIGKILL under a memory limit waits a moment longer for the `oom`.
        // On a loaded machine even that can be late: the flag, read again, settles it.
        if !flagged && code == SIGKILL_EXIT && limited {
            let missed = tokio::time::timeout(LATE_OOM_WAIT, seen.wait_for(|s| s.oom)).await.is_err();
            if missed {
                let again = docker.inspect_container(&id, None).await.ok();
                flagged = again.and_then(|c| c.state?.oom_killed).unwrap_or(false);
            }
        }
    }
    let oom_event = seen.borrow().oom;
    drop(tasks);
    let usage = usage.lock().map(|u| (u.peak_memory, u.cpu_nanos)).unwrap_or_default();
    Ok(ExitInfo {
        code,
        oom_killed: flagged || oom_event,
        peak_memory: usage.0,
        cpu_seconds: usage.1.map(|n| n as f64 / 1e9),
        deadline_exceeded: false,
    })
}

/// A non-zero exit arrives as `DockerContainerWaitError`: that is an outcome, not a failure.
async fn wait_exit(docker: &Docker, id: &str) -> Result<i64, BackendError> {
    match docker.wait_container(id, None).next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(engine_error(e)),
        None => Err(BackendError::Engine(format!("waiting for container {id} ended without an exit status"))),
    }
}

/// Events from `since` (epoch seconds) on: taken before the task is spawned, so a task that
/// runs late on a loaded machine still replays an `oom` that came before it subscribed.
fn events_since() -> u64 {
    (SystemClock.now().millis().max(0) as u64 / 1000).saturating_sub(1)
}

async fn watch_events(docker: Docker, id: String, seen: watch::Sender<Seen>, since: u64) {
    let filters = std::collections::HashMap::from([
        ("type", vec!["container"]),
        ("container", vec![id.as_str()]),
        ("event", vec!["oom", "die"]),
    ]);
    let options = EventsOptionsBuilder::new().since(&since.to_string()).filters(&filters).build();
    let mut events = docker.events(Some(options));
    while let Some(Ok(ev)) = events.next().await {
        match ev.action.as_deref() {
            Some("oom") => seen.send_modify(|s| s.oom = true),
            Some("die") => seen.send_modify(|s| s.died = true),
            _ => {}
        }
    }
}

/// Samples the engine's stats stream (about once a second) for peak memory and CPU time.
/// Jobs shorter than the first sample report no usage rather than a wrong one.
async fn sample_usage(docker: Docker, id: String, usage: Arc<Mutex<Usage>>) {
    tokio::time::sleep(STATS_DELAY).await;
    let options = StatsOptionsBuilder::new().stream(true).build();
    let mut stats = docker.stats(&id, Some(options));
    while let Some(Ok(s)) = stats.next().await {
        let memory = s.memory_stats.and_then(|m| m.max_usage.or(m.usage)).filter(|m| *m > 0);
        let cpu = s.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).filter(|c| *c > 0);
        if let Ok(mut u) = usage.lock() {
            u.peak_memory = u.peak_memory.max(memory);
            u.cpu_nanos = u.cpu_nanos.max(cpu);
        }
    }
}
