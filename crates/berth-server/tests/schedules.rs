//! `/v1/schedules` without a socket: create, read by id or name, change, pause, resume,
//! trigger, the jobs a schedule made, previews, bad input (which field, and nothing changed)
//! and tenant isolation.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use berth_server::AuthMode;
use serde_json::{Value, json};

mod common;
use common::api;

fn nightly() -> Value {
    json!({"name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin",
           "spec": {"image": "busybox", "command": ["true"]}, "overlap": "skip", "missed": "run-once"})
}

#[tokio::test]
async fn a_schedule_is_created_read_changed_paused_resumed_and_deleted() {
    let a = api(AuthMode::Tokens).await;
    let t = a.token("acme", false).await;
    let (status, made) = a.call(Method::POST, "/v1/schedules", Some(&t), Some(nightly())).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["state"], "active");
    assert_eq!(made["timezone"], "Europe/Berlin");
    assert!(made["next_due_local"].as_str().unwrap().ends_with("03:00:00 CET"), "{made}");
    let (status, again) = a.call(Method::POST, "/v1/schedules", Some(&t), Some(nightly())).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    let (_, by_name) = a.call(Method::GET, "/v1/schedules/nightly", Some(&t), None).await;
    assert_eq!(by_name["id"], id.as_str());
    let (_, list) = a.call(Method::GET, "/v1/schedules", Some(&t), None).await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 1);

    let path = format!("/v1/schedules/{id}");
    let (status, changed) = a.call(Method::PATCH, &path, Some(&t), Some(json!({"cron": "*/5 * * * *"}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["cron"].as_str(), changed["overlap"].as_str()), (Some("*/5 * * * *"), Some("skip")));
    let (status, paused) =
        a.call(Method::POST, &format!("{path}/pause"), Some(&t), Some(json!({"reason": "db upgrade"}))).await;
    assert_eq!((status, paused["state"].as_str()), (StatusCode::OK, Some("paused")));
    assert_eq!(paused["paused"]["reason"], "db upgrade");
    let (_, resumed) = a.call(Method::PATCH, &path, Some(&t), Some(json!({"paused": false}))).await;
    assert_eq!(resumed["state"], "active");

    let (status, next) = a.call(Method::GET, &format!("{path}/next?count=3"), Some(&t), None).await;
    assert_eq!(status, StatusCode::OK);
    let times: Vec<i64> = next["times"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(times.len(), 3);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 300_000), "{next}");

    assert_eq!(a.call(Method::DELETE, &path, Some(&t), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(a.call(Method::GET, &path, Some(&t), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_trigger_makes_a_job_that_names_its_schedule() {
    let a = api(AuthMode::Tokens).await;
    let t = a.token("acme", false).await;
    let (_, s) = a.call(Method::POST, "/v1/schedules", Some(&t), Some(nightly())).await;
    let (status, job) = a.call(Method::POST, "/v1/schedules/nightly/trigger", Some(&t), None).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["schedule_id"], s["id"]);
    assert!(job["scheduled_at"].as_i64().is_some());
    assert_eq!(job["labels"]["berth.trigger"], "manual");
    assert_eq!(job["spec"]["env"]["BERTH_SCHEDULE"], "nightly");
    let (_, one) = a.call(Method::GET, &format!("/v1/jobs/{}", job["id"].as_str().unwrap()), Some(&t), None).await;
    assert_eq!(one["schedule_id"], s["id"], "{one}");
    let (_, jobs) = a.call(Method::GET, "/v1/schedules/nightly/jobs", Some(&t), None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    let (_, filtered) =
        a.call(Method::GET, &format!("/v1/jobs?schedule={}", s["id"].as_str().unwrap()), Some(&t), None).await;
    assert_eq!(filtered["jobs"][0]["id"], job["id"]);
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let a = api(AuthMode::Tokens).await;
    let t = a.token("acme", false).await;
    let refused = |field: &str, value: Value| {
        let mut body = nightly();
        body[field] = value;
        body
    };
    for (body, field, says) in [
        (
            refused("cron", json!("* * * * * * *")),
            "cron",
            "cron: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first) expected, got 7",
        ),
        (refused("timezone", json!("Mars/Olympus")), "timezone", "`Mars/Olympus` is not an IANA time zone"),
        (refused("overlap", json!("sometimes")), "overlap", "unknown variant `sometimes`"),
        (refused("name", json!("Bad Name")), "name", "is not a schedule name"),
        (
            refused(
                "spec",
                json!({"image": "busybox", "mounts": [{"type": "bind", "source": "/etc", "target": "/h"}]}),
            ),
            "spec.mounts[0].source",
            "",
        ),
        (refused("bogus", json!(1)), "bogus", "unknown field `bogus`"),
    ] {
        let (status, e) = a.call(Method::POST, "/v1/schedules", Some(&t), Some(body)).await;
        assert!(status.is_client_error(), "{field}: {status} {e}");
        assert_eq!(e["error"]["field"].as_str().unwrap_or_default(), field, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(says), "{field}: {e}");
    }
    let (_, list) = a.call(Method::GET, "/v1/schedules", Some(&t), None).await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 0, "a refused schedule was stored");

    let (_, s) = a.call(Method::POST, "/v1/schedules", Some(&t), Some(nightly())).await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    let (status, e) = a.call(Method::PATCH, &path, Some(&t), Some(json!({"cron": "0 3 * *"}))).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cron")));
    let (_, same) = a.call(Method::GET, &path, Some(&t), None).await;
    assert_eq!(same["cron"], "0 3 * * *");

    let (status, p) = a
        .call(
            Method::GET,
            "/v1/schedules/preview?cron=30%202%20*%20*%20*&timezone=Europe/Berlin&count=2&after=1774713600000",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["local"], json!(["2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST"]));
    let (status, e) = a.call(Method::GET, "/v1/schedules/preview?cron=61%20*%20*%20*%20*", Some(&t), None).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cron")));
    let (status, _) = a.call(Method::GET, "/v1/schedules/preview?cron=*%20*%20*%20*%20*&count=0", Some(&t), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_tenant_never_sees_or_touches_another_tenants_schedules() {
    let a = api(AuthMode::Tokens).await;
    let (acme, other, admin) =
        (a.token("acme", false).await, a.token("other", false).await, a.token("ops", true).await);
    let (_, s) = a.call(Method::POST, "/v1/schedules", Some(&acme), Some(nightly())).await;
    let id = s["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/schedules/{id}")),
        (Method::GET, "/v1/schedules/nightly".to_string()),
        (Method::PATCH, format!("/v1/schedules/{id}")),
        (Method::DELETE, format!("/v1/schedules/{id}")),
        (Method::POST, format!("/v1/schedules/{id}/trigger")),
        (Method::POST, format!("/v1/schedules/{id}/pause")),
        (Method::POST, format!("/v1/schedules/{id}/resume")),
        (Method::GET, format!("/v1/schedules/{id}/jobs")),
        (Method::GET, format!("/v1/schedules/{id}/next")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"cron": "@hourly"}));
        let (status, _) = a.call(method.clone(), &path, Some(&other), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, theirs) = a.call(Method::GET, "/v1/schedules", Some(&other), None).await;
    assert_eq!(theirs["schedules"].as_array().unwrap().len(), 0);
    let (_, all) = a.call(Method::GET, "/v1/schedules", Some(&admin), None).await;
    assert_eq!(all["schedules"][0]["tenant"], "acme");
    let (_, still) = a.call(Method::GET, &format!("/v1/schedules/{id}"), Some(&acme), None).await;
    assert_eq!((still["cron"].as_str(), still["state"].as_str()), (Some("0 3 * * *"), Some("active")));
}
