//! Jobs: submit (with idempotency keys), list (filters, cursor pages), get, cancel, retry,
//! delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::clock::Timestamp;
use berth_core::secrets::hash_token;
use berth_core::spec_load::parse_spec;
use berth_core::status::JobStatus;
use berth_core::store::{Idempotency, JobCursor, JobFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{query, visible_job};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::views::{AttemptView, JobDetail, JobPage, JobView};

pub const MAX_PAGE: u32 = 500;

/// Submit a job. The body is a job spec (JSON). With an `Idempotency-Key` header, repeating
/// the same request returns the job made first (200) instead of a new one (201).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    request_body(content = berth_core::JobSpec, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this request safe")),
    responses(
        (status = 201, description = "Accepted and queued", body = JobView),
        (status = 200, description = "Replay of an earlier request with the same Idempotency-Key", body = JobView),
        (status = 400, description = "Not a JSON object, or a bad header", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "Refused by policy", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, description = "The spec breaks a rule", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), "too_large", e.body_text()),
        status => ApiError::new(status, "bad_body", e.body_text()),
    })?;
    let spec = spec_from_body(&body)?;
    let idempotency = idempotency_key(&headers)?
        .map(|key| Idempotency { key, fingerprint: hash_token(&serde_json::to_string(&spec).unwrap_or_default()) });
    let (job, created) = state.runner.enqueue(spec, &who.tenant, idempotency).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let location = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)).ok();
    let mut response = (status, Json(JobView::from(job))).into_response();
    if let Some(l) = location {
        response.headers_mut().insert(header::LOCATION, l);
    }
    Ok(response)
}

fn spec_from_body(body: &[u8]) -> ApiResult<berth_core::JobSpec> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("", "the body must be UTF-8 JSON"))?;
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad_request(
            "",
            "the body must be a JSON object: a job spec such as {\"image\": \"busybox\"}",
        ));
    }
    parse_spec(text).map_err(|e| ApiError::invalid_spec(vec![e]))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()) => Ok(Some(k.to_string())),
        _ => Err(ApiError::bad_request("Idempotency-Key", "must be 1 to 255 visible ASCII characters")),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses, e.g. `running,queued`.
    #[param(
        pattern = "^(queued|starting|running|succeeded|failed|timed_out|cancelled|lost|error)(,(queued|starting|running|succeeded|failed|timed_out|cancelled|lost|error))*$"
    )]
    pub status: Option<String>,
    /// Comma-separated `key=value` or `key` label matches (all must hold).
    pub label: Option<String>,
    pub queue: Option<String>,
    /// The spec's image, exactly.
    pub image: Option<String>,
    /// Only jobs this schedule made (its id).
    pub schedule: Option<String>,
    /// Only jobs created at or after this time (Unix epoch milliseconds).
    pub since: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[param(pattern = "^[0-9]+\\.[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

/// List jobs the caller can see, newest first, one page at a time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<JobPage>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let filter = JobFilter {
        statuses: parse_statuses(q.status.as_deref())?,
        limit: Some(limit + 1),
        tenant: (!who.admin).then(|| who.tenant.clone()),
        queue: q.queue,
        image: q.image,
        labels: parse_labels(q.label.as_deref()),
        since: q.since.map(Timestamp),
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
        owner: None,
        schedule: q.schedule,
    };
    let jobs = state.runner.store().list_jobs(&filter).await?;
    Ok(Json(page(jobs, limit)))
}

fn parse_statuses(s: Option<&str>) -> ApiResult<Vec<JobStatus>> {
    let Some(s) = s else { return Ok(Vec::new()) };
    s.split(',').map(|p| p.trim().parse().map_err(|m: String| ApiError::bad_request("status", m))).collect()
}

fn parse_labels(s: Option<&str>) -> Vec<(String, Option<String>)> {
    let Some(s) = s.filter(|s| !s.is_empty()) else { return Vec::new() };
    s.split(',')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p.to_string(), None),
        })
        .collect()
}

/// One page of a listing fetched with `limit + 1`: the extra row only says there is more.
pub(crate) fn page(mut jobs: Vec<berth_core::store::JobRecord>, limit: u32) -> JobPage {
    let more = jobs.len() > limit as usize;
    jobs.truncate(limit as usize);
    let next_cursor = more.then(|| jobs.last().map(|j| format!("{}.{}", j.created_at.0, j.id))).flatten();
    JobPage { jobs: jobs.into_iter().map(JobView::from).collect(), next_cursor }
}

pub(crate) fn parse_cursor(c: &str) -> ApiResult<JobCursor> {
    let bad = || ApiError::bad_request("cursor", "not a cursor from this API: pass `next_cursor` unchanged");
    let (at, id) = c.split_once('.').ok_or_else(bad)?;
    Ok(JobCursor { created_at: Timestamp(at.parse().map_err(|_| bad())?), id: id.parse().map_err(|_| bad())? })
}

/// A job with its attempts.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$", description = "Job id or a unique prefix of at least 4 characters")),
    responses((status = 200, body = JobDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobDetail>> {
    let job = visible_job(&state, &who, &id).await?;
    let attempts = state.runner.store().list_attempts(&job.id).await?;
    Ok(Json(JobDetail { job: job.into(), attempt_list: attempts.into_iter().map(AttemptView::from).collect() }))
}

/// Cancel a job: a queued job ends at once; a running one is stopped (stop signal, grace,
/// then kill) and its container removed.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 202, description = "Cancelled, or cancelling", body = JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody)))]
pub async fn cancel_job(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let job = visible_job(&state, &who, &id).await?;
    let local = |j: &berth_core::store::JobRecord| state.cancel_running(&j.id, &who.actor);
    let done = berth_engine::ops::cancel(
        state.runner.store().as_ref(),
        state.runner.clock().as_ref(),
        &job,
        &who.actor,
        &local,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(done.into())))
}

/// Run a job that ended without success again, as a new attempt.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 202, body = JobView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Not finished, or succeeded", body = ErrorBody)))]
pub async fn retry_job(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let job = visible_job(&state, &who, &id).await?;
    let queued = berth_engine::ops::retry(state.runner.store().as_ref(), state.runner.clock().as_ref(), &job).await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}

/// Delete a finished job with its logs, events, result and artifacts.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$")),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not finished yet", body = ErrorBody)))]
pub async fn delete_job(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let job = visible_job(&state, &who, &id).await?;
    berth_engine::ops::delete(state.runner.store().as_ref(), state.runner.paths(), &job).await?;
    Ok(StatusCode::NO_CONTENT)
}
