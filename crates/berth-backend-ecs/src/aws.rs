//! The AWS side: clients from the standard chain (credentials, region, `AWS_ENDPOINT_URL`,
//! or an emulator's endpoint with static test credentials), SDK errors as the engine sees
//! them (throttling and 5xx are "unavailable": retried, and counted by the breaker), the
//! translated task definition as a RegisterTaskDefinition call, and RunTask's token bucket.

use std::time::{Duration, Instant};

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types as ecs;
use berth_core::backend::BackendError;

use crate::translate::{ContainerDefinition, RunTask, TaskDefinition};

/// The ECS, CloudWatch Logs, Secrets Manager and EFS clients.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub efs: aws_sdk_efs::Client,
}

/// Clients for `region` (else the environment's). With `endpoint` (an emulator) the
/// credentials are static test ones and the SDK makes one attempt per call, so berth's own
/// retries and breaker are what is tested.
pub async fn clients(region: Option<&str>, endpoint: Option<&str>) -> Clients {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if let Some(url) = endpoint {
        let creds = aws_sdk_ecs::config::Credentials::new("test", "test", None, None, "berth-emulator");
        loader = loader
            .endpoint_url(url)
            .credentials_provider(creds)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
        if region.is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    let conf = loader.load().await;
    Clients {
        ecs: aws_sdk_ecs::Client::new(&conf),
        logs: aws_sdk_cloudwatchlogs::Client::new(&conf),
        secrets: aws_sdk_secretsmanager::Client::new(&conf),
        efs: aws_sdk_efs::Client::new(&conf),
    }
}

/// Codes AWS uses when a caller should slow down or the service is briefly down.
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ServerException",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// The error's AWS code (`ClientException`...), when the service answered.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    match e {
        SdkError::ServiceError(s) => s.err().code().map(String::from),
        _ => None,
    }
}

/// An SDK error while doing `what`: transient (throttled, 5xx, no answer) is
/// `Unavailable`, a refusal is `Engine`.
pub fn error<E, R>(what: &str, e: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = code(&e);
    let text = format!("{what}: {}", DisplayErrorContext(&e));
    match code {
        Some(c) if !TRANSIENT.contains(&c.as_str()) => BackendError::Engine(text),
        Some(_) => BackendError::Unavailable(text),
        None => BackendError::Unavailable(format!("{text}: is the ECS endpoint reachable (region, AWS_ENDPOINT_URL)?")),
    }
}

/// A refusal while making a unit fails this attempt (`Create`); a transient error stays one.
pub fn refused_is_create(e: BackendError) -> BackendError {
    match e {
        BackendError::Engine(m) => BackendError::Create(m),
        other => other,
    }
}

fn built<T>(what: &str, r: Result<T, aws_sdk_ecs::error::BuildError>) -> Result<T, BackendError> {
    r.map_err(|e| BackendError::Create(format!("{what}: {e}")))
}

fn container(c: &ContainerDefinition) -> Result<ecs::ContainerDefinition, BackendError> {
    let mut b = ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .readonly_root_filesystem(c.readonly_root_filesystem)
        .set_entry_point(c.entry_point.clone())
        .set_command(c.command.clone())
        .set_user(c.user.clone())
        .set_working_directory(c.working_directory.clone())
        .set_stop_timeout(c.stop_timeout.map(|s| s as i32))
        .set_memory(c.memory.map(|m| m as i32))
        .set_memory_reservation(c.memory_reservation.map(|m| m as i32));
    for e in &c.environment {
        b = b.environment(ecs::KeyValuePair::builder().name(&e.name).value(&e.value).build());
    }
    for s in &c.secrets {
        b = b.secrets(built("a secret", ecs::Secret::builder().name(&s.name).value_from(&s.value_from).build())?);
    }
    for d in &c.depends_on {
        let dep = ecs::ContainerDependency::builder()
            .container_name(&d.container_name)
            .condition(ecs::ContainerCondition::from(d.condition.as_str()));
        b = b.depends_on(built("a container dependency", dep.build())?);
    }
    for m in &c.mount_points {
        let point = ecs::MountPoint::builder().source_volume(&m.source_volume).container_path(&m.container_path);
        b = b.mount_points(point.read_only(m.read_only).build());
    }
    let caps = ecs::KernelCapabilities::builder()
        .set_add(Some(c.linux_parameters.capabilities.add.clone()))
        .set_drop(Some(c.linux_parameters.capabilities.drop.clone()))
        .build();
    let linux = ecs::LinuxParameters::builder()
        .init_process_enabled(c.linux_parameters.init_process_enabled)
        .capabilities(caps)
        .build();
    let mut log =
        ecs::LogConfiguration::builder().log_driver(ecs::LogDriver::from(c.log_configuration.log_driver.as_str()));
    for (k, v) in &c.log_configuration.options {
        log = log.options(k, v);
    }
    Ok(b.linux_parameters(linux).log_configuration(built("the log configuration", log.build())?).build())
}

fn volume(v: &crate::translate::Volume) -> Result<ecs::Volume, BackendError> {
    let Some(efs) = &v.efs_volume_configuration else { return Ok(ecs::Volume::builder().name(&v.name).build()) };
    let auth = ecs::EfsAuthorizationConfig::builder()
        .access_point_id(&efs.authorization_config.access_point_id)
        .iam(ecs::EfsAuthorizationConfigIam::from(efs.authorization_config.iam.as_str()))
        .build();
    let config = ecs::EfsVolumeConfiguration::builder()
        .file_system_id(&efs.file_system_id)
        .root_directory(&efs.root_directory)
        .transit_encryption(ecs::EfsTransitEncryption::from(efs.transit_encryption.as_str()))
        .authorization_config(auth);
    Ok(ecs::Volume::builder().name(&v.name).efs_volume_configuration(built("an EFS volume", config.build())?).build())
}

/// Registers `def` (a new revision of its family).
pub async fn register(c: &Clients, def: &TaskDefinition) -> Result<String, BackendError> {
    let mut call = c
        .ecs
        .register_task_definition()
        .family(&def.family)
        .network_mode(ecs::NetworkMode::from(def.network_mode.as_str()))
        .cpu(&def.cpu)
        .memory(&def.memory)
        .set_execution_role_arn(def.execution_role_arn.clone())
        .set_task_role_arn(def.task_role_arn.clone());
    for compat in &def.requires_compatibilities {
        call = call.requires_compatibilities(ecs::Compatibility::from(compat.as_str()));
    }
    for v in &def.volumes {
        call = call.volumes(volume(v)?);
    }
    for cd in &def.container_definitions {
        call = call.container_definitions(container(cd)?);
    }
    for t in &def.tags {
        call = call.tags(ecs::Tag::builder().key(&t.key).value(&t.value).build());
    }
    let out = call.send().await.map_err(|e| refused_is_create(error("registering the task definition", e)))?;
    let arn = out.task_definition().and_then(|d| d.task_definition_arn());
    arn.map(String::from).ok_or_else(|| BackendError::Create("RegisterTaskDefinition returned no ARN".into()))
}

/// The RunTask call for `run`.
pub fn run_task(
    c: &Clients,
    run: &RunTask,
) -> Result<aws_sdk_ecs::operation::run_task::builders::RunTaskFluentBuilder, BackendError> {
    let vpc = &run.network_configuration.awsvpc_configuration;
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(vpc.subnets.clone()))
        .set_security_groups(Some(vpc.security_groups.clone()))
        .assign_public_ip(ecs::AssignPublicIp::from(vpc.assign_public_ip.as_str()));
    let network =
        ecs::NetworkConfiguration::builder().awsvpc_configuration(built("the awsvpc configuration", vpc.build())?);
    let mut overrides = ecs::TaskOverride::builder();
    for o in &run.overrides.container_overrides {
        let mut b = ecs::ContainerOverride::builder().name(&o.name).set_command(o.command.clone());
        for e in &o.environment {
            b = b.environment(ecs::KeyValuePair::builder().name(&e.name).value(&e.value).build());
        }
        overrides = overrides.container_overrides(b.build());
    }
    let mut call = c
        .ecs
        .run_task()
        .cluster(&run.cluster)
        .task_definition(&run.task_definition)
        .count(run.count as i32)
        .network_configuration(network.build())
        .overrides(overrides.build())
        .started_by(&run.started_by)
        .client_token(&run.client_token)
        .set_launch_type(run.launch_type.as_deref().map(ecs::LaunchType::from));
    for p in &run.capacity_provider_strategy {
        let item = ecs::CapacityProviderStrategyItem::builder()
            .capacity_provider(&p.capacity_provider)
            .weight(p.weight as i32);
        call = call.capacity_provider_strategy(built("the capacity provider strategy", item.build())?);
    }
    for t in &run.tags {
        call = call.tags(ecs::Tag::builder().key(&t.key).value(&t.value).build());
    }
    Ok(call)
}

/// RunTask's rate: Fargate allows a burst of 100 launches, then 20 a second.
#[derive(Debug)]
pub struct Bucket {
    state: tokio::sync::Mutex<(f64, Instant)>,
    rate: f64,
    burst: f64,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Bucket {
        Bucket { state: tokio::sync::Mutex::new((burst, Instant::now())), rate, burst }
    }

    /// Waits for a token.
    pub async fn take(&self) {
        let mut s = self.state.lock().await;
        let (tokens, last) = *s;
        let now = Instant::now();
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        if tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - tokens) / self.rate)).await;
            *s = (0.0, Instant::now());
        } else {
            *s = (tokens - 1.0, now);
        }
    }
}
