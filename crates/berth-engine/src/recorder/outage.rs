//! Riding out a store outage (a PostgreSQL restart, a failover) without ending the attempt:
//! while the store does not answer, batches are held (bounded by the log cap; events by
//! `MAX_HELD_EVENTS`) and tried again at most every `RETRY_EVERY`; the last batch is tried
//! for up to `FINISH_FOR` before the attempt is recorded as `infra(store_failed)`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use berth_core::store::{OutputBatch, StoreError, StoreResult};

use super::LogRecorder;

/// How often a held batch is tried again while the store is unavailable.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How long one write may take before it counts as unavailable (and may yet have landed).
const TRY_FOR: Duration = Duration::from_secs(3);
/// How long the last batch of an attempt is retried.
const FINISH_FOR: Duration = Duration::from_secs(20);
/// Events held at most while the store is unavailable; later ones are counted, not kept.
pub(super) const MAX_HELD_EVENTS: usize = 10_000;

impl LogRecorder {
    /// Writes the batch or, while the store is unavailable, holds it for a later try.
    pub async fn flush_or_hold(&mut self) -> StoreResult<()> {
        if self.held_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        match self.flush().await {
            Err(StoreError::Unavailable(e)) => {
                if self.held_until.is_none() {
                    tracing::warn!(job = %self.job, "the store is unavailable; output is held until it answers: {e}");
                }
                self.held_until = Some(Instant::now() + RETRY_EVERY);
                Ok(())
            }
            Ok(()) => {
                self.held_until = None;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the batches kept, oldest first. One whose last try got no answer may have
    /// landed: if the attempt's stored cursor is its own, it did (so its events are not
    /// stored twice).
    pub(super) async fn send_unsent(&mut self) -> StoreResult<()> {
        while let Some(head) = self.unsent.front() {
            let landed = match self.unsure {
                true => {
                    bounded(self.store.output_cursor(&self.job, self.attempt)).await?
                        == head.cursor.clone().map(|c| c.1)
                }
                false => false,
            };
            self.unsure = false;
            if !landed && let Err(e) = bounded(self.store.write_output(&self.job, self.fence.as_ref(), head)).await {
                self.unsure = matches!(e, StoreError::Unavailable(_));
                return Err(e);
            }
            self.unsent.pop_front();
        }
        Ok(())
    }

    /// The last batch: tried again while the store is unavailable, for up to `FINISH_FOR`.
    pub(super) async fn flush_riding_out(&mut self) -> StoreResult<()> {
        let give_up = Instant::now() + FINISH_FOR;
        let mut wait = Duration::from_millis(100);
        loop {
            match self.flush().await {
                Err(StoreError::Unavailable(_)) if Instant::now() + wait < give_up => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                done => return done,
            }
        }
    }

    /// Keeps an event for the next batch (or counts it, past `MAX_HELD_EVENTS`).
    pub(super) fn hold_event(&mut self, kind: String, data: serde_json::Value) {
        if self.events.len() >= MAX_HELD_EVENTS {
            self.dropped_events += 1;
        } else {
            self.events.push((kind, data, self.clock.now()));
        }
    }

    /// Says in the next batch how many events were not kept.
    pub(super) fn note_dropped_events(&mut self) {
        if self.dropped_events > 0 {
            let message =
                format!("{} events the job printed were lost while the store was unavailable", self.dropped_events);
            self.events.push(("warning".into(), serde_json::json!({"message": message}), self.clock.now()));
            self.dropped_events = 0;
        }
    }
}

/// A store call that does not answer within `TRY_FOR` (a connection cut off without a
/// reset) counts as unavailable: the pump must go on reading the unit's output meanwhile.
async fn bounded<T>(call: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(TRY_FOR, call)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable(format!("no answer within {}s", TRY_FOR.as_secs()))))
}

/// Adds `batch` to those not written yet. Past the first (which may be in flight), batches
/// merge into one, so an outage holds at most two: chunks evicted by the newer batch are
/// dropped from the older (never inserted), a chunk written again (the marker) keeps its
/// newer bytes, events keep their order, and the cursor is the newer one.
pub(super) fn queue(unsent: &mut VecDeque<OutputBatch>, batch: OutputBatch) {
    if unsent.len() < 2 {
        unsent.push_back(batch);
        return;
    }
    let Some(last) = unsent.back_mut() else { return };
    let replaced: HashSet<i64> = batch.deleted.iter().chain(batch.chunks.iter().map(|c| &c.seq)).copied().collect();
    last.chunks.retain(|c| !replaced.contains(&c.seq));
    last.deleted.extend(batch.deleted);
    last.chunks.extend(batch.chunks);
    last.events.extend(batch.events);
    last.cursor = batch.cursor;
}

#[cfg(test)]
mod tests {
    use berth_core::clock::Timestamp;
    use berth_core::store::{LogChunk, LogStream};

    use super::*;

    fn batch(chunks: &[(i64, &str)], deleted: &[i64], cursor: i64) -> OutputBatch {
        let chunk = |&(seq, data): &(i64, &str)| LogChunk {
            seq,
            attempt: 1,
            stream: LogStream::Stdout,
            at: Timestamp(0),
            data: data.as_bytes().to_vec(),
        };
        OutputBatch {
            deleted: deleted.to_vec(),
            chunks: chunks.iter().map(chunk).collect(),
            events: vec![("progress".into(), serde_json::json!(cursor), Timestamp(0))],
            cursor: Some((1, serde_json::json!(cursor))),
        }
    }

    #[test]
    fn an_outage_holds_the_batch_in_flight_and_one_more() {
        let mut unsent = VecDeque::new();
        queue(&mut unsent, batch(&[(0, "a"), (1, "marker 1")], &[], 1));
        queue(&mut unsent, batch(&[(2, "b"), (3, "c")], &[], 2));
        // Evicts 2 (never inserted now) and 0 (maybe stored by the first), rewrites the marker.
        queue(&mut unsent, batch(&[(1, "marker 2"), (4, "d")], &[0, 2], 3));
        assert_eq!(unsent.len(), 2, "the first is kept as it was: it may have landed");
        assert_eq!(unsent[0].cursor, Some((1, serde_json::json!(1))));
        let merged = &unsent[1];
        let chunks: Vec<(i64, &[u8])> = merged.chunks.iter().map(|c| (c.seq, c.data.as_slice())).collect();
        assert_eq!(chunks, [(3, &b"c"[..]), (1, b"marker 2"), (4, b"d")]);
        assert_eq!(merged.deleted, [0, 2]);
        let events: Vec<_> = merged.events.iter().map(|e| e.1.clone()).collect();
        assert_eq!(events, [serde_json::json!(2), serde_json::json!(3)], "every event, in order");
        assert_eq!(merged.cursor, Some((1, serde_json::json!(3))));
    }
}
