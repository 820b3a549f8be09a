//! berth's AWS ECS backend: one task per attempt (Fargate or EC2), three containers in it
//! (`berth-stage` places input files, `main` runs the job, `berth-output` prints the output
//! directory to its log after main exits and so ends the task). `translate` makes the task
//! definition (shared per shape, found again by the hash in its family) and the RunTask
//! input; `aws` holds the SDK calls and RunTask's token bucket; `poller` is the one
//! DescribeTasks loop all attempts share; `status` normalizes endings; `run` follows main's
//! awslogs stream and collects the outputs; `secrets` gives an attempt with secrets its own
//! Secrets Manager secret and task definition; `efs` makes named volumes EFS access points;
//! `metrics` puts the queue depth into CloudWatch
//! for autoscaling. The plan and its limits: docs/design/ecs-backend.md.

pub mod aws;
pub mod efs;
pub mod fargate;
mod logs;
pub mod metrics;
mod poller;
mod run;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod support;
pub mod translate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_core::backend::{
    AttemptPlan, Backend, BackendError, Capabilities, ExecCommand, ExecOutput, ImageInfo, LogPosition, OutputEntry,
    OutputPicker, PullObserver, Started, StdinSource, UnitHandle, UnitInfo, UnitState, labels,
};
use berth_core::spec::JobSpec;
use berth_core::spec_load::FieldError;
use berth_core::volumes::VolumeInfo;

pub use settings::Settings;

use crate::aws::{Bucket, Clients};
use crate::run::Ctx;
use crate::translate::{MAIN, TaskDefinition};

/// Tagged on a task once berth has removed it: the sweep no longer lists it.
const REMOVED_TAG: &str = "berth.removed";

#[derive(Clone, Debug)]
pub struct EcsBackend {
    ctx: Ctx,
    /// Task definitions by family (the shape's hash): registered once per process.
    definitions: Arc<Mutex<HashMap<String, String>>>,
    /// Tasks this process started, with the attempt's own task definition (one with
    /// secrets) if it has one: what `remove` releases besides the task.
    attempts: Arc<Mutex<HashMap<String, Option<String>>>>,
    launches: Arc<Bucket>,
    /// Named volumes, when `efs_file_system` is set.
    volumes: Option<Arc<efs::Volumes>>,
}

impl EcsBackend {
    /// Clients from the standard AWS chain (or `endpoint`, an emulator, with test
    /// credentials), checked by describing the configured cluster.
    pub async fn connect(settings: Settings, endpoint: Option<&str>) -> Result<EcsBackend, BackendError> {
        let clients = aws::clients(settings.region.as_deref(), endpoint).await;
        let poller = poller::Poller::new(clients.clone(), settings.cluster.clone(), settings.poll_interval);
        let volumes = settings.efs_file_system.clone().map(|fs| Arc::new(efs::Volumes::new(clients.clone(), fs)));
        let backend = EcsBackend {
            volumes,
            ctx: Ctx { clients, settings: Arc::new(settings), poller },
            definitions: Arc::default(),
            attempts: Arc::default(),
            launches: Arc::new(Bucket::new(20.0, 100.0)),
        };
        backend.ping().await?;
        Ok(backend)
    }

    fn clients(&self) -> &Clients {
        &self.ctx.clients
    }

    fn settings(&self) -> &Settings {
        &self.ctx.settings
    }

    /// The ARN of `def`'s task definition: the one registered earlier under its family (by
    /// this process or another), else a new one.
    async fn definition(&self, def: &TaskDefinition) -> Result<String, BackendError> {
        if let Some(arn) = self.definitions.lock().unwrap_or_else(|e| e.into_inner()).get(&def.family) {
            return Ok(arn.clone());
        }
        let found = self.clients().ecs.describe_task_definition().task_definition(&def.family).send().await;
        let arn = match found {
            Ok(out) if out.task_definition().and_then(|d| d.status()).map(|s| s.as_str()) == Some("ACTIVE") => {
                out.task_definition().and_then(|d| d.task_definition_arn()).unwrap_or_default().to_string()
            }
            Ok(_) => aws::register(self.clients(), def).await?,
            Err(e) if aws::code(&e).as_deref() == Some("ClientException") => aws::register(self.clients(), def).await?,
            Err(e) => return Err(aws::error("describing the task definition", e)),
        };
        self.definitions.lock().unwrap_or_else(|e| e.into_inner()).insert(def.family.clone(), arn.clone());
        Ok(arn)
    }

    /// RunTask for `plan` on task definition `definition` (through the launch bucket).
    async fn run_task(&self, plan: &AttemptPlan, definition: &str) -> Result<UnitHandle, BackendError> {
        let input = translate::run_task(plan, self.settings(), definition);
        let size = translate::overrides_size(&input);
        if size > translate::OVERRIDES_LIMIT {
            let why = format!("the RunTask overrides take {size} characters; ECS takes at most 8192");
            return Err(BackendError::Create(why));
        }
        self.launches.take().await;
        let out = aws::run_task(self.clients(), &input)?
            .send()
            .await
            .map_err(|e| aws::refused_is_create(aws::error("RunTask", e)))?;
        if let Some(task) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(UnitHandle { id: task.to_string(), name: plan.name.clone() });
        }
        let why = out.failures().iter().map(|f| f.reason().unwrap_or("unknown").to_string()).collect::<Vec<_>>();
        let text = format!("RunTask placed no task: {}", why.join("; "));
        // No capacity now is worth waiting for (the job is tried again and the breaker
        // counts it); any other reason (an attribute, a definition) will not change.
        let transient =
            why.iter().any(|r| r.contains("Capacity") || r.starts_with("RESOURCE") || r.starts_with("AGENT"));
        Err(if transient { BackendError::Unavailable(text) } else { BackendError::Create(text) })
    }

    /// The spec's named volumes as EFS access points (made on first use), in `def`.
    async fn mount_volumes(&self, def: &mut TaskDefinition, plan: &AttemptPlan) -> Result<(), BackendError> {
        let Some(volumes) = &self.volumes else { return Ok(()) };
        let mut points = HashMap::new();
        for m in &plan.spec.mounts {
            if let berth_core::spec::Mount::Volume { source, .. } = m {
                let id = volumes.ensure(&plan.install_id, &plan.tenant, source).await?;
                points.insert(source.clone(), id);
            }
        }
        if !points.is_empty() {
            let iam = self.settings().task_role_arn.is_some();
            efs::mount(def, &plan.spec, &points, volumes.file_system(), iam);
        }
        Ok(())
    }

    fn efs(&self) -> Result<&efs::Volumes, BackendError> {
        self.volumes.as_deref().ok_or_else(|| {
            BackendError::Unsupported(
                "the ecs backend has named volumes only with [backends.ecs] efs_file_system".into(),
            )
        })
    }

    /// Hides the task from the sweep and stops it.
    async fn remove_task(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        // Tagged first: a task that stopped by itself keeps its tags, and the sweep must
        // not list it again; a stop may delete the tags, which hides it as well.
        let tag = aws_sdk_ecs::types::Tag::builder().key(REMOVED_TAG).value("true").build();
        match self.clients().ecs.tag_resource().resource_arn(&unit.id).tags(tag).send().await {
            Ok(_) => {}
            // Gone from ECS already: nothing left to hide.
            Err(e) if aws::code(&e).as_deref() == Some("InvalidParameterException") => {}
            Err(e) => return Err(aws::error("tagging the removed task", e)),
        }
        self.stop_task(&unit.id, "berth: removed").await
    }

    async fn stop_task(&self, arn: &str, reason: &str) -> Result<(), BackendError> {
        let call = self.clients().ecs.stop_task().cluster(&self.settings().cluster).task(arn).reason(reason);
        match call.send().await {
            Ok(_) => Ok(()),
            // Already gone from ECS: stopped.
            Err(e) if aws::code(&e).as_deref() == Some("InvalidParameterException") => Ok(()),
            Err(e) => Err(aws::error("stopping the task", e)),
        }
    }

    /// The install's tasks, running and stopped, with their tags.
    async fn install_tasks(&self, install_id: &str) -> Result<Vec<aws_sdk_ecs::types::Task>, BackendError> {
        let started_by = translate::started_by(install_id);
        let mut arns = Vec::new();
        for desired in ["RUNNING", "STOPPED"] {
            let mut token = None;
            loop {
                let call = self
                    .clients()
                    .ecs
                    .list_tasks()
                    .cluster(&self.settings().cluster)
                    .started_by(&started_by)
                    .desired_status(aws_sdk_ecs::types::DesiredStatus::from(desired))
                    .set_next_token(token);
                let out = call.send().await.map_err(|e| aws::error("listing tasks", e))?;
                arns.extend(out.task_arns().iter().cloned());
                token = out.next_token().map(String::from);
                if token.is_none() {
                    break;
                }
            }
        }
        // A task stopping between the two lists is in both.
        arns.sort();
        arns.dedup();
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let call = self
                .clients()
                .ecs
                .describe_tasks()
                .cluster(&self.settings().cluster)
                .set_tasks(Some(chunk.to_vec()))
                .include(aws_sdk_ecs::types::TaskField::Tags);
            let out = call.send().await.map_err(|e| aws::error("describing tasks", e))?;
            tasks.extend(out.tasks().iter().cloned());
        }
        Ok(tasks)
    }
}

#[async_trait]
impl Backend for EcsBackend {
    fn name(&self) -> &'static str {
        "ecs"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Nothing can attach to a task's stdin; awslogs merges the two streams; ECS
            // stops with the image's signal; no host ports, healthchecks or exec (ECS Exec
            // is not used), so no terminal or attach either; no GPUs on Fargate.
            stdin: false,
            tty: false,
            attach: false,
            stdin_stream: false,
            exec: false,
            ports: false,
            separate_stderr: false,
            signals: false,
            healthcheck: false,
            gpus: !self.settings().fargate(),
            ..Capabilities::ALL
        }
    }

    fn refusals(&self, spec: &JobSpec) -> Vec<FieldError> {
        support::refusals(spec, self.settings())
    }

    async fn image_present(&self, _image: &str) -> Result<bool, BackendError> {
        // ECS pulls it when the task starts; a failed pull ends the task as TaskFailedToStart.
        Ok(true)
    }

    async fn prepare(&self, spec: &JobSpec, progress: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        progress.progress(&spec.image, "pulled by ECS when the task starts", None, None);
        progress.done();
        Ok(ImageInfo::default())
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        let mut def = translate::task_definition(plan, self.settings()).map_err(BackendError::Create)?;
        self.mount_volumes(&mut def, plan).await?;
        let own = match plan.secrets.is_empty() {
            true => None,
            false => Some(secrets::register_for(self.clients(), &mut def, plan).await?),
        };
        let arn = match &own {
            Some(arn) => arn.clone(),
            None => self.definition(&def).await?,
        };
        match self.run_task(plan, &arn).await {
            Ok(unit) => {
                self.attempts.lock().unwrap_or_else(|e| e.into_inner()).insert(unit.id.clone(), own);
                Ok(unit)
            }
            Err(e) => {
                if let Some(own) = own
                    && let Err(left) = secrets::release_definition(self.clients(), &own).await
                {
                    tracing::warn!("the attempt's secret stays until the sweep: {left}");
                }
                Err(e)
            }
        }
    }

    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
        if !matches!(stdin, StdinSource::None) {
            return Err(BackendError::Unsupported("the ecs backend cannot feed stdin to a task".into()));
        }
        run::start(&self.ctx, unit, 0).await
    }

    async fn attach(&self, unit: &UnitHandle, from: LogPosition) -> Result<Started, BackendError> {
        // awslogs is one stream: everything consumed was counted as stdout.
        run::start(&self.ctx, unit, from.stdout + from.stderr).await
    }

    async fn stop(&self, unit: &UnitHandle, _signal: Option<&str>, _grace: Duration) -> Result<(), BackendError> {
        // SIGTERM (the image's stop signal), SIGKILL after the definition's stopTimeout.
        self.stop_task(&unit.id, "berth: stopped (timeout or cancel)").await
    }

    async fn collect(&self, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
        run::collect(&self.ctx, unit, picker).await
    }

    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        if unit.id.contains(":secretsmanager:") {
            // A secret whose task never ran (its worker died before RunTask).
            secrets::delete(self.clients(), &unit.id).await?;
            return secrets::release_family(self.clients(), &unit.name).await;
        }
        self.remove_task(unit).await?;
        let own = self.attempts.lock().unwrap_or_else(|e| e.into_inner()).remove(&unit.id);
        match own {
            Some(None) => Ok(()),
            Some(Some(definition)) => secrets::release_definition(self.clients(), &definition).await,
            // Started by an earlier process: its own definition, if it had one, by family.
            None => secrets::release_family(self.clients(), &unit.name).await,
        }
    }

    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError> {
        let mut units: Vec<UnitInfo> = self.install_tasks(install_id).await?.iter().filter_map(unit).collect();
        for s in secrets::list(self.clients(), install_id).await? {
            let Some(name) = s.tags.get("berth.unit") else { continue };
            if units.iter().any(|u| &u.handle.name == name) {
                continue;
            }
            units.push(UnitInfo {
                handle: UnitHandle { id: s.arn.clone(), name: name.clone() },
                state: UnitState::Other,
                job_id: s.tags.get(labels::JOB).and_then(|j| j.parse().ok()),
                attempt: s.tags.get(labels::ATTEMPT).and_then(|a| a.parse().ok()),
                owner: s.tags.get(labels::OWNER).cloned(),
            });
        }
        Ok(units)
    }

    async fn list_volumes(&self, install_id: &str, tenant: Option<&str>) -> Result<Vec<VolumeInfo>, BackendError> {
        self.efs()?.list(install_id, tenant).await
    }

    async fn remove_volume(&self, install_id: &str, tenant: &str, name: &str) -> Result<(), BackendError> {
        self.efs()?.remove(install_id, tenant, name).await
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let cluster = &self.settings().cluster;
        let out = self.clients().ecs.describe_clusters().clusters(cluster).send().await;
        let out = out.map_err(|e| aws::error("describing the cluster", e))?;
        if out.clusters().iter().any(|c| c.status() == Some("ACTIVE")) {
            return Ok(());
        }
        Err(BackendError::Unavailable(format!(
            "ECS cluster {cluster:?} does not exist or is not active: create it, or set [backends.ecs] cluster"
        )))
    }

    async fn exec(&self, _unit: &UnitHandle, _cmd: &ExecCommand, _cap: usize) -> Result<ExecOutput, BackendError> {
        Err(BackendError::Unsupported("the ecs backend has no exec (ECS Exec is not supported yet)".into()))
    }
}

/// A task of the install as a unit; `None` for one berth removed or whose tags are gone.
fn unit(task: &aws_sdk_ecs::types::Task) -> Option<UnitInfo> {
    let tag = |key: &str| task.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(String::from);
    if tag(REMOVED_TAG).is_some() {
        return None;
    }
    let name = tag("berth.unit")?;
    let view = status::TaskView::of(task);
    let main = view.container(MAIN);
    let state = match (view.last_status.as_str(), main.map(|m| m.last_status.as_str())) {
        ("STOPPED", _) | (_, Some("STOPPED")) => UnitState::Exited,
        (_, Some("RUNNING")) => UnitState::Running,
        ("PROVISIONING" | "PENDING" | "ACTIVATING", _) => UnitState::Created,
        _ => UnitState::Other,
    };
    Some(UnitInfo {
        handle: UnitHandle { id: task.task_arn().unwrap_or_default().to_string(), name },
        state,
        job_id: tag(labels::JOB).and_then(|j| j.parse().ok()),
        attempt: tag(labels::ATTEMPT).and_then(|a| a.parse().ok()),
        owner: tag(labels::OWNER),
    })
}
