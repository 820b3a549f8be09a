//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the bearer-token
//! security scheme it declares.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth",
        description = "Run container images as durable jobs. Authenticate with `Authorization: Bearer <token>` \
            (`berth token create`). Errors share one shape: `{\"error\": {\"code\", \"message\", \"field\"}}`. \
            Times are Unix epoch milliseconds."
    ),
    tags(
        (name = "jobs", description = "Submit, list, inspect, cancel, retry and delete jobs"),
        (name = "logs", description = "Output and events, downloaded or streamed live over SSE"),
        (name = "outputs", description = "Results, artifacts and webhook deliveries"),
        (name = "schedules", description = "Cron schedules that make jobs: exactly once per due time, in their own time zone"),
        (name = "tenants", description = "What a tenant's jobs may ask for: its policy"),
        (name = "secrets", description = "A tenant's secrets: set, listed by name, deleted; never shown"),
        (name = "volumes", description = "A tenant's named volumes"),
        (name = "system", description = "Health, workers, audit log and metrics")
    ),
    components(schemas(crate::api::stream::LogLine, crate::api::stream::EndOfStream)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme =
            HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("A token from `berth token create`"));
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme.build()));
    }
}

/// Every response object needs a `description` (OpenAPI 3.1): where a handler's annotation
/// gives none, the status code's meaning in this API. An operation documented in one line
/// gets it as its description too. Applied to the whole document, once the routes' operations
/// are in it (`router`).
pub struct ResponseDescriptions;

impl Modify for ResponseDescriptions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
            for op in ops.into_iter().flatten() {
                // A handler documented in one line has it as the summary only.
                if op.description.as_deref().is_none_or(str::is_empty) {
                    op.description = op.summary.clone();
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response
                        && r.description.is_empty()
                    {
                        r.description = meaning(status).to_string();
                    }
                }
            }
        }
    }
}

/// What a status code means in this API.
fn meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: it goes on in the background",
        "204" => "Done; no body",
        "400" => "The request is malformed; `error.field` names the parameter",
        "401" => "No token, or an unknown, expired or revoked one",
        "403" => "The token's tenant or role may not do this",
        "404" => "Not found (or another tenant's)",
        "409" => "Conflicts with the resource's state; `error.message` says which",
        "413" => "The body is too large",
        "422" => "Valid JSON that is not a valid spec; `error.field` names the field",
        "426" => "Needs a WebSocket upgrade",
        "429" => "Too many requests or jobs: the tenant's limit; retry later",
        "503" => "Not ready: the store or the backend does not answer",
        _ => "See the error body",
    }
}
