//! `Jobs` over the store and engine in this process (the embedded mode): the same
//! operations the API's handlers call (`berth_engine::ops`), with the API's views.

use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use berth_core::access::Delivery;
use berth_core::backend::{ExecCommand, LiveIo};
use berth_core::clock::SystemClock;
use berth_core::store::{JobRecord, LogStream};
use berth_server::views::{ArtifactView, AttemptView, ContainerView, EventView, ExecResponse, JobDetail, JobView};
use futures::StreamExt;

use super::{EXEC_CAP, Jobs, LiveEvent, LiveOutput, Piece};
use crate::client::Followed;
use crate::commands::ps::Wanted;
use crate::wiring::Local;

/// How often a followed job's stored output is read again.
const POLL: Duration = Duration::from_millis(200);
/// Log chunks and events read per query.
const PAGE: u32 = 2_000;

pub struct Embedded(pub Local);

impl Embedded {
    async fn job(&self, id: &str) -> anyhow::Result<JobRecord> {
        Ok(self.0.store.find_job(id).await?)
    }

    /// A page of stored output after `after`; berth's own notes go with stderr.
    async fn read_after(&self, job: &JobRecord, after: i64) -> anyhow::Result<Vec<Piece>> {
        let chunks = self.0.store.read_logs(&job.id, after, PAGE).await?;
        let stream = |s| if s == LogStream::Stdout { LogStream::Stdout } else { LogStream::Stderr };
        let piece =
            |c: berth_core::store::LogChunk| Piece { seq: c.seq, stream: stream(c.stream), at: c.at.0, data: c.data };
        Ok(chunks.into_iter().map(piece).collect())
    }
}

#[async_trait]
impl Jobs for Embedded {
    async fn list(&self, wanted: &Wanted) -> anyhow::Result<Vec<JobView>> {
        let jobs = self.0.store.list_jobs(&wanted.filter(None)).await?;
        Ok(jobs.into_iter().filter(|j| wanted.keeps(j)).map(JobView::from).collect())
    }

    async fn detail(&self, id: &str) -> anyhow::Result<JobDetail> {
        let job = self.job(id).await?;
        let attempts = self.0.store.list_attempts(&job.id).await?;
        Ok(JobDetail { job: JobView::from(job), attempt_list: attempts.into_iter().map(AttemptView::from).collect() })
    }

    async fn artifacts(&self, id: &str) -> anyhow::Result<Vec<ArtifactView>> {
        let job = self.job(id).await?;
        Ok(self.0.store.list_artifacts(&job.id).await?.into_iter().map(ArtifactView::from).collect())
    }

    async fn deliveries(&self, id: &str) -> anyhow::Result<Vec<Delivery>> {
        let job = self.job(id).await?;
        Ok(self.0.store.list_deliveries(&job.id).await?)
    }

    async fn events(&self, id: &str) -> anyhow::Result<Vec<EventView>> {
        let job = self.job(id).await?;
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.0.store.read_events(&job.id, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page.into_iter().map(EventView::from));
        }
        Ok(all)
    }

    async fn containers(&self, id: &str) -> anyhow::Result<Vec<ContainerView>> {
        let job = self.job(id).await?;
        Ok(self.0.store.list_containers(&job.id).await?.into_iter().map(ContainerView::from).collect())
    }

    /// Through the store, like the API: a queued job ends at once, one a worker holds is
    /// stopped by that worker's next heartbeat; one a local `berth run` runs can only be
    /// stopped by that process (Ctrl-C), which the error says.
    async fn cancel(&self, id: &str) -> anyhow::Result<JobView> {
        let job = self.job(id).await?;
        let store = self.0.store.as_ref();
        Ok(JobView::from(berth_engine::ops::cancel(store, &SystemClock, &job, "cli", &|_| false).await?))
    }

    async fn retry(&self, _: &str) -> anyhow::Result<JobView> {
        bail!(
            "retry needs a berth server or worker to run the next attempt (--server/BERTH_SERVER): in the embedded mode a job runs inside its own `berth run`"
        )
    }

    async fn delete(&self, id: &str) -> anyhow::Result<String> {
        let job = self.job(id).await?;
        if !job.status.can_remove() {
            let owner = job.owner.as_deref().and_then(|o| o.split(':').nth(1)).unwrap_or("?");
            bail!(
                "job is {}: it is run by berth process {owner}; stop it there (Ctrl-C, or kill -INT {owner}) and remove it after",
                job.status
            );
        }
        berth_engine::ops::delete(self.0.store.as_ref(), &self.0.paths, &job).await?;
        Ok(job.id.to_string())
    }

    async fn output(&self, id: &str, after: i64) -> anyhow::Result<Vec<Piece>> {
        let job = self.job(id).await?;
        self.read_after(&job, after).await
    }

    /// Output is flushed before a job's terminal status is written, so once the status is
    /// terminal, one more read gets everything.
    async fn follow(
        &self,
        id: &str,
        mut after: i64,
        out: &mut (dyn FnMut(Followed) + Send),
    ) -> anyhow::Result<JobRecord> {
        let job = self.job(id).await?;
        let mut ended = None;
        loop {
            let page = self.read_after(&job, after).await?;
            for p in &page {
                after = p.seq;
                let stream = if p.stream == LogStream::Stdout { "stdout" } else { "stderr" };
                out(Followed::Log { stream: stream.into(), text: String::from_utf8_lossy(&p.data).into_owned() });
            }
            if page.len() as u32 == PAGE {
                continue;
            }
            if let Some(done) = ended {
                return Ok(done);
            }
            let now = self.0.store.get_job(&job.id).await?;
            if now.status.is_terminal() {
                ended = Some(now);
                continue;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn exec(&self, id: &str, command: &ExecCommand) -> anyhow::Result<ExecResponse> {
        let job = self.job(id).await?;
        let out = self.0.runner()?.exec(&job, command, EXEC_CAP).await?;
        Ok(ExecResponse {
            exit_code: out.exit_code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            truncated: out.truncated,
        })
    }

    async fn exec_detached(&self, id: &str, command: &ExecCommand) -> anyhow::Result<()> {
        let job = self.job(id).await?;
        Ok(self.0.runner()?.exec_detached(&job, command).await?)
    }

    async fn exec_live(&self, id: &str, command: &ExecCommand, live: LiveIo) -> anyhow::Result<LiveOutput> {
        let job = self.job(id).await?;
        let started = self.0.runner()?.exec_live(&job, command, live).await?;
        let exit = futures::stream::once(async move {
            started.exit.await.map(|e| LiveEvent::Exit(e.code)).map_err(anyhow::Error::from)
        });
        Ok(output_events(started.output).chain(exit).boxed())
    }

    async fn attach(&self, id: &str, live: LiveIo, replay: bool) -> anyhow::Result<LiveOutput> {
        let job = self.job(id).await?;
        Ok(output_events(self.0.runner()?.join(&job, live, replay).await?))
    }

    async fn artifact(&self, id: &str, name: &str) -> anyhow::Result<Vec<u8>> {
        let job = self.job(id).await?;
        Ok(berth_engine::ops::artifact(self.0.store.as_ref(), &self.0.paths, &job, name).await?.1)
    }
}

fn output_events(output: berth_core::backend::OutputStreamOf) -> LiveOutput {
    output.map(|c| c.map(|c| LiveEvent::Output(c.stream, c.data)).map_err(anyhow::Error::from)).boxed()
}
