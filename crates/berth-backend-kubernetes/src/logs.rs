//! The pod log, read with `timestamps=true` so a cut stream resumes exactly: every entry
//! starts with its RFC 3339 time, and the reader keeps how far it got (the last entry's
//! time, how many entries of that time it has passed, and the bytes of the one it is in).
//! A reconnect asks `sinceTime` (whole seconds: the API rounds) and skips what it passed,
//! so nothing is lost or repeated. stdout and stderr arrive merged: the pod log has no
//! stream tag.

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;

/// Longest entry the runtimes write before they split a line (Docker's and containerd's
/// 16 KiB): the next part starts with a timestamp of its own.
const PARTIAL: usize = 16 * 1024;

/// Where a reader is in the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The time of the entry being read or last read.
    pub time: Option<Timestamp>,
    /// Entries of that time fully passed.
    pub whole: usize,
    /// Content bytes given out of the entry after those (one cut mid-entry).
    pub part: usize,
}

impl Cursor {
    /// The `sinceTime` to reconnect with: the cursor's second, rounded down.
    pub fn since(&self) -> Option<Timestamp> {
        let t = self.time?;
        Timestamp::from_second(t.as_second()).ok()
    }
}

/// Turns log bytes into content, from a connection that started at `resume` (skipping
/// what the cursor passed) and, at the start, skipping `skip` more content bytes (what an
/// earlier process consumed).
#[derive(Debug)]
pub struct Parser {
    pub cursor: Cursor,
    resume: Cursor,
    skip: u64,
    /// The current entry's timestamp text while it is read.
    stamp: Vec<u8>,
    in_stamp: bool,
    /// Content bytes of the current entry so far.
    len: usize,
    /// The time of this connection's last entry, and the index of the current entry among
    /// this connection's entries of that time.
    conn_time: Option<Timestamp>,
    index: usize,
}

impl Parser {
    pub fn new(resume: Cursor, skip: u64) -> Parser {
        Parser { cursor: resume, resume, skip, stamp: Vec::new(), in_stamp: true, len: 0, conn_time: None, index: 0 }
    }

    /// For a new connection from the cursor reached so far.
    pub fn reconnect(&mut self) {
        *self = Parser::new(self.cursor, self.skip);
    }

    pub fn feed(&mut self, data: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        let mut rest = data;
        while !rest.is_empty() {
            if self.in_stamp {
                match rest.iter().position(|b| *b == b' ') {
                    Some(i) => {
                        self.stamp.extend_from_slice(&rest[..i]);
                        rest = &rest[i + 1..];
                        self.begin_entry();
                    }
                    None => {
                        self.stamp.extend_from_slice(rest);
                        rest = &[];
                    }
                }
                continue;
            }
            let room = PARTIAL - self.len;
            let upto = rest.iter().take(room).position(|b| *b == b'\n').map(|i| i + 1);
            let (take, ends) = match upto {
                Some(n) => (n, true),
                None if rest.len() >= room => (room, true),
                None => (rest.len(), false),
            };
            self.content(&rest[..take], &mut out);
            rest = &rest[take..];
            if ends {
                self.end_entry();
            }
        }
        out.freeze()
    }

    fn begin_entry(&mut self) {
        let text = String::from_utf8_lossy(&self.stamp).into_owned();
        self.stamp.clear();
        self.in_stamp = false;
        self.len = 0;
        let time: Option<Timestamp> = text.parse().ok();
        self.index = match (time, self.conn_time) {
            (Some(t), Some(c)) if t == c => self.index + 1,
            _ => 0,
        };
        self.conn_time = time;
        let passed = self.passed();
        if passed != usize::MAX {
            self.cursor = Cursor { time, whole: self.index, part: passed };
        }
    }

    /// How many bytes of the current entry the resume point already gave out (`MAX`: all).
    fn passed(&self) -> usize {
        let (Some(at), Some(now)) = (self.resume.time, self.conn_time) else { return 0 };
        match (now.cmp(&at), self.index.cmp(&self.resume.whole)) {
            (std::cmp::Ordering::Less, _) => usize::MAX,
            (std::cmp::Ordering::Greater, _) => 0,
            (_, std::cmp::Ordering::Less) => usize::MAX,
            (_, std::cmp::Ordering::Equal) => self.resume.part,
            (_, std::cmp::Ordering::Greater) => 0,
        }
    }

    fn content(&mut self, data: &[u8], out: &mut BytesMut) {
        let passed = self.passed();
        let start = passed.saturating_sub(self.len).min(data.len());
        self.len += data.len();
        let mut fresh = &data[start..];
        if self.skip > 0 {
            let n = (self.skip as usize).min(fresh.len());
            self.skip -= n as u64;
            fresh = &fresh[n..];
        }
        out.extend_from_slice(fresh);
        if passed != usize::MAX {
            self.cursor.part = self.cursor.part.max(self.len);
        }
    }

    fn end_entry(&mut self) {
        if self.passed() != usize::MAX {
            self.cursor.whole = self.index + 1;
            self.cursor.part = 0;
        }
        self.in_stamp = true;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "2026-12-02T10:00:00.100000000Z";
    const B: &str = "2026-12-02T10:00:00.2Z";
    const C: &str = "2026-12-02T10:00:01.000000001Z";

    fn log() -> String {
        format!("{A} one\n{B} two\n{B} two again\n{C} three\n")
    }

    #[test]
    fn timestamps_are_stripped_even_when_chunks_split_them() {
        let text = log();
        let mut p = Parser::new(Cursor::default(), 0);
        let out: Vec<u8> = text.as_bytes().chunks(7).flat_map(|c| p.feed(c).to_vec()).collect();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\ntwo again\nthree\n");
    }

    #[test]
    fn a_cut_at_any_byte_resumes_without_loss_or_repeat() {
        let text = log();
        for cut in 0..text.len() {
            let mut p = Parser::new(Cursor::default(), 0);
            let mut out = p.feed(&text.as_bytes()[..cut]).to_vec();
            p.reconnect();
            // The API answers from the cursor's second: everything here, as all are at 10:00.
            let since = p.cursor.since();
            let again: String = match since {
                Some(s) if s.as_second() == C.parse::<Timestamp>().unwrap().as_second() => format!("{C} three\n"),
                _ => text.clone(),
            };
            out.extend_from_slice(&p.feed(again.as_bytes()));
            assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\ntwo again\nthree\n", "cut at {cut}");
        }
    }

    #[test]
    fn bytes_consumed_by_an_earlier_process_are_skipped() {
        let mut p = Parser::new(Cursor::default(), 6);
        assert_eq!(&p.feed(log().as_bytes())[..], b"o\ntwo again\nthree\n");
    }

    #[test]
    fn a_line_split_by_the_runtime_is_joined() {
        let long = "x".repeat(PARTIAL + 5);
        let text = format!("{A} {}{B} {}\n", &long[..PARTIAL], &long[PARTIAL..]);
        let mut p = Parser::new(Cursor::default(), 0);
        assert_eq!(p.feed(text.as_bytes()).len(), PARTIAL + 6);
    }
}
