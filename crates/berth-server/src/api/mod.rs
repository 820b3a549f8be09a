//! The `/v1` routes, grouped by resource, plus helpers every handler uses: turning axum's
//! extractor rejections into the API's error shape and finding a job the caller may see.

pub mod jobs;
pub mod live;
pub mod outputs;
pub mod schedules;
pub mod secrets;
pub mod stats;
pub mod stream;
pub mod system;
pub mod tenants;
pub mod volumes;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use berth_core::store::JobRecord;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Query strings that do not parse are a 400 naming the parameter, in the API's shape.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    match q {
        Ok(Query(v)) => Ok(v),
        Err(e) => Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_query", e.body_text())),
    }
}

/// The job with this id (or unique prefix) if the caller may see it; 404 otherwise.
pub async fn visible_job(state: &AppState, who: &Principal, id: &str) -> ApiResult<JobRecord> {
    berth_core::ids::check_prefix(id).map_err(|m| ApiError::bad_request("id", m))?;
    let tenant = (!who.admin).then_some(who.tenant.as_str());
    let job = state.runner.store().find_job_of(id, tenant).await?;
    if who.sees(&job) { Ok(job) } else { Err(ApiError::not_found(format!("no job matches `{id}`"))) }
}
