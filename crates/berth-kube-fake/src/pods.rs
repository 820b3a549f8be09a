//! The Job controller and the kubelet, in small: an unsuspended Job gets one pod; the pod's
//! volumes are made, its init containers run in turn, then its containers, and every state
//! change is written to the pod's status as the API shows it. Deleting a pod stops its
//! containers with the grace period and removes everything it made.

use std::time::Duration;

use base64::Engine;
use bollard::models::{Mount, MountType as MountTypeEnum};
use bollard::query_parameters::{RemoveContainerOptionsBuilder, StopContainerOptionsBuilder};
use serde_json::{Value, json};

use crate::objects::{self, now};
use crate::{CONTAINER_LABEL, Cluster, docker};

/// Gives an unsuspended Job that has no pod yet its pod.
pub async fn reconcile_job(c: &Cluster, ns: &str, name: &str) {
    let Some(job) = c.get("jobs", ns, name) else { return };
    if job["spec"]["suspend"] == json!(true) || !job["status"]["startTime"].is_null() {
        return;
    }
    c.update("jobs", ns, name, |j| {
        j["status"]["startTime"] = json!(now());
        j["status"]["active"] = json!(1);
    });
    let pod_name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5]);
    let template = &job["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    let uid = objects::uid(&job);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["job-name"] = json!(name);
    labels["batch.kubernetes.io/controller-uid"] = json!(uid);
    labels["controller-uid"] = json!(uid);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": ns, "uid": objects::new_uid(), "labels": labels,
            "creationTimestamp": now(),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true}]},
        "spec": template["spec"].clone(),
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    });
    c.record("pods", "ADDED", pod);
    tokio::spawn(run(c.clone(), ns.to_string(), pod_name));
    if let Some(deadline) = job["spec"]["activeDeadlineSeconds"].as_u64() {
        tokio::spawn(enforce_deadline(c.clone(), ns.to_string(), name.to_string(), deadline));
    }
}

fn deleting(c: &Cluster, ns: &str, pod: &str) -> bool {
    c.get("pods", ns, pod).is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null())
}

async fn run(c: Cluster, ns: String, pod: String) {
    if c.state.lock().unwrap().faults.unschedulable {
        c.update("pods", &ns, &pod, |p| {
            p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available.",
                "lastTransitionTime": now()}]);
        });
        return;
    }
    c.update("pods", &ns, &pod, |p| {
        p["spec"]["nodeName"] = json!("fake-node");
        p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}]);
        p["status"]["hostIP"] = json!("127.0.0.1");
    });
    if let Err(e) = start(&c, &ns, &pod).await {
        tracing::debug!("pod {pod}: {e}");
    }
}

async fn start(c: &Cluster, ns: &str, pod: &str) -> Result<(), String> {
    let spec = c.get("pods", ns, pod).ok_or("gone")?["spec"].clone();
    let inits: Vec<Value> = spec["initContainers"].as_array().cloned().unwrap_or_default();
    let mains: Vec<Value> = spec["containers"].as_array().cloned().unwrap_or_default();
    for container in inits.iter().chain(&mains) {
        wait_for_image(c, ns, pod, container).await?;
    }
    let volumes = make_volumes(c, ns, pod, &spec).await?;
    for (i, init) in inits.iter().enumerate() {
        let id = create(c, ns, pod, init, &volumes).await?;
        set_status(c, ns, pod, "initContainerStatuses", i, init, running(&id));
        c.docker.start_container(&id, None).await.map_err(|e| e.to_string())?;
        let code = wait_exit(c, &id).await;
        set_status(c, ns, pod, "initContainerStatuses", i, init, terminated(c, &id, code).await);
        if code != 0 {
            return finish(c, ns, pod).await;
        }
    }
    let mut ids = Vec::new();
    for (i, main) in mains.iter().enumerate() {
        let id = create(c, ns, pod, main, &volumes).await?;
        set_status(c, ns, pod, "containerStatuses", i, main, json!({"waiting": {"reason": "ContainerCreating"}}));
        ids.push((i, main.clone(), id));
    }
    for (i, main, id) in &ids {
        c.docker.start_container(id, None).await.map_err(|e| e.to_string())?;
        set_status(c, ns, pod, "containerStatuses", *i, main, running(id));
    }
    c.update("pods", ns, pod, |p| {
        if p["metadata"]["deletionTimestamp"].is_null() {
            p["status"]["phase"] = json!("Running");
        }
        p["status"]["startTime"] = json!(now());
    });
    let waits = ids.into_iter().map(|(i, main, id)| {
        let c = c.clone();
        async move {
            let code = wait_exit(&c, &id).await;
            set_status(&c, ns, pod, "containerStatuses", i, &main, terminated(&c, &id, code).await);
        }
    });
    futures::future::join_all(waits).await;
    finish(c, ns, pod).await
}

fn running(id: &str) -> Value {
    json!({"running": {"startedAt": now()}, "containerID": format!("docker://{id}")})
}

async fn terminated(c: &Cluster, id: &str, code: i64) -> Value {
    let mut state = c.docker.inspect_container(id, None).await.ok().and_then(|i| i.state);
    // The engine sets `OOMKilled` on its `oom` event, which can come after the exit on a
    // loaded machine: a SIGKILLed container is read again for up to 2 s.
    for _ in 0..if code == 137 { 20 } else { 0 } {
        if state.as_ref().and_then(|s| s.oom_killed) == Some(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        state = c.docker.inspect_container(id, None).await.ok().and_then(|i| i.state);
    }
    let oom = state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false);
    let reason = match (oom, code) {
        (true, _) => "OOMKilled",
        (false, 0) => "Completed",
        _ => "Error",
    };
    let started = state.as_ref().and_then(|s| s.started_at.clone()).unwrap_or_else(now);
    let finished = state.as_ref().and_then(|s| s.finished_at.clone()).unwrap_or_else(now);
    json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished,
        "containerID": format!("docker://{id}")}, "containerID": format!("docker://{id}")})
}

async fn wait_exit(c: &Cluster, id: &str) -> i64 {
    use futures::StreamExt;
    match c.docker.wait_container(id, None).next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        _ => 137,
    }
}

/// Writes the state of container `i` into `field` of the pod's status.
fn set_status(c: &Cluster, ns: &str, pod: &str, field: &str, i: usize, spec: &Value, state: Value) {
    c.update("pods", ns, pod, |p| {
        if p["status"]["reason"] == json!("NodeLost") {
            return; // a lost node reports nothing
        }
        let statuses = &mut p["status"][field];
        if !statuses.is_array() {
            *statuses = json!([]);
        }
        let list = statuses.as_array_mut().unwrap();
        while list.len() <= i {
            list.push(json!({}));
        }
        let id = state["containerID"].clone();
        let mut state = state;
        if let Some(o) = state.as_object_mut() {
            o.remove("containerID");
        }
        let ready = state.get("running").is_some();
        list[i] = json!({"name": spec["name"], "image": spec["image"], "imageID": "", "ready": ready,
            "restartCount": 0, "started": ready, "state": state});
        if !id.is_null() {
            list[i]["containerID"] = id;
        }
    });
}

/// Waits for every container's image to be on the engine, showing ErrImagePull and then
/// ImagePullBackOff while it is not (no registry is reachable: nothing is pulled).
async fn wait_for_image(c: &Cluster, ns: &str, pod: &str, container: &Value) -> Result<(), String> {
    let image = container["image"].as_str().unwrap_or_default();
    let mut tries = 0u32;
    while c.docker.inspect_image(image).await.is_err() {
        if deleting(c, ns, pod) {
            return Err("deleted while pulling".into());
        }
        let reason = if tries == 0 { "ErrImagePull" } else { "ImagePullBackOff" };
        let message = format!("Back-off pulling image \"{image}\": not found");
        let field = if is_init(c, ns, pod, container) { "initContainerStatuses" } else { "containerStatuses" };
        let i = index_of(c, ns, pod, container);
        set_status(c, ns, pod, field, i, container, json!({"waiting": {"reason": reason, "message": message}}));
        tries += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn is_init(c: &Cluster, ns: &str, pod: &str, container: &Value) -> bool {
    let p = c.get("pods", ns, pod).unwrap_or_default();
    p["spec"]["initContainers"].as_array().is_some_and(|a| a.iter().any(|x| x["name"] == container["name"]))
}

fn index_of(c: &Cluster, ns: &str, pod: &str, container: &Value) -> usize {
    let p = c.get("pods", ns, pod).unwrap_or_default();
    let field = if is_init(c, ns, pod, container) { "initContainers" } else { "containers" };
    p["spec"][field].as_array().and_then(|a| a.iter().position(|x| x["name"] == container["name"])).unwrap_or(0)
}

/// Each volume as a Docker mount source: emptyDir → a labelled volume (tmpfs for
/// `medium: Memory`), secret → a directory of its items.
struct Volumes(Vec<(String, Mount)>);

async fn make_volumes(c: &Cluster, ns: &str, pod: &str, spec: &Value) -> Result<Volumes, String> {
    let mut out = Vec::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        if v["emptyDir"]["medium"] == json!("Memory") {
            out.push((name, Mount { typ: Some(MountTypeEnum::TMPFS), ..Mount::default() }));
        } else if v.get("emptyDir").is_some() {
            let volume = format!("fake-{pod}-{name}");
            let labels = std::collections::HashMap::from([(CONTAINER_LABEL.to_string(), pod.to_string())]);
            let options = bollard::models::VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels),
                ..Default::default()
            };
            c.docker.create_volume(options).await.map_err(|e| e.to_string())?;
            let mount = Mount { typ: Some(MountTypeEnum::VOLUME), source: Some(volume), ..Mount::default() };
            out.push((name, mount));
        } else if let Some(secret) = v["secret"]["secretName"].as_str() {
            let dir = write_secret(c, ns, pod, &name, secret, &v["secret"]).await?;
            let mount = Mount { typ: Some(MountTypeEnum::BIND), source: Some(dir), ..Mount::default() };
            out.push((name, mount));
        }
    }
    Ok(Volumes(out))
}

/// The Secret's items as files (the kubelet waits for a Secret that is not there yet).
async fn write_secret(
    c: &Cluster,
    ns: &str,
    pod: &str,
    volume: &str,
    name: &str,
    source: &Value,
) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut secret = None;
    for _ in 0..100 {
        secret = c.get("secrets", ns, name);
        if secret.is_some() || deleting(c, ns, pod) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secret = secret.ok_or(format!("MountVolume.SetUp failed: secret \"{name}\" not found"))?;
    let dir = c.volumes_dir.path().join(pod).join(volume);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let default_mode = source["defaultMode"].as_u64().unwrap_or(0o644) as u32;
    let items: Vec<(String, String, u32)> = match source["items"].as_array() {
        Some(items) => items
            .iter()
            .map(|i| {
                let mode = i["mode"].as_u64().map_or(default_mode, |m| m as u32);
                (i["key"].as_str().unwrap_or_default().into(), i["path"].as_str().unwrap_or_default().into(), mode)
            })
            .collect(),
        None => secret["data"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| (k.clone(), k.clone(), default_mode))
            .collect(),
    };
    for (key, path, mode) in items {
        let data = secret["data"][&key].as_str().unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| e.to_string())?;
        let file = dir.join(&path);
        std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    }
    Ok(dir.to_string_lossy().into_owned())
}

async fn create(c: &Cluster, ns: &str, pod: &str, spec: &Value, volumes: &Volumes) -> Result<String, String> {
    let mut mounts = Vec::new();
    for m in spec["volumeMounts"].as_array().into_iter().flatten() {
        let Some((_, source)) = volumes.0.iter().find(|(n, _)| *n == m["name"].as_str().unwrap_or_default()) else {
            continue;
        };
        let mut mount = source.clone();
        if let (Some(sub), Some(src)) = (m["subPath"].as_str(), &mount.source) {
            mount.source = Some(format!("{src}/{sub}"));
        }
        mount.target = m["mountPath"].as_str().map(String::from);
        mount.read_only = m["readOnly"].as_bool();
        mounts.push(mount);
    }
    let pod_json = c.get("pods", ns, pod).ok_or("gone")?;
    let secrets = c.state.lock().unwrap().secrets.clone();
    let value = |secret: &str, key: &str| {
        let data = secrets.get(&(ns.to_string(), secret.to_string()))?["data"][key].as_str()?.to_string();
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
        String::from_utf8(bytes).ok()
    };
    docker::create(&c.docker, &c.id, &pod_json, spec, mounts, value).await
}

/// The pod's phase from its containers, once all have ended, and the Job's from the pod.
async fn finish(c: &Cluster, ns: &str, pod: &str) -> Result<(), String> {
    let Some(p) = c.get("pods", ns, pod) else { return Ok(()) };
    let codes = |field: &str| -> Vec<i64> {
        p["status"][field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["state"]["terminated"]["exitCode"].as_i64().unwrap_or(1))
            .collect()
    };
    let ok = codes("initContainerStatuses").iter().chain(&codes("containerStatuses")).all(|c| *c == 0);
    let phase = if ok { "Succeeded" } else { "Failed" };
    c.update("pods", ns, pod, |p| {
        if p["status"]["reason"].is_null() {
            p["status"]["phase"] = json!(phase);
        }
    });
    let job = p["metadata"]["ownerReferences"][0]["name"].as_str().unwrap_or_default().to_string();
    job_ended(c, ns, &job, ok, if ok { "" } else { "BackoffLimitExceeded" });
    Ok(())
}

/// Marks the Job finished (once), and removes it after its ttlSecondsAfterFinished.
fn job_ended(c: &Cluster, ns: &str, job: &str, ok: bool, reason: &str) {
    let Some(j) = c.get("jobs", ns, job) else { return };
    if j["status"]["conditions"].is_array() {
        return;
    }
    c.update("jobs", ns, job, |j| {
        j["status"]["active"] = json!(0);
        if ok {
            j["status"]["succeeded"] = json!(1);
            j["status"]["completionTime"] = json!(now());
            j["status"]["conditions"] = json!([
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now()},
                {"type": "Complete", "status": "True", "lastTransitionTime": now()}]);
        } else {
            j["status"]["failed"] = json!(1);
            let message = if reason == "DeadlineExceeded" { "Job was active longer than specified deadline" } else { "Job has reached the specified backoff limit" };
            j["status"]["conditions"] = json!([
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message, "lastTransitionTime": now()},
                {"type": "Failed", "status": "True", "reason": reason, "message": message, "lastTransitionTime": now()}]);
        }
    });
    if let Some(ttl) = j["spec"]["ttlSecondsAfterFinished"].as_u64() {
        let (c, ns, job) = (c.clone(), ns.to_string(), job.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(ttl)).await;
            if let Some(j) = c.get("jobs", &ns, &job) {
                delete_owned_pods(&c, &ns, &objects::uid(&j)).await;
                c.record("jobs", "DELETED", j);
            }
        });
    }
}

async fn delete_owned_pods(c: &Cluster, ns: &str, uid: &str) {
    let pods: Vec<String> = c
        .state
        .lock()
        .unwrap()
        .pods
        .iter()
        .filter(|((n, _), p)| n == ns && p["metadata"]["ownerReferences"][0]["uid"] == json!(uid))
        .map(|((_, name), _)| name.clone())
        .collect();
    for pod in pods {
        delete(c, ns, &pod, None).await;
    }
}

async fn enforce_deadline(c: Cluster, ns: String, job: String, secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let Some(j) = c.get("jobs", &ns, &job) else { return };
    if j["status"]["conditions"].is_array() {
        return;
    }
    job_ended(&c, &ns, &job, false, "DeadlineExceeded");
    delete_owned_pods(&c, &ns, &objects::uid(&j)).await;
}

/// Starts deleting the pod: marks it, stops its containers with the grace period (the
/// given one, else its spec's), then removes them and their volumes, and the pod.
pub async fn delete(c: &Cluster, ns: &str, pod: &str, grace: Option<u64>) -> Option<Value> {
    let p = c.get("pods", ns, pod)?;
    if !p["metadata"]["deletionTimestamp"].is_null() {
        return Some(p);
    }
    let grace = grace.or(p["spec"]["terminationGracePeriodSeconds"].as_u64()).unwrap_or(30);
    let marked = c.update("pods", ns, pod, |p| {
        p["metadata"]["deletionTimestamp"] = json!(now());
        p["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    })?;
    tokio::spawn(terminate(c.clone(), ns.to_string(), pod.to_string(), grace));
    Some(marked)
}

async fn terminate(c: Cluster, ns: String, pod: String, grace: u64) {
    let ids = container_ids(&c, &ns, &pod);
    let stops = ids.iter().map(|id| {
        let options = StopContainerOptionsBuilder::new().t(grace as i32).build();
        c.docker.stop_container(id, Some(options))
    });
    futures::future::join_all(stops).await;
    // Let the container watchers write the terminated states, as the kubelet would.
    for _ in 0..50 {
        let Some(p) = c.get("pods", &ns, &pod) else { break };
        let all = ["initContainerStatuses", "containerStatuses"]
            .iter()
            .all(|f| p["status"][f].as_array().into_iter().flatten().all(|s| s["state"].get("running").is_none()));
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    remove_all(&c, &pod, &ids).await;
    if let Some(p) = c.get("pods", &ns, &pod) {
        let job = p["metadata"]["ownerReferences"][0]["name"].as_str().unwrap_or_default().to_string();
        if p["status"]["phase"] != json!("Succeeded") {
            job_ended(&c, &ns, &job, false, "BackoffLimitExceeded");
        }
        c.record("pods", "DELETED", p);
    }
}

fn container_ids(c: &Cluster, ns: &str, pod: &str) -> Vec<String> {
    let Some(p) = c.get("pods", ns, pod) else { return Vec::new() };
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|f| p["status"][f].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["containerID"].as_str().map(|id| id.trim_start_matches("docker://").to_string()))
        .collect()
}

async fn remove_all(c: &Cluster, pod: &str, ids: &[String]) {
    let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    for id in ids {
        let _ = c.docker.remove_container(id, Some(options.clone())).await;
    }
    // Containers made but not yet in the status (a delete during start).
    for name in docker::containers_left(&c.docker, &c.id).await {
        if name.trim_start_matches('/').starts_with(&format!("fake-{pod}-")) {
            let _ = c.docker.remove_container(name.trim_start_matches('/'), Some(options.clone())).await;
        }
    }
    let volumes = c.docker.list_volumes(None::<bollard::query_parameters::ListVolumesOptions>).await.ok();
    for v in volumes.and_then(|v| v.volumes).unwrap_or_default() {
        if v.labels.get(CONTAINER_LABEL).map(String::as_str) == Some(pod) {
            let _ = c.docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
        }
    }
    let _ = std::fs::remove_dir_all(c.volumes_dir.path().join(pod));
}

/// The kubelet kills the pod's containers and fails it with `reason` (eviction); for
/// `NodeLost` the node goes silent instead: no container state is written, the pod is
/// marked unknown and then deleted, as taint-based eviction does.
pub async fn fail(c: &Cluster, ns: &str, pod: &str, reason: &str, message: &str) {
    let ids = container_ids(c, ns, pod);
    if reason == "NodeLost" {
        c.update("pods", ns, pod, |p| {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": message, "lastTransitionTime": now()}]);
            p["status"]["reason"] = json!(reason);
        });
        let Some(p) = c.get("pods", ns, pod) else { return };
        remove_all(c, pod, &ids).await;
        let job = p["metadata"]["ownerReferences"][0]["name"].as_str().unwrap_or_default().to_string();
        job_ended(c, ns, &job, false, "BackoffLimitExceeded");
        c.record("pods", "DELETED", p);
        return;
    }
    c.update("pods", ns, pod, |p| {
        p["status"]["reason"] = json!(reason);
        p["status"]["message"] = json!(message);
        p["status"]["phase"] = json!("Failed");
    });
    for id in &ids {
        let _ = c.docker.kill_container(id, None::<bollard::query_parameters::KillContainerOptions>).await;
    }
}
