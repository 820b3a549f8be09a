//! Redacting secret values from a job's output as it streams: every occurrence becomes
//! `***`, also one split across two chunks (the bytes that could begin a secret are held
//! back until the next chunk, or `finish`, tells), and overlapping ones as one. Linear in the
//! output and the values (Aho-Corasick, and a prefix function per value for what to hold).

use aho_corasick::AhoCorasick;

/// What a redacted value becomes.
pub const MASK: &[u8] = b"***";
/// Shorter values are not redacted: masking every `1` or `ok` would wreck the log and hide
/// nothing worth hiding.
pub const MIN_REDACTED: usize = 4;

#[derive(Debug, Default)]
pub struct Redactor {
    values: Vec<Vec<u8>>,
    /// Finds every occurrence of every value, overlapping ones too, in one pass.
    matcher: Option<AhoCorasick>,
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
        all.sort();
        all.dedup();
        let matcher = (!all.is_empty()).then(|| AhoCorasick::new(&all).ok()).flatten();
        Redactor { values: all, matcher, held: Vec::new() }
    }

    /// The part of `held + data` that is safe to pass on now.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        let Some(matcher) = &self.matcher else { return data.to_vec() };
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(data);
        let out = mask(matcher, &buf);
        let keep = self.pending_prefix(&out);
        self.held = out[out.len() - keep..].to_vec();
        out[..out.len() - keep].to_vec()
    }

    /// What is held back: the stream's last bytes, which may be the start of a secret
    /// (so never stored; a reattached recorder reads them again instead).
    pub fn held(&self) -> &[u8] {
        &self.held
    }

    /// What is still held back, at the end of the output: the start of a value that never
    /// completed, masked too when it is long enough to give a value away.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        if held.len() >= MIN_REDACTED { MASK.to_vec() } else { held }
    }

    /// The longest tail of `out` that is the start of some value (and so may complete
    /// later): per value, the prefix function over `value + tail`, linear in the value.
    fn pending_prefix(&self, out: &[u8]) -> usize {
        self.values.iter().map(|v| overlap(v, out)).max().unwrap_or(0)
    }
}

/// `buf` with every stretch covered by a match (overlapping matches merged) as one `MASK`.
fn mask(matcher: &AhoCorasick, buf: &[u8]) -> Vec<u8> {
    let mut spans: Vec<(usize, usize)> = matcher.find_overlapping_iter(buf).map(|m| (m.start(), m.end())).collect();
    if spans.is_empty() {
        return buf.to_vec();
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(buf.len());
    let (mut at, mut cur) = (0, spans[0]);
    for &(s, e) in &spans[1..] {
        if s <= cur.1 {
            cur.1 = cur.1.max(e);
        } else {
            out.extend_from_slice(&buf[at..cur.0]);
            out.extend_from_slice(MASK);
            at = cur.1;
            cur = (s, e);
        }
    }
    out.extend_from_slice(&buf[at..cur.0]);
    out.extend_from_slice(MASK);
    out.extend_from_slice(&buf[cur.1..]);
    out
}

/// The length of the longest proper prefix of `value` that `text` ends with.
fn overlap(value: &[u8], text: &[u8]) -> usize {
    let tail = &text[text.len().saturating_sub(value.len() - 1)..];
    // Prefix function of `value`, then run over `tail` as KMP does.
    let mut pi = vec![0usize; value.len()];
    for i in 1..value.len() {
        let mut k = pi[i - 1];
        while k > 0 && value[i] != value[k] {
            k = pi[k - 1];
        }
        if value[i] == value[k] {
            k += 1;
        }
        pi[i] = k;
    }
    let mut k = 0;
    for &b in tail {
        while k > 0 && (k == value.len() || b != value[k]) {
            k = pi[k - 1];
        }
        if b == value[k] {
            k += 1;
        }
    }
    if k == value.len() { pi[k - 1] } else { k }
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
        assert_eq!(run(&["hunter2"], &["hunt", "er"]), "***", "a long start of a value that never completes is masked");
        assert_eq!(run(&["hunter2"], &["x hu"]), "x hu", "a short one comes out at the end");
        assert_eq!(run(&["abc"], &["abc"]), "abc", "too short to redact");
        assert_eq!(run(&["line-one\nline-two"], &["x line-two y"]), "x *** y");
        assert_eq!(run(&["sk-123456", "sk-12"], &["sk-123456 sk-12"]), "*** ***");
        assert_eq!(run(&["xabc", "abcdef"], &["1xabcdef2"]), "1***2", "overlapping values leave nothing");
        assert_eq!(run(&["aaab"], &["aa", "aaaab!"]), "aaa***!", "held bytes that turn out not to start it pass");
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
