//! What the ECS backend's tests share: the test image and settings for the fake.

use std::time::Duration;

use berth_backend_ecs::Settings;

/// The image scripts/test builds from Debian's static busybox (it has `tar` and `base64`).
pub const IMAGE: &str = "berth-test/busybox:latest";

pub fn settings() -> Settings {
    Settings {
        subnets: vec!["subnet-0fake".into()],
        security_groups: vec!["sg-0fake".into()],
        helper_image: IMAGE.into(),
        poll_interval: Duration::from_millis(200),
        log_settle: Duration::from_millis(600),
        ..Settings::default()
    }
}
