//! Tasks: RunTask (its checks, `clientToken` idempotency, the scripted capacity failures),
//! DescribeTasks with `MISSING` failures, StopTask, ListTasks, tags, and clusters.

use std::time::Instant;

use serde_json::{Value, json};

use crate::api::{Answer, AwsError, cluster_name, text};
use crate::{ARN_PREFIX, Fake, Task, agent, now_secs, taskdefs};

fn invalid(message: &str) -> AwsError {
    AwsError::client("InvalidParameterException", message)
}

pub fn describe_clusters(f: &Fake, input: &Value) -> Answer {
    let state = f.state.lock().unwrap();
    let asked: Vec<String> = match input["clusters"].as_array() {
        Some(a) => a.iter().filter_map(Value::as_str).map(|c| c.rsplit('/').next().unwrap_or(c).to_string()).collect(),
        None => vec!["default".into()],
    };
    let (mut clusters, mut failures) = (Vec::new(), Vec::new());
    for name in asked {
        let arn = format!("{ARN_PREFIX}:cluster/{name}");
        if state.clusters.contains(&name) {
            let running =
                state.tasks.values().filter(|t| t.cluster == name && t.json["lastStatus"] == "RUNNING").count();
            clusters.push(
                json!({"clusterArn": arn, "clusterName": name, "status": "ACTIVE", "runningTasksCount": running}),
            );
        } else {
            failures.push(json!({"arn": arn, "reason": "MISSING"}));
        }
    }
    Ok(json!({"clusters": clusters, "failures": failures}))
}

pub fn create_cluster(f: &Fake, input: &Value) -> Answer {
    let name = text(input, "clusterName").unwrap_or("default").to_string();
    f.state.lock().unwrap().clusters.insert(name.clone());
    Ok(
        json!({"cluster": {"clusterArn": format!("{ARN_PREFIX}:cluster/{name}"), "clusterName": name, "status": "ACTIVE"}}),
    )
}

pub fn run(f: &Fake, input: &Value) -> Answer {
    let cluster = cluster_name(input);
    if !f.state.lock().unwrap().clusters.contains(&cluster) {
        return Err(AwsError::client("ClusterNotFoundException", "Cluster not found."));
    }
    let reference = text(input, "taskDefinition").unwrap_or_default();
    let (def, _) = taskdefs::find(f, reference).ok_or_else(|| invalid("TaskDefinition not found."))?;
    if input.get("launchType").is_some() && input.get("capacityProviderStrategy").is_some() {
        return Err(invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ));
    }
    let subnets = &input["networkConfiguration"]["awsvpcConfiguration"]["subnets"];
    if def["networkMode"] == "awsvpc" && subnets.as_array().is_none_or(Vec::is_empty) {
        return Err(invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified."));
    }
    if input["count"].as_u64().unwrap_or(1) != 1 {
        return Err(invalid("The fake runs one task per RunTask (count 1)."));
    }
    let overrides = input.get("overrides").cloned().unwrap_or(json!({}));
    if overrides.to_string().len() > 8192 {
        return Err(AwsError::client("ClientException", "Container Overrides length must be at most 8192"));
    }
    let token = text(input, "clientToken").map(|t| (cluster.clone(), t.to_string()));
    let mut state = f.state.lock().unwrap();
    if let Some(arn) = token.as_ref().and_then(|t| state.tokens.get(t))
        && let Some(task) = state.tasks.get(arn)
    {
        return Ok(json!({"tasks": [task.json], "failures": []}));
    }
    if state.faults.no_capacity > 0 {
        state.faults.no_capacity -= 1;
        let reason = "Capacity is unavailable at this time. Please try again later or in a different availability zone";
        return Ok(json!({"tasks": [], "failures": [{"reason": reason}]}));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let arn = format!("{ARN_PREFIX}:task/{cluster}/{id}");
    let json = task_json(&arn, &cluster, &def, input, overrides);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = Task { json: json.clone(), cluster, created: Instant::now(), stop };
    state.tasks.insert(arn.clone(), task);
    if let Some(t) = token {
        state.tokens.insert(t, arn.clone());
    }
    drop(state);
    tokio::spawn(agent::run(f.clone(), arn, def, stopped));
    Ok(json!({"tasks": [json], "failures": []}))
}

fn task_json(arn: &str, cluster: &str, def: &Value, input: &Value, overrides: Value) -> Value {
    let containers: Vec<Value> = def["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let id = uuid::Uuid::new_v4().simple();
            json!({"containerArn": format!("{ARN_PREFIX}:container/{cluster}/{id}"), "taskArn": arn,
                "name": c["name"], "image": c["image"], "lastStatus": "PENDING"})
        })
        .collect();
    let capacity = input["capacityProviderStrategy"][0]["capacityProvider"].as_str();
    json!({
        "taskArn": arn,
        "clusterArn": format!("{ARN_PREFIX}:cluster/{cluster}"),
        "taskDefinitionArn": def["taskDefinitionArn"],
        "group": format!("family:{}", def["family"].as_str().unwrap_or_default()),
        "lastStatus": "PROVISIONING",
        "desiredStatus": "RUNNING",
        "launchType": if capacity.is_some() { Value::Null } else { input.get("launchType").cloned().unwrap_or(json!("EC2")) },
        "capacityProviderName": capacity,
        "cpu": overrides.get("cpu").cloned().unwrap_or(def["cpu"].clone()),
        "memory": overrides.get("memory").cloned().unwrap_or(def["memory"].clone()),
        "startedBy": input["startedBy"],
        "tags": input.get("tags").cloned().unwrap_or(json!([])),
        "overrides": overrides,
        "createdAt": now_secs(),
        "containers": containers,
        "attachments": [{"id": uuid::Uuid::new_v4().to_string(), "type": "ElasticNetworkInterface", "status": "PRECREATED",
            "details": [{"name": "subnetId", "value": input["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0]}]}],
        "version": 1,
    })
}

/// The task `reference` (an ARN, or a task id in any cluster) names.
fn resolve(f: &Fake, reference: &str) -> Option<String> {
    let state = f.state.lock().unwrap();
    if state.tasks.contains_key(reference) {
        return Some(reference.to_string());
    }
    state.tasks.keys().find(|k| k.rsplit('/').next() == Some(reference)).cloned()
}

pub fn describe(f: &Fake, input: &Value) -> Answer {
    let asked: Vec<&str> = input["tasks"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if asked.len() > 100 {
        return Err(invalid("Tasks cannot be longer than 100 elements."));
    }
    let wants_tags = input["include"].as_array().is_some_and(|a| a.iter().any(|i| i == "TAGS"));
    let (mut tasks, mut failures) = (Vec::new(), Vec::new());
    for reference in asked {
        let found = resolve(f, reference).and_then(|arn| {
            let state = f.state.lock().unwrap();
            let t = state.tasks.get(&arn)?;
            let hidden = state.faults.missing_for.is_some_and(|d| t.created.elapsed() < d);
            (!hidden).then(|| t.json.clone())
        });
        match found {
            Some(mut json) => {
                if !wants_tags && let Some(o) = json.as_object_mut() {
                    o.remove("tags");
                }
                tasks.push(json);
            }
            None => failures.push(json!({"arn": reference, "reason": "MISSING"})),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}

/// Decides that task `arn` stops, with `code` and `reason`, unless it already is stopping.
pub fn stop(f: &Fake, arn: &str, code: &str, reason: &str) {
    let mut state = f.state.lock().unwrap();
    let deletes_tags = state.faults.stop_deletes_tags;
    let Some(task) = state.tasks.get_mut(arn) else { return };
    if task.json["desiredStatus"] == "STOPPED" {
        return;
    }
    task.json["desiredStatus"] = json!("STOPPED");
    task.json["stopCode"] = json!(code);
    task.json["stoppedReason"] = json!(reason);
    task.json["stoppingAt"] = json!(now_secs());
    if deletes_tags && code == "UserInitiated" {
        task.json["tags"] = json!([]);
    }
    let _ = task.stop.send(true);
}

pub fn stop_task(f: &Fake, input: &Value) -> Answer {
    let reference = text(input, "task").unwrap_or_default();
    let arn = resolve(f, reference).ok_or_else(|| invalid("The referenced task was not found."))?;
    let reason = text(input, "reason").unwrap_or("Task stopped by user");
    if reason.chars().count() > 255 {
        return Err(invalid("Reason must be at most 255 characters."));
    }
    stop(f, &arn, "UserInitiated", reason);
    Ok(json!({"task": f.task_json(&arn)}))
}

pub fn list(f: &Fake, input: &Value) -> Answer {
    let cluster = cluster_name(input);
    let desired = text(input, "desiredStatus").unwrap_or("RUNNING");
    let started_by = text(input, "startedBy");
    let family = text(input, "family");
    let page = input["maxResults"].as_u64().unwrap_or(100).min(100) as usize;
    let from: usize = text(input, "nextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let state = f.state.lock().unwrap();
    let arns: Vec<String> = state
        .tasks
        .iter()
        .filter(|(_, t)| t.cluster == cluster && t.json["desiredStatus"] == desired)
        .filter(|(_, t)| started_by.is_none_or(|s| t.json["startedBy"] == s))
        .filter(|(_, t)| family.is_none_or(|fam| t.json["group"] == format!("family:{fam}")))
        .map(|(arn, _)| arn.clone())
        .collect();
    let next = (arns.len() > from + page).then(|| (from + page).to_string());
    Ok(json!({"taskArns": arns.iter().skip(from).take(page).collect::<Vec<_>>(), "nextToken": next}))
}

pub fn tag(f: &Fake, input: &Value) -> Answer {
    let arn = text(input, "resourceArn").unwrap_or_default();
    let new: Vec<Value> = input["tags"].as_array().cloned().unwrap_or_default();
    let mut state = f.state.lock().unwrap();
    let task = state.tasks.get_mut(arn).ok_or_else(|| invalid("The specified resource was not found."))?;
    let tags = task.json["tags"].as_array_mut();
    let Some(tags) = tags else {
        task.json["tags"] = json!(new);
        return Ok(json!({}));
    };
    for t in new {
        tags.retain(|old| old["key"] != t["key"]);
        tags.push(t);
    }
    Ok(json!({}))
}

pub fn list_tags(f: &Fake, input: &Value) -> Answer {
    let arn = text(input, "resourceArn").unwrap_or_default();
    let state = f.state.lock().unwrap();
    let task = state.tasks.get(arn).ok_or_else(|| invalid("The specified resource was not found."))?;
    Ok(json!({"tags": task.json["tags"]}))
}
