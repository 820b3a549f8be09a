//! One DescribeTasks poller per backend: every attempt being watched shares it, up to 100
//! tasks a call, every `poll_interval`, backing off (with jitter) while the API refuses or
//! is down. A task ECS does not know is normal right after RunTask; once it was seen, or a
//! minute after, it is `Gone`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::aws::Clients;
use crate::status::TaskView;

/// How long a task may be unknown to DescribeTasks after RunTask.
const MISSING_GRACE: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the poller last saw of a task.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    NotYet,
    Task(TaskView),
    /// Not in DescribeTasks any more, or never within a minute of RunTask.
    Gone,
}

struct Watched {
    tx: watch::Sender<Seen>,
    since: Instant,
}

pub struct Poller {
    clients: Clients,
    cluster: String,
    interval: Duration,
    watched: Mutex<HashMap<String, Watched>>,
    running: Mutex<bool>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("cluster", &self.cluster).finish()
    }
}

impl Poller {
    pub fn new(clients: Clients, cluster: String, interval: Duration) -> Arc<Poller> {
        Arc::new(Poller { clients, cluster, interval, watched: Mutex::default(), running: Mutex::new(false) })
    }

    /// Watches task `arn` until every receiver is dropped.
    pub fn watch(self: &Arc<Self>, arn: &str) -> watch::Receiver<Seen> {
        let rx = {
            let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            match watched.get(arn) {
                Some(w) => w.tx.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(Seen::NotYet);
                    watched.insert(arn.to_string(), Watched { tx, since: Instant::now() });
                    rx
                }
            }
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !*running {
            *running = true;
            tokio::spawn(poll(Arc::downgrade(self)));
        }
        rx
    }

    /// The tasks still watched, dropping those nobody watches any more.
    fn arns(&self) -> Vec<String> {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        watched.retain(|_, w| w.tx.receiver_count() > 0);
        watched.keys().cloned().collect()
    }

    /// One round: DescribeTasks for every watched task; `false` if a call failed.
    async fn round(&self) -> bool {
        let arns = self.arns();
        let mut ok = true;
        for chunk in arns.chunks(100) {
            let call = self.clients.ecs.describe_tasks().cluster(&self.cluster).set_tasks(Some(chunk.to_vec()));
            let out = match call.send().await {
                Ok(out) => out,
                Err(e) => {
                    tracing::debug!("DescribeTasks: {}", aws_sdk_ecs::error::DisplayErrorContext(&e));
                    ok = false;
                    continue;
                }
            };
            let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            for task in out.tasks() {
                if let Some(w) = task.task_arn().and_then(|a| watched.get(a)) {
                    w.tx.send_if_modified(|seen| replace(seen, Seen::Task(TaskView::of(task))));
                }
            }
            for failure in out.failures() {
                let Some(w) = failure.arn().and_then(|a| watched.get(a)) else { continue };
                let known = !matches!(*w.tx.borrow(), Seen::NotYet);
                if known || w.since.elapsed() > MISSING_GRACE {
                    w.tx.send_if_modified(|seen| replace(seen, Seen::Gone));
                }
            }
        }
        ok
    }
}

fn replace(seen: &mut Seen, new: Seen) -> bool {
    if *seen == new {
        return false;
    }
    *seen = new;
    true
}

async fn poll(poller: Weak<Poller>) {
    let mut delay = Duration::ZERO;
    loop {
        tokio::time::sleep(delay).await;
        let Some(p) = poller.upgrade() else { return };
        let ok = p.arns().is_empty() || p.round().await;
        delay = if ok { p.interval } else { (delay * 2).clamp(p.interval, MAX_BACKOFF) };
        if !ok {
            // A little jitter, so workers that failed together do not retry together.
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(delay.as_nanos());
            let jitter = (h.finish() % 100) * delay.as_millis() as u64 / 1000;
            delay += Duration::from_millis(jitter);
        }
    }
}
