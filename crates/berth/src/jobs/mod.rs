//! The one client the everyday job verbs talk to (ps, logs, inspect, wait, cancel, retry,
//! rm, exec, cp, attach): `Jobs`, over the store and engine in this process (`Embedded`) or over a
//! berth server's HTTP API (`Remote`). Each verb is written once, over `&dyn Jobs`, and
//! prints the API's views in both modes, so `--json` and `inspect` have one shape.

mod embedded;
mod remote;

use async_trait::async_trait;
use berth_core::access::Delivery;
use berth_core::backend::{LiveIo, OutputStream};
use berth_core::store::{JobRecord, LogStream};
use berth_server::views::{ArtifactView, ContainerView, EventView, ExecResponse, JobDetail, JobView};
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::client::{Client, Followed};
use crate::commands::ps::Wanted;
use crate::config::Config;

/// One stored piece of a job's output.
pub struct Piece {
    pub seq: i64,
    pub stream: LogStream,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub at: i64,
    pub data: Vec<u8>,
}

/// What a live session receives.
#[derive(Debug)]
pub enum LiveEvent {
    Output(OutputStream, Bytes),
    /// A command's exit code (live exec); an attach just ends.
    Exit(i64),
}

pub type LiveOutput = BoxStream<'static, anyhow::Result<LiveEvent>>;

/// Exec output kept per stream, as the API keeps it.
pub const EXEC_CAP: usize = 1 << 20;

#[async_trait]
pub trait Jobs: Send + Sync {
    /// The jobs `wanted` selects, newest first.
    async fn list(&self, wanted: &Wanted) -> anyhow::Result<Vec<JobView>>;
    /// A job (by id or unique prefix) with its attempts.
    async fn detail(&self, id: &str) -> anyhow::Result<JobDetail>;
    async fn artifacts(&self, id: &str) -> anyhow::Result<Vec<ArtifactView>>;
    async fn deliveries(&self, id: &str) -> anyhow::Result<Vec<Delivery>>;
    async fn events(&self, id: &str) -> anyhow::Result<Vec<EventView>>;
    async fn containers(&self, id: &str) -> anyhow::Result<Vec<ContainerView>>;
    async fn cancel(&self, id: &str) -> anyhow::Result<JobView>;
    async fn retry(&self, id: &str) -> anyhow::Result<JobView>;
    /// Removes a finished job; returns its whole id.
    async fn delete(&self, id: &str) -> anyhow::Result<String>;
    /// Up to a page of the output stored after sequence number `after` (-1: from the
    /// start), in order, each piece with its stream (berth's own notes count as stderr).
    async fn output(&self, id: &str, after: i64) -> anyhow::Result<Vec<Piece>>;
    /// The output after `after` as it comes, until the job ends; returns the job as it ended.
    async fn follow(&self, id: &str, after: i64, out: &mut (dyn FnMut(Followed) + Send)) -> anyhow::Result<JobRecord>;
    async fn exec(&self, id: &str, command: &berth_core::backend::ExecCommand) -> anyhow::Result<ExecResponse>;
    /// Starts a command in a running job and returns at once (`exec -d`).
    async fn exec_detached(&self, id: &str, command: &berth_core::backend::ExecCommand) -> anyhow::Result<()>;
    /// Runs a command in a running job with live input (`exec -i`, `-it`).
    async fn exec_live(
        &self,
        id: &str,
        command: &berth_core::backend::ExecCommand,
        live: LiveIo,
    ) -> anyhow::Result<LiveOutput>;
    /// Joins a running job's console (`attach`, `run -i`/`-it` through a server).
    async fn attach(&self, id: &str, live: LiveIo, replay: bool) -> anyhow::Result<LiveOutput>;
    async fn artifact(&self, id: &str, name: &str) -> anyhow::Result<Vec<u8>>;
}

/// The server's API when one is configured (`--server`/`BERTH_SERVER`), else the store and
/// engine in this process.
pub async fn open(config: &Config) -> anyhow::Result<Box<dyn Jobs>> {
    Ok(match &config.server {
        Some(server) => Box::new(remote::Remote(Client::new(server, config.token.clone())?)),
        None => Box::new(embedded::Embedded(crate::wiring::open_and_sweep(config).await?)),
    })
}

/// `Jobs` over a server's API, shareable with background tasks.
pub fn remote(client: Client) -> std::sync::Arc<dyn Jobs> {
    std::sync::Arc::new(remote::Remote(client))
}

/// Everything recorded about a job, as one JSON document (`berth inspect`): the API's job
/// with its attempts, then its artifacts, webhook deliveries, events and containers.
pub async fn inspect(jobs: &dyn Jobs, id: &str) -> anyhow::Result<serde_json::Value> {
    let detail = jobs.detail(id).await?;
    let id = detail.job.id.clone();
    let mut doc = serde_json::to_value(&detail)?;
    doc["artifacts"] = serde_json::to_value(jobs.artifacts(&id).await?)?;
    doc["deliveries"] = serde_json::to_value(jobs.deliveries(&id).await?)?;
    doc["events"] = serde_json::to_value(jobs.events(&id).await?)?;
    doc["containers"] = serde_json::to_value(jobs.containers(&id).await?)?;
    Ok(doc)
}
