//! `container:<name>` namespaces (network, pid, ipc): a job may join only a container of its
//! own tenant, whatever its policy allows. The local tenant (the CLI user, who owns the
//! engine) may join any container.

use berth_core::backend::{AttemptPlan, BackendError, labels};
use berth_core::store::LOCAL_TENANT;
use bollard::Docker;

use crate::errors::{engine_error, is_not_found};

pub async fn check(docker: &Docker, plan: &AttemptPlan) -> Result<(), BackendError> {
    if plan.tenant == LOCAL_TENANT {
        return Ok(());
    }
    let s = &plan.spec;
    let modes = [("network", &s.network), ("pid", &s.pid), ("ipc", &s.ipc)];
    for (field, mode) in modes {
        let Some(name) = mode.as_deref().and_then(|m| m.strip_prefix("container:")) else { continue };
        let refused =
            || BackendError::Create(format!("{field}: container `{name}` is not one of tenant {}'s jobs", plan.tenant));
        let found = match docker.inspect_container(name, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Err(refused()),
            Err(e) => return Err(engine_error(e)),
        };
        let tags = found.config.and_then(|c| c.labels).unwrap_or_default();
        if tags.get(labels::TENANT) != Some(&plan.tenant) || tags.get(labels::INSTALL) != Some(&plan.install_id) {
            return Err(refused());
        }
    }
    Ok(())
}
