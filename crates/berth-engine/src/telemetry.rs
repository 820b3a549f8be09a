//! The engine's metrics, through the `metrics` facade: a no-op until a process installs a
//! recorder (`berth server` does, and renders them at `/metrics`). Names live here only.

use std::time::Duration;

use berth_core::backend::BackendError;
use berth_core::status::JobStatus;

pub const ATTEMPT_SECONDS: &str = "berth_attempt_duration_seconds";
pub const CONTAINER_START_SECONDS: &str = "berth_container_start_seconds";
pub const BACKEND_ERRORS: &str = "berth_backend_errors_total";
pub const GC_REMOVED: &str = "berth_gc_removed_total";
pub const JOBS_FINISHED: &str = "berth_jobs_finished_total";

/// Gives every metric above its HELP text (call once the process's recorder is installed).
pub fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        ATTEMPT_SECONDS,
        Unit::Seconds,
        "Attempts from claim to end, by backend and ending status."
    );
    metrics::describe_histogram!(
        CONTAINER_START_SECONDS,
        Unit::Seconds,
        "From the create call to the unit running, by backend."
    );
    metrics::describe_counter!(JOBS_FINISHED, "Attempts this process ended, by backend and status.");
    metrics::describe_counter!(BACKEND_ERRORS, "Backend errors by kind (each feeds the circuit breaker).");
    metrics::describe_counter!(GC_REMOVED, "Units the orphan sweep removed, by backend.");
    metrics::describe_histogram!(
        SCHEDULE_FIRE_LAG_SECONDS,
        Unit::Seconds,
        "How late each scheduled job was made after its due time."
    );
    metrics::describe_counter!(SCHEDULE_MISSED, "Due times that passed while no scheduler ran (not made up).");
    metrics::describe_counter!(SCHEDULE_SKIPPED, "Due times skipped by a schedule's overlap policy.");
    metrics::describe_counter!(SCHEDULE_PAUSED, "Schedules paused after repeated failures.");
}

/// One attempt ended: how long it took from claim to its end, and how.
pub fn attempt_finished(backend: &'static str, status: JobStatus, took: Duration) {
    metrics::histogram!(ATTEMPT_SECONDS, "backend" => backend, "status" => status.as_str()).record(took.as_secs_f64());
    metrics::counter!(JOBS_FINISHED, "backend" => backend, "status" => status.as_str()).increment(1);
}

/// From the create call to the container running.
pub fn container_started(backend: &'static str, took: Duration) {
    metrics::histogram!(CONTAINER_START_SECONDS, "backend" => backend).record(took.as_secs_f64());
}

pub fn backend_error(e: &BackendError) {
    metrics::counter!(BACKEND_ERRORS, "kind" => e.infra_kind().as_str()).increment(1);
}

pub fn gc_removed(backend: &'static str, n: u64) {
    metrics::counter!(GC_REMOVED, "backend" => backend).increment(n);
}

pub const SCHEDULE_FIRE_LAG_SECONDS: &str = "berth_schedule_fire_lag_seconds";
pub const SCHEDULE_MISSED: &str = "berth_schedule_missed_total";
pub const SCHEDULE_SKIPPED: &str = "berth_schedule_skipped_total";
pub const SCHEDULE_PAUSED: &str = "berth_schedule_paused_total";

/// What a scheduler step did: how late each job was made, and the due times that did not run.
pub fn schedule_step(report: &crate::scheduler::StepReport) {
    for lag in &report.lags {
        metrics::histogram!(SCHEDULE_FIRE_LAG_SECONDS).record(lag.as_secs_f64());
    }
    if report.missed > 0 {
        metrics::counter!(SCHEDULE_MISSED).increment(report.missed);
    }
    if report.skipped > 0 {
        metrics::counter!(SCHEDULE_SKIPPED).increment(report.skipped);
    }
    if !report.paused.is_empty() {
        metrics::counter!(SCHEDULE_PAUSED).increment(report.paused.len() as u64);
    }
}
