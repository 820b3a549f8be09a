//! The backend conformance suite against the real Docker engine (started by scripts/test),
//! twice: with bind-mounted staging directories (a local engine) and with the archive API
//! (what a remote `DOCKER_HOST` gets).

use std::path::PathBuf;
use std::sync::Arc;

use berth_backend_docker::{DockerBackend, Transfer};
use berth_core::backend::Backend;

/// The image scripts/test builds from Debian's static busybox.
const IMAGE: &str = "berth-test/busybox:latest";

async fn bind(staging: PathBuf) -> Arc<dyn Backend> {
    Arc::new(DockerBackend::connect(Transfer::Bind(staging)).await.expect("dockerd answers (run scripts/test)"))
}

async fn archive(_staging: PathBuf) -> Arc<dyn Backend> {
    Arc::new(DockerBackend::connect(Transfer::Archive).await.expect("dockerd answers (run scripts/test)"))
}

mod bind_mounts {
    berth_backend_conformance::backend_conformance_tests!(super::bind, super::IMAGE);
}

mod archive_api {
    berth_backend_conformance::backend_conformance_tests!(super::archive, super::IMAGE);
}
