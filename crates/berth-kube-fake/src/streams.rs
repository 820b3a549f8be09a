//! The streaming subresources: `log` (follow, timestamps, sinceTime), and `exec` and
//! `attach` over WebSocket with the channel protocol (v5: a `[255, 0]` frame closes stdin).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::{AttachContainerOptionsBuilder, LogsOptionsBuilder};
use futures::{SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::Cluster;
use crate::objects::{not_found, status};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// The Docker id of `container` in the pod, if it has started; else the API's answer.
fn started(c: &Cluster, ns: &str, pod: &str, container: Option<&str>) -> Result<(String, bool), Response> {
    let Some(p) = c.get("pods", ns, pod) else { return Err(not_found("pods", pod)) };
    let want = container.map(String::from).or_else(|| p["spec"]["containers"][0]["name"].as_str().map(String::from));
    let want = want.unwrap_or_default();
    let statuses = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|f| p["status"][f].as_array().cloned().unwrap_or_default())
        .collect::<Vec<Value>>();
    let Some(s) = statuses.iter().find(|s| s["name"] == json!(want)) else {
        let message = format!("container \"{want}\" in pod \"{pod}\" is waiting to start: ContainerCreating");
        return Err(status(StatusCode::BAD_REQUEST, "BadRequest", message));
    };
    if let Some(reason) = s["state"]["waiting"]["reason"].as_str() {
        let message = format!("container \"{want}\" in pod \"{pod}\" is waiting to start: {reason}");
        return Err(status(StatusCode::BAD_REQUEST, "BadRequest", message));
    }
    let id = s["containerID"].as_str().unwrap_or_default().trim_start_matches("docker://").to_string();
    Ok((id, s["state"].get("running").is_some()))
}

pub async fn log(
    State(c): State<Cluster>,
    Path((ns, pod)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (id, _) = match started(&c, &ns, &pod, q.get("container").map(String::as_str)) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let follow = q.get("follow").is_some_and(|f| f == "true");
    let timestamps = q.get("timestamps").is_some_and(|t| t == "true");
    let mut options = LogsOptionsBuilder::new().follow(follow).stdout(true).stderr(true).timestamps(true);
    if let Some(since) = q.get("sinceTime").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        options = options.since(since.timestamp() as i32);
    }
    let cut = if follow { c.state.lock().unwrap().faults.cut_next_log_after.take() } else { None };
    let frames = c.docker.logs(&id, Some(options.build())).filter_map(move |item| async move {
        match item {
            Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message }) => {
                Some(Ok::<Bytes, std::io::Error>(if timestamps { message } else { strip_timestamp(message) }))
            }
            _ => None,
        }
    });
    match cut {
        Some(n) => Body::from_stream(cut_after(frames, n)).into_response(),
        None => Body::from_stream(frames).into_response(),
    }
}

/// The entry without its `<RFC 3339> ` prefix.
fn strip_timestamp(entry: Bytes) -> Bytes {
    match entry.iter().position(|b| *b == b' ') {
        Some(i) => entry.slice(i + 1..),
        None => entry,
    }
}

/// The stream's first `n` bytes, then its end (a connection cut mid-entry).
fn cut_after<S>(frames: S, n: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>>
where
    S: Stream<Item = Result<Bytes, std::io::Error>>,
{
    let mut left = n;
    frames.take_while(move |f| {
        let more = left > 0;
        if let Ok(b) = f {
            left = left.saturating_sub(b.len());
        }
        futures::future::ready(more)
    })
}

/// `command`, `container`, `stdin`... (repeated keys kept in order).
fn params(q: &[(String, String)]) -> (Vec<String>, Option<String>, bool, bool, bool) {
    let flag = |k: &str| q.iter().any(|(key, v)| key == k && v == "true");
    let command = q.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
    let container = q.iter().find(|(k, _)| k == "container").map(|(_, v)| v.clone());
    (command, container, flag("stdin"), flag("stdout"), flag("stderr"))
}

pub async fn exec(
    ws: WebSocketUpgrade,
    State(c): State<Cluster>,
    Path((ns, pod)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (command, container, stdin, stdout, stderr) = params(&q);
    let id = match started(&c, &ns, &pod, container.as_deref()) {
        Ok((id, true)) => id,
        Ok((_, false)) => {
            let message = "unable to upgrade connection: container not found (the container is not running)";
            return status(StatusCode::BAD_REQUEST, "BadRequest", message);
        }
        Err(answer) => return answer,
    };
    let options = CreateExecOptions {
        attach_stdin: Some(stdin),
        attach_stdout: Some(stdout),
        attach_stderr: Some(stderr),
        cmd: Some(command),
        ..CreateExecOptions::default()
    };
    let created = match c.docker.create_exec(&id, options).await {
        Ok(e) => e.id,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]).on_upgrade(move |socket| async move {
        let start = StartExecOptions { detach: false, tty: false, output_capacity: None };
        let Ok(StartExecResults::Attached { output, input }) = c.docker.start_exec(&created, Some(start)).await else {
            return;
        };
        let (mut tx, rx) = socket.split();
        pump(output, input, rx, &mut tx).await;
        let code = c.docker.inspect_exec(&created).await.ok().and_then(|i| i.exit_code).unwrap_or(-1);
        let mut frame = vec![STATUS];
        frame.extend_from_slice(exec_status(code).to_string().as_bytes());
        let _ = tx.send(Message::Binary(frame.into())).await;
        let _ = tx.close().await;
    })
}

/// The API's `Status` for an exec's exit.
fn exec_status(code: i64) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": format!("command terminated with non-zero exit code: error executing command [], exit code {code}"),
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
}

pub async fn attach(
    ws: WebSocketUpgrade,
    State(c): State<Cluster>,
    Path((ns, pod)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (_, container, stdin, stdout, stderr) = params(&q);
    let id = match started(&c, &ns, &pod, container.as_deref()) {
        Ok((id, true)) => id,
        Ok((_, false)) => return status(StatusCode::BAD_REQUEST, "BadRequest", "container is not running"),
        Err(answer) => return answer,
    };
    let options = AttachContainerOptionsBuilder::new()
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .stream(true)
        .logs(false)
        .build();
    let attached = match c.docker.attach_container(&id, Some(options)).await {
        Ok(a) => a,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]).on_upgrade(move |socket| async move {
        let (mut tx, rx) = socket.split();
        pump(attached.output, attached.input, rx, &mut tx).await;
        let _ = tx.close().await;
    })
}

/// Docker's output to the socket's channels and the socket's stdin channel to Docker's
/// input, until the output ends (or the socket closes).
async fn pump<O, I, R, T>(mut output: O, mut input: I, mut rx: R, tx: &mut T)
where
    O: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
    I: AsyncWrite + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    T: futures::Sink<Message> + Unpin,
{
    let mut reading = true;
    loop {
        tokio::select! {
            item = output.next() => match item {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    if send(tx, STDOUT, &message).await.is_err() { return }
                }
                Some(Ok(LogOutput::StdErr { message })) => {
                    if send(tx, STDERR, &message).await.is_err() { return }
                }
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(_)) | None => return,
            },
            frame = rx.next(), if reading => match frame {
                Some(Ok(Message::Binary(b))) if b.first() == Some(&STDIN) => {
                    let _ = input.write_all(&b[1..]).await;
                }
                Some(Ok(Message::Binary(b))) if b.first() == Some(&CLOSE) => {
                    let _ = input.shutdown().await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = input.shutdown().await;
                    reading = false;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send<T: futures::Sink<Message> + Unpin>(tx: &mut T, channel: u8, data: &[u8]) -> Result<(), T::Error> {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    tx.send(Message::Binary(frame.into())).await
}
