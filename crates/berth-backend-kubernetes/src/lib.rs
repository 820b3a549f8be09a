//! berth's Kubernetes backend: one `batch/v1` Job per attempt in the worker's namespace.
//! `translate` makes the Job and its Secret (pure); `run` unsuspends it, watches the pod
//! and follows its log; `remote` feeds stdin, execs and collects outputs through the API
//! server; `status` reads endings from pod and Job status. Jobs are created suspended, so
//! `create` and `start` mean what they mean on Docker, and berth's labels find every Job
//! and pod of an install for reattach and the sweep.

pub mod logs;
mod remote;
mod run;
pub mod settings;
pub mod status;
pub mod support;
pub mod translate;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::backend::{
    AttemptPlan, Backend, BackendError, Capabilities, ExecCommand, ExecOutput, ImageInfo, LogPosition, OutputEntry,
    OutputPicker, PullObserver, Started, StdinSource, UnitHandle, UnitInfo, UnitState, labels,
};
use berth_core::spec::JobSpec;
use berth_core::spec_load::FieldError;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};

pub use settings::Settings;

use crate::status::PodState;
use crate::translate::{MAIN, OWNER_ANNOTATION, UNIT_LABEL};

/// The API handles of one namespace, shared by every attempt.
#[derive(Clone)]
pub(crate) struct Kube {
    pub client: Client,
    pub jobs: Api<Job>,
    pub pods: Api<Pod>,
    pub secrets: Api<Secret>,
    pub settings: Arc<Settings>,
}

#[derive(Clone)]
pub struct KubernetesBackend {
    k: Kube,
}

impl std::fmt::Debug for KubernetesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesBackend").field("namespace", &self.k.settings.namespace).finish()
    }
}

impl KubernetesBackend {
    /// Connects as `settings` says: a kubeconfig context when one is named, else the
    /// in-cluster service account or the current context (`kube::Config::infer`); `url`
    /// overrides the API server (tests, `BERTH_KUBERNETES_URL`), without TLS or auth.
    pub async fn connect(settings: Settings, url: Option<&str>) -> Result<KubernetesBackend, BackendError> {
        let unavailable =
            |e: String| BackendError::Unavailable(format!("{e}: is the Kubernetes API server reachable?"));
        let options = kube::config::KubeConfigOptions { context: settings.context.clone(), ..Default::default() };
        let config = match (url, &settings.kubeconfig, &settings.context) {
            (Some(url), _, _) => kube::Config::new(url.parse().map_err(|e| unavailable(format!("{url}: {e}")))?),
            (None, Some(path), _) => {
                let file = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| unavailable(format!("reading the kubeconfig {}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(file, &options).await.map_err(|e| unavailable(e.to_string()))?
            }
            (None, None, Some(_)) => {
                kube::Config::from_kubeconfig(&options).await.map_err(|e| unavailable(e.to_string()))?
            }
            (None, None, None) => kube::Config::infer().await.map_err(|e| unavailable(e.to_string()))?,
        };
        let client = Client::try_from(config).map_err(|e| unavailable(e.to_string()))?;
        let ns = settings.namespace.clone();
        let k = Kube {
            jobs: Api::namespaced(client.clone(), &ns),
            pods: Api::namespaced(client.clone(), &ns),
            secrets: Api::namespaced(client.clone(), &ns),
            client,
            settings: Arc::new(settings),
        };
        let backend = KubernetesBackend { k };
        backend.ping().await?;
        Ok(backend)
    }

    /// The unit's pod (the newest, if the Job made more than one).
    async fn pod(&self, unit: &UnitHandle) -> Result<Pod, BackendError> {
        let list = self.k.pods.list(&unit_selector(&unit.name)).await.map_err(|e| api_error("listing pods", e))?;
        let newest = list.items.into_iter().max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
        newest.ok_or_else(|| BackendError::Gone(format!("{} has no pod", unit.name)))
    }
}

fn unit_selector(unit: &str) -> ListParams {
    ListParams::default().labels(&format!("{UNIT_LABEL}={unit}"))
}

/// An API error as the engine sees it: the server down or overloaded (429, 5xx) is
/// "unavailable" (it retries and feeds the breaker), anything else an engine error.
pub(crate) fn api_error(what: &str, e: kube::Error) -> BackendError {
    match &e {
        kube::Error::Api(s) if s.code == 429 || s.code >= 500 => BackendError::Unavailable(format!("{what}: {e}")),
        kube::Error::Api(_) => BackendError::Engine(format!("{what}: {e}")),
        _ => BackendError::Unavailable(format!("{what}: {e}")),
    }
}

fn missing_ok<T>(r: Result<T, kube::Error>, what: &str) -> Result<(), BackendError> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(api_error(what, e)),
    }
}

#[async_trait]
impl Backend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Pods publish no host ports, the pod log merges the two streams, the kubelet
            // always stops with the image's signal, and a Docker healthcheck has no
            // meaning for a batch pod: each is refused at submit. Terminals and later
            // attaches are not built on pods yet (a pod's `tty` and `stdin` with attach).
            ports: false,
            tty: false,
            attach: false,
            separate_stderr: false,
            signals: false,
            healthcheck: false,
            ..Capabilities::ALL
        }
    }

    fn refusals(&self, spec: &JobSpec) -> Vec<FieldError> {
        support::refusals(spec, &self.k.settings)
    }

    async fn image_present(&self, _image: &str) -> Result<bool, BackendError> {
        // The kubelet of whichever node runs the pod has (or pulls) it; `pull: never`
        // shows as ErrImageNeverPull there, and ends the attempt as a pull failure.
        Ok(true)
    }

    async fn prepare(&self, spec: &JobSpec, progress: &dyn PullObserver) -> Result<ImageInfo, BackendError> {
        progress.progress(&spec.image, "pulled by the node's kubelet", None, None);
        progress.done();
        Ok(ImageInfo::default())
    }

    async fn create(&self, plan: &AttemptPlan) -> Result<UnitHandle, BackendError> {
        let mut m = translate::manifests(plan, &self.k.settings);
        let job = match self.k.jobs.create(&PostParams::default(), &m.job).await {
            Ok(job) => job,
            // A create retried after a lost answer: the Job is there, suspended.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                self.k.jobs.get(&plan.name).await.map_err(|e| api_error("reading the Job", e))?
            }
            // The API server down or overloaded is worth a retry; a refusal is not.
            Err(e @ kube::Error::Api(_)) if !matches!(&e, kube::Error::Api(s) if s.code == 429 || s.code >= 500) => {
                return Err(BackendError::Create(e.to_string()));
            }
            Err(e) => return Err(api_error("creating the Job", e)),
        };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        if let Some(secret) = m.secret.as_mut() {
            // Owned by the Job: the garbage collector deletes it with the Job.
            secret.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: plan.name.clone(),
                uid: uid.clone(),
                ..OwnerReference::default()
            }]);
            match self.k.secrets.create(&PostParams::default(), secret).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    self.k
                        .secrets
                        .replace(&plan.name, &PostParams::default(), secret)
                        .await
                        .map_err(|e| BackendError::Create(format!("replacing the attempt's Secret: {e}")))?;
                }
                Err(e) => return Err(BackendError::Create(format!("creating the attempt's Secret: {e}"))),
            }
        }
        Ok(UnitHandle { id: uid, name: plan.name.clone() })
    }

    async fn start(&self, unit: &UnitHandle, stdin: StdinSource) -> Result<Started, BackendError> {
        run::start(&self.k, unit, stdin).await
    }

    async fn attach(&self, unit: &UnitHandle, from: LogPosition) -> Result<Started, BackendError> {
        // The pod log is one stream: everything consumed was counted as stdout.
        run::attach(&self.k, unit, from.stdout + from.stderr).await
    }

    async fn stop(&self, unit: &UnitHandle, _signal: Option<&str>, grace: Duration) -> Result<(), BackendError> {
        // Deleting the pod is `docker stop`: SIGTERM (the image's stop signal), then SIGKILL
        // after the grace. The Job (backoffLimit 0) makes no other pod.
        let secs = grace.as_secs_f64().ceil() as u32;
        let pods = self.k.pods.list(&unit_selector(&unit.name)).await.map_err(|e| api_error("listing pods", e))?;
        for pod in pods.items {
            let name = status::name(&pod);
            let params = DeleteParams { grace_period_seconds: Some(secs), ..DeleteParams::background() };
            missing_ok(self.k.pods.delete(&name, &params).await, "deleting the pod")?;
        }
        Ok(())
    }

    async fn collect(&self, unit: &UnitHandle, picker: OutputPicker) -> Result<Vec<OutputEntry>, BackendError> {
        let pod = self.pod(unit).await?;
        remote::collect(&self.k.pods, &status::name(&pod), picker).await
    }

    async fn remove(&self, unit: &UnitHandle) -> Result<(), BackendError> {
        // Never the API's default for Jobs (orphan): the pods go with it, at once.
        missing_ok(self.k.jobs.delete(&unit.name, &DeleteParams::background()).await, "deleting the Job")?;
        let pods = self.k.pods.list(&unit_selector(&unit.name)).await.map_err(|e| api_error("listing pods", e))?;
        for pod in pods.items {
            let params = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::background() };
            missing_ok(self.k.pods.delete(&status::name(&pod), &params).await, "deleting the pod")?;
        }
        missing_ok(self.k.secrets.delete(&unit.name, &DeleteParams::default()).await, "deleting the Secret")
    }

    async fn list_units(&self, install_id: &str) -> Result<Vec<UnitInfo>, BackendError> {
        let selector = format!("{}=true,{}={}", labels::MANAGED, labels::INSTALL, translate::label_value(install_id));
        let params = ListParams::default().labels(&selector);
        let jobs = self.k.jobs.list(&params).await.map_err(|e| api_error("listing Jobs", e))?;
        let pods = self.k.pods.list(&params).await.map_err(|e| api_error("listing pods", e))?;
        Ok(units(jobs.items, pods.items))
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.k.client.apiserver_version().await.map(|_| ()).map_err(|e| api_error("reaching the API server", e))
    }

    async fn exec(&self, unit: &UnitHandle, cmd: &ExecCommand, cap: usize) -> Result<ExecOutput, BackendError> {
        if !cmd.env.is_empty() || cmd.user.is_some() || cmd.workdir.is_some() {
            let why = "the kubernetes backend runs exec as the container is (the API takes no env, user or workdir)";
            return Err(BackendError::Unsupported(why.into()));
        }
        let pod = self.pod(unit).await?;
        remote::exec(&self.k.pods, &status::name(&pod), MAIN, &cmd.command, cap).await
    }
}

/// Every Job of the install as a unit, in the state its pod shows, and every pod whose
/// Job is gone (orphaned by someone's delete) as one too; pods being deleted are not.
fn units(jobs: Vec<Job>, pods: Vec<Pod>) -> Vec<UnitInfo> {
    let live: Vec<Pod> = pods.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let unit_of = |meta: &kube::api::ObjectMeta| meta.labels.as_ref().and_then(|l| l.get(UNIT_LABEL).cloned());
    let mut out = Vec::new();
    for job in &jobs {
        let Some(name) = unit_of(&job.metadata) else { continue };
        let pod = live.iter().find(|p| unit_of(&p.metadata).as_deref() == Some(name.as_str()));
        let suspended = job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
        let state = match pod.map(status::read) {
            _ if suspended => UnitState::Created,
            Some(PodState::Running) => UnitState::Running,
            Some(PodState::Ended(_)) => UnitState::Exited,
            Some(PodState::Waiting(_)) | None => UnitState::Other,
        };
        out.push(info(&job.metadata, name, job.metadata.uid.clone(), state));
    }
    for pod in &live {
        let Some(name) = unit_of(&pod.metadata) else { continue };
        if !out.iter().any(|u| u.handle.name == name) {
            let state =
                if matches!(status::read(pod), PodState::Running) { UnitState::Running } else { UnitState::Other };
            out.push(info(&pod.metadata, name, None, state));
        }
    }
    out
}

fn info(meta: &kube::api::ObjectMeta, name: String, uid: Option<String>, state: UnitState) -> UnitInfo {
    let labels = meta.labels.clone().unwrap_or_default();
    let owner = meta.annotations.as_ref().and_then(|a| a.get(OWNER_ANNOTATION).cloned());
    UnitInfo {
        handle: UnitHandle { id: uid.unwrap_or_default(), name },
        state,
        job_id: labels.get(labels::JOB).and_then(|j| j.parse().ok()),
        attempt: labels.get(labels::ATTEMPT).and_then(|a| a.parse().ok()),
        owner: owner.or_else(|| labels.get(labels::OWNER).cloned()),
    }
}
