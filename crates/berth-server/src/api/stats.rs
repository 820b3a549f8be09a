//! The overview: jobs by status and the jobs that finished each minute of a recent window
//! (what the web UI's overview page draws), for the caller's tenant.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use berth_core::clock::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The window, in minutes back from now: 1 to 1440 (default 60).
    #[param(minimum = 1, maximum = 1440)]
    pub minutes: Option<u32>,
    /// Admins only: one tenant's jobs (default: every tenant's). Others always see their own.
    pub tenant: Option<String>,
}

/// Counts by status (`queued`, `starting` and `running` now; the finished ones within the
/// window) and, for each minute of the window, the jobs that finished in it by status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// The window's start (Unix epoch milliseconds, a whole minute).
    pub since: i64,
    pub counts: BTreeMap<String, u64>,
    /// Every minute of the window, oldest first; a minute where nothing finished has no counts.
    pub minutes: Vec<MinuteView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MinuteView {
    /// The minute's start (Unix epoch milliseconds).
    pub at: i64,
    pub counts: BTreeMap<String, u64>,
}

/// Jobs by status now, and finished per minute over the last `minutes`.
#[utoipa::path(get, path = "/v1/stats", tag = "system", params(StatsQuery),
    responses((status = 200, body = Stats), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<Json<Stats>> {
    let q = query(q)?;
    let minutes = i64::from(q.minutes.unwrap_or(60));
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::bad_request("minutes", "must be 1 to 1440"));
    }
    let tenant = match (who.admin, q.tenant) {
        (true, t) => t,
        (false, Some(t)) if t != who.tenant => {
            return Err(ApiError::forbidden("only admins see another tenant's counts"));
        }
        (false, _) => Some(who.tenant.clone()),
    };
    let now = state.runner.clock().now().0;
    let since = (now / 60_000 - minutes + 1) * 60_000;
    let found = state.runner.store().job_stats(tenant.as_deref(), Timestamp(since)).await?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_minute: Vec<MinuteView> =
        (0..minutes).map(|i| MinuteView { at: since + i * 60_000, counts: BTreeMap::new() }).collect();
    for (status, n) in found.unfinished {
        *counts.entry(status.to_string()).or_default() += n;
    }
    for m in found.finished {
        *counts.entry(m.status.to_string()).or_default() += m.count;
        let slot = usize::try_from((m.minute.0 - since) / 60_000).ok().and_then(|i| by_minute.get_mut(i));
        if let Some(slot) = slot {
            *slot.counts.entry(m.status.to_string()).or_default() += m.count;
        }
    }
    Ok(Json(Stats { since, counts, minutes: by_minute }))
}
