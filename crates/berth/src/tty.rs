//! The user's terminal in a live session (`run -t`/`-it`, `exec -it`, `attach`): raw mode
//! while the session runs, keystrokes and window sizes as `TerminalInput`, and Docker's
//! detach keys (`ctrl-p,ctrl-q` unless `--detach-keys` says otherwise) caught on the way.

use std::io::IsTerminal;
use std::sync::Arc;

use berth_core::backend::{TerminalInput, TerminalStream, TtySize};
use bytes::Bytes;
use futures::StreamExt;
use futures::channel::mpsc;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, watch};

/// Docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses Docker's `--detach-keys` syntax: comma-separated keys, each a single character or
/// `ctrl-X` with X one of a-z, @, [, \, ], ^, _.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let ctrl = key.strip_prefix("ctrl-").filter(|rest| !rest.is_empty());
        let byte = match (ctrl, key.as_bytes()) {
            (Some(rest), _) => match rest.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => c - b'@',
                _ => return Err(format!("`{key}`: ctrl- takes one of a-z, @, [, \\, ], ^, _")),
            },
            (None, [c]) if c.is_ascii() => *c,
            _ => return Err(format!("`{key}` is not a key: a single character or ctrl-<key>, e.g. ctrl-p,ctrl-q")),
        };
        out.push(byte);
    }
    Ok(out)
}

/// Finds the detach sequence in a keystroke stream. Bytes that might start it are held
/// back until the next key says whether they did; the whole sequence is swallowed.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    held: usize,
}

/// What to do with a chunk of keystrokes.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes to send on, in order.
    pub forward: Vec<u8>,
    /// The sequence was typed: detach (nothing after it in the chunk is sent).
    pub detach: bool,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> DetachScanner {
        DetachScanner { keys, held: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> Scanned {
        let mut forward = Vec::with_capacity(data.len());
        for &b in data {
            if self.keys.get(self.held) == Some(&b) {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return Scanned { forward, detach: true };
                }
                continue;
            }
            // Not the sequence after all: what was held goes first, then this key (which
            // may itself start the sequence again).
            forward.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            if self.keys.first() == Some(&b) {
                self.held = 1;
                if self.keys.len() == 1 {
                    self.held = 0;
                    return Scanned { forward, detach: true };
                }
            } else {
                forward.push(b);
            }
        }
        Scanned { forward, detach: false }
    }
}

/// Raw mode on this process's terminal while it lives.
pub struct RawMode(());

impl RawMode {
    pub fn enable() -> std::io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode(()))
    }

    /// Leaves raw mode now, whoever entered it (a session's input may outlive its end).
    pub fn restore() -> std::io::Result<()> {
        crossterm::terminal::disable_raw_mode()
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// The terminal's size now, if stdout is one.
pub fn size() -> Option<TtySize> {
    crossterm::terminal::size().ok().map(|(cols, rows)| TtySize { rows, cols })
}

/// Whether stdin is a terminal (`-it` needs one, as `docker run -it` does).
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Where a session's detach keys are caught: the sequence, and who to tell.
pub type Detach = (Vec<u8>, Arc<Notify>);

/// A live session's input from this terminal: its size now and on every change, and with
/// `stdin` its keystrokes (with `detach`, its keys caught and its notifier told). Raw mode
/// starts when the session first reads its input (after any pull progress) and ends when
/// the stream is dropped.
pub fn input(stdin: bool, detach: Option<Detach>) -> TerminalStream {
    let (tx, rx) = mpsc::unbounded::<TerminalInput>();
    let (begin, started) = watch::channel(false);
    tokio::spawn(sizes(tx.clone(), started.clone()));
    if stdin {
        tokio::spawn(keystrokes(tx, detach, started));
    }
    let mut raw: Option<RawMode> = None;
    let mut rx = rx;
    futures::stream::poll_fn(move |cx| {
        if !*begin.borrow() {
            if stdin {
                raw = RawMode::enable().ok();
            }
            begin.send_replace(true);
        }
        let _ = &raw;
        rx.poll_next_unpin(cx)
    })
    .boxed()
}

async fn sizes(tx: mpsc::UnboundedSender<TerminalInput>, mut started: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    if started.wait_for(|s| *s).await.is_err() {
        return;
    }
    let Ok(mut winch) = signal(SignalKind::window_change()) else { return };
    loop {
        if let Some(size) = size()
            && tx.unbounded_send(TerminalInput::Resize(size)).is_err()
        {
            return;
        }
        if winch.recv().await.is_none() {
            return;
        }
    }
}

async fn keystrokes(
    tx: mpsc::UnboundedSender<TerminalInput>,
    detach: Option<Detach>,
    mut started: watch::Receiver<bool>,
) {
    if started.wait_for(|s| *s).await.is_err() {
        return;
    }
    let mut stdin = tokio::io::stdin();
    let (keys, detached) = detach.unzip();
    let mut scanner = DetachScanner::new(keys.unwrap_or_default());
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let scanned = scanner.feed(&buf[..n]);
        if !scanned.forward.is_empty() && tx.unbounded_send(TerminalInput::Data(Bytes::from(scanned.forward))).is_err()
        {
            return;
        }
        if scanned.detach {
            if let Some(d) = &detached {
                d.notify_one();
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_as_docker_spells_them() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![0x01, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-_").unwrap(), vec![0, 27, 28, 31]);
        assert!(parse_detach_keys("ctrl-1").unwrap_err().contains("ctrl- takes one of"));
        assert!(parse_detach_keys("ab").unwrap_err().contains("`ab` is not a key"));
        assert!(parse_detach_keys("").unwrap_err().contains("is not a key"));
    }

    #[test]
    fn the_sequence_is_swallowed_and_a_near_miss_is_sent_whole() {
        let mut s = DetachScanner::new(vec![0x10, 0x11]);
        assert_eq!(s.feed(b"ls\r"), Scanned { forward: b"ls\r".to_vec(), detach: false });
        // ctrl-p alone is held until the next key...
        assert_eq!(s.feed(&[0x10]), Scanned { forward: vec![], detach: false });
        // ...which is not ctrl-q: both go through.
        assert_eq!(s.feed(b"a"), Scanned { forward: vec![0x10, b'a'], detach: false });
        // ctrl-p twice: the first is sent, the second may still start the sequence.
        assert_eq!(s.feed(&[0x10, 0x10]), Scanned { forward: vec![0x10], detach: false });
        assert_eq!(s.feed(&[0x11, b'z']), Scanned { forward: vec![], detach: true });
        // Split across reads, with keys before it.
        let mut s = DetachScanner::new(vec![0x10, 0x11]);
        assert_eq!(s.feed(&[b'x', 0x10]), Scanned { forward: vec![b'x'], detach: false });
        assert_eq!(s.feed(&[0x11]), Scanned { forward: vec![], detach: true });
    }

    #[test]
    fn a_one_key_sequence_detaches_at_once() {
        let mut s = DetachScanner::new(vec![b'q']);
        assert_eq!(s.feed(b"abq"), Scanned { forward: b"ab".to_vec(), detach: true });
    }
}
