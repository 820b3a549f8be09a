//! Redacting secret values from a job's output as it streams: every occurrence becomes
//! `***`, also one split across two chunks (the bytes that could begin a secret are held
//! back until the next chunk, or `finish`, tells).

/// What a redacted value becomes.
pub const MASK: &[u8] = b"***";
/// Shorter values are not redacted: masking every `1` or `ok` would wreck the log and hide
/// nothing worth hiding.
pub const MIN_REDACTED: usize = 4;

#[derive(Debug, Default)]
pub struct Redactor {
    values: Vec<Vec<u8>>,
    held: Vec<u8>,
}

impl Redactor {
    /// Redacts `values` (each line of a multi-line value too, for output that re-wraps it).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Redactor {
        let mut all: Vec<Vec<u8>> = Vec::new();
        for v in values {
            all.push(v.to_vec());
            all.extend(v.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec()));
        }
        all.retain(|v| v.len() >= MIN_REDACTED);
        // Longest first, so a value containing another is masked whole.
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        all.dedup();
        Redactor { values: all, held: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The part of `held + data` that is safe to pass on now.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        if self.values.is_empty() {
            return data.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(data);
        let out = self.mask(&buf);
        let keep = self.pending_prefix(&out);
        self.held = out[out.len() - keep..].to_vec();
        out[..out.len() - keep].to_vec()
    }

    /// What is still held back, at the end of the output.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    fn mask(&self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        'outer: while i < buf.len() {
            for v in &self.values {
                if buf[i..].starts_with(v) {
                    out.extend_from_slice(MASK);
                    i += v.len();
                    continue 'outer;
                }
            }
            out.push(buf[i]);
            i += 1;
        }
        out
    }

    /// The longest tail of `out` that is the start of some value (and so may complete later).
    fn pending_prefix(&self, out: &[u8]) -> usize {
        let longest = self.values.first().map_or(0, Vec::len);
        (1..longest.min(out.len() + 1))
            .rev()
            .find(|&n| self.values.iter().any(|v| v.len() > n && v.starts_with(&out[out.len() - n..])))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[&str], chunks: &[&str]) -> String {
        let mut r = Redactor::new(values.iter().map(|v| v.as_bytes()));
        let mut out = Vec::new();
        for c in chunks {
            out.extend(r.push(c.as_bytes()));
        }
        out.extend(r.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_even_across_chunks() {
        assert_eq!(run(&["hunter2"], &["pw=hunter2\n"]), "pw=***\n");
        assert_eq!(run(&["hunter2"], &["pw=hun", "ter2 ok"]), "pw=*** ok");
        assert_eq!(run(&["hunter2"], &["pw=h", "u", "n", "ter2"]), "pw=***");
        assert_eq!(run(&["hunter2"], &["hunt", "er"]), "hunter", "a prefix that never completes comes out at the end");
        assert_eq!(run(&["abc"], &["abc"]), "abc", "too short to redact");
        assert_eq!(run(&["line-one\nline-two"], &["x line-two y"]), "x *** y");
        assert_eq!(run(&["sk-123456", "sk-12"], &["sk-123456 sk-12"]), "*** ***");
        assert_eq!(run(&[], &["plain"]), "plain");
    }

    #[test]
    fn output_without_a_secret_prefix_is_not_held() {
        let mut r = Redactor::new([&b"hunter2"[..]]);
        assert_eq!(r.push(b"hello world\n"), b"hello world\n");
        assert_eq!(r.push(b"ends with h"), b"ends with ");
        assert_eq!(r.finish(), b"h");
    }
}
