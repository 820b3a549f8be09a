//! The CLI's side of the HTTP API (`--server`/`BERTH_SERVER`, `BERTH_TOKEN`): typed calls,
//! API errors turned into messages that say what to do, and a log follower over SSE that
//! resumes from the last event id when the connection drops.

use std::time::Duration;

use anyhow::{Context, bail};
use berth_core::JobSpec;
use berth_core::clock::Timestamp;
use berth_core::store::JobRecord;
use berth_server::api::stream::LogPiece;
use berth_server::views::{ExecResponse, JobDetail, JobPage, JobView};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

/// How long `follow` keeps trying to reconnect before it gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// One piece of output from a followed job.
pub enum Followed {
    Log {
        stream: String,
        text: String,
    },
    /// The server lost us and we are reconnecting (shown once per drop).
    Reconnecting(String),
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Client> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, e.g. http://127.0.0.1:8420 (got `{base}`)");
        }
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Client { base, token, http })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn send(&self, r: RequestBuilder) -> anyhow::Result<Response> {
        let response = r.send().await.with_context(|| format!("cannot reach the berth server at {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(response).await)
    }

    /// Opens a WebSocket session on `path` (a live attach or exec).
    pub async fn websocket(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<crate::live::Socket> {
        use reqwest::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
        let request = self
            .request(Method::GET, path)
            .query(query)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_VERSION, "13")
            .header(SEC_WEBSOCKET_KEY, crate::live::handshake_key());
        let response =
            request.send().await.with_context(|| format!("cannot reach the berth server at {}", self.base))?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(api_error(response).await);
        }
        let upgraded = response.upgrade().await.context("the server did not open the WebSocket session")?;
        Ok(crate::live::Socket::client(upgraded).await)
    }
}

/// A failed answer as a message that says what to do, with the field at fault.
async fn api_error(response: Response) -> anyhow::Error {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or("no details").to_string();
    match status {
        StatusCode::UNAUTHORIZED => {
            anyhow::anyhow!("{message}: set BERTH_TOKEN (or --token) to a token from `berth token create`")
        }
        _ => match body["error"]["field"].as_str().filter(|f| !f.is_empty()) {
            Some(field) if !message.contains(field) => anyhow::anyhow!("{field}: {message}"),
            _ => anyhow::anyhow!("{message}"),
        },
    }
}

impl Client {
    async fn json<T: DeserializeOwned>(&self, r: RequestBuilder) -> anyhow::Result<T> {
        Ok(self.send(r).await?.json().await?)
    }

    /// Any route's JSON answer.
    pub async fn json_of<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<T> {
        self.json(self.request(method, path).query(query)).await
    }

    /// Any route with a JSON body, for its JSON answer.
    pub async fn json_body<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        self.json(self.request(method, path).query(query).json(body)).await
    }

    /// Any route, for its status only.
    pub async fn call(&self, method: Method, path: &str, query: &[(&str, &str)]) -> anyhow::Result<()> {
        self.send(self.request(method, path).query(query)).await.map(|_| ())
    }

    pub async fn submit(&self, spec: &JobSpec) -> anyhow::Result<JobView> {
        self.json(self.request(Method::POST, "/v1/jobs").json(spec)).await
    }

    pub async fn list(&self, query: &[(&str, String)]) -> anyhow::Result<JobPage> {
        self.json(self.request(Method::GET, "/v1/jobs").query(query)).await
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<JobDetail> {
        self.json(self.request(Method::GET, &format!("/v1/jobs/{id}"))).await
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.json(self.request(Method::GET, path)).await
    }

    pub async fn cancel(&self, id: &str) -> anyhow::Result<JobView> {
        self.json(self.request(Method::POST, &format!("/v1/jobs/{id}/cancel"))).await
    }

    pub async fn retry(&self, id: &str) -> anyhow::Result<JobView> {
        self.json(self.request(Method::POST, &format!("/v1/jobs/{id}/retry"))).await
    }

    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, &format!("/v1/jobs/{id}"))).await.map(|_| ())
    }

    pub async fn exec(&self, id: &str, command: &berth_core::backend::ExecCommand) -> anyhow::Result<ExecResponse> {
        self.json(self.request(Method::POST, &format!("/v1/jobs/{id}/exec")).json(command)).await
    }

    pub async fn exec_detached(&self, id: &str, command: &berth_core::backend::ExecCommand) -> anyhow::Result<()> {
        let r = self.request(Method::POST, &format!("/v1/jobs/{id}/exec")).query(&[("detach", "true")]).json(command);
        self.send(r).await.map(|_| ())
    }

    /// An artifact's bytes (`name` may hold `/`: it travels as one encoded path segment).
    pub async fn artifact(&self, id: &str, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut url = reqwest::Url::parse(&self.base)?;
        url.path_segments_mut().map_err(|_| anyhow::anyhow!("--server must be a base URL"))?.extend([
            "v1",
            "jobs",
            id,
            "artifacts",
            name,
        ]);
        let r = self.http.get(url);
        let r = match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        Ok(self.send(r).await?.bytes().await?.to_vec())
    }

    /// Up to a page of stored output after sequence number `after`, with each piece's stream.
    pub async fn log_pieces(&self, id: &str, after: i64) -> anyhow::Result<Vec<LogPiece>> {
        let r = self.request(Method::GET, &format!("/v1/jobs/{id}/logs")).query(&[("after", after.to_string())]);
        self.json(r.header(reqwest::header::ACCEPT, "application/json")).await
    }

    /// Streams a job's output to `out` until the job ends, resuming after the last event id
    /// whenever the connection drops. Returns the job as it ended.
    pub async fn follow(&self, id: &str, out: impl FnMut(Followed)) -> anyhow::Result<JobRecord> {
        self.follow_after(id, -1, out).await
    }

    /// `follow`, from after output sequence number `after`.
    pub async fn follow_after(
        &self,
        id: &str,
        mut after: i64,
        mut out: impl FnMut(Followed),
    ) -> anyhow::Result<JobRecord> {
        let mut lost_since: Option<std::time::Instant> = None;
        loop {
            let request = self
                .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
                .query(&[("follow", "true")])
                .header("last-event-id", after.to_string());
            let dropped = match self.send(request).await {
                Ok(response) => {
                    lost_since = None;
                    let mut events = response.bytes_stream().eventsource();
                    let mut why = "the stream ended early".to_string();
                    while let Some(event) = events.next().await {
                        let event = match event {
                            Ok(e) => e,
                            Err(e) => {
                                why = e.to_string();
                                break;
                            }
                        };
                        match event.event.as_str() {
                            "log" => {
                                let line: serde_json::Value = serde_json::from_str(&event.data)?;
                                after = event.id.parse().unwrap_or(after);
                                out(Followed::Log {
                                    stream: line["stream"].as_str().unwrap_or("stdout").to_string(),
                                    text: line["text"].as_str().unwrap_or_default().to_string(),
                                });
                            }
                            "end" => return record(self.get(id).await?.job),
                            "error" => bail!("the server could not read the job's logs: {}", event.data),
                            _ => {}
                        }
                    }
                    why
                }
                Err(e) if lost_since.is_some() || e.to_string().contains("cannot reach") => e.to_string(),
                Err(e) => return Err(e),
            };
            let since = *lost_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > RECONNECT_FOR {
                bail!("lost the berth server for {}s: {dropped}", RECONNECT_FOR.as_secs());
            }
            out(Followed::Reconnecting(dropped));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The API's view as the record the CLI's tables and exit codes already understand.
pub fn record(v: JobView) -> anyhow::Result<JobRecord> {
    Ok(JobRecord {
        id: v.id.parse().with_context(|| format!("the server sent a bad job id `{}`", v.id))?,
        spec: v.spec,
        tenant: v.tenant,
        status: v.status,
        reason: v.reason,
        exit_code: v.exit_code,
        owner: None,
        attempts: v.attempts,
        created_at: Timestamp(v.created_at),
        started_at: v.started_at.map(Timestamp),
        finished_at: v.finished_at.map(Timestamp),
        result: v.result,
        run_at: Timestamp(v.created_at),
        cancel_requested: v.cancel_requested,
        lease: None,
        schedule: v.schedule_id.zip(v.scheduled_at).map(|(id, at)| berth_core::store::ScheduleRef {
            id,
            due_at: Timestamp(at),
            manual: v.labels.get("berth.trigger").is_some_and(|t| t == "manual"),
        }),
    })
}
