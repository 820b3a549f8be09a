//! A task's container as a Docker container: the container definition with the RunTask
//! overrides applied (command, environment) and its secrets resolved, its user, working directory, read-only root,
//! capabilities, init, memory limit and reservation, the task's CPU, its mount points on
//! the task's volumes; the log follower that turns its output into awslogs events; and the
//! cleanup.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType as MountTypeEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
};
use futures::StreamExt;
use serde_json::Value;

use crate::{FAKE_LABEL, Fake, LogEvent, TASK_LABEL};

/// Docker's name for a task's volume.
pub fn volume_name(task_id: &str, volume: &str) -> String {
    format!("fake-ecs-{task_id}-{volume}")
}

fn labels(fake: &str, task_id: &str) -> HashMap<String, String> {
    HashMap::from([(FAKE_LABEL.to_string(), fake.to_string()), (TASK_LABEL.to_string(), task_id.to_string())])
}

pub async fn make_volume(f: &Fake, task_id: &str, volume: &str) -> Result<(), String> {
    let options = bollard::models::VolumeCreateRequest {
        name: Some(volume_name(task_id, volume)),
        labels: Some(labels(&f.id, task_id)),
        ..Default::default()
    };
    f.docker.create_volume(options).await.map(|_| ()).map_err(|e| e.to_string())
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
}

/// `name=value` for each entry of `environment`, the override's winning by name.
fn environment(def: &Value, over: &Value) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    for e in
        def["environment"].as_array().into_iter().flatten().chain(over["environment"].as_array().into_iter().flatten())
    {
        let (k, v) = (e["name"].as_str().unwrap_or_default(), e["value"].as_str().unwrap_or_default());
        env.retain(|(old, _)| old != k);
        env.push((k.to_string(), v.to_string()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// `name=value` for each of the definition's `secrets`, resolved now (at container start).
fn secrets(f: &Fake, def: &Value) -> Vec<String> {
    let each = def["secrets"].as_array().into_iter().flatten();
    each.filter_map(|s| {
        Some(format!("{}={}", s["name"].as_str()?, crate::secrets::resolve(f, s["valueFrom"].as_str()?)?))
    })
    .collect()
}

/// Creates (does not start) container `def` of task `task_id` (whose volumes are the Docker
/// volumes in `volumes`, by name), with `over` (its entry of `containerOverrides`, or null)
/// and the task's `cpu` units.
pub async fn create(
    f: &Fake,
    task: (&str, &HashMap<String, String>),
    def: &Value,
    over: &Value,
    cpu: Option<u64>,
) -> Result<String, String> {
    let (task_id, volumes) = task;
    let name = def["name"].as_str().unwrap_or("c");
    let mounts = def["mountPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Mount {
            typ: Some(MountTypeEnum::VOLUME),
            source: volumes.get(m["sourceVolume"].as_str().unwrap_or_default()).cloned(),
            target: m["containerPath"].as_str().map(String::from),
            read_only: m["readOnly"].as_bool(),
            ..Mount::default()
        })
        .collect();
    let linux = &def["linuxParameters"];
    let memory = def["memory"].as_i64().map(|m| m << 20);
    let host_config = HostConfig {
        mounts: Some(mounts),
        readonly_rootfs: def["readonlyRootFilesystem"].as_bool(),
        cap_drop: strings(&linux["capabilities"]["drop"]),
        cap_add: strings(&linux["capabilities"]["add"]),
        init: linux["initProcessEnabled"].as_bool(),
        memory,
        memory_swap: memory,
        memory_reservation: def["memoryReservation"].as_i64().map(|m| m << 20),
        nano_cpus: cpu.map(|c| (c as i64) * 1_000_000_000 / 1024),
        ..HostConfig::default()
    };
    let mut labels = labels(&f.id, task_id);
    labels.insert("berth-ecs-fake.container".into(), name.to_string());
    let body = ContainerCreateBody {
        image: def["image"].as_str().map(String::from),
        entrypoint: strings(&def["entryPoint"]),
        cmd: strings(&over["command"]).or_else(|| strings(&def["command"])),
        env: Some(environment(def, over).into_iter().chain(secrets(f, def)).collect()),
        working_dir: def["workingDirectory"].as_str().map(String::from),
        user: def["user"].as_str().map(String::from),
        labels: Some(labels),
        tty: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&format!("fake-ecs-{task_id}-{name}")).build();
    f.docker.create_container(Some(options), body).await.map(|c| c.id).map_err(|e| e.to_string())
}

/// Follows container `id`'s output (both streams) into the log stream `key` until it
/// ends: one event per Docker log entry (a line, or a 16 KiB part of a longer one), with
/// Docker's timestamp, the newline dropped.
pub async fn follow_logs(f: Fake, id: String, key: (String, String)) {
    let options = LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).timestamps(true).build();
    let mut logs = f.docker.logs(&id, Some(options));
    while let Some(Ok(frame)) = logs.next().await {
        let bytes = frame.into_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let (stamp, message) = text.split_once(' ').unwrap_or(("", &text));
        let parsed =
            chrono::DateTime::parse_from_rfc3339(stamp).map(|t| t.to_utc()).unwrap_or_else(|_| chrono::Utc::now());
        let message = message.strip_suffix('\n').unwrap_or(message).to_string();
        let mut state = f.state.lock().unwrap();
        let visible = std::time::Instant::now() + state.faults.log_lag;
        let ingestion = chrono::Utc::now().timestamp_millis();
        let event = LogEvent { timestamp: parsed.timestamp_millis(), message, ingestion, visible };
        // In arrival order: tokens are positions, so nothing may go in before a reader.
        state.streams.entry(key.clone()).or_default().push(event);
    }
}

/// The containers and volumes of fake `fake` still on the engine.
pub async fn left(docker: &Docker, fake: &str) -> Vec<String> {
    let mine = format!("{FAKE_LABEL}={fake}");
    let filters = HashMap::from([("label", vec![mine.as_str()])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let containers = docker.list_containers(Some(options)).await.unwrap_or_default();
    let mut out: Vec<String> = containers.into_iter().flat_map(|c| c.names.unwrap_or_default()).collect();
    let efs = format!("{}={fake}", crate::efs::EFS_LABEL);
    for label in [mine.as_str(), efs.as_str()] {
        let filters = HashMap::from([("label", vec![label])]);
        let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let volumes = docker.list_volumes(Some(options)).await.ok().and_then(|v| v.volumes).unwrap_or_default();
        out.extend(volumes.into_iter().map(|v| format!("volume {}", v.name)));
    }
    out
}
