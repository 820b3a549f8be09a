//! `?watch=true`: the changes after a resourceVersion, one JSON event per line, until the
//! watch's `timeoutSeconds` (at most 290 s, as the API server's own cap... roughly).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;

use crate::{Change, Cluster, objects};

pub async fn stream(c: &Cluster, kind: &'static str, ns: &str, q: &HashMap<String, String>) -> Response {
    let labels = q.get("labelSelector").cloned();
    let fields = q.get("fieldSelector").cloned();
    let from: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(290u64).min(290);
    let mut live = c.changes.subscribe();
    let mut epoch = c.watch_epoch.subscribe();
    let (replay, gone) = {
        let mut state = c.state.lock().unwrap();
        let gone = std::mem::take(&mut state.faults.gone_next_watch);
        let replay: Vec<Change> = state.history.iter().filter(|ch| ch.version > from).cloned().collect();
        (replay, gone)
    };
    let line = |v: serde_json::Value| Ok::<_, std::io::Error>(format!("{v}\n"));
    if gone {
        let status = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": format!("too old resource version: {from}"), "reason": "Expired", "code": 410}});
        return Body::from_stream(futures::stream::iter([line(status)])).into_response();
    }
    let ns = ns.to_string();
    let wanted = move |ch: &Change| {
        ch.kind == kind && ch.namespace == ns && objects::matches(&ch.object, labels.as_deref(), fields.as_deref())
    };
    let last = replay.last().map_or(from, |ch| ch.version);
    let wanted_replay = wanted.clone();
    let replayed = futures::stream::iter(replay.into_iter().filter(move |ch| wanted_replay(ch)));
    let following = async_stream(move |tx| async move {
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = epoch.changed() => return,
                got = live.recv() => match got {
                    Ok(ch) if ch.version > last && wanted(&ch) => {
                        if tx.send(ch).await.is_err() { return }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                },
            }
        }
    });
    let events = replayed.chain(following).map(move |ch| line(json!({"type": ch.action, "object": ch.object})));
    Body::from_stream(events).into_response()
}

/// A stream fed by a task through a channel.
fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = Change>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Change>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    tokio_stream_from(rx)
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Change>) -> impl futures::Stream<Item = Change> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
