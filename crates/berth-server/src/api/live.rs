//! Live sessions over WebSocket: attaching to a running job's console (`berth attach`,
//! `berth run -i`/`-it` through a server) and commands with live input or a TTY in it
//! (`berth exec -i`/`-it`). Frames, both ways:
//! - client → server: binary frames are stdin bytes; text frames are JSON controls,
//!   `{"resize": {"rows": R, "cols": C}}` or `{"eof": true}` (end of input);
//! - server → client: binary frames are output, the first byte naming the stream (1 stdout,
//!   2 stderr; a TTY's output is all 1); text frames are JSON: `{"exit_code": N}` when a
//!   command ends, `{"error": {"code", "message"}}` when the session fails after the upgrade.
//!
//! The job's own output is still recorded by its worker; a session only shows it live.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_core::backend::{ExecCommand, LiveIo, OutputStream, OutputStreamOf, TerminalInput, TerminalStream, TtySize};
use berth_core::store::JobRecord;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{query, visible_job};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachQuery {
    /// Forward the client's binary frames to the job's stdin (it must have been started
    /// with `interactive` or `tty`); without it, the session only watches.
    pub stdin: Option<bool>,
    /// Send everything the job printed so far first (the engine's log), then live output.
    pub replay: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveExecQuery {
    /// Run the command on a pseudo-terminal (`docker exec -t`).
    pub tty: Option<bool>,
    /// Forward the client's binary frames to the command's stdin (`docker exec -i`).
    pub stdin: Option<bool>,
}

/// A control message from the client (a text frame).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientControl {
    /// The client's terminal size changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<TtySize>,
    /// No more input: a stdin that is not a TTY is closed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eof: bool,
}

/// A message from the server (a text frame).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServerControl {
    /// The command's exit code, when a live exec ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

/// Attach to a running job's console over WebSocket (frames: docs/api.md, "Live
/// sessions"): live output, and with `stdin=true` its stdin and TTY size.
/// Closing the socket detaches; the job runs on. Needs the server's engine to reach the
/// job's container (a job on another Docker host's worker cannot be attached from here).
#[utoipa::path(get, path = "/v1/jobs/{id}/attach", tag = "jobs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), AttachQuery),
    responses((status = 101, description = "Switching Protocols: the WebSocket session"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job is not running", body = ErrorBody),
        (status = 422, description = "The backend cannot attach", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn attach(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<AttachQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let ws = upgrade(ws)?;
    let job = visible_job(&state, &who, &id).await?;
    let (tx, input) = input_channel();
    let stdin = q.stdin.unwrap_or(false);
    let io = LiveIo { input: stdin.then_some(input), stdin, tty: false };
    let output = state.runner.join(&job, io, q.replay.unwrap_or(false)).await?;
    Ok(ws.on_upgrade(move |socket| async move {
        let (sink, source) = socket.split();
        let reader = tokio::spawn(read_client(source, stdin.then_some((tx, true))));
        let _ = pump(sink, output, None).await;
        reader.abort();
    }))
}

/// Run a command in a running job's container over WebSocket, on a TTY with `tty=true`,
/// with the client's input with `stdin=true`. The first client frame is the command (an
/// `ExecRequest` as JSON text); then frames as for attach, and a last `{"exit_code": N}`.
#[utoipa::path(get, path = "/v1/jobs/{id}/exec/live", tag = "jobs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), LiveExecQuery),
    responses((status = 101, description = "Switching Protocols: the WebSocket session"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job is not running", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn exec_live(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<LiveExecQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let ws = upgrade(ws)?;
    let job = visible_job(&state, &who, &id).await?;
    if job.status != berth_core::JobStatus::Running {
        return Err(ApiError::conflict(format!("job {} is {}: exec needs a running job", job.id, job.status)));
    }
    Ok(ws.on_upgrade(move |socket| run_exec(state, job, q, socket)))
}

async fn run_exec(state: AppState, job: JobRecord, q: LiveExecQuery, socket: WebSocket) {
    let (mut sink, mut source) = socket.split();
    let command = match first_command(&mut source).await {
        Ok(c) => c,
        Err(e) => return send_error(&mut sink, e).await,
    };
    let stdin = q.stdin.unwrap_or(false);
    let tty = q.tty.unwrap_or(false);
    let (tx, input) = input_channel();
    // A TTY takes resizes even without stdin; the input is then only sizes.
    let wants_input = stdin || tty;
    let io = LiveIo { input: wants_input.then_some(input), stdin, tty };
    let started = match state.runner.exec_live(&job, &command, io).await {
        Ok(s) => s,
        Err(e) => return send_error(&mut sink, ApiError::from(e)).await,
    };
    let reader = tokio::spawn(read_client(source, wants_input.then_some(tx).map(|tx| (tx, stdin))));
    let _ = pump(sink, started.output, Some(started.exit)).await;
    reader.abort();
}

fn upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> ApiResult<WebSocketUpgrade> {
    ws.map_err(|e| {
        let message = format!("this is a WebSocket endpoint (send an upgrade request): {}", e.body_text());
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", message)
    })
}

fn input_channel() -> (mpsc::Sender<TerminalInput>, TerminalStream) {
    let (tx, rx) = mpsc::channel(64);
    (tx, rx.boxed())
}

async fn first_command(source: &mut SplitStream<WebSocket>) -> Result<ExecCommand, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_command", m);
    let text = loop {
        match source.next().await {
            Some(Ok(Message::Text(t))) => break t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return Err(bad("the first frame must be the command, as JSON text".into())),
        }
    };
    let command: ExecCommand = serde_json::from_str(text.as_str()).map_err(|e| bad(format!("the command: {e}")))?;
    match command.problems().into_iter().next() {
        Some(p) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", p.message).field(&p.field)),
        None => Ok(command),
    }
}

/// Client frames into terminal input until the client closes or says `eof`. With
/// `(tx, false)` (a TTY without stdin) only resizes go through.
async fn read_client(mut source: SplitStream<WebSocket>, input: Option<(mpsc::Sender<TerminalInput>, bool)>) {
    let Some(input) = input else {
        // Nothing to forward: read on so pings are answered and a close is seen.
        while let Some(Ok(_)) = source.next().await {}
        return;
    };
    let (mut tx, stdin) = input;
    while let Some(Ok(message)) = source.next().await {
        let item = match message {
            Message::Binary(b) if stdin => TerminalInput::Data(b),
            Message::Text(t) => match serde_json::from_str::<ClientControl>(t.as_str()) {
                Ok(ClientControl { resize: Some(size), .. }) => TerminalInput::Resize(size),
                Ok(ClientControl { eof: true, .. }) => return,
                _ => continue,
            },
            Message::Close(_) => return,
            _ => continue,
        };
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

/// Output to the client, then the exit code (if any), then a close.
async fn pump(
    mut sink: SplitSink<WebSocket, Message>,
    mut output: OutputStreamOf,
    exit: Option<BoxFuture<'static, Result<berth_core::backend::ExitInfo, berth_core::backend::BackendError>>>,
) -> Result<(), axum::Error> {
    while let Some(chunk) = output.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                send_error(&mut sink, ApiError::from(e)).await;
                return Ok(());
            }
        };
        let tag = if chunk.stream == OutputStream::Stderr { 2 } else { 1 };
        let mut frame = Vec::with_capacity(chunk.data.len() + 1);
        frame.push(tag);
        frame.extend_from_slice(&chunk.data);
        sink.send(Message::Binary(frame.into())).await?;
    }
    if let Some(exit) = exit {
        match exit.await {
            Ok(info) => {
                let done = ServerControl { exit_code: Some(info.code), error: None };
                sink.send(Message::Text(serde_json::to_string(&done).unwrap_or_default().into())).await?;
            }
            Err(e) => send_error(&mut sink, ApiError::from(e)).await,
        }
    }
    sink.send(Message::Close(None)).await
}

async fn send_error(sink: &mut SplitSink<WebSocket, Message>, e: ApiError) {
    let body = serde_json::to_value(&e.body.error).unwrap_or_default();
    let msg = ServerControl { exit_code: None, error: Some(body) };
    let _ = sink.send(Message::Text(serde_json::to_string(&msg).unwrap_or_default().into())).await;
    let _ = sink.send(Message::Close(None)).await;
}
