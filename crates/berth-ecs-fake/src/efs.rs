//! EFS access points, in small (restJson1, under `/2015-02-01/access-points`): create (one
//! per client token, available at once), describe (by id or file system, pages of 100),
//! delete. Each access point's directory is a Docker volume of its own that outlives tasks,
//! as a directory on a file system does; deleting the access point removes it here (on AWS
//! the data would stay on the file system), so a test leaves nothing behind.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::Fake;

/// The label on an access point's Docker volume: the fake's id.
pub const EFS_LABEL: &str = "berth-ecs-fake.efs";

pub fn routes() -> Router<Fake> {
    Router::new()
        .route("/2015-02-01/access-points", get(describe).post(create))
        .route("/2015-02-01/access-points/{id}", delete(remove))
}

/// Docker's name for access point `id`'s directory.
pub fn volume_name(id: &str) -> String {
    format!("fake-efs-{id}")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"ErrorCode": code, "Message": message, "__type": code});
    (status, [("x-amzn-errortype", code.to_string())], Json(body)).into_response()
}

async fn create(State(f): State<Fake>, Json(input): Json<Value>) -> Response {
    f.state.lock().unwrap().requests.push("CreateAccessPoint".into());
    let token = input["ClientToken"].as_str().unwrap_or_default().to_string();
    let fs = input["FileSystemId"].as_str().unwrap_or_default().to_string();
    if fs.is_empty() || token.is_empty() {
        return error(StatusCode::BAD_REQUEST, "BadRequest", "FileSystemId and ClientToken are required");
    }
    let existing = f.state.lock().unwrap().access_points.iter().find(|p| p["ClientToken"] == token.as_str()).cloned();
    if let Some(point) = existing {
        return Json(point).into_response();
    }
    let id = format!("fsap-{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
    let options = bollard::models::VolumeCreateRequest {
        name: Some(volume_name(&id)),
        labels: Some(HashMap::from([(EFS_LABEL.to_string(), f.id.clone())])),
        ..Default::default()
    };
    if let Err(e) = f.docker.create_volume(options).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &e.to_string());
    }
    let point = json!({
        "ClientToken": token,
        "Tags": input["Tags"],
        "AccessPointId": id,
        "AccessPointArn": format!("arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/{id}"),
        "FileSystemId": fs,
        "RootDirectory": input["RootDirectory"],
        "OwnerId": "000000000000",
        "LifeCycleState": "available",
    });
    f.state.lock().unwrap().access_points.push(point.clone());
    Json(point).into_response()
}

async fn describe(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut state = f.state.lock().unwrap();
    state.requests.push("DescribeAccessPoints".into());
    let matching: Vec<Value> = state
        .access_points
        .iter()
        .filter(|p| q.get("AccessPointId").is_none_or(|id| p["AccessPointId"] == id.as_str()))
        .filter(|p| q.get("FileSystemId").is_none_or(|fs| p["FileSystemId"] == fs.as_str()))
        .cloned()
        .collect();
    if let Some(id) = q.get("AccessPointId")
        && matching.is_empty()
    {
        return error(StatusCode::NOT_FOUND, "AccessPointNotFound", &format!("Access point {id} does not exist."));
    }
    let from: usize = q.get("NextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = matching.iter().skip(from).take(100).cloned().collect();
    let next = (from + page.len() < matching.len()).then(|| (from + page.len()).to_string());
    Json(json!({"AccessPoints": page, "NextToken": next})).into_response()
}

async fn remove(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let found = {
        let mut state = f.state.lock().unwrap();
        state.requests.push("DeleteAccessPoint".into());
        let before = state.access_points.len();
        state.access_points.retain(|p| p["AccessPointId"] != id.as_str());
        state.access_points.len() < before
    };
    if !found {
        return error(StatusCode::NOT_FOUND, "AccessPointNotFound", &format!("Access point {id} does not exist."));
    }
    let _ = f.docker.remove_volume(&volume_name(&id), None::<bollard::query_parameters::RemoveVolumeOptions>).await;
    StatusCode::NO_CONTENT.into_response()
}

/// The access point an EFS task volume names, if it exists: its Docker volume.
pub(crate) fn volume_of(f: &Fake, task_volume: &Value) -> Option<Result<String, String>> {
    let efs = task_volume.get("efsVolumeConfiguration").filter(|v| !v.is_null())?;
    let id = efs["authorizationConfig"]["accessPointId"].as_str().unwrap_or_default();
    let state = f.state.lock().unwrap();
    let known =
        state.access_points.iter().any(|p| p["AccessPointId"] == id && p["FileSystemId"] == efs["fileSystemId"]);
    Some(if known {
        Ok(volume_name(id))
    } else {
        Err(format!(
            "ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: access point {id} not found"
        ))
    })
}
