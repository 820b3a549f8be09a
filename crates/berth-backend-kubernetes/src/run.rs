//! Running an attempt: unsuspend its Job, wait (watching) until the pod's container runs
//! or a stall passes its bound, feed stdin, follow the log, and resolve the exit from the
//! pod's status (and the Job's, for its deadline).

use std::pin::Pin;
use std::time::Duration;

use berth_core::backend::{BackendError, ExitInfo, OutputChunk, OutputStream, Started, StdinSource, UnitHandle};
use futures::{AsyncBufRead, AsyncReadExt, FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, Patch, PatchParams};
use tokio::time::Instant;

use crate::logs::{Cursor, Parser};
use crate::status::{self, PodState, Stall};
use crate::translate::MAIN;
use crate::watch::{PodWatch, Seen};
use crate::{Kube, api_error, remote};

/// The annotation on the Job with how long its pod may wait for a node, in seconds.
pub const START_TIMEOUT_ANNOTATION: &str = "berth.start-timeout";
/// A log connection that fails this many times in a row (with a pause between) gives up.
const LOG_RETRIES: u32 = 30;
const LOG_RETRY_PAUSE: Duration = Duration::from_millis(500);

pub(crate) async fn start(k: &Kube, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
    let job = k.jobs.get(&unit.name).await.map_err(|e| api_error("reading the Job", e))?;
    let annotations = job.metadata.annotations.unwrap_or_default();
    let start_secs = annotations.get(START_TIMEOUT_ANNOTATION).and_then(|s| s.parse().ok()).unwrap_or(600);
    let mut watch = PodWatch::new(k.pods.clone(), &unit.name);
    let resume = Patch::Merge(serde_json::json!({"spec": {"suspend": false}}));
    k.jobs
        .patch(&unit.name, &PatchParams::default(), &resume)
        .await
        .map_err(|e| BackendError::Start(format!("unsuspending the Job: {e}")))?;
    let pod = running(&mut watch, k.settings.pull_timeout, Duration::from_secs(start_secs)).await?;
    let name = status::name(&pod);
    let feeder = match stdin {
        StdinSource::None => None,
        source => Some(tokio::spawn(remote::feed_stdin(k.pods.clone(), name.clone(), source))),
    };
    Ok(Started {
        output: follow(k.clone(), name, 0),
        exit: exit(k.clone(), unit.name.clone(), watch, pod, feeder).boxed(),
    })
}

/// Watches a unit an earlier process started: its log past the `skip` bytes consumed, and
/// its exit.
pub(crate) async fn attach(k: &Kube, unit: &UnitHandle, skip: u64) -> Result<Started, BackendError> {
    let mut watch = PodWatch::new(k.pods.clone(), &unit.name);
    let pod = loop {
        match watch.next().await? {
            Seen::Pod(p) if matches!(status::read(&p), PodState::Running | PodState::Ended(_)) => break *p,
            Seen::Pod(_) => continue,
            Seen::Deleted(p) => return Err(status::vanished(&p)),
        }
    };
    let name = status::name(&pod);
    Ok(Started {
        output: follow(k.clone(), name, skip),
        exit: exit(k.clone(), unit.name.clone(), watch, pod, None).boxed(),
    })
}

/// The pod once its container runs (or already ended); a pull stall past `pull`, or
/// waiting for a node (or anything else) past `start`, ends the attempt.
async fn running(watch: &mut PodWatch, pull: Duration, start: Duration) -> Result<Pod, BackendError> {
    let began = Instant::now();
    let mut stall: Option<(Stall, Instant)> = None;
    loop {
        let limit = match &stall {
            Some((Stall::Pull(_), since)) => *since + pull,
            _ => began + start,
        };
        let seen = match tokio::time::timeout_at(limit, watch.next()).await {
            Ok(seen) => seen?,
            Err(_) => return Err(stalled(stall.map(|(s, _)| s), start)),
        };
        let pod = match seen {
            Seen::Pod(p) => *p,
            Seen::Deleted(p) => return Err(status::vanished(&p)),
        };
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

fn stalled(stall: Option<Stall>, start: Duration) -> BackendError {
    let secs = start.as_secs();
    match stall {
        Some(Stall::Pull(m)) => BackendError::Pull(m),
        Some(Stall::Unschedulable(m)) => BackendError::Start(format!("no node took the pod within {secs}s: {m}")),
        Some(Stall::Other(m)) => BackendError::Start(format!("the pod did not start within {secs}s: {m}")),
        None => BackendError::Start(format!("the pod did not start within {secs}s")),
    }
}

async fn exit(
    k: Kube,
    unit: String,
    mut watch: PodWatch,
    mut pod: Pod,
    feeder: Option<tokio::task::JoinHandle<()>>,
) -> Result<ExitInfo, BackendError> {
    let _feeder = Abort(feeder);
    let ended = loop {
        if let PodState::Ended(r) = status::read(&pod) {
            break r;
        }
        pod = match watch.next().await? {
            Seen::Pod(p) => *p,
            Seen::Deleted(p) => match status::read(&p) {
                PodState::Ended(r) => break r,
                _ => return Err(status::vanished(&p)),
            },
        };
    };
    let mut info = ended?;
    if let Ok(job) = k.jobs.get(&unit).await {
        info.deadline_exceeded = status::deadline_exceeded(&job);
    }
    Ok(info)
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
    failures: u32,
}

/// The pod's log as it is written, resumed after every cut from the cursor.
fn follow(k: Kube, pod: String, skip: u64) -> futures::stream::BoxStream<'static, Result<OutputChunk, BackendError>> {
    let state = Follow {
        k,
        pod,
        parser: Parser::new(Cursor::default(), skip),
        reader: None,
        last: false,
        done: false,
        failures: 0,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
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
            self.connect().await?;
            return Ok(None);
        };
        let mut buf = vec![0u8; 32 * 1024];
        match reader.read(&mut buf).await {
            Ok(n) if n > 0 => {
                self.failures = 0;
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
                }
                Ok(None)
            }
        }
    }

    async fn connect(&mut self) -> Result<(), BackendError> {
        let params = LogParams {
            container: Some(MAIN.into()),
            follow: !self.last,
            timestamps: true,
            since_time: self.parser.cursor.since(),
            ..LogParams::default()
        };
        match self.k.pods.log_stream(&self.pod, &params).await {
            Ok(r) => {
                self.reader = Some(Box::pin(r));
                Ok(())
            }
            Err(e) => {
                // A pod that is gone has nothing more to read (its exit says how it ended).
                if matches!(&e, kube::Error::Api(s) if s.code == 404) {
                    self.done = true;
                    return Ok(());
                }
                self.failures += 1;
                if self.failures > LOG_RETRIES {
                    return Err(api_error("reading the pod log", e));
                }
                tokio::time::sleep(LOG_RETRY_PAUSE).await;
                Ok(())
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
