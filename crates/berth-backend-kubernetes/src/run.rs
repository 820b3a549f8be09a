//! Running an attempt: unsuspend its Job, wait (watching) until the pod's container runs
//! or a stall passes its bound, attach stdin, follow the log, and resolve the exit from the
//! pod's status (and the Job's, for its deadline) once the log is read to its end.

use std::pin::Pin;
use std::time::Duration;

use berth_core::backend::{BackendError, ExitInfo, OutputChunk, OutputStream, Started, StdinSource, UnitHandle};
use futures::{AsyncBufRead, AsyncReadExt, FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, Patch, PatchParams};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::logs::Parser;
use crate::status::{self, PodState, Stall};
use crate::translate::{MAIN, START_TIMEOUT_ANNOTATION};
use crate::watch::{PodWatch, Seen};
use crate::{Kube, api_error, remote};

/// Pauses between log connections: after one that gave nothing, and growing after failures.
const LOG_PAUSE: Duration = Duration::from_millis(200);
const LOG_PAUSE_MAX: Duration = Duration::from_secs(5);
/// How long the exit waits for the log to be read to its end (a long backlog, a reattach
/// re-reading from the start) before it is given anyway.
const LOG_CATCH_UP: Duration = Duration::from_secs(60);
/// A pod being deleted whose container never reports an end (its node is gone) counts as
/// lost this long after its grace period.
const TERMINATING_SLACK: Duration = Duration::from_secs(60);

pub(crate) async fn start(k: &Kube, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
    let job = k.jobs.get(&unit.name).await.map_err(|e| api_error("reading the Job", e))?;
    let annotations = job.metadata.annotations.unwrap_or_default();
    let start_secs = annotations.get(START_TIMEOUT_ANNOTATION).and_then(|s| s.parse().ok()).unwrap_or(600);
    let mut watch = PodWatch::new(k.pods.clone(), &unit.name, false);
    let resume = Patch::Merge(serde_json::json!({"spec": {"suspend": false}}));
    k.jobs
        .patch(&unit.name, &PatchParams::default(), &resume)
        .await
        .map_err(|e| BackendError::Start(format!("unsuspending the Job: {e}")))?;
    let pod = running(&mut watch, k.settings.pull_timeout, Duration::from_secs(start_secs)).await?;
    let name = status::name(&pod);
    let feeder = match stdin {
        StdinSource::None => None,
        source if matches!(status::read(&pod), PodState::Running) => {
            let attached = remote::attach_stdin(&k.pods, &name).await?;
            Some(tokio::spawn(remote::feed_stdin(attached, source)))
        }
        // It ended before it could be given its stdin: its ending says what happened.
        _ => None,
    };
    Ok(started(k, unit, watch, pod, 0, feeder))
}

/// Watches a unit an earlier process started: its log past the `skip` bytes consumed, and
/// its exit. A unit whose pod is gone ends at once.
pub(crate) async fn attach(k: &Kube, unit: &UnitHandle, skip: u64) -> Result<Started, BackendError> {
    let mut watch = PodWatch::new(k.pods.clone(), &unit.name, true);
    let pod = loop {
        match watch.next().await? {
            Seen::Pod(p) if matches!(status::read(&p), PodState::Running | PodState::Ended(_)) => break *p,
            Seen::Pod(_) => continue,
            Seen::Deleted(p) => return Err(status::vanished(&p)),
        }
    };
    Ok(started(k, unit, watch, pod, skip, None))
}

fn started(
    k: &Kube,
    unit: &UnitHandle,
    watch: PodWatch,
    pod: Pod,
    skip: u64,
    feeder: Option<tokio::task::JoinHandle<()>>,
) -> Started {
    let (read_tx, read_rx) = watch::channel(false);
    let output = follow(k.clone(), status::name(&pod), skip, read_tx);
    let exit = exit(k.clone(), unit.name.clone(), watch, pod, read_rx, Abort(feeder)).boxed();
    Started { output, exit }
}

/// The pod once its container runs (or already ended); a pull stall past `pull`, or
/// waiting for a node (or anything else) past `start`, ends the attempt.
async fn running(watch: &mut PodWatch, pull: Duration, start: Duration) -> Result<Pod, BackendError> {
    let began = Instant::now();
    let mut stall: Option<(Stall, Instant)> = None;
    let mut seen_pod = false;
    loop {
        let limit = match &stall {
            Some((Stall::Pull(_), since)) => *since + pull,
            _ => began + start,
        };
        let seen = match tokio::time::timeout_at(limit, watch.next()).await {
            Ok(seen) => seen?,
            Err(_) => return Err(stalled(stall.map(|(s, _)| s), start, seen_pod)),
        };
        let pod = match seen {
            Seen::Pod(p) => *p,
            Seen::Deleted(p) => return Err(status::vanished(&p)),
        };
        seen_pod = true;
        match status::read(&pod) {
            PodState::Running | PodState::Ended(Ok(_)) => return Ok(pod),
            PodState::Ended(Err(e)) => return Err(e),
            PodState::Waiting(Some(s)) => {
                let same =
                    stall.as_ref().is_some_and(|(old, _)| std::mem::discriminant(old) == std::mem::discriminant(&s));
                let since = if same { stall.map_or(Instant::now(), |(_, t)| t) } else { Instant::now() };
                stall = Some((s, since));
            }
            PodState::Waiting(None) => stall = None,
        }
    }
}

fn stalled(stall: Option<Stall>, start: Duration, seen_pod: bool) -> BackendError {
    let secs = start.as_secs();
    match stall {
        Some(Stall::Pull(m)) => BackendError::Pull(m),
        Some(Stall::Unschedulable(m)) => BackendError::Start(format!("no node took the pod within {secs}s: {m}")),
        Some(Stall::Other(m)) => BackendError::Start(format!("the pod did not start within {secs}s: {m}")),
        None if !seen_pod => BackendError::Start(format!(
            "no pod was made for the Job within {secs}s: see the namespace's events (a quota, Pod Security \
             admission, a missing service account or an admission webhook refusing it)"
        )),
        None => BackendError::Start(format!("the pod did not start within {secs}s")),
    }
}

async fn exit(
    k: Kube,
    unit: String,
    mut watch: PodWatch,
    mut pod: Pod,
    mut read: watch::Receiver<bool>,
    _feeder: Abort,
) -> Result<ExitInfo, BackendError> {
    let ended = loop {
        if let PodState::Ended(r) = status::read(&pod) {
            break r;
        }
        let next = match terminating_deadline(&pod) {
            Some(at) => match tokio::time::timeout_at(at, watch.next()).await {
                Ok(next) => next?,
                Err(_) => return Err(status::vanished(&pod)),
            },
            None => watch.next().await?,
        };
        pod = match next {
            Seen::Pod(p) => *p,
            Seen::Deleted(p) => match status::read(&p) {
                PodState::Ended(r) => break r,
                _ => return Err(status::vanished(&p)),
            },
        };
    };
    let mut info = ended?;
    if let Ok(job) = k.jobs.get(&unit).await {
        info.deadline_exceeded = status::deadline_exceeded(&job, &pod);
    }
    // The log is read to its end before the exit is given (the engine stops reading soon
    // after); a follower that is dropped or stuck does not hold it past the bound.
    let _ = tokio::time::timeout(LOG_CATCH_UP, read.wait_for(|done| *done)).await;
    Ok(info)
}

/// When a pod being deleted without its container's end counts as lost: its grace, and more.
fn terminating_deadline(pod: &Pod) -> Option<Instant> {
    let since = pod.metadata.deletion_timestamp.as_ref()?.0;
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64;
    let elapsed = Duration::try_from(jiff::Timestamp::now().duration_since(since)).unwrap_or_default();
    let left = (Duration::from_secs(grace) + TERMINATING_SLACK).saturating_sub(elapsed);
    Some(Instant::now() + left)
}

/// Aborts the stdin feeder when the exit resolves (or is dropped).
struct Abort(Option<tokio::task::JoinHandle<()>>);

impl Drop for Abort {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

/// Where the log follower is.
struct Follow {
    k: Kube,
    pod: String,
    parser: Parser,
    reader: Option<Reader>,
    /// The container has ended: one last read without `follow`, then the end.
    last: bool,
    done: bool,
    /// Whether the current connection gave anything, and the pause before the next one.
    fruitful: bool,
    pause: Duration,
    /// Set when the log has been read to its end.
    read: watch::Sender<bool>,
}

/// The pod's log as it is written, resumed after every cut from the parser's cursor.
fn follow(
    k: Kube,
    pod: String,
    skip: u64,
    read: watch::Sender<bool>,
) -> futures::stream::BoxStream<'static, Result<OutputChunk, BackendError>> {
    let state = Follow {
        k,
        pod,
        parser: Parser::new(skip),
        reader: None,
        last: false,
        done: false,
        fruitful: false,
        pause: LOG_PAUSE,
        read,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                s.read.send_replace(true);
                return None;
            }
            match s.step().await {
                Ok(Some(data)) => return Some((Ok(OutputChunk { stream: OutputStream::Stdout, data }), s)),
                Ok(None) => {}
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
        }
    })
    .boxed()
}

impl Follow {
    /// Reads once: new content, nothing (a reconnect or an empty read), or an error.
    async fn step(&mut self) -> Result<Option<bytes::Bytes>, BackendError> {
        let Some(reader) = self.reader.as_mut() else {
            self.connect().await;
            return Ok(None);
        };
        let mut buf = vec![0u8; 32 * 1024];
        match reader.read(&mut buf).await {
            Ok(n) if n > 0 => {
                self.fruitful = true;
                self.pause = LOG_PAUSE;
                let fresh = self.parser.feed(&buf[..n]);
                Ok((!fresh.is_empty()).then_some(fresh))
            }
            // The end of this connection: the container's end, or a cut.
            _ => {
                self.reader = None;
                self.parser.reconnect();
                if self.last {
                    self.done = true;
                } else if container_ended(self.k.pods.clone(), self.pod.clone()).await {
                    self.last = true;
                } else if !self.fruitful {
                    tokio::time::sleep(LOG_PAUSE).await;
                }
                Ok(None)
            }
        }
    }

    /// Opens the next connection; a failure waits (longer each time) and is tried again for
    /// as long as the container has not ended, so a kubelet restart loses nothing.
    async fn connect(&mut self) {
        let params = LogParams {
            container: Some(MAIN.into()),
            follow: !self.last,
            timestamps: true,
            since_time: self.parser.since(),
            ..LogParams::default()
        };
        match self.k.pods.log_stream(&self.pod, &params).await {
            Ok(r) => {
                self.reader = Some(Box::pin(r));
                self.fruitful = false;
            }
            // A pod that is gone has nothing more to read (its exit says how it ended).
            Err(kube::Error::Api(s)) if s.code == 404 => self.done = true,
            Err(e) => {
                tracing::debug!("reading the log of pod {}: {e}", self.pod);
                tokio::time::sleep(self.pause).await;
                self.pause = (self.pause * 2).min(LOG_PAUSE_MAX);
                if !self.last && container_ended(self.k.pods.clone(), self.pod.clone()).await {
                    self.last = true;
                }
            }
        }
    }
}

/// Whether the pod's container has ended (or the pod is gone).
async fn container_ended(pods: kube::Api<Pod>, pod: String) -> bool {
    match pods.get(&pod).await {
        Ok(p) => matches!(status::read(&p), PodState::Ended(_)),
        Err(kube::Error::Api(s)) if s.code == 404 => true,
        Err(_) => false,
    }
}
