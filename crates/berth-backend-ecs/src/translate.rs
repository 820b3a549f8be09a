//! Attempt plan → an ECS task definition (its *shape*: image, size, user, limits, the
//! helpers, logging; shared by every attempt with the same shape and found again by the hash
//! in its family name) and the RunTask input (the attempt's command and env as overrides,
//! its tags and idempotency token). Pure, snapshot-tested; the JSON is the ECS API's, so
//! `aws ecs register-task-definition --cli-input-json` takes it as it is.

use std::collections::BTreeMap;

use berth_core::backend::{AttemptPlan, OUTPUT_MOUNT, labels};
use berth_core::spec::JobSpec;
use serde::Serialize;

use crate::fargate;
use crate::settings::Settings;

/// The job's container.
pub const MAIN: &str = "main";
/// Reads the output directory after `main` exits and prints it to its log stream.
pub const OUTPUT_HELPER: &str = "berth-output";
/// Places the input files in the workspace before `main` starts.
pub const STAGE: &str = "berth-stage";
/// Where the stage helper sees the workspace volume.
const STAGE_WORKSPACE: &str = "/berth/workspace";
/// Memory each helper reserves inside the task, MiB.
const HELPER_MIB: u32 = 16;
/// The awslogs stream prefix: streams are `berth/<container>/<task id>`.
pub const STREAM_PREFIX: &str = "berth";

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub family: String,
    pub requires_compatibilities: Vec<String>,
    pub network_mode: String,
    pub cpu: String,
    pub memory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    pub volumes: Vec<Volume>,
    pub container_definitions: Vec<ContainerDefinition>,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    /// A named volume: an EFS access point (none: the task's own ephemeral storage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolume>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolume {
    pub file_system_id: String,
    pub root_directory: String,
    pub transit_encryption: String,
    pub authorization_config: EfsAuthorization,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsAuthorization {
    pub access_point_id: String,
    pub iam: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    pub essential: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    /// Variables ECS fills from Secrets Manager at container start (per-attempt definitions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretFrom>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    pub readonly_root_filesystem: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    pub mount_points: Vec<MountPoint>,
    /// The hard limit, MiB: an OOM kill happens where the spec says, whatever the task size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    pub linux_parameters: LinuxParameters,
    pub log_configuration: LogConfiguration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretFrom {
    pub name: String,
    pub value_from: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub container_name: String,
    pub condition: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    pub init_process_enabled: bool,
    pub capabilities: KernelCapabilities,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelCapabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: BTreeMap<String, String>,
}

/// The task size for `spec`: its CPUs and memory (plus the helpers' reservations) covered by
/// the smallest Fargate size, or exactly what it asks on EC2.
pub fn task_size(spec: &JobSpec, settings: &Settings) -> Result<(u32, u32), String> {
    let cpu = spec.resources.cpus.map_or(256, |c| (c * 1024.0).ceil() as u32);
    // With a memory limit, the helpers' reservations come on top; without, they fit in 512.
    let memory = spec.resources.memory.map_or(512, |m| m.0.div_ceil(1 << 20) as u32 + 2 * HELPER_MIB);
    if !settings.fargate() {
        return Ok((cpu.max(128), memory));
    }
    if !settings.round_up && !fargate::valid(cpu, memory) {
        let near = fargate::cover(cpu, memory)
            .map_or(String::new(), |(c, m)| format!("; the nearest is {c} CPU units, {m} MiB"));
        return Err(format!(
            "{cpu} CPU units and {memory} MiB (with the helpers' {HELPER_MIB} MiB each) is not a Fargate size{near}"
        ));
    }
    fargate::cover(cpu, memory).ok_or_else(|| {
        format!("{cpu} CPU units and {memory} MiB is more than Fargate's largest task (16 vCPU, 120 GiB)")
    })
}

/// The shape of `plan`'s task: its task definition, with the family named by its hash.
pub fn task_definition(plan: &AttemptPlan, settings: &Settings) -> Result<TaskDefinition, String> {
    let spec = &plan.spec;
    let (cpu, memory) = task_size(spec, settings)?;
    let mut def = TaskDefinition {
        family: String::new(),
        requires_compatibilities: vec![if settings.fargate() { "FARGATE" } else { "EC2" }.into()],
        network_mode: "awsvpc".into(),
        cpu: cpu.to_string(),
        memory: memory.to_string(),
        execution_role_arn: settings.execution_role_arn.clone(),
        task_role_arn: settings.task_role_arn.clone(),
        volumes: vec![Volume::task("output")],
        container_definitions: vec![main(spec, settings), output_helper(settings)],
        tags: vec![Tag { key: labels::MANAGED.into(), value: "true".into() }],
    };
    let main = &mut def.container_definitions[0];
    main.depends_on.push(Dependency { container_name: STAGE.into(), condition: "SUCCESS".into() });
    if !spec.files.is_empty() {
        def.volumes.push(Volume::task("workspace"));
        main.mount_points.push(MountPoint {
            source_volume: "workspace".into(),
            container_path: spec.workspace_dir.clone(),
            read_only: false,
        });
    }
    def.container_definitions.insert(0, stage_helper(settings, !spec.files.is_empty()));
    def.family = family(&def);
    Ok(def)
}

impl Volume {
    /// A volume on the task's own storage.
    pub fn task(name: &str) -> Volume {
        Volume { name: name.into(), efs_volume_configuration: None }
    }
}

/// `berth-` and 16 hex digits of the shape's SHA-256: equal shapes share a definition.
pub(crate) fn family(def: &TaskDefinition) -> String {
    use sha2::Digest;
    let shape = serde_json::to_vec(def).unwrap_or_default();
    format!("berth-{}", &hex::encode(sha2::Sha256::digest(&shape))[..16])
}

fn logging(settings: &Settings) -> LogConfiguration {
    let mut options = BTreeMap::from([
        ("awslogs-group".to_string(), settings.log_group.clone()),
        ("awslogs-stream-prefix".to_string(), STREAM_PREFIX.to_string()),
        // Since 2025-06 the default is non-blocking, which drops lines under pressure.
        ("mode".to_string(), "blocking".to_string()),
    ]);
    if let Some(region) = &settings.region {
        options.insert("awslogs-region".into(), region.clone());
    }
    LogConfiguration { log_driver: "awslogs".into(), options }
}

fn main(spec: &JobSpec, settings: &Settings) -> ContainerDefinition {
    let s = &spec.security;
    let mut drop = s.cap_drop.clone();
    if !s.keep_default_caps && !drop.iter().any(|c| c == "ALL") {
        drop.insert(0, "ALL".into());
    }
    ContainerDefinition {
        name: MAIN.into(),
        image: spec.image.clone(),
        // Not essential: the output helper runs after it exits and ends the task.
        essential: false,
        entry_point: spec.entrypoint.clone(),
        command: None,
        environment: Vec::new(),
        secrets: Vec::new(),
        user: spec.user.clone(),
        working_directory: spec.workdir.clone(),
        readonly_root_filesystem: spec.read_only,
        stop_timeout: Some(spec.timeouts.stop_grace.0.as_secs_f64().ceil() as u64),
        depends_on: Vec::new(),
        mount_points: vec![MountPoint {
            source_volume: "output".into(),
            container_path: OUTPUT_MOUNT.into(),
            read_only: false,
        }],
        memory: spec.resources.memory.map(|m| m.0.div_ceil(1 << 20).max(6) as u32),
        memory_reservation: spec.resources.memory_reservation.map(|m| m.0.div_ceil(1 << 20) as u32),
        linux_parameters: LinuxParameters {
            init_process_enabled: s.init,
            capabilities: KernelCapabilities { add: s.cap_add.clone(), drop },
        },
        log_configuration: logging(settings),
    }
}

/// Prints the output directory as a framed, base64 tar after `main` exits (its exit ends
/// the task); berth reads it back from the helper's log stream.
/// The end line carries the tar's length and sha256, so a lost log line is caught; tar's own
/// errors go nowhere (they would corrupt the base64).
const OUTPUT_SCRIPT: &str = "set -o pipefail; cd /berth; t() { tar -cf - output 2>/dev/null; }; \
    printf 'BERTH-OUTPUT v1\\n'; t | base64 || exit 1; \
    printf 'BERTH-OUTPUT END %s %s\\n' \"$(t | wc -c)\" \"$(t | sha256sum | cut -d' ' -f1)\"";

fn output_helper(settings: &Settings) -> ContainerDefinition {
    ContainerDefinition {
        name: OUTPUT_HELPER.into(),
        image: settings.helper_image.clone(),
        essential: true,
        entry_point: None,
        command: Some(vec!["sh".into(), "-c".into(), OUTPUT_SCRIPT.into()]),
        environment: Vec::new(),
        secrets: Vec::new(),
        // Root that may read any file (and nothing else), so it reads what any user wrote 0600.
        user: Some("0".into()),
        working_directory: None,
        readonly_root_filesystem: true,
        stop_timeout: None,
        depends_on: vec![Dependency { container_name: MAIN.into(), condition: "COMPLETE".into() }],
        mount_points: vec![MountPoint {
            source_volume: "output".into(),
            container_path: OUTPUT_MOUNT.into(),
            read_only: true,
        }],
        memory: None,
        memory_reservation: Some(HELPER_MIB),
        linux_parameters: LinuxParameters {
            init_process_enabled: false,
            capabilities: KernelCapabilities { add: vec!["DAC_READ_SEARCH".into()], drop: vec!["ALL".into()] },
        },
        log_configuration: logging(settings),
    }
}

/// Opens the output directory to any user (the job may run as any uid) and, with files,
/// writes them (base64 in its override's env, the script in its command) into the workspace
/// volume; it exits 0 so `main` starts.
fn stage_helper(settings: &Settings, files: bool) -> ContainerDefinition {
    let mut mount_points =
        vec![MountPoint { source_volume: "output".into(), container_path: OUTPUT_MOUNT.into(), read_only: false }];
    if files {
        mount_points.push(MountPoint {
            source_volume: "workspace".into(),
            container_path: STAGE_WORKSPACE.into(),
            read_only: false,
        });
    }
    ContainerDefinition {
        name: STAGE.into(),
        image: settings.helper_image.clone(),
        essential: false,
        entry_point: None,
        command: Some(vec!["sh".into(), "-c".into(), OPEN_OUTPUT.into()]),
        environment: Vec::new(),
        secrets: Vec::new(),
        user: None,
        working_directory: None,
        readonly_root_filesystem: true,
        stop_timeout: None,
        depends_on: Vec::new(),
        mount_points,
        memory: None,
        memory_reservation: Some(HELPER_MIB),
        linux_parameters: LinuxParameters {
            init_process_enabled: false,
            capabilities: KernelCapabilities { add: Vec::new(), drop: ["ALL"].into_iter().map(String::from).collect() },
        },
        log_configuration: logging(settings),
    }
}

/// The stage helper's override: file `i`'s bytes as `BERTH_FILE_i` (base64), and the
/// script that writes each to its path with its mode.
fn stage_override(plan: &AttemptPlan) -> ContainerOverride {
    use base64::Engine;
    let spec = &plan.spec;
    let mut script = format!("set -e\n{OPEN_OUTPUT}\nchmod 0777 {STAGE_WORKSPACE}\n");
    script.push_str(&crate::secrets::files_script(plan));
    let mut environment = Vec::new();
    for (i, f) in spec.files.iter().enumerate() {
        let target = format!("{STAGE_WORKSPACE}/{}", f.path);
        let dir = target.rsplit_once('/').map_or(STAGE_WORKSPACE.to_string(), |(d, _)| d.to_string());
        let mode = f.mode.unwrap_or(0o644);
        script.push_str(&format!(
            "mkdir -p {dir}\nprintf %s \"$BERTH_FILE_{i}\" | base64 -d > {target}\nchmod {mode:o} {target}\n",
            dir = quote(&dir),
            target = quote(&target),
        ));
        let value = base64::engine::general_purpose::STANDARD.encode(f.content.as_bytes());
        environment.push(KeyValue { name: format!("BERTH_FILE_{i}"), value });
    }
    ContainerOverride { name: STAGE.into(), command: Some(vec!["sh".into(), "-c".into(), script]), environment }
}

/// What the stage helper always does: the job may write outputs as any uid.
pub(crate) const OPEN_OUTPUT: &str = "chmod 0777 /berth/output";

/// `s` in single quotes for `sh`.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTask {
    pub cluster: String,
    pub task_definition: String,
    pub count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    pub network_configuration: NetworkConfiguration,
    pub overrides: TaskOverride,
    pub started_by: String,
    pub tags: Vec<Tag>,
    pub client_token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderItem {
    pub capacity_provider: String,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: AwsVpcConfiguration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverride {
    pub container_overrides: Vec<ContainerOverride>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
}

/// ECS refuses a RunTask whose `overrides` serialize to more characters than this.
pub const OVERRIDES_LIMIT: usize = 8192;

/// `startedBy` for this install's tasks: what ListTasks finds them by (36 characters at most).
pub fn started_by(install_id: &str) -> String {
    let mut s: String =
        format!("berth-{install_id}").chars().filter(|c| c.is_ascii_alphanumeric() || "-_/".contains(*c)).collect();
    s.truncate(36);
    s
}

/// The RunTask input of `plan` on the task definition `definition`.
pub fn run_task(plan: &AttemptPlan, settings: &Settings, definition: &str) -> RunTask {
    let spec = &plan.spec;
    let environment =
        spec.env.iter().chain(&plan.berth_env).map(|(k, v)| KeyValue { name: k.clone(), value: v.clone() }).collect();
    let main = ContainerOverride { name: MAIN.into(), command: spec.cmd(), environment };
    let (launch_type, capacity_provider_strategy) = match &settings.capacity_provider {
        Some(p) => (None, vec![CapacityProviderItem { capacity_provider: p.clone(), weight: 1 }]),
        None => (Some(settings.launch_type.clone()), Vec::new()),
    };
    RunTask {
        cluster: settings.cluster.clone(),
        task_definition: definition.to_string(),
        count: 1,
        launch_type,
        capacity_provider_strategy,
        network_configuration: NetworkConfiguration {
            awsvpc_configuration: AwsVpcConfiguration {
                subnets: settings.subnets.clone(),
                security_groups: settings.security_groups.clone(),
                assign_public_ip: if settings.assign_public_ip { "ENABLED" } else { "DISABLED" }.into(),
            },
        },
        overrides: TaskOverride {
            container_overrides: if spec.files.is_empty() { vec![main] } else { vec![stage_override(plan), main] },
        },
        started_by: started_by(&plan.install_id),
        tags: tags(plan),
        client_token: format!("{}.{}", plan.install_id, plan.name).chars().take(64).collect(),
    }
}

/// berth's labels and the spec's, as task tags (values ECS cannot hold are hashed).
fn tags(plan: &AttemptPlan) -> Vec<Tag> {
    let mut out = BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::JOB.to_string(), plan.job_id.to_string()),
        (labels::ATTEMPT.to_string(), plan.attempt.to_string()),
        (labels::INSTALL.to_string(), plan.install_id.clone()),
        (labels::OWNER.to_string(), plan.owner.clone()),
        (labels::TENANT.to_string(), plan.tenant.clone()),
        ("berth.unit".to_string(), plan.name.clone()),
    ]);
    for (k, v) in &plan.spec.labels {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out.into_iter().map(|(key, value)| Tag { key, value: tag_value(&value) }).collect()
}

/// `s` when ECS can hold it as a tag value (256 of `letters digits space + - = . _ : / @`),
/// else `h-` and 16 hex digits of its SHA-256.
pub fn tag_value(s: &str) -> String {
    let ok = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
    if s.chars().count() <= 256 && s.chars().all(ok) {
        return s.to_string();
    }
    use sha2::Digest;
    format!("h-{}", &hex::encode(sha2::Sha256::digest(s.as_bytes()))[..16])
}

/// The characters `overrides` takes in the RunTask call, as ECS counts them (compact JSON).
pub fn overrides_size(run: &RunTask) -> usize {
    serde_json::to_string(&run.overrides).map_or(usize::MAX, |s| s.len())
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
