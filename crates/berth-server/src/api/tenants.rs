//! A tenant's policy: what its jobs may ask for (the server policy with the tenant's override
//! laid over it). Admins read and change any tenant's; a tenant's token reads its own.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use berth_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// The policy a tenant's jobs are checked against, and the override that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPolicy {
    pub tenant: String,
    /// The rules in force: the server policy with `override` laid over it.
    #[schema(value_type = Object)]
    pub effective: serde_json::Value,
    /// Only what differs from the server policy; absent when the tenant has none.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub patch: Option<serde_json::Value>,
}

/// The policy a tenant's jobs are checked against (admins: any tenant; others: their own).
#[utoipa::path(get, path = "/v1/tenants/{name}/policy", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses((status = 200, body = TenantPolicy), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantPolicy>> {
    if !who.admin && who.tenant != name {
        return Err(ApiError::not_found(format!("no tenant `{name}`")));
    }
    view(&state, &name).await.map(Json)
}

/// Replaces a tenant's override (admins only). The body is a JSON object of the rules that
/// differ from the server policy, e.g. `{"cap_add": ["NET_ADMIN"], "ceilings": {"cpus": 2}}`;
/// jobs are checked against it at submit and again when a worker claims them.
#[utoipa::path(put, path = "/v1/tenants/{name}/policy", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = TenantPolicy), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "Not a policy", body = ErrorBody)))]
pub async fn put_policy(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<TenantPolicy>> {
    who.require_admin()?;
    let patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_body", format!("not JSON: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_body", "a policy is a JSON object"));
    }
    state.runner.policy().patched(&patch, "").map_err(|e| {
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy", e.clone())
            .field(e.split(':').next().unwrap_or_default().to_string())
    })?;
    state.runner.store().set_tenant_policy(&name, Some(&patch)).await.map_err(no_tenant(&name))?;
    view(&state, &name).await.map(Json)
}

/// Removes a tenant's override: its jobs get the server policy again (admins only).
#[utoipa::path(delete, path = "/v1/tenants/{name}/policy", tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses((status = 200, body = TenantPolicy), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_policy(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantPolicy>> {
    who.require_admin()?;
    state.runner.store().set_tenant_policy(&name, None).await.map_err(no_tenant(&name))?;
    view(&state, &name).await.map(Json)
}

async fn view(state: &AppState, name: &str) -> ApiResult<TenantPolicy> {
    let tenant = state.runner.store().get_tenant(name).await.map_err(no_tenant(name))?;
    let effective = state.runner.policy_for(name).await?;
    let effective = serde_json::to_value(&effective).unwrap_or_default();
    Ok(TenantPolicy { tenant: name.to_string(), effective, patch: tenant.policy })
}

fn no_tenant(name: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => ApiError::not_found(format!("no tenant `{name}` (tokens create tenants)")),
        e => e.into(),
    }
}
