//! A cancellation request with who asked for it, shared between the caller (Ctrl-C, API) and
//! the attempt supervising the container; also the detach request of a worker handover.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default)]
pub struct Cancel {
    token: CancellationToken,
    by: Arc<Mutex<Option<String>>>,
    /// Set on a worker handover: stop watching, leave the container running, write nothing.
    detached: CancellationToken,
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
