//! `berth inspect`: everything recorded about a job, as one JSON document.

use serde_json::json;

use crate::cli::IdArgs;
use crate::config::Config;
use crate::wiring;

pub async fn run(config: &Config, args: &IdArgs) -> anyhow::Result<i32> {
    let local = wiring::open_and_sweep(config).await?;
    let job = local.store.find_job(&args.id).await?;
    let attempts = local.store.list_attempts(&job.id).await?;
    let containers = local.store.list_containers(&job.id).await?;
    let artifacts = local.store.list_artifacts(&job.id).await?;
    let events = local.store.read_events(&job.id, 0, 10_000).await?;
    let doc = json!({
        "id": job.id,
        "name": job.spec.name,
        "image": job.spec.image,
        "status": job.status,
        "reason": job.reason.as_ref().map(ToString::to_string),
        "reason_detail": job.reason,
        "exit_code": job.exit_code,
        "created_at": job.created_at.rfc3339(),
        "started_at": job.started_at.map(|t| t.rfc3339()),
        "finished_at": job.finished_at.map(|t| t.rfc3339()),
        "duration_ms": job.started_at.zip(job.finished_at).map(|(s, f)| f.0 - s.0),
        "owner": job.owner,
        "result": job.result,
        "artifacts": artifacts,
        "attempts": attempts,
        "containers": containers,
        "events": events,
        "spec": job.spec.redacted(),
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
