//! CloudWatch Logs' GetLogEvents over the streams the agent writes: pages of at most
//! `limit` (10 000) events or 1 MB from a forward token, `nextForwardToken` equal to the
//! token passed in at the end of the stream (as AWS and moto do), and
//! ResourceNotFoundException for a stream that does not exist yet; CreateLogStream and
//! PutLogEvents for what berth itself writes (the queue depth).

use serde_json::{Value, json};

use crate::api::{Answer, AwsError, text};
use crate::{Fake, LogEvent};

const PAGE_BYTES: usize = 1 << 20;

fn token(kind: char, index: usize) -> String {
    format!("{kind}/{index:056}")
}

pub fn get(f: &Fake, input: &Value) -> Answer {
    let group = text(input, "logGroupName").unwrap_or_default().to_string();
    let stream = text(input, "logStreamName").unwrap_or_default().to_string();
    let limit = input["limit"].as_u64().unwrap_or(10_000).clamp(1, 10_000) as usize;
    let state = f.state.lock().unwrap();
    let events = state
        .streams
        .get(&(group, stream))
        .ok_or_else(|| AwsError::client("ResourceNotFoundException", "The specified log stream does not exist."))?;
    let now = std::time::Instant::now();
    let visible = events.iter().take_while(|e| e.visible <= now).count();
    let from = match text(input, "nextToken") {
        Some(t) => t
            .get(2..)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| AwsError::client("InvalidParameterException", "The specified nextToken is invalid."))?,
        None if input["startFromHead"] == true => 0,
        None => visible.saturating_sub(limit),
    }
    .min(visible);
    let (mut page, mut bytes) = (Vec::new(), 0);
    for e in &events[from..visible] {
        bytes += e.message.len() + 26;
        if page.len() == limit || (bytes > PAGE_BYTES && !page.is_empty()) {
            break;
        }
        page.push(json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}));
    }
    let next = from + page.len();
    Ok(json!({"events": page, "nextForwardToken": token('f', next), "nextBackwardToken": token('b', from)}))
}

pub fn create_stream(f: &Fake, input: &Value) -> Answer {
    let group = text(input, "logGroupName").unwrap_or_default().to_string();
    let stream = text(input, "logStreamName").unwrap_or_default().to_string();
    let mut state = f.state.lock().unwrap();
    if state.streams.contains_key(&(group.clone(), stream.clone())) {
        return Err(AwsError::client("ResourceAlreadyExistsException", "The specified log stream already exists"));
    }
    state.streams.insert((group, stream), Vec::new());
    Ok(json!({}))
}

pub fn put(f: &Fake, input: &Value) -> Answer {
    let group = text(input, "logGroupName").unwrap_or_default().to_string();
    let stream = text(input, "logStreamName").unwrap_or_default().to_string();
    let mut state = f.state.lock().unwrap();
    let events = state
        .streams
        .get_mut(&(group, stream))
        .ok_or_else(|| AwsError::client("ResourceNotFoundException", "The specified log stream does not exist."))?;
    let now = std::time::Instant::now();
    let ingestion = chrono::Utc::now().timestamp_millis();
    for e in input["logEvents"].as_array().into_iter().flatten() {
        let message = e["message"].as_str().unwrap_or_default().to_string();
        events.push(LogEvent {
            timestamp: e["timestamp"].as_i64().unwrap_or(ingestion),
            message,
            ingestion,
            visible: now,
        });
    }
    Ok(json!({}))
}
