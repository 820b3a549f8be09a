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
