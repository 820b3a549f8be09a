//! An awslogs stream read with GetLogEvents from the head, page by forward token (the end
//! of the stream is a token equal to the one sent). Each event is a line: its message plus
//! `\n`. A stream that does not exist yet is normal before its container starts.

use std::time::Duration;

use bytes::Bytes;

use crate::aws::{self, Clients};
use berth_core::backend::BackendError;

/// One reader of one stream.
pub struct Reader {
    clients: Clients,
    group: String,
    stream: String,
    token: Option<String>,
}

impl Reader {
    pub fn new(clients: &Clients, group: &str, stream: String) -> Reader {
        Reader { clients: clients.clone(), group: group.to_string(), stream, token: None }
    }

    /// The next page's lines, each with its `\n`, and whether the stream is at its end now
    /// (the token came back unchanged: an empty page with a new token is not the end).
    pub async fn next_page(&mut self) -> Result<(Vec<Bytes>, bool), BackendError> {
        let call = self
            .clients
            .logs
            .get_log_events()
            .log_group_name(&self.group)
            .log_stream_name(&self.stream)
            .start_from_head(true)
            .set_next_token(self.token.clone());
        let out = match call.send().await {
            Ok(out) => out,
            Err(e) if aws::code(&e).as_deref() == Some("ResourceNotFoundException") => return Ok((Vec::new(), true)),
            Err(e) => return Err(aws::error("reading the task's log", e)),
        };
        let lines = out
            .events()
            .iter()
            .map(|event| {
                let mut line = event.message().unwrap_or_default().as_bytes().to_vec();
                line.push(b'\n');
                Bytes::from(line)
            })
            .collect();
        let next = out.next_forward_token().map(String::from);
        let at_end = next.is_none() || next == self.token;
        if next.is_some() {
            self.token = next;
        }
        Ok((lines, at_end))
    }

    /// Everything in the stream now, page after page, retrying throttled reads.
    pub async fn read_all(&mut self) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::new();
        let mut failures = 0;
        loop {
            match self.next_page().await {
                Ok((page, at_end)) => {
                    page.iter().for_each(|line| out.extend_from_slice(line));
                    if at_end {
                        return Ok(out);
                    }
                }
                Err(BackendError::Unavailable(_)) if failures < 5 => {
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(500 << failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
