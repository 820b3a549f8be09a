//! `[backends.ecs]` in the config file: the cluster, how tasks are launched and networked,
//! the roles, and where logs go.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub cluster: String,
    /// `FARGATE` or `EC2`; ignored when `capacity_provider` is set.
    pub launch_type: String,
    /// e.g. `FARGATE_SPOT`: RunTask gets a capacity provider strategy instead of a launch type.
    pub capacity_provider: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The role ECS pulls images and writes logs with.
    pub execution_role_arn: Option<String>,
    /// The role the job's own AWS calls use; unset: none.
    pub task_role_arn: Option<String>,
    pub log_group: String,
    pub region: Option<String>,
    /// The staging and output helpers' image: sh, tar, base64, find.
    pub helper_image: String,
    /// Round a spec's CPU and memory up to the next Fargate size (billed as that size);
    /// unset, a spec that is not a Fargate size is refused with the nearest one.
    pub round_up: bool,
    /// Between DescribeTasks rounds (one call covers 100 tasks), seconds; and the log
    /// reads' pace (at most one a second per attempt).
    #[serde(with = "secs")]
    pub poll_interval: Duration,
    /// How long a task may take from RunTask to its job's container running (placement,
    /// the image pull), seconds.
    #[serde(with = "secs")]
    pub start_timeout: Duration,
    /// How long after the job's container ends the task may take to stop, seconds.
    #[serde(with = "secs")]
    pub collect_timeout: Duration,
    /// After the job's container ends, how long its log must stay quiet before the output is
    /// taken as complete (CloudWatch shows events seconds after they are written), seconds.
    #[serde(with = "secs")]
    pub log_settle: Duration,
    /// An EFS file system (`fs-...`): named volumes become access points of it, one per
    /// tenant's volume; unset, named volumes are refused.
    pub efs_file_system: Option<String>,
    /// `berth server` puts the queue depth into CloudWatch (metric `Berth/QueueDepth`,
    /// dimensions `Cluster`, `Cluster`+`Queue`), for scaling workers on it.
    pub queue_depth_metric: bool,
    /// The log group the queue depth goes to, as embedded-metric-format events (it must exist).
    pub metrics_log_group: String,
    /// Between two queue depth reports, seconds.
    #[serde(with = "secs")]
    pub metrics_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cluster: "berth".into(),
            launch_type: "FARGATE".into(),
            capacity_provider: None,
            subnets: Vec::new(),
            security_groups: Vec::new(),
            assign_public_ip: false,
            execution_role_arn: None,
            task_role_arn: None,
            log_group: "/berth/jobs".into(),
            region: None,
            helper_image: "public.ecr.aws/docker/library/busybox:1.36".into(),
            round_up: true,
            poll_interval: Duration::from_secs(2),
            start_timeout: Duration::from_secs(600),
            collect_timeout: Duration::from_secs(120),
            log_settle: Duration::from_secs(5),
            efs_file_system: None,
            queue_depth_metric: false,
            metrics_log_group: "/berth/metrics".into(),
            metrics_interval: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Tasks on Fargate (its sizes, limits and awsvpc networking apply).
    pub fn fargate(&self) -> bool {
        self.capacity_provider.as_deref().map_or(self.launch_type == "FARGATE", |p| p.starts_with("FARGATE"))
    }
}

/// Durations as seconds (fractions allowed) in the config file.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = f64::deserialize(d)?;
        Duration::try_from_secs_f64(s).map_err(|_| serde::de::Error::custom("expected a number of seconds, 0 or more"))
    }
}
