//! `Jobs` over a berth server's HTTP API.

use async_trait::async_trait;
use berth_core::access::Delivery;
use berth_core::backend::{ExecCommand, LiveIo};
use berth_core::store::{JobRecord, LogStream};
use berth_server::views::{ArtifactView, ContainerView, EventView, ExecResponse, JobDetail, JobView};
use reqwest::Method;

use super::{Jobs, LiveOutput, Piece};
use crate::client::{Client, Followed};
use crate::commands::ps::Wanted;

pub struct Remote(pub Client);

impl Remote {
    async fn list_of<T: serde::de::DeserializeOwned>(&self, id: &str, what: &str) -> anyhow::Result<T> {
        self.0.json_of(Method::GET, &format!("/v1/jobs/{id}/{what}"), &[]).await
    }
}

#[async_trait]
impl Jobs for Remote {
    async fn list(&self, wanted: &Wanted) -> anyhow::Result<Vec<JobView>> {
        let mut query = vec![("limit", wanted.limit.filter(|_| !wanted.matched_here()).unwrap_or(500).to_string())];
        if !wanted.statuses.is_empty() {
            let list: Vec<&str> = wanted.statuses.iter().map(|s| s.as_str()).collect();
            query.push(("status", list.join(",")));
        }
        if !wanted.labels.is_empty() {
            let list: Vec<String> =
                wanted.labels.iter().map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}"))).collect();
            query.push(("label", list.join(",")));
        }
        if let Some(i) = &wanted.image {
            query.push(("image", i.clone()));
        }
        if let Some(q) = &wanted.queue {
            query.push(("queue", q.clone()));
        }
        let mut views = self.0.list(&query).await?.jobs;
        views.retain(|v| wanted.keeps_job(v.name.as_deref(), v.created_at, &v.id));
        Ok(views)
    }

    async fn detail(&self, id: &str) -> anyhow::Result<JobDetail> {
        self.0.get(id).await
    }

    async fn artifacts(&self, id: &str) -> anyhow::Result<Vec<ArtifactView>> {
        self.list_of(id, "artifacts").await
    }

    async fn deliveries(&self, id: &str) -> anyhow::Result<Vec<Delivery>> {
        self.list_of(id, "deliveries").await
    }

    async fn events(&self, id: &str) -> anyhow::Result<Vec<EventView>> {
        self.list_of(id, "events").await
    }

    async fn containers(&self, id: &str) -> anyhow::Result<Vec<ContainerView>> {
        self.list_of(id, "containers").await
    }

    async fn cancel(&self, id: &str) -> anyhow::Result<JobView> {
        self.0.cancel(id).await
    }

    async fn retry(&self, id: &str) -> anyhow::Result<JobView> {
        self.0.retry(id).await
    }

    async fn delete(&self, id: &str) -> anyhow::Result<String> {
        let whole = self.0.get(id).await?.job.id;
        self.0.delete(&whole).await?;
        Ok(whole)
    }

    async fn output(&self, id: &str, after: i64) -> anyhow::Result<Vec<Piece>> {
        let pieces = self.0.log_pieces(id, after).await?;
        let stream = |s: &str| if s == "stdout" { LogStream::Stdout } else { LogStream::Stderr };
        Ok(pieces
            .into_iter()
            .map(|p| Piece {
                seq: p.seq,
                stream: stream(&p.line.stream),
                at: p.line.at,
                data: p.line.text.into_bytes(),
            })
            .collect())
    }

    async fn follow(&self, id: &str, after: i64, out: &mut (dyn FnMut(Followed) + Send)) -> anyhow::Result<JobRecord> {
        self.0.follow_after(id, after, out).await
    }

    async fn exec(&self, id: &str, command: &ExecCommand) -> anyhow::Result<ExecResponse> {
        self.0.exec(id, command).await
    }

    async fn exec_detached(&self, id: &str, command: &ExecCommand) -> anyhow::Result<()> {
        self.0.exec_detached(id, command).await
    }

    async fn exec_live(&self, id: &str, command: &ExecCommand, live: LiveIo) -> anyhow::Result<LiveOutput> {
        let whole = self.0.get(id).await?.job.id;
        let query = [("tty", flag(live.tty)), ("stdin", flag(live.stdin))];
        let socket = self.0.websocket(&format!("/v1/jobs/{whole}/exec/live"), &query).await?;
        Ok(socket.session(Some(serde_json::to_string(command)?), live))
    }

    async fn attach(&self, id: &str, live: LiveIo, replay: bool) -> anyhow::Result<LiveOutput> {
        let whole = self.0.get(id).await?.job.id;
        let query = [("stdin", flag(live.stdin)), ("replay", flag(replay))];
        let socket = self.0.websocket(&format!("/v1/jobs/{whole}/attach"), &query).await?;
        Ok(socket.session(None, live))
    }

    async fn artifact(&self, id: &str, name: &str) -> anyhow::Result<Vec<u8>> {
        self.0.artifact(id, name).await
    }
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}
