//! How berth talks to people: colours (respecting NO_COLOR and non-TTYs), notes and
//! warnings on stderr, status words, and the exit codes jobs map to.

use std::io::IsTerminal;

use berth_core::JobStatus;
use berth_core::status::Reason;
use berth_core::store::JobRecord;
use owo_colors::{OwoColorize, Stream};

pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

// These never panic: a closed stderr (a server whose terminal went away) must not take the
// process down, least of all while it shuts down. `eprintln!` would.
pub fn note(message: &str) {
    say(format_args!("{} {message}", "berth:".if_supports_color(Stream::Stderr, |t| t.dimmed())));
}

pub fn warn(message: &str) {
    say(format_args!("{} {message}", "berth: warning:".if_supports_color(Stream::Stderr, |t| t.yellow())));
}

pub fn error(message: &str) {
    say(format_args!("{} {message}", "berth: error:".if_supports_color(Stream::Stderr, |t| t.red())));
}

fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// "failed: exited(3)"-style status for tables, coloured for stdout.
pub fn status_text(job: &JobRecord) -> String {
    let text = match &job.reason {
        Some(r) => format!("{}: {r}", job.status),
        None => job.status.to_string(),
    };
    match job.status {
        JobStatus::Succeeded => text.if_supports_color(Stream::Stdout, |t| t.green()).to_string(),
        JobStatus::Running | JobStatus::Starting => text.if_supports_color(Stream::Stdout, |t| t.cyan()).to_string(),
        JobStatus::Queued => text,
        _ => text.if_supports_color(Stream::Stdout, |t| t.red()).to_string(),
    }
}

/// What `berth run` and `berth wait` exit with: the container's code when it exited, else a
/// conventional code per reason (124 timeout like `timeout(1)`, 130 cancelled, 137 OOM,
/// 128+N for signal N, 125 when berth or the infrastructure failed, like `docker run`).
pub fn exit_code(job: &JobRecord) -> i32 {
    match &job.reason {
        Some(Reason::Exited { code }) => i32::try_from(*code).unwrap_or(125),
        Some(Reason::Signaled { signal }) => 128 + signal,
        Some(Reason::OomKilled) => 137,
        Some(Reason::TimedOut { .. }) => 124,
        Some(Reason::Cancelled { .. }) => 130,
        Some(Reason::WorkerLost | Reason::Infra { .. } | Reason::PolicyDenied { .. }) | None => 125,
    }
}
