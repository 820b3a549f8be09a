//! Reattaching: a worker restarted with the same id (an upgrade, a handover) picks up the
//! units its previous run left running, instead of killing them. It reads their output on
//! from the attempt's stored cursor (byte-exact: the bytes of each stream already consumed
//! are skipped, what was held back is held again), waits for the exit, and ends the attempt
//! as if it had never left.

use std::time::Instant;

use berth_core::backend::UnitHandle;
use berth_core::store::{JobRecord, StoreResult};

use crate::Runner;
use crate::attempt::{AttemptIo, Ending, Watched};
use crate::cancel::Cancel;
use crate::outage::ride_out;
use crate::recorder::LogRecorder;

impl Runner {
    /// Watches `unit`, the running container of the job's current attempt, to its end; then
    /// records that end like any attempt (fenced by the job's lease).
    pub async fn resume_attempt(
        &self,
        job: &JobRecord,
        unit: &UnitHandle,
        io: AttemptIo,
        cancel: &Cancel,
    ) -> StoreResult<JobRecord> {
        let began = Instant::now();
        let n = job.attempts;
        let policy = self.policy_for(&job.tenant).await.unwrap_or_else(|_| self.policy.clone());
        let spec = policy.effective(&self.defaults, &job.spec);
        let secrets = self.open_secrets(&job.spec, &job.tenant, &policy).await.unwrap_or_else(|e| {
            tracing::warn!("job {}: its output is not redacted after the reattach: {e}", job.id);
            Vec::new()
        });
        let attempts = ride_out("reading the attempts", Some(cancel), || self.store.list_attempts(&job.id)).await?;
        let started_at = attempts.into_iter().find(|a| a.number == n).and_then(|a| a.started_at);
        // On from the cursor of the last batch stored (none: nothing was stored yet).
        let cursor = ride_out("reading the log cursor", Some(cancel), || self.store.output_cursor(&job.id, n)).await;
        let recorder = match (self.recorder(job, n, &spec, &secrets).await, cursor) {
            (Ok(rec), Ok(Some(cursor))) => rec.resume(cursor).await,
            (Ok(rec), Ok(None)) => self.resume_uncursored(job, rec).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let from = recorder.as_ref().map(|r| r.position()).unwrap_or_default();
        let data = serde_json::json!({"worker": self.owner, "container": unit.name, "stdout": from.stdout, "stderr": from.stderr});
        self.event(job, "reattached", data).await;
        if spec.log_driver.as_ref().is_some_and(|l| l.options.contains_key("max-size")) {
            let message =
                "the job's log driver rotates (max-size): output the engine rotated away before this reattach is lost";
            self.event(job, "warning", serde_json::json!({"message": message})).await;
        }
        let ending = match self.backend.attach(unit, from).await {
            Ok(started) => {
                let watched = Watched {
                    output: started.output,
                    exit: started.exit,
                    recorder,
                    observer: io.observer,
                    limit: self.run_limit(job, &spec, started_at),
                };
                self.watch(job, n, &spec, unit, watched, cancel).await
            }
            Err(e) => Ending::backend(&e),
        };
        if !ending.is_detached() {
            self.remove(job, n, unit).await;
        }
        Ok(self.conclude(job, n, ending, began, cancel).await?.0)
    }

    /// An attempt an earlier berth began has no cursor: read on after the bytes it stored.
    async fn resume_uncursored(&self, job: &JobRecord, rec: LogRecorder) -> StoreResult<LogRecorder> {
        let (rec, stored) = rec.resume_uncursored().await?;
        if stored {
            let message = "this attempt began under an earlier berth (no log cursor): its output is read on after the bytes it stored, which is exact only for plain output";
            self.event(job, "warning", serde_json::json!({"message": message})).await;
        }
        Ok(rec)
    }
}
