//! The local worker pool: `workers` slots, each claiming the oldest claimable job and running
//! it with the engine. Submissions wake idle slots; a slow poll covers jobs made by other
//! processes. On shutdown the slots stop claiming, running jobs get a grace period to finish,
//! and whatever still runs is cancelled (stopped, removed, recorded as `cancelled`).

use std::sync::Arc;
use std::time::Duration;

use berth_core::backend::{NoProgress, StdinSource};
use berth_core::status::{JobStatus, Reason, TimeoutPhase};
use berth_core::store::{JobFilter, JobRecord, StatusChange};
use berth_engine::attempt::{AttemptIo, AttemptObserver};
use berth_engine::cancel::Cancel;
use tokio::task::JoinSet;

use crate::state::AppState;

/// Idle slots look for work at least this often (jobs queued by other processes).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Recorded as who cancelled jobs still running when the grace ran out.
pub const SHUTDOWN_ACTOR: &str = "server-shutdown";

struct Quiet;
impl AttemptObserver for Quiet {}

/// Runs the slots until shutdown, then drains them.
pub async fn run(state: AppState) {
    let mut slots = JoinSet::new();
    for _ in 0..state.config.workers {
        slots.spawn(slot(state.clone()));
    }
    state.shutdown.cancelled().await;
    let grace = tokio::time::sleep(state.config.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = slots.join_next() => if next.is_none() { return },
            _ = &mut grace => break,
        }
    }
    let running: Vec<Cancel> = state.running.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
    tracing::info!("shutdown grace over: stopping {} running job(s)", running.len());
    for c in running {
        c.cancel(SHUTDOWN_ACTOR);
    }
    while slots.join_next().await.is_some() {}
}

async fn slot(state: AppState) {
    while !state.shutdown.is_cancelled() {
        match state.runner.store.claim_next(&state.runner.owner, state.runner.clock.now()).await {
            Ok(Some(job)) => run_job(&state, job).await,
            Ok(None) => wait_for_work(&state).await,
            Err(e) => {
                tracing::warn!("claiming a job failed: {e}");
                wait_for_work(&state).await;
            }
        }
    }
}

async fn wait_for_work(state: &AppState) {
    tokio::select! {
        _ = state.wake.notified() => {}
        _ = tokio::time::sleep(IDLE_POLL) => {}
        _ = state.shutdown.cancelled() => {}
    }
}

async fn run_job(state: &AppState, job: JobRecord) {
    let cancel = Cancel::new();
    if let Ok(mut m) = state.running.lock() {
        m.insert(job.id.clone(), cancel.clone());
    }
    let stdin = job.spec.stdin.as_ref().map_or(StdinSource::None, |s| StdinSource::Bytes(s.to_bytes()));
    let io = AttemptIo { observer: Arc::new(Quiet), pull: Arc::new(NoProgress), stdin };
    if let Err(e) = state.runner.run_attempt(&job, io, &cancel).await {
        tracing::error!(job = %job.id, "recording the attempt failed: {e}");
    }
    if let Ok(mut m) = state.running.lock() {
        m.remove(&job.id);
    }
}

/// Housekeeping: queue timeouts every second, the orphan sweep every `gc_interval`.
pub async fn janitor(state: AppState) {
    let mut last_gc = tokio::time::Instant::now();
    sweep(&state).await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = state.shutdown.cancelled() => return,
        }
        expire_queued(&state).await;
        if last_gc.elapsed() >= state.config.gc_interval {
            sweep(&state).await;
            last_gc = tokio::time::Instant::now();
        }
    }
}

async fn sweep(state: &AppState) {
    match state.runner.sweep(false).await {
        Ok(r) if !r.removed.is_empty() || !r.lost.is_empty() => {
            tracing::info!("gc: removed {} container(s), {} job(s) lost", r.removed.len(), r.lost.len())
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("gc failed: {e}"),
    }
}

/// Jobs that waited longer than their `timeouts.queue` end as `timed_out(queue)`.
async fn expire_queued(state: &AppState) {
    let filter = JobFilter { statuses: vec![JobStatus::Queued], ..JobFilter::default() };
    let Ok(queued) = state.runner.store.list_jobs(&filter).await else { return };
    let now = state.runner.clock.now();
    for job in queued {
        let Some(limit) = job.spec.timeouts.queue else { continue };
        if now.0 - job.created_at.0 >= limit.0.as_millis() as i64 {
            let end = StatusChange::end(Reason::TimedOut { phase: TimeoutPhase::Queue }, None, now);
            // Claimed meanwhile: it started in time after all.
            let _ = state.runner.store.set_status(&job.id, end).await;
        }
    }
}
