//! A pod's container as a Docker container: the container JSON of a pod spec translated to
//! a create body (command and args, env with secretKeyRef, user, read-only root,
//! capabilities, memory and CPU limits, stdin), and the cleanup.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder};
use serde_json::Value;

use crate::{CLUSTER_LABEL, CONTAINER_LABEL};

/// Docker's name for a pod's container.
pub fn container_name(pod: &str, container: &str) -> String {
    format!("fake-{pod}-{container}")
}

/// Creates (does not start) `spec`, a container of pod `pod`, with `mounts`; `secrets` are
/// the namespace's Secrets' decoded data, for `valueFrom.secretKeyRef`.
pub async fn create(
    docker: &Docker,
    cluster: &str,
    pod: &Value,
    spec: &Value,
    mounts: Vec<Mount>,
    secret_value: impl Fn(&str, &str) -> Option<String>,
) -> Result<String, String> {
    let pod_name = crate::objects::name(pod);
    let name = spec["name"].as_str().unwrap_or("c");
    let strings = |v: &Value| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect());
    let command: Option<Vec<String>> = strings(&spec["command"]);
    let args: Option<Vec<String>> = strings(&spec["args"]);
    let mut env = Vec::new();
    for e in spec["env"].as_array().into_iter().flatten() {
        let key = e["name"].as_str().unwrap_or_default();
        let value = match (&e["value"], &e["valueFrom"]["secretKeyRef"]) {
            (Value::String(v), _) => v.clone(),
            (_, Value::Object(r)) => {
                let (secret, k) = (r["name"].as_str().unwrap_or_default(), r["key"].as_str().unwrap_or_default());
                secret_value(secret, k).ok_or(format!("secret \"{secret}\" has no key \"{k}\""))?
            }
            _ => String::new(),
        };
        env.push(format!("{key}={value}"));
    }
    let sc = &spec["securityContext"];
    let user = match (sc["runAsUser"].as_i64(), sc["runAsGroup"].as_i64()) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        _ => None,
    };
    let limits = &spec["resources"]["limits"];
    let memory = limits["memory"].as_str().and_then(quantity_bytes);
    let stdin = spec["stdin"].as_bool().unwrap_or(false);
    let host_config = HostConfig {
        mounts: Some(mounts),
        readonly_rootfs: sc["readOnlyRootFilesystem"].as_bool(),
        cap_drop: strings(&sc["capabilities"]["drop"]),
        cap_add: strings(&sc["capabilities"]["add"]),
        security_opt: (sc["allowPrivilegeEscalation"] == Value::Bool(false)).then(|| vec!["no-new-privileges".into()]),
        privileged: sc["privileged"].as_bool(),
        memory,
        memory_swap: memory,
        nano_cpus: limits["cpu"].as_str().and_then(cpu_nanos),
        extra_hosts: host_aliases(&pod["spec"]),
        // A shared process namespace makes the pause container pid 1: Docker's init is the
        // nearest thing (the job is not pid 1, zombies are reaped).
        init: pod["spec"]["shareProcessNamespace"].as_bool(),
        ..HostConfig::default()
    };
    let mut labels = HashMap::from([(CONTAINER_LABEL.to_string(), pod_name.clone())]);
    labels.insert("berth-kube-fake.container".into(), name.to_string());
    labels.insert(CLUSTER_LABEL.into(), cluster.to_string());
    let body = ContainerCreateBody {
        image: spec["image"].as_str().map(String::from),
        // Kubernetes' command is Docker's entrypoint, its args Docker's CMD.
        entrypoint: command.clone(),
        cmd: args.or(command.map(|_| Vec::new())),
        env: Some(env),
        working_dir: spec["workingDir"].as_str().map(String::from),
        user,
        hostname: pod["spec"]["hostname"].as_str().map(String::from),
        labels: Some(labels),
        open_stdin: Some(stdin),
        stdin_once: Some(spec["stdinOnce"].as_bool().unwrap_or(false)),
        attach_stdin: Some(stdin),
        tty: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&container_name(&pod_name, name)).build();
    docker.create_container(Some(options), body).await.map(|c| c.id).map_err(|e| e.to_string())
}

fn host_aliases(spec: &Value) -> Option<Vec<String>> {
    let out: Vec<String> = spec["hostAliases"]
        .as_array()?
        .iter()
        .flat_map(|a| {
            let ip = a["ip"].as_str().unwrap_or_default().to_string();
            a["hostnames"].as_array().into_iter().flatten().filter_map(move |h| Some(format!("{}:{ip}", h.as_str()?)))
        })
        .collect();
    Some(out)
}

/// `536870912`, `512Mi`, `1Gi`, `64M`... in bytes.
pub fn quantity_bytes(q: &str) -> Option<i64> {
    let units =
        [("Ki", 1i64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000)];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<i64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// `1500m` or `1.5` CPUs in nano-CPUs.
fn cpu_nanos(q: &str) -> Option<i64> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<i64>().ok().map(|m| m * 1_000_000),
        None => q.parse::<f64>().ok().map(|c| (c * 1e9) as i64),
    }
}

/// The containers of the fake `cluster` still on the engine.
pub async fn containers_left(docker: &Docker, cluster: &str) -> Vec<String> {
    let mine = format!("{CLUSTER_LABEL}={cluster}");
    let filters = HashMap::from([("label", vec![mine.as_str()])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let found = docker.list_containers(Some(options)).await.unwrap_or_default();
    found.into_iter().flat_map(|c| c.names.unwrap_or_default()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantities() {
        assert_eq!(super::quantity_bytes("512Mi"), Some(512 << 20));
        assert_eq!(super::quantity_bytes("25165824"), Some(25_165_824));
        assert_eq!(super::cpu_nanos("1500m"), Some(1_500_000_000));
    }
}
