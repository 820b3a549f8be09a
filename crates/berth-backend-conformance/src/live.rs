//! The live-session cases: a job on a pseudo-terminal (one stream, its size from the
//! client's terminal), and a running job joined with stdin, with commands run in it on a
//! TTY, with piped stdin, and detached.

use std::time::Duration;

use berth_core::backend::{ExecCommand, LiveIo, OutputStream, StdinSource, TerminalInput, TtySize};
use berth_core::status::JobStatus;
use berth_core::store::{JobRecord, LogStream};
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use crate::Harness;

const SIZE: TtySize = TtySize { rows: 31, cols: 101 };

pub async fn a_tty_job_has_one_stream_and_the_terminals_size(h: &Harness) {
    if !h.caps().tty {
        return h.skip("no pseudo-terminals (refused at submit instead)");
    }
    // The size arrives just after start: wait for it (bounded), then print it.
    let script = "for i in $(seq 100); do [ \"$(stty size 2>/dev/null)\" = '31 101' ] && break; sleep 0.05; done
[ -t 1 ] && echo on-a-tty; echo to-stderr >&2; stty size";
    let mut spec = h.sh(script);
    spec.tty = true;
    let input = futures::stream::iter([TerminalInput::Resize(SIZE)]).chain(futures::stream::pending()).boxed();
    let job = h.run(spec, StdinSource::Terminal { input, stdin: false }).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let out = h.text(&job, LogStream::Stdout).await;
    assert_eq!(out, "on-a-tty\r\nto-stderr\r\n31 101\r\n", "one stream, a terminal's line endings");
    assert_eq!(h.text(&job, LogStream::Stderr).await, "", "nothing apart on stderr");
}

/// A TTY job's log outlives its worker as any job's does: a later process reattaches and
/// reads on byte-exact (one stream, `\r\n`, nothing twice, nothing lost).
pub async fn a_detached_tty_job_is_reattached_byte_exact(h: &Harness) {
    if !h.caps().tty || !h.caps().reattach {
        return h.skip("no pseudo-terminals, or no reattach");
    }
    let cancel = berth_engine::cancel::Cancel::new();
    let watch = std::sync::Arc::new(crate::Watch::on("one", &cancel, crate::Action::Detach));
    let mut spec = h
        .sh("echo one; i=0; while [ $i -lt 1500 ]; do echo \"line $i\"; i=$((i + 1)); done; sleep 1; echo two; exit 4");
    spec.tty = true;
    let input = futures::stream::pending().boxed();
    let left = h.run_watched(spec, StdinSource::Terminal { input, stdin: false }, watch, &cancel).await;
    assert_eq!(left.status, JobStatus::Running, "a detached attempt writes nothing");
    let units = h.runner.backend().list_units(h.runner.install_id()).await.unwrap();
    let unit = units.iter().find(|u| u.job_id.as_ref() == Some(&left.id)).expect("the unit outlives the detach");
    let io = berth_engine::attempt::AttemptIo {
        observer: std::sync::Arc::new(crate::Watch::default()),
        pull: std::sync::Arc::new(berth_core::backend::NoProgress),
        stdin: StdinSource::None,
    };
    let done = h.runner.resume_attempt(&left, &unit.handle, io, &berth_engine::cancel::Cancel::new()).await.unwrap();
    assert_eq!((done.exit_code, done.attempts), (Some(4), 1));
    let lines: String = (0..1500).map(|i| format!("line {i}\r\n")).collect();
    assert_eq!(h.text(&done, LogStream::Stdout).await, format!("one\r\n{lines}two\r\n"), "every byte once");
}

pub async fn a_running_job_is_joined_and_runs_live_commands(h: &Harness) {
    if !h.caps().attach {
        return h.skip("no attach to a running unit (refused at submit instead)");
    }
    let mut spec = h.sh("echo ready; read line; echo \"got $line\"; read code; exit $code");
    spec.interactive = true;
    let (done, ()) = tokio::join!(h.run(spec, StdinSource::None), drive(h));
    assert_eq!((done.status, done.exit_code), (JobStatus::Failed, Some(7)), "{done:?}");
    assert_eq!(h.text(&done, LogStream::Stdout).await, "ready\ngot hello\n");
}

/// Joins the job once it runs, types into it, runs commands beside it, then ends it.
async fn drive(h: &Harness) {
    let job = running(h).await;
    let (mut keys, input) = mpsc::channel::<TerminalInput>(8);
    let io = LiveIo { input: Some(input.boxed()), stdin: true, tty: false };
    let mut output = h.runner.join(&job, io, true).await.unwrap();
    keys.send(TerminalInput::Data(Bytes::from_static(b"hello\n"))).await.unwrap();
    let mut seen = String::new();
    while !seen.contains("got hello") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), output.next()).await.unwrap().unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.data));
    }
    assert!(seen.starts_with("ready\n"), "the replay comes first: {seen:?}");

    let tty = exec(h, &job, &["sh", "-c", "tty; echo on-a-tty; echo err >&2; exit 3"], true, None).await;
    assert_eq!(tty.0, 3);
    assert!(tty.1.starts_with("/dev/pts/") && tty.1.contains("on-a-tty\r\nerr\r\n"), "{tty:?}");
    assert_eq!(tty.2, "", "a TTY has one stream");
    let piped = exec(h, &job, &["sh", "-c", "cat; echo err >&2"], false, Some(b"piped\n")).await;
    assert_eq!(piped, (0, "piped\n".to_string(), "err\n".to_string()), "stdin fed, then closed");
    // The output directory is the one place any job user may write.
    let cmd = ExecCommand::new(&["sh".into(), "-c".into(), "echo > \"$BERTH_OUTPUT_DIR/detached\"".into()]);
    h.runner.exec_detached(&job, &cmd).await.unwrap();
    let wait = "for i in $(seq 100); do [ -e \"$BERTH_OUTPUT_DIR/detached\" ] && exit 0; sleep 0.05; done; exit 1";
    let check = ExecCommand::new(&["sh".into(), "-c".into(), wait.into()]);
    assert_eq!(h.runner.exec(&job, &check, 1024).await.unwrap().exit_code, 0, "the detached command ran");

    keys.send(TerminalInput::Data(Bytes::from_static(b"7\n"))).await.unwrap();
    // The session lives until the job's console closes (the job has read its last line).
    while tokio::time::timeout(Duration::from_secs(20), output.next()).await.unwrap().is_some() {}
}

/// Runs `argv` live in the job: (exit code, stdout, stderr).
async fn exec(h: &Harness, job: &JobRecord, argv: &[&str], tty: bool, stdin: Option<&[u8]>) -> (i64, String, String) {
    let cmd = ExecCommand::new(&argv.iter().map(ToString::to_string).collect::<Vec<_>>());
    let input = stdin.map(|b| futures::stream::iter([TerminalInput::Data(Bytes::copy_from_slice(b))]).boxed());
    let io = LiveIo { input, stdin: stdin.is_some(), tty };
    let started = h.runner.exec_live(job, &cmd, io).await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let mut output = started.output;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), output.next()).await.unwrap() {
        let chunk = chunk.unwrap();
        let text = String::from_utf8_lossy(&chunk.data);
        if chunk.stream == OutputStream::Stderr { err.push_str(&text) } else { out.push_str(&text) }
    }
    (started.exit.await.unwrap().code, out, err)
}

/// The first job of the store once it runs.
async fn running(h: &Harness) -> JobRecord {
    for _ in 0..400 {
        let jobs = h.runner.store().list_jobs(&Default::default()).await.unwrap();
        if let Some(job) = jobs.into_iter().find(|j| j.status == JobStatus::Running) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no job started within 20 s");
}
