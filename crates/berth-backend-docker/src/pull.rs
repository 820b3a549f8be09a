//! Making an image available as the pull policy says, with per-layer progress reported to
//! the caller. Pull errors arrive as stream items, and a pull always names a tag or digest
//! (an empty tag would pull every tag).

use berth_core::backend::{BackendError, ImageInfo, PullObserver};
use berth_core::parse::parse_image_ref;
use berth_core::spec::{JobSpec, PullPolicy};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;

use crate::errors::{engine_error, is_not_found};

pub(crate) async fn image_present(docker: &Docker, image: &str) -> Result<bool, BackendError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(engine_error(e)),
    }
}

pub(crate) async fn prepare(
    docker: &Docker,
    spec: &JobSpec,
    progress: &dyn PullObserver,
) -> Result<ImageInfo, BackendError> {
    if spec.pull != PullPolicy::Always {
        match docker.inspect_image(&spec.image).await {
            Ok(found) => return Ok(image_info(found, false)),
            Err(e) if !is_not_found(&e) => return Err(engine_error(e)),
            Err(_) if spec.pull == PullPolicy::Never => return Err(BackendError::ImageNotFound(spec.image.clone())),
            Err(_) => {}
        }
    }
    pull_image(docker, spec, progress).await?;
    docker.inspect_image(&spec.image).await.map(|i| image_info(i, true)).map_err(engine_error)
}

/// The registry digest when the image came from one, else the local image id.
fn image_info(image: bollard::models::ImageInspect, pulled: bool) -> ImageInfo {
    let id = image.id.clone();
    ImageInfo { digest: image.repo_digests.and_then(|d| d.into_iter().next()).or(image.id), id, pulled }
}

async fn pull_image(docker: &Docker, spec: &JobSpec, progress: &dyn PullObserver) -> Result<(), BackendError> {
    let reference = parse_image_ref(&spec.image).map_err(BackendError::Pull)?;
    let options =
        CreateImageOptionsBuilder::new().from_image(&reference.repository()).tag(&reference.pull_tag()).build();
    let credentials = spec.registry_auth.as_ref().map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        serveraddress: a.server.clone().or_else(|| reference.registry.clone()),
        ..Default::default()
    });
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| BackendError::Pull(pull_message(&spec.image, e)))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(BackendError::Pull(format!("{}: {err}", spec.image)));
        }
        let (current, total) = info
            .progress_detail
            .map(|p| (p.current.map(|c| c.max(0) as u64), p.total.map(|t| t.max(0) as u64)))
            .unwrap_or_default();
        progress.progress(info.id.as_deref().unwrap_or(""), info.status.as_deref().unwrap_or(""), current, total);
    }
    progress.done();
    Ok(())
}

fn pull_message(image: &str, e: bollard::errors::Error) -> String {
    let text = match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    };
    if text.contains("no basic auth credentials") || text.contains("unauthorized") {
        return format!("{image}: the registry wants credentials ({text}); set registry_auth in the spec");
    }
    format!("{image}: {text}")
}
