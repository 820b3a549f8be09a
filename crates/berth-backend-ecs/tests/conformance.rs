//! The backend conformance suite through the ECS backend and the AWS SDK, against the fake
//! ECS and CloudWatch Logs API (`berth-ecs-fake`), whose tasks run as containers on the real
//! Docker engine started by scripts/test. Each case gets its own fake; after each, every
//! task has stopped and no container or volume of it is left on the engine.

#![allow(clippy::unwrap_used)] // a failed call fails the test

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use berth_backend_ecs::EcsBackend;
use berth_core::backend::Backend;
use berth_ecs_fake::FakeEcs;

/// Each case's fake, by its staging dir (both backends of a case share it).
static FAKES: Mutex<Option<HashMap<PathBuf, Arc<FakeEcs>>>> = Mutex::new(None);

async fn fake_for(staging: &PathBuf) -> Arc<FakeEcs> {
    if let Some(f) = FAKES.lock().unwrap().get_or_insert_default().get(staging) {
        return f.clone();
    }
    let fake = Arc::new(FakeEcs::start().await.expect("the fake ECS starts (is dockerd running?)"));
    FAKES.lock().unwrap().get_or_insert_default().insert(staging.clone(), fake.clone());
    fake
}

async fn ecs(staging: PathBuf) -> Arc<dyn Backend> {
    let fake = fake_for(&staging).await;
    Arc::new(EcsBackend::connect(common::settings(), Some(&fake.url())).await.expect("the fake answers"))
}

async fn nothing_left(staging: PathBuf) {
    let fake = FAKES.lock().unwrap().get_or_insert_default().remove(&staging).expect("this case's fake");
    let left = fake.containers_left(Duration::from_secs(60)).await;
    assert!(left.is_empty(), "containers and volumes left on the engine: {left:?}");
}

mod through_the_fake_ecs_api {
    berth_backend_conformance::backend_conformance_tests!(
        super::ecs,
        super::common::IMAGE,
        after = super::nothing_left
    );
}
