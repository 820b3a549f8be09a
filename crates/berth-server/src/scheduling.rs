//! The scheduler loops of a `berth server`: a heartbeat every `BEAT_EVERY` (on its own
//! task, so a long step cannot look like an outage) and a step every `TICK`, its figures to
//! the metrics and its errors to the log. Every server runs them (unless `--no-scheduler`);
//! they share the store and need no leader (see `berth_engine::scheduler`).

use std::sync::Arc;
use std::time::Duration;

use berth_engine::scheduler::{BEAT_EVERY, Scheduler};

use crate::state::AppState;

/// How often due schedules are looked at: an every-second schedule's jobs are made at most
/// this late (plus the step's own time).
pub const TICK: Duration = Duration::from_millis(250);

pub async fn run(state: AppState) {
    if !state.config.scheduler {
        return;
    }
    let scheduler = Arc::new(Scheduler::new(state.runner.clone(), state.config.worker.id.clone()));
    // The first heartbeat goes before the first step: a step judges due times only after
    // this node's beat has recorded any outage before it.
    beat_once(&scheduler).await;
    let beats = tokio::spawn(beat(scheduler.clone(), state.clone()));
    let mut failing = false;
    loop {
        match scheduler.step().await {
            Ok(report) => {
                berth_engine::telemetry::schedule_step(&report);
                for e in &report.errors {
                    tracing::warn!("scheduler: {e}");
                }
                if failing {
                    tracing::info!("scheduler: the store answers again");
                }
                failing = false;
            }
            Err(e) if !failing => {
                tracing::warn!("scheduler: a step failed, retrying every {TICK:?}: {e}");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = state.shutdown.cancelled() => break,
        }
    }
    beats.abort();
}

async fn beat(scheduler: Arc<Scheduler>, state: AppState) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(BEAT_EVERY) => {}
            _ = state.shutdown.cancelled() => return,
        }
        beat_once(&scheduler).await;
    }
}

async fn beat_once(scheduler: &Scheduler) {
    match scheduler.beat().await {
        Ok(Some(outage)) if outage.from.0 == 0 => tracing::info!("scheduler: the first on this store"),
        Ok(Some(outage)) => tracing::warn!(
            "scheduler: no scheduler ran from {} to {}: due times in between were missed (each schedule's `missed` policy decides)",
            outage.from,
            outage.to
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!("scheduler: recording the heartbeat failed: {e}"),
    }
}
