//! The pod log, read with `timestamps=true` so a cut stream resumes exactly. The API answers
//! `sinceTime=S` (whole seconds) with every entry stamped at or after S, in the log's order;
//! so the reader keeps, per second, how many whole entries it has passed, and resumes from
//! one second before the newest it saw, skipping as many entries as it passed since then
//! (and the bytes it gave of an entry cut in the middle). stdout and stderr are stamped
//! apart, so their times may interleave out of order: up to a second of that is covered.
//! Nothing is lost or repeated. The two streams arrive merged: the pod log has no tag.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;

/// Longest entry the runtimes write before they split a line (Docker's and containerd's
/// 16 KiB): the next part starts with a timestamp of its own.
const PARTIAL: usize = 16 * 1024;
/// Seconds of entry counts kept behind the newest (the resume goes back one).
const WINDOW_SECS: i64 = 2;

/// Where to reconnect from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// `sinceTime`; `None` reads from the start.
    pub since: Option<Timestamp>,
    /// Whole entries of the answer already passed.
    pub entries: usize,
    /// Content bytes given out of the entry after those.
    pub part: usize,
}

/// Turns log bytes into content. `skip` content bytes at the very start are dropped (what an
/// earlier process consumed).
#[derive(Clone, Debug)]
pub struct Parser {
    resume: Resume,
    skip: u64,
    /// Whole entries passed, by the second of their timestamp (the last `WINDOW_SECS`).
    passed: BTreeMap<i64, usize>,
    /// The current entry's timestamp text while it is read.
    stamp: Vec<u8>,
    in_stamp: bool,
    /// The current entry: its second, its index in this connection, its content bytes so far.
    second: Option<i64>,
    index: usize,
    len: usize,
    /// Entries begun in this connection.
    begun: usize,
}

impl Parser {
    pub fn new(skip: u64) -> Parser {
        Parser {
            resume: Resume::default(),
            skip,
            passed: BTreeMap::new(),
            stamp: Vec::new(),
            in_stamp: true,
            second: None,
            index: 0,
            len: 0,
            begun: 0,
        }
    }

    /// The `sinceTime` of the current connection.
    pub fn since(&self) -> Option<Timestamp> {
        self.resume.since
    }

    /// Where the next connection starts: one second before the newest entry passed.
    fn next_resume(&self) -> Resume {
        let newest = self.passed.keys().next_back().copied().into_iter().chain(self.second).max();
        let Some(newest) = newest else { return Resume::default() };
        let from = newest - 1;
        let entries = self.passed.range(from..).map(|(_, n)| n).sum();
        // The entry cut in the middle comes right after them, if it is stamped in range; a
        // cut while the answer replays what was passed keeps the earlier cut's bytes.
        let part = match (self.in_stamp, self.second) {
            (false, Some(s)) if s >= from && self.index >= self.resume.entries => self.given(),
            _ => self.resume.part,
        };
        Resume { since: Timestamp::from_second(from).ok(), entries, part }
    }

    /// For a new connection, from where this one got to.
    pub fn reconnect(&mut self) {
        // Bytes given of the cut entry now count as passed, in the resume's `part`.
        self.resume = self.next_resume();
        self.stamp.clear();
        self.in_stamp = true;
        self.second = None;
        self.len = 0;
        self.begun = 0;
    }

    /// Bytes of the current entry given out so far (those the resume skipped included).
    fn given(&self) -> usize {
        if self.index == self.resume.entries { self.len.max(self.resume.part) } else { self.len }
    }

    /// The content in `data` that is new.
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
            if let Some(i) = rest.iter().take(room + 1).position(|b| *b == b'\n') {
                self.content(&rest[..=i], &mut out);
                rest = &rest[i + 1..];
                self.end_entry();
            } else if room == 0 {
                // A part of a split line ended at the limit: this byte starts the next stamp.
                self.end_entry();
            } else {
                let take = rest.len().min(room);
                self.content(&rest[..take], &mut out);
                rest = &rest[take..];
            }
        }
        out.freeze()
    }

    fn begin_entry(&mut self) {
        let text = String::from_utf8_lossy(&self.stamp).into_owned();
        self.stamp.clear();
        self.in_stamp = false;
        self.len = 0;
        self.second = text.parse::<Timestamp>().ok().map(|t| t.as_second());
        self.index = self.begun;
        self.begun += 1;
    }

    /// Whether the current entry was passed whole before this connection.
    fn replayed(&self) -> bool {
        self.index < self.resume.entries
    }

    fn content(&mut self, data: &[u8], out: &mut BytesMut) {
        let seen = if self.replayed() {
            usize::MAX
        } else if self.index == self.resume.entries {
            self.resume.part
        } else {
            0
        };
        let start = seen.saturating_sub(self.len).min(data.len());
        self.len += data.len();
        let mut fresh = &data[start..];
        if self.skip > 0 {
            let n = (self.skip as usize).min(fresh.len());
            self.skip -= n as u64;
            fresh = &fresh[n..];
        }
        out.extend_from_slice(fresh);
    }

    fn end_entry(&mut self) {
        if !self.replayed()
            && let Some(s) = self.second
        {
            *self.passed.entry(s).or_default() += 1;
            let newest = self.passed.keys().next_back().copied().unwrap_or(s);
            self.passed = self.passed.split_off(&(newest - WINDOW_SECS));
        }
        if self.index == self.resume.entries {
            self.resume.part = 0;
        }
        self.in_stamp = true;
        self.second = None;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as (timestamp, content), in the log's order.
    fn log(entries: &[(&str, &str)]) -> String {
        entries.iter().map(|(t, c)| format!("{t} {c}")).collect()
    }

    /// What the API answers for `since`: the entries stamped at or after it, in order.
    fn answer(entries: &[(&str, &str)], since: Option<Timestamp>) -> String {
        let kept: Vec<(&str, &str)> = entries
            .iter()
            .filter(|(t, _)| since.is_none_or(|s| t.parse::<Timestamp>().unwrap() >= s))
            .copied()
            .collect();
        log(&kept)
    }

    fn content(entries: &[(&str, &str)]) -> String {
        entries.iter().map(|(_, c)| *c).collect()
    }

    /// Cuts the stream at every byte (and again at every byte of the answer after it).
    fn resumes_exactly(entries: &[(&str, &str)]) {
        let text = log(entries);
        for cut in 0..text.len() {
            let mut p = Parser::new(0);
            let mut out = p.feed(&text.as_bytes()[..cut]).to_vec();
            p.reconnect();
            let again = answer(entries, p.since());
            for cut2 in [again.len() / 3, again.len() / 2] {
                // Cut again inside the answer, and resume once more.
                let mut q = p.clone();
                let mut got = out.clone();
                got.extend_from_slice(&q.feed(&again.as_bytes()[..cut2]));
                q.reconnect();
                got.extend_from_slice(&q.feed(answer(entries, q.since()).as_bytes()));
                assert_eq!(String::from_utf8(got).unwrap(), content(entries), "cut at {cut}, then {cut2}");
            }
            out.extend_from_slice(&p.feed(again.as_bytes()));
            assert_eq!(String::from_utf8(out).unwrap(), content(entries), "cut at {cut}");
        }
    }

    const A: &str = "2026-12-02T10:00:00.100000000Z";
    const B: &str = "2026-12-02T10:00:00.2Z";
    const C: &str = "2026-12-02T10:00:01.000000001Z";
    const D: &str = "2026-12-02T10:00:03.5Z";

    #[test]
    fn timestamps_are_stripped_even_when_chunks_split_them() {
        let entries = [(A, "one\n"), (B, "two\n"), (C, "three\n")];
        let mut p = Parser::new(0);
        let out: Vec<u8> = log(&entries).as_bytes().chunks(7).flat_map(|c| p.feed(c).to_vec()).collect();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\nthree\n");
    }

    #[test]
    fn a_cut_at_any_byte_resumes_without_loss_or_repeat() {
        resumes_exactly(&[(A, "one\n"), (B, "two\n"), (B, "two again\n"), (C, "three\n"), (D, "four\n")]);
    }

    #[test]
    fn streams_stamped_out_of_order_still_resume_exactly() {
        // stderr's entry was stamped before stdout's, but written after it.
        resumes_exactly(&[(C, "out 1\n"), (B, "err 1\n"), (C, "out 2\n"), (A, "err 2\n"), (D, "out 3\n")]);
    }

    #[test]
    fn bytes_consumed_by_an_earlier_process_are_skipped() {
        let mut p = Parser::new(6);
        assert_eq!(&p.feed(log(&[(A, "one\n"), (B, "two again\n")]).as_bytes())[..], b"o again\n");
    }

    #[test]
    fn a_line_split_by_the_runtime_is_joined_and_one_of_exactly_the_limit_is_not() {
        let long = "x".repeat(PARTIAL + 5);
        let split = format!("{A} {}{B} {}\n", &long[..PARTIAL], &long[PARTIAL..]);
        let mut p = Parser::new(0);
        assert_eq!(p.feed(split.as_bytes()).len(), PARTIAL + 6);
        let exact = format!("{A} {}\n{B} next\n", &long[..PARTIAL]);
        let mut p = Parser::new(0);
        let out: Vec<u8> = exact.as_bytes().chunks(4096).flat_map(|c| p.feed(c).to_vec()).collect();
        assert_eq!(out.len(), PARTIAL + 1 + 5, "the newline and the next entry kept");
        assert_eq!(p.passed.values().sum::<usize>(), 2);
    }
}
