//! `berth server`: the HTTP API under `/v1` (OpenAPI at `/v1/openapi.json`, Swagger UI at
//! `/docs`), the web UI at `/`, live logs and events over SSE, bearer tokens scoped to
//! tenants, the audit log, Prometheus metrics, webhook delivery, a local worker pool and the periodic orphan sweep,
//! all over the engine's `Runner`. It never names a concrete store or backend.

pub mod api;
pub mod auth;
pub mod error;
pub mod openapi;
pub mod scheduling;
pub mod state;
pub mod telemetry;
pub mod views;
pub mod web;
pub mod webhooks;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use state::{AppState, AuthMode, ServerConfig};

use crate::api::{jobs, live, outputs, schedules, secrets, stats, stream, system, tenants, volumes};

/// Largest request body: a spec with 10 MiB of input files, plus JSON overhead.
pub const MAX_BODY: usize = 16 << 20;

/// The whole HTTP surface, ready to serve or to call with `oneshot` in tests.
pub fn router(state: AppState) -> Router {
    let v1 = OpenApiRouter::<AppState>::new()
        .routes(routes!(jobs::create_job, jobs::list_jobs))
        .routes(routes!(jobs::get_job, jobs::delete_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(jobs::retry_job))
        .routes(routes!(outputs::exec))
        .routes(routes!(live::attach))
        .routes(routes!(live::exec_live))
        .routes(routes!(stream::logs))
        .routes(routes!(stream::events))
        .routes(routes!(outputs::result))
        .routes(routes!(outputs::artifacts))
        .routes(routes!(outputs::artifact))
        .routes(routes!(outputs::deliveries))
        .routes(routes!(outputs::containers))
        .routes(routes!(system::workers))
        .routes(routes!(system::audit))
        .routes(routes!(stats::stats))
        .routes(routes!(tenants::get_policy, tenants::put_policy, tenants::delete_policy))
        .routes(routes!(volumes::list_volumes))
        .routes(routes!(secrets::list_secrets))
        .routes(routes!(secrets::put_secret, secrets::delete_secret))
        .routes(routes!(volumes::delete_volume))
        .routes(routes!(schedules::preview_expression))
        .routes(routes!(schedules::create_schedule, schedules::list_schedules))
        .routes(routes!(schedules::get_schedule, schedules::patch_schedule, schedules::delete_schedule))
        .routes(routes!(schedules::trigger_schedule))
        .routes(routes!(schedules::pause_schedule))
        .routes(routes!(schedules::resume_schedule))
        .routes(routes!(schedules::next_due_times))
        .routes(routes!(schedules::schedule_jobs))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    let open = OpenApiRouter::<AppState>::new()
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics));
    let (app, mut doc) =
        OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).merge(v1).merge(open).split_for_parts();
    for path in ["/healthz", "/readyz", "/metrics"] {
        // Open to probes and scrapers: an empty requirement means "no auth".
        if let Some(op) = doc.paths.paths.get_mut(path).and_then(|item| item.get.as_mut()) {
            op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::default()]);
        }
    }
    // The routes' operations join the document here, after ApiDoc's own modifiers ran.
    utoipa::Modify::modify(&openapi::ResponseDescriptions, &mut doc);
    if let Err(e) = openapi::add_examples(&mut doc) {
        // A bug in the build, caught by the tests; the API itself still serves.
        tracing::error!("OpenAPI examples: {e}");
    }
    let doc = openapi::merge_closed_all_of(doc.clone()).unwrap_or_else(|e| {
        tracing::error!("OpenAPI schemas: {e}");
        doc
    });
    app.merge(SwaggerUi::new("/docs").url("/v1/openapi.json", doc))
        .route("/", axum::routing::get(web::index))
        .route("/ui/{*file}", axum::routing::get(web::asset))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such route: see /v1/openapi.json or /docs")
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!("a request handler panicked: {text}");
    let e = error::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (a bug): see the server log",
    );
    e.into_response()
}

/// Serves until `shutdown` resolves, running the local worker (slots and housekeeping) and
/// the webhook sender beside the API; then drains the worker (see `berth_engine::worker`).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let worker = state.worker.clone();
    tasks.spawn(async move { worker.run().await });
    tasks.spawn(webhooks::run(state.clone()));
    tasks.spawn(scheduling::run(state.clone()));
    tasks.spawn(telemetry::upkeep(state.clone()));
    let token = state.shutdown.clone();
    let stop = async move {
        shutdown.await;
        token.cancel();
    };
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(stop).await;
    while tasks.join_next().await.is_some() {}
    served
}
