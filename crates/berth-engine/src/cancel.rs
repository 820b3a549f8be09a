//! A cancellation request with who asked for it, shared between the caller (Ctrl-C, API) and
//! the attempt supervising the container; also the detach request of a worker handover.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::status::Reason;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default)]
pub struct Cancel {
    token: CancellationToken,
    by: Arc<Mutex<Option<String>>>,
    /// Set on a worker handover: stop watching, leave the container running, write nothing.
    detached: CancellationToken,
    /// The stop is the worker's own: it could not keep the job's lease.
    lost: Arc<AtomicBool>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Requests cancellation; the first requester is the one recorded.
    pub fn cancel(&self, by: &str) {
        if let Ok(mut slot) = self.by.lock() {
            slot.get_or_insert_with(|| by.to_string());
        }
        self.token.cancel();
    }

    /// Stops the attempt because this worker lost (or cannot renew) the job's lease: the
    /// ending is `worker_lost`, which the retry policy may retry, not a cancel.
    pub fn lose_lease(&self) {
        self.lost.store(true, Ordering::SeqCst);
        self.cancel("lease-lost");
    }

    /// Whether the stop is `lose_lease`'s rather than someone's cancel.
    pub fn is_lease_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The reason an attempt stopped by this ends with.
    pub fn reason(&self) -> Reason {
        if self.is_lease_lost() { Reason::WorkerLost } else { Reason::Cancelled { by: self.by() } }
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Asks the attempt to let go of its container without stopping it (a worker upgrade:
    /// the next run of the worker reattaches).
    pub fn detach(&self) {
        self.detached.cancel();
    }

    pub fn is_detached(&self) -> bool {
        self.detached.is_cancelled()
    }

    pub async fn detached(&self) {
        self.detached.cancelled().await
    }

    pub fn by(&self) -> String {
        self.by.lock().ok().and_then(|s| s.clone()).unwrap_or_else(|| "user".to_string())
    }
}
