//! A tenant's secrets through its own token: set (create or replace), list (names and times
//! only) and delete. Values go in and are never sent back; admins may name a tenant.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use berth_core::store::SecretRecord;
use berth_core::validate::secret_name;
use berth_core::vault::MAX_SECRET_BYTES;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecretQuery {
    /// Admins only: the tenant whose secrets these are (default: the caller's).
    pub tenant: Option<String>,
}

/// The body of `PUT /v1/secrets/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The value (UTF-8 text, at most 64 KiB). It is sealed at once and never shown again.
    pub value: String,
}

fn tenant_of(who: &Principal, q: SecretQuery) -> ApiResult<String> {
    match q.tenant {
        Some(t) if who.admin => Ok(t),
        Some(_) => Err(ApiError::forbidden("only admins name another tenant")),
        None => Ok(who.tenant.clone()),
    }
}

/// Creates or replaces one of the caller's secrets: 201 when new, 200 when replaced.
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Letters, digits, _ . -"), SecretQuery),
    request_body(content = SecretBody, content_type = "application/json"),
    responses((status = 201, body = SecretRecord), (status = 200, body = SecretRecord),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, description = "No secret key", body = ErrorBody)))]
pub async fn put_secret(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: Result<Query<SecretQuery>, QueryRejection>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SecretRecord>)> {
    let tenant = tenant_of(&who, query(q)?)?;
    secret_name(&name).map_err(|m| ApiError::bad_request("name", m))?;
    // Never echo the body: a parse error could quote the value.
    let body: SecretBody = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("value", "the body must be {\"value\": \"...\"}"))?;
    if body.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "a secret holds at most 64 KiB"));
    }
    let keys = state.runner.secret_keys().ok_or_else(|| {
        let what = "this server has no secret key: start it with BERTH_SECRET_KEY_FILE";
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_secret_key", what)
    })?;
    let now = state.runner.clock().now();
    let sealed = keys.seal(&tenant, &name, body.value.as_bytes());
    let store = state.runner.store();
    store.ensure_tenant(&tenant, now).await?;
    let created = store.put_secret(&tenant, &name, &sealed, now).await?;
    let record = store.list_secrets(&tenant).await?.into_iter().find(|s| s.name == name);
    let record = record.ok_or_else(|| ApiError::conflict("the secret was removed while it was set"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(record)))
}

/// The caller's secrets: names and times, never values.
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets", params(SecretQuery),
    responses((status = 200, body = Vec<SecretRecord>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<SecretQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<SecretRecord>>> {
    let tenant = tenant_of(&who, query(q)?)?;
    Ok(Json(state.runner.store().list_secrets(&tenant).await?))
}

/// Deletes one of the caller's secrets; jobs that name it are refused from then on.
#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "The secret's name"), SecretQuery),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: Result<Query<SecretQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_of(&who, query(q)?)?;
    if state.runner.store().delete_secret(&tenant, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no secret `{name}`")))
    }
}
