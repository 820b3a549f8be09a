//! Splits a job's stdout into log bytes and structured events: a line that is a JSON object
//! with a `"berth"` key (e.g. `{"berth":"progress","percent":40}`) is an event; every other
//! byte is log output, passed on unchanged and in order.
//!
//! Only a partial line that starts with `{` is held back (up to `MAX_EVENT_LINE`), so prompts
//! and progress dots without a newline still stream live.

/// Longer lines are never events; they are passed on as log output.
pub const MAX_EVENT_LINE: usize = 64 << 10;

#[derive(Debug, PartialEq)]
pub enum Piece {
    Log(Vec<u8>),
    Event(serde_json::Map<String, serde_json::Value>),
}

#[derive(Debug, Default)]
pub struct EventSplitter {
    /// A held-back line start that may still turn out to be an event.
    pending: Vec<u8>,
    /// True while inside a line already passed on as log output.
    mid_log_line: bool,
}

impl EventSplitter {
    pub fn new() -> EventSplitter {
        EventSplitter::default()
    }

    /// Feeds stdout bytes; returns the pieces now known, in order.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut out = Pieces(Vec::new());
        let mut rest = data;
        while !rest.is_empty() {
            let nl = memchr::memchr(b'\n', rest);
            let (line, consumed) = match nl {
                Some(i) => (&rest[..=i], i + 1),
                None => (rest, rest.len()),
            };
            rest = &rest[consumed..];
            let complete = nl.is_some();
            if self.mid_log_line {
                out.log(line);
                self.mid_log_line = !complete;
            } else if !self.pending.is_empty() || line.first() == Some(&b'{') {
                self.pending.extend_from_slice(line);
                if complete {
                    let held = std::mem::take(&mut self.pending);
                    out.line(held);
                } else if self.pending.len() > MAX_EVENT_LINE {
                    out.log(&std::mem::take(&mut self.pending));
                    self.mid_log_line = true;
                }
            } else {
                out.log(line);
                self.mid_log_line = !complete;
            }
        }
        out.0
    }

    /// What it holds: the held-back line start, and whether it is inside a log line.
    pub fn state(&self) -> (&[u8], bool) {
        (&self.pending, self.mid_log_line)
    }

    /// Goes on from an earlier splitter's `state`.
    pub fn resumed(pending: Vec<u8>, mid_log_line: bool) -> EventSplitter {
        EventSplitter { pending, mid_log_line }
    }

    /// Flushes a held-back partial line at end of stream.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Pieces(Vec::new());
        let held = std::mem::take(&mut self.pending);
        if !held.is_empty() {
            out.line(held);
        }
        out.0
    }
}

struct Pieces(Vec<Piece>);

impl Pieces {
    fn log(&mut self, bytes: &[u8]) {
        if let Some(Piece::Log(last)) = self.0.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.0.push(Piece::Log(bytes.to_vec()));
        }
    }

    fn line(&mut self, line: Vec<u8>) {
        match as_event(&line) {
            Some(ev) => self.0.push(Piece::Event(ev)),
            None => self.log(&line),
        }
    }
}

fn as_event(line: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    memchr::memmem::find(line, b"\"berth\"")?;
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) if map.contains_key("berth") => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> String {
        let mut s = EventSplitter::new();
        let mut pieces: Vec<Piece> = chunks.iter().flat_map(|c| s.feed(c.as_bytes())).collect();
        pieces.extend(s.finish());
        pieces
            .iter()
            .map(|p| match p {
                Piece::Log(b) => format!("log{:?}", String::from_utf8_lossy(b)),
                Piece::Event(m) => format!("event({})", m["berth"]),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn events_are_lifted_out_and_logs_stay_in_order() {
        let got = run(&["a\n{\"berth\":\"progress\",\"percent\":4", "0}\nb\n{\"x\":1}\n"]);
        assert_eq!(got, r#"log"a\n" event("progress") log"b\n{\"x\":1}\n""#);
    }

    #[test]
    fn partial_log_lines_stream_at_once() {
        let mut s = EventSplitter::new();
        assert_eq!(s.feed(b"Password: "), vec![Piece::Log(b"Password: ".to_vec())]);
        // A `{` in the middle of a log line is just text.
        assert_eq!(s.feed(b"{\"berth\":1}\n"), vec![Piece::Log(b"{\"berth\":1}\n".to_vec())]);
    }

    #[test]
    fn unterminated_event_at_the_end_still_counts() {
        assert_eq!(run(&["{\"berth\":\"done\"}"]), r#"event("done")"#);
        assert_eq!(run(&["{not json"]), r#"log"{not json""#);
    }
}
