//! The backend conformance suite through the Kubernetes backend, against the fake API server
//! (`berth-kube-fake`), whose pods run as containers on the real Docker engine started by
//! scripts/test. Each case gets its own fake; after each, no pod, Job or Secret is left on
//! it and no container on the engine.

#![allow(clippy::unwrap_used)] // a failed call fails the test

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use berth_backend_kubernetes::KubernetesBackend;
use berth_core::backend::Backend;
use berth_kube_fake::FakeCluster;

/// Each case's fake, by its staging dir (both backends of a case share it).
static FAKES: Mutex<Option<HashMap<PathBuf, Arc<FakeCluster>>>> = Mutex::new(None);

async fn fake_for(staging: &PathBuf) -> Arc<FakeCluster> {
    if let Some(f) = FAKES.lock().unwrap().get_or_insert_default().get(staging) {
        return f.clone();
    }
    let fake = Arc::new(FakeCluster::start().await.expect("the fake API server starts (is dockerd running?)"));
    FAKES.lock().unwrap().get_or_insert_default().insert(staging.clone(), fake.clone());
    fake
}

async fn kubernetes(staging: PathBuf) -> Arc<dyn Backend> {
    let fake = fake_for(&staging).await;
    Arc::new(KubernetesBackend::connect(common::settings(), Some(&fake.url())).await.expect("the fake answers"))
}

async fn nothing_left(staging: PathBuf) {
    let fake = FAKES.lock().unwrap().get_or_insert_default().remove(&staging).expect("this case's fake");
    let left = fake.containers_left(Duration::from_secs(30)).await;
    assert!(left.is_empty(), "containers left on the engine: {left:?}");
    assert!(fake.jobs().is_empty() && fake.secrets().is_empty(), "Jobs {:?} Secrets {:?}", fake.jobs(), fake.secrets());
}

mod through_the_fake_api_server {
    berth_backend_conformance::backend_conformance_tests!(
        super::kubernetes,
        super::common::IMAGE,
        after = super::nothing_left
    );
}
