//! Who is calling: bearer tokens, looked up by their SHA-256, scoped to one tenant (or admin);
//! and the audit trail of every state-changing call, written whether it succeeded or not.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_core::secrets::hash_token;
use berth_core::store::{AuditEntry, JobRecord, LOCAL_TENANT};

use crate::error::{ApiError, AuditNote};
use crate::state::{AppState, AuthMode};

/// The authenticated caller, available to handlers as an `Extension`.
#[derive(Clone, Debug)]
pub struct Principal {
    /// `token:<id>` or `anonymous` (auth disabled).
    pub actor: String,
    /// The tenant its jobs go to.
    pub tenant: String,
    /// Admins see and touch every tenant's jobs.
    pub admin: bool,
}

impl Principal {
    /// Whether this caller may see the job; other tenants' jobs answer 404, not 403, so ids
    /// do not leak.
    pub fn sees(&self, job: &JobRecord) -> bool {
        self.admin || job.tenant == self.tenant
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token (berth token create --admin)"))
        }
    }
}

/// Authenticates `/v1` requests and audits the ones that change state.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let action = match req.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", req.method(), p.as_str()),
        None => format!("{} {}", req.method(), req.uri().path()),
    };
    let target = req.uri().path().to_string();
    // A WebSocket session (attach, live exec) writes into a container: audited like a POST.
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.headers().contains_key(header::UPGRADE);
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    let principal = match principal(&state, authorization).await {
        Ok(p) => p,
        Err(e) => {
            if mutating {
                audit(&state, None, &action, &target, e.status, None).await;
            }
            return e.into_response();
        }
    };
    req.extensions_mut().insert(principal.clone());
    let response = next.run(req).await;
    if mutating {
        let note = response.extensions().get::<AuditNote>().map(|n| n.0.clone());
        audit(&state, Some(&principal), &action, &target, response.status(), note).await;
    }
    response
}

async fn principal(state: &AppState, authorization: Option<header::HeaderValue>) -> Result<Principal, ApiError> {
    if state.config.auth == AuthMode::Disabled {
        return Ok(Principal { actor: "anonymous".into(), tenant: LOCAL_TENANT.into(), admin: true });
    }
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m.to_string());
    let value = authorization.ok_or_else(|| {
        unauthorized("missing `Authorization: Bearer <token>` (create one with `berth token create`)")
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let found = state.runner.store().token_by_hash(&hash_token(token)).await.map_err(ApiError::from)?;
    let t = found.ok_or_else(|| unauthorized("unknown or revoked token"))?;
    Ok(Principal { actor: format!("token:{}", t.id), tenant: t.tenant, admin: t.admin })
}

async fn audit(
    state: &AppState,
    who: Option<&Principal>,
    action: &str,
    target: &str,
    status: StatusCode,
    note: Option<String>,
) {
    let code = status.as_u16().to_string();
    let entry = AuditEntry {
        at: state.runner.clock().now(),
        actor: who.map_or_else(|| "unauthenticated".to_string(), |p| p.actor.clone()),
        tenant: who.map(|p| p.tenant.clone()),
        action: action.to_string(),
        target: Some(target.to_string()),
        outcome: note.map_or_else(|| code.clone(), |n| format!("{code} {n}")),
    };
    if let Err(e) = state.runner.store().append_audit(entry).await {
        tracing::warn!("audit write failed: {e}");
    }
}
