//! `[backends.ecs]` in the config file: the cluster, how tasks are launched and networked,
//! the roles, and where logs go.

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
        }
    }
}

impl Settings {
    /// Tasks on Fargate (its sizes, limits and awsvpc networking apply).
    pub fn fargate(&self) -> bool {
        self.capacity_provider.as_deref().map_or(self.launch_type == "FARGATE", |p| p.starts_with("FARGATE"))
    }
}
