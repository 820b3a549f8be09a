//! The isolated bridge network server tenants' jobs run on (`berth_core::volumes::
//! ISOLATED_NETWORK`): inter-container traffic off, made by berth on first use. Engines
//! before API 1.44 allow two networks of one name, so after making it berth keeps the one
//! with the smallest id and removes the others (every racer picks the same one).

use std::collections::HashMap;

use berth_core::backend::{AttemptPlan, BackendError, labels};
use berth_core::volumes::ISOLATED_NETWORK;
use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use tokio::sync::Mutex;

use crate::errors::{engine_error, is_not_found};

pub async fn ensure(docker: &Docker, plan: &AttemptPlan, making: &Mutex<()>) -> Result<(), BackendError> {
    if plan.spec.network.as_deref() != Some(ISOLATED_NETWORK) {
        return Ok(());
    }
    let _one_at_a_time = making.lock().await;
    match docker.inspect_network(ISOLATED_NETWORK, None).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(engine_error(e)),
    }
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

/// Removes all but the smallest-id network named `ISOLATED_NETWORK`.
async fn dedupe(docker: &Docker) -> Result<(), BackendError> {
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
    Ok(())
}
