//! `[backends.kubernetes]` in the config file: where and how attempts run on the cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Toleration;
use serde::Deserialize;

/// The image of the helper containers when none is configured: it needs `sh`, `cp`,
/// `chmod`, `mkdir`, `sleep` and `tar` (busybox has them all).
pub const DEFAULT_HELPER_IMAGE: &str = "busybox:1.36";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The namespace this worker's Jobs run in.
    pub namespace: String,
    /// A kubeconfig context; unset: in-cluster service account, else the current context.
    pub context: Option<String>,
    /// The kubeconfig file; unset: `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The staging and output helper containers' image.
    pub helper_image: String,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    /// The job pods' service account; unset: no account token is mounted.
    pub service_account: Option<String>,
    /// Secrets (type `kubernetes.io/dockerconfigjson`) the kubelet pulls private images with.
    pub image_pull_secrets: Vec<String>,
    /// The Job's `ttlSecondsAfterFinished`: a second net behind berth's own removal.
    #[serde(with = "secs")]
    pub ttl_after_finished: Duration,
    /// Longest a pod may wait for its image (`ErrImagePull`, `ImagePullBackOff`) before the
    /// attempt ends as `infra(pull_failed)`.
    #[serde(with = "secs")]
    pub pull_timeout: Duration,
    /// A NetworkPolicy isolates pods labelled `berth.network=none` (deploy/kubernetes has
    /// one): only then may a spec ask for `network: none`.
    pub network_none_policy: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: "default".into(),
            context: None,
            kubeconfig: None,
            helper_image: DEFAULT_HELPER_IMAGE.into(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            service_account: None,
            image_pull_secrets: Vec::new(),
            ttl_after_finished: Duration::from_secs(3600),
            pull_timeout: Duration::from_secs(120),
            network_none_policy: false,
        }
    }
}

/// Durations as whole seconds in the config file.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}
