//! The ECS agent, in small: a task walks PROVISIONING → PENDING → RUNNING → DEACTIVATING →
//! STOPPING → DEPROVISIONING → STOPPED. Its images must be on the engine (nothing is
//! pulled), its volumes become Docker volumes (an EFS one, its access point's), and each container starts when its
//! `dependsOn` conditions hold (START, COMPLETE, SUCCESS; one that can never hold means it
//! never starts). The task stops when an essential container exits or a stop is decided
//! (StopTask, a Spot interruption): containers that have not started never will, running
//! ones get `docker stop` with their `stopTimeout`, in reverse order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::{EventsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{Fake, docker, now_secs, tasks};

const TICK: Duration = Duration::from_millis(25);
/// The container a task-level start failure is shown on.
const MAIN_CONTAINER: &str = "main";
const OOM_REASON: &str = "OutOfMemoryError: Container killed due to memory usage";

#[derive(Clone, Debug, PartialEq)]
enum Run {
    Waiting,
    Running(String),
    Exited(i64),
    /// It never started (a dependency cannot hold, the task is stopping, or it failed to).
    Never,
}

impl Run {
    fn done(&self) -> bool {
        matches!(self, Run::Exited(_) | Run::Never)
    }
}

/// What every container future of one task shares.
#[derive(Clone)]
struct Shared {
    f: Fake,
    arn: String,
    task_id: String,
    runs: Arc<Mutex<HashMap<String, Run>>>,
    stopping: Arc<AtomicBool>,
    cpu: Option<u64>,
    /// The task's volumes as Docker volumes, by name (set while provisioning).
    volumes: Arc<Mutex<HashMap<String, String>>>,
}

impl Shared {
    fn set(&self, name: &str, run: Run) {
        self.runs.lock().unwrap().insert(name.to_string(), run);
    }

    fn container(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        self.f.edit(&self.arn, |t| {
            if let Some(c) = t["containers"].as_array_mut().and_then(|a| a.iter_mut().find(|c| c["name"] == name)) {
                edit(c);
            }
        });
    }

    fn status(&self, status: &str) {
        self.f.edit(&self.arn, |t| t["lastStatus"] = json!(status));
    }
}

pub async fn run(f: Fake, arn: String, def: Value, mut stop: tokio::sync::watch::Receiver<bool>) {
    f.agents.fetch_add(1, Ordering::SeqCst);
    let task_id = arn.rsplit('/').next().unwrap_or_default().to_string();
    let cpu = f.task_json(&arn).and_then(|t| t["cpu"].as_str().and_then(|c| c.parse().ok()));
    let shared = Shared {
        f: f.clone(),
        arn: arn.clone(),
        task_id: task_id.clone(),
        runs: Arc::default(),
        stopping: Arc::default(),
        cpu,
        volumes: Arc::default(),
    };
    lifecycle(&shared, &def, &mut stop).await;
    let step = f.step_delay();
    shared.status("DEPROVISIONING");
    tokio::time::sleep(step).await;
    remove_all(&f, &task_id).await;
    f.edit(&arn, |t| {
        t["lastStatus"] = json!("STOPPED");
        t["executionStoppedAt"] = json!(now_secs());
        t["stoppedAt"] = json!(now_secs());
        t["desiredStatus"] = json!("STOPPED");
    });
    let retention = f.state.lock().unwrap().faults.stopped_retention;
    f.agents.fetch_sub(1, Ordering::SeqCst);
    tokio::time::sleep(retention).await;
    f.state.lock().unwrap().tasks.remove(&arn);
}

async fn lifecycle(s: &Shared, def: &Value, stop: &mut tokio::sync::watch::Receiver<bool>) {
    let containers: Vec<Value> = def["containerDefinitions"].as_array().cloned().unwrap_or_default();
    tokio::time::sleep(s.f.step_delay()).await;
    if *stop.borrow() {
        return;
    }
    s.status("PENDING");
    if let Err((container, reason)) = provision(s, def, &containers).await {
        s.container(&container, |c| {
            c["lastStatus"] = json!("STOPPED");
            c["reason"] = json!(reason);
        });
        tasks::stop(&s.f, &s.arn, "TaskFailedToStart", &reason);
        return;
    }
    let overrides = s.f.task_json(&s.arn).map(|t| t["overrides"]["containerOverrides"].clone()).unwrap_or_default();
    let mut running = tokio::task::JoinSet::new();
    for c in &containers {
        let name = c["name"].as_str().unwrap_or_default().to_string();
        s.set(&name, Run::Waiting);
        let over = overrides.as_array().and_then(|a| a.iter().find(|o| o["name"] == c["name"]).cloned());
        running.spawn(container(s.clone(), c.clone(), over.unwrap_or(Value::Null)));
    }
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(TICK) => {}
        }
        let runs = s.runs.lock().unwrap().clone();
        let essential_done = containers.iter().any(|c| {
            c["essential"] != false && runs.get(c["name"].as_str().unwrap_or_default()).is_some_and(Run::done)
        });
        if essential_done {
            tasks::stop(&s.f, &s.arn, "EssentialContainerExited", "Essential container in task exited");
            break;
        }
        if runs.values().all(Run::done) {
            break;
        }
    }
    s.stopping.store(true, Ordering::SeqCst);
    s.status("DEACTIVATING");
    tokio::time::sleep(s.f.step_delay()).await;
    s.status("STOPPING");
    for c in containers.iter().rev() {
        let run = s.runs.lock().unwrap().get(c["name"].as_str().unwrap_or_default()).cloned();
        if let Some(Run::Running(id)) = run {
            stop_container(&s.f, &id, c).await;
        }
    }
    while running.join_next().await.is_some() {}
}

/// Checks the images and secrets and makes the volumes; `Err((container, reason))` stops
/// the task as failed to start.
async fn provision(s: &Shared, def: &Value, containers: &[Value]) -> Result<(), (String, String)> {
    for c in containers {
        let name = c["name"].as_str().unwrap_or_default().to_string();
        let image = c["image"].as_str().unwrap_or_default();
        if s.f.docker.inspect_image(image).await.is_err() {
            let why = format!(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: not found"
            );
            return Err((name, why));
        }
        for secret in c["secrets"].as_array().into_iter().flatten() {
            let from = secret["valueFrom"].as_str().unwrap_or_default();
            if crate::secrets::resolve(&s.f, from).is_none() {
                let why = format!(
                    "ResourceInitializationError: unable to pull secrets or registry auth: retrieving secret from {from}: ResourceNotFoundException"
                );
                return Err((name, why));
            }
        }
    }
    for v in def["volumes"].as_array().into_iter().flatten() {
        let volume = v["name"].as_str().unwrap_or_default();
        let docker_name = match crate::efs::volume_of(&s.f, v) {
            Some(found) => found.map_err(|why| (MAIN_CONTAINER.to_string(), why))?,
            None => {
                docker::make_volume(&s.f, &s.task_id, volume).await.map_err(|e| (String::new(), e))?;
                docker::volume_name(&s.task_id, volume)
            }
        };
        s.volumes.lock().unwrap().insert(volume.to_string(), docker_name);
    }
    Ok(())
}

/// Whether `def`'s dependencies hold (`Some(true)`), cannot any more (`Some(false)`), or
/// may yet (`None`).
fn ready(def: &Value, runs: &HashMap<String, Run>) -> Option<bool> {
    for d in def["dependsOn"].as_array().into_iter().flatten() {
        let run = runs.get(d["containerName"].as_str().unwrap_or_default()).cloned().unwrap_or(Run::Never);
        let holds = match (d["condition"].as_str().unwrap_or("START"), &run) {
            (_, Run::Never) => Some(false),
            ("START", Run::Running(_) | Run::Exited(_)) => Some(true),
            ("COMPLETE", Run::Exited(_)) => Some(true),
            ("SUCCESS", Run::Exited(code)) => Some(*code == 0),
            _ => None,
        };
        match holds {
            Some(true) => {}
            other => return other,
        }
    }
    Some(true)
}

async fn container(s: Shared, def: Value, over: Value) {
    let name = def["name"].as_str().unwrap_or_default().to_string();
    loop {
        let verdict = ready(&def, &s.runs.lock().unwrap());
        if s.stopping.load(Ordering::SeqCst) || verdict == Some(false) {
            s.set(&name, Run::Never);
            s.container(&name, |c| c["lastStatus"] = json!("STOPPED"));
            return;
        }
        if verdict == Some(true) {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let never = |why: String| {
        s.set(&name, Run::Never);
        s.container(&name, |c| {
            c["lastStatus"] = json!("STOPPED");
            c["reason"] = json!(format!("CannotStartContainerError: {why}"));
        });
    };
    let volumes = s.volumes.lock().unwrap().clone();
    let id = match docker::create(&s.f, (&s.task_id, &volumes), &def, &over, s.cpu).await {
        Ok(id) => id,
        Err(e) => return never(e),
    };
    let oom = Arc::new(AtomicBool::new(false));
    // From a second before start, taken here: a watcher task scheduled late on a loaded
    // machine still replays an `oom` that came first.
    let since = (now_secs() as u64).saturating_sub(1);
    let watcher = tokio::spawn(watch_oom(s.f.clone(), id.clone(), oom.clone(), since));
    let log = &def["logConfiguration"];
    let key = (log["logDriver"] == "awslogs").then(|| {
        let options = &log["options"];
        let group = options["awslogs-group"].as_str().unwrap_or_default().to_string();
        let prefix = options["awslogs-stream-prefix"].as_str().unwrap_or_default();
        (group, format!("{prefix}/{name}/{}", s.task_id))
    });
    if let Err(e) = s.f.docker.start_container(&id, None).await {
        watcher.abort();
        return never(e.to_string());
    }
    let follower = key.map(|key| {
        s.f.state.lock().unwrap().streams.entry(key.clone()).or_default();
        tokio::spawn(docker::follow_logs(s.f.clone(), id.clone(), key))
    });
    s.set(&name, Run::Running(id.clone()));
    if s.stopping.load(Ordering::SeqCst) {
        // The stop began while this one was starting: the stop loop did not see it.
        stop_container(&s.f, &id, &def).await;
    }
    s.container(&name, |c| {
        c["lastStatus"] = json!("RUNNING");
        c["runtimeId"] = json!(id);
    });
    s.f.edit(&s.arn, |t| {
        if matches!(t["lastStatus"].as_str(), Some("PROVISIONING" | "PENDING" | "ACTIVATING")) {
            t["lastStatus"] = json!("RUNNING");
            t["startedAt"] = json!(now_secs());
            t["pullStartedAt"] = t["createdAt"].clone();
            t["pullStoppedAt"] = json!(now_secs());
        }
    });
    let code = wait_exit(&s.f, &id).await;
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    // The engine's `oom` event can come after the exit, later still on a loaded machine.
    for _ in 0..if code == 137 { 40 } else { 2 } {
        if oom.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let flagged = s.f.docker.inspect_container(&id, None).await.ok().and_then(|i| i.state?.oom_killed);
    let oom_killed = oom.load(Ordering::SeqCst) || flagged == Some(true);
    s.container(&name, |c| {
        c["lastStatus"] = json!("STOPPED");
        c["exitCode"] = json!(code);
        if oom_killed {
            c["reason"] = json!(OOM_REASON);
        }
    });
    s.set(&name, Run::Exited(code));
}

/// `docker stop` with the container definition's `stopTimeout` (ECS' default: 30 s).
async fn stop_container(f: &Fake, id: &str, def: &Value) {
    let secs = def["stopTimeout"].as_i64().unwrap_or(30) as i32;
    let _ = f.docker.stop_container(id, Some(StopContainerOptionsBuilder::new().t(secs).build())).await;
}

async fn wait_exit(f: &Fake, id: &str) -> i64 {
    match f.docker.wait_container(id, None).next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        _ => 137,
    }
}

/// Sets `flag` on the container's `oom` event (the engine's `OOMKilled` can miss one).
async fn watch_oom(f: Fake, id: String, flag: Arc<AtomicBool>, since: u64) {
    let filters = HashMap::from([("container", vec![id.as_str()]), ("event", vec!["oom"])]);
    let options = EventsOptionsBuilder::new().since(&since.to_string()).filters(&filters).build();
    let mut events = f.docker.events(Some(options));
    if let Some(Ok(_)) = events.next().await {
        flag.store(true, Ordering::SeqCst);
    }
}

/// Removes the task's containers and volumes (its log streams stay).
async fn remove_all(f: &Fake, task_id: &str) {
    let filters = HashMap::from([("label", vec![format!("{}={task_id}", crate::TASK_LABEL)])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    for c in f.docker.list_containers(Some(options)).await.unwrap_or_default() {
        let Some(id) = c.id else { continue };
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        let _ = f.docker.remove_container(&id, Some(options)).await;
    }
    let options = bollard::query_parameters::ListVolumesOptionsBuilder::new().filters(&filters).build();
    let volumes = f.docker.list_volumes(Some(options)).await.ok().and_then(|v| v.volumes).unwrap_or_default();
    for v in volumes {
        let _ = f.docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
    }
}
