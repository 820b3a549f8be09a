//! berth's Docker backend: implements `Backend` over the engine API with bollard. Pure
//! translation lives in `translate`; the IO is split by operation (pull, run, stop/remove,
//! list). Works with any engine answering the Docker API on the local socket or `DOCKER_HOST`.

mod egress;
mod errors;
mod files;
mod joined;
mod networks;
mod pull;
mod run;
mod secret_files;
mod session;
pub mod translate;
mod volumes;

pub use files::Transfer;

use std::time::Duration;

use async_trait::async_trait;
use berth_core::backend::{
    AttemptPlan, Backend, BackendError, Capabilities, ExecCommand, ExecOutput, ImageInfo, LiveIo, LogPosition,
    OutputEntry, OutputPicker, OutputStreamOf, PullObserver, Started, StdinSource, UnitHandle, UnitInfo, UnitState,
    labels,
};
use berth_core::spec::JobSpec;
use berth_core::volumes::VolumeInfo;
use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::StreamExt;

use crate::errors::{engine_error, is_not_found};

/// Headroom over the stop grace for the engine to answer a stop (its reply waits for the
/// container to be down; bollard's request timeout covers that wait).
const STOP_MARGIN: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct DockerBackend {
    docker: Docker,
    transfer: Transfer,
    /// One network creation at a time in this process.
    /// The isolated network's egress guard, applied once per network id.
    guarded: std::sync::Arc<networks::Guarded>,
}

impl DockerBackend {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket) and checks it
    /// answers with `/_ping`, as the docker CLI does.
    ///
    /// Not `negotiate_version()`: it calls `/version`, for which dockerd execs `runc --version`
    /// and `docker-init --version` (10-35 ms here, a tenth of a job's start), and bollard 0.21
    /// sends unversioned paths anyway (research/dependencies.md pitfall 3). When a bollard
    /// release pins the version in paths, negotiate from the `/_ping` API-Version header.
    /// `transfer` says how input files and outputs move: bind mounts of host directories
    /// for the local engine, the archive API for any other.
    pub async fn connect(transfer: Transfer) -> Result<DockerBackend, BackendError> {
        let hint = "is dockerd running? (set DOCKER_HOST for another engine)";
        let docker = Docker::connect_with_defaults().map_err(|e| BackendError::Unavailable(format!("{e}: {hint}")))?;
        docker.ping().await.map_err(|e| BackendError::Unavailable(format!("{e}: {hint}")))?;
        Ok(DockerBackend { docker, transfer, guarded: Default::default() })
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn refusals(&self, spec: &JobSpec) -> Vec<berth_core::spec_load::FieldError> {
        let secret_files = spec.secrets.iter().any(|s| s.file.is_some());
        if secret_files && matches!(self.transfer, Transfer::Archive) {
            // The archive API would write them into the container's layer, on the engine's disk.
            let why = "cannot place secret files through a remote engine (DOCKER_HOST): give the secret as env";
            return vec![berth_core::spec_load::FieldError::new("secrets", why)];
        }
        Vec::new()
    }

    async fn image_present(&self, image: &str) -> Result<bool, BackendError> {
        pull::image_present(&self.docker, image).await
    }

    async fn runtimes(&self) -> Result<Option<Vec<String>>, BackendError> {
        let info = self.docker.info().await.map_err(engine_error)?;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok(Some(names))
    }

    async fn prepare(&self, spec: &JobSpec, progress: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        pull::prepare(&self.docker, spec, progress).await
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        volumes::ensure(&self.docker, plan).await?;
        networks::ensure(&self.docker, plan, &self.guarded).await?;
        joined::check(&self.docker, plan).await?;
        self.transfer.stage(plan).await?;
        let body = translate::create_body(plan, &self.transfer.staged(&plan.name, &plan.spec, &plan.secrets));
        let options = CreateContainerOptionsBuilder::new().name(&plan.name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| errors::create_error(e, &plan.spec.image))?;
        // The caller removes the container (by name) if this fails.
        self.transfer.upload(&self.docker, &created.id, &plan.spec).await?;
        Ok(UnitHandle { id: created.id, name: plan.name.clone() })
    }

    async fn collect(&self, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
        self.transfer.collect(&self.docker, unit, picker).await
    }

    async fn attach(&self, unit: &UnitHandle, from: LogPosition) -> Result<Started, BackendError> {
        run::attach(&self.docker, unit, from).await
    }

    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
        run::start(&self.docker, unit, stdin).await
    }

    async fn stop(&self, unit: &UnitHandle, signal: Option<&str>, grace: Duration) -> Result<(), BackendError> {
        let Some(signal) = signal else {
            // The container's own StopSignal (the image's), then SIGKILL after the grace.
            let secs = grace.as_secs_f64().ceil() as i32;
            let client = self.docker.clone().with_timeout(grace + STOP_MARGIN);
            let options = StopContainerOptionsBuilder::new().t(secs).build();
            return match client.stop_container(&unit.id, Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(engine_error(e)),
            };
        };
        // A chosen signal: kill with it, wait out the grace, then SIGKILL (the stop
        // endpoint's `signal` parameter needs API 1.42; older engines ignore it).
        self.kill(unit, signal).await?;
        if !self.exits_within(unit, grace).await {
            self.kill(unit, "SIGKILL").await?;
        }
        Ok(())
    }

    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        let target = if unit.id.is_empty() { &unit.name } else { &unit.id };
        match self.docker.remove_container(target, Some(options)).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            // "removal already in progress" means someone else is finishing the job.
            Err(e) if e.to_string().contains("already in progress") => {}
            Err(e) => return Err(engine_error(e)),
        }
        self.transfer.unstage(unit).await
    }

    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError> {
        let install = format!("{}={install_id}", labels::INSTALL);
        let managed = format!("{}=true", labels::MANAGED);
        let filters = std::collections::HashMap::from([("label", vec![managed.as_str(), install.as_str()])]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let found = self.docker.list_containers(Some(options)).await.map_err(engine_error)?;
        Ok(found.into_iter().map(unit_info).collect())
    }

    async fn prune_staged(&self) -> Result<usize, BackendError> {
        self.transfer.prune(&self.docker).await
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.docker.ping().await.map(|_| ()).map_err(|e| BackendError::Unavailable(e.to_string()))
    }

    async fn exec(&self, unit: &UnitHandle, cmd: &ExecCommand, cap: usize) -> Result<ExecOutput, BackendError> {
        session::exec_collected(&self.docker, &unit.id, cmd, cap).await
    }

    async fn join(&self, unit: &UnitHandle, io: LiveIo, replay: bool) -> Result<OutputStreamOf, BackendError> {
        session::join(&self.docker, unit, io, replay).await
    }

    async fn exec_live(&self, unit: &UnitHandle, cmd: &ExecCommand, io: LiveIo) -> Result<Started, BackendError> {
        session::exec_live(&self.docker, &unit.id, cmd, io).await
    }

    async fn exec_detached(&self, unit: &UnitHandle, cmd: &ExecCommand) -> Result<(), BackendError> {
        session::exec_detached(&self.docker, &unit.id, cmd).await
    }

    async fn list_volumes(&self, install_id: &str, tenant: Option<&str>) -> Result<Vec<VolumeInfo>, BackendError> {
        volumes::list(&self.docker, install_id, tenant).await
    }

    async fn remove_volume(&self, install_id: &str, tenant: &str, name: &str) -> Result<(), BackendError> {
        volumes::remove(&self.docker, install_id, tenant, name).await
    }
}

impl DockerBackend {
    /// Sends `signal`; a container that is gone or not running has nothing to stop.
    async fn kill(&self, unit: &UnitHandle, signal: &str) -> Result<(), BackendError> {
        let options = KillContainerOptionsBuilder::new().signal(signal).build();
        match self.docker.kill_container(&unit.id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, message })
                if message.contains("is not running") =>
            {
                Ok(())
            }
            Err(e) => Err(engine_error(e)),
        }
    }

    /// Whether the container is down (exited or gone) within `grace`; an engine error is
    /// a no, so the caller goes on to SIGKILL.
    async fn exits_within(&self, unit: &UnitHandle, grace: Duration) -> bool {
        let mut wait = self.docker.wait_container(&unit.id, None);
        match tokio::time::timeout(grace, wait.next()).await {
            Ok(Some(Ok(_))) | Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => true,
            Ok(Some(Err(e))) => is_not_found(&e),
            Ok(None) | Err(_) => false,
        }
    }
}

fn unit_state(state: Option<bollard::models::ContainerSummaryStateEnum>) -> UnitState {
    match state.map(|s| s.to_string()).as_deref() {
        Some("created") => UnitState::Created,
        Some("running" | "paused" | "restarting") => UnitState::Running,
        Some("exited") => UnitState::Exited,
        _ => UnitState::Other,
    }
}

fn unit_info(c: bollard::models::ContainerSummary) -> UnitInfo {
    let labels = c.labels.unwrap_or_default();
    let name = c.names.and_then(|n| n.into_iter().next()).unwrap_or_default();
    UnitInfo {
        handle: UnitHandle { id: c.id.unwrap_or_default(), name: name.trim_start_matches('/').to_string() },
        state: unit_state(c.state),
        job_id: labels.get(labels::JOB).and_then(|j| j.parse().ok()),
        attempt: labels.get(labels::ATTEMPT).and_then(|a| a.parse().ok()),
        owner: labels.get(labels::OWNER).cloned(),
    }
}
