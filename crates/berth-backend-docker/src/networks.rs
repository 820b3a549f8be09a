//! The isolated bridge network server tenants' jobs run on (`berth_core::volumes::
//! ISOLATED_NETWORK`): inter-container traffic off, made by berth on first use, with the
//! egress guard on its bridge (`egress`: no way to the host or to link-local metadata).
//! Engines before API 1.44 allow two networks of one name, so after making it berth keeps
//! the one with the smallest id and removes the others (every racer picks the same one).

use std::collections::HashMap;

use berth_core::backend::{AttemptPlan, BackendError, labels};
use berth_core::volumes::ISOLATED_NETWORK;
use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use tokio::sync::Mutex;

use crate::errors::{engine_error, is_not_found};

/// When this process last checked the guard of which network (checked again every
/// `RECHECK`, so a firewall reload that dropped the rules is repaired).
pub type Guarded = Mutex<Option<(String, std::time::Instant)>>;

const RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn ensure(docker: &Docker, plan: &AttemptPlan, guarded: &Guarded) -> Result<(), BackendError> {
    if plan.spec.network.as_deref() != Some(ISOLATED_NETWORK) {
        return Ok(());
    }
    let mut done = guarded.lock().await;
    let id = match docker.inspect_network(ISOLATED_NETWORK, None).await {
        Ok(n) => n.id.unwrap_or_default(),
        Err(e) if is_not_found(&e) => create(docker).await?,
        Err(e) => return Err(engine_error(e)),
    };
    let fresh = done.as_ref().is_some_and(|(g, at)| *g == id && at.elapsed() < RECHECK);
    if !fresh {
        // Checked (and warned about) at most once a minute, whatever the outcome.
        let errors = crate::egress::guard(&id).await;
        if !errors.is_empty() {
            tracing::warn!(
                "jobs on {ISOLATED_NETWORK} are not kept from {} (docs/security.md, \"The egress guard\")",
                errors.join("; ")
            );
        }
        *done = Some((id, std::time::Instant::now()));
    }
    Ok(())
}

async fn create(docker: &Docker) -> Result<String, BackendError> {
    let request = NetworkCreateRequest {
        name: ISOLATED_NETWORK.to_string(),
        driver: Some("bridge".into()),
        options: Some(HashMap::from([("com.docker.network.bridge.enable_icc".to_string(), "false".to_string())])),
        labels: Some(HashMap::from([(labels::MANAGED.to_string(), "true".to_string())])),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(|e| BackendError::Create(format!("network {ISOLATED_NETWORK}: {e}")))?;
    dedupe(docker).await
}

/// Removes all but the smallest-id network named `ISOLATED_NETWORK`; returns the kept id.
async fn dedupe(docker: &Docker) -> Result<String, BackendError> {
    let filters = HashMap::from([("name", vec![ISOLATED_NETWORK])]);
    let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let found = docker.list_networks(Some(options)).await.map_err(engine_error)?;
    let mut ids: Vec<String> =
        found.into_iter().filter(|n| n.name.as_deref() == Some(ISOLATED_NETWORK)).filter_map(|n| n.id).collect();
    ids.sort();
    for extra in ids.iter().skip(1) {
        if let Err(e) = docker.remove_network(extra).await
            && !is_not_found(&e)
        {
            return Err(engine_error(e));
        }
    }
    ids.into_iter()
        .next()
        .ok_or_else(|| BackendError::Create(format!("network {ISOLATED_NETWORK} vanished as it was made")))
}
