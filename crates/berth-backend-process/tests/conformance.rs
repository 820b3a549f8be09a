//! The backend conformance suite against plain child processes.

use std::path::PathBuf;
use std::sync::Arc;

use berth_backend_process::ProcessBackend;
use berth_core::backend::Backend;

async fn process(staging: PathBuf) -> Arc<dyn Backend> {
    Arc::new(ProcessBackend::new(staging))
}

// The image is ignored: the process backend runs the command on the host.
berth_backend_conformance::backend_conformance_tests!(process, "unused");
