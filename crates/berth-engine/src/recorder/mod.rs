//! The log recorder: stores a job's output as it arrives, in order, under the log cap.
//!
//! Chunks are batched (flushed every `FLUSH_BYTES` or when the caller calls `flush`, which the
//! attempt does every `flush_interval()`), so 200 MB of output costs a few thousand writes,
//! not millions. Past the head half of the cap, a rolling tail is kept: tail chunks
//! still pending when they fall out of the window are never written at all, and stored ones
//! are deleted. A marker chunk between head and tail says how much was omitted.
//!
//! Every batch is stored with the attempt's cursor (`cursor.rs`): how many bytes of each
//! stream were consumed, what the redactors and the event splitter hold back, and the cap's
//! state. Events the job prints go out in the same batch, so stored output and cursor never
//! disagree, and a worker that reattaches after a crash reads on byte-exact.

mod cursor;
mod outage;

use std::sync::Arc;
use std::time::Duration;

use berth_core::backend::{LogPosition, OutputStream};
use berth_core::clock::Clock;
use berth_core::ids::JobId;
use berth_core::logcap::{LogCap, marker_text};
use berth_core::redact::Redactor;
use berth_core::stdout_events::{EventSplitter, Piece};
use berth_core::store::{Fence, LogChunk, LogStream, OutputBatch, Store, StoreResult};

/// Flush when this many head bytes are pending.
pub const FLUSH_BYTES: usize = 1 << 20;
/// How often pending output is flushed while the head is filling.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How often the rolling tail is flushed once the head is full. Tail chunks that roll out of
/// the window within this interval are never written, so a job printing far past its cap
/// costs about one tail window of writes per interval, not its whole output. The price: a
/// crash loses at most this much of the *tail* (the head and everything older are stored).
pub const TAIL_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// An event a job printed (a stdout line that is a JSON object with a `"berth"` key).
pub type JobEvent = serde_json::Map<String, serde_json::Value>;

/// What the recorder hands back for the caller to show, in order: log bytes (without the
/// event lines) and events.
#[derive(Debug, PartialEq)]
pub enum Shown {
    Log(OutputStream, Vec<u8>),
    Event(JobEvent),
}

pub struct LogRecorder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    job: JobId,
    /// The lease the attempt runs under: a recorder fenced off writes nothing more.
    fence: Option<Fence>,
    attempt: u32,
    cap: LogCap,
    splitter: EventSplitter,
    next_seq: i64,
    pending: Vec<LogChunk>,
    pending_bytes: usize,
    /// Events the job printed, stored with the next batch.
    events: Vec<(String, serde_json::Value, berth_core::clock::Timestamp)>,
    /// Bytes of each stream consumed (held-back ones included: the cursor stores them).
    position: LogPosition,
    /// While the store is unavailable: no write is tried before this.
    held_until: Option<std::time::Instant>,
    /// Batches not written yet, oldest first (a store outage); the first may have landed
    /// when `unsure` (its try failed without an answer).
    unsent: std::collections::VecDeque<OutputBatch>,
    unsure: bool,
    /// Events not kept while the store was unavailable (past `outage::MAX_HELD_EVENTS`).
    dropped_events: u64,
    /// Whether anything changed since the last batch.
    dirty: bool,
    to_delete: Vec<i64>,
    marker_seq: Option<i64>,
    marker_written: bool,
    /// Secret values masked out of stdout and stderr before anything is stored or shown.
    redact: [Redactor; 2],
}

impl LogRecorder {
    /// Events are the stdout JSON-object lines with `key` (`spec.output.event_key`).
    pub fn events_by(mut self, key: &str) -> LogRecorder {
        self.splitter = EventSplitter::with_key(key);
        self
    }

    /// `next_seq` continues the job's sequence (earlier attempts keep their chunks).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        job: JobId,
        attempt: u32,
        cap: u64,
        next_seq: i64,
    ) -> LogRecorder {
        LogRecorder {
            store,
            clock,
            job,
            fence: None,
            attempt,
            cap: LogCap::new(cap),
            splitter: EventSplitter::new(),
            next_seq,
            pending: Vec::new(),
            pending_bytes: 0,
            events: Vec::new(),
            position: LogPosition::default(),
            held_until: None,
            unsent: Default::default(),
            unsure: false,
            dropped_events: 0,
            dirty: false,
            to_delete: Vec::new(),
            marker_seq: None,
            marker_written: false,
            redact: Default::default(),
        }
    }

    /// Masks `values` (the job's secrets) out of everything it prints.
    pub fn redacting(mut self, values: &[&[u8]]) -> LogRecorder {
        self.redact = [Redactor::new(values.iter().copied()), Redactor::new(values.iter().copied())];
        self
    }

    /// Records one piece of output; returns what to show, events already stored.
    pub async fn push(&mut self, stream: OutputStream, data: &[u8]) -> StoreResult<Vec<Shown>> {
        *self.position.of(stream) += data.len() as u64;
        self.dirty = true;
        let data = self.redact[stream as usize].push(data);
        let shown = self.record(stream, &data).await?;
        // An event is stored at once, with the cursor past the whole piece it came in.
        if !self.events.is_empty() {
            self.flush_or_hold().await?;
        }
        Ok(shown)
    }

    /// How far into the unit's output this recorder is.
    pub fn position(&self) -> LogPosition {
        self.position
    }

    async fn record(&mut self, stream: OutputStream, data: &[u8]) -> StoreResult<Vec<Shown>> {
        let mut shown = Vec::new();
        match stream {
            OutputStream::Stderr => {
                self.add(LogStream::Stderr, data);
                shown.push(Shown::Log(stream, data.to_vec()));
            }
            OutputStream::Stdout => {
                for piece in self.splitter.feed(data) {
                    shown.push(self.piece(piece));
                }
            }
        }
        // Past the head, evictions keep `pending` within the tail window: no size trigger.
        if self.pending_bytes >= FLUSH_BYTES && !self.cap.head_full() {
            self.flush_or_hold().await?;
        }
        Ok(shown)
    }

    /// How long the caller may hold output before calling `flush`.
    pub fn flush_interval(&self) -> Duration {
        if self.cap.head_full() { TAIL_FLUSH_INTERVAL } else { FLUSH_INTERVAL }
    }

    /// Flushes what is held and writes the final marker; returns events found in a last partial line.
    pub async fn finish(&mut self) -> StoreResult<Vec<Shown>> {
        let mut shown = Vec::new();
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let held = self.redact[stream as usize].finish();
            if !held.is_empty() {
                shown.extend(self.record(stream, &held).await?);
            }
        }
        for piece in self.splitter.finish() {
            shown.push(self.piece(piece));
        }
        if let Some(seq) = self.marker_seq.filter(|_| self.marker_written) {
            let marker = self.chunk(seq, LogStream::Berth, marker_text(self.cap.omitted()).as_bytes());
            self.pending.push(marker);
        }
        self.flush_riding_out().await?;
        Ok(shown)
    }

    /// Writes under `fence` (the attempt's lease), so a worker that lost it stores nothing.
    pub fn fenced(mut self, fence: Option<Fence>) -> LogRecorder {
        self.fence = fence;
        self
    }

    /// Writes pending chunks and events, deletes evicted chunks, and stores the cursor: one
    /// batch, in one transaction. Batches a store outage kept are written first, in order.
    pub async fn flush(&mut self) -> StoreResult<()> {
        if self.dirty || !self.pending.is_empty() || !self.to_delete.is_empty() {
            self.note_dropped_events();
            let batch = OutputBatch {
                deleted: std::mem::take(&mut self.to_delete),
                chunks: std::mem::take(&mut self.pending),
                events: std::mem::take(&mut self.events),
                cursor: Some((self.attempt, self.cursor())),
            };
            outage::queue(&mut self.unsent, batch);
            self.pending_bytes = 0;
            self.dirty = false;
        }
        self.send_unsent().await
    }

    fn piece(&mut self, piece: Piece) -> Shown {
        match piece {
            Piece::Log(bytes) => {
                self.add(LogStream::Stdout, &bytes);
                Shown::Log(OutputStream::Stdout, bytes)
            }
            Piece::Event(map) => {
                let kind = self.splitter.kind(&map);
                let data = serde_json::Value::Object(map.clone());
                self.hold_event(kind, data);
                Shown::Event(map)
            }
        }
    }

    fn add(&mut self, stream: LogStream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let split = self.cap.split(data.len());
        if split.head > 0 {
            let seq = self.take_seq();
            let chunk = self.chunk(seq, stream, &data[..split.head]);
            self.hold(chunk);
        }
        if split.skip + split.tail == 0 {
            return;
        }
        if self.marker_seq.is_none() {
            self.marker_seq = Some(self.take_seq());
        }
        if split.tail > 0 {
            let seq = self.take_seq();
            let chunk = self.chunk(seq, stream, &data[split.head + split.skip..]);
            self.hold(chunk);
            for old in self.cap.push_tail(seq, split.tail) {
                self.evict(old);
            }
        }
        if self.cap.omitted() > 0 && !self.marker_written {
            // Stored now (so a crash still shows the gap), rewritten with the final count at the end.
            if let Some(seq) = self.marker_seq {
                let marker = self.chunk(seq, LogStream::Berth, marker_text(self.cap.omitted()).as_bytes());
                let at = self.pending.partition_point(|c| c.seq < seq);
                self.pending.insert(at, marker);
                self.marker_written = true;
            }
        }
    }

    fn evict(&mut self, seq: i64) {
        match self.pending.binary_search_by_key(&seq, |c| c.seq) {
            Ok(i) => {
                let gone = self.pending.remove(i);
                self.pending_bytes -= gone.data.len();
            }
            Err(_) => self.to_delete.push(seq),
        }
    }

    fn hold(&mut self, chunk: LogChunk) {
        self.pending_bytes += chunk.data.len();
        self.pending.push(chunk);
    }

    fn take_seq(&mut self) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn chunk(&self, seq: i64, stream: LogStream, data: &[u8]) -> LogChunk {
        LogChunk { seq, attempt: self.attempt, stream, at: self.clock.now(), data: data.to_vec() }
    }
}

#[cfg(test)]
mod tests;
