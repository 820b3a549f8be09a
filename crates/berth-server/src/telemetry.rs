//! `/metrics`: the engine's counters and histograms (through the `metrics` facade and the
//! Prometheus exporter, installed once per process), plus gauges read from the store at
//! scrape time (unfinished jobs by queue and status, queue depth, running jobs, worker
//! slots), so they are true even across restarts and for jobs other processes run; a scrape
//! reads no finished job, so it costs the same at a million.

use std::fmt::Write;
use std::sync::OnceLock;

use berth_core::status::JobStatus;
use berth_core::store::StoreResult;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Histogram buckets for every `*_seconds` metric: from a fast container start to a long job.
const BUCKETS: [f64; 14] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The queues this process has reported a depth for.
static QUEUES: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Installs the process-wide recorder the first time; `None` if another one was installed.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("seconds".into()), &BUCKETS);
            let handle = builder.ok().and_then(|b| b.install_recorder().ok());
            if handle.is_some() {
                berth_engine::telemetry::describe();
            }
            handle
        })
        .as_ref()
}

/// Runs the exporter's upkeep (it has no HTTP listener of its own to do it).
pub async fn upkeep(state: AppState) {
    let Some(h) = handle() else { return };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => h.run_upkeep(),
            _ = state.shutdown.cancelled() => return,
        }
    }
}

pub async fn render(state: &AppState) -> StoreResult<String> {
    let counts = state.runner.store().count_jobs().await?;
    let mut out = handle().map(|h| h.render()).unwrap_or_default();
    gauge_header(
        &mut out,
        "berth_jobs",
        "Unfinished jobs by queue and status (finished ones: berth_jobs_finished_total).",
    );
    for c in &counts {
        let _ = writeln!(out, "berth_jobs{{queue=\"{}\",status=\"{}\"}} {}", escape(&c.queue), c.status, c.count);
    }
    gauge_header(&mut out, "berth_queue_depth", "Jobs waiting to start, per queue.");
    // Every queue this process has seen stays, at 0 when nothing waits in it.
    let queues = {
        let mut seen = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(berth_core::spec::DEFAULT_QUEUE.to_string());
        seen.extend(counts.iter().map(|c| c.queue.clone()));
        seen.clone()
    };
    for q in &queues {
        let depth: u64 =
            counts.iter().filter(|c| c.queue == *q && c.status == JobStatus::Queued).map(|c| c.count).sum();
        let _ = writeln!(out, "berth_queue_depth{{queue=\"{}\"}} {depth}", escape(q));
    }
    let running: u64 =
        counts.iter().filter(|c| matches!(c.status, JobStatus::Starting | JobStatus::Running)).map(|c| c.count).sum();
    gauge_header(&mut out, "berth_jobs_running", "Jobs starting or running, on any worker.");
    let _ = writeln!(out, "berth_jobs_running {running}");
    gauge_header(&mut out, "berth_worker_slots", "Local worker slots of this server.");
    let _ = writeln!(out, "berth_worker_slots {}", state.config.worker.slots);
    gauge_header(&mut out, "berth_worker_busy", "Local worker slots running a job.");
    let _ = writeln!(out, "berth_worker_busy {}", state.busy());
    gauge_header(
        &mut out,
        "berth_circuit_open",
        "1 while this server's backend circuit is open or half-open (claiming paused).",
    );
    let open = u8::from(state.worker.breaker.state() != berth_engine::breaker::BreakerState::Closed);
    let _ = writeln!(out, "berth_circuit_open{{backend=\"{}\"}} {open}", state.runner.backend().name());
    gauge_header(&mut out, "berth_schedules", "Schedules by state (active, paused, ended).");
    let schedules = state.runner.store().list_schedules(None).await?;
    for st in berth_core::schedule::ScheduleState::ALL {
        let n = schedules.iter().filter(|s| s.state() == st).count();
        let _ = writeln!(out, "berth_schedules{{state=\"{}\"}} {n}", st.as_str());
    }
    gauge_header(&mut out, "berth_workers", "Registered workers by state (lost: no heartbeat for 15 s).");
    let now = state.runner.clock().now();
    let mut by_state = std::collections::BTreeMap::<String, u64>::new();
    for w in state.runner.store().list_workers().await? {
        *by_state.entry(crate::views::WorkerView::new(w, now).state).or_default() += 1;
    }
    for (st, n) in by_state {
        let _ = writeln!(out, "berth_workers{{state=\"{}\"}} {n}", escape(&st));
    }
    Ok(out)
}

fn gauge_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Label values per the exposition format: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
