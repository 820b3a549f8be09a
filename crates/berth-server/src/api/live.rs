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

/// The largest frame a client may send (a keystroke burst or a pipe's chunk is far less).
const MAX_FRAME: usize = 1 << 20;
/// Input frames waiting for the job to read them; past it the client waits (TCP pushes back).
const INPUT_QUEUE: usize = 16;
/// How long a live exec waits for its command frame.
const FIRST_FRAME_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often a session pings its client.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachQuery {
    /// Forward the client's binary frames to the job's stdin (it must have been submitted
    /// with `interactive`); without it, the session only watches (a TTY job still takes the
    /// client's terminal size).
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
    responses((status = 101, description = "Switching Protocols: the WebSocket session. Example: \
        `GET /v1/jobs/3f2a/attach?stdin=true` with `Upgrade: websocket`; the client sends text \
        `{\"resize\": {\"rows\": 40, \"cols\": 120}}` and binary `ls\\n`; the server sends binary \
        `\\x01bin  etc  tmp\\n` (first byte 1 = stdout, 2 = stderr)"),
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
    let job = visible_job(&state, &who, &id).await?;
    let ws = upgrade(ws)?;
    let (tx, input) = input_channel();
    let stdin = q.stdin.unwrap_or(false);
    // A TTY takes the client's sizes even when its keys do not go in.
    let wants_input = stdin || job.spec.tty;
    let io = LiveIo { input: wants_input.then_some(input), stdin, tty: job.spec.tty };
    let output = state.runner.join(&job, io, q.replay.unwrap_or(false)).await?;
    Ok(ws.on_upgrade(move |socket| {
        let (sink, source) = socket.split();
        serve(sink, source, output, None, wants_input.then_some((tx, stdin)))
    }))
}

/// Run a command in a running job's container over WebSocket, on a TTY with `tty=true`,
/// with the client's input with `stdin=true`. The first client frame is the command (an
/// `ExecRequest` as JSON text); then frames as for attach, and a last `{"exit_code": N}`.
#[utoipa::path(get, path = "/v1/jobs/{id}/exec/live", tag = "jobs",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{4,32}$"), LiveExecQuery),
    responses((status = 101, description = "Switching Protocols: the WebSocket session. Example: \
        `GET /v1/jobs/3f2a/exec/live?tty=true&stdin=true`; the client's first frame is text \
        `{\"command\": [\"sh\"]}`, then binary `exit 3\\n`; the server sends binary output \
        (`\\x01# `) and last text `{\"exit_code\": 3}`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job is not running", body = ErrorBody),
        (status = 422, description = "The backend cannot run live commands", body = ErrorBody),
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
    let job = visible_job(&state, &who, &id).await?;
    let ws = upgrade(ws)?;
    // Both refusals come before the upgrade, so they are HTTP answers (409, 422); the
    // session checks again when the command arrives.
    state.runner.running_unit(&job, "exec").await?;
    state.runner.needs_attach("run live commands in a job")?;
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
    serve(sink, source, started.output, Some(started.exit), wants_input.then_some((tx, stdin))).await;
}

/// One session until either side ends it: the output (and exit) to the client, its frames
/// in. A client that leaves ends the session at once (its attach to the engine with it),
/// however quiet the job is.
async fn serve(
    sink: SplitSink<WebSocket, Message>,
    source: SplitStream<WebSocket>,
    output: OutputStreamOf,
    exit: Option<Exit>,
    input: Option<(mpsc::Sender<TerminalInput>, bool)>,
) {
    tokio::select! {
        () = read_client(source, input) => {}
        _ = pump(sink, output, exit) => {}
    }
}

type Exit = BoxFuture<'static, Result<berth_core::backend::ExitInfo, berth_core::backend::BackendError>>;

fn upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> ApiResult<WebSocketUpgrade> {
    ws.map(|ws| ws.max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME)).map_err(|e| {
        let message = format!("this is a WebSocket endpoint (send an upgrade request): {}", e.body_text());
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", message)
    })
}

fn input_channel() -> (mpsc::Sender<TerminalInput>, TerminalStream) {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    (tx, rx.boxed())
}

async fn first_command(source: &mut SplitStream<WebSocket>) -> Result<ExecCommand, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_command", m);
    let first = async {
        loop {
            match source.next().await {
                Some(Ok(Message::Text(t))) => return Some(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    };
    let text = match tokio::time::timeout(FIRST_FRAME_WAIT, first).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(bad("the first frame must be the command, as JSON text".into())),
        Err(_) => return Err(bad(format!("no command within {} s", FIRST_FRAME_WAIT.as_secs()))),
    };
    let command: ExecCommand = serde_json::from_str(text.as_str()).map_err(|e| bad(format!("the command: {e}")))?;
    match command.problems().into_iter().next() {
        Some(p) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", p.message).field(&p.field)),
        None => Ok(command),
    }
}

/// Client frames into terminal input until the client closes (or its connection breaks).
/// With `(tx, false)` (a TTY without stdin) only resizes go through; after `eof` nothing
/// does, but the frames are read on so a close is seen.
async fn read_client(mut source: SplitStream<WebSocket>, input: Option<(mpsc::Sender<TerminalInput>, bool)>) {
    let stdin = input.as_ref().is_some_and(|(_, s)| *s);
    let mut tx = input.map(|(tx, _)| tx);
    while let Some(Ok(message)) = source.next().await {
        let item = match message {
            Message::Binary(b) if stdin => TerminalInput::Data(b),
            Message::Text(t) => match serde_json::from_str::<ClientControl>(t.as_str()) {
                Ok(ClientControl { resize: Some(size), .. }) => TerminalInput::Resize(size),
                Ok(ClientControl { eof: true, .. }) => {
                    tx = None;
                    continue;
                }
                _ => continue,
            },
            Message::Close(_) => return,
            _ => continue,
        };
        if let Some(sender) = tx.as_mut()
            && sender.send(item).await.is_err()
        {
            tx = None;
        }
    }
}

/// Output to the client, then the exit code (if any), then a close.
async fn pump(
    mut sink: SplitSink<WebSocket, Message>,
    mut output: OutputStreamOf,
    exit: Option<Exit>,
) -> Result<(), axum::Error> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let chunk = tokio::select! {
            chunk = output.next() => chunk,
            _ = ping.tick() => {
                // Keeps proxies from closing a session that is quiet for a while.
                sink.send(Message::Ping(Default::default())).await?;
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
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
