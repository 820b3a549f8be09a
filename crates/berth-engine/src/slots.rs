//! A worker's slots: one permit a slot, held by an attempt until its unit ends (not until its
//! end is recorded), and what the claim loop needs to know about them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::attempt::AttemptObserver;

/// The worker's slots: permits held by attempts whose units still run, and a wake-up for the
/// claim loop when one is given back before its attempt has finished recording.
pub(crate) struct Slots {
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) freed: Notify,
    /// When the last two slots were given back.
    last_two: Mutex<[Option<Instant>; 2]>,
    /// Attempts that gave their slot back and are still recording their end.
    pub(crate) finishing: AtomicUsize,
}

impl Slots {
    pub(crate) fn new(slots: usize) -> Slots {
        Slots {
            permits: Arc::new(Semaphore::new(slots)),
            freed: Notify::new(),
            last_two: Mutex::new([None, None]),
            finishing: AtomicUsize::new(0),
        }
    }

    fn given_back(&self) {
        if let Ok(mut t) = self.last_two.lock() {
            *t = [t[1], Some(Instant::now())];
        }
        self.freed.notify_one();
    }

    /// Whether slots come back often enough that waiting `within` is likely to free another
    /// (the last two came back within it of each other).
    pub(crate) fn freeing_often(&self, within: Duration) -> bool {
        match self.last_two.lock().map(|t| *t) {
            Ok([Some(a), Some(b)]) => b.duration_since(a) <= within,
            _ => false,
        }
    }
}

/// Holds an attempt's slot and gives it back when its unit ends, so the next job starts while
/// this one's output is collected, its container removed and its end recorded.
pub(crate) struct SlotHolder {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    slots: Arc<Slots>,
    finishing: AtomicBool,
}

impl SlotHolder {
    pub(crate) fn new(slots: Arc<Slots>, permit: Option<OwnedSemaphorePermit>) -> SlotHolder {
        SlotHolder { permit: Mutex::new(permit), slots, finishing: AtomicBool::new(false) }
    }

    fn give_back(&self) -> bool {
        let given = self.permit.lock().ok().and_then(|mut p| p.take()).is_some();
        if given {
            self.slots.given_back();
        }
        given
    }
}

impl AttemptObserver for SlotHolder {
    fn exited(&self) {
        if self.give_back() {
            self.finishing.store(true, Ordering::SeqCst);
            self.slots.finishing.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for SlotHolder {
    /// The attempt is over: an attempt whose unit never ran (a failed create or start) gives
    /// its slot back here; one that was finishing is no longer.
    fn drop(&mut self) {
        self.give_back();
        if self.finishing.load(Ordering::SeqCst) {
            self.slots.finishing.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
