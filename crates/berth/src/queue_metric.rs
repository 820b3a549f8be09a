//! `[backends.ecs] queue_depth_metric`: `berth server` counts the jobs waiting in each queue
//! every `metrics_interval` and puts them into CloudWatch (`Berth/QueueDepth`), what the ECS
//! Terraform module's worker autoscaling tracks. A failed report is a warning; the next
//! interval tries again.

use berth_backend_ecs::Settings;
use berth_backend_ecs::metrics::Publisher;
use berth_core::status::JobStatus;
use berth_engine::Runner;

use crate::config::Config;

/// Starts the reports when the config asks for them.
pub async fn spawn(config: &Config, runner: &Runner) -> anyhow::Result<()> {
    let Some(table) = config.backends.ecs.clone() else { return Ok(()) };
    let settings: Settings = anyhow::Context::context(table.try_into(), "[backends.ecs] in the config file")?;
    if !settings.queue_depth_metric {
        return Ok(());
    }
    let publisher = Publisher::connect(&settings, None).await;
    let runner = runner.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(settings.metrics_interval.max(std::time::Duration::from_millis(100)));
        loop {
            every.tick().await;
            let counts = match runner.store().count_jobs().await {
                Ok(counts) => counts,
                Err(e) => {
                    tracing::warn!("queue depth not reported: the store failed ({e})");
                    continue;
                }
            };
            let mut depths: Vec<(String, u64)> = Vec::new();
            for c in counts {
                let queued = if c.status == JobStatus::Queued { c.count } else { 0 };
                match depths.iter_mut().find(|(q, _)| *q == c.queue) {
                    Some((_, d)) => *d += queued,
                    None => depths.push((c.queue, queued)),
                }
            }
            if let Err(e) = publisher.publish(&depths, runner.clock().now().0).await {
                tracing::warn!("queue depth not reported to CloudWatch: {e}");
            }
        }
    });
    Ok(())
}
