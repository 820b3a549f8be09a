//! The routes: Jobs, Pods and Secrets as the API server serves them.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::objects::{self, not_found, status};
use crate::{Cluster, pods, streams, watch};

type Params = Query<HashMap<String, String>>;

pub fn router(cluster: Cluster) -> Router {
    let jobs = "/apis/batch/v1/namespaces/{ns}/jobs";
    let pods = "/api/v1/namespaces/{ns}/pods";
    Router::new()
        .route("/version", get(version))
        .route(jobs, get(list_jobs).post(create_job))
        .route(&format!("{jobs}/{{name}}"), get(get_job).patch(patch_job).delete(delete_job))
        .route(pods, get(list_pods))
        .route(&format!("{pods}/{{name}}"), get(get_pod).delete(delete_pod))
        .route(&format!("{pods}/{{name}}/log"), get(streams::log))
        .route(&format!("{pods}/{{name}}/exec"), get(streams::exec))
        .route(&format!("{pods}/{{name}}/attach"), get(streams::attach))
        .route("/api/v1/namespaces/{ns}/secrets", axum::routing::post(create_secret))
        .route("/api/v1/namespaces/{ns}/secrets/{name}", get(get_secret).delete(delete_secret))
        .layer(middleware::from_fn_with_state(cluster.clone(), remember))
        .with_state(cluster)
}

async fn remember(State(c): State<Cluster>, req: Request, next: Next) -> Response {
    let line = format!("{} {}", req.method(), req.uri());
    let down = {
        let mut state = c.state.lock().unwrap();
        state.requests.push(line);
        state.faults.outage_until.is_some_and(|t| std::time::Instant::now() < t)
    };
    if down {
        return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "etcdserver: request timed out");
    }
    next.run(req).await
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-berth-fake", "gitCommit": "fake",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64",
    }))
}

fn body_json(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| status(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()))
}

async fn list_jobs(State(c): State<Cluster>, Path(ns): Path<String>, Query(q): Params) -> Response {
    list_or_watch(&c, "jobs", &ns, &q).await
}

async fn list_pods(State(c): State<Cluster>, Path(ns): Path<String>, Query(q): Params) -> Response {
    list_or_watch(&c, "pods", &ns, &q).await
}

async fn list_or_watch(c: &Cluster, kind: &'static str, ns: &str, q: &HashMap<String, String>) -> Response {
    let (labels, fields) = (q.get("labelSelector").map(String::as_str), q.get("fieldSelector").map(String::as_str));
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch::stream(c, kind, ns, q).await;
    }
    let state = c.state.lock().unwrap();
    let map = if kind == "jobs" { &state.jobs } else { &state.pods };
    let items: Vec<Value> = map
        .iter()
        .filter(|((n, _), o)| n == ns && objects::matches(o, labels, fields))
        .map(|(_, o)| o.clone())
        .collect();
    let list_kind = if kind == "jobs" { "JobList" } else { "PodList" };
    axum::Json(objects::list(list_kind, items, state.version)).into_response()
}

async fn create_job(State(c): State<Cluster>, Path(ns): Path<String>, body: Bytes) -> Response {
    let mut job = match body_json(&body) {
        Ok(j) => j,
        Err(e) => return e,
    };
    let name = objects::name(&job);
    if name.is_empty() {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "Job.batch \"\" is invalid: metadata.name: Required value",
        );
    }
    if c.get("jobs", &ns, &name).is_some() {
        return status(StatusCode::CONFLICT, "AlreadyExists", format!("jobs.batch \"{name}\" already exists"));
    }
    job["metadata"]["namespace"] = json!(ns);
    job["metadata"]["uid"] = json!(objects::new_uid());
    job["metadata"]["creationTimestamp"] = json!(objects::now());
    job["status"] = json!({});
    let job = c.record("jobs", "ADDED", job);
    pods::reconcile_job(&c, &ns, &name).await;
    (StatusCode::CREATED, axum::Json(job)).into_response()
}

async fn get_job(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>) -> Response {
    match c.get("jobs", &ns, &name) {
        Some(j) => axum::Json(j).into_response(),
        None => not_found("jobs.batch", &name),
    }
}

async fn patch_job(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>, body: Bytes) -> Response {
    let patch = match body_json(&body) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some(job) = c.update("jobs", &ns, &name, |j| objects::merge(j, &patch)) else {
        return not_found("jobs.batch", &name);
    };
    pods::reconcile_job(&c, &ns, &name).await;
    axum::Json(c.get("jobs", &ns, &name).unwrap_or(job)).into_response()
}

async fn delete_job(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>, body: Bytes) -> Response {
    let options = body_json(&body).unwrap_or(Value::Null);
    let Some(job) = c.get("jobs", &ns, &name) else { return not_found("jobs.batch", &name) };
    // batch/v1 Jobs still default to orphaning their pods (kubernetes#20902).
    let policy = options["propagationPolicy"].as_str().unwrap_or("Orphan").to_string();
    let uid = objects::uid(&job);
    let owned: Vec<String> = c
        .state
        .lock()
        .unwrap()
        .pods
        .iter()
        .filter(|((n, _), p)| *n == ns && p["metadata"]["ownerReferences"][0]["uid"] == json!(uid))
        .map(|((_, p), _)| p.clone())
        .collect();
    for pod in owned {
        if policy == "Orphan" {
            c.update("pods", &ns, &pod, |p| {
                p["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
            });
        } else {
            pods::delete(&c, &ns, &pod, None).await;
        }
    }
    let secrets: Vec<(String, String)> = c
        .state
        .lock()
        .unwrap()
        .secrets
        .iter()
        .filter(|(_, s)| {
            s["metadata"]["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|r| r["uid"] == json!(uid)))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for key in secrets {
        c.state.lock().unwrap().secrets.remove(&key);
    }
    let gone = c.record("jobs", "DELETED", job);
    axum::Json(gone).into_response()
}

async fn get_pod(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>) -> Response {
    match c.get("pods", &ns, &name) {
        Some(p) => axum::Json(p).into_response(),
        None => not_found("pods", &name),
    }
}

async fn delete_pod(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>, body: Bytes) -> Response {
    let options = body_json(&body).unwrap_or(Value::Null);
    let grace = options["gracePeriodSeconds"].as_u64();
    match pods::delete(&c, &ns, &name, grace).await {
        Some(p) => axum::Json(p).into_response(),
        None => not_found("pods", &name),
    }
}

async fn create_secret(State(c): State<Cluster>, Path(ns): Path<String>, body: Bytes) -> Response {
    let mut secret = match body_json(&body) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let name = objects::name(&secret);
    let key = (ns.clone(), name.clone());
    let mut state = c.state.lock().unwrap();
    if state.secrets.contains_key(&key) {
        return status(StatusCode::CONFLICT, "AlreadyExists", format!("secrets \"{name}\" already exists"));
    }
    state.version += 1;
    secret["metadata"]["namespace"] = json!(ns);
    secret["metadata"]["uid"] = json!(objects::new_uid());
    secret["metadata"]["resourceVersion"] = json!(state.version.to_string());
    state.secrets.insert(key, secret.clone());
    (StatusCode::CREATED, axum::Json(secret)).into_response()
}

async fn get_secret(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>) -> Response {
    match c.get("secrets", &ns, &name) {
        Some(s) => axum::Json(s).into_response(),
        None => not_found("secrets", &name),
    }
}

async fn delete_secret(State(c): State<Cluster>, Path((ns, name)): Path<(String, String)>) -> Response {
    match c.state.lock().unwrap().secrets.remove(&(ns, name.clone())) {
        Some(s) => axum::Json(s).into_response(),
        None => not_found("secrets", &name),
    }
}
