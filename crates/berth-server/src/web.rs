//! The web UI: plain ES modules and one stylesheet (`crates/berth-server/ui`), compiled into
//! the binary and served at `/` and `/ui/...` with a strict Content-Security-Policy (nothing
//! loads from anywhere but this server). The pages call the public API like any client.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every file of the UI: its path under `/ui/`, its media type, its bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../ui/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../ui/style.css")),
    ("app.js", JS, include_str!("../ui/app.js")),
    ("api.js", JS, include_str!("../ui/api.js")),
    ("dom.js", JS, include_str!("../ui/dom.js")),
    ("logview.js", JS, include_str!("../ui/logview.js")),
    ("pages/live.js", JS, include_str!("../ui/pages/live.js")),
    ("pages/overview.js", JS, include_str!("../ui/pages/overview.js")),
    ("pages/jobs.js", JS, include_str!("../ui/pages/jobs.js")),
    ("pages/job.js", JS, include_str!("../ui/pages/job.js")),
    ("pages/new.js", JS, include_str!("../ui/pages/new.js")),
    ("pages/schedules.js", JS, include_str!("../ui/pages/schedules.js")),
    ("pages/workers.js", JS, include_str!("../ui/pages/workers.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// Scripts, styles and API calls from this origin only; no inline script, no frames.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn index() -> Response {
    serve("index.html")
}

pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(file: &str) -> Response {
    let Some((_, media, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return crate::error::ApiError::not_found(format!("no file `{file}` in the web UI")).into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_ui_imports_is_served() {
        for (name, _, body) in ASSETS {
            for line in body.lines().filter(|l| l.trim_start().starts_with("import ")) {
                let Some(spec) = line.split('"').nth(1) else { continue };
                let base = std::path::Path::new(name).parent().unwrap_or(std::path::Path::new(""));
                let joined = base.join(spec);
                let mut parts: Vec<&str> = Vec::new();
                for part in joined.iter().filter_map(|p| p.to_str()) {
                    match part {
                        "." => {}
                        ".." => drop(parts.pop()),
                        p => parts.push(p),
                    }
                }
                let path = parts.join("/");
                assert!(ASSETS.iter().any(|(n, _, _)| *n == path), "{name} imports {spec}: `{path}` is not served");
            }
        }
    }
}
