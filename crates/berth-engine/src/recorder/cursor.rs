//! The recorder's cursor: what a worker that reattaches to a running unit needs to go on
//! exactly where the stored output ends (stored with every batch, in its transaction).
//! What the redactors hold back is not in it (it may begin a secret): the position stops
//! before it, and the reattach reads those bytes from the engine again. (Exact unless a
//! held tail contains a mask, which needs a secret that starts like `***`.)

use berth_core::backend::LogPosition;
use berth_core::logcap::LogCap;
use berth_core::store::{LogChunk, LogStream, StoreError, StoreResult};
use serde::{Deserialize, Serialize};

use super::LogRecorder;

/// Tail chunks read back per query when a cursor is resumed.
const TAIL_PAGE: u32 = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Bytes of each stream consumed, less what its redactor holds back: those bytes may
    /// be the start of a secret, so they are never stored; a reattach reads them again.
    position: LogPosition,
    /// The event splitter's held-back line start (hex), and whether it is inside a log line.
    line: String,
    mid_line: bool,
    /// The log cap's head and count (its tail is what the store holds past the marker).
    head_used: u64,
    omitted: u64,
    next_seq: i64,
    marker_seq: Option<i64>,
    marker_written: bool,
}

impl LogRecorder {
    /// The state to store with the batch being written.
    pub(super) fn cursor(&self) -> serde_json::Value {
        let (line, mid_line) = self.splitter.state();
        let mut position = self.position;
        position.stdout -= (self.redact[0].held().len() as u64).min(position.stdout);
        position.stderr -= (self.redact[1].held().len() as u64).min(position.stderr);
        let cursor = Cursor {
            position,
            line: hex::encode(line),
            mid_line,
            head_used: self.cap.head_used(),
            omitted: self.cap.omitted(),
            next_seq: self.next_seq,
            marker_seq: self.marker_seq,
            marker_written: self.marker_written,
        };
        serde_json::to_value(cursor).unwrap_or_default()
    }

    /// Goes on from `cursor`, the one this attempt's last stored batch carries (set the
    /// redacting values first). The cap's tail is read back from the store: after a batch,
    /// the stored chunks past the marker are exactly the tail.
    pub async fn resume(mut self, cursor: serde_json::Value) -> StoreResult<LogRecorder> {
        let corrupt = |e: String| StoreError::Corrupt(format!("job {}: the log cursor: {e}", self.job));
        let c: Cursor = serde_json::from_value(cursor).map_err(|e| corrupt(e.to_string()))?;
        let unhex = |s: &str| hex::decode(s).map_err(|e| corrupt(e.to_string()));
        self.splitter.resume(unhex(&c.line)?, c.mid_line);
        let mut tail = Vec::new();
        if let Some(marker) = c.marker_seq {
            let stored = self.stored_after(marker).await?;
            tail.extend(stored.iter().filter(|k| k.stream != LogStream::Berth).map(|k| (k.seq, k.data.len() as u64)));
        }
        self.cap = LogCap::resumed(self.cap.size(), c.head_used, c.omitted, tail);
        self.position = c.position;
        self.next_seq = c.next_seq;
        self.marker_seq = c.marker_seq;
        self.marker_written = c.marker_written;
        Ok(self)
    }

    /// Goes on after what attempt `attempt` stored without a cursor (an attempt a berth
    /// from before cursors began): the stored bytes of each stream, taken as consumed.
    /// Exact for plain output; events and redacted or capped output make it approximate.
    pub async fn resume_uncursored(mut self) -> StoreResult<(LogRecorder, bool)> {
        let mut found = false;
        for k in self.stored_after(-1).await? {
            let stream = match k.stream {
                LogStream::Stdout => &mut self.position.stdout,
                LogStream::Stderr => &mut self.position.stderr,
                _ => continue,
            };
            *stream += k.data.len() as u64;
            found = true;
        }
        Ok((self, found))
    }

    /// This attempt's stored chunks with seq past `after`, in order.
    async fn stored_after(&self, mut after: i64) -> StoreResult<Vec<LogChunk>> {
        let mut mine = Vec::new();
        loop {
            let page = self.store.read_logs(&self.job, after, TAIL_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            mine.extend(page.into_iter().filter(|k| k.attempt == self.attempt));
        }
        Ok(mine)
    }
}
