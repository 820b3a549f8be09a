//! Accepting a job: validate the spec, check it against the policy and the backend's
//! capabilities, make sure a `never`-pull image exists, and only then record the job. Bad
//! input changes nothing.

use berth_core::JobSpec;
use berth_core::backend::BackendError;
use berth_core::capabilities;
use berth_core::ids::JobId;
use berth_core::policy::{Denial, Policy};
use berth_core::spec::PullPolicy;
use berth_core::spec_load::{FieldError, SpecErrors};
use berth_core::store::{Idempotency, JobRecord, LOCAL_TENANT, NewJob, ScheduleRef, StoreError, StoreResult};
use berth_core::validate::validate;

use crate::Runner;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] SpecErrors),
    #[error("refused: {0}")]
    Denied(Denial),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Runner {
    /// Accepts a job that this process runs itself (`berth run` without a server).
    pub async fn submit(&self, spec: JobSpec) -> Result<JobRecord, SubmitError> {
        self.check_spec(&spec, LOCAL_TENANT, false).await?;
        let job = NewJob::new(JobId::generate(), spec, Some(self.owner.clone()), self.clock.now());
        Ok(self.store.create_job(job).await?)
    }

    /// Accepts a job into the queue, for whichever worker claims it first (the server).
    /// With an idempotency key that was seen before, returns the job made then, and `false`
    /// for "not created now".
    pub async fn enqueue(
        &self,
        spec: JobSpec,
        tenant: &str,
        idempotency: Option<Idempotency>,
    ) -> Result<(JobRecord, bool), SubmitError> {
        self.check_spec(&spec, tenant, false).await?;
        self.store_new(spec, tenant, idempotency, None).await
    }

    /// Accepts the job a schedule makes for one due time: the template is checked as any
    /// submission, then `mark` adds what berth sets (labels in its reserved `berth.` space,
    /// env). A second call for the same due time (on any node) returns the first job and `false`.
    pub async fn enqueue_scheduled(
        &self,
        mut spec: JobSpec,
        tenant: &str,
        due: ScheduleRef,
        mark: impl FnOnce(&mut JobSpec),
    ) -> Result<(JobRecord, bool), SubmitError> {
        self.check_spec(&spec, tenant, false).await?;
        mark(&mut spec);
        self.store_new(spec, tenant, None, Some(due)).await
    }

    async fn store_new(
        &self,
        spec: JobSpec,
        tenant: &str,
        idempotency: Option<Idempotency>,
        schedule: Option<ScheduleRef>,
    ) -> Result<(JobRecord, bool), SubmitError> {
        let id = JobId::generate();
        let mut job = NewJob::new(id.clone(), spec, None, self.clock.now());
        job.tenant = tenant.to_string();
        job.idempotency = idempotency;
        job.schedule = schedule;
        let stored = self.store.create_job(job).await?;
        let created = stored.id == id;
        Ok((stored, created))
    }

    /// Whether `spec` can run here for `tenant`; `live_stdin` is a stdin stream (`berth run -i`).
    pub async fn check_spec(&self, spec: &JobSpec, tenant: &str, live_stdin: bool) -> Result<(), SubmitError> {
        validate(spec)?;
        self.policy_for(tenant).await?.check(spec).map_err(SubmitError::Denied)?;
        self.check_secrets(spec, tenant).await?;
        capabilities::check_backend(self.backend.as_ref(), spec, live_stdin)?;
        if let Some(missing) = self.missing_runtime(spec).await? {
            return Err(SpecErrors(vec![missing]).into());
        }
        if spec.pull == PullPolicy::Never && !self.backend.image_present(&spec.image).await? {
            return Err(BackendError::ImageNotFound(spec.image.clone()).into());
        }
        Ok(())
    }
}

impl Runner {
    /// The spec's `security.runtime`, when this node's backend says it has no such runtime.
    pub(crate) async fn missing_runtime(&self, spec: &JobSpec) -> Result<Option<FieldError>, BackendError> {
        let Some(name) = &spec.security.runtime else { return Ok(None) };
        let Some(known) = self.backend.runtimes().await? else { return Ok(None) };
        if known.contains(name) {
            return Ok(None);
        }
        let what = format!(
            "the {} engine has no runtime `{name}` (it has: {}): install it there, or leave it unset",
            self.backend.name(),
            known.join(", ")
        );
        Ok(Some(FieldError::new("security.runtime", what)))
    }

    /// The policy `tenant`'s jobs run under: this runner's, with the tenant's stored
    /// override laid over it. A tenant with no record or no override gets the base.
    pub async fn policy_for(&self, tenant: &str) -> StoreResult<Policy> {
        let patch = match self.store.get_tenant(tenant).await {
            Ok(t) => t.policy,
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let Some(patch) = patch else { return Ok(self.policy.clone()) };
        self.policy
            .patched(&patch, &format!("tenant {tenant}'s policy"))
            .map_err(|e| StoreError::Corrupt(format!("tenant {tenant}'s policy no longer reads: {e}")))
    }
}
