//! What a job gave back and what can be done to it while it runs: the result document,
//! artifacts, webhook deliveries, and `exec` in the running container.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::store::Delivery;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{query, visible_job};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::views::{ArtifactView, ContainerView, ExecRequest, ExecResponse};

/// Output kept per stream of an exec.
const EXEC_CAP: usize = 1 << 20;

/// The JSON document the job wrote to its result file (`$BERTH_OUTPUT_DIR/result.json`).
#[utoipa::path(get, path = "/v1/jobs/{id}/result", tag = "outputs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 200, description = "The result document", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such job, or it wrote no result", body = ErrorBody)))]
pub async fn result(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let job = visible_job(&state, &who, &id).await?;
    let none = || ApiError::new(StatusCode::NOT_FOUND, "no_result", format!("job {} has no result (yet)", job.id));
    job.result.clone().map(Json).ok_or_else(none)
}

/// The files the job left in `$BERTH_OUTPUT_DIR`, per attempt.
#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts", tag = "outputs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 200, body = Vec<ArtifactView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn artifacts(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ArtifactView>>> {
    let job = visible_job(&state, &who, &id).await?;
    let list = state.runner.store().list_artifacts(&job.id).await?;
    Ok(Json(list.into_iter().map(ArtifactView::from).collect()))
}

/// Download one artifact (of the latest attempt that has it). Encode `/` in names as `%2F`.
#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts/{name}", tag = "outputs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), ("name" = String, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn artifact(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let job = visible_job(&state, &who, &id).await?;
    let (_, data) = state.runner.artifact(&job, &name).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Bytes::from(data)).into_response())
}

/// The webhook calls made (or still to make) for this job.
#[utoipa::path(get, path = "/v1/jobs/{id}/deliveries", tag = "outputs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 200, body = Vec<Delivery>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Delivery>>> {
    let job = visible_job(&state, &who, &id).await?;
    Ok(Json(state.runner.store().list_deliveries(&job.id).await?))
}

/// The job's containers (one per attempt that got that far), as the engine's ledger
/// recorded them: planned, created, started, finished and removed times.
#[utoipa::path(get, path = "/v1/jobs/{id}/containers", tag = "outputs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 200, body = Vec<ContainerView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn containers(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ContainerView>>> {
    let job = visible_job(&state, &who, &id).await?;
    let rows = state.runner.store().list_containers(&job.id).await?;
    Ok(Json(rows.into_iter().map(ContainerView::from).collect()))
}

/// Run a command inside the job's running container (no shell, no stdin) and return its
/// exit code and output; with `detach=true`, start it and return at once (202, no output).
#[utoipa::path(post, path = "/v1/jobs/{id}/exec", tag = "jobs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), ExecQuery),
    request_body = ExecRequest,
    responses((status = 200, body = ExecResponse), (status = 202, description = "Started (detach=true)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The job is not running", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn exec(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<ExecQuery>, QueryRejection>,
    body: Result<Json<ExecRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let Json(req) = body.map_err(|e| ApiError::new(e.status(), "bad_body", e.body_text()))?;
    if let Some(problem) = req.problems().into_iter().next() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", problem.message).field(&problem.field));
    }
    let job = visible_job(&state, &who, &id).await?;
    if q.detach.unwrap_or(false) {
        state.runner.exec_detached(&job, &req).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let out = state.runner.exec(&job, &req, EXEC_CAP).await?;
    Ok(Json(ExecResponse {
        exit_code: out.exit_code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        truncated: out.truncated,
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecQuery {
    /// Start the command and return at once (`docker exec -d`): no output, no exit code.
    pub detach: Option<bool>,
}
