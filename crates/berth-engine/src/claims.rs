//! A worker's claim loop: one task that keeps the worker's slots full. It claims up to the
//! free slots in one `claim_batch` and runs each job as a task of its own; a job frees its
//! slot when its unit ends, so the next job starts while the last one's output is collected,
//! its container removed and its end recorded (at most `slots` such finishing tasks besides
//! the running ones). The store still counts a finishing job as running, so tenant and queue
//! limits hold as before.
//!
//! Claim sizing, without slowing a quiet queue down: a claim runs as soon as a slot is free,
//! unless the previous claim filled every free slot (more jobs are waiting) and slots come
//! back often (the last two within `CLAIM_COOLDOWN` of each other), when it waits
//! `CLAIM_COOLDOWN` first so that slots freeing up together are claimed together, in one
//! transaction rather than one each. Jobs that each run for a while (containers) free their
//! slots far apart: waiting would only add to every start. Idle, it sleeps until a submission wakes it, a job ends
//! (a running limit may have freed a place) or `IDLE_POLL` passes (a due time).

use std::time::Duration;

use berth_core::store::{ClaimRequest, JobRecord, StoreResult};
use tokio::task::JoinSet;

use crate::breaker::BreakerState;
use crate::worker::{IDLE_POLL, Worker};

/// How long a claim waits after one that filled every free slot. Bounds what a full queue
/// adds to a job's start (measured in docs/benchmarks.md: submit → running).
pub const CLAIM_COOLDOWN: Duration = Duration::from_millis(5);

impl Worker {
    /// Claims and starts jobs into `jobs` until shutdown; the caller drains them.
    pub(crate) async fn claim_loop(&self, jobs: &mut JoinSet<()>) {
        let mut backlog = false;
        while !self.shutdown.is_cancelled() {
            while jobs.try_join_next().is_some() {}
            if self.free_slots(jobs) == 0 {
                self.until_one_ends(jobs).await;
                continue;
            }
            if backlog && self.slots.freeing_often(CLAIM_COOLDOWN) {
                self.sleep(CLAIM_COOLDOWN).await;
                while jobs.try_join_next().is_some() {}
            }
            if !self.breaker_allows().await {
                self.sleep(Duration::from_millis(500)).await;
                continue;
            }
            let free = self.free_slots(jobs);
            // Listen for submissions before looking, so one made during the claim wakes us.
            let wake = self.runner.store.wait_for_work(IDLE_POLL);
            tokio::pin!(wake);
            let _ = futures::poll!(&mut wake);
            match self.claim_up_to(free).await {
                Ok(claimed) if !claimed.is_empty() => {
                    backlog = claimed.len() == free;
                    for job in claimed {
                        let worker = self.clone();
                        // Only this loop takes permits, and it claimed no more than were free.
                        let permit = self.slots.permits.clone().try_acquire_owned().ok();
                        jobs.spawn(async move { worker.run_job(job, permit).await });
                    }
                }
                Ok(_) => {
                    backlog = false;
                    self.until_work(jobs, wake).await;
                }
                Err(e) => {
                    backlog = false;
                    tracing::warn!("claiming jobs failed: {e}");
                    self.until_work(jobs, wake).await;
                }
            }
        }
    }

    /// Up to `max` jobs of this worker's queues, under fresh leases.
    pub(crate) async fn claim_up_to(&self, max: usize) -> StoreResult<Vec<JobRecord>> {
        let req = ClaimRequest {
            worker: self.config.id.clone(),
            queues: self.config.queues.clone(),
            tags: self.config.tags.clone(),
            lease: self.config.lease,
            at: self.runner.clock.now(),
        };
        self.runner.store.claim_batch(&req, max as u32).await
    }

    /// Whether to claim now; when the circuit is half-open this probes the engine.
    pub(crate) async fn breaker_allows(&self) -> bool {
        match self.breaker.state() {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                let ok = self.runner.backend.ping().await.is_ok();
                self.breaker.probe_result(ok);
                if ok {
                    tracing::info!("circuit closed: the engine answers again");
                }
                ok
            }
        }
    }

    /// Slots free for a claim: permits not held by a running unit, and room for another task
    /// beside those still finishing (at most twice the slots in all).
    fn free_slots(&self, jobs: &JoinSet<()>) -> usize {
        let room = (2 * self.config.slots).saturating_sub(jobs.len());
        self.slots.permits.available_permits().min(room)
    }

    /// Until a job of `jobs` gives its slot back or ends, or shutdown.
    async fn until_one_ends(&self, jobs: &mut JoinSet<()>) {
        tokio::select! {
            _ = jobs.join_next(), if !jobs.is_empty() => {}
            _ = self.slots.freed.notified() => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    /// Until work may have arrived: a submission's wake-up (`wake`, listening since before
    /// the claim), a job ending (its running limit may have held others back), `IDLE_POLL`,
    /// or shutdown.
    async fn until_work(&self, jobs: &mut JoinSet<()>, wake: std::pin::Pin<&mut impl Future<Output = ()>>) {
        tokio::select! {
            _ = wake => {}
            _ = jobs.join_next(), if !jobs.is_empty() => {}
            _ = self.shutdown.cancelled() => {}
        }
    }
}
