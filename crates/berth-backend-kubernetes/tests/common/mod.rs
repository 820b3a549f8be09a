//! What the Kubernetes backend's tests share: the test image and the backend's settings.

use berth_backend_kubernetes::Settings;

/// The image scripts/test builds from Debian's static busybox (it has `tar` for the helper).
pub const IMAGE: &str = "berth-test/busybox:latest";

pub fn settings() -> Settings {
    Settings { namespace: "berth-jobs".into(), helper_image: IMAGE.into(), ..Settings::default() }
}
