//! The API's one error shape, `{"error": {"code", "message", "field"?, "details"?}}`, and
//! how store, submit and backend errors map onto HTTP statuses. Bad input is always a 4xx
//! naming the field; only a failing store or engine gives a 5xx.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::backend::BackendError;
use berth_core::spec_load::FieldError;
use berth_core::store::StoreError;
use berth_engine::submit::SubmitError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Box<ErrorBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_spec`, `not_found`, `conflict`, `unauthorized`, ...
    pub code: String,
    pub message: String,
    /// The input field at fault, as a dotted path (`resources.memory`, `notify[0].url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `policy_denied`: the policy rule that refused it (`bind_mounts`, `cap_add`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Every broken rule, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        let detail =
            ErrorDetail { code: code.into(), message: message.into(), field: None, rule: None, details: Vec::new() };
        ApiError { status, body: Box::new(ErrorBody { error: detail }) }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.body.error.field = Some(field.into());
        self
    }

    /// The same error under another code (e.g. `invalid_schedule` for `invalid_spec`).
    pub fn code(mut self, code: &str) -> ApiError {
        self.body.error.code = code.to_string();
        self
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).field(field)
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A 5xx: the cause is logged with its whole chain under a fresh error id; the body says
    /// only what failed, what to do, and that id (never raw store or engine text).
    pub fn internal(status: StatusCode, code: &str, what: &str, cause: &dyn std::error::Error) -> ApiError {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        tracing::error!(error_id = %id, code, "{what}: {}", chain(cause));
        let message = format!("{what}; retry later, or give the operator error id {id} (it is in the server log)");
        ApiError::new(status, code, message)
    }

    /// 403: the spec asks for what the caller's policy does not allow.
    pub fn policy_denied(d: &berth_core::policy::Denial) -> ApiError {
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "policy_denied", d.to_string()).field(d.field.clone());
        e.body.error.rule = Some(d.rule.clone());
        e
    }

    pub fn invalid_spec(errors: Vec<FieldError>) -> ApiError {
        let message = match errors.as_slice() {
            [one] => one.to_string(),
            many => format!("{} problems in the spec", many.len()),
        };
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec", message);
        e.body.error.field = errors.first().map(|f| f.field.clone());
        e.body.error.details =
            errors.into_iter().map(|f| FieldProblem { field: f.field, message: f.message }).collect();
        e
    }
}

/// What the audit row of a refused call records beside its status: the error code, and the
/// field and rule when there are any (`policy_denied mounts[0].source rule=bind_mounts`).
#[derive(Clone, Debug)]
pub struct AuditNote(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.body.error;
        let mut note = e.code.clone();
        if let Some(f) = &e.field {
            note.push_str(&format!(" {f}"));
        }
        if let Some(r) = &e.rule {
            note.push_str(&format!(" rule={r}"));
        }
        let mut response = (self.status, Json(self.body)).into_response();
        response.extensions_mut().insert(AuditNote(note));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("no job matches `{what}`")),
            StoreError::Ambiguous { .. } => ApiError::bad_request("id", e.to_string()),
            StoreError::Transition(_) | StoreError::Conflict(_) | StoreError::Fenced(_) => {
                ApiError::conflict(e.to_string())
            }
            StoreError::Unavailable(_) => {
                ApiError::internal(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the store is unavailable", &e)
            }
            StoreError::Corrupt(_) => ApiError::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_corrupt",
                "a stored record is unreadable",
                &e,
            ),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> ApiError {
        match e {
            BackendError::ImageNotFound(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "image_not_found", e.to_string()).field("image")
            }
            BackendError::Gone(_) => ApiError::conflict(format!("the job's container is gone: {e}")),
            BackendError::Unsupported(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported_by_backend", e.to_string())
            }
            // About this job's unit, not the engine's health: the caller can act on them.
            BackendError::Create(_)
            | BackendError::Start(_)
            | BackendError::GpuUnavailable(_)
            | BackendError::Files(_) => ApiError::conflict(e.to_string()),
            _ => ApiError::internal(
                StatusCode::SERVICE_UNAVAILABLE,
                "backend_unavailable",
                "the container backend failed",
                &e,
            ),
        }
    }
}

impl From<berth_engine::ops::OpError> for ApiError {
    fn from(e: berth_engine::ops::OpError) -> ApiError {
        use berth_engine::ops::OpError;
        match e {
            OpError::NotFound(m) => ApiError::not_found(m),
            OpError::Conflict(m) => ApiError::conflict(m),
            OpError::Store(s) => s.into(),
            OpError::Backend(b) => b.into(),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        match e {
            SubmitError::Invalid(errors) => ApiError::invalid_spec(errors.0),
            SubmitError::Denied(d) => ApiError::policy_denied(&d),
            SubmitError::Backend(b) => b.into(),
            SubmitError::Store(s) => s.into(),
        }
    }
}

/// An error and its sources, outermost first: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
