//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the bearer-token
//! security scheme it declares.

use utoipa::openapi::RefOr;
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

/// A real exchange for every operation (request body and responses by status and media
/// type), captured from a live server by `scripts/openapi-examples.py` and trimmed.
/// `scripts/check-standards` validates each against its schema.
const EXAMPLES: &str = include_str!("openapi_examples.json");

/// Puts `EXAMPLES` into the document. An example whose operation, status or media type is not
/// in the document is an error, so a renamed route cannot leave its example behind.
pub fn add_examples(openapi: &mut utoipa::openapi::OpenApi) -> Result<(), String> {
    let examples: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(EXAMPLES).map_err(|e| format!("openapi_examples.json: {e}"))?;
    for (key, entry) in examples {
        let op = operation(openapi, &key).ok_or_else(|| format!("openapi_examples.json: no operation `{key}`"))?;
        if let Some(request) = entry.get("request") {
            let Some(RefOr::T(body)) = op.request_body.as_mut() else {
                return Err(format!("`{key}` takes no request body"));
            };
            for content in body.content.values_mut() {
                if let RefOr::T(content) = content {
                    content.example = Some(request.clone());
                }
            }
        }
        let responses = entry.get("responses").and_then(|r| r.as_object()).into_iter().flatten();
        for (status, by_type) in responses {
            let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) else {
                return Err(format!("`{key}` has no response {status}"));
            };
            for (media, value) in by_type.as_object().into_iter().flatten() {
                let Some(RefOr::T(content)) = response.content.get_mut(media) else {
                    return Err(format!("`{key}` {status} has no `{media}`"));
                };
                content.example = Some(value.clone());
            }
        }
    }
    Ok(())
}

fn operation<'a>(
    openapi: &'a mut utoipa::openapi::OpenApi,
    key: &str,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    let (method, path) = key.split_once(' ')?;
    let item = openapi.paths.paths.get_mut(path)?;
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "DELETE" => item.delete.as_mut(),
        _ => None,
    }
}

/// `#[serde(flatten)]` of a struct that denies unknown fields comes out as `allOf` with a
/// closed schema (`additionalProperties: false`), which no object can satisfy: the view's own
/// fields are "additional" to the closed part. Such an `allOf` is merged into one schema with
/// every property, so validators and generated clients accept what the API returns.
pub fn merge_closed_all_of(openapi: utoipa::openapi::OpenApi) -> Result<utoipa::openapi::OpenApi, String> {
    use serde_json::Value;
    let mut doc = serde_json::to_value(&openapi).map_err(|e| e.to_string())?;
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let resolve = |part: &Value| -> Value {
        match part.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
            Some(name) => schemas.get(name).cloned().unwrap_or(Value::Null),
            None => part.clone(),
        }
    };
    let Some(targets) = doc["components"]["schemas"].as_object_mut() else { return Ok(openapi) };
    for schema in targets.values_mut() {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else { continue };
        let parts: Vec<Value> = parts.iter().map(resolve).collect();
        if !parts.iter().any(|p| p.get("additionalProperties") == Some(&Value::Bool(false))) {
            continue;
        }
        let (mut properties, mut required) = (serde_json::Map::new(), Vec::new());
        for part in &parts {
            properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        let description = schema.get("description").cloned();
        *schema = serde_json::json!({"type": "object", "properties": properties, "required": required});
        if let Some(d) = description {
            schema["description"] = d;
        }
    }
    serde_json::from_value(doc).map_err(|e| e.to_string())
}
