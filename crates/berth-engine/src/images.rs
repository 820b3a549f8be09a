//! Private images in a cache tenants share. A server tenant's job whose image is cached
//! because another tenant pulled it with registry credentials runs only after the job's own
//! pull of it succeeds (with its own credentials, or none if the registry lets it): the
//! registry decides who may run a private image, not who pulled it first. Pulls with
//! credentials are recorded per tenant (`ImagePulls`), the local CLI's too; a pull without
//! any that succeeds records the image as public (`PUBLIC`), so nobody pulls it again. The
//! local CLI owns the engine and is not checked. An image cached from outside berth
//! (`docker pull`) is not known as private.

use berth_core::backend::{BackendError, ImageInfo, PullObserver};
use berth_core::spec::{JobSpec, PullPolicy};
use berth_core::store::{JobRecord, LOCAL_TENANT};

use crate::Runner;

/// The puller recorded for an image any pull without credentials got: it is public.
pub const PUBLIC: &str = "*";

impl Runner {
    /// The backend's `prepare`, plus the private-image rule above.
    pub(crate) async fn image_for(
        &self,
        job: &JobRecord,
        spec: &JobSpec,
        pull: &dyn PullObserver,
    ) -> Result<ImageInfo, BackendError> {
        let image = self.backend.prepare(spec, pull).await?;
        let Some(id) = image.id.clone() else { return Ok(image) };
        if image.pulled {
            self.note_pull(job, spec, &id).await;
            return Ok(image);
        }
        if job.tenant == LOCAL_TENANT {
            return Ok(image);
        }
        // A store that does not answer cannot vouch for the cache: pull.
        let others_only = match self.store.private_pullers(&id).await {
            Ok(pullers) => !pullers.is_empty() && !pullers.iter().any(|p| *p == job.tenant || p == PUBLIC),
            Err(e) => {
                tracing::warn!(job = %job.id, "who pulled image {id} is unknown ({e}): pulling it for this job");
                true
            }
        };
        if !others_only {
            return Ok(image);
        }
        let why = "it is cached from another tenant's pull with registry credentials, so this job must pull it itself";
        if spec.pull == PullPolicy::Never {
            return Err(BackendError::Pull(format!("{}: {why}, and its pull policy is never", spec.image)));
        }
        let own = JobSpec { pull: PullPolicy::Always, ..spec.clone() };
        let pulled = self.backend.prepare(&own, pull).await.map_err(|e| match e {
            BackendError::Pull(m) => BackendError::Pull(format!("{m} ({why})")),
            e => e,
        })?;
        if let Some(id) = &pulled.id {
            self.note_pull(job, spec, id).await;
        }
        Ok(pulled)
    }

    async fn note_pull(&self, job: &JobRecord, spec: &JobSpec, id: &str) {
        let who = if spec.registry_auth.is_some() { job.tenant.as_str() } else { PUBLIC };
        if let Err(e) = self.store.record_private_pull(who, id, self.clock.now()).await {
            tracing::warn!(job = %job.id, "recording tenant {}'s pull of {id} failed: {e}", job.tenant);
        }
    }
}
