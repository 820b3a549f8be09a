//! The API harness the integration tests share: a router over a real SQLite store and the
//! recording fake backend (containers exit 0 at once), tokens, and calls through `oneshot`.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use berth_core::clock::Timestamp;
use berth_core::fake_backend::{FakeBackend, Script};
use berth_core::secrets::hash_token;
use berth_core::store::{AccessStore, TokenRecord};
use berth_engine::Runner;
use berth_engine::paths::DataPaths;
use berth_server::{AppState, AuthMode, ServerConfig, router};
use berth_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Api {
    pub _dir: tempfile::TempDir,
    pub app: Router,
    pub store: Arc<SqliteStore>,
    pub runner: Runner,
}

pub async fn api(auth: AuthMode) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("berth.db")).await.unwrap());
    // Containers exit 0 at once.
    let exit = berth_core::backend::ExitInfo { code: 0, oom_killed: false, ..Default::default() };
    let backend = Arc::new(FakeBackend::new(Script { exit: Some(exit), ..Script::default() }));
    let runner = Runner::builder(store.clone(), backend, DataPaths::new(dir.path())).build().await.unwrap();
    let mut config = ServerConfig { auth, ..ServerConfig::default() };
    config.worker.slots = 0;
    Api { app: router(AppState::new(runner.clone(), config)), store, runner, _dir: dir }
}

impl Api {
    pub async fn token(&self, tenant: &str, admin: bool) -> String {
        let secret = berth_core::secrets::new_token();
        let id = hash_token(&secret)[..8].to_string();
        let t = TokenRecord {
            id,
            name: "t".into(),
            tenant: tenant.into(),
            admin,
            created_at: Timestamp(0),
            revoked_at: None,
        };
        self.store.create_token(&t, &hash_token(&secret)).await.unwrap();
        secret
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self.raw(method, path, token, body.map(|b| b.to_string()), &[]).await;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    pub async fn submit(&self, token: &str, spec: Value) -> String {
        let (status, job) = self.call(Method::POST, "/v1/jobs", Some(token), Some(spec)).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        job["id"].as_str().unwrap().to_string()
    }
}

pub fn spec() -> Value {
    json!({"image": "busybox", "command": ["true"]})
}
