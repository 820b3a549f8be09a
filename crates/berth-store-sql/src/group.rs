//! Group commit: concurrent writes of one kind wait in a queue while a batch is written, and
//! the next batch takes them all in one transaction. The first write of a quiet period runs
//! at once (no timer), so a lone caller waits no longer than before; under load, one commit
//! (one WAL flush on PostgreSQL, one `BEGIN IMMEDIATE` on SQLite) serves many writers.
//!
//! A caller's answer is sent only after its batch committed (or failed): nothing is
//! acknowledged that is not durable. The batch runs on a task of its own, so a caller that
//! gives up waiting (a dropped request) cannot cut a batch off halfway.

use std::sync::{Arc, Mutex};

use berth_core::store::{StoreError, StoreResult};
use tokio::sync::oneshot;

/// How many operations one transaction takes at most.
pub const MAX_BATCH: usize = 256;

type Waiting<Op, Out> = (Op, oneshot::Sender<StoreResult<Out>>);

/// The queue of one kind of write; cheap to clone (clones share the queue).
pub struct GroupCommit<Op, Out> {
    state: Arc<Mutex<State<Op, Out>>>,
    /// What two operations must not share while either is being written (e.g. the job):
    /// the second is written after the first, and sees what it wrote.
    key: fn(&Op) -> String,
    /// Batches written at once: 1 where the database has one writer (SQLite); more where
    /// commits run in parallel (PostgreSQL), so small batches do not queue behind each other.
    writers: usize,
}

impl<Op, Out> Clone for GroupCommit<Op, Out> {
    fn clone(&self) -> Self {
        GroupCommit { state: self.state.clone(), key: self.key, writers: self.writers }
    }
}

impl<Op, Out> std::fmt::Debug for GroupCommit<Op, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("writers", &self.writers).finish_non_exhaustive()
    }
}

struct State<Op, Out> {
    waiting: Vec<Waiting<Op, Out>>,
    /// Tasks writing batches now; each takes what waits when its batch is done.
    writers: usize,
    /// The keys of the operations being written.
    busy: Vec<String>,
}

impl<Op: Send + 'static, Out: Send + 'static> GroupCommit<Op, Out> {
    pub fn new(key: fn(&Op) -> String, writers: usize) -> Self {
        let state = State { waiting: Vec::new(), writers: 0, busy: Vec::new() };
        GroupCommit { state: Arc::new(Mutex::new(state)), key, writers: writers.max(1) }
    }

    /// Queues `op` and waits for the commit of the batch that took it. `write` writes a
    /// batch (at most `MAX_BATCH` operations, no two with one key) in one transaction and
    /// answers each operation, in order; a caller that finds a writer's place free starts
    /// one with its `write`.
    pub async fn submit<F, Fut>(&self, op: Op, write: F) -> StoreResult<Out>
    where
        F: Fn(Vec<Op>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<StoreResult<Out>>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.state.lock().map_err(|_| poisoned())?;
            let free = state.writers < self.writers && !state.busy.contains(&(self.key)(&op));
            state.waiting.push((op, tx));
            state.writers += usize::from(free);
            free
        };
        if start {
            tokio::spawn(self.clone().write_all(write));
        }
        rx.await.map_err(|_| StoreError::Unavailable("the batch writing this change stopped".into()))?
    }

    /// Writes batches until nothing it may take waits.
    async fn write_all<F, Fut>(self, write: F)
    where
        F: Fn(Vec<Op>) -> Fut,
        Fut: Future<Output = Vec<StoreResult<Out>>>,
    {
        // If this task stops early (a panic in `write`, a runtime shutting down), it gives
        // its place up; with no writer left, what waits is answered with an error.
        let mut reset = Reset { group: self.clone(), keys: Vec::new(), armed: true };
        loop {
            // Let writers that are ready to queue (e.g. the other jobs of a batched claim) do
            // so before the batch is taken: no timer, one pass of the scheduler.
            tokio::task::yield_now().await;
            let done = std::mem::take(&mut reset.keys);
            let Some(batch) = self.next_batch(&done) else {
                reset.armed = false; // `next_batch` gave the place up
                return;
            };
            reset.keys = batch.iter().map(|w| (self.key)(&w.0)).collect();
            let (ops, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            for (answer, result) in answers.into_iter().zip(write(ops).await) {
                let _ = answer.send(result);
            }
        }
    }

    /// Frees the keys of the batch just written (`done`) and takes up to `MAX_BATCH` waiting
    /// operations whose keys no batch holds (the rest keep their order); `None`, giving
    /// the writer's place up, when there are none.
    fn next_batch(&self, done: &[String]) -> Option<Vec<Waiting<Op, Out>>> {
        let Ok(mut state) = self.state.lock() else { return None };
        state.busy.retain(|k| !done.contains(k));
        let mut taken: Vec<Waiting<Op, Out>> = Vec::new();
        let mut left = Vec::new();
        for w in std::mem::take(&mut state.waiting) {
            let key = (self.key)(&w.0);
            if taken.len() < MAX_BATCH && !state.busy.contains(&key) {
                state.busy.push(key);
                taken.push(w);
            } else {
                left.push(w);
            }
        }
        state.waiting = left;
        if taken.is_empty() {
            state.writers -= 1;
            return None;
        }
        Some(taken)
    }
}

/// Gives the writer's place up when its task ends early, however it ends: its keys are
/// freed, and with no writer left whatever still waits is answered with an error (its
/// sender dropped) rather than left waiting.
struct Reset<Op, Out> {
    group: GroupCommit<Op, Out>,
    /// The keys of the batch being written.
    keys: Vec<String>,
    /// Still this task's place to give up (it ended early).
    armed: bool,
}

impl<Op, Out> Drop for Reset<Op, Out> {
    fn drop(&mut self) {
        if self.armed
            && let Ok(mut state) = self.group.state.lock()
        {
            state.busy.retain(|k| !self.keys.contains(k));
            state.writers -= 1;
            if state.writers == 0 {
                state.waiting.clear();
            }
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("the group-commit queue is poisoned (a writer panicked)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records every batch; fails operations that are odd. Each batch waits for a permit of
    /// `gate`, so a test decides when batches are written.
    #[derive(Clone)]
    struct Recorder {
        batches: Arc<Mutex<Vec<Vec<u32>>>>,
        running: Arc<AtomicUsize>,
        /// The most batches written at once.
        peak: Arc<AtomicUsize>,
        /// Operations in batches the writer has taken (written or held at the gate).
        taken: Arc<AtomicUsize>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Recorder {
        fn new() -> Recorder {
            Recorder {
                batches: Arc::default(),
                running: Arc::default(),
                peak: Arc::default(),
                taken: Arc::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(0)),
            }
        }

        fn submit(&self, group: &GroupCommit<u32, u32>, n: u32) -> impl Future<Output = StoreResult<u32>> + use<> {
            let (rec, group) = (self.clone(), group.clone());
            async move { group.submit(n, move |ops| rec.clone().write(ops)).await }
        }

        async fn write(self, ops: Vec<u32>) -> Vec<StoreResult<u32>> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.taken.fetch_add(ops.len(), Ordering::SeqCst);
            self.gate.acquire().await.unwrap().forget();
            self.batches.lock().unwrap().push(ops.clone());
            self.running.fetch_sub(1, Ordering::SeqCst);
            ops.into_iter()
                .map(|n| if n % 2 == 0 { Ok(n * 10) } else { Err(StoreError::Conflict(n.to_string())) })
                .collect()
        }
    }

    fn job_of(n: &u32) -> String {
        (n % 100).to_string()
    }

    /// Until all `n` operations are queued or taken by the writer.
    async fn queued(rec: &Recorder, group: &GroupCommit<u32, u32>, n: usize) {
        while group.state.lock().unwrap().waiting.len() + rec.taken.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_batches_and_each_gets_its_own_answer() {
        let rec = Recorder::new();
        let group = GroupCommit::new(job_of, 1);
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..60u32 {
            let write = rec.submit(&group, n);
            tasks.spawn(async move { (n, write.await) });
        }
        // The first batch is held at the gate; everything else waits behind it.
        queued(&rec, &group, 60).await;
        rec.gate.add_permits(60);
        while let Some(done) = tasks.join_next().await {
            let (n, out) = done.unwrap();
            match out {
                Ok(v) => assert_eq!((n % 2, v), (0, n * 10)),
                Err(StoreError::Conflict(s)) => assert_eq!(s, n.to_string()),
                Err(e) => panic!("{e}"),
            }
        }
        let sizes: Vec<usize> = rec.batches.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 60, "every write written once: {sizes:?}");
        assert!(sizes.len() <= 2, "at most two commits for 60 writes: {sizes:?}");
        assert_eq!(rec.peak.load(Ordering::SeqCst), 1, "one writer: one batch at a time");
    }

    #[tokio::test]
    async fn conflicting_ops_go_to_separate_batches_in_order() {
        let rec = Recorder::new();
        let group = GroupCommit::new(job_of, 1);
        let first = tokio::spawn(rec.submit(&group, 0));
        let (a, b, c) = (
            tokio::spawn(rec.submit(&group, 2)),
            tokio::spawn(rec.submit(&group, 102)),
            tokio::spawn(rec.submit(&group, 4)),
        );
        queued(&rec, &group, 4).await;
        rec.gate.add_permits(10);
        assert_eq!(first.await.unwrap().unwrap(), 0);
        let (a, b, c) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap(), c.await.unwrap().unwrap());
        assert_eq!((a, b, c), (20, 1020, 40));
        let batches = rec.batches.lock().unwrap().clone();
        let pos = |n| batches.iter().position(|b| b.contains(&n)).unwrap();
        assert!(pos(2) < pos(102), "of two writes to one job, the first queued is written first: {batches:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_writers_write_other_jobs_at_once_and_one_jobs_changes_in_turn() {
        let rec = Recorder::new();
        let group = GroupCommit::new(job_of, 2);
        let until_running = |n| {
            let rec = rec.clone();
            async move {
                while rec.running.load(Ordering::SeqCst) < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        let a = tokio::spawn(rec.submit(&group, 2));
        until_running(1).await;
        // The first batch is held at the gate; a change to another job starts a second writer.
        let b = tokio::spawn(rec.submit(&group, 4));
        until_running(2).await;
        let (c, d) = (tokio::spawn(rec.submit(&group, 6)), tokio::spawn(rec.submit(&group, 106)));
        queued(&rec, &group, 4).await;
        rec.gate.add_permits(10);
        let all = [a, b, c, d];
        let mut outs = Vec::new();
        for t in all {
            outs.push(t.await.unwrap().unwrap());
        }
        assert_eq!(outs, [20, 40, 60, 1060]);
        assert_eq!(rec.peak.load(Ordering::SeqCst), 2, "two batches were written at once");
        let batches = rec.batches.lock().unwrap().clone();
        let pos = |n| batches.iter().position(|b| b.contains(&n)).unwrap();
        assert!(pos(6) < pos(106), "one job's changes are written in turn: {batches:?}");
    }

    #[tokio::test]
    async fn a_writer_that_panics_fails_its_batch_and_the_next_write_starts_another() {
        let group: GroupCommit<u32, u32> = GroupCommit::new(job_of, 1);
        let write = |_ops: Vec<u32>| async move {
            if _ops.len() < 1000 {
                panic!("a bug in a batch");
            }
            Vec::<StoreResult<u32>>::new()
        };
        let boom = group.submit(1, write).await;
        assert!(matches!(boom, Err(StoreError::Unavailable(_))), "{boom:?}");
        let rec = Recorder::new();
        rec.gate.add_permits(1);
        assert_eq!(rec.submit(&group, 2).await.unwrap(), 20, "the queue works again");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_stop_the_batch() {
        let rec = Recorder::new();
        let group = GroupCommit::new(job_of, 1);
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), rec.submit(&group, 8)).await;
        assert!(gave_up.is_err(), "the write is held at the gate");
        rec.gate.add_permits(2);
        assert_eq!(rec.submit(&group, 6).await.unwrap(), 60);
        let batches = rec.batches.lock().unwrap().concat();
        assert!(batches.contains(&8), "the abandoned write still happened: {batches:?}");
    }
}
