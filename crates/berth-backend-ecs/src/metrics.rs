//! `berth_queue_depth` for CloudWatch, so ECS services can scale workers on it: every
//! `metrics_interval`, one log event per queue and one for all queues, in CloudWatch's
//! embedded metric format (EMF), put into `metrics_log_group`. CloudWatch turns each into the
//! metric `Berth/QueueDepth` with the dimensions `Cluster` (and `Queue`). EMF through Logs
//! rather than PutMetricData: the backend already speaks CloudWatch Logs, so no second SDK.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use berth_core::backend::BackendError;
use serde_json::json;

use crate::aws::{self, Clients};
use crate::settings::Settings;

pub const NAMESPACE: &str = "Berth";
pub const METRIC: &str = "QueueDepth";

/// The EMF events for `depths` (queue → jobs waiting) at `at_ms`: one for the whole
/// cluster (the autoscaling target), then one per queue.
pub fn events(cluster: &str, depths: &[(String, u64)], at_ms: i64) -> Vec<String> {
    let event = |dimensions: &[&str], queue: Option<&str>, depth: u64| {
        let mut doc = json!({
            "_aws": {
                "Timestamp": at_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": METRIC, "Unit": "Count"}],
                }],
            },
            "Cluster": cluster,
            METRIC: depth,
        });
        if let Some(q) = queue {
            doc["Queue"] = json!(q);
        }
        doc.to_string()
    };
    let total = depths.iter().map(|(_, d)| d).sum();
    let mut out = vec![event(&["Cluster"], None, total)];
    out.extend(depths.iter().map(|(q, d)| event(&["Cluster", "Queue"], Some(q), *d)));
    out
}

/// Puts queue depths into the metrics log group, on a stream of this process's own.
#[derive(Debug)]
pub struct Publisher {
    clients: Clients,
    group: String,
    stream: String,
    cluster: String,
    stream_made: tokio::sync::OnceCell<()>,
}

impl Publisher {
    /// A publisher for `settings` (`endpoint`: an emulator, as for the backend).
    pub async fn connect(settings: &Settings, endpoint: Option<&str>) -> Publisher {
        let clients = aws::clients(settings.region.as_deref(), endpoint).await;
        let id = berth_core::ids::JobId::generate().to_string();
        Publisher {
            clients,
            group: settings.metrics_log_group.clone(),
            stream: format!("queue-depth/{id}"),
            cluster: settings.cluster.clone(),
            stream_made: tokio::sync::OnceCell::new(),
        }
    }

    /// Reports `depths` (queue → jobs waiting) as of `at` (epoch milliseconds).
    pub async fn publish(&self, depths: &[(String, u64)], at: i64) -> Result<(), BackendError> {
        self.stream_made.get_or_try_init(|| self.make_stream()).await?;
        let mut call = self.clients.logs.put_log_events().log_group_name(&self.group).log_stream_name(&self.stream);
        for message in events(&self.cluster, depths, at) {
            let event = InputLogEvent::builder().timestamp(at).message(message).build();
            call = call.log_events(event.map_err(|e| BackendError::Engine(format!("a metrics event: {e}")))?);
        }
        call.send().await.map_err(|e| aws::error("putting the queue depth into CloudWatch Logs", e))?;
        Ok(())
    }

    async fn make_stream(&self) -> Result<(), BackendError> {
        let call = self.clients.logs.create_log_stream().log_group_name(&self.group).log_stream_name(&self.stream);
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) if aws::code(&e).as_deref() == Some("ResourceAlreadyExistsException") => Ok(()),
            Err(e) => Err(aws::error(&format!("making a log stream in {} (does the group exist?)", self.group), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_event_for_the_cluster_then_one_per_queue() {
        let depths = [("default".to_string(), 3), ("gpu".to_string(), 2)];
        let events = super::events("berth", &depths, 1_767_225_600_000);
        let parsed: Vec<serde_json::Value> = events.iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0]["QueueDepth"], 5);
        assert_eq!(parsed[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Cluster"]]));
        assert_eq!((parsed[2]["Queue"].as_str(), parsed[2]["QueueDepth"].as_u64()), (Some("gpu"), Some(2)));
        assert_eq!(parsed[1]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Berth");
        assert_eq!(parsed[1]["_aws"]["Timestamp"], 1_767_225_600_000_i64);
    }
}
