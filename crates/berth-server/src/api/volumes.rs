//! A tenant's named volumes: listed and removed through its own token (admins name any
//! tenant). A job's `mounts: [{type: volume, source: cache}]` always means its tenant's
//! `cache`, so these are the only volumes a tenant can reach.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use berth_core::backend::BackendError;
use berth_core::volumes::VolumeInfo;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VolumeQuery {
    /// Admins only: this tenant's volumes (listing without it shows every tenant's).
    pub tenant: Option<String>,
}

/// The caller's named volumes (an admin's: every tenant's, or `tenant`'s).
#[utoipa::path(get, path = "/v1/volumes", tag = "volumes", params(VolumeQuery),
    responses((status = 200, body = Vec<VolumeInfo>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_volumes(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<VolumeQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<VolumeInfo>>> {
    let q = query(q)?;
    let tenant = match (&q.tenant, who.admin) {
        (Some(t), true) => Some(t.clone()),
        (None, true) => None,
        (Some(_), false) => return Err(ApiError::forbidden("only admins name another tenant")),
        (None, false) => Some(who.tenant.clone()),
    };
    Ok(Json(state.runner.backend().list_volumes(state.runner.install_id(), tenant.as_deref()).await?))
}

/// Removes one of the caller's volumes (refused while a job uses it).
#[utoipa::path(delete, path = "/v1/volumes/{name}", tag = "volumes",
    params(("name" = String, Path, description = "The name jobs use"), VolumeQuery),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_volume(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: Result<Query<VolumeQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let q = query(q)?;
    berth_core::volumes::check_name(&name).map_err(|m| ApiError::bad_request("name", m))?;
    let tenant = match q.tenant {
        Some(t) if who.admin => t,
        Some(_) => return Err(ApiError::forbidden("only admins name another tenant")),
        None => who.tenant.clone(),
    };
    match state.runner.backend().remove_volume(state.runner.install_id(), &tenant, &name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(BackendError::Gone(m)) => Err(ApiError::not_found(m)),
        Err(e) => Err(e.into()),
    }
}
