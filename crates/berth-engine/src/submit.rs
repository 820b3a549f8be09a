//! Accepting a job: validate the spec, check it against the policy, make sure a `never`-pull
//! image exists, and only then record the job. Bad input changes nothing.

use berth_core::JobSpec;
use berth_core::backend::BackendError;
use berth_core::ids::JobId;
use berth_core::spec::PullPolicy;
use berth_core::spec_load::{FieldError, SpecErrors};
use berth_core::store::{JobRecord, NewJob, StoreError};
use berth_core::validate::validate;

use crate::Runner;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] SpecErrors),
    #[error("refused: {0}")]
    Denied(FieldError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Runner {
    pub async fn submit(&self, spec: JobSpec) -> Result<JobRecord, SubmitError> {
        validate(&spec)?;
        self.policy.check(&spec).map_err(SubmitError::Denied)?;
        if spec.pull == PullPolicy::Never && !self.backend.image_present(&spec.image).await? {
            return Err(BackendError::ImageNotFound(spec.image.clone()).into());
        }
        let job = NewJob { id: JobId::generate(), spec, owner: Some(self.owner.clone()), created_at: self.clock.now() };
        Ok(self.store.create_job(job).await?)
    }
}
