//! Named volumes: made by berth before the container that mounts them (with labels naming
//! the tenant and the name its jobs use), listed and removed per tenant. The names arrive
//! already scoped to the tenant (`berth_core::volumes`).

use std::collections::HashMap;

use berth_core::backend::{AttemptPlan, BackendError, labels};
use berth_core::spec::Mount;
use berth_core::store::LOCAL_TENANT;
use berth_core::volumes::{VolumeInfo, scoped_name, unscoped_name};
use bollard::Docker;
use bollard::models::{Volume, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use crate::errors::{engine_error, is_not_found};

/// Makes each named volume `plan` mounts, labelled with its tenant and install; one that
/// exists is kept as it is (the engine answers with the existing volume), unless a server
/// tenant's belongs to another install (or to none): that is refused, not shared.
pub async fn ensure(docker: &Docker, plan: &AttemptPlan) -> Result<(), BackendError> {
    for m in &plan.spec.mounts {
        let Mount::Volume { source, .. } = m else { continue };
        let given = unscoped_name(&plan.tenant, source).unwrap_or(source);
        let labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::TENANT.to_string(), plan.tenant.clone()),
            (labels::VOLUME.to_string(), given.to_string()),
            (labels::INSTALL.to_string(), plan.install_id.clone()),
        ]);
        let request = VolumeCreateRequest { name: Some(source.clone()), labels: Some(labels), ..Default::default() };
        let made =
            docker.create_volume(request).await.map_err(|e| BackendError::Create(format!("volume {given}: {e}")))?;
        // Two installs on one engine give a tenant the same names: never share the data.
        let owner = made.labels.get(labels::INSTALL);
        if plan.tenant != LOCAL_TENANT && owner.is_none_or(|o| *o != plan.install_id) {
            let whose = owner.map_or("no berth install".to_string(), |o| format!("berth install {o}"));
            return Err(BackendError::Create(format!(
                "volume {given}: the engine's volume {source} belongs to {whose}, not this one ({}): give this install its own engine, or remove that volume",
                plan.install_id
            )));
        }
    }
    Ok(())
}

pub async fn list(docker: &Docker, install_id: &str, tenant: Option<&str>) -> Result<Vec<VolumeInfo>, BackendError> {
    let mut wanted = vec![format!("{}=true", labels::MANAGED)];
    if let Some(t) = tenant {
        wanted.push(format!("{}={t}", labels::TENANT));
    }
    let filters = HashMap::from([("label", wanted)]);
    let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let found = docker.list_volumes(Some(options)).await.map_err(engine_error)?;
    let ours = |v: &Volume| ours(v, install_id);
    let mut out: Vec<VolumeInfo> =
        found.volumes.unwrap_or_default().into_iter().filter(ours).filter_map(info).collect();
    out.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    Ok(out)
}

/// Whether this install may list and remove `v`: a server tenant's only when this install
/// made it (two installs on one engine share tenant names); the local tenant's always.
fn ours(v: &Volume, install_id: &str) -> bool {
    v.labels.get(labels::TENANT).is_some_and(|t| t == LOCAL_TENANT)
        || v.labels.get(labels::INSTALL).is_some_and(|i| i == install_id)
}

/// A volume berth made, with the tenant and name its labels record; `None` for another's.
fn info(v: Volume) -> Option<VolumeInfo> {
    let tenant = v.labels.get(labels::TENANT)?.clone();
    let name = v.labels.get(labels::VOLUME)?.clone();
    // Labels alone could be forged by whoever made the volume: the name must match them.
    (scoped_name(&tenant, &name) == v.name).then(|| VolumeInfo {
        name,
        tenant,
        engine_name: v.name.clone(),
        created_at: v.created_at.map(|d| d.to_string()),
    })
}

pub async fn remove(docker: &Docker, install_id: &str, tenant: &str, name: &str) -> Result<(), BackendError> {
    let engine_name = scoped_name(tenant, name);
    let gone = || BackendError::Gone(format!("tenant {tenant} has no volume `{name}`"));
    // Not a name any volume can have: the engine would answer with an error, not a 404.
    if berth_core::volumes::check_name(name).is_err() {
        return Err(gone());
    }
    let volume = match docker.inspect_volume(&engine_name).await {
        Ok(v) => v,
        Err(e) if is_not_found(&e) => return Err(gone()),
        Err(e) => return Err(engine_error(e)),
    };
    if !ours(&volume, install_id) || info(volume).is_none_or(|v| v.tenant != tenant) {
        return Err(gone());
    }
    let options = RemoveVolumeOptionsBuilder::new().force(false).build();
    match docker.remove_volume(&engine_name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Err(gone()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, message }) => {
            Err(BackendError::Create(format!("volume `{name}` is in use by a running job: {message}")))
        }
        Err(e) => Err(engine_error(e)),
    }
}
