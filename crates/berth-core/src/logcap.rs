//! The per-job log cap: the first half of the cap is kept as the head, the last half as a
//! rolling tail, and what falls between is counted so a marker can say how much was omitted.
//! Pure accounting: the log recorder asks it where each chunk goes and which stored chunks
//! to drop, so at no moment are more than `cap` bytes kept.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct LogCap {
    head_cap: u64,
    tail_cap: u64,
    head_used: u64,
    tail: VecDeque<(i64, u64)>,
    tail_bytes: u64,
    omitted: u64,
}

/// How one incoming chunk of `len` bytes splits.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The first `head` bytes belong to the head.
    pub head: usize,
    /// Then `skip` bytes are dropped at once (they could never fit in the tail)...
    pub skip: usize,
    /// ...and the remaining bytes go to the tail.
    pub tail: usize,
}

impl LogCap {
    pub fn new(cap: u64) -> LogCap {
        let head_cap = cap / 2;
        LogCap { head_cap, tail_cap: cap - head_cap, head_used: 0, tail: VecDeque::new(), tail_bytes: 0, omitted: 0 }
    }

    /// Goes on from an earlier cap's `head_used` and `omitted`, with the tail chunks (seq,
    /// length) it kept: a recorder reattached after a restart keeps one head and one count.
    pub fn resumed(cap: u64, head_used: u64, omitted: u64, tail: impl IntoIterator<Item = (i64, u64)>) -> LogCap {
        let mut resumed = LogCap::new(cap);
        resumed.head_used = head_used.min(resumed.head_cap);
        resumed.omitted = omitted;
        resumed.tail = tail.into_iter().collect();
        resumed.tail_bytes = resumed.tail.iter().map(|(_, n)| n).sum();
        resumed
    }

    /// The cap it was made with.
    pub fn size(&self) -> u64 {
        self.head_cap + self.tail_cap
    }

    /// Bytes in the head so far.
    pub fn head_used(&self) -> u64 {
        self.head_used
    }

    /// Decides where a chunk of `len` bytes goes. Call `push_tail` for its tail part.
    pub fn split(&mut self, len: usize) -> Split {
        let head = (self.head_cap - self.head_used).min(len as u64) as usize;
        self.head_used += head as u64;
        let rest = len - head;
        let skip = rest.saturating_sub(self.tail_cap as usize);
        self.omitted += skip as u64;
        Split { head, skip, tail: rest - skip }
    }

    /// Records a stored tail chunk; returns the seqs of older tail chunks to delete so the
    /// tail stays within its half of the cap.
    pub fn push_tail(&mut self, seq: i64, len: usize) -> Vec<i64> {
        self.tail.push_back((seq, len as u64));
        self.tail_bytes += len as u64;
        let mut evicted = Vec::new();
        while self.tail_bytes > self.tail_cap {
            let Some((old, n)) = self.tail.pop_front() else { break };
            self.tail_bytes -= n;
            self.omitted += n;
            evicted.push(old);
        }
        evicted
    }

    /// Whether the head is full (the next byte goes to the tail).
    pub fn head_full(&self) -> bool {
        self.head_used >= self.head_cap
    }

    /// Bytes dropped so far.
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// Bytes currently kept.
    pub fn kept(&self) -> u64 {
        self.head_used + self.tail_bytes
    }
}

/// The text of the truncation marker stored between head and tail.
pub fn marker_text(omitted: u64) -> String {
    format!("\n[berth: {omitted} bytes of output omitted here; the log cap keeps the head and the tail]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_cap_everything_is_head_or_tail_and_nothing_is_dropped() {
        let mut cap = LogCap::new(100);
        assert_eq!(cap.split(30), Split { head: 30, skip: 0, tail: 0 });
        assert_eq!(cap.split(30), Split { head: 20, skip: 0, tail: 10 });
        assert!(cap.push_tail(2, 10).is_empty());
        assert_eq!((cap.kept(), cap.omitted()), (60, 0));
    }

    #[test]
    fn the_tail_rolls_and_counts_what_it_drops() {
        let mut cap = LogCap::new(100);
        cap.split(50);
        let mut evicted = Vec::new();
        for seq in 0..10 {
            let s = cap.split(20);
            assert_eq!(s, Split { head: 0, skip: 0, tail: 20 });
            evicted.extend(cap.push_tail(seq, 20));
            assert!(cap.kept() <= 100);
        }
        assert_eq!(evicted, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!((cap.kept(), cap.omitted()), (90, 160));
    }

    #[test]
    fn a_huge_chunk_keeps_only_its_end() {
        let mut cap = LogCap::new(100);
        let s = cap.split(1000);
        assert_eq!(s, Split { head: 50, skip: 900, tail: 50 });
        assert!(cap.push_tail(0, 50).is_empty());
        assert_eq!((cap.kept(), cap.omitted()), (100, 900));
    }
}
