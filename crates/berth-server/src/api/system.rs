//! The server itself: liveness, readiness (store and engine reachable), workers, the audit
//! log, and Prometheus metrics.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::store::AuditRecord;
use serde::Deserialize;
use utoipa::IntoParams;

use berth_engine::breaker::BreakerState;

use crate::api::query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::telemetry;
use crate::views::{Health, WorkerView};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), checks: Default::default() })
}

/// The store and the container engine both answer.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Health), (status = 503, description = "Something is down", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut checks = std::collections::BTreeMap::new();
    // The probe is open to anyone: the causes go to the log, the body only says what is down.
    let store = state.runner.store().install_id().await.map(|_| ()).map_err(|e| {
        tracing::error!("readiness: the store does not answer: {e}");
        "unavailable".to_string()
    });
    let backend = state.runner.backend().ping().await.map_err(|e| {
        tracing::error!("readiness: the backend does not answer: {e}");
        "unavailable".to_string()
    });
    let breaker = state.worker.breaker.state();
    let ok = store.is_ok() && backend.is_ok() && breaker != BreakerState::Open;
    checks.insert(format!("circuit:{}", state.runner.backend().name()), breaker.as_str().into());
    checks.insert("store".to_string(), store.err().unwrap_or_else(|| "ok".into()));
    checks.insert(format!("backend:{}", state.runner.backend().name()), backend.err().unwrap_or_else(|| "ok".into()));
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Health { status: if ok { "ready" } else { "not_ready" }.into(), checks }))
}

/// Every registered worker (this server's own slots and `berth worker`s sharing the store),
/// with its heartbeat, load and circuit-breaker state.
#[utoipa::path(get, path = "/v1/workers", tag = "system",
    responses((status = 200, body = Vec<WorkerView>), (status = 401, body = ErrorBody)))]
pub async fn workers(
    State(state): State<AppState>,
    Extension(_who): Extension<Principal>,
) -> ApiResult<Json<Vec<WorkerView>>> {
    let now = state.runner.clock().now();
    let all = state.runner.store().list_workers().await?;
    Ok(Json(all.into_iter().map(|w| WorkerView::new(w, now)).collect()))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries older than this id (for paging).
    pub before: Option<i64>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Every state-changing API call and every container created or removed (admins only).
#[utoipa::path(get, path = "/v1/audit", tag = "system", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRecord>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    who.require_admin()?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit", "must be 1 to 1000"));
    }
    Ok(Json(state.runner.store().list_audit(q.before, limit).await?))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match telemetry::render(&state).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
