//! The scheduler loop of a `berth server`: a step every `TICK`, its figures to the metrics,
//! its errors to the log. Every server runs one (unless `--no-scheduler`); they share the
//! store and need no leader (see `berth_engine::scheduler`).

use std::time::Duration;

use berth_engine::scheduler::Scheduler;

use crate::state::AppState;

/// How often due schedules are looked at: an every-second schedule's jobs are made at most
/// this late (plus the step's own time).
pub const TICK: Duration = Duration::from_millis(250);

pub async fn run(state: AppState) {
    if !state.config.scheduler {
        return;
    }
    let scheduler = Scheduler::new(state.runner.clone(), state.config.worker.id.clone());
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
            _ = state.shutdown.cancelled() => return,
        }
    }
}
