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
