//! Splits a job's stdout into log bytes and structured events: a line that is a JSON object
//! with the spec's event key (`output.event_key`; `"berth"` by default, e.g.
//! `{"berth":"progress","percent":40}`; any JSON object with `*`) is an event; every other
//! byte is log output, passed on unchanged and in order.
//!
//! Only a partial line that starts with `{` is held back (up to `MAX_EVENT_LINE`), so prompts
//! and progress dots without a newline still stream live.

/// Longer lines are never events; they are passed on as log output.
pub const MAX_EVENT_LINE: usize = 64 << 10;
/// The key that makes a JSON-object line an event unless the spec names another.
pub const DEFAULT_KEY: &str = "berth";
/// As the event key: every JSON-object line is an event.
pub const ANY_OBJECT: &str = "*";

#[derive(Debug, PartialEq)]
pub enum Piece {
    Log(Vec<u8>),
    Event(serde_json::Map<String, serde_json::Value>),
}

#[derive(Debug)]
pub struct EventSplitter {
    /// A held-back line start that may still turn out to be an event.
    pending: Vec<u8>,
    /// True while inside a line already passed on as log output.
    mid_log_line: bool,
    /// The key an event line has (`ANY_OBJECT`: none needed).
    key: String,
}

impl Default for EventSplitter {
    fn default() -> Self {
        EventSplitter::with_key(DEFAULT_KEY)
    }
}

impl EventSplitter {
    pub fn new() -> EventSplitter {
        EventSplitter::default()
    }

    /// Events are JSON-object lines with `key` (`ANY_OBJECT`: every one).
    pub fn with_key(key: &str) -> EventSplitter {
        EventSplitter { pending: Vec::new(), mid_log_line: false, key: key.to_string() }
    }

    /// What an event of this splitter is called: its key's string value, else `event`.
    pub fn kind(&self, event: &serde_json::Map<String, serde_json::Value>) -> String {
        match event.get(&self.key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => "event".to_string(),
        }
    }

    /// Feeds stdout bytes; returns the pieces now known, in order.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut out = Pieces(Vec::new(), &self.key);
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
    pub fn resume(&mut self, pending: Vec<u8>, mid_log_line: bool) {
        (self.pending, self.mid_log_line) = (pending, mid_log_line);
    }

    /// Flushes a held-back partial line at end of stream.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Pieces(Vec::new(), &self.key);
        let held = std::mem::take(&mut self.pending);
        if !held.is_empty() {
            out.line(held);
        }
        out.0
    }
}

struct Pieces<'k>(Vec<Piece>, &'k str);

impl Pieces<'_> {
    fn log(&mut self, bytes: &[u8]) {
        if let Some(Piece::Log(last)) = self.0.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.0.push(Piece::Log(bytes.to_vec()));
        }
    }

    fn line(&mut self, line: Vec<u8>) {
        match as_event(&line, self.1) {
            Some(ev) => self.0.push(Piece::Event(ev)),
            None => self.log(&line),
        }
    }
}

fn as_event(line: &[u8], key: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let any = key == ANY_OBJECT;
    if !any {
        // Most lines are not events: look for the quoted key before parsing.
        memchr::memmem::find(line, format!("\"{key}\"").as_bytes())?;
    }
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) if any || map.contains_key(key) => Some(map),
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
    fn another_key_or_any_object_makes_events() {
        let mut s = EventSplitter::with_key("type");
        let pieces = s.feed(b"{\"type\":\"job_update\",\"n\":1}\n{\"berth\":\"x\"}\n");
        assert!(matches!(&pieces[0], Piece::Event(m) if s.kind(m) == "job_update"), "{pieces:?}");
        assert_eq!(pieces[1], Piece::Log(b"{\"berth\":\"x\"}\n".to_vec()), "not an event with this key");
        let mut any = EventSplitter::with_key(ANY_OBJECT);
        let pieces = any.feed(b"{\"a\":1}\n[1]\n{\"a\"\n");
        assert!(matches!(&pieces[0], Piece::Event(m) if any.kind(m) == "event"), "{pieces:?}");
        assert_eq!(pieces[1], Piece::Log(b"[1]\n{\"a\"\n".to_vec()), "arrays and broken JSON stay log");
    }

    #[test]
    fn unterminated_event_at_the_end_still_counts() {
        assert_eq!(run(&["{\"berth\":\"done\"}"]), r#"event("done")"#);
        assert_eq!(run(&["{not json"]), r#"log"{not json""#);
    }
}
