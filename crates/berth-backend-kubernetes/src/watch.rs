//! One unit's pod, watched (never polled): kube's watcher lists, then watches, and after a
//! `410 Gone` lists again; a pod missing from such a re-list was deleted while the watch was
//! away. API errors back off (kube's default backoff) and, when they go on, end the watch as
//! "unavailable" so the engine's breaker sees the API server is down.

use berth_core::backend::BackendError;
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use crate::translate::UNIT_LABEL;

/// Consecutive watch errors (each after a backoff) before the API server counts as down.
const MAX_ERRORS: u32 = 12;

/// What the watch saw.
#[derive(Clone, Debug)]
pub enum Seen {
    Pod(Box<Pod>),
    /// The pod is gone; its last known state.
    Deleted(Box<Pod>),
}

pub struct PodWatch {
    stream: BoxStream<'static, Result<Event<Pod>, watcher::Error>>,
    current: Option<Pod>,
    listed: bool,
    errors: u32,
    /// The pod should be there already (a reattach): a list without it means it is gone.
    must_exist: bool,
    unit: String,
}

impl PodWatch {
    pub fn new(pods: Api<Pod>, unit: &str, must_exist: bool) -> PodWatch {
        let config = watcher::Config::default().labels(&format!("{UNIT_LABEL}={unit}"));
        let stream = watcher::watcher(pods, config).default_backoff().boxed();
        PodWatch { stream, current: None, listed: false, errors: 0, must_exist, unit: unit.to_string() }
    }

    /// The next change of the unit's pod.
    pub async fn next(&mut self) -> Result<Seen, BackendError> {
        loop {
            let event = match self.stream.next().await {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    self.errors += 1;
                    if self.errors >= MAX_ERRORS {
                        return Err(BackendError::Unavailable(format!("watching the pod: {e}")));
                    }
                    continue;
                }
                None => return Err(BackendError::Unavailable("the pod watch ended".into())),
            };
            self.errors = 0;
            match event {
                Event::Apply(p) | Event::InitApply(p) => {
                    self.listed = true;
                    self.current = Some(p.clone());
                    return Ok(Seen::Pod(Box::new(p)));
                }
                Event::Delete(p) => {
                    self.current = None;
                    return Ok(Seen::Deleted(Box::new(p)));
                }
                Event::Init => self.listed = false,
                Event::InitDone if !self.listed => {
                    if let Some(p) = self.current.take() {
                        return Ok(Seen::Deleted(Box::new(p)));
                    }
                    if self.must_exist {
                        return Err(BackendError::Gone(format!("{} has no pod any more", self.unit)));
                    }
                }
                Event::InitDone => {}
            }
        }
    }
}
