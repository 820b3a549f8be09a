//! The API without a socket (`router.oneshot`), over a real SQLite store and the recording
//! fake backend: auth, tenant isolation on every route, idempotency, bad input, the OpenAPI
//! document, the audit log and the metrics text.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use berth_core::clock::{Clock, SystemClock, Timestamp};
use berth_core::status::Reason;
use berth_core::store::{AccessStore, JobStore, StatusChange};
use berth_server::AuthMode;
use serde_json::{Value, json};

mod common;
use common::{api, spec};

#[tokio::test]
async fn requests_need_a_live_token() {
    let a = api(AuthMode::Tokens).await;
    let (status, body) = a.call(Method::GET, "/v1/jobs", None, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _) = a.call(Method::GET, "/v1/jobs", Some("berth_wrong"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = a.token("acme", false).await;
    assert_eq!(a.call(Method::GET, "/v1/jobs", Some(&token), None).await.0, StatusCode::OK);
    let id = a.store.list_tokens().await.unwrap()[0].id.clone();
    a.store.revoke_token(&id, Timestamp(1)).await.unwrap();
    assert_eq!(a.call(Method::GET, "/v1/jobs", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
    // Probes and the docs stay open.
    for open in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        assert_eq!(a.raw(Method::GET, open, None, None, &[]).await.0, StatusCode::OK, "{open}");
    }
}

#[tokio::test]
async fn a_tenant_never_sees_or_touches_another_tenants_jobs() {
    let a = api(AuthMode::Tokens).await;
    let (acme, other, admin) =
        (a.token("acme", false).await, a.token("other", false).await, a.token("ops", true).await);
    let id = a.submit(&acme, spec()).await;
    let reads = ["", "/logs", "/events", "/result", "/artifacts", "/artifacts/x", "/deliveries"];
    for suffix in reads {
        let (status, body) = a.call(Method::GET, &format!("/v1/jobs/{id}{suffix}"), Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {suffix}: {body}");
    }
    for suffix in ["/cancel", "/retry"] {
        let (status, _) = a.call(Method::POST, &format!("/v1/jobs/{id}{suffix}"), Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "POST {suffix}");
    }
    let exec = json!({"command": ["ls"]});
    assert_eq!(
        a.call(Method::POST, &format!("/v1/jobs/{id}/exec"), Some(&other), Some(exec)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(a.call(Method::DELETE, &format!("/v1/jobs/{id}"), Some(&other), None).await.0, StatusCode::NOT_FOUND);
    let (_, page) = a.call(Method::GET, "/v1/jobs", Some(&other), None).await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0);
    // The owner and an admin see it; the audit log is for admins only.
    let (_, page) = a.call(Method::GET, "/v1/jobs", Some(&acme), None).await;
    assert_eq!(page["jobs"][0]["id"], id.as_str());
    assert_eq!(a.call(Method::GET, &format!("/v1/jobs/{id}"), Some(&admin), None).await.0, StatusCode::OK);
    assert_eq!(a.call(Method::GET, "/v1/audit", Some(&acme), None).await.0, StatusCode::FORBIDDEN);
    let (status, audit) = a.call(Method::GET, "/v1/audit", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let denied = audit.as_array().unwrap().iter().filter(|e| e["outcome"] == "404 not_found").count();
    assert_eq!(denied, 4, "cancel, retry, exec and delete by the other tenant are audited: {audit}");
    // The job is untouched.
    let job = a.store.find_job(&id).await.unwrap();
    assert_eq!((job.status.as_str(), job.tenant.as_str()), ("queued", "acme"));
}

#[tokio::test]
async fn idempotency_keys_make_submission_safe_to_repeat() {
    let a = api(AuthMode::Tokens).await;
    let t = a.token("acme", false).await;
    let send = |body: Value, key: &'static str| {
        let a = &a;
        let t = t.clone();
        async move { a.raw(Method::POST, "/v1/jobs", Some(&t), Some(body.to_string()), &[("idempotency-key", key)]).await }
    };
    let (s1, b1) = send(spec(), "k-1").await;
    let (s2, b2) = send(spec(), "k-1").await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    let id = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap()["id"].clone();
    assert_eq!(id(&b1), id(&b2));
    let (s3, b3) = send(json!({"image": "busybox", "command": ["false"]}), "k-1").await;
    assert_eq!(s3, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&b3));
    let (s4, _) = send(spec(), "bad key with spaces").await;
    assert_eq!(s4, StatusCode::BAD_REQUEST);
    assert_eq!(a.store.list_jobs(&Default::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field_and_changes_nothing() {
    let a = api(AuthMode::Tokens).await;
    let t = a.token("acme", false).await;
    let cases: Vec<(Option<String>, StatusCode, Option<&str>)> = vec![
        (Some("not json".into()), StatusCode::BAD_REQUEST, None),
        (Some("[1,2]".into()), StatusCode::BAD_REQUEST, None),
        (Some(r#"{"image": "busybox", "bogus": 1}"#.into()), StatusCode::UNPROCESSABLE_ENTITY, Some("bogus")),
        (
            Some(r#"{"image": "busybox", "resources": {"memory": "lots"}}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("resources.memory"),
        ),
        (
            Some(r#"{"image": "busybox", "notify": [{"url": "ftp://x"}]}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("notify[0].url"),
        ),
        (Some(r#"{"image": "busybox", "queue": "a b"}"#.into()), StatusCode::UNPROCESSABLE_ENTITY, Some("queue")),
        (
            Some(r#"{"image": "busybox", "security": {"privileged": true}}"#.into()),
            StatusCode::FORBIDDEN,
            Some("security.privileged"),
        ),
        (Some(r#"{"image": "BAD IMAGE"}"#.into()), StatusCode::UNPROCESSABLE_ENTITY, Some("image")),
        (
            Some(format!(r#"{{"image": "busybox", "name": "{}"}}"#, "x".repeat(17 << 20))),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (body, want, field) in cases {
        let (status, bytes) = a.raw(Method::POST, "/v1/jobs", Some(&t), body.clone(), &[]).await;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let shown = body.as_deref().map(|b| &b[..b.len().min(80)]);
        assert_eq!(status, want, "{shown:?} -> {json}");
        assert!(json["error"]["message"].is_string(), "{shown:?} -> one error shape: {json}");
        if let Some(f) = field {
            assert_eq!(json["error"]["field"], f, "{shown:?} -> {json}");
        }
    }
    let queries =
        ["/v1/jobs?status=nope", "/v1/jobs?limit=0", "/v1/jobs?limit=x", "/v1/jobs?cursor=zzz", "/v1/jobs/xy"];
    for q in queries {
        let (status, json) = a.call(Method::GET, q, Some(&t), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q} -> {json}");
    }
    assert!(a.store.list_jobs(&Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn lifecycle_calls_answer_by_status() {
    let a = api(AuthMode::Disabled).await;
    let id = a.submit("unused", spec()).await;
    // Queued: cancel ends it at once; delete and retry follow the lifecycle.
    assert_eq!(a.call(Method::DELETE, &format!("/v1/jobs/{id}"), None, None).await.0, StatusCode::CONFLICT);
    let (status, job) = a.call(Method::POST, &format!("/v1/jobs/{id}/cancel"), None, None).await;
    assert_eq!((status, job["status"].as_str()), (StatusCode::ACCEPTED, Some("cancelled")));
    assert_eq!(a.call(Method::POST, &format!("/v1/jobs/{id}/cancel"), None, None).await.0, StatusCode::CONFLICT);
    let (status, job) = a.call(Method::POST, &format!("/v1/jobs/{id}/retry"), None, None).await;
    assert_eq!((status, job["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")));
    let job_id = id.parse().unwrap();
    let done = StatusChange::end(Reason::Exited { code: 0 }, Some(0), SystemClock.now());
    a.store.set_status(&job_id, done).await.unwrap();
    assert_eq!(a.call(Method::POST, &format!("/v1/jobs/{id}/retry"), None, None).await.0, StatusCode::CONFLICT);
    assert_eq!(
        a.call(Method::POST, &format!("/v1/jobs/{id}/exec"), None, Some(json!({"command": ["ls"]}))).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(a.call(Method::GET, &format!("/v1/jobs/{id}/result"), None, None).await.0, StatusCode::NOT_FOUND);
    // The live routes are WebSocket sessions: a plain GET is told so, in the API's shape.
    for route in ["attach", "exec/live"] {
        let (status, body) = a.call(Method::GET, &format!("/v1/jobs/{id}/{route}"), None, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UPGRADE_REQUIRED, Some("upgrade_required")));
    }
    let path = format!("/v1/jobs/{id}/exec?detach=true");
    let detached = a.call(Method::POST, &path, None, Some(json!({"command": ["ls"]}))).await;
    assert_eq!(detached.0, StatusCode::CONFLICT, "exec -d needs a running job too");
    // The events stream of a finished job replays everything and ends.
    let (status, body) = a.raw(Method::GET, &format!("/v1/jobs/{id}/events?follow=true"), None, None, &[]).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("\"retry_of\":\"cancelled\"") && text.trim_end().ends_with("\"exit_code\":0}"), "{text}");
    // Not followed, the events so far are one JSON list.
    let (status, events) = a.call(Method::GET, &format!("/v1/jobs/{id}/events"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let retried =
        events.as_array().unwrap().iter().any(|e| e["kind"] == "status" && e["data"]["retry_of"] == "cancelled");
    assert!(retried, "{events}");
    assert_eq!(a.call(Method::DELETE, &format!("/v1/jobs/{id}"), None, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(a.call(Method::GET, &format!("/v1/jobs/{id}"), None, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_walk_every_job_once_newest_first() {
    let a = api(AuthMode::Disabled).await;
    let mut made = Vec::new();
    for _ in 0..7 {
        made.push(a.submit("unused", spec()).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=3&cursor={c}"),
            None => "/v1/jobs?limit=3".to_string(),
        };
        let (_, page) = a.call(Method::GET, &path, None, None).await;
        let jobs = page["jobs"].as_array().unwrap();
        seen.extend(jobs.iter().map(|j| (j["created_at"].as_i64().unwrap(), j["id"].as_str().unwrap().to_string())));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    // Newest first; jobs made in the same millisecond by id, as the store orders them.
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    let mut ids: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made, "every job once");
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let a = api(AuthMode::Disabled).await;
    let (status, doc) = a.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!((status, doc["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for p in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/logs",
        "/v1/jobs/{id}/events",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/retry",
        "/v1/jobs/{id}/exec",
        "/v1/jobs/{id}/attach",
        "/v1/jobs/{id}/exec/live",
        "/v1/jobs/{id}/result",
        "/v1/jobs/{id}/artifacts",
        "/v1/jobs/{id}/artifacts/{name}",
        "/v1/jobs/{id}/deliveries",
        "/v1/workers",
        "/v1/audit",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.iter().any(|x| x.as_str() == p), "{p} missing from {paths:?}");
    }
    assert!(doc["components"]["schemas"]["JobSpec"]["properties"]["resources"].is_object());
    // OpenAPI 3.1 requires a description on every response (scripts/check-standards runs a
    // standard validator too); every operation has one of its own.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path}: no description");
            for (status, response) in op["responses"].as_object().unwrap() {
                let described = response["description"].as_str().is_some_and(|d| !d.is_empty());
                assert!(described, "{method} {path} {status}: no description");
                // Every body a success returns is shown by a real example.
                let contents = response["content"].as_object().into_iter().flatten();
                for (media, content) in contents.filter(|_| status.starts_with('2')) {
                    assert!(!content["example"].is_null(), "{method} {path} {status} {media}: no example");
                }
            }
            for (media, content) in op["requestBody"]["content"].as_object().into_iter().flatten() {
                assert!(!content["example"].is_null(), "{method} {path} {media} request: no example");
            }
        }
    }
    for schema in ["LogLine", "EndOfStream", "SseEvent", "JobView", "ErrorBody"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is described");
    }
    let (status, html) = a.raw(Method::GET, "/docs/", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&html).contains("swagger"), "Swagger UI is served from the binary");
}

struct Quiet;
impl berth_engine::attempt::AttemptObserver for Quiet {}

#[tokio::test]
async fn metrics_are_valid_prometheus_text() {
    let a = api(AuthMode::Disabled).await;
    a.submit("unused", json!({"image": "busybox", "queue": "gpu"})).await;
    // Scrape once so the recorder is installed, then run one job (over the fake backend) so
    // the histograms have samples.
    a.raw(Method::GET, "/metrics", None, None, &[]).await;
    let req = berth_core::store::ClaimRequest {
        worker: a.runner.owner().to_string(),
        queues: vec!["gpu".into()],
        tags: Default::default(),
        lease: std::time::Duration::from_secs(30),
        at: SystemClock.now(),
    };
    let job = a.store.claim(&req).await.unwrap().unwrap();
    let io = berth_engine::attempt::AttemptIo {
        observer: Arc::new(Quiet),
        pull: Arc::new(berth_core::backend::NoProgress),
        stdin: berth_core::backend::StdinSource::None,
    };
    let done = a.runner.run_attempt(&job, io, &berth_engine::cancel::Cancel::new()).await.unwrap();
    assert_eq!(done.status.as_str(), "succeeded");
    let (status, body) = a.raw(Method::GET, "/metrics", None, None, &[]).await;
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, StatusCode::OK);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let sample = |name: &str| {
        scrape.samples.iter().find(|s| s.metric == name).unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    assert!(
        matches!(sample("berth_attempt_duration_seconds").value, prometheus_parse::Value::Histogram(ref b) if b.len() > 5)
    );
    assert!(matches!(sample("berth_container_start_seconds").value, prometheus_parse::Value::Histogram(_)));
    assert!(matches!(sample("berth_jobs_finished_total").value, prometheus_parse::Value::Counter(n) if n >= 1.0));
    assert!(matches!(sample("berth_queue_depth").value, prometheus_parse::Value::Gauge(_)));
    // The store's gauges count only unfinished jobs (a scrape reads no history); the
    // finished job is in the counter above.
    assert!(!text.contains("berth_jobs{queue=\"gpu\",status=\"succeeded\"}"), "{text}");
    assert!(text.contains("berth_queue_depth{queue=\"gpu\"} 0"), "a queue seen before stays, at 0: {text}");
    assert!(text.contains("berth_circuit_open{backend=\"fake\"} 0"), "{text}");
    // Every metric family has its HELP text (promtool's lint; scripts/check-standards runs it).
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP: {text}");
    }
    // Every sample line is `name{labels} value` with a numeric value, and every metric
    // family is declared once.
    let mut types = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert!(types.insert(rest.split(' ').next().unwrap().to_string()), "declared twice: {line}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "bad sample: {line}");
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name: {line}");
    }
}

#[tokio::test]
async fn registry_passwords_never_leave_the_server() {
    let a = api(AuthMode::Disabled).await;
    let spec = json!({"image": "busybox", "registry_auth": {"username": "u", "password": "hunter2-secret"}});
    let (_, created) = a.call(Method::POST, "/v1/jobs", None, Some(spec)).await;
    let id = created["id"].as_str().unwrap().to_string();
    // Ended, so its events stream ends too.
    a.call(Method::POST, &format!("/v1/jobs/{id}/cancel"), None, None).await;
    for path in [format!("/v1/jobs/{id}"), "/v1/jobs".to_string(), format!("/v1/jobs/{id}/events")] {
        let (status, body) = a.raw(Method::GET, &path, None, None, &[]).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!text.contains("hunter2-secret"), "{path} leaks the password: {text}");
    }
    assert_eq!(created["spec"]["registry_auth"]["password"], "***");
    // The stored spec keeps it: the worker needs it to pull.
    let stored = a.store.find_job(&id).await.unwrap();
    assert_eq!(stored.spec.registry_auth.unwrap().password, "hunter2-secret");
}

#[tokio::test]
async fn stats_count_a_tenants_jobs_by_status_and_finished_ones_by_minute() {
    let a = api(AuthMode::Tokens).await;
    let (acme, beta, admin) = (a.token("acme", false).await, a.token("beta", false).await, a.token("ops", true).await);
    let done = a.submit(&acme, spec()).await;
    a.submit(&acme, spec()).await;
    a.submit(&beta, spec()).await;
    let id = done.parse().unwrap();
    let end = StatusChange::end(Reason::Exited { code: 3 }, Some(3), SystemClock.now());
    a.store.set_status(&id, end).await.unwrap();

    let (status, stats) = a.call(Method::GET, "/v1/stats?minutes=5", Some(&acme), None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["counts"], json!({"queued": 1, "failed": 1}), "acme's own only");
    let minutes = stats["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 5);
    // This minute's (or the last one's, had the minute turned since the job ended).
    let busy: Vec<usize> = (0..5).filter(|&i| minutes[i]["counts"] != json!({})).collect();
    assert!(busy == [4] || busy == [3], "{stats}");
    assert_eq!(minutes[busy[0]]["counts"], json!({"failed": 1}));
    let (_, all) = a.call(Method::GET, "/v1/stats", Some(&admin), None).await;
    assert_eq!((all["counts"]["queued"].as_u64(), all["minutes"].as_array().unwrap().len()), (Some(2), 60));
    let (_, beta_only) = a.call(Method::GET, "/v1/stats?tenant=beta", Some(&admin), None).await;
    assert_eq!(beta_only["counts"], json!({"queued": 1}));

    let (status, _) = a.call(Method::GET, "/v1/stats?tenant=beta", Some(&acme), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a tenant cannot count another's jobs");
    let (status, body) = a.call(Method::GET, "/v1/stats?minutes=0", Some(&beta), None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("minutes")));
}
