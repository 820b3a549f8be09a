//! The recorder's cases: the cap, events, and a resume that stores what one uninterrupted
//! recorder would have.

use super::*;
use berth_core::clock::{FixedClock, Timestamp};
use berth_core::store::{JobStore, LogStore, NewJob};
use berth_store_sqlite::SqliteStore;

async fn setup(cap: u64) -> (tempfile::TempDir, Arc<SqliteStore>, LogRecorder) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db")).await.unwrap());
    let id = JobId::generate();
    let job = NewJob::new(id.clone(), berth_core::JobSpec::new("x"), None, Timestamp(0));
    store.create_job(job).await.unwrap();
    let rec = LogRecorder::new(store.clone(), Arc::new(FixedClock::at(5)), id, 1, cap, 0);
    (dir, store, rec)
}

async fn stored(store: &SqliteStore, rec: &LogRecorder) -> Vec<LogChunk> {
    store.read_logs(&rec.job, -1, 100_000).await.unwrap()
}

#[tokio::test]
async fn below_the_cap_everything_is_kept_in_order_and_events_are_lifted() {
    let (_d, store, mut rec) = setup(1 << 20).await;
    rec.push(OutputStream::Stdout, b"one\n{\"berth\":\"progress\",\"percent\":50}\ntwo\n").await.unwrap();
    rec.push(OutputStream::Stderr, b"err\n").await.unwrap();
    rec.finish().await.unwrap();
    let chunks = stored(&store, &rec).await;
    let text: Vec<_> = chunks.iter().map(|c| (c.stream, String::from_utf8_lossy(&c.data).into_owned())).collect();
    let want =
        [(LogStream::Stdout, "one\n".into()), (LogStream::Stdout, "two\n".into()), (LogStream::Stderr, "err\n".into())];
    assert_eq!(text, want);
    let events = store.read_events(&rec.job, 0, 10).await.unwrap();
    let progress: Vec<_> = events.iter().filter(|e| e.kind == "progress").collect();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].data["percent"], 50);
}

#[tokio::test]
async fn over_the_cap_head_and_tail_are_kept_with_a_marker_between() {
    let (_d, store, mut rec) = setup(1000).await;
    for i in 0..200 {
        rec.push(OutputStream::Stderr, format!("line {i:04}\n").as_bytes()).await.unwrap();
        if i % 7 == 0 {
            rec.flush().await.unwrap();
        }
    }
    rec.finish().await.unwrap();
    let chunks = stored(&store, &rec).await;
    let logs: Vec<u8> = chunks.iter().filter(|c| c.stream != LogStream::Berth).flat_map(|c| c.data.clone()).collect();
    assert!(logs.len() <= 1000, "{} bytes kept", logs.len());
    let text = String::from_utf8(logs).unwrap();
    assert!(text.starts_with("line 0000\n"));
    assert!(text.ends_with("line 0199\n"));
    let markers: Vec<_> = chunks.iter().filter(|c| c.stream == LogStream::Berth).collect();
    assert_eq!(markers.len(), 1);
    let omitted = 200 * 10 - text.len();
    let marker = String::from_utf8_lossy(&markers[0].data);
    assert!(marker.contains(&format!("{omitted} bytes of output omitted")), "{marker}");
    // The marker sits between head and tail.
    let pos = chunks.iter().position(|c| c.stream == LogStream::Berth).unwrap();
    assert!(pos > 0 && pos < chunks.len() - 1);
}

const SECRET: &[u8] = b"s3cret-value";

/// What a job prints, push by push: both streams, partial lines, a secret and events split
/// across pushes, and far more than the cap.
fn script() -> Vec<(OutputStream, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..300 {
        out.push((OutputStream::Stdout, format!("line {i:03} ").into_bytes()));
        out.push((OutputStream::Stdout, b"s3cr".to_vec()));
        out.push((OutputStream::Stdout, b"et-value\n".to_vec()));
        if i % 7 == 0 {
            out.push((OutputStream::Stdout, b"{\"berth\":\"progress\",".to_vec()));
            out.push((OutputStream::Stdout, format!("\"percent\":{i}}}\n").into_bytes()));
        }
        out.push((OutputStream::Stderr, format!("err {i}\n").into_bytes()));
    }
    out
}

/// A recorder of attempt 1 of a fresh job (the attempt row holds the cursor).
async fn attempt_recorder(store: &Arc<SqliteStore>, id: &JobId) -> LogRecorder {
    let rec = LogRecorder::new(store.clone(), Arc::new(FixedClock::at(5)), id.clone(), 1, 2000, 0);
    rec.redacting(&[SECRET])
}

async fn attempt_store() -> (tempfile::TempDir, Arc<SqliteStore>, JobId) {
    let (dir, store, rec) = setup(0).await;
    store.start_attempt(&rec.job, "w", None, Timestamp(1)).await.unwrap();
    (dir, store, rec.job)
}

/// Pushes `script` from push `from` on, skipping what `skip` says was consumed (as a
/// backend's reattach does), flushing after some pushes as the attempt's timer would (at
/// irregular points, so some batches are stored with a line, a secret or an event held back).
async fn play(rec: &mut LogRecorder, script: &[(OutputStream, Vec<u8>)], range: std::ops::Range<usize>) {
    let mut skip = rec.position();
    for (i, (stream, data)) in script.iter().enumerate().take(range.end).skip(range.start) {
        let left = skip.of(*stream);
        let n = (*left).min(data.len() as u64) as usize;
        *left -= n as u64;
        if n < data.len() {
            rec.push(*stream, &data[n..]).await.unwrap();
        }
        if i % 5 == 4 || i % 13 == 3 {
            rec.flush().await.unwrap();
        }
    }
}

async fn everything(
    store: &SqliteStore,
    id: &JobId,
) -> (Vec<(i64, LogStream, Vec<u8>)>, Vec<(String, serde_json::Value)>) {
    let chunks = store.read_logs(id, -1, 100_000).await.unwrap();
    let events = store.read_events(id, 0, 100_000).await.unwrap();
    (
        chunks.into_iter().map(|c| (c.seq, c.stream, c.data)).collect(),
        events.into_iter().map(|e| (e.kind, e.data)).collect(),
    )
}

#[tokio::test]
async fn a_recorder_resumed_from_its_cursor_stores_what_one_uninterrupted_recorder_stores() {
    let script = script();
    let (_a, whole, id) = attempt_store().await;
    let mut rec = attempt_recorder(&whole, &id).await;
    play(&mut rec, &script, 0..script.len()).await;
    rec.finish().await.unwrap();
    let want = everything(&whole, &id).await;
    assert!(want.0.iter().any(|c| c.1 == LogStream::Berth), "the script passes the cap");
    assert!(want.1.len() >= 40, "events: {}", want.1.len());
    assert!(!want.0.iter().any(|c| c.2.windows(4).any(|w| w == b"s3cr")), "the secret is masked");

    // Crashes at pushes that leave a partial line, a half secret and a half event held back,
    // with and without output since the last flush, before and after the cap's head fills.
    for crash in [1, 2, 3, 4, 9, 20, 37, 38, 300, 301, 999, script.len() - 1] {
        let (_b, store, id) = attempt_store().await;
        let mut first = attempt_recorder(&store, &id).await;
        play(&mut first, &script, 0..crash).await;
        drop(first); // a SIGKILL: what was not flushed is lost, and read again from the engine
        let mut next = attempt_recorder(&store, &id).await;
        if let Some(cursor) = store.output_cursor(&id, 1).await.unwrap() {
            let text = cursor.to_string();
            assert!(!text.contains(&hex::encode(b"s3cr")) && !text.contains("s3cr"), "a secret's start in {text}");
            next = next.resume(cursor).await.unwrap();
        }
        play(&mut next, &script, 0..script.len()).await;
        next.finish().await.unwrap();
        let got = everything(&store, &id).await;
        assert_eq!(got.1, want.1, "events after a crash at push {crash}");
        assert_eq!(got.0, want.0, "log chunks after a crash at push {crash}");
    }
}

#[tokio::test]
async fn the_specs_event_key_picks_the_event_lines_and_names_their_kind() {
    let (_d, store, rec) = setup(1 << 20).await;
    let mut rec = rec.events_by("type");
    let out = b"{\"type\":\"job_update\",\"progress\":0.5}\n{\"berth\":\"progress\"}\nplain\n";
    rec.push(OutputStream::Stdout, out).await.unwrap();
    rec.finish().await.unwrap();
    let chunks = stored(&store, &rec).await;
    let text: String = chunks.iter().map(|c| String::from_utf8_lossy(&c.data).into_owned()).collect();
    assert_eq!(text, "{\"berth\":\"progress\"}\nplain\n", "only the key's lines leave the log");
    let events = store.read_events(&rec.job, 0, 10).await.unwrap();
    let update: Vec<_> = events.iter().filter(|e| e.kind == "job_update").collect();
    assert_eq!((update.len(), &update[0].data["progress"]), (1, &serde_json::json!(0.5)));
}
