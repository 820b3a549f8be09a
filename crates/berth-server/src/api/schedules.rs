//! `/v1/schedules`: a tenant's cron schedules (create, read, change with a JSON merge patch,
//! delete), their actions (trigger, pause, resume), the jobs each made, and previews of due
//! times, for a saved schedule or an expression not saved yet.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use berth_core::clock::Timestamp;
use berth_core::schedule::{CronExpr, Pause, ScheduleConfig, ScheduleRecord, ScheduleState};
use berth_core::spec_load::FieldError;
use berth_core::store::JobFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::jobs::{page, parse_cursor};
use crate::api::query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::views::{JobPage, JobView};

/// A schedule: its config as written, where its clock stands, and its next due times.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    pub tenant: String,
    pub state: ScheduleState,
    /// Why, by whom and since when it is paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<Pause>,
    /// The expression in words, e.g. "At 03:00".
    pub describe: String,
    /// The next due time (Unix epoch milliseconds) and on the zone's wall clock.
    pub next_due_at: Option<i64>,
    pub next_due_local: Option<String>,
    /// `queue-one`: the due time waiting for the running job to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(flatten)]
    pub config: ScheduleConfig,
}

impl ScheduleView {
    pub fn new(mut s: ScheduleRecord) -> ScheduleView {
        let expr = CronExpr::parse(&s.config.cron, &s.config.timezone).ok();
        let local = |t: Timestamp| expr.as_ref().map(|e| e.local(t));
        s.config.spec = s.config.spec.redacted();
        ScheduleView {
            id: s.id.clone(),
            tenant: s.tenant.clone(),
            state: s.state(),
            describe: expr.as_ref().map(CronExpr::describe).unwrap_or_default(),
            next_due_local: s.next_due_at.and_then(local),
            next_due_at: s.next_due_at.map(|t| t.0),
            waiting_due_at: s.waiting_due_at.map(|t| t.0),
            created_at: s.created_at.0,
            updated_at: s.updated_at.0,
            paused: s.paused,
            config: s.config,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

/// Due times of an expression: instants and the zone's wall clock.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub describe: String,
    /// Unix epoch milliseconds.
    pub times: Vec<i64>,
    /// The same instants on the zone's wall clock, e.g. `2026-03-29 03:00:00 CEST`.
    pub local: Vec<String>,
}

pub fn preview(expr: &CronExpr, after: Timestamp, count: usize) -> Preview {
    let times = expr.upcoming(after, count);
    Preview {
        describe: expr.describe(),
        local: times.iter().map(|t| expr.local(*t)).collect(),
        times: times.into_iter().map(|t| t.0).collect(),
    }
}

const MAX_PREVIEW: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The expression (5 or 6 fields, or `@daily` and the like).
    pub cron: String,
    /// An IANA time zone (default UTC).
    pub timezone: Option<String>,
    /// How many due times, 1 to 100 (default 5).
    #[param(minimum = 1, maximum = 100)]
    pub count: Option<usize>,
    /// Due times after this instant (Unix epoch milliseconds; default now).
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// How many due times, 1 to 100 (default 5).
    #[param(minimum = 1, maximum = 100)]
    pub count: Option<usize>,
}

fn count(n: Option<usize>) -> ApiResult<usize> {
    let n = n.unwrap_or(5);
    if (1..=MAX_PREVIEW).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::bad_request("count", format!("must be 1 to {MAX_PREVIEW}")))
    }
}

fn invalid(e: FieldError) -> ApiError {
    ApiError::invalid_spec(vec![e]).code("invalid_schedule")
}

/// The next due times of an expression not saved yet (also checks it: errors name `cron` or `timezone`).
#[utoipa::path(get, path = "/v1/schedules/preview", tag = "schedules", params(PreviewQuery),
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn preview_expression(
    State(state): State<AppState>,
    q: Result<Query<PreviewQuery>, QueryRejection>,
) -> ApiResult<Json<Preview>> {
    let q = query(q)?;
    let n = count(q.count)?;
    let expr = CronExpr::parse(&q.cron, q.timezone.as_deref().unwrap_or("UTC")).map_err(invalid)?;
    let after = q.after.map_or_else(|| state.runner.clock().now(), Timestamp);
    Ok(Json(preview(&expr, after, n)))
}

/// Creates a schedule for the caller's tenant. Its spec is checked like a submission (the
/// policy, secrets, the backend); its first due time is the first after now.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules",
    request_body(content = ScheduleConfig, content_type = "application/json"),
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "The tenant has a schedule by that name", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    let text = object_text(&body)?;
    let config: ScheduleConfig = berth_core::spec_load::parse_document(text).map_err(invalid)?;
    let made = state.runner.create_schedule(&who.tenant, config, &who.actor).await.map_err(submit_error)?;
    Ok((StatusCode::CREATED, Json(ScheduleView::new(made))))
}

/// The caller's schedules (an admin's: every tenant's), by tenant and name.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules",
    responses((status = 200, body = ScheduleList), (status = 401, body = ErrorBody)))]
pub async fn list_schedules(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Json<ScheduleList>> {
    let tenant = (!who.admin).then_some(who.tenant.as_str());
    let all = state.runner.store().list_schedules(tenant).await?;
    Ok(Json(ScheduleList { schedules: all.into_iter().map(ScheduleView::new).collect() }))
}

/// One schedule, by id or by name.
#[utoipa::path(get, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn get_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    Ok(Json(ScheduleView::new(visible(&state, &who, &id).await?)))
}

/// Changes a schedule with a JSON merge patch over its config (`{"cron": "0 4 * * *"}`;
/// `null` removes a field). `"paused": true|false` pauses or resumes. A changed expression,
/// zone or end date moves the next due time to the first after now under the new rule.
#[utoipa::path(patch, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn patch_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ScheduleView>> {
    let mut patch: serde_json::Value = serde_json::from_str(object_text(&body)?)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_body", format!("not JSON: {e}")))?;
    let s = visible(&state, &who, &id).await?;
    let pause = match patch.as_object_mut().and_then(|o| o.remove("paused")) {
        None => None,
        Some(serde_json::Value::Bool(p)) => Some(p),
        Some(_) => return Err(ApiError::bad_request("paused", "expected true or false")),
    };
    let mut s = if patch.as_object().is_some_and(|o| !o.is_empty()) {
        state.runner.change_schedule(&s, &patch).await.map_err(submit_error)?
    } else {
        s
    };
    match pause {
        Some(true) => s = state.runner.pause_schedule(&s, &who.actor, "").await.map_err(submit_error)?,
        Some(false) if s.paused.is_some() => s = state.runner.resume_schedule(&s).await.map_err(submit_error)?,
        _ => {}
    }
    Ok(Json(ScheduleView::new(s)))
}

/// Deletes a schedule; the jobs it made stay (they keep its id).
#[utoipa::path(delete, path = "/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = visible(&state, &who, &id).await?;
    state.runner.store().delete_schedule(&s.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs the schedule's job now, whatever its overlap policy and even while paused.
#[utoipa::path(post, path = "/v1/schedules/{id}/trigger", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    responses((status = 201, body = JobView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn trigger_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let s = visible(&state, &who, &id).await?;
    let job = state.runner.trigger_schedule(&s).await.map_err(submit_error)?;
    Ok((StatusCode::CREATED, Json(JobView::from(job))))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// Shown with the schedule while it is paused.
    #[serde(default)]
    pub reason: String,
}

/// Pauses a schedule: no due time runs until it is resumed (pausing twice keeps the first pause).
#[utoipa::path(post, path = "/v1/schedules/{id}/pause", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    request_body(content = Option<PauseBody>, content_type = "application/json"),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn pause_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ScheduleView>> {
    let why: PauseBody = if body.iter().all(u8::is_ascii_whitespace) {
        PauseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_body", e.to_string()))?
    };
    let s = visible(&state, &who, &id).await?;
    Ok(Json(ScheduleView::new(state.runner.pause_schedule(&s, &who.actor, &why.reason).await?)))
}

/// Resumes a schedule: due times that passed while paused do not run; failures in a row
/// are counted afresh.
#[utoipa::path(post, path = "/v1/schedules/{id}/resume", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn resume_schedule(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let s = visible(&state, &who, &id).await?;
    Ok(Json(ScheduleView::new(state.runner.resume_schedule(&s).await.map_err(submit_error)?)))
}

/// The next due times of a saved schedule.
#[utoipa::path(get, path = "/v1/schedules/{id}/next", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name"), NextQuery),
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn next_due_times(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<NextQuery>, QueryRejection>,
) -> ApiResult<Json<Preview>> {
    let n = count(query(q)?.count)?;
    let s = visible(&state, &who, &id).await?;
    Ok(Json(schedule_preview(&s, state.runner.clock().now(), n).map_err(invalid)?))
}

/// The next `n` due times of a saved schedule after `now`, none past its `end_at`.
pub fn schedule_preview(s: &ScheduleRecord, now: Timestamp, n: usize) -> Result<Preview, FieldError> {
    let expr = CronExpr::parse(&s.config.cron, &s.config.timezone)?;
    let mut p = preview(&expr, now, n);
    if let Some(end) = s.config.end_time() {
        let keep = p.times.iter().take_while(|t| **t <= end.0).count();
        p.times.truncate(keep);
        p.local.truncate(keep);
    }
    Ok(p)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// The jobs a schedule made, newest first; each shows `schedule_id` and `scheduled_at`.
#[utoipa::path(get, path = "/v1/schedules/{id}/jobs", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id or name"), JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An admin named a schedule more than one tenant has: use its id", body = ErrorBody)))]
pub async fn schedule_jobs(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<JobsQuery>, QueryRejection>,
) -> ApiResult<Json<JobPage>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit", "must be 1 to 500"));
    }
    let s = visible(&state, &who, &id).await?;
    let filter = JobFilter {
        schedule: Some(s.id.clone()),
        tenant: Some(s.tenant.clone()),
        limit: Some(limit + 1),
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
        ..JobFilter::default()
    };
    let jobs = state.runner.store().list_jobs(&filter).await?;
    Ok(Json(page(jobs, limit)))
}

/// The schedule with this id or name if the caller may see it; 404 otherwise.
async fn visible(state: &AppState, who: &Principal, key: &str) -> ApiResult<ScheduleRecord> {
    let tenant = (!who.admin).then_some(who.tenant.as_str());
    let s = state.runner.store().find_schedule(key, tenant).await.map_err(|e| match e {
        berth_core::store::StoreError::NotFound(_) => {
            ApiError::not_found(format!("no schedule is named or has the id `{key}`"))
        }
        e => e.into(),
    })?;
    if who.admin || s.tenant == who.tenant { Ok(s) } else { Err(ApiError::not_found(format!("no schedule `{key}`"))) }
}

fn object_text(body: &[u8]) -> ApiResult<&str> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("", "the body must be UTF-8 JSON"))?;
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad_request("", "the body must be a JSON object"));
    }
    Ok(text)
}

/// Field errors of a schedule are `invalid_schedule`; the rest as for jobs.
fn submit_error(e: berth_engine::submit::SubmitError) -> ApiError {
    match e {
        berth_engine::submit::SubmitError::Invalid(errors) => ApiError::invalid_spec(errors.0).code("invalid_schedule"),
        other => other.into(),
    }
}
