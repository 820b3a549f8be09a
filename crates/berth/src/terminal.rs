//! Showing a running job in a terminal: its output passed through byte for byte, the events
//! it prints as dim progress lines (TTY only), and image pulls as per-layer progress bars
//! (TTY only).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use berth_core::backend::{OutputStream, PullObserver};
use berth_core::store::JobRecord;
use berth_engine::attempt::AttemptObserver;
use berth_engine::recorder::JobEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::{OwoColorize, Stream};

use crate::ui;

pub struct TerminalObserver {
    show_events: bool,
}

impl TerminalObserver {
    /// With `tty` (a job on a pseudo-terminal) only its output is shown: notes and event
    /// lines would land in the middle of a raw terminal.
    pub fn new(tty: bool) -> TerminalObserver {
        TerminalObserver { show_events: ui::stderr_is_tty() && !tty }
    }
}

impl AttemptObserver for TerminalObserver {
    fn output(&self, stream: OutputStream, data: &[u8]) {
        // A closed pipe (e.g. `| head`) must not kill the job: its output is still stored.
        let _ = match stream {
            OutputStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(data).and_then(|()| out.flush())
            }
            OutputStream::Stderr => std::io::stderr().lock().write_all(data),
        };
    }

    fn event(&self, event: &JobEvent) {
        if !self.show_events {
            return;
        }
        let kind = event.get("berth").and_then(|v| v.as_str()).unwrap_or("event");
        let mut parts = vec![kind.to_string()];
        if let Some(p) = event.get("percent") {
            parts.push(format!("{p}%"));
        }
        if let Some(m) = event.get("message").and_then(|v| v.as_str()) {
            parts.push(m.to_string());
        }
        let line = format!("▸ {}", parts.join(" "));
        eprintln!("{}", line.if_supports_color(Stream::Stderr, |t| t.dimmed()));
    }

    fn running(&self, job: &JobRecord) {
        if self.show_events {
            ui::note(&format!("job {} running", job.id.short()));
        }
    }
}

/// One progress line per image layer while pulling, a bar while its bytes are counted.
pub struct PullBars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    status_line: ProgressStyle,
    bytes_bar: ProgressStyle,
}

impl PullBars {
    pub fn new() -> PullBars {
        let target = if ui::stderr_is_tty() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let style = |t: &str| ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar());
        PullBars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            status_line: style("{prefix:.dim} {msg}"),
            bytes_bar: style("{prefix:.dim} {msg:<12} {bar:30} {bytes}/{total_bytes}"),
        }
    }
}

impl PullObserver for PullBars {
    fn progress(&self, layer: &str, status: &str, current: Option<u64>, total: Option<u64>) {
        if layer.is_empty() {
            return;
        }
        let Ok(mut bars) = self.bars.lock() else { return };
        let bar = bars.entry(layer.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0).with_style(self.status_line.clone()));
            bar.set_prefix(layer.chars().take(12).collect::<String>());
            bar
        });
        bar.set_message(status.to_string());
        // Downloading and Extracting count bytes; "Pulling from", "Verifying", "Download
        // complete" and the final states are plain status lines.
        match total.filter(|t| *t > 0) {
            Some(t) => {
                bar.set_style(self.bytes_bar.clone());
                bar.set_length(t);
                bar.set_position(current.unwrap_or(0));
            }
            None => bar.set_style(self.status_line.clone()),
        }
        if status == "Pull complete" || status == "Already exists" {
            bar.finish();
        }
    }

    /// Clears the pull's lines before the job's output starts (finished bars would otherwise
    /// be drawn again when dropped, after the output).
    fn done(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, bar) in bars.drain() {
                bar.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}
