//! The cases, each `pub async fn(&Harness)`; `backend_conformance_tests!` runs every one.

use std::sync::Arc;
use std::time::Duration;

use berth_core::backend::StdinSource;
use berth_core::quantity::{ByteSize, DurationSpec};
use berth_core::spec::{InputFile, MemorySwap, SecretRef};
use berth_core::status::{JobStatus, Reason, TimeoutPhase};
use berth_core::store::{LogStream, StatusChange};
use berth_engine::cancel::Cancel;

pub use crate::live::{
    a_detached_tty_job_is_reattached_byte_exact, a_running_job_is_joined_and_runs_live_commands,
    a_tty_job_has_one_stream_and_the_terminals_size,
};
use crate::{Action, Harness, Watch};

fn reason(job: &berth_core::store::JobRecord) -> String {
    job.reason.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn ms(n: u64) -> DurationSpec {
    DurationSpec(Duration::from_millis(n))
}

pub async fn exit_codes_are_outcomes(h: &Harness) {
    let ok = h.run(h.sh("true"), StdinSource::None).await;
    assert_eq!((ok.status, ok.exit_code), (JobStatus::Succeeded, Some(0)));
    let failed = h.run(h.sh("exit 3"), StdinSource::None).await;
    assert_eq!((failed.status, failed.exit_code, reason(&failed).as_str()), (JobStatus::Failed, Some(3), "exited(3)"));
    let attempts = h.runner.store().list_attempts(&failed.id).await.unwrap();
    assert_eq!((attempts.len(), attempts[0].exit_code), (1, Some(3)), "{attempts:?}");
}

pub async fn a_killed_job_is_signaled(h: &Harness) {
    let job = h.run(h.sh("kill -KILL $$"), StdinSource::None).await;
    assert_eq!((reason(&job).as_str(), job.exit_code), ("signaled(9)", Some(137)));
}

pub async fn an_oom_kill_is_reported(h: &Harness) {
    if !h.caps().resource_limits {
        return h.skip("no memory limits (refused at submit instead)");
    }
    let mut spec = h.sh("dd if=/dev/zero of=/dev/null bs=64M count=1 && exit 1");
    spec.resources.memory = Some(ByteSize::mib(24));
    spec.resources.memory_swap = Some(MemorySwap::Limit(ByteSize::mib(24)));
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!((job.status, reason(&job).as_str()), (JobStatus::Failed, "oom_killed"), "{job:?}");
}

pub async fn a_job_that_ignores_sigterm_is_killed_after_the_grace(h: &Harness) {
    let mut spec = h.sh("trap '' TERM; echo ready; sleep 30");
    spec.timeouts.run = ms(1500);
    spec.timeouts.stop_grace = ms(1000);
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!(job.reason, Some(Reason::TimedOut { phase: TimeoutPhase::Run }));
    assert_eq!(h.text(&job, LogStream::Stdout).await, "ready\n");
}

pub async fn cancel_sends_the_specs_stop_signal(h: &Harness) {
    if !h.caps().signals {
        return h.skip("no chosen stop signal");
    }
    let mut spec = h.sh("trap 'echo got-int; exit 7' INT; trap 'echo got-term; exit 8' TERM; echo ready; while true; do sleep 0.1; done");
    spec.stop_signal = Some("SIGINT".into());
    spec.timeouts.stop_grace = ms(10_000);
    let cancel = Cancel::new();
    let watch = Arc::new(Watch::on("ready", &cancel, Action::Cancel));
    let job = h.run_watched(spec, StdinSource::None, watch, &cancel).await;
    assert_eq!(job.reason, Some(Reason::Cancelled { by: "conformance".into() }));
    assert_eq!(h.text(&job, LogStream::Stdout).await, "ready\ngot-int\n", "the job saw SIGINT, not SIGTERM");
    assert_eq!(job.exit_code, Some(7));
}

pub async fn stdin_is_fed_and_closed(h: &Harness) {
    if !h.caps().stdin {
        return h.skip("no stdin (refused at submit instead)");
    }
    let job = h.run(h.sh("cat; echo end"), StdinSource::Bytes(b"line1\nline2\n".to_vec())).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(h.text(&job, LogStream::Stdout).await, "line1\nline2\nend\n");
}

pub async fn env_reaches_the_job(h: &Harness) {
    let mut spec = h.sh("echo \"$GREETING $BERTH_JOB_ID $BERTH_ATTEMPT\"");
    spec.env.insert("GREETING".into(), "hello world".into());
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!(h.text(&job, LogStream::Stdout).await, format!("hello world {} 1\n", job.id));
}

pub async fn input_files_result_and_artifacts_round_trip(h: &Harness) {
    let script = "#!/bin/sh\necho from-file\necho '{\"n\": 1}' > \"$BERTH_OUTPUT_DIR/result.json\"\n\
                  mkdir -p \"$BERTH_OUTPUT_DIR/sub\"\nprintf 'a\\000b' > \"$BERTH_OUTPUT_DIR/sub/bin\"\n";
    let mut spec = h.sh("sh \"$BERTH_WORKSPACE_DIR/bin/run.sh\" && cat \"$BERTH_WORKSPACE_DIR/data.txt\"");
    spec.files = vec![
        InputFile { path: "bin/run.sh".into(), content: script.into(), mode: Some(0o755) },
        InputFile { path: "data.txt".into(), content: "data\n".into(), mode: None },
    ];
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}: {}", h.text(&job, LogStream::Stderr).await);
    assert_eq!(h.text(&job, LogStream::Stdout).await, "from-file\ndata\n");
    assert_eq!(job.result, Some(serde_json::json!({"n": 1})));
    let artifacts = h.runner.store().list_artifacts(&job.id).await.unwrap();
    let names: Vec<(&str, u64)> = artifacts.iter().map(|a| (a.name.as_str(), a.size)).collect();
    assert_eq!(names, [("sub/bin", 3)]);
    let data = h.runner.store().read_artifact(&job.id, 1, "sub/bin").await.unwrap();
    assert_eq!(data.as_deref(), Some(&b"a\0b"[..]), "bytes, as written");
}

pub async fn both_streams_are_kept_in_order_with_the_cap_marker(h: &Harness) {
    let mut spec = h.sh(
        // The pauses keep the two streams' writes apart: pipes give no order between them.
        "echo first; sleep 0.3; echo err-1 >&2; sleep 0.3; i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; \
         sleep 0.3; echo err-2 >&2; sleep 0.3; echo last",
    );
    spec.output.log_cap = ByteSize::kib(4);
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    let mut out = h.text(&job, LogStream::Stdout).await;
    if !h.caps().separate_stderr {
        // One merged stream: stderr's lines are in it, in their place.
        let errs: Vec<&str> = out.lines().filter(|l| l.starts_with("err-")).collect();
        assert_eq!(errs, ["err-1", "err-2"], "stderr merged into the one stream: {out}");
        out = out.lines().filter(|l| !l.starts_with("err-")).map(|l| format!("{l}\n")).collect();
    }
    // The tail keeps whole chunks (a backend's chunks may be larger than the tail), so only
    // the line written after a pause is sure to be in it.
    assert!(out.starts_with("first\nline-0\n") && out.ends_with("last\n"), "head and tail kept: {out}");
    assert!(out.len() <= 4096, "capped at 4 KiB: {} bytes", out.len());
    let numbers: Vec<u32> = out.lines().filter_map(|l| l.strip_prefix("line-")?.parse().ok()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "stdout in order");
    let marker = h.text(&job, LogStream::Berth).await;
    assert!(marker.contains("omitted"), "a marker says what was dropped: {marker:?}");
    if h.caps().separate_stderr {
        assert_eq!(h.text(&job, LogStream::Stderr).await, "err-1\nerr-2\n");
    }
}

pub async fn progress_lines_become_events_not_logs(h: &Harness) {
    let spec = h.sh("echo '{\"berth\":\"progress\",\"percent\":40,\"message\":\"halfway\"}'; echo plain");
    let job = h.run(spec, StdinSource::None).await;
    assert_eq!(h.text(&job, LogStream::Stdout).await, "plain\n");
    let events = h.runner.store().read_events(&job.id, 0, 100).await.unwrap();
    let progress: Vec<_> = events.iter().filter(|e| e.kind == "progress").collect();
    assert_eq!(progress.len(), 1, "{events:?}");
    assert_eq!(progress[0].data["message"], "halfway");
}

/// The job goes on printing (both streams, events, an event line cut in two by a sleep)
/// while its worker detaches; the next one reattaches from the stored cursor, and the stored
/// output is byte for byte what the job printed, each event once.
pub async fn a_detached_unit_is_reattached_to_its_end(h: &Harness) {
    if !h.caps().reattach {
        return h.skip("a later process cannot watch a unit an earlier one started");
    }
    let cancel = Cancel::new();
    let watch = Arc::new(Watch::on("one", &cancel, Action::Detach));
    let script = r#"echo one
i=0; while [ $i -lt 2000 ]; do
  echo "out $i"; echo "err $i" >&2
  [ $((i % 100)) = 0 ] && echo '{"berth":"progress","percent":'$((i / 20))'}'
  i=$((i + 1))
done
printf '{"berth":"progress",'; sleep 2; echo '"percent":100}'
echo two; exit 5"#;
    let left = h.run_watched(h.sh(script), StdinSource::None, watch, &cancel).await;
    assert_eq!(left.status, JobStatus::Running, "a detached attempt writes nothing");
    let units = h.runner.backend().list_units(h.runner.install_id()).await.unwrap();
    let unit = units.iter().find(|u| u.job_id.as_ref() == Some(&left.id)).expect("the unit outlives the detach");
    let io = berth_engine::attempt::AttemptIo {
        observer: Arc::new(Watch::default()),
        pull: Arc::new(berth_core::backend::NoProgress),
        stdin: StdinSource::None,
    };
    let done = h.runner.resume_attempt(&left, &unit.handle, io, &Cancel::new()).await.unwrap();
    assert_eq!((reason(&done).as_str(), done.attempts), ("exited(5)", 1));
    let out: String = (0..2000).map(|i| format!("out {i}\n")).collect();
    let err: String = (0..2000).map(|i| format!("err {i}\n")).collect();
    let stdout = h.text(&done, LogStream::Stdout).await;
    if h.caps().separate_stderr {
        assert_eq!(stdout, format!("one\n{out}two\n"), "every byte exactly once");
        assert_eq!(h.text(&done, LogStream::Stderr).await, err, "every stderr byte exactly once");
    } else {
        // One merged stream: each stream's lines in their order, every line exactly once.
        let only =
            |p: &str| -> String { stdout.lines().filter(|l| l.starts_with(p)).map(|l| format!("{l}\n")).collect() };
        assert_eq!(only("out "), out, "every stdout line exactly once, in order");
        assert_eq!(only("err "), err, "every stderr line exactly once, in order");
        // Two pipes give no order between them: only each stream's own order holds.
        let at = |line: &str| stdout.lines().position(|l| l == line);
        assert!(at("one") < at("out 0") && at("one").is_some(), "one before the loop's stdout");
        assert!(stdout.ends_with("two\n"), "two last (printed after a pause)");
        assert_eq!(stdout.len(), "one\ntwo\n".len() + out.len() + err.len(), "nothing else, nothing twice");
    }
    let events = h.runner.store().read_events(&done.id, 0, 1000).await.unwrap();
    let percents: Vec<_> = events.iter().filter(|e| e.kind == "progress").map(|e| e.data["percent"].clone()).collect();
    let want: Vec<_> = (0..20).map(|i| serde_json::json!(i * 5)).chain([serde_json::json!(100)]).collect();
    assert_eq!(percents, want, "each event once, the one cut by the detach too");
    let reattached = events.iter().find(|e| e.kind == "reattached").expect("a reattached event");
    eprintln!("reattached at stdout byte {}, stderr byte {}", reattached.data["stdout"], reattached.data["stderr"]);
}

/// A worker killed with SIGKILL leaves its unit running; the next worker process (another
/// backend instance on the same host and data dir) lists it with its job and attempt, and
/// removing it stops it.
pub async fn a_unit_left_by_a_dead_worker_is_found_and_stopped_by_the_next(h: &Harness) {
    let job = h.runner.submit(h.sh("echo up; sleep 300")).await.unwrap();
    let plan = berth_core::backend::AttemptPlan {
        job_id: job.id.clone(),
        attempt: 1,
        spec: berth_core::defaults::Defaults::default().apply(&job.spec),
        name: format!("berth-{}-1", job.id.short()),
        install_id: h.runner.install_id().to_string(),
        owner: "a-worker-that-died".into(),
        tenant: "local".into(),
        berth_env: Default::default(),
        stdin: false,
        secrets: Vec::new(),
    };
    let unit = h.runner.backend().create(&plan).await.unwrap();
    let started = h.runner.backend().start(&unit, StdinSource::None).await.unwrap();
    drop(started); // the worker dies: nobody reads the output or waits for the exit
    let found = h.next.list_units(h.runner.install_id()).await.unwrap();
    let left = found.iter().find(|u| u.handle.name == unit.name).expect("the next worker sees the unit");
    assert_eq!((left.job_id.as_ref(), left.attempt), (Some(&job.id), Some(1)));
    assert_eq!(left.owner.as_deref(), Some("a-worker-that-died"));
    assert_eq!(left.state, berth_core::backend::UnitState::Running);
    h.next.remove(&left.handle).await.unwrap();
    let after = h.next.list_units(h.runner.install_id()).await.unwrap();
    assert!(after.iter().all(|u| u.handle.name != unit.name), "removed: {after:?}");
    // The dead worker's own bookkeeping (this process) lets go of it too.
    h.runner.backend().remove(&unit).await.unwrap();
    let end = StatusChange::end(Reason::WorkerLost, None, berth_core::clock::Timestamp(job.created_at.0 + 1));
    h.runner.store().set_status(&job.id, end).await.unwrap();
}

/// A stored secret reaches the job as a variable and (where files can be placed) a read-only
/// file with the same bytes; what the job prints of it is stored as `***`, and the job's
/// record never holds it.
pub async fn secrets_reach_the_job_and_never_its_log(h: &Harness) {
    let value = "s3cr3t v@lue, not in any log";
    h.put_secret("token", value.as_bytes()).await;
    let mut probe = h.sh("true");
    probe.secrets = vec![SecretRef { name: "token".into(), env: None, file: Some("/run/secrets/token".into()) }];
    let refused = h.runner.backend().refusals(&probe).iter().any(|e| e.field == "secrets");
    let files = h.caps().isolation && !refused;
    let file_checks = "[ \"$TOKEN\" = \"$(cat /run/secrets/token)\" ] && echo same-bytes; \
                       ls -lL /run/secrets/token | cut -c1-10; \
                       (echo x > /run/secrets/token) 2>/dev/null && echo writable || echo read-only; ";
    let script = format!("{}echo \"len=${{#TOKEN}}\"; echo \"$TOKEN\"", if files { file_checks } else { "" });
    let mut spec = h.sh(&script);
    spec.secrets = vec![
        SecretRef { name: "token".into(), env: Some("TOKEN".into()), file: None },
        SecretRef { name: "token".into(), env: None, file: files.then(|| "/run/secrets/token".into()) },
    ];
    if !files {
        spec.secrets.pop();
        h.skip("no secret files here (refused at submit instead): checking the variable only");
    }
    let job = h.run(spec, StdinSource::None).await;
    let out = h.text(&job, LogStream::Stdout).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}: {out}{}", h.text(&job, LogStream::Stderr).await);
    let expected = if files { "same-bytes\n-r--r--r--\nread-only\n" } else { "" };
    assert_eq!(out, format!("{expected}len={}\n***\n", value.len()));
    let record = serde_json::to_string(&h.runner.store().get_job(&job.id).await.unwrap().spec).unwrap();
    assert!(!record.contains(value), "the job's record holds the secret: {record}");
}
