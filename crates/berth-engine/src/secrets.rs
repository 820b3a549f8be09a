//! A job's secrets: checked to exist at submit, opened for each attempt (the tenant's stored
//! secrets, and the server variables its policy passes on), and never stored with it.

use berth_core::JobSpec;
use berth_core::backend::SecretInput;
use berth_core::policy::Policy;
use berth_core::spec_load::{FieldError, SpecErrors};
use berth_core::store::StoreError;
use berth_core::vault::SecretValue;

use crate::Runner;
use crate::submit::SubmitError;

impl Runner {
    /// Each secret `spec` names exists for `tenant`, and this node can open secrets at all.
    pub(crate) async fn check_secrets(&self, spec: &JobSpec, tenant: &str) -> Result<(), SubmitError> {
        let mut missing = Vec::new();
        for (i, s) in spec.secrets.iter().enumerate() {
            let field = format!("secrets[{i}].name");
            if self.keys.is_none() {
                let what = "this berth has no secret key: set BERTH_SECRET_KEY_FILE (the same key on every node)";
                missing.push(FieldError::new(field, what));
            } else if self.store.sealed_secret(tenant, &s.name).await?.is_none() {
                let what = format!("tenant {tenant} has no secret `{}`: berth secret set {} first", s.name, s.name);
                missing.push(FieldError::new(field, what));
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(SubmitError::Invalid(SpecErrors(missing))) }
    }

    /// The values an attempt of `spec` gets: its secrets, opened, and the variables
    /// `policy.pass_env` passes from this process's environment.
    pub(crate) async fn open_secrets(
        &self,
        spec: &JobSpec,
        tenant: &str,
        policy: &Policy,
    ) -> Result<Vec<SecretInput>, String> {
        let mut out = Vec::new();
        for s in &spec.secrets {
            let keys = self.keys.as_ref().ok_or("this worker has no secret key (BERTH_SECRET_KEY_FILE)")?;
            let sealed = self.store.sealed_secret(tenant, &s.name).await.map_err(|e: StoreError| e.to_string())?;
            let sealed = sealed.ok_or_else(|| format!("tenant {tenant}'s secret `{}` was removed", s.name))?;
            let value = keys.open(tenant, &s.name, &sealed).map_err(|e| e.to_string())?;
            if s.env_name().is_some() && std::str::from_utf8(&value.0).is_err() {
                return Err(format!("secret `{}` is not UTF-8 text: give it to the job as a file", s.name));
            }
            out.push(SecretInput { env: s.env_name().map(str::to_string), file: s.file.clone(), value });
        }
        for name in &policy.pass_env {
            let taken = spec.env.contains_key(name) || out.iter().any(|s| s.env.as_deref() == Some(name.as_str()));
            // The process's environment as it started: a restart takes a rotated value.
            if let (false, Some(value)) = (taken, self.host_env.get(name)) {
                let value = SecretValue(value.clone().into_bytes());
                out.push(SecretInput { env: Some(name.clone()), file: None, value });
            }
        }
        Ok(out)
    }
}
