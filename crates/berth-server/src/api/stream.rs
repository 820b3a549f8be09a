//! Logs and events: a plain-text download, or a live Server-Sent Events stream whose event
//! ids are the store's sequence numbers, so a client that reconnects with `Last-Event-ID`
//! (or `?after=`) misses nothing and sees nothing twice. Each stream ends with an `end` event
//! carrying the job's final status.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_core::ids::JobId;
use berth_core::store::{JobRecord, LogStream, StoreResult};
use futures::SinkExt;
use futures::channel::mpsc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{query, visible_job};
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use crate::views::EventView;

/// How often a live stream looks for new output when it has caught up.
const POLL: Duration = Duration::from_millis(150);
const PAGE: u32 = 1000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Stream live over SSE instead of downloading what is stored so far.
    pub follow: Option<bool>,
    /// Start after this sequence number (the `Last-Event-ID` header does the same); log
    /// sequence numbers start at 0, event sequence numbers at 1.
    pub after: Option<i64>,
}

/// One Server-Sent Event as it travels: `event` names it (`log`, `end`, `status`, `berth`,
/// `stopping`, `warning`, `error`), `id` is its sequence number (absent on `end`), and `data`
/// is JSON: a `LogLine` for `log`, an `EndOfStream` for `end`, `{"at", "data"}` for events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// The `data` of a `log` event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// `stdout`, `stderr`, or `berth` (berth's own notes, such as the truncation marker).
    pub stream: String,
    pub attempt: u32,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The output, UTF-8 (invalid bytes replaced), newlines included.
    pub text: String,
}

/// One stored piece of output with its sequence number (`Accept: application/json`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPiece {
    pub seq: i64,
    #[serde(flatten)]
    pub line: LogLine,
}

/// The `data` of the final `end` event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndOfStream {
    pub status: berth_core::JobStatus,
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
}

/// A job's output. Plain text by default; with `follow=true` or `Accept: text/event-stream`
/// an SSE stream of `log` events (id = sequence number) ending with `end`.
#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "logs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), StreamQuery),
    responses(
        (status = 200, description = "Output so far (text/plain, or with `Accept: application/json` up to 1000 pieces after `after`), or a live SSE stream", content(
            (String = "text/plain"), (Vec<LogPiece> = "application/json"), (SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let job = visible_job(&state, &who, &id).await?;
    let after = resume_point(&headers, q.after);
    if wants_json(&headers) {
        return Ok(axum::Json(pieces(&state, &job.id, after).await?).into_response());
    }
    if !wants_sse(&headers, q.follow) {
        return Ok(download(&state, &job.id, after).await?.into_response());
    }
    Ok(live(state, job.id, after, read_log_events))
}

/// A job's lifecycle and progress events (`status`, the job's own `{"berth": ...}` lines by
/// their kind, `stopping`, `warning`, ...): the ones recorded so far as a JSON list, or with
/// `follow=true` or `Accept: text/event-stream` a live SSE stream ending with `end`.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "logs", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), StreamQuery),
    responses((status = 200, description = "Events so far (JSON), or a live SSE stream", content(
            (Vec<EventView> = "application/json"), (SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let job = visible_job(&state, &who, &id).await?;
    let after = resume_point(&headers, q.after);
    if !wants_sse(&headers, q.follow) {
        let mut all: Vec<EventView> = Vec::new();
        let mut after = after;
        loop {
            let page = state.runner.store().read_events(&job.id, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page.into_iter().map(EventView::from));
        }
        return Ok(axum::Json(all).into_response());
    }
    Ok(live(state, job.id, after, read_job_events))
}

/// An SSE response fed by a `pump` task reading with `read`.
fn live<F, Fut>(state: AppState, id: JobId, after: i64, read: F) -> Response
where
    F: Fn(AppState, JobId, i64) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Vec<(i64, Event)>>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(pump(state, id, after, tx, read));
    sse(rx)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

/// The stored output after `after` as JSON pieces (at most `PAGE`: ask again after the
/// last one's `seq` for more).
async fn pieces(state: &AppState, id: &JobId, after: i64) -> StoreResult<Vec<LogPiece>> {
    let chunks = state.runner.store().read_logs(id, after, PAGE).await?;
    Ok(chunks
        .into_iter()
        .map(|c| LogPiece {
            seq: c.seq,
            line: LogLine {
                stream: stream_name(c.stream).to_string(),
                attempt: c.attempt,
                at: c.at.0,
                text: String::from_utf8_lossy(&c.data).into_owned(),
            },
        })
        .collect())
}

fn wants_sse(headers: &HeaderMap, follow: Option<bool>) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    follow.unwrap_or(false) || accept.contains("text/event-stream")
}

/// The sequence number to continue after; -1 (before the first, which is 0) by default.
fn resume_point(headers: &HeaderMap, after: Option<i64>) -> i64 {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    last.or(after).unwrap_or(-1).max(-1)
}

fn sse(rx: mpsc::Receiver<Event>) -> Response {
    let stream = futures::StreamExt::map(rx, Ok::<_, std::convert::Infallible>);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn download(state: &AppState, id: &JobId, mut after: i64) -> StoreResult<Response> {
    let mut out = Vec::new();
    loop {
        let chunks = state.runner.store().read_logs(id, after, PAGE).await?;
        let Some(last) = chunks.last() else { break };
        after = last.seq;
        for c in chunks {
            out.extend_from_slice(&c.data);
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response())
}

fn json_event(name: &str, id: Option<i64>, data: &impl Serialize) -> Event {
    let event = Event::default().event(name);
    let event = match id {
        Some(i) => event.id(i.to_string()),
        None => event,
    };
    event.json_data(data).unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}

fn end_event(job: &JobRecord) -> Event {
    let end = EndOfStream {
        status: job.status,
        reason: job.reason.as_ref().map(ToString::to_string),
        exit_code: job.exit_code,
    };
    json_event("end", None, &end)
}

/// What a pump found when it caught up: keep going, or the job's final record.
enum CaughtUp {
    Wait,
    Ended(Box<JobRecord>),
}

async fn caught_up(state: &AppState, id: &JobId) -> StoreResult<CaughtUp> {
    let job = state.runner.store().get_job(id).await?;
    Ok(if job.status.is_terminal() { CaughtUp::Ended(Box::new(job)) } else { CaughtUp::Wait })
}

async fn read_log_events(state: AppState, id: JobId, after: i64) -> StoreResult<Vec<(i64, Event)>> {
    let chunks = state.runner.store().read_logs(&id, after, PAGE).await?;
    Ok(chunks
        .into_iter()
        .map(|c| {
            let line = LogLine {
                stream: stream_name(c.stream).to_string(),
                attempt: c.attempt,
                at: c.at.0,
                text: String::from_utf8_lossy(&c.data).into_owned(),
            };
            (c.seq, json_event("log", Some(c.seq), &line))
        })
        .collect())
}

async fn read_job_events(state: AppState, id: JobId, after: i64) -> StoreResult<Vec<(i64, Event)>> {
    let events = state.runner.store().read_events(&id, after, PAGE).await?;
    Ok(events
        .into_iter()
        .map(|e| {
            let data = serde_json::json!({"at": e.at.0, "data": e.data});
            (e.seq, json_event(&e.kind, Some(e.seq), &data))
        })
        .collect())
}

/// Sends what `read` finds after `after`, polling when caught up, until the job has ended
/// and everything before its end is sent. Writers store a job's output and events before
/// its terminal status, so one more read after seeing the end catches all of them.
async fn pump<F, Fut>(state: AppState, id: JobId, mut after: i64, mut tx: mpsc::Sender<Event>, read: F)
where
    F: Fn(AppState, JobId, i64) -> Fut,
    Fut: Future<Output = StoreResult<Vec<(i64, Event)>>>,
{
    let mut ending: Option<Box<JobRecord>> = None;
    loop {
        let found = match read(state.clone(), id.clone(), after).await {
            Ok(found) => found,
            Err(e) => return send_error(&mut tx, &e.to_string()).await,
        };
        if found.is_empty() {
            if let Some(job) = ending {
                let _ = tx.send(end_event(&job)).await;
                return;
            }
            match caught_up(&state, &id).await {
                Ok(CaughtUp::Ended(job)) => ending = Some(job),
                Ok(CaughtUp::Wait) if idle(&state, &tx).await => {}
                Ok(CaughtUp::Wait) => return,
                Err(e) => return send_error(&mut tx, &e.to_string()).await,
            }
            continue;
        }
        for (seq, event) in found {
            after = seq;
            if tx.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// Waits one poll interval; false when the client left or the server is shutting down.
async fn idle(state: &AppState, tx: &mpsc::Sender<Event>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(POLL) => !tx.is_closed(),
        _ = state.shutdown.cancelled() => false,
    }
}

async fn send_error(tx: &mut mpsc::Sender<Event>, message: &str) {
    let _ = tx.send(json_event("error", None, &serde_json::json!({"message": message}))).await;
}

fn stream_name(s: LogStream) -> &'static str {
    match s {
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
        LogStream::Berth => "berth",
    }
}
