//! Live sessions from the CLI's side: the WebSocket protocol of `/v1/jobs/{id}/attach` and
//! `/v1/jobs/{id}/exec/live` (docs/api.md, "Live sessions"), and showing a session in this
//! terminal until it ends, the command exits or the user detaches.

use std::io::Write;
use std::sync::Arc;

use berth_core::backend::{LiveIo, OutputStream, TerminalInput, TerminalStream};
use berth_server::api::live::{ClientControl, ServerControl};
use futures::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::jobs::{LiveEvent, LiveOutput};

/// A client WebSocket over an upgraded HTTP connection (reqwest's, so TLS and proxies work
/// as for every other call).
pub struct Socket(WebSocketStream<reqwest::Upgraded>);

impl Socket {
    pub async fn client(upgraded: reqwest::Upgraded) -> Socket {
        Socket(WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await)
    }

    /// The session: `first` (a live exec's command) is sent before any input; input goes
    /// out as frames; what comes back is the session's output and end.
    pub fn session(self, first: Option<String>, live: LiveIo) -> LiveOutput {
        let (mut sink, source) = self.0.split();
        let writer = async move {
            if let Some(text) = first {
                sink.send(Message::Text(text.into())).await?;
            }
            if let Some(mut input) = live.input {
                while let Some(item) = input.next().await {
                    let message = match item {
                        TerminalInput::Data(b) => Message::Binary(b),
                        TerminalInput::Resize(size) => control(&ClientControl { resize: Some(size), eof: false }),
                    };
                    sink.send(message).await?;
                }
                if live.stdin {
                    sink.send(control(&ClientControl { resize: None, eof: true })).await?;
                }
            }
            // Keep the write half open: closing it would end the session.
            std::future::pending::<()>().await;
            Ok::<(), tokio_tungstenite::tungstenite::Error>(())
        };
        let writer = tokio::spawn(writer);
        let guard = AbortOnDrop(writer);
        source
            .filter_map(move |message| {
                let _ = &guard;
                futures::future::ready(event(message).transpose())
            })
            .boxed()
    }
}

fn control(c: &ClientControl) -> Message {
    Message::Text(serde_json::to_string(c).unwrap_or_default().into())
}

/// One frame from the server as a session event (`None`: nothing to show).
fn event(message: Result<Message, tokio_tungstenite::tungstenite::Error>) -> anyhow::Result<Option<LiveEvent>> {
    match message? {
        Message::Binary(b) if !b.is_empty() => {
            let stream = if b[0] == 2 { OutputStream::Stderr } else { OutputStream::Stdout };
            Ok(Some(LiveEvent::Output(stream, b.slice(1..))))
        }
        Message::Text(t) => {
            let control: ServerControl = serde_json::from_str(t.as_str())?;
            if let Some(e) = control.error {
                let message = e["message"].as_str().unwrap_or("the session failed").to_string();
                anyhow::bail!("{message}");
            }
            Ok(control.exit_code.map(LiveEvent::Exit))
        }
        _ => Ok(None),
    }
}

/// A `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn handshake_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// How a session shown in this terminal ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The output ended (the job's console closed).
    Closed,
    /// A live exec's command exited with this code.
    Exit(i64),
    /// The user typed the detach keys.
    Detached,
}

/// A session's input from this terminal, and who is told when its detach keys are typed
/// (caught only on a TTY with stdin, as Docker's are: without one, Ctrl-C ends the session).
pub fn terminal_io(tty: bool, stdin: bool, keys: Vec<u8>) -> (LiveIo, Arc<Notify>) {
    let detached = Arc::new(Notify::new());
    let detach = (tty && stdin).then(|| (keys, detached.clone()));
    (LiveIo { input: input(tty, stdin, detach), stdin, tty }, detached)
}

/// `show`, then the terminal is itself again (and after a detach a new line begins, the
/// cursor being wherever the job left it).
pub async fn show_here(output: LiveOutput, detached: Arc<Notify>) -> anyhow::Result<SessionEnd> {
    let end = show(output, Some(detached)).await;
    let _ = crate::tty::RawMode::restore();
    if matches!(end, Ok(SessionEnd::Detached)) {
        eprintln!();
    }
    end
}

/// Writes the session's output here (stdout and stderr apart) until it ends or the user
/// detaches.
async fn show(mut output: LiveOutput, detached: Option<Arc<Notify>>) -> anyhow::Result<SessionEnd> {
    let detach = async {
        match &detached {
            Some(d) => d.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(detach);
    loop {
        let event = tokio::select! {
            e = output.next() => e,
            () = &mut detach => return Ok(SessionEnd::Detached),
        };
        match event.transpose()? {
            None => return Ok(SessionEnd::Closed),
            Some(LiveEvent::Exit(code)) => return Ok(SessionEnd::Exit(code)),
            Some(LiveEvent::Output(stream, data)) => {
                // A closed pipe must not end the session: the job's output is stored anyway.
                let _ = match stream {
                    OutputStream::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&data).and_then(|()| out.flush())
                    }
                    OutputStream::Stderr => std::io::stderr().lock().write_all(&data),
                };
            }
        }
    }
}

/// The input of a session in this terminal: with `tty`, the terminal (raw, sized, with the
/// detach keys); else, with `stdin`, this process's stdin up to its end.
fn input(tty: bool, stdin: bool, detach: Option<crate::tty::Detach>) -> Option<TerminalStream> {
    if tty {
        return Some(crate::tty::input(stdin, detach));
    }
    stdin.then(|| berth_core::backend::stdin_bytes(tokio_util::io::ReaderStream::new(tokio::io::stdin()).boxed()))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), tokio_tungstenite::tungstenite::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
